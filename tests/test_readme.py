"""The numbers README.md and the notes beside the reports quote are the generated tables' (the reports
benchmark/report.py and benchmark/speed.py write into benchmark/results/): copied, never typed in, never
left behind when the results move on."""

import re

import pytest
from util import ROOT

RESULTS = ROOT / "benchmark" / "results"
NOTES = sorted(RESULTS.glob("*_notes.md"))
# Generated: every markdown report in the results folder but the notes a person writes.
REPORTS = "\n".join(p.read_text() for p in sorted(RESULTS.glob("*.md")) if p not in NOTES).replace("−", "-")
NUMBER = r"(?<![\d.\w])-?\d+\.\d+(?![.\d])"  # 84.7, -0.39; not a version (2.9.2), not part of a name (v4)


def results_section() -> str:
    return (ROOT / "README.md").read_text().split("\n## Results")[1].split("\n## ")[0].replace("−", "-")


def test_the_readme_has_a_results_section_with_its_tables():
    tables = [line for line in results_section().splitlines() if line.startswith("|")]
    assert len(tables) > 30  # MuJoCo, Table 1, Atari, classic control, speed


def test_every_table_row_in_the_readme_is_a_reports_row():
    report_lines = set(REPORTS.splitlines())
    rows = [line for line in results_section().splitlines() if line.startswith("|")]
    missing = [row for row in rows if row not in report_lines]
    assert not missing, f"README rows not in any generated report (copy them from benchmark/results/*.md): {missing}"


@pytest.mark.parametrize("path", [ROOT / "README.md", *NOTES], ids=lambda p: p.name)
def test_every_number_quoted_is_in_a_report(path):
    text = results_section() if path.name == "README.md" else path.read_text().replace("−", "-")
    prose = "\n".join(line for line in text.splitlines() if not line.startswith("|"))
    quoted = set(re.findall(NUMBER, prose))
    generated = set(re.findall(NUMBER, REPORTS))
    assert quoted, f"{path.name} quotes no number: the test would hold nothing"
    assert quoted <= generated, f"{path.name} quotes numbers no report has: {sorted(quoted - generated)}"


@pytest.mark.parametrize("path", NOTES, ids=lambda p: p.name)
def test_the_notes_tables_are_reports_rows(path):
    rows = [line for line in path.read_text().replace("−", "-").splitlines() if line.startswith("|")]
    assert set(rows) <= set(REPORTS.splitlines()), sorted(set(rows) - set(REPORTS.splitlines()))
