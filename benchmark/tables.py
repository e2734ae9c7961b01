"""The report's markdown, <suite>.md: numbers only (what they mean is written by a person, in the notes)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from stats import Table1, interval, ranks
from suites import Suite, budget_label, paper_columns

GROUP = ["budget", "setting", "env_id"]  # one line of a figure: a setting on an environment at a budget


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def mean_std(values) -> str:
    """'mean ± std' across seeds (population std); a single seed has no ±."""
    values = [v for v in values if not math.isnan(v)]
    if len(values) < 2:
        return f"{values[0]:.1f}" if values else "—"
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}"


def each(values) -> str:
    """Every run's score, in the order given."""
    return " / ".join("—" if math.isnan(v) else f"{v:.1f}" for v in values)


def ci_cell(ci: tuple[float, float] | None, digits: int = 2) -> str:
    return "—" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def runs_cell(n: int, expected: int, of: str = "paper") -> str:
    """How many runs or seeds, and the paper's (or the suite's) number where we have fewer."""
    return str(n) if n >= expected else f"{n} ({of} {expected})"


def scores_table(suite: Suite, used: pd.DataFrame, last: int = 100) -> list[str]:
    """One row per (setting, environment): our score beside the paper's and baselines' figures."""
    full_budget = budget_label(suite.total_timesteps)
    of = "paper" if paper_columns(suite.name, "") else "suite"  # classic control: no paper figure, the suite's
    rows = []
    for (budget, setting, env_id), runs in used.groupby(GROUP, sort=False):
        steps = budget_label(budget) + ("" if budget == suite.total_timesteps else f" (reduced; {of} {full_budget})")
        scores = runs["final_return"].tolist()
        cells = [
            runs_cell(len(runs), len(suite.seeds), of),
            mean_std(scores),
            ci_cell(interval([scores], min_size=5), 1),
        ]
        rows.append([env_id, setting, steps, *cells, *paper_columns(suite.name, env_id).values()])
    header = ["environment", "setting", "steps", "seeds", f"{suite.who} (last {last} episodes)"]
    header += ["95% CI of the mean (≥ 5 seeds)", *paper_columns(suite.name, "")]
    return markdown_table(header, rows)


def atari_tables(suite: Suite, used: pd.DataFrame, last: int = 100) -> list[str]:
    """Per game, each seed's and the mean ± std of the paper's two Atari metrics: the mean return of the last 100
    episodes (Table 6) beside the paper's PPO, A2C, ACER, CleanRL's and baselines' ppo2, and the mean return over all of
    training (Table 2's first, which favours fast learning). A section per budget, the paper's first."""
    header = ["game", "setting", "seeds", "each seed (1, 2, …)", "mean ± std"]
    lines = []
    budgets = sorted(used.groupby("budget", sort=False), key=lambda item: item[0] != suite.total_timesteps)
    for budget, runs in budgets:
        final, whole = [], []
        for (_, setting, env_id), group in runs.groupby(GROUP, sort=False):
            group = group.sort_values("seed")
            training = [np.mean([v for _, v in h]) if h else math.nan for h in group["history"]]
            cells = [env_id, setting, runs_cell(len(group), len(suite.seeds))]
            scores = [each(group["final_return"]), mean_std(group["final_return"])]
            final.append([*cells, *scores, *paper_columns(suite.name, env_id).values()])
            whole.append([*cells, each(training), mean_std(training)])
        full = budget == suite.total_timesteps
        title = "the paper's budget" if full else f"reduced (paper {budget_label(suite.total_timesteps)})"
        lines += [
            f"## {budget_label(budget)} steps, {title}",
            "",
            f"Mean return of the last {last} episodes (Table 6):",
        ]
        lines += ["", *markdown_table([*header, *paper_columns(suite.name, "")], final), ""]
        lines += ["Mean return of all episodes of training (Table 2's first metric):", ""]
        lines += markdown_table(header, whole) + [""]
    return lines


def peer_table(suite: Suite, used: pd.DataFrame, ours: pd.DataFrame) -> list[str]:
    """A peer's or an ablation's runs beside ours (suite.beside's record), per environment: each side's mean ± std,
    the interval of the difference of the means (two samples, not pairs: the same seed gives two implementations
    the same draws only until their updates differ) and every run's score, seed 1 first."""
    rows = []
    for (budget, _, env_id), runs in used.groupby(GROUP, sort=False):
        peer = runs.sort_values("seed")["final_return"].tolist()
        same = ours[ours["complete"] & (ours["env_id"] == env_id) & (ours["budget"] == budget)]
        mine = same.sort_values("seed")["final_return"].tolist()
        sides = [f"{mean_std(x)} ({len(x)})" for x in (peer, mine)]
        if not mine:
            rows.append([env_id, budget_label(budget), sides[0], "no run of ours", "", "", ""])
            continue
        ci = ci_cell(interval([peer], [mine], min_size=5), 1)
        rows.append([env_id, budget_label(budget), *sides, ci, each(peer), each(mine)])
    who = suite.who
    header = ["environment", "steps", f"{who} (runs)", "ours (runs)", f"{who} − ours: 95% CI"]
    return [
        "## Beside ours",
        "",
        f"Ours: the complete runs of the `{suite.beside}` suite, from {suite.beside}.csv. The same seed number "
        "gives two runs the same random draws at most until their updates differ (another library draws "
        "differently from the start), so the runs compare as two samples: the "
        "interval is a percentile bootstrap of the difference of the two means, each side's seeds resampled "
        "on their own (from 5 seeds a side).",
        "",
        *markdown_table([*header, f"{who}, each run", "ours, each run"], rows),
        "",
    ]


def curve_points(used: pd.DataFrame, every: int | None, last: int = 20) -> list[str]:
    """The learning curve at every `every` steps (None: an eighth of the budget): the mean return of the last
    `last` episodes that ended by then, averaged over the runs that have any and have reached that step (a run under
    way stops where it stands); and how many runs have their episodes."""
    kept = used[used["history"].map(len) > 0]
    if kept.empty:
        return []  # no run with its episodes kept: no curve, and no heading either
    counts = used.groupby(GROUP).size()
    lines = [f"## Learning curve: mean return of the last {last} episodes that ended by each step", ""]
    for (budget, setting, env_id), runs in kept.groupby(GROUP, sort=False):
        step = every or budget // 8
        points = range(step, int(runs["total_timesteps"].max()) + 1, step)
        cells = []
        for x in points:
            reached = zip(runs["history"], runs["total_timesteps"], strict=True)
            means = [np.mean([v for s, v in h if s <= x][-last:]) for h, end in reached if h[0][0] <= x <= end]
            cells.append(f"{np.mean(means):.1f}" if means else "–")
        row = [setting, env_id, f"{len(runs)} of {counts[budget, setting, env_id]}", *cells]
        lines += markdown_table(["setting", "env", "runs", *(f"{x:,}" for x in points)], [row]) + [""]
    return lines


def table1_sections(tables: list[Table1], last: int = 100) -> list[str]:
    """Table 1 at each budget (a reduced one a separate, labelled section): what is missing, the scores, the
    normalized score per environment, beside the paper's, and every pair."""
    lines: list[str] = []
    for t in tables:
        paper_budget = budget_label(t.suite.total_timesteps)
        if t.budget == t.suite.total_timesteps:
            lines += [f"## {paper_budget} steps, the paper's budget", ""]
        else:
            lines += [
                f"## {budget_label(t.budget)} steps: a reduced budget (the paper's is {paper_budget}), "
                "a separate experiment",
                "",
                f"These runs are normalized among themselves only, never with the {paper_budget} runs.",
                "",
            ]
        lines += [coverage_note(t), "", f"### Scores (mean ± std across seeds, last {last} episodes)", ""]
        scores = t.runs.groupby(["setting", "env_id"])["final_return"].apply(list)
        rows = [[exp, *(mean_std(scores.get((exp, e), [])) for e in t.envs)] for exp in t.exps]
        rows.append(["random policy (100 episodes)", *(f"{t.random[e]:.1f}" for e in t.envs)])
        lines += markdown_table(["setting", *t.envs], rows) + [""]
        lines += per_env_table(t) + [""] + averaged_table(t) + [""] + pairs_table(t) + [""]
    return lines


def coverage_note(t: Table1) -> str:
    """Whether this budget has the paper's 231 runs, and if not what is missing."""
    n_settings = len(t.suite.settings)
    per_setting = f"{len(t.suite.env_ids)} environments × {len(t.suite.seeds)} seeds"
    if t.complete:
        return f"Complete: {t.expected} runs for each of the {n_settings} settings ({per_setting}), as in the paper."
    envs = [e for e in t.suite.env_ids if e not in t.envs]
    settings = [s.slug for s in t.missing_settings()]
    return (
        f"**Incomplete: {t.total} of the paper's {n_settings * t.expected} runs** ({n_settings} settings × {per_setting})"
        + (f"; no runs on {', '.join(envs)}" if envs else "")
        + (f"; not run at this budget: {', '.join(settings)}" if settings else "")
        + ". The tables below give each setting's runs"
        + (
            f"; on each environment the 1 is the best of the settings run there, not of all {n_settings}"
            if settings
            else ""
        )
        + ": these figures will move as runs are added."
    )


def per_env_table(t: Table1) -> list[str]:
    rows = []
    for exp in t.exps:
        cells = [f"{t.on(exp, env):.2f} ({t.n(exp, env)})" if t.n(exp, env) else "—" for env in t.envs]
        rows.append([exp, *cells, f"{t.score(exp):.2f} ({t.n(exp)})"])
    rows.append(["best setting (= 1)", *(t.best_on(env) for env in t.envs), ""])
    return [
        "### Normalized score per environment",
        "",
        "Each cell is the mean over that environment's seeds of the runs' normalized scores (0 = a uniformly "
        "random policy, from random_policy.csv; 1 = the best setting's mean over its seeds on that environment, "
        "named in the last row), with the number of runs in brackets; the last column is the mean over all the "
        "setting's runs, Table 1's figure.",
        "",
        *markdown_table(["setting", *t.envs, "all runs"], rows),
    ]


def averaged_table(t: Table1) -> list[str]:
    ranked = t.ranked()
    ours = ranks({exp: t.score(exp) for exp in ranked})
    paper = ranks({exp: t.paper(exp) for exp in ranked})
    rows = []
    for exp in t.exps:
        paper_score = "—" if t.paper(exp) is None else f"{t.paper(exp):.2f}"
        cells = [runs_cell(t.n(exp), t.expected), f"{t.score(exp):.2f}", ci_cell(t.interval(exp)), paper_score]
        rows.append([t.label(exp), exp, *cells, str(ours.get(exp, "—")), str(paper.get(exp, "—"))])
    header = ["setting", "exp name", "runs", "ours", "ours: 95% interval", "paper, Table 1", "rank: ours"]
    return [
        f"### Normalized score beside the paper's Table 1 ({budget_label(t.budget)} steps"
        + ("" if t.budget == t.suite.total_timesteps else f"; the paper's at {budget_label(t.suite.total_timesteps)}")
        + ")",
        "",
        f"A setting's figure is the mean of its runs' normalized scores (the paper: {len(t.suite.env_ids)} "
        f"environments × {len(t.suite.seeds)} seeds = {t.expected} runs); the ranks are among the "
        f"{len(ranked)} setting{'' if len(ranked) == 1 else 's'} ranked here. The interval is a 95% percentile "
        "bootstrap of our figure: on each environment the setting's seeds resampled with replacement (10,000 "
        "times), the normalization held fixed; none while an environment has a single seed. With 3 seeds per "
        "environment a bootstrap is narrow: its spread is the seeds' own (divided by n, not n - 1: √(2/3) of the "
        "usual standard error), and three seeds can miss a rare outcome, so read an interval as the least the seed "
        "noise could be.",
        "",
        *markdown_table([*header, "rank: paper"], rows),
    ]


def pairs(t: Table1) -> pd.DataFrame:
    """Every pair of the settings ranked here, the paper's higher first (the suite's order where it has them level):
    the two differences, our interval, whether ours is in the paper's order (None where the paper has them level)
    and whether the interval leaves out 0 (None without an interval)."""
    rows = []
    for a, b in itertools.combinations(t.ranked(), 2):
        high, low = (b, a) if t.paper(b) > t.paper(a) else (a, b)
        ours, ci = t.score(high) - t.score(low), t.interval(high, low)
        in_order = None if t.paper(high) == t.paper(low) else bool(ours > 0)
        beyond_noise = None if ci is None else bool(ci[0] > 0 or ci[1] < 0)
        rows.append((high, low, t.paper(high) - t.paper(low), ours, ci, in_order, beyond_noise))
    return pd.DataFrame(rows, columns=["higher", "lower", "paper", "ours", "interval", "in_order", "beyond_noise"])


def pairs_table(t: Table1) -> list[str]:
    """The pairs (see pairs): how many are in the paper's order and beyond the noise, then one row per pair."""
    lines = ["### Pairs of settings: ours against the paper's order", ""]
    if len(t.ranked()) < 2:
        return lines + ["Fewer than two settings have runs here: there is no ordering to compare yet."]
    if t.budget != t.suite.total_timesteps:
        paper_budget = budget_label(t.suite.total_timesteps)
        lines += [f"The paper's figures are at {paper_budget} steps, ours here at {budget_label(t.budget)}.", ""]
    lines += [
        "For each pair, the paper's higher setting first: the difference of the two figures in the paper and in "
        "ours, the 95% interval of ours (both settings resampled as above, each on its own), whether ours is in "
        "the paper's order (ours > 0; none where the paper scores the two equal) and whether the interval "
        "leaves out 0 (beyond the seeds' noise).",
        "",
    ]
    p = pairs(t)
    kept, out = p[p["in_order"].eq(True)], p[p["in_order"].eq(False)]
    beyond = [int(x["beyond_noise"].eq(True).sum()) for x in (kept, out)]
    counts = [len(p), len(kept), beyond[0], len(out), beyond[1], p["in_order"].isna().sum(), p["interval"].isna().sum()]
    header = ["pairs", "in the paper's order", "of which beyond the noise", "out of it", "of which beyond the noise"]
    lines += markdown_table([*header, "paper level", "no interval"], [[str(c) for c in counts]]) + [""]
    yes_no = {True: "yes", False: "no", None: "—"}
    rows = [
        [t.label(r.higher), t.label(r.lower), f"{r.paper:.2f}", f"{r.ours:.2f}", ci_cell(r.interval)]
        + [yes_no[r.in_order], yes_no[r.beyond_noise]]
        for r in p.itertuples()
    ]
    header = ["paper's higher", "paper's lower", "paper", "ours", "ours: 95% interval", "in the paper's order"]
    return lines + markdown_table([*header, "beyond the noise"], rows)
