"""docs/FAULTS.md is the fault table (the faults kprcnn must survive) and maps every row to its tests: check that it
cannot drift.

Every row (1-20) is there with at least one test; every test it names exists (pytest `def name`, GoogleTest
`TEST(Suite, Name)`); and for every row at least one of its test files names the row ("row N", "rows 1-5", ...).
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "FAULTS.md"
ROWS = range(1, 21)
REF = re.compile(r"`([\w./-]+\.(?:py|cpp))::([\w.]+)`")


def table_rows():
    rows = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|", line)
        if m:
            rows[int(m.group(1))] = REF.findall(line)
    return rows


def named_rows(text):
    """Row numbers a file names: "row 7", "Row 13", "rows 10, 13", "rows 1-5", "rows 10–14", "rows 1 and 16"."""
    found = set()
    for m in re.finditer(r"\b[Rr]ows?\s+(\d+(?:\s*(?:[-–]|,|and)\s*\d+)*)", text):
        for part in re.split(r"\s*(?:,|and)\s*", m.group(1)):
            ends = [int(x) for x in re.split(r"\s*[-–]\s*", part)]
            found.update(range(ends[0], ends[-1] + 1))
    return found


def defines(path, name):
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return re.search(rf"^\s*def {re.escape(name)}\(", text, re.M) is not None
    suite, _, test = name.partition(".")
    return re.search(rf"\bTEST(?:_F|_P)?\(\s*{re.escape(suite)}\s*,\s*{re.escape(test)}\s*\)", text) is not None


def test_every_row_has_tests():
    rows = table_rows()
    assert sorted(rows) == list(ROWS), f"{TABLE.name} must list rows {ROWS} once each, found {sorted(rows)}"
    empty = [n for n in ROWS if not rows[n]]
    assert not empty, f"rows without a test in {TABLE.name}: {empty}"


@pytest.mark.parametrize("row", ROWS)
def test_named_tests_exist_and_a_file_names_the_row(row):
    refs = table_rows()[row]
    missing = [f"{f}::{n}" for f, n in refs if not (ROOT / f).is_file() or not defines(ROOT / f, n)]
    assert not missing, f"row {row}: {TABLE.name} names tests that do not exist: {missing}"
    files = {f for f, _ in refs}
    assert any(row in named_rows((ROOT / f).read_text(encoding="utf-8")) for f in files), \
        f"row {row}: none of {sorted(files)} names the row (add 'fault row {row}' to the test)"


def test_row_parser():
    assert named_rows("fault rows 1-5 and row 9; rows 10, 13; Rows 10–14; rows 1 and 16") == \
        {1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14, 16}
