"""Steps per second of our scripts against Stable-Baselines3's PPO at identical settings, and what bounds them.

Each measurement is a fresh single-threaded process timing `steps` environment steps of training (imports and
construction untimed, on either side); ours and SB3 alternate for several rounds, so a drifting load hurts both
alike, and the report gives the medians and their ratio. Timers wrapped around `envs.step`, `Actors.collect`
and `update` from outside split our time. Two profiles say what bounds the ratio: each piece of a Hopper step
timed alone, and one Breakout update under the torch profiler. SB3 gets each script's defaults through
sb3_ppo.py's `make_model`, as the peer runs of the mujoco_sb3 suite.

    pip install -r benchmark/requirements-speed.txt     # stable-baselines3
    python benchmark/speed.py --publish                  # every case, 3 rounds: benchmark/results/speed.md
    python benchmark/speed.py --cases hopper --rounds 5  # a look: benchmark/runs/results/speed.md
    python benchmark/speed.py --memory --publish         # peak memory of a 100k- and a 1M-step Hopper run
    python benchmark/speed.py --cases hopper --before HEAD   # a change: ours now against ours at a commit
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import io
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import timeit
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro
from repo import REPO, git_commit, load_script, machine, quiet_on_closed_pipe, run_script, script_at, script_env

RESULTS = REPO / "benchmark" / "results"  # the record: only --publish writes there
SCRATCH = REPO / "benchmark" / "runs" / "results"  # a look (git-ignored), as report.py's


@dataclass(frozen=True)
class Case:
    """One comparison: our script with its default flags, and SB3's PPO set up the same way."""

    script: str
    env_id: str
    steps: int  # environment steps timed in one measurement (whole rollouts)
    sb3: str | None  # SB3's policy (MlpPolicy: separate 64×64 tanh MLPs; CnnPolicy: the Nature CNN)
    target: float = 2.0  # issue 7's target for the ratio ours / SB3
    sb3_of: str | None = None  # SB3 has no KL-penalty PPO: this case's SB3 figures, its ratio asked within 10%


CASES = {
    "hopper": Case("ppo_continuous.py", "Hopper-v4", 20_480, "MlpPolicy"),
    "hopper_penalty": Case("ppo_penalty.py", "Hopper-v4", 20_480, None, sb3_of="hopper"),
    "cartpole": Case("ppo_discrete.py", "CartPole-v1", 40_960, "MlpPolicy"),
    "breakout": Case("ppo_shared_backbone.py", "BreakoutNoFrameskip-v4", 8_192, "CnnPolicy", target=1.3),
}


def in_fresh_process(fn, *args):
    """fn(*args) in a fresh interpreter, spawned into main's one-thread environment (OMP_NUM_THREADS=1, which
    torch follows): no measurement inherits another's warm caches, threads or memory."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def measure_ours(case: Case, script_path: Path | None = None) -> dict:
    """Steps/s of one training run of our script, and the split of its time (shares of the wall time)."""
    ppo = load_script(script_path or case.script)
    seconds = {"env_step": 0.0, "collect": 0.0, "update": 0.0}

    def timed(owner, name: str, key: str):
        """Replaces owner.name by itself with a timer around it, adding to seconds[key]."""
        fn = getattr(owner, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            seconds[key] += time.perf_counter() - start
            return result

        setattr(owner, name, wrapper)
        return owner

    make_vector_env = ppo.make_vector_env
    ppo.make_vector_env = lambda *args, **kwargs: timed(make_vector_env(*args, **kwargs), "step", "env_step")
    timed(ppo, "update", "update")
    timed(ppo.Actors, "collect", "collect")
    flags = ["--env-id", case.env_id, "--total-timesteps", str(case.steps)]
    with tempfile.TemporaryDirectory() as runs_dir, contextlib.redirect_stdout(io.StringIO()):  # its status lines
        summary = ppo.train(ppo.parse_args([*flags, "--runs-dir", runs_dir]))
    wall = summary["wall_seconds"]
    env_step, collect, update = seconds["env_step"], seconds["collect"], seconds["update"]
    # inference: the rest of the rollout; other: what is neither rollout nor update
    split = dict(env_step=env_step, inference=collect - env_step, update=update, other=wall - collect - update)
    return {"sps": summary["global_step"] / wall, "split": {part: t / wall for part, t in split.items()}}


def sb3_args(case: Case):
    """sb3_ppo.Args for a case: every flag it shares with our script, at the script's default (so the two cannot
    drift apart); a script without normalization flags (discrete, Atari) normalizes nothing."""
    from sb3_ppo import Args

    ours = load_script(case.script).Args()
    shared = {field.name: getattr(ours, field.name) for field in dataclasses.fields(Args) if hasattr(ours, field.name)}
    run = dict(env_id=case.env_id, total_timesteps=case.steps, seed=1)
    return Args(**(dict(norm_obs=False, norm_reward=False) | shared | run))


def measure_sb3(case: Case) -> dict:
    """Steps/s of SB3's PPO learning `case.steps` steps with our script's settings."""
    from sb3_ppo import Annealed, make_envs, make_model
    from stable_baselines3.common.callbacks import BaseCallback

    class Clock(BaseCallback):
        """Starts after learn()'s first reset, as ours after Actors' (a seeded ALE reset reloads each ROM)."""

        def _on_training_start(self):
            self.start = time.perf_counter()

        def _on_step(self) -> bool:
            return True

    args, overrides = sb3_args(case), {}
    if case.sb3 == "CnnPolicy":  # Atari: SB3's own wrappers and frame stack
        import ale_py
        import gymnasium as gym
        from stable_baselines3.common.env_util import make_atari_env
        from stable_baselines3.common.vec_env import VecFrameStack

        gym.register_envs(ale_py)
        envs = VecFrameStack(make_atari_env(case.env_id, n_envs=args.num_envs, seed=args.seed), n_stack=4)
        clip = Annealed(args.clip_coef, args.num_envs * args.num_steps, case.steps, case.steps)  # as ours
        overrides = dict(clip_range=clip, clip_range_vf=clip)
    else:
        envs = make_envs(args)
    model, clock = make_model(args, envs, case.steps, case.sb3, **overrides), Clock()
    model.learn(total_timesteps=case.steps, callback=clock)
    return {"sps": model.num_timesteps / (time.perf_counter() - clock.start)}


def time_us(fn, n: int) -> float:
    """The median of 5 timings of n calls, per call in µs, after n/10 calls to warm up."""
    timeit.timeit(fn, number=n // 10)
    return statistics.median(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6


def profile_hopper() -> dict:
    """What one Hopper step costs, piece by piece, in µs (medians of repeated timings): the floor under
    ppo_continuous.py's steps per second, for the report's table (per rollout step, per minibatch of 64)
    and the update's share per environment step."""
    import numpy as np
    import torch

    ppo = load_script("ppo_continuous.py")
    args = ppo.Args(env_id="Hopper-v4")
    envs = ppo.make_vector_env(args, "unused")
    envs.reset(seed=1)
    agent = ppo.Agent(11, 3)
    policy = ppo.NumpyPolicy(agent)  # what the rollout runs (--numpy-rollout, the default)
    obs_normalizer, reward_scaler = ppo.ObsNormalizer((11,), True), ppo.RewardScaler(1, 0.99, True)
    action, obs, rng = np.zeros((1, 3), np.float32), np.zeros((1, 11), np.float32), np.random.default_rng(1)
    raw, reward, end = np.zeros((1, 11)), np.ones(1), np.zeros(1, bool)
    per_rollout_step = {
        "env_step": lambda: envs.step(action),
        "policy_forward": lambda: policy.act(obs, rng),
        "policy_forward_torch": lambda: agent.act(obs, rng),  # --no-numpy-rollout
        "normalizers": lambda: (obs_normalizer(raw), reward_scaler(reward, end)),
    }
    mb = {"obs": torch.randn(64, 11), "actions": torch.randn(64, 3), "logprobs": torch.randn(64) - 4.0}
    mb |= {"advantages": torch.randn(64), "returns": torch.randn(64), "values": torch.randn(64)}
    optimizer = torch.optim.Adam(agent.parameters(), lr=3e-4, eps=1e-5, fused=True)
    params = list(agent.parameters())

    def forward_and_backward():
        optimizer.zero_grad()
        ppo.minibatch_loss(agent, mb, args)[0].backward()

    per_minibatch = {
        "mb_forward": lambda: ppo.minibatch_loss(agent, mb, args),
        "mb_backward": forward_and_backward,  # the forward pass taken out below
        "mb_clip": lambda: torch.nn.utils.clip_grad_norm_(params, 0.5, foreach=True),
        "mb_adam": optimizer.step,
    }
    out = {name: time_us(fn, 2000) for name, fn in per_rollout_step.items()}
    out |= {name: time_us(fn, 500) for name, fn in per_minibatch.items()}
    envs.close()
    out["mb_backward"] -= out["mb_forward"]
    minibatches_per_step = args.update_epochs * args.num_minibatches / args.num_steps  # 320 per 2048
    out["update_per_step"] = sum(out[name] for name in per_minibatch) * minibatches_per_step
    return out


# Where the update's time goes on Breakout, by the profiler's operator names (first match wins).
UPDATE_PARTS = (
    ("convolutions, backward", ("convolution_backward",)),
    ("convolutions, forward", ("convolution",)),
    ("linear layers (forward and backward)", ("addmm", "aten::mm")),
    ("ReLUs (forward and backward)", ("threshold_backward", "clamp_min", "relu")),
    ("Adam and gradient clipping", ("adam", "foreach", "norm")),
)
THE_REST = "the rest: minibatch gathers, the frames' uint8 → float scaling, copies, the loss"


def profile_breakout() -> dict:
    """Where ppo_shared_backbone.py's update spends its time on Breakout-sized data: one update (3 epochs
    of 4 minibatches of 256 stacks of 4 84x84 frames) under the torch profiler, each operator's own CPU
    time summed into UPDATE_PARTS, and the rest."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    ppo = load_script("ppo_shared_backbone.py")
    args = ppo.Args(env_id="BreakoutNoFrameskip-v4")
    torch.manual_seed(1)
    agent = ppo.Agent((4, 84, 84), 4)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5, fused=True)
    n = args.num_envs * args.num_steps
    frames = torch.randint(0, 256, (n, 4, 84, 84), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    batch = {"obs": frames, "actions": torch.randint(0, 4, (n,)), "logprobs": torch.full((n,), -1.386)}
    batch |= {"values": torch.randn(n), "advantages": torch.randn(n), "returns": torch.randn(n)}
    ppo.update(agent, optimizer, batch, args, args.clip_coef)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        ppo.update(agent, optimizer, batch, args, args.clip_coef)
        wall = time.perf_counter() - start
    parts = dict.fromkeys([name for name, _ in UPDATE_PARTS] + [THE_REST], 0.0)
    for event in prof.key_averages():
        key = event.key.lower()
        name = next((name for name, needles in UPDATE_PARTS if any(n in key for n in needles)), THE_REST)
        parts[name] += event.self_cpu_time_total
    total = sum(parts.values())
    return {"update_ms_per_step": wall * 1e3 / n, "parts": {name: t / total for name, t in parts.items()}}


def measure_memory(path: Path) -> None:
    """Issue 7's memory target: the peak resident memory of a 1M-step run within 10% of a 100k-step run's,
    into speed_memory.json, which the speed report includes. The run folders are kept in benchmark/runs/speed/:
    the 1M-step run doubles as the check that the sped-up code still learns like the earlier runs."""
    runs, script = REPO / "benchmark" / "runs" / "speed", REPO / "ppo_continuous.py"
    _, small = run_script(script, ["--total-timesteps", "100000"], runs / "memory-100000")
    run_dir, large = run_script(script, ["--total-timesteps", "1000000"], runs / "memory-1000000")
    summary = json.loads((run_dir / "summary.json").read_text())
    memory = {"100k": small, "1M": large, "1M_return": summary["mean_return"], "1M_wall": summary["wall_seconds"]}
    memory |= {"1M_sps": summary["sps"], "1M_run_dir": summary["run_dir"], "commit": git_commit(), "machine": machine()}
    path.write_text(json.dumps(memory, indent=2))
    print(f"speed.py: peak memory {small:,.0f} MiB at 100k steps, {large:,.0f} MiB at 1M; wrote {path}")


# speed.md, filled in by render(); a line that ends in \ goes on in the same line of speed.md.
REPORT = """\
# Speed: our scripts against Stable-Baselines3's PPO

Made by `{command}` on {made}, commit {commit:.10}, machine {machine}; torch {torch}, stable-baselines3 {sb3}, \
gymnasium {gymnasium}.

Each figure is the median of {rounds} measurements, ours and SB3 alternating; each measurement is a fresh \
single-threaded process timing training only (imports and construction excluded). Settings are each script's \
defaults, and SB3 set to the same (see `benchmark/speed.py`).

| case | env | ours (steps/s) | SB3 (steps/s) | ours / SB3 | target | env step | inference | update | other |
|---|---|---|---|---|---|---|---|---|---|
{rows}

env step: time inside the vector env's `step`; inference: the rest of the rollout (the policy's forward pass and \
sampling, normalization, copies into the buffer); update: the K epochs of minibatch Adam; other: GAE and logging \
(no checkpoints: --save-model is off).

All measurements (steps/s):

{measurements}
"""
HOPPER = """
## Where the time of ppo_continuous.py on Hopper goes

Each piece timed alone in one single-threaded process (`profile_hopper`), in µs:

| per rollout step | µs | per minibatch of 64 | µs |
|---|---|---|---|
| vector env step (MuJoCo + gymnasium) | {env_step:.0f} | forward + loss | {mb_forward:.0f} |
| policy and value, batch 1: numpy (torch: {policy_forward_torch:.0f}) | {policy_forward:.0f} | backward | \
{mb_backward:.0f} |
| observation + reward normalization | {normalizers:.0f} | gradient clip | {mb_clip:.0f} |
| | | Adam (fused) | {mb_adam:.0f} |

| per environment step | µs |
|---|---|
| the update (320 minibatches per 2048 steps) | {update_per_step:.0f} |
| the pieces above, before any bookkeeping ({floor_sps:,.0f} steps/s) | {floor:.0f} |
| twice SB3's median ({sb3_sps:,.0f} steps/s): the target's budget | {budget:.0f} |
"""
BREAKOUT = """
## Where the time of ppo_shared_backbone.py's update on Breakout goes

One update (3 epochs × 4 minibatches of 256 frame stacks) under the torch profiler (`profile_breakout`; \
{update_ms_per_step:.2f} ms per environment step), each operator's own CPU time:

| part of the update | share |
|---|---|
{rows}
| the network's arithmetic (convolutions, linear layers, ReLUs) | {network:.0%} |
"""
MEMORY = """
## Memory, and the learning after the speed-ups

`ppo_continuous.py --env-id Hopper-v4 --seed 1` (the 1M-step score to set beside the mujoco suite's, mujoco.md):

| steps | peak resident memory (MiB) | return (last 100 episodes) | wall (s) | steps/s | commit |
|---|---|---|---|---|---|
| 100k | {100k:,.0f} | | | | |
| 1M | {1M:,.0f} ({change:+.1%}; target within 10%) | {1M_return:.1f} | {1M_wall:.0f} | {1M_sps:,.0f} | {commit:.10} |
"""


def render(results: dict, rounds: int, command: str, memory: dict | None) -> str:
    """speed.md from the figures of speed.json (`results`) and speed_memory.json (`memory`)."""
    cases = results["cases"]
    measurements = []
    for name, row in cases.items():
        sb3 = ", ".join(f"{x:,.0f}" for x in row.get("sb3_all", []))
        ours = ", ".join(f"{x:,.0f}" for x in row["ours_all"])
        measurements.append(f"- {name}: ours {ours}" + (f"; SB3 {sb3}" if sb3 else ""))
    rows = "\n".join(case_row(name, cases) for name in cases)
    values = results | results["versions"] | dict(command=command, rounds=rounds, rows=rows)
    text = REPORT.format_map(values | {"measurements": "\n".join(measurements)})
    if "profile" in results and "sb3" in cases.get("hopper", {}):  # against twice SB3's speed: issue 7's target
        profile, sb3_sps = results["profile"], cases["hopper"]["sb3"]
        floor = sum(profile[piece] for piece in ("env_step", "policy_forward", "normalizers", "update_per_step"))
        budget = 1e6 / (2 * sb3_sps)
        values = dict(floor=floor, floor_sps=1e6 / floor, sb3_sps=sb3_sps, budget=budget)
        text += HOPPER.format(**profile, **values)
    if "profile_breakout" in results and "breakout" in cases:
        parts = results["profile_breakout"]["parts"]
        rows = "\n".join(f"| {name} | {share:.0%} |" for name, share in parts.items())
        network = sum(share for name, share in parts.items() if name.startswith(("conv", "linear", "ReLU")))
        text += BREAKOUT.format(rows=rows, network=network, **results["profile_breakout"])
    if memory:
        text += MEMORY.format(change=memory["1M"] / memory["100k"] - 1, **memory)
    return text


def case_row(name: str, cases: dict) -> str:
    """The table's row of one case: steps/s, the ratio against its target (✓/✗), the split of ours."""
    case, row = CASES[name], cases[name]
    ours, sb3 = row["ours"], row.get("sb3")
    sb3_text, ratio, target = "–", "–", f"≥ {case.target}×"
    if sb3 and case.sb3_of in cases:  # SB3's figures are the other case's: its ratio, within 10%
        reference = cases[case.sb3_of]
        relative = (ours / sb3) / (reference["ours"] / reference["sb3"])
        met, target = abs(relative - 1.0) <= 0.10, f"{case.sb3_of}'s ratio ± 10% (here {relative:.2f})"
    elif sb3:
        met = ours / sb3 >= case.target
    if sb3:
        sb3_text = f"{sb3:,.0f}" + (f" (from {case.sb3_of})" if case.sb3_of else "")
        ratio = f"{ours / sb3:.2f}×" + (" ✓" if met else " ✗")
    shares = " | ".join(f"{row['split'][part]:.0%}" for part in ("env_step", "inference", "update", "other"))
    return f"| {name} (`{case.script}`) | {case.env_id} | {ours:,.0f} | {sb3_text} | {ratio} | {target} | {shares} |"


@dataclass
class Cli:
    """Steps per second of our scripts against Stable-Baselines3's PPO, at identical settings."""

    cases: tuple[Literal["hopper", "hopper_penalty", "cartpole", "breakout"], ...] = tuple(CASES)
    """which comparisons to run"""
    rounds: int = 3  # measurements of each side (alternating ours, SB3)
    memory: bool = False
    """instead: measure the peak memory of a 100k- and a 1M-step Hopper run (about 10 minutes), into
    speed_memory.json, which the report includes"""
    publish: bool = False
    """write speed.md and speed.json (or speed_memory.json) into benchmark/results/, the record; else into
    benchmark/runs/results/ (a look, which leaves the record as it is)"""
    before: str | None = None
    """instead of SB3, compare ours now with ours at this git commit (before/after a change); prints only"""


def measure_case(name: str, rounds: int, cases: dict, before: Path | None = None) -> dict:
    """A case's row of speed.json: ours and SB3 alternating for `rounds` rounds, and the medians. With
    `before` (a file of our script as it was at a commit), that script takes SB3's place."""
    case, ours_all, other_all, splits = CASES[name], [], [], []
    for round_ in range(rounds):
        mine = in_fresh_process(measure_ours, case)
        ours_all.append(mine["sps"])
        splits.append(mine["split"])
        line = f"{name} round {round_ + 1}: ours {mine['sps']:,.0f} steps/s"
        if before or case.sb3:
            theirs = in_fresh_process(measure_ours, case, before) if before else in_fresh_process(measure_sb3, case)
            other_all.append(theirs["sps"])
            line += f", {'before' if before else 'SB3'} {theirs['sps']:,.0f} steps/s"
        print(line, flush=True)
    row = {"ours": statistics.median(ours_all), "ours_all": ours_all}
    row["split"] = {part: statistics.median(split[part] for split in splits) for part in splits[0]}
    other_all = other_all or cases.get(case.sb3_of, {}).get("sb3_all", [])
    return row | ({"sb3": statistics.median(other_all), "sb3_all": other_all} if other_all else {})


def compare_commits(cli: Cli) -> None:
    """Ours now against ours at an earlier commit, alternating: the before/after figure of a change."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in cli.cases:
            row = measure_case(name, cli.rounds, {}, script_at(cli.before, CASES[name].script, Path(tmp)))
            ratio = row["ours"] / row["sb3"]
            print(f"{name}: now {row['ours']:,.0f} steps/s, at {cli.before} {row['sb3']:,.0f} steps/s: {ratio:.2f}×")


def less_than_recorded(cli: Cli) -> str:
    """What the published speed.json has that these measurements would not: cases, or rounds."""
    if not (RESULTS / "speed.json").exists():
        return ""
    cases = json.loads((RESULTS / "speed.json").read_text())["cases"]
    rounds = max(len(case["ours_all"]) for case in cases.values())
    less = [f"no {name}" for name in cases if name not in cli.cases]
    return ", ".join(less + ([f"{cli.rounds} rounds, not {rounds}"] if cli.rounds < rounds else []))


def main() -> None:
    cli = tyro.cli(Cli)
    if cli.rounds < 1 or not cli.cases:
        raise SystemExit("speed.py: --rounds must be at least 1, and --cases name at least one case")
    if cli.before == "":  # else taken as no --before: SB3 measured, and with --publish the record written
        raise SystemExit("speed.py: --before needs a commit, e.g. HEAD~1")
    if cli.before and (cli.publish or cli.memory):
        raise SystemExit("speed.py: --before only prints a comparison; leave out --publish and --memory")
    if cli.publish and not cli.memory and (less := less_than_recorded(cli)):  # a record is never replaced by less
        raise SystemExit(f"speed.py: --publish would replace the record by less ({less}): measure all of it")
    os.environ.update(script_env())  # what every measurement's fresh process inherits: one thread
    if cli.before:
        return compare_commits(cli)
    out = RESULTS if cli.publish else SCRATCH
    out.mkdir(parents=True, exist_ok=True)
    if cli.memory:
        return measure_memory(out / "speed_memory.json")
    if importlib.util.find_spec("stable_baselines3") is None:
        raise SystemExit("speed.py: needs Stable-Baselines3: pip install -r benchmark/requirements-speed.txt")
    packages = {"torch": "torch", "sb3": "stable-baselines3", "gymnasium": "gymnasium"}
    versions = {name: importlib.metadata.version(package) for name, package in packages.items()}
    made = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    # Of the code measured, and when and where: a report rendered later keeps them.
    results = {"versions": versions, "cases": {}, "commit": git_commit(), "made": made, "machine": machine()}
    for name in cli.cases:
        results["cases"][name] = measure_case(name, cli.rounds, results["cases"])
    # What bounds these two ratios, for speed.md's "What bounds" sections.
    if "hopper" in cli.cases:
        results["profile"] = in_fresh_process(profile_hopper)
    if "breakout" in cli.cases:
        results["profile_breakout"] = in_fresh_process(profile_breakout)
    # The recorded peak memory, unless --memory measured it anew into the scratch folder.
    memory_json = next((p for p in (out / "speed_memory.json", RESULTS / "speed_memory.json") if p.exists()), None)
    memory = json.loads(memory_json.read_text()) if memory_json else None
    command = "python benchmark/speed.py " + " ".join(sys.argv[1:])
    (out / "speed.md").write_text(render(results, cli.rounds, command.strip(), memory))
    (out / "speed.json").write_text(json.dumps(results, indent=2))
    print(f"speed.py: wrote {out / 'speed.md'}" + ("" if cli.publish else " (--publish writes the record)"))


if __name__ == "__main__":
    quiet_on_closed_pipe(main)
