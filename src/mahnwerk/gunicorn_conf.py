"""gunicorn's settings for Mahnwerk's web processes: ``gunicorn -c python:mahnwerk.gunicorn_conf
mahnwerk.wsgi`` (deploy/systemd/mahnwerk-web.service, deploy/compose.yaml).

From the environment: ``MAHNWERK_BIND`` (default 127.0.0.1:8000), ``MAHNWERK_WEB_WORKERS``
(default 2 × cores + 1), ``MAHNWERK_WEB_TIMEOUT`` (seconds a request may take, 60).
"""

import multiprocessing
import os

from mahnwerk.environment import Env

env = Env()  # a number that is none stops gunicorn at its start, naming the variable
bind = env.given("MAHNWERK_BIND") or "127.0.0.1:8000"
workers = env.int("MAHNWERK_WEB_WORKERS", default=2 * multiprocessing.cpu_count() + 1, least=1)
timeout = env.int("MAHNWERK_WEB_TIMEOUT", default=60, least=1)
#: A restart lets running requests finish for this long.
graceful_timeout = 30
#: Mahnwerk logs each request itself, with its request id (ops.logs); gunicorn's own lines
#: (start, stop, a worker killed) go to stderr.
accesslog = None
errorlog = "-"
#: Fresh workers now and then: memory a long life may collect is given back.
max_requests = 2000
max_requests_jitter = 200


def child_exit(server, worker):
    """A worker that ended leaves its gauges to prometheus_client's multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
