"""An import through the workspace: an uploaded platform file kept for its check and its apply.

The import page stores the upload in a directory of its own under ``MAHNWERK_IMPORT_DIR``,
named by a random token (the key of the page and of the apply step). A background task checks
it (``check``: the whole import as ``importing.import_file`` does it, references and the cases'
reactions included, then rolled back: it writes nothing and lists every problem with file, line,
column, value and reason); when support applies it, a task imports the very same file
(``apply``: one transaction, all or nothing, as ``mahnwerk import``).

Progress and the report live in ``job.json`` beside the upload, written atomically (a new file
renamed over the old one) and outside the import's database transaction: the page reads them
while the import runs, which a database row could not offer (the import's transaction holds
SQLite's write lock, and its writes are invisible to other connections until it commits). The
upload is removed as soon as it cannot be applied any more (applied, refused, failed,
discarded); a job directory older than ``MAHNWERK_IMPORT_KEEP_HOURS`` goes entirely, at the next
upload and in the daily schedule.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.importing import ImportFileError, ImportReport, import_file

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".xlsx")
#: Problems kept for the page (the CLI prints at most as many by default); the count is total.
PROBLEMS_KEPT = 1000
#: A running job whose state did not move for this long is shown as stopped.
STALLED_AFTER = timedelta(minutes=15)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_STATE_FILE = "job.json"
_CLAIM_FILE = "apply.claim"


class JobState(StrEnum):
    CHECK_QUEUED = "check_queued"
    CHECKING = "checking"
    CHECKED = "checked"  # clean: may be applied
    REFUSED = "refused"  # the check found problems: nothing to apply
    APPLY_QUEUED = "apply_queued"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"  # the apply found problems or could not run: nothing was written


RUNNING = frozenset({JobState.CHECK_QUEUED, JobState.CHECKING, JobState.APPLY_QUEUED,
                     JobState.APPLYING})


class ImportJobError(Exception):
    """The upload or the step cannot be taken; the message says why, for the page."""


@dataclass
class ImportJob:
    token: str
    feed: str
    file_name: str
    size: int
    actor: str
    language: str
    created_at: str
    state: str = JobState.CHECK_QUEUED
    updated_at: str = ""
    rows: int = 0
    done: int = 0
    total: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    problem_count: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""
    checked_at: str = ""
    applied_at: str = ""

    # -- reading ---------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return _root() / self.token

    @property
    def path(self) -> Path:
        return self.directory / self.file_name

    @property
    def running(self) -> bool:
        return self.state in RUNNING and not self.stalled

    @property
    def stalled(self) -> bool:
        """A task that stopped without saying so (its worker died): shown, never waited for."""
        moved = datetime.fromisoformat(self.updated_at or self.created_at)
        return self.state in RUNNING and timezone.now() - moved > STALLED_AFTER

    @property
    def can_apply(self) -> bool:
        return self.state == JobState.CHECKED and self.path.exists()

    @property
    def percent(self) -> int:
        if self.state in (JobState.CHECKED, JobState.REFUSED, JobState.APPLIED,
                          JobState.FAILED):
            return 100
        return min(99, int(self.done * 100 / self.total)) if self.total else 0

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    def status(self) -> dict[str, Any]:
        """What the page's progress bar polls."""
        return {"state": self.state, "running": self.running, "stalled": self.stalled,
                "rows": self.rows, "done": self.done, "total": self.total,
                "percent": self.percent, "problems": self.problem_count}


# -- Storage -------------------------------------------------------------------------------------


def _root() -> Path:
    return Path(settings.MAHNWERK_IMPORT_DIR)


def _now() -> str:
    return timezone.now().isoformat()


def _save(job: ImportJob) -> None:
    job.updated_at = _now()
    target = job.directory / _STATE_FILE
    partial = target.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(job), ensure_ascii=False), encoding="utf-8")
    os.replace(partial, target)


def load(*, token: str) -> ImportJob:
    """The job of a token; ImportJobError if there is none (never a path outside the root)."""
    if not _TOKEN.fullmatch(token or ""):
        raise ImportJobError(_("There is no such import."))
    try:
        data = json.loads((_root() / token / _STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ImportJobError(_("There is no such import (any more): an upload is kept "
                               "%(hours)d hours.") % {"hours": settings.MAHNWERK_IMPORT_KEEP_HOURS}
                             ) from None
    known = ImportJob.__dataclass_fields__
    return ImportJob(**{key: value for key, value in data.items() if key in known})


def recent(*, limit: int = 10) -> list[ImportJob]:
    """The latest jobs still kept, newest first."""
    jobs = []
    root = _root()
    if not root.exists():
        return []
    for directory in root.iterdir():
        try:
            jobs.append(load(token=directory.name))
        except ImportJobError:
            continue
    jobs.sort(key=lambda job: job.created_at, reverse=True)
    return jobs[:limit]


def safe_name(name: str) -> str:
    """The upload's name as it is kept and named in the problems: letters, digits, ``._-``."""
    base = Path(name.replace("\\", "/")).name
    stem, suffix = os.path.splitext(base)
    stem = _UNSAFE.sub("_", stem).strip("._") or "upload"
    return stem[:100] + suffix.lower()


# -- The steps -----------------------------------------------------------------------------------


def receive(*, feed: str, name: str, chunks: Iterable[bytes], size: int, actor: str,
            language: str) -> ImportJob:
    """Keep an uploaded file for its check; refuses a feed that does not exist, a file that is
    neither CSV nor XLSX and a file over ``MAHNWERK_IMPORT_MAX_BYTES``."""
    if feed not in FEEDS:
        raise ImportJobError(_("Choose what the file holds: %(feeds)s.")
                             % {"feeds": ", ".join(FEEDS)})
    file_name = safe_name(name)
    if not file_name.endswith(SUFFIXES):
        raise ImportJobError(_("%(file)s: only CSV (.csv) and Excel workbooks (.xlsx) can be "
                               "imported.") % {"file": name})
    limit = settings.MAHNWERK_IMPORT_MAX_BYTES
    if size > limit:
        raise ImportJobError(_("%(file)s is %(size)s; a file may have at most %(limit)s. Split "
                               "it into several files.") % {"file": name, "size": _mb(size),
                                                           "limit": _mb(limit)})
    clean_up()
    token = secrets.token_urlsafe(24)
    directory = _root() / token
    directory.mkdir(parents=True)
    written = 0
    try:
        with (directory / file_name).open("wb") as handle:
            for chunk in chunks:
                written += len(chunk)
                if written > limit:  # the size the browser announced was wrong
                    raise ImportJobError(_("%(file)s is larger than %(limit)s.")
                                         % {"file": name, "limit": _mb(limit)})
                handle.write(chunk)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    job = ImportJob(token=token, feed=feed, file_name=file_name, size=written, actor=actor,
                    language=language, created_at=_now())
    _save(job)
    return job


def _mb(size: int) -> str:
    return str(filesizeformat(size)).replace("\xa0", " ")


def _run(job: ImportJob, *, dry_run: bool) -> ImportReport | None:
    """One pass over the file; progress into ``job.json`` after every batch."""

    def on_batch(report: ImportReport, done: int, total: int) -> None:
        job.rows, job.done, job.total = report.rows, done, total
        job.problem_count = len(report.problems)
        _save(job)

    try:
        with translation.override(job.language):
            return import_file(path=job.path, feed=FEEDS[job.feed],
                               actor=f"{job.actor} (import:{job.file_name})",
                               dry_run=dry_run, on_batch=on_batch)
    except ImportFileError as exc:
        job.error = str(exc)
    except Exception as exc:
        log.exception("import %s (%s) failed", job.token, job.file_name)
        with translation.override(job.language):
            job.error = _("The import stopped with an unexpected error (%(error)s); nothing "
                          "was written.") % {"error": f"{type(exc).__name__}: {exc}"}
    return None


def _report(job: ImportJob, report: ImportReport) -> None:
    job.rows = report.rows
    job.problem_count = len(report.problems)
    job.problems = [asdict(problem) for problem in report.problems[:PROBLEMS_KEPT]]
    job.counts = report.applied.as_dict()


def _drop_upload(job: ImportJob) -> None:
    job.path.unlink(missing_ok=True)


def check(*, token: str) -> ImportJob:
    """The check (a background task): the whole import, rolled back."""
    job = load(token=token)
    if job.state != JobState.CHECK_QUEUED:
        return job
    job.state = JobState.CHECKING
    _save(job)
    report = _run(job, dry_run=True)
    if report is not None:
        _report(job, report)
    job.state = JobState.CHECKED if report is not None and report.ok else JobState.REFUSED
    job.checked_at = _now()
    if job.state == JobState.REFUSED:
        _drop_upload(job)
    _save(job)
    return job


def claim_apply(*, token: str) -> ImportJob:
    """Support asks to apply a checked file: once only (a second click, a second tab)."""
    job = load(token=token)
    if not job.can_apply:
        raise ImportJobError(_("%(file)s cannot be applied (any more): %(state)s.")
                             % {"file": job.file_name, "state": state_label(job.state)})
    try:
        os.close(os.open(job.directory / _CLAIM_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        raise ImportJobError(_("%(file)s is being applied already.")
                             % {"file": job.file_name}) from None
    job.state = JobState.APPLY_QUEUED
    _save(job)
    return job


def apply(*, token: str) -> ImportJob:
    """The import (a background task): one transaction, all or nothing."""
    job = load(token=token)
    if job.state != JobState.APPLY_QUEUED:
        return job
    job.state = JobState.APPLYING
    job.rows = job.done = 0
    _save(job)
    report = _run(job, dry_run=False)
    if report is not None:
        _report(job, report)
    job.state = JobState.APPLIED if report is not None and report.committed \
        else JobState.FAILED
    job.applied_at = _now()
    _drop_upload(job)
    _save(job)
    return job


def not_started(*, token: str, error: str) -> ImportJob:
    """The task could not be queued (the broker is down): the job says so instead of
    waiting."""
    job = load(token=token)
    job.error = error
    job.state = JobState.FAILED if job.state == JobState.APPLY_QUEUED else JobState.REFUSED
    _save(job)
    return job


def discard(*, token: str) -> ImportJob:
    """Support drops an upload: its directory goes; not while a task works on it."""
    job = load(token=token)
    if job.running:
        raise ImportJobError(_("%(file)s is being read right now; discard it when it is done.")
                             % {"file": job.file_name})
    shutil.rmtree(job.directory, ignore_errors=True)
    return job


def clean_up(*, now: datetime | None = None) -> int:
    """Remove every job older than ``MAHNWERK_IMPORT_KEEP_HOURS``; returns how many went."""
    root = _root()
    if not root.exists():
        return 0
    limit = (now or timezone.now()) - timedelta(hours=settings.MAHNWERK_IMPORT_KEEP_HOURS)
    removed = 0
    for directory in root.iterdir():
        if not directory.is_dir():
            continue
        try:
            started = load(token=directory.name).created
        except ImportJobError:  # no state (an upload cut off): the directory's own age
            started = datetime.fromtimestamp(directory.stat().st_mtime, tz=limit.tzinfo)
        if started < limit:
            shutil.rmtree(directory, ignore_errors=True)
            removed += 1
    return removed


def state_label(state: str) -> str:
    return {
        JobState.CHECK_QUEUED: _("waiting for the check"),
        JobState.CHECKING: _("being checked"),
        JobState.CHECKED: _("checked: no problems, ready to apply"),
        JobState.REFUSED: _("refused: problems found, nothing to apply"),
        JobState.APPLY_QUEUED: _("waiting to be applied"),
        JobState.APPLYING: _("being applied"),
        JobState.APPLIED: _("applied"),
        JobState.FAILED: _("not applied: nothing was written"),
    }.get(state, state)
