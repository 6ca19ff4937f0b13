"""The finish of issue 10 without a browser: the error pages in the workspace's look and the
reader's language, warnings in warning colours, plurals that agree with their count, and the
demo's links that follow ``make demo HOST=…``. (The browser half: tests/test_browser_finish.py.)
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.contrib.messages import constants, get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation
from django.views import defaults

from mahnwerk.collection import services as collection
from mahnwerk.collection.models import CollectionPartner
from mahnwerk.reasons import render
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import VendorFactory
from tests.test_handover_export import approved

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def support(client, django_user_model):
    vendor = VendorFactory(vendor_id="VFIN", name="Akademie Abschluss")
    ensure_demo_users(vendor_id=vendor.pk)
    client.force_login(django_user_model.objects.get(username="support"))
    client.vendor = vendor
    return client


def _english(client) -> None:
    client.post(reverse("set_language"), {"language": "en", "next": "/"})


# -- Error pages ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_unknown_case_is_a_styled_404_in_german_with_what_was_not_found(support):
    response = support.get(reverse("web:case", args=["O-GIBTSNICHT"]))
    assert response.status_code == 404
    html = response.content.decode()
    assert '<html lang="de">' in html and "workspace.css" in html
    assert "Seite nicht gefunden" in html
    assert "Zur Bestellung O-GIBTSNICHT gibt es keinen Fall." in html
    _english(support)
    english = support.get(reverse("web:case", args=["O-GIBTSNICHT"])).content.decode()
    assert '<html lang="en">' in english and "Page not found" in english
    assert "There is no case for order O-GIBTSNICHT." in english


@pytest.mark.django_db
def test_an_unknown_address_says_so_without_the_resolvers_internals(client):
    response = client.get("/gibt-es-nicht/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Seite nicht gefunden" in html
    assert "Resolver404" not in html and "tried" not in html
    assert "gibt-es-nicht" not in html, "the page does not repeat what was asked for"


@pytest.mark.django_db
def test_a_page_the_login_may_not_open_is_a_styled_403(client, django_user_model):
    """A login without any role of the workspace."""
    client.force_login(django_user_model.objects.create_user("niemand", password="x"))
    response = client.get(reverse("web:cases"))
    assert response.status_code == 403
    html = response.content.decode()
    assert '<html lang="de">' in html and "workspace.css" in html and "Kein Zugriff" in html


def test_the_500_page_needs_neither_database_nor_request_and_speaks_the_language():
    """No database in this test (any query would fail it): the page is the one Django shows
    when the database itself may be what broke."""
    request = RequestFactory().get("/faelle/")
    with translation.override("de"):
        response = defaults.server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert '<html lang="de">' in html and "Etwas ist schiefgegangen" in html
    assert "workspace.css" in html
    with translation.override("en"):
        english = defaults.server_error(request).content.decode()
    assert '<html lang="en">' in english and "Something went wrong" in english


# -- Warnings in warning colours, plurals that agree ----------------------------------------------


def _report(support, text: str):
    partner = CollectionPartner.objects.get(name="Diagonal")
    return support.post(reverse("web:agency-report-upload"), {
        "file": SimpleUploadedFile("bericht.csv", text.encode(), content_type="text/csv"),
        "partner": partner.pk})


HEADER = "order_id,agency_reference,takeover_date,status,collected_amount,collected_at,comment\n"


@pytest.mark.django_db
def test_an_agency_report_with_refused_rows_is_announced_as_a_warning(support):
    """Rows support must clear are no success: the message is a warning, in the singular
    where there is one row."""
    case = approved(support.vendor)
    collection.export_handover(vendor_id=support.vendor.pk, actor="anna")
    response = _report(support, HEADER + f"{case.order_id},AZ-1,2025-09-12,open,0.00,,\n"
                                "O-NIEMALS,AZ-2,2025-09-12,open,0.00,,\n")
    [message] = list(get_messages(response.wsgi_request))
    assert message.level == constants.WARNING
    assert str(message) == ("bericht.csv: 1 Zeile übernommen, 1 Zeile konnte nicht "
                            "übernommen werden (unten aufgeführt).")


@pytest.mark.django_db
def test_an_agency_report_applied_in_full_is_a_success(support):
    case = approved(support.vendor)
    collection.export_handover(vendor_id=support.vendor.pk, actor="anna")
    response = _report(support, HEADER + f"{case.order_id},AZ-1,2025-09-12,open,0.00,,\n")
    [message] = list(get_messages(response.wsgi_request))
    assert message.level == constants.SUCCESS
    assert str(message) == "bericht.csv: 1 Zeile übernommen."


@pytest.mark.django_db
def test_one_case_handed_over_reads_in_the_singular(support):
    approved(support.vendor)
    response = support.post(reverse("web:handover-export"), {"vendor": support.vendor.pk})
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message == "Übergabedatei VFIN.csv geschrieben: 1 Zeile, 1 Fall an Diagonal übergeben."


@pytest.mark.django_db
def test_an_escalation_after_one_day_says_one_day():
    assert render("run.escalate", {"days": 1, "level": 2}) == "unbezahlt 1 Tag nach der 2. Mahnung"
    assert render("run.escalate", {"days": 14, "level": 2}) == (
        "unbezahlt 14 Tage nach der 2. Mahnung")


#: German plural nouns that must not follow a number unless the entry is a plural one.
PLURAL_NOUNS = ("Fälle", "Fällen", "Zeilen", "Bestellungen", "Entscheidungen", "Probleme",
                "Dateien", "Nachrichten", "Briefkopien", "Papierbriefe", "Vendors",
                "Datensätze", "Stufen", "Tage", "Tagen", "Mahnungen", "Briefe", "Zellen",
                "Raten")
#: Counts that are never 1: a limit or size always larger, a workbook with more than one sheet,
#: the days of a retention period (a reason's words; its days are years in practice), a row
#: with more cells than its header.
NEVER_ONE = {
    "The body is too large: %(size)d bytes; at most %(max)d bytes are accepted. Send fewer "
    "records per request.",
    "Only the first %(limit)s of %(total)s decisions are listed; the counts above cover all of "
    "them.",
    "%(file)s: the workbook has %(count)d sheets (%(names)s); an import reads exactly one. Keep "
    "the sheet with the data and delete the others.",
    "the row has %(cells)d cells, the header %(cols)d",
    # The case list's bulk limit (2,000) and a selection above it; the Übersicht's ages
    # (a range such as 0–30, and "more than 90").
    "The selection holds %(count)s cases; a bulk action acts on at most %(limit)s. Narrow the "
    "filter.",
    "Each case goes through the same step as on its own page; a case that cannot take the "
    "action is refused with its reason. At most %(limit)s cases at a time.",
    "%(range)s days",
    "more than %(days)s days",
}


def test_no_german_text_puts_a_plural_noun_after_a_number_without_a_plural_form():
    """"1 Fälle", "1 Zeilen": every message that counts something is a plural entry
    (ngettext, blocktranslate count), in every app's catalogue."""
    number = r"(%\(\w+\)[ds]|\{\{ ?\w+ ?\}\})"
    pattern = re.compile(number + r" (" + "|".join(PLURAL_NOUNS) + r")\b")
    found = []
    for po in sorted((ROOT / "src" / "mahnwerk").glob("*/locale/de/LC_MESSAGES/django.po")):
        with po.open("rb") as handle:
            for message in read_po(handle):
                if not message.id or isinstance(message.id, tuple):
                    continue
                if message.id in NEVER_ONE or message.id.startswith("Personal data anonymised"):
                    continue
                if pattern.search(message.string or ""):
                    found.append((po.parent.parent.parent.parent.name, message.id))
    assert found == []


# -- The demo follows HOST -----------------------------------------------------------------------


def test_make_demo_passes_host_to_the_demo_data_and_the_server():
    """``make demo HOST=…``: the demo's data (whose mail carries offer and approval links) and
    the server both get the host."""
    plan = subprocess.run(["make", "-n", "demo", "HOST=192.168.1.20:8080"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    lines = [line for line in plan.splitlines() if "demo-data" in line or "runserver" in line]
    assert len(lines) == 2, plan
    assert all("MAHNWERK_DEMO_HOST=192.168.1.20:8080" in line for line in lines), lines


def _settings_with(**environ: str) -> list[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("MAHNWERK_SITE_URL", "MAHNWERK_DEMO_HOST", "DJANGO_ALLOWED_HOSTS")}
    env.update(environ, PYTHONPATH=str(ROOT / "src"), DJANGO_SETTINGS_MODULE="mahnwerk.settings")
    code = ("from django.conf import settings; "
            "print(settings.MAHNWERK_SITE_URL); print(','.join(settings.ALLOWED_HOSTS))")
    done = subprocess.run([sys.executable, "-c", code], cwd="/", env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.split()


def test_the_demo_host_sets_the_links_and_the_allowed_host():
    site, hosts = _settings_with(MAHNWERK_DEMO_HOST="192.168.1.20:8080")
    assert site == "http://192.168.1.20:8080"
    assert "192.168.1.20" in hosts.split(",")
    assert _settings_with()[0] == "http://127.0.0.1:8000"
    site, _hosts = _settings_with(MAHNWERK_DEMO_HOST="192.168.1.20:8080",
                                  MAHNWERK_SITE_URL="https://mahnwerk.example")
    assert site == "https://mahnwerk.example", "a site address that is set wins"
