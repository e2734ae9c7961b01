"""ppo_continuous.py, ppo_discrete.py, ppo_shared_backbone.py and Stable-Baselines3's PPO at the same settings:
one algorithm, step for step.

benchmark/sb3_ppo.py gives SB3 our hyperparameters (the peer of issue 15). Its docstring lists where the
two differ: value clipping's form, and the random streams (action noise, minibatch order, initialization).
With the value loss unclipped, nothing else should: the rollout (observation and reward normalization, the
bootstrap at a time limit, actions clipped only on their way to the environment), GAE, the annealed
stepsize, the entropy bonus and the minibatch updates, for a Gaussian policy and for a categorical one; and
for ppo_shared_backbone.py, Eq. (9)'s sum on one trunk (SB3's shared features extractor) with Table 5's c1 = 1
and ε = 0.1 × α: its MLP trunk on CartPole, and the Atari campaign's setting itself, the Nature CNN on Breakout's
frames through baselines' wrappers (SB3's CnnPolicy and AtariWrapper) at Table 5's settings.
This test takes the random streams away and checks that claim: SB3 learns for three iterations; then our
train() runs from SB3's initial weights, takes SB3's actions and its minibatches, and must reach the same
observations, actions, log-probs, values, advantages, returns and final parameters, up to float32 rounding
(the two order their sums differently). So, as far as three iterations show, the two differ in their
random streams alone: a gap between them over seeds is seed-to-seed variance, not a difference in the
algorithm. (Over longer runs the float rounding grows chaotically, as between two runs of ours with the
rollout's forward pass in numpy and in torch, and a step-for-step comparison says no more.)

Each of these changes fails it (tried): in ppo_continuous.py a time-limit cut bootstrapped from 0 instead
of V(final observation), the reward scaler's ε 1e-2 instead of 1e-8, the stepsize annealed by one step
more; in ppo_discrete.py the time-limit bootstrap from 0, the entropy bonus 0.9·c2; in ppo_shared_backbone.py
the value loss halved (c1 = 0.5 in effect), ε not annealed, ε's upper bound 1.05·ε, the entropy bonus 0.9·c2,
no gradient clipping, the stepsize annealed by one step more, the time-limit bootstrap from 0, the advantage
normalization's 1e-8 as 1e-3; on Breakout, frames scaled by 1/256, no life-loss terminations, no FIRE at the
reset, λ 0.9·0.95, and the value loss halved and the entropy bonus 0.9·c2 again.
"""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from util import load_script, only_run_dir, read_scalars

pytest.importorskip("stable_baselines3", reason="compares with SB3's PPO: pip install -r requirements-dev.txt")
import sb3_ppo  # noqa: E402  (benchmark/, on the path through util)
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_atari_env  # noqa: E402
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor  # noqa: E402
from stable_baselines3.common.vec_env import VecFrameStack  # noqa: E402

SCRIPTS = {name: load_script(name) for name in ("ppo_continuous", "ppo_discrete", "ppo_shared_backbone")}
BUFFER = {"obs": "observations", "actions": "actions", "logprobs": "log_probs", "values": "values"}
BUFFER |= {"advantages": "advantages", "returns": "returns"}
# CartPole cut at 15 steps: episodes that end by termination and by the time limit, in the same rollout.
gym.register(
    "tests/CartPole15-v0", entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv", max_episode_steps=15
)


class Trunk(BaseFeaturesExtractor):
    """ppo_shared_backbone.py's trunk for vector observations, 2×64 tanh, as SB3's features extractor: shared by
    SB3's policy and value heads (share_features_extractor), which have no layers of their own (net_arch=[])."""

    def __init__(self, observation_space):
        super().__init__(observation_space, 64)
        nn = torch.nn
        self.net = nn.Sequential(nn.Linear(observation_space.shape[0], 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())

    def forward(self, obs):
        return self.net(obs)


def ours_from_sb3(state: dict) -> dict:
    """SB3's parameters under our names: MlpPolicy's separate 2×64 networks as ppo_continuous.py's Gaussian
    (a mean network and a log-std) or ppo_discrete.py's categorical (a logits network); the shared Trunk and
    the two heads on it as ppo_shared_backbone.py's Agent."""
    if "features_extractor.net.0.weight" in state or "features_extractor.cnn.0.weight" in state:
        layers = {"trunk.0": "features_extractor.net.0", "trunk.2": "features_extractor.net.2"}
        if "features_extractor.cnn.0.weight" in state:  # CnnPolicy's NatureCNN: 3 convolutions, a linear layer
            layers = {f"trunk.{i}": f"features_extractor.cnn.{i}" for i in (0, 2, 4)}
            layers["trunk.7"] = "features_extractor.linear.0"
        layers |= {"actor": "action_net", "critic": "value_net"}
        return {f"{o}.{w}": state[f"{s}.{w}"].clone() for o, s in layers.items() for w in ("weight", "bias")}
    actor = "actor_mean" if "log_std" in state else "actor"
    layers = {"critic.0": "mlp_extractor.value_net.0", "critic.2": "mlp_extractor.value_net.2", "critic.4": "value_net"}
    layers |= {f"{actor}.0": "mlp_extractor.policy_net.0", f"{actor}.2": "mlp_extractor.policy_net.2"}
    layers |= {f"{actor}.4": "action_net"}
    ours = {f"{o}.{w}": state[f"{s}.{w}"].clone() for o, s in layers.items() for w in ("weight", "bias")}
    return ours | ({"actor_logstd": state["log_std"].clone()[None]} if "log_std" in state else {})


class Record(BaseCallback):
    """SB3's parameters before each rollout and after the last update, and each rollout's buffer (T, N, ...)."""

    def __init__(self):
        super().__init__()
        self.params, self.rollouts, self.rewards, self.episode_starts = [], [], [], []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        self.params.append(copy.deepcopy(self.model.policy.state_dict()))

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        self.rollouts.append({ours: getattr(buffer, theirs).copy() for ours, theirs in BUFFER.items()})
        self.rewards.append(buffer.rewards.copy())
        self.episode_starts.append(buffer.episode_starts.copy())

    def _on_training_end(self) -> None:
        self.params.append(copy.deepcopy(self.model.policy.state_dict()))


def learn_sb3(settings: dict, monkeypatch, policy="MlpPolicy", **overrides) -> tuple[Record, list[np.ndarray]]:
    """SB3 set up by benchmark/sb3_ppo.py (`overrides`: SB3's arguments it sets otherwise); returns what it did
    and the permutations its minibatches came from."""
    args = sb3_ppo.Args(**settings)
    if policy == "CnnPolicy":  # SB3's Atari wrappers, baselines' (tests/test_atari_preprocessing.py: our frames)
        envs = VecFrameStack(make_atari_env(args.env_id, n_envs=args.num_envs, seed=args.seed), n_stack=4)
    else:
        envs = sb3_ppo.make_envs(args)
    model = sb3_ppo.make_model(args, envs, args.total_timesteps, policy, **overrides)
    record, permutations, permutation = Record(), [], np.random.permutation

    def recorded_permutation(n):  # SB3's RolloutBuffer.get draws each epoch's order from numpy's global stream
        permutations.append(permutation(n))
        return permutations[-1].copy()

    monkeypatch.setattr(np.random, "permutation", recorded_permutation)
    model.learn(args.total_timesteps, callback=record)
    monkeypatch.setattr(np.random, "permutation", permutation)
    return record, permutations


def train_ours_as_sb3(ppo, settings: dict, sb3: Record, permutations: list, tmp_path, monkeypatch):
    """Our train() from SB3's initial weights, with SB3's actions and minibatches; returns the agent, the
    flattened batch of each iteration (time-major: sample t·N + i), and its summary."""
    n, t_steps = settings["num_envs"], settings["num_steps"]
    agents, batches, actions = [], [], iter(a for rollout in sb3.rollouts for a in rollout["actions"])
    make_agent, flatten_batch = ppo.Agent, ppo.flatten_batch
    continuous = hasattr(ppo, "sample_gaussian")
    sample = ppo.sample_gaussian if continuous else getattr(ppo, "sample_categorical", None)

    def sb3_agent(*dims):
        agents.append(make_agent(*dims))
        agents[-1].load_state_dict(ours_from_sb3(sb3.params[0]))
        return agents[-1]

    def sb3_action(mean, log_std, rng):  # SB3's action as it is (the environment sees the same float32 bits)
        action = next(actions)
        noise = (action - mean) / np.exp(log_std)
        return action, sample(mean, log_std, Draws(noise=noise))[1]

    def sb3_choice(logits, rng):  # SB3's action; our sampler's log-prob, from a uniform draw that picks it
        action = next(actions)[:, 0].astype(np.int64)
        chosen, logprob = sample(logits, Draws(action=action, logits=logits))
        assert (chosen == action).all()
        return chosen, logprob

    def sb3_draw(probs, num_samples, replacement):  # ppo_shared_backbone.py's Agent.act draws with torch
        return torch.as_tensor(next(actions)[:, :1].astype(np.int64))

    def sb3_minibatches(size, device=None):  # SB3 flattens env-major (sample i·T + t); ours is time-major
        env, t = np.divmod(next(orders), t_steps)
        return torch.as_tensor(t * n + env, device=device)

    def recorded_batch(*args, **kwargs):
        batches.append(flatten_batch(*args, **kwargs))
        return batches[-1]

    orders = iter(permutations)
    monkeypatch.setattr(ppo, "Agent", sb3_agent)
    if continuous:
        monkeypatch.setattr(ppo, "sample_gaussian", sb3_action)
    elif sample:
        monkeypatch.setattr(ppo, "sample_categorical", sb3_choice)
    else:  # our log-prob of SB3's action, from the logits as ours computes them
        monkeypatch.setattr(torch, "multinomial", sb3_draw)
    monkeypatch.setattr(ppo, "flatten_batch", recorded_batch)
    monkeypatch.setattr(torch, "randperm", sb3_minibatches)
    summary = ppo.train(ppo.Args(**settings, runs_dir=str(tmp_path)))
    assert next(actions, None) is None and next(orders, None) is None  # every action and minibatch replayed
    return agents[0], batches, summary


class Draws:
    """A stand-in for the rollout's numpy generator: the Gaussian noise given, or for a categorical the
    uniform draw that falls in the middle of `action`'s interval of the cumulative probabilities."""

    def __init__(self, noise=None, action=None, logits=None):
        self.noise, self.action, self.logits = noise, action, logits

    def standard_normal(self, shape, dtype):
        return self.noise.astype(dtype).reshape(shape)

    def random(self, shape, dtype):
        probs = np.exp(self.logits - self.logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        rows = np.arange(len(self.action))
        upper = probs.cumsum(-1)[rows, self.action]  # the action's interval is [upper - its probability, upper)
        return (upper - probs[rows, self.action] / 2).astype(dtype).reshape(shape)


CASES = {  # script, its settings (beyond the defaults both share), SB3's own (norm_* are ppo_continuous.py's)
    "Pendulum": ("ppo_continuous", dict(env_id="Pendulum-v1", num_envs=2, num_steps=256), {}),
    "IDP": ("ppo_continuous", dict(env_id="InvertedDoublePendulum-v4", num_envs=1, num_steps=512), {}),
    # ppo_discrete.py's defaults: N = 4, T = 128, 2.5e-4, K = 4, 4 minibatches, c2 = 0.01, no normalization.
    "CartPole": (
        "ppo_discrete",
        dict(env_id="tests/CartPole15-v0", num_envs=4, num_steps=128, learning_rate=2.5e-4, update_epochs=4)
        | dict(num_minibatches=4, ent_coef=0.01),
        dict(norm_obs=False, norm_reward=False),
    ),
    # ppo_shared_backbone.py's defaults, Table 5's: N = 8, T = 128, K = 3, 4 minibatches, ε = 0.1 × α, c1 = 1 on
    # the unhalved squared error (SB3's vf_coef on its MSE), c2 = 0.01; one trunk under both heads. The stepsize
    # 10× Table 5's 2.5e-4 × α, so that in three iterations the annealed ε clips ratios (at 2.5e-4 none moves that far).
    "SharedTrunk": (
        "ppo_shared_backbone",
        dict(env_id="tests/CartPole15-v0", num_envs=8, num_steps=128, learning_rate=2.5e-3, update_epochs=3)
        | dict(num_minibatches=4, clip_coef=0.1, ent_coef=0.01, vf_coef=1.0),
        dict(norm_obs=False, norm_reward=False),
    ),
    # Breakout at Table 5's settings, as the Atari campaign runs it: the Nature CNN as the trunk (SB3's CnnPolicy),
    # baselines' Atari wrappers on both sides (lives lost as terminations, rewards' signs, frames / 255). The
    # CNN's float rounding (channels-last kernels here, x * (1/255) where SB3 divides) grows through Adam: after
    # three updates the two differ by up to 3.5e-5 with AVX2 or AVX-512 kernels, 1.5e-4 with none (ATen's
    # default, MKL's SSE4.2, oneDNN's SSE4.1), against 1.1e-3 (parameters) and 1.7e-3 (rollouts) for the
    # smallest mutant tried (c2 0.9×): both are held to 3e-4.
    "SharedTrunkBreakout": (
        "ppo_shared_backbone",
        dict(env_id="BreakoutNoFrameskip-v4", num_envs=8, num_steps=128, learning_rate=2.5e-4, update_epochs=3)
        | dict(num_minibatches=4, clip_coef=0.1, ent_coef=0.01, vf_coef=1.0),
        dict(norm_obs=False, norm_reward=False),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_ours_is_sb3_step_for_step(case, tmp_path, monkeypatch):
    script, settings, sb3_only = CASES[case]
    settings = dict(num_minibatches=8) | settings | dict(seed=3, clip_vloss=False)
    settings |= dict(total_timesteps=3 * settings["num_envs"] * settings["num_steps"])  # 3 iterations
    overrides = {}
    if script == "ppo_shared_backbone":  # SB3's heads on one shared trunk; ε annealed as the stepsize (Table 5)
        n_t, steps = settings["num_envs"] * settings["num_steps"], settings["total_timesteps"]
        overrides["clip_range"] = sb3_ppo.Annealed(settings["clip_coef"], n_t, steps, steps)
        if "Breakout" in case:  # CnnPolicy: the NatureCNN, shared, heads without layers of their own (net_arch=[])
            overrides["policy"] = "CnnPolicy"
            SCRIPTS[script].register_ale()  # the NoFrameskip-v4 ids, for SB3 too
        else:
            kwargs = dict(features_extractor_class=Trunk, share_features_extractor=True, net_arch=[])
            overrides["policy_kwargs"] = kwargs | dict(optimizer_kwargs=dict(eps=1e-5))
    sb3, permutations = learn_sb3(settings | sb3_only, monkeypatch, **overrides)
    ppo = SCRIPTS[script]
    agent, batches, summary = train_ours_as_sb3(ppo, settings, sb3, permutations, tmp_path, monkeypatch)

    assert len(batches) == len(sb3.rollouts) == 3
    rollout_atol, params_atol = (3e-4, 3e-4) if "Breakout" in case else (1e-5, 1e-6)  # Breakout: see CASES
    for batch, rollout in zip(batches, sb3.rollouts, strict=True):
        for key, theirs in rollout.items():  # (T, N, ...) flattened time-major, as ours
            theirs = torch.as_tensor(theirs.reshape(batch[key].shape), dtype=torch.float32)
            assert torch.allclose(batch[key].float(), theirs, rtol=0, atol=rollout_atol), key
    theirs = ours_from_sb3(sb3.params[-1])
    for name, value in agent.state_dict().items():
        assert torch.allclose(value, theirs[name], rtol=0, atol=params_atol), name

    # What the comparison went through, else it would prove less than it says.
    lengths = [length for _, length in read_scalars(only_run_dir(tmp_path))["charts/episodic_length"]]
    if case == "Pendulum":  # two actors, each cut 3 times by the 200-step time limit; actions beyond ±2
        assert lengths == [200] * 6
        assert any((np.abs(rollout["actions"]) > 2.0).any() for rollout in sb3.rollouts)  # clipped for the env
    elif case == "IDP":  # the benchmark's environment: a fresh policy falls within ~10 steps
        assert len(lengths) > 20 and max(lengths) < 1000
    elif case == "SharedTrunkBreakout":  # points scored (reward signs) and lives lost (terminations)
        assert any((rewards == 1).any() for rewards in sb3.rewards)
        assert sum(starts.sum() for starts in sb3.episode_starts) > 8  # beyond the first observations
    else:  # the actors' episodes terminate and are cut at 15 steps
        assert 15 in lengths and min(lengths) < 15
    if case == "SharedTrunk":  # the annealed ε (0.1 × 2/3, 0.1 × 1/3) clipped ratios in the 2nd and 3rd updates
        clipfracs = [clipfrac for _, clipfrac in read_scalars(only_run_dir(tmp_path))["losses/clipfrac"]]
        assert len(clipfracs) == 3 and min(clipfracs[1:]) > 0
