"""Issue 9, points 3 and 4: production settings that refuse to be unsafe, the
Content-Security-Policy, and the lockout after failed sign-ins."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command

from mahnwerk.web.accounts import ensure_demo_users

SRC = Path(__file__).resolve().parent.parent / "src"
#: The documented production environment (docs/operations.md, "Security").
PRODUCTION = {
    "MAHNWERK_HTTPS": "true",
    "DJANGO_SECRET_KEY": "q8Vb-3kXz_Lr7pWm2Yt9Nc4Hd6Jf1Gs5Ke0Ua7Zo3Xi8Qw2Ev9Rn4Tb6My1Pl5Sa",
    "DJANGO_ALLOWED_HOSTS": "mahnwerk.example",
    "DJANGO_DEBUG": "false",
    "MAHNWERK_SITE_URL": "https://mahnwerk.example",
}


def _mahnwerk(tmp_path, *args, **overrides):
    """Run ``mahnwerk ARGS`` in a fresh process with the production environment and the
    overrides (None: the variable unset); nothing of this process's environment leaks in."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("DJANGO_", "MAHNWERK_", "DATABASE_URL"))}
    environment.update(PRODUCTION)
    for key, value in overrides.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    environment["MAHNWERK_HOME"] = str(tmp_path)  # no .env of the checkout, var/ in tmp
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(SRC), *filter(None, [environment.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-m", "mahnwerk", *args], env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def test_check_deploy_passes_with_the_documented_production_environment(tmp_path):
    result = _mahnwerk(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(("overrides", "variable"), [
    ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY"),
    ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG"),
    ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
    ({"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS"),
    # The address printed in every letter's links and QR code: not the demo's 127.0.0.1:8000,
    # not unencrypted, and a host this instance serves.
    ({"MAHNWERK_SITE_URL": None}, "MAHNWERK_SITE_URL"),
    ({"MAHNWERK_SITE_URL": "http://mahnwerk.example"}, "MAHNWERK_SITE_URL"),
    ({"MAHNWERK_SITE_URL": "https://zahlung.example"}, "DJANGO_ALLOWED_HOSTS"),
])
def test_production_refuses_to_start_unsafe_and_names_the_variable(tmp_path, overrides,
                                                                   variable):
    result = _mahnwerk(tmp_path, "check", **overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "MAHNWERK_HTTPS=true" in result.stderr
    assert f"set {variable}" in result.stderr or f"to {variable}" in result.stderr, \
        result.stderr


def test_without_https_the_demo_set_up_still_starts(tmp_path):
    result = _mahnwerk(tmp_path, "check", MAHNWERK_HTTPS=None, DJANGO_SECRET_KEY=None,
                       DJANGO_ALLOWED_HOSTS=None, DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr


def test_production_settings_are_secure(tmp_path):
    code = ("from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
            "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
            "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_PROXY_SSL_HEADER)")
    result = _mahnwerk(tmp_path, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    values = result.stdout.strip().splitlines()[-1].split("(")[0].split()
    assert values == ["True", "True", "True", "31536000", "True"]
    assert "HTTP_X_FORWARDED_PROTO" in result.stdout


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/anmelden/", "/admin/login/", "/api/v1/docs"])
def test_every_page_carries_a_content_security_policy_without_inline_script(client, url):
    response = client.get(url)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "cdn." not in response.content.decode()


TEMPLATES = Path(__file__).resolve().parent.parent / "src/mahnwerk/web/templates"


def test_no_template_has_inline_script_handlers_or_style():
    import re
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert not re.search(r"\sstyle\s*=", text), template
        assert "<style" not in text, template


# The lockout (django-axes): 5 failed sign-ins lock a user name from one address.

LOGINS = [("/anmelden/", "support"), ("/anmelden/", "vendor"), ("/admin/login/", "admin")]


def _sign_in(client, url, username, password):
    return client.post(url, {"username": username, "password": password,
                             "next": "/" if url == "/anmelden/" else "/admin/"})


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "username"), LOGINS)
def test_five_wrong_passwords_lock_the_user_out_until_an_administrator_resets(
        client, url, username):
    from tests.factories import VendorFactory
    ensure_demo_users(vendor_id=VendorFactory(vendor_id="VLOCK").pk)
    for _ in range(4):
        response = _sign_in(client, url, username, "falsch")
        assert response.status_code == 200  # the form again, with its error
    response = _sign_in(client, url, username, "falsch")
    assert response.status_code == 429
    response = _sign_in(client, url, username, "demo")
    assert response.status_code == 429, "the right password is refused while locked"
    page = response.content.decode()
    assert "Anmeldung gesperrt" in page
    assert "15 Minuten" in page and "Administrator" in page
    assert "_auth_user_id" not in client.session

    # Another address may still try (user name and address together are locked).
    other = _sign_in(client.__class__(REMOTE_ADDR="10.9.8.7"), url, username, "demo")
    assert other.status_code == 302

    call_command("axes_reset_username", username)
    response = _sign_in(client, url, username, "demo")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(
        get_user_model().objects.get(username=username).pk)


@pytest.mark.django_db
def test_the_admin_lifts_a_lock_in_the_admin(client):
    ensure_demo_users(vendor_id=None)
    for _ in range(5):
        _sign_in(client, "/anmelden/", "support", "falsch")
    assert _sign_in(client, "/anmelden/", "support", "demo").status_code == 429
    attempt = AccessAttempt.objects.get(username="support")

    admin = client.__class__(REMOTE_ADDR="10.1.1.1")
    admin.force_login(get_user_model().objects.get(username="admin"))
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "support" in listing.content.decode()
    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _sign_in(client, "/anmelden/", "support", "demo").status_code == 302


@pytest.mark.django_db
def test_behind_a_proxy_the_lock_counts_the_client_address_and_ignores_a_forged_one(
        client, settings):
    """With one proxy in front, the client is the address the proxy appended: a client that
    writes addresses of its own into X-Forwarded-For is still counted by its real address,
    and another client behind the same proxy may still sign in."""
    settings.MAHNWERK_PROXY_COUNT = 1
    ensure_demo_users(vendor_id=None)
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(5):  # a new forged address each time, the real one appended by the proxy
        client.post("/anmelden/", {"username": "support", "password": "falsch", "next": "/"},
                    HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.5", **proxy)
    locked = client.post("/anmelden/", {"username": "support", "password": "demo", "next": "/"},
                         HTTP_X_FORWARDED_FOR="198.51.100.99, 203.0.113.5", **proxy)
    assert locked.status_code == 429
    assert AccessAttempt.objects.get().ip_address == "203.0.113.5"
    other = client.__class__().post(
        "/anmelden/", {"username": "support", "password": "demo", "next": "/"},
        HTTP_X_FORWARDED_FOR="192.0.2.77", **proxy)
    assert other.status_code == 302
