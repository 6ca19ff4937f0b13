"""An observable Mahnwerk (issue 12, point 2): /healthz and /readyz for the probes, structured
logs that carry the request's and the run's ids, /metrics for Prometheus."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import re
import socket
from datetime import date, datetime

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mahnwerk.cases.states import CaseState
from mahnwerk.dunning import services, tasks
from mahnwerk.dunning.models import DunningRun
from mahnwerk.ops import health, logs, metrics
from tests.factories import BERLIN, OrderFactory
from tests.helpers import incident

pytestmark = pytest.mark.django_db

INCIDENT = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
#: Redis for the tests that need a real one (MAHNWERK_TEST_REDIS_URL; an engineer's own db).
REDIS = os.environ.get("MAHNWERK_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Accepting:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


@pytest.fixture
def smtp_server():
    controller = Controller(Accepting(), hostname="127.0.0.1", port=closed_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def json_lines():
    """Every log line (structlog's and the standard library's) as the production set-up writes
    it: JSON, through the same formatter; read back as dicts."""
    stream = io.StringIO()
    config = logs.logging_config(log_format="json", level="INFO", root_level="WARNING")
    formatter = logging.config.dictConfigClass(config).configure_custom(
        dict(config["formatters"]["structured"]))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line]
    finally:
        root.removeHandler(handler)


# -- /healthz and /readyz ------------------------------------------------------------------------


def test_healthz_answers_while_the_process_runs_without_asking_the_database(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0


def test_readyz_in_the_embedded_set_up_checks_the_database_and_reports_the_rest_unused(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "ok"
    checks = answer["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["migrations"] == {"status": "ok", "ms": checks["migrations"]["ms"],
                                    "detail": "all applied"}
    for unused in ("broker", "cache", "mail"):
        assert checks[unused]["status"] == "not configured", checks[unused]
    assert all(isinstance(check["ms"], float) for check in checks.values())


def test_readyz_answers_503_naming_the_mail_server_and_broker_that_do_not_answer(client,
                                                                                settings):
    settings.CELERY_BROKER_URL = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    settings.MAHNWERK_READY_TIMEOUT = 1.0
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert response.json()["status"] == "failed"
    assert checks["database"]["status"] == "ok"
    assert checks["broker"]["status"] == "failed"
    assert "Connection" in checks["broker"]["detail"] or "refused" in checks["broker"]["detail"]
    assert checks["mail"]["status"] == "failed"
    assert "refused" in checks["mail"]["detail"].lower(), checks["mail"]
    assert b"hunter2" not in response.content, "the broker's password is never shown"


def test_readyz_is_green_with_a_real_smtp_server_and_redis(client, settings, smtp_server):
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379 (apt-get install redis-server)")
    settings.CELERY_BROKER_URL = REDIS
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": REDIS}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    response = client.get("/readyz")
    checks = response.json()["checks"]
    assert {name: check["status"] for name, check in checks.items()} == dict.fromkeys(
        ("database", "migrations", "broker", "cache", "mail"), "ok"), checks
    assert checks["mail"]["detail"] == f"127.0.0.1:{smtp_server.port}"
    assert checks["broker"]["detail"] == REDIS
    assert response.status_code == 200


def test_readyz_fails_while_a_migration_is_not_applied_and_names_it(client, settings,
                                                                    monkeypatch):
    # The ops app gets one migration more than the database has (a release migrated ahead of
    # its code would look the same from the other side).
    settings.MIGRATION_MODULES = {"ops": "tests.unapplied_migrations"}
    monkeypatch.setattr(health, "_migrations_green", False)
    response = client.get("/readyz")
    assert response.status_code == 503
    migrations = response.json()["checks"]["migrations"]
    assert migrations["status"] == "failed"
    assert "ops.0001_not_yet" in migrations["detail"]
    assert "mahnwerk migrate" in migrations["detail"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_the_probes_keep_the_security_headers_and_need_no_https_redirect(client, settings,
                                                                         path):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(path)
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert "no-cache" in response["Cache-Control"]
    assert client.get("/anmelden/").status_code == 301, "other pages still go to HTTPS"


def test_the_probes_take_no_post(client):
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.post(path).status_code == 405


# -- Logs ------------------------------------------------------------------------------------------


def test_every_line_of_a_request_carries_its_request_id_and_the_answer_names_it(
        client, json_lines, admin_user, settings):
    settings.MAHNWERK_LOG_FORMAT = "json"  # production: a line per request
    client.force_login(admin_user)
    response = client.get("/gibt-es-nicht/", HTTP_X_REQUEST_ID="proxy-4f2a9c")
    assert response["X-Request-ID"] == "proxy-4f2a9c"
    lines = json_lines()
    request_lines = [line for line in lines if line.get("event") == "request"]
    assert request_lines == [{**request_lines[0], "method": "GET", "path": "/gibt-es-nicht/",
                              "status": 404, "request_id": "proxy-4f2a9c", "level": "info",
                              "logger": "mahnwerk.request"}]
    # Django's own warning of the 404 is written after the middleware answered: it has it too.
    warnings = [line for line in lines if line.get("logger") == "django.request"]
    assert warnings and all(line["request_id"] == "proxy-4f2a9c" for line in warnings)
    assert all("timestamp" in line for line in lines)


@pytest.mark.parametrize("sent", ["", "a" * 200, "evil\nINFO forged line", 'x" y'])
def test_a_missing_or_insane_request_id_is_replaced_by_a_new_one(client, sent):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=sent)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert client.get("/healthz")["X-Request-ID"] != response["X-Request-ID"]


def test_a_task_started_by_a_request_logs_the_run_id_and_the_request_id(json_lines,
                                                                        structlog_context):
    """A run executed in the background (here in the process: no broker) writes its lines
    with the run's id, the task's name and the id of the request that started it."""
    incident(OrderFactory(), open_amount="300.00", at=INCIDENT)
    run = services.create_run(as_of=date(2026, 10, 1), actor="test")
    structlog_context(request_id="req-7c1e")
    tasks.decide_run.apply(kwargs={"run_id": run.pk, "worker": ""})
    run.refresh_from_db()
    worker = services.claim_execution(run=run)
    tasks.execute_run.apply(kwargs={"run_id": run.pk, "worker": worker, "actor": "test"})
    lines = json_lines()
    by_event = {line["event"]: line for line in lines if line["logger"] == "mahnwerk.domain"}
    assert by_event["run decided"]["counts"] == {"send1": 1}
    assert by_event["run executed"]["outcomes"] == {"email1": 1}
    for event in ("run decided", "run executed"):
        line = by_event[event]
        assert line["run_id"] == run.pk and line["request_id"] == "req-7c1e", line
        assert line["task"].startswith("mahnwerk.dunning.tasks.") and line["task_id"]
    # After the task the request's context is as it was: no run id left behind.
    import structlog

    assert structlog.contextvars.get_contextvars() == {"request_id": "req-7c1e"}
    assert DunningRun.objects.get(pk=run.pk).state == "done"


def test_a_run_created_is_a_line_of_its_own(json_lines):
    run = services.create_run(as_of=date(2026, 10, 1), actor="anna")
    created = [line for line in json_lines() if line.get("event") == "run created"]
    assert created == [{**created[0], "run_id": run.pk, "as_of": "2026-10-01",
                        "started_by": "anna", "level": "info"}]


def test_a_message_queued_for_a_worker_carries_the_request_id_in_its_headers(
        structlog_context):
    headers: dict = {}
    logs.add_request_id_to_message(headers=headers)
    assert headers == {}, "outside a request nothing is added"
    structlog_context(request_id="req-99")
    logs.add_request_id_to_message(headers=headers)
    assert headers == {logs.TASK_HEADER: "req-99"}


def test_an_unknown_log_format_refuses_to_start_naming_the_setting():
    with pytest.raises(ValueError, match="MAHNWERK_LOG_FORMAT='xml'"):
        logs.logging_config(log_format="xml", level="INFO", root_level="WARNING")


@pytest.fixture
def structlog_context():
    import structlog

    structlog.contextvars.clear_contextvars()
    try:
        yield lambda **values: structlog.contextvars.bind_contextvars(**values)
    finally:
        structlog.contextvars.clear_contextvars()


# -- /metrics ----------------------------------------------------------------------------------


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus' text format."""
    for line in text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        if labels:
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if found != labels:
                continue
        return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_count_runs_decisions_letters_and_the_outbox_from_the_database(client):
    for _ in range(3):
        incident(OrderFactory(), open_amount="300.00", at=INCIDENT)
    run = services.run_month(as_of=date(2026, 10, 1), actor="test")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert sample(text, "mahnwerk_runs", state="done") == 1
    assert sample(text, "mahnwerk_runs", state="executing") == 0
    assert sample(text, "mahnwerk_run_decisions", run=str(run.pk), state="done",
                  action="send1") == 3
    assert sample(text, "mahnwerk_run_outcomes", run=str(run.pk), state="done",
                  outcome="email1") == 3
    assert sample(text, "mahnwerk_letters", status="queued", channel="email") == 3
    assert sample(text, "mahnwerk_outbox_depth", status="queued") == 3
    assert sample(text, "mahnwerk_outbox_oldest_due_age_seconds") >= 0
    assert sample(text, "mahnwerk_failed_deliveries") == 0
    assert sample(text, "mahnwerk_cases_waiting_for_approval") == 0
    assert sample(text, "mahnwerk_bank_lines_for_support") == 0
    assert sample(text, "mahnwerk_approval_requests_waiting") == 0
    # django-prometheus' own: requests, and on PostgreSQL (production) the queries.
    assert "django_http_requests_total_by_method_total" in text
    if connection.vendor == "postgresql":
        assert "django_db_execute_total" in text


def test_the_database_gauges_cost_eight_queries_however_many_cases_and_runs(client):
    def queries_of_a_scrape() -> int:
        with CaptureQueriesContext(connection) as queries:
            list(metrics.DatabaseCollector().collect())
        return len(queries)

    empty = queries_of_a_scrape()
    for day in (date(2026, 10, 1), date(2026, 10, 15)):
        for _ in range(4):
            incident(OrderFactory(), open_amount="120.00", at=INCIDENT)
        services.run_month(as_of=day, actor="test")
    assert queries_of_a_scrape() == empty == 8


def test_an_imported_file_counts_its_rows_by_feed(client, tmp_path):
    from django.core.management import call_command

    from mahnwerk import telemetry

    def imported(outcome: str) -> float:
        return telemetry.IMPORT_ROWS.labels(feed="vendors", outcome=outcome)._value.get()

    before = imported("created")
    path = tmp_path / "vendors.csv"
    path.write_text("vendor_id,name,email,enrolled,collection_mode,dunning_by,"
                    "relationship_manager,escalation_channel\n"
                    "v-metrics-1,Akademie,info@akademie.example,True,approval,in_house,,\n",
                    encoding="utf-8")
    call_command("import", "vendors", str(path), "--no-progress", stdout=io.StringIO())
    assert imported("created") == before + 1
    text = client.get("/metrics").content.decode()
    assert sample(text, "mahnwerk_import_rows_total", feed="vendors",
                  outcome="created") == before + 1


def test_metrics_from_another_machine_need_the_token(client, settings):
    settings.MAHNWERK_METRICS_TOKEN = ""
    refused = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert refused.status_code == 403
    assert "MAHNWERK_METRICS_TOKEN" in refused.content.decode()

    settings.MAHNWERK_METRICS_TOKEN = "s3cr3t-token-for-prometheus"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 401
    wrong = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    right = client.get("/metrics", REMOTE_ADDR="10.1.2.3",
                       HTTP_AUTHORIZATION="Bearer s3cr3t-token-for-prometheus")
    assert right.status_code == 200 and b"mahnwerk_runs" in right.content


def test_metrics_through_a_proxy_on_the_same_machine_are_no_loopback_request(client,
                                                                             settings):
    settings.MAHNWERK_METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    proxied = client.get("/metrics", REMOTE_ADDR="127.0.0.1",
                         HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.status_code == 403
    settings.DEBUG = True  # the developer's own machine
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_case_waiting_for_approval_is_counted(client):
    from mahnwerk.cases import services as case_services

    case = incident(OrderFactory(), open_amount="300.00", at=INCIDENT)
    case_services.change_case(case=case, to_state=CaseState.ON_HOLD, actor="test",
                              reason="test")
    text = client.get("/metrics").content.decode()
    assert sample(text, "mahnwerk_cases_waiting_for_approval") == 1


def test_the_schedules_monthly_run_is_a_line_with_its_outcomes(json_lines):
    from mahnwerk.dunning import selectors

    policy = selectors.default_policy()
    policy.run_day = 1
    policy.save()
    incident(OrderFactory(), open_amount="300.00", at=INCIDENT)
    run_id = tasks.monthly_run.apply().get()
    lines = json_lines()
    started = [line for line in lines if line.get("event") == "run started"]
    assert len(started) == 1 and started[0]["run_id"] == run_id
    assert started[0]["task"] == "mahnwerk.dunning.tasks.monthly_run"
    # The batch that finished the run says so (with a broker: in the worker that ran it).
    executed = [line for line in lines if line.get("event") == "run executed"]
    assert len(executed) == 1
    line = executed[0]
    assert line["run_id"] == run_id and line["source"] == "schedule"
    assert line["outcomes"] == {"email1": 1} and line["state"] == "done"
    assert line["task"] == "mahnwerk.dunning.tasks.execute_batch"
