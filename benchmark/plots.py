"""The report's figures: learning curves (one panel per environment, one line per setting, mean ± std across
seeds, as the paper's Figure 3) and Table 1's normalized scores beside the paper's, with matplotlib.

Each setting of a suite has one colour in every plot of the suite, whatever else is drawn (setting_colors);
a reduced budget of it is dashed, a variant of that (an exp name with a further suffix) dash-dotted.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from stats import Table1
from suites import TABLE6, Suite, budget_label, is_atari, split_exp_name

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PALETTE = [*plt.cm.tab10.colors, "black"]  # 11 colours: Table 1's 11 settings


def setting_colors(suite: Suite) -> dict[str, object]:
    """A fixed colour per setting slug of the suite, by its place in the suite."""
    return {s.slug: PALETTE[i % len(PALETTE)] for i, s in enumerate(suite.settings)}


def run_id(run) -> str:
    """A run as a PNG's metadata names it."""
    return f"{run.setting}/{run.env_id}/{run.seed}/{run.budget}"


def curve(episodes: list[tuple[int, float]], grid, window: float, end: float = math.inf) -> np.ndarray:
    """A run's smoothed learning curve on `grid`: at each x, the mean return of the episodes that ended in
    (x - window, x]; where no episode ended there, the previous value; NaN before the first episode and
    after `end`, the last step the run reached."""
    steps, values = np.array(episodes, dtype=float).T
    windows = [(steps > x - window) & (steps <= x) for x in grid]
    means = pd.Series([values[inside].mean() if inside.any() else np.nan for inside in windows]).ffill()
    return np.where(np.asarray(grid) > end, np.nan, means)


def plot_curves(suite: Suite, used: pd.DataFrame, path: Path) -> dict[str, tuple]:
    """One panel per environment, one line per setting and budget: mean ± std across seeds (Atari: the mean and
    the seeds' range, and the paper's final PPO score) of the runs whose episodes are kept (a run's curve at x:
    its episodes that ended in the last 4% of the budget before x). Returns each line's (colour, line style) by
    exp name, empty when no run has its episodes. The PNG's metadata names the runs it shows."""
    used = used[used["history"].map(len) > 0]
    if used.empty:
        return {}
    colors = setting_colors(suite)
    atari = is_atari(suite)  # the seeds' range (3 seeds: a std says little), the paper's score
    envs = list(dict.fromkeys(used["env_id"]))
    cols = min(len(envs), 7 if len(envs) > 16 else 4)
    rows = math.ceil(len(envs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    lines = {}
    for ax, env_id in zip(axes.flat, envs, strict=False):
        seeds = []
        for (budget, setting), runs in used[used["env_id"] == env_id].groupby(["budget", "setting"], sort=False):
            grid = np.linspace(0, runs["total_timesteps"].max(), 101)[1:]
            # A row per run: pandas leaves out a run's NaN before its first episode and after its last step.
            curves = pd.DataFrame([curve(r.history, grid, budget / 25, r.total_timesteps) for r in runs.itertuples()])
            mean, std = curves.mean(), curves.std(ddof=0)
            low, high = (curves.min(), curves.max()) if atari else (mean - std, mean + std)
            slug = split_exp_name(setting, suite)
            color = colors[slug.slug] if slug else "grey"
            # The paper's budget solid, a reduced one dashed, a variant of it run before a fix (-gymobs) dash-dotted.
            suffix = setting.removeprefix(slug.slug if slug else setting).removeprefix(f"-{budget_label(budget)}")
            style = "-." if suffix else "-" if budget == suite.total_timesteps else "--"
            (lines[setting],) = ax.plot(grid, mean, color=color, linestyle=style, label=setting)
            ax.fill_between(grid, low, high, color=color, alpha=0.15)
            seeds.append(len(runs))
        if atari and env_id in TABLE6:  # the paper's final PPO score (Table 6, at 10M steps)
            (lines["paper PPO, 10M (Table 6)"],) = ax.plot([0, grid[-1]], [TABLE6[env_id][2]] * 2, "k:")
        n = f"{min(seeds)}" if min(seeds) == max(seeds) else f"{min(seeds)}–{max(seeds)}"
        ax.set_title(f"{env_id} ({n} seed{'s' if max(seeds) > 1 else ''})", fontsize=10)
        ax.set(xlabel="environment steps", ylabel="episodic return")
    spare = list(axes.flat)[len(envs) :]
    for ax in spare:
        ax.axis("off")
    legend_ax = spare[0] if spare else axes.flat[0]
    columns = 2 if len(lines) > 12 else 1  # table1's 11 settings at two budgets fit the spare panel in two
    legend_ax.legend(
        lines.values(), lines.keys(), loc="center" if spare else "best", fontsize=8 if columns == 1 else 7, ncol=columns
    )
    fig.suptitle(f"{suite.name}: mean {'and range' if atari else '± std'} across seeds", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Runs": " ".join(run_id(r) for r in used.itertuples())})
    plt.close(fig)
    return {setting: (line.get_color(), line.get_linestyle()) for setting, line in lines.items()}


def plot_table1(t: Table1, path: Path) -> None:
    """Grouped bars of the settings' normalized scores, ours beside the paper's Table 1, in the paper's order;
    each of our bars says how many runs it is the mean of, with its 95% interval where it has one."""
    settings = list(t.suite.settings)
    exp_of = {t.setting(exp): exp for exp in t.exps}
    x, width = np.arange(len(settings)), 0.4
    ours = [t.score(exp_of[s]) if s in exp_of else math.nan for s in settings]
    paper = [math.nan if s.paper_score is None else s.paper_score for s in settings]
    intervals = {s: t.interval(exp_of[s]) for s in settings if s in exp_of}
    fig, ax = plt.subplots(figsize=(14, 5))
    ax.bar(x - width / 2, ours, width, color="tab:blue", label=f"ours, {budget_label(t.budget)} steps")
    with_ci = [(xi - width / 2, v, *ci) for xi, s, v in zip(x, settings, ours, strict=True) if (ci := intervals.get(s))]
    if with_ci:
        xs, values, lows, highs = np.array(with_ci).T
        style = dict(fmt="none", ecolor="black", elinewidth=0.8, capsize=3)
        ax.errorbar(xs, values, [values - lows, highs - values], **style, label="ours: 95% bootstrap interval")
    paper_budget = budget_label(t.suite.total_timesteps)
    ax.bar(x + width / 2, paper, width, color="tab:gray", label=f"paper, Table 1 ({paper_budget} steps)")
    for xi, s, value in zip(x, settings, ours, strict=True):
        if s not in exp_of:
            ax.text(xi - width / 2, 0.02, "not run", rotation=90, ha="center", va="bottom", fontsize=7)
            continue
        low, high = intervals[s] or (value, value)
        text = f"{value:.2f}\n{t.n(exp_of[s])} run{'s' if t.n(exp_of[s]) != 1 else ''}"
        label(ax, text, xi - width / 2, high if value >= 0 else low, "black")
    for xi, value in zip(x, paper, strict=True):
        if not math.isnan(value):
            label(ax, f"{value:.2f}", xi + width / 2, value, "dimgray")
    ax.axhline(0, color="black", linewidth=0.8)
    names = ["\n".join(textwrap.fill(part, 15) for part in s.label.split(", ")) for s in settings]
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("normalized score\n(random policy = 0, best setting = 1)")
    ax.margins(y=0.15)
    coverage = (
        f"ours: {t.expected} runs per setting, as in the paper"
        if t.complete
        else f"ours: {t.total} of the paper's {len(settings) * t.expected} runs; each environment's 1 is the best "
        "of the settings run there (incomplete: see table1.md)"
    )
    title = f"Table 1's normalized score at {budget_label(t.budget)} steps, ours beside the paper's\n{coverage}"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Runs": " ".join(run_id(r) for r in t.runs.itertuples())})
    plt.close(fig)


def label(ax, text: str, x: float, y: float, color: str) -> None:
    """A bar's figure at the end of it (or of its interval): above a positive bar, below a negative one."""
    above = y >= 0
    ax.annotate(text, (x, y), xytext=(0, 2 if above else -2), textcoords="offset points", ha="center",
                va="bottom" if above else "top", fontsize=7, color=color)  # fmt: skip
