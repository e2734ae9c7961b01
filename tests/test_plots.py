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
    # The window is (x - window, x]: an episode that ended 60k before 100k is out of it.
    assert plots.curve([(40_000, 1.0), (100_000, 3.0)], [100_000], 60_000).tolist() == [3.0]


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


def recorded_calls(monkeypatch, *methods: str) -> dict[str, list]:
    """The arguments handed to the axes' `methods`, call by call (the figure is drawn as usual)."""
    drawn = {method: [] for method in methods}

    def recording(method):
        original = getattr(plots.plt.Axes, method)

        def record(ax, *args, **kwargs):
            drawn[method].append(args)
            return original(ax, *args, **kwargs)

        return record

    for method in methods:
        monkeypatch.setattr(plots.plt.Axes, method, recording(method))
    return drawn


def test_table1_plot_draws_our_scores_and_intervals_beside_the_papers(tmp_path, monkeypatch):
    """SCORES by hand. Hopper (random 0, best clip0.2's mean 40): cpi 0.25, 0.5; clip0.2 0.75, 1.25. Swimmer
    (random −100, best cpi's −40, so ÷ 60): cpi 50/60, 70/60; clip0.2 20/60, 40/60. Means: cpi 0.6875, clip0.2
    0.75. With two seeds per environment a stratum's resampled mean is its lower seed's with probability 1/4
    > 2.5%, so cpi's interval runs from both environments' lower seeds, (0.25 + 50/60) / 2, to both higher
    ones, (0.5 + 70/60) / 2. The other nine settings were not run; the paper's bars are Table 1's."""
    drawn = recorded_calls(monkeypatch, "bar", "errorbar")
    plots.plot_table1(table1(SCORES, RANDOM), tmp_path / "table1.png")
    assert (tmp_path / "table1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (_, ours, _), (_, paper, _) = drawn["bar"]
    slugs = [setting.slug for setting in suites.SUITES["table1"].settings]
    assert ours[slugs.index("cpi")] == pytest.approx(0.6875) and ours[slugs.index("clip0.2")] == pytest.approx(0.75)
    assert sum(value == value for value in ours) == 2  # NaN (no bar) for the settings not run
    assert paper[:3] == [-0.39, 0.76, 0.82]  # L^CPI, ε = 0.1, ε = 0.2
    [(xs, values, (below, above))] = drawn["errorbar"]
    cpi = list(values).index(pytest.approx(0.6875))
    low, high = (0.25 + 50 / 60) / 2, (0.5 + 70 / 60) / 2
    assert (values[cpi] - below[cpi], values[cpi] + above[cpi]) == (pytest.approx(low), pytest.approx(high))


def test_atari_curves_show_the_seeds_range_and_the_papers_final_score(tmp_path, monkeypatch):
    drawn = recorded_calls(monkeypatch, "plot", "fill_between")
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
