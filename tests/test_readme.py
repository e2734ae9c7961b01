"""The numbers README.md and the notes beside the reports quote are the generated tables' (the reports
benchmark/report.py and benchmark/speed.py write into benchmark/results/): copied, never typed in, never
left behind when the results move on. Each passage is held to the reports it links to, not to all of them,
and only to generated ones (and to the records of earlier measurements it names, `speed_earlier_runs.txt`).
A number is a decimal (84.7) or a whole number written with thousands separators as the reports write them
(4,033; 8,708,096); round figures and counts (about 1400, 3 seeds) are not checked. A number is checked by its
presence there, so a quote that went stale may still pass when its new value happens to be another figure of
the same report (table1.md has hundreds)."""

import re

import pytest
from util import ROOT

RESULTS = ROOT / "benchmark" / "results"
NOTES = sorted(RESULTS.glob("*_notes.md"))
# Generated: the markdown reports that say which command made them (the notes and older records do not).
GENERATED = {
    path.name: path.read_text().replace("−", "-")
    for path in sorted(RESULTS.glob("*.md"))
    if "Made by `python benchmark/" in path.read_text()
}
DECIMAL = r"(?<![\d.\w])-?\d+\.\d+(?![.\d])"  # 84.7, -0.39; not a version (2.9.2), not part of a name (v4)
GROUPED = r"(?<![\d.,\w])\d{1,3}(?:,\d{3})+(?![\w]|[.,]\d)"  # 4,033 steps/s, 8,708,096 steps
NUMBER = f"{DECIMAL}|{GROUPED}"
SETTING = r"(?:[γλεβα]|d_targ) = \d+\.\d+"  # a hyperparameter named in the prose (γ = 0.99), not a result
LINK = r"\]\((?:benchmark/results/)?([\w.]+\.md)\)"  # [mujoco.md](benchmark/results/mujoco.md)
# Records of measurements whose reports a later run replaced, as the console printed them.
RECORDS = {path.name: path.read_text() for path in sorted(RESULTS.glob("*.txt"))}


def passages() -> dict[str, str]:
    """What quotes the reports: each subsection of README's Results section, and each notes file."""
    results = (ROOT / "README.md").read_text().split("\n## Results")[1].split("\n## ")[0].replace("−", "-")
    sections = {f"README: {s.splitlines()[0]}": s for s in results.split("\n### ")[1:]}
    return sections | {path.name: path.read_text().replace("−", "-") for path in NOTES}


PASSAGES = passages()


def linked_reports(text: str) -> str:
    names = [name for name in re.findall(LINK, text) if name in GENERATED]
    assert names, "links to no generated report: the test would hold nothing"
    records = [RECORDS[name] for name in RECORDS if f"`{name}`" in text]
    return "\n".join([GENERATED[name] for name in names] + records)


def test_the_readme_has_a_results_section_with_its_tables():
    readme = [text for name, text in PASSAGES.items() if name.startswith("README")]
    assert len(readme) >= 5  # MuJoCo, Table 1, Atari, classic control, speed
    assert sum(line.startswith("|") for text in readme for line in text.splitlines()) > 30


@pytest.mark.parametrize("name", PASSAGES)
def test_every_table_row_is_a_row_of_a_linked_report(name):
    rows = [line for line in PASSAGES[name].splitlines() if line.startswith("|")]
    missing = set(rows) - set(linked_reports(PASSAGES[name]).splitlines())
    assert not missing, f"{name}: rows not in the reports it links to (copy them from there): {sorted(missing)}"


@pytest.mark.parametrize("name", PASSAGES)
def test_every_number_quoted_is_in_a_linked_report(name):
    prose = "\n".join(line for line in PASSAGES[name].splitlines() if not line.startswith("|"))
    prose = re.sub(SETTING, "", prose)
    quoted, generated = set(re.findall(NUMBER, prose)), set(re.findall(NUMBER, linked_reports(PASSAGES[name])))
    assert quoted <= generated, (
        f"{name} quotes numbers the reports it links to do not have: {sorted(quoted - generated)}"
    )


def test_the_readme_and_benchmark_readme_stay_short():
    # What a new reader meets first: the details live in benchmark/results/*_notes.md (issue 27).
    for path in (ROOT / "README.md", ROOT / "benchmark" / "README.md"):
        assert len(path.read_text().splitlines()) <= 200, f"{path.name}: over 200 lines; move the detail to the notes"
