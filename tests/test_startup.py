"""What a ``mahnwerk`` process loads when it starts, and what it loads only when it needs it.

Every command pays its start before it does any work, and the platform's import runs one
process per file. A command loads Django, the apps' models and what it uses itself; Celery
(with kombu), the API's django-ninja (with pydantic), the letters and the approvals wait until
a process uses them. Celery above all: whenever a task is sent or run, it goes through the
configured app (``mahnwerk.celery``), from any thread, also in a process that started without
it. Each test starts a fresh process, as a command does.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

#: Loaded at a command's start before, never used by a command that sends no task or serves no
#: page (the import of a file above all).
NOT_AT_START = ("celery", "kombu", "ninja", "pydantic", "mahnwerk.celery",
                "mahnwerk.dunning.tasks", "mahnwerk.dunning.letters",
                "mahnwerk.dunning.template_checks", "mahnwerk.collection.approvals", "tqdm")


def python(code: str, **env: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh Python process with Mahnwerk's settings (and ``env`` on top)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "mahnwerk.settings",
             "PYTHONPATH": os.pathsep.join(sys.path), **env},
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_the_import_command_starts_without_celery_the_api_the_letters_or_a_progress_bar():
    """What ``mahnwerk import`` has loaded when its command is ready to run: Django set up
    (settings, logging, every app's models and ``ready``, the admin) and the command's own
    module, with stderr no terminal (a script's, a cron job's)."""
    loaded = python(
        "import json, sys\n"
        "from django.core.management import ManagementUtility\n"
        "import django\n"
        "django.setup()\n"
        "command = ManagementUtility(['mahnwerk', 'import']).fetch_command('import')\n"
        "command.create_parser('mahnwerk', 'import')\n"
        "from mahnwerk.progress import ProgressBar\n"
        "ProgressBar(enabled=True, desc='vendors.csv').close()\n"
        "print(json.dumps(sorted(sys.modules)))\n").stdout
    modules = set(json.loads(loaded))
    assert "mahnwerk.intake.importing" in modules and "mahnwerk.cases.receivers" in modules
    assert sorted(name for name in modules
                  if name.split(".")[0] in NOT_AT_START or name in NOT_AT_START) == []


def test_a_web_process_loads_what_it_serves_while_it_boots():
    """gunicorn's worker (and runserver) import ``mahnwerk.wsgi``: the URLs with their views,
    the API and Celery are loaded then, so that the first request (a health probe with a
    deadline, after every restart of a worker) does not wait for them."""
    loaded = python("import json, sys\n"
                    "import mahnwerk.wsgi\n"
                    "print(json.dumps(sorted(sys.modules)))\n").stdout
    modules = set(json.loads(loaded))
    assert {"mahnwerk.urls", "mahnwerk.web.api", "ninja", "mahnwerk.celery",
            "mahnwerk.dunning.tasks"} <= modules


def test_a_task_sent_by_a_process_that_started_without_celery_goes_through_the_configured_app():
    """A process that loaded no Celery at its start (a command, the web before its first
    task) sends through the configured app: its broker from the settings, from the thread that
    loaded it and from any other, with the request id in the message (ops.logs)."""
    sent = python(
        "import json, sys, threading\n"
        "import django\n"
        "django.setup()\n"
        "assert 'celery' not in sys.modules, 'Celery at start'\n"
        "import structlog\n"
        "from mahnwerk.dunning.tasks import deliver_outbox\n"
        "structlog.contextvars.bind_contextvars(request_id='req-start-1')\n"
        "sent_by = [deliver_outbox.delay().app.main]\n"
        "other = threading.Thread(target=lambda: sent_by.append(deliver_outbox.delay().app.main))\n"
        "other.start(); other.join()\n"
        "# Only now, after sending, this process names the app itself.\n"
        "import mahnwerk\n"
        "from mahnwerk.celery import app\n"
        "with app.connection_for_read() as connection:\n"
        "    queue = connection.SimpleQueue('celery')\n"
        "    messages = [queue.get(timeout=10) for _ in range(2)]\n"
        "print(json.dumps({\n"
        "    'messages': [[m.headers['task'], m.headers.get('mahnwerk_request_id')]\n"
        "                 for m in messages],\n"
        "    'sent_by': sent_by, 'same_app': mahnwerk.celery_app is app,\n"
        "    'broker': app.conf.broker_url}))\n",
        CELERY_BROKER_URL="memory://").stdout
    found = json.loads(sent)
    assert found["sent_by"] == ["mahnwerk", "mahnwerk"], "not Celery's unconfigured fallback app"
    assert found["same_app"] and found["broker"] == "memory://"
    assert sorted(found["messages"], key=str) == sorted([
        ["mahnwerk.dunning.tasks.deliver_outbox", "req-start-1"],
        # Another thread has no request bound (structlog's context is the thread's own).
        ["mahnwerk.dunning.tasks.deliver_outbox", None]], key=str)


def test_celery_minus_a_mahnwerk_finds_the_configured_app():
    """``celery -A mahnwerk`` (the worker's and beat's command line) loads the configured app,
    though the package no longer imports it when it is imported: its broker is the one the
    settings name."""
    report = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "mahnwerk", "report"],
        env={**os.environ, "CELERY_BROKER_URL": "memory://",
             "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True, text=True, timeout=120, check=False)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "transport:memory" in report.stdout


def test_the_package_hands_out_the_configured_app_when_asked():
    import mahnwerk
    from mahnwerk.celery import app

    assert mahnwerk.celery_app is app
    with pytest.raises(AttributeError, match="no attribute 'celery_ap'"):
        mahnwerk.celery_ap  # noqa: B018


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_is_drawn_on_a_terminal_and_not_into_a_pipe(monkeypatch):
    from mahnwerk.progress import ProgressBar

    monkeypatch.setattr(sys, "stderr", Terminal())
    with ProgressBar(enabled=True, desc="vendors.csv") as bar:
        bar(3, 10)
    assert "vendors.csv" in sys.stderr.getvalue() and "3/10" in sys.stderr.getvalue()

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with ProgressBar(enabled=True, desc="vendors.csv") as bar:
        bar(3, 10)
    assert sys.stderr.getvalue() == ""
    monkeypatch.setattr(sys, "stderr", Terminal())
    with ProgressBar(enabled=False, desc="vendors.csv") as bar:  # --no-progress
        bar(3, 10)
    assert sys.stderr.getvalue() == ""

