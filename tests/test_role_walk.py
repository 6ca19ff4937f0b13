"""Every URL, every role (issue 9, point 5).

The walk takes every URL pattern Django's resolver knows (the workspace, the vendor portal, the
public link pages, the admin site, the API under /api/v1/, the language switch and the mail
provider's webhook), fills its path with real objects, and asks it with GET and with POST as
each role: a stranger, support, a relationship manager, an administrator, vendor A (who owns the
case in the path) and vendor B (who does not). Each answer is put in a class (``outcome``) and
compared with ``ROLE_TABLE``. A URL pattern the table does not name fails the walk: a new page
cannot be forgotten. A 5xx is always a failure, and vendor B never reads vendor A's case.

Every request runs in a savepoint that is rolled back afterwards, and the client's cookies are
put back: a POST that executes a run, approves a case or logs out changes nothing the next
request sees.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.template import Template
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RegexPattern
from django.utils import timezone

from mahnwerk.banking.models import BankStatement, StatementLine
from mahnwerk.cases import links
from mahnwerk.cases.models import AccessKind, AccessRecord, CaseNote
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import approvals
from mahnwerk.collection.models import (
    AgencyReport,
    ApprovalRequest,
    CollectionPartner,
    Handover,
    HandoverItem,
    PartnerFee,
    ReportRow,
    RoutingRule,
    VendorInvoice,
)
from mahnwerk.dunning import offers, outbox
from mahnwerk.dunning import services as dunning_services
from mahnwerk.dunning.models import (
    BaseRate,
    DunningPolicy,
    DunningRun,
    LetterTemplate,
    RunState,
)
from mahnwerk.intake import import_jobs
from mahnwerk.intake.models import (
    ApiClient,
    IdempotencyRecord,
    Incident,
    Payment,
    WebhookDelivery,
)
from mahnwerk.web.accounts import ensure_demo_users
from mahnwerk.web.models import SavedFilter, VendorAccount
from tests import helpers
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory

pytestmark = pytest.mark.django_db

# -- What an answer means ------------------------------------------------------------------------

OK = "ok"  # 2xx, or a redirect to anywhere but a login page or the vendor portal
LOGIN = "login"  # a redirect to a login page (the workspace's or the admin's)
PORTAL = "portal"  # a redirect to the vendor portal
BAD_REQUEST = "bad request"  # 400
NO_KEY = "unauthorized"  # 401: the API wants its key, a login is not one
FORBIDDEN = "forbidden"  # 403
NOT_FOUND = "not found"  # 404
NOT_ALLOWED = "method not allowed"  # 405

STATUS_CLASSES = {400: BAD_REQUEST, 401: NO_KEY, 403: FORBIDDEN, 404: NOT_FOUND,
                  405: NOT_ALLOWED}

ROLES = ("anonymous", "support", "manager", "administrator", "vendor_a", "vendor_b")
STAFF = ("support", "manager", "administrator")
METHODS = ("GET", "POST")


def outcome(response) -> str:
    status = response.status_code
    if 300 <= status < 400:
        target = urlsplit(response["Location"]).path
        if target in (reverse("web:login"), reverse("admin:login")):
            return LOGIN
        if target == reverse("web:portal"):
            return PORTAL
        return OK
    if 200 <= status < 300:
        return OK
    return STATUS_CLASSES.get(status, f"status {status}")


# -- The role table ------------------------------------------------------------------------------

Answer = str | tuple[str, str]  # one outcome for GET and POST, or (GET, POST)


@dataclass(frozen=True)
class Rule:
    """What each role gets from one URL pattern."""

    anonymous: Answer
    support: Answer
    manager: Answer
    administrator: Answer
    vendor_a: Answer
    vendor_b: Answer
    #: The page is public and its path carries the key (a link's token): whoever holds the link
    #: reads the case, a logged-in vendor B too.
    public_by_token: bool = False

    def expected(self, role: str, method: str) -> str:
        answer = getattr(self, role)
        if isinstance(answer, tuple):
            return answer[METHODS.index(method)]
        return answer


def everyone(answer: Answer, **overrides: Answer) -> Rule:
    return Rule(**{role: answer for role in ROLES} | overrides)


def post_only(**answers: str) -> Rule:
    """A view that takes POST only: GET is 405 for everyone, before any login is asked."""
    return Rule(**{role: (NOT_ALLOWED, answer) for role, answer in answers.items()})


#: A workspace page that reads: the platform's three roles; a vendor is sent to its portal,
#: a stranger to the login.
READ = Rule(anonymous=LOGIN, support=OK, manager=OK, administrator=OK,
            vendor_a=PORTAL, vendor_b=PORTAL)
#: A workspace action (cases, runs, outbox, collection): support and the administrator; the
#: relationship manager only reads.
WORK = post_only(anonymous=LOGIN, support=OK, manager=FORBIDDEN, administrator=OK,
                 vendor_a=PORTAL, vendor_b=PORTAL)
#: Support's own pages (the import of the platform's files): support and the administrator, for
#: reading too; the relationship manager is kept out.
SUPPORT_PAGE = Rule(anonymous=LOGIN, support=OK, manager=FORBIDDEN, administrator=OK,
                    vendor_a=PORTAL, vendor_b=PORTAL)
#: Recording a vendor's decision (approve or cancel): support, the administrator and the
#: relationship manager, who hears the vendor's answer in its chat group (issue 10); an empty
#: POST is told what is missing and sent back.
DECIDE = post_only(anonymous=LOGIN, support=OK, manager=OK, administrator=OK,
                   vendor_a=PORTAL, vendor_b=PORTAL)
#: Vendors' portal logins: the administrator's (web.add_vendoraccount).
INVITE = post_only(anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN, administrator=OK,
                   vendor_a=PORTAL, vendor_b=PORTAL)
#: The admin site: staff only; a vendor's login is no staff member and is asked to log in as one.
STAFF_ONLY = Rule(anonymous=LOGIN, support=OK, manager=OK, administrator=OK,
                  vendor_a=LOGIN, vendor_b=LOGIN)
#: The same for a page that only answers GET (the login is asked first).
STAFF_ONLY_GET = Rule(anonymous=LOGIN, support=(OK, NOT_ALLOWED), manager=(OK, NOT_ALLOWED),
                      administrator=(OK, NOT_ALLOWED), vendor_a=LOGIN, vendor_b=LOGIN)
#: The vendor portal: vendor logins only; the platform's people are no vendor.
PORTAL_PAGE = Rule(anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN,
                   administrator=FORBIDDEN, vendor_a=OK, vendor_b=OK)

ROLE_TABLE: dict[str, Rule] = {
    # The front door: "/" leads each to their place.
    "web:home": READ,
    "web:login": everyone(OK),  # the form; a logged-in person is sent on to "/"
    "web:logout": everyone((NOT_ALLOWED, LOGIN)),
    # The workspace, reading.
    "web:overview": READ,
    "web:overview-chart": READ,
    "web:overview-payments": READ,
    "web:cases": READ,
    "web:cases-csv": READ,
    "web:cases-xlsx": READ,
    "web:cases-bulk-report": READ,  # the last bulk action's report, once; else the list
    # A saved filter is the user's own (any workspace role; a vendor login's on the portal's
    # lists); an empty POST names none, and is the case list's.
    "web:saved-filter-save": post_only(anonymous=LOGIN, support=OK, manager=OK,
                                       administrator=OK, vendor_a=PORTAL, vendor_b=PORTAL),
    "web:saved-filter-delete": post_only(anonymous=LOGIN, support=OK, manager=OK,
                                         administrator=OK, vendor_a=PORTAL, vendor_b=PORTAL),
    "web:case": READ,
    "web:letter-preview": READ,
    "web:letter-preview-pdf": READ,
    "web:letter": READ,
    "web:letter-pdf": READ,
    "web:runs": READ,
    "web:run-preview-export": READ,  # without a valid day: back to the runs, nothing exported
    "web:run": READ,
    "web:run-export": READ,
    "web:run-progress": READ,  # the run page's polled partial
    "web:outbox": READ,
    "web:outbox-export": READ,
    "web:approvals": READ,
    "web:approvals-xlsx": READ,
    "web:approvals-csv": READ,
    "web:collection": READ,
    "web:collection-xlsx": READ,
    "web:collection-csv": READ,
    "web:handovers": READ,
    "web:handover-file": READ,
    # The handover validator checks an uploaded file and stores nothing (collection.
    # handover_format: "pure functions of text: no database"; the page says "Nothing is
    # stored"): a tool for reading, so the relationship manager may use it too.
    "web:handover-check": READ,
    # The workspace, working.
    "web:case-block": WORK,
    "web:cases-bulk": WORK,  # notes and changes: support and administrator
    "web:collection-bulk": WORK,  # the same bulk actions on Inkasso's cases
    "web:case-unblock": WORK,
    "web:case-note": WORK,  # cases.add_casenote: support and administrator
    "web:case-address": WORK,
    "web:case-not-reordered": WORK,
    "web:case-approval": DECIDE,
    # Withdrawing a case from the agency: who records the vendor's decisions; an empty POST
    # on a case not with the agency is refused with a message on the case page.
    "web:case-withdraw": DECIDE,
    "web:run-start": WORK,
    "web:run-decide": WORK,
    "web:run-execute": WORK,
    "web:run-discard": WORK,
    "web:outbox-deliver": WORK,
    "web:outbox-print-all": WORK,
    "web:outbox-printed": WORK,
    "web:outbox-release": WORK,
    "web:outbox-confirm-sent": WORK,
    "web:outbox-post": WORK,
    "web:handover-export": WORK,
    "web:report-row-clear": WORK,
    "web:agency-report-upload": WORK,
    # The month in the browser (issue 10, point 3). The walk's upload waits for its check:
    # "apply" is refused and "discard" waits until the check is done, so nothing goes.
    "web:import": SUPPORT_PAGE,  # GET the form, POST an upload (an empty one is refused)
    "web:import-job": SUPPORT_PAGE,
    "web:import-status": SUPPORT_PAGE,
    "web:import-apply": WORK,
    "web:import-discard": WORK,
    # Bankauszüge (issue 11, point 3): support's, like the import; an empty upload is refused
    # with the page (400); the actions on a line go back to the page.
    "web:bank": Rule(anonymous=LOGIN, support=(OK, BAD_REQUEST), manager=FORBIDDEN,
                     administrator=(OK, BAD_REQUEST), vendor_a=PORTAL, vendor_b=PORTAL),
    "web:bank-line-assign": WORK,
    "web:bank-line-ignore": WORK,
    "web:bank-line-refunded": WORK,
    "web:approvals-ask": WORK,
    "web:approvals-decide": DECIDE,
    "web:vendors": READ,
    "web:vendor": READ,
    # An empty form is refused with the page and its errors.
    "web:vendor-login-create": post_only(anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN,
                                         administrator=BAD_REQUEST, vendor_a=PORTAL,
                                         vendor_b=PORTAL),
    "web:vendor-login-invite": INVITE,
    # The invitation's link (public; the token is the key): a wrong one says so on the page.
    "web:password-set": everyone(OK),
    "web:password-set-done": everyone((OK, NOT_ALLOWED)),
    # The vendor portal: each vendor its own; another vendor's case is "no such case".
    "web:portal": PORTAL_PAGE,
    "web:portal-case": Rule(anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN,
                            administrator=FORBIDDEN, vendor_a=OK, vendor_b=NOT_FOUND),
    "web:portal-selection": post_only(anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN,
                                      administrator=FORBIDDEN, vendor_a=PORTAL,
                                      vendor_b=PORTAL),
    # An empty POST names no action: 400 for the owner, "no such case" for vendor B.
    "web:portal-approval": post_only(anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN,
                                     administrator=FORBIDDEN, vendor_a=BAD_REQUEST,
                                     vendor_b=NOT_FOUND),
    # The vendor takes back a case from the agency: its own case only (one not with the
    # agency is refused on its page); vendor B finds no such case.
    "web:portal-withdraw": post_only(anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN,
                                     administrator=FORBIDDEN, vendor_a=OK,
                                     vendor_b=NOT_FOUND),
    # Ticked cases: an empty POST names no action. An order is looked up among the vendor's
    # own waiting cases only, so vendor B finds none of A's.
    "web:portal-approvals": post_only(anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN,
                                      administrator=FORBIDDEN, vendor_a=BAD_REQUEST,
                                      vendor_b=BAD_REQUEST),
    # Each vendor its own history, letters and downloads (read through its account, never a
    # path parameter): vendor B reads B's, which name none of A's orders.
    "web:portal-open": PORTAL_PAGE,
    "web:portal-closed": PORTAL_PAGE,
    "web:portal-letters": PORTAL_PAGE,
    "web:portal-export": PORTAL_PAGE,
    # The public pages behind a link: the token is the key.
    "web:offer": everyone(BAD_REQUEST),  # no token
    "web:offer-token": everyone(OK, public_by_token=True),
    # The short link of a letter: it sends whoever holds it on to the offer page.
    "web:short-link": everyone(OK, public_by_token=True),
    # The approval link is the vendor's: a logged-in vendor opens its own links only.
    "web:approval-link": everyone(OK, vendor_b=FORBIDDEN),
    # The intake API: its key, never a login; its description is public.
    "api-v1:api-root": everyone(NOT_FOUND),
    "api-v1:openapi-json": everyone(OK),
    "api-v1:openapi-view": everyone(OK),
    **{f"api-v1:post_{feed}": everyone((NOT_ALLOWED, NO_KEY))
       for feed in ("vendors", "products", "orders", "incidents", "payments")},
    "api-v1:post_platform_webhook": everyone((NOT_ALLOWED, NO_KEY)),
    **{f"api-v1:get_{record}": everyone((NO_KEY, NOT_ALLOWED))
       for record in ("vendor", "product", "order", "incident", "payment")},
    # Probes and Prometheus (issue 12): public like the login page, GET only; /metrics is
    # open to this machine (the test client asks from 127.0.0.1), a token elsewhere.
    "ops:healthz": everyone((OK, NOT_ALLOWED)),
    "ops:readyz": everyone((OK, NOT_ALLOWED)),
    "ops:metrics": everyone((OK, NOT_ALLOWED)),
    # The language switch (a GET changes nothing and goes back).
    "set_language": everyone(OK),
    # Bounces: only a provider configured with a proof of its sender answers (none here).
    "anymail-tracking": everyone(NOT_FOUND),
    # The admin site itself.
    "admin:index": STAFF_ONLY,
    "admin:app_list": STAFF_ONLY,  # the "cases" app, where all three staff roles read
    "admin:login": everyone(OK),  # the form; staff is sent on to the index
    # Django's admin logout takes POST only and ends at the login (LOGOUT_REDIRECT_URL); who
    # is not logged in as staff is sent to the index.
    "admin:logout": Rule(anonymous=OK, support=(NOT_ALLOWED, LOGIN),
                         manager=(NOT_ALLOWED, LOGIN), administrator=(NOT_ALLOWED, LOGIN),
                         vendor_a=OK, vendor_b=OK),
    "admin:password_change": STAFF_ONLY,
    "admin:password_change_done": STAFF_ONLY_GET,
    "admin:jsi18n": STAFF_ONLY_GET,
    # Without its parameters the autocomplete refuses.
    "admin:autocomplete": Rule(anonymous=LOGIN, support=(FORBIDDEN, NOT_ALLOWED),
                               manager=(FORBIDDEN, NOT_ALLOWED),
                               administrator=(FORBIDDEN, NOT_ALLOWED),
                               vendor_a=LOGIN, vendor_b=LOGIN),
    # No model of Mahnwerk has a page on the site to view.
    "admin:view_on_site": Rule(anonymous=LOGIN, support=NOT_FOUND, manager=NOT_FOUND,
                               administrator=NOT_FOUND, vendor_a=LOGIN, vendor_b=LOGIN),
    "admin/(?P<url>.*)$": Rule(anonymous=LOGIN, support=NOT_FOUND, manager=NOT_FOUND,
                               administrator=NOT_FOUND, vendor_a=LOGIN, vendor_b=LOGIN),
    # A user's password: the administrator's.
    "admin:auth_user_password_change": Rule(
        anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN, administrator=OK,
        vendor_a=LOGIN, vendor_b=LOGIN),
    # The preview of a letter template (saved, or the change form's words): who may see the
    # templates in the admin.
    "admin:dunning_lettertemplate_preview": Rule(
        anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN, administrator=OK,
        vendor_a=LOGIN, vendor_b=LOGIN),
    # A version of a policy or template (django-simple-history): the administrator's.
    **{f"admin:dunning_{model}_simple_history": Rule(
        anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN, administrator=OK,
        vendor_a=LOGIN, vendor_b=LOGIN)
        for model in ("dunningpolicy", "lettertemplate", "baserate")},
    # A version of a partner's fees (django-simple-history): the administrator's.
    "admin:collection_partnerfee_simple_history": Rule(
        anonymous=LOGIN, support=FORBIDDEN, manager=FORBIDDEN, administrator=OK,
        vendor_a=LOGIN, vendor_b=LOGIN),
}

#: What each staff role may do with each model in the admin, as (support, relationship
#: manager, administrator): v view, a add, c change, d delete. It is what the role's group
#: permissions (migration web 0002_roles; the demo administrator is a superuser) leave after the
#: model admin's own limits: platform data, the timeline and collection records are read only,
#: a case changes through its actions only. Vendors are no staff: every admin page asks them to
#: log in as staff, as it asks a stranger.
ADMIN_RIGHTS: dict[str, tuple[str, str, str]] = {
    "auth.group": ("", "", "vacd"),
    "auth.user": ("", "", "vacd"),
    "axes.accessattempt": ("", "", "vcd"),
    "axes.accesslog": ("", "", "vcd"),
    "axes.accessfailurelog": ("", "", "vcd"),
    "intake.vendor": ("v", "v", "v"),
    "intake.product": ("v", "v", "v"),
    "intake.buyer": ("v", "v", "v"),
    "intake.order": ("v", "v", "v"),
    "intake.incident": ("v", "v", "v"),
    "intake.payment": ("v", "v", "v"),
    "intake.apiclient": ("", "v", "vcd"),
    "intake.idempotencyrecord": ("", "v", "v"),
    "intake.webhookdelivery": ("", "v", "v"),
    "cases.debtcase": ("vc", "v", "vc"),
    "cases.caseevent": ("v", "v", "v"),
    "cases.casenote": ("v", "v", "v"),
    "cases.linkcode": ("", "v", "v"),
    "cases.accessrecord": ("", "", "v"),  # the access log: administrators read it, nobody edits
    "dunning.dunningpolicy": ("", "", "vacd"),
    "dunning.lettertemplate": ("", "", "vacd"),
    # The base rates of § 247 BGB (issue 11): the administrator keeps them.
    "dunning.baserate": ("", "", "vacd"),
    "collection.collectionpartner": ("", "", "vacd"),
    "collection.routingrule": ("", "", "vacd"),
    "collection.partnerfee": ("", "", "vacd"),
    "collection.approvalrequest": ("", "", "v"),
    "collection.handover": ("", "", "v"),
    "collection.handoveritem": ("", "", "v"),
    "collection.agencyreport": ("", "", "v"),
    "collection.reportrow": ("", "", "v"),
    "collection.vendorinvoice": ("", "", "v"),
    # The bank statements read and their lines: administrators look them up, nobody edits
    # (support decides the lines on the Bankauszüge page).
    "banking.bankstatement": ("", "", "v"),
    "banking.statementline": ("", "", "v"),
    "web.vendoraccount": ("", "v", "vacd"),
    "web.savedfilter": ("", "", "vd"),  # each user's own on the lists
}

#: The pages of a model in the admin: what a staff member with the rights gets, (GET, POST).
#: An empty POST saves nothing: the add and change forms come back with their errors, the
#: delete page asks again.
ADMIN_PAGES = {
    "changelist": lambda rights: OK if "v" in rights else FORBIDDEN,
    "add": lambda rights: OK if "a" in rights else FORBIDDEN,
    "change": lambda rights: (OK if "v" in rights else FORBIDDEN,
                              OK if "c" in rights else FORBIDDEN),
    "delete": lambda rights: OK if "d" in rights else FORBIDDEN,
    "history": lambda rights: OK if "v" in rights else FORBIDDEN,
    # "<object_id>/" only forwards to ".../change/", which asks for the rights.
    "redirect": lambda rights: OK,
}


def admin_key(label: str, page: str) -> str:
    app, model = label.split(".")
    if page == "redirect":
        return f"admin/{app}/{model}/<path:object_id>/"
    return f"admin:{app}_{model}_{page}"


for _label, _rights in ADMIN_RIGHTS.items():
    for _page, _answer in ADMIN_PAGES.items():
        ROLE_TABLE[admin_key(_label, _page)] = Rule(
            anonymous=LOGIN, vendor_a=LOGIN, vendor_b=LOGIN,
            **{role: _answer(rights) for role, rights in zip(STAFF, _rights, strict=True)})


# -- The resolver's patterns ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    key: str  # the namespaced name, or the whole route of an unnamed pattern
    chain: tuple  # the URLResolvers and the URLPattern, outermost first
    route: str

    @property
    def callback(self):
        return self.chain[-1].callback


def url_patterns(patterns=None, chain=(), namespace="") -> list[Pattern]:
    """Every URL pattern of the project, in the resolver's order."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else (
                entry.namespace or namespace)
            found += url_patterns(entry.url_patterns, (*chain, entry), inner or "")
        else:
            assert isinstance(entry, URLPattern)
            route = "".join(str(part.pattern) for part in (*chain, entry))
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            found.append(Pattern(key=name or route, chain=(*chain, entry), route=route))
    return found


ROUTE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")
NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
UNNAMED_GROUP = re.compile(r"\((?!\?)[^)]*\)")


def path_of(pattern: Pattern, values: dict) -> str:
    """The pattern's path with its parameters filled from ``values`` (name: value; an unnamed
    regex group takes the next of ``values["groups"]``)."""
    groups = iter(values.get("groups", ()))
    parts = []
    for part in pattern.chain:
        text = str(part.pattern)
        if isinstance(part.pattern, RegexPattern):
            text = text.removeprefix("^").removesuffix("$")
            text = NAMED_GROUP.sub(lambda m: str(values[m.group(1)]), text)
            text = UNNAMED_GROUP.sub(lambda m: str(next(groups)), text)
        else:
            text = ROUTE_PARAMETER.sub(lambda m: str(values[m.group(1)]), text)
        parts.append(text)
    return "/" + "".join(parts)


# -- The world the walk goes through -------------------------------------------------------------


@pytest.fixture
def _plain_templates(monkeypatch):
    """Templates render as in production: the test client's record of every template and
    its context, which the walk does not read, costs seconds over some 3,000 pages."""
    monkeypatch.setattr(Template, "_render", lambda template, context: (
        template.nodelist.render(context)))  # Django's own Template._render


@pytest.fixture
def world(django_user_model, settings, tmp_path):
    """Vendor A's case waiting for its approval (with letters, a queued message, an offer
    code and an approval link), vendor B's own case, a decided run, a kept handover file, an
    agency report with a row to clear, one row of every model the admin shows, and a login
    for each role."""
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching")
    case = helpers.waiting(OrderFactory(order_id="O-ALPHA-1", product=ProductFactory(
        vendor=alpha, name="Yoga-Kurs")))
    beta_order = OrderFactory(order_id="O-BETA-1", product=ProductFactory(
        vendor=beta, name="Geheimkurs Beta"))
    helpers.waiting(beta_order)
    helpers.payment(beta_order, amount="10.00", payment_id="PAY-BETA-1",
                    at=datetime(2025, 8, 20, 9, 0, tzinfo=BERLIN))
    letter = case.letters.order_by("level").first()
    message = outbox.enqueue(letter=letter)
    request = ApprovalRequest.objects.create(vendor=alpha, sent_at=timezone.now())
    request.cases.add(case)
    CaseNote.objects.create(case=case, text="Käuferin hat angerufen.", author="support",
                            created_at=case.opened_at)
    run = dunning_services.start_run(as_of=timezone.localdate(), actor="test")
    partner = CollectionPartner.objects.get(name="Diagonal")
    RoutingRule.objects.create(partner=partner, priority=500, buyer_country="AT")
    handover = Handover.objects.create(vendor=alpha, partner=partner, file_name="VALPHA.csv",
                                       content=b"vendor_id,order_id\n", sha256="0" * 64,
                                       rows=1, handed_over=0, created_by="test")
    HandoverItem.objects.create(handover=handover, case=case)
    report = AgencyReport.objects.create(partner=partner, file_name="bericht.csv",
                                         sha256="1" * 64, rows=1, created_by="test")
    row = ReportRow.objects.create(report=report, line=2, order_id="O-NIEMALS",
                                   problem="der Fall wurde nie übergeben")
    VendorInvoice.objects.create(vendor=alpha, case=case, report=report,
                                 amount=Decimal("10.00"), currency="EUR")
    statement = BankStatement.objects.create(file_name="auszug.xml", sha256="2" * 64,
                                             account="DE02120300000000202051",
                                             statement_id="S1", version="camt.053.001.08",
                                             imported_by="test")
    bank_line = StatementLine.objects.create(
        statement=statement, position=1, account=statement.account, entry_key="B1",
        amount=Decimal("10.00"), currency="EUR", credit=True, state="unmatched",
        remittance_text="Danke")
    client = ApiClient.objects.create(name="Plattform", key_prefix="mw_abc123",
                                      key_hash="9" * 64, webhook_secret="geheim")
    IdempotencyRecord.objects.create(client=client, key="k1", method="POST",
                                     path="/api/v1/orders", request_hash="x" * 64,
                                     status_code=200, response_body="{}")
    WebhookDelivery.objects.create(client=client, timestamp=1_700_000_000, signature="s" * 64)
    attempt = {"user_agent": "walk", "ip_address": "127.0.0.1", "username": "support",
               "http_accept": "*/*", "path_info": "/anmelden/"}
    AccessAttempt.objects.create(**attempt, get_data="", post_data="", failures_since_start=1)
    AccessFailureLog.objects.create(**attempt)
    AccessLog.objects.create(**attempt)
    AccessRecord.objects.create(at=timezone.now(), actor="support", kind=AccessKind.CASE,
                                target=case.order_id, order_ids=[case.order_id])
    policy = DunningPolicy.objects.get(vendor__isnull=True)
    policy.save()  # a version in its history
    PartnerFee.objects.order_by("pk").first().save()  # Diagonal's fee: a version as well
    template = LetterTemplate.objects.first()
    template.save()

    # The logins as Mahnwerk makes them: support and manager are staff in their groups, the
    # administrator a superuser, vendor A's login no staff member; vendor B's is linked the
    # same way.
    ensure_demo_users(vendor_id=alpha.pk)
    SavedFilter.objects.create(user=django_user_model.objects.get(username="support"),
                               name="Offen", query="state=active")
    vendor_b = django_user_model.objects.create_user("vendor-b", password="x")
    vendor_b.groups.add(Group.objects.get(name="Vendor"))
    VendorAccount.objects.create(user=vendor_b, vendor=beta)
    users = {"support": "support", "manager": "manager", "administrator": "admin",
             "vendor_a": "vendor", "vendor_b": "vendor-b"}

    settings.MAHNWERK_IMPORT_DIR = tmp_path / "imports"
    upload = import_jobs.receive(feed="vendors", name="vendors.csv", chunks=[b"vendor_id\n"],
                                 size=10, actor="support", language="de")
    short = offers.make_token(case=case)
    tokens = {"web:offer-token": offers.make_token(case=case),
              "web:short-link": links.grouped(short),
              "web:approval-link": approvals.make_link_token(case=case,
                                                             action=approvals.APPROVE),
              "web:password-set": "abc-0123456789abcdef",
              **{f"web:import-{step}": upload.token
                 for step in ("job", "status", "apply", "discard")}}
    objects = {}
    for model in admin.site._registry:
        first = model.objects.order_by("pk").first()
        assert first is not None, f"the walk has no {model._meta.label} to open in the admin"
        objects[model._meta.label_lower] = first.pk
    incident = Incident.objects.filter(order__order_id=case.order_id).first()
    BaseRate.objects.order_by("pk").first().save()  # a version to open: the seeded rows have none
    return SimpleNamespace(
        alpha=alpha, beta=beta, case=case, users=users,
        vendor_login=django_user_model.objects.get(username="vendor").pk,
        tokens=tokens,
        pks={"web:letter": letter.pk, "web:letter-pdf": letter.pk, "web:run": run.pk,
             "web:run-progress": run.pk, "web:run-decide": run.pk, "web:run-execute": run.pk,
             "web:run-discard": run.pk, "web:run-export": run.pk,
             "web:outbox-printed": message.pk, "web:outbox-release": message.pk,
             "web:outbox-confirm-sent": message.pk,
             "web:outbox-post": message.pk, "web:handover-file": handover.pk,
             "web:report-row-clear": row.pk,
             **{f"web:bank-line-{action}": bank_line.pk
                for action in ("assign", "ignore", "refunded")}},
        api={"vendor_id": alpha.pk, "product_id": case.order.product_id,
             "order_id": case.order_id, "incident_id": incident.pk,
             "payment_id": Payment.objects.get(payment_id="PAY-BETA-1").pk},
        admin_objects=objects,
        history={label: model.history.order_by("history_id").first().history_id
                 for label, model in (("dunningpolicy", DunningPolicy),
                                      ("lettertemplate", LetterTemplate),
                                      ("baserate", BaseRate),
                                      ("partnerfee", PartnerFee))},
    )


def values_for(pattern: Pattern, world) -> dict:
    """The path parameters of a pattern, from the world's objects."""
    key = pattern.key
    values = {"order_id": world.case.order_id, "level": 1, "esp": "mailgun", "figure": "state",
              "app_label": "cases", "url": "gibt-es-nicht/", "vendor_id": world.alpha.pk,
              "user_id": world.vendor_login, "uidb64": "MQ", "name": "offene-faelle",
              "fmt": "csv"}
    if key in world.pks:
        values["pk"] = world.pks[key]
    if key in world.tokens:
        values["token"] = values["code"] = world.tokens[key]
    if key.startswith("api-v1:"):
        values.update(world.api)
    if key == "admin:view_on_site":
        values["content_type_id"] = ContentType.objects.get_for_model(type(world.case)).pk
        values["object_id"] = world.case.pk
    match = re.match(r"admin(?::|/)(\w+?)[_/](\w+?)(?:_\w+|/.*)$", key)
    if match and f"{match[1]}.{match[2]}" in world.admin_objects:
        label = f"{match[1]}.{match[2]}"
        values["object_id"] = values["id"] = world.admin_objects[label]
        if key.endswith("_simple_history"):
            values["groups"] = (world.admin_objects[label], world.history[match[2]])
    return values


def client_as(role: str, world, django_user_model) -> Client:
    client = Client(raise_request_exception=False)
    if role != "anonymous":
        client.force_login(django_user_model.objects.get(username=world.users[role]))
    return client


def ask(client: Client, method: str, path: str):
    """One request, undone afterwards: its database changes and its cookies."""
    cookies = copy.deepcopy(client.cookies)
    with transaction.atomic():
        response = client.generic(method, path)
        transaction.set_rollback(True)
    client.cookies = cookies
    return response


# -- The walk ------------------------------------------------------------------------------------


def test_every_url_the_resolver_knows_is_in_the_role_table():
    patterns = url_patterns()
    keys = [pattern.key for pattern in patterns]
    missing = [f"{pattern.key} (/{pattern.route})" for pattern in patterns
               if pattern.key not in ROLE_TABLE]
    assert not missing, (
        "URL patterns without a line in ROLE_TABLE (tests/test_role_walk.py): "
        + ", ".join(missing) + ". Add each to ROLE_TABLE, saying what every role may do there "
        "(for a model newly registered in the admin: add it to ADMIN_RIGHTS).")
    gone = sorted(set(ROLE_TABLE) - set(keys))
    assert not gone, f"ROLE_TABLE names URL patterns the resolver does not know: {gone}"


def test_the_role_table_keeps_the_workspace_the_admin_and_the_portal_apart():
    """A vendor never reaches the workspace or the admin, a stranger neither; the portal is
    the vendors' alone. (The table is checked against the answers below; this keeps the
    table itself from being edited into a hole.)"""
    def views_of(*modules: str) -> list[Pattern]:
        return [pattern for pattern in url_patterns()
                if pattern.callback.__module__ in modules and pattern.key in ROLE_TABLE]

    workspace = views_of("mahnwerk.web.views.cases", "mahnwerk.web.views.runs",
                         "mahnwerk.web.views.outbox", "mahnwerk.web.views.collection",
                         "mahnwerk.web.views.imports")
    staff_site = [pattern for pattern in url_patterns() if pattern.route.startswith("admin/")
                  and pattern.key not in ("admin:login", "admin:logout")]
    portal = views_of("mahnwerk.web.views.portal")
    assert len(workspace) > 30 and len(staff_site) > 150 and len(portal) == 10
    for patterns, kept_out in ((workspace + staff_site, ("anonymous", "vendor_a", "vendor_b")),
                               (portal, ("anonymous", *STAFF))):
        for pattern in patterns:
            for role in kept_out:
                for method in METHODS:
                    assert ROLE_TABLE[pattern.key].expected(role, method) != OK, (
                        pattern.key, role, method)


@pytest.mark.usefixtures("_plain_templates")
@pytest.mark.parametrize("role", ROLES)
def test_every_url_answers_each_role_as_the_role_table_says(role, world, django_user_model):
    """Every URL pattern, with GET and POST, as one role: the answer's class is the table's,
    no answer is a server error, and vendor B never reads vendor A's case."""
    client = client_as(role, world, django_user_model)
    secrets = (world.case.order_id, world.alpha.name, "Yoga-Kurs")
    problems, reads_the_case = [], set()
    for pattern in url_patterns():
        rule = ROLE_TABLE.get(pattern.key)
        if rule is None:
            continue  # test_every_url_the_resolver_knows_is_in_the_role_table says so
        try:
            path = path_of(pattern, values_for(pattern, world))
        except KeyError as exc:
            pytest.fail(f"no value for the parameter {exc} of {pattern.key}: add one to "
                        "values_for")
        assert resolve(path).func is pattern.callback, (pattern.key, path)
        for method in METHODS:
            response = ask(client, method, path)
            got, expected = outcome(response), rule.expected(role, method)
            where = f"{method} {path} ({pattern.key})"
            if response.status_code >= 500:
                problems.append(f"{where}: server error {response.status_code}")
            elif got != expected:
                problems.append(f"{where}: {got} ({response.status_code}), the table says "
                                f"{expected}")
            if role.startswith("vendor_"):
                body = response.content.decode("utf-8", "replace")
                if any(secret in body for secret in secrets):
                    reads_the_case.add(pattern.key)
    assert not problems, f"as {role}:\n" + "\n".join(problems)
    if role == "vendor_a":
        # The check below has teeth: the owner reads its case in its portal.
        assert {"web:portal", "web:portal-case", "web:portal-open", "web:portal-letters",
                "web:portal-export"} <= reads_the_case
    if role == "vendor_b":
        assert {key for key in reads_the_case if not ROLE_TABLE[key].public_by_token} == set(), (
            "vendor B reads vendor A's case")
    # Nothing of the walk stayed: vendor A's case still waits for its approval, the run is
    # still only decided.
    world.case.refresh_from_db()
    assert world.case.state == CaseState.ON_HOLD
    assert DunningRun.objects.get(pk=world.pks["web:run"]).state == RunState.DECIDED
