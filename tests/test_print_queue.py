"""The print queue as one job, not a click per letter: one PDF with every waiting letter, dated
the day it is posted, and a flag on letters that wait longer than the policy allows (issue 8,
point 2)."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from mahnwerk.cases.models import DebtCase
from mahnwerk.dunning import selectors, services, workdays
from mahnwerk.dunning.models import DeliveryStatus, DunningLevel, Letter, OutboxMessage
from mahnwerk.web.accounts import ensure_demo_users
from mahnwerk.web.templatetags.workspace import count_label
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident

pytestmark = pytest.mark.django_db

#: The run of Wednesday 1 October 2025. Friday 3 October is the Day of German Unity, then
#: comes a weekend: by Tuesday 7 October a letter of the run has waited 3 working days
#: (2, 6, 7 October), by Wednesday 8 October 4.
RUN_DAY = date(2025, 10, 1)
TUESDAY, WEDNESDAY = date(2025, 10, 7), date(2025, 10, 8)


@pytest.fixture
def vendor():
    return VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")


def debt(vendor, order_id: str, *, email: str = "") -> DebtCase:
    order = OrderFactory(order_id=order_id, product=ProductFactory(vendor=vendor),
                         buyer_email=email, buyer_first_name="Erika",
                         buyer_last_name=f"Muster-{order_id}", street="Heidestraße",
                         house_number="17", postcode="51147", city="Köln")
    return incident(order, open_amount="300.00", at=datetime(2025, 9, 1, 9, 0, tzinfo=BERLIN))


@pytest.fixture
def queue(vendor):
    """Two buyers without an e-mail address and one with: the run of 1 October puts two letters
    in the print queue and one in the e-mail queue."""
    paper = [debt(vendor, "O-POST-1"), debt(vendor, "O-POST-2")]
    debt(vendor, "O-MAIL", email="erika@example.org")
    services.run_month(as_of=RUN_DAY, actor="test")
    assert [i.message.case.order_id for i in selectors.print_items()] == ["O-POST-1", "O-POST-2"]
    return paper


def today_is(monkeypatch, day: date) -> None:
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: day)


def cli(*args: str) -> str:
    out = StringIO()
    call_command("print_queue", *args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def pdf_text(content: bytes | Path) -> list[str]:
    reader = PdfReader(content if isinstance(content, Path) else io.BytesIO(content))
    return [page.extract_text() or "" for page in reader.pages]


def posted_state() -> list[tuple]:
    """What posting changes: the messages' status, the letters' dates, the cases' columns."""
    return [(m.status, m.letter.letter_date, m.letter.deadline, m.letter.dispatched_on,
             m.case.first_dunning_letter)
            for m in OutboxMessage.objects.select_related("letter", "case").order_by("id")]


# -- The list ------------------------------------------------------------------------------------


def test_the_command_lists_what_waits_with_address_level_and_working_days(queue, monkeypatch):
    today_is(monkeypatch, WEDNESDAY)
    table = cli()
    assert "O-POST-1" in table and "O-POST-2" in table and "O-MAIL" not in table
    assert "Erika Muster-O-POST-1" in table and "Heidestraße 17, 51147 Köln DE" in table
    assert "01.10.2025" in table
    assert "2 Briefe warten, 2 länger als erlaubt." in table

    data = json.loads(cli("--format", "json"))
    first = data["letters"][0]
    assert first["order_id"] == "O-POST-1" and first["level"] == 1
    assert first["address"]["city"] == "Köln" and first["buyer"] == "Erika Muster-O-POST-1"
    assert first["letter_date"] == first["waiting_since"] == "2025-10-01"
    assert (first["working_days_waited"], first["allowed_working_days"]) == (4, 3)
    assert first["overdue"] is True and data["overdue"] == 2


def test_an_empty_queue_says_so(vendor):
    assert "leer" in cli()
    assert json.loads(cli("--format", "json")) == {"letters": [], "overdue": 0}


# -- One PDF, posted that day ------------------------------------------------------------------


def test_one_pdf_with_every_letter_dated_the_posting_day_and_all_marked_posted(queue, tmp_path):
    target = tmp_path / "druck.pdf"
    out = cli("--pdf", str(target), "--date", "2025-10-06")
    assert "2" in out and str(target) in out

    pages = pdf_text(target)
    letters = [text for text in pages if text.strip()]
    assert len(letters) == 2 and len(pages) % 2 == 0, "each letter starts on a new sheet"
    for order_id, text in zip(["O-POST-1", "O-POST-2"], letters, strict=True):
        assert order_id in text and f"Muster-{order_id}" in text
        assert "06.10.2025" in text, "dated the day it was posted"
        assert "20.10.2025" in text, "the full 14 days to pay from that day"
        assert "01.10.2025" not in text

    for case in queue:
        case.refresh_from_db()
        letter = Letter.objects.get(case=case)
        assert letter.outbox.status == DeliveryStatus.PRINTED
        assert (letter.letter_date, letter.deadline, letter.dispatched_on) == (
            date(2025, 10, 6), date(2025, 10, 20), date(2025, 10, 6))
        assert case.first_dunning_letter == date(2025, 10, 6)
        assert case.events.filter(code="letter.posted_redated").exists()
    assert OutboxMessage.objects.get(case__order_id="O-MAIL").status == DeliveryStatus.QUEUED
    assert "leer" in cli("--pdf", str(tmp_path / "again.pdf"))
    assert not (tmp_path / "again.pdf").exists(), "an empty queue writes no file"


def test_the_pdf_is_made_after_the_posting_but_a_file_that_cannot_be_written_posts_nothing(
        queue, tmp_path):
    before = posted_state()
    with pytest.raises(CommandError, match="keine Mahnung wurde als versandt markiert"):
        cli("--pdf", str(tmp_path / "fehlt" / "druck.pdf"), "--date", "2025-10-06")
    assert posted_state() == before
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("day", "says"), [
    ("2025-09-30", "01.10.2025"),  # before the run: the service's words name the run's date
    ("tomorrow", "Zukunft"),
    ("06.10.2025", "2026-12-01"),  # the expected format
])
def test_a_day_before_the_run_in_the_future_or_badly_written_is_refused(queue, tmp_path, day,
                                                                        says):
    if day == "tomorrow":
        day = (timezone.localdate() + timedelta(days=1)).isoformat()
    before = posted_state()
    with pytest.raises(CommandError, match=says):
        cli("--pdf", str(tmp_path / "druck.pdf"), "--date", day)
    assert posted_state() == before
    assert list(tmp_path.iterdir()) == [], "nothing written"


# -- The workspace -------------------------------------------------------------------------------


@pytest.fixture
def support(client, vendor, django_user_model):
    ensure_demo_users(vendor_id=vendor.pk)
    client.force_login(django_user_model.objects.get(username="support"))
    return client


def test_one_button_downloads_one_pdf_and_marks_every_letter_posted(queue, support):
    page = support.get(reverse("web:outbox")).content.decode()
    assert "Alle drucken und als versandt markieren" in page
    assert reverse("web:outbox-print-all") in page

    response = support.post(reverse("web:outbox-print-all"), {"on": "2025-10-06"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == \
        'attachment; filename="Mahnungen-Druck-2025-10-06.pdf"'
    letters = [text for text in pdf_text(response.content) if text.strip()]
    assert len(letters) == 2 and all("06.10.2025" in text for text in letters)
    assert set(OutboxMessage.objects.filter(channel="print").values_list("status", flat=True)) \
        == {DeliveryStatus.PRINTED}
    posted = DebtCase.objects.filter(order__order_id__startswith="O-POST")
    assert {case.first_dunning_letter for case in posted} == {date(2025, 10, 6)}
    page = support.get(reverse("web:outbox")).content.decode()
    assert "2 Briefe in ein PDF gedruckt" in page and "Nichts zu drucken." in page


def test_the_button_refuses_a_day_before_the_run_as_a_message(queue, support):
    before = posted_state()
    response = support.post(reverse("web:outbox-print-all"), {"on": "2025-09-30"}, follow=True)
    assert response["Content-Type"].startswith("text/html")
    assert 'class="error"' in response.content.decode()
    assert "01.10.2025" in response.content.decode()
    assert posted_state() == before
    bad = support.post(reverse("web:outbox-print-all"), {"on": "morgen"}, follow=True)
    assert 'class="error"' in bad.content.decode() and posted_state() == before


def test_only_who_may_work_prints(queue, client, support, django_user_model):
    client.force_login(django_user_model.objects.get(username="manager"))
    assert "print-all" not in client.get(reverse("web:outbox")).content.decode()
    assert client.post(reverse("web:outbox-print-all"), {"on": "2025-10-06"}).status_code == 403
    assert not OutboxMessage.objects.filter(status=DeliveryStatus.PRINTED).exists()


def test_the_per_letter_button_still_posts_one_letter_today(queue, support):
    message = OutboxMessage.objects.get(case__order_id="O-POST-1")
    support.post(reverse("web:outbox-printed", args=[message.pk]))
    message.refresh_from_db()
    assert message.status == DeliveryStatus.PRINTED
    assert message.letter.dispatched_on == timezone.localdate()
    assert OutboxMessage.objects.get(case__order_id="O-POST-2").status == DeliveryStatus.QUEUED


# -- Waiting too long ----------------------------------------------------------------------------


def test_working_days_skip_the_weekend_and_the_day_of_german_unity():
    assert workdays.working_days_between(RUN_DAY, TUESDAY) == 3
    assert workdays.working_days_between(RUN_DAY, WEDNESDAY) == 4
    for allowed in (1, 3, 4, 10):
        last = workdays.waited_too_long_up_to(allowed_working_days=allowed, today=WEDNESDAY)
        assert workdays.working_days_between(last, WEDNESDAY) > allowed
        assert workdays.working_days_between(last + timedelta(days=1), WEDNESDAY) <= allowed


def test_a_letter_waiting_3_working_days_is_not_flagged_after_4_it_is(queue, support,
                                                                     monkeypatch):
    today_is(monkeypatch, TUESDAY)  # 7 calendar days, but 3 working days
    assert selectors.print_overdue() == []
    assert [i.working_days for i in selectors.print_items()] == [3, 3]
    outbox_page = support.get(reverse("web:outbox")).content.decode()
    case_page = support.get(reverse("web:case", args=["O-POST-1"])).content.decode()
    for page in (outbox_page, case_page):
        assert "print-overdue" not in page and "wartet seit 3 Werktagen" in page
    assert "länger als erlaubt" not in outbox_page and "ja" not in cli().split("\n")[2]

    today_is(monkeypatch, WEDNESDAY)
    overdue = selectors.print_overdue()
    assert [i.message.case.order_id for i in overdue] == ["O-POST-1", "O-POST-2"]
    assert all((i.working_days, i.allowed) == (4, 3) for i in overdue)
    outbox_page = support.get(reverse("web:outbox")).content.decode()
    case_page = support.get(reverse("web:case", args=["O-POST-1"])).content.decode()
    for page in (outbox_page, case_page):
        assert "print-overdue" in page and "⚠ wartet seit 4 Werktagen" in page
    assert "2 warten zu lange" in outbox_page
    assert 'id="print-waiting-1"' in case_page and "erlaubt 3 Werktage" in case_page
    assert "ja (> 3)" in cli()


def test_the_vendors_own_policy_sets_how_long_a_letter_may_wait(queue, vendor, monkeypatch,
                                                               django_assert_max_num_queries):
    own = selectors.default_policy()
    own.pk, own.vendor, own.name, own.print_within_days = None, vendor, "Alpha", 5
    own.save()
    today_is(monkeypatch, WEDNESDAY)
    with django_assert_max_num_queries(2):  # the policies once, the queue once
        assert selectors.print_overdue() == []
    assert [i.allowed for i in selectors.print_items()] == [5, 5]


# -- Levels are data -----------------------------------------------------------------------------


def test_the_preview_offers_the_levels_of_the_cases_policy(vendor, support):
    debt(vendor, "O-LEVELS")
    case_url = reverse("web:case", args=["O-LEVELS"])
    third = reverse("web:letter-preview", args=["O-LEVELS", 3])
    assert third not in support.get(case_url).content.decode()
    assert support.get(third).status_code == 404, "a level the policy does not have"
    assert support.get(reverse("web:letter-preview-pdf", args=["O-LEVELS", 3])).status_code \
        == 404

    DunningLevel.objects.create(policy=selectors.default_policy(), number=3,
                                name="Letzte Mahnung", days_after_previous=14,
                                template="final")
    page = support.get(case_url).content.decode()
    assert reverse("web:letter-preview", args=["O-LEVELS", 2]) in page and third in page
    assert "Vorschau 3. Mahnung" in page
    response = support.get(third)
    assert response.status_code == 200 and "O-LEVELS" in response.content.decode()


def test_a_runs_counts_name_any_level_as_the_summary_does():
    assert count_label("send1") == "1. Mahnung"
    assert count_label("send3") == "3. Mahnung"
    assert count_label("send3") in selectors.describe_counts({"send3": 2})
