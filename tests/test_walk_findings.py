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
