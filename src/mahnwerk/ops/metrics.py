"""``/metrics``: Prometheus' text format.

Two parts in one answer:

- what the processes counted (prometheus_client's registry): django-prometheus' requests,
  responses, latencies and database queries, and Mahnwerk's counters (``mahnwerk.telemetry``:
  import rows applied and refused). With several processes (gunicorn's workers, Celery's)
  ``PROMETHEUS_MULTIPROC_DIR`` names a folder they all write to, and the answer adds them up
  (prometheus_client's multiprocess mode; docs/operations.md);
- what the database holds, read when Prometheus asks (``DatabaseCollector``): runs by state,
  the decisions of the runs that matter now, the outbox by status and channel, the age of the
  oldest due message, failures, approvals waiting, bank lines waiting for support. A handful of
  aggregate queries a scrape, whatever the number of cases (tests/test_observe.py counts them).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator

import prometheus_client
from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from mahnwerk.banking.models import LineState, StatementLine
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.collection.models import ApprovalRequest
from mahnwerk.dunning.models import (
    Channel,
    DeliveryStatus,
    DunningRun,
    OutboxMessage,
    RunState,
)
from mahnwerk.web.middleware import client_address

#: Runs whose decisions are shown: every unfinished run and the newest finished one (a label
#: per run, so their number stays small).
FINISHED_RUNS_SHOWN = 1


class DatabaseCollector:
    """Gauges read from the database at scrape time."""

    def collect(self) -> Iterator[Metric]:
        yield from self._runs()
        yield from self._outbox()
        yield from self._waiting()

    def _runs(self) -> Iterator[Metric]:
        by_state = GaugeMetricFamily("mahnwerk_runs", "Dunning runs by state.", labels=["state"])
        counted = dict(DunningRun.objects.order_by().values_list("state")
                       .annotate(n=Count("id")).values_list("state", "n"))
        for state in RunState.values:
            by_state.add_metric([state], counted.get(state, 0))
        yield by_state

        unfinished = [RunState.DECIDING, RunState.DECIDED, RunState.EXECUTING]
        shown = list(DunningRun.objects.filter(state__in=unfinished).values(
            "pk", "state", "counts", "outcomes", "done", "total"))
        shown += list(DunningRun.objects.exclude(state__in=unfinished).order_by("-pk").values(
            "pk", "state", "counts", "outcomes", "done", "total")[:FINISHED_RUNS_SHOWN])
        decisions = GaugeMetricFamily(
            "mahnwerk_run_decisions",
            "Decisions of the unfinished runs and the newest finished one, by action.",
            labels=["run", "state", "action"])
        outcomes = GaugeMetricFamily(
            "mahnwerk_run_outcomes",
            "What executing those runs did so far, by outcome (email1, print2, escalated …).",
            labels=["run", "state", "outcome"])
        progress = GaugeMetricFamily(
            "mahnwerk_run_decisions_executed", "Decisions executed of the run's total.",
            labels=["run", "state", "of"])
        for run in shown:
            labels = [str(run["pk"]), run["state"]]
            for action, count in sorted((run["counts"] or {}).items()):
                if isinstance(count, int):
                    decisions.add_metric([*labels, action], count)
            for outcome, count in sorted((run["outcomes"] or {}).items()):
                if isinstance(count, int):
                    outcomes.add_metric([*labels, outcome], count)
            progress.add_metric([*labels, str(run["total"])], run["done"])
        yield from (decisions, outcomes, progress)

    def _outbox(self) -> Iterator[Metric]:
        now = timezone.now()
        letters = GaugeMetricFamily(
            "mahnwerk_letters", "Letters in the outbox by delivery status and channel.",
            labels=["status", "channel"])
        depth = GaugeMetricFamily("mahnwerk_outbox_depth", "Outbox messages by status.",
                                  labels=["status"])
        rows = (OutboxMessage.objects.order_by().values_list("status", "channel")
                .annotate(n=Count("id")).values_list("status", "channel", "n"))
        by_status: dict[str, int] = dict.fromkeys(DeliveryStatus.values, 0)
        by_pair = {(status, channel): 0 for status in DeliveryStatus.values
                   for channel in Channel.values}
        for status, channel, count in rows:
            by_pair[(status, channel)] = by_pair.get((status, channel), 0) + count
            by_status[status] = by_status.get(status, 0) + count
        for (status, channel), count in by_pair.items():
            letters.add_metric([status, channel], count)
        for status, count in by_status.items():
            depth.add_metric([status], count)
        yield from (letters, depth)

        due = (OutboxMessage.objects.filter(channel=Channel.EMAIL, status=DeliveryStatus.QUEUED)
               .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
               .aggregate(oldest=Min("created_at")))["oldest"]
        yield GaugeMetricFamily(
            "mahnwerk_outbox_oldest_due_age_seconds",
            "Age of the oldest e-mail that is due and not sent (0: none waits).",
            value=max(0.0, (now - due).total_seconds()) if due else 0.0)
        yield GaugeMetricFamily(
            "mahnwerk_failed_deliveries",
            "E-mail letters that did not reach the buyer (failed or bounced), waiting for "
            "support (Per Post senden).",
            value=by_status.get(DeliveryStatus.FAILED, 0) + by_status.get(
                DeliveryStatus.BOUNCED, 0))

    def _waiting(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "mahnwerk_approval_requests_waiting",
            "Requests to vendors for their approval that are not closed.",
            value=ApprovalRequest.objects.filter(closed_at__isnull=True).count())
        yield GaugeMetricFamily(
            "mahnwerk_cases_waiting_for_approval", "Cases waiting for the vendor's approval.",
            value=DebtCase.objects.filter(state=CaseState.ON_HOLD).count())
        yield GaugeMetricFamily(
            "mahnwerk_bank_lines_for_support",
            "Bank credits that found no case and wait for support to assign or ignore them.",
            value=StatementLine.objects.filter(state=LineState.UNMATCHED, credit=True).count())


def exposition() -> bytes:
    """The whole answer: the processes' counters, then the database's gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = prometheus_client.REGISTRY
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    return prometheus_client.generate_latest(counted) + prometheus_client.generate_latest(
        database)


# -- Who may read them -------------------------------------------------------------------------


def _loopback(request: HttpRequest) -> bool:
    """Asked on this machine itself, not through a proxy (a proxy on the same machine sets
    X-Forwarded-For, as it must for the sign-in lockout too)."""
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        return ipaddress.ip_address(client_address(request) or "").is_loopback
    except ValueError:
        return False


def refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read the metrics, else the answer that says why not."""
    token = settings.MAHNWERK_METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return None
    if settings.DEBUG or _loopback(request):
        return None
    if not token:
        return HttpResponse(
            "403: /metrics answers other machines only with a token. Set "
            "MAHNWERK_METRICS_TOKEN (a long random value) and let Prometheus send "
            "'Authorization: Bearer <token>' (docs/operations.md, \"Health and metrics\").\n",
            status=403, content_type="text/plain; charset=utf-8")
    response = HttpResponse(
        "401: /metrics needs 'Authorization: Bearer <MAHNWERK_METRICS_TOKEN>'; the token sent "
        "is missing or wrong.\n", status=401, content_type="text/plain; charset=utf-8")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response
