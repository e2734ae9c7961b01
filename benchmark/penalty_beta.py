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

import tyro

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_folders import read_scalars  # noqa: E402


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
    betas, kls = ([e.value for e in scalars[tag]] for tag in ("charts/beta", "losses/kl"))
    target = args["kl_target"]
    inside = sum(target / 1.5 <= d <= 1.5 * target for d in kls)
    below = sum(d < target / 1.5 for d in kls)
    return {
        "run": run_dir.name,
        "seed": args["seed"],
        "steps": summary["global_step"],
        "return": summary["mean_return"],
        "kl_target": target,
        "beta_min": min(betas),
        "beta_max": max(betas),
        "beta_final": summary.get("beta", betas[-1]),
        "updates": len(kls),
        "inside": inside / len(kls),
        "below": below / len(kls),
        "above": (len(kls) - inside - below) / len(kls),
        "kl_median": sorted(kls)[len(kls) // 2],
    }


def main() -> None:
    cli = tyro.cli(Cli)
    rows = [describe(run_dir) for run_dir in sorted(cli.run_dirs) if (run_dir / "summary.json").exists()]
    lines = [
        "| run | seed | steps | return (last 100) | d_targ | β min | β max | β final | updates | d in band | below | above | median d |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['seed']} | {r['steps']:,} | {r['return']:.1f} | {r['kl_target']} | {r['beta_min']:.3g} | "
            f"{r['beta_max']:.3g} | {r['beta_final']:.3g} | {r['updates']} | {100 * r['inside']:.0f}% | "
            f"{100 * r['below']:.0f}% | {100 * r['above']:.0f}% | {r['kl_median']:.4f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if cli.output:
        header = (
            "# ppo_penalty.py: the adaptive β in practice\n\n"
            f"Made by `python benchmark/penalty_beta.py {' '.join(sys.argv[1:])}`. "
            "β is the coefficient each update used; d the mean exact KL[π_old, π_θ] over the batch after the "
            "update; the band is [d_targ/1.5, 1.5·d_targ].\n\n"
        )
        cli.output.write_text(header + text)


if __name__ == "__main__":
    main()
