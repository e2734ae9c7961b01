"""ppo_discrete.py: the categorical policy's math against hand values, the time-limit bootstrap, short
runs as a user makes them, the file copied alone, bad input, Ctrl-C, and learning CartPole-v1."""

import json
import os
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
    signal_handlers,
)

SCRIPT = "ppo_discrete.py"
ppo = load_script("ppo_discrete")


def agent_with_logits(obs_dim: int, logits: list[float]):
    """An agent whose policy gives these logits in every state: the last actor layer's weights are 0."""
    agent = ppo.Agent(obs_dim, len(logits))
    with torch.no_grad():
        agent.actor[-1].weight.zero_()
        agent.actor[-1].bias.copy_(torch.tensor(logits))
    return agent


# ---------------------------------------------------------------------------------------------
# The categorical policy: the log-probabilities in r_t(θ) of Eq. (6)-(7) and the entropy S of Eq. (9)
# ---------------------------------------------------------------------------------------------


def test_defaults_are_huang_et_al_classic_control_settings():
    """Not the paper's (it has no classic-control table): Huang et al. (2022)'s CartPole settings, entry by entry:
    N = 4, T = 128, stepsize 2.5e-4 annealed, K = 4, 4 minibatches, γ = 0.99, λ = 0.95, ε = 0.2 constant,
    c2 = 0.01, ppo2's value weight (0.5 on a halved error: 0.25 here), gradient norm 0.5, 500k steps."""
    args = ppo.Args()
    assert (args.num_envs, args.num_steps, args.learning_rate, args.anneal_lr) == (4, 128, 2.5e-4, True)
    assert (args.update_epochs, args.num_minibatches, args.gamma, args.gae_lambda) == (4, 4, 0.99, 0.95)
    assert (args.clip_coef, args.ent_coef, args.vf_coef, args.max_grad_norm) == (0.2, 0.01, 0.25, 0.5)
    assert args.total_timesteps == 500_000


def test_log_prob_and_entropy_match_hand_values():
    # logits [0, ln 2, ln 3]: softmax = [1, 2, 3] / 6
    agent = agent_with_logits(4, [0.0, float(np.log(2.0)), float(np.log(3.0))])
    obs = torch.randn(3, 4)
    logprob, entropy, value = agent.get_logprob_entropy_value(obs, torch.tensor([0, 1, 2]))
    # log(1/6), log(2/6), log(3/6)
    torch.testing.assert_close(logprob, torch.tensor([-1.7917595, -1.0986123, -0.6931472]))
    # S = -(1/6 log 1/6 + 2/6 log 2/6 + 3/6 log 3/6), the same in every state
    torch.testing.assert_close(entropy, torch.full((3,), 1.0114043))
    assert value.shape == (3,)


def test_minibatch_loss_by_hand():
    """Eq. (9) with L^CLIP on one minibatch at the defaults (ε = 0.2, c1 = 0.25, c2 = 0.01), the advantages
    normalized within the minibatch (baselines' detail): π uniform over 2 actions, V = 3 everywhere."""
    agent = agent_with_logits(4, [0.0, 0.0])
    with torch.no_grad():
        agent.critic[-1].weight.zero_()
        agent.critic[-1].bias.fill_(3.0)
    ratio = torch.tensor([0.5, 1.0, 1.0, 1.5])
    mb = {
        "obs": torch.randn(4, 4),
        "actions": torch.tensor([0, 1, 0, 1]),
        "logprobs": float(np.log(0.5)) - ratio.log(),  # log π_θ(a) - log r: the ratios above
        "advantages": torch.tensor([1.0, 2.0, 3.0, 6.0]),  # mean 3, sample std s = √(14/3): Â = (-2, -1, 0, 3) / s
        # V_old: the first value moves by -0.5, clipped to -ε = -0.2 (value clipping is on by default)
        "values": torch.tensor([3.5, 3.0, 3.0, 3.0]),
        # max((V - V^targ)², (V_old + clip(V - V_old, ±ε) - V^targ)²) = 3.3 - 1 = 2.3², 0, 1, 0: L^VF = 1.5725
        # (unclipped: 2², 0, 1, 0, so 1.25)
        "returns": torch.tensor([1.0, 3.0, 4.0, 3.0]),
    }
    loss, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args())
    # min(r·Â, clip(r)·Â): 0.8·(-2) (clipped), -1, 0, 1.2·3 (clipped): (-1.6 - 1 + 3.6) / s
    policy_loss = -1.0 / (4 * np.sqrt(14 / 3))
    kl = ((-0.5 - np.log(0.5)) + (0.5 - np.log(1.5))) / 4  # k3: mean((r - 1) - log r)
    expected = [policy_loss, 1.5725, np.log(2.0), kl, 0.5]  # clipfrac: 2 of 4
    torch.testing.assert_close(diagnostics, torch.tensor(expected, dtype=torch.float32))
    torch.testing.assert_close(
        loss, torch.tensor(policy_loss + 0.25 * 1.5725 - 0.01 * np.log(2.0), dtype=torch.float32)
    )
    _, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args(clip_vloss=False))
    torch.testing.assert_close(diagnostics[1], torch.tensor(1.25))
    # --no-norm-adv: the raw advantages, min(r·A, clip(r)·A) = 0.5, 2, 3, 7.2 (clipped at 1.2): mean 3.175
    _, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args(norm_adv=False))
    torch.testing.assert_close(diagnostics[0], torch.tensor(-3.175))
    # Equal advantages (std 0) normalize to 0, not 0/0.
    _, diagnostics = ppo.minibatch_loss(agent, mb | {"advantages": torch.full((4,), 2.0)}, ppo.Args())
    assert diagnostics[0].item() == 0.0


def test_initial_policy_is_near_uniform_and_samples_valid_indices():
    torch.manual_seed(0)
    agent = ppo.Agent(4, 2)
    obs = torch.randn(256, 4)
    action, logprob, _ = agent.act(obs.numpy(), np.random.default_rng(0))
    assert action.dtype == np.int64 and set(action.tolist()) == {0, 1}
    # implementation detail: policy output gain 0.01, so π ≈ [1/2, 1/2], log π ≈ -0.693, S ≈ ln 2
    np.testing.assert_allclose(logprob, np.full(256, -0.6931472), atol=0.02, rtol=0)
    _, entropy, _ = agent.get_logprob_entropy_value(obs, torch.as_tensor(action))
    torch.testing.assert_close(entropy, torch.full((256,), 0.6931472), atol=0.001, rtol=0)


def test_numpy_policy_gives_the_torch_agents_numbers():
    """--numpy-rollout: the rollout's numpy copy of θ_old acts and values like the torch agent."""
    torch.manual_seed(0)
    agent = ppo.Agent(4, 3)
    with torch.no_grad():
        agent.actor[-1].weight.normal_()  # a policy far from uniform
    obs = np.random.default_rng(0).normal(size=(500, 4))  # float64, as CartPole's observations may be
    frozen = ppo.NumpyPolicy(agent)
    actions, logprobs, values = frozen.act(obs, np.random.default_rng(5))
    expected = agent.act(obs, np.random.default_rng(5))
    assert actions.dtype == np.int64 and logprobs.dtype == values.dtype == np.float32
    # The same uniform draws give the same actions, except where u falls within rounding of a boundary.
    assert (actions == expected[0]).mean() > 0.99
    same = actions == expected[0]
    np.testing.assert_allclose(logprobs[same], expected[1][same], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values, expected[2], rtol=1e-5, atol=1e-6)


class FixedUniform:
    """A stand-in for np.random.Generator whose uniform draws are given."""

    def __init__(self, u):
        self.u = np.asarray(u, np.float32)[:, None]

    def random(self, shape, dtype):
        assert self.u.shape == shape and dtype == np.float32
        return self.u


def test_rollout_act_samples_by_the_inverse_cdf_and_matches_the_updates_numbers():
    # π = [0.2, 0.5, 0.3]: cumulative [0.2, 0.7, 1.0], so u in [0, 0.2) -> 0, [0.2, 0.7) -> 1, [0.7, 1) -> 2
    agent = agent_with_logits(4, [float(np.log(0.2)), float(np.log(0.5)), float(np.log(0.3))])
    u = [0.0, 0.19, 0.21, 0.69, 0.71, 0.9999999]
    obs = np.random.default_rng(0).normal(size=(len(u), 4)).astype(np.float32)
    action, logprob, value = agent.act(obs, FixedUniform(u))
    assert action.tolist() == [0, 0, 1, 1, 2, 2]
    np.testing.assert_allclose(logprob, np.log([0.2, 0.2, 0.5, 0.5, 0.3, 0.3]), rtol=1e-5)
    expected, _, expected_value = agent.get_logprob_entropy_value(torch.as_tensor(obs), torch.as_tensor(action))
    np.testing.assert_allclose(logprob, expected.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(value, expected_value.detach().numpy(), rtol=1e-6, atol=1e-6)
    # With a real generator: the frequencies are π's (10,000 draws: std of a frequency ≤ 0.005).
    draws, _, _ = agent.act(obs[:1].repeat(10_000, 0), np.random.default_rng(1))
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 10_000, [0.2, 0.5, 0.3], atol=0.02)


# ---------------------------------------------------------------------------------------------
# The actors: a time limit is bootstrapped from V(final observation), not V(next episode's first)
# ---------------------------------------------------------------------------------------------


def test_time_limit_bootstraps_from_the_final_observation():
    seed = 3
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.wrappers.RecordEpisodeStatistics(gym.make("CartPole-v1", max_episode_steps=3))],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    torch.manual_seed(seed)
    agent = ppo.Agent(4, 2)
    actors = ppo.Actors(envs, seed)
    rollout = actors.collect(agent, 5)
    envs.close()
    assert rollout.actions.dtype == np.int64
    assert rollout.episode_ends[:, 0].tolist() == [0, 0, 1, 0, 0]  # cut by the time limit after 3 steps
    assert rollout.terminations[:, 0].tolist() == [0, 0, 0, 0, 0]  # ... which is not a terminal state
    assert actors.finished == [(2, 3.0, 3)]
    # Replay the same actions in a fresh env to find the final observation of the cut episode.
    env = gym.make("CartPole-v1")
    replayed = [env.reset(seed=seed)[0]]
    for t in range(3):
        final_obs, *_ = env.step(int(rollout.actions[t, 0]))
        replayed.append(final_obs)
    np.testing.assert_array_equal(rollout.obs[:3, 0], replayed[:3])  # each step's own state (no buffer reused)
    with torch.no_grad():
        v_final = agent.get_value(torch.as_tensor(final_obs[None], dtype=torch.float32))[0]
        v_end = agent.get_value(torch.as_tensor(actors.next_obs, dtype=torch.float32))[0]
    np.testing.assert_allclose(rollout.next_values[2, 0], v_final, rtol=1.3e-6, atol=1e-5)
    assert not np.isclose(rollout.next_values[2, 0], rollout.values[3, 0])  # not the next episode's V(s_0)
    assert rollout.next_values[0, 0] == rollout.values[1, 0]
    np.testing.assert_allclose(
        rollout.next_values[4, 0], v_end, rtol=1.3e-6, atol=1e-5
    )  # V(s_T) at the end of the rollout


# ---------------------------------------------------------------------------------------------
# Runs as a user makes them
# ---------------------------------------------------------------------------------------------


def test_short_run_logs_every_key_and_writes_a_checkpoint_that_evaluates_and_resumes(tmp_path):
    # Acrobot-v1: a random policy runs into the 500-step time limit, so the truncation path runs too.
    common = ["--env-id", "Acrobot-v1", "--runs-dir", tmp_path / "runs", "--save-model"]
    result = run_script(SCRIPT, *common, "--total-timesteps", 2048)
    assert result.returncode == 0, result.stderr
    assert "done: step 2,048 (2,048 steps in this run" in result.stdout
    run_dir = only_run_dir(tmp_path / "runs")
    scalars = read_scalars(run_dir)
    assert scalars.keys() >= TENSORBOARD_KEYS, TENSORBOARD_KEYS - scalars.keys()
    assert all(-500.0 <= value < 0 for _, value in scalars["charts/episodic_return"])

    checkpoint_path = run_dir / "model.pt"
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    assert checkpoint["script"] == "ppo_discrete" and checkpoint["global_step"] == 2048
    assert checkpoint["args"]["env_id"] == "Acrobot-v1"

    result = run_script(SCRIPT, "--eval-checkpoint", checkpoint_path, "--eval-episodes", 2)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Acrobot-v1: 2 episodes, return")

    result = run_script(SCRIPT, *common, "--total-timesteps", 4096, "--resume", checkpoint_path)
    assert result.returncode == 0, result.stderr
    # A resumed run says where it starts and counts its own steps and speed (not the first run's).
    assert f"resuming from step 2,048 of {checkpoint_path}" in result.stderr
    assert "done: step 4,096 (2,048 steps in this run" in result.stdout
    resumed = newest_run_dir(tmp_path / "runs")
    assert torch.load(resumed / "model.pt", weights_only=True)["global_step"] == 4096
    assert_resumed_schedule(resumed, checkpoint, 4096)


def test_a_checkpoint_that_cannot_be_written_is_one_line_and_keeps_the_last(tmp_path, monkeypatch):
    """A full disk at the second periodic checkpoint (before: torch's "iostream error" traceback, and a half-written
    model.pt.tmp left taking the space): one line, the .tmp removed, the first checkpoint kept and loadable."""
    real_save, saves = torch.save, []

    def save(obj, path):
        saves.append(path)
        if len(saves) == 2:
            with open(path, "wb") as f:
                f.write(b"half")
            raise RuntimeError("[enforce fail at inline_container.cc] iostream error")
        real_save(obj, path)

    monkeypatch.setattr(ppo.torch, "save", save)
    args = ppo.Args(runs_dir=str(tmp_path), save_model=True, save_interval=512, num_steps=128, total_timesteps=2048)
    with pytest.raises(ppo.UserError, match="cannot write .*model.pt \\(.*iostream error\\); the last checkpoint is"):
        ppo.train(args)
    run_dir = only_run_dir(tmp_path)
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith("model")) == ["model.pt"]
    assert torch.load(run_dir / "model.pt", weights_only=True)["global_step"] == 512


def test_a_video_that_cannot_be_written_costs_the_video_not_the_run(tmp_path, monkeypatch, capsys):
    """A Ctrl-C in a terminal reaches the ffmpeg writing a video too (before: its broken pipe ended the run with
    a traceback and no checkpoint). The video is lost with one line; the next one is written."""
    from moviepy.video.io.ImageSequenceClip import ImageSequenceClip

    class Frames(gym.Env):
        observation_space, action_space = gym.spaces.Box(0.0, 1.0, (1,)), gym.spaces.Discrete(2)
        metadata = {"render_modes": ["rgb_array"], "render_fps": 30}
        render_mode = "rgb_array"

        def reset(self, *, seed=None, options=None):
            self.t = 0
            return np.zeros(1, np.float32), {}

        def step(self, action):
            self.t += 1
            return np.zeros(1, np.float32), 0.0, self.t == 3, False, {}

        def render(self):
            return np.zeros((16, 16, 3), np.uint8)

    written = []

    def write_videofile(clip, path, **kwargs):
        if not written:
            written.append(None)
            raise BrokenPipeError(32, "Broken pipe")
        written.append(path)

    monkeypatch.setattr(ImageSequenceClip, "write_videofile", write_videofile)
    env = ppo.RecordVideo(Frames(), str(tmp_path / "videos"), episode_trigger=lambda episode: True)
    for _ in range(2):
        env.reset()
        while not env.step(0)[2]:
            pass
    env.close()
    assert "a video could not be written ([Errno 32] Broken pipe); training goes on" in capsys.readouterr().err
    assert len(written) == 2 and written[1].endswith("rl-video-episode-1.mp4")


def test_ctrl_c_stops_your_loop_of_runs_once_the_run_has_saved(tmp_path, monkeypatch):
    """train() stops a run at Ctrl-C with its checkpoint, then hands the signal on: Python's handler raises
    KeyboardInterrupt in your code, which stops your loop over seeds (before: train() returned, seed 2 ran)."""
    actors = ppo.Actors

    def ctrl_c(*args, **kwargs):  # Ctrl-C as the first run sets up, before its first iteration
        os.kill(os.getpid(), signal.SIGINT)
        return actors(*args, **kwargs)

    monkeypatch.setattr(ppo, "Actors", ctrl_c)
    started = []
    with signal_handlers(signal.default_int_handler), pytest.raises(KeyboardInterrupt):
        for seed in (1, 2):
            started.append(seed)
            ppo.train(ppo.Args(seed=seed, runs_dir=str(tmp_path), num_steps=128, total_timesteps=1024, save_model=True))
    assert started == [1]
    run_dir = only_run_dir(tmp_path)
    assert json.loads((run_dir / "summary.json").read_text())["interrupted"] == "SIGINT"
    assert torch.load(run_dir / "model.pt", weights_only=True)["global_step"] == 0


def test_ctrl_c_stops_a_shell_loop_of_runs(tmp_path):
    """Ctrl-C at a terminal reaches the shell and the run. The run saves, then ends by the signal, so bash's loop
    stops too; a run that exits 130 instead tells bash it handled Ctrl-C, and bash starts the next seed."""
    run = f'"{sys.executable}" "{ROOT / SCRIPT}" --total-timesteps 1000000 --runs-dir "{tmp_path}"'
    loop = f'for seed in 1 2; do echo "seed $seed"; {run} --seed $seed; done'
    # bash in a session of its own, as a terminal's, with Ctrl-C's default handling (a worker may ignore it)
    start = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp('bash', sys.argv[1:])"
    shell = [sys.executable, "-c", start, "bash", "-c", loop]
    process = subprocess.Popen(shell, start_new_session=True, stdout=subprocess.PIPE, text=True, env=script_env())
    lines = [process.stdout.readline() for _ in range(2)]
    assert lines[0] == "seed 1\n" and lines[1].startswith("step"), lines  # seed 1's first iteration is done
    os.killpg(process.pid, signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError("the loop went on to seed 2 after Ctrl-C") from None
    assert "seed 2" not in out and "interrupted: step" in out
    assert process.returncode == -signal.SIGINT  # bash, too, ended by Ctrl-C
    assert json.loads((only_run_dir(tmp_path) / "summary.json").read_text())["interrupted"] == "SIGINT"


def test_train_runs_in_a_thread_of_your_own(tmp_path):
    """Only the main thread may set signal handlers (before: ValueError, a run folder and a writer thread left)."""
    import threading

    done, handler = [], signal.getsignal(signal.SIGINT)
    args = ppo.Args(runs_dir=str(tmp_path), num_steps=128, total_timesteps=512)
    thread = threading.Thread(target=lambda: done.append(ppo.train(args)))
    thread.start()
    thread.join()
    assert len(done) == 1 and done[0]["global_step"] == 512 and done[0]["interrupted"] is None
    assert signal.getsignal(signal.SIGINT) is handler  # the main thread's, untouched


def test_an_evaluation_records_videos_only_when_asked(tmp_path):
    """--eval-checkpoint takes the run's hyperparameters from the checkpoint, but not what this invocation
    chooses: a run trained with --capture-video is evaluated without videos, on this machine's threads."""
    checkpoint = {"args": ppo.dataclasses.asdict(ppo.Args(capture_video=True, torch_threads=999))}
    checkpoint |= {"format_version": ppo.CHECKPOINT_VERSION, "script": "ppo_discrete", "model": {}}
    torch.save(checkpoint, tmp_path / "model.pt")
    args = ppo.parse_args(["--eval-checkpoint", str(tmp_path / "model.pt")])
    assert (args.capture_video, args.torch_threads) == (False, 1)
    assert ppo.parse_args(["--eval-checkpoint", str(tmp_path / "model.pt"), "--capture-video"]).capture_video


def test_file_copied_alone_runs(tmp_path):
    shutil.copy(ROOT / SCRIPT, tmp_path / SCRIPT)
    result = run_script(tmp_path / SCRIPT, "--total-timesteps", 512, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (only_run_dir(tmp_path / "runs") / "summary.json").is_file()


def test_ctrl_c_stops_after_the_iteration_and_saves(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / SCRIPT),
            "--total-timesteps",
            "10000000",
            "--runs-dir",
            str(tmp_path),
            "--save-model",
        ],
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


def write_continuous_checkpoint(path):
    """What ppo_continuous.py writes, as far as load_checkpoint looks."""
    torch.save({"format_version": 1, "script": "ppo_continuous", "args": {"env_id": "Hopper-v4"}, "model": {}}, path)


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--env-id", "Pendulum-v1"], "use ppo_continuous.py"),
        (["--num-minibatches", "3"], "not divisible by --num-minibatches"),
        (["--num-minibatches", "512"], "minibatches of 1 sample"),
        (["--eval-checkpoint", "{tmp}/continuous.pt"], "use that script"),
        (["--env-id", "ALE/Pong-v5"], "use ppo_shared_backbone.py"),
    ],
    ids=[
        "box-action",
        "minibatches",
        "minibatch-of-1",
        "continuous-ckpt",
        "images",
    ],
)
def test_bad_input_is_one_line(tmp_path, flags, fragment):
    if "ALE/Pong-v5" in flags:
        pytest.importorskip("ale_py")
    write_continuous_checkpoint(tmp_path / "continuous.pt")
    flags = [flag.format(tmp=tmp_path) for flag in flags]
    result = run_script(SCRIPT, *flags, "--runs-dir", tmp_path / "runs")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "runs").exists()  # refused before anything starts


# ---------------------------------------------------------------------------------------------
# Learning
# ---------------------------------------------------------------------------------------------

# With the default settings (stepsize annealed over the budget), the mean of the last 20 episodes
# reached 475 at 169k-200k steps for seeds 1-6 (seed 1: 192k) with a budget of 300k: about 30 s.
LEARNING_BUDGET = 300_000


def test_learns_cartpole(tmp_path):
    start = time.time()
    result = run_script(SCRIPT, "--total-timesteps", LEARNING_BUDGET, "--runs-dir", tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr
    returns = [value for _, value in read_scalars(only_run_dir(tmp_path))["charts/episodic_return"]]
    best = max(np.mean(returns[i - 20 : i]) for i in range(20, len(returns) + 1))
    assert best >= 475, f"best mean of 20 consecutive episodes {best:.1f} in {time.time() - start:.0f} s"


def test_evaluation_takes_the_most_probable_action(monkeypatch):
    """--eval-checkpoint runs the arg-max action, not a sample: with π = (0.2, 0.3, 0.5) in every state each of
    2 episodes of 10 steps takes action 2 throughout (a sampled policy would, all 20 times, with probability 1e-6)."""
    agent = ppo.Agent(4, 3)
    with torch.no_grad():
        agent.actor[-1].weight.zero_()
        agent.actor[-1].bias.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
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
    received, stored = actions_received(ppo, ppo.Agent(4, 3), gym.spaces.Discrete(3, start=-1))
    assert set(stored) == {0, 1, 2} and received == [a - 1 for a in stored]


def test_ctrl_c_while_a_checkpoint_is_written_leaves_no_stray_file(tmp_path, monkeypatch):
    """A second Ctrl-C (or a slow disk's) in torch.save: the half-written model.pt.tmp goes; before, it stayed
    beside the message that says model.pt is the last written."""
    args = ppo.Args(runs_dir=str(tmp_path), num_steps=128, total_timesteps=512)

    def ctrl_c_while_saving(payload, path):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    with ppo.Run(args) as run:
        run.restore({"model": torch.nn.Linear(1, 1)})
        monkeypatch.setattr(ppo.torch, "save", ctrl_c_while_saving)
        with pytest.raises(KeyboardInterrupt):
            run.save()
    assert sorted(path.name for path in only_run_dir(tmp_path).iterdir() if "events" not in path.name) == ["args.json"]


def test_evaluation_videos_where_they_cannot_be_written_are_one_line(tmp_path, monkeypatch):
    # --eval-checkpoint --capture-video of a checkpoint in a folder it may not write to (before: an OSError
    # traceback when the video wrapper made its folder); /proc stands in for a read-only mount.
    with pytest.raises(ppo.UserError, match="cannot write the videos into /proc/1/videos-eval: copy the run folder"):
        ppo.eval_video_dir("/proc/1/model.pt")
    # evaluate() asks before it makes its environment: a read-only run folder (root writes anywhere, so os.access
    # stands in for the mount)
    summary = ppo.train(ppo.Args(runs_dir=str(tmp_path), num_steps=128, total_timesteps=512, save_model=True))
    monkeypatch.setattr(ppo.os, "access", lambda path, mode: not str(path).endswith("videos-eval"))
    with pytest.raises(ppo.UserError, match="cannot write the videos into .*videos-eval: copy the run folder"):
        ppo.evaluate(summary["checkpoint"], 1, capture_video=True)


def test_a_ctrl_c_while_the_logs_close_gives_your_handlers_back(tmp_path, monkeypatch):
    """Run.__exit__ closes the TensorBoard writer first; a Ctrl-C during it left the run's handlers installed
    (before), so your code, catching the KeyboardInterrupt, would then ignore SIGTERM."""

    def ctrl_c():
        raise KeyboardInterrupt

    with signal_handlers() as caught:
        handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt), ppo.Run(ppo.Args(runs_dir=str(tmp_path))) as run:
            monkeypatch.setattr(run.writer, "close", ctrl_c)
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert caught == []


def test_ending_by_a_signal_that_does_not_end_the_process_exits_with_its_status(monkeypatch):
    # A container's process 1 is not ended by a signal it has no handler for: exit 130, as Python's own.
    monkeypatch.setattr(ppo.signal, "raise_signal", lambda sig: None)
    with signal_handlers(), pytest.raises(SystemExit) as exit_info:
        ppo.end_by(signal.SIGINT)
    assert exit_info.value.code == 130
