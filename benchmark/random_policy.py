"""Measure a uniformly random policy: the 0 of the paper's Table 1 normalized score.

For each environment, 100 episodes with actions drawn uniformly from the action space (seeded), and their
mean total reward, into random_policy.csv: one row per environment, with the command and the commit that made
it (the rows of other environments are kept). With --publish into benchmark/results/, the record report.py
reads; else into benchmark/runs/results/ (a look, which leaves the record as it is).

    python benchmark/random_policy.py --publish
    python benchmark/random_policy.py --envs Humanoid-v4 --episodes 100
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
import time
import warnings
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pandas as pd
import tyro
from repo import REPO, git_commit, quiet_on_closed_pipe
from suites import MUJOCO_ENVS

COLUMNS = ("episodes", "mean_return", "std_return", "seed", "seconds", "gymnasium", "command", "commit")


@dataclass
class Cli:
    """Measure the mean return of a uniformly random policy."""

    envs: tuple[str, ...] = MUJOCO_ENVS  # gymnasium ids (default: the 7 MuJoCo environments of Table 1)
    episodes: int = 100  # episodes per environment
    seed: int = 1  # seeds the first reset and the action space
    publish: bool = False
    """write benchmark/results/random_policy.csv, the record; else benchmark/runs/results/random_policy.csv"""


def random_returns(env_id: str, episodes: int, seed: int) -> list[float]:
    """Total reward of each of `episodes` episodes under uniformly random actions."""
    env = gym.wrappers.RecordEpisodeStatistics(gym.make(env_id), buffer_length=episodes)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    while len(env.return_queue) < episodes:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    env.close()
    return [float(episode_return) for episode_return in env.return_queue]


def made_id(env_id: str) -> str:
    """The id of the environment gymnasium makes for `env_id`."""
    env = gym.make(env_id)
    env.close()
    return env.spec.id if env.spec is not None else env_id


def fail(message: str) -> None:
    print(f"random_policy.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def measure(fn, env_id: str):
    """fn(), or one line: an unknown id, Hopper-v3 (mujoco-py), a bug in your environment."""
    try:
        return fn()
    except Exception as e:
        fail(f"{env_id} cannot be measured: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def main(argv: list[str] | None = None) -> None:
    cli = tyro.cli(Cli, args=argv)
    if cli.episodes < 1:
        fail("--episodes must be at least 1")
    if not cli.envs:  # else nothing measured, and the CSV written as it was
        fail("--envs needs at least one gymnasium id, e.g. --envs CartPole-v1")
    if not 0 <= cli.seed < 2**32:  # else refused by the env's reset, as if the env were at fault
        fail(f"--seed {cli.seed}: give a seed from 0 to 2**32 - 1")
    # gymnasium's "Hopper-v4 is out of date": v4 is the suites' choice, and it would precede Hopper-v3's one line;
    # its "Using the latest versioned environment" would precede --envs Hopper's.
    warnings.filterwarnings("ignore", ".*is out of date", DeprecationWarning)
    warnings.filterwarnings("ignore", ".*Using the latest versioned environment", UserWarning)
    if importlib.util.find_spec("ale_py") is not None:  # the Atari games' ids (PongNoFrameskip-v4), as the scripts
        import ale_py

        gym.register_envs(ale_py)
    command = shlex.join(["python", "benchmark/random_policy.py", *(sys.argv[1:] if argv is None else argv)])
    out = REPO / "benchmark" / ("results" if cli.publish else "runs/results") / "random_policy.csv"
    # Read as the text it was written as, so that the rows not measured now are written back unchanged.
    table = pd.DataFrame(columns=COLUMNS)
    if out.is_file():
        table = pd.read_csv(out, dtype=str, keep_default_na=False, index_col="env_id")
    for env_id in cli.envs if cli.publish else ():  # a record is never replaced by less
        if env_id in table.index and (recorded := int(table.loc[env_id, "episodes"])) > cli.episodes:
            fail(f"--publish: {env_id}'s row has {recorded} episodes; give --episodes {recorded} or more")
    for env_id in cli.envs:  # each made first: an id that cannot be made does not cost the others' measurements
        made = measure(lambda env_id=env_id: made_id(env_id), env_id)
        if made != env_id.rpartition(":")[2]:  # Hopper: gymnasium makes Hopper-v5, which the row would not say
            fail(f"--envs {env_id} has no version, and gymnasium would make {made}: give the version (e.g. Hopper-v4)")
    for env_id in cli.envs:
        start = time.time()
        returns = measure(lambda env_id=env_id: random_returns(env_id, cli.episodes, cli.seed), env_id)
        mean, std, seconds = np.mean(returns), np.std(returns), time.time() - start
        row = [cli.episodes, f"{mean:.4f}", f"{std:.4f}", cli.seed, f"{seconds:.1f}", gym.__version__, command]
        table.loc[env_id] = [str(value) for value in [*row, git_commit()]]
        print(f"{env_id}: {mean:.2f} ± {std:.2f} over {cli.episodes} episodes", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index_label="env_id", lineterminator="\r\n")  # \r\n: as the csv module wrote it
    print(f"random_policy.py: wrote {out}" + ("" if cli.publish else " (--publish writes the record)"))


if __name__ == "__main__":
    quiet_on_closed_pipe(main)
