"""Helpers the test files share: load a script as a module, run it as a user would, read its logs.
Loading a script and reading TensorBoard events are benchmark/'s own (repo.py, run_folders.py)."""

import csv
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmark"))
import run_folders  # noqa: E402
from repo import load_script  # noqa: E402, F401  (the test files import it from here)


@contextmanager
def signal_handlers(handler=None):
    """The test's own Ctrl-C and SIGTERM handlers, restored after: what a run that a signal stopped hands it on
    to once saved. Without `handler`, each signal is recorded in the list yielded (SIGTERM's default, the end of
    the process, would end pytest's worker)."""
    caught = []
    handler = handler or (lambda signum, frame: caught.append(signal.Signals(signum).name))
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def script_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env.pop("PYTHONPATH", None)
    return env


def run_script(script, *args: str, cwd=None, timeout: float = 300, pythonpath=None) -> subprocess.CompletedProcess:
    """Run a script in a fresh interpreter, as a user would from the shell (with PYTHONPATH when given)."""
    script = Path(script) if Path(script).is_absolute() else ROOT / script
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        cwd=cwd or ROOT,
        env=script_env() | ({"PYTHONPATH": str(pythonpath)} if pythonpath else {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def csv_rows(path) -> list[dict[str, str]]:
    """The rows of a CSV the report wrote (results/<suite>.csv), as text, by column name."""
    with open(path) as f:
        return list(csv.DictReader(f))


def read_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of a run's TensorBoard events, as {tag: [(step, value), ...]}."""
    return {tag: [(e.step, e.value) for e in events] for tag, events in run_folders.read_scalars(run_dir).items()}


def assert_resumed_schedule(run_dir, checkpoint: dict, total_timesteps: int) -> None:
    """A resumed run goes on from the checkpoint's step: its first update is logged one rollout later, at
    the stepsize annealing gives there (lr × (1 - step / total)), not at the start of the schedule."""
    args, start = checkpoint["args"], checkpoint["global_step"]
    step, lr = read_scalars(run_dir)["charts/learning_rate"][0]
    assert step == start + args["num_envs"] * args["num_steps"], (step, start)
    assert abs(lr - args["learning_rate"] * (1 - start / total_timesteps)) < 1e-9, lr


def newest_run_dir(runs_dir) -> Path:
    return max((p for p in Path(runs_dir).iterdir() if p.is_dir()), key=lambda p: p.name.rsplit("__", 1)[1])


def only_run_dir(runs_dir) -> Path:
    runs = [p for p in Path(runs_dir).iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


TENSORBOARD_KEYS = {
    "charts/episodic_return",
    "charts/episodic_length",
    "charts/learning_rate",
    "charts/SPS",
    "losses/policy_loss",
    "losses/value_loss",
    "losses/entropy",
    "losses/approx_kl",
    "losses/clipfrac",
    "losses/explained_variance",
}


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A user's mistake ends in one clear line on stderr, a non-zero exit, and no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0].lower(), result.stderr
    for fragment in fragments:
        assert fragment.lower() in result.stderr.lower(), result.stderr


def write_events(folder: Path, episodes: list[tuple[int, float]], update_steps: list[int]) -> None:
    """TensorBoard events as a script logs them: episodic returns, and charts/SPS once per update."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    for step, value in episodes:
        writer.add_scalar("charts/episodic_return", value, step)
    for step in update_steps:
        writer.add_scalar("charts/SPS", 1000.0, step)
    writer.close()


def evaluate_recording(
    ppo, monkeypatch, checkpoint: dict, action_space, episodes: int = 2, ctrl_c_at: int = 0
) -> tuple[list[float], list[float], list[int | None]]:
    """A script's evaluate() on `checkpoint` over `episodes` episodes of an env that ends after 10 steps of
    reward 1: the returns, each action the env received (its first component), and the seed of each reset
    (evaluate's default seed is 1). With `ctrl_c_at`, Ctrl-C comes in that step."""
    import gymnasium as gym
    import numpy as np

    actions, resets = [], []

    class Recorder(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            resets.append(seed)
            return self.observation_space.sample(), {}

        def step(self, action):
            actions.append(float(np.asarray(action).ravel()[0]))
            if len(actions) == ctrl_c_at:
                raise KeyboardInterrupt
            self.t += 1
            ended = self.t == 10
            info = {"episode": {"r": 1.0 * self.t}} if ended else {}  # the game's score, as Atari's wrappers give it
            return self.observation_space.sample(), 1.0, ended, False, info

    Recorder.action_space = action_space
    monkeypatch.setattr(ppo, "load_checkpoint", lambda path: checkpoint)
    monkeypatch.setattr(ppo, "check_env", lambda env_id: None)
    monkeypatch.setattr(ppo, "make_env", lambda *args, **kwargs: Recorder)
    try:
        return ppo.evaluate("model.pt", episodes=episodes), actions, resets
    except KeyboardInterrupt:  # escaped evaluate(): a failed test, not pytest's whole session stopped
        raise AssertionError("Ctrl-C escaped evaluate(): the returns of the episodes finished were lost") from None


def actions_received(ppo, agent, action_space, steps: int = 30) -> tuple[list[int], list[int]]:
    """A discrete script's rollout of `steps` steps in an env with `action_space` (such as Discrete(3, start=-1)):
    the actions the env received, and those the rollout stored (π's indices, from 0)."""
    import gymnasium as gym
    import numpy as np

    received = []

    class Recorder(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(4, np.float32), {}

        def step(self, action):
            received.append(int(action))
            return np.zeros(4, np.float32), 0.0, False, False, {}

    Recorder.action_space = action_space
    envs = gym.vector.SyncVectorEnv([Recorder], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    rollout = ppo.Actors(envs, 0).collect(agent, steps)
    envs.close()
    return received, rollout.actions[:, 0].tolist()


def standard_gaussian_agent(ppo):
    """A Gaussian script's Agent on 2-D observations and 1-D actions whose policy is N(0, 1) and value 3 in
    every state, for losses computed by hand."""
    import torch

    agent = ppo.Agent(2, 1)
    with torch.no_grad():
        for head, bias in ((agent.actor_mean[-1], 0.0), (agent.critic[-1], 3.0)):
            head.weight.zero_()
            head.bias.fill_(bias)
        agent.actor_logstd.zero_()
    return agent
