"""What the processes count and tell about the domain's moments, shared by every app (as
``bulk`` and ``reasons`` are): the counters live in prometheus_client's registry (or, with
``PROMETHEUS_MULTIPROC_DIR``, in files all processes write to) and are read by ``/metrics``
(``ops.metrics``); the log lines go through structlog (``ops.logs``), with the request's or the
task's ids bound.

Counts that the database holds (runs, letters, the outbox) are not counted here: ``/metrics``
reads them when it is asked.
"""

from __future__ import annotations

import structlog
from prometheus_client import Counter

log = structlog.get_logger("mahnwerk.domain")

IMPORT_ROWS = Counter(
    "mahnwerk_import_rows",
    "Rows of the platform's files imported (created, updated, unchanged) or refused, by feed.",
    ["feed", "outcome"])


def import_finished(*, feed: str, file: str, created: int, updated: int, unchanged: int,
                    refused: int, committed: bool, source: str) -> None:
    """An import was applied (or refused as a whole): counted by feed and logged."""
    for outcome, count in (("created", created), ("updated", updated),
                           ("unchanged", unchanged), ("refused", refused)):
        if count:
            IMPORT_ROWS.labels(feed=feed, outcome=outcome).inc(count)
    log.info("import applied" if committed else "import refused", feed=feed, file=file,
             created=created, updated=updated, unchanged=unchanged, refused=refused,
             source=source)
