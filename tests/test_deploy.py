"""A deployment that starts with one command (issue 12, point 1).

The compose file is checked by docker compose itself where its plugin is installed, and read
everywhere for what the deployment promises (a migrate service the others wait for, health
checks on /readyz, exactly one beat). The systemd units are not only read: the real processes
they name (gunicorn, a Celery worker, Celery beat) are started from their ExecStart lines, after
the migrate unit's commands, against PostgreSQL, Redis and an SMTP server on loopback; a dunning
letter queued from the command line is delivered by the worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "mahnwerk.env.example"
BIN = Path(sys.executable).parent
PROCESSES = ("web", "worker", "beat")
#: Redis for this test (MAHNWERK_TEST_REDIS_URL: an engineer's own db).
REDIS = os.environ.get("MAHNWERK_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
HOST = "mahnwerk.example"


# -- The compose file ----------------------------------------------------------------------------


def test_docker_compose_accepts_the_compose_file(tmp_path):
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not installed: deploy/compose.yaml not checked by it")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True,
                           check=False)
    if probe.returncode != 0:
        pytest.skip("docker is installed without its compose plugin (docker compose version: "
                    f"{' '.join((probe.stderr or probe.stdout).split())[:80]}); install "
                    "docker-compose-plugin to check deploy/compose.yaml with it")
    result = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_compose_file_migrates_first_checks_readiness_and_runs_one_beat():
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"db", "redis", "migrate", "web", "worker", "beat"}
    for name in PROCESSES:
        waits_for = services[name]["depends_on"]
        assert waits_for["migrate"] == {"condition": "service_completed_successfully"}, name
        environment = services[name]["environment"]
        assert environment["MAHNWERK_HTTPS"] == "true", "a missing env file must not mean demo"
        assert environment["PROMETHEUS_MULTIPROC_DIR"] == "/run/mahnwerk/metrics"
        assert "metrics:/run/mahnwerk/metrics" in services[name]["volumes"]
    assert services["migrate"]["restart"] == "no"
    assert "mahnwerk migrate --no-input" in " ".join(services["migrate"]["command"])
    assert services["migrate"]["depends_on"] == {
        "db": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"}}
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:4] == ["celery", "--app", "mahnwerk", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "--app", "mahnwerk", "beat"]
    assert "deploy" not in services["beat"], "beat is never scaled"
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "pip install ." in dockerfile


# -- The systemd units ---------------------------------------------------------------------------


def unit(name: str) -> dict[str, list[str]]:
    """A unit file's settings: name -> every value given (ExecStart may come twice)."""
    values: dict[str, list[str]] = {}
    for line in (UNITS / f"mahnwerk-{name}.service").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def environment_file() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


def test_every_unit_reads_the_one_environment_file_and_waits_for_the_migration():
    for name in ("migrate", *PROCESSES):
        assert unit(name)["EnvironmentFile"] == ["/etc/mahnwerk/env"], name
    migrate = unit("migrate")
    assert migrate["Type"] == ["oneshot"] and migrate["RemainAfterExit"] == ["yes"]
    for name in PROCESSES:
        assert unit(name)["Requires"] == ["mahnwerk-migrate.service"], name
        assert unit(name)["After"] == ["mahnwerk-migrate.service"], name


def test_the_example_environment_names_every_setting_production_needs():
    example = environment_file()
    for needed in ("MAHNWERK_HTTPS", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS",
                   "DJANGO_CSRF_TRUSTED_ORIGINS", "DJANGO_DEBUG", "MAHNWERK_SITE_URL",
                   "DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_HOST", "DEFAULT_FROM_EMAIL",
                   "MAHNWERK_METRICS_TOKEN", "MAHNWERK_LOG_FORMAT", "PROMETHEUS_MULTIPROC_DIR",
                   "MAHNWERK_CREDITOR_NAME", "MAHNWERK_CREDITOR_IBAN", "MAHNWERK_PROXY_COUNT"):
        assert needed in example, needed
    assert example["MAHNWERK_HTTPS"] == "true" and example["DJANGO_DEBUG"] == "false"
    assert example["DJANGO_SECRET_KEY"] == "", "no key anyone could copy from the repository"
    # Every variable a unit expands is in the file.
    for name in ("migrate", *PROCESSES):
        for line in unit(name).get("ExecStart", []) + unit(name).get("ExecStartPre", []):
            for variable in re.findall(r"\$\{(\w+)\}", line):
                assert variable in example, (name, variable)


def command_of(line: str, env: dict[str, str]) -> list[str]:
    """An ExecStart line as systemd runs it: ${VAR} from the environment file, %% as %, the
    installation's virtualenv (/opt/mahnwerk/venv) as this one."""
    line = re.sub(r"\$\{(\w+)\}", lambda match: env[match[1]], line).replace("%%", "%")
    argv = shlex.split(line)
    if argv[0].startswith("/opt/mahnwerk/venv/bin/"):
        argv[0] = str(BIN / Path(argv[0]).name)
    return argv


# -- The processes the units name, for real ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def get(url: str, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": HOST, **headers})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(what: str, condition, *, seconds: float, processes: dict) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, (process, log) in processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} stopped (exit {process.returncode}) while waiting for "
                            f"{what}:\n{log.read_text(errors='replace')[-3000:]}")
        if condition():
            return
        time.sleep(0.5)
    logs = "\n".join(f"--- {name}\n{log.read_text(errors='replace')[-2000:]}"
                     for name, (_, log) in processes.items())
    pytest.fail(f"{what}: not within {seconds} s\n{logs}")


def json_lines(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):  # a line cut by the process's end
                lines.append(json.loads(line))
    return lines


@pytest.fixture
def deploy_database():
    """A database of its own beside the test database (``<name>_deploy``), created empty and
    dropped afterwards."""
    import psycopg

    params = settings.DATABASES["default"]
    name = f"{params['NAME'].removeprefix('test_')}_deploy"
    server = {"host": params.get("HOST") or "127.0.0.1", "port": params.get("PORT") or 5432,
              "user": params.get("USER") or "postgres", "password": params.get("PASSWORD"),
              "dbname": "postgres", "autocommit": True}
    with psycopg.connect(**server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    user = server["user"] + (f":{server['password']}" if server["password"] else "")
    try:
        yield f"postgres://{user}@{server['host']}:{server['port']}/{name}"
    finally:
        with psycopg.connect(**server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


VENDORS = ("vendor_id,name,email,enrolled,collection_mode,dunning_by,relationship_manager,"
           "escalation_channel\n"
           "48213,Akademie Sonnenschein GmbH,info@sonnenschein.example,True,approval,in_house,"
           "dom,WhatsApp: Sonnenschein\n")
PRODUCTS = ("product_id,vendor_id,name,dunning_enabled,checkout_url\n"
            "77120,48213,Yoga-Kurs,True,https://checkout.example/p/77120\n")
ORDERS = ("order_id,vendor_id,product_id,buyer_id,buyer_email,buyer_first_name,"
          "buyer_last_name,street,house_number,postcode,city,country,payment_type,"
          "amount_total,currency,installments_total,installments_paid,created_at,"
          "sales_agent,first_invoice_number\n"
          "kq7319a,48213,77120,b1,erika@example.org,Erika,Mustermann,Heidestraße,17,51147,"
          "Köln,DE,installments,600.00,EUR,6,2,2025-05-02T10:00:00+02:00,,RE-1001\n")
INCIDENTS = ("incident_id,order_id,kind,occurred_at,open_amount,currency\n"
             "i1,kq7319a,stopped_installments,2025-06-01T09:00:00+02:00,400.00,EUR\n")


@pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
                    reason="the deployment runs on PostgreSQL (run the suite with "
                           "DATABASE_URL=postgres://…): its processes share one database, "
                           "which the embedded SQLite test database cannot be")
def test_the_units_processes_serve_deliver_a_letter_and_stop_cleanly(tmp_path,
                                                                     deploy_database):
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379 (apt-get install redis-server)")
    import redis

    redis.Redis.from_url(REDIS).flushdb()  # the test's own Redis database, nothing queued
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    home = tmp_path / "home"
    (home / "var").mkdir(parents=True)
    # /etc/mahnwerk/env: the example, filled in as an administrator would, for this machine.
    env = environment_file() | {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": deploy_database,
        "CELERY_BROKER_URL": REDIS,
        "MAHNWERK_HOME": str(home),
        "MAHNWERK_IMPORT_DIR": str(home / "var" / "imports"),
        "MAHNWERK_BIND": f"127.0.0.1:{port}",
        "MAHNWERK_WEB_WORKERS": "2",
        "MAHNWERK_WORKER_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "run" / "metrics"),
        "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp.port), "EMAIL_USE_TLS": "false",
        "MAHNWERK_METRICS_TOKEN": "prometheus-token-" + secrets.token_hex(8),
    }
    process_env = {key: value for key, value in os.environ.items()
                   if not key.startswith(("DJANGO_", "MAHNWERK_", "DATABASE_URL", "CELERY_",
                                          "EMAIL_", "PROMETHEUS_"))} | env
    process_env["PATH"] = f"{BIN}{os.pathsep}{process_env.get('PATH', '')}"
    process_env["PYTHONPATH"] = str(ROOT / "src")  # this checkout, whatever the venv points at

    def mahnwerk(*args: str) -> str:
        result = subprocess.run([str(BIN / "mahnwerk"), *args], env=process_env, cwd=home,
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, f"mahnwerk {' '.join(args)}:\n{result.stderr[-3000:]}"
        return result.stdout

    processes: dict[str, tuple[subprocess.Popen, Path]] = {}
    try:
        # The migrate unit first: every ExecStartPre, then every ExecStart, in order.
        migrate = unit("migrate")
        for line in migrate.get("ExecStartPre", []) + migrate["ExecStart"]:
            result = subprocess.run(command_of(line, env), env=process_env, cwd=home,
                                    capture_output=True, text=True, timeout=600, check=False)
            assert result.returncode == 0, f"{line}:\n{result.stderr[-3000:]}"
        assert Path(env["PROMETHEUS_MULTIPROC_DIR"]).is_dir()

        def start(name: str) -> None:
            (argv,) = [command_of(line, env) for line in unit(name)["ExecStart"]]
            log = tmp_path / f"{name}.log"
            processes[name] = (subprocess.Popen(argv, env=process_env, cwd=home,
                                                stdout=log.open("wb"),
                                                stderr=subprocess.STDOUT), log)

        # The platform's files, from the command line (as a person or cron would).
        for feed, text in (("vendors", VENDORS), ("products", PRODUCTS), ("orders", ORDERS),
                           ("incidents", INCIDENTS)):
            path = tmp_path / f"{feed}.csv"
            path.write_text(text, encoding="utf-8")
            mahnwerk("import", feed, str(path), "--no-progress")
        # The web and the worker; the month's run from the command line, which hands its
        # batches to the worker and follows the run to its end. Beat after it: started first,
        # its own monthly run would race the command for the month's run.
        for name in PROCESSES:
            if name != "beat":
                start(name)
        mahnwerk("dunning-run", "--as-of", date.today().isoformat(), "--no-progress")
        start("beat")
        base = f"http://127.0.0.1:{port}"
        wait_for("/healthz", lambda: _answers(f"{base}/healthz"), seconds=60,
                 processes=processes)

        status, body = get(f"{base}/readyz")
        ready = json.loads(body)
        assert status == 200, ready
        assert {name: check["status"] for name, check in ready["checks"].items()} == dict.fromkeys(
            ("database", "migrations", "broker", "cache", "mail"), "ok"), ready
        # The compose file's health check of the web, run against these processes.
        test = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["web"][
            "healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"]
        healthcheck = subprocess.run(
            [sys.executable, "-c", test[3].replace("127.0.0.1:8000", f"127.0.0.1:{port}")],
            env=process_env, capture_output=True, text=True, timeout=60, check=False)
        assert healthcheck.returncode == 0, healthcheck.stderr

        wait_for("the letter at the SMTP server", lambda: inbox.messages, seconds=90,
                 processes=processes)
        (recipients, content), = inbox.messages
        assert recipients == ["erika@example.org"]
        assert b"kq7319a" in content or b"RE-1001" in content

        # The worker's lines are JSON with the task's name; its outbox pass is counted.
        worker_log = processes["worker"][1]
        wait_for("the worker's outbox pass in its log", lambda: any(
            line.get("event") == "outbox pass" and line.get("sent") == 1
            for line in json_lines(worker_log)), seconds=30, processes=processes)
        passed = next(line for line in json_lines(worker_log)
                      if line.get("event") == "outbox pass" and line.get("sent") == 1)
        assert passed["task"] == "mahnwerk.dunning.tasks.deliver_chunk" and passed["task_id"]

        # A task queued inside a request carries the request id to the worker, and the
        # worker's lines carry the run id it works on.
        _queue_decide_task_inside_a_request(run_id=424242, request_id="req-deploy-1")
        wait_for("the worker's line of the queued task", lambda: any(
            line.get("run_id") == 424242 for line in json_lines(worker_log)), seconds=30,
            processes=processes)
        task_lines = [line for line in json_lines(worker_log) if line.get("run_id") == 424242]
        assert all(line["request_id"] == "req-deploy-1" for line in task_lines), task_lines
        assert all(line["task"] == "mahnwerk.dunning.tasks.decide_run" for line in task_lines)

        # /metrics adds up every process (multiprocess mode); from this machine, no token.
        status, metrics_text = get(f"{base}/metrics")
        assert status == 200
        text = metrics_text.decode()
        assert 'mahnwerk_letters{channel="email",status="sent"} 1.0' in text
        # The import ran in a process of its own (the command): counted all the same.
        assert 'mahnwerk_import_rows_total{feed="orders",outcome="created"} 1.0' in text
        assert "django_http_requests_total_by_method_total" in text
        assert "django_db_execute_total" in text
        # Through the proxy (X-Forwarded-For), the token is needed.
        assert get(f"{base}/metrics", **{"X-Forwarded-For": "203.0.113.9",
                                         "X-Request-ID": "probe-401"})[0] == 401
        assert get(f"{base}/metrics", **{"X-Forwarded-For": "203.0.113.9",
                                         "Authorization": "Bearer "
                                         + env["MAHNWERK_METRICS_TOKEN"]})[0] == 200
        # The web's lines of that request carry the id the client sent.
        refused = [line for line in json_lines(processes["web"][1])
                   if line.get("request_id") == "probe-401"]
        assert refused and all(line["level"] in ("warning", "info") for line in refused)
        assert any(line.get("logger") == "django.request" for line in refused), refused

        # Stopping: SIGTERM, as systemd sends it; each ends by itself, with 0. Beat handles
        # SIGTERM only once its service has started (found by CI: the rest of this test can
        # finish while beat still starts, and an early SIGTERM ends it with -15).
        wait_for("beat's start in its log", lambda: "beat: Starting" in processes["beat"][1]
                 .read_text(errors="replace"), seconds=60, processes=processes)
        for name in ("beat", "worker", "web"):
            process, log = processes[name]
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} did not stop within 60 s of SIGTERM")
            assert process.returncode == 0, (
                f"{name} stopped with {process.returncode}:\n"
                f"{log.read_text(errors='replace')[-2000:]}")
    finally:
        for process, _ in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        smtp.stop()
        redis.Redis.from_url(REDIS).flushdb()


def _answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


def _queue_decide_task_inside_a_request(*, run_id: int, request_id: str) -> None:
    """Queue a task to the deployment's broker as the web does while serving a request: the
    request's id is bound (ops.logs' middleware) and Mahnwerk's publish signal hands it on."""
    import structlog
    from celery import Celery

    # The web sends its tasks through the configured app, which it loads with its first task
    # module; loading it connects Mahnwerk's publish signal (mahnwerk.celery), here as there.
    import mahnwerk.celery  # noqa: F401

    app = Celery("mahnwerk-test-sender", broker=REDIS)
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        app.send_task("mahnwerk.dunning.tasks.decide_run",
                      kwargs={"run_id": run_id, "worker": ""})
    finally:
        structlog.contextvars.clear_contextvars()
        app.close()
