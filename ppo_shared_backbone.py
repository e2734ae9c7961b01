"""PPO-Clip with one network for policy and value: the paper's Atari setting (Table 5).

Schulman et al., "Proximal Policy Optimization Algorithms" (arXiv:1707.06347), with the
advantage estimator of Schulman et al., "High-Dimensional Continuous Control Using Generalized
Advantage Estimation" (arXiv:1506.02438). One trunk (baselines' Nature-DQN CNN for Atari frames, a
2x64 tanh MLP for vector observations) feeds a categorical policy head and a value head, so the policy
and the value error share parameters and are trained on one combined objective. This file implements:

- Eq. (7)       L^CLIP = E_t[min(r_t(θ) Â_t, clip(r_t(θ), 1-ε, 1+ε) Â_t)], r_t = π_θ(a_t|s_t) / π_θold(a_t|s_t)
- Eq. (9)       L^{CLIP+VF+S} = E_t[L^CLIP_t - c1 L^VF_t + c2 S[π_θ](s_t)], L^VF_t = (V_θ(s_t) - V^targ_t)²,
                maximised (its negative minimised) with c1 = 1 and c2 = 0.01 (Table 5)
- Eq. (11)-(12) truncated GAE, Â_t = δ_t + (γλ) δ_{t+1} + ..., δ_t = r_t + γ V(s_{t+1}) - V(s_t)
- Algorithm 1   N actors run π_θold for T steps, then K epochs of minibatch Adam on the surrogate

The defaults are Table 5's (Atari; 10M steps = 40M frames, Table 6's budget): N = 8 actors, T = 128,
K = 3 epochs, minibatch 32 x 8 = 256, Adam stepsize 2.5e-4 x α and clip ε = 0.1 x α with α annealed
linearly from 1 to 0, c1 = 1, c2 = 0.01, γ = 0.99, λ = 0.95. c1 = 1 weighs the unhalved squared error of
Eq. (9), as baselines' ppo1 has since 2017-08-27 (its first version, baselines/pposgd of 2017-07-20,
released with the paper, weighed half a clipped error); baselines' ppo2 and CleanRL weigh it 0.25 (vf_coef
0.5 on a halved error), which is --vf-coef 0.25 here. The Atari preprocessing is that of OpenAI baselines'
ppo2, the reference implementation the published re-implementations are measured against (NoopReset,
MaxAndSkip, EpisodicLife, FireReset, 84x84 grayscale, reward sign, 4-frame stack). Vector observations
(CartPole-v1, Acrobot-v1, MountainCar-v0, LunarLander-v3) get the MLP trunk and no preprocessing. Each
implementation detail is marked "implementation detail (baselines)" where it appears; what only buys
speed is marked "speed only".

    python ppo_shared_backbone.py                                   # BreakoutNoFrameskip-v4, Table 5
    python ppo_shared_backbone.py --env-id PongNoFrameskip-v4 --seed 2 --save-model
    python ppo_shared_backbone.py --env-id CartPole-v1 --total-timesteps 500000
    python ppo_shared_backbone.py --eval-checkpoint runs/<run>/model.pt --eval-episodes 10
"""

from __future__ import annotations

import dataclasses
import errno
import importlib.util
import json
import math
import os
import random
import signal
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

SCRIPT = "ppo_shared_backbone"
CHECKPOINT_VERSION = 1


@dataclass
class Args:
    """PPO-Clip with one trunk for policy and value (ppo_shared_backbone.py): the paper's Atari setting.

    Atari frames (an ALE game's uint8 images): baselines' preprocessing and the Nature-DQN CNN.

    1-D observations, as the environment gives them: a 2x64 tanh MLP trunk. Discrete actions.

    An environment of your own: register it in a module of yours, pass --env-id your_module:YourEnv-v0."""

    # --- experiment ---
    env_id: str = "BreakoutNoFrameskip-v4"  # an Atari game (baselines' NoFrameskip-v4) or a 1-D Box; Discrete actions
    total_timesteps: int = 10_000_000  # agent steps of all envs (10M = 40M frames, Table 6's budget); floored to N×T
    seed: int = 1  # seeds python, numpy, torch, the environments and their action spaces (resumed: with the step too)
    exp_name: str = SCRIPT  # part of the run folder's name
    runs_dir: str = "runs"  # where run folders (TensorBoard events, hyperparameters, checkpoints) go
    save_model: bool = False  # write model.pt in the run folder: at the end, on Ctrl-C, and every --save-interval steps
    save_interval: int = 500_000  # with --save-model, agent steps of all envs between checkpoints
    eval_checkpoint: str | None = None  # evaluate this model.pt (arg-max action, whole games, raw score)
    eval_episodes: int = 10  # episodes (whole games for Atari) to run with --eval-checkpoint
    resume: str | None = None
    """go on with this model.pt in a new run folder to --total-timesteps in all (command line: unset flags from it)"""
    capture_video: bool = False  # record the first environment into the run folder (moviepy; classic control: pygame)
    cuda: bool = True  # use a GPU when there is one
    torch_deterministic: bool = True  # torch.use_deterministic_algorithms: deterministic kernels where torch has them
    torch_threads: int = 1  # CPU threads for torch: 1 is fastest on a busy CPU; more contend with the envs

    # --- algorithm (paper, Table 5, unless said otherwise) ---
    num_envs: int = 8  # N, parallel actors (Table 5: 8)
    num_steps: int = 128  # T, steps each actor runs per rollout (Table 5: horizon 128)
    learning_rate: float = 2.5e-4  # Adam stepsize at α = 1 (Table 5: 2.5e-4 × α)
    anneal_lr: bool = True  # anneal the stepsize with α, linearly from 1 to 0 over training (Table 5)
    gamma: float = 0.99  # discount γ (Table 5)
    gae_lambda: float = 0.95  # GAE λ of Eq. (11) (Table 5)
    num_minibatches: int = 4  # per epoch; M = N*T / this: 8*128 / 4 = 256 = 32 × 8, Table 5's M (other N or T: set it)
    update_epochs: int = 3  # K, epochs over each rollout (Table 5: 3; baselines' shipped ppo2 Atari defaults: 4)
    norm_adv: bool = True  # implementation detail (baselines): normalize the advantages in each minibatch
    clip_coef: float = 0.1  # ε of Eq. (7) at α = 1 (Table 5: 0.1 × α)
    anneal_clip: bool = True  # anneal ε with α, Table 5 (as ppo2 until 2019; CleanRL, later ppo2: --no-anneal-clip)
    clip_vloss: bool = True  # implementation detail (baselines; not Table 5): clip the value update to ±ε, the ratio's
    ent_coef: float = 0.01  # c2 of Eq. (9), the entropy bonus (Table 5: 0.01)
    vf_coef: float = 1.0
    """c1 of Eq. (9) on L^VF = (V - V^targ)² (Table 5: 1); ppo2's and CleanRL's vf_coef 0.5 on half of it is 0.25 here"""
    max_grad_norm: float = 0.5  # implementation detail (baselines): clip the global gradient norm to this
    target_kl: float | None = None  # stop an update's epochs once an epoch's mean approx KL exceeds this (no paper)


# --- Environment -----------------------------------------------------------------------------------------------


def make_env(env_id: str, video_dir: str | None = None, every_episode: bool = False):
    """The environment of one actor: Atari frames get baselines' preprocessing (atari_wrappers, below the
    fence: no-op starts, frame skip 4 with a max over the last 2 RGB frames, a lost life as a terminal state,
    FIRE at reset, grey 84x84, reward sign, the last 4 frames stacked), in training and evaluation alike
    (the policy sees what it was trained on); a 1-D observation is used as gymnasium gives it.
    Either way info["episode"] holds an episode's (a whole game's) true return when it ends."""

    def thunk():
        register_ale()
        kwargs = {"render_mode": "rgb_array"} if video_dir else {}
        spec = gym.spec(env_id.rpartition(":")[2])  # my_module:MyEnv-v0: check_env's gym.make imported my_module
        if "ale_py" in str(spec.entry_point) and spec.kwargs.get("frameskip", 1) != 1:
            # ALE/...-v5 skips frames itself (without max-pooling); MaxAndSkipObservation skips 4 with
            # max-pooling instead. v5's sticky actions (repeat_action_probability 0.25) stay.
            kwargs["frameskip"] = 1
        env = make_probe_env(env_id, **kwargs)
        if video_dir:
            trigger = (lambda _: True) if every_episode else None
            env = RecordVideo(env, video_dir, episode_trigger=trigger)
        # The NoFrameskip-v4 games have no TimeLimit wrapper; ALE truncates a game at 108,000 frames
        # (30 minutes), which the rollout treats as a time limit (bootstrapped), not a terminal state.
        # Baselines' gym cut them at 400,000 frames instead (SpaceInvaders 300,000), as terminal; few games last
        # that long.
        return atari_wrappers(env) if is_atari_frames(env) else gym.wrappers.RecordEpisodeStatistics(env)

    return thunk


def make_vector_env(args: Args, run_dir: str) -> gym.vector.VectorEnv:
    # Gymnasium >= 1.0 resets a finished sub-env on the *next* step by default; SAME_STEP resets it at
    # once and hands back the episode's last observation in infos["final_obs"], which the time-limit
    # bootstrap needs. Speed only: copy=False, the observations come back in the vector env's own array
    # (no deepcopy each step), which the next step overwrites; the rollout copies them before that.
    videos = [f"{run_dir}/videos" if args.capture_video and i == 0 else None for i in range(args.num_envs)]
    return gym.vector.SyncVectorEnv(
        [make_env(args.env_id, video_dir) for video_dir in videos],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        copy=False,
    )


# --- Network: one trunk (Nature-DQN CNN or 2x64 tanh MLP), a policy head and a value head ----------------------


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    """Implementation detail (baselines): orthogonal weights with gain `std`, zero biases."""
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    """One trunk, two heads: the logits of π_θ(·|s) and V_θ(s) share every trunk parameter, as in the network of
    Mnih et al. (2016) that section 6.4 uses (one policy and one value output on shared layers)."""

    def __init__(self, obs_shape: tuple[int, ...], num_actions: int):
        super().__init__()
        self.image = len(obs_shape) == 3
        # Implementation detail (baselines): the Nature-DQN CNN (Mnih et al. 2015) on the stack of 4 84x84 frames,
        # the CNN of baselines' PPO code (ppo1's default, ppo2's); section 6.4 names Mnih et al. (2016)'s network.
        if self.image:
            self.trunk = nn.Sequential(
                layer_init(nn.Conv2d(obs_shape[0], 32, 8, stride=4)),
                nn.ReLU(),
                layer_init(nn.Conv2d(32, 64, 4, stride=2)),
                nn.ReLU(),
                layer_init(nn.Conv2d(64, 64, 3, stride=1)),
                nn.ReLU(),
                nn.Flatten(),
                layer_init(nn.Linear(64 * 7 * 7, 512)),
                nn.ReLU(),
            )
            # Speed only: convolutions ~1.5x faster on CPU with channels-last tensors (same values to float rounding).
            self.trunk.to(memory_format=torch.channels_last)
            hidden = 512
        else:  # vector observations: the paper's 2x64 tanh MLP (section 6.1), here shared by both heads
            self.trunk = nn.Sequential(
                layer_init(nn.Linear(obs_shape[0], 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)), nn.Tanh()
            )
            hidden = 64
        # Implementation detail (baselines): output gains 0.01 (π near uniform) and 1 (the value).
        self.actor = layer_init(nn.Linear(hidden, num_actions), std=0.01)
        self.critic = layer_init(nn.Linear(hidden, 1), std=1.0)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        if self.image:
            # Frames stay uint8 (4x less memory than float) until here. Implementation detail (baselines): / 255.
            return self.trunk(obs.contiguous(memory_format=torch.channels_last).float() * (1.0 / 255.0))
        return self.trunk(obs.float())

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.features(obs)).squeeze(-1)

    def get_logprob_entropy_value(self, obs: torch.Tensor, action: torch.Tensor):
        """log π_θ(a|s), the entropy S of Eq. (9) and V(s), from one trunk pass: the update's forward pass."""
        hidden = self.features(obs)
        return *categorical_log_prob_and_entropy(self.actor(hidden), action), self.critic(hidden).squeeze(-1)

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rollout's a ~ π_θold(·|s), drawn by torch from the generator train() seeds, log π_θold(a|s) and
        V(s), as numpy arrays."""
        hidden = self.features(torch.as_tensor(obs, device=self.critic.weight.device))
        logits = self.actor(hidden)
        log_probs = logits - logits.logsumexp(-1, keepdim=True)  # log π_θ(·|s)
        action = torch.multinomial(log_probs.exp(), 1, True)
        logprob = log_probs.gather(-1, action).squeeze(-1)
        return action.squeeze(-1).cpu().numpy(), logprob.cpu().numpy(), self.critic(hidden).squeeze(-1).cpu().numpy()

    @torch.inference_mode()
    def value(self, obs: np.ndarray) -> np.ndarray:
        return self.get_value(torch.as_tensor(obs, device=self.critic.weight.device)).cpu().numpy()


# --- The math: the categorical, advantages (Eq. 11-12), the clipped surrogate (Eq. 7), Eq. (9) -------------


def categorical_log_prob_and_entropy(logits: torch.Tensor, action: torch.Tensor):
    """log π(a|s) and the entropy S = -Σ_a π(a|s) log π(a|s) of π = softmax(logits). Speed only: written
    out, not a torch.distributions.Categorical (the same values to float32 rounding, without its overhead)."""
    log_probs = logits - logits.logsumexp(-1, keepdim=True)  # log π_θ(·|s)
    probs = log_probs.exp()  # before the gather: autograd then sums the gradients in the order it always did
    logprob = log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1)
    return logprob, -(probs * log_probs).sum(-1)


def compute_gae(rollout: Rollout, gamma: float, gae_lambda: float) -> tuple[np.ndarray, np.ndarray]:
    """Truncated GAE, Eq. (11)-(12), for a rollout of T steps from N actors; its arrays are (T, N):

    values[t]       V(s_t).
    next_values[t]  V(s_{t+1}) of the state step t led to. Where a time limit cut the episode at t
                    this is V(final observation): a truncated state is not terminal, so its value is
                    bootstrapped, not zeroed (Pardo et al., 2018). At t = T-1 it is V(s_T), the
                    bootstrap at the end of the rollout of Algorithm 1.
    terminations[t] 1 where s_{t+1} is terminal: its value is 0.
    episode_ends[t] 1 where the episode ended at t (terminated or truncated): the sum stops there.

    Returns the advantages Â_t and the value targets V^targ_t = Â_t + V(s_t).
    """
    r = rollout
    advantages = r.rewards + gamma * (1.0 - r.terminations) * r.next_values - r.values  # δ_t of Eq. (12), all t
    decay = gamma * gae_lambda * (1.0 - r.episode_ends)  # γλ, and 0 where the episode ended at t
    for t in reversed(range(len(advantages) - 1)):
        advantages[t] += decay[t] * advantages[t + 1]  # Â_t = δ_t + γλ Â_{t+1}, Eq. (11)
    return advantages, advantages + r.values


def clipped_surrogate_loss(ratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """-L^CLIP of Eq. (7), to be minimised: -E[min(r·Â, clip(r, 1-ε, 1+ε)·Â)]."""
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * advantages
    return -torch.min(unclipped, clipped).mean()


def value_loss(new_values, old_values, returns, clip_coef: float, clip_vloss: bool) -> torch.Tensor:
    """L^VF of Eq. (9), the squared error (V(s_t) - V^targ_t)² as the paper writes it, so that vf_coef is its c1
    (baselines' ppo2 and CleanRL halve it: their vf_coef is twice the weight it puts on this). With clip_vloss
    (implementation detail, baselines' ppo2; the code released with the paper dropped it on 2017-08-27 as harmful
    on MuJoCo) the new value may not gain by moving more than ε from the old one: the larger error counts."""
    if not clip_vloss:
        return ((new_values - returns) ** 2).mean()
    clipped_values = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    return torch.max((new_values - returns) ** 2, (clipped_values - returns) ** 2).mean()


def combined_loss(
    policy_loss: torch.Tensor, v_loss: torch.Tensor, entropy: torch.Tensor, vf_coef: float, ent_coef: float
) -> torch.Tensor:
    """Eq. (9), negated for gradient descent: -L^{CLIP+VF+S} = -L^CLIP + c1 L^VF - c2 S.

    policy_loss is -L^CLIP (clipped_surrogate_loss), v_loss is L^VF (value_loss) and entropy is the
    mean S[π_θ](s_t): the value error is a cost scaled by c1 = vf_coef, the entropy a bonus scaled by
    c2 = ent_coef. With one trunk, c1 sets how much the value error shapes the policy's features."""
    return policy_loss + vf_coef * v_loss - ent_coef * entropy


# --- Algorithm 1: actors collect T steps with π_θold, then K epochs of minibatch updates ------------------------


@dataclass
class Rollout:
    """T steps from N actors; every field is a (T, N, ...) numpy array."""

    obs: np.ndarray
    actions: np.ndarray
    logprobs: np.ndarray
    values: np.ndarray
    rewards: np.ndarray
    next_values: np.ndarray
    terminations: np.ndarray
    episode_ends: np.ndarray


class Actors:
    """The N actors of Algorithm 1: the vector env, and each episode's (a whole game's) score when it ends."""

    def __init__(self, envs, seed: int):
        self.envs = envs
        self.action_start = int(envs.single_action_space.start)  # Discrete(n, start): actions start..start+n-1
        self.next_obs = envs.reset(seed=seed)[0]
        self.finished: list[tuple[int, float, int]] = []  # (step t, return, length) in the last rollout

    def collect(self, agent: Agent, num_steps: int) -> Rollout:
        n = self.envs.num_envs
        # Atari frames stay uint8 (4x smaller than float32) until the network scales them.
        obs = np.zeros(
            (num_steps, n) + self.next_obs.shape[1:], np.uint8 if self.next_obs.dtype == np.uint8 else np.float32
        )
        actions = np.zeros((num_steps, n), np.int64)  # indices 0..n-1
        logprobs, values, rewards, next_values, terminations, episode_ends = np.zeros((6, num_steps, n), np.float32)
        truncations, self.finished = np.zeros((num_steps, n), bool), []
        for t in range(num_steps):
            obs[t] = self.next_obs
            actions[t], logprobs[t], values[t] = agent.act(self.next_obs)  # π_θold: θ is fixed until the update
            self.next_obs, rewards[t], terminated, truncated, infos = self.envs.step(actions[t] + self.action_start)
            terminations[t], episode_ends[t] = terminated, terminated | truncated
            self.finished += finished_episodes(t, infos)
            # A time limit is not a terminal state: bootstrap from V(final observation) (Pardo et al., 2018).
            # With SAME_STEP autoreset, next_obs already starts the next episode for the envs that ended.
            # (A life lost on Atari is a termination, as in baselines: no bootstrap.)
            cut = np.flatnonzero(truncated & ~terminated)
            if cut.size:
                next_values[t, cut], truncations[t, cut] = agent.value(np.stack(infos["final_obs"][cut])), True
        # V(s_{t+1}) is the next step's V(s_t), and V(s_T) at the end of the rollout, except where a
        # time limit cut the episode (its final observation's value, above).
        following = np.concatenate([values[1:], agent.value(self.next_obs)[None]])
        next_values = np.where(truncations, next_values, following)
        return Rollout(obs, actions, logprobs, values, rewards, next_values, terminations, episode_ends)


def finished_episodes(t: int, infos: dict) -> list[tuple[int, float, int]]:
    """(t, return, length) of each episode that ended at step t. On Atari, RecordEpisodeStatistics sits below
    the life-loss and reward-sign wrappers: a whole game's raw score, only when the game is really over."""
    final_info = infos.get("final_info", {})
    if "episode" not in final_info:
        return []
    episode = final_info["episode"]
    return [(t, float(episode["r"][i]), int(episode["l"][i])) for i in np.flatnonzero(final_info["_episode"])]


DIAGNOSTICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")  # what minibatch_loss reports


def minibatch_loss(agent: Agent, mb: dict[str, torch.Tensor], args: Args, clip_coef: float):
    """-L^{CLIP+VF+S} of Eq. (9) with L^CLIP of Eq. (7) and the current ε (0.1 × α) on one minibatch, to be
    minimised, and its DIAGNOSTICS."""
    new_logprob, entropy, new_value = agent.get_logprob_entropy_value(mb["obs"], mb["actions"])
    log_ratio = new_logprob - mb["logprobs"]
    ratio = log_ratio.exp()  # r_t(θ) = π_θ(a_t|s_t) / π_θold(a_t|s_t), Eq. (6)
    advantages = mb["advantages"]
    if args.norm_adv:  # implementation detail (baselines): per-minibatch advantage normalization
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = clipped_surrogate_loss(ratio, advantages, clip_coef)
    # Baselines clips the value update with the same (annealed) ε as the policy.
    v_loss = value_loss(new_value, mb["values"], mb["returns"], clip_coef, args.clip_vloss)
    entropy = entropy.mean()
    loss = combined_loss(policy_loss, v_loss, entropy, args.vf_coef, args.ent_coef)  # -Eq. (9)
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()  # k3 estimator of KL[π_old, π_θ]
        clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean()
        return loss, torch.stack([policy_loss, v_loss, entropy, approx_kl, clipfrac])


def update(
    agent: Agent, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor], args: Args, clip_coef: float
):
    """K epochs of minibatch Adam on L^{CLIP+VF+S} of Eq. (9) (minibatch_loss) with the current ε;
    returns the mean of each diagnostic over all the minibatches of the update."""
    batch_size = len(batch["obs"])
    minibatch_size = batch_size // args.num_minibatches
    totals, minibatches_done = torch.zeros(len(DIAGNOSTICS), dtype=torch.float64), 0
    for _epoch in range(args.update_epochs):
        epoch_totals = torch.zeros(len(DIAGNOSTICS), dtype=torch.float64)
        permutation = torch.randperm(batch_size, device=batch["obs"].device)  # shuffled minibatches
        for start in range(0, batch_size, minibatch_size):
            mb = permutation[start : start + minibatch_size]
            loss, diagnostics = minibatch_loss(agent, {key: value[mb] for key, value in batch.items()}, args, clip_coef)
            gradient_step(agent, optimizer, loss, args.max_grad_norm)
            epoch_totals += diagnostics.cpu().double()
            minibatches_done += 1
        totals += epoch_totals
        epoch_kl = epoch_totals[DIAGNOSTICS.index("approx_kl")].item() / args.num_minibatches
        if args.target_kl is not None and epoch_kl > args.target_kl:
            break  # early stopping on the KL (not in the paper; off by default)
    return dict(zip(DIAGNOSTICS, (totals / minibatches_done).tolist(), strict=True))


def gradient_step(agent: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, max_grad_norm: float):
    if not torch.isfinite(loss):
        raise NonFiniteLossError
    optimizer.zero_grad()
    loss.backward()
    # Implementation detail (baselines): the gradient's norm clipped to max_grad_norm.
    grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm, foreach=True)
    if not torch.isfinite(grad_norm):  # a finite loss whose backward overflowed: stop before Adam spreads NaN
        raise NonFiniteLossError
    optimizer.step()


def flatten_batch(rollout: Rollout, advantages, returns, device: torch.device) -> dict[str, torch.Tensor]:
    """(T, N, ...) arrays -> (N*T, ...) tensors on the device: the samples the minibatches are drawn from."""
    fields = {"obs": rollout.obs, "actions": rollout.actions, "logprobs": rollout.logprobs, "values": rollout.values}
    fields |= {"advantages": advantages, "returns": returns}
    return {key: torch.as_tensor(x, device=device).reshape((-1,) + x.shape[2:]) for key, x in fields.items()}


def train(args: Args) -> dict:
    """Algorithm 1: for each iteration, N actors run π_θold for T steps, Â by GAE, K epochs of updates.
    Returns the run's summary (as in the run folder's summary.json). Called from your own code, it leaves torch's
    threads and determinism and the global random states (python, numpy, torch) as it found them, so one train()
    at a time in a process. Ctrl-C or SIGTERM stops it after the iteration (saved, with save_model); then the signal
    goes on to your code as if train() had not held it (Ctrl-C: KeyboardInterrupt; SIGTERM: the process ends)."""
    args = plain_args(args)  # made in your code: 1e6, np.int64(2) or a Path, as the command line gives them
    with Run(args) as run, closing(make_vector_env(args, run.dir)) as envs, setup_torch(args, run.seed) as device:
        obs_shape, num_actions = envs.single_observation_space.shape, int(envs.single_action_space.n)
        envs.single_action_space.seed(run.seed)
        agent = Agent(obs_shape, num_actions).to(device)
        # Implementation detail (baselines): Adam ε = 1e-5. Speed only: fused, one kernel for all parameters.
        optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5, fused=True)
        # What a checkpoint keeps and --resume restores; the global step (and the schedules) come with it.
        global_step = run.restore({"model": agent, "optimizer": optimizer})
        actors = Actors(envs, run.seed)

        while run.going(global_step):  # until the step budget, or Ctrl-C/SIGTERM
            alpha = 1.0 - global_step / args.total_timesteps  # Table 5: α annealed linearly from 1 to 0
            if args.anneal_lr:  # Table 5: stepsize 2.5e-4 × α
                optimizer.param_groups[0]["lr"] = alpha * args.learning_rate
            clip_coef = alpha * args.clip_coef if args.anneal_clip else args.clip_coef  # Table 5: ε = 0.1 × α

            # Each of the N actors runs π_θold for T steps; then Â_1..Â_T by GAE (Algorithm 1).
            rollout = actors.collect(agent, args.num_steps)
            run.log_episodes(global_step, actors.finished)
            global_step += args.num_envs * args.num_steps
            advantages, returns = compute_gae(rollout, args.gamma, args.gae_lambda)

            # Optimize the surrogate for K epochs with minibatch size M; θ_old ← θ.
            batch = flatten_batch(rollout, advantages, returns, device)
            if agent.image:  # speed only: frames laid out channels-last once, so no minibatch is reordered again
                batch["obs"] = batch["obs"].contiguous(memory_format=torch.channels_last)
            losses = update(agent, optimizer, batch, args, clip_coef)

            losses["explained_variance"] = explained_variance(batch["values"], batch["returns"])
            run.log_update(
                global_step, losses, {"learning_rate": optimizer.param_groups[0]["lr"], "clip_coef": clip_coef}
            )
        return run.finish()


def evaluate(checkpoint_path: str, episodes: int, seed: int = 1, capture_video: bool = False) -> list[float]:
    """Run a checkpoint's most probable (arg-max) action; each episode's return. On Atari an episode is a
    whole game and its return the raw score (no reward sign, no split at a lost life), read from the same
    RecordEpisodeStatistics as in training; the policy sees the preprocessing it was trained with."""
    checkpoint = load_checkpoint(checkpoint_path)
    env_id = checkpoint["args"]["env_id"]
    check_env(env_id)
    video_dir = eval_video_dir(checkpoint_path) if capture_video else None
    env = make_env(env_id, video_dir, every_episode=True)()
    agent = Agent(env.observation_space.shape, int(env.action_space.n))
    restore_state(checkpoint, {"model": agent})
    returns, (obs, _) = [], env.reset(seed=seed)
    with suppress(KeyboardInterrupt):  # Ctrl-C: the returns of the episodes finished so far
        while len(returns) < episodes:
            with torch.no_grad():
                logits = agent.actor(agent.features(torch.as_tensor(obs[None])))[0]
            obs, _, terminated, truncated, info = env.step(int(logits.argmax()) + int(env.action_space.start))
            if "episode" in info:  # the game is over (not merely a life)
                returns.append(float(info["episode"]["r"]))
            if (terminated or truncated) and len(returns) < episodes:  # not after the last: a video would start
                obs, _ = env.reset()
    env.close()
    return returns


# ============================== below: speed and plumbing, skip on a first read ==============================


# --- Atari preprocessing (make_env's), skippable on a first read of PPO but not to reproduce its numbers --------

# As OpenAI baselines' make_atari + wrap_deepmind (atari_wrappers.py) and VecFrameStack, the preprocessing of
# baselines' PPO code: for the same emulator frames the agent sees the same stack of frames as baselines' ppo2
# (tests/test_atari_preprocessing.py compares them step by step with SB3's port of baselines' wrappers).
# gymnasium's wrappers are used where they do exactly what baselines does; NoopReset, EpisodicLife and
# FireReset are what it lacks.


class NoopReset(gym.Wrapper):
    """Implementation detail (baselines' NoopResetEnv): a new game starts with 1 to noop_max single-frame
    no-ops, their number drawn from the game's seeded generator, so that games do not all start alike.
    (gymnasium has this only inside AtariPreprocessing, which also does the rest its own way.)"""

    def __init__(self, env: gym.Env, noop_max: int = 30):
        super().__init__(env)
        self.noop_max = noop_max

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        for _ in range(self.env.unwrapped.np_random.integers(1, self.noop_max + 1)):
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(seed=seed, options=options)
        return obs, info


class EpisodicLife(gym.Wrapper):
    """Implementation detail (baselines' EpisodicLifeEnv): losing a life ends the *training* episode, a
    terminal state for GAE (no bootstrap), but not the game: the next reset only steps a no-op from
    where the life was lost. The game is reset when it is really over. (gymnasium's AtariPreprocessing
    terminal_on_life_loss differs: it would reset the whole game after every lost life.)"""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True  # a lost life, the game goes on
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if self.game_over or seed is not None:
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)  # no-op from the lost-life state, as baselines
            if terminated or truncated:
                obs, info = self.env.reset()
        self.game_over = False
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info


class FireReset(gym.Wrapper):
    """Implementation detail (baselines' FireResetEnv): in every game whose action 1 is FIRE (Breakout needs it
    to launch the ball; Pong, which serves without it, gets it too, as in baselines), every reset, also the one
    after a lost life, presses FIRE, then action 2."""

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        for action in (1, 2):
            obs, _, terminated, truncated, _ = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset()
        return obs, info


def needs_fire(env: gym.Env) -> bool:
    meanings = env.unwrapped.get_action_meanings()
    return len(meanings) >= 3 and meanings[1] == "FIRE"  # baselines: FireResetEnv where 'FIRE' is an action


def is_atari_frames(env: gym.Env) -> bool:
    return hasattr(env.unwrapped, "ale") and len(env.observation_space.shape) == 3


def atari_wrappers(env: gym.Env) -> gym.Env:
    """Baselines' Atari preprocessing (make_atari, wrap_deepmind, VecFrameStack), in its order, on a game with
    frameskip 1: for the same emulator frames the agent sees the observations baselines' ppo2 saw. gymnasium's
    AtariPreprocessing is not used because it differs in two places: it takes the max of two grey frames, where
    baselines greys the max of two RGB frames (OpenCV's RGB->grey equals ALE's grey screen exactly, but the grey
    of a max is not the max of the greys: in Pong up to 18 grey levels apart in 3,000 random steps), and it
    returns before storing the frame on which a game ends inside the skip. FrameStackObservation's default
    padding differs too (copies of the first frame where baselines has zeros).

    RecordEpisodeStatistics sits where baselines' Monitor sat: above the frame skip, below the life-loss
    and reward-sign wrappers, so info["episode"] holds the whole game's raw score and length (agent
    steps, plus the FIRE steps of every reset and the no-op of each reset after a lost life) when the game is
    really over."""
    if importlib.util.find_spec("cv2") is None:
        raise UserError("Atari frames are converted with OpenCV: pip install opencv-python-headless")
    import cv2

    env = NoopReset(env, noop_max=30)  # baselines' NoopResetEnv: 1 to 30 no-op frames start a game
    # implementation detail (baselines): MaxAndSkipEnv's loop, max of the last 2 RGB frames of the 4 stepped
    env = gym.wrappers.MaxAndSkipObservation(env, skip=4)
    env = gym.wrappers.RecordEpisodeStatistics(env)  # the whole game's raw score (baselines' Monitor)
    env = EpisodicLife(env)
    if needs_fire(env):
        env = FireReset(env)
    # implementation detail (baselines): WarpFrame's cv2.cvtColor RGB->grey, on the max-pooled RGB frame as there
    grey = gym.spaces.Box(0, 255, env.observation_space.shape[:2], np.uint8)
    env = gym.wrappers.TransformObservation(env, lambda frame: cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), grey)
    env = gym.wrappers.ResizeObservation(env, (84, 84))  # WarpFrame's cv2.resize to 84x84, INTER_AREA: the same call
    # implementation detail (baselines): ClipRewardEnv, the reward's sign
    env = gym.wrappers.TransformReward(env, lambda r: float(np.sign(r)))
    # implementation detail (baselines): VecFrameStack's last 4 frames, zeros before a reset's frame (a lost life's too)
    return gym.wrappers.FrameStackObservation(env, 4, padding_type="zero")


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var[target - predicted] / Var[target]: 1 is a perfect value function, 0 no better than a constant."""
    var_target = target.var()
    return float("nan") if var_target == 0 else float(1.0 - (target - predicted).var() / var_target)


class UserError(Exception):
    """A problem the user can fix; main() prints it as one line and exits with code 2."""


class NonFiniteLossError(UserError):
    pass


def check_env(env_id: str) -> None:
    """Fail early, in one line, on an id gymnasium does not know, spaces this script cannot handle, or an
    environment that fails its first reset or step."""
    if importlib.util.find_spec("ale_py") is None and looks_like_atari(env_id):
        raise UserError(f"{env_id} is an Atari game and needs the Arcade Learning Environment: pip install ale-py")
    register_ale()
    with closing(make_probe_env(env_id)) as env:
        obs_space, act_space, atari = env.observation_space, env.action_space, hasattr(env.unwrapped, "ale")
        image = isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 3 and obs_space.dtype == np.uint8
        if not isinstance(act_space, gym.spaces.Discrete) and len(obs_space.shape or ()) == 3:
            raise UserError(
                f"{env_id} has image observations and action space {act_space}: no script here handles that "
                "combination (this one takes Atari frames with discrete actions)"
            )
        if image and not atari:
            raise UserError(
                f"{env_id} has image observations but is not an Atari (ALE) game: this script preprocesses only "
                "those, and no script here takes other images"
            )
        # The observations first: ppo_continuous.py, where Box actions are sent, takes only 1-D Box ones.
        if not (image or isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1 and obs_space.shape[0]):
            raise UserError(
                f"{env_id} has observation space {obs_space}; this script needs Atari frames or a non-empty 1-D Box"
            )
        if isinstance(act_space, gym.spaces.Box):
            raise UserError(f"{env_id} has a continuous (Box) action space; use ppo_continuous.py for it")
        if not isinstance(act_space, gym.spaces.Discrete):
            raise UserError(f"{env_id} has action space {act_space}; this script needs a Discrete one")
        check_reset_and_step(env, env_id)


def check_reset_and_step(env: gym.Env, env_id: str) -> None:
    """One reset and one random step, before training starts: an environment of yours that raises in them, or
    answers in another API than gymnasium's, fails here in one line rather than inside the first rollout. The
    environment's own methods, without gymnasium's wrappers, whose checks would blame something else (a 4-tuple
    of the old gym API is "info must be a dictionary" to the PassiveEnvChecker)."""
    try:
        obs, _ = env.unwrapped.reset(seed=0)
        result = env.unwrapped.step(env.action_space.sample())
    except Exception as e:
        made = f"env = gym.make('{env_id}'); env.reset(seed=0); env.step(env.action_space.sample())"
        raise UserError(
            f"{env_id} raised {type(e).__name__} in its first reset or step: {str(e)[:150]}; its traceback: "
            f'python -c "import gymnasium as gym; {made}"'
        ) from e
    if not isinstance(result, tuple) or len(result) != 5:
        got = f"{len(result)} values" if isinstance(result, tuple) else type(result).__name__
        raise UserError(
            f"{env_id}'s step returns {got}; gymnasium's returns 5: obs, reward, terminated, truncated, info"
        )
    for name, observation in (("reset", obs), ("step", result[0])):
        if np.shape(observation) != env.observation_space.shape:
            raise UserError(
                f"{env_id}'s {name} returns an observation of shape {np.shape(observation)}, where its observation "
                f"space says {env.observation_space.shape}"
            )


def looks_like_atari(env_id: str) -> bool:
    """An Atari game's id: by its name, or (Breakout-v4) because ale_py registers it."""
    if env_id.startswith("ALE/") or "NoFrameskip" in env_id or "Deterministic-v" in env_id:
        return True
    if importlib.util.find_spec("ale_py") is None:
        return False
    import ale_py

    gym.register_envs(ale_py)
    return env_id in gym.registry and "ale_py" in str(gym.registry[env_id].entry_point)


def register_ale() -> None:
    """gymnasium >= 1.0 knows the Atari ids (ALE/Pong-v5, PongNoFrameskip-v4) only once ale_py is imported."""
    if importlib.util.find_spec("ale_py") is not None:
        import ale_py

        gym.register_envs(ale_py)
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner on every environment


class RecordVideo(gym.wrappers.RecordVideo):
    """gymnasium's, except that a video that cannot be written costs that video, not the run: a Ctrl-C in a
    terminal also reaches the ffmpeg that writes it, and a disk can be full."""

    def stop_recording(self):
        try:
            super().stop_recording()
        except OSError as e:
            self.recorded_frames, self.recording, self._video_name = [], False, None
            print(f"a video could not be written ({e}); training goes on", file=sys.stderr)


def make_probe_env(env_id: str, **kwargs) -> gym.Env:
    """gym.make with the errors a user can cause turned into one-line messages."""
    module = env_id.split(":")[0] if ":" in env_id else None  # gymnasium imports `module` of module:MyEnv-v0
    if module is not None and (env_id.count(":") > 1 or not all(env_id.split(":"))):
        raise UserError(f"--env-id {env_id}: write your module and your id as my_module:MyEnv-v0")
    try:
        with warnings.catch_warnings():  # an old id's "is out of date" would come before its one-line error
            warnings.filterwarnings("ignore", ".*is out of date", DeprecationWarning)
            warnings.filterwarnings("ignore", ".*Using the latest versioned environment", UserWarning)
            env = gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as e:  # gymnasium's message names the pip install
        raise UserError(f"{env_id} needs a package that is not installed: {e}") from None
    except gym.error.Error as e:
        own = f"is it registered in {module}?" if module else f"one of yours? --env-id your_module:{env_id}"
        own = f" ({own})" if isinstance(e, gym.error.NameNotFound) else ""
        v4 = env_id.rpartition("-v")[0] + "-v4"  # Hopper-v1 is "deprecated, use Hopper-v5": -v4 runs here too
        mujoco_v4 = v4 in gym.registry and "mujoco" in str(gym.registry[v4].entry_point)  # not Taxi-v3's Taxi-v4
        if isinstance(e, gym.error.DeprecatedEnv) and mujoco_v4 and v4 != env_id:
            own = f"; {v4} runs here too"
        raise UserError(f"unknown environment id {env_id!r}: {str(e).rstrip('.')}{own}") from None
    except ImportError as e:
        missing = getattr(e.__cause__ or e, "name", None)  # the module not found: yours, or one it imports
        if module and isinstance(e, ModuleNotFoundError) and missing and not f"{module}.".startswith(f"{missing}."):
            raise UserError(
                f"--env-id {env_id}: {module} imports {missing}, which is not installed: pip install it"
            ) from None
        if module and isinstance(e, ModuleNotFoundError):
            raise UserError(
                f"--env-id {env_id}: cannot import {module} ({e.__cause__ or e}); pip install it, or add the "
                f"folder that holds {module}.py to PYTHONPATH (PYTHONPATH=. from that folder)"
            ) from None
        message = str(e).splitlines()[0].rstrip(".")  # e.g. Hopper-v3: gymnasium moved its mujoco-py envs out
        hint = "; the MuJoCo -v4 and -v5 ids run here" if "mujoco" in message.lower() else ""
        if "mujoco<3" in message:  # Pusher-v4: the one -v4 id that needs an older MuJoCo
            hint = f"; {env_id.rpartition('-v')[0]}-v5 runs here"
        raise UserError(f"{env_id} cannot be made here: {message}{hint}") from None
    except Exception as e:  # your module or your environment raised: one line here, its traceback on request
        given = "".join(f", {key}={value!r}" for key, value in kwargs.items())  # e.g. render_mode='rgb_array'
        raise UserError(
            f"making {env_id} raised {type(e).__name__}: {str(e)[:150]}; its traceback: "
            f"python -c \"import gymnasium as gym; gym.make('{env_id}'{given})\""
        ) from e  # called from your code, the traceback shows it too (an id you registered there included)
    if env.spec is not None and env.spec.id != env_id.rpartition(":")[2]:  # Hopper: gymnasium makes Hopper-v5
        env.close()
        raise UserError(f"--env-id {env_id} has no version, and gymnasium would make {env.spec.id}: give the version")
    return env


def validate(args: Args) -> None:
    """Refuses hyperparameters that cannot work, and environments this script cannot run, before anything starts."""
    positive = ["total_timesteps", "num_envs", "num_steps", "num_minibatches", "update_epochs", "learning_rate"]
    positive += ["clip_coef", "max_grad_norm", "save_interval", "torch_threads", "eval_episodes"]
    batch_size = args.num_envs * args.num_steps
    n_t = f"--num-envs × --num-steps = {batch_size}"
    # Finiteness first: a NaN fails the range checks too, whose messages would not say what is wrong with it.
    floats = {key: x for key, x in dataclasses.asdict(args).items() if isinstance(x, float)}
    checks = [(math.isfinite(x), f"--{key.replace('_', '-')} must be a finite number") for key, x in floats.items()]
    checks += [(getattr(args, name) > 0, f"--{name.replace('_', '-')} must be positive") for name in positive] + [
        (0.0 <= args.gamma <= 1.0, "--gamma must be in [0, 1]"),
        (0.0 <= args.gae_lambda <= 1.0, "--gae-lambda must be in [0, 1]"),
        (args.ent_coef >= 0 and args.vf_coef >= 0, "--ent-coef and --vf-coef must be non-negative"),
        (args.target_kl is None or args.target_kl > 0, "--target-kl must be positive (or None)"),
        (not (args.resume and args.eval_checkpoint), "give --resume or --eval-checkpoint, not both"),
        (
            "" not in (args.runs_dir, args.resume, args.eval_checkpoint),
            "--runs-dir, --resume and --eval-checkpoint need a path",
        ),
        (0 <= args.seed < 2**32, "--seed must be in [0, 2**32), the range np.random.seed takes"),
        (
            args.torch_threads <= (os.cpu_count() or 1),
            f"--torch-threads is more than this machine's {os.cpu_count()} CPUs",
        ),
        (
            batch_size % max(args.num_minibatches, 1) == 0,
            f"{n_t} is not divisible by --num-minibatches {args.num_minibatches}: pass a divisor of {batch_size}",
        ),
        (
            not args.norm_adv or batch_size >= 2 * args.num_minibatches,
            "minibatches of 1 sample have no standard deviation to normalize advantages by: fewer --num-minibatches "
            "(or --no-norm-adv)",
        ),
        # resumed: Run says how far the checkpoint is, and the --total-timesteps that goes on from it
        (args.total_timesteps >= batch_size or bool(args.resume), f"--total-timesteps must be at least {n_t}"),
    ]
    if failed := [message for ok, message in checks if not ok]:
        raise UserError(failed[0])
    check_env(args.env_id)
    if args.capture_video:
        check_video(args.env_id)


def check_video(env_id: str) -> None:
    """--capture-video needs moviepy and an environment that renders (main() picks MuJoCo's off-screen EGL
    when there is no display and MUJOCO_GL is not set)."""
    if importlib.util.find_spec("moviepy") is None:
        raise UserError("--capture-video needs moviepy: pip install moviepy")
    try:
        with closing(make_probe_env(env_id, render_mode="rgb_array")) as env:
            env.reset(seed=0)
            env.render()
    except UserError:
        raise
    except Exception as e:
        hint = "; on a machine without a display try MUJOCO_GL=egl or MUJOCO_GL=osmesa"
        hint = hint if "mujoco" in sys.modules else ""  # a MuJoCo env: MUJOCO_GL picks its renderer
        raise UserError(f"--capture-video: {env_id} cannot render ({type(e).__name__}: {str(e)[:150]}){hint}") from None


def eval_video_dir(checkpoint_path: str) -> str:
    """Where --eval-checkpoint --capture-video writes: videos-eval/ beside the checkpoint, if it may write there."""
    video_dir = os.path.join(os.path.dirname(checkpoint_path), "videos-eval")
    with suppress(OSError):
        os.makedirs(video_dir, exist_ok=True)
    if not os.access(video_dir, os.W_OK):
        raise UserError(f"cannot write the videos into {video_dir}: copy the run folder somewhere writable")
    return video_dir


@contextmanager
def setup_torch(args: Args, seed: int) -> Iterator[torch.device]:
    """Seeds python, numpy and torch with `seed` and sets torch's threads and deterministic kernels for one run; when it
    ends, puts back the caller's random states, threads and determinism, so that train() called from your own
    code leaves them as they were."""
    saved = random.getstate(), np.random.get_state(), torch.get_num_threads()
    determinism = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    device = torch.device("cuda" if args.cuda and torch.cuda.is_available() else "cpu")
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):  # torch's CPU and GPU random states too
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        if args.torch_deterministic and device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what deterministic cuBLAS needs
        # Where an op has no deterministic kernel, torch warns instead of stopping the run (warn_only).
        torch.use_deterministic_algorithms(args.torch_deterministic, warn_only=True)
        torch.set_num_threads(args.torch_threads)
        try:
            yield device
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_num_threads(saved[2])
            torch.use_deterministic_algorithms(determinism[0], warn_only=determinism[1])


def plain_args(args: Args) -> Args:
    """Args made in your code, as the command line makes them: a Path as its text, numpy's numbers as Python's,
    1e6 as 1000000 where a whole number is meant (JSON, the checkpoint and python's random take no other)."""
    values = {}
    for field in dataclasses.fields(Args):
        value = getattr(args, field.name)
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        elif isinstance(value, np.floating):
            value = float(str(value))  # np.float32(2.5e-4) as 0.00025, what was typed, not 0.0002500000118743628
        elif isinstance(value, np.generic):
            value = value.item()
        if type(field.default) is int and isinstance(value, float):
            if not value.is_integer():
                raise UserError(f"Args.{field.name} = {value}: a whole number is meant")
            value = int(value)
        values[field.name] = value
    return dataclasses.replace(args, **values)


class Run:
    """What train() delegates: the run folder (TensorBoard events, args.json, summary.json), the status
    line, checkpoints (every --save-interval steps, at the end, on Ctrl-C or SIGTERM), --resume, and the
    one-line error for a non-finite loss. Ctrl-C or SIGTERM stops after the current iteration, so the logs
    are flushed and the checkpoint is consistent; a second Ctrl-C stops at once, a repeated SIGTERM does not
    (a cluster's scancel may send it to the run and to its launcher, who passes it on)."""

    def __init__(self, args: Args):
        if args.eval_checkpoint:
            raise UserError("train() trains: a checkpoint is evaluated by evaluate(path, episodes)")
        validate(args)
        self.args, self.batch_size, self.signal = args, args.num_envs * args.num_steps, None
        self.resumed = load_checkpoint(args.resume, args.env_id) if args.resume else {}
        if self.resumed:
            check_inputs(self.resumed["args"], args, args.resume)
        self.start_step = self.global_step = self.resumed.get("global_step", 0)
        self.seed = args.seed
        if self.resumed:  # new random streams (envs' resets, actions' noise, minibatches), not the run's start again:
            self.seed = int(np.random.SeedSequence((args.seed, self.start_step)).generate_state(1)[0])  # (seed, step)
        # The run ends after whole iterations of N×T steps from where it starts (0, or the checkpoint's step).
        iterations = (args.total_timesteps - self.start_step) // self.batch_size
        self.end_step = self.start_step + max(iterations, 0) * self.batch_size
        if self.end_step == self.start_step:  # validate() has made sure a new run has an iteration
            raise UserError(
                f"{args.resume} is at step {self.start_step:,} and an iteration is N×T = {self.batch_size:,} steps: "
                f"pass --total-timesteps {self.start_step + self.batch_size} or more to go on"
            )
        name = f"{args.env_id}__{args.exp_name}__{args.seed}"
        # A portable folder name (Windows too): ALE/Pong-v5 -> ALE-Pong-v5, my_module:MyEnv-v0 -> my_module-MyEnv-v0.
        self.name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in name)
        self.dir, self.checkpoint_path, self.state, self.extra = "", "", {}, {}
        self.recent_returns = deque(maxlen=100)

    def __enter__(self) -> Run:
        try:  # imported here, where the logs start: a missing tensorboard is one line, before any folder is made
            from torch.utils.tensorboard import SummaryWriter
        except ModuleNotFoundError as e:
            raise UserError(f"the run's logs need {e.name}: pip install {e.name}") from None
        # The folder's name ends in the unix time of the start. Two runs started in the same second (a sweep in a
        # shell loop) must not share a folder: the second takes the next free second.
        stamp = int(time.time())
        while not self.dir:
            try:
                os.makedirs(path := os.path.join(self.args.runs_dir, f"{self.name}__{stamp}"))  # not if it exists
                self.dir, self.checkpoint_path = path, os.path.join(path, "model.pt")
            except FileExistsError:
                stamp += 1
            except OSError as e:
                what = "a shorter --exp-name" if e.errno == errno.ENAMETOOLONG else "another --runs-dir"
                raise UserError(f"cannot make the run folder {path}: {e.strerror}; pass {what}") from None
        with open(os.path.join(self.dir, "args.json"), "w") as f:
            json.dump(hyperparameters := dataclasses.asdict(self.args), f, indent=2)
        table = "".join(f"\n|{key}|{value}|" for key, value in hyperparameters.items())
        self.writer = SummaryWriter(self.dir)  # after args.json: its thread runs until __exit__ closes it
        self.writer.add_text("hyperparameters", f"|param|value|\n|-|-|{table}")
        # Python lets only the main thread set handlers: train() in another thread of yours does not see Ctrl-C.
        main_thread = threading.current_thread() is threading.main_thread()
        signals = (signal.SIGINT, signal.SIGTERM) if main_thread else ()
        self.handlers = {sig: signal.signal(sig, self.handle) for sig in signals}
        self.start_time, self.last_print, self.last_save = None, 0.0, self.start_step
        if self.resumed:
            print(f"resuming from step {self.start_step:,} of {self.args.resume}", file=sys.stderr)
        if self.end_step != self.args.total_timesteps:
            start = f" from step {self.start_step:,}" if self.resumed else ""
            rounded = f"a multiple of N×T = {self.batch_size:,}{start}: {self.end_step:,}"
            print(f"--total-timesteps is rounded down to {rounded}", file=sys.stderr)
        if note := minibatch_size_note(self.args):
            print(note, file=sys.stderr)
        return self

    def handle(self, signum: int, frame) -> None:
        if self.signal is None:
            self.signal = signal.Signals(signum).name
            print(f"\n{self.signal}: stopping after this iteration (Ctrl-C again to stop at once)", file=sys.stderr)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.writer.close()  # first: a signal during its flush still only stops the run (the handlers are ours)
        finally:  # a second Ctrl-C during it: the caller gets its handlers back all the same
            for sig, handler in self.handlers.items():
                signal.signal(sig, handler)
        if exc_type is NonFiniteLossError:
            kept = f"{self.checkpoint_path} is kept" if os.path.exists(self.checkpoint_path) else "nothing saved"
            raise NonFiniteLossError(
                "the loss or its gradient became non-finite in the update at global step "
                f"{self.global_step + self.batch_size:,}; training stopped ({kept}); try a lower --learning-rate or "
                "check the environment's observations and rewards for NaN or inf"
            ) from None
        if exc_type is not None and issubclass(exc_type, MemoryError):  # numpy's, for a rollout buffer too large
            raise UserError(
                f"out of memory: {exc}; lower --num-steps or --num-envs (a rollout keeps N×T steps)"
            ) from None
        if self.signal and exc_type is None:
            # Stopped and saved: the signal goes on to the handler your code had (Python's: KeyboardInterrupt on
            # Ctrl-C, the end of the process on SIGTERM), so a loop of runs stops with the run, as without us.
            sys.stdout.flush()
            signal.raise_signal(signal.Signals[self.signal])

    def restore(self, state: dict) -> int:
        """Keeps what a checkpoint holds (objects with state_dict and load_state_dict) and, with --resume, loads
        it. Returns the global step to start from."""
        self.state = state
        if self.resumed:
            restore_state(self.resumed, state)
            # Adam's saved state holds the stepsize it last used; this run's is --learning-rate (annealed, or
            # constant with --no-anneal-lr), which may be a new value.
            state["optimizer"].param_groups[0]["lr"] = self.args.learning_rate
        return self.start_step

    def going(self, global_step: int) -> bool:
        self.start_time = self.start_time or time.time()  # the clock (steps/s) starts with the loop, not the set-up
        return global_step < self.end_step and not self.signal

    def log_episodes(self, global_step: int, finished: list[tuple[int, float, int]]) -> None:
        for t, episode_return, episode_length in finished:
            step = global_step + (t + 1) * self.args.num_envs
            self.writer.add_scalar("charts/episodic_return", episode_return, step)
            self.writer.add_scalar("charts/episodic_length", episode_length, step)
            self.recent_returns.append(episode_return)

    def log_update(self, global_step: int, losses: dict, charts: dict, status: str = "", **extra) -> None:
        """Logs an iteration, prints the status line now and then, writes the periodic checkpoint; `extra` (the
        penalty's β) goes into the checkpoint and the summary."""
        self.global_step, self.extra = global_step, extra
        sps = (global_step - self.start_step) / (time.time() - self.start_time)
        for key, value in (charts | {"SPS": sps}).items():
            self.writer.add_scalar(f"charts/{key}", value, global_step)
        for key, value in losses.items():
            self.writer.add_scalar(f"losses/{key}", value, global_step)
        last = not self.going(global_step)
        if time.time() - self.last_print >= 5.0 or last:
            self.last_print = time.time()
            print(status_line(global_step, self.end_step, self.recent_returns, sps, status), flush=True)
        if self.args.save_model and global_step - self.last_save >= self.args.save_interval and not last:
            self.last_save = global_step
            self.save()

    def save(self) -> str:
        """Writes to a temporary file, then renames: an interrupted write never leaves a broken checkpoint."""
        payload = {key: value.state_dict() for key, value in self.state.items()} | self.extra
        payload |= {"format_version": CHECKPOINT_VERSION, "script": SCRIPT, "args": dataclasses.asdict(self.args)}
        try:
            torch.save(payload | {"global_step": self.global_step}, f"{self.checkpoint_path}.tmp")
            os.replace(f"{self.checkpoint_path}.tmp", self.checkpoint_path)
        except BaseException as e:  # a full or read-only disk (torch reports it as a RuntimeError), or Ctrl-C
            with suppress(OSError):
                os.remove(f"{self.checkpoint_path}.tmp")
            if not isinstance(e, (OSError, RuntimeError)):
                raise
            kept = "the last checkpoint is kept" if os.path.exists(self.checkpoint_path) else "no checkpoint saved"
            reason = " ".join(str(e).split())[:100]
            raise UserError(
                f"cannot write {self.checkpoint_path} ({reason}); {kept}; free space, or another --runs-dir"
            ) from None
        return self.checkpoint_path

    def finish(self) -> dict:
        seconds, steps, returns = time.time() - self.start_time, self.global_step - self.start_step, self.recent_returns
        mean_return = float(np.mean(returns)) if returns else float("nan")
        checkpoint = self.save() if self.args.save_model else None
        # A signal that came during the last iteration stopped nothing: the run reached its budget.
        interrupted = self.signal if self.global_step < self.end_step else None
        summary = {
            "global_step": self.global_step,
            "start_step": self.start_step,
            "mean_return": mean_return,
            "episodes": len(returns),
            "sps": steps / seconds,
            "minibatch_size": self.batch_size // self.args.num_minibatches,  # M, which the paper states
            "wall_seconds": seconds,
            "run_dir": self.dir,
            "checkpoint": checkpoint,
            "interrupted": interrupted,
        } | self.extra
        with open(os.path.join(self.dir, "summary.json"), "w") as f:  # read by benchmark/run.py to skip finished runs
            # Strict JSON, for readers in any language: no episode finished is null (NaN is not JSON; train() returns it).
            json.dump(summary | {"mean_return": mean_return if returns else None}, f, indent=2)
        score = f"mean return of the last {len(returns)} episodes {mean_return:.2f}" if returns else ""
        print(
            f"{'interrupted' if interrupted else 'done'}: step {self.global_step:,} ({steps:,} steps in this run, "
            f"{seconds:.0f} s, {summary['sps']:,.0f} steps/s); {score or 'no episode finished yet'}; run folder "
            f"{self.dir}" + (f"; checkpoint {checkpoint}" if checkpoint else ""),
            flush=True,
        )
        return summary


def minibatch_size_note(args: Args) -> str:
    """The paper states the minibatch size M (Table 3: 64, Table 5: 256); here M = N×T / --num-minibatches, so
    another N or T changes it. Where it is not the defaults' M, a line that says so and how to keep it."""
    batch_size, default = args.num_envs * args.num_steps, Args()
    default_size = default.num_envs * default.num_steps // default.num_minibatches
    if batch_size // args.num_minibatches == default_size:
        return ""
    keep = f"; --num-minibatches {batch_size // default_size} keeps it" if batch_size % default_size == 0 else ""
    size = batch_size // args.num_minibatches
    return f"minibatch size M = N×T / --num-minibatches = {size:,}, not the defaults' {default_size:,}{keep}"


def status_line(global_step: int, total_timesteps: int, recent_returns: deque, sps: float, extra: str = "") -> str:
    recent = list(recent_returns)[-20:]
    mean_return = f"{np.mean(recent):10.2f}" if recent else "         -"
    eta = int((total_timesteps - global_step) / max(sps, 1e-9))
    return (
        f"step {global_step:>10,}/{total_timesteps:,} | return {mean_return} (last {len(recent):>2} episodes)"
        f" | {sps:6,.0f} steps/s | eta {eta // 3600}:{eta % 3600 // 60:02d}:{eta % 60:02d}{extra}"
    )


def load_checkpoint(path: str, env_id: str | None = None) -> dict:
    """Reads a checkpoint of this script (plain tensors and numbers only: weights_only=True)."""
    if not os.path.isfile(path):
        what = "is a folder" if os.path.isdir(path) else "does not exist"
        raise UserError(f"checkpoint {path} {what}; pass the model.pt of a run folder")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(
            f"{path} is not a checkpoint that torch.load(weights_only=True) can read ({type(e).__name__}); "
            "pass the model.pt of a run folder"
        ) from None
    if not isinstance(checkpoint, dict) or not {"format_version", "script", "args", "model"} <= checkpoint.keys():
        raise UserError(f"{path} is not a checkpoint of these PPO scripts; pass the model.pt of a run folder")
    if checkpoint["script"] != SCRIPT:
        raise UserError(f"{path} was written by {checkpoint['script']}.py; use that script for it")
    if checkpoint["format_version"] != CHECKPOINT_VERSION:
        raise UserError(f"{path} has checkpoint format {checkpoint['format_version']}; expected {CHECKPOINT_VERSION}")
    if env_id is not None and checkpoint["args"]["env_id"] != env_id:
        raise UserError(f"{path} was trained on {checkpoint['args']['env_id']}, not {env_id}")
    return checkpoint


def restore_state(checkpoint: dict, state: dict) -> None:
    """Loads each object of `state` (network, optimizer, statistics) from the checkpoint's entry of its name."""
    try:
        for key, value in state.items():
            value.load_state_dict(checkpoint[key])
    except KeyError as e:  # an entry left out (a checkpoint written or trimmed by other code)
        raise UserError(f"the checkpoint has no {e} entry; pass the model.pt of a run folder") from None
    except (RuntimeError, ValueError) as e:
        detail = " ".join(str(e).split())[:300]  # torch's first line is only "Error(s) in loading state_dict"
        raise UserError(f"the checkpoint's network does not fit this one: {detail}") from None


# What --resume and --eval-checkpoint do not take from a checkpoint: this machine's and this invocation's choices
# (videos only when asked for).
THIS_INVOCATION = ("capture_video", "torch_threads")


def parse_args(argv: list[str] | None) -> Args:
    """Flags from the command line; with --resume or --eval-checkpoint, the flags not given come from the
    checkpoint's own hyperparameters (but THIS_INVOCATION's)."""
    args = cli(argv)
    if not (args.eval_checkpoint or args.resume):
        return args
    saved = load_checkpoint(args.eval_checkpoint or args.resume)["args"]
    inherited = [f.name for f in dataclasses.fields(Args) if f.name in saved and f.name not in THIS_INVOCATION]
    default = Args(**{name: saved[name] for name in inherited})
    default = dataclasses.replace(default, eval_checkpoint=args.eval_checkpoint, resume=args.resume)
    args = cli(argv, default)
    if args.env_id != saved["env_id"]:
        raise UserError(f"{args.eval_checkpoint or args.resume} was trained on {saved['env_id']}, not {args.env_id}")
    if args.eval_checkpoint:  # a resumed run is checked by Run, whether it comes from here or from your code
        check_inputs(saved, args, args.eval_checkpoint)
    return args


def check_inputs(saved: dict, args: Args, path: str) -> None:
    """The network learned on observations normalized (or not): resumed or evaluated, it must see them so again."""
    if saved.get("norm_obs", getattr(args, "norm_obs", None)) != getattr(args, "norm_obs", None):
        flag = "--norm-obs" if saved["norm_obs"] else "--no-norm-obs"
        raise UserError(f"{path} was trained with {flag} (norm_obs={saved['norm_obs']}): resume or evaluate it so")


def cli(argv: list[str] | None, default: Args | None = None) -> Args:
    try:  # imported here: train() called from your code does without it, and a missing one is one line
        import tyro
    except ModuleNotFoundError as e:
        raise UserError(f"the command line needs {e.name}: pip install {e.name}") from None
    try:
        return tyro.cli(Args, args=argv, default=default)
    except SystemExit:  # after --help: flush stdout here, where main() can catch a closed pipe
        sys.stdout.flush()
        raise


def main(argv: list[str] | None = None) -> None:
    try:
        args = parse_args(argv)
        if args.capture_video and not os.environ.get("DISPLAY"):
            os.environ.setdefault("MUJOCO_GL", "egl")  # no display: MuJoCo renders off screen (set before it loads)
        if args.eval_checkpoint:
            validate(args)
            torch.set_num_threads(args.torch_threads)
            returns = evaluate(args.eval_checkpoint, args.eval_episodes, args.seed, args.capture_video)
            if returns:
                print(
                    f"{args.env_id}: {len(returns)} episodes, return {np.mean(returns):.2f} ± {np.std(returns):.2f} "
                    f"(min {np.min(returns):.2f}, max {np.max(returns):.2f})"
                )
            if len(returns) < args.eval_episodes:  # Ctrl-C
                print(f"{SCRIPT}: stopped after {len(returns)} of {args.eval_episodes} episodes", file=sys.stderr)
                end_by(signal.SIGINT)
            return
        summary = train(args)
    except UserError as e:
        print(f"{SCRIPT}: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C: after the run's checkpoint (its line above), or a second one at once
        print(f"{SCRIPT}: stopped by Ctrl-C; logs flushed, model.pt (if any) the last written", file=sys.stderr)
        end_by(signal.SIGINT)
    except BrokenPipeError:  # what reads stdout has gone (`--help | head`): stop quietly, as shell tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        sys.exit(141)  # 128 + SIGPIPE, the shell's code for it
    if summary["interrupted"]:  # the signal went on to a handler that ignores it (SIG_IGN, as a shell may set)
        sys.exit(130 if summary["interrupted"] == "SIGINT" else 143)


def end_by(sig: signal.Signals) -> None:
    """Ends the process by the signal that stopped it, as Python does on an uncaught Ctrl-C: the exit status is
    128 + its number (130) and a shell loop of runs stops too, which it does not for a plain exit(130)."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(sig, signal.SIG_DFL)
    signal.raise_signal(sig)
    sys.exit(128 + sig)  # where the signal does not end it (a container's process 1), as Python's exit(130)


if __name__ == "__main__":
    main()
