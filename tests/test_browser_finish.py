"""The finish of issue 10 in a real browser: labelled, keyboard-friendly pages (axe-core finds no
serious violation), the offer and approval pages on a 390-pixel phone, the API docs without a
network, and the language switch on every main page, with screenshots.

Drives Debian's Chromium (``/usr/bin/chromium``) through Playwright against pytest-django's live
server, as ``tests/test_browser.py`` does. axe-core is a test-only file (``tests/assets``, see
its README); it is injected into each page and never shipped. Screenshots go to
``var/screenshots/`` (git-ignored; ``MAHNWERK_SCREENSHOTS`` names another folder).
"""

import json
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest

from mahnwerk.cases import services as case_services
from mahnwerk.collection import approvals
from mahnwerk.dunning import offers
from mahnwerk.dunning import services as dunning
from mahnwerk.web.accounts import ensure_demo_users
from tests.browser import DESKTOP, PHONE, screenshot
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, payment, waiting

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "assets" / "axe.min.js"
#: What the accessibility check fails on (axe-core's impacts: minor, moderate, serious,
#: critical).
BLOCKING = ("serious", "critical")

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def month():
    """A small month: a yellow case with its first letter, a paid one, one waiting for the
    vendor's approval, one approved; the demo logins; an offer link and an approval link."""
    vendor = VendorFactory(vendor_id="VFINISH", name="Akademie Sonnenschein")
    at = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
    yellow = incident(OrderFactory(order_id="O-GELB", buyer_first_name="Erika",
                                   buyer_last_name="Mustermann",
                                   product=ProductFactory(vendor=vendor, name="Yoga für alle")),
                      open_amount="1234.50", at=at)
    paid = incident(OrderFactory(order_id="O-BEZAHLT",
                                 product=ProductFactory(vendor=vendor, name="Pilates Pro")),
                    open_amount="89.00", at=at)
    payment(paid.order, amount="89.00", at=datetime(2026, 9, 10, 9, 0, tzinfo=BERLIN))
    dunning.run_month(as_of=date(2026, 10, 1), actor="test")
    on_hold = waiting(OrderFactory(order_id="O-WARTET",
                                   product=ProductFactory(vendor=vendor, name="Meditation")))
    approved = waiting(OrderFactory(order_id="O-FREI",
                                    product=ProductFactory(vendor=vendor, name="Tai-Chi")))
    case_services.change_case(case=approved, actor="portal", reason="freigegeben",
                              to_state="approved")
    ensure_demo_users(vendor_id=vendor.pk)
    yellow.refresh_from_db()
    return {
        "offer": f"/angebot/{offers.make_token(case=yellow)}/",
        "approve": f"/freigabe/{approvals.make_link_token(case=on_hold, action='approve')}/",
        "cancel": f"/freigabe/{approvals.make_link_token(case=on_hold, action='cancel')}/",
    }


def _page(browser, live_server, *, viewport=DESKTOP, user: str | None = None,
          language: str = "de-DE"):
    context = browser.new_context(viewport=viewport, locale=language,
                                  # axe-core is injected as a script of its own: the pages'
                                  # policy rightly refuses it, the test context lets it in.
                                  bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    if user:
        page.goto(f"{live_server.url}/anmelden/")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", "demo")
        page.click("button[type=submit]")
        page.wait_for_load_state()
    return page


def _axe(page) -> list[dict]:
    """axe-core's violations of serious or critical impact on the page, each with where."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [{"rule": v["id"], "impact": v["impact"], "help": v["help"],
             "where": [node["target"] for node in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in BLOCKING]


def _workspace_pages() -> list[tuple[str, str]]:
    pages = [("start", "/"), ("faelle", "/faelle/"), ("fall", "/faelle/O-GELB/"),
             ("fall-bezahlt", "/faelle/O-BEZAHLT/"), ("fall-wartet", "/faelle/O-WARTET/"),
             ("mahnlaeufe", "/mahnlaeufe/"), ("ausgang", "/ausgang/"),
             ("freigaben", "/freigaben/"), ("inkasso", "/inkasso/"),
             ("uebergaben", "/inkasso/uebergaben/")]
    return pages


def test_the_main_pages_have_no_serious_accessibility_violations(browser, live_server, month):
    """axe-core on the login, every main page of the workspace (the first page after login,
    Fälle, case pages, Mahnläufe, Ausgang, Freigaben, Inkasso), the vendor portal, the offer
    page and the approval page: no serious or critical violation."""
    found = {}
    page = _page(browser, live_server)
    page.goto(f"{live_server.url}/anmelden/")
    found["anmelden"] = _axe(page)
    page = _page(browser, live_server, user="support")
    for name, path in _workspace_pages():
        page.goto(f"{live_server.url}{path}")
        found[name] = _axe(page)
    portal = _page(browser, live_server, user="vendor")
    portal.goto(f"{live_server.url}/portal/")
    found["portal"] = _axe(portal)
    public = _page(browser, live_server)
    for name in ("offer", "approve"):
        public.goto(f"{live_server.url}{month[name]}")
        found[name] = _axe(public)
    serious = {name: violations for name, violations in found.items() if violations}
    assert not serious, json.dumps(serious, indent=1, ensure_ascii=False)


def _pushed_off(page) -> dict:
    """What the phone cannot show: the page's width beyond the screen, and every visible
    element that reaches past its right or left edge."""
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const off = [];
        for (const element of document.querySelectorAll('body *')) {
            const box = element.getBoundingClientRect();
            if (box.width && box.height && (box.right > width + 0.5 || box.left < -0.5)) {
                off.push(element.tagName.toLowerCase()
                         + (element.className ? '.' + element.className : '')
                         + ' ' + Math.round(box.left) + '..' + Math.round(box.right));
            }
        }
        return {scroll: document.documentElement.scrollWidth, width: width,
                off: off.slice(0, 10)};
    }""")


@pytest.mark.parametrize("which", ["offer", "approve", "cancel"])
def test_the_buyers_and_the_vendors_pages_fit_a_phone(browser, live_server, month, which):
    """A buyer opens the offer link, a vendor the approval link, on a 390 × 844 phone: nothing
    is pushed off the screen, nothing scrolls sideways, the button is reachable."""
    page = _page(browser, live_server, viewport=PHONE)
    response = page.goto(f"{live_server.url}{month[which]}")
    assert response.status == 200
    measured = _pushed_off(page)
    assert measured["scroll"] <= measured["width"] == PHONE["width"], measured
    assert measured["off"] == [], measured
    button = page.locator(".card .button.big, .card button.big").first
    box = button.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    screenshot(page, f"phone-{which}")


def test_the_api_docs_show_the_operations_without_a_network(browser, live_server):
    """/api/v1/docs comes from the installed package's static files: with every request off
    this site refused, Swagger UI still lists the intake's operations."""
    page = _page(browser, live_server)
    own = urlparse(live_server.url).netloc
    elsewhere: list[str] = []

    def offline(route):
        if urlparse(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=15000)
    operations = page.locator(".swagger-ui .opblock-summary-path").all_inner_texts()
    assert {"/api/v1/orders", "/api/v1/payments"} <= {path.strip() for path in operations}, \
        operations
    assert elsewhere == [], "the docs page asked for something off this site"
    screenshot(page, "api-docs")


def test_the_language_switch_turns_every_main_page_english(browser, live_server, month):
    """Each main page in German, then switched to English at its foot: the page reloads in
    English and stays so on the next page. A screenshot of each, in both languages."""
    page = _page(browser, live_server, user="support")
    pages = _workspace_pages()
    for name, path in pages:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("html").get_attribute("lang") == "de", name
        screenshot(page, f"{name}-de")
    page.goto(f"{live_server.url}/faelle/")
    with page.expect_navigation():
        page.locator("footer .language button[value=en]").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("nav a.active").inner_text() == "Cases"
    for name, path in pages:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("html").get_attribute("lang") == "en", name
        screenshot(page, f"{name}-en")
    # The offer page speaks the language of the buyer's letters, whatever was chosen here,
    # and so offers no switch that would not switch it.
    page.goto(f"{live_server.url}{month['offer']}")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("footer .language").count() == 0
    screenshot(page, "offer")
    page.goto(f"{live_server.url}/faelle/O-BEZAHLT/")
    assert "Paid: nothing more is done." in page.locator("#next").inner_text()
    with page.expect_navigation():
        page.locator("footer .language button[value=de]").click()
    assert page.locator("html").get_attribute("lang") == "de"
    assert "Bezahlt: Es geschieht nichts mehr." in page.locator("#next").inner_text()


def test_support_signs_in_and_writes_a_note_with_the_keyboard_alone(browser, live_server,
                                                                     month):
    """Keyboard-friendly: Tab reaches the login's fields in order and Enter signs in; on the
    case page the skip from "Was als Nächstes geschehen kann" to the note form and the note's
    button work without a mouse, and the focused control is outlined."""
    page = _page(browser, live_server)
    page.goto(f"{live_server.url}/anmelden/?next=/faelle/O-GELB/")
    for _step in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "username":
            break
    page.keyboard.type("support")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "password"
    page.keyboard.type("demo")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/faelle/O-GELB/")
    page.locator("#offered a[href='#notes']").focus()
    with page.expect_navigation(url="**#notes"):
        page.keyboard.press("Enter")
    textarea = page.locator("textarea[name=note-text]")
    textarea.focus()
    outline = textarea.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline != "none", "the focused field is outlined"
    page.keyboard.type("Käuferin ruft am Montag zurück")
    page.keyboard.press("Tab")  # the "shared" box
    page.keyboard.press("Tab")  # the button
    assert page.evaluate("document.activeElement.textContent.trim()") == "Notiz hinzufügen"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Käuferin ruft am Montag zurück" in page.locator("#timeline").inner_text()
