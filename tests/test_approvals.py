"""The vendor's approval (issue 4, item 2): asked once by e-mail with signed links and in the
portal, reminded, escalated to the relationship manager; support records answers by CLI."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail, signing
from django.core.management import CommandError, call_command
from django.utils import timezone

from mahnwerk.cases import services as case_services
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import approvals
from mahnwerk.collection.models import ApprovalRequest
from mahnwerk.collection.tasks import approvals as approvals_task
from tests import helpers
from tests.factories import OrderFactory, ProductFactory, VendorFactory

pytestmark = pytest.mark.django_db


def waiting(vendor):
    return helpers.waiting(OrderFactory(product=ProductFactory(vendor=vendor)))


@pytest.fixture
def vendor():
    return VendorFactory(vendor_id="48213", name="Akademie Sonnenschein",
                         email="info@sonnenschein.example", relationship_manager="dom",
                         escalation_channel="WhatsApp: Sonnenschein")


def test_one_request_per_vendor_lists_all_its_waiting_cases(
        vendor, django_capture_on_commit_callbacks):
    first, second = waiting(vendor), waiting(vendor)
    with django_capture_on_commit_callbacks(execute=True):
        requests = approvals.request_approvals(actor="schedule")
    assert len(requests) == 1
    assert set(requests[0].cases.all()) == {first, second}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["info@sonnenschein.example"]
    assert first.order_id in message.body and "/freigabe/" in message.body
    assert approvals.request_approvals(actor="schedule") == [], "asked once"
    assert first.events.last().reason.startswith("Freigabe angefragt")


def test_no_answer_sends_a_reminder_then_escalates_to_the_relationship_manager(vendor):
    case = waiting(vendor)
    start = timezone.now()
    approvals.request_approvals(actor="schedule", now=start)
    assert approvals.follow_up_approvals(now=start + timedelta(days=6)) == {
        "reminded": 0, "escalated": 0}
    assert approvals.follow_up_approvals(now=start + timedelta(days=7))["reminded"] == 1
    assert approvals.follow_up_approvals(now=start + timedelta(days=14))["escalated"] == 1
    status = approvals.escalation_status(case=case)
    assert "dom" in status and "WhatsApp: Sonnenschein" in status
    assert "WhatsApp: Sonnenschein" in case.events.last().reason


def test_a_signed_link_approves_the_case_once(vendor):
    case = waiting(vendor)
    token = approvals.make_link_token(case=case, action="approve")
    decision = approvals.read_link_token(token=token)
    approvals.decide_approval(case=decision.case, approve=True, actor="link:vendor")
    case.refresh_from_db()
    assert case.state == CaseState.APPROVED
    with pytest.raises(approvals.ApprovalError, match="bereits verwendet"):
        approvals.read_link_token(token=token)


def test_a_cancellation_takes_the_case_off_the_list(vendor):
    case = waiting(vendor)
    approvals.decide_approval(case=case, approve=False, actor="portal:vendor")
    case.refresh_from_db()
    assert case.state == CaseState.CANCELED


@pytest.mark.parametrize("kind", ["tampered", "expired", "other_vendor"])
def test_a_bad_link_is_refused(vendor, settings, kind):
    case = waiting(vendor)
    token = approvals.make_link_token(case=case, action="approve")
    kwargs = {}
    if kind == "tampered":
        token = token[:-2] + ("xx" if not token.endswith("xx") else "yy")
    elif kind == "expired":
        settings.MAHNWERK_APPROVAL_LINK_DAYS = -1
    else:
        kwargs["vendor_id"] = "99999"
    with pytest.raises(approvals.ApprovalError):
        approvals.read_link_token(token=token, **kwargs)
    case.refresh_from_db()
    assert case.state == CaseState.ON_HOLD


def test_a_link_signed_for_offers_is_not_an_approval(vendor):
    case = waiting(vendor)
    token = signing.TimestampSigner(salt="mahnwerk.dunning.offer").sign_object(
        {"case": case.pk, "vendor": case.vendor_id, "action": "approve"})
    with pytest.raises(approvals.ApprovalError):
        approvals.read_link_token(token=token)


def test_a_block_by_support_wins_over_a_later_approval(vendor):
    case = waiting(vendor)
    token = approvals.make_link_token(case=case, action="approve")
    case_services.block_case(case=case, reason="Anwaltsschreiben eingegangen", actor="anna")
    decision = approvals.read_link_token(token=token)
    with pytest.raises(approvals.ApprovalError, match="Anwaltsschreiben"):
        approvals.decide_approval(case=decision.case, approve=True, actor="link:vendor")
    case.refresh_from_db()
    assert case.state == CaseState.BLOCKED


def test_support_records_a_decision_from_the_command_line(vendor):
    case = waiting(vendor)
    out = StringIO()
    call_command("case", case.order_id, "approve", "--reason", "per WhatsApp freigegeben",
                 "--as", "anna", stdout=out)
    case.refresh_from_db()
    assert case.state == CaseState.APPROVED
    assert "per WhatsApp freigegeben" in case.events.last().reason
    other = waiting(vendor)
    case_services.block_case(case=other, reason="Klärung", actor="anna")
    with pytest.raises(CommandError, match="Klärung"):
        call_command("case", other.order_id, "cancel", "--reason", "x")


def test_the_request_closes_when_every_case_is_decided(vendor):
    case = waiting(vendor)
    approvals.request_approvals(actor="schedule")
    approvals.decide_approval(case=case, approve=True, actor="portal:vendor")
    assert ApprovalRequest.objects.get().closed_at is not None


def test_the_schedule_and_the_command_ask_remind_and_escalate_through_one_service(
        vendor, mailoutbox, settings, django_capture_on_commit_callbacks):
    waiting(vendor)
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("approvals", stdout=out)
    assert "1 Vendor zu 1 Fall angefragt" in out.getvalue()
    assert len(mailoutbox) == 1, "the vendor got its e-mail with the links"
    assert "freigabe/" in mailoutbox[0].body
    assert settings.CELERY_BEAT_SCHEDULE["approvals"]["task"] == approvals_task.name
    assert approvals_task.delay().get() == {"asked": 0, "cases": 0, "reminded": 0,
                                            "escalated": 0}, "asked once, not every pass"


def test_a_link_tells_nothing_of_the_case_and_cannot_be_guessed(vendor):
    """Issue 9: the links carried the case's primary key and the vendor id, readable."""
    from mahnwerk.cases import links
    from mahnwerk.cases.models import LinkCode
    from mahnwerk.dunning import offers

    case = waiting(vendor)
    made = [approvals.make_link_token(case=case, action="approve") for _ in range(3)]
    made.append(offers.make_token(case=case))
    for token in made:
        assert links.looks_like_code(token) and len(token) == links.LENGTH
        assert set(token) <= set(links.ALPHABET), "no O, I or L beside the 0 and 1"
        assert ":" not in token, "no signed payload that could be decoded"
        assert LinkCode.objects.get(code=token).case == case, "the database knows the case"
    assert len(set(made)) == len(made), "a new random code each time, nothing derived"
    assert len(links.ALPHABET) ** links.LENGTH >= 2 ** 80
    typed = approvals.make_link_token(case=case, action="cancel").lower()
    typed = f"{typed[:4]}-{typed[4:8]} {typed[8:]}"
    assert approvals.read_link_token(token=typed).action == "cancel", "as a person types it"
