"""ppo_continuous.py: the math against hand-computed values, the rollout's corner cases, short runs,
a learning check, checkpoints, resume, and the errors a user can cause."""

import dataclasses
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import warnings
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn
from util import (
    ROOT,
    TENSORBOARD_KEYS,
    assert_one_line_error,
    evaluate_recording,
    load_script,
    only_run_dir,
    read_scalars,
    run_script,
    script_env,
    signal_handlers,
    standard_gaussian_agent,
)

ppo = load_script("ppo_continuous")

# A short run's flags: 2 iterations of 512 steps, small updates.
TINY = ["--num-steps", "512", "--num-minibatches", "4", "--update-epochs", "2", "--total-timesteps", "1024"]


# ---------------------------------------------------------------------------------------------
# Environments made for the tests
# ---------------------------------------------------------------------------------------------


class CountingEnv(gym.Env):
    """Observation = steps taken in this episode; reward 1 per step; ends after `end_after` steps,
    by termination if `terminate` else left to the TimeLimit. Records the actions it receives."""

    def __init__(self, terminate: bool = False, end_after: int = 3, reward: float = 1.0):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.terminate, self.end_after, self.reward = terminate, end_after, reward
        self.received = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.k = 0
        return np.array([0.0]), {}

    def step(self, action):
        self.received.append(np.array(action))
        self.k += 1
        terminated = self.terminate and self.k >= self.end_after
        return np.array([float(self.k)]), self.reward, terminated, False, {}


class MatrixActionEnv(CountingEnv):
    """A 2×2 Box of actions: not the 1-D Box a diagonal Gaussian samples."""

    def __init__(self):
        super().__init__()
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32)


gym.register("tests/CountTruncate-v0", entry_point=lambda: CountingEnv(terminate=False), max_episode_steps=3)
gym.register("tests/CountTerminate-v0", entry_point=lambda: CountingEnv(terminate=True), max_episode_steps=100)
gym.register("tests/MatrixAction-v0", entry_point=MatrixActionEnv)
gym.register("tests/NanReward-v0", entry_point=lambda: CountingEnv(reward=float("nan")), max_episode_steps=50)


def identity_critic_agent() -> nn.Module:
    """An agent whose value function is V(s) = s (one linear unit, weight 1), so every value is known."""
    agent = ppo.Agent(1, 1)
    agent.actor_mean, agent.critic = nn.Sequential(nn.Linear(1, 1)), nn.Sequential(nn.Linear(1, 1))
    with torch.no_grad():
        agent.critic[0].weight.fill_(1.0)
        agent.critic[0].bias.fill_(0.0)
    return agent


def make_actors(env_id: str, num_steps: int = 5, seed: int = 0, **overrides):
    args = ppo.Args(env_id=env_id, num_envs=1, num_steps=num_steps, norm_obs=False, norm_reward=False, **overrides)
    envs = ppo.make_vector_env(args, run_dir="unused")
    obs_normalizer = ppo.ObsNormalizer((1,), enabled=False)
    reward_scaler = ppo.RewardScaler(1, args.gamma, enabled=False)
    return envs, ppo.Actors(envs, obs_normalizer, reward_scaler, seed=seed)


# ---------------------------------------------------------------------------------------------
# The math, against values computed by hand
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["ppo_continuous", "ppo_penalty"])
def test_defaults_are_table_3(script):
    """Table 3, entry by entry: T = 2048, stepsize 3e-4, K = 10, M = 64, γ = 0.99, λ = 0.95, 1M steps; section
    6.1: no entropy bonus; PPO-Clip's ε = 0.2 (Table 1's best), PPO-Penalty's adaptive β from 1 with d_targ = 0.01."""
    args = load_script(script).Args()
    assert (args.num_steps, args.learning_rate, args.update_epochs) == (2048, 3e-4, 10)
    assert args.num_envs * args.num_steps // args.num_minibatches == 64
    assert (args.gamma, args.gae_lambda, args.total_timesteps, args.ent_coef) == (0.99, 0.95, 1_000_000, 0.0)
    if script == "ppo_continuous":
        assert args.clip_coef == 0.2
    else:
        assert (args.adaptive_beta, args.init_beta, args.kl_target) == (True, 1.0, 0.01)


def test_compute_gae_by_hand():
    # Column 0: termination at t=1, time-limit truncation at t=3 (bootstrap from V(final obs) = 4.0),
    # end of rollout at t=4 (bootstrap V(s_T) = 3.0). γ = 0.9, λ = 0.8, γλ = 0.72.
    #   δ = [1 + 0.9·1 − 0.5, 1 − 1.0, 1 + 0.9·2 − 1.5, 1 + 0.9·4 − 2, 1 + 0.9·3 − 2.5] = [1.4, 0, 1.3, 2.6, 1.2]
    #   Â_4 = 1.2; Â_3 = 2.6 (episode ends); Â_2 = 1.3 + 0.72·2.6 = 3.172; Â_1 = 0 (ends); Â_0 = 1.4 + 0.72·0
    # Column 1: no episode ends, zero rewards and values, bootstrap 10 at the end:
    #   Â_4 = 0.9·10 = 9, Â_t = 0.72^(4−t)·9.
    rollout = gae_inputs(
        rewards=[[1.0, 0.0]] * 5,
        values=[[0.5, 0.0], [1.0, 0.0], [1.5, 0.0], [2.0, 0.0], [2.5, 0.0]],
        next_values=[[1.0, 0.0], [9.0, 0.0], [2.0, 0.0], [4.0, 0.0], [3.0, 10.0]],
        terminations=[[0.0, 0], [1, 0], [0, 0], [0, 0], [0, 0]],
        episode_ends=[[0.0, 0], [1, 0], [0, 0], [1, 0], [0, 0]],
    )
    advantages, returns = ppo.compute_gae(rollout, 0.9, 0.8)
    expected = [[1.4, 2.41864704], [0.0, 3.359232], [3.172, 4.6656], [2.6, 6.48], [1.2, 9.0]]
    assert advantages.dtype == np.float32
    np.testing.assert_allclose(advantages, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(returns[:, 0], [1.9, 1.0, 4.672, 4.6, 3.7], rtol=1e-6)


def gae_inputs(**arrays):
    """The rollout fields compute_gae reads, as float32 arrays."""
    return SimpleNamespace(**{key: np.array(value, np.float32) for key, value in arrays.items()})


def test_clipped_surrogate_by_hand():
    # ε = 0.2. Per sample: min(r·Â, clip(r)·Â) and which term the min picks:
    #   r=0.5 Â=+1 → min(0.5, 0.8)  = 0.5   unclipped   d/dr = Â
    #   r=1.0 Â=+1 → 1.0                    inside      d/dr = Â
    #   r=1.1 Â=−1 → −1.1                   inside      d/dr = Â
    #   r=1.5 Â=+1 → min(1.5, 1.2)  = 1.2   clipped     d/dr = 0
    #   r=0.5 Â=−1 → min(−0.5, −0.8) = −0.8 clipped     d/dr = 0
    #   r=1.5 Â=−1 → min(−1.5, −1.2) = −1.5 unclipped   d/dr = Â
    # L^CLIP = (0.5 + 1 − 1.1 + 1.2 − 0.8 − 1.5) / 6 = −0.7 / 6; the loss is its negative.
    ratio = torch.tensor([0.5, 1.0, 1.1, 1.5, 0.5, 1.5], requires_grad=True)
    advantages = torch.tensor([1.0, 1.0, -1.0, 1.0, -1.0, -1.0])
    loss = ppo.clipped_surrogate_loss(ratio, advantages, 0.2)
    torch.testing.assert_close(loss, torch.tensor(0.7 / 6))
    loss.backward()
    torch.testing.assert_close(ratio.grad, torch.tensor([-1.0, -1.0, 1.0, 0.0, 0.0, 1.0]) / 6)
    assert ratio.grad[3] == 0.0 and ratio.grad[4] == 0.0  # exactly zero where the clipped term is the min


def test_value_loss_by_hand():
    new, old, returns = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 2.0]), torch.tensor([2.0, 0.0])
    # Unclipped, the paper's L^VF (not halved): mean((1−2)², (2−0)²) = 2.5.
    torch.testing.assert_close(ppo.value_loss(new, old, returns, 0.2, clip_vloss=False), torch.tensor(2.5))
    # Clipped: V_clip = old + clamp(new − old, ±0.2) = [0.2, 2.0]; errors max((1−2)², (0.2−2)²) = 3.24 and 4,
    # so mean(3.24, 4) = 3.62.
    torch.testing.assert_close(ppo.value_loss(new, old, returns, 0.2, clip_vloss=True), torch.tensor(3.62))


def test_minibatch_loss_by_hand():
    """Eq. (9) with L^CLIP on one minibatch at the defaults (ε = 0.2, c1 = 0.25, c2 = 0), the advantages
    normalized within the minibatch (baselines' detail; without it the policy term is -3.175)."""
    agent = standard_gaussian_agent(ppo)  # π_θ = N(0, 1) and V = 3 in every state
    ratio = torch.tensor([0.5, 1.0, 1.0, 1.5])
    mb = {
        "obs": torch.randn(4, 2),
        "actions": torch.zeros(4, 1),
        "logprobs": -0.5 * math.log(2 * math.pi) - ratio.log(),  # log π_θ(0) - log r: the ratios above
        # mean 3, sample std s = √(14/3): Â = (-2, -1, 0, 3) / s
        "advantages": torch.tensor([1.0, 2.0, 3.0, 6.0]),
        # V_old: the first value moves by -0.5, clipped to -ε = -0.2 (value clipping is on by default)
        "values": torch.tensor([3.5, 3.0, 3.0, 3.0]),
        # max((V - V^targ)², (V_old + clip(V - V_old, ±ε) - V^targ)²) = 3.3 - 1 = 2.3², 0, 1, 0: L^VF = 1.5725
        # (unclipped: 2², 0, 1, 0, so 1.25)
        "returns": torch.tensor([1.0, 3.0, 4.0, 3.0]),
    }
    loss, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args())
    # min(r·Â, clip(r)·Â): 0.8·(-2) (clipped: r = 0.5 with Â < 0), -1, 0, 1.2·3 (clipped): (-1.6 - 1 + 3.6)/s
    policy_loss = -1.0 / (4 * math.sqrt(14 / 3))
    kl = ((-0.5 - math.log(0.5)) + (0.5 - math.log(1.5))) / 4  # k3: mean((r - 1) - log r)
    expected = [policy_loss, 1.5725, 0.5 * (1 + math.log(2 * math.pi)), kl, 0.5]  # clipfrac: 2 of 4
    torch.testing.assert_close(diagnostics, torch.tensor(expected))
    torch.testing.assert_close(loss, torch.tensor(policy_loss + 0.25 * 1.5725))
    _, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args(clip_vloss=False))
    torch.testing.assert_close(diagnostics[1], torch.tensor(1.25))
    # --no-norm-adv: the raw advantages, min(r·A, clip(r)·A) = 0.5, 2, 3, 7.2 (clipped at 1.2): mean 3.175
    _, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args(norm_adv=False))
    torch.testing.assert_close(diagnostics[0], torch.tensor(-3.175))
    # Equal advantages (std 0) normalize to 0, not 0/0: the 1e-8 keeps the loss finite.
    _, diagnostics = ppo.minibatch_loss(agent, mb | {"advantages": torch.full((4,), 2.0)}, ppo.Args())
    assert diagnostics[0].item() == 0.0


def test_agent_starts_as_baselines_does():
    """Implementation detail (baselines): orthogonal weights (hidden gain √2, value output 1, policy mean
    output 0.01: μ ≈ 0), zero biases, and a state-independent log σ that starts at 0 (σ = 1)."""
    torch.manual_seed(0)
    agent = ppo.Agent(3, 2)
    assert agent.actor_logstd.tolist() == [[0.0, 0.0]]
    for net, out_gain in ((agent.actor_mean, 0.01), (agent.critic, 1.0)):
        layers = [layer for layer in net if isinstance(layer, nn.Linear)]
        for layer, gain in zip(layers, (np.sqrt(2), np.sqrt(2), out_gain), strict=True):
            w = layer.weight.detach()
            # orthogonal with gain g: the shorter side's vectors are orthonormal, times g
            gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
            torch.testing.assert_close(gram, gain**2 * torch.eye(min(w.shape)), atol=1e-5, rtol=0)
            assert not layer.bias.any()


def test_gaussian_log_prob_is_summed_over_action_dimensions():
    agent = ppo.Agent(3, 2)
    with torch.no_grad():
        agent.actor_logstd.fill_(np.log(2.0))
    obs = torch.zeros(1, 3)
    mean = agent.actor_mean(obs)
    action = mean + torch.tensor([[2.0, -4.0]])  # one and two standard deviations away
    logprob, entropy, _ = agent.get_logprob_entropy_value(obs, action)
    # log N(x; μ, σ=2) = −(x−μ)²/(2σ²) − log σ − ½ log 2π, summed over the two dimensions.
    expected = -(4.0 / 8 + 16.0 / 8) - 2 * np.log(2.0) - np.log(2 * np.pi)
    torch.testing.assert_close(logprob, torch.tensor([expected], dtype=torch.float32))
    # Entropy of N(μ, σ²) is ½ log(2πeσ²) per dimension.
    torch.testing.assert_close(entropy, torch.tensor([np.log(2 * np.pi * np.e * 4.0)], dtype=torch.float32))


class FixedNoise:
    """A stand-in for np.random.Generator whose standard normal draws are given."""

    def __init__(self, noise):
        self.noise = np.asarray(noise, np.float32)

    def standard_normal(self, shape, dtype):
        assert self.noise.shape == shape and dtype == np.float32
        return self.noise


def test_rollout_act_samples_the_gaussian_and_matches_the_updates_numbers():
    agent = ppo.Agent(3, 2)
    with torch.no_grad():
        agent.actor_logstd.copy_(torch.tensor([[np.log(2.0), np.log(0.5)]]))
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    noise = [[1.0, -2.0], [0.0, 0.0], [0.5, 3.0], [-1.0, 1.0]]
    action, logprob, value = agent.act(obs, FixedNoise(noise))
    mean = agent.actor_mean(torch.as_tensor(obs)).detach().numpy()
    # a = μ + σ ε with σ = (2, 0.5); e.g. the first row is μ + (2, -1)
    np.testing.assert_allclose(action, mean + np.array(noise) * [2.0, 0.5], rtol=1e-6, atol=1e-6)
    # log N(a; μ, σ²) = Σ_d −ε_d²/2 − log σ_d − ½ log 2π; the first row: −(1 + 4)/2 − log 2 − log 0.5 − log 2π
    assert logprob[0] == pytest.approx(-2.5 - np.log(2 * np.pi), abs=1e-5)
    expected, _, expected_value = agent.get_logprob_entropy_value(torch.as_tensor(obs), torch.as_tensor(action))
    np.testing.assert_allclose(logprob, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(value, expected_value.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert action.dtype == logprob.dtype == value.dtype == np.float32
    # With a real generator: the draws have the policy's mean and standard deviation.
    draws = np.concatenate([agent.act(obs[:1].repeat(1000, 0), np.random.default_rng(i))[0] for i in range(10)])
    np.testing.assert_allclose(draws.mean(0), mean[0], atol=0.05)
    np.testing.assert_allclose(draws.std(0), [2.0, 0.5], rtol=0.03)


def test_numpy_policy_gives_the_torch_agents_numbers():
    """--numpy-rollout: the rollout's numpy copy of θ_old acts and values like the torch agent."""
    agent = ppo.Agent(11, 3)
    with torch.no_grad():
        agent.actor_logstd.copy_(torch.tensor([[0.3, -0.5, 0.0]]))
        for param in agent.parameters():  # move off the initialization, where the mean is near 0
            param.add_(0.1 * torch.randn_like(param))
    obs = np.random.default_rng(0).normal(size=(7, 11)).astype(np.float32)
    frozen = ppo.NumpyPolicy(agent)
    expected = agent.act(obs, np.random.default_rng(5))
    for got, want in zip(frozen.act(obs, np.random.default_rng(5)), expected, strict=True):
        assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(frozen.value(obs.astype(np.float64)), agent.value(obs), rtol=1e-5, atol=1e-6)
    # A copy: θ moving afterwards (the update) does not move the rollout's policy.
    with torch.no_grad():
        agent.actor_mean[0].weight.add_(1.0)
        agent.actor_logstd.add_(1.0)
    np.testing.assert_allclose(frozen.act(obs, np.random.default_rng(5))[0], expected[0], rtol=1e-5, atol=1e-6)
    # A layer it cannot copy is a one-line error that names the way out.
    agent.critic.append(nn.LayerNorm(1))
    with pytest.raises(ppo.UserError, match="not LayerNorm: pass --no-numpy-rollout"):
        ppo.NumpyPolicy(agent)


def test_action_noise_is_not_the_environments_random_stream():
    """np.random.default_rng(seed) is the generator gymnasium gives the env seeded with `seed`: drawing
    the action noise from it would correlate the noise with the env's reset noise."""
    from gymnasium.utils import seeding

    envs, actors = make_actors("tests/CountTerminate-v0")
    envs.close()
    noise = actors.rng.standard_normal(8)
    for seed in range(4):  # the vector env seeds sub-env i with seed + i
        assert not np.allclose(noise, seeding.np_random(seed)[0].standard_normal(8))
    _, again = make_actors("tests/CountTerminate-v0")
    np.testing.assert_array_equal(again.rng.standard_normal(8), noise)  # and it is seeded
    _, other = make_actors("tests/CountTerminate-v0", seed=1)
    assert not np.allclose(other.rng.standard_normal(8), noise)  # by --seed: each seed its own noise


def test_running_mean_std_matches_numpy_over_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (1, 7, 100, 3)]
    rms = ppo.RunningMeanStd((4,))
    for batch in batches:
        rms.update(batch)
    everything = np.concatenate(batches)
    np.testing.assert_allclose(rms.mean, everything.mean(0), rtol=1e-5)
    np.testing.assert_allclose(rms.var, everything.var(0), rtol=1e-5)


def test_obs_normalizer_standardizes_and_clips_at_ten():
    normalizer = ppo.ObsNormalizer((1,), enabled=True)
    # Two observations, 1 and 3: mean 2, variance 1 (count starts at 1e-4, which moves them by ~1e-4).
    np.testing.assert_allclose(normalizer(np.array([[1.0], [3.0]])), [[-1.0], [1.0]], rtol=1e-3)
    # Frozen (update=False, as evaluation uses it): 100 and -50 are 98 and -52 std away, clipped to ±10.
    frozen = normalizer(np.array([[100.0], [-50.0], [2.5]]), update=False)
    np.testing.assert_allclose(frozen, [[10.0], [-10.0], [0.5]], rtol=1e-3)
    assert normalizer.rms.mean == pytest.approx(2.0, rel=1e-3)  # the frozen call left the statistics alone


def test_reward_scaler_divides_by_the_discounted_return_std():
    scaler = ppo.RewardScaler(1, gamma=0.5, enabled=True)
    # Discounted returns seen: 2, then 2·0.5 + 2 = 3. Their running variance (count starts at 1e-4)
    # is ≈ var([2, 3]) = 0.25, so the second reward is scaled by 1/0.5.
    scaler(np.array([2.0]), np.array([False]))
    scaled = scaler(np.array([2.0]), np.array([True]))
    np.testing.assert_allclose(scaled, [4.0], rtol=1e-3)
    assert scaler.discounted_return[0] == 0.0  # reset at the episode's end


# ---------------------------------------------------------------------------------------------
# The rollout: time-limit bootstrap, termination, action clipping
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("numpy_rollout", [True, False])
def test_time_limit_truncation_bootstraps_from_the_final_observation(numpy_rollout):
    # Observations 0,1,2 | time limit after 3 steps (final obs 3, reset obs 0) | 0,1 | s_T = 2.
    # V(s) = s, r = 1, γ = 0.5, λ = 1:
    #   δ = [1 + 0.5·1 − 0, 1 + 0.5·2 − 1, 1 + 0.5·3 − 2, 1 + 0.5·1 − 0, 1 + 0.5·2 − 1] = [1.5, 1, 0.5, 1.5, 1]
    #   returns = Â + V = [2.125, 2.25, 2.5, 2.0, 2.0]; at the truncation step r + γ·V(3) = 2.5
    #   (zeroing would give 1.0, bootstrapping from the reset observation 1.0 too).
    envs, actors = make_actors("tests/CountTruncate-v0")
    actors.numpy_rollout = numpy_rollout
    rollout = actors.collect(identity_critic_agent(), num_steps=5)
    envs.close()
    assert rollout.obs[:, 0, 0].tolist() == [0, 1, 2, 0, 1]  # each step's own state (no buffer reused)
    np.testing.assert_allclose(rollout.next_values[:, 0], [1.0, 2.0, 3.0, 1.0, 2.0])
    _, returns = ppo.compute_gae(rollout, 0.5, 1.0)
    np.testing.assert_allclose(returns[:, 0], [2.125, 2.25, 2.5, 2.0, 2.0])
    assert actors.finished == [(2, 3.0, 3)]  # (step, raw return, length) of the episode that ended


gym.register("tests/BigReward-v0", entry_point=lambda: CountingEnv(reward=50.0), max_episode_steps=3)


def test_the_logged_return_is_the_raw_reward_sum_however_large():
    """What TensorBoard gets is each episode's raw return: not scaled, not clipped at the normalizer's ±10.
    Reward 50 for 3 steps: the episode's return is 150. The rollout stores the scaled reward; the first is
    50 / √(var + 1e-8) with var = (1e-4 + 50²·1e-4 / 1.0001) / 1.0001 ≈ 0.25 (from mean 0, var 1, count
    1e-4), about 100, clipped to 10."""
    args = ppo.Args(env_id="tests/BigReward-v0", num_envs=1, num_steps=4, norm_obs=False)
    envs = ppo.make_vector_env(args, run_dir="unused")
    reward_scaler = ppo.RewardScaler(1, args.gamma, enabled=True)
    actors = ppo.Actors(envs, ppo.ObsNormalizer((1,), enabled=False), reward_scaler, seed=0)
    rollout = actors.collect(identity_critic_agent(), num_steps=4)
    envs.close()
    assert actors.finished == [(2, 150.0, 3)]  # (step, raw return, length)
    assert rollout.rewards[0, 0] == 10.0 and np.abs(rollout.rewards).max() <= 10.0  # what the update sees


def test_an_episode_is_logged_at_the_step_it_ends(tmp_path):
    """charts/episodic_* go at the agent step after the episode's last action, as the curves are read: 2 envs
    whose episodes a time limit cuts every 3 steps end together at 6, 12, 18, … steps, across iterations
    (T = 8: the third pair ends in the second iteration's first step, at 16 + 2)."""
    shape = dict(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1, total_timesteps=32)
    summary = ppo.train(ppo.Args(env_id="tests/CountTruncate-v0", runs_dir=str(tmp_path), **shape))
    lengths = read_scalars(summary["run_dir"])["charts/episodic_length"]
    assert lengths == [(step, 3.0) for step in (6, 6, 12, 12, 18, 18, 24, 24, 30, 30)]


def test_termination_does_not_bootstrap():
    # Same, but the episode terminates at its third step: δ_2 = 1 + 0 − 2 = −1, so
    #   Â = [1.75 − 0, 1.5 − 1, −1, 2, 1] and returns = [1.75, 1.5, 1.0, 2.0, 2.0]; at t=2 just r = 1.
    envs, actors = make_actors("tests/CountTerminate-v0")
    rollout = actors.collect(identity_critic_agent(), num_steps=5)
    envs.close()
    _, returns = ppo.compute_gae(rollout, 0.5, 1.0)
    np.testing.assert_allclose(returns[:, 0], [1.75, 1.5, 1.0, 2.0, 2.0])
    assert rollout.terminations[:, 0].tolist() == [0, 0, 1, 0, 0]


def test_actions_are_clipped_only_on_the_way_to_the_environment():
    envs, actors = make_actors("tests/CountTerminate-v0", num_steps=64)
    agent = ppo.Agent(1, 1)
    with torch.no_grad():
        agent.actor_logstd.fill_(np.log(5.0))  # σ = 5: most samples fall outside [−1, 1]
    rollout = actors.collect(agent, num_steps=64)
    received = np.concatenate(envs.envs[0].unwrapped.received)
    envs.close()
    stored = rollout.actions[:, 0, 0]
    assert np.abs(stored).max() > 1.0  # the rollout keeps the sampled action
    np.testing.assert_allclose(received, np.clip(stored, -1.0, 1.0))  # the environment gets it clipped
    # and the stored log-prob is that of the unclipped sample
    with torch.no_grad():
        dist = torch.distributions.Normal(agent.actor_mean(torch.as_tensor(rollout.obs[:, 0])), 5.0)
    expected = dist.log_prob(torch.as_tensor(rollout.actions[:, 0])).sum(-1)
    torch.testing.assert_close(torch.as_tensor(rollout.logprobs[:, 0]), expected)


# ---------------------------------------------------------------------------------------------
# Short runs, determinism, checkpoints, resume
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "Hopper-v4"])
def test_short_run_writes_the_logs_and_a_checkpoint_that_evaluates(tmp_path, env_id):
    result = run_script("ppo_continuous.py", "--env-id", env_id, *TINY, "--runs-dir", tmp_path, "--save-model")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    run_dir = only_run_dir(tmp_path)
    assert read_scalars(run_dir).keys() >= TENSORBOARD_KEYS
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_step"] == 1024 and summary["interrupted"] is None
    checkpoint = torch.load(run_dir / "model.pt", weights_only=True)
    assert checkpoint["script"] == "ppo_continuous" and checkpoint["global_step"] == 1024
    assert checkpoint["obs_rms"]["count"] > 1024  # normalization statistics travel with the model
    evaluation = run_script("ppo_continuous.py", "--eval-checkpoint", run_dir / "model.pt", "--eval-episodes", "2")
    assert evaluation.returncode == 0, evaluation.stderr
    assert f"{env_id}: 2 episodes, return" in evaluation.stdout


def test_evaluate_normalizes_with_the_checkpoints_statistics_frozen(tmp_path, monkeypatch):
    summary = ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path), save_model=True, **tiny_kwargs()))
    saved = torch.load(summary["checkpoint"], weights_only=True)["obs_rms"]
    mean, var = saved["mean"].numpy(), saved["var"].numpy()
    assert not np.allclose(mean, 0.0) and not np.allclose(var, 1.0)  # statistics that matter
    observations, policy_inputs = [], []

    class Recorder(gym.Wrapper):  # what the environment hands the agent
        def reset(self, **kwargs):
            observations.append((result := self.env.reset(**kwargs))[0])
            return result

        def step(self, action):
            observations.append((result := self.env.step(action))[0])
            return result

    class Agent(ppo.Agent):  # what the policy receives
        def __init__(self, *args):
            super().__init__(*args)
            self.actor_mean.register_forward_pre_hook(lambda _, inputs: policy_inputs.append(inputs[0][0].numpy()))

    make_env = ppo.make_env
    monkeypatch.setattr(ppo, "make_env", lambda *args, **kwargs: lambda: Recorder(make_env(*args, **kwargs)()))
    monkeypatch.setattr(ppo, "Agent", Agent)
    returns = ppo.evaluate(summary["checkpoint"], episodes=1)
    assert len(returns) == 1 and np.isfinite(returns[0]) and len(policy_inputs) == 200  # Pendulum's time limit
    # (obs - mean) / sqrt(var + 1e-8) with the saved mean and variance at every step: none updated on the way.
    expected = (np.array(observations[:200]) - mean) / np.sqrt(var + 1e-8)
    np.testing.assert_allclose(np.array(policy_inputs), expected.clip(-10, 10), rtol=1e-5, atol=1e-6)


def tiny_kwargs(**overrides):
    kwargs = dict(num_steps=512, num_minibatches=4, update_epochs=2, total_timesteps=1024)
    return kwargs | overrides


def test_same_seed_gives_identical_losses(tmp_path):
    runs = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        args = ppo.Args(env_id="Pendulum-v1", seed=seed, runs_dir=str(tmp_path / name), **tiny_kwargs())
        runs.append(read_scalars(ppo.train(args)["run_dir"]))
    for key in ("losses/policy_loss", "losses/value_loss", "losses/approx_kl"):
        assert runs[0][key] == runs[1][key]
    assert runs[0]["losses/policy_loss"] != runs[2]["losses/policy_loss"]  # a different seed differs


def test_resume_continues_the_step_schedules_optimizer_and_statistics(tmp_path, monkeypatch):
    first = ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path / "a"), save_model=True, **tiny_kwargs()))
    saved = torch.load(first["checkpoint"], weights_only=True)

    seen = {}
    real_update = ppo.update

    def spy(agent, optimizer, batch, args):
        seen.setdefault("optimizer", {k: v.clone() for k, v in optimizer.state_dict()["state"][0].items()})
        return real_update(agent, optimizer, batch, args)

    monkeypatch.setattr(ppo, "update", spy)
    resumed_kwargs = tiny_kwargs(total_timesteps=2048, resume=first["checkpoint"], save_model=True)
    second = ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path / "b"), **resumed_kwargs))
    assert (second["start_step"], second["global_step"]) == (1024, 2048)
    for key, value in saved["optimizer"]["state"][0].items():  # Adam's moments and step count carried over
        torch.testing.assert_close(seen["optimizer"][key], value)
    scalars = read_scalars(second["run_dir"])
    assert scalars["losses/policy_loss"][0][0] == 1536  # the first update of the resumed run
    lr = scalars["charts/learning_rate"][0]
    assert lr[0] == 1536 and lr[1] == pytest.approx(3e-4 * (1 - 1024 / 2048))  # the schedule goes on
    resumed = torch.load(second["checkpoint"], weights_only=True)
    # The statistics went on from the saved ones: one reset observation and 1024 steps more.
    assert resumed["obs_rms"]["count"] == pytest.approx(saved["obs_rms"]["count"] + 1025)
    assert resumed["return_rms"]["count"] == pytest.approx(saved["return_rms"]["count"] + 1024)  # one per step
    assert saved["return_rms"]["count"] == pytest.approx(1024, abs=1e-3)  # the scaler's statistics were saved


def test_a_checkpoint_is_resumed_and_evaluated_on_observations_normalized_as_it_was_trained(tmp_path):
    """Before, --no-norm-obs on a checkpoint trained with normalization was ignored by --eval-checkpoint and fed
    raw observations to the network on --resume. The flag as trained, or left out, is fine."""
    first = ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path), save_model=True, **tiny_kwargs()))
    refused = "was trained with --norm-obs \\(norm_obs=True\\): resume or evaluate it so$"
    for mode in ("--resume", "--eval-checkpoint"):
        with pytest.raises(ppo.UserError, match=refused):  # as main() does: a resume is refused by Run
            args = ppo.parse_args([mode, first["checkpoint"], "--no-norm-obs", "--total-timesteps", "2048"])
            ppo.train(dataclasses.replace(args, runs_dir=str(tmp_path / "refused")))
        assert ppo.parse_args([mode, first["checkpoint"], "--norm-obs", "--total-timesteps", "2048"]).norm_obs
    with pytest.raises(ppo.UserError, match=refused):  # from your own code too
        ppo.train(ppo.Args(env_id="Pendulum-v1", resume=first["checkpoint"], norm_obs=False, runs_dir=str(tmp_path)))


def test_resume_takes_a_new_constant_learning_rate(tmp_path):
    """The checkpoint's Adam state holds the annealed stepsize it last used (1.5e-4); resumed with
    --no-anneal-lr --learning-rate 1e-3, the run trains at 1e-3."""
    first = ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path / "a"), save_model=True, **tiny_kwargs()))
    flags = ["--resume", first["checkpoint"], "--no-anneal-lr", "--learning-rate", "1e-3", "--total-timesteps", "2048"]
    second = ppo.train(ppo.parse_args([*flags, "--runs-dir", str(tmp_path / "b")]))
    assert [lr for _, lr in read_scalars(second["run_dir"])["charts/learning_rate"]] == pytest.approx([1e-3, 1e-3])


def test_checkpoints_come_every_save_interval_steps_and_at_the_end(tmp_path, monkeypatch):
    """--save-interval 256 with T = 128: model.pt at steps 256, 512, 768 and at the budget's 1024 (once); a run
    resumed from it to 2048 counts the interval from where it resumed, not from 0 (which would save at once)."""
    saved, save = [], torch.save
    monkeypatch.setattr(torch, "save", lambda obj, path: saved.append(obj["global_step"]) or save(obj, path))
    shape = dict(env_id="Pendulum-v1", num_steps=128, num_minibatches=2, update_epochs=1, save_interval=256)
    first = ppo.train(ppo.Args(**shape, total_timesteps=1024, save_model=True, runs_dir=str(tmp_path / "a")))
    assert saved == [256, 512, 768, 1024]
    saved.clear()
    ppo.train(
        ppo.Args(
            **shape, total_timesteps=2048, save_model=True, resume=first["checkpoint"], runs_dir=str(tmp_path / "b")
        )
    )
    assert saved == [1280, 1536, 1792, 2048]


def test_a_resumed_runs_speed_and_status_count_its_own_steps(tmp_path, capsys):
    """summary.json's sps is this run's steps over its wall time (not the checkpoint's steps too), and the last
    status line counts to the budget rounded to whole iterations (400 -> 384)."""
    shape = dict(env_id="Pendulum-v1", num_steps=128, num_minibatches=2, update_epochs=1)
    first = ppo.train(ppo.Args(**shape, total_timesteps=128, save_model=True, runs_dir=str(tmp_path / "a")))
    capsys.readouterr()
    summary = ppo.train(
        ppo.Args(**shape, total_timesteps=400, resume=first["checkpoint"], runs_dir=str(tmp_path / "b"))
    )
    assert (summary["start_step"], summary["global_step"]) == (128, 384)
    assert summary["sps"] == pytest.approx(256 / summary["wall_seconds"])
    assert re.search(r"step +384/384 \|", capsys.readouterr().out)


def test_a_run_leaves_no_thread_or_open_log_behind(tmp_path):
    """train() closes its TensorBoard writer (a thread and an open file each), also in a loop of runs."""
    before = set(threading.enumerate())
    ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path), **tiny_kwargs(total_timesteps=512)))
    assert set(threading.enumerate()) <= before  # (another test's thread may end meanwhile)


def test_learning_inverted_pendulum(tmp_path):
    """A minute of training on InvertedPendulum-v4 clearly beats the random policy (~6 per episode)."""
    args = ppo.Args(env_id="InvertedPendulum-v4", total_timesteps=40_960, runs_dir=str(tmp_path), seed=1)
    summary = ppo.train(args)
    assert summary["mean_return"] > 100, summary


def test_file_copied_alone_into_an_empty_folder_runs(tmp_path):
    shutil.copy(ROOT / "ppo_continuous.py", tmp_path)
    result = run_script(tmp_path / "ppo_continuous.py", "--env-id", "Pendulum-v1", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs").is_dir()


# ---------------------------------------------------------------------------------------------
# Bad input and faults: one line, non-zero exit, no traceback
# ---------------------------------------------------------------------------------------------


def run_main(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        ppo.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code not in (0, None), err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--num-minibatches", "7"], "not divisible by --num-minibatches 7: pass a divisor of 2048"),
        (["--env-id", "Hopper-v1"], "Please use `Hopper-v5` instead; Hopper-v4 runs here too"),
        (
            ["--env-id", "Hopper"],
            "--env-id Hopper has no version, and gymnasium would make Hopper-v5: give the version",
        ),
        (["--env-id", "Hoper-v4"], "Did you mean: `Hopper`? (one of yours? --env-id your_module:Hoper-v4)"),
        (["--num-minibatches", "2048"], "minibatches of 1 sample"),
        (["--num-envs", "0"], "--num-envs must be positive"),
        (["--gamma", "1.5"], "--gamma must be in [0, 1]"),
        (["--gae-lambda", "-0.1"], "--gae-lambda must be in [0, 1]"),
        (["--total-timesteps", "100"], "at least --num-envs × --num-steps"),
        (["--learning-rate", "0"], "--learning-rate must be positive"),
        (["--torch-threads", "0"], "--torch-threads must be positive"),
        (["--env-id", "NoSuchEnv-v0"], "unknown environment id 'NoSuchEnv-v0'"),
        (["--env-id", "CartPole-v1"], "use ppo_discrete.py"),
        (["--env-id", "tests/MatrixAction-v0"], "this script needs a non-empty 1-D Box"),
        (["--env-id", "ALE/Pong-v5"], "use ppo_shared_backbone.py"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, tmp_path, argv, fragment):
    err = run_main(capsys, *argv, "--runs-dir", tmp_path)
    assert fragment in err
    assert len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())  # refused before anything started


@pytest.mark.parametrize("script", ["ppo_continuous", "ppo_penalty"])  # the others share ppo_continuous's text
def test_validate_takes_the_edges_and_refuses_what_main_cannot_reach(script):
    """The edges are allowed: minibatches of 2, γ = 1 (undiscounted), a thread per core. What the command line
    refuses before validate() sees it (a missing checkpoint) still gets validate's line from your code."""
    ppo, pendulum = load_script(script), dict(env_id="Pendulum-v1")
    ppo.validate(ppo.Args(**pendulum, num_steps=64, num_minibatches=32))
    ppo.validate(ppo.Args(**pendulum, gamma=1.0))
    ppo.validate(ppo.Args(**pendulum, torch_threads=os.cpu_count()))
    for flags, fragment in [
        (dict(target_kl=0.0), "--target-kl must be positive"),
        (dict(resume="a.pt", eval_checkpoint="b.pt"), "not both"),
        (dict(eval_episodes=0), "--eval-episodes must be positive"),
    ]:
        with pytest.raises(ppo.UserError, match=fragment):
            ppo.validate(ppo.Args(**pendulum, **flags))


def test_bad_checkpoints(capsys, tmp_path):
    assert "does not exist" in run_main(capsys, "--eval-checkpoint", tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    assert "is not a checkpoint" in run_main(capsys, "--eval-checkpoint", junk)
    assert "pass the model.pt of a run folder" in run_main(capsys, "--eval-checkpoint", junk)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    err = run_main(capsys, "--resume", tmp_path / "other.pt")
    assert "not a checkpoint of these PPO scripts; pass the model.pt of a run folder" in err
    foreign = {"format_version": 1, "script": "ppo_discrete", "args": {"env_id": "CartPole-v1"}, "model": {}}
    torch.save(foreign, tmp_path / "discrete.pt")
    assert "use that script" in run_main(capsys, "--eval-checkpoint", tmp_path / "discrete.pt")

    summary = ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path), save_model=True, **tiny_kwargs()))
    err = run_main(capsys, "--eval-checkpoint", summary["checkpoint"], "--env-id", "Hopper-v4")
    assert "was trained on Pendulum-v1, not Hopper-v4" in err
    err = run_main(capsys, "--resume", summary["checkpoint"])  # already at its --total-timesteps
    assert "an iteration is N×T = 512 steps: pass --total-timesteps 1536 or more to go on" in err
    err = run_main(capsys, "--eval-checkpoint", summary["checkpoint"], "--torch-threads", "0")
    assert "--torch-threads must be positive" in err  # an evaluation's flags are checked too
    # From your code, where no command line compares the ids: the same refusal.
    with pytest.raises(ppo.UserError, match="was trained on Pendulum-v1, not MountainCarContinuous-v0"):
        ppo.Run(ppo.Args(env_id="MountainCarContinuous-v0", resume=summary["checkpoint"], runs_dir=str(tmp_path)))
    saved = torch.load(summary["checkpoint"], weights_only=True)
    torch.save(saved | {"format_version": 2}, tmp_path / "v2.pt")
    assert "has checkpoint format 2; expected 1" in run_main(capsys, "--eval-checkpoint", tmp_path / "v2.pt")
    torch.save(saved | {"model": {}}, tmp_path / "no_weights.pt")
    assert "the checkpoint's network does not fit this one" in run_main(
        capsys, "--eval-checkpoint", tmp_path / "no_weights.pt"
    )
    torch.save({key: value for key, value in saved.items() if key != "optimizer"}, tmp_path / "no_optimizer.pt")
    err = run_main(capsys, "--resume", tmp_path / "no_optimizer.pt", "--total-timesteps", 2048)
    last_line = err.strip().splitlines()[-1]  # after the lines that say what the resumed run will do
    assert last_line.endswith("the checkpoint has no 'optimizer' entry; pass the model.pt of a run folder")


def test_non_finite_loss_stops_with_the_step(capsys, tmp_path):
    # --num-minibatches 8: M = 512 / 8 = 64, the defaults', so the run says nothing else when it starts.
    err = run_main(capsys, "--env-id", "tests/NanReward-v0", *TINY, "--num-minibatches", "8", "--runs-dir", tmp_path)
    assert "non-finite" in err and "global step 512" in err
    assert len(err.strip().splitlines()) == 1, err


def test_missing_mujoco_says_what_to_install():
    code = (
        "import sys, runpy; sys.modules['mujoco'] = None; "
        f"sys.argv = ['ppo_continuous.py', '--env-id', 'Hopper-v4']; runpy.run_path({str(ROOT / 'ppo_continuous.py')!r}, run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=script_env(), timeout=120)
    assert_one_line_error(result, 'pip install "gymnasium[mujoco]"')


def test_cli_error_from_the_shell(tmp_path):
    result = run_script("ppo_continuous.py", "--env-id", "CartPole-v1", "--runs-dir", tmp_path)
    assert_one_line_error(result, "use ppo_discrete.py")
    assert result.returncode == 2


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_flushes_logs_and_saves(tmp_path, sig):
    command = [sys.executable, str(ROOT / "ppo_continuous.py"), "--env-id", "Pendulum-v1", "--num-steps", "256"]
    command += ["--num-minibatches", "4", "--update-epochs", "1", "--runs-dir", str(tmp_path), "--save-model"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=script_env())
    first_line = process.stdout.readline()  # the status line of the first iteration
    assert first_line.startswith("step"), first_line + process.stderr.read()
    process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    assert process.returncode == -sig, err  # ended by the signal, once saved: a shell says 130 or 143
    assert "Traceback" not in err
    assert "interrupted" in out
    run_dir = only_run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interrupted"] == sig.name
    checkpoint = torch.load(run_dir / "model.pt", weights_only=True)
    assert checkpoint["global_step"] == summary["global_step"] >= 256
    assert read_scalars(run_dir)["losses/policy_loss"][-1][0] == summary["global_step"]  # logs flushed


@pytest.mark.parametrize(("global_step", "interrupted"), [(512, "SIGTERM"), (1024, None)])
def test_signal_in_the_last_iteration_is_no_interruption(tmp_path, global_step, interrupted):
    # SIGTERM stops after the current iteration; when that iteration was the last (step 1024 of 1024), the
    # run reached its budget: done, not interrupted, and nothing for --resume to do (it refuses such a
    # checkpoint). The signal still goes on to the caller, whose loop of runs it was meant to stop.
    args = ppo.Args(env_id="Pendulum-v1", num_steps=512, total_timesteps=1024, runs_dir=str(tmp_path))
    with signal_handlers() as caught, ppo.Run(args) as run:
        run.going(0)  # starts the clock
        run.handle(signal.SIGTERM, None)
        run.global_step = global_step
        summary = run.finish()
    assert summary["interrupted"] == interrupted
    assert caught == ["SIGTERM"]  # either way, the signal goes on to the caller once the run has stopped
    assert json.loads((only_run_dir(tmp_path) / "summary.json").read_text())["interrupted"] == interrupted


def test_a_second_ctrl_c_stops_at_once_a_second_sigterm_does_not(tmp_path):
    """Ctrl-C again means now (KeyboardInterrupt, the checkpoint not written); a SIGTERM sent twice (a scheduler
    that repeats it) still lets the iteration finish and save."""
    args = ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path))
    with signal_handlers() as caught, ppo.Run(args) as run:
        try:
            run.handle(signal.SIGTERM, None)
            run.handle(signal.SIGTERM, None)
        except KeyboardInterrupt:  # caught here: escaping, it would stop pytest's whole session
            raise AssertionError("a second SIGTERM stopped the run at once") from None
        with pytest.raises(KeyboardInterrupt):
            run.handle(signal.SIGINT, None)
        assert run.signal == "SIGTERM"
    assert caught == ["SIGTERM"]  # handed on once the run has stopped


@pytest.mark.parametrize(("interrupted", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_run_stopped_by_a_signal_its_caller_ignores_still_exits_with_its_status(monkeypatch, interrupted, status):
    """Under `trap '' TERM` (SIG_IGN) the signal handed on ends nothing: main() exits 128 + n, never 0 (a stopped
    run would look finished)."""
    monkeypatch.setattr(ppo, "parse_args", lambda argv: ppo.Args())
    monkeypatch.setattr(ppo, "train", lambda args: {"interrupted": interrupted})
    with pytest.raises(SystemExit) as exit_info:
        ppo.main([])
    assert exit_info.value.code == status


def test_importing_has_no_side_effects(tmp_path):
    code = f"import runpy; runpy.run_path({str(ROOT / 'ppo_continuous.py')!r}, run_name='not_main')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=script_env(), timeout=120
    )
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert not any(tmp_path.iterdir())


def test_status_line_is_short_and_averages_the_last_20_episodes():
    line = ppo.status_line(2048, 1_000_000, deque(range(25)), 2000.0)
    # The last 20 of 0..24 are 5..24, mean 14.5; (1,000,000 − 2,048) steps left at 2,000 steps/s: 498 s.
    assert "2,048/1,000,000" in line and "14.50 (last 20 episodes)" in line
    assert "2,000 steps/s" in line and "eta 0:08:18" in line
    assert len(line) <= 100  # one line of a terminal, a log or a Slurm .out


gym.register("tests/CountForever-v0", entry_point=lambda: CountingEnv(terminate=False), max_episode_steps=10**6)


def test_what_a_run_says_when_it_starts_and_ends(capsys, tmp_path):
    """Issue 16: a run says how it rounds --total-timesteps; an env id with a slash gives a flat run folder;
    a run with no finished episode says so (not 'nan'); a resumed run says where it starts and counts only
    its own steps."""
    argv = ["--env-id", "tests/CountForever-v0", *TINY[:-1], "1500", "--runs-dir", str(tmp_path), "--save-model"]
    ppo.main(argv)
    out, err = capsys.readouterr()
    assert "--total-timesteps is rounded down to a multiple of N×T = 512: 1,024" in err
    assert "done: step 1,024 (1,024 steps in this run" in out and "no episode finished yet" in out
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.startswith("tests-CountForever-v0__ppo_continuous__1__")
    ppo.main(["--resume", str(run_dir / "model.pt"), "--total-timesteps", "2048"])
    out, err = capsys.readouterr()
    assert f"resuming from step 1,024 of {run_dir / 'model.pt'}" in err
    assert "done: step 2,048 (1,024 steps in this run" in out
    # Resumed with N×T = 1,024 (not 512): whole iterations from step 1,024, so 2,560 ends at 2,048, and
    # 1,536 leaves no room for one.
    resume = ["--resume", str(run_dir / "model.pt"), "--num-steps", "1024"]
    ppo.main([*resume, "--total-timesteps", "2560"])
    out, err = capsys.readouterr()
    assert "--total-timesteps is rounded down to a multiple of N×T = 1,024 from step 1,024: 2,048" in err
    assert "done: step 2,048 (1,024 steps in this run" in out
    err = run_main(capsys, *resume, "--total-timesteps", "1536")
    assert "is at step 1,024 and an iteration is N×T = 1,024 steps: pass --total-timesteps 2048 or more" in err
    # Below one iteration: the same line (before: "must be at least N×T", whose advice led to this one)
    err = run_main(capsys, *resume, "--total-timesteps", "1000")
    assert "is at step 1,024 and an iteration is N×T = 1,024 steps: pass --total-timesteps 2048 or more" in err


def test_runs_started_in_the_same_second_get_folders_of_their_own(monkeypatch, tmp_path):
    """A sweep started in a shell loop: every run in its own folder, the next free second naming it."""
    monkeypatch.setattr(ppo.time, "time", lambda: 1_800_000_000.0)
    args = ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path), **tiny_kwargs())
    with ppo.Run(args) as first, ppo.Run(dataclasses.replace(args, learning_rate=1e-4)) as second:
        assert first.dir.endswith("__1800000000") and second.dir.endswith("__1800000001")
    assert json.loads((Path(second.dir) / "args.json").read_text())["learning_rate"] == 1e-4
    assert json.loads((Path(first.dir) / "args.json").read_text())["learning_rate"] == 3e-4


def test_capture_video_without_a_display(tmp_path):
    """--capture-video on a machine without a display: MuJoCo renders off screen (EGL, chosen by the script);
    where rendering cannot work, one line before anything starts."""
    pytest.importorskip("moviepy", reason="--capture-video needs moviepy (requirements-dev.txt installs it)")
    env = {key: value for key, value in script_env().items() if key not in ("DISPLAY", "MUJOCO_GL")}
    command = [sys.executable, str(ROOT / "ppo_continuous.py"), "--env-id", "Hopper-v4", *TINY, "--capture-video"]
    result = subprocess.run(command + ["--runs-dir", str(tmp_path / "a")], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "a").glob("*/videos/*.mp4")), result.stdout
    env["MUJOCO_GL"] = "glfw"  # a windowed backend, with no window system to open one on
    result = subprocess.run(command + ["--runs-dir", str(tmp_path / "b")], capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot render" in result.stderr and "MUJOCO_GL=egl" in result.stderr
    assert not (tmp_path / "b").exists()


def test_a_run_whose_minibatch_size_is_not_the_papers_says_so(capsys, tmp_path):
    """Issue 28, item 3: Table 3's M = 64 is N×T / --num-minibatches at N = 1, T = 2048. Another N or T changes
    M; the run says so when it starts, with the --num-minibatches that keeps M, and summary.json records M."""
    assert ppo.minibatch_size_note(ppo.Args()) == ""
    assert ppo.minibatch_size_note(ppo.Args(num_envs=4, num_minibatches=128)) == ""  # M = 8192 / 128 = 64
    argv = ["--env-id", "Pendulum-v1", "--num-envs", "2", "--num-steps", "512", "--num-minibatches", "8"]
    ppo.main([*argv, "--update-epochs", "1", "--total-timesteps", "1024", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert (
        "minibatch size M = N×T / --num-minibatches = 128, not the defaults' 64; --num-minibatches 16 keeps it" in err
    )
    assert json.loads((only_run_dir(tmp_path) / "summary.json").read_text())["minibatch_size"] == 128


def test_evaluation_takes_the_mean_action(monkeypatch):
    """--eval-checkpoint runs the Gaussian's mean, not a sample: with μ = 0.3 and σ = 1 in every state, each of
    2 episodes of 10 steps sends 0.3 throughout."""
    agent = ppo.Agent(4, 1)
    with torch.no_grad():
        agent.actor_mean[-1].weight.zero_()
        agent.actor_mean[-1].bias.fill_(0.3)
    rms = ppo.ObsNormalizer((4,), False).rms.state_dict()
    checkpoint = {"args": {"env_id": "Recorder-v0", "norm_obs": False}, "model": agent.state_dict(), "obs_rms": rms}
    returns, actions, resets = evaluate_recording(
        ppo, monkeypatch, checkpoint, gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    )
    assert returns == [10.0, 10.0]
    assert resets == [1, None]  # seeded once, as --seed says; none after the last (a video would start)
    assert actions == pytest.approx([0.3] * 20)
    # Ctrl-C in the 25th step of 5 episodes: the returns of the 2 episodes finished.
    space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    assert evaluate_recording(ppo, monkeypatch, checkpoint, space, episodes=5, ctrl_c_at=25)[0] == [10.0, 10.0]
    # A mean outside the action space is clipped on its way to the env, as in training: μ = 3 sends 1.
    with torch.no_grad():
        agent.actor_mean[-1].bias.fill_(3.0)
    checkpoint["model"] = agent.state_dict()
    assert evaluate_recording(ppo, monkeypatch, checkpoint, space)[1] == [1.0] * 20


def test_an_evaluation_records_every_episode(tmp_path, monkeypatch):
    """--eval-checkpoint --capture-video films each episode; training films gymnasium's 0, 1, 8, 27, ..."""
    triggers = []

    class Recorder(gym.Wrapper):
        def __init__(self, env, video_dir, episode_trigger=None):
            super().__init__(env)
            triggers.append(episode_trigger)

    monkeypatch.setattr(ppo, "RecordVideo", Recorder)
    summary = ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path), save_model=True, **tiny_kwargs()))
    ppo.evaluate(summary["checkpoint"], 1, capture_video=True)
    assert all(triggers[-1](episode) for episode in range(30))
    ppo.make_env("Pendulum-v1", str(tmp_path / "videos"))()
    assert triggers[-1] is None  # RecordVideo's own schedule


def test_main_prints_an_interrupted_evaluations_episodes_and_ends_by_sigint(monkeypatch, capsys, tmp_path):
    """How main() reports an evaluation that Ctrl-C cut short (evaluate() stands in; that it stops at Ctrl-C
    with the episodes finished is test_evaluation_takes_the_mean_action's)."""
    summary = ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path), save_model=True, **tiny_kwargs()))
    monkeypatch.setattr(ppo, "evaluate", lambda *args: [10.0, 12.0])  # 2 of the 5 asked for: Ctrl-C came
    ended = []
    monkeypatch.setattr(ppo, "end_by", ended.append)  # the process's end, which would be pytest's
    capsys.readouterr()
    ppo.main(["--eval-checkpoint", summary["checkpoint"], "--eval-episodes", "5"])
    out, err = capsys.readouterr()
    assert ended == [signal.SIGINT]
    assert "2 episodes, return 11.00 ± 1.00 (min 10.00, max 12.00)" in out
    assert "stopped after 2 of 5 episodes" in err and "Traceback" not in err


def test_a_non_finite_gradient_stops_before_the_weights_change():
    # sqrt at 0: the loss is 0, its gradient inf. Clipping would turn inf into NaN (inf × 0) and Adam would
    # write NaN into the weights, which the next checkpoint would keep; the step must refuse first.
    weight = nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.Adam([weight], lr=0.1)
    loss = weight.sqrt().sum()
    assert torch.isfinite(loss)
    with pytest.raises(ppo.NonFiniteLossError):
        ppo.gradient_step(nn.ParameterList([weight]), optimizer, loss, max_grad_norm=0.5)
    assert torch.equal(weight.detach(), torch.zeros(2))
    ppo.gradient_step(nn.ParameterList([weight]), optimizer, (weight - 1).square().sum(), max_grad_norm=0.5)
    assert torch.all(weight.detach() > 0)  # a finite gradient still steps


def test_hopper_v4_trains_without_gymnasiums_out_of_date_warning():
    # -v4 is the default on purpose (README, Environments): every run telling the user to switch is noise.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ppo.make_env("Hopper-v4")().close()
    assert not [w for w in caught if "out of date" in str(w.message)]


def test_an_id_registered_without_a_version_is_made_as_it_is():
    # Only an id gymnasium resolves to another (Hopper -> Hopper-v5) is refused: yours may have no version.
    gym.register("UnversionedPendulum", entry_point="gymnasium.envs.classic_control:PendulumEnv")
    try:
        env = ppo.make_probe_env("UnversionedPendulum")
        assert env.spec.id == "UnversionedPendulum"
        env.close()
    finally:
        del gym.registry["UnversionedPendulum"]
