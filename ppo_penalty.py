"""PPO-Penalty with a Gaussian policy for continuous control: the paper's section 4, MuJoCo setting.

Schulman et al., "Proximal Policy Optimization Algorithms" (arXiv:1707.06347), with the
advantage estimator of Schulman et al., "High-Dimensional Continuous Control Using Generalized
Advantage Estimation" (arXiv:1506.02438). This file implements:

- Eq. (8)       L^KLPEN = E_t[r_t(θ) Â_t - β KL[π_θold(·|s_t), π_θ(·|s_t)]], r_t = π_θ(a_t|s_t) / π_θold(a_t|s_t),
                with the exact KL between the old and new Gaussians (closed form), and no ratio clipping
- section 4     the adaptive β: after each policy update, d = E_t[KL]; β ← β/2 if d < d_targ/1.5,
                β ← 2β if d > 1.5 d_targ; the new β is used in the next update. Fixed β with --no-adaptive-beta;
                fixed β = 0 is the unclipped, unpenalized surrogate L^CPI of Eq. (6), Table 1's first row
- Eq. (9)       the loss that is minimised: -L^KLPEN + c1 L^VF - c2 S (with c2 = 0 as in Table 3)
- Eq. (11)-(12) truncated GAE, Â_t = δ_t + (γλ) δ_{t+1} + ..., δ_t = r_t + γ V(s_{t+1}) - V(s_t)
- Algorithm 1   N actors run π_θold for T steps, then K epochs of minibatch Adam on the surrogate

Everything but the objective and the β rule is ppo_continuous.py, line for line: the defaults are
the paper's Table 3 (T=2048, Adam 3e-4, K=10, M=64, γ=0.99, λ=0.95) with the implementation details
of OpenAI baselines' ppo2, each marked "implementation detail" where it appears.

    python ppo_penalty.py --env-id Hopper-v4                      # adaptive β, d_targ = 0.01
    python ppo_penalty.py --env-id Hopper-v4 --no-adaptive-beta --init-beta 3   # fixed β
    python ppo_penalty.py --env-id Hopper-v4 --no-adaptive-beta --init-beta 0   # L^CPI, Eq. (6)
    python ppo_penalty.py --eval-checkpoint runs/<run>/model.pt --eval-episodes 10
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
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

SCRIPT = "ppo_penalty"
CHECKPOINT_VERSION = 1
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass
class Args:
    # --- experiment ---
    env_id: str = "Hopper-v4"
    """gymnasium id of an environment with a 1-D Box observation and a Box action space (paper: MuJoCo)"""
    total_timesteps: int = 1_000_000
    """environment steps summed over all envs (paper: 1M for MuJoCo)"""
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
    """evaluate this model.pt (mean action, frozen normalization statistics) instead of training"""
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

    # --- algorithm (paper, Table 3, unless said otherwise) ---
    num_envs: int = 1
    """N, parallel actors (Table 3 uses a single actor)"""
    num_steps: int = 2048
    """T, steps each actor runs per rollout (Table 3: horizon 2048)"""
    learning_rate: float = 3e-4
    """Adam stepsize (Table 3: 3e-4)"""
    anneal_lr: bool = True
    """implementation detail (baselines): anneal the stepsize linearly to 0 over training"""
    gamma: float = 0.99
    """discount γ (Table 3)"""
    gae_lambda: float = 0.95
    """GAE λ of Eq. (11) (Table 3)"""
    num_minibatches: int = 32
    """minibatches per epoch: N*T / 32 = 64 = Table 3's minibatch size M"""
    update_epochs: int = 10
    """K, epochs over each rollout (Table 3: 10)"""
    norm_adv: bool = True
    """implementation detail (baselines): normalize the advantages in each minibatch"""
    kl_target: float = 0.01
    """d_targ of the adaptive β rule (section 4; Table 1 tried 0.003, 0.01, 0.03)"""
    init_beta: float = 1.0
    """β of Eq. (8) at the start (section 4: the initial value hardly matters, the rule adapts it quickly);
    with --no-adaptive-beta, the fixed β (0 gives L^CPI of Eq. (6))"""
    adaptive_beta: bool = True
    """adapt β after each update by the rule of section 4; --no-adaptive-beta keeps it fixed"""
    clip_coef: float = 0.2
    """ε of the value-loss clipping (--clip-vloss) only: L^KLPEN clips no ratio. Also the band of the logged clipfrac"""
    clip_vloss: bool = True
    """implementation detail (baselines ppo2): clip the value update to ±ε around the old value"""
    ent_coef: float = 0.0
    """c2 of Eq. (9), the entropy bonus (Table 3: none)"""
    vf_coef: float = 0.5
    """c1 of Eq. (9); with separate networks it only matters through the shared gradient-norm clip (baselines: 0.5)"""
    max_grad_norm: float = 0.5
    """implementation detail (baselines): clip the global gradient norm to this value"""
    target_kl: float | None = None
    """stop the epochs of an update early once the mean approx KL of an epoch exceeds this (off by default, as in the paper)"""
    norm_obs: bool = True
    """implementation detail (baselines VecNormalize): normalize observations by a running mean/std, clip to ±10"""
    norm_reward: bool = True
    """implementation detail (baselines VecNormalize): divide rewards by a running std of the discounted return, clip to ±10"""


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
    if len(obs_space.shape or ()) == 3:
        raise UserError(f"{env_id} has image observations {obs_space.shape}; use ppo_shared_backbone.py for it")
    if isinstance(act_space, gym.spaces.Discrete):
        raise UserError(f"{env_id} has a discrete action space; use ppo_discrete.py for it")
    if not isinstance(act_space, gym.spaces.Box) or len(act_space.shape) != 1:
        raise UserError(f"{env_id} has action space {act_space}; this script needs a 1-D Box")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise UserError(f"{env_id} has observation space {obs_space}; this script needs a 1-D Box")


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


class RunningMeanStd:
    """Running mean and variance of a stream of batches (parallel algorithm of Chan et al., 1979)."""

    def __init__(self, shape: tuple[int, ...] = ()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4

    def update(self, x: np.ndarray) -> None:
        if x.shape[0] == 1:  # one env: the row is the batch's mean, its variance 0 (same numbers, 2 reductions fewer)
            batch_mean, batch_var, batch_count = x[0], 0.0, 1
        else:
            batch_mean, batch_var, batch_count = x.mean(axis=0), x.var(axis=0), x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> dict:
        return {"mean": torch.as_tensor(self.mean), "var": torch.as_tensor(self.var), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var = state["mean"].numpy(), state["var"].numpy()
        self.count = float(state["count"])


class ObsNormalizer:
    """Implementation detail (baselines VecNormalize): (obs - mean) / std, clipped to ±10."""

    def __init__(self, shape: tuple[int, ...], enabled: bool, clip: float = 10.0):
        self.rms, self.enabled, self.clip = RunningMeanStd(shape), enabled, clip

    def __call__(self, obs: np.ndarray, update: bool = True) -> np.ndarray:
        if not self.enabled:
            return obs.astype(np.float32)
        if update:
            self.rms.update(obs)
        normalized = (obs - self.rms.mean) / np.sqrt(self.rms.var + 1e-8)
        return normalized.clip(-self.clip, self.clip).astype(np.float32)


class RewardScaler:
    """Implementation detail (baselines VecNormalize): reward / std of the discounted return, clipped to ±10.

    Only the scale changes (no mean is subtracted), so the sign of every reward is kept."""

    def __init__(self, num_envs: int, gamma: float, enabled: bool, clip: float = 10.0):
        self.rms, self.enabled, self.gamma, self.clip = RunningMeanStd(), enabled, gamma, clip
        self.discounted_return = np.zeros(num_envs, np.float64)

    def __call__(self, reward: np.ndarray, episode_end: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return reward.astype(np.float32)
        self.discounted_return = self.discounted_return * self.gamma + reward
        self.rms.update(self.discounted_return)
        self.discounted_return[episode_end] = 0.0
        return (reward / np.sqrt(self.rms.var + 1e-8)).clip(-self.clip, self.clip).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Network: separate policy and value MLPs, 2x64 tanh (paper, section 6.1)
# ---------------------------------------------------------------------------------------------


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    """Implementation detail (baselines): orthogonal weights with gain `std`, zero biases."""
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_dim: int, action_dim: int):
        super().__init__()
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 1), std=1.0),  # implementation detail: value output gain 1
        )
        self.actor_mean = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, 64)),
            nn.Tanh(),
            layer_init(nn.Linear(64, action_dim), std=0.01),  # implementation detail: near-zero initial mean
        )
        # Paper, section 6.1: the Gaussian's log-std is a learned vector, independent of the state.
        self.actor_logstd = nn.Parameter(torch.zeros(1, action_dim))

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def policy(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """π_θ(·|s) = N(μ_θ(s), σ²): its mean and log-std, one row per state."""
        mean = self.actor_mean(obs)
        return mean, self.actor_logstd.expand_as(mean)

    @torch.inference_mode()
    def act(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rollout's a ~ π_θold(·|s), log π_θold(a|s) and V(s), one row per state, as numpy arrays
        (with --no-numpy-rollout; NumpyPolicy otherwise). Under inference mode: no autograd bookkeeping."""
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.actor_logstd.device)
        mean, log_std = (t.cpu().numpy() for t in self.policy(x))
        return *sample_gaussian(mean, log_std, rng), self.get_value(x).cpu().numpy()

    @torch.inference_mode()
    def value(self, obs: np.ndarray) -> np.ndarray:
        return self.get_value(torch.as_tensor(obs, dtype=torch.float32, device=self.actor_logstd.device)).cpu().numpy()


def gaussian_log_prob_and_entropy(
    action: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """log N(a; μ, σ²) and the entropy of N(μ, σ²), summed over the independent action dimensions.

    Written out rather than built as a torch.distributions.Normal: the same numbers, without the
    object's overhead on every minibatch."""
    logprob = (-0.5 * ((action - mean) / log_std.exp()) ** 2 - log_std - LOG_SQRT_2PI).sum(-1)
    entropy = (0.5 + LOG_SQRT_2PI + log_std).sum(-1)
    return logprob, entropy


def sample_gaussian(mean: np.ndarray, log_std: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """a ~ N(μ, σ²) and log N(a; μ, σ²), summed over the action dimensions, for the rollout. In numpy, for
    speed: a few operations on N × action_dim numbers, where each torch op's fixed cost would dominate."""
    noise = rng.standard_normal(mean.shape, dtype=np.float32)
    action = mean + np.exp(log_std) * noise
    logprob = (-0.5 * noise**2 - log_std - LOG_SQRT_2PI).sum(-1)  # (a - μ) / σ is the noise
    return action, logprob


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
        self.actor_critic = numpy_actor_critic(agent.actor_mean, agent.critic)  # state -> (μ(s), V(s))
        self.log_std = agent.actor_logstd.detach().cpu().numpy().copy()

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean, value = self.actor_critic(obs)
        return *sample_gaussian(mean, self.log_std, rng), value[:, 0]  # log-std: (1, action_dim)

    def value(self, obs: np.ndarray) -> np.ndarray:
        return self.actor_critic(obs)[1][:, 0]


# ---------------------------------------------------------------------------------------------
# The math: advantages (Eq. 11-12), the KL-penalized surrogate (Eq. 8) and its β rule, the value loss
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


def gaussian_kl(
    old_mean: torch.Tensor, old_log_std: torch.Tensor, new_mean: torch.Tensor, new_log_std: torch.Tensor
) -> torch.Tensor:
    """KL[π_old(·|s), π_new(·|s)] between two diagonal Gaussians, exactly (closed form), summed over
    the action dimensions (they are independent): one value per state.

    Per dimension: log(σ_new/σ_old) + (σ_old² + (μ_old - μ_new)²) / (2 σ_new²) - 1/2."""
    variance_ratio = torch.exp(2.0 * (old_log_std - new_log_std))  # σ_old² / σ_new²
    mean_term = (old_mean - new_mean) ** 2 * torch.exp(-2.0 * new_log_std)  # (μ_old - μ_new)² / σ_new²
    return (new_log_std - old_log_std + 0.5 * (variance_ratio + mean_term - 1.0)).sum(-1)


def kl_penalty_loss(ratio: torch.Tensor, advantages: torch.Tensor, kl: torch.Tensor, beta: float) -> torch.Tensor:
    """-L^KLPEN of Eq. (8), to be minimised: -E[r·Â - β·KL[π_old, π_θ]]. With β = 0 it is -L^CPI, Eq. (6)."""
    return -(ratio * advantages - beta * kl).mean()


def adapt_beta(beta: float, kl: float, kl_target: float) -> float:
    """Section 4's rule, applied after each policy update to the mean KL d of that update:
    d < d_targ/1.5 → β/2 (the policy moved too little); d > 1.5·d_targ → 2β (too much); else β."""
    if kl < kl_target / 1.5:
        return beta / 2.0
    if kl > kl_target * 1.5:
        return beta * 2.0
    return beta


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
    """The N actors of Algorithm 1: the vector env, the normalization in front of it, and the
    bookkeeping of each episode's raw return (before any normalization or scaling)."""

    def __init__(
        self,
        envs,
        obs_normalizer: ObsNormalizer,
        reward_scaler: RewardScaler,
        seed: int,
        numpy_rollout: bool = True,
    ):
        self.envs, self.obs_normalizer, self.reward_scaler = envs, obs_normalizer, reward_scaler
        self.numpy_rollout = numpy_rollout
        self.action_low, self.action_high = envs.single_action_space.low, envs.single_action_space.high
        raw_obs, _ = envs.reset(seed=seed)
        self.next_obs = obs_normalizer(raw_obs)
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
        actions = np.zeros((num_steps, n) + self.envs.single_action_space.shape, np.float32)
        logprobs, values, rewards, truncated_values, terminations, episode_ends = (
            np.zeros((num_steps, n), np.float32) for _ in range(6)
        )
        truncations = np.zeros((num_steps, n), bool)
        self.finished = []
        policy = NumpyPolicy(agent) if self.numpy_rollout else agent  # π_θold: θ is fixed until the update
        for t in range(num_steps):
            obs[t] = self.next_obs
            actions[t], logprobs[t], values[t] = policy.act(self.next_obs, self.rng)
            # Implementation detail: the action is clipped to the bounds only on its way to the
            # environment; the rollout keeps the sampled action, whose log-prob r_t(θ) is computed from.
            env_action = actions[t].clip(self.action_low, self.action_high)
            raw_obs, reward, terminated, truncated, infos = self.envs.step(env_action)
            episode_end = terminated | truncated
            self.track_episodes(t, reward, episode_end)
            rewards[t] = self.reward_scaler(reward, episode_end)
            self.next_obs = self.obs_normalizer(raw_obs)
            terminations[t], episode_ends[t] = terminated, episode_end
            # A time limit is not a terminal state: bootstrap from V(final observation) (Pardo et al., 2018).
            # With SAME_STEP autoreset, raw_obs already starts the next episode for the envs that ended.
            cut = np.flatnonzero(truncated & ~terminated)
            if cut.size:
                final_obs = self.obs_normalizer(np.stack(infos["final_obs"][cut]), update=False)
                truncated_values[t, cut] = policy.value(final_obs)
                truncations[t, cut] = True
        # V(s_{t+1}) is the next step's V(s_t), and V(s_T) at the end of the rollout, except where a
        # time limit cut the episode (its final observation's value, above).
        last_value = policy.value(self.next_obs)
        next_values = np.where(truncations, truncated_values, np.concatenate([values[1:], last_value[None]]))
        fields = (obs, actions, logprobs, values, rewards, next_values, terminations, episode_ends)
        return Rollout(*fields)

    def track_episodes(self, t: int, reward: np.ndarray, episode_end: np.ndarray) -> None:
        self.episode_returns += reward
        self.episode_lengths += 1
        for i in np.flatnonzero(episode_end):
            self.finished.append((t, float(self.episode_returns[i]), int(self.episode_lengths[i])))
            self.episode_returns[i], self.episode_lengths[i] = 0.0, 0


class NonFiniteLossError(UserError):
    pass


def minibatch_loss(
    agent: Agent, mb: dict[str, torch.Tensor], args: Args, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of Eq. (9) with L^KLPEN of Eq. (8) in place of L^CLIP on one minibatch, to be minimised,
    and its diagnostics as one tensor: policy loss, value loss, entropy, approx KL, clip fraction."""
    new_mean, new_log_std = agent.policy(mb["obs"])  # π_θ, for the ratio and the KL alike
    new_logprob, entropy = gaussian_log_prob_and_entropy(mb["actions"], new_mean, new_log_std)
    new_value = agent.get_value(mb["obs"])
    log_ratio = new_logprob - mb["logprobs"]
    ratio = log_ratio.exp()  # r_t(θ) = π_θ(a_t|s_t) / π_θold(a_t|s_t), Eq. (6)
    advantages = mb["advantages"]
    if args.norm_adv:  # implementation detail (baselines): per-minibatch advantage normalization
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    kl = gaussian_kl(mb["old_mean"], mb["old_log_std"], new_mean, new_log_std)
    policy_loss = kl_penalty_loss(ratio, advantages, kl, beta)
    v_loss = value_loss(new_value, mb["values"], mb["returns"], args.clip_coef, args.clip_vloss)
    entropy = entropy.mean()
    # Eq. (9) with L^KLPEN for L^CLIP, negated for gradient descent: -(L^KLPEN - c1 L^VF + c2 S).
    loss = policy_loss + args.vf_coef * v_loss - args.ent_coef * entropy
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()  # k3 estimator of KL[π_old, π_θ]
        clipfrac = ((ratio - 1.0).abs() > args.clip_coef).float().mean()  # diagnostic: nothing is clipped
        diagnostics = torch.stack([policy_loss, v_loss, entropy, approx_kl, clipfrac])
    return loss, diagnostics


def update(
    agent: Agent, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor], args: Args, beta: float
) -> dict:
    """K epochs of minibatch Adam on the loss of Eq. (9) with L^KLPEN of Eq. (8) (minibatch_loss);
    returns the mean of each loss and diagnostic over all the minibatches of the update, and `kl`:
    d, the mean exact KL[π_old, π_θ] over the whole batch after the epochs, which the β rule reads."""
    batch_size = batch["obs"].shape[0]
    minibatch_size = batch_size // args.num_minibatches
    # π_θold at every state of the batch. θ has not moved since the rollout, so one pass without
    # gradients gives the Gaussians the actions were sampled from.
    with torch.no_grad():
        old_mean, old_log_std = agent.policy(batch["obs"])
        old_log_std = old_log_std.clone()  # a copy: the expanded view would follow the parameter as it learns
    batch = batch | {"old_mean": old_mean, "old_log_std": old_log_std}
    params = list(agent.parameters())
    totals, num_minibatches = torch.zeros(5, dtype=torch.float64), 0
    for _epoch in range(args.update_epochs):
        epoch_totals = torch.zeros(5, dtype=torch.float64)
        permutation = torch.randperm(batch_size, device=batch["obs"].device)  # shuffled minibatches
        for start in range(0, batch_size, minibatch_size):
            mb = permutation[start : start + minibatch_size]
            loss, diagnostics = minibatch_loss(agent, {key: value[mb] for key, value in batch.items()}, args, beta)
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
    stats = dict(zip(("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"), means, strict=True))
    with torch.no_grad():  # section 4: d = Ê_t[KL[π_old(·|s_t), π_θ(·|s_t)]] after the update's epochs
        stats["kl"] = gaussian_kl(old_mean, old_log_std, *agent.policy(batch["obs"])).mean().item()
    return stats


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
    obs_shape, action_dim = envs.single_observation_space.shape, envs.single_action_space.shape[0]
    envs.single_action_space.seed(args.seed)
    agent = Agent(obs_shape[0], action_dim).to(device)
    # Implementation detail: Adam ε 1e-5 (baselines). fused: one kernel for all parameters (same update, faster).
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5, fused=True)
    obs_normalizer = ObsNormalizer(obs_shape, args.norm_obs)
    reward_scaler = RewardScaler(args.num_envs, args.gamma, args.norm_reward)
    global_step = 0
    beta = args.init_beta  # β of Eq. (8)
    if checkpoint is not None:
        restore_networks(checkpoint, agent, optimizer)
        beta = checkpoint["beta"]  # the adapted β carries on, as the optimizer does
        obs_normalizer.rms.load_state_dict(checkpoint["obs_rms"])
        reward_scaler.rms.load_state_dict(checkpoint["return_rms"])
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
                "obs_rms": obs_normalizer.rms.state_dict(),
                "return_rms": reward_scaler.rms.state_dict(),
                "beta": beta,
            },
        )
        return path

    writer = open_writer(run_dir, args)
    actors = Actors(envs, obs_normalizer, reward_scaler, args.seed, args.numpy_rollout)
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
                stats = update(agent, optimizer, batch, args, beta)
                writer.add_scalar("charts/beta", beta, global_step)  # the β this update used
                beta_used = beta
                if args.adaptive_beta:  # section 4: the new β is used for the next policy update
                    beta = adapt_beta(beta, stats["kl"], args.kl_target)

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
                    extra = f" | β {beta_used:.3g} | d {stats['kl']:.4f}"
                    print(status_line(global_step, args.total_timesteps, recent_returns, sps, extra), flush=True)
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
        "beta": beta,
    }
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)  # read by benchmark/run.py to skip finished runs
    return summary


# ---------------------------------------------------------------------------------------------
# Evaluation of a checkpoint
# ---------------------------------------------------------------------------------------------


def evaluate(checkpoint_path: str, episodes: int, seed: int = 1, capture_video: bool = False) -> list[float]:
    """Run the policy's mean action with frozen normalization statistics; return each episode's return."""
    checkpoint = load_checkpoint(checkpoint_path)
    saved = checkpoint["args"]
    env_id = saved["env_id"]
    check_env(env_id)
    env = gym.make(env_id, render_mode="rgb_array" if capture_video else None)
    if capture_video:
        env = gym.wrappers.RecordVideo(env, str(Path(checkpoint_path).parent / "videos-eval"), lambda _: True)
    agent = Agent(env.observation_space.shape[0], env.action_space.shape[0])
    restore_networks(checkpoint, agent)
    obs_normalizer = ObsNormalizer(env.observation_space.shape, saved["norm_obs"])
    obs_normalizer.rms.load_state_dict(checkpoint["obs_rms"])
    low, high = env.action_space.low, env.action_space.high
    returns, episode_return = [], 0.0
    obs, _ = env.reset(seed=seed)
    while len(returns) < episodes:
        with torch.no_grad():
            mean = agent.actor_mean(torch.as_tensor(obs_normalizer(obs[None], update=False)))
        obs, reward, terminated, truncated, _ = env.step(np.clip(mean[0].numpy(), low, high))
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
        (args.kl_target > 0, "--kl-target must be positive"),
        (args.init_beta >= 0, "--init-beta must be non-negative"),
        (
            args.init_beta > 0 or not args.adaptive_beta,
            "--init-beta 0 cannot adapt (β/2 and 2β stay 0); add --no-adaptive-beta",
        ),
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
