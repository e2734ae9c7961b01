"""Did a change alter the learning? Runs a script as it is now and as it was at an earlier commit,
with the same seed and flags, and compares everything each run logged but its speed: each update's losses and
charts (learning rate, β, clip range...), and each episode's return and length.

A speed-up that only removes overhead leaves every loss bit for bit the same; one that changes the order of
floating-point operations (a fused optimizer, a compiled graph) moves them by rounding noise, shown as the largest
relative difference (such a change needs a full-length run, against the seed spread of earlier runs).

A change of the random draws (another generator, another order of draws) leaves no seed giving the same run:
`--num-seeds N` compares distributions instead, seeds 1..N each way: per loss, the mean over seeds of each run's mean,
before and now, and their difference in standard errors. Short runs of 20 seeds show a systematic change in what
an update does that a handful of 1M-step runs cannot.

    python benchmark/compare_losses.py ppo_continuous.py --before HEAD~1
    python benchmark/compare_losses.py ppo_discrete.py --before 0db1b95 --flags='--total-timesteps 4096'
    python benchmark/compare_losses.py ppo_continuous.py --before 9ddee8f --num-seeds 20 --flags='--total-timesteps 4096'
"""

from __future__ import annotations

import json
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats
import tyro
from repo import REPO, quiet_on_closed_pipe, run_script, script_at
from run_folders import read_scalars

OWN_FLAGS = ("--runs-dir", "--resume", "--eval-checkpoint", "-h", "--help")  # what this tool sets, or no run makes
KEYS = ("losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl", "losses/clipfrac")  # shown
TIMING = "charts/SPS"  # steps per second: different in every run


@dataclass
class Cli:
    """Compare the losses a script logs now with those it logged at an earlier commit (same seed)."""

    script: tyro.conf.Positional[str]  # the script, e.g. ppo_continuous.py
    before: str = "HEAD"  # the commit to compare with
    flags: str = "--total-timesteps 6144"
    """flags for both runs, as one string (the script's defaults otherwise; seed 1)"""
    num_seeds: int = 0
    """instead of one seed: N seeds each way (first_seed, first_seed + 1, ...), compared by distribution"""
    first_seed: int = 1  # with --num-seeds: the first seed (a later range gives a sample independent of an earlier one)
    out: str = ""  # with --num-seeds: also write each run's mean losses here (JSON), to pool several ranges later


def run(script_path: Path, flags: list[str], runs_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """What one run of the script logged, by TensorBoard tag: (step, value) of each update or episode."""
    scalars = read_scalars(run_script(script_path, flags, runs_dir)[0])
    return {tag: [(e.step, e.value) for e in events] for tag, events in scalars.items() if tag != TIMING}


def per_update(log: dict) -> list[str]:
    """The tags logged once per update (the episodes' are logged when an episode ends, which learning moves)."""
    return sorted(tag for tag in log if not tag.startswith("charts/episodic_"))


def check_comparable(before: dict, now: dict) -> None:
    """The same tags, logged at the same updates, each way; else one line saying what differs."""
    if not per_update(before):
        raise SystemExit("compare_losses.py: the run before logged no update: give --flags a budget of a few updates")
    if differ := sorted(set(per_update(before)) ^ set(per_update(now))):
        raise SystemExit(f"compare_losses.py: only one side logged {', '.join(differ)}: nothing to compare them with")
    for tag in per_update(before):
        if [step for step, _ in before[tag]] != [step for step, _ in now[tag]]:
            raise SystemExit(
                f"compare_losses.py: {tag}: before logged {len(before[tag])} updates, now {len(now[tag])} (or at "
                "other steps): the two runs did not train alike (a crash, other flags); see their output"
            )


def run_means(runs: list[dict], keys: list[str]) -> pd.DataFrame:
    """One row per run, one column per loss: its mean over the run's updates."""
    return pd.DataFrame([{key: np.mean([value for _, value in run[key]]) for key in keys} for run in runs])


def compare_distributions(before: list[dict], now: list[dict]) -> dict[str, tuple[float, float, float]]:
    """Per loss: the mean over seeds of each run's mean, before and now, and (now - before) / its standard
    error, each side's from its seeds' sample variance (Welch's t statistic)."""
    for a, b in zip(before, now, strict=True):
        check_comparable(a, b)
    keys = [tag for tag in per_update(before[0]) if tag.startswith("losses/")]
    a, b = run_means(before, keys), run_means(now, keys)
    t = scipy.stats.ttest_ind(b, a, equal_var=False).statistic
    return {key: (a[key].mean(), b[key].mean(), np.nan_to_num(t[i])) for i, key in enumerate(keys)}  # 0/0: 0


def repo_script(script: str) -> str:
    """The script as git names it at a commit, its path from the repository's root: given from the current
    folder, from the root (as this module's examples give it), or absolute."""
    path = Path(script) if Path(script).is_file() else REPO / script
    if path.is_file() and path.resolve().is_relative_to(REPO):
        return path.resolve().relative_to(REPO).as_posix()
    raise SystemExit(
        f"compare_losses.py: {script}: the script must be a file of the repository {REPO}, e.g. ppo_discrete.py"
    )


def main() -> None:
    cli = tyro.cli(Cli)
    if cli.num_seeds < 0 or cli.num_seeds == 1:
        raise SystemExit(
            "compare_losses.py: --num-seeds needs at least 2 (a standard error needs two samples); "
            "left out, one run each way is compared exactly"
        )
    if cli.out and not cli.num_seeds:
        raise SystemExit("compare_losses.py: --out writes the means of --num-seeds runs: give --num-seeds too")
    out = Path(cli.out)
    if cli.out and (out.is_dir() or not out.parent.is_dir()):  # said now, not after all the runs
        wrong = f"{out} is a folder" if out.is_dir() else f"no folder {out.parent}"
        raise SystemExit(f"compare_losses.py: --out {cli.out}: {wrong}; give a file in an existing folder")
    try:
        given = shlex.split(cli.flags)
    except ValueError as e:  # an unclosed quote
        raise SystemExit(f"compare_losses.py: --flags: {e}; write it as --flags='--total-timesteps 4096'") from None
    if own := [flag for flag in given if flag.split("=")[0] in OWN_FLAGS]:
        raise SystemExit(
            f"compare_losses.py: --flags may not hold {own[0]}: each run is a fresh training run of its own"
        )
    if not cli.before:
        raise SystemExit("compare_losses.py: --before needs a commit, e.g. HEAD~1")
    cli.script = repo_script(cli.script)  # `git show` takes it from the root only
    seeds, runs = range(cli.first_seed, cli.first_seed + cli.num_seeds), {"before": [], "now": []}
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {"before": script_at(cli.before, cli.script, Path(tmp) / "before"), "now": REPO / cli.script}
        for seed in seeds or [None]:  # without --num-seeds: one run each way, the flags as given (seed 1 by default)
            flags = [*given, *([] if seed is None else ["--seed", str(seed)])]
            for name, script in scripts.items():
                runs[name].append(run(script, flags, Path(tmp) / f"runs_{name}_{seed}"))
    if cli.num_seeds:
        return by_distribution(cli, seeds, runs)
    before, now = runs["before"][0], runs["now"][0]
    check_comparable(before, now)
    tags = per_update(before)
    values = {tag: (np.array([v for _, v in before[tag]]), np.array([v for _, v in now[tag]])) for tag in tags}
    worst = max(np.max(np.abs(b - a) / np.maximum(np.abs(a), 1e-12), initial=0.0) for a, b in values.values())
    episodes = [before.get(tag) == now.get(tag) for tag in (before.keys() | now.keys()) - set(tags)]
    summary = dict(script=cli.script, before=cli.before, updates=len(before[tags[0]]), tags=len(tags))
    summary |= dict(identical=before == now, max_relative_difference=float(worst), same_episodes=all(episodes))
    print(json.dumps(summary))
    shown = [key for key in KEYS if key in values]
    print(f"first update, before: {[round(float(values[k][0][0]), 6) for k in shown]}")
    print(f"first update, now:    {[round(float(values[k][1][0]), 6) for k in shown]}")


def by_distribution(cli: Cli, seeds: range, runs: dict[str, list[dict]]) -> None:
    """--num-seeds: each loss's mean over seeds, before and now, and their difference in standard errors."""
    compared = compare_distributions(runs["before"], runs["now"])  # each loss, once the runs are comparable
    if cli.out:
        means = {name: run_means(runs[name], list(compared)).to_dict("records") for name in runs}
        Path(cli.out).write_text(json.dumps({"seeds": list(seeds), "flags": cli.flags, **means}))
    print(f"{cli.script}: seeds {seeds[0]}-{seeds[-1]}, {cli.flags}; mean over seeds of each run's mean loss")
    for key, (mean_before, mean_now, z) in compared.items():
        flag = "  <- differs" if abs(z) > 3 else ""
        print(f"{key:26s} before {mean_before:10.5f}  now {mean_now:10.5f}  difference {z:+5.2f} standard errors{flag}")


if __name__ == "__main__":
    quiet_on_closed_pipe(main)
