"""Why the shared trunk fails where separate networks learn (the classic suite): what the features under the
policy head keep of the state, in each run's final checkpoint.

On 3,000 states a uniformly random policy visits, per run: the share of the last tanh layer's units that are
saturated (|h| > 0.99), the features' standard deviation across the states (mean over units), that of the
action probabilities, and the value's mean and standard deviation. For ppo_shared_backbone.py the features are
its one trunk's, under both heads; for ppo_discrete.py the actor's own (its critic's saturation beside them).

    python benchmark/trunk_features.py --runs-dir /path/to/runs             # a look: /path/to/runs/results/
    python benchmark/trunk_features.py --runs-dir /path/to/runs --publish   # benchmark/results/classic_trunk.md
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import tyro
from repo import REPO, display, git_commit, load_script, machine, quiet_on_closed_pipe
from run_folders import scan
from suites import SUITES, split_exp_name
from tables import markdown_table

HEADER = ["environment", "script", "seed", "return (last 100)", "saturated units", "feature std", "π std"]
HEADER += ["V mean (std)"]


@dataclass
class Cli:
    """The features under the policy head of the classic suite's complete runs, from their model.pt."""

    runs_dir: Path = REPO / "benchmark" / "runs"
    """root of the run folders; the suite's are in <runs-dir>/classic (run with --save-model, as run.py does)"""
    publish: bool = False
    """write classic_trunk.md into benchmark/results/, the record (from every run of the suite); else into
    <runs-dir>/results/"""


def visited_states(env_id: str, n: int = 3000) -> torch.Tensor:
    """The states of a uniformly random policy (seeded), episode after episode."""
    env, rng, states = gym.make(env_id), np.random.default_rng(0), []
    env.reset(seed=5)
    while len(states) < n:
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        states.append(obs)
        if terminated or truncated:
            env.reset()
    return torch.tensor(np.array(states), dtype=torch.float32)


def features(script: str, weights: dict, states: torch.Tensor, num_actions: int):
    """The features under the actor, under the critic, the action probabilities and the values."""
    ppo = load_script(script)
    with torch.no_grad():
        if script == "ppo_shared_backbone.py":
            agent = ppo.Agent(tuple(states.shape[1:]), num_actions)
            agent.load_state_dict(weights)
            actor = critic = agent.features(states)  # one trunk under both heads
            return actor, critic, torch.softmax(agent.actor(actor), -1), agent.critic(critic).squeeze(-1)
        agent = ppo.Agent(states.shape[1], num_actions)
        agent.load_state_dict(weights)
        actor, critic = agent.actor[:-1](states), agent.critic[:-1](states)  # each network's last tanh layer
        return actor, critic, torch.softmax(agent.actor(states), -1), agent.critic(states).squeeze(-1)


def row(folder, states: torch.Tensor, num_actions: int) -> list[str]:
    script = split_exp_name(folder.exp_name, SUITES["classic"]).script
    weights = torch.load(folder.path / "model.pt", map_location="cpu", weights_only=False)["model"]
    actor, critic, probs, values = features(script, weights, states, num_actions)
    saturated = f"{(actor.abs() > 0.99).float().mean():.0%}"
    if critic is not actor:
        saturated += f" (critic's: {(critic.abs() > 0.99).float().mean():.0%})"
    cells = [folder.env_id, script, str(folder.seed), f"{folder.summary['mean_return']:.1f}", saturated]
    return cells + [
        f"{actor.std(0).mean():.3f}",
        f"{probs.std(0).mean():.4f}",
        f"{values.mean():.1f} ({values.std():.2f})",
    ]


def main() -> None:
    cli = tyro.cli(Cli)
    suite = SUITES["classic"]
    runs = [folders[-1] for folders in scan(cli.runs_dir / suite.name).values()]
    # The suite's own runs: its settings on its environments (run.py also runs any id it is given), complete.
    slugs, where = {s.slug for s in suite.settings}, cli.runs_dir / "classic"
    runs = [f for f in runs if f.env_id in suite.env_ids and f.exp_name in slugs]
    runs = [f for f in runs if f.is_complete(suite.total_timesteps) and f.checkpoint]
    if not runs:
        budget = f"{suite.total_timesteps:,}"
        raise SystemExit(
            f"trunk_features.py: no classic run complete at the suite's {budget} steps, with its model.pt, in {where}"
        )
    found = {(f.exp_name, f.env_id, f.seed) for f in runs}
    missing = [run for run in product(sorted(slugs), suite.env_ids, suite.seeds) if run not in found]
    if cli.publish and missing:  # the record is the whole suite's: never replaced by fewer runs
        raise SystemExit(
            f"trunk_features.py: --publish needs every run of the classic suite; {len(missing)} are not complete "
            f"with their model.pt in {where}, e.g. {' seed '.join(map(str, missing[0][1:]))} ({missing[0][0]}). "
            f"Without --publish the table goes to {display(cli.runs_dir / 'results')}"
        )
    rows = []
    for env_id in suite.env_ids:
        states, num_actions = visited_states(env_id), gym.make(env_id).action_space.n
        for folder in sorted((f for f in runs if f.env_id == env_id), key=lambda f: (f.exp_name, f.seed)):
            rows.append(row(folder, states, num_actions))
    commits = sorted({f.meta.get("commit", "unknown")[:10] for f in runs})
    lines = [
        "# classic: the features under the policy head, in the final checkpoints",
        "",
        f"Made by `python benchmark/trunk_features.py --runs-dir {display(cli.runs_dir)}"
        f"{' --publish' if cli.publish else ''}` at commit "
        f"{git_commit():.10} on {machine()}, from {len(runs)} runs of the classic suite "
        f"(commits {', '.join(commits)}).",
        "",
        *__doc__.split("\n\n")[1].splitlines(),
        "",
        *markdown_table(HEADER, rows),
        "",
    ]
    out = (REPO / "benchmark" / "results") if cli.publish else cli.runs_dir / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "classic_trunk.md").write_text("\n".join(lines))
    print(f"trunk_features.py: wrote {display(out / 'classic_trunk.md')}")


if __name__ == "__main__":
    quiet_on_closed_pipe(main)
