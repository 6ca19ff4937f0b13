"""The vendor's approval on the web (issue 4, item 2): the signed e-mail links, the list
"Warten auf Freigabe" in the vendor portal, and the collection models in the admin.

Everything goes through ``collection.approvals``; these tests look at what the vendor sees and
at what happens to the case (and what does not happen: a GET never changes anything).
"""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import CaseEvent, DebtCase, LinkCode
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import approvals
from mahnwerk.collection.models import ApprovalRequest, Handover
from mahnwerk.web.accounts import ensure_demo_users
from mahnwerk.web.models import VendorAccount
from tests.factories import OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident
from tests.test_handover_export import lettered

pytestmark = pytest.mark.django_db


def waiting(vendor, order_id: str, product: str = "Yoga-Kurs", amount: str = "300.00",
            last_name: str = "Mustermann") -> DebtCase:
    """A case as the run leaves it after two unpaid letters: waiting for the vendor."""
    case = lettered(incident(OrderFactory(order_id=order_id, buyer_last_name=last_name,
                                          product=ProductFactory(vendor=vendor, name=product)),
                             open_amount=amount))
    case_services.change_case(case=case, actor="run", reason="eskaliert",
                              to_state=CaseState.ON_HOLD)
    return case


@pytest.fixture
def alpha():
    return VendorFactory(vendor_id="VALPHA", name="Alpha Akademie",
                         relationship_manager="dom", escalation_channel="WhatsApp: Alpha")


@pytest.fixture
def beta():
    return VendorFactory(vendor_id="VBETA", name="Beta Coaching")


@pytest.fixture
def case(alpha):
    return waiting(alpha, "O-WAIT", amount="1234.50")


def link(case, action: str = "approve") -> str:
    return reverse("web:approval-link", args=[approvals.make_link_token(case=case,
                                                                          action=action)])


def state_of(case) -> str:
    case.refresh_from_db()
    return case.state


@pytest.fixture
def alpha_user(alpha, django_user_model):
    ensure_demo_users(vendor_id=alpha.pk)
    return django_user_model.objects.get(username="vendor")


@pytest.fixture
def beta_user(beta, django_user_model):
    user = django_user_model.objects.create_user("beta", password="x")
    VendorAccount.objects.create(user=user, vendor=beta)
    return user


# -- The signed link --------------------------------------------------------------------------


def test_opening_the_link_shows_the_confirmation_and_changes_nothing(client, case):
    events = CaseEvent.objects.count()
    url = link(case)
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    for shown in ("O-WAIT", "Erika Mustermann", "Yoga-Kurs", "1.234,50",
                  "01.07.2025", "01.08.2025", "Alpha Akademie",
                  _("Approval for handover to the collection agency")):
        assert shown in page, shown
    language_switch = page.count('class="language"')
    assert page.count('method="post"') - language_switch == 1, "one button that decides"
    assert "csrfmiddlewaretoken" in page
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    # A mail scanner opens it again and again: still nothing happens.
    assert client.get(url).status_code == 200
    assert client.head(url).status_code == 200
    assert state_of(case) == CaseState.ON_HOLD
    assert CaseEvent.objects.count() == events


def test_the_cancel_link_says_cancellation(client, case):
    page = client.get(link(case, "cancel")).content.decode()
    assert _("Cancellation") in page
    assert _("Approval for handover to the collection agency") not in page
    assert state_of(case) == CaseState.ON_HOLD


def test_confirming_the_link_approves_the_case(client, case):
    response = client.post(link(case))
    assert response.status_code == 200
    assert "O-WAIT" in response.content.decode()
    assert state_of(case) == CaseState.APPROVED
    event = case.events.last()
    assert (event.actor, event.user, event.from_state, event.to_state) == (
        "link:VALPHA", None, CaseState.ON_HOLD, CaseState.APPROVED)
    assert event.reason == "Für das Inkasso freigegeben von VALPHA (Link der Freigabe-E-Mail)."


def test_confirming_the_cancel_link_cancels_the_case(client, case):
    assert client.post(link(case, "cancel")).status_code == 200
    assert state_of(case) == CaseState.CANCELED
    assert case.events.last().reason.startswith(
        "Stornierung gewünscht von VALPHA (Link der Freigabe-E-Mail)")


def test_the_request_closes_when_its_last_case_is_decided_by_link(client, case):
    approvals.request_approvals(actor="schedule")
    client.post(link(case))
    assert ApprovalRequest.objects.get().closed_at is not None


def test_the_post_needs_the_csrf_token_of_the_page(case):
    browser = Client(enforce_csrf_checks=True)
    url = link(case)
    assert browser.post(url).status_code == 403
    assert state_of(case) == CaseState.ON_HOLD
    page = browser.get(url)
    token = page.context["csrf_token"]
    assert browser.post(url, {"csrfmiddlewaretoken": str(token)}).status_code == 200
    assert state_of(case) == CaseState.APPROVED


@pytest.mark.parametrize("token", ["mangled", "garbage"])
def test_a_tampered_link_is_refused_with_400(client, case, token):
    good = approvals.make_link_token(case=case, action="approve")
    if token == "mangled":
        token = good[:-2] + ("xx" if not good.endswith("xx") else "yy")
    url = reverse("web:approval-link", args=[token])
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 400
        page = response.content.decode()
        assert "Dieser Link kann nicht verwendet werden" in page
        assert "Dieser Link ist ungültig" in page
        assert "O-WAIT" not in page
    assert state_of(case) == CaseState.ON_HOLD


def test_an_expired_link_is_refused_with_410(client, case, settings):
    settings.MAHNWERK_APPROVAL_LINK_DAYS = 30
    url = link(case)
    LinkCode.objects.update(created_at=timezone.now() - timedelta(days=31))
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 410
        assert "Dieser Link ist abgelaufen" in response.content.decode()
    assert state_of(case) == CaseState.ON_HOLD
    # Within its days the same link works.
    LinkCode.objects.update(created_at=timezone.now() - timedelta(days=29))
    assert client.post(url).status_code == 200
    assert state_of(case) == CaseState.APPROVED


def test_a_link_works_once(client, case):
    url = link(case)
    assert client.post(url).status_code == 200
    for response in (client.post(url), client.get(url)):
        assert response.status_code == 410
        assert "Dieser Link wurde bereits verwendet" in response.content.decode()
    # Nor does the other link of the same case change the decision.
    assert client.post(link(case, "cancel")).status_code == 410
    assert state_of(case) == CaseState.APPROVED
    assert case.events.filter(to_state=CaseState.APPROVED).count() == 1


def test_a_decision_taken_between_opening_and_confirming_is_not_taken_again(client, case):
    url = link(case, "cancel")
    assert client.get(url).status_code == 200
    approvals.decide_approval(case=case, approve=True, actor="portal:vendor")
    response = client.post(url)
    assert response.status_code == 410
    assert state_of(case) == CaseState.APPROVED


def test_another_vendors_login_cannot_use_the_link(client, case, beta_user):
    client.force_login(beta_user)
    url = link(case)
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 403
        page = response.content.decode()
        assert "Dieser Link gehört zu einem anderen Vendor" in page
        assert "O-WAIT" not in page and "Mustermann" not in page
    assert state_of(case) == CaseState.ON_HOLD


def test_the_vendors_own_login_uses_the_link_and_is_recorded(client, case, alpha_user):
    client.force_login(alpha_user)
    assert client.post(link(case)).status_code == 200
    assert state_of(case) == CaseState.APPROVED
    event = case.events.last()
    assert (event.actor, event.user) == ("link:VALPHA", alpha_user)


def test_a_block_by_support_wins_over_the_link(client, case):
    url = link(case)
    assert client.get(url).status_code == 200  # the vendor opens the mail ...
    case_services.block_case(case=case, reason="Anwaltsschreiben eingegangen", actor="anna")
    response = client.post(url)  # ... and confirms after support blocked the case
    assert response.status_code == 409
    page = response.content.decode()
    assert "vom Support blockiert" in page and "Anwaltsschreiben eingegangen" in page
    assert state_of(case) == CaseState.BLOCKED
    assert case.block_reason == "Anwaltsschreiben eingegangen"
    assert not case.events.filter(to_state=CaseState.APPROVED).exists()


def test_the_timeline_stores_the_facts_and_reads_in_the_readers_language(client, case,
                                                                         settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # a person who chose English
    response = client.post(link(case))
    assert response["Content-Language"] == "en"
    event = case.events.last()
    assert (event.code, event.params) == ("collection.approved", {"who": "link:VALPHA"})
    with translation.override("de"):
        assert event.reason == "Für das Inkasso freigegeben von VALPHA (Link der Freigabe-E-Mail)."
    with translation.override("en"):
        assert event.reason == "Approved for collection by VALPHA (link of the approval e-mail)."


# -- The vendor portal ------------------------------------------------------------------------


@pytest.fixture
def portal(client, alpha_user):
    client.force_login(alpha_user)
    return client


def decide(client, order_id: str, action: str, reason: str = "", *, confirm: bool = True):
    """The vendor's decision in the portal; a cancel confirmed on the second step."""
    data = {"action": action, "reason": reason}
    if action == "cancel" and confirm:
        data["confirm"] = "yes"
    return client.post(reverse("web:portal-approval", args=[order_id]), data)


def test_the_portal_lists_the_cases_waiting_for_the_vendor(portal, alpha, beta, case):
    other = waiting(alpha, "O-WAIT-2", product="Pilates", amount="80.00", last_name="Musterfrau")
    waiting(beta, "O-BETA", product="Geheimkurs Beta")
    dunning = lettered(incident(OrderFactory(order_id="O-RUNNING",
                                             product=ProductFactory(vendor=alpha))))
    approvals.request_approvals(actor="schedule")
    page = portal.get(reverse("web:portal")).content.decode()
    section = page.split('id="approvals"', 1)[1].split("</section>", 1)[0]
    assert "Warten auf Freigabe" in page
    for shown in ("O-WAIT", "1.234,50", "Yoga-Kurs", "Erika Mustermann", "O-WAIT-2", "80,00",
                  "Pilates", "Erika Musterfrau", "01.07.2025", "01.08.2025", "angefragt am"):
        assert shown in section, shown
    assert dunning.order_id not in section
    assert "O-BETA" not in page and "Geheimkurs Beta" not in page
    for order in (case, other):
        assert reverse("web:portal-approval", args=[order.order_id]) in section
    # A decision in each row, and one for the ticked rows.
    assert section.count('value="approve"') == 3 and section.count('value="cancel"') == 3


def test_the_portal_shows_the_escalation(portal, alpha, case):
    start = timezone.now() - timedelta(days=20)
    approvals.request_approvals(actor="schedule", now=start)
    approvals.follow_up_approvals(now=start + timedelta(days=7))
    approvals.follow_up_approvals(now=start + timedelta(days=14))
    page = portal.get(reverse("web:portal")).content.decode()
    assert "eskaliert am" in page and "WhatsApp: Alpha" in page


def test_no_waiting_case_no_section(portal, alpha):
    assert 'id="approvals"' not in portal.get(reverse("web:portal")).content.decode()


def test_the_vendor_approves_in_the_portal(portal, alpha_user, case):
    response = decide(portal, "O-WAIT", "approve", "  Kunde reagiert nicht  ")
    assert response.status_code == 302
    assert response["Location"] == reverse("web:portal") + "#approvals"
    assert state_of(case) == CaseState.APPROVED
    event = case.events.last()
    assert (event.actor, event.user) == ("portal:vendor", alpha_user)
    assert event.reason == ("Für das Inkasso freigegeben von vendor (Vendor-Portal). "
                            "Kunde reagiert nicht")
    page = portal.get(reverse("web:portal")).content.decode()
    assert "Fall O-WAIT für das Inkasso freigegeben." in page
    assert 'id="approvals"' not in page


def test_the_vendor_cancels_in_the_portal(portal, case):
    asked = decide(portal, "O-WAIT", "cancel", "doch nicht", confirm=False)
    assert asked.status_code == 200 and "O-WAIT" in asked.content.decode()
    assert state_of(case) == CaseState.ON_HOLD, "the first step only asks"
    response = decide(portal, "O-WAIT", "cancel")
    assert response.status_code == 302
    assert state_of(case) == CaseState.CANCELED
    assert case.events.last().reason.startswith("Stornierung gewünscht von vendor (Vendor-Portal)")
    page = portal.get(reverse("web:portal")).content.decode()
    assert "Fall O-WAIT auf Wunsch des Vendors storniert." in page


def test_a_block_by_support_wins_in_the_portal_and_the_vendor_is_told(portal, case):
    case_services.block_case(case=case, reason="Anwaltsschreiben eingegangen", actor="anna")
    response = decide(portal, "O-WAIT", "approve")
    assert response.status_code == 302
    assert state_of(case) == CaseState.BLOCKED
    page = portal.get(reverse("web:portal")).content.decode()
    assert 'class="error"' in page
    assert "vom Support blockiert" in page and "Anwaltsschreiben eingegangen" in page


def test_a_case_decided_already_is_said_so(portal, case):
    decide(portal, "O-WAIT", "approve")
    decide(portal, "O-WAIT", "cancel")
    assert state_of(case) == CaseState.APPROVED
    page = portal.get(reverse("web:portal")).content.decode()
    assert "wartet nicht mehr auf eine Entscheidung" in page


def test_another_vendors_order_is_not_found_in_the_portal(portal, beta):
    theirs = waiting(beta, "O-BETA")
    for action in ("approve", "cancel"):
        assert decide(portal, "O-BETA", action).status_code == 404
    assert decide(portal, "NOPE", "approve").status_code == 404
    assert state_of(theirs) == CaseState.ON_HOLD


def test_the_portal_decision_is_a_post_with_an_action(portal, case):
    url = reverse("web:portal-approval", args=["O-WAIT"])
    assert portal.get(url).status_code == 405
    assert portal.post(url, {"action": "delete"}).status_code == 400
    assert portal.post(url).status_code == 400
    assert state_of(case) == CaseState.ON_HOLD


def test_only_a_vendor_login_decides_in_the_portal(client, case, django_user_model):
    url = reverse("web:portal-approval", args=["O-WAIT"])
    assert client.post(url, {"action": "approve"}).status_code == 302  # to the login
    support = django_user_model.objects.create_user("anna", password="x", is_staff=True)
    client.force_login(support)
    assert client.post(url, {"action": "approve"}).status_code == 403
    assert state_of(case) == CaseState.ON_HOLD


# -- The admin ------------------------------------------------------------------------------


def test_every_collection_model_has_an_admin():
    from django.apps import apps

    ours = list(apps.get_app_config("collection").get_models())
    # A partner fee's versions (django-simple-history) are read on the fee's own history page.
    assert [m for m in ours if m not in admin.site._registry
            and not (m.__name__.startswith("Historical")
                     and m.instance_type in admin.site._registry)] == []


def test_a_handover_is_shown_without_its_content(client, django_user_model, alpha):
    approved_case = waiting(alpha, "O-HANDED")
    approvals.decide_approval(case=approved_case, approve=True, actor="portal:vendor")
    handover = Handover.objects.create(
        vendor=alpha, file_name="VALPHA.csv", content=b"order_id\nGEHEIMER-INHALT\n",
        sha256="ab" * 32, rows=1, handed_over=1, created_by="anna")
    handover.items.create(case=approved_case, incasso_state="on_hold", handed_over=True)
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.org", "x"))
    listing = client.get(reverse("admin:collection_handover_changelist")).content.decode()
    assert "VALPHA.csv" in listing and "ab" * 32 in listing and "anna" in listing
    page = client.get(reverse("admin:collection_handover_change", args=[handover.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "ab" * 32 in text and "GEHEIMER-INHALT" not in text
    assert 'name="_save"' not in text
    assert client.get(reverse("admin:collection_handover_add")).status_code == 403
    items = client.get(reverse("admin:collection_handoveritem_changelist")).content.decode()
    assert "O-HANDED" in items and "GEHEIMER-INHALT" not in items
    approvals_page = client.get(reverse("admin:collection_approvalrequest_changelist"))
    assert approvals_page.status_code == 200


def test_approval_requests_list_their_cases_in_the_admin(client, django_user_model, alpha,
                                                        case):
    waiting(alpha, "O-WAIT-2")
    request = approvals.request_approvals(actor="schedule")[0]
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.org", "x"))
    page = client.get(reverse("admin:collection_approvalrequest_change", args=[request.pk]))
    assert page.status_code == 200 and "O-WAIT" in page.content.decode()
    found = client.get(reverse("admin:collection_approvalrequest_changelist"), {"q": "O-WAIT"})
    assert found.status_code == 200 and "Alpha Akademie" in found.content.decode()
    assert found.context["cl"].result_list[0].case_total == 2, "each case counted once"

