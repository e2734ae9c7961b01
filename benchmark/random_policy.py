"""Measure a uniformly random policy: the 0 of the paper's Table 1 normalized score.

For each environment, 100 episodes with actions drawn uniformly from the action space (seeded), and
their mean total reward. The figures go to benchmark/results/random_policy.csv, one row per
environment, with the command and the commit that made them (rows of other environments are kept).

    python benchmark/random_policy.py
    python benchmark/random_policy.py --envs Humanoid-v4 --episodes 100
"""

from __future__ import annotations

import csv
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import tyro

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repo import REPO, git_commit  # noqa: E402
from suites import MUJOCO_ENVS  # noqa: E402

COLUMNS = ("env_id", "episodes", "mean_return", "std_return", "seed", "seconds", "gymnasium", "command", "commit")


@dataclass
class Cli:
    """Measure the mean return of a uniformly random policy."""

    envs: tuple[str, ...] = MUJOCO_ENVS
    """gymnasium ids (default: the 7 MuJoCo environments of Table 1)"""
    episodes: int = 100
    """episodes per environment"""
    seed: int = 1
    """seeds the first reset and the action space"""
    out: Path = REPO / "benchmark" / "results" / "random_policy.csv"
    """CSV to write (rows of environments not measured now are kept)"""


def random_returns(env_id: str, episodes: int, seed: int) -> list[float]:
    """Total reward of each of `episodes` episodes under uniformly random actions."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    returns = []
    for _ in range(episodes):
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        env.reset()
    env.close()
    return returns


def read_rows(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {row["env_id"]: row for row in csv.DictReader(f)}


def main(argv: list[str] | None = None) -> None:
    cli = tyro.cli(Cli, args=argv)
    if cli.episodes < 1:
        print("random_policy.py: error: --episodes must be at least 1", file=sys.stderr)
        sys.exit(2)
    command = shlex.join(["python", "benchmark/random_policy.py", *(sys.argv[1:] if argv is None else argv)])
    rows = read_rows(cli.out)
    for env_id in cli.envs:
        start = time.time()
        try:
            returns = random_returns(env_id, cli.episodes, cli.seed)
        except gym.error.Error as e:
            print(f"random_policy.py: error: {env_id}: {e}", file=sys.stderr)
            sys.exit(2)
        rows[env_id] = {
            "env_id": env_id,
            "episodes": len(returns),
            "mean_return": f"{np.mean(returns):.4f}",
            "std_return": f"{np.std(returns):.4f}",
            "seed": cli.seed,
            "seconds": f"{time.time() - start:.1f}",
            "gymnasium": gym.__version__,
            "command": command,
            "commit": git_commit(),
        }
        print(f"{env_id}: {np.mean(returns):.2f} ± {np.std(returns):.2f} over {len(returns)} episodes", flush=True)
    cli.out.parent.mkdir(parents=True, exist_ok=True)
    with open(cli.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows.values())
    print(f"random_policy.py: wrote {cli.out}")


if __name__ == "__main__":
    main()
