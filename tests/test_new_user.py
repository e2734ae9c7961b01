"""What a new user types, run as they type it (issue 28): an environment of their own, and the mistakes on the
way to it, each end in one line on stderr and exit code 2, never a traceback; --help piped into `head`."""

import dataclasses
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from util import (
    ROOT,
    assert_one_line_error,
    assert_resumed_schedule,
    load_script,
    newest_run_dir,
    run_script,
    script_env,
)

SCRIPTS = ["ppo_continuous.py", "ppo_discrete.py", "ppo_penalty.py", "ppo_shared_backbone.py"]

# A user's own environments, registered in a module of theirs: Box actions, Discrete actions, and images
# with Box actions (which no script here takes).
MY_ENVS = '''
import gymnasium as gym
import numpy as np


class Line(gym.Env):
    """A point on a line, pushed toward 0."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-5.0, 5.0, 1).astype(np.float32)
        return self.x, {}

    def step(self, action):
        self.x = np.clip(self.x + np.asarray(action, np.float32).reshape(1), -10.0, 10.0).astype(np.float32)
        return self.x, -float(abs(self.x[0])), False, False, {}


class Steps(Line):
    """The same point, pushed by -1 or +1."""

    action_space = gym.spaces.Discrete(2)

    def step(self, action):
        return super().step(2.0 * float(action) - 1.0)


class Frames(Line):
    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)

    def reset(self, *, seed=None, options=None):
        return np.zeros((4, 84, 84), np.uint8), {}


class Pictures(Steps):
    """Frames, with discrete actions: images, but not an Atari game's."""

    observation_space = Frames.observation_space
    reset = Frames.reset


class Broken(Line):
    def __init__(self):
        raise ValueError("a bug in the constructor")


class Unrendered(Steps):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode  # but no render()


class EmptyObs(Steps):
    observation_space = gym.spaces.Box(-1.0, 1.0, (0,), np.float32)


class EmptyAction(Line):
    action_space = gym.spaces.Box(-1.0, 1.0, (0,), np.float32)


class Labelled(Line):
    """Box actions on a Dict observation: no script here takes it."""

    observation_space = gym.spaces.Dict({"x": Line.observation_space})


class ResetRaises(Line):
    def reset(self, *, seed=None, options=None):
        raise RuntimeError("a bug in reset")


class OldApi(Line):
    def step(self, action):
        return super().step(action)[:4]  # gym's old (obs, reward, done, info); gymnasium's has 5


class WrongShape(Line):
    def step(self, action):
        return np.zeros(2, np.float32), *super().step(action)[1:]


for broken in (ResetRaises, OldApi, WrongShape):  # with Box actions, and with 2 discrete ones as Steps-...
    steps = type(f"{broken.__name__}Steps", (broken,), {"action_space": Steps.action_space})
    for env_class in (broken, steps):  # OldApi without a TimeLimit: its 4-tuple reaches the probe as it is
        gym.register(f"{env_class.__name__}-v0", entry_point=env_class, max_episode_steps=None if broken is OldApi else 20)
gym.register("Labelled-v0", entry_point=Labelled, max_episode_steps=20)
gym.register("EmptyObs-v0", entry_point=EmptyObs, max_episode_steps=20)
gym.register("EmptyAction-v0", entry_point=EmptyAction, max_episode_steps=20)
gym.register("Line-v0", entry_point=Line, max_episode_steps=20)
gym.register("Steps-v0", entry_point=Steps, max_episode_steps=20)
gym.register("Frames-v0", entry_point=Frames, max_episode_steps=20)
gym.register("Pictures-v0", entry_point=Pictures, max_episode_steps=20)
gym.register("Unrendered-v0", entry_point=Unrendered, max_episode_steps=20)
gym.register("Broken-v0", entry_point=Broken)
'''


@pytest.fixture
def my_envs(tmp_path):
    """The folder that holds the user's module my_envs.py."""
    (tmp_path / "my_envs.py").write_text(MY_ENVS)
    return tmp_path


def assert_exit_2_in_one_line(result, *fragments):
    assert_one_line_error(result, *fragments)  # one line: not even gymnasium's "Hopper-v3 is out of date"
    assert result.returncode == 2, result.stderr


TINY = {
    "ppo_continuous.py": ["--num-steps", "64", "--num-minibatches", "2", "--update-epochs", "1"],
    "ppo_shared_backbone.py": [
        "--num-envs",
        "2",
        "--num-steps",
        "32",
        "--num-minibatches",
        "2",
        "--update-epochs",
        "1",
    ],
}


@pytest.mark.parametrize(
    ("script", "env_id"), [("ppo_continuous.py", "Line-v0"), ("ppo_shared_backbone.py", "Steps-v0")]
)
def test_11_own_environment_trains_evaluates_and_resumes(my_envs, script, env_id):
    """`--env-id my_envs:Line-v0` with my_envs on PYTHONPATH: gymnasium imports the module, which registers the
    id. Training, --eval-checkpoint and --resume all work, and the run folder's name is portable (item 15)."""
    runs = my_envs / "runs"
    flags = ["--env-id", f"my_envs:{env_id}", *TINY[script], "--runs-dir", runs, "--save-model"]
    result = run_script(script, *flags, "--total-timesteps", 128, pythonpath=my_envs)
    assert result.returncode == 0, result.stderr
    (run_dir,) = runs.iterdir()
    assert run_dir.name.startswith(f"my_envs-{env_id}__"), run_dir.name  # no ':' (not a Windows file name)
    checkpoint = run_dir / "model.pt"

    result = run_script(script, "--eval-checkpoint", checkpoint, "--eval-episodes", 2, pythonpath=my_envs)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"my_envs:{env_id}: 2 episodes, return"), result.stdout

    result = run_script(script, "--resume", checkpoint, "--total-timesteps", 256, pythonpath=my_envs)
    assert result.returncode == 0, result.stderr
    assert "done: step 256 (128 steps in this run" in result.stdout, result.stdout
    assert_resumed_schedule(newest_run_dir(runs), torch.load(checkpoint, weights_only=True), 256)


@pytest.mark.parametrize("script", SCRIPTS)
def test_11_unknown_id_says_how_to_train_your_own(script):
    result = run_script(script, "--env-id", "MyEnv-v0")
    assert_exit_2_in_one_line(result, "unknown environment id 'MyEnv-v0'", "--env-id your_module:MyEnv-v0")


@pytest.mark.parametrize("script", ["ppo_continuous.py", "ppo_discrete.py", "ppo_penalty.py"])
def test_11_an_atari_id_without_ale_or_noframeskip_is_sent_to_the_atari_script(script):
    # Before, Breakout-v4 was "one of yours? --env-id your_module:Breakout-v4".
    ppo = load_script(script.removesuffix(".py"))
    with pytest.raises(ppo.UserError, match="^Breakout-v4 is an Atari game; use ppo_shared_backbone.py for it$"):
        ppo.validate(ppo.Args(env_id="Breakout-v4"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_12_module_that_does_not_import_names_it_and_pythonpath(my_envs, script):
    # Run from the folder that holds my_envs.py, but without PYTHONPATH: Python looks beside the script.
    result = run_script(ROOT / script, "--env-id", "my_envs:Line-v0", cwd=my_envs)
    assert_exit_2_in_one_line(result, "cannot import my_envs", "PYTHONPATH")


@pytest.mark.parametrize("script", SCRIPTS)
def test_12b_a_module_whose_own_import_is_missing_names_that_package(script, tmp_path, monkeypatch):
    """The module was found; a package it imports is not installed: that is what to install, not the module."""
    (tmp_path / "needs_a_package.py").write_text("import a_package_not_installed_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ppo = load_script(script.removesuffix(".py"))
    expected = "needs_a_package imports a_package_not_installed_xyz, which is not installed: pip install it$"
    with pytest.raises(ppo.UserError, match=expected):
        ppo.check_env("needs_a_package:Line-v0")


@pytest.mark.parametrize("script", SCRIPTS)
def test_12d_empty_spaces_are_refused_in_one_line(script, my_envs, monkeypatch):
    # Before: "cannot reshape tensor of 0 elements", a traceback from the network.
    monkeypatch.syspath_prepend(str(my_envs))
    ppo = load_script(script.removesuffix(".py"))
    env_id = "my_envs:EmptyAction-v0" if script in ("ppo_continuous.py", "ppo_penalty.py") else "my_envs:EmptyObs-v0"
    with pytest.raises(ppo.UserError, match="space Box.*\\(0,\\).*; this script needs .*a non-empty 1-D Box$"):
        ppo.check_env(env_id)


@pytest.mark.parametrize("script", SCRIPTS)
def test_12e_an_environment_that_fails_its_first_reset_or_step_is_one_line(script, my_envs, monkeypatch):
    """Before: a traceback from inside the first rollout (the vector env's unpacking, or its observation buffer)."""
    monkeypatch.syspath_prepend(str(my_envs))
    ppo = load_script(script.removesuffix(".py"))
    steps = "" if script in ("ppo_continuous.py", "ppo_penalty.py") else "Steps"
    for env, message in [
        (
            f"ResetRaises{steps}",
            " raised RuntimeError in its first reset or step: a bug in reset; its traceback: python",
        ),
        (
            f"OldApi{steps}",
            "'s step returns 4 values; gymnasium's returns 5: obs, reward, terminated, truncated, info$",
        ),
        (
            f"WrongShape{steps}",
            "'s step returns an observation of shape \\(2,\\), where its observation space says \\(1,\\)$",
        ),
    ]:
        with pytest.raises(ppo.UserError, match=f"^my_envs:{env}-v0{message}"):
            ppo.check_env(f"my_envs:{env}-v0")


def test_12e_the_command_line_says_it_in_one_line_before_anything_starts(my_envs):
    flags = ["--env-id", "my_envs:ResetRaisesSteps-v0", "--runs-dir", my_envs / "runs"]
    result = run_script("ppo_discrete.py", *flags, pythonpath=my_envs)
    assert_exit_2_in_one_line(result, "raised RuntimeError in its first reset or step: a bug in reset")
    assert not (my_envs / "runs").exists()


@pytest.mark.parametrize("script", SCRIPTS)
def test_12f_a_script_points_to_another_only_when_that_one_takes_the_observations(script, my_envs, monkeypatch):
    """Before: FrozenLake (Discrete observations) was sent to ppo_discrete.py, a Dict observation with Box actions
    to ppo_continuous.py, and Taxi-v3 told "Taxi-v4 runs here too": each of them refused it in turn."""
    monkeypatch.syspath_prepend(str(my_envs))
    ppo = load_script(script.removesuffix(".py"))
    for env_id in ("FrozenLake-v1", "my_envs:Labelled-v0"):
        with pytest.raises(
            ppo.UserError, match=f"^{env_id} has observation space (Discrete|Dict).*; this script needs"
        ):
            ppo.check_env(env_id)
    with pytest.raises(ppo.UserError, match="Please use `Taxi-v4` instead$"):  # no "Taxi-v4 runs here too"
        ppo.check_env("Taxi-v3")


@pytest.mark.parametrize("script", SCRIPTS)
def test_12c_more_torch_threads_than_cpus_is_refused(script):
    # Before: libgomp's "Thread creation failed" (exit 1), or a segfault, after the run folder was made.
    ppo = load_script(script.removesuffix(".py"))
    with pytest.raises(ppo.UserError, match="^--torch-threads is more than this machine's .* CPUs$"):
        ppo.validate(ppo.Args(env_id=ppo.Args().env_id, torch_threads=(os.cpu_count() or 1) + 1))


@pytest.mark.parametrize("script", SCRIPTS)
def test_13_mujoco_py_ids_gymnasium_moved_out(script):
    result = run_script(script, "--env-id", "Hopper-v3")
    assert_exit_2_in_one_line(result, "Hopper-v3 cannot be made here", "gymnasium-robotics", "-v4 and -v5")


@pytest.mark.parametrize("script", SCRIPTS)
def test_13_pusher_v4_needs_an_older_mujoco(script):
    # Before: "the MuJoCo -v4 and -v5 ids run here", of the one -v4 id that does not run with MuJoCo >= 3.
    ppo = load_script(script.removesuffix(".py"))
    with pytest.raises(ppo.UserError, match="only supported on `mujoco<3`.*; Pusher-v5 runs here$"):
        ppo.check_env("Pusher-v4")


@pytest.mark.parametrize("script", SCRIPTS)
def test_14_images_with_box_actions_no_script_here(my_envs, script):
    result = run_script(script, "--env-id", "my_envs:Frames-v0", "--runs-dir", my_envs / "runs", pythonpath=my_envs)
    assert_exit_2_in_one_line(result, "no script here handles that combination")
    assert not (my_envs / "runs").exists()


def test_14_images_that_are_not_atari_frames_are_refused(my_envs):
    """ppo_shared_backbone.py preprocesses Atari frames only (grey, 84×84, stacked by its wrappers)."""
    flags = ["--env-id", "my_envs:Pictures-v0", "--runs-dir", my_envs / "runs"]
    result = run_script("ppo_shared_backbone.py", *flags, pythonpath=my_envs)
    assert_exit_2_in_one_line(result, "has image observations but is not an Atari (ALE) game")
    assert not (my_envs / "runs").exists()


@pytest.mark.parametrize("script", SCRIPTS)
def test_15_run_folder_names_are_portable(script):
    ppo = load_script(script.removesuffix(".py"))
    env_id = "Pendulum-v1" if ppo.Args().env_id == "Hopper-v4" else "CartPole-v1"
    run = ppo.Run(ppo.Args(env_id=env_id, exp_name='a b:c*d?"e<f>g|h\\i/j'))
    assert run.name == f"{env_id}__a-b-c-d--e-f-g-h-i-j__1"  # the folder's name, but for its start's unix time


@pytest.mark.parametrize("script", SCRIPTS)
def test_15_flags_no_run_can_take_are_refused_before_anything_starts(script, tmp_path):
    """Seeds numpy cannot take (before: a traceback and a half-made run folder), an infinite coefficient (before:
    "try a lower --learning-rate" once the loss was inf), an empty path (before: silently trained), a folder
    given as a checkpoint, a --runs-dir that cannot hold a folder: one line each."""
    ppo = load_script(script.removesuffix(".py"))
    env_id = "Pendulum-v1" if ppo.Args().env_id == "Hopper-v4" else "CartPole-v1"
    cases = {
        "--seed must be in [0, 2**32)": [dict(seed=-1), dict(seed=2**32)],
        "--ent-coef must be a finite number": [dict(ent_coef=float("inf"))],
        "--gamma must be a finite number": [dict(gamma=float("nan"))],  # before: "must be in [0, 1]"
        "--learning-rate must be a finite number": [dict(learning_rate=float("nan"))],  # before: "must be positive"
        "--runs-dir, --resume and --eval-checkpoint need a path": [dict(runs_dir=""), dict(resume="")]
        + [dict(eval_checkpoint="")],  # --runs-dir '' (an unset variable): before, run folders in the current one
    }
    for message, flags in cases.items():
        for flag in flags:
            with pytest.raises(ppo.UserError, match=re.escape(message)):
                ppo.validate(ppo.Args(env_id=env_id, **flag))
    ppo.validate(ppo.Args(env_id=env_id, seed=2**32 - 1))
    with pytest.raises(ppo.UserError, match=f"checkpoint {tmp_path} is a folder; pass the model.pt"):
        ppo.load_checkpoint(str(tmp_path))
    (tmp_path / "a_file").touch()
    with pytest.raises(ppo.UserError, match="cannot make the run folder .*: Not a directory; pass another --runs-dir"):
        ppo.Run(ppo.Args(env_id=env_id, runs_dir=str(tmp_path / "a_file"))).__enter__()
    with pytest.raises(ppo.UserError, match="cannot make the run folder .*: File name too long; pass a shorter --exp"):
        ppo.Run(ppo.Args(env_id=env_id, runs_dir=str(tmp_path), exp_name="x" * 300)).__enter__()
    for malformed in (":MyEnv-v0", "my_module:", "a:b:MyEnv-v0"):  # before: "making ... raised ValueError"
        with pytest.raises(ppo.UserError, match="write your module and your id as my_module:MyEnv-v0$"):
            ppo.make_probe_env(malformed)


@pytest.mark.parametrize("script", SCRIPTS)
def test_15_a_rollout_too_large_for_memory_is_one_line(script):
    """Before: numpy's _ArrayMemoryError traceback from the rollout buffer's allocation. 10^16 steps of
    observations: more than a 64-bit machine can address (57 bits), so no overcommit lets it through."""
    defaults = load_script(script.removesuffix(".py")).Args()
    minibatch = defaults.num_envs * defaults.num_steps // defaults.num_minibatches  # kept: no line about M
    env_id = "Pendulum-v1" if defaults.env_id == "Hopper-v4" else "CartPole-v1"
    flags = ["--num-envs", "1", "--num-steps", f"{10**16}", "--num-minibatches", f"{10**16 // minibatch}"]
    result = run_script(script, "--env-id", env_id, *flags, "--total-timesteps", f"{10**16}")
    assert_exit_2_in_one_line(result, "out of memory: Unable to allocate", "lower --num-steps or --num-envs")


def test_15_a_module_or_environment_that_raises_is_one_line_and_says_how_to_see_the_traceback(my_envs):
    (my_envs / "broken_envs.py").write_text("raise RuntimeError('a bug in the module')\n")
    result = run_script("ppo_discrete.py", "--env-id", "broken_envs:X-v0", pythonpath=my_envs)
    message = "making broken_envs:X-v0 raised RuntimeError: a bug in the module; its traceback: python -c"
    assert_exit_2_in_one_line(result, message)
    result = run_script("ppo_discrete.py", "--env-id", "my_envs:Broken-v0", pythonpath=my_envs)
    assert_exit_2_in_one_line(result, "making my_envs:Broken-v0 raised ValueError: a bug in the constructor")


def test_15_an_env_that_cannot_render_is_not_told_about_mujoco(my_envs):
    """--capture-video on an env with no render(), or no render_mode: one line each, without the MUJOCO_GL hint,
    which only a MuJoCo env can use (test_continuous.py checks that one gets it); the command that shows the
    traceback makes the env as --capture-video did."""
    pytest.importorskip("moviepy", reason="--capture-video needs moviepy (requirements-dev.txt installs it)")
    result = run_script("ppo_discrete.py", "--env-id", "my_envs:Unrendered-v0", "--capture-video", pythonpath=my_envs)
    assert_exit_2_in_one_line(result, "--capture-video: my_envs:Unrendered-v0 cannot render (NotImplementedError")
    assert "MUJOCO_GL" not in result.stderr
    result = run_script("ppo_discrete.py", "--env-id", "my_envs:Steps-v0", "--capture-video", pythonpath=my_envs)
    made = "gym.make('my_envs:Steps-v0', render_mode='rgb_array')"
    assert_exit_2_in_one_line(result, "making my_envs:Steps-v0 raised TypeError: Steps() takes no arguments", made)
    assert "MUJOCO_GL" not in result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_16_help_into_a_closed_pipe_is_quiet_and_starts_with_a_description(script):
    # `--help | head`: the reader goes before the help is written. Closing our end first makes it certain.
    process = subprocess.Popen(
        [sys.executable, str(ROOT / script), "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=script_env(),
    )
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141 and err == "", err  # 128 + SIGPIPE, as the shell's own tools
    lines = run_script(script, "--help").stdout.splitlines()
    assert lines[0].startswith("usage:") and lines[2].startswith("PPO-"), lines[:3]  # what the script is


def test_17_train_leaves_threads_determinism_and_random_states_as_it_found_them(tmp_path, monkeypatch):
    """Items 7 and 17: during training torch's deterministic algorithms are on (--torch-deterministic); when
    train() returns, the caller's threads, determinism and global random streams are what they were."""
    ppo = load_script("ppo_continuous")
    deterministic, update = [], ppo.update
    monkeypatch.setattr(
        ppo, "update", lambda *a: deterministic.append(torch.are_deterministic_algorithms_enabled()) or update(*a)
    )
    args = ppo.Args(env_id="Pendulum-v1", num_steps=64, num_minibatches=2, update_epochs=1, total_timesteps=128)
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    expected = random.random(), np.random.random(), torch.rand(1).item()
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    try:
        ppo.train(dataclasses.replace(args, runs_dir=str(tmp_path)))
        assert deterministic == [True, True]
        assert torch.get_num_threads() == threads + 1 and not torch.are_deterministic_algorithms_enabled()
        assert (random.random(), np.random.random(), torch.rand(1).item()) == expected
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_resumed_run_draws_new_random_streams_the_same_on_a_rerun(script, tmp_path, monkeypatch):
    """Resumed with --seed alone, a run replayed the random streams of its start: the envs' reset seeds, the
    actions' noise (the actors' generator, seeded as the envs) and torch's minibatches, in every segment of a
    long campaign. A resume seeds them from (--seed, step): new, and the same when the same checkpoint is resumed
    again. Seen here: the seed the envs are reset with, and torch's seed during the update."""
    ppo = load_script(script.removesuffix(".py"))
    seen, make_vector_env, update = [], ppo.make_vector_env, ppo.update

    def spied_envs(*args, **kwargs):
        envs = make_vector_env(*args, **kwargs)
        reset = envs.reset
        envs.reset = lambda **kw: seen.append(("reset", kw.get("seed"))) or reset(**kw)
        return envs

    monkeypatch.setattr(ppo, "make_vector_env", spied_envs)
    monkeypatch.setattr(ppo, "update", lambda *a: seen.append(("update", torch.initial_seed())) or update(*a))
    env_id = "Pendulum-v1" if ppo.Args().env_id == "Hopper-v4" else "CartPole-v1"
    tiny = dict(env_id=env_id, num_envs=2, num_steps=32, num_minibatches=2, update_epochs=1, seed=5)
    first = ppo.train(ppo.Args(**tiny, total_timesteps=64, save_model=True, runs_dir=str(tmp_path / "a")))
    assert seen == [("reset", 5), ("update", 5)]
    streams = []
    for rerun in ("b", "c"):
        seen.clear()
        ppo.train(ppo.Args(**tiny, total_timesteps=128, resume=first["checkpoint"], runs_dir=str(tmp_path / rerun)))
        (_, seed), (_, torch_seed) = seen
        assert seed == torch_seed and seed not in (5, 6), seen  # not the run's start (nor its second env's)
        streams.append(seed)
    assert streams[0] == streams[1] == int(np.random.SeedSequence((5, 64)).generate_state(1)[0])


def python_without(*modules: str, then: str) -> subprocess.CompletedProcess:
    """Runs the Python code `then` from the repository's root as if `modules` were not installed (an import of
    one raises ModuleNotFoundError)."""
    code = f"import sys\nfor name in {modules!r}:\n    sys.modules[name] = None\n{then}"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=script_env(), capture_output=True, text=True)


def tiny_args(module: str, runs_dir) -> str:
    """Code for a 64-step run's Args of a script imported as `module`."""
    env_id = "Pendulum-v1" if load_script(module).Args().env_id == "Hopper-v4" else "CartPole-v1"
    args = f"env_id={env_id!r}, num_envs=1, num_steps=64, num_minibatches=2, update_epochs=1, total_timesteps=64"
    return f"{module}.Args({args}, runs_dir={str(runs_dir)!r})"


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_file_copied_into_code_trains_without_tyro(script, tmp_path):
    """Copied into someone's research code, a script's train() does not need tyro, which only its command line
    uses; that command line without tyro ends in one line. Before: a ModuleNotFoundError traceback at import."""
    module = script.removesuffix(".py")
    main = f"try:\n    {module}.main([])\nexcept SystemExit as e:\n    print('exit', e.code)"
    result = python_without(
        "tyro", then=f"import {module}\nprint({module}.train({tiny_args(module, tmp_path)})['global_step'])\n{main}"
    )
    assert result.stdout.splitlines()[-2:] == ["64", "exit 2"], result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"{module}: error: the command line needs tyro: pip install tyro"


def test_a_run_without_tensorboard_is_one_line_before_its_folder(tmp_path):
    """Run, the same text in the four scripts, imports tensorboard where a run's logs start."""
    runs_dir = tmp_path / "runs"
    result = python_without(
        "tensorboard", then=f"import ppo_discrete\nppo_discrete.train({tiny_args('ppo_discrete', runs_dir)})"
    )
    assert "UserError: the run's logs need tensorboard: pip install tensorboard" in result.stderr
    assert not runs_dir.exists()  # refused before its run folder was made


@pytest.mark.parametrize("script", SCRIPTS)
def test_args_from_your_code_are_taken_as_the_command_line_gives_them(script, tmp_path):
    """Args built in code: a loop over np.arange made the run folder, then failed writing args.json (a writer
    thread left behind); a Path did the same; total_timesteps=1e6 ran on a float budget; an eval_checkpoint
    trained a new model. Now numpy's numbers and Paths are taken as Python's, a whole float as an int, and what
    no run can take is one line before any folder."""
    ppo = load_script(script.removesuffix(".py"))
    with pytest.raises(ppo.UserError, match=r"evaluated by evaluate\(path, episodes\)"):
        ppo.train(ppo.Args(eval_checkpoint="model.pt", runs_dir=str(tmp_path)))
    with pytest.raises(ppo.UserError, match=r"Args.num_envs = 1.5: a whole number is meant"):
        ppo.train(ppo.Args(num_envs=1.5, runs_dir=str(tmp_path)))
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    env_id = "Pendulum-v1" if ppo.Args().env_id == "Hopper-v4" else "CartPole-v1"
    # every whole number as a float, as 1e6 is: the loop's shapes and ranges too, not only the budget
    whole = dict(num_envs=1.0, num_steps=64.0, num_minibatches=2.0, update_epochs=1.0, total_timesteps=64.0)
    given = dict(seed=np.int64(2), gamma=np.float32(0.99), runs_dir=tmp_path)  # float32: 0.9900000095367432
    summary = ppo.train(ppo.Args(env_id=env_id, **whole, **given, save_model=True))
    saved = json.loads((Path(summary["run_dir"]) / "args.json").read_text())
    assert (saved["seed"], saved["gamma"], saved["total_timesteps"], saved["runs_dir"]) == (2, 0.99, 64, str(tmp_path))
    assert torch.load(summary["checkpoint"], weights_only=True)["args"] == saved
    assert type(saved["total_timesteps"]) is int and type(saved["seed"]) is int  # json: 64, not 64.0


def test_your_environments_error_keeps_its_traceback_when_you_call_train(tmp_path):
    """An id registered in your own process has no command that shows its traceback: the UserError carries it."""
    import gymnasium as gym

    ppo = load_script("ppo_discrete")

    class Broken(gym.Env):
        def __init__(self):
            raise ValueError("a bug in the constructor")

    gym.register("BrokenInYourCode-v0", entry_point=Broken)
    try:
        with pytest.raises(ppo.UserError, match="raised ValueError: a bug in the constructor") as error:
            ppo.train(ppo.Args(env_id="BrokenInYourCode-v0", runs_dir=str(tmp_path)))
    finally:
        del gym.registry["BrokenInYourCode-v0"]
    assert isinstance(error.value.__cause__, ValueError)
