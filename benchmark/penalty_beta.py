"""How the adaptive β of ppo_penalty.py behaved in finished runs: β's trajectory (min, max, final), and how
often the measured KL d fell inside the band [d_targ/1.5, 1.5·d_targ] the rule aims for.

    python benchmark/penalty_beta.py benchmark/runs/table1/Hopper-v4__klpen_adaptive_0.01__* \\
        --output benchmark/results/penalty_hopper.md
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro
from repo import quiet_on_closed_pipe
from run_folders import RunFolder, chain, final_score, read_folder, read_scalars, start_step, stitch

HEADER = (
    "# ppo_penalty.py: the adaptive β in practice\n\n"
    "Made by `python benchmark/penalty_beta.py {}`. β min and max: of the coefficients the updates used; β at "
    "the end: the one the last update set for the next (the checkpoint's); d the mean exact "
    "KL[π_old, π_θ] over the batch after the update; the band is [d_targ/1.5, 1.5·d_targ].\n\n"
    "Runs made at commit {}, on {} (their meta.json).\n\n"
)
TABLE = (
    "| run | seed | steps | return (last 100) | d_targ | β min | β max | β at the end | updates | d in band | below "
    "| above | median d |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)
ROW = (
    "| {run} | {seed} | {steps:,} | {mean_return:.1f} | {kl_target} | {beta_min:.3g} | {beta_max:.3g} | {beta_final:.3g} "
    "| {updates} | {inside:.0%} | {below:.0%} | {above:.0%} | {kl_median:.4f} |\n"
)


@dataclass
class Cli:
    """β and d of adaptive-KL runs of ppo_penalty.py, one row per run (a resumed run's folders stitched)."""

    run_dirs: tyro.conf.Positional[tuple[Path, ...]]
    """run folders of ppo_penalty.py (with args.json, summary.json and TensorBoard events)"""
    output: Path | None = None  # also write the table to this markdown file


def describe(pieces: list[RunFolder]) -> dict:
    """One row of the table: the run's β trace and how its KL fell around the band. `pieces`: its folders,
    oldest first; a resumed run's traces are stitched as report.py stitches its episodes."""
    scalars = [(folder, read_scalars(folder.path)) for folder in pieces]
    started = [(start_step(folder, [e.step for e in s.get("charts/SPS", [])]), s) for folder, s in scalars]

    def trace(tag: str) -> list[tuple[int, float]]:
        return stitch([(start, [(e.step, e.value) for e in s.get(tag, [])]) for start, s in started])

    betas, kls = (np.array([value for _, value in trace(tag)]) for tag in ("charts/beta", "losses/kl"))
    last, episodes = pieces[-1], trace("charts/episodic_return")
    target, summary = last.args["kl_target"], last.summary
    below, above = np.mean(kls < target / 1.5), np.mean(kls > 1.5 * target)
    mean_return = final_score(episodes) if episodes else summary["mean_return"]
    row = dict(run=last.path.name, seed=last.seed, steps=summary["global_step"], mean_return=mean_return)
    row |= dict(kl_target=target, beta_min=betas.min(), beta_max=betas.max(), beta_final=summary.get("beta", betas[-1]))
    row |= dict(updates=len(kls), inside=1.0 - below - above, below=below, above=above)
    return row | dict(kl_median=np.sort(kls)[len(kls) // 2])  # the upper middle value for an even count, as published


def finished_runs(run_dirs: tuple[Path, ...]) -> list[list[RunFolder]]:
    """The runs the folders finished, each as its pieces (oldest first); a folder cut short is a piece only."""
    folders = sorted(filter(None, map(read_folder, run_dirs)), key=lambda f: (f.unix_time, f.path.name))
    done = {f.key: f for f in folders if f.budget and f.is_complete(f.budget)}  # a run finished twice: the last
    return [chain([f for f in folders if f.key == key], done[key]) for key in sorted(done)]


def main() -> None:
    cli = tyro.cli(Cli)
    if cli.output and not cli.output.parent.is_dir():
        raise SystemExit(f"penalty_beta.py: --output {cli.output}: no folder {cli.output.parent}")
    if cli.output and cli.output.is_dir():  # before the tables are made, not an IsADirectoryError after
        raise SystemExit(
            f"penalty_beta.py: --output {cli.output} is a folder: give a file, e.g. {cli.output / 'beta.md'}"
        )
    runs = finished_runs(cli.run_dirs)
    adaptive = [pieces[-1].args.get("adaptive_beta", "kl_target" in pieces[-1].args) for pieces in runs]
    if not runs or not all(adaptive):  # a fixed β has no band to be in
        # Each folder at fault named. A shell pattern that matched nothing comes as it was typed
        # (…__klpen_adaptive_0.01__*); a suite's folder (benchmark/runs/table1) holds runs but is none.
        absent = [str(path) for path in cli.run_dirs if not path.exists()]
        other = [str(path) for path in cli.run_dirs if path.exists() and read_folder(path) is None]
        fixed = [str(pieces[-1].path) for pieces, is_adaptive in zip(runs, adaptive, strict=True) if not is_adaptive]
        named = (
            ("no such folder", absent),
            ("not a run folder (env__exp-name__seed__time)", other),
            ("a fixed β", fixed),
        )
        faults = "".join(f"; {what}: {', '.join(paths)}" for what, paths in named if paths)
        raise SystemExit(
            f"penalty_beta.py: give the folders of finished ppo_penalty.py runs with an adaptive β{faults}"
        )
    used = {folder.path for pieces in runs for folder in pieces}
    if left_out := [str(path) for path in cli.run_dirs if path not in used]:  # a typo, or a run still going
        print(f"penalty_beta.py: left out, not part of a finished run: {', '.join(left_out)}", file=sys.stderr)
    text = TABLE + "".join(ROW.format(**describe(pieces)) for pieces in runs)
    print(text)
    if cli.output:
        folders = [folder.meta for pieces in runs for folder in pieces]
        commits = " and ".join(dict.fromkeys(meta.get("commit", "unknown")[:10] for meta in folders))
        machines = " and ".join(dict.fromkeys(meta.get("machine", "unknown") for meta in folders))
        cli.output.write_text(HEADER.format(" ".join(sys.argv[1:]), commits, machines) + text)


if __name__ == "__main__":
    quiet_on_closed_pipe(main)
