"""Stored facts, words at reading time (issue 8, point 5).

A run's decision and a case's event store a reason code with its facts (dates, amounts, the
letter level, order ids); the words are chosen when someone reads them. So the same facts read in
German for a German reader and in English for an English reader, whoever caused them and in
whatever language that person worked.
"""

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone, translation

from mahnwerk import reasons
from mahnwerk.cases import reasons as case_reasons
from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import CaseEvent
from mahnwerk.collection import approvals
from mahnwerk.dunning import delivery, services
from mahnwerk.web.accounts import ensure_demo_users
from tests import helpers
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, order_record, send

pytestmark = pytest.mark.django_db

INCIDENT = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)


def later_order(order, *, other_product: bool = False, **fields) -> None:
    """A later order of the same buyer, sent by the platform."""
    product = ProductFactory(vendor=order.vendor) if other_product else order.product
    send("orders", order_record(OrderFactory.build(
        product=product, buyer=order.buyer, created_at=order.created_at + timedelta(days=30),
        **fields)))


def in_language(language: str, read):
    with translation.override(language):
        return read()


def timeline_reasons(case, language: str) -> list[str]:
    return in_language(language, lambda: [e.reason for e in case.events.order_by("at", "id")])


# -- A run: whoever started it, each reader reads their own language ----------------------------


@pytest.mark.parametrize("writer", ["de", "en"])
def test_a_runs_decision_and_the_case_timeline_read_in_the_readers_language(writer):
    case = incident(OrderFactory(order_id="O-RUN", buyer_email="kim@example.org"),
                    open_amount="300.00", at=INCIDENT)
    with translation.override(writer):  # the person who started the run reads this language
        run = services.run_month(as_of=date(2026, 10, 8), actor="cli:anna")
        delivery.deliver_due()
    decision = run.decisions.get(case=case)
    assert (decision.code, decision.params) == ("run.due", {"level": 1, "date": "2026-09-08"})
    assert (decision.outcome_code, decision.outcome_params) == (
        "out.queued", {"level": 1, "channel": "email"})

    assert in_language("de", lambda: (decision.reason, decision.outcome)) == (
        "1. Mahnung fällig seit 08.09.2026", "1. Mahnung eingereiht (E-Mail)")
    assert in_language("en", lambda: (decision.reason, decision.outcome)) == (
        "letter 1 due since 09/08/2026", "letter 1 queued (e-mail)")

    assert timeline_reasons(case, "de") == [
        "Forderung erfasst: Raten gestoppt, 300,00\xa0€ offen.",
        f"1. Mahnung (Lauf #{run.pk}) an kim@example.org.",
        "1. Mahnung am 08.10.2026 per E-Mail an kim@example.org hinausgegangen.",
    ]
    assert timeline_reasons(case, "en") == [
        "Debt recorded: stopped installments, €300.00 open.",
        f"Letter 1 (run #{run.pk}) to kim@example.org.",
        "Letter 1 left by e-mail to kim@example.org on 10/08/2026.",
    ]


def test_the_dry_run_prints_the_reasons_in_the_readers_language():
    incident(OrderFactory(order_id="O-DRY"), open_amount="300.00", at=INCIDENT)

    def dry_run() -> str:
        out = StringIO()
        call_command("dunning_run", "--as-of", "2026-10-08", "--dry-run", stdout=out)
        return out.getvalue()

    assert "O-DRY\tsend1\t1. Mahnung fällig seit 08.09.2026" in in_language("de", dry_run)
    assert "O-DRY\tsend1\tletter 1 due since 09/08/2026" in in_language("en", dry_run)


def test_the_case_page_and_the_run_page_read_in_the_visitors_language(
        client, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    vendor = VendorFactory(vendor_id="VWEB")
    ensure_demo_users(vendor_id=vendor.pk)
    incident(OrderFactory(order_id="O-WEB", product=ProductFactory(vendor=vendor)),
             open_amount="300.00", at=INCIDENT)
    with translation.override("de"):  # a German support user starts the run
        run = services.run_month(as_of=date(2026, 10, 8), actor="web:anna")
    client.force_login(django_user_model.objects.get(username="support"))
    pages = (reverse("web:case", args=["O-WEB"]), reverse("web:run", args=[run.pk]))

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    case_page, run_page = (client.get(url).content.decode() for url in pages)
    assert f"Letter 1 (run #{run.pk}) to" in case_page
    assert "letter 1 due since 09/08/2026" in run_page and "letter 1 queued" in run_page

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    case_page, run_page = (client.get(url).content.decode() for url in pages)
    assert f"1. Mahnung (Lauf #{run.pk}) an" in case_page
    assert "1. Mahnung fällig seit 08.09.2026" in run_page
    assert "1. Mahnung eingereiht" in run_page


# -- Support's corrections and the vendor's approval --------------------------------------------


def test_an_address_flag_set_by_an_english_speaker_reads_in_german():
    case = incident(OrderFactory(order_id="O-ADDR"))
    with translation.override("en"):
        case_services.set_invalid_address(case=case, value=True, reason="letter came back",
                                          actor="anna")
    event = case.events.last()
    assert (event.code, event.params) == ("case.address_set_invalid",
                                          {"reason": "letter came back"})
    assert in_language("de", lambda: event.reason) == (
        "Adresse von Hand als ungültig markiert: letter came back"), "her words as she wrote"
    assert in_language("en", lambda: event.reason) == (
        "Address set invalid by hand: letter came back")


def test_the_newest_address_reads_with_its_problems_in_the_readers_language():
    order = OrderFactory(order_id="O-OLD", postcode="51147", city="Köln", country="DE")
    case = incident(order)
    later_order(order, order_id="O-NEW", street="Ring", house_number="1", postcode="5114",
                city="", country="DE", other_product=True)
    event = case.events.filter(kind="address").last()
    assert event.code == "case.address_unusable_flagged"
    assert event.params["problems"] == {"codes": ["city", "postcode_country"],
                                        "postcode": "5114", "country": "DE"}
    german = in_language("de", lambda: event.reason)
    english = in_language("en", lambda: event.reason)
    assert "Ort fehlt" in german and "ungültige Adresse markiert" in german
    assert "city missing" in english and "now flagged: invalid address" in english
    assert "O-NEW" in german and "O-NEW" in english


def test_an_undone_reorder_match_reads_in_both_languages_with_supports_words():
    order = OrderFactory(order_id="O-FIRST")
    case = incident(order)
    later_order(order, order_id="O-AGAIN")
    case.refresh_from_db()
    with translation.override("en"):
        case_services.override_reorder(case=case, reason="Gutschein, kein Kauf", actor="anna")
    event = case.events.last()
    assert (event.code, event.params) == ("case.not_reordered",
                                          {"new": "O-AGAIN", "reason": "Gutschein, kein Kauf"})
    assert in_language("de", lambda: event.reason) == (
        "Kein erneuter Kauf (Bestellung O-AGAIN): Gutschein, kein Kauf")
    assert in_language("en", lambda: event.reason) == (
        "Not a reorder (order O-AGAIN): Gutschein, kein Kauf")


def test_the_approval_steps_read_in_the_readers_language():
    vendor = VendorFactory(name="Akademie Sonnenschein", email="info@sonnenschein.example",
                           relationship_manager="", escalation_channel="WhatsApp: Sonne")
    case = helpers.waiting(OrderFactory(product=ProductFactory(vendor=vendor)))
    start = timezone.now()
    with translation.override("en"):
        approvals.request_approvals(actor="schedule", now=start)
        approvals.follow_up_approvals(now=start + timedelta(days=7))
        approvals.follow_up_approvals(now=start + timedelta(days=14))
        approvals.decide_approval(case=case, approve=False, actor="portal:vendor",
                                  reason="Kunde zahlt direkt")
    assert timeline_reasons(case, "de")[-4:] == [
        "Freigabe angefragt bei Akademie Sonnenschein (info@sonnenschein.example).",
        "Keine Antwort von Akademie Sonnenschein; Erinnerung verschickt.",
        "Weiterhin keine Antwort: an Relationship Manager (nicht hinterlegt) eskaliert, der den "
        "Vendor in WhatsApp: Sonne anschreibt.",
        "Stornierung gewünscht von vendor (Vendor-Portal); der Fall verlässt die Liste. "
        "Kunde zahlt direkt",
    ]
    assert timeline_reasons(case, "en")[-2:] == [
        "Still no answer: escalated to relationship manager (none set), to write to the vendor "
        "in WhatsApp: Sonne.",
        "Cancellation requested by vendor (vendor portal); the case leaves the list. "
        "Kunde zahlt direkt",
    ]


# -- The command line ---------------------------------------------------------------------------


def test_the_cli_json_gives_the_rendered_reason_with_its_code_and_facts():
    incident(OrderFactory(order_id="O-CLI"), open_amount="120.50", kind="chargeback")

    def show() -> dict:
        out = StringIO()
        call_command("case", "O-CLI", "--format", "json", stdout=out)
        return json.loads(out.getvalue())

    german, english = in_language("de", show), in_language("en", show)
    opened = german["timeline"][0]
    assert opened["code"] == "case.opened"
    assert opened["params"] == {"kind": "chargeback",
                                "amount": {"amount": "120.50", "currency": "EUR"}}
    assert opened["reason"] == "Forderung erfasst: Rücklastschrift, 120,50\xa0€ offen."
    assert english["timeline"][0] == {**opened,
                                      "reason": "Debt recorded: chargeback by buyer, €120.50 open."}

    def text() -> str:
        out = StringIO()
        call_command("case", "O-CLI", stdout=out)
        return out.getvalue()

    assert "Debt recorded: chargeback by buyer, €120.50 open." in in_language("en", text)


# -- The registry -------------------------------------------------------------------------------

#: A value for each kind of parameter; a new kind or label group must add its example here.
SAMPLES = {
    "": "X-17",
    "date": "2026-10-08",
    "money": reasons.money_param(Decimal("12.30"), "EUR"),
    "days": 14,
    "address_problems": case_reasons.address_problems_param(
        ["street", "postcode_country"], postcode="1234", country="DE"),
    "label:state": "dunning",
    "label:incident": "chargeback",
    "label:channel": "email",
    "label:delivery": "bounced",
    "label:address_flag": "invalid",
    "label:manager": "",
    "label:chat": "",
    "approver": "portal:vendor",
}


def test_every_registered_reason_renders_with_its_facts_in_german_and_in_english():
    registry = reasons.registered()
    assert {"text", "case.opened", "run.due", "collection.handed_over"} <= set(registry)
    unknown_kinds = {kind for params in registry.values() for kind in params.values()} \
        - set(SAMPLES)
    assert not unknown_kinds, "add an example for each new kind of parameter to SAMPLES"
    for code, params in registry.items():
        facts = {name: SAMPLES[kind] for name, kind in params.items()}
        with translation.override("de"):
            german = reasons.render(code, facts)
        with translation.override("en"):
            english = reasons.render(code, facts)
        for words in (german, english):
            assert not words.startswith(code) and "%(" not in words, (code, words)
            assert all("X-17" in words for kind in params.values() if kind == ""), words
        if code != reasons.TEXT:
            assert german != english, f"{code} has no German words"


def test_an_unknown_code_shows_as_itself_with_its_facts():
    assert reasons.render("gone.away", {"order": "O1", "level": 2}) == (
        "gone.away (level=2, order=O1)")
    assert reasons.render("gone.away", {}) == "gone.away"
    # A registered code whose stored facts do not fit its words hides nothing either.
    assert reasons.render("run.due", {"level": 1}) == "run.due (level=1)"

    case = incident(OrderFactory(order_id="O-GONE"))
    case_services.change_case(case=case, actor="t", kind="note",
                              reason=reasons.Reason("gone.away", {"order": "O1"}))
    event = CaseEvent.objects.filter(case=case).last()
    assert event.reason == "gone.away (order=O1)"
