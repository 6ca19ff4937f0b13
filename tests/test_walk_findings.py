"""What the walk through the month as a new user found (issue 10's "Done when"), each kept by
a test: see also test_month_in_browser (the import page), test_agency_report (the agency's
status in words) and test_web_approval (who approved, in words)."""

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_every_page_names_its_icon_so_the_browser_asks_for_no_missing_favicon(client):
    """Without one, Chromium asked for /favicon.ico on the first page and logged the 404 as an
    error in the console."""
    page = client.get("/anmelden/").content.decode()
    assert '<link rel="icon" href="/static/web/favicon.svg" type="image/svg+xml">' in page
    assert finders.find("web/favicon.svg"), "the icon the pages name exists"


def test_a_form_address_opened_directly_explains_itself_in_the_readers_language(client):
    """The walk: the vendor's cancel confirmation reloaded or bookmarked (a GET on an address
    that only takes a form) showed a blank page with status 405."""
    from mahnwerk.web.accounts import ensure_demo_users
    from tests.factories import VendorFactory

    vendor = VendorFactory(vendor_id="V405")
    ensure_demo_users(vendor_id=vendor.pk)
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="vendor"))
    response = client.get("/portal/auswahl/")
    assert response.status_code == 405
    assert response["Allow"] == "POST", "the response still says which method the address takes"
    page = response.content.decode()
    assert "Diese Adresse nimmt nur ein abgeschicktes Formular an" in page
    assert 'href="/"' in page or 'href="/portal/"' in page, "a way back"

    client.cookies["django_language"] = "en"
    assert "This address only takes a submitted form" in client.get(
        "/portal/auswahl/").content.decode()


def test_an_api_client_keeps_its_plain_405(client):
    response = client.get("/api/v1/orders", HTTP_ACCEPT="application/json")
    assert response.status_code in (401, 405)
    assert b"<html" not in response.content.lower()
