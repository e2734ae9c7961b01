"""PPO-Clip with a categorical policy for discrete actions: CartPole, Acrobot, MountainCar, LunarLander.

Schulman et al., "Proximal Policy Optimization Algorithms" (arXiv:1707.06347), with the
advantage estimator of Schulman et al., "High-Dimensional Continuous Control Using Generalized
Advantage Estimation" (arXiv:1506.02438). This file implements:

- Eq. (7)       L^CLIP = E_t[min(r_t(θ) Â_t, clip(r_t(θ), 1-ε, 1+ε) Â_t)], r_t = π_θ(a_t|s_t) / π_θold(a_t|s_t)
                with π_θ(·|s) = Categorical(softmax(logits_θ(s))) over the n actions of a Discrete space
- Eq. (9)       the loss that is minimised: -L^CLIP + c1 L^VF - c2 S, S = -Σ_a π(a|s) log π(a|s) (c2 = 0.01)
- Eq. (11)-(12) truncated GAE, Â_t = δ_t + (γλ) δ_{t+1} + ..., δ_t = r_t + γ V(s_{t+1}) - V(s_t)
- Algorithm 1   N actors run π_θold for T steps, then K epochs of minibatch Adam on the surrogate

The paper has no classic-control experiment. The defaults are the classic-control setting of Huang et
al., "The 37 Implementation Details of Proximal Policy Optimization" (ICLR blog track 2022; CleanRL's
ppo.py): OpenAI baselines ppo2's Atari rollout settings (T=128, Adam 2.5e-4 annealed, K=4, 4
minibatches, c2=0.01, γ=0.99, λ=0.95) with N=4 actors and ε=0.2, on the paper's separate 2x64 tanh
policy and value networks. Each implementation detail is marked "implementation detail" where it appears.

    python ppo_discrete.py
    python ppo_discrete.py --env-id Acrobot-v1 --seed 2 --save-model
    python ppo_discrete.py --eval-checkpoint runs/<run>/model.pt --eval-episodes 10
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import random
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro
from torch.utils.tensorboard import SummaryWriter

SCRIPT = "ppo_discrete"
CHECKPOINT_VERSION = 1


@dataclass
class Args:
    """PPO-Clip with a categorical policy (ppo_discrete.py).

    Observations and rewards are used as the environment gives them: baselines normalized them
    (VecNormalize) for MuJoCo only, not for classic control, and CartPole and Acrobot learn without it."""

    # --- experiment ---
    env_id: str = "CartPole-v1"
    """gymnasium id of an environment with a 1-D Box observation and a Discrete action space (Huang et al. 2022)"""
    total_timesteps: int = 500_000
    """environment steps summed over all envs (Huang et al. 2022, classic control: 500k)"""
    seed: int = 1
    """seeds python, numpy, torch, the environments and their action spaces"""
    exp_name: str = SCRIPT
    """name of the experiment, part of the run folder's name"""
    runs_dir: str = "runs"
    """where run folders (TensorBoard events, hyperparameters, checkpoints) are written"""
    save_model: bool = False
    """write model.pt in the run folder: at the end, on Ctrl-C, and every --save-interval steps"""
    save_interval: int = 100_000
    """with --save-model, also write the checkpoint every this many environment steps"""
    eval_checkpoint: str | None = None
    """evaluate this model.pt (arg-max action) instead of training"""
    eval_episodes: int = 10
    """episodes to run with --eval-checkpoint"""
    resume: str | None = None
    """continue training from this model.pt into a new run folder (flags not given are taken from it)"""
    capture_video: bool = False
    """record videos of the first environment into the run folder (needs `pip install moviepy`)"""
    cuda: bool = True
    """use a GPU when there is one"""
    torch_deterministic: bool = True
    """ask torch for deterministic kernels"""
    torch_threads: int = 1
    """CPU threads for torch; 1 is fastest for these small networks (more threads contend with the
    environment and with other processes, and can make a run several times slower)"""
    numpy_rollout: bool = True
    """run the rollout's forward passes on numpy copies of the networks (speed only: one state per env
    is where torch's per-op cost dominates); --no-numpy-rollout runs them in torch"""

    # --- algorithm (classic control of Huang et al. 2022 = baselines ppo2's Atari defaults, unless said otherwise) ---
    num_envs: int = 4
    """N, parallel actors (Huang et al. 2022: 4)"""
    num_steps: int = 128
    """T, steps each actor runs per rollout (baselines ppo2 Atari, as Table 5: horizon 128)"""
    learning_rate: float = 2.5e-4
    """Adam stepsize (baselines ppo2 Atari, as Table 5: 2.5e-4, annealed)"""
    anneal_lr: bool = True
    """implementation detail (baselines): anneal the stepsize linearly to 0 over training"""
    gamma: float = 0.99
    """discount γ (Tables 3 and 5)"""
    gae_lambda: float = 0.95
    """GAE λ of Eq. (11) (Tables 3 and 5)"""
    num_minibatches: int = 4
    """minibatches per epoch (baselines ppo2 Atari: 4), so M = 4*128 / 4 = 128"""
    update_epochs: int = 4
    """K, epochs over each rollout (baselines ppo2 Atari: 4; Table 5 has 3)"""
    norm_adv: bool = True
    """implementation detail (baselines): normalize the advantages in each minibatch"""
    clip_coef: float = 0.2
    """ε of Eq. (7) (Table 1's best setting, 0.2; Huang et al. 2022 keep it constant)"""
    clip_vloss: bool = True
    """implementation detail (baselines ppo2): clip the value update to ±ε around the old value"""
    ent_coef: float = 0.01
    """c2 of Eq. (9), the entropy bonus (Table 5 and baselines ppo2 Atari: 0.01)"""
    vf_coef: float = 0.5
    """c1 of Eq. (9); with separate networks it only matters through the shared gradient-norm clip (baselines: 0.5)"""
    max_grad_norm: float = 0.5
    """implementation detail (baselines): clip the global gradient norm to this value"""
    target_kl: float | None = None
    """stop the epochs of an update early once the mean approx KL of an epoch exceeds this (off by default, as in the paper)"""


class UserError(Exception):
    """A problem the user can fix; main() prints it as one line and exits non-zero."""


# ---------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------


def check_env(env_id: str) -> None:
    """Fail early, in one line, on an id gymnasium does not know or spaces this script cannot handle."""
    env = make_probe_env(env_id)
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if isinstance(act_space, gym.spaces.Box):
        raise UserError(f"{env_id} has a continuous (Box) action space; use ppo_continuous.py for it")
    if not isinstance(act_space, gym.spaces.Discrete):
        raise UserError(f"{env_id} has action space {act_space}; this script needs a Discrete one")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        hint = "; use ppo_shared_backbone.py for images" if len(obs_space.shape or ()) == 3 else ""
        raise UserError(f"{env_id} has observation space {obs_space}; this script needs a 1-D Box{hint}")


def make_probe_env(env_id: str) -> gym.Env:
    """gym.make with the errors a user can cause turned into one-line messages."""
    if importlib.util.find_spec("ale_py") is not None:
        import ale_py  # gymnasium >= 1.0 knows the Atari ids (ALE/Pong-v5, PongNoFrameskip-v4) only once ale_py is imported

        gym.register_envs(ale_py)
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner on every environment
    try:
        return gym.make(env_id)
    except gym.error.DependencyNotInstalled as e:  # gymnasium's message names the pip install
        raise UserError(f"{env_id} needs a package that is not installed: {e}") from None
    except gym.error.Error as e:
        raise UserError(f"unknown environment id {env_id!r}: {e}") from None


def make_env(env_id: str, idx: int, capture_video: bool, run_dir: str):
    def thunk():
        if capture_video and idx == 0:
            env = gym.make(env_id, render_mode="rgb_array")
            env = gym.wrappers.RecordVideo(env, f"{run_dir}/videos")
        else:
            env = gym.make(env_id)
        return env

    return thunk


def make_vector_env(args: Args, run_dir: str) -> gym.vector.VectorEnv:
    # Gymnasium >= 1.0 resets a finished sub-env on the *next* step by default; SAME_STEP resets it
    # at once and hands back the episode's last observation in infos["final_obs"], which the
    # time-limit bootstrap needs. copy=False (speed: no deepcopy each step): the observations come back
    # in the vector env's own array, which the next step overwrites; the rollout copies them before that.
    return gym.vector.SyncVectorEnv(
        [make_env(args.env_id, i, args.capture_video, run_dir) for i in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        copy=False,
    )


# ---------------------------------------------------------------------------------------------
# Network: separate policy and value MLPs, 2x64 tanh (paper, section 6.1)
# ---------------------------------------------------------------------------------------------


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    """Implementation detail (baselines): orthogonal weights with gain `std`, zero biases."""
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_dim: int, num_actions: int):
        super().__init__()
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 1), std=1.0),  # implementation detail: value output gain 1
        )
        self.actor = nn.Sequential(  # the logits of π_θ(·|s)
            layer_init(nn.Linear(obs_dim, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, num_actions), std=0.01),  # implementation detail: near-uniform initial policy
        )

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def get_action_and_value(self, obs: torch.Tensor, action: torch.Tensor | None = None):
        """a ~ π_θ(·|s) = softmax(logits) when no action is given; log π_θ(a|s), the entropy, V(s).

        The categorical distribution is written out rather than built as a torch.distributions.Categorical:
        the same numbers and the same random draws, without the object's overhead on every step."""
        logits = self.actor(obs)
        log_probs = logits - logits.logsumexp(-1, keepdim=True)  # log π_θ(·|s)
        probs = log_probs.exp()
        if action is None:
            action = torch.multinomial(probs, 1, True).squeeze(-1)
        logprob = log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1)
        entropy = -(probs * log_probs).sum(-1)  # the entropy S of Eq. (9): -Σ_a π(a|s) log π(a|s)
        return action, logprob, entropy, self.get_value(obs)

    @torch.inference_mode()
    def act(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rollout's a ~ π_θold(·|s), log π_θold(a|s) and V(s), one row per state, as numpy arrays
        (with --no-numpy-rollout; NumpyPolicy otherwise). Under inference mode: no autograd bookkeeping."""
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.critic[0].weight.device)
        return *sample_categorical(self.actor(x).cpu().numpy(), rng), self.get_value(x).cpu().numpy()

    @torch.inference_mode()
    def value(self, obs: np.ndarray) -> np.ndarray:
        return (
            self.get_value(torch.as_tensor(obs, dtype=torch.float32, device=self.critic[0].weight.device)).cpu().numpy()
        )


def sample_categorical(logits: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """a ~ softmax(logits) and log π(a|s), for the rollout. In numpy, for speed: a few operations on
    N × |A| numbers, where each torch op's fixed cost would dominate."""
    top = logits.max(-1, keepdims=True)
    log_probs = logits - (top + np.log(np.exp(logits - top).sum(-1, keepdims=True)))  # log softmax
    # Inverse-CDF sampling: the action is the number of cumulative probabilities at or below u ~ U[0, 1).
    cdf = np.exp(log_probs).cumsum(-1)
    u = rng.random((len(cdf), 1), dtype=np.float32)
    action = np.minimum((cdf <= u).sum(-1), cdf.shape[-1] - 1)  # min: cdf[-1] may round to just below 1
    return action, np.take_along_axis(log_probs, action[:, None], -1)[:, 0]


def numpy_actor_critic(actor: nn.Sequential, critic: nn.Sequential):
    """Numpy copies of the actor and critic MLPs (Linear and Tanh layers, in the same order), as a function
    of a batch of states that returns both networks' outputs.

    Implementation detail, for speed: the two run as one MLP twice as wide, their first layers side by
    side and the later ones block-diagonal (each half reads only its own hidden units). One pass instead
    of two halves the number of numpy calls, whose fixed cost (~1 µs each) is most of the time a batch of
    one state takes. The numbers are the two networks' up to float32 rounding."""
    for module in (*actor, *critic):
        if not isinstance(module, nn.Linear | nn.Tanh):
            raise UserError(
                f"--numpy-rollout copies Linear and Tanh layers, not {type(module).__name__}: pass --no-numpy-rollout"
            )
    if [type(module) for module in actor] != [type(module) for module in critic]:
        raise UserError("--numpy-rollout needs the actor and critic to have the same layers: pass --no-numpy-rollout")
    layers, first = [], True
    for a, c in zip(actor, critic, strict=True):
        if isinstance(a, nn.Tanh):
            layers.append(None)
            continue
        w_a, w_c = (module.weight.detach().cpu().numpy().T for module in (a, c))
        if first:  # both read the state
            weight = np.concatenate([w_a, w_c], axis=1)
        else:  # each reads its own half
            weight = np.block(
                [
                    [w_a, np.zeros((len(w_a), w_c.shape[1]), w_a.dtype)],
                    [np.zeros((len(w_c), w_a.shape[1]), w_c.dtype), w_c],
                ]
            )
        bias = np.concatenate([a.bias.detach().cpu().numpy(), c.bias.detach().cpu().numpy()])
        layers.append((weight, bias))
        first = False
    num_actor_outputs = actor[-1].out_features

    def forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = x.astype(np.float32, copy=False)  # as torch.as_tensor(x, dtype=torch.float32)
        for layer in layers:
            x = np.tanh(x) if layer is None else x @ layer[0] + layer[1]
        return x[:, :num_actor_outputs], x[:, num_actor_outputs:]

    return forward


class NumpyPolicy:
    """π_θold and V_θold for one rollout, as numpy copies of the agent's networks: Agent.act and
    Agent.value without torch (--numpy-rollout, the default).

    Implementation detail, for speed: the rollout runs the networks on one state per env, where torch's
    fixed cost per op (several µs) is most of a step's time and numpy's is about 1 µs. θ does not change
    during a rollout, so the copy is made when it starts; the numbers are torch's up to float32 rounding."""

    def __init__(self, agent: Agent):
        self.actor_critic = numpy_actor_critic(agent.actor, agent.critic)  # state -> (logits, V(s))

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        logits, value = self.actor_critic(obs)
        return *sample_categorical(logits, rng), value[:, 0]

    def value(self, obs: np.ndarray) -> np.ndarray:
        return self.actor_critic(obs)[1][:, 0]


# ---------------------------------------------------------------------------------------------
# The math: advantages (Eq. 11-12), the clipped surrogate (Eq. 7), the value loss
# ---------------------------------------------------------------------------------------------


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminations: np.ndarray,
    episode_ends: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Truncated GAE, Eq. (11)-(12), for a rollout of T steps from N actors; every array is (T, N), in
    numpy or torch (numpy is several times faster for the loop over t below).

    values[t]       V(s_t).
    next_values[t]  V(s_{t+1}) of the state step t led to. Where a time limit cut the episode at t
                    this is V(final observation): a truncated state is not terminal, so its value is
                    bootstrapped, not zeroed (Pardo et al., 2018). At t = T-1 it is V(s_T), the
                    bootstrap at the end of the rollout of Algorithm 1.
    terminations[t] 1 where s_{t+1} is terminal: its value is 0.
    episode_ends[t] 1 where the episode ended at t (terminated or truncated): the sum stops there.

    Returns the advantages Â_t and the value targets V^targ_t = Â_t + V(s_t).
    """
    advantages = rewards + gamma * (1.0 - terminations) * next_values - values  # δ_t of Eq. (12), every t at once
    decay = gamma * gae_lambda * (1.0 - episode_ends)  # γλ, and 0 where the episode ended at t
    for t in reversed(range(len(advantages) - 1)):
        advantages[t] += decay[t] * advantages[t + 1]  # Â_t = δ_t + γλ Â_{t+1}, Eq. (11)
    return advantages, advantages + values


def clipped_surrogate_loss(ratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """-L^CLIP of Eq. (7), to be minimised: -E[min(r·Â, clip(r, 1-ε, 1+ε)·Â)]."""
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * advantages
    return -torch.min(unclipped, clipped).mean()


def value_loss(
    new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_coef: float, clip_vloss: bool
) -> torch.Tensor:
    """L^VF of Eq. (9), (V(s_t) - V^targ_t)², halved as in baselines.

    With clip_vloss (implementation detail, baselines ppo2) the new value may not gain by moving
    more than ε away from the old one: the larger of the clipped and unclipped errors is used."""
    if not clip_vloss:
        return 0.5 * ((new_values - returns) ** 2).mean()
    clipped_values = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    return 0.5 * torch.max((new_values - returns) ** 2, (clipped_values - returns) ** 2).mean()


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var[target - predicted] / Var[target]: 1 is a perfect value function, 0 no better than a constant."""
    var_target = target.var()
    return float("nan") if var_target == 0 else float(1.0 - (target - predicted).var() / var_target)


# ---------------------------------------------------------------------------------------------
# Algorithm 1: actors collect T steps with π_θold, then K epochs of minibatch updates
# ---------------------------------------------------------------------------------------------


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
    """The N actors of Algorithm 1: the vector env and the bookkeeping of each episode's return."""

    def __init__(self, envs, seed: int, numpy_rollout: bool = True):
        self.envs = envs
        self.numpy_rollout = numpy_rollout
        self.action_start = int(envs.single_action_space.start)  # Discrete(n, start): actions start..start+n-1
        raw_obs, _ = envs.reset(seed=seed)
        self.next_obs = raw_obs
        self.episode_returns = np.zeros(envs.num_envs)
        self.episode_lengths = np.zeros(envs.num_envs, np.int64)
        self.finished: list[tuple[int, float, int]] = []  # (step index t, return, length) of the last rollout
        # The policy's random draws, from a stream of their own: default_rng(seed) would be the very stream
        # gymnasium gives the env seeded with `seed` (its reset noise), and the two would be correlated.
        self.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))

    def collect(self, agent: Agent, num_steps: int) -> Rollout:
        # The buffers are numpy arrays written in place, handed to torch once, after GAE (flatten_batch):
        # with NumpyPolicy a step allocates no tensors (implementation detail, for speed).
        n = self.envs.num_envs
        obs = np.zeros((num_steps, n) + self.next_obs.shape[1:], np.float32)
        actions = np.zeros((num_steps, n), np.int64)  # indices 0..n-1
        logprobs, values, rewards, truncated_values, terminations, episode_ends = (
            np.zeros((num_steps, n), np.float32) for _ in range(6)
        )
        truncations = np.zeros((num_steps, n), bool)
        self.finished = []
        policy = NumpyPolicy(agent) if self.numpy_rollout else agent  # π_θold: θ is fixed until the update
        for t in range(num_steps):
            obs[t] = self.next_obs
            actions[t], logprobs[t], values[t] = policy.act(self.next_obs, self.rng)
            raw_obs, reward, terminated, truncated, infos = self.envs.step(actions[t] + self.action_start)
            episode_end = terminated | truncated
            self.track_episodes(t, reward, episode_end)
            rewards[t] = reward
            self.next_obs = raw_obs
            terminations[t], episode_ends[t] = terminated, episode_end
            # A time limit is not a terminal state: bootstrap from V(final observation) (Pardo et al., 2018).
            # With SAME_STEP autoreset, raw_obs already starts the next episode for the envs that ended.
            cut = np.flatnonzero(truncated & ~terminated)
            if cut.size:
                final_obs = np.stack(infos["final_obs"][cut])
                truncated_values[t, cut] = policy.value(final_obs)
                truncations[t, cut] = True
        # V(s_{t+1}) is the next step's V(s_t), and V(s_T) at the end of the rollout, except where a
        # time limit cut the episode (its final observation's value, above).
        last_value = policy.value(self.next_obs)
        next_values = np.where(truncations, truncated_values, np.concatenate([values[1:], last_value[None]]))
        return Rollout(obs, actions, logprobs, values, rewards, next_values, terminations, episode_ends)

    def track_episodes(self, t: int, reward: np.ndarray, episode_end: np.ndarray) -> None:
        self.episode_returns += reward
        self.episode_lengths += 1
        for i in np.flatnonzero(episode_end):
            self.finished.append((t, float(self.episode_returns[i]), int(self.episode_lengths[i])))
            self.episode_returns[i], self.episode_lengths[i] = 0.0, 0


class NonFiniteLossError(UserError):
    pass


def minibatch_loss(agent: Agent, mb: dict[str, torch.Tensor], args: Args) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of Eq. (9) with L^CLIP of Eq. (7) on one minibatch, to be minimised, and its diagnostics
    as one tensor: policy loss, value loss, entropy, approx KL, clip fraction."""
    _, new_logprob, entropy, new_value = agent.get_action_and_value(mb["obs"], mb["actions"])
    log_ratio = new_logprob - mb["logprobs"]
    ratio = log_ratio.exp()  # r_t(θ) = π_θ(a_t|s_t) / π_θold(a_t|s_t), Eq. (6)
    advantages = mb["advantages"]
    if args.norm_adv:  # implementation detail (baselines): per-minibatch advantage normalization
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = clipped_surrogate_loss(ratio, advantages, args.clip_coef)
    v_loss = value_loss(new_value, mb["values"], mb["returns"], args.clip_coef, args.clip_vloss)
    entropy = entropy.mean()
    # Eq. (9), negated for gradient descent: -(L^CLIP - c1 L^VF + c2 S).
    loss = policy_loss + args.vf_coef * v_loss - args.ent_coef * entropy
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()  # k3 estimator of KL[π_old, π_θ]
        clipfrac = ((ratio - 1.0).abs() > args.clip_coef).float().mean()
        diagnostics = torch.stack([policy_loss, v_loss, entropy, approx_kl, clipfrac])
    return loss, diagnostics


def update(agent: Agent, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor], args: Args) -> dict:
    """K epochs of minibatch Adam on the loss of Eq. (9) with L^CLIP of Eq. (7) (minibatch_loss);
    returns the mean of each loss and diagnostic over all the minibatches of the update."""
    batch_size = batch["obs"].shape[0]
    minibatch_size = batch_size // args.num_minibatches
    params = list(agent.parameters())
    totals, num_minibatches = torch.zeros(5, dtype=torch.float64), 0
    for _epoch in range(args.update_epochs):
        epoch_totals = torch.zeros(5, dtype=torch.float64)
        permutation = torch.randperm(batch_size, device=batch["obs"].device)  # shuffled minibatches
        for start in range(0, batch_size, minibatch_size):
            mb = permutation[start : start + minibatch_size]
            loss, diagnostics = minibatch_loss(agent, {key: value[mb] for key, value in batch.items()}, args)
            if not torch.isfinite(loss):
                raise NonFiniteLossError
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, args.max_grad_norm, foreach=True)  # implementation detail (baselines)
            optimizer.step()
            epoch_totals += diagnostics.cpu().double()
            num_minibatches += 1
        totals += epoch_totals
        if args.target_kl is not None and epoch_totals[3].item() / args.num_minibatches > args.target_kl:
            break  # early stopping on the KL (Spinning Up's variant); off by default
    means = (totals / num_minibatches).tolist()
    return dict(zip(("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"), means, strict=True))


def flatten_batch(rollout: Rollout, advantages, returns, device: torch.device) -> dict[str, torch.Tensor]:
    """(T, N, ...) -> (N*T, ...) tensors on the device: the samples the minibatches of Algorithm 1 are
    drawn from. The rollout's arrays may be numpy or torch."""
    fields = {"obs": rollout.obs, "actions": rollout.actions, "logprobs": rollout.logprobs, "values": rollout.values}
    fields |= {"advantages": advantages, "returns": returns}
    return {key: torch.as_tensor(x, device=device).reshape((-1,) + x.shape[2:]) for key, x in fields.items()}


def train(args: Args) -> dict:
    validate(args)
    check_env(args.env_id)
    checkpoint = load_checkpoint(args.resume, args.env_id) if args.resume else None
    run_dir = os.path.join(args.runs_dir, f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}")
    seed_everything(args.seed, args.torch_deterministic)
    device = torch.device("cuda" if args.cuda and torch.cuda.is_available() else "cpu")

    envs = make_vector_env(args, run_dir)
    obs_shape, num_actions = envs.single_observation_space.shape, int(envs.single_action_space.n)
    envs.single_action_space.seed(args.seed)
    agent = Agent(obs_shape[0], num_actions).to(device)
    # Implementation detail: Adam ε 1e-5 (baselines). fused: one kernel for all parameters (same update, faster).
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5, fused=True)
    global_step = 0
    if checkpoint is not None:
        restore_networks(checkpoint, agent, optimizer)
        global_step = checkpoint["global_step"]
        if global_step + args.num_envs * args.num_steps > args.total_timesteps:
            envs.close()
            raise UserError(f"{args.resume} is at step {global_step:,}; pass a larger --total-timesteps to go on")

    def save(path: str) -> str:
        save_checkpoint(
            path,
            {
                "format_version": CHECKPOINT_VERSION,
                "script": SCRIPT,
                "args": dataclasses.asdict(args),
                "global_step": global_step,
                "model": agent.state_dict(),
                "optimizer": optimizer.state_dict(),
            },
        )
        return path

    writer = open_writer(run_dir, args)
    actors = Actors(envs, args.seed, args.numpy_rollout)
    batch_size = args.num_envs * args.num_steps
    recent_returns: deque[float] = deque(maxlen=100)
    start_step, start_time, last_print, last_save = global_step, time.time(), 0.0, global_step
    checkpoint_path = os.path.join(run_dir, "model.pt")
    interrupted = None
    try:
        with StopRequest() as stop:
            while global_step + batch_size <= args.total_timesteps:
                if args.anneal_lr:  # implementation detail (baselines): stepsize annealed linearly to 0
                    optimizer.param_groups[0]["lr"] = (1.0 - global_step / args.total_timesteps) * args.learning_rate

                # Each of the N actors runs π_θold for T steps; then Â_1..Â_T by GAE (Algorithm 1).
                rollout = actors.collect(agent, args.num_steps)
                for t, episode_return, episode_length in actors.finished:
                    step = global_step + (t + 1) * args.num_envs
                    writer.add_scalar("charts/episodic_return", episode_return, step)
                    writer.add_scalar("charts/episodic_length", episode_length, step)
                    recent_returns.append(episode_return)
                global_step += batch_size
                advantages, returns = compute_gae(
                    rollout.rewards,
                    rollout.values,
                    rollout.next_values,
                    rollout.terminations,
                    rollout.episode_ends,
                    args.gamma,
                    args.gae_lambda,
                )

                # Optimize the surrogate for K epochs with minibatch size M; θ_old ← θ.
                batch = flatten_batch(rollout, advantages, returns, device)
                stats = update(agent, optimizer, batch, args)

                sps = (global_step - start_step) / (time.time() - start_time)
                writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
                writer.add_scalar("charts/SPS", sps, global_step)
                for key, value in stats.items():
                    writer.add_scalar(f"losses/{key}", value, global_step)
                ev = explained_variance(batch["values"], batch["returns"])
                writer.add_scalar("losses/explained_variance", ev, global_step)
                done = global_step + batch_size > args.total_timesteps
                if time.time() - last_print >= 5.0 or done or stop.signal:
                    last_print = time.time()
                    print(status_line(global_step, args.total_timesteps, recent_returns, sps), flush=True)
                if args.save_model and global_step - last_save >= args.save_interval and not done:
                    last_save = global_step
                    save(checkpoint_path)
                if stop.signal:
                    interrupted = stop.signal
                    break
    except NonFiniteLossError:
        kept = (
            f"the last checkpoint, {checkpoint_path}, is kept" if os.path.exists(checkpoint_path) else "nothing saved"
        )
        raise NonFiniteLossError(
            f"the loss became non-finite in the update after global step {global_step:,}; training stopped "
            f"({kept}); try a lower --learning-rate or check the environment's rewards"
        ) from None
    finally:
        writer.close()
        envs.close()
    wall_seconds = time.time() - start_time
    summary = {
        "global_step": global_step,
        "start_step": start_step,
        "mean_return": float(np.mean(recent_returns)) if recent_returns else float("nan"),
        "episodes": len(recent_returns),
        "sps": (global_step - start_step) / wall_seconds,
        "wall_seconds": wall_seconds,
        "run_dir": run_dir,
        "checkpoint": save(checkpoint_path) if args.save_model else None,
        "interrupted": interrupted,
    }
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)  # read by benchmark/run.py to skip finished runs
    return summary


# ---------------------------------------------------------------------------------------------
# Evaluation of a checkpoint
# ---------------------------------------------------------------------------------------------


def evaluate(checkpoint_path: str, episodes: int, seed: int = 1, capture_video: bool = False) -> list[float]:
    """Run the policy's most probable (arg-max) action; return each episode's return."""
    checkpoint = load_checkpoint(checkpoint_path)
    saved = checkpoint["args"]
    env_id = saved["env_id"]
    check_env(env_id)
    env = gym.make(env_id, render_mode="rgb_array" if capture_video else None)
    if capture_video:
        env = gym.wrappers.RecordVideo(env, str(Path(checkpoint_path).parent / "videos-eval"), lambda _: True)
    agent = Agent(env.observation_space.shape[0], int(env.action_space.n))
    restore_networks(checkpoint, agent)
    returns, episode_return = [], 0.0
    obs, _ = env.reset(seed=seed)
    while len(returns) < episodes:
        with torch.no_grad():
            logits = agent.actor(torch.as_tensor(obs[None], dtype=torch.float32))
        obs, reward, terminated, truncated, _ = env.step(int(logits[0].argmax()) + int(env.action_space.start))
        episode_return += float(reward)
        if terminated or truncated:
            returns.append(episode_return)
            episode_return = 0.0
            obs, _ = env.reset()
    env.close()
    return returns


# ---------------------------------------------------------------------------------------------
# Plumbing shared word for word by the four scripts: checkpoints, logging, signals, validation
# ---------------------------------------------------------------------------------------------


def validate(args: Args) -> None:
    """Hyperparameters that cannot work are refused before anything starts."""
    batch_size = args.num_envs * args.num_steps
    checks = [
        (args.total_timesteps > 0, "--total-timesteps must be positive"),
        (args.num_envs > 0, "--num-envs must be positive"),
        (args.num_steps > 0, "--num-steps must be positive"),
        (args.num_minibatches > 0, "--num-minibatches must be positive"),
        (args.update_epochs > 0, "--update-epochs must be positive"),
        (args.learning_rate > 0, "--learning-rate must be positive"),
        (0.0 <= args.gamma <= 1.0, "--gamma must be in [0, 1]"),
        (0.0 <= args.gae_lambda <= 1.0, "--gae-lambda must be in [0, 1]"),
        (args.clip_coef > 0, "--clip-coef must be positive"),
        (args.ent_coef >= 0, "--ent-coef must be non-negative"),
        (args.vf_coef >= 0, "--vf-coef must be non-negative"),
        (args.max_grad_norm > 0, "--max-grad-norm must be positive"),
        (args.target_kl is None or args.target_kl > 0, "--target-kl must be positive (or None)"),
        (args.save_interval > 0, "--save-interval must be positive"),
        (args.torch_threads > 0, "--torch-threads must be positive"),
        (args.eval_episodes > 0, "--eval-episodes must be positive"),
        (not (args.resume and args.eval_checkpoint), "give --resume or --eval-checkpoint, not both"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)
    if batch_size % args.num_minibatches:
        raise UserError(
            f"--num-envs × --num-steps = {batch_size} is not divisible by --num-minibatches = {args.num_minibatches}"
        )
    if args.total_timesteps < batch_size:
        raise UserError(f"--total-timesteps must be at least --num-envs × --num-steps = {batch_size}")
    if args.capture_video and importlib.util.find_spec("moviepy") is None:
        raise UserError("--capture-video needs moviepy: pip install moviepy")


def seed_everything(seed: int, torch_deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = torch_deterministic


def open_writer(run_dir: str, args: Args) -> SummaryWriter:
    """The run folder: TensorBoard events plus the hyperparameters, as args.json and as a text panel."""
    writer = SummaryWriter(run_dir)
    hyperparameters = dataclasses.asdict(args)
    with open(os.path.join(run_dir, "args.json"), "w") as f:
        json.dump(hyperparameters, f, indent=2)
    table = "\n".join(f"|{key}|{value}|" for key, value in hyperparameters.items())
    writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")
    return writer


def status_line(global_step: int, total_timesteps: int, recent_returns: deque, sps: float, extra: str = "") -> str:
    recent = list(recent_returns)[-20:]
    mean_return = f"{np.mean(recent):10.2f}" if recent else "         -"
    eta = int((total_timesteps - global_step) / max(sps, 1e-9))
    return (
        f"step {global_step:>10,}/{total_timesteps:,} | return {mean_return} (last {len(recent):>2} episodes)"
        f" | {sps:6,.0f} steps/s | eta {eta // 3600}:{eta % 3600 // 60:02d}:{eta % 60:02d}{extra}"
    )


class StopRequest:
    """Ctrl-C or SIGTERM asks the training loop to stop after the current iteration, so the logs are
    flushed and the checkpoint is consistent. A second Ctrl-C stops at once; a repeated SIGTERM does
    not (a cluster's scancel may send it to the run and to its launcher, who passes it on)."""

    def __init__(self):
        self.signal: str | None = None
        self.previous: dict = {}

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self.handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def handle(self, signum: int, frame) -> None:
        if self.signal is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.signal = signal.Signals(signum).name
        print(
            f"\n{self.signal}: stopping after this iteration (Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )


def save_checkpoint(path: str, payload: dict) -> None:
    """Write to a temporary file, then rename: an interrupted write never leaves a broken checkpoint."""
    tmp = f"{path}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str, env_id: str | None = None) -> dict:
    """Read a checkpoint of this script (plain tensors and numbers only: weights_only=True)."""
    if not os.path.isfile(path):
        raise UserError(f"checkpoint {path} does not exist; pass the model.pt of a run folder")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(
            f"{path} is not a checkpoint that torch.load(weights_only=True) can read ({e.__class__.__name__})"
        ) from None
    if not isinstance(checkpoint, dict) or not {"format_version", "script", "args", "model"} <= checkpoint.keys():
        raise UserError(f"{path} is not a checkpoint of these PPO scripts")
    if checkpoint["script"] != SCRIPT:
        raise UserError(f"{path} was written by {checkpoint['script']}.py; use that script for it")
    if checkpoint["format_version"] != CHECKPOINT_VERSION:
        raise UserError(
            f"{path} has checkpoint format {checkpoint['format_version']}; this script reads format {CHECKPOINT_VERSION}"
        )
    if env_id is not None and checkpoint["args"]["env_id"] != env_id:
        raise UserError(f"{path} was trained on {checkpoint['args']['env_id']}, not {env_id}")
    return checkpoint


def restore_networks(checkpoint: dict, agent: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    try:
        agent.load_state_dict(checkpoint["model"])
        if optimizer is not None:
            optimizer.load_state_dict(checkpoint["optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise UserError(f"the checkpoint's network does not fit this one: {str(e).splitlines()[0]}") from None


def parse_args(argv: list[str] | None) -> Args:
    """Flags from the command line; with --resume or --eval-checkpoint, the flags not given come from
    the checkpoint's own hyperparameters."""
    args = tyro.cli(Args, args=argv)
    source = args.eval_checkpoint or args.resume
    if source is None:
        return args
    saved = load_checkpoint(source)["args"]
    fields = {field.name for field in dataclasses.fields(Args)}
    default = Args(**{key: value for key, value in saved.items() if key in fields})
    default = dataclasses.replace(default, eval_checkpoint=args.eval_checkpoint, resume=args.resume)
    return tyro.cli(Args, args=argv, default=default)


def main(argv: list[str] | None = None) -> None:
    try:
        args = parse_args(argv)
        validate(args)
        torch.set_num_threads(args.torch_threads)
        if args.eval_checkpoint:
            load_checkpoint(args.eval_checkpoint, args.env_id)
            returns = evaluate(args.eval_checkpoint, args.eval_episodes, args.seed, args.capture_video)
            print(
                f"{args.env_id}: {len(returns)} episodes, return {np.mean(returns):.2f} ± {np.std(returns):.2f} "
                f"(min {np.min(returns):.2f}, max {np.max(returns):.2f})"
            )
            return
        summary = train(args)
    except UserError as e:
        print(f"{SCRIPT}: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{SCRIPT}: stopped at once; logs flushed, no final checkpoint written", file=sys.stderr)
        sys.exit(130)
    print(
        f"{'interrupted' if summary['interrupted'] else 'done'}: {summary['global_step']:,} steps in "
        f"{summary['wall_seconds']:.0f} s ({summary['sps']:,.0f} steps/s); mean return of the last "
        f"{summary['episodes']} episodes {summary['mean_return']:.2f}; run folder {summary['run_dir']}"
        + (f"; checkpoint {summary['checkpoint']}" if summary["checkpoint"] else "")
    )
    if summary["interrupted"]:
        sys.exit(130 if summary["interrupted"] == "SIGINT" else 143)


if __name__ == "__main__":
    main()
