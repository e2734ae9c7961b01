"""benchmark/plots.py: the learning curves (their smoothing, one colour per setting whatever is drawn) and
Table 1's plot."""

import sys

import pytest
from test_stats import RANDOM, SCORES, table1
from test_tables import runs
from util import ROOT

sys.path.insert(0, str(ROOT / "benchmark"))
import plots  # noqa: E402
import suites  # noqa: E402


def test_a_runs_curve_is_the_mean_of_the_episodes_in_a_window():
    grid = [100_000.0, 200_000.0, 300_000.0]
    curve = plots.curve([(50_000, 1.0), (90_000, 3.0), (150_000, 5.0)], grid, 60_000, end=250_000)
    assert curve[:2] == pytest.approx([2.0, 5.0])  # at 200k no episode ended since 140k: 5 carried forward
    assert curve[2] != curve[2]  # NaN after the run's last step


def test_each_setting_keeps_its_colour_whatever_else_is_drawn(tmp_path):
    suite = suites.SUITES["table1"]
    colors = plots.setting_colors(suite)
    assert len(set(map(str, colors.values()))) == len(suite.settings) == 11
    history = [(s, float(s)) for s in range(1000, 1_000_001, 1000)]

    def drawn(*settings: str) -> dict:
        made = [
            (exp, "Hopper-v4", 1, 300_000 if exp.endswith("-300k") else 1_000_000, 1.0, history) for exp in settings
        ]
        return plots.plot_curves(suite, runs(made), tmp_path / "curves.png")

    alone = drawn("klpen_fixed_10")
    many = drawn("cpi", "clip0.2", "klpen_fixed_10", "klpen_fixed_10-300k", "not_a_setting")
    assert alone["klpen_fixed_10"] == many["klpen_fixed_10"] == (colors["klpen_fixed_10"], "-")
    assert many["klpen_fixed_10-300k"] == (colors["klpen_fixed_10"], "--")  # a reduced budget: dashed
    assert many["cpi"][0] == colors["cpi"] != many["clip0.2"][0] == colors["clip0.2"]
    assert many["not_a_setting"][0] == "grey"
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plots.plot_curves(suite, runs([("cpi", "Hopper-v4", 1, 100, 1.0)]), tmp_path / "none.png") == {}
    assert not (tmp_path / "none.png").exists()


def test_table1_plot(tmp_path):
    plots.plot_table1(table1(SCORES, RANDOM), tmp_path / "table1.png")
    assert (tmp_path / "table1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_atari_curves_show_the_seeds_range_and_the_papers_final_score(tmp_path, monkeypatch):
    drawn = {"plot": [], "fill_between": []}  # the data handed to the axes, by method

    def recording(method):
        original = getattr(plots.plt.Axes, method)

        def record(ax, *args, **kwargs):
            drawn[method].append(args)
            return original(ax, *args, **kwargs)

        return record

    for method in drawn:
        monkeypatch.setattr(plots.plt.Axes, method, recording(method))
    # Three seeds of Breakout 10 apart: their range is ±10 around the mean (their std would be ±8.2).
    steps = range(100_000, 10_000_001, 100_000)
    made = [
        ("ppo_shared_backbone", "BreakoutNoFrameskip-v4", seed, 10_000_000, 1.0, [(s, 10.0 * seed) for s in steps])
        for seed in (1, 2, 3)
    ]
    history = [(s, 5.0) for s in steps if s <= 2_000_000]
    made.append(("ppo_shared_backbone-2M-gymobs", "BreakoutNoFrameskip-v4", 1, 2_000_000, 1.0, history))
    lines = plots.plot_curves(suites.SUITES["atari3"], runs(made), tmp_path / "atari3.png")
    color = plots.setting_colors(suites.SUITES["atari3"])["ppo_shared_backbone"]
    assert lines["ppo_shared_backbone"] == (color, "-")
    assert lines["ppo_shared_backbone-2M-gymobs"] == (color, "-.")  # a variant of the 2M runs: dash-dotted
    assert lines["paper PPO, 10M (Table 6)"] == ("k", ":")
    (_, mean), _, (_, paper, _) = drawn["plot"]  # the 10M seeds' mean, the 2M run, the paper's line
    (_, low, high), _ = drawn["fill_between"]
    assert list(mean) == [20.0] * 100 and (list(low), list(high)) == ([10.0] * 100, [30.0] * 100)
    assert paper == [274.8, 274.8]  # Table 6's PPO figure for Breakout
