"""How the adaptive β of ppo_penalty.py behaved in finished runs: β's trajectory (min, max, final), and how
often the measured KL d fell inside the band [d_targ/1.5, 1.5·d_targ] the rule aims for.

    python benchmark/penalty_beta.py benchmark/runs/table1/Hopper-v4__klpen_adaptive_0.01__* \\
        --output benchmark/results/penalty_hopper.md
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_folders import read_scalars  # noqa: E402

HEADER = (
    "# ppo_penalty.py: the adaptive β in practice\n\n"
    "Made by `python benchmark/penalty_beta.py {}`. β is the coefficient each update used; d the mean exact "
    "KL[π_old, π_θ] over the batch after the update; the band is [d_targ/1.5, 1.5·d_targ].\n\n"
)
TABLE = (
    "| run | seed | steps | return (last 100) | d_targ | β min | β max | β final | updates | d in band | below "
    "| above | median d |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)
ROW = (
    "| {run} | {seed} | {steps:,} | {mean_return:.1f} | {kl_target} | {beta_min:.3g} | {beta_max:.3g} | {beta_final:.3g} "
    "| {updates} | {inside:.0%} | {below:.0%} | {above:.0%} | {kl_median:.4f} |\n"
)


@dataclass
class Cli:
    """β and d of adaptive-KL runs of ppo_penalty.py, one row per run folder."""

    run_dirs: tyro.conf.Positional[tuple[Path, ...]]
    """run folders of ppo_penalty.py (with args.json, summary.json and TensorBoard events)"""
    output: Path | None = None
    """also write the table to this markdown file"""


def describe(run_dir: Path) -> dict:
    """One row of the table: the run's β trace and how its KL fell around the band."""
    args = json.loads((run_dir / "args.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    scalars = read_scalars(run_dir)
    betas, kls = (np.array([e.value for e in scalars[tag]]) for tag in ("charts/beta", "losses/kl"))
    target = args["kl_target"]
    below, above = np.mean(kls < target / 1.5), np.mean(kls > 1.5 * target)
    row = dict(run=run_dir.name, seed=args["seed"], steps=summary["global_step"], mean_return=summary["mean_return"])
    row |= dict(kl_target=target, beta_min=betas.min(), beta_max=betas.max(), beta_final=summary.get("beta", betas[-1]))
    row |= dict(updates=len(kls), inside=1.0 - below - above, below=below, above=above)
    return row | dict(kl_median=np.sort(kls)[len(kls) // 2])  # the upper middle value for an even count, as published


def main() -> None:
    cli = tyro.cli(Cli)
    finished = [run_dir for run_dir in sorted(cli.run_dirs) if (run_dir / "summary.json").exists()]
    text = TABLE + "".join(ROW.format(**describe(run_dir)) for run_dir in finished)
    print(text)
    if cli.output:
        cli.output.write_text(HEADER.format(" ".join(sys.argv[1:])) + text)


if __name__ == "__main__":
    main()
