"""ppo_continuous.py and Stable-Baselines3's PPO at the same settings are one algorithm, step for step.

benchmark/sb3_ppo.py gives SB3 our hyperparameters (the peer of issue 15). Its docstring lists where the
two differ: value clipping's form, and the random streams (action noise, minibatch order, initialization).
With the value loss unclipped, nothing else should: the rollout (observation and reward normalization, the
bootstrap at a time limit, actions clipped only on their way to the environment), GAE, the annealed
stepsize and the minibatch updates. This test takes the random streams away and checks that claim: SB3
learns for a few iterations; then our train() runs from SB3's initial weights, takes SB3's actions (its
noise) and its minibatches, and must reach the same observations, log-probs, values, advantages, returns
and final parameters, up to float32 rounding (the two order their sums differently). So, as far as three
iterations show, the two differ in their random streams alone: a gap between them over seeds is seed-to-seed
variance, not a difference in the algorithm.

Each of these changes to ppo_continuous.py fails it (tried): a time-limit cut bootstrapped from 0 instead
of V(final observation), the reward scaler's ε 1e-2 instead of 1e-8, the stepsize annealed by one step more.
"""

import copy

import numpy as np
import pytest
import torch
from util import load_script

pytest.importorskip("stable_baselines3", reason="compares with SB3's PPO: pip install -r requirements-dev.txt")
import sb3_ppo  # noqa: E402  (benchmark/, on the path through util)
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402

ppo = load_script("ppo_continuous")

OURS_FROM_SB3 = {  # our parameter -> SB3 MlpPolicy's, for separate 2×64 networks
    "critic.0": "mlp_extractor.value_net.0",
    "critic.2": "mlp_extractor.value_net.2",
    "critic.4": "value_net",
    "actor_mean.0": "mlp_extractor.policy_net.0",
    "actor_mean.2": "mlp_extractor.policy_net.2",
    "actor_mean.4": "action_net",
}
BUFFER = {"obs": "observations", "actions": "actions", "logprobs": "log_probs", "values": "values"}
BUFFER |= {"advantages": "advantages", "returns": "returns"}


def ours_from_sb3(state: dict) -> dict:
    ours = {f"{o}.{w}": state[f"{s}.{w}"].clone() for o, s in OURS_FROM_SB3.items() for w in ("weight", "bias")}
    return ours | {"actor_logstd": state["log_std"].clone()[None]}


class Record(BaseCallback):
    """SB3's parameters before each rollout and after the last update, and each rollout's buffer (T, N, ...)."""

    def __init__(self):
        super().__init__()
        self.params, self.rollouts = [], []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        self.params.append(copy.deepcopy(self.model.policy.state_dict()))

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        self.rollouts.append({ours: getattr(buffer, theirs).copy() for ours, theirs in BUFFER.items()})

    def _on_training_end(self) -> None:
        self.params.append(copy.deepcopy(self.model.policy.state_dict()))


def learn_sb3(settings: dict, monkeypatch) -> tuple[Record, list[np.ndarray]]:
    """SB3 set up by benchmark/sb3_ppo.py; returns what it did and the permutations its minibatches came from."""
    args = sb3_ppo.Args(**settings)
    model = sb3_ppo.make_model(args, sb3_ppo.make_envs(args), args.total_timesteps)
    record, permutations, permutation = Record(), [], np.random.permutation

    def recorded_permutation(n):  # SB3's RolloutBuffer.get draws each epoch's order from numpy's global stream
        permutations.append(permutation(n))
        return permutations[-1].copy()

    monkeypatch.setattr(np.random, "permutation", recorded_permutation)
    model.learn(args.total_timesteps, callback=record)
    monkeypatch.setattr(np.random, "permutation", permutation)
    return record, permutations


def train_ours_as_sb3(settings: dict, sb3: Record, permutations: list, tmp_path, monkeypatch):
    """Our train() from SB3's initial weights, with SB3's actions and minibatches; returns the agent and the
    flattened batch of each iteration (time-major: sample t·N + i), and its summary."""
    n, t_steps = settings["num_envs"], settings["num_steps"]
    agents, batches, actions = [], [], iter(a for rollout in sb3.rollouts for a in rollout["actions"])
    make_agent, sample_gaussian, flatten_batch = ppo.Agent, ppo.sample_gaussian, ppo.flatten_batch

    def sb3_agent(*dims):
        agents.append(make_agent(*dims))
        agents[-1].load_state_dict(ours_from_sb3(sb3.params[0]))
        return agents[-1]

    def sb3_action(mean, log_std, rng):  # SB3's action as it is (the environment sees the same float32 bits)
        action = next(actions)
        noise = (action - mean) / np.exp(log_std)
        return action, sample_gaussian(mean, log_std, FixedNoise(noise))[1]

    def sb3_minibatches(size, device=None):  # SB3 flattens env-major (sample i·T + t); ours is time-major
        env, t = np.divmod(next(orders), t_steps)
        return torch.as_tensor(t * n + env, device=device)

    def recorded_batch(*args, **kwargs):
        batches.append(flatten_batch(*args, **kwargs))
        return batches[-1]

    orders = iter(permutations)
    monkeypatch.setattr(ppo, "Agent", sb3_agent)
    monkeypatch.setattr(ppo, "sample_gaussian", sb3_action)
    monkeypatch.setattr(ppo, "flatten_batch", recorded_batch)
    monkeypatch.setattr(torch, "randperm", sb3_minibatches)
    summary = ppo.train(ppo.Args(**settings, runs_dir=str(tmp_path)))
    assert next(actions, None) is None and next(orders, None) is None  # every action and minibatch replayed
    return agents[0], batches, summary


class FixedNoise:
    def __init__(self, noise: np.ndarray):
        self.noise = noise

    def standard_normal(self, shape, dtype):
        return self.noise.astype(dtype).reshape(shape)


@pytest.mark.parametrize(
    "env_id, num_envs, num_steps",
    [
        ("Pendulum-v1", 2, 256),  # two actors, each cut 3 times by its 200-step time limit; bounds ±2
        ("InvertedDoublePendulum-v4", 1, 512),  # the benchmark's environment: episodes that terminate
    ],
)
def test_ours_is_sb3_step_for_step(env_id, num_envs, num_steps, tmp_path, monkeypatch):
    settings = dict(env_id=env_id, num_envs=num_envs, num_steps=num_steps, num_minibatches=8, seed=3)
    settings |= dict(total_timesteps=3 * num_envs * num_steps, clip_vloss=False)  # 3 iterations
    sb3, permutations = learn_sb3(settings, monkeypatch)
    agent, batches, summary = train_ours_as_sb3(settings, sb3, permutations, tmp_path, monkeypatch)

    assert len(batches) == len(sb3.rollouts) == 3
    for batch, rollout in zip(batches, sb3.rollouts, strict=True):
        for key, theirs in rollout.items():
            theirs = torch.as_tensor(theirs.reshape((-1,) + theirs.shape[2:]), dtype=torch.float32)
            assert torch.allclose(batch[key], theirs, rtol=0, atol=1e-5), key
    theirs = ours_from_sb3(sb3.params[-1])
    for name, value in agent.state_dict().items():
        assert torch.allclose(value, theirs[name], rtol=0, atol=1e-6), name

    # What the comparison went through, else it would prove less than it says.
    if env_id == "Pendulum-v1":
        assert summary["episodes"] == 6  # every one cut by the time limit: 3 × 256 steps, 200 an episode
        assert any((np.abs(rollout["actions"]) > 2.0).any() for rollout in sb3.rollouts)  # clipped for the env
    else:
        assert summary["episodes"] > 20  # terminated (a fresh policy falls within ~10 steps)
