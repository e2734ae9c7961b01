"""Read a suite's TensorBoard logs and write its results beside the paper's, into benchmark/results/.

    python benchmark/report.py --suite mujoco
    python benchmark/report.py --suite table1

For a suite S it writes:
- S.csv: one row per run (script, setting, env_id, seed, total_timesteps, final_return, wall_seconds, sps,
  commit, and whether it is complete); final_return is the mean return of the run's last 100 episodes,
  the paper's score;
- S.md: a table of the scores (mean ± std across seeds) next to the paper's and baselines' figures
  (paper.md), and for table1 the normalized score exactly as the paper defines it (see normalized_scores);
- S.png: learning curves, mean ± std across seeds, one panel per environment, as in the paper's Figure 3.

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repo import REPO, display  # noqa: E402
from run_folders import RunFolder, chain, checkpoint_step, read_scalars, scan  # noqa: E402
from suites import SUITES, Suite, SuiteName, budget_label, paper_columns, split_exp_name  # noqa: E402

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
    """also tabulate the learning curve every this many steps: the mean return of the last 20 episodes
    that ended by each point (mean over seeds), e.g. 250000 for an Atari run"""


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


def normalized_scores(scores: dict[str, dict[str, list[float]]], random: dict[str, float]) -> dict[str, float]:
    """The paper's Table 1 score of each setting.

    scores[setting][env] are the final scores of the setting's runs on env (one per seed). Per
    environment, scores are shifted and scaled so that a random policy is 0 and the best setting (the
    highest mean over its seeds) is 1; a setting's normalized score is the mean over all its runs
    (7 environments × 3 seeds = 21 runs in the paper)."""
    envs = sorted({env for per_env in scores.values() for env in per_env})
    missing = [env for env in envs if env not in random]
    if missing:
        raise ReportError(
            f"no random-policy score for {', '.join(missing)}; measure it with: "
            f"python benchmark/random_policy.py --envs {' '.join(missing)}"
        )
    best = {env: max(np.mean(per_env[env]) for per_env in scores.values() if per_env.get(env)) for env in envs}
    result = {}
    for setting, per_env in scores.items():
        normalized = [
            (score - random[env]) / (best[env] - random[env]) for env, runs in per_env.items() for score in runs
        ]
        result[setting] = float(np.mean(normalized)) if normalized else math.nan
    return result


def read_random(path: Path) -> dict[str, float]:
    """env_id -> mean return of a uniformly random policy, from random_policy.csv."""
    if not path.is_file():
        raise ReportError(f"{path} does not exist; make it with: python benchmark/random_policy.py")
    with open(path, newline="") as f:
        return {row["env_id"]: float(row["mean_return"]) for row in csv.DictReader(f)}


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


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def scores_table(suite: Suite, groups: dict) -> list[str]:
    """One row per (setting, environment): our score beside the paper's and baselines' figures."""
    rows = []
    for (budget, setting, env_id), runs in groups.items():
        paper = paper_columns(suite.name, env_id)
        cells = [env_id, setting, steps_cell(budget, suite), seeds_cell(runs, suite)]
        rows.append(cells + [mean_std([r.final_return for r in runs])] + list(paper.values()))
    first_env = next(iter(groups), (0, "", ""))[2]
    header = ["environment", "setting", "steps", "seeds", "ours (last 100 episodes)"]
    return markdown_table(header + list(paper_columns(suite.name, first_env)), rows)


def steps_cell(budget: int, suite: Suite) -> str:
    label = budget_label(budget)
    return (
        label if budget == suite.total_timesteps else f"{label} (reduced; paper {budget_label(suite.total_timesteps)})"
    )


def seeds_cell(runs: list[RunResult], suite: Suite) -> str:
    n = len(runs)
    return str(n) if n >= len(suite.seeds) else f"{n} (paper {len(suite.seeds)})"


def table1_sections(suite: Suite, groups: dict, random: dict[str, float]) -> list[str]:
    """Table 1: the scores per setting and environment, then the normalized score beside the paper's."""
    lines: list[str] = []
    for budget in sorted({b for b, _, _ in groups}):
        scores: dict[str, dict[str, list[float]]] = {}
        for (b, setting, env_id), runs in groups.items():
            if b == budget:
                scores.setdefault(setting, {})[env_id] = [
                    r.final_return for r in runs if not math.isnan(r.final_return)
                ]
        envs = [e for e in suite.env_ids if any(e in per_env for per_env in scores.values())]
        envs += sorted({e for per_env in scores.values() for e in per_env} - set(envs))
        lines += [f"## Scores at {steps_cell(budget, suite)} steps (mean ± std across seeds, last 100 episodes)", ""]
        rows = [[s, *(mean_std(per_env.get(e, [])) for e in envs)] for s, per_env in scores.items()]
        rows.append(["random policy (100 episodes)", *(f"{random[e]:.1f}" if e in random else "—" for e in envs)])
        lines += markdown_table(["setting", *envs], rows) + [""]
        normalized = normalized_scores(scores, random)
        lines += [
            f"## Normalized score at {steps_cell(budget, suite)} steps",
            "",
            "Per environment, 0 = a uniformly random policy (random_policy.csv), 1 = the best setting's mean "
            "over its seeds; a setting's score is the mean over its runs (the paper: 7 environments × 3 seeds "
            "= 21 runs).",
            "",
        ]
        rows = []
        for slug, value in normalized.items():
            setting = split_exp_name(slug, suite)
            runs = sum(len(v) for v in scores[slug].values())
            paper = f"{setting.paper_score:.2f}" if setting and setting.paper_score is not None else "—"
            rows.append([setting.label if setting else slug, slug, str(runs), f"{value:.2f}", paper])
        lines += markdown_table(["setting", "exp name", "runs", "ours", "paper, Table 1"], rows) + [""]
    return lines


def write_markdown(
    suite: Suite, results: list[RunResult], used: list[RunResult], path: Path, cli: Cli, curves: str = ""
) -> None:
    commits = joined(c for r in results for c in r.commit.split("+"))
    machines = joined(m for r in results for m in r.machine.split("+"))
    lines = [
        f"# {suite.name}: {suite.description}",
        "",
        f"Made by `python benchmark/report.py --suite {suite.name}` on {time.strftime('%Y-%m-%d %H:%M')} from "
        f"{len(results)} runs ({sum(r.complete for r in results)} complete"
        + ("; incomplete runs are in the CSV only" if not cli.include_incomplete else "; incomplete runs included")
        + f"): {sources(results, cli.runs_dir / suite.name)}. A run's score is the mean return of its last "
        f"{cli.last_episodes} episodes, as the paper scores; ± is the standard deviation across seeds.",
        "",
        f"Commits: {', '.join(c[:10] for c in commits.split('+')) if commits else 'unknown'}. "
        f"Machines: {machines.replace('+', '; ') or 'unknown'}.",
        "",
    ]
    lines += [curves, ""] if curves else []
    groups = group(used)
    if not groups:
        lines += ["No complete runs yet.", ""]
    elif suite.name == "table1":
        lines += table1_sections(suite, groups, read_random(cli.random_csv))
    else:
        lines += scores_table(suite, groups) + [""]
    if groups and cli.points_every:
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


def curve_points(groups: dict, every: int, last: int = 20) -> list[str]:
    """The learning curve as a table: at every `every` steps, the mean return of the last `last` episodes
    that ended by then, averaged over the seeds that have any."""
    lines = [f"## Learning curve: mean return of the last {last} episodes, every {every:,} steps", ""]
    for (_budget, setting, env_id), runs in groups.items():
        runs = [r for r in runs if r.episodes]
        if not runs:
            continue
        points = range(every, max(r.total_timesteps for r in runs) + 1, every)
        cells = []
        for x in points:
            means = [np.mean([v for s, v in r.episodes if s <= x][-last:]) for r in runs if r.episodes[0][0] <= x]
            cells.append(f"{np.mean(means):.1f}" if means else "–")
        lines += markdown_table(["setting", "env", *(f"{x:,}" for x in points)], [[setting, env_id, *cells]])
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


def run_id(result: RunResult) -> str:
    """A run as a PNG's metadata names it."""
    return "/".join(map(str, result.key))


def drawn_runs(path: Path) -> set[str] | None:
    """The runs a learning-curve PNG of this report shows, from its metadata; None when it does not say
    (drawn before PNGs recorded it) or cannot be read."""
    try:
        from PIL import Image  # matplotlib's own dependency

        with Image.open(path) as image:
            text = image.text.get(PNG_RUNS_KEY)
    except Exception:
        return None
    return None if text is None else set(text.split())


@dataclass
class Curves:
    """Where this report's learning curves go, and the earlier PNG it keeps, if any (see curves_path)."""

    path: Path
    kept: Path | None = None
    kept_runs: int = 0  # runs the kept PNG shows (or may show) that this report cannot draw


def curves_path(suite: Suite, used: list[RunResult], results_dir: Path) -> Curves:
    """<suite>.png, unless the PNG there shows runs this report cannot draw: runs recorded before their
    episodes were kept (their curves exist only in that PNG), or left out by this report's flags. A report
    never loses what the results folder shows: that PNG is then kept, and the curves go beside it."""
    png = results_dir / f"{suite.name}.png"
    drawable = {run_id(r) for r in used if r.episodes}
    shown = drawn_runs(png) if png.is_file() else set()
    if shown is None:  # an older PNG: it may show any run whose episodes were not kept
        shown = {run_id(r) for r in used if not r.episodes}
    if not shown - drawable:
        return Curves(png)
    return Curves(results_dir / f"{suite.name}_partial.png", png, len(shown - drawable))


def curves_note(curves: Curves) -> str:
    """What the markdown and the console say of the learning curves."""
    if curves.kept is None:
        return f"Learning curves: `{curves.path.name}`."
    return (
        f"Learning curves: `{curves.path.name}`, of the runs whose episodes are kept; `{curves.kept.name}`, "
        f"drawn earlier, is kept as it was: it shows {curves.kept_runs} runs that this report cannot redraw "
        "(recorded before their episodes were kept, or left out by this report's flags)."
    )


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


# ---------------------------------------------------------------------------------------------


def report(cli: Cli) -> dict[str, Path]:
    """Write the suite's CSV, markdown and PNG; return their paths (no PNG without matplotlib)."""
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
    cli.results_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": cli.results_dir / f"{suite.name}.csv", "md": cli.results_dir / f"{suite.name}.md"}
    write_csv(results, paths["csv"])
    paths["episodes"] = cli.results_dir / f"{suite.name}_episodes.csv.gz"
    write_episodes(results, paths["episodes"])
    curves = curves_path(suite, used, cli.results_dir)
    drawable = any(r.episodes for r in used) and importlib.util.find_spec("matplotlib") is not None
    write_markdown(suite, results, used, paths["md"], cli, curves_note(curves) if drawable else "")
    if drawable and plot(suite, group(used), curves.path):
        paths["png"] = curves.path
        if curves.kept is not None:
            paths["kept"] = curves.kept
    return paths


def main(argv: list[str] | None = None) -> None:
    try:
        cli = tyro.cli(Cli, args=argv)
        paths = report(cli)
    except ReportError as e:
        print(f"report.py: error: {e}", file=sys.stderr)
        sys.exit(2)
    for name, path in paths.items():
        if name == "kept":
            print(f"report.py: kept {display(path)} as it was: it shows runs this report cannot redraw")
        else:
            print(f"report.py: wrote {display(path)}")
    if "png" not in paths:
        print(
            "report.py: no learning curves (no complete runs, or no matplotlib: pip install -r benchmark/requirements.txt)"
        )


if __name__ == "__main__":
    main()
