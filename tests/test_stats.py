"""benchmark/stats.py: the bootstrap behind every interval, and Table 1's normalized score, on hand-computed
examples."""

import sys

import pandas as pd
import pytest
from util import ROOT

sys.path.insert(0, str(ROOT / "benchmark"))
import stats  # noqa: E402
import suites  # noqa: E402
from record import ReportError  # noqa: E402

# Hand-computed example of Table 1's normalized score. Two environments, two settings, two seeds.
#   Hopper:  random 0.   cpi runs 10, 20 (mean 15); clip0.2 runs 30, 50 (mean 40) -> best 40.
#            cpi: 10/40 = 0.25, 20/40 = 0.5;        clip0.2: 30/40 = 0.75, 50/40 = 1.25
#   Swimmer: random -100. cpi runs -50, -30 (mean -40); clip0.2 -80, -60 (mean -70) -> best -40, range 60.
#            cpi: 50/60 = 0.8333, 70/60 = 1.1667;   clip0.2: 20/60 = 0.3333, 40/60 = 0.6667
#   cpi = (0.25 + 0.5 + 0.8333 + 1.1667) / 4 = 0.6875;  clip0.2 = (0.75 + 1.25 + 0.3333 + 0.6667) / 4 = 0.75
SCORES = {
    "cpi": {"Hopper-v4": [10.0, 20.0], "Swimmer-v4": [-50.0, -30.0]},
    "clip0.2": {"Hopper-v4": [30.0, 50.0], "Swimmer-v4": [-80.0, -60.0]},
}
RANDOM = {"Hopper-v4": 0.0, "Swimmer-v4": -100.0}


def runs(scores: dict, budget: int = 1_000_000) -> pd.DataFrame:
    """A table of runs, one per score, ordered by setting, environment, seed."""
    rows = [
        {"setting": exp, "env_id": env, "seed": seed, "budget": budget, "final_return": score, "complete": True}
        for exp, per_env in scores.items()
        for env, values in per_env.items()
        for seed, score in enumerate(values, start=1)
    ]
    return pd.DataFrame(rows)


def table1(scores: dict, random: dict | None = None) -> stats.Table1:
    envs = {env for per_env in scores.values() for env in per_env}
    return stats.Table1(suites.SUITES["table1"], 1_000_000, random or dict.fromkeys(envs, 0.0), runs(scores))


def test_interval_of_a_mean_and_of_a_difference():
    """Five 0s and five 100s resample to a mean of 10·k, k ~ Binomial(10, 1/2) the 100s drawn: P(k <= 1) =
    11/1024 ≈ 1.1% and P(k <= 2) = 56/1024 ≈ 5.5%, so the 2.5% quantile is 20 and, by symmetry, the 97.5% one
    80. Minus ten 50s (a constant), the same draws less 50. Too few values in a stratum: no interval."""
    halves = [0.0] * 5 + [100.0] * 5
    assert stats.interval([halves], min_size=5) == (20.0, 80.0)
    assert stats.interval([halves + [float("nan")]], min_size=5) == (20.0, 80.0)  # a run without a score
    assert stats.interval([halves], [[50.0] * 10], min_size=5) == (-30.0, 30.0)
    assert stats.interval([[7.0] * 6]) == (7.0, 7.0)
    assert stats.interval([[1.0, 2.0, 3.0, 4.0]], min_size=5) is None
    assert stats.interval([halves], [[1.0] * 4], min_size=5) is None and stats.interval([]) is None


def test_normalized_score_matches_the_hand_computed_example():
    t = table1(SCORES, RANDOM)
    assert (t.score("cpi"), t.score("clip0.2")) == pytest.approx((0.6875, 0.75))
    assert t.runs["normalized"].tolist() == pytest.approx([0.25, 0.5, 5 / 6, 7 / 6, 0.75, 1.25, 1 / 3, 2 / 3])
    assert (t.on("cpi", "Hopper-v4"), t.n("cpi"), t.n("cpi", "Hopper-v4")) == (0.375, 4, 2)
    assert (t.best_on("Hopper-v4"), t.best_on("Swimmer-v4")) == ("clip0.2", "cpi")
    assert (t.exps, t.envs, t.total, t.expected, t.complete) == (["cpi", "clip0.2"], list(RANDOM), 8, 21, False)
    assert [s.slug for s in t.missing_settings()][:3] == ["clip0.1", "clip0.3", "klpen_adaptive_0.003"]
    with pytest.raises(ReportError, match="random_policy.py --publish --envs Swimmer-v4"):
        table1(SCORES, {"Hopper-v4": 0.0})
    # No setting above random: a scale from 0 to 1 would divide by 0 (or flip, a worse run scoring higher).
    with pytest.raises(ReportError, match="on Swimmer-v4 no setting beats the random policy"):
        table1(SCORES, {"Hopper-v4": 0.0, "Swimmer-v4": 1e6})


def test_table1_is_complete_with_the_papers_runs_each_complete():
    """11 settings × 7 environments × 3 seeds is the paper's Table 1; a run still under way in it
    (--include-incomplete puts it in the tables) leaves it incomplete."""
    suite = suites.SUITES["table1"]
    scores = {s.slug: {env: [1.0, 2.0, 3.0] for env in suite.env_ids} for s in suite.settings}
    full = table1(scores)
    assert (full.total, full.complete) == (231, True)
    full.runs.loc[0, "complete"] = False
    assert not full.complete


def test_table1_interval_resamples_each_environments_seeds():
    """Normalized (random 0, best mean 50 on Hopper): clip0.1 runs 0 and 2, clip0.2 1 and 1, cpi 0.2 and 0.2.
    clip0.1's figure resampled is 0, 1 or 2 with probabilities 1/4, 1/2, 1/4, so its interval is [0, 2] and,
    minus clip0.2's constant 1, [-1, 1]; clip0.2 minus cpi is 0.8 in every sample. A setting with a single
    seed on an environment has no interval. Stratified: the cpi example's interval runs from its lowest mean,
    (0.25 + 0.25 + 5/6 + 5/6) / 4 (each environment's lower run drawn twice, probability 1/16 > 2.5%), to
    its highest."""
    t = table1(
        {
            "clip0.1": {"Hopper-v4": [0.0, 100.0]},
            "clip0.2": {"Hopper-v4": [50.0, 50.0]},
            "cpi": {"Hopper-v4": [10.0, 10.0]},
            "clip0.3": {"Hopper-v4": [50.0, 50.0], "Walker2d-v4": [10.0]},
        }
    )
    assert t.interval("clip0.1") == (0.0, 2.0) and t.interval("clip0.1", "clip0.2") == (-1.0, 1.0)
    assert t.interval("clip0.2", "cpi") == pytest.approx((0.8, 0.8))
    assert t.interval("clip0.3") is None and t.interval("clip0.2", "clip0.3") is None
    low, high = table1(SCORES, RANDOM).interval("cpi")
    assert (low, high) == pytest.approx(((0.5 + 10 / 6) / 4, (1 + 14 / 6) / 4))


def test_table1_at_each_budget_the_papers_first():
    both = pd.concat([runs(SCORES, 300_000), runs(SCORES)]).assign(setting=lambda d: d["setting"])
    both.loc[both["budget"] == 300_000, "setting"] += "-300k"
    tables = stats.table1_at(suites.SUITES["table1"], both, RANDOM)
    assert [(t.budget, t.exps) for t in tables] == [
        (1_000_000, ["cpi", "clip0.2"]),
        (300_000, ["cpi-300k", "clip0.2-300k"]),
    ]
    assert tables[1].label("clip0.2-300k") == "clipping, ε = 0.2" and tables[1].paper("cpi-300k") == -0.39


def test_ranks_share_a_rank_when_equal():
    assert stats.ranks({"a": 0.9, "b": 0.5, "c": 0.5, "d": 0.1}) == {"a": 1, "b": 2, "c": 2, "d": 4}


def test_interval_pools_the_strata_it_resamples():
    """The statistic is the mean of all the values, not the mean of the strata's means: [0, 1] resamples to
    (0, 0), (0, 1) or (1, 1) (probabilities 1/4, 1/2, 1/4) beside four 1s, so the pooled mean is 4/6, 5/6 or 1,
    each with probability at least 1/4 > 2.5% (the mean of the two strata's means would give 0.5 to 1)."""
    assert stats.interval([[0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]) == pytest.approx((2 / 3, 1.0))


def test_a_setting_only_as_good_as_random_gives_no_scale():
    """Swimmer's best setting, cpi, has mean -40; a random policy scoring -40 too leaves nothing to divide by."""
    with pytest.raises(ReportError, match="on Swimmer-v4 no setting beats the random policy"):
        table1(SCORES, {"Hopper-v4": 0.0, "Swimmer-v4": -40.0})


def test_table1_figure_is_the_mean_over_runs_not_over_environments():
    """Random 0. Hopper: cpi 10, 30, 20 (mean 20), clip0.2 40: best 40, cpi 0.25, 0.75, 0.5. Swimmer: both 20,
    best 20, cpi 1. cpi's figure: (0.25 + 0.75 + 0.5 + 1) / 4 = 0.625 (the mean of its two environments' means
    would be (0.5 + 1) / 2 = 0.75)."""
    t = table1(
        {
            "cpi": {"Hopper-v4": [10.0, 30.0, 20.0], "Swimmer-v4": [20.0]},
            "clip0.2": {"Hopper-v4": [40.0], "Swimmer-v4": [20.0]},
        }
    )
    assert t.score("cpi") == pytest.approx(0.625)


def test_table1_is_incomplete_while_a_setting_has_no_runs():
    """Ten of the eleven settings with the paper's 21 runs each: the eleventh, never run, leaves Table 1
    incomplete."""
    suite = suites.SUITES["table1"]
    scores = {s.slug: {env: [1.0, 2.0, 3.0] for env in suite.env_ids} for s in suite.settings[:-1]}
    t = table1(scores)
    assert (t.total, len(t.missing_settings()), t.complete) == (210, 1, False)


def test_table1_at_leaves_out_runs_without_a_score():
    """A run with no episode finished (NaN) is not one of Table 1's runs: not counted at 1M, and a budget whose
    only run has no score has no table (it has no best to normalize by)."""
    nan = float("nan")
    scores = SCORES | {"cpi": SCORES["cpi"] | {"Hopper-v4": [10.0, 20.0, nan]}}  # cpi's seed 3 on Hopper: no score
    used = pd.concat([runs(scores), runs({"cpi": {"Hopper-v4": [nan]}}, 300_000).assign(setting="cpi-300k")])
    tables = stats.table1_at(suites.SUITES["table1"], used, RANDOM)
    assert [(t.budget, t.total) for t in tables] == [(1_000_000, 8)]
