"""Stable-Baselines3's PPO with ppo_continuous.py's settings: a peer for the MuJoCo benchmark, not our code.

Issue 15: where ppo_continuous.py falls short of the paper (Swimmer-v4, InvertedDoublePendulum-v4 at 1M
steps), an independent implementation run with the same settings on the same seeds says whether the
shortfall is ours or the setting's. This script trains SB3's PPO and writes the run folder our scripts
write (TensorBoard events with our tags, `args.json` with what SB3 was given, `summary.json` when it ends),
so `run.py` runs it and `report.py` reports it like our own runs (suites `mujoco_sb3`, `mujoco_sb3_no_clip_vloss`).

    pip install -r benchmark/requirements-speed.txt     # stable-baselines3
    python benchmark/sb3_ppo.py --env-id Swimmer-v4 --seed 1

Its flags are ppo_continuous.py's (the subset SB3 has), with the same defaults; `sb3_kwargs` gives them to
SB3 field by field (benchmark/speed.py builds its SB3 learners with the same `make_envs`, `make_model`).
Where SB3 (2.9.2, as read in its source) still differs from ppo_continuous.py:

- Value clipping, the one difference left in the update's mathematics: with `clip_range_vf` SB3 minimises
  (V_clipped − R)² alone, not max((V − R)², (V_clipped − R)²) as baselines and ours, so a sample whose value
  moved more than ε gives the value network no gradient. Matching it would mean rewriting SB3's `PPO.train`.
- Random streams: SB3 draws actions with torch and minibatches with numpy's global generator, and initializes
  the networks in another order, so seed n here is not seed n of ours: only distributions over seeds compare.
  With these streams taken away and the value loss unclipped, the two compute the same rollouts, advantages
  and parameters to float32 rounding (tests/test_sb3_peer.py).
- Matched here: the stepsize schedule (SB3 asks for it after the rollout: `Annealed`), and --total-timesteps
  rounded down to a multiple of N·T, as ours (SB3 would run a last partial budget's rollout in full).
  Nothing to match: the bootstrap at a time limit, γ·V(last observation), and per-minibatch advantage
  normalization are SB3's too.
- Not offered: --target-kl, --resume, --eval-checkpoint. `--save-model` writes SB3's `sb3_model.zip` and
  `sb3_vecnormalize.pkl`, not `model.pt`: run.py restarts an interrupted run from scratch.
- Logged: SB3's diagnostics under our tags (DIAGNOSTICS); `approx_kl` is the mean over the last epoch's
  minibatches (ours: over the update's). Monitor rounds each episode's return to 6 decimals.
- Ctrl-C or SIGTERM stops at the next environment step (an SB3 callback can end learn() only there), writes
  summary.json with `interrupted` set and ends by the signal (130 / 143), as our scripts; a second Ctrl-C stops
  at once, without summary.json.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import sys
import time
import warnings
from collections import deque
from dataclasses import dataclass
from functools import partial

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro
from repo import load_script, quiet_on_closed_pipe
from torch.utils.tensorboard import SummaryWriter

SCRIPT = "sb3_ppo"
INSTALL = "pip install -r benchmark/requirements-speed.txt"
# The peer takes what ppo_continuous.py takes, in its words: its checks of the flags and the environment, its
# one-line errors (UserError: main() prints it and exits with code 2), its status line.
ppo_continuous = load_script("ppo_continuous")
UserError = ppo_continuous.UserError

try:
    import stable_baselines3
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecEnv, VecNormalize
except ModuleNotFoundError as e:
    if __name__ != "__main__":
        raise
    print(f"{SCRIPT}: error: {e.name} is not installed: {INSTALL}", file=sys.stderr)
    sys.exit(2)


@dataclass
class Args:
    # --- experiment ---
    env_id: str = "Hopper-v4"  # a gymnasium id (the benchmark: the 7 MuJoCo -v4 ids)
    total_timesteps: int = 1_000_000  # environment steps over all envs, rounded down to a multiple of N×T (as ours)
    seed: int = 1  # SB3's seed: python, numpy, torch, the environments and their action spaces
    exp_name: str = SCRIPT  # part of the run folder's name
    runs_dir: str = "runs"  # where run folders go
    save_model: bool = False  # at the end, write SB3's sb3_model.zip and sb3_vecnormalize.pkl (no --resume from them)
    torch_threads: int = 1  # CPU threads for torch, as ours

    # --- algorithm: ppo_continuous.py's flags and defaults (Table 3 plus baselines' details), see sb3_kwargs ---
    num_envs: int = 1  # N, parallel actors (SB3's n_envs)
    num_steps: int = 2048  # T, steps each actor runs per rollout (SB3's n_steps)
    learning_rate: float = 3e-4  # Adam stepsize
    anneal_lr: bool = True  # anneal it linearly to 0, on ppo_continuous.py's schedule (Annealed)
    gamma: float = 0.99  # discount γ
    gae_lambda: float = 0.95  # GAE λ
    num_minibatches: int = 32  # minibatches per epoch: SB3's batch_size = N×T / this = 64
    update_epochs: int = 10  # K (SB3's n_epochs)
    norm_adv: bool = True  # normalize the advantages in each minibatch (SB3's normalize_advantage)
    clip_coef: float = 0.2  # ε (SB3's clip_range)
    clip_vloss: bool = True  # clip the value update to ±ε (SB3's clip_range_vf; its form differs, see above)
    ent_coef: float = 0.0  # c2, the entropy bonus
    vf_coef: float = 0.25  # c1 on the value loss, the MSE in SB3 and ours (baselines: 0.5 on a halved MSE)
    max_grad_norm: float = 0.5  # clip the global gradient norm to this
    norm_obs: bool = True  # VecNormalize's observation normalization, clipped to ±10
    norm_reward: bool = True  # VecNormalize's reward scaling by the std of the discounted return, clipped to ±10


@dataclass(frozen=True)
class Annealed:
    """Our linear schedules (the stepsize; Atari's clip ε) as an SB3 schedule. Ours sets the value before each
    rollout to (1 − steps before it / total_timesteps)·value; SB3 asks its schedule after the rollout, with
    progress_remaining = 1 − steps done / learn_steps, the rollout's steps included."""

    value: float
    batch_size: int  # N×T, the steps of one rollout
    learn_steps: int  # the total_timesteps given to SB3's learn()
    total_timesteps: int  # ppo_continuous.py's --total-timesteps, before rounding (ours anneals over it)

    def __call__(self, progress_remaining: float) -> float:
        steps_before = round((1.0 - progress_remaining) * self.learn_steps) - self.batch_size
        return self.value * (1.0 - max(steps_before, 0) / self.total_timesteps)


def sb3_kwargs(args: Args, learn_steps: int, policy: str = "MlpPolicy") -> dict:
    """SB3 PPO's keyword arguments for our hyperparameters (see the module's docstring for what differs)."""
    batch_size = args.num_envs * args.num_steps
    lr = Annealed(args.learning_rate, batch_size, learn_steps, args.total_timesteps)
    policy_kwargs: dict = dict(optimizer_kwargs=dict(eps=1e-5))  # Adam ε = 1e-5 (baselines; SB3's default too)
    if policy == "MlpPolicy":  # separate 2×64 tanh networks, orthogonal init (√2, 0.01, 1), log-std from 0
        policy_kwargs |= dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=nn.Tanh, ortho_init=True)
        policy_kwargs |= dict(log_std_init=0.0)
    return dict(
        n_steps=args.num_steps,
        batch_size=batch_size // args.num_minibatches,
        n_epochs=args.update_epochs,
        learning_rate=lr if args.anneal_lr else args.learning_rate,
        gamma=args.gamma,
        gae_lambda=args.gae_lambda,
        clip_range=args.clip_coef,
        clip_range_vf=args.clip_coef if args.clip_vloss else None,  # SB3 clips the value only when given this
        normalize_advantage=args.norm_adv,
        ent_coef=args.ent_coef,
        vf_coef=args.vf_coef,  # SB3's value loss is the MSE, as ours
        max_grad_norm=args.max_grad_norm,
        policy_kwargs=policy_kwargs,
        device="cpu",
    )


def make_envs(args: Args) -> VecEnv:
    """The N actors as SB3 has them: a DummyVecEnv of Monitor-wrapped environments (each episode's raw return
    and length in infos["episode"]), under VecNormalize when normalizing. VecNormalize's defaults are ours:
    statistics from mean 0, variance 1, count 1e-4; ε 1e-8; observations and rewards clipped to ±10."""
    with warnings.catch_warnings():  # gymnasium's "Hopper-v4 is out of date": -v4 is the suites' choice
        warnings.filterwarnings("ignore", ".*is out of date", DeprecationWarning)
        # A callable, not the id: SB3 would make the id with render_mode="rgb_array".
        envs = make_vec_env(partial(gym.make, args.env_id), n_envs=args.num_envs, seed=args.seed)
    if args.norm_obs or args.norm_reward:
        envs = VecNormalize(envs, norm_obs=args.norm_obs, norm_reward=args.norm_reward, gamma=args.gamma)
    return envs


def make_model(args: Args, envs: VecEnv, learn_steps: int, policy: str = "MlpPolicy", **overrides) -> PPO:
    """SB3's PPO on `envs` with our hyperparameters; `overrides` replace any of sb3_kwargs' arguments."""
    return PPO(policy, envs, seed=args.seed, verbose=0, **(sb3_kwargs(args, learn_steps, policy) | overrides))


# SB3's names of an update's diagnostics -> (our TensorBoard tag, factor): see the module's docstring.
DIAGNOSTICS = {
    "train/policy_gradient_loss": ("losses/policy_loss", 1.0),
    "train/value_loss": ("losses/value_loss", 1.0),
    "train/entropy_loss": ("losses/entropy", -1.0),
    "train/approx_kl": ("losses/approx_kl", 1.0),
    "train/clip_fraction": ("losses/clipfrac", 1.0),
    "train/explained_variance": ("losses/explained_variance", 1.0),
    "train/learning_rate": ("charts/learning_rate", 1.0),
}


def train(args: Args) -> dict:
    with Run(args) as run:
        torch.set_num_threads(args.torch_threads)
        model = make_model(args, make_envs(args), run.learn_steps)
        model.learn(total_timesteps=run.learn_steps, callback=run)
        return run.finish(model)


class Run(BaseCallback):
    """ppo_continuous.py's run folder (TensorBoard events, args.json, summary.json), status line and Ctrl-C or
    SIGTERM, without checkpoints, kept from inside SB3's learn(): each episode's raw return and length at the
    global step where it ended, each update's diagnostics at the step after its rollout, as ours."""

    def __init__(self, args: Args):
        super().__init__()
        validate(args)
        self.args, self.signal, self.recent_returns = args, None, deque(maxlen=100)
        n_t = args.num_envs * args.num_steps
        self.learn_steps = args.total_timesteps - args.total_timesteps % n_t
        if self.learn_steps != args.total_timesteps:
            print(
                f"--total-timesteps is rounded down to a multiple of N×T = {n_t:,}: {self.learn_steps:,}",
                file=sys.stderr,
            )
        name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}".replace("/", "-")
        self.dir, self.last_print, self.updates_logged = os.path.join(args.runs_dir, name), 0.0, 0

    def __enter__(self) -> Run:
        try:  # here, not in SummaryWriter: a --runs-dir that is a file is one line, as ppo_continuous.py says it
            os.makedirs(self.dir, exist_ok=True)
        except OSError as e:
            what = "a shorter --exp-name" if e.errno == errno.ENAMETOOLONG else "another --runs-dir"
            raise UserError(f"cannot make the run folder {self.dir}: {e.strerror}; pass {what}") from None
        self.writer, hyperparameters = SummaryWriter(self.dir), dataclasses.asdict(self.args)
        table = "".join(f"\n|{key}|{value}|" for key, value in hyperparameters.items())
        self.writer.add_text("hyperparameters", f"|param|value|\n|-|-|{table}")
        # What SB3 was given, besides our flags: the record of how they were mapped.
        given = sb3_kwargs(self.args, self.learn_steps) | {"learn_total_timesteps": self.learn_steps}
        sb3 = {"version": stable_baselines3.__version__, "ppo_kwargs": given}
        with open(os.path.join(self.dir, "args.json"), "w") as f:
            json.dump(hyperparameters | {"stable_baselines3": sb3}, f, indent=2, default=printable)
        self.handlers = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def handle(self, signum: int, frame) -> None:
        if self.signal is None:
            self.signal = signal.Signals(signum).name
            print(f"\n{self.signal}: stopping at the next step (Ctrl-C again to stop at once)", file=sys.stderr)
        elif signum == signal.SIGINT:  # not a second SIGTERM: scancel may send one to the run and one to run.py
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        for sig, handler in self.handlers.items():
            signal.signal(sig, handler)
        self.writer.close()

    def _on_training_start(self) -> None:
        self.start_time = time.time()  # the clock (steps/s) starts with training, not the set-up

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:  # Monitor's, below VecNormalize: the raw return
                self.writer.add_scalar("charts/episodic_return", info["episode"]["r"], self.model.num_timesteps)
                self.writer.add_scalar("charts/episodic_length", info["episode"]["l"], self.model.num_timesteps)
                self.recent_returns.append(float(info["episode"]["r"]))
        return self.signal is None  # False ends learn() at once

    def _on_rollout_start(self) -> None:
        self.log_update()  # the last update's diagnostics stay in SB3's logger until this rollout's end

    def _on_training_end(self) -> None:
        self.log_update()

    def log_update(self) -> None:
        """The last update's diagnostics, once, at the step after its rollout (no step taken since, unless
        interrupted, and then it is logged already); now and then the status line."""
        recorded, step = self.model.logger.name_to_value, self.model.num_timesteps
        if recorded.get("train/n_updates", 0) == self.updates_logged:  # no update yet, or logged already
            return
        self.updates_logged, sps = recorded["train/n_updates"], step / (time.time() - self.start_time)
        for theirs, (ours, factor) in DIAGNOSTICS.items():
            self.writer.add_scalar(ours, recorded[theirs] * factor, step)
        self.writer.add_scalar("charts/SPS", sps, step)
        if time.time() - self.last_print >= 5.0 or step >= self.learn_steps:
            self.last_print = time.time()
            print(ppo_continuous.status_line(step, self.learn_steps, self.recent_returns, sps), flush=True)

    def finish(self, model: PPO) -> dict:
        seconds, steps, returns = time.time() - self.start_time, model.num_timesteps, self.recent_returns
        mean_return = float(np.mean(returns)) if returns else float("nan")
        if self.args.save_model:
            model.save(os.path.join(self.dir, "sb3_model.zip"))
            if isinstance(model.get_env(), VecNormalize):
                model.get_env().save(os.path.join(self.dir, "sb3_vecnormalize.pkl"))
        summary = dict(global_step=steps, start_step=0, mean_return=mean_return, episodes=len(returns))
        summary |= dict(sps=steps / seconds, wall_seconds=seconds, run_dir=self.dir, checkpoint=None)
        summary["interrupted"] = self.signal
        with open(os.path.join(self.dir, "summary.json"), "w") as f:  # read by benchmark/run.py to skip finished runs
            # Strict JSON, for readers in any language: no episode finished is null (NaN is not JSON; train() returns it).
            json.dump(summary | {"mean_return": mean_return if returns else None}, f, indent=2)
        score = f"mean return of the last {len(returns)} episodes {mean_return:.2f}" if returns else ""
        print(
            f"{'interrupted' if self.signal else 'done'}: step {steps:,} ({seconds:.0f} s, {summary['sps']:,.0f} "
            f"steps/s); {score or 'no episode finished yet'}; run folder {self.dir}",
            flush=True,
        )
        return summary


def printable(value) -> object:
    """args.json's rendering of what JSON has no type for: Annealed's fields, a class's name."""
    if dataclasses.is_dataclass(value):
        return {"schedule": type(value).__name__} | dataclasses.asdict(value)
    return getattr(value, "__name__", repr(value))


def validate(args: Args) -> None:
    """Refuses what ppo_continuous.py refuses (hyperparameters that cannot work, an unknown environment id,
    discrete actions, images), before anything starts."""
    ppo_continuous.validate(ppo_continuous.Args(**dataclasses.asdict(args)))


def main(argv: list[str] | None = None) -> None:
    try:
        summary = train(tyro.cli(Args, args=argv))
    except UserError as e:
        print(f"{SCRIPT}: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{SCRIPT}: stopped at once; no summary.json written", file=sys.stderr)
        ppo_continuous.end_by(signal.SIGINT)
    if summary["interrupted"]:  # ended by the signal, so that a shell loop stops too
        ppo_continuous.end_by(signal.Signals[summary["interrupted"]])


if __name__ == "__main__":
    quiet_on_closed_pipe(main)
