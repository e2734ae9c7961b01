"""How the adaptive β of ppo_penalty.py behaved in finished runs: β's trajectory (min, max, final),
and how often the measured KL d fell inside the band [d_targ/1.5, 1.5·d_targ] the rule aims for.

    python benchmark/penalty_beta.py benchmark/runs/table1/Hopper-v4__klpen_adaptive_0.01__*
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


@dataclass
class Cli:
    """β and d of adaptive-KL runs of ppo_penalty.py, one row per run folder."""

    run_dirs: tyro.conf.Positional[tuple[Path, ...]]
    """run folders of ppo_penalty.py (with args.json, summary.json and TensorBoard events)"""
    output: Path | None = None
    """also write the table to this markdown file"""


def describe(run_dir: Path) -> dict:
    args = json.loads((run_dir / "args.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    scalars = read_scalars(run_dir)
    betas, kls = (np.array([e.value for e in scalars[tag]]) for tag in ("charts/beta", "losses/kl"))
    target = args["kl_target"]
    below, above = np.mean(kls < target / 1.5), np.mean(kls > 1.5 * target)
    return {
        "run": run_dir.name,
        "seed": args["seed"],
        "steps": summary["global_step"],
        "return": summary["mean_return"],
        "kl_target": target,
        "beta_min": betas.min(),
        "beta_max": betas.max(),
        "beta_final": summary.get("beta", betas[-1]),
        "updates": len(kls),
        "inside": 1.0 - below - above,
        "below": below,
        "above": above,
        "kl_median": np.sort(kls)[len(kls) // 2],  # the upper middle value for an even count, as published
    }


def main() -> None:
    cli = tyro.cli(Cli)
    lines = [
        "| run | seed | steps | return (last 100) | d_targ | β min | β max | β final | updates | d in band | below | above | median d |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in [describe(d) for d in sorted(cli.run_dirs) if (d / "summary.json").exists()]:  # finished runs
        lines.append(
            f"| {r['run']} | {r['seed']} | {r['steps']:,} | {r['return']:.1f} | {r['kl_target']} | {r['beta_min']:.3g} | "
            f"{r['beta_max']:.3g} | {r['beta_final']:.3g} | {r['updates']} | {100 * r['inside']:.0f}% | "
            f"{100 * r['below']:.0f}% | {100 * r['above']:.0f}% | {r['kl_median']:.4f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if cli.output:
        cli.output.write_text(HEADER.format(" ".join(sys.argv[1:])) + text)


if __name__ == "__main__":
    main()
