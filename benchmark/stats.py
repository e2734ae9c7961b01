"""The report's statistics: Table 1's normalized score, and the one bootstrap behind every interval it gives:
of a suite's mean over seeds, of a peer's minus ours, of a Table 1 figure (its seeds on each environment
resampled on their own, the normalization held fixed) and of the difference of two."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from record import ReportError
from scipy.stats import bootstrap
from suites import Setting, Suite, split_exp_name


def interval(a: list, b: list = (), name: str = "", min_size: int = 2) -> tuple[float, float] | None:
    """95% percentile bootstrap interval (10,000 resamples) of mean(a) − mean(b), or of mean(a) without b: a and b
    are lists of strata (arrays of values, NaN left out), each resampled with replacement on its own. None when a
    stratum has fewer than `min_size` values. Seeded by `name`: a report gives the same intervals each time."""
    strata = [np.asarray(x, dtype=float) for x in (*a, *b)]
    strata = [x[~np.isnan(x)] for x in strata]
    if not a or min(len(x) for x in strata) < min_size:
        return None

    def statistic(*samples, axis=-1):
        mean_a = np.concatenate(samples[: len(a)], axis=axis).mean(axis=axis)
        return mean_a - np.concatenate(samples[len(a) :], axis=axis).mean(axis=axis) if b else mean_a

    rng = np.random.default_rng(zlib.crc32(name.encode()))  # crc32("") = 0
    ci = bootstrap(strata, statistic, n_resamples=10_000, confidence_level=0.95, method="percentile", rng=rng)
    return float(ci.confidence_interval.low), float(ci.confidence_interval.high)


def normalize(runs: pd.DataFrame, random: dict[str, float]) -> pd.Series:
    """Table 1's normalized score of each run (runs of one budget): per environment, shifted and scaled so
    that a uniformly random policy is 0 and the best setting (the highest mean over its seeds) is 1."""
    missing = sorted(set(runs["env_id"]) - set(random))
    if missing:
        raise ReportError(
            f"no random-policy score for {', '.join(missing)}; measure it with: "
            f"python benchmark/random_policy.py --publish --envs {' '.join(missing)}"
        )
    best = runs.groupby(["env_id", "setting"])["final_return"].mean().groupby("env_id").max()
    beaten = [env for env in best.index if not best[env] > random[env]]  # no scale from 0 to 1 (or NaN)
    if beaten:
        raise ReportError(
            f"on {', '.join(beaten)} no setting beats the random policy, so Table 1's score is undefined there: "
            "run longer, or leave that environment out of the runs (run.py --envs)"
        )
    zero = runs["env_id"].map(random)
    return (runs["final_return"] - zero) / (runs["env_id"].map(best) - zero)


@dataclass
class Table1:
    """Table 1 at one budget, computed as the paper does from the runs there are (complete runs with a
    score, of one budget). Settings are named by exp name (`clip0.1`, or `clip0.1-300k` at a reduced budget)."""

    suite: Suite
    budget: int
    random: dict[str, float]
    runs: pd.DataFrame  # with `normalized`, added here
    exps: list[str] = field(init=False)  # the settings that have runs, in the suite's order
    envs: list[str] = field(init=False)  # the environments that have runs, in the suite's order
    means: pd.DataFrame = field(init=False)  # setting × environment: the mean normalized score over the seeds
    counts: pd.DataFrame = field(init=False)  # setting × environment: how many runs

    def __post_init__(self):
        self.runs = self.runs.assign(normalized=normalize(self.runs, self.random))
        order = {s: i for i, s in enumerate(self.suite.settings)}
        self.exps = sorted(set(self.runs["setting"]), key=lambda e: (order.get(self.setting(e), len(order)), e))
        present = set(self.runs["env_id"])
        self.envs = [e for e in self.suite.env_ids if e in present] + sorted(present - set(self.suite.env_ids))
        by = self.runs.groupby(["setting", "env_id"])["normalized"]
        self.means = by.mean().unstack().reindex(index=self.exps, columns=self.envs)
        self.counts = by.count().unstack(fill_value=0).reindex(index=self.exps, columns=self.envs, fill_value=0)

    def setting(self, exp: str) -> Setting | None:
        return split_exp_name(exp, self.suite)

    def label(self, exp: str) -> str:
        """The paper's name of the setting, or its exp name."""
        return getattr(self.setting(exp), "label", "") or exp

    def paper(self, exp: str) -> float | None:
        """The paper's Table 1 figure of the setting, if it has one."""
        return getattr(self.setting(exp), "paper_score", None)

    def score(self, exp: str) -> float:
        """Table 1's figure: the mean over all the setting's runs."""
        return float(self.runs.loc[self.runs["setting"] == exp, "normalized"].mean())

    def n(self, exp: str, env: str | None = None) -> int:
        """How many runs the setting has (on env)."""
        return int(self.counts.loc[exp, env] if env else self.counts.loc[exp].sum())

    def on(self, exp: str, env: str) -> float:
        """The mean over the setting's seeds on env of its runs' normalized scores."""
        return float(self.means.loc[exp, env])

    def strata(self, exp: str) -> list[np.ndarray]:
        """The setting's normalized scores, one array per environment (its seeds), in the suite's order."""
        mine = self.runs[self.runs["setting"] == exp]
        return [mine.loc[mine["env_id"] == env, "normalized"].to_numpy() for env in self.envs if self.n(exp, env)]

    def interval(self, exp: str, minus: str | None = None) -> tuple[float, float] | None:
        """95% interval of the setting's figure, or of its figure minus `minus`'s (see the module's
        docstring); None while a setting has a single seed on an environment."""
        b = self.strata(minus) if minus else []
        return interval(self.strata(exp), b, f"{exp} - {minus}" if minus else exp)

    def best_on(self, env: str) -> str:
        """The setting that is 1 on env: the highest mean score over its seeds."""
        return str(self.means[env].idxmax())

    @property
    def total(self) -> int:
        return len(self.runs)

    @property
    def expected(self) -> int:
        """Runs per setting in the paper: 7 environments × 3 seeds."""
        return len(self.suite.env_ids) * len(self.suite.seeds)

    def missing_settings(self) -> list[Setting]:
        present = {self.setting(exp) for exp in self.exps}
        return [s for s in self.suite.settings if s not in present]

    @property
    def complete(self) -> bool:
        """Every setting has the paper's seeds on every environment, each run complete (--include-incomplete)."""
        counts = self.counts.reindex(columns=list(self.suite.env_ids), fill_value=0)
        enough = not self.missing_settings() and bool((counts >= len(self.suite.seeds)).all(axis=None))
        return enough and bool(self.runs["complete"].all())

    def ranked(self) -> list[str]:
        """The settings an ordering compares: those with runs and a figure in the paper."""
        return [exp for exp in self.exps if self.paper(exp) is not None and not math.isnan(self.score(exp))]


def table1_at(suite: Suite, used: pd.DataFrame, random: dict[str, float]) -> list[Table1]:
    """Table 1 at each budget that has runs: the paper's budget first, then the others, largest first.
    Settings are normalized together only at the same budget."""
    scored = used[used["final_return"].notna()]
    budgets = sorted(set(scored["budget"]), key=lambda b: (b != suite.total_timesteps, -b))
    return [Table1(suite, b, random, scored[scored["budget"] == b]) for b in budgets]


def ranks(values: dict[str, float]) -> dict[str, int]:
    """1 for the highest; equal values share a rank (1, 2, 2, 4)."""
    return pd.Series(values).rank(method="min", ascending=False).astype(int).to_dict()
