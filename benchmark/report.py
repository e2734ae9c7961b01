"""A suite's report: its runs into the record (record.py), <suite>.md (tables.py) and plots (plots.py).

    python benchmark/report.py --suite mujoco               # a look: into benchmark/runs/results/ (git-ignored)
    python benchmark/report.py --suite mujoco --publish     # the record: into benchmark/results/

The runs the results folder records whose folders are not here are carried over: results of several sessions
add up, and with no run folders at all the report is made again from the record.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import tyro
from record import CSV_COLUMNS, KEY, ReportError, read_random, read_record, write_record  # noqa: F401 (tests)
from repo import REPO, display, quiet_on_closed_pipe
from run_folders import read_runs
from stats import table1_at
from suites import SUITES, Suite, SuiteName, budget_label, is_atari, split_exp_name
from tables import atari_tables, curve_points, peer_table, scores_table, table1_sections

RESULTS_DIR = REPO / "benchmark" / "results"


@dataclass
class Cli:
    """Write a suite's report into benchmark/runs/results/ (a look), or with --publish into benchmark/results/."""

    suite: SuiteName  # which suite's runs to read
    runs_dir: Path = REPO / "benchmark" / "runs"  # root of the run folders; the suite's are in <runs-dir>/<suite>
    results_dir: Path | None = None
    """where the report goes; the runs its <suite>.csv records are carried over (default <runs-dir>/results)"""
    publish: bool = False  # write the report into benchmark/results/, the published record (what a campaign does)
    random_csv: Path = RESULTS_DIR / "random_policy.csv"
    """random-policy scores (made by benchmark/random_policy.py), the 0 of Table 1's normalized score"""
    last_episodes: int = 100  # a run's score is the mean return of its last this many episodes (the paper: 100)
    include_incomplete: bool = False
    """also use runs that are not complete in the tables and curves (they are always in the CSV)"""
    points_every: int | None = None
    """tabulate the learning curve every this many steps (default an eighth of the budget; 0: no table)"""


# What a scores table's interval is; Table 1's are its own (said in its sections), Atari's tables have none.
INTERVAL = (
    "; the interval (from 5 seeds) is a 95% percentile bootstrap interval of the mean over seeds (10,000 "
    "resamplings of the seeds)"
)


def sort_runs(runs: pd.DataFrame, suite: Suite) -> pd.DataFrame:
    """In the suite's order: budget, setting, environment, seed (what the suite does not name, after)."""
    settings = [split_exp_name(s, suite) for s in runs["setting"]]
    order = runs.assign(
        _s=[suite.settings.index(s) if s else len(suite.settings) for s in settings],
        _e=[suite.env_ids.index(e) if e in suite.env_ids else len(suite.env_ids) for e in runs["env_id"]],
    )
    order = order.sort_values(["budget", "_s", "setting", "_e", "env_id", "seed"], kind="stable")
    return order.drop(columns=["_s", "_e"]).reset_index(drop=True)


def gather(cli: Cli, suite: Suite, results_dir: Path) -> pd.DataFrame:
    """The suite's runs: those in its run folders, and those the record holds. Of a run in both, the run folders'
    unless the record's went further: a rerun still under way never replaces a complete run by less."""
    found = read_runs(cli.runs_dir / suite.name, suite, cli.last_episodes).assign(recorded=False)
    recorded = read_record(results_dir, suite.name, cli.last_episodes).assign(recorded=True)
    if found.empty and recorded.empty:
        # A fresh clone: the published record's runs are skipped by run.py unless asked to run them again.
        again = " --rerun-recorded" if (RESULTS_DIR / f"{suite.name}.csv").exists() else ""
        again = ("" if cli.runs_dir == Cli.runs_dir else f" --runs-dir {display(cli.runs_dir)}") + again
        raise ReportError(
            f"no runs in {cli.runs_dir / suite.name} and none recorded in {results_dir / (suite.name + '.csv')}: "
            f"run the suite first (python benchmark/run.py --suite {suite.name}{again})"
        )
    runs = pd.concat([x for x in (found, recorded) if not x.empty], ignore_index=True)  # on a tie, the folders' first
    runs = runs.sort_values(["complete", "total_timesteps"], ascending=False, kind="stable")
    for run in runs[runs.duplicated(KEY, keep="first") & ~runs["recorded"]].itertuples():
        print(
            f"report.py: {run.env_id} {run.setting} seed {run.seed}: the record's run is kept, the run folders' has "
            f"{run.total_timesteps:,} steps"
        )
    return sort_runs(runs.drop_duplicates(KEY, keep="first"), suite)


def report(cli: Cli) -> dict[str, Path]:
    """Write the suite's CSV, episodes, markdown and PNGs; return their paths."""
    from plots import plot_curves, plot_table1  # here: matplotlib is slow to import, and the tests stub these

    suite = SUITES[cli.suite]
    if cli.last_episodes < 1:
        raise ReportError("--last-episodes must be at least 1")
    if cli.points_every is not None and cli.points_every < 0:
        raise ReportError("--points-every must be 0 (no table) or positive")
    out = RESULTS_DIR if cli.publish else cli.results_dir or cli.runs_dir / "results"
    # --results-dir benchmark/results, or --runs-dir benchmark (whose results/ is the record), without --publish
    if not cli.publish and out.resolve() == RESULTS_DIR.resolve():
        raise ReportError(f"{display(out)} is the published record: pass --publish to write the report there")
    if out.exists() and not out.is_dir():  # else mkdir's bare "[Errno 17] File exists", after the reading
        raise ReportError(f"--results-dir {display(out)} is a file, not a folder: give a folder (made if missing)")
    runs = gather(cli, suite, out)
    used = runs[runs["complete"] | cli.include_incomplete]
    tables = table1_at(suite, used, read_random(cli.random_csv)) if suite.name == "table1" and len(used) else []
    out.mkdir(parents=True, exist_ok=True)
    csv_path, episodes_path = write_record(runs, out, suite.name)
    paths = {"csv": csv_path, "episodes": episodes_path, "md": out / f"{suite.name}.md"}
    curves = out / ("table1_curves.png" if suite.name == "table1" else f"{suite.name}.png")

    # A resumed run's commits and machines are joined by "+".
    commits = [c[:10] for c in dict.fromkeys("+".join(runs["commit"]).split("+")) if c]
    machines = [m for m in dict.fromkeys("+".join(runs["machine"]).split("+")) if m]
    versions = [v for v in dict.fromkeys("; ".join(runs["packages"]).split("; ")) if v]
    unknown = (runs["packages"] == "").sum()
    versions += [f"not recorded for {unknown} run{'s' if unknown > 1 else ''}"] if unknown else []
    no_curve = [f"{r.env_id} seed {r.seed} ({r.setting})" for r in runs.itertuples() if r.episodes and not r.history]
    made = f"`python benchmark/report.py --suite {suite.name}{' --publish' if cli.publish else ''}`"
    incomplete = "incomplete runs included" if cli.include_incomplete else "incomplete runs are in the CSV only"
    # Their curves are only in the PNG an earlier report drew, kept beside the new one as <name>_before_episodes.png.
    bare_note = f"; no learning curve kept for {', '.join(no_curve)}: recorded before episodes were kept"
    drawn_then = curves.with_name(f"{curves.stem}_before_episodes.png")
    bare_note += f" (their curves as drawn then: `{drawn_then.name}`)" if drawn_then.exists() else ""
    notes = [f"Learning curves: `{curves.name}`."] if (used["history"].map(len) > 0).any() else []
    if tables:
        notes += [
            f"Normalized scores at {budget_label(tables[0].budget)} steps, ours beside the paper's: `table1.png`."
        ]
    heading, _, more = suite.description.partition(". ")
    lines = [f"# {suite.name}: {heading}", "", *([f"{more}.", ""] if more else [])]
    lines += [
        f"Made by {made} from {len(runs)} runs ({int(runs['complete'].sum())} complete; {incomplete})"
        f"{bare_note if no_curve else ''}. A run's score is the mean return of its last {cli.last_episodes} "
        "episodes, as the paper scores; ± is the standard deviation across seeds (divided by n, numpy's default)"
        + ("" if tables or is_atari(suite) else INTERVAL)
        + ".",
        "",
        f"Commits: {', '.join(commits) or 'unknown'}. Machines: {'; '.join(machines) or 'unknown'}. "
        f"Packages: {'; '.join(versions) or 'unknown'}.",
        "",
        " ".join(notes),
        "",
    ]
    under_way = runs[~runs["complete"]]
    if len(under_way):  # where the runs still going stand (a checkpoint resumes each)
        steps = [f"{r.env_id} {r.setting} seed {r.seed} at {r.total_timesteps:,}" for r in under_way.itertuples()]
        where = "included in the tables" if cli.include_incomplete else "in the CSV only"
        lines += [f"Incomplete, {where}: {'; '.join(steps)} steps.", ""]
    if used.empty:
        lines += ["No complete runs yet.", ""]
    elif tables:
        lines += table1_sections(tables, cli.last_episodes)
    elif is_atari(suite):
        lines += atari_tables(suite, used, cli.last_episodes)
    else:
        lines += scores_table(suite, used, cli.last_episodes) + [""]
    if not used.empty and suite.beside:
        lines += peer_table(suite, used, read_record(out, suite.beside, cli.last_episodes))
    if not used.empty and suite.name != "table1" and cli.points_every != 0:
        lines += curve_points(used, cli.points_every)
    paths["md"].write_text("\n".join(lines))

    if plot_curves(suite, used, curves):
        paths["png"] = curves
    if tables:
        plot_table1(tables[0], out / "table1.png")
        paths["scores_png"] = out / "table1.png"
    here = int((~runs["recorded"]).sum())
    found = f"{here} runs from {display(cli.runs_dir / suite.name)}"
    print(f"report.py: {suite.name}: {found}, {len(runs) - here} from the record")
    return paths


def main(argv: list[str] | None = None) -> None:
    try:
        cli = tyro.cli(Cli, args=argv)
        paths = report(cli)
    except BrokenPipeError:  # a reader gone (| head): quiet_on_closed_pipe's to end, not an error of the report
        raise
    except (ReportError, OSError) as e:  # OSError: a --results-dir it cannot make or write
        print(f"report.py: error: {e}", file=sys.stderr)
        sys.exit(2)
    for path in paths.values():
        print(f"report.py: wrote {display(path)}")
    if not cli.publish:
        print(f"report.py: {display(RESULTS_DIR)} is left as it is (--publish writes the report there)")


if __name__ == "__main__":
    quiet_on_closed_pipe(main)
