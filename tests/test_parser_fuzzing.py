"""Every file parser answers any bytes with its own located refusal, never a crash (issue 9,
"Robust inputs"): the platform's CSV files, the handover file, the agency's report and the old
master lists are fed what hypothesis makes of them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mahnwerk.collection import legacy, reports
from mahnwerk.collection.handover_format import HEADER, check_bytes
from mahnwerk.collection.models import CollectionPartner
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.importing import ImportFileError, import_file

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

#: Text as people and programs damage it: any character, line breaks, quotes, separators,
#: control characters, formulas, very long cells.
cells = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", ";", "\"", "\x00", "\r", "=1+1", "2026-13-45", "-5", "1,5", "ä" * 300, "\ufeff"]))


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


@FUZZ
@given(raw=st.binary(max_size=400))
def test_the_handover_validator_answers_any_bytes_with_located_problems(raw):
    report = check_bytes(raw, name="48213.csv")
    assert all(problem.line >= 0 for problem in report.problems)


@FUZZ
@given(rows=st.lists(st.lists(cells, min_size=len(HEADER), max_size=len(HEADER)),
                     max_size=4))
def test_the_handover_validator_answers_any_rows(rows):
    report = check_bytes(_csv(list(HEADER), rows), name="48213.csv")
    assert report.ok == (not report.problems)


@FUZZ
@given(raw=st.binary(max_size=300), rows=st.lists(
    st.lists(cells, min_size=len(reports.COLUMNS), max_size=len(reports.COLUMNS)), max_size=3))
# Found on PostgreSQL, which stores no NUL and enforces the column's length: a 500 before.
@example(raw=b"", rows=[["", "", "", "", "", "", "\x00"]])
@example(raw=b"", rows=[["ä" * 300, "", "", "", "", "", ""]])
def test_the_agency_report_applies_or_refuses_any_file(raw, rows):
    partner = CollectionPartner.objects.filter(active=True).first()
    for data in (raw, _csv(list(reports.COLUMNS), rows)):
        try:
            result = reports.import_report_data(data=data, name="bericht.csv", partner=partner,
                                                actor="fuzz")
        except reports.ReportError as exc:
            assert "bericht.csv" in str(exc), "the refusal names the file"
        else:
            assert result.applied == 0, "no case of a made-up report exists"


@FUZZ
@given(feed=st.sampled_from(sorted(FEEDS)), raw=st.binary(max_size=300),
       rows=st.lists(st.lists(cells, min_size=1, max_size=8), max_size=3))
def test_a_platform_file_imports_or_is_refused_with_its_place(tmp_path_factory, feed, raw,
                                                             rows):
    folder = tmp_path_factory.mktemp("fuzz")
    header = [column.name for column in FEEDS[feed].columns]
    for name, data in ((f"{feed}.csv", raw), (f"{feed}2.csv", _csv(header, rows)),
                       (f"{feed}.xlsx", raw)):
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            import_file(path=path, feed=FEEDS[feed], actor="fuzz")
        except ImportFileError as exc:
            assert name in str(exc), "the refusal names the file"


@FUZZ
@given(raw=st.binary(max_size=300))
def test_an_old_master_list_that_is_no_workbook_is_refused_with_the_reason(tmp_path_factory,
                                                                         raw):
    path = Path(tmp_path_factory.mktemp("legacy")) / "liste.xlsx"
    path.write_bytes(raw)
    with pytest.raises(legacy.LegacyError):
        legacy.plan_legacy(path=path, vendor_id="V1", mapping=legacy.load_mapping(None))
