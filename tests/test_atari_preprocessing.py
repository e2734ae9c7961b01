"""ppo_shared_backbone.py's Atari observations against baselines' preprocessing (issue 14): for the same
emulator frames the agent must see what baselines' ppo2 saw (make_atari + wrap_deepmind + VecFrameStack(4)),
the preprocessing the published re-implementations are measured against. Baselines itself needs TensorFlow 1
and gym 0.x, so the reference is stable-baselines3's AtariWrapper + VecFrameStack(4), which follow baselines'
wrappers step for step.

How the two stacks are lined up, so that they play the same frames and only the preprocessing can differ:

- Like with like. AtariWrapper with its defaults is our training stack: NoopReset (30), MaxAndSkip (4),
  EpisodicLife (terminal_on_life_loss=True, as our EpisodicLife), FireReset, grey 84x84, reward sign
  (clip_reward=True, as our TransformReward), no sticky actions (a NoFrameskip-v4 game has none either).
  AtariWrapper does not stack frames; VecFrameStack(4) does it at the vector level as baselines did, channels
  last (84, 84, 4), where we stack in each env, channels first: their stack is transposed to compare. SB3's
  make_atari_env is not used: it only adds a Monitor, which changes nothing compared here.
- Resets. Both are vector envs of one game that reset a finished episode (a lost life or a game over) in the
  step that ends it: SB3's DummyVecEnv always does, ours with AutoresetMode.SAME_STEP, as train() uses it. So
  at every step the returned stack is the next episode's first one after a done on both sides, and the stack
  that ended the episode is infos[0]["terminal_observation"] there and infos["final_obs"][0] here.
- Seeds. DummyVecEnv.seed(s) makes its next reset() reset env 0 with seed s, as SyncVectorEnv.reset(seed=s)
  does; later resets are unseeded on both sides. That first reset seeds the game's generator
  (env.unwrapped.np_random), which seeds the emulator and draws every NoopReset's number of no-ops on both
  sides in the same order, so the same actions give the same frames.
- Actions: one fixed sequence from a generator of the test's own, sent to both.

The seeds are chosen so that 1,000 steps hold every case the old preprocessing (gymnasium's
AtariPreprocessing, FrameStackObservation's default padding) got wrong; each of the three alone fails this
test: the stack's padding after resets (lost lives, game overs), a game that ends inside a 4-frame skip (the
final observation: Breakout with seed 1, Pong with seed 7), and the max over RGB frames before grey (only
Pong shows it, where a paddle moves between the two max-pooled frames). Whether it does depends on the
parity of the reset's number of no-ops: with seed 1, Pong's grey levels agree until the second game over;
with seed 7 they differ from the first step."""

import gymnasium as gym
import numpy as np
import pytest
from util import load_script

pytest.importorskip("ale_py", reason="needs ale-py for the Atari games (pip install ale-py)")
pytest.importorskip("stable_baselines3", reason="compares with SB3's AtariWrapper: pip install -r requirements-dev.txt")
from stable_baselines3.common.atari_wrappers import AtariWrapper  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack  # noqa: E402

ppo = load_script("ppo_shared_backbone")

STEPS = 1000
TOLERANCE = 1  # grey levels; the two apply the same OpenCV calls to the same frames, so 0 is expected


def our_stack(env_id: str) -> gym.vector.VectorEnv:
    """The actors' environment of ppo_shared_backbone.py (make_env, SAME_STEP autoreset), one game."""
    ppo.check_env(env_id)  # registers the ALE ids
    return gym.vector.SyncVectorEnv([ppo.make_env(env_id)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def baselines_stack(env_id: str) -> VecFrameStack:
    return VecFrameStack(DummyVecEnv([lambda: AtariWrapper(gym.make(env_id))]), n_stack=4)


def grey_gap(ours: np.ndarray, theirs_channels_last: np.ndarray) -> int:
    """The largest difference, in grey levels, between our (4, 84, 84) stack and their (84, 84, 4) one."""
    return int(np.abs(ours.astype(np.int16) - np.moveaxis(theirs_channels_last, -1, 0).astype(np.int16)).max())


@pytest.mark.parametrize("env_id, seed", [("BreakoutNoFrameskip-v4", 1), ("PongNoFrameskip-v4", 7)])
def test_stacks_rewards_and_dones_equal_baselines_preprocessing(env_id, seed):
    ours, theirs = our_stack(env_id), baselines_stack(env_id)
    theirs.seed(seed)
    obs, _ = ours.reset(seed=seed)
    their_obs = theirs.reset()
    assert obs.shape == (1, 4, 84, 84) and their_obs.shape == (1, 84, 84, 4)
    gaps = [grey_gap(obs[0], their_obs[0])]  # the first stack: three slots of zeros, then the first frame
    final_gaps, lost_lives, game_overs = [], 0, 0
    actions = np.random.default_rng(seed).integers(ours.single_action_space.n, size=STEPS)
    for step, action in enumerate(actions):
        obs, reward, terminated, truncated, infos = ours.step(np.array([action]))
        their_obs, their_reward, their_done, their_infos = theirs.step(np.array([action]))
        assert reward[0] == their_reward[0], f"{env_id} step {step}: reward {reward[0]} vs {their_reward[0]}"
        done = bool(terminated[0] or truncated[0])
        assert done == bool(their_done[0]), f"{env_id} step {step}: done {done} vs {bool(their_done[0])}"
        gaps.append(grey_gap(obs[0], their_obs[0]))
        if done:
            final_gaps.append(grey_gap(infos["final_obs"][0], their_infos[0]["terminal_observation"]))
            game_over = "episode" in infos["final_info"] and infos["final_info"]["_episode"][0]
            game_overs += int(game_over)
            lost_lives += int(not game_over)
    ours.close()
    theirs.close()
    worst = int(np.argmax(gaps))
    assert gaps[worst] <= TOLERANCE, (
        f"{env_id}: stacks differ by {gaps[worst]} grey levels at step {worst} (0 is the reset)"
    )
    assert max(final_gaps) <= TOLERANCE, f"{env_id}: final observations differ by {max(final_gaps)} grey levels"
    # The run covered the resets, so the zero padding and the final observations were compared.
    assert game_overs >= 1 and (lost_lives >= 4 or env_id.startswith("Pong")), (game_overs, lost_lives)
