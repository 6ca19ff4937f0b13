"""Backups (issue 9): a copy taken while the application writes restores every case and
event; a damaged or foreign file is refused with the reason."""

from datetime import datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from mahnwerk.cases.models import CaseEvent, DebtCase
from mahnwerk.ops import backup
from tests.factories import BERLIN, OrderFactory
from tests.helpers import incident


def _sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the embedded SQLite database is backed up with the online backup API; "
                    "PostgreSQL with pg_dump (a server tool)")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_backup_taken_while_cases_are_written_restores_every_case_and_event(tmp_path: Path):
    _sqlite_only()
    for _ in range(20):
        incident(OrderFactory(), at=datetime(2026, 9, 1, tzinfo=BERLIN))
    written_during = []

    def an_import_goes_on(done: int, total: int) -> None:
        if len(written_during) < 5:  # the platform keeps sending while the copy runs
            written_during.append(incident(OrderFactory(),
                                           at=datetime(2026, 9, 2, tzinfo=BERLIN)).order_id)

    result = backup.backup(out=tmp_path / "mahnwerk.sqlite3", progress=an_import_goes_on,
                           pages=1)
    assert len(written_during) == 5
    cases = set(DebtCase.objects.values_list("order_id", flat=True))
    events = CaseEvent.objects.count()
    assert len(cases) == 25
    # Something goes wrong afterwards; the backup brings back the state it was taken in.
    DebtCase.objects.update(open_amount=0)
    call_command("restore", str(result.path), "--yes")
    assert set(DebtCase.objects.values_list("order_id", flat=True)) == cases
    assert CaseEvent.objects.count() == events
    assert not DebtCase.objects.filter(open_amount=0).exists()


@pytest.mark.django_db
def test_a_backup_never_overwrites_and_a_foreign_or_damaged_file_is_not_restored(tmp_path):
    _sqlite_only()
    existing = tmp_path / "old.sqlite3"
    existing.write_text("keep me")
    with pytest.raises(CommandError, match="existiert schon"):
        call_command("backup", "--out", str(existing))
    assert existing.read_text() == "keep me"
    with pytest.raises(CommandError, match="keine SQLite-Datenbank"):
        call_command("restore", str(existing), "--yes")
    other = tmp_path / "other.sqlite3"
    import sqlite3

    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(CommandError, match="kein Mahnwerk-Backup"):
        call_command("restore", str(other))
