"""Read a suite's TensorBoard logs and write its results beside the paper's, into benchmark/results/.

    python benchmark/report.py --suite mujoco
    python benchmark/report.py --suite table1

For a suite S it writes:
- S.csv: one row per run (script, setting, env_id, seed, total_timesteps, final_return, wall_seconds, sps,
  commit, and whether it is complete); final_return is the mean return of the run's last 100 episodes,
  the paper's score;
- S.md: a table of the scores (mean ± std across seeds) next to the paper's and baselines' figures
  (paper.md); for table1, per budget (the paper's first, a reduced one in its own section): what is
  missing, the scores, the normalized score exactly as the paper defines it (see normalized_scores) per
  environment and averaged beside the paper's column, and where our ordering of the settings agrees with
  the paper's and where not (ordering_statement);
- S.png: learning curves, mean ± std across seeds, one panel per environment, as in the paper's Figure 3;
  for table1 they are table1_curves.png, and table1.png is the normalized scores, ours beside the paper's.

A run that was cut short and resumed spans several run folders (each --resume writes a new one that
continues the global step). Its curve is stitched: starting from its final folder, the resume links in
args.json lead back through the earlier folders; from each earlier folder only the episodes up to the step
where the next one resumed are kept (the episodes it logged after its last checkpoint were played again
by the resumed run and are dropped), then the next folder's episodes follow. Its wall time is the sum of
the pieces', and its commit the commits of the pieces (joined by '+' when they differ).

The results folder is the record, the run folders a cache: beside S.csv the report keeps every run's
episodes in S_episodes.csv.gz, and a run recorded there whose folders are not on this machine (a fresh
clone, another session, another cluster) is kept as recorded. So results of several sessions add up, and
`report.py --suite S` with no run folders at all rewrites the tables and curves from benchmark/results/.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import importlib.util
import io
import math
import sys
import time
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repo import REPO, display  # noqa: E402
from run_folders import RunFolder, chain, checkpoint_step, read_scalars, scan  # noqa: E402
from suites import SUITES, Setting, Suite, SuiteName, budget_label, paper_columns, split_exp_name  # noqa: E402

RESULTS_DIR = REPO / "benchmark" / "results"
CSV_COLUMNS = (
    "script",
    "setting",
    "env_id",
    "seed",
    "total_timesteps",
    "final_return",
    "wall_seconds",
    "sps",
    "commit",
    "complete",
    "budget",
    "episodes",
    "pieces",
    "machine",
)


@dataclass
class Cli:
    """Write a suite's results (CSV, markdown table, learning curves) into benchmark/results/."""

    suite: SuiteName
    """which suite's runs to read"""
    runs_dir: Path = REPO / "benchmark" / "runs"
    """root of the run folders; the suite's are in <runs-dir>/<suite>"""
    results_dir: Path = RESULTS_DIR
    """where <suite>.csv, <suite>.md and <suite>.png are written"""
    random_csv: Path = RESULTS_DIR / "random_policy.csv"
    """random-policy scores (made by benchmark/random_policy.py), the 0 of Table 1's normalized score"""
    last_episodes: int = 100
    """a run's score is the mean return of its last this many episodes (the paper: 100)"""
    include_incomplete: bool = False
    """also use runs that are not complete in the tables and curves (they are always in the CSV)"""
    points_every: int | None = None
    """tabulate the learning curve every this many steps: the mean return of the last 20 episodes that ended
    by each point (mean over seeds); default an eighth of each run's budget (250,000 for a 2M-step run), 0
    for none; table1 has no curve table"""


class ReportError(Exception):
    """A problem the user can fix; main() prints it as one line and exits 2."""


# ---------------------------------------------------------------------------------------------
# Reading runs
# ---------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """One run (possibly stitched from several folders), as the CSV and the tables see it."""

    script: str
    setting: str
    env_id: str
    seed: int
    budget: int
    total_timesteps: int
    final_return: float
    wall_seconds: float
    sps: float
    commit: str
    complete: bool
    pieces: int
    machine: str
    episodes: list[tuple[int, float]] = field(default_factory=list, repr=False)
    recorded: bool = False  # read from benchmark/results/, its run folders not on this machine
    episode_count: int = 0  # the CSV's count, for a recorded run whose episodes were not kept

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.setting, self.env_id, self.seed, self.budget)

    def row(self) -> dict:
        values = dataclasses.asdict(self) | {"episodes": len(self.episodes) or self.episode_count}
        return {key: fmt_csv(values[key]) for key in CSV_COLUMNS}


def fmt_csv(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}" if abs(value) < 1e6 else f"{value:.1f}"
    return str(value)


@dataclass
class Events:
    """What the report needs from one folder's TensorBoard events."""

    episodes: list[tuple[int, float]]  # (global step at the episode's end, return)
    update_steps: list[int]  # steps at which charts/SPS was logged: one per finished iteration
    wall: tuple[float, float] | None  # first and last event wall times


def read_events(folder: Path) -> Events:
    scalars = read_scalars(folder)
    walls = [e.wall_time for events in scalars.values() for e in events]
    return Events(
        episodes=[(e.step, e.value) for e in scalars.get("charts/episodic_return", [])],
        update_steps=[e.step for e in scalars.get("charts/SPS", [])],
        wall=(min(walls), max(walls)) if walls else None,
    )


def start_step(folder: RunFolder, events: Events) -> int:
    """The global step a folder's process started from (0, or the step of the checkpoint it resumed)."""
    if folder.summary is not None and "start_step" in folder.summary:
        return int(folder.summary["start_step"])
    if folder.resumed_from is None:
        return 0
    if events.update_steps:
        return min(events.update_steps) - folder.batch_size
    return checkpoint_step(folder.path.parent / folder.resumed_from / "model.pt") or 0


def stitch(pieces: list[tuple[int, list[tuple[int, float]]]]) -> list[tuple[int, float]]:
    """The episodes of a resumed run. `pieces` are (start step, episodes) of its folders, oldest first:
    a folder's episodes count up to the step where the next folder resumed, the rest were played again."""
    episodes: list[tuple[int, float]] = []
    for i, (_, piece_episodes) in enumerate(pieces):
        cut = pieces[i + 1][0] if i + 1 < len(pieces) else math.inf
        episodes += [(step, value) for step, value in piece_episodes if step <= cut]
    return episodes


def final_score(episodes: list[tuple[int, float]], last: int = 100) -> float:
    """The paper's score of a run: the mean total reward of its last 100 episodes."""
    return float(np.mean([value for _, value in episodes[-last:]])) if episodes else math.nan


def read_run(folders: list[RunFolder], budget: int, suite: Suite, last: int) -> RunResult:
    """One run from its folders (all of one key and budget, oldest first)."""
    complete = [f for f in folders if f.is_complete(budget)]
    final = complete[-1] if complete else folders[-1]
    pieces = chain(folders, final)
    events = [read_events(f.path) for f in pieces]
    episodes = stitch([(start_step(f, e), e.episodes) for f, e in zip(pieces, events, strict=True)])
    steps = final.summary["global_step"] if final.summary else max(events[-1].update_steps, default=0)
    wall = sum(piece_wall(f, e) for f, e in zip(pieces, events, strict=True))
    setting = split_exp_name(final.exp_name, suite)
    return RunResult(
        script=setting.script if setting else script_of(final),
        setting=final.exp_name,
        env_id=final.env_id,
        seed=final.seed,
        budget=budget,
        total_timesteps=int(steps),
        final_return=final_score(episodes, last),
        wall_seconds=wall,
        sps=steps / wall if wall > 0 else math.nan,
        commit=joined(f.meta.get("commit", "") if f.meta else "" for f in pieces),
        complete=bool(complete) or steps > budget - final.batch_size,
        pieces=len(pieces),
        machine=joined(f.meta.get("machine", "") if f.meta else "" for f in pieces),
        episodes=episodes,
    )


def piece_wall(folder: RunFolder, events: Events) -> float:
    if folder.summary is not None and "wall_seconds" in folder.summary:
        return float(folder.summary["wall_seconds"])
    return events.wall[1] - events.wall[0] if events.wall else 0.0


def script_of(folder: RunFolder) -> str:
    """The script named in meta.json's command, for a run that is not one of the suite's settings."""
    command = (folder.meta or {}).get("command", "")
    return next((word for word in command.split() if word.endswith(".py")), "")


def joined(values) -> str:
    """Distinct non-empty values in order, joined by '+'."""
    unique: list[str] = []
    for value in values:
        if value and value not in unique:
            unique.append(value)
    return "+".join(unique)


def read_suite(runs_dir: Path, suite: Suite, last: int) -> list[RunResult]:
    """Every run in <runs_dir>, ordered like the suite (setting, environment, seed)."""
    results = []
    for folders in scan(runs_dir).values():
        by_budget: dict[int, list[RunFolder]] = {}
        for folder in folders:
            by_budget.setdefault(folder.budget or 0, []).append(folder)
        results += [read_run(group, budget, suite, last) for budget, group in by_budget.items()]
    return sorted(results, key=lambda r: sort_key(r, suite))


def sort_key(result: RunResult, suite: Suite) -> tuple:
    setting = split_exp_name(result.setting, suite)
    s = suite.settings.index(setting) if setting else len(suite.settings)
    e = suite.env_ids.index(result.env_id) if result.env_id in suite.env_ids else len(suite.env_ids)
    return (result.budget, s, result.setting, e, result.env_id, result.seed)


def read_recorded(results_dir: Path, suite: Suite, last: int) -> list[RunResult]:
    """The runs an earlier report recorded in <suite>.csv, with their episodes from <suite>_episodes.csv.gz
    where it has them (a run recorded before episodes were kept has its CSV row only, and no curve)."""
    path = results_dir / f"{suite.name}.csv"
    if not path.is_file():
        return []
    episodes = read_episodes(results_dir / f"{suite.name}_episodes.csv.gz")
    results = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            result = RunResult(
                script=row["script"],
                setting=row["setting"],
                env_id=row["env_id"],
                seed=int(row["seed"]),
                budget=int(row["budget"]),
                total_timesteps=int(row["total_timesteps"]),
                final_return=float(row["final_return"]),
                wall_seconds=float(row["wall_seconds"]),
                sps=float(row["sps"]),
                commit=row["commit"],
                complete=row["complete"] == "True",
                pieces=int(row["pieces"]),
                machine=row["machine"],
                recorded=True,
                episode_count=int(row["episodes"]),
            )
            result.episodes = episodes.get(result.key, [])
            if result.episodes:
                result.final_return = final_score(result.episodes, last)
            results.append(result)
    return results


EPISODE_COLUMNS = ("setting", "env_id", "seed", "budget", "step", "return")


def read_episodes(path: Path) -> dict[tuple[str, str, int, int], list[tuple[int, float]]]:
    episodes: dict[tuple[str, str, int, int], list[tuple[int, float]]] = {}
    if path.is_file():
        with gzip.open(path, "rt", newline="") as f:
            for row in csv.DictReader(f):
                key = (row["setting"], row["env_id"], int(row["seed"]), int(row["budget"]))
                episodes.setdefault(key, []).append((int(row["step"]), float(row["return"])))
    return episodes


def write_episodes(results: list[RunResult], path: Path) -> None:
    """Every run's episodes (global step at the end, return), gzipped with no timestamp, so that the same
    results give the same bytes and git sees no change."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as packed,
        io.TextIOWrapper(packed, encoding="utf-8", newline="") as f,
    ):
        writer = csv.writer(f)
        writer.writerow(EPISODE_COLUMNS)
        for r in results:
            writer.writerows((*r.key, step, f"{value:.6g}") for step, value in r.episodes)


# ---------------------------------------------------------------------------------------------
# Table 1's normalized score
# ---------------------------------------------------------------------------------------------


def normalize(scores: dict[str, dict[str, list[float]]], random: dict[str, float]) -> dict[str, dict[str, list[float]]]:
    """Every run's normalized score, in the shape of `scores`.

    scores[setting][env] are the final scores of the setting's runs on env (one per seed). Per
    environment, scores are shifted and scaled so that a random policy is 0 and the best setting (the
    highest mean over its seeds, among the settings given) is 1."""
    envs = sorted({env for per_env in scores.values() for env, runs in per_env.items() if runs})
    missing = [env for env in envs if env not in random]
    if missing:
        raise ReportError(
            f"no random-policy score for {', '.join(missing)}; measure it with: "
            f"python benchmark/random_policy.py --envs {' '.join(missing)}"
        )
    best = {env: max(np.mean(per_env[env]) for per_env in scores.values() if per_env.get(env)) for env in envs}
    return {
        setting: {env: [(s - random[env]) / (best[env] - random[env]) for s in runs] for env, runs in per_env.items()}
        for setting, per_env in scores.items()
    }


def normalized_scores(scores: dict[str, dict[str, list[float]]], random: dict[str, float]) -> dict[str, float]:
    """The paper's Table 1 score of each setting: the mean of its runs' normalized scores (see normalize),
    over all its runs (7 environments × 3 seeds = 21 runs in the paper)."""
    result = {}
    for setting, per_env in normalize(scores, random).items():
        runs = [x for values in per_env.values() for x in values]
        result[setting] = float(np.mean(runs)) if runs else math.nan
    return result


def read_random(path: Path) -> dict[str, float]:
    """env_id -> mean return of a uniformly random policy, from random_policy.csv."""
    if not path.is_file():
        raise ReportError(f"{path} does not exist; make it with: python benchmark/random_policy.py")
    with open(path, newline="") as f:
        return {row["env_id"]: float(row["mean_return"]) for row in csv.DictReader(f)}


@dataclass
class Table1:
    """Table 1 at one budget, computed as the paper does from the runs there are. Settings are named by
    exp name (`clip0.1`, or `clip0.1-300k` at a reduced budget)."""

    suite: Suite
    budget: int
    random: dict[str, float]
    scores: dict[str, dict[str, list[float]]]  # exp name -> env id -> its runs' scores, one per seed
    run_ids: list[str]  # the runs behind it (as run_id names them), which the plot records
    normalized: dict[str, dict[str, list[float]]] = field(init=False)  # the same runs, normalized
    envs: list[str] = field(init=False)  # the environments that have runs, in the suite's order
    _draws: dict[str, np.ndarray | None] = field(init=False, default_factory=dict)  # see draws

    def __post_init__(self):
        self.normalized = normalize(self.scores, self.random)
        present = {env for per_env in self.scores.values() for env, runs in per_env.items() if runs}
        self.envs = [e for e in self.suite.env_ids if e in present] + sorted(present - set(self.suite.env_ids))

    @property
    def exps(self) -> list[str]:
        """The settings that have runs, in the suite's order."""
        return [exp for exp, per_env in self.normalized.items() if any(per_env.values())]

    def setting(self, exp: str) -> Setting | None:
        return split_exp_name(exp, self.suite)

    def label(self, exp: str) -> str:
        setting = self.setting(exp)
        return setting.label if setting and setting.label else exp

    def paper(self, exp: str) -> float | None:
        setting = self.setting(exp)
        return setting.paper_score if setting else None

    def score(self, exp: str) -> float:
        """Table 1's figure: the mean over all the setting's runs."""
        runs = [x for values in self.normalized[exp].values() for x in values]
        return float(np.mean(runs)) if runs else math.nan

    def runs(self, exp: str, env: str | None = None) -> int:
        per_env = self.normalized.get(exp, {})
        return len(per_env.get(env, [])) if env else sum(len(v) for v in per_env.values())

    def on(self, exp: str, env: str) -> float | None:
        """The mean over the setting's seeds on env of its runs' normalized scores (None without runs)."""
        runs = self.normalized.get(exp, {}).get(env, [])
        return float(np.mean(runs)) if runs else None

    def draws(self, exp: str, resamples: int = 10_000) -> np.ndarray | None:
        """The setting's figure recomputed on `resamples` bootstrap samples: on each environment its seeds are
        resampled with replacement (a stratified bootstrap: every sample keeps the setting's environments and
        runs per environment), the normalization (random policy, best setting) held fixed. None when an
        environment has a single seed, which has no spread to resample. Each setting has its own fixed
        generator, so that the report is the same each time and two settings' draws are independent."""
        if exp not in self._draws:
            per_env = [np.array(runs) for runs in self.normalized.get(exp, {}).values() if runs]
            draws = None
            if per_env and min(len(runs) for runs in per_env) >= 2:
                rng = np.random.default_rng(zlib.crc32(exp.encode()))
                total = sum(rng.choice(runs, (resamples, len(runs))).sum(axis=1) for runs in per_env)
                draws = total / sum(len(runs) for runs in per_env)
            self._draws[exp] = draws
        return self._draws[exp]

    def interval(self, exp: str, minus: str | None = None, level: float = 0.95) -> tuple[float, float] | None:
        """Percentile bootstrap interval of the setting's figure (see draws), or with `minus` of its figure
        minus that setting's; None where a setting has no draws."""
        a, b = self.draws(exp), self.draws(minus) if minus else 0.0
        if a is None or b is None:
            return None
        low, high = np.quantile(a - b, [(1 - level) / 2, (1 + level) / 2])
        return float(low), float(high)

    def best_on(self, env: str) -> str:
        """The setting that is 1 on env: the highest mean score over its seeds."""
        return max((exp for exp in self.exps if self.on(exp, env) is not None), key=lambda exp: self.on(exp, env))

    @property
    def total(self) -> int:
        return sum(self.runs(exp) for exp in self.exps)

    @property
    def expected(self) -> int:
        """Runs per setting in the paper: 7 environments × 3 seeds."""
        return len(self.suite.env_ids) * len(self.suite.seeds)

    def missing_settings(self) -> list[Setting]:
        present = {self.setting(exp) for exp in self.exps}
        return [s for s in self.suite.settings if s not in present]

    @property
    def complete(self) -> bool:
        """Every setting has the paper's seeds on every environment."""
        seeds = len(self.suite.seeds)
        runs = (self.runs(exp, env) >= seeds for exp in self.exps for env in self.suite.env_ids)
        return not self.missing_settings() and all(runs)


def table1_at(suite: Suite, groups: dict, random: dict[str, float]) -> list[Table1]:
    """Table 1 at each budget that has runs: the paper's budget first, then the others, largest first.
    Settings are normalized together only at the same budget."""
    budgets = sorted({b for b, _, _ in groups}, key=lambda b: (b != suite.total_timesteps, -b))
    tables = []
    for budget in budgets:
        scores: dict[str, dict[str, list[float]]] = {}
        ids = []
        for (b, setting, env_id), runs in groups.items():
            if b == budget:
                runs = [r for r in runs if not math.isnan(r.final_return)]
                scores.setdefault(setting, {})[env_id] = [r.final_return for r in runs]
                ids += [run_id(r) for r in runs]
        tables.append(Table1(suite, budget, random, scores, ids))
    return tables


# ---------------------------------------------------------------------------------------------
# Writing the results
# ---------------------------------------------------------------------------------------------


def write_csv(results: list[RunResult], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(r.row() for r in results)


def group(results: list[RunResult]) -> dict[tuple[int, str, str], list[RunResult]]:
    """(budget, setting, env id) -> the runs (one per seed), in the results' order."""
    groups: dict[tuple[int, str, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.budget, r.setting, r.env_id), []).append(r)
    return groups


def mean_std(values: list[float]) -> str:
    """'mean ± std' across seeds (population std); a single seed has no ±."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}"


def bootstrap_ci(values: list[float], minus: list[float] = (), resamples: int = 10_000, level: float = 0.95) -> str:
    """Percentile bootstrap interval of the mean across seeds: the seeds resampled with replacement, from a
    fixed generator so that the report is the same each time it is written. With `minus`, of the difference
    of the two means, each sample resampled on its own. Under 5 seeds in a sample, none: too few values to
    resample."""
    rng = np.random.default_rng(0)
    samples = [np.array([v for v in x if not math.isnan(v)]) for x in ((values, minus) if len(minus) else (values,))]
    if min(len(x) for x in samples) < 5:
        return "—"
    means = [rng.choice(x, (resamples, len(x))).mean(axis=1) for x in samples]
    difference = means[0] - means[1] if len(means) == 2 else means[0]
    low, high = np.quantile(difference, [(1 - level) / 2, (1 + level) / 2])
    return f"[{low:.1f}, {high:.1f}]"


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def scores_table(suite: Suite, groups: dict) -> list[str]:
    """One row per (setting, environment): our score beside the paper's and baselines' figures."""
    rows = []
    for (budget, setting, env_id), runs in groups.items():
        paper = paper_columns(suite.name, env_id)
        cells = [env_id, setting, steps_cell(budget, suite), seeds_cell(runs, suite)]
        scores = [r.final_return for r in runs]
        rows.append(cells + [mean_std(scores), bootstrap_ci(scores)] + list(paper.values()))
    first_env = next(iter(groups), (0, "", ""))[2]
    score = f"{suite.who} (last 100 episodes)"
    header = ["environment", "setting", "steps", "seeds", score, "95% CI of the mean (≥ 5 seeds)"]
    return markdown_table(header + list(paper_columns(suite.name, first_env)), rows)


def peer_table(suite: Suite, groups: dict, ours: list[RunResult]) -> list[str]:
    """A peer's or an ablation's suite (mujoco_sb3, mujoco_no_clip_vloss) beside ours (suite.beside's CSV), per
    environment: each one's mean ± std over its complete runs, a 95% bootstrap interval of the difference of the
    means, and every run's score (seed 1 first). The same seed number gives two runs the same draws at most
    until their updates differ (a peer library draws differently from the start): the runs compare as two
    samples, not in pairs."""
    rows = []
    for (budget, _, env_id), runs in groups.items():
        peer = [r.final_return for r in sorted(runs, key=lambda r: r.seed)]
        same = [r for r in ours if r.complete and (r.env_id, r.budget) == (env_id, budget)]
        mine = [r.final_return for r in sorted(same, key=lambda r: r.seed)]
        if not mine:
            rows.append([env_id, budget_label(budget), f"{mean_std(peer)} ({len(peer)})", "no run of ours"] + [""] * 3)
            continue
        cells = [f"{mean_std(x)} ({len(x)})" for x in (peer, mine)] + [bootstrap_ci(peer, mine)]
        rows.append(
            [env_id, budget_label(budget), *cells, *(" / ".join(f"{x:.1f}" for x in xs) for xs in (peer, mine))]
        )
    who = suite.who
    header = ["environment", "steps", f"{who} (runs)", "ours (runs)", f"{who} − ours: 95% CI"]
    header += [f"{who}, each run", "ours, each run"]
    return [
        "## Beside ours",
        "",
        f"Ours: the complete runs of the `{suite.beside}` suite, from {suite.beside}.csv. The same seed number "
        "gives two runs the same random draws at most until their updates differ (another library draws "
        "differently from the start), so the runs compare as two samples: the "
        "interval is a percentile bootstrap of the difference of the two means, each side's seeds resampled "
        "on their own (from 5 seeds a side).",
        "",
        *markdown_table(header, rows),
        "",
    ]


def steps_cell(budget: int, suite: Suite) -> str:
    label = budget_label(budget)
    return (
        label if budget == suite.total_timesteps else f"{label} (reduced; paper {budget_label(suite.total_timesteps)})"
    )


def seeds_cell(runs: list[RunResult], suite: Suite) -> str:
    n = len(runs)
    return str(n) if n >= len(suite.seeds) else f"{n} (paper {len(suite.seeds)})"


def table1_sections(tables: list[Table1]) -> list[str]:
    """Table 1 at each budget (the paper's first; a reduced one is a separate, labelled section): what is
    missing, the scores, the normalized score per environment, the normalized score beside the paper's
    column, and how our ordering of the settings compares with the paper's."""
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
        lines += [coverage_note(t), ""]
        lines += ["### Scores (mean ± std across seeds, last 100 episodes)", ""]
        rows = [[exp, *(mean_std(t.scores[exp].get(e, [])) for e in t.envs)] for exp in t.exps]
        random_row = (f"{t.random[e]:.1f}" if e in t.random else "—" for e in t.envs)
        rows.append(["random policy (100 episodes)", *random_row])
        lines += markdown_table(["setting", *t.envs], rows) + [""]
        lines += per_env_table(t) + [""]
        lines += averaged_table(t) + [""]
        lines += ordering_statement(t) + [""]
    return lines


def short_env(env_id: str) -> str:
    """Hopper-v4 -> Hopper, for the sentences."""
    return env_id.split("-v")[0]


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def coverage_note(t: Table1) -> str:
    """Whether this budget has the paper's 231 runs, and if not what that means for the figures."""
    suite = t.suite
    n_settings, n_envs, n_seeds = len(suite.settings), len(suite.env_ids), len(suite.seeds)
    if t.complete:
        return (
            f"Complete: {t.expected} runs for each of the {n_settings} settings ({n_envs} environments × "
            f"{n_seeds} seeds), as in the paper."
        )
    parts = [
        f"**Incomplete: {t.total} of the paper's {n_settings * t.expected} runs** ({n_settings} settings × "
        f"{n_envs} environments × {n_seeds} seeds)."
    ]
    missing_envs = [short_env(e) for e in suite.env_ids if e not in t.envs]
    if missing_envs:
        parts.append(
            f"Environments: {len(t.envs)} of {n_envs} ({', '.join(map(short_env, t.envs))}); "
            f"no runs on {', '.join(missing_envs)}."
        )
    missing = t.missing_settings()
    if missing:
        parts.append(
            f"Settings: {len(t.exps)} of {n_settings}; not run at this budget: {'; '.join(s.label for s in missing)}."
        )
    short = [exp for exp in t.exps if t.runs(exp) < t.expected]
    if short:
        counts = {t.runs(exp) for exp in short}
        if len(counts) == 1 and len(short) == len(t.exps):
            parts.append(f"Each setting here has {plural(counts.pop(), 'run')}, not the paper's {t.expected}.")
        else:
            runs = ", ".join(f"{exp} {t.runs(exp)}" for exp in short)
            parts.append(f"Settings with fewer runs than the paper's {t.expected}: {runs}.")
    per_env = {env: sum(t.on(exp, env) is not None for exp in t.exps) for env in t.envs}
    where = (
        ""
        if len(set(per_env.values())) == 1
        else " (" + ", ".join(f"{short_env(env)}: {n}" for env, n in per_env.items()) + " settings)"
    )
    parts.append(
        f"So on each environment the 1 is the best of the settings run there{where}, not of all "
        f"{n_settings} as in the paper, and a setting's figure is the mean over the runs it has: these "
        "figures will move as runs are added."
    )
    return " ".join(parts)


def per_env_table(t: Table1) -> list[str]:
    lines = [
        "### Normalized score per environment",
        "",
        "Each cell is the mean over that environment's seeds of the runs' normalized scores (0 = a uniformly "
        "random policy, from random_policy.csv; 1 = the best setting's mean over its seeds on that environment, "
        "named in the last row), with the number of runs in brackets; the last column is the mean over all the "
        "setting's runs, Table 1's figure.",
        "",
    ]
    rows = []
    for exp in t.exps:
        cells = [f"{t.on(exp, env):.2f} ({t.runs(exp, env)})" if t.runs(exp, env) else "—" for env in t.envs]
        rows.append([exp, *cells, f"{t.score(exp):.2f} ({t.runs(exp)})"])
    rows.append(["best setting (= 1)", *(t.best_on(env) for env in t.envs), ""])
    return lines + markdown_table(["setting", *t.envs, "all runs"], rows)


def ranks(values: dict[str, float]) -> dict[str, int]:
    """1 for the highest; equal values share a rank (1, 2, 2, 4)."""
    return {key: 1 + sum(other > value for other in values.values()) for key, value in values.items()}


def averaged_table(t: Table1) -> list[str]:
    ranked = ranked_exps(t)
    ours = ranks({exp: t.score(exp) for exp in ranked})
    paper = ranks({exp: t.paper(exp) for exp in ranked})
    lines = [
        f"### Normalized score beside the paper's Table 1 ({budget_label(t.suite.total_timesteps)} steps)",
        "",
        f"A setting's figure is the mean of its runs' normalized scores (the paper: {len(t.suite.env_ids)} "
        f"environments × {len(t.suite.seeds)} seeds = {t.expected} runs); the ranks are among the "
        f"{plural(len(ranked), 'setting')} ranked here. {INTERVAL_NOTE}",
        "",
    ]
    rows = []
    for exp in t.exps:
        runs = t.runs(exp)
        paper_score = t.paper(exp)
        rows.append(
            [
                t.label(exp),
                exp,
                str(runs) if runs >= t.expected else f"{runs} (paper {t.expected})",
                f"{t.score(exp):.2f}",
                interval_cell(t.interval(exp)),
                "—" if paper_score is None else f"{paper_score:.2f}",
                str(ours[exp]) if exp in ours else "—",
                str(paper[exp]) if exp in paper else "—",
            ]
        )
    header = [
        "setting",
        "exp name",
        "runs",
        "ours",
        "ours: 95% interval",
        "paper, Table 1",
        "rank: ours",
        "rank: paper",
    ]
    return lines + markdown_table(header, rows)


SINGLE_SEED = "a setting has a single seed on an environment"  # why a setting has no interval (Table1.draws)

INTERVAL_NOTE = (
    "The interval is a 95% percentile bootstrap of our figure: on each environment the setting's seeds "
    "resampled with replacement (10,000 times), the normalization held fixed; none while an environment has a "
    "single seed. With 3 seeds per environment a bootstrap is narrow: its spread is the seeds' own (divided by "
    "n, not n - 1: √(2/3) of the usual standard error), and three seeds can miss a rare outcome, so read an "
    "interval as the least the seed noise could be."
)


def interval_cell(ci: tuple[float, float] | None) -> str:
    return "—" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def gap(t: Table1, a: str, b: str) -> str:
    """Setting a's figure minus setting b's, with the 95% bootstrap interval of the difference (see
    Table1.interval) and whether it is beyond the seeds' noise."""
    ci = t.interval(a, b)
    text = f"difference {t.score(a) - t.score(b):.2f}"
    if ci is None:
        return text + f" (no interval while {SINGLE_SEED})"
    return text + f" (95% interval {interval_cell(ci)}, {'beyond' if beyond_noise(ci) else 'within'} the seeds' noise)"


def beyond_noise(ci: tuple[float, float]) -> bool:
    """The interval of a difference leaves out 0."""
    return ci[0] > 0 or ci[1] < 0


def ranked_exps(t: Table1) -> list[str]:
    """The settings an ordering compares: those with runs and a figure in the paper."""
    return [exp for exp in t.exps if t.paper(exp) is not None and not math.isnan(t.score(exp))]


def versus(t: Table1, a: str, b: str) -> str:
    """Per environment, where setting a is ahead of setting b and where behind (normalized, mean over seeds)."""
    both = [env for env in t.envs if t.on(a, env) is not None and t.on(b, env) is not None]
    both.sort(key=lambda env: t.on(b, env) - t.on(a, env))
    groups: dict[str, list[str]] = {"ahead on": [], "level on": [], "behind on": []}
    for env in both:
        x, y = t.on(a, env), t.on(b, env)
        kind = "level on" if f"{x:.2f}" == f"{y:.2f}" else "ahead on" if x > y else "behind on"
        groups[kind].append(f"{short_env(env)} ({x:.2f} vs {y:.2f})")
    parts = [f"{kind} {join_and(envs)}" for kind, envs in groups.items() if envs]
    for exp, other in ((a, b), (b, a)):
        alone = [short_env(env) for env in t.envs if t.on(exp, env) is not None and t.on(other, env) is None]
        if alone:
            parts.append(f"only {t.label(exp)} has runs on {join_and(alone)}")
    return f"per environment, {t.label(a)} against {t.label(b)}: " + "; ".join(parts or ["no environment in common"])


def join_and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def parameter(label: str) -> str:
    """The hyperparameter part of a setting's label: 'clipping, ε = 0.2' -> 'ε = 0.2'."""
    return label.split(", ", 1)[1] if ", " in label else label


def ordering_statement(t: Table1) -> list[str]:
    """Where our ordering of the settings agrees with the paper's and where it does not, from the figures:
    the best setting, the kinds of objective (each by its best setting), the best setting of each kind, and
    every pair of settings; each difference with the per-environment scores behind it."""
    exps = ranked_exps(t)
    lines = ["### Our ordering against the paper's", ""]
    if len(exps) < 2:
        return lines + ["Fewer than two settings have runs here: there is no ordering to compare yet."]
    paper_budget = budget_label(t.suite.total_timesteps)
    lines += [
        f"Written by report.py from the figures above: our normalized scores at {budget_label(t.budget)} steps "
        f"against the paper's Table 1 ({paper_budget} steps), over the {len(exps)} settings that have runs here.",
        "",
    ]
    ours = {exp: t.score(exp) for exp in exps}
    paper = {exp: t.paper(exp) for exp in exps}
    coverage = {exp: tuple((env, t.runs(exp, env)) for env in t.envs if t.runs(exp, env)) for exp in exps}
    if len(set(coverage.values())) > 1:
        kinds: dict[tuple, list[str]] = {}
        for exp, cover in coverage.items():
            kinds.setdefault(cover, []).append(exp)
        described = "; ".join(f"{', '.join(group)}: {describe_runs(cover)}" for cover, group in kinds.items())
        lines += [
            f"**Caution**: the settings' figures are means over different runs ({described}), so their ranking "
            "is not like for like until every setting has the same environments and seeds; the per-environment "
            "comparisons below are.",
            "",
        ]
    if t.budget != t.suite.total_timesteps:
        lines += [f"The paper's figures are at {paper_budget} steps, ours here at {budget_label(t.budget)}.", ""]
    bullets = [best_setting_bullet(t, exps, ours, paper)]
    bullets += family_bullets(t, exps, ours, paper)
    bullets.append(pairs_bullet(t, exps, ours, paper))
    return lines + [f"- {b}" for b in bullets]


def describe_runs(cover: tuple[tuple[str, int], ...]) -> str:
    seeds = {n for _, n in cover}
    envs = ", ".join(short_env(env) for env, _ in cover)
    if len(seeds) == 1:
        n = seeds.pop()
        return f"{envs} ({plural(n, 'seed')}{' each' if len(cover) > 1 else ''})"
    return ", ".join(f"{short_env(env)} ({plural(n, 'seed')})" for env, n in cover)


def best_setting_bullet(t: Table1, exps: list[str], ours: dict, paper: dict) -> str:
    top_ours, top_paper = max(exps, key=ours.get), max(exps, key=paper.get)
    overall = max((s for s in t.suite.settings if s.paper_score is not None), key=lambda s: s.paper_score)
    note = "" if t.setting(top_paper) == overall else f" ({overall.label}, the paper's best of all, has no runs here)"
    if ours[top_paper] == ours[top_ours]:
        return (
            f"**Agrees**: the best setting is {t.label(top_paper)} in both (ours {ours[top_paper]:.2f}, "
            f"paper {paper[top_paper]:.2f}){note}."
        )
    rank = ranks(ours)[top_paper]
    return (
        f"**Differs**: our best setting is {t.label(top_ours)} ({ours[top_ours]:.2f}; paper {paper[top_ours]:.2f}); "
        f"the paper's, {t.label(top_paper)} (paper {paper[top_paper]:.2f}){note}, is our {ordinal(rank)} "
        f"({ours[top_paper]:.2f}): {gap(t, top_ours, top_paper)}; {versus(t, top_ours, top_paper)}."
    )


def family_bullets(t: Table1, exps: list[str], ours: dict, paper: dict) -> list[str]:
    """The kinds of objective compared by their best setting, as the paper compares them; then, within each
    kind, which hyperparameter is best."""
    families: dict[str, list[str]] = {}
    for exp in exps:
        families.setdefault(t.setting(exp).family or exp, []).append(exp)
    best_ours = {f: max(members, key=ours.get) for f, members in families.items()}
    best_paper = {f: max(members, key=paper.get) for f, members in families.items()}
    bullets = []
    if len(families) > 1:
        paper_order = sorted(families, key=lambda f: -paper[best_paper[f]])
        our_order = sorted(families, key=lambda f: -ours[best_ours[f]])

        def chain(order, best, values):
            parts = []
            for i, f in enumerate(order):
                exp = best[f]
                label = t.label(exp)
                parts.append(f"{f} ({parameter(label) + ', ' if ', ' in label else ''}{values[exp]:.2f})")
                if i + 1 < len(order):
                    parts.append(">" if values[exp] > values[best[order[i + 1]]] else "=")
            return " ".join(parts)

        reversed_pairs, kept = [], []
        for i, upper in enumerate(paper_order):
            for lower in paper_order[i + 1 :]:
                if paper[best_paper[upper]] == paper[best_paper[lower]]:
                    continue
                (kept if ours[best_ours[upper]] > ours[best_ours[lower]] else reversed_pairs).append((upper, lower))
        orders = (
            f"paper {chain(paper_order, best_paper, paper)}; ours {chain(our_order, best_ours, ours)}"
            " (each kind of objective by its best setting, among the settings here)"
        )
        if not reversed_pairs:
            bullets.append(f"**Agrees**: the kinds of objective come in the paper's order: {orders}.")
        else:
            text = f"**Differs**: the kinds of objective: {orders}."
            if kept:
                text += " As in the paper: " + ", ".join(f"{u} above {lo}" for u, lo in kept) + "."
            for upper, lower in reversed_pairs:
                a, b = best_ours[lower], best_ours[upper]
                text += (
                    f" Ours puts {lower} ({parameter(t.label(a))}, {ours[a]:.2f}) "
                    f"{'level with' if ours[a] == ours[b] else 'above'} {upper} ({parameter(t.label(b))}, "
                    f"{ours[b]:.2f}): "
                    f"{gap(t, a, b)}; {versus(t, a, b)}."
                )
            bullets.append(text)
    for f, members in families.items():
        if len(members) < 2:
            continue
        mine, theirs = best_ours[f], best_paper[f]
        if ours[mine] == ours[theirs]:
            bullets.append(
                f"**Agrees**: within {f}, the best is {parameter(t.label(theirs))} in both "
                f"(ours {ours[theirs]:.2f}, paper {paper[theirs]:.2f})."
            )
        else:
            bullets.append(
                f"**Differs**: within {f}, our best is {parameter(t.label(mine))} ({ours[mine]:.2f}; paper "
                f"{paper[mine]:.2f}), the paper's {parameter(t.label(theirs))} (paper {paper[theirs]:.2f}; ours "
                f"{ours[theirs]:.2f}): {gap(t, mine, theirs)}; {versus(t, mine, theirs)}."
            )
    return bullets


def pairs_bullet(t: Table1, exps: list[str], ours: dict, paper: dict, listed: int = 8) -> str:
    """How many pairs of settings are in the paper's order, and how many of them beyond the seeds' noise; when
    few are not, each of them with the per-environment scores behind it."""
    pairs = [(a, b) for i, a in enumerate(exps) for b in exps[i + 1 :] if paper[a] != paper[b]]
    pairs = [(a, b) if paper[a] > paper[b] else (b, a) for a, b in pairs]  # the paper puts a above b
    out = [(a, b) for a, b in pairs if ours[a] <= ours[b]]
    kept = [pair for pair in pairs if pair not in out]
    head = f"{len(kept)} of {len(pairs)} pairs of settings are in the paper's order"
    head += " (pairs the paper scores equal are left out)" if len(pairs) < len(exps) * (len(exps) - 1) // 2 else ""
    in_order = noise_of(t, kept, out_of_order=False)
    if not out:
        return f"**Agrees**: {head}: every one. {in_order}"
    if len(out) <= listed:
        named = "".join(
            f"\n  - {t.label(b)} {'level with' if ours[a] == ours[b] else 'above'} {t.label(a)} (ours "
            f"{ours[b]:.2f} vs {ours[a]:.2f}; paper {paper[b]:.2f} vs {paper[a]:.2f}): {gap(t, b, a)}; {versus(t, b, a)}."
            for a, b in out
        )
        return f"**Differs**: {head}. {in_order} Out of order:{named}"
    ours_rank, paper_rank = ranks(ours), ranks(paper)
    moved = sorted(exps, key=lambda exp: -abs(ours_rank[exp] - paper_rank[exp]))
    moved = [exp for exp in moved if abs(ours_rank[exp] - paper_rank[exp]) >= 3] or moved[:3]
    named = "; ".join(
        f"{t.label(exp)} (ours {ordinal(ours_rank[exp])}, paper {ordinal(paper_rank[exp])})" for exp in moved
    )
    return (
        f"**Differs**: {head}. {in_order} The {len(out)} out of order are in "
        f"the rank columns above; furthest from the paper's rank: {named}. {noise_of(t, out, out_of_order=True)}"
    )


def noise_of(t: Table1, pairs: list[tuple[str, str]], out_of_order: bool) -> str:
    """How many of the pairs (a above b in the paper), all in the paper's order or all out of it, are so
    beyond the seeds' noise: their difference's interval leaves out 0. Those out of order are named."""
    intervals = {(a, b): t.interval(b, a) for a, b in pairs}
    beyond = [(a, b) for (a, b), ci in intervals.items() if ci is not None and beyond_noise(ci)]
    unknown = sum(ci is None for ci in intervals.values())
    where = "out of order" if out_of_order else "in the paper's order"
    count = f"{len(beyond) or 'none'} {'is' if len(beyond) == 1 else 'are'}"
    text = f"Of the {len(pairs)} {where}, {count} {'out of' if out_of_order else 'in'} it beyond the seeds' noise"
    if beyond and out_of_order:
        text += ": " + "; ".join(f"{t.label(b)} above {t.label(a)}, {gap(t, b, a)}" for a, b in beyond)
    if unknown:
        text += f" ({unknown} {'has' if unknown == 1 else 'have'} no interval yet: {SINGLE_SEED})"
    return text + "."


def write_markdown(
    suite: Suite,
    results: list[RunResult],
    used: list[RunResult],
    path: Path,
    cli: Cli,
    notes: list[str] = (),
    tables: list[Table1] = (),
) -> None:
    """<suite>.md; `notes` say where the plots are, `tables` are table1's (see table1_at)."""
    commits = joined(c for r in results for c in r.commit.split("+"))
    machines = joined(m for r in results for m in r.machine.split("+"))
    lines = [
        f"# {suite.name}: {suite.description}",
        "",
        f"Made by `python benchmark/report.py --suite {suite.name}` on {time.strftime('%Y-%m-%d %H:%M')} from "
        f"{len(results)} runs ({sum(r.complete for r in results)} complete"
        + ("; incomplete runs are in the CSV only" if not cli.include_incomplete else "; incomplete runs included")
        + f"): {sources(results, cli.runs_dir / suite.name)}. A run's score is the mean return of its last "
        f"{cli.last_episodes} episodes, as the paper scores; ± is the standard deviation across seeds; the interval "
        "is a 95% percentile bootstrap interval of the mean over seeds (10,000 resamplings of the seeds).",
        "",
        f"Commits: {', '.join(c[:10] for c in commits.split('+')) if commits else 'unknown'}. "
        f"Machines: {machines.replace('+', '; ') or 'unknown'}.",
        "",
    ]
    lines += [" ".join(notes), ""] if notes else []
    groups = group(used)
    if not groups:
        lines += ["No complete runs yet.", ""]
    elif suite.name == "table1":
        lines += table1_sections(list(tables))
    else:
        lines += scores_table(suite, groups) + [""]
    if groups and suite.beside:
        lines += peer_table(suite, groups, read_recorded(cli.results_dir, SUITES[suite.beside], cli.last_episodes))
    if groups and suite.name != "table1" and cli.points_every != 0:
        lines += curve_points(groups, cli.points_every)
    path.write_text("\n".join(lines))


def sources(results: list[RunResult], runs_dir: Path) -> str:
    """Where the runs came from: their folders here, or the record of an earlier report."""
    parts = []
    here = sum(not r.recorded for r in results)
    if here:
        parts.append(f"{here} from their folders in `{display(runs_dir)}`")
    recorded = [r for r in results if r.recorded]
    if recorded:
        parts.append(f"{len(recorded)} as an earlier report recorded them (their folders are not on this machine)")
    bare = [f"{r.env_id} seed {r.seed} ({r.setting})" for r in results if not r.episodes]
    if bare:
        parts.append(f"no learning curve kept for {', '.join(bare)}: recorded before episodes were kept")
    return "; ".join(parts)


def curve_points(groups: dict, every: int | None, last: int = 20) -> list[str]:
    """The learning curve as a table: at every `every` steps (None: an eighth of the budget), the mean return
    of the last `last` episodes that ended by then, averaged over the seeds that have any. Its runs column says
    how many of the group's runs have their episodes kept (a run recorded before they were has no curve)."""
    if not any(r.episodes for runs in groups.values() for r in runs):
        return []  # no run with its episodes kept: no curve, and no heading either
    lines = [f"## Learning curve: mean return of the last {last} episodes that ended by each step", ""]
    for (budget, setting, env_id), group_runs in groups.items():
        runs = [r for r in group_runs if r.episodes]
        if not runs:
            continue
        step = every or budget // 8
        points = range(step, max(r.total_timesteps for r in runs) + 1, step)
        cells = []
        for x in points:
            means = [np.mean([v for s, v in r.episodes if s <= x][-last:]) for r in runs if r.episodes[0][0] <= x]
            cells.append(f"{np.mean(means):.1f}" if means else "–")
        header = ["setting", "env", "runs", *(f"{x:,}" for x in points)]
        lines += markdown_table(header, [[setting, env_id, f"{len(runs)} of {len(group_runs)}", *cells]])
        lines.append("")
    return lines


# ---------------------------------------------------------------------------------------------
# Learning curves
# ---------------------------------------------------------------------------------------------


def curve(episodes: list[tuple[int, float]], grid, window: float, end: float = math.inf) -> np.ndarray:
    """A run's smoothed learning curve on `grid`: at each x, the mean return of the episodes that ended in
    (x - window, x]; where no episode ended there, the previous value; NaN before the first episode and
    after `end`, the last step the run reached."""
    steps = np.array([s for s, _ in episodes], dtype=float)
    values = np.array([v for _, v in episodes], dtype=float)
    out = np.full(len(grid), np.nan)
    for i, x in enumerate(grid):
        inside = (steps > x - window) & (steps <= x)
        out[i] = values[inside].mean() if inside.any() else (out[i - 1] if i else np.nan)
    out[np.asarray(grid) > end] = np.nan
    return out


PNG_RUNS_KEY = "Runs"  # the PNG text field naming the runs a plot shows
PNG_PLOT_KEY = "Plot"  # the PNG text field saying what a plot is, where it is not learning curves
SCORES_PLOT = "table1 normalized scores"


def run_id(result: RunResult) -> str:
    """A run as a PNG's metadata names it."""
    return "/".join(map(str, result.key))


def png_text(path: Path) -> dict[str, str] | None:
    """A PNG's text fields, None when it cannot be read."""
    try:
        from PIL import Image  # matplotlib's own dependency

        with Image.open(path) as image:
            return dict(image.text)
    except Exception:
        return None


def drawn_runs(path: Path) -> set[str] | None:
    """The runs a PNG of this report shows, from its metadata; None when it does not say (drawn before
    PNGs recorded it) or cannot be read."""
    text = (png_text(path) or {}).get(PNG_RUNS_KEY)
    return None if text is None else set(text.split())


def curves_name(suite: Suite) -> str:
    """<suite>.png; for table1, whose table1.png is the normalized-score plot, table1_curves.png."""
    return f"{suite.name}_curves.png" if suite.name == "table1" else f"{suite.name}.png"


@dataclass
class PngTarget:
    """Where a plot of this report goes, and the earlier PNG it keeps, if any (see keep_richer)."""

    path: Path
    kept: Path | None = None
    kept_runs: int = 0  # runs the kept PNG shows (or may show) that this report cannot draw


def keep_richer(png: Path, drawable: set[str], unnamed: set[str]) -> PngTarget:
    """`png`, unless the PNG there shows runs this report cannot draw (not in `drawable`); a PNG that does
    not name its runs may show any of `unnamed`. A report never loses what the results folder shows: that
    PNG is then kept, and the new plot goes beside it, as <name>_partial.png."""
    shown = drawn_runs(png) if png.is_file() else set()
    if shown is None:
        shown = unnamed
    if not shown - drawable:
        return PngTarget(png)
    return PngTarget(png.with_name(f"{png.stem}_partial.png"), png, len(shown - drawable))


def curves_path(suite: Suite, used: list[RunResult], results_dir: Path) -> PngTarget:
    """The learning curves' PNG (curves_name), unless the PNG there shows runs this report cannot draw:
    runs recorded before their episodes were kept (their curves exist only in that PNG; an older PNG that
    does not name its runs may show any of them), or left out by this report's flags."""
    drawable = {run_id(r) for r in used if r.episodes}
    return keep_richer(results_dir / curves_name(suite), drawable, {run_id(r) for r in used if not r.episodes})


def curves_note(curves: PngTarget) -> str:
    """What the markdown and the console say of the learning curves."""
    if curves.kept is None:
        return f"Learning curves: `{curves.path.name}`."
    return (
        f"Learning curves: `{curves.path.name}`, of the runs whose episodes are kept; `{curves.kept.name}`, "
        f"drawn earlier, is kept as it was: it shows {curves.kept_runs} runs that this report cannot redraw "
        "(recorded before their episodes were kept, or left out by this report's flags)."
    )


def move_old_curves(results_dir: Path) -> Path | None:
    """Before table1.png was the normalized-score plot it held table1's learning curves: move such a PNG to
    table1_curves.png, where the curves now go, so that nothing is lost. Returns the new path, if moved."""
    old, new = results_dir / "table1.png", results_dir / curves_name(SUITES["table1"])
    if not old.is_file() or (png_text(old) or {}).get(PNG_PLOT_KEY) == SCORES_PLOT:
        return None
    if new.exists():
        raise ReportError(
            f"{old} holds learning curves (drawn before table1.png became the normalized-score plot), and "
            f"{new} exists too: keep the one you want as {new.name}, rename the other, and report again"
        )
    old.rename(new)
    return new


def plot(suite: Suite, groups: dict, path: Path) -> bool:
    """One panel per environment, one line per setting: mean ± std across seeds. False without matplotlib,
    or when no run has its episodes. The PNG's metadata names the runs it shows (see curves_path)."""
    groups = {k: [r for r in runs if r.episodes] for k, runs in groups.items()}
    groups = {k: runs for k, runs in groups.items() if runs}
    if not groups:
        return False
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(env for _, _, env in groups))
    settings = list(dict.fromkeys((b, s) for b, s, _ in groups))
    cols = min(len(envs), 7 if len(envs) > 16 else 4)
    rows = math.ceil(len(envs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    colors = [*plt.cm.tab10.colors, "black", "grey"]
    lines = {}
    for ax, env_id in zip(axes.flat, envs, strict=False):
        seeds = []
        for (budget, setting, env), runs in groups.items():
            if env != env_id:
                continue
            grid = np.linspace(0, max(r.total_timesteps for r in runs), 101)[1:]
            curves = np.array([curve(r.episodes, grid, budget / 25, r.total_timesteps) for r in runs])
            with warnings.catch_warnings():  # numpy warns of empty slices before a run's first episode
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, std = np.nanmean(curves, axis=0), np.nanstd(curves, axis=0)
            color = colors[settings.index((budget, setting)) % len(colors)]
            (lines[setting],) = ax.plot(grid, mean, color=color, label=setting)
            ax.fill_between(grid, mean - std, mean + std, color=color, alpha=0.15)
            seeds.append(len(runs))
        n = f"{min(seeds)}" if min(seeds) == max(seeds) else f"{min(seeds)}–{max(seeds)}"
        ax.set_title(f"{env_id} ({n} seed{'s' if max(seeds) > 1 else ''})", fontsize=10)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("episodic return")
    spare = list(axes.flat)[len(envs) :]
    for ax in spare:
        ax.axis("off")
    legend_ax = spare[0] if spare else axes.flat[0]
    legend_ax.legend(lines.values(), lines.keys(), loc="center" if spare else "best", fontsize=8)
    fig.suptitle(f"{suite.name}: mean ± std across seeds", fontsize=12)
    fig.tight_layout()
    drawn = " ".join(run_id(r) for runs in groups.values() for r in runs)
    fig.savefig(path, dpi=80, metadata={PNG_RUNS_KEY: drawn})
    plt.close(fig)
    return True


def plot_table1(t: Table1, path: Path) -> bool:
    """A grouped bar chart of the 11 settings' normalized scores, ours beside the paper's Table 1, in the
    paper's order; each of our bars says how many runs it is the mean of, with its 95% bootstrap interval
    where it has one (see Table1.interval). False without matplotlib. The
    PNG's metadata names the runs behind it and marks it as this plot (see move_old_curves)."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import textwrap

    import matplotlib.pyplot as plt

    settings = list(t.suite.settings)
    exp_of = {t.setting(exp): exp for exp in t.exps}
    x = np.arange(len(settings))
    width = 0.4
    ours = [t.score(exp_of[s]) if s in exp_of else math.nan for s in settings]
    paper = [math.nan if s.paper_score is None else s.paper_score for s in settings]
    fig, ax = plt.subplots(figsize=(14, 5))
    ax.bar(x - width / 2, ours, width, color="tab:blue", label=f"ours, {budget_label(t.budget)} steps")
    intervals = {s: t.interval(exp_of[s]) for s in settings if s in exp_of}
    with_ci = [
        (xi - width / 2, t.score(exp_of[s]), *ci) for xi, s in zip(x, settings, strict=True) if (ci := intervals.get(s))
    ]
    if with_ci:
        xs, values, lows, highs = np.array(with_ci).T
        ax.errorbar(
            xs,
            values,
            yerr=[values - lows, highs - values],
            fmt="none",
            ecolor="black",
            elinewidth=0.8,
            capsize=3,
            label="ours: 95% bootstrap interval",
        )
    paper_budget = budget_label(t.suite.total_timesteps)
    ax.bar(x + width / 2, paper, width, color="tab:gray", label=f"paper, Table 1 ({paper_budget} steps)")
    for xi, s, value in zip(x, settings, ours, strict=True):
        if s in exp_of:
            above = value >= 0
            low, high = intervals[s] or (value, value)
            ax.annotate(
                f"{value:.2f}\n{plural(t.runs(exp_of[s]), 'run')}",
                (xi - width / 2, high if above else low),
                xytext=(0, 2 if above else -2),
                textcoords="offset points",
                ha="center",
                va="bottom" if above else "top",
                fontsize=7,
            )
        else:
            ax.text(xi - width / 2, 0.02, "not run", rotation=90, ha="center", va="bottom", fontsize=7)
    for xi, value in zip(x, paper, strict=True):
        if not math.isnan(value):
            above = value >= 0
            ax.annotate(
                f"{value:.2f}",
                (xi + width / 2, value),
                xytext=(0, 2 if above else -2),
                textcoords="offset points",
                ha="center",
                va="bottom" if above else "top",
                fontsize=7,
                color="dimgray",
            )
    ax.axhline(0, color="black", linewidth=0.8)
    labels = ["\n".join(textwrap.fill(part, 15) for part in s.label.split(", ")) for s in settings]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("normalized score\n(random policy = 0, best setting = 1)")
    ax.margins(y=0.15)
    n_settings = len(settings)
    coverage = (
        f"ours: {t.expected} runs per setting, as in the paper"
        if t.complete
        else f"ours: {t.total} of the paper's {n_settings * t.expected} runs; each environment's 1 is the best of "
        f"the settings run there (incomplete: see table1.md)"
    )
    ax.set_title(
        f"Table 1's normalized score at {budget_label(t.budget)} steps, ours beside the paper's\n{coverage}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={PNG_RUNS_KEY: " ".join(t.run_ids), PNG_PLOT_KEY: SCORES_PLOT})
    plt.close(fig)
    return True


def scores_note(target: PngTarget, t: Table1) -> str:
    """What the markdown says of the normalized-score plot."""
    note = f"Normalized scores at {budget_label(t.budget)} steps, ours beside the paper's: `{target.path.name}`."
    if target.kept is not None:
        note += (
            f" `{target.kept.name}`, drawn earlier, is kept as it was: it shows {target.kept_runs} runs that this "
            "report leaves out (incomplete runs, drawn with --include-incomplete)."
        )
    return note


# ---------------------------------------------------------------------------------------------


def report(cli: Cli) -> dict[str, Path]:
    """Write the suite's CSV, markdown and PNGs; return their paths (no PNG without matplotlib)."""
    suite = SUITES[cli.suite]
    runs_dir = cli.runs_dir / suite.name
    if cli.last_episodes < 1:
        raise ReportError("--last-episodes must be at least 1")
    found = read_suite(runs_dir, suite, cli.last_episodes) if runs_dir.is_dir() else []
    here = {r.key for r in found}
    kept = [r for r in read_recorded(cli.results_dir, suite, cli.last_episodes) if r.key not in here]
    if not found and not kept:
        raise ReportError(
            f"no runs in {runs_dir} and none recorded in {cli.results_dir / (suite.name + '.csv')}: "
            f"run the suite first (python benchmark/run.py --suite {suite.name})"
        )
    results = sorted(found + kept, key=lambda r: sort_key(r, suite))
    used = [r for r in results if r.complete or cli.include_incomplete]
    table1 = suite.name == "table1"
    tables = table1_at(suite, group(used), read_random(cli.random_csv)) if table1 and used else []
    paths: dict[str, Path] = {}
    moved = move_old_curves(cli.results_dir) if table1 else None
    if moved is not None:
        paths["moved"] = moved
    cli.results_dir.mkdir(parents=True, exist_ok=True)
    paths |= {"csv": cli.results_dir / f"{suite.name}.csv", "md": cli.results_dir / f"{suite.name}.md"}
    write_csv(results, paths["csv"])
    paths["episodes"] = cli.results_dir / f"{suite.name}_episodes.csv.gz"
    write_episodes(results, paths["episodes"])
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    curves = curves_path(suite, used, cli.results_dir)
    drawable = any(r.episodes for r in used) and has_matplotlib
    earlier = cli.results_dir / curves_name(suite)
    notes = []
    if drawable:
        notes.append(curves_note(curves))
    elif earlier.is_file():
        notes.append(
            f"Learning curves: `{earlier.name}`, drawn by an earlier report (no run here has its episodes to "
            "redraw them from)."
        )
    scores = None
    if tables and has_matplotlib:
        scores = keep_richer(cli.results_dir / f"{suite.name}.png", {run_id(r) for r in used}, set())
        notes.append(scores_note(scores, tables[0]))
    write_markdown(suite, results, used, paths["md"], cli, notes, tables)
    if drawable and plot(suite, group(used), curves.path):
        paths["png"] = curves.path
        if curves.kept is not None:
            paths["kept"] = curves.kept
    elif earlier.is_file():
        paths["kept"] = earlier
    if scores is not None and plot_table1(tables[0], scores.path):
        paths["scores_png"] = scores.path
        if scores.kept is not None:
            paths["kept_scores"] = scores.kept
    return paths


def main(argv: list[str] | None = None) -> None:
    try:
        cli = tyro.cli(Cli, args=argv)
        paths = report(cli)
    except ReportError as e:
        print(f"report.py: error: {e}", file=sys.stderr)
        sys.exit(2)
    for name, path in paths.items():
        if name == "moved":
            print(
                f"report.py: moved {display(path.with_name('table1.png'))} to {display(path)}: it holds learning "
                "curves, and table1.png is now the normalized-score plot"
            )
        elif name.startswith("kept"):
            print(f"report.py: kept {display(path)} as it was: it shows runs this report cannot redraw")
        else:
            print(f"report.py: wrote {display(path)}")
    if "png" not in paths and "kept" not in paths:
        print(
            "report.py: no learning curves (no complete runs, or no matplotlib: pip install -r benchmark/requirements.txt)"
        )


if __name__ == "__main__":
    main()
