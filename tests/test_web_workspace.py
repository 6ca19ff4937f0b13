"""The web workspace, the vendor portal and the buyer's offer page, through Django's test client."""

import time
from datetime import date, datetime, timedelta
from unittest import mock

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import CaseEvent, DebtCase, EventKind
from mahnwerk.cases.states import CaseState
from mahnwerk.dunning import offers, services
from mahnwerk.dunning.models import (
    DeliveryStatus,
    DirectSelection,
    DunningPolicy,
    DunningRun,
    Letter,
    OutboxMessage,
    RunDecision,
    VendorTask,
)
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, payment

pytestmark = pytest.mark.django_db

INCIDENT = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
AS_OF = date(2026, 10, 1)


def open_case(**order_fields) -> DebtCase:
    return incident(OrderFactory(**order_fields), open_amount="300.00", at=INCIDENT)


@pytest.fixture
def market():
    """Two vendors: Alpha with a yellow and a grey case, Beta with one case of its own."""
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching")
    yellow = open_case(order_id="O-YELLOW", product=ProductFactory(vendor=alpha,
                                                                   name="Yoga-Kurs"))
    grey = open_case(order_id="O-GREY", product=ProductFactory(vendor=alpha, name="Pilates"))
    case_services.change_case(case=grey, actor="test", reason="Kunde hat neu bestellt",
                              changes={"pursue": False})
    other = open_case(order_id="O-BETA", product=ProductFactory(vendor=beta,
                                                                name="Geheimkurs Beta"))
    return {"alpha": alpha, "beta": beta, "yellow": yellow, "grey": grey, "other": other}


@pytest.fixture
def users(market):
    made = {u.username: u for u in ensure_demo_users(vendor_id=market["alpha"].pk)}
    return made


@pytest.fixture
def support(client, users, django_user_model):
    client.force_login(django_user_model.objects.get(username="support"))
    return client


@pytest.fixture
def vendor_client(client, users, django_user_model):
    client.force_login(django_user_model.objects.get(username="vendor"))
    return client


def done_run(as_of: date = AS_OF) -> DunningRun:
    return services.run_month(as_of=as_of, actor="test")


def workspace_urls(market) -> list[str]:
    run = done_run()
    letter = Letter.objects.filter(case=market["yellow"]).first()
    return [
        reverse("web:cases"),
        reverse("web:cases") + "?state=open&pursue=yes&q=O-",
        reverse("web:case", args=["O-YELLOW"]),
        reverse("web:letter-preview", args=["O-YELLOW", 1]),
        reverse("web:letter-preview", args=["O-YELLOW", 2]),
        reverse("web:letter", args=[letter.pk]),
        reverse("web:runs"),
        reverse("web:runs") + f"?as_of={AS_OF:%Y-%m-%d}",
        reverse("web:run", args=[run.pk]),
        reverse("web:run", args=[run.pk]) + "?action=send",
        reverse("web:outbox"),
        reverse("web:outbox") + "?status=queued&channel=email",
    ]


# -- Access --------------------------------------------------------------------------------------


def test_every_workspace_page_answers_a_support_user(support, market):
    for url in workspace_urls(market):
        response = support.get(url)
        assert response.status_code == 200, url


def test_every_page_sends_an_anonymous_visitor_to_the_login(client, market):
    login = reverse("web:login")
    for url in [*workspace_urls(market), reverse("web:portal"), reverse("web:home")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(login), url


def test_the_login_page_logs_a_support_user_in_and_home_leads_to_the_overview(client, users):
    assert client.get(reverse("web:login")).status_code == 200
    response = client.post(reverse("web:login"), {"username": "support", "password": "demo"})
    assert response.status_code == 302
    assert client.get(reverse("web:home"))["Location"] == reverse("web:overview")
    response = client.post(reverse("web:logout"))
    assert response["Location"] == reverse("web:login")
    assert client.get(reverse("web:cases")).status_code == 302


def test_a_vendor_login_never_sees_the_workspace(vendor_client, market):
    assert vendor_client.get(reverse("web:home"))["Location"] == reverse("web:portal")
    for url in workspace_urls(market):
        response = vendor_client.get(url)
        assert response.status_code in (302, 403), url
        if response.status_code == 302:
            assert response["Location"] == reverse("web:portal"), url
    response = vendor_client.post(reverse("web:case-block", args=["O-YELLOW"]),
                                  {"block-reason": "x"})
    assert response.status_code in (302, 403, 405)
    assert not CaseEvent.objects.filter(kind=EventKind.BLOCKED).exists()


def test_a_support_user_has_no_vendor_portal(support):
    assert support.get(reverse("web:portal")).status_code == 403


def test_a_relationship_manager_reads_but_does_not_change(client, users, market,
                                                          django_user_model):
    client.force_login(django_user_model.objects.get(username="manager"))
    page = client.get(reverse("web:case", args=["O-YELLOW"]))
    assert page.status_code == 200
    assert reverse("web:case-block", args=["O-YELLOW"]) not in page.content.decode()
    response = client.post(reverse("web:case-block", args=["O-YELLOW"]),
                           {"block-reason": "Anwalt"})
    assert response.status_code == 403
    assert client.post(reverse("web:run-start"), {"as_of": "2026-10-01"}).status_code == 403
    assert not DunningRun.objects.exists()


def test_a_user_without_any_role_gets_403(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x"))
    assert client.get(reverse("web:cases")).status_code == 403
    assert client.get(reverse("web:portal")).status_code == 403


# -- Cases ---------------------------------------------------------------------------------------


def test_the_case_list_colours_rows_and_filters(support, market):
    page = support.get(reverse("web:cases")).content.decode()
    assert 'class="pursue" data-order="O-YELLOW"' in page
    assert 'class="not-pursued" data-order="O-GREY"' in page
    assert "300,00\xa0€" in page
    grey_only = support.get(reverse("web:cases"), {"pursue": "no"}).content.decode()
    assert "O-GREY" in grey_only and "O-YELLOW" not in grey_only
    by_vendor = support.get(reverse("web:cases"), {"vendor": "VBETA"}).content.decode()
    assert "O-BETA" in by_vendor and "O-YELLOW" not in by_vendor
    by_id = support.get(reverse("web:cases"), {"q": "o-yel"}).content.decode()
    assert "O-YELLOW" in by_id and "O-GREY" not in by_id
    dunning = support.get(reverse("web:cases"), {"state": "dunning"}).content.decode()
    assert "O-YELLOW" not in dunning


def test_the_case_list_asks_the_database_the_same_few_questions_for_any_page_size(
        support, market, django_assert_max_num_queries):
    for n in range(30):
        open_case(order_id=f"O-MORE-{n}")
    # The list's own: the currencies in use, the totals, the page's ids, its rows, the saved
    # filters, the vendors and partners to filter by; the rest is the session and the top bar.
    with django_assert_max_num_queries(16):
        assert support.get(reverse("web:cases")).status_code == 200


def test_the_case_page_shows_timeline_and_notes_marked_internal_or_shared(support, market):
    case = market["yellow"]
    case_services.add_note(case=case, text="Käufer hat angerufen", actor="anna")
    case_services.add_note(case=case, text="Vendor informiert", actor="anna", shared=True)
    page = support.get(reverse("web:case", args=[case.order_id])).content.decode()
    assert "Käufer hat angerufen" in page and "Vendor informiert" in page
    assert 'class="badge internal"' in page and 'class="badge shared"' in page
    assert 'id="timeline"' in page


def test_blocking_through_the_case_page_writes_a_case_event(support, market):
    url = reverse("web:case", args=["O-YELLOW"])
    response = support.post(reverse("web:case-block", args=["O-YELLOW"]),
                            {"block-reason": "Anwaltsschreiben eingegangen"})
    assert response.status_code == 302 and response["Location"] == url
    event = CaseEvent.objects.get(case=market["yellow"], kind=EventKind.BLOCKED)
    assert event.actor == "support" and event.user.username == "support"
    assert event.reason == "Anwaltsschreiben eingegangen"
    page = support.get(url).content.decode()
    assert _("Case %(order)s blocked.") % {"order": "O-YELLOW"} in page
    # blocking twice is refused by the service, and the page says why
    response = support.post(reverse("web:case-block", args=["O-YELLOW"]),
                            {"block-reason": "noch einmal"}, follow=True)
    assert "already blocked" in response.content.decode() or "bereits" in \
        response.content.decode()
    assert CaseEvent.objects.filter(kind=EventKind.BLOCKED).count() == 1
    support.post(reverse("web:case-unblock", args=["O-YELLOW"]), {"unblock-reason": "geklärt"})
    assert DebtCase.objects.get(order_id="O-YELLOW").state == CaseState.OPEN


def test_a_block_without_a_reason_is_refused(support, market):
    response = support.post(reverse("web:case-block", args=["O-YELLOW"]),
                            {"block-reason": "  "}, follow=True)
    assert _("Give a reason.") in response.content.decode()
    assert not CaseEvent.objects.filter(kind=EventKind.BLOCKED).exists()


def test_a_note_through_the_case_page_writes_a_case_event(support, market):
    support.post(reverse("web:case-note", args=["O-YELLOW"]),
                 {"note-text": "Ruft morgen zurück", "note-shared": "on"})
    note = market["yellow"].notes.get()
    assert note.visibility == "shared" and note.author == "support"
    assert CaseEvent.objects.filter(case=market["yellow"], kind=EventKind.NOTE).exists()


def test_an_unknown_case_is_404(support, market):
    assert support.get(reverse("web:case", args=["NOPE"])).status_code == 404


def test_the_letter_preview_shows_html_and_a_pdf_without_storing_anything(support, market):
    page = support.get(reverse("web:letter-preview", args=["O-YELLOW", 1])).content.decode()
    assert "O-YELLOW" in page and "srcdoc=" in page
    response = support.get(reverse("web:letter-preview-pdf", args=["O-YELLOW", 2]))
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert "attachment" in response["Content-Disposition"]
    assert not Letter.objects.exists()
    assert support.get(reverse("web:letter-preview", args=["O-YELLOW", 3])).status_code == 404


# -- Runs ----------------------------------------------------------------------------------------


def test_the_preview_lists_decisions_and_stores_nothing(support, market):
    response = support.get(reverse("web:runs"), {"as_of": "2026-10-01"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "O-YELLOW" in page and "O-BETA" in page
    preview = response.context["preview"]
    assert preview["total"] == 3
    assert dict(preview["counts"])["send1"] == 3
    assert not DunningRun.objects.exists() and not RunDecision.objects.exists()
    assert not Letter.objects.exists()
    only_beta = support.get(reverse("web:runs"), {"as_of": "2026-10-01", "vendor": "VBETA"})
    assert only_beta.context["preview"]["total"] == 1


def test_the_preview_lists_its_decisions_in_pages_but_counts_all(support, market,
                                                                  monkeypatch):
    from mahnwerk.web.views import runs

    monkeypatch.setattr(runs, "PREVIEW_ROWS", 2)
    response = support.get(reverse("web:runs"), {"as_of": "2026-10-01"})
    assert len(response.context["preview"]["rows"]) == 2
    assert response.context["preview"]["total"] == 3
    assert "preview_page=2" in response.content.decode()
    second = support.get(reverse("web:runs"), {"as_of": "2026-10-01", "preview_page": 2})
    assert len(second.context["preview"]["rows"]) == 1


def test_a_run_is_created_and_executed_through_the_pages(support, market):
    response = support.post(reverse("web:run-start"), {"as_of": "2026-10-01", "vendor": ""})
    run = DunningRun.objects.get()
    assert response["Location"] == reverse("web:run", args=[run.pk])
    assert run.state == "decided" and run.started_by == "support"
    assert RunDecision.objects.filter(run=run).count() == 3
    assert not Letter.objects.exists()
    page = support.get(reverse("web:run", args=[run.pk]))
    assert page.status_code == 200 and page.context["can_execute"]
    support.post(reverse("web:run-execute", args=[run.pk]))
    run.refresh_from_db()
    assert run.state == "done"
    assert Letter.objects.count() == 3 == OutboxMessage.objects.count()
    case = DebtCase.objects.get(order_id="O-YELLOW")
    assert case.state == CaseState.DUNNING and case.first_dunning_letter is None, \
        "queued, not yet left: the letter's date reaches the case when it leaves"
    # the case page lists the letter with its outbox status, and the letter opens as PDF
    letter = Letter.objects.get(case=case)
    page = support.get(reverse("web:case", args=["O-YELLOW"])).content.decode()
    assert reverse("web:letter", args=[letter.pk]) in page
    assert str(DeliveryStatus.QUEUED.label) in page
    pdf = support.get(reverse("web:letter-pdf", args=[letter.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    # executing again is refused with the service's words
    again = support.post(reverse("web:run-execute", args=[run.pk]), follow=True)
    assert f"#{run.pk}" in again.content.decode()


def test_a_second_run_is_refused_with_the_reason_and_a_decided_run_can_be_discarded(
        support, market):
    support.post(reverse("web:run-start"), {"as_of": "2026-10-01"})
    first = DunningRun.objects.get()
    response = support.post(reverse("web:run-start"), {"as_of": "2026-10-01"}, follow=True)
    assert DunningRun.objects.count() == 1
    assert f"#{first.pk}" in response.content.decode()
    assert 'class="error"' in response.content.decode()
    support.post(reverse("web:run-discard", args=[first.pk]))
    first.refresh_from_db()
    assert first.state == "discarded" and not Letter.objects.exists()


def test_an_interrupted_run_is_resumed_from_its_page(support, market):
    run = services.start_run(as_of=AS_OF, actor="test")
    services.execute_run(run=run, actor="test", stop_after=1)
    page = support.get(reverse("web:run", args=[run.pk]))
    assert page.context["can_resume"] and not page.context["can_execute"]
    support.post(reverse("web:run-execute", args=[run.pk]))
    run.refresh_from_db()
    assert run.state == "done" and Letter.objects.count() == 3


# -- Outbox --------------------------------------------------------------------------------------


def test_the_print_queue_marks_a_letter_printed(support, market):
    open_case(order_id="O-POST", buyer_email="", product=ProductFactory(vendor=market["alpha"]))
    done_run()
    message = OutboxMessage.objects.get(case__order_id="O-POST")
    assert message.channel == "print"
    page = support.get(reverse("web:outbox")).content.decode()
    assert reverse("web:outbox-printed", args=[message.pk]) in page
    assert reverse("web:letter-pdf", args=[message.letter_id]) in page
    support.post(reverse("web:outbox-printed", args=[message.pk]))
    message.refresh_from_db()
    assert message.status == DeliveryStatus.PRINTED
    again = support.post(reverse("web:outbox-printed", args=[message.pk]), follow=True)
    assert 'class="error"' in again.content.decode()


def test_deliver_now_sends_the_queued_e_mails(support, market, mailoutbox):
    done_run()
    response = support.post(reverse("web:outbox-deliver"), follow=True)
    assert response.status_code == 200
    assert len(mailoutbox) == 3
    assert OutboxMessage.objects.filter(status=DeliveryStatus.SENT).count() == 3
    page = support.get(reverse("web:outbox"), {"status": "sent"})
    assert len(page.context["page"].object_list) == 3


def test_a_stuck_message_is_queued_again_only_after_the_check_is_confirmed(support, market):
    done_run()
    message = OutboxMessage.objects.first()
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=DeliveryStatus.SENDING, message_id="<abc@mahnwerk>",
        next_attempt_at=timezone.now() - timedelta(hours=1))
    page = support.get(reverse("web:outbox")).content.decode()
    assert "&lt;abc@mahnwerk&gt;" in page
    support.post(reverse("web:outbox-release", args=[message.pk]))
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENDING
    support.post(reverse("web:outbox-release", args=[message.pk]), {"checked": "on"})
    message.refresh_from_db()
    assert message.status == DeliveryStatus.QUEUED


def test_a_stuck_message_found_in_the_mail_log_is_confirmed_as_sent_and_counts_as_left(
        support, market):
    """The worker died after the mail server took the message: support finds its Message-ID
    in the log and confirms it on the outbox page, only with the check ticked; the letter then
    counts as left, with a line on the case's timeline, and nothing is sent again."""
    done_run()
    message = OutboxMessage.objects.filter(channel="email").first()
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=DeliveryStatus.SENDING, message_id="<abc@mahnwerk>",
        next_attempt_at=timezone.now() - timedelta(hours=1))
    page = support.get(reverse("web:outbox")).content.decode()
    assert reverse("web:outbox-confirm-sent", args=[message.pk]) in page
    refused = support.post(reverse("web:outbox-confirm-sent", args=[message.pk]), follow=True)
    assert "Protokoll des Mailservers" in refused.content.decode()
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENDING
    support.post(reverse("web:outbox-confirm-sent", args=[message.pk]), {"checked": "on"})
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENT
    assert CaseEvent.objects.filter(case_id=message.case_id, code="letter.left").count() == 1
    again = support.post(reverse("web:outbox-confirm-sent", args=[message.pk]),
                         {"checked": "on"}, follow=True)
    assert 'class="error"' in again.content.decode()
    assert CaseEvent.objects.filter(case_id=message.case_id, code="letter.left").count() == 1


# -- The offer page ------------------------------------------------------------------------------


def offer_url(case: DebtCase, token: str | None = None) -> str:
    return reverse("web:offer-token", args=[token or offers.make_token(case=case)])


def test_the_offer_page_shows_the_open_amount_and_the_checkout_link(client, market):
    case = market["yellow"]
    token = offers.make_token(case=case)
    for url in (reverse("web:offer") + f"?token={token}", offer_url(case, token)):
        response = client.get(url)
        page = response.content.decode()
        assert response.status_code == 200
        assert "300,00\xa0€" in page and "O-YELLOW" in page and "Yoga-Kurs" in page
        assert offers.offer_link(case=case, token=token).replace("&", "&amp;") in page


def test_the_offer_page_speaks_the_letters_language_not_the_browsers(client, market):
    response = client.get(offer_url(market["yellow"]), HTTP_ACCEPT_LANGUAGE="en-US,en")
    assert response["Content-Language"] == "de"
    assert "300,00\xa0€" in response.content.decode()


def test_the_offer_page_without_checkout_says_how_to_pay(client, settings, market):
    case = open_case(order_id="O-NOCHECKOUT",
                     product=ProductFactory(vendor=market["alpha"], checkout_url=""))
    page = client.get(offer_url(case)).content.decode()
    assert settings.MAHNWERK_CREDITOR["email"] in page
    assert 'class="button big"' not in page


def test_a_tampered_token_is_refused(client, market):
    token = offers.make_token(case=market["yellow"])
    # A character that stays different once the code is read forgivingly (any case, O as 0,
    # I and l as 1): "A" for an "a" was the same code, one run in 32.
    tampered = token[:-3] + ("7" if token[-3] != "7" else "8") + token[-2:]
    response = client.get(offer_url(market["yellow"], tampered))
    assert response.status_code == 400
    assert "300,00" not in response.content.decode()
    foreign = signing.TimestampSigner(salt="something.else").sign_object(
        {"case": market["yellow"].pk, "order": "O-YELLOW"}, compress=True)
    assert client.get(offer_url(market["yellow"], foreign)).status_code == 400
    assert client.get(reverse("web:offer")).status_code == 400


def test_an_expired_token_is_refused_with_410(client, market):
    policy = DunningPolicy.objects.create(name="Alpha kurz", vendor=market["alpha"],
                                          offer_valid_days=0)
    assert policy.offer_valid_days == 0
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 10):
        token = offers.make_token(case=market["yellow"])
    response = client.get(offer_url(market["yellow"], token))
    assert response.status_code == 410
    with pytest.raises(offers.OfferError) as expired:
        offers.read_token(token=token, max_age_days=0)
    assert str(expired.value) in response.content.decode()
    # the same token of a vendor with the standard policy is still good
    assert client.get(offer_url(market["other"])).status_code == 200


def test_a_paid_case_is_refused_politely(client, market):
    case = market["yellow"]
    token = offers.make_token(case=case)
    payment(case.order, amount="300.00", at=INCIDENT + timedelta(days=3))
    assert DebtCase.objects.get(pk=case.pk).state == CaseState.PAID
    response = client.get(offer_url(case, token))
    assert response.status_code == 200
    page = response.content.decode()
    assert _("This claim has already been settled.") in page
    assert 'class="button big"' not in page


def test_the_preview_placeholder_link_answers(client):
    assert client.get("/angebot/VORSCHAU").status_code in (200, 301)
    assert client.get("/angebot/VORSCHAU/").status_code == 200


# -- The vendor portal ---------------------------------------------------------------------------


def test_the_portal_shows_only_the_vendors_own_cases(vendor_client, market):
    case_services.add_note(case=market["yellow"], text="Nur intern: Anwalt prüft",
                           actor="anna")
    case_services.add_note(case=market["yellow"], text="Für den Vendor sichtbar",
                           actor="anna", shared=True)
    # The open cases have a page of their own (filters, sorting, pages, downloads).
    page = vendor_client.get(reverse("web:portal-open")).content.decode()
    assert "O-YELLOW" in page and "O-GREY" in page
    assert "O-BETA" not in page and "Geheimkurs Beta" not in page
    page = vendor_client.get(reverse("web:portal")).content.decode()
    assert "O-BETA" not in page and "Geheimkurs Beta" not in page
    detail = vendor_client.get(reverse("web:portal-case", args=["O-YELLOW"])).content.decode()
    assert "Für den Vendor sichtbar" in detail
    assert "Nur intern" not in detail
    assert vendor_client.get(reverse("web:portal-case", args=["O-BETA"])).status_code == 404
    assert vendor_client.get(reverse("web:portal-case", args=["NOPE"])).status_code == 404


def test_the_portal_lists_the_vendors_tasks(vendor_client, market):
    open_case(order_id="O-HELD", product=ProductFactory(vendor=market["alpha"],
                                                        dunning_enabled=False,
                                                        name="Kurs ohne Konto"))
    done_run()
    done_run(date(2026, 10, 20))
    assert VendorTask.objects.filter(vendor=market["alpha"]).count() == 2
    page = vendor_client.get(reverse("web:portal")).content.decode()
    assert "MahnwesenCopeCart" in page and "Kurs ohne Konto" in page
    assert page.count("MahnwesenCopeCart") == 1, "the same task of two runs is shown once"


def test_a_direct_collection_vendor_marks_its_orders_in_the_portal(client, django_user_model,
                                                                   market):
    direct = VendorFactory(vendor_id="VDIRECT", collection_mode="direct")
    product = ProductFactory(vendor=direct, name="Direktkurs")
    wanted, unwanted = open_case(order_id="O-D1", product=product), \
        open_case(order_id="O-D2", product=product)
    services.request_direct_selection(vendor_id=direct.pk, as_of=AS_OF)
    ensure_demo_users(vendor_id=direct.pk)
    client.force_login(django_user_model.objects.get(username="vendor"))
    page = client.get(reverse("web:portal")).content.decode()
    assert 'name="pursue" value="O-D1"' in page and 'name="pursue" value="O-D2"' in page
    assert "O-YELLOW" not in page
    response = client.post(reverse("web:portal-selection"),
                           {"order": ["O-D1", "O-D2"], "pursue": ["O-D1"]})
    assert response.status_code == 302
    answers = dict(DirectSelection.objects.values_list("case__order_id", "pursue"))
    assert answers == {"O-D1": True, "O-D2": False}
    assert DirectSelection.objects.get(case=wanted).answered_by == "portal:vendor"
    assert DirectSelection.objects.get(case=unwanted).answered_at is not None
    # another vendor's order is refused, and nothing changes
    response = client.post(reverse("web:portal-selection"),
                           {"order": ["O-YELLOW"], "pursue": ["O-YELLOW"]}, follow=True)
    assert 'class="error"' in response.content.decode()
    assert not DirectSelection.objects.filter(case=market["yellow"]).exists()


def test_pages_are_german_whatever_the_browser_asks_until_a_person_chooses_english(client):
    login_page = reverse("web:login")
    response = client.get(login_page, HTTP_ACCEPT_LANGUAGE="en-US,en")
    assert response["Content-Language"] == "de"
    switched = client.post(reverse("set_language"), {"language": "en", "next": login_page})
    assert switched.status_code == 302
    assert client.get(login_page)["Content-Language"] == "en"
    client.post(reverse("set_language"), {"language": "de", "next": login_page})
    assert client.get(login_page, HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "de"


def test_the_case_page_shows_the_dunning_cycle_and_which_cycle_each_letter_was(support, market):
    order = DebtCase.objects.get(order_id="O-YELLOW").order
    services.run_month(as_of=date(2026, 10, 1), actor="test")
    payment(order, amount=str(DebtCase.objects.get(order_id="O-YELLOW").open_amount),
            at=datetime(2026, 10, 3, tzinfo=BERLIN))
    incident(order, open_amount="80.00", at=datetime(2026, 10, 10, tzinfo=BERLIN))
    page = support.get(reverse("web:case", args=["O-YELLOW"])).content.decode()
    assert "Mahnzyklus" in page and "die Forderung kam am 10.10.2026 wieder" in page
    assert "(Zyklus 1)" in page, "the earlier cycle's letter stays, marked"


def test_a_block_decided_on_a_page_that_is_out_of_date_is_refused_with_what_the_case_is_now(
        support, market):
    yellow = DebtCase.objects.get(order_id="O-YELLOW")
    payment(yellow.order, amount=str(yellow.open_amount), at=datetime(2026, 10, 3,
                                                                       tzinfo=BERLIN))
    response = support.post(reverse("web:case-block", args=["O-YELLOW"]),
                            {"block-reason": "Anwaltsschreiben", "seen_state": "open"},
                            follow=True)
    assert "inzwischen geändert: Er ist jetzt Bezahlt" in response.content.decode()
    yellow.refresh_from_db()
    assert yellow.state == CaseState.PAID and yellow.block_reason == ""


def test_the_line_under_the_navigation_counts_only_the_open_cases_and_the_waiting_messages(
        market):
    """The paid, cancelled and reordered cases and the sent messages only grow and the line
    shows neither: they are not counted (at a million cases the counting was most of every
    page). What it shows stays right."""
    from mahnwerk.cases.states import ACTIVE_STATES
    from mahnwerk.dunning import outbox
    from mahnwerk.web.views.common import dashboard

    done_run()
    OutboxMessage.objects.filter(pk=OutboxMessage.objects.first().pk).update(
        status=DeliveryStatus.SENT)
    states, statuses, _rate = outbox.case_and_message_counts(
        states=ACTIVE_STATES, statuses=(DeliveryStatus.QUEUED, DeliveryStatus.FAILED))
    assert set(states) <= ACTIVE_STATES
    assert statuses[DeliveryStatus.SENT] == 0, "sent messages are not counted"
    all_states, all_statuses, _ = outbox.case_and_message_counts()
    assert all_statuses[DeliveryStatus.SENT] == 1
    line = dashboard()
    assert line["open"] == sum(n for state, n in all_states.items() if state in ACTIVE_STATES)
    assert line["queued"] == all_statuses[DeliveryStatus.QUEUED]
    assert line["dunning"] == all_states.get(CaseState.DUNNING, 0)
