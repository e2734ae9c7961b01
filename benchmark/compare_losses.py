"""Did a change alter the learning? Runs a script as it is now and as it was at an earlier commit,
with the same seed and flags, and compares the losses each update logged.

A speed-up that only removes overhead leaves every loss bit for bit the same; one that changes the
order of floating-point operations (a fused optimizer, a compiled graph) moves them by rounding noise,
which this shows as the largest relative difference. Those need a full-length run instead, compared
with the seed spread of earlier runs (see benchmark/results/).

A change that alters the random draws (another generator, another order of draws) leaves no seed giving
the same run. `--seeds N` compares distributions instead: seeds 1..N each way, and for each loss the mean
over seeds of its mean over the run, before and now, with their difference in standard errors. Short runs
of 20 seeds show a systematic change in what an update does that a handful of 1M-step runs cannot.

    python benchmark/compare_losses.py ppo_continuous.py --before HEAD~1
    python benchmark/compare_losses.py ppo_discrete.py --before 0db1b95 --flags='--total-timesteps 4096'
    python benchmark/compare_losses.py ppo_continuous.py --before 9ddee8f --seeds 20 --flags='--total-timesteps 4096'
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tyro

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repo import REPO, script_at, script_env  # noqa: E402
from run_folders import read_scalars  # noqa: E402

KEYS = ("losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl", "losses/clipfrac")


def run(script_path: Path, flags: list[str], runs_dir: Path) -> dict[str, list[float]]:
    command = [sys.executable, str(script_path), "--runs-dir", str(runs_dir), *flags]
    result = subprocess.run(command, capture_output=True, text=True, env=script_env(), cwd=runs_dir)
    if result.returncode != 0:
        raise SystemExit(f"compare_losses.py: {' '.join(command)} failed:\n{result.stderr[-1500:]}")
    (run_dir,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    scalars = read_scalars(run_dir)
    return {key: [e.value for e in scalars[key]] for key in KEYS}


def compare_distributions(before: list[dict], now: list[dict]) -> dict[str, tuple[float, float, float]]:
    """Per loss: the mean over seeds of each run's mean, before and now, and (now - before) / its standard
    error (the two samples' standard errors combined; each from its seeds' sample variance)."""
    result = {}
    for key in KEYS:
        a = [sum(run[key]) / len(run[key]) for run in before]
        b = [sum(run[key]) / len(run[key]) for run in now]
        mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
        var_a = sum((x - mean_a) ** 2 for x in a) / (len(a) - 1)
        var_b = sum((x - mean_b) ** 2 for x in b) / (len(b) - 1)
        se = math.sqrt(var_a / len(a) + var_b / len(b))
        result[key] = (mean_a, mean_b, (mean_b - mean_a) / se if se > 0 else 0.0)
    return result


@dataclass
class Cli:
    """Compare the losses a script logs now with those it logged at an earlier commit (same seed)."""

    script: tyro.conf.Positional[str]
    """the script, e.g. ppo_continuous.py"""
    before: str = "HEAD"
    """the commit to compare with"""
    flags: str = "--total-timesteps 6144"
    """flags for both runs, as one string (the script's defaults otherwise; seed 1)"""
    seeds: int = 0
    """instead of one seed: N seeds each way (first_seed, first_seed + 1, ...), compared by distribution"""
    first_seed: int = 1
    """with --seeds: the first seed (a later range gives a sample independent of an earlier one)"""
    out: str = ""
    """with --seeds: also write each run's mean losses here (JSON), to pool several ranges later"""


def main() -> None:
    cli = tyro.cli(Cli)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old_script = script_at(cli.before, cli.script, tmp / "before")
        if cli.seeds:
            return by_distribution(cli, old_script, tmp)
        (tmp / "runs_before").mkdir()
        (tmp / "runs_now").mkdir()
        before = run(old_script, shlex.split(cli.flags), tmp / "runs_before")
        now = run(REPO / cli.script, shlex.split(cli.flags), tmp / "runs_now")
    worst = 0.0
    for key in KEYS:
        for a, b in zip(before[key], now[key], strict=True):
            worst = max(worst, abs(a - b) / max(abs(a), 1e-12))
    identical = before == now
    print(
        json.dumps(
            {
                "script": cli.script,
                "before": cli.before,
                "updates": len(now[KEYS[0]]),
                "identical": identical,
                "max_relative_difference": worst,
            }
        )
    )
    print(f"first update, before: {[round(before[k][0], 6) for k in KEYS]}")
    print(f"first update, now:    {[round(now[k][0], 6) for k in KEYS]}")


def by_distribution(cli: Cli, old_script: Path, tmp: Path) -> None:
    if cli.seeds < 2:
        raise SystemExit("compare_losses.py: --seeds needs at least 2 (a standard error needs two samples)")
    before, now = [], []
    seeds = range(cli.first_seed, cli.first_seed + cli.seeds)
    for seed in seeds:
        flags = [*shlex.split(cli.flags), "--seed", str(seed)]
        for script, runs, name in ((old_script, before, "before"), (REPO / cli.script, now, "now")):
            runs_dir = tmp / f"runs_{name}_{seed}"
            runs_dir.mkdir()
            runs.append(run(script, flags, runs_dir))
    if cli.out:
        means = {
            name: [{k: sum(r[k]) / len(r[k]) for k in KEYS} for r in runs]
            for name, runs in (("before", before), ("now", now))
        }
        Path(cli.out).write_text(json.dumps({"seeds": list(seeds), "flags": cli.flags, **means}))
    print(f"{cli.script}: seeds {seeds[0]}-{seeds[-1]}, {cli.flags}; mean over seeds of each run's mean loss")
    for key, (mean_before, mean_now, z) in compare_distributions(before, now).items():
        flag = "  <- differs" if abs(z) > 3 else ""
        print(f"{key:22s} before {mean_before:10.5f}  now {mean_now:10.5f}  difference {z:+5.2f} standard errors{flag}")


if __name__ == "__main__":
    main()
