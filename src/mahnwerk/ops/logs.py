"""Structured logs (structlog): one JSON object a line in production, readable lines for the demo.

Every line written while a request is served carries its ``request_id`` (the client's
``X-Request-ID`` when it is sane, else a new one; echoed in the response), and every line a
Celery task writes carries the task's name and id, the ``run_id`` it works on and the request id
of the request that queued it. The ids live in structlog's context variables, so the standard
library's loggers (``logging.getLogger(__name__)``, used across the apps) get them too: their
records pass the same processors (``ProcessorFormatter``'s ``foreign_pre_chain``).

Settings call ``logging_config`` and ``configure`` (nothing of Django is imported here, so the
settings module may import it); the Celery app connects the Celery signals when a process
loads it (``mahnwerk.celery``).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import structlog

#: What a client may send as its request id: what proxies and load balancers generate (UUIDs,
#: hex, Amazon's "Root=1-…", nginx's $request_id). Anything else (too long, a line break, a
#: quote that would break a log line reader) is replaced by an id of our own.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")
REQUEST_ID_HEADER = "X-Request-ID"
#: The Celery message header that carries the request id to the worker.
TASK_HEADER = "mahnwerk_request_id"
#: Paths asked every few seconds by probes and Prometheus: logged at DEBUG, not INFO.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

FORMATS = ("json", "console")


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def logging_config(*, log_format: str, level: str, root_level: str) -> dict[str, Any]:
    """Django's LOGGING: every record (structlog's and the standard library's) through one
    handler on stderr, rendered as JSON or for the console."""
    if log_format not in FORMATS:
        raise ValueError(f"MAHNWERK_LOG_FORMAT={log_format!r}: use one of {', '.join(FORMATS)}")
    if log_format == "json":
        renderer: Any = structlog.processors.JSONRenderer()
        extra = [structlog.processors.dict_tracebacks]
    else:
        # Plain tracebacks: with `rich` installed (a test tool brings it) structlog would draw
        # each one as a framed panel, which cost the test suite minutes (every 4xx the fuzzing
        # tests provoke is a warning with its exception).
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback)
        extra = []
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": [*_shared_processors(), structlog.stdlib.ExtraAdder()],
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                               *extra, renderer],
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler",
                                 "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": root_level},
        "loggers": {
            # The domain's moments (runs, imports, the outbox, bank statements) at INFO.
            "mahnwerk": {"level": level},
            # The worker's own lines: task received, succeeded, failed.
            "celery": {"level": level},
        },
    }


def configure() -> None:
    """structlog's loggers hand their events to the standard library's handlers (above)."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def request_id_of(header: str | None) -> str:
    """The client's request id when it is sane, else a new one."""
    if header and SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds ``request_id`` for every log line of the request, answers it in ``X-Request-ID``
    and writes one line per request (method, path, status, duration; at INFO with JSON logs,
    at DEBUG for the console)."""

    log = structlog.get_logger("mahnwerk.request")

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        # The demo's server (runserver) writes a line per request itself: the request line is
        # for production's JSON logs.
        self.level = logging.INFO if settings.MAHNWERK_LOG_FORMAT == "json" else logging.DEBUG

    def __call__(self, request):
        # Cleared when the next request begins, not when this one ends: Django logs a 4xx or
        # 5xx answer ("django.request") after the middleware returned, and that line should
        # carry the id too.
        structlog.contextvars.clear_contextvars()
        request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        level = logging.DEBUG if request.path in QUIET_PATHS else self.level
        self.log.log(level, "request", method=request.method, path=request.path,
                     status=response.status_code,
                     duration_ms=round((time.perf_counter() - started) * 1000, 1))
        return response


# -- Celery: the request id travels with the task; the worker binds it and the run id ----------

_tokens: dict[str, Any] = {}


def add_request_id_to_message(headers: dict | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: the request (or task) queuing a task hands its request id on."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if headers is not None and request_id:
        headers[TASK_HEADER] = request_id


def bind_task_context(task_id: str | None = None, task: Any = None,
                      kwargs: dict | None = None, **extra: Any) -> None:
    """``task_prerun``: the task's lines carry its name, id, run id and the request id.

    Bound on top of what the context holds (a task run in the request, without a broker, keeps
    the request's id) and put back as it was in ``task_postrun``."""
    context: dict[str, Any] = {"task": getattr(task, "name", None), "task_id": task_id}
    request = getattr(task, "request", None)
    request_id = getattr(request, TASK_HEADER, None) if request is not None else None
    if request_id is None and request is not None:
        request_id = (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    if request_id:
        context["request_id"] = request_id
    run_id = (kwargs or {}).get("run_id")
    if run_id is not None:
        context["run_id"] = run_id
    if task_id:
        _tokens[task_id] = structlog.contextvars.bind_contextvars(**context)


def unbind_task_context(task_id: str | None = None, **extra: Any) -> None:
    """``task_postrun``: the context as it was before the task."""
    tokens = _tokens.pop(task_id, None) if task_id else None
    if tokens:
        structlog.contextvars.reset_contextvars(**tokens)


def connect_celery_signals() -> None:
    from celery import signals

    signals.before_task_publish.connect(add_request_id_to_message,
                                        dispatch_uid="mahnwerk.logs.publish", weak=False)
    signals.task_prerun.connect(bind_task_context, dispatch_uid="mahnwerk.logs.prerun",
                                weak=False)
    signals.task_postrun.connect(unbind_task_context, dispatch_uid="mahnwerk.logs.postrun",
                                 weak=False)
