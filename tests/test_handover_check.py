"""The handover validator names every broken rule of process.md section 5 (issue 4, item 5)."""

import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from mahnwerk.collection.handover_format import HEADER, check_file, format_row, protect

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "domain" / "examples" / "48213.csv"
if not EXAMPLE.exists():  # CI lays shared/ beside the clone
    EXAMPLE = Path(__file__).resolve().parents[1].parent / "shared/domain/examples/48213.csv"
GOOD = ("48213,kq7319a,07/01/2025,08/01/2025,09/12/2025,Käufer hat nicht reagiert,Freigabe,"
        "https://checkout.example/p/77120?token=abc,sent_for_collection,False,,False")


def write(tmp_path: Path, *rows: str, name: str = "48213.csv", header: str = ",".join(HEADER),
          encoding: str = "utf-8", bom: bool = False) -> Path:
    path = tmp_path / name
    data = (header + "\n" + "\n".join(rows) + "\n").encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def problems(path: Path) -> list[tuple[int, str, str]]:
    return [(p.line, p.column, p.reason) for p in check_file(path).problems]


def test_the_example_file_of_the_process_passes():
    if not EXAMPLE.exists():
        pytest.skip("shared/domain/examples is not beside this checkout")
    report = check_file(EXAMPLE)
    assert report.ok, [str(p) for p in report.problems]
    assert report.rows == 6


def test_a_correct_file_passes(tmp_path):
    assert check_file(write(tmp_path, GOOD)).ok


@pytest.mark.parametrize(("row", "column", "words"), [
    (GOOD.replace("07/01/2025", "01.07.2025"), "first_dunning_letter", "MM/TT/JJJJ"),
    (GOOD.replace("07/01/2025", "2025-07-32"), "first_dunning_letter", "MM/TT/JJJJ"),
    (GOOD.replace("07/01/2025,08/01/2025", ",08/01/2025"), "second_dunning_letter",
     "ohne 1. Mahnung"),
    (GOOD.replace("07/01/2025,08/01/2025", "08/01/2025,07/01/2025"), "second_dunning_letter",
     "vor der 1. datiert"),
    (GOOD.replace("09/12/2025", "07/15/2025"), "incasso_date", "nach der Übergabe noch Mahnungen"),
    (GOOD.replace("sent_for_collection", "Canceled"), "incasso_state", "exakt"),
    (GOOD.replace("sent_for_collection", "in_progress"), "incasso_state", "unbekannter Status"),
    (GOOD.replace(",False,,False", ",true,,False"), "reopened", "True oder False"),
    (GOOD.replace(",False,,False", ",False,,vielleicht"), "invalid_address", "True oder False"),
    (GOOD.replace(",False,,False", ",True,,False"), "reopened_id", "neue Bestell-ID gebraucht"),
    (GOOD.replace(",False,,False", ",False,tr9981x,False"), "reopened_id", "reopened ist False"),
    (GOOD.replace("Käufer hat nicht reagiert", "=HYPERLINK(\"\"http://x\"\")"),
     "support_comment", "Formel"),
    (GOOD.replace("https://checkout.example/p/77120?token=abc", "checkout.example"),
     "offer_link", "kein Link"),
    (GOOD.replace("09/12/2025,", ",").replace("sent_for_collection", "on_hold")
     .replace("07/01/2025,08/01/2025", "07/01/2025,"), "incasso_state", "zwei Mahnungen"),
    (GOOD.replace("sent_for_collection", ""), "incasso_date", "nicht beim Inkassobüro"),
    (GOOD.replace("48213,kq7319a", "48213,"), "order_id", "Pflichtwert fehlt"),
])
def test_each_broken_rule_is_named_with_line_and_column(tmp_path, row, column, words):
    found = problems(write(tmp_path, row))
    assert any(line == 2 and col == column and words in reason
               for line, col, reason in found), found


def test_the_same_order_twice_names_the_first_line(tmp_path):
    found = problems(write(tmp_path, GOOD, GOOD))
    assert (3, "order_id", "dieselbe Bestellung wie in Zeile 2") in found


def test_a_wrong_header_is_refused(tmp_path):
    found = problems(write(tmp_path, GOOD, header=",".join(HEADER[:-1]) + ",invalid"))
    assert found[0][0] == 1 and "genau so" in found[0][2]


def test_capitals_in_the_header_are_fixed(tmp_path):
    report = check_file(write(tmp_path, GOOD, header=",".join(HEADER).upper()))
    assert [p.certain for p in report.problems] == [True]


def test_a_file_named_after_another_vendor_is_named(tmp_path):
    found = problems(write(tmp_path, GOOD, name="vendor_user_id_example (1).csv"))
    assert any("nach der Vendor-ID benannt" in reason for _l, _c, reason in found)


def test_two_vendors_in_one_file_are_refused(tmp_path):
    found = problems(write(tmp_path, GOOD, GOOD.replace("48213,kq7319a", "48214,kq7320a")))
    assert any("mehrere Vendor-IDs" in reason for _l, _c, reason in found)


def test_german_excel_is_fixed_where_certain(tmp_path):
    header = ";".join(HEADER)
    row = ("48213;kq7319a;01.07.2025;01.08.2025;12.09.2025;Käufer hat nicht reagiert;Freigabe;"
           "https://checkout.example/p/1;Sent for collection;falsch;;WAHR")
    path = write(tmp_path, row, header=header, encoding="cp1252", bom=False)
    out = tmp_path / "fixed"
    with pytest.raises(CommandError):
        call_command("check_handover", str(path), "--fix", "--out", str(out))
    fixed = out / "48213.csv"
    assert fixed.read_text(encoding="utf-8").splitlines()[1] == (
        "48213,kq7319a,07/01/2025,08/01/2025,09/12/2025,Käufer hat nicht reagiert,Freigabe,"
        "https://checkout.example/p/1,sent_for_collection,False,,True")
    call_command("check_handover", str(fixed))  # the corrected file passes


def test_a_byte_order_mark_is_named_and_removed(tmp_path):
    report = check_file(write(tmp_path, GOOD, bom=True))
    assert [(p.line, p.certain) for p in report.problems] == [(1, True)]


def test_a_file_with_an_uncertain_problem_is_not_rewritten(tmp_path):
    path = write(tmp_path, GOOD.replace(",False,,False", ",True,,False"))
    out = tmp_path / "fixed"
    with pytest.raises(CommandError):
        call_command("check_handover", str(path), "--fix", "--out", str(out))
    assert not (out / "48213.csv").exists()


def test_the_writer_protects_free_text_and_writes_the_contract_formats():
    from datetime import date

    row = format_row(vendor_id="48213", order_id="kq7319a",
                     first_dunning_letter=date(2025, 7, 1), support_comment="+49 ruft an",
                     reopened=False, invalid_address=True, incasso_state="")
    assert row[2] == "07/01/2025" and row[3] == ""
    assert row[5] == "'+49 ruft an"
    assert row[9:] == ["False", "", "True"]
    assert protect("@SUM(A1)") == "'@SUM(A1)" and protect("ok") == "ok"


def test_the_command_checks_several_files_and_fails_when_one_is_bad(tmp_path):
    good = write(tmp_path, GOOD)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = write(bad_dir, GOOD.replace("07/01/2025", "1.7.2025"))
    call_command("check_handover", str(good))
    with pytest.raises(CommandError, match="1 "):
        call_command("check_handover", str(good), str(bad))
    shutil.rmtree(bad_dir)


def _mutations(rng):
    """Rows of a handover file, right and wrong in the ways people and spreadsheets get them
    wrong, for comparing the fast path with the full check."""
    example = EXAMPLE.read_text(encoding="utf-8").splitlines()[1:] if EXAMPLE.exists() else []
    rows = [GOOD, *example]
    swaps = [
        ("07/01/2025", "02/30/2025"), ("07/01/2025", "7/1/2025"), ("07/01/2025", "01.07.2025"),
        ("07/01/2025", " 07/01/2025"), ("08/01/2025", "06/01/2025"), ("08/01/2025", ""),
        ("09/12/2025", "07/15/2025"), ("09/12/2025", ""), ("07/01/2025,08/01/2025", ","),
        ("sent_for_collection", "on_hold"), ("sent_for_collection", "canceled"),
        ("sent_for_collection", "blocked"), ("sent_for_collection", ""),
        ("sent_for_collection", "Sent for collection"), ("sent_for_collection", "paid"),
        ("Käufer hat nicht reagiert", '"Käufer rief an, zahlt später"'),
        ("Käufer hat nicht reagiert", '"sagt ""nein"""'), ("Käufer hat nicht reagiert", '""'),
        ("Käufer hat nicht reagiert", '"=1+1"'), ("Käufer hat nicht reagiert", "-5 EUR"),
        ("Käufer hat nicht reagiert", '"zwei\nZeilen"'), ("Käufer hat nicht reagiert", ""),
        ("Käufer hat nicht reagiert", "@x"), ("Freigabe", "+Freigabe"),
        (",False,,False", ",True,tr9981x,False"), (",False,,False", ",True,,False"),
        (",False,,False", ",False,tr9981x,False"), (",False,,False", ",False, ,False"),
        (",False,,False", ",True,,True"), (",False,,False", ",false,,False"),
        (",False,,False", ",False,,WAHR"), ("https://", "ftp://"), ("kq7319a", " kq7319a"),
        ("kq7319a", ""), ("48213", "48214"), ("https://checkout.example/p/77120?token=abc", ""),
        ("Freigabe,", "Freigabe,extra,"),
    ]
    for number in range(300):
        row = rng.choice(rows)
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            old, new = rng.choice(swaps)
            row = row.replace(old, new, 1)
        rows.append(row.replace("kq7319a", f"kq{number:04d}a"))
        if rng.random() < 0.1:
            rows.append(rows[-1])  # the same order twice
        if rng.random() < 0.03:
            rows.append(rng.choice(("", "   ", ",,,,,,,,,,,")))
    return rows


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_the_fast_path_finds_exactly_what_the_full_check_finds(seed, line_end):
    """The fast path may only let through rows that the full check passes; every problem is
    named exactly as the full check names it, on the same line, in the same order."""
    import random

    from mahnwerk.collection.handover_format import check_bytes

    rows = _mutations(random.Random(seed))
    data = (line_end.join([",".join(HEADER), *rows]) + line_end).encode("utf-8")
    for collect_fixed in (False, True):
        fast = check_bytes(data, name="48213.csv", collect_fixed=collect_fixed)
        full = check_bytes(data, name="48213.csv", collect_fixed=collect_fixed,
                           fast_path=False)
        assert fast.rows == full.rows
        assert [str(p) for p in fast.problems] == [str(p) for p in full.problems]
        assert fast.fixed_rows == full.fixed_rows
    assert full.problems and not check_bytes(
        (line_end.join([",".join(HEADER), GOOD]) + line_end).encode(), name="48213.csv").problems


def test_quoted_free_text_passes_and_a_quoted_formula_is_named(tmp_path):
    quoted = GOOD.replace("Käufer hat nicht reagiert", '"Käufer rief an, zahlt ""bald"""')
    formula = GOOD.replace("Käufer hat nicht reagiert", '"=1+1, sagt er"').replace(
        "kq7319a", "kq7320a")
    report = check_file(write(tmp_path, quoted, formula))
    assert report.rows == 2
    assert [(p.line, p.column, p.fix) for p in report.problems] == [
        (3, "support_comment", "'=1+1, sagt er")]
