"""ppo_shared_backbone.py: Eq. (9) against hand values, the shared trunk, baselines' Atari wrappers on real
ALE games (life loss, whole-game score, reward sign, FIRE), short runs as a user makes them on Pong, the
file copied alone, bad input, Ctrl-C, and learning CartPole-v1 with the MLP trunk."""

import importlib.util
import itertools
import math
import shutil
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
from util import (
    ROOT,
    TENSORBOARD_KEYS,
    actions_received,
    assert_one_line_error,
    assert_resumed_schedule,
    evaluate_recording,
    load_script,
    newest_run_dir,
    only_run_dir,
    read_scalars,
    run_script,
    script_env,
)

SCRIPT = "ppo_shared_backbone.py"
ppo = load_script("ppo_shared_backbone")

needs_ale = pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="needs ale-py (pip install ale-py)")


def atari_env(env_id: str) -> gym.Env:
    ppo.check_env(env_id)  # registers the ALE ids
    return ppo.make_env(env_id)()


class RawLog(gym.Wrapper):
    """Records every action and reward at the raw game, below all of the preprocessing."""

    def __init__(self, env):
        super().__init__(env)
        self.actions, self.rewards = [], []

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.actions.append(int(action))
        self.rewards.append(float(reward))
        return obs, reward, terminated, truncated, info


def logged_atari_env(env_id: str, raw_wrapper=RawLog) -> tuple[gym.Env, gym.Wrapper]:
    """The training stack of atari_wrappers() over a raw game that records what reaches it."""
    ppo.check_env(env_id)
    raw = raw_wrapper(gym.make(env_id))
    return ppo.atari_wrappers(raw), raw


# ---------------------------------------------------------------------------------------------
# Eq. (9): L^{CLIP+VF+S} = L^CLIP - c1 L^VF + c2 S, minimised as its negative
# ---------------------------------------------------------------------------------------------


def test_combined_loss_matches_hand_values_and_signs():
    # L^CLIP: r = [1.5, 0.5], Â = [1, -1], ε = 0.2: min(1.5, 1.2) = 1.2 and min(-0.5, -0.8) = -0.8, mean 0.2
    policy_loss = ppo.clipped_surrogate_loss(torch.tensor([1.5, 0.5]), torch.tensor([1.0, -1.0]), 0.2)
    torch.testing.assert_close(policy_loss, torch.tensor(-0.2))
    # L^VF as the paper writes it, not halved: mean((1 - 0)², (2 - 0)²) = 2.5
    v_loss = ppo.value_loss(torch.tensor([1.0, 2.0]), torch.zeros(2), torch.zeros(2), 0.2, clip_vloss=False)
    torch.testing.assert_close(v_loss, torch.tensor(2.5))
    entropy = torch.tensor(0.5)
    # -(L^CLIP - c1 L^VF + c2 S) = -0.2 + 1 · 2.5 - 0.01 · 0.5
    torch.testing.assert_close(ppo.combined_loss(policy_loss, v_loss, entropy, 1.0, 0.01), torch.tensor(2.295))
    torch.testing.assert_close(ppo.combined_loss(policy_loss, v_loss, entropy, 2.0, 0.1), torch.tensor(4.75))
    torch.testing.assert_close(ppo.combined_loss(policy_loss, v_loss, entropy, 0.0, 0.0), policy_loss)
    # The value error is a cost (raising it raises the loss by c1), the entropy a bonus (lowers it by c2).
    p, v, s = (torch.tensor(x, requires_grad=True) for x in (-0.2, 2.5, 0.5))
    ppo.combined_loss(p, v, s, 0.7, 0.03).backward()
    assert (p.grad.item(), v.grad.item()) == (1.0, pytest.approx(0.7)) and s.grad.item() == pytest.approx(-0.03)


def test_defaults_are_table_5():
    """Table 5, entry by entry (the Atari campaign runs the defaults): T = 128, stepsize 2.5e-4 × α, K = 3,
    M = 32 × 8, γ = 0.99, λ = 0.95, N = 8, ε = 0.1 × α, c1 = 1, c2 = 0.01; 40M frames = 10M agent steps."""
    args = ppo.Args()
    assert (args.num_steps, args.learning_rate, args.update_epochs) == (128, 2.5e-4, 3)
    assert args.num_envs * args.num_steps // args.num_minibatches == 32 * 8
    assert (args.gamma, args.gae_lambda, args.num_envs, args.clip_coef) == (0.99, 0.95, 8, 0.1)
    assert (args.vf_coef, args.ent_coef, args.total_timesteps) == (1.0, 0.01, 10_000_000)
    assert args.anneal_lr and args.anneal_clip  # α scales both, from 1 to 0


def test_default_loss_weighs_the_unhalved_squared_error_by_table_5s_c1():
    """The minibatch loss at the defaults, by hand: Table 5's c1 = 1 on (V - V^targ)², not baselines' 0.25."""
    args = ppo.Args()
    assert (args.vf_coef, args.ent_coef, args.clip_vloss, args.norm_adv) == (1.0, 0.01, True, True)
    assert args.max_grad_norm == 0.5  # baselines' (not Table 5), as the campaign runs
    agent = ppo.Agent((4,), 2)
    with torch.no_grad():  # π uniform over 2 actions, V(s) = 3 everywhere
        for head, bias in ((agent.actor, 0.0), (agent.critic, 3.0)):
            head.weight.zero_()
            head.bias.fill_(bias)
    mb = {
        "obs": torch.randn(4, 4),
        "actions": torch.tensor([0, 1, 0, 1]),
        "logprobs": torch.full((4,), -float(np.log(2.0))),  # π_θold = π_θ: r = 1
        "values": torch.full((4,), 3.0),  # V_old = V: clipping the value changes nothing
        "advantages": torch.tensor([1.0, 2.0, 3.0, 6.0]),  # normalized (mean 0): L^CLIP = E[1 · Â_normalized] = 0
        "returns": torch.tensor([1.0, 3.0, 4.0, 3.0]),  # (V - V^targ)² = 4, 0, 1, 0: L^VF = 1.25
    }
    loss, diagnostics = ppo.minibatch_loss(agent, mb, args, clip_coef=0.1)
    # -(L^CLIP - c1 L^VF + c2 S) = -0 + 1 · 1.25 - 0.01 · log 2 = 1.2430685
    torch.testing.assert_close(loss, torch.tensor(1.25 - 0.01 * float(np.log(2.0))))
    torch.testing.assert_close(diagnostics[ppo.DIAGNOSTICS.index("value_loss")], torch.tensor(1.25))
    # baselines' ppo2 / CleanRL weight: --vf-coef 0.25 gives 0.25 · 1.25 - 0.01 · log 2
    loss, _ = ppo.minibatch_loss(agent, mb, ppo.Args(vf_coef=0.25), clip_coef=0.1)
    torch.testing.assert_close(loss, torch.tensor(0.3125 - 0.01 * float(np.log(2.0))))


def test_minibatch_loss_by_hand_clips_ratio_and_value_at_the_annealed_epsilon():
    """Table 5's ε = 0.1 × α reaches both clips: at α = 0.5, ε = 0.05 (not Args' 0.1) clips the ratio in L^CLIP
    and, as baselines does, the value update; π uniform over 2 actions, V = 3 everywhere, c1 = 1, c2 = 0.01."""
    agent = ppo.Agent((4,), 2)
    with torch.no_grad():
        for head, bias in ((agent.actor, 0.0), (agent.critic, 3.0)):
            head.weight.zero_()
            head.bias.fill_(bias)
    ratio = torch.tensor([0.5, 1.0, 1.08, 1.5])
    mb = {
        "obs": torch.randn(4, 4),
        "actions": torch.tensor([0, 1, 0, 1]),
        "logprobs": float(np.log(0.5)) - ratio.log(),  # log π_θ(a) - log r: the ratios above
        "advantages": torch.tensor([1.0, 2.0, 3.0, 6.0]),  # mean 3, sample std s = √(14/3): Â = (-2, -1, 0, 3) / s
        "values": torch.tensor([3.08, 3.0, 3.0, 3.0]),  # V_old: the first moves by -0.08, clipped to -0.05
        "returns": torch.tensor([2.0, 3.0, 4.0, 3.0]),
    }
    loss, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args(), clip_coef=0.05)
    # min(r·Â, clip(r, 0.95, 1.05)·Â): 0.95·(-2) (clipped), -1, 0, 1.05·3 (clipped): 0.25 / s
    policy_loss = -0.25 / (4 * math.sqrt(14 / 3))
    # max((V - V^targ)², (V_old + clip(V - V_old, ±0.05) - V^targ)²): 1.03² (not 1² as ε = 0.1 gives), 0, 1, 0
    value_loss = (1.03**2 + 1.0) / 4
    kl = sum((r - 1) - math.log(r) for r in ratio.tolist()) / 4  # k3
    expected = [policy_loss, value_loss, math.log(2.0), kl, 0.75]  # clipfrac: 3 of 4 beyond ±0.05
    torch.testing.assert_close(diagnostics, torch.tensor(expected))
    torch.testing.assert_close(loss, torch.tensor(policy_loss + value_loss - 0.01 * math.log(2.0)))
    # --no-norm-adv: the raw advantages, min(r·A, clip(r)·A) = 0.5, 2, 1.05·3, 1.05·6 (the last two clipped)
    _, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args(norm_adv=False), clip_coef=0.05)
    torch.testing.assert_close(diagnostics[0], torch.tensor(-(0.5 + 2.0 + 3.15 + 6.3) / 4))
    # Equal advantages (std 0) normalize to 0, not 0/0.
    _, diagnostics = ppo.minibatch_loss(agent, mb | {"advantages": torch.full((4,), 2.0)}, ppo.Args(), clip_coef=0.05)
    assert diagnostics[0].item() == 0.0


@pytest.mark.parametrize("obs_shape", [(4, 84, 84), (4,)], ids=["cnn", "mlp"])
def test_value_error_and_policy_share_the_trunk(obs_shape):
    torch.manual_seed(0)
    agent = ppo.Agent(obs_shape, 3)
    obs = torch.randint(0, 256, (8, *obs_shape), dtype=torch.uint8) if len(obs_shape) == 3 else torch.randn(8, 4)
    first = agent.trunk[0].weight

    def trunk_grad(vf_coef, ent_coef, policy_weight):
        agent.zero_grad()
        logprob, entropy, value = agent.get_logprob_entropy_value(obs, torch.zeros(8, dtype=torch.long))
        loss = ppo.combined_loss(-policy_weight * logprob.mean(), (value**2).mean(), entropy.mean(), vf_coef, ent_coef)
        loss.backward()
        return first.grad.clone()

    only_value, only_policy = trunk_grad(1.0, 0.0, 0.0), trunk_grad(0.0, 0.0, 1.0)
    assert only_value.abs().sum() > 0 and only_policy.abs().sum() > 0  # both heads train the one trunk
    torch.testing.assert_close(trunk_grad(2.0, 0.0, 0.0), 2 * only_value)  # c1 scales the value error's share


def test_cnn_is_nature_dqn_with_baselines_initialization():
    torch.manual_seed(0)
    agent = ppo.Agent((4, 84, 84), 6)
    convs = [m for m in agent.trunk if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (4, 32, (8, 8), (4, 4)),
        (32, 64, (4, 4), (2, 2)),
        (64, 64, (3, 3), (1, 1)),
    ]
    assert agent.trunk[-2].in_features == 64 * 7 * 7 and agent.trunk[-2].out_features == 512
    # orthogonal heads: policy gain 0.01 (near-uniform π), value gain 1; each row has norm = gain
    torch.testing.assert_close(agent.actor.weight.norm(dim=1), torch.full((6,), 0.01))
    torch.testing.assert_close(agent.critic.weight.norm(), torch.tensor(1.0))
    obs = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)  # stored as uint8, scaled by 1/255 inside
    action, logprob, value = agent.act(obs.numpy())
    assert action.dtype == np.int64 and set(action.tolist()) <= set(range(6)) and value.shape == (5,)
    expected_logprob, entropy, expected_value = agent.get_logprob_entropy_value(obs, torch.as_tensor(action))
    torch.testing.assert_close(entropy, torch.full((5,), float(np.log(6))), atol=0.02, rtol=0)
    np.testing.assert_allclose(logprob, expected_logprob.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(value, expected_value.detach().numpy(), rtol=1e-6)
    torch.testing.assert_close(torch.as_tensor(value), agent.get_value(obs))
    torch.testing.assert_close(agent.get_value(obs), agent.get_value(obs.float()))  # uint8 and float agree
    # baselines scales the frames by 1/255: a white frame is ones to the trunk
    white = torch.full((1, 4, 84, 84), 255, dtype=torch.uint8)
    torch.testing.assert_close(agent.features(white), agent.trunk(torch.ones(1, 4, 84, 84)))


def test_log_prob_and_entropy_match_hand_values():
    # logits [0, ln 2, ln 3]: π = [1, 2, 3] / 6, whatever the state
    agent = ppo.Agent((4,), 3)
    with torch.no_grad():
        agent.actor.weight.zero_()
        agent.actor.bias.copy_(torch.tensor([0.0, float(np.log(2.0)), float(np.log(3.0))]))
    logprob, entropy, _ = agent.get_logprob_entropy_value(torch.randn(3, 4), torch.tensor([0, 1, 2]))
    torch.testing.assert_close(logprob, torch.tensor([-1.7917595, -1.0986123, -0.6931472]))
    torch.testing.assert_close(entropy, torch.full((3,), 1.0114043))
    counts = np.bincount(agent.act(np.random.default_rng(0).normal(size=(6000, 4)).astype(np.float32))[0], minlength=3)
    np.testing.assert_allclose(counts / 6000.0, np.array([1.0, 2.0, 3.0]) / 6, atol=0.025)


# ---------------------------------------------------------------------------------------------
# Baselines' Atari preprocessing on real games
# ---------------------------------------------------------------------------------------------


@needs_ale
def test_atari_observation_is_a_stack_of_four_84x84_uint8_frames():
    env = atari_env("PongNoFrameskip-v4")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert not obs[:3].any() and obs[3].any()  # a fresh stack is padded with zeros, as baselines' VecFrameStack
    for _ in range(4):
        obs, *_ = env.step(0)
    assert len({frame.tobytes() for frame in obs}) > 1  # four different frames, not one repeated
    env.close()


@needs_ale
def test_life_loss_ends_the_training_episode_but_the_logged_return_is_the_whole_game():
    env, raw = logged_atari_env("BreakoutNoFrameskip-v4")
    rng = np.random.default_rng(0)
    for game in range(20):  # random play until a game with points, so that the sum means something
        env.reset(seed=game)
        raw.rewards.clear()
        lives_at_ends, clipped = [], []
        while True:
            _, reward, terminated, truncated, info = env.step(int(rng.integers(4)))
            clipped.append(reward)
            if terminated or truncated:
                lives = raw.unwrapped.ale.lives()
                lives_at_ends.append(lives)
                if "episode" in info:  # the game is over: RecordEpisodeStatistics reports it
                    break
                frame = raw.unwrapped.ale.getEpisodeFrameNumber()
                env.reset()
                assert raw.unwrapped.ale.lives() == lives and raw.unwrapped.ale.getEpisodeFrameNumber() > frame
        if sum(raw.rewards) > 0:
            break
    # Breakout has 5 lives: 4 lost lives end training episodes (terminated, a terminal state for GAE),
    # the 5th ends the game; only then is a return logged, the raw score summed over all 5 lives.
    assert lives_at_ends == [4, 3, 2, 1, 0]
    assert info["episode"]["r"] == sum(raw.rewards) > 0
    assert all(r in (0.0, 1.0) for r in clipped)
    env.close()


class FiveEveryTenth(RawLog):
    """A real game whose raw reward is 5 on every 10th frame."""

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        reward = 5.0 if len(self.actions) % 10 == 0 else 0.0
        self.rewards[-1] = reward
        return obs, reward, terminated, truncated, info


@needs_ale
def test_rewards_are_clipped_to_their_sign_for_training_only():
    env, raw = logged_atari_env("PongNoFrameskip-v4", FiveEveryTenth)
    env.reset(seed=0)
    first = len(raw.rewards)  # the frames after NoopReset's no-ops and FireReset's FIRE and action 2
    training_rewards = []
    while True:
        _, reward, terminated, truncated, info = env.step(0)
        training_rewards.append(reward)
        if terminated or truncated:
            break
    assert set(training_rewards) == {0.0, 1.0}  # 4 frames per step, so each step holds at most one 5 -> 1
    assert sum(training_rewards) == sum(raw.rewards[first:]) / 5
    # The logged return is the raw score of the game, FireReset's frames included (as baselines' Monitor).
    assert info["episode"]["r"] == sum(raw.rewards[first - 8 :]) > 5
    env.close()


@needs_ale
def test_evaluation_returns_the_raw_score_of_whole_games(monkeypatch):
    """evaluate() on Atari: an episode is a whole game of five lives, its return the raw score. The raw game
    pays 5 on every 10th frame, so the return differs from the clipped rewards' sum (1 per such step) and from
    any one life's part."""
    env, raw = logged_atari_env("BreakoutNoFrameskip-v4", FiveEveryTenth)
    ends, step = [], env.step

    def counting_step(action):
        result = step(action)
        ends.append(result[2] or result[3])
        return result

    env.step = counting_step
    agent = ppo.Agent(env.observation_space.shape, int(env.action_space.n))
    checkpoint = {"args": {"env_id": "BreakoutNoFrameskip-v4"}, "model": agent.state_dict()}
    monkeypatch.setattr(ppo, "load_checkpoint", lambda path: checkpoint)
    monkeypatch.setattr(ppo, "make_env", lambda *args, **kwargs: lambda: env)
    returns = ppo.evaluate("model.pt", episodes=1)
    assert sum(ends) == 5  # four lost lives and the game's end: one episode
    # The raw score from the game's first FIRE on (NoopReset's no-ops come before it, below the count, as in
    # training), over all five lives; the clipped rewards would count one per rewarded step, 5 times less.
    score = sum(raw.rewards[raw.actions.index(1) :])
    assert returns == [score] and score >= 50


class ScriptedLives(gym.Env):
    """A game whose lives counter follows a script, one entry per step, over at its last; nothing else happens."""

    observation_space = gym.spaces.Box(0, 255, (1,), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, lives: list[int]):
        self.script, self.t, self.ale = lives, 0, self  # EpisodicLife reads unwrapped.ale.lives()

    def lives(self) -> int:
        return self.script[self.t]

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros(1, np.uint8), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.uint8), 0.0, self.t == len(self.script) - 1, False, {}


def test_a_life_lost_after_a_bonus_life_ends_the_training_episode():
    """3 lives, a bonus life (4), then lost (3), then 2, then the game ends at 0: the loss from the bonus life
    is a lost life too (baselines counts from the lives of the step before, not of the reset)."""
    env = ppo.EpisodicLife(ScriptedLives([3, 4, 3, 3, 2, 0]))
    env.reset()
    assert [env.step(0)[2] for _ in range(5)] == [False, True, False, True, True]


@needs_ale
def test_fire_is_pressed_on_reset_and_after_a_lost_life_in_games_that_need_it():
    env, raw = logged_atari_env("BreakoutNoFrameskip-v4")
    env.reset(seed=0)
    # NoopReset's 1-30 single-frame no-ops, then FIRE and action 2, each repeated for 4 frames
    assert raw.actions[-8:] == [1, 1, 1, 1, 2, 2, 2, 2] and set(raw.actions[:-8]) == {0}
    assert 1 <= len(raw.actions) - 8 <= 30
    while not env.step(3)[2]:  # LEFT until the ball is lost
        pass
    raw.actions.clear()
    env.reset()  # not a new game: one no-op step, then FIRE, as baselines
    assert raw.actions == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    env.close()
    assert ppo.needs_fire(atari_env("PongNoFrameskip-v4"))
    freeway = atari_env("FreewayNoFrameskip-v4")  # NOOP, UP, DOWN: nothing to fire
    assert not ppo.needs_fire(freeway)
    assert "FireReset" not in str(freeway)


class GamesOfFiveEveryTenth(FiveEveryTenth):
    """FiveEveryTenth, which also records where each game (a reset of the raw game) starts in its record."""

    def __init__(self, env):
        super().__init__(env)
        self.starts = []

    def reset(self, **kwargs):
        self.starts.append(len(self.rewards))
        return super().reset(**kwargs)


@needs_ale
def test_rollout_treats_a_lost_life_as_terminal_and_logs_only_whole_games():
    """The rollout's logged return of a game is its raw score over all five lives, from its first FIRE on (as
    evaluate's): the raw game pays 5 on every 10th frame, so a sum of the clipped rewards, or of one life's, differs."""
    env, raw = logged_atari_env("BreakoutNoFrameskip-v4", GamesOfFiveEveryTenth)
    envs = gym.vector.SyncVectorEnv([lambda: env], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    torch.manual_seed(0)
    actors = ppo.Actors(envs, 0)
    rollout = actors.collect(ppo.Agent((4, 84, 84), 4), 400)
    envs.close()
    assert rollout.obs.dtype == np.uint8 and rollout.obs.shape == (400, 1, 4, 84, 84)
    lost = int(rollout.terminations.sum())
    assert lost >= 5 and np.array_equal(rollout.terminations, rollout.episode_ends)  # terminal, no bootstrap
    # one game (five lives) is one logged episode, at the step of the last life
    games = actors.finished
    assert (
        len(games) >= 1
        and 5 * len(games) <= lost < 5 * (len(games) + 1)
        and all(rollout.terminations[t, 0] == 1 for t, _, _ in games)
    )
    games_frames = [(raw.actions.index(1, start), end) for start, end in itertools.pairwise(raw.starts)]
    scores = [sum(raw.rewards[first:end]) for first, end in games_frames]
    assert [ret for _, ret, _ in games] == scores[: len(games)] and min(scores) >= 50
    # Its length counts agent steps of 4 frames (the last may be cut short by the game's end), from the first FIRE
    # on, the FIRE steps and a lost life's no-op included: not the emulator's frames.
    lengths = [math.ceil((end - first) / 4) for first, end in games_frames]
    assert [length for _, _, length in games] == lengths[: len(games)] and min(lengths) > 20


def test_time_limit_bootstraps_from_the_final_observation():
    seed = 3
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.wrappers.RecordEpisodeStatistics(gym.make("CartPole-v1", max_episode_steps=3))],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    torch.manual_seed(seed)
    agent = ppo.Agent((4,), 2)
    actors = ppo.Actors(envs, seed)
    rollout = actors.collect(agent, 5)
    envs.close()
    assert rollout.episode_ends[:, 0].tolist() == [0, 0, 1, 0, 0]  # cut by the time limit after 3 steps
    assert rollout.terminations[:, 0].tolist() == [0, 0, 0, 0, 0]  # ... which is not a terminal state
    assert actors.finished == [(2, 3.0, 3)]
    env = gym.make("CartPole-v1")
    env.reset(seed=seed)
    for t in range(3):
        final_obs, *_ = env.step(int(rollout.actions[t, 0]))
    with torch.no_grad():  # the critic itself, not the rollout's Agent.value that the test is about
        v_final = float(agent.get_value(torch.as_tensor(final_obs[None], dtype=torch.float32))[0])
        v_end = float(agent.get_value(torch.as_tensor(actors.next_obs, dtype=torch.float32))[0])
    assert v_final != 0.0 and v_end != 0.0  # a zeroed bootstrap could not pass for them
    assert rollout.next_values[2, 0] == pytest.approx(v_final, rel=1e-6)
    assert rollout.next_values[2, 0] != pytest.approx(rollout.values[3, 0])  # not the next episode's V(s_0)
    assert rollout.next_values[4, 0] == pytest.approx(v_end, rel=1e-6)  # V(s_T) at the end of the rollout


@needs_ale
def test_atari_ids_of_both_generations_work():
    env = atari_env("ALE/Pong-v5")  # v5 skips 4 frames itself: made with frameskip 1 under MaxAndSkipObservation
    assert env.unwrapped._frameskip == 1 and env.observation_space.shape == (4, 84, 84)
    env.close()


# ---------------------------------------------------------------------------------------------
# Runs as a user makes them
# ---------------------------------------------------------------------------------------------


@needs_ale
def test_short_pong_run_logs_every_key_and_writes_a_checkpoint_that_evaluates_and_resumes(tmp_path):
    # 2 actors x 1536 steps: a random Pong game lasts ~750-1000 agent steps, so each actor finishes one.
    common = ["--env-id", "PongNoFrameskip-v4", "--num-envs", 2, "--runs-dir", tmp_path / "runs", "--save-model"]
    result = run_script(SCRIPT, *common, "--total-timesteps", 3072)
    assert result.returncode == 0, result.stderr
    assert "done: step 3,072 (3,072 steps in this run" in result.stdout
    run_dir = only_run_dir(tmp_path / "runs")
    scalars = read_scalars(run_dir)
    assert scalars.keys() >= TENSORBOARD_KEYS, TENSORBOARD_KEYS - scalars.keys()
    assert all(-21 <= value <= -10 and value == int(value) for _, value in scalars["charts/episodic_return"])
    assert all(length > 500 for _, length in scalars["charts/episodic_length"])  # whole games
    # Table 5: stepsize and ε both annealed with α = 1 - step / total
    alpha = [1 - 256 * k / 3072 for k in range(12)]
    assert [value for _, value in scalars["charts/clip_coef"]] == pytest.approx([0.1 * a for a in alpha])
    assert [value for _, value in scalars["charts/learning_rate"]] == pytest.approx([2.5e-4 * a for a in alpha])

    checkpoint_path = run_dir / "model.pt"
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    assert checkpoint["script"] == "ppo_shared_backbone" and checkpoint["global_step"] == 3072
    assert checkpoint["args"]["env_id"] == "PongNoFrameskip-v4"

    result = run_script(SCRIPT, "--eval-checkpoint", checkpoint_path, "--eval-episodes", 1)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PongNoFrameskip-v4: 1 episodes, return -")

    result = run_script(SCRIPT, *common, "--total-timesteps", 3584, "--resume", checkpoint_path)
    assert result.returncode == 0, result.stderr
    assert "done: step 3,584 (" in result.stdout
    assert_resumed_schedule(newest_run_dir(tmp_path / "runs"), checkpoint, 3584)


def test_each_update_gets_table_5s_annealed_stepsize_and_epsilon(tmp_path, monkeypatch):
    """ε = 0.1 × α and stepsize 2.5e-4 × α, α = 1 - step / total, as the update receives them (the logged
    clip_coef chart alone passed with a constant ε given to the update); --no-anneal-clip keeps 0.1."""
    seen, update = [], ppo.update

    def spy(agent, optimizer, batch, args, clip_coef):
        seen.append((clip_coef, optimizer.param_groups[0]["lr"]))
        return update(agent, optimizer, batch, args, clip_coef)

    monkeypatch.setattr(ppo, "update", spy)
    tiny = dict(env_id="CartPole-v1", num_envs=2, num_steps=32, num_minibatches=2, update_epochs=1)
    ppo.train(ppo.Args(**tiny, total_timesteps=256, runs_dir=str(tmp_path)))
    alphas = [1.0, 0.75, 0.5, 0.25]  # 64 steps per iteration of 256
    assert np.allclose(seen, [(0.1 * a, 2.5e-4 * a) for a in alphas], rtol=1e-9, atol=0)
    seen.clear()
    ppo.train(ppo.Args(**tiny, total_timesteps=256, anneal_clip=False, runs_dir=str(tmp_path)))
    assert np.allclose(seen, [(0.1, 2.5e-4 * a) for a in alphas], rtol=1e-9, atol=0)
    # Resumed at step 128 of 256: α goes on from 0.5 for both, not from 1 (the campaign's runs resume ~10 times).
    first = ppo.train(ppo.Args(**tiny, total_timesteps=128, save_model=True, runs_dir=str(tmp_path / "a")))
    seen.clear()
    ppo.train(ppo.Args(**tiny, total_timesteps=256, resume=first["checkpoint"], runs_dir=str(tmp_path / "b")))
    assert np.allclose(seen, [(0.1 * a, 2.5e-4 * a) for a in (0.5, 0.25)], rtol=1e-9, atol=0)


def test_file_copied_alone_runs(tmp_path):
    shutil.copy(ROOT / SCRIPT, tmp_path / SCRIPT)
    result = run_script(tmp_path / SCRIPT, "--env-id", "CartPole-v1", "--total-timesteps", 1024, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (only_run_dir(tmp_path / "runs") / "summary.json").is_file()


def test_ctrl_c_stops_after_the_iteration_and_saves(tmp_path):
    process = subprocess.Popen(
        [sys.executable, str(ROOT / SCRIPT), "--env-id", "CartPole-v1", "--runs-dir", str(tmp_path), "--save-model"],
        env=script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = process.stdout.readline()  # the status line of the first iteration
    assert first_line.startswith("step"), first_line + process.stderr.read()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGINT, stderr  # ended by Ctrl-C once saved: a shell says 130
    assert "Traceback" not in stderr and "SIGINT: stopping after this iteration" in stderr
    assert "interrupted:" in stdout
    assert (only_run_dir(tmp_path) / "model.pt").is_file()


# ---------------------------------------------------------------------------------------------
# Bad input: one line, non-zero exit, no traceback
# ---------------------------------------------------------------------------------------------


def write_discrete_checkpoint(path):
    """What ppo_discrete.py writes, as far as load_checkpoint looks."""
    torch.save({"format_version": 1, "script": "ppo_discrete", "args": {"env_id": "CartPole-v1"}, "model": {}}, path)


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--env-id", "Pendulum-v1"], "use ppo_continuous.py"),
        (["--num-minibatches", "3"], "not divisible by --num-minibatches"),
        (["--num-minibatches", "1024"], "minibatches of 1 sample"),
        (["--clip-coef", "0"], "--clip-coef must be positive"),
        (["--gamma", "1.5"], "--gamma must be in [0, 1]"),
        (["--vf-coef", "-1"], "--vf-coef must be non-negative"),
        (["--eval-checkpoint", "{tmp}/discrete.pt"], "use that script"),
    ],
    ids=[
        "box-action",
        "minibatches",
        "minibatch-of-1",
        "clip",
        "gamma",
        "vf-coef",
        "other-script",
    ],
)
def test_bad_input_is_one_line(tmp_path, flags, fragment):
    write_discrete_checkpoint(tmp_path / "discrete.pt")
    flags = [flag.format(tmp=tmp_path) for flag in flags]
    result = run_script(SCRIPT, *flags, "--runs-dir", tmp_path / "runs")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "runs").exists()  # refused before anything starts


def test_missing_ale_says_which_pip_install(monkeypatch):
    real_find_spec = ppo.importlib.util.find_spec
    monkeypatch.setattr(
        ppo.importlib.util, "find_spec", lambda name: None if name == "ale_py" else real_find_spec(name)
    )
    for env_id in ("BreakoutNoFrameskip-v4", "ALE/Pong-v5"):
        with pytest.raises(ppo.UserError, match="pip install ale-py"):
            ppo.check_env(env_id)


# ---------------------------------------------------------------------------------------------
# Learning
# ---------------------------------------------------------------------------------------------

# The Atari defaults (ε 0.1 and stepsize 2.5e-4, both annealed, 3 epochs of 4 minibatches of 256) learn
# CartPole slowly: the best mean of 20 episodes in 500k steps was ~145 (seed 1). With a stepsize of 1e-3
# the best mean of 20 consecutive episodes in 200k steps was 242, 224, 236 for seeds 1, 2, 3: about 12 s.
LEARNING_FLAGS = ("--env-id", "CartPole-v1", "--learning-rate", "1e-3", "--total-timesteps", 200_000)


def test_learns_cartpole_with_the_mlp_trunk(tmp_path):
    start = time.time()
    result = run_script(SCRIPT, *LEARNING_FLAGS, "--runs-dir", tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr
    returns = [value for _, value in read_scalars(only_run_dir(tmp_path))["charts/episodic_return"]]
    best = max(np.mean(returns[i - 20 : i]) for i in range(20, len(returns) + 1))
    assert best >= 180, f"best mean of 20 consecutive episodes {best:.1f} in {time.time() - start:.0f} s"


def test_evaluation_takes_the_most_probable_action(monkeypatch):
    """--eval-checkpoint runs the arg-max action, not a sample: with π = (0.2, 0.3, 0.5) in every state each
    of 2 episodes of 10 steps takes action 2 throughout (a sampled policy would, all 20 times, with probability 1e-6)."""
    agent = ppo.Agent((4,), 3)
    with torch.no_grad():
        agent.actor.weight.zero_()
        agent.actor.bias.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    checkpoint = {"args": {"env_id": "Recorder-v0"}, "model": agent.state_dict()}
    returns, actions, resets = evaluate_recording(ppo, monkeypatch, checkpoint, gym.spaces.Discrete(3))
    assert returns == [10.0, 10.0]
    assert resets == [1, None]  # seeded once, as --seed says; none after the last (a video would start)
    assert actions == [2] * 20
    # Ctrl-C in the 25th step of 5 episodes: the returns of the 2 episodes finished.
    assert evaluate_recording(ppo, monkeypatch, checkpoint, gym.spaces.Discrete(3), 5, ctrl_c_at=25)[0] == [10.0, 10.0]
    # Discrete(3, start=-1): the actions are -1, 0, 1, so π's third is 1
    assert evaluate_recording(ppo, monkeypatch, checkpoint, gym.spaces.Discrete(3, start=-1))[1] == [1] * 20


def test_actions_reach_an_env_whose_actions_start_elsewhere_than_0():
    """Discrete(3, start=-1): the rollout stores π's index (0, 1, 2), the env gets start + index."""
    torch.manual_seed(0)
    received, stored = actions_received(ppo, ppo.Agent((4,), 3), gym.spaces.Discrete(3, start=-1))
    assert set(stored) == {0, 1, 2} and received == [a - 1 for a in stored]
