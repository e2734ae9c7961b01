"""The numbers README.md quotes are the generated tables' (benchmark/results/*.md): copied, never typed in."""

import re

from util import ROOT


def test_the_readme_mujoco_tables_are_copied_from_the_reports():
    """Honest results: the README's MuJoCo rows are mujoco.md's (written by report.py from mujoco.csv) without
    its setting and steps columns, and its peer and ablation tables are mujoco_sb3.md's and
    mujoco_no_clip_vloss.md's: never figures typed in, or left
    behind when the results moved on."""

    def rows(text: str) -> list[list[str]]:
        text = text.replace("−", "-")  # the README prints minus signs
        return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if "-v4 |" in line]

    readme = (ROOT / "README.md").read_text().split("### MuJoCo, PPO-Clip")[1].split("###")[0]
    ours = rows(readme.split("**The Stable-Baselines3 peer.**")[0])
    table = (ROOT / "benchmark" / "results" / "mujoco.md").read_text().split("## Learning curve")[0]
    recorded = [[row[0], *row[3:]] for row in rows(table)]
    assert len(ours) == 7 and ours == recorded
    peer, ablation = readme.split("**The Stable-Baselines3 peer.**")[1].split("**Value clipping, an ablation.**")
    reports = (ROOT / "benchmark" / "results" / "mujoco.md").read_text()  # its curve table too
    for text, name in ((peer, "mujoco_sb3.md"), (ablation, "mujoco_no_clip_vloss.md")):
        md = (ROOT / "benchmark" / "results" / name).read_text()
        assert rows(text) and rows(text) == rows(md.split("## Beside ours")[1].split("## ")[0]), name
        reports += md
    reports += (ROOT / "benchmark" / "results" / "mujoco_sb3_no_clip_vloss.md").read_text()  # quoted, not copied
    prose = "\n".join(line for line in peer.splitlines() + ablation.splitlines() if not line.startswith("|"))
    score = r"(?<![\d.])-?\d+\.\d(?![.\d])"  # 84.7, not a version (2.9.2) or γ (0.99)
    figures = set(re.findall(score, prose))  # every score it quotes is in a report
    assert figures and figures <= set(re.findall(score, reports)), figures - set(re.findall(score, reports))


def test_the_readme_table1_section_quotes_table1_md():
    """The README's Table 1 at 1M: its table is table1.md's, and every normalized score and run count its
    prose quotes is in table1.md's 1M section."""
    readme = (ROOT / "README.md").read_text().split("### Table 1 (the surrogate objectives)")[1].split("\n### ")[0]
    md = (ROOT / "benchmark" / "results" / "table1.md").read_text()
    one_m = md.split("## 1M steps, the paper's budget")[1].split("\n## ")[0]
    beside = one_m.split("### Normalized score beside the paper's Table 1")[1].split("###")[0]
    table = [line for line in readme.splitlines() if line.startswith("|")]
    assert table and table == [line for line in beside.splitlines() if line.startswith("|")]
    prose = "\n".join(line for line in readme.splitlines() if not line.startswith("|"))
    scores = set(re.findall(r"-?\d\.\d\d\b", prose))
    assert scores and all(score in one_m for score in scores), scores - set(re.findall(r"-?\d\.\d\d", one_m))
    counts = re.findall(r"there are (\d+) of its (\d+) runs", prose)
    if counts:  # while runs are missing, the README's count is table1.md's
        [(runs, paper)] = counts
        assert f"**Incomplete: {runs} of the paper's {paper} runs**" in one_m
    else:  # the README calls it complete only when table1.md does
        assert "all 231 runs" in prose and "Complete: 21 runs for each of the 11 settings" in one_m
