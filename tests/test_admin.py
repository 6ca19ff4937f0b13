"""The admin: every model can be listed and opened; cases change through the services only."""

from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from mahnwerk.cases.admin import CaseEventInline, CaseNoteInline
from mahnwerk.cases.models import CaseEvent, CaseNote, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.intake.models import ApiClient, IdempotencyRecord, Vendor, WebhookDelivery
from mahnwerk.web.models import VendorAccount

pytestmark = pytest.mark.django_db

KEY_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.fixture
def data(django_user_model):
    """A small marketplace, and one row of every model the demo does not make."""
    call_command("demo_data", "--vendors", "4", "--orders", "150", "--seed", "7",
                 "--no-progress", "--no-users", stdout=StringIO())
    client = ApiClient.objects.create(name="Plattform", key_prefix="mw_abc123",
                                      key_hash=KEY_HASH, webhook_secret="geheim")
    IdempotencyRecord.objects.create(client=client, key="k1", method="POST",
                                     path="/api/v1/orders", request_hash="x" * 64,
                                     status_code=200, response_body="{}")
    WebhookDelivery.objects.create(client=client, timestamp=1_700_000_000, signature="s" * 64)
    user = django_user_model.objects.create_user("vendorlogin", password="x")
    VendorAccount.objects.create(user=user, vendor=Vendor.objects.first())
    case = DebtCase.objects.filter(state=CaseState.OPEN).first()
    CaseNote.objects.create(case=case, text="Käufer hat angerufen.", author="test",
                            created_at=case.opened_at)
    return case


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.org", "pw")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_model_has_an_admin():
    from django.apps import apps

    ours = [m for label in ("intake", "cases", "web")
            for m in apps.get_app_config(label).get_models()]
    assert [m for m in ours if m not in admin.site._registry] == []


def test_every_changelist_and_change_page_opens_for_a_superuser(admin_client, data):
    for model, model_admin in admin.site._registry.items():
        response = admin_client.get(url(model, "changelist"))
        assert response.status_code == 200, model
        if model_admin.search_fields:
            assert admin_client.get(url(model, "changelist"), {"q": "a"}).status_code == 200
        obj = model.objects.first()
        if obj is not None:
            response = admin_client.get(url(model, "change", obj.pk))
            assert response.status_code == 200, model


def test_the_changelists_filter(admin_client, data):
    for params in ({"state__exact": "open"}, {"pursue__exact": "0"},
                   {"invalid_address": "yes"}, {"invalid_address": "no"}):
        response = admin_client.get(url(DebtCase, "changelist"), params)
        assert response.status_code == 200
    response = admin_client.get(reverse("admin:intake_order_changelist"),
                                {"sales_agent_set": "yes"})
    assert response.status_code == 200


def test_the_site_is_called_mahnwerk(admin_client):
    assert "Mahnwerk" in admin_client.get(reverse("admin:index")).content.decode()


def test_the_case_page_shows_marker_amount_and_a_read_only_timeline(admin_client, data, rf,
                                                                     superuser):
    page = admin_client.get(url(DebtCase, "change", data.pk)).content.decode()
    assert data.order_id in page
    assert "#f4c430" in page  # the yellow mark
    assert "€" in page
    assert "Käufer hat angerufen." in page
    for event in data.events.all():
        assert event.reason in page
    # No field of the case can be edited, no line of the timeline or the notes either.
    assert 'name="state"' not in page
    assert 'name="open_amount"' not in page
    assert 'name="events-0-reason"' not in page
    assert 'name="notes-0-text"' not in page
    assert 'name="_save"' not in page
    # Instead, the case actions as buttons, which post to the same actions as the list.
    for action in ("block_cases", "unblock_cases", "add_note"):
        assert f'name="action" value="{action}"' in page
    request = rf.get("/")
    request.user = superuser
    for inline in (CaseEventInline, CaseNoteInline):
        inline_admin = inline(DebtCase, admin.site)
        assert not inline_admin.has_add_permission(request, data)
        assert not inline_admin.has_change_permission(request, data)
        assert not inline_admin.has_delete_permission(request, data)


def test_posting_the_case_form_changes_nothing(admin_client, data):
    admin_client.post(url(DebtCase, "change", data.pk), {"state": "paid", "open_amount": "0"})
    data.refresh_from_db()
    assert data.state == CaseState.OPEN
    assert data.open_amount > 0


def test_platform_data_and_events_cannot_be_added_changed_or_deleted(admin_client, data):
    event = CaseEvent.objects.first()
    assert admin_client.get(url(CaseEvent, "add")).status_code == 403
    page = admin_client.get(url(CaseEvent, "change", event.pk)).content.decode()
    assert 'name="reason"' not in page
    assert admin_client.get(url(CaseEvent, "delete", event.pk)).status_code == 403
    vendor = Vendor.objects.first()
    assert admin_client.get(url(Vendor, "add")).status_code == 403
    assert 'name="name"' not in admin_client.get(url(Vendor, "change", vendor.pk)).content.decode()
    assert admin_client.get(url(DebtCase, "add")).status_code == 403
    assert admin_client.get(url(DebtCase, "delete", data.pk)).status_code == 403


def test_the_api_client_page_never_shows_the_key_hash(admin_client, data):
    client = ApiClient.objects.get()
    page = admin_client.get(url(ApiClient, "change", client.pk)).content.decode()
    assert KEY_HASH not in page
    assert 'name="key_hash"' not in page
    assert "geheim" not in page
    assert 'name="key_prefix"' not in page
    assert 'name="is_active"' in page


def block(client, case, reason: str | None, action: str = "block_cases"):
    post = {"action": action, ACTION_CHECKBOX_NAME: [case.pk]}
    if reason is not None:
        post.update({"apply": "1", "reason": reason})
    return client.post(url(DebtCase, "changelist"), post)


def test_blocking_asks_for_a_reason_and_goes_through_the_service(admin_client, data, superuser):
    form = block(admin_client, data, None)
    assert form.status_code == 200
    page = form.content.decode()
    assert 'name="reason"' in page and data.order_id in page

    refused = block(admin_client, data, "   ")
    assert refused.status_code == 200  # the form again, with its error
    data.refresh_from_db()
    assert data.state == CaseState.OPEN

    done = block(admin_client, data, "Anwaltsschreiben eingegangen")
    assert done.status_code == 302
    data.refresh_from_db()
    assert data.state == CaseState.BLOCKED
    assert data.block_reason == "Anwaltsschreiben eingegangen"
    event = data.events.last()
    assert (event.kind, event.actor, event.user, event.from_state, event.to_state) == (
        "blocked", "admin:admin", superuser, CaseState.OPEN, CaseState.BLOCKED)

    # Blocking again is refused by the service and said so; nothing changes.
    events = CaseEvent.objects.count()
    again = block(admin_client, data, "noch einmal")
    assert again.status_code == 302
    assert CaseEvent.objects.count() == events

    block(admin_client, data, "geklärt", action="unblock_cases")
    data.refresh_from_db()
    assert data.state == CaseState.OPEN
    assert data.events.last().kind == "unblocked"


def test_a_note_is_added_through_the_service(admin_client, data):
    response = admin_client.post(url(DebtCase, "changelist"), {
        "action": "add_note", ACTION_CHECKBOX_NAME: [data.pk], "apply": "1",
        "reason": "Ratenzahlung vereinbart", "shared": "on"})
    assert response.status_code == 302
    note = data.notes.last()
    assert (note.text, note.visibility, note.author) == ("Ratenzahlung vereinbart", "shared",
                                                         "admin:admin")
    assert data.events.last().kind == "note"


def test_the_roles_come_with_their_permissions():
    def perms(name):
        return set(Group.objects.get(name=name).permissions.values_list(
            "content_type__app_label", "codename"))

    support = perms("Support-Team")
    assert {("cases", "view_debtcase"), ("cases", "change_debtcase"),
            ("cases", "add_casenote"), ("intake", "view_order")} <= support
    assert not any(code.startswith("delete_") for _app, code in support)
    manager = perms("Relationship Manager")
    assert ("cases", "view_debtcase") in manager and ("intake", "view_vendor") in manager
    # The relationship manager reads, and records the vendor's decision from its chat group
    # (issue 10): nothing else.
    assert all(code.startswith("view_") for _app, code in manager
               if code != "record_vendor_decision")
    assert ("collection", "record_vendor_decision") in manager
    assert perms("Vendor") == {("cases", "view_debtcase")}
    admin_perms = perms("Administrator")
    assert {("cases", "delete_debtcase"), ("auth", "change_user"),
            ("web", "add_vendoraccount")} <= admin_perms


def test_support_can_block_and_the_manager_only_look(client, data, django_user_model):
    support = django_user_model.objects.create_user("anna", password="x", is_staff=True)
    support.groups.add(Group.objects.get(name="Support-Team"))
    client.force_login(support)
    assert client.get(url(DebtCase, "changelist")).status_code == 200
    assert block(client, data, "Anwalt").status_code == 302
    data.refresh_from_db()
    assert data.state == CaseState.BLOCKED
    assert client.get(url(ApiClient, "changelist")).status_code == 403

    manager = django_user_model.objects.create_user("dom", password="x", is_staff=True)
    manager.groups.add(Group.objects.get(name="Relationship Manager"))
    client.force_login(manager)
    page = client.get(url(DebtCase, "changelist")).content.decode()
    assert data.order_id in page
    assert "block_cases" not in page
    assert "unblock_cases" not in client.get(url(DebtCase, "change", data.pk)).content.decode()
    client.post(url(DebtCase, "changelist"), {
        "action": "unblock_cases", ACTION_CHECKBOX_NAME: [data.pk], "apply": "1",
        "reason": "x"})
    data.refresh_from_db()
    assert data.state == CaseState.BLOCKED


def test_a_policys_levels_are_edited_in_the_admin_and_a_gap_is_refused(admin_client):
    from mahnwerk.dunning.models import DunningPolicy

    policy = DunningPolicy.objects.get(vendor__isnull=True)
    listed = admin_client.get(url(DunningPolicy, "changelist")).content.decode()
    assert "1. Mahnung → 2. Mahnung" in listed
    levels = list(policy.levels.order_by("number"))
    data = {"name": policy.name, "run_day": 1, "escalate_after_days": 14,
            "minimum_amount": "5.00", "handover_minimum_amount": "0.00", "payment_days": 14,
            "offer_valid_days": 60,
            "default_starts": "after_deadline", "print_within_days": 3,
            "levels-TOTAL_FORMS": 3, "levels-INITIAL_FORMS": 2, "levels-MIN_NUM_FORMS": 0,
            "levels-MAX_NUM_FORMS": 1000}
    for index, level in enumerate(levels):
        data.update({f"levels-{index}-id": level.pk, f"levels-{index}-policy": policy.pk,
                     f"levels-{index}-number": level.number, f"levels-{index}-name": level.name,
                     f"levels-{index}-template": level.template,
                     f"levels-{index}-days_after_previous": level.days_after_previous,
                     f"levels-{index}-handover_column": level.handover_column,
                     f"levels-{index}-fee": "0.00"})
    data.update({"levels-2-policy": policy.pk, "levels-2-number": 4,
                 "levels-2-name": "Letzte Mahnung", "levels-2-template": "final",
                 "levels-2-days_after_previous": 10, "levels-2-handover_column": "",
                 "levels-2-fee": "0.00"})
    refused = admin_client.post(url(DunningPolicy, "change", policy.pk), data)
    assert refused.status_code == 200
    assert "ohne Lücken" in refused.content.decode()
    data["levels-2-number"] = 3
    saved = admin_client.post(url(DunningPolicy, "change", policy.pk), data)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert list(policy.levels.order_by("number").values_list("template", flat=True)) == [
        "first", "second", "final"]


def test_administrators_read_the_bank_statements_and_their_lines_and_nobody_edits_them(
        client, django_user_model):
    from decimal import Decimal

    from mahnwerk.banking.models import BankStatement, StatementLine

    statement = BankStatement.objects.create(
        file_name="auszug.xml", sha256="2" * 64, account="DE02120300000000202051",
        statement_id="S1", version="camt.053.001.08", imported_by="anna")
    line = StatementLine.objects.create(
        statement=statement, position=1, account=statement.account, entry_key="B1",
        amount=Decimal("12.00"), currency="EUR", credit=True, state="unmatched",
        remitter_name="Erika Mustermann", remittance_text="Spende")
    administrator = django_user_model.objects.create_user("ada", password="x", is_staff=True)
    administrator.groups.add(Group.objects.get(name="Administrator"))
    client.force_login(administrator)
    assert "auszug.xml" in client.get(url(BankStatement, "changelist")).content.decode()
    page = client.get(url(StatementLine, "change", line.pk)).content.decode()
    assert "Erika Mustermann" in page and 'name="_save"' not in page
    assert client.post(url(StatementLine, "delete", line.pk), {"post": "yes"}).status_code == 403
    assert client.get(url(BankStatement, "add")).status_code == 403

    for role in ("Support-Team", "Relationship Manager"):
        other = django_user_model.objects.create_user(role, password="x", is_staff=True)
        other.groups.add(Group.objects.get(name=role))
        client.force_login(other)
        assert client.get(url(StatementLine, "changelist")).status_code == 403
        assert client.get(url(BankStatement, "changelist")).status_code == 403
