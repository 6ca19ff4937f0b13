"""Backups of the database and their restore (issue 9, "Backups").

SQLite (the embedded default): Python's ``sqlite3`` online backup API copies the live database
page by page while the web server, a worker or an import go on writing; pages they change during
the copy are copied again, so the file is one consistent state. It is written next to its target
and renamed at the end, so a backup that fails never leaves a half file under the given name.

PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot while others write); the restore
is ``pg_restore`` by the operator, as docs/operations.md says, because it replaces a server's
database and needs its owner's rights.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, connections
from django.utils.translation import gettext as _

#: Tables a Mahnwerk database has; a file without them is refused as a restore source.
REQUIRED_TABLES = ("django_migrations", "cases_debtcase", "cases_caseevent")


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    engine: str
    size: int


Progress = Callable[[int, int], None]


def backup(*, out: Path, progress: Progress | None = None, pages: int = 256) -> BackupResult:
    """Write a consistent copy of the database to ``out`` (refused if it exists)."""
    out = Path(out)
    if out.exists():
        raise BackupError(_("%(path)s exists already; choose a new file name (a backup never "
                            "overwrites one).") % {"path": out})
    if not out.parent.is_dir():
        raise BackupError(_("The folder %(folder)s does not exist.") % {"folder": out.parent})
    partial = out.with_name(f".{out.name}.partial")
    try:
        if connection.vendor == "sqlite":
            _sqlite_backup(partial, progress=progress, pages=pages)
        elif connection.vendor == "postgresql":
            _pg_dump(partial)
        else:
            raise BackupError(_("No backup for the %(engine)s database.")
                              % {"engine": connection.vendor})
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(path=out, engine=connection.vendor, size=out.stat().st_size)


def _sqlite_backup(target: Path, *, progress: Progress | None, pages: int) -> None:
    connection.ensure_connection()
    source = connection.connection  # the live database (also an in-memory one)
    destination = sqlite3.connect(target)
    try:
        def step(status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        source.backup(destination, pages=pages, progress=step)
    finally:
        destination.close()


def _pg_dump(target: Path) -> None:
    settings = connection.settings_dict
    if shutil.which("pg_dump") is None:
        raise BackupError(_("pg_dump is not installed (Debian: apt-get install "
                            "postgresql-client)."))
    env = {**os.environ}
    if settings.get("PASSWORD"):
        env["PGPASSWORD"] = str(settings["PASSWORD"])
    command = ["pg_dump", "--format=custom", f"--file={target}",
               f"--host={settings.get('HOST') or '127.0.0.1'}",
               f"--port={settings.get('PORT') or 5432}",
               f"--username={settings.get('USER') or 'postgres'}", str(settings["NAME"])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(_("pg_dump failed: %(error)s") % {"error": done.stderr.strip()})


def check_source(path: Path) -> None:
    """Refuse a restore source that is no intact Mahnwerk SQLite database, saying why."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(_("%(path)s is no file.") % {"path": path})
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = source.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {row[0] for row in source.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            source.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(_("%(path)s is no SQLite database (%(error)s).")
                          % {"path": path, "error": exc}) from None
    if verdict != "ok":
        raise BackupError(_("%(path)s is damaged: %(error)s") % {"path": path,
                                                                  "error": verdict})
    missing = [table for table in REQUIRED_TABLES if table not in tables]
    if missing:
        raise BackupError(_("%(path)s is no Mahnwerk backup: tables missing: %(tables)s.")
                          % {"path": path, "tables": ", ".join(missing)})


def restore(*, path: Path, progress: Progress | None = None) -> None:
    """Replace the embedded SQLite database with a backup (every process using it must be
    stopped first). PostgreSQL is restored with pg_restore (docs/operations.md)."""
    if connection.vendor != "sqlite":
        raise BackupError(_("Restore PostgreSQL with pg_restore as docs/operations.md "
                            "describes; this command restores the embedded SQLite "
                            "database."))
    check_source(Path(path))
    connection.ensure_connection()
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        def step(status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        source.backup(connection.connection, progress=step)
    finally:
        source.close()
    for other in connections.all():
        if other is not connection:
            other.close()
