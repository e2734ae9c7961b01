"""benchmark/tables.py: the markdown tables, cell by cell, from made-up runs."""

import sys

import pandas as pd
from test_stats import RANDOM, SCORES, table1
from util import ROOT

sys.path.insert(0, str(ROOT / "benchmark"))
import suites  # noqa: E402
import tables  # noqa: E402


def runs(rows: list[tuple], complete: bool = True) -> pd.DataFrame:
    """(setting, env_id, seed, budget, final_return[, history]) -> a table of runs as record.py reads them."""
    out = []
    for setting, env_id, seed, budget, score, *history in rows:
        out.append(
            {"setting": setting, "env_id": env_id, "seed": seed, "budget": budget, "final_return": score}
            | {"total_timesteps": budget, "complete": complete, "history": history[0] if history else []}
        )
    return pd.DataFrame(out)


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split("|")]


def test_scores_table_beside_the_papers_figures():
    used = runs([("ppo_continuous", "Hopper-v4", s, 1_000_000, 0.0 if s <= 5 else 100.0) for s in range(1, 11)])
    used = pd.concat([used, runs([("ppo_continuous-300k", "Hopper-v4", 1, 300_000, 5.0)])])
    header, _, full, reduced = tables.scores_table(suites.SUITES["mujoco"], used)
    assert cells(header)[4:] == [
        "ours (last 100 episodes)",
        "95% CI of the mean (≥ 5 seeds)",
        "paper Fig. 3 (PPO, plot reading)",
        "baselines ppo2 at 1M",
    ]
    # Five 0s and five 100s: the interval of test_stats.test_interval_of_a_mean_and_of_a_difference.
    assert cells(full)[:6] == ["Hopper-v4", "ppo_continuous", "1M", "10", "50.0 ± 50.0", "[20.0, 80.0]"]
    assert cells(full)[6:] == ["~2300", "2316.2"]
    assert cells(reduced)[:6] == ["Hopper-v4", "ppo_continuous-300k", "300k (reduced; paper 1M)", "1 (paper 3)"] + [
        "5.0",
        "—",
    ]


def test_peer_table_sets_the_peer_beside_ours_with_the_interval_of_the_difference():
    """SB3: five 0s and five 100s; ours: 50 on every seed. The difference's interval is the SB3 mean's, [20, 80],
    less 50 (see test_stats); an incomplete run of ours is not a score, nor one at another budget."""
    peer = runs([("sb3_ppo", "Swimmer-v4", s, 1_000_000, 0.0 if s <= 5 else 100.0) for s in range(10, 0, -1)])
    peer = pd.concat([peer, runs([("sb3_ppo", "Hopper-v4", 1, 1_000_000, 2000.0)])])
    ours = runs([("ppo_continuous", "Swimmer-v4", s, 1_000_000, 50.0) for s in range(1, 11)])
    ours = pd.concat([ours, runs([("ppo_continuous", "Swimmer-v4", 11, 1_000_000, 5.0)], complete=False)])
    ours = pd.concat([ours, runs([("ppo_continuous-300k", "Swimmer-v4", 12, 300_000, 7.0)])])  # another budget's
    lines = tables.peer_table(suites.SUITES["mujoco_sb3"], peer, ours)
    assert lines[0] == "## Beside ours"
    swimmer, hopper = lines[-3:-1]
    assert cells(swimmer)[:5] == ["Swimmer-v4", "1M", "50.0 ± 50.0 (10)", "50.0 ± 0.0 (10)", "[-30.0, 30.0]"]
    assert cells(swimmer)[5:] == [" / ".join(["0.0"] * 5 + ["100.0"] * 5), " / ".join(["50.0"] * 10)]
    assert cells(hopper) == ["Hopper-v4", "1M", "2000.0 (1)", "no run of ours", "", "", ""]


def test_curve_points_average_the_last_episodes_by_each_point():
    # Seed 1: returns 1, 2, 3 end at steps 50, 100, 250; seed 2: 10 at 150. With the last 2 episodes:
    # at 100: seed 1 → mean(1, 2) = 1.5, seed 2 has none yet → 1.5; at 200: (1.5 + 10) / 2 = 5.75;
    # at 300: seed 1 → mean(2, 3) = 2.5 → (2.5 + 10) / 2 = 6.25.
    # Seed 3 was recorded before episodes were kept: it has no curve, and the runs column says 2 of 3.
    used = runs(
        [
            ("s", "Pong", 1, 300, 0.0, [(50, 1.0), (100, 2.0), (250, 3.0)]),
            ("s", "Pong", 2, 300, 0.0, [(150, 10.0)]),
            ("s", "Pong", 3, 300, 0.0, []),
        ]
    )
    lines = tables.curve_points(used, 100, last=2)
    assert "| s | Pong | 2 of 3 | 1.5 | 5.8 | 6.2 |" in lines, lines  # 5.75 and 6.25 print rounded half to even
    assert tables.curve_points(used[used["seed"] == 3], 100) == [], "no curve kept: no heading either"


def test_curve_points_leave_out_a_run_after_the_step_it_reached():
    # Seed 2 is under way at step 150: at 100 the mean is (1 + 10) / 2; at 200 and 300 seed 1's alone (its last
    # return), not seed 2's 10 carried past where it stopped (before: 6.5 at 200 and 300).
    used = runs([("s", "Pong", 1, 300, 0.0, [(50, 1.0), (250, 3.0)]), ("s", "Pong", 2, 300, 0.0, [(60, 10.0)])])
    used.loc[used["seed"] == 2, ["total_timesteps", "complete"]] = (150, False)
    assert "| s | Pong | 2 of 2 | 5.5 | 1.0 | 3.0 |" in tables.curve_points(used, 100, last=1)


def test_table1_sections_give_the_scores_the_normalized_scores_and_the_ranks():
    [section] = [tables.table1_sections([table1(SCORES, RANDOM)])]
    text = "\n".join(section)
    headings = [line for line in section if line.startswith("#")]
    assert headings == [
        "## 1M steps, the paper's budget",
        "### Scores (mean ± std across seeds, last 100 episodes)",
        "### Normalized score per environment",
        "### Normalized score beside the paper's Table 1 (1M steps)",
        "### Pairs of settings: ours against the paper's order",
    ]
    assert (
        "| cpi | 15.0 ± 5.0 | -40.0 ± 10.0 |" in section
        and "| random policy (100 episodes) | 0.0 | -100.0 |" in section
    )
    assert (
        "| cpi | 0.38 (2) | 1.00 (2) | 0.69 (4) |" in section
        and "| clip0.2 | 1.00 (2) | 0.50 (2) | 0.75 (4) |" in section
    )
    assert "| best setting (= 1) | clip0.2 | cpi |  |" in section
    # The intervals: see test_stats.test_table1_interval_resamples_each_environments_seeds.
    assert "| no clipping or penalty (L^CPI) | cpi | 4 (paper 21) | 0.69 | [0.54, 0.83] | -0.39 | 2 | 2 |" in section
    assert "| clipping, ε = 0.2 | clip0.2 | 4 (paper 21) | 0.75 | [0.54, 0.96] | 0.82 | 1 | 1 |" in section
    assert (
        "**Incomplete: 8 of the paper's 231 runs** (11 settings × 7 environments × 3 seeds); no runs on "
        + (
            "HalfCheetah-v4, InvertedDoublePendulum-v4, InvertedPendulum-v4, Reacher-v4, Walker2d-v4; not run at this "
            "budget: clip0.1, clip0.3, klpen_adaptive_0.003,"
        )
        in text
    )


def test_coverage_of_a_table1_with_every_setting_but_not_every_environment():
    """Every setting run, on two of the seven environments, one seed: nothing is said of a best among fewer
    settings, which is not the case here."""
    suite = suites.SUITES["table1"]
    t = table1({s.slug: {"Hopper-v4": [1.0], "Swimmer-v4": [2.0]} for s in suite.settings})
    assert tables.coverage_note(t) == (
        "**Incomplete: 22 of the paper's 231 runs** (11 settings × 7 environments × 3 seeds); no runs on "
        "HalfCheetah-v4, InvertedDoublePendulum-v4, InvertedPendulum-v4, Reacher-v4, Walker2d-v4. The tables below "
        "give each setting's runs: these figures will move as runs are added."
    )


def test_pairs_of_settings_against_the_papers_order():
    """Three settings, the paper's order clip0.2 (0.82) > clip0.1 (0.76) > cpi (-0.39). Ours (normalized, best
    mean 100): clip0.2 0.5 and 0.5, clip0.1 1 and 1, cpi 0 and 0.2: clip0.1 above clip0.2 (out of the paper's
    order, beyond the noise: every sample gives 0.5); cpi's two seeds make its interval [0, 0.2]."""
    t = table1(
        {
            "clip0.2": {"Hopper-v4": [50.0, 50.0]},
            "clip0.1": {"Hopper-v4": [100.0, 100.0]},
            "cpi": {"Hopper-v4": [0.0, 20.0]},
        }
    )
    p = tables.pairs(t)
    assert list(zip(p["higher"], p["lower"], strict=True)) == [
        ("clip0.1", "cpi"),
        ("clip0.2", "cpi"),
        ("clip0.2", "clip0.1"),
    ]
    assert p["paper"].tolist() == [0.76 + 0.39, 0.82 + 0.39, 0.82 - 0.76]
    assert p["ours"].tolist() == [0.9, 0.4, -0.5]
    assert p["interval"].tolist() == [(0.8, 1.0), (0.3, 0.5), (-0.5, -0.5)]
    assert (p["in_order"].tolist(), p["beyond_noise"].tolist()) == ([True, True, False], [True, True, True])
    lines = tables.pairs_table(t)
    assert "| 3 | 2 | 2 | 1 | 1 | 0 | 0 |" in lines
    assert "| clipping, ε = 0.2 | clipping, ε = 0.1 | 0.06 | -0.50 | [-0.50, -0.50] | no | yes |" in lines
    single = table1({"clip0.2": {"Hopper-v4": [50.0]}, "fixed": {"Hopper-v4": [1.0]}})
    assert (
        tables.pairs_table(single)[-1] == "Fewer than two settings have runs here: there is no ordering to compare yet."
    )


def test_atari_tables_give_both_of_the_papers_metrics_per_seed_and_beside_the_references():
    """Seeds 1-3 at 10M, one 2M run; each run's episodes are its whole training (Table 2's first metric: their
    mean), its score the mean of its last 100 (Table 6)."""
    steps = range(10_000, 1_000_001, 10_000)  # 100 episodes a run: the score is the mean of all of them
    made = [("ppo_shared_backbone", "BreakoutNoFrameskip-v4", s, 10_000_000, 100.0 * s) for s in (2, 3, 1)]
    made = [(*row, [(x, 50.0 * row[2]) for x in steps] + [(2_000_000, 100.0 * row[2])]) for row in made]
    # The 2M run comes first, as report.py sorts the runs (budget ascending): the paper's budget is still shown first.
    made.insert(
        0, ("ppo_shared_backbone-2M", "BreakoutNoFrameskip-v4", 1, 2_000_000, 23.0, [(5_000, 3.0), (9_000, 5.0)])
    )
    lines = tables.atari_tables(suites.SUITES["atari3"], runs(made))
    full, reduced = "\n".join(lines).split("## 2M steps, reduced (paper 10M)")
    assert lines[0] == "## 10M steps, the paper's budget"
    [last, whole] = [
        [cells(line) for line in part.splitlines() if line.startswith("| Breakout")]
        for part in full.split("Mean return of all episodes of training")
    ]
    # Last 100 episodes: 100, 200, 300 in the order of the seeds (mean 200, population std 81.6), beside the
    # paper's and the peers'.
    assert last == [
        ["BreakoutNoFrameskip-v4", "ppo_shared_backbone", "3", "100.0 / 200.0 / 300.0", "200.0 ± 81.6"]
        + ["274.8", "303", "456.4", "414.66 ± 28.09", "406.57 ± 31.55"]
    ]
    # All of training: seed s has 100 episodes of 50 s and one of 100 s: (5000 s + 100 s) / 101 = 50.495 s.
    assert whole == [["BreakoutNoFrameskip-v4", "ppo_shared_backbone", "3", "50.5 / 101.0 / 151.5", "101.0 ± 41.2"]]
    assert "| BreakoutNoFrameskip-v4 | ppo_shared_backbone-2M | 1 (paper 3) | 23.0 | 23.0 | 274.8 |" in reduced
    assert "| BreakoutNoFrameskip-v4 | ppo_shared_backbone-2M | 1 (paper 3) | 4.0 | 4.0 |" in reduced


def test_a_tie_is_not_in_the_papers_order_and_an_interval_touching_0_is_noise():
    """The paper has clip0.2 (0.82) above cpi (-0.39). Level with it (both 1 on every seed) is not in the paper's
    order. Normalized by clip0.2's 100: clip0.2 1 and 1, cpi 1 and 0: the difference resamples to 0, 0.5 or 1,
    an interval [0, 1] that does not leave out 0."""
    level = tables.pairs(table1({"clip0.2": {"Hopper-v4": [50.0, 50.0]}, "cpi": {"Hopper-v4": [50.0, 50.0]}}))
    assert (level["ours"].tolist(), level["in_order"].tolist()) == ([0.0], [False])
    p = tables.pairs(table1({"clip0.2": {"Hopper-v4": [100.0, 100.0]}, "cpi": {"Hopper-v4": [100.0, 0.0]}}))
    assert (p["interval"].tolist(), p["in_order"].tolist(), p["beyond_noise"].tolist()) == (
        [(0.0, 1.0)],
        [True],
        [False],
    )
