"""benchmark/run.py: suite expansion, the skip/resume decision, the local runner, the Slurm script (its text,
without a cluster), a tiny real run through the runner and the report, and the Stable-Baselines3 peer
(sb3_ppo.py) through the same runner and report. Moved as they were from tests/test_benchmark.py."""

import importlib.metadata
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest
from util import ROOT, TENSORBOARD_KEYS, assert_one_line_error, csv_rows, run_script, script_env

sys.path.insert(0, str(ROOT / "benchmark"))
import report  # noqa: E402
import run as runner  # noqa: E402
import run_folders  # noqa: E402
import slurm  # noqa: E402
import suites  # noqa: E402

HAS_MATPLOTLIB = __import__("importlib").util.find_spec("matplotlib") is not None
needs_matplotlib = pytest.mark.skipif(
    not HAS_MATPLOTLIB, reason="matplotlib is not installed (pip install -r benchmark/requirements.txt)"
)


def cli(*flags: str, runs_dir: Path | None = None) -> runner.Cli:
    """run.py's parsed command line, as main() sees it; with runs_dir, the results (which record runs as
    complete) are looked up in <runs_dir>/results, not in the repository's."""
    args = list(flags) + (["--runs-dir", str(runs_dir), "--results-dir", str(runs_dir / "results")] if runs_dir else [])
    return runner.tyro.cli(runner.Cli, args=args)


def make_folder(
    runs_dir: Path,
    key: str,
    unix_time: int,
    total: int = 1_000_000,
    global_step: int | None = None,
    interrupted: str | None = None,
    checkpoint: bool = True,
    resume: str | None = None,
    age_minutes: float = 60,
) -> Path:
    """A run folder as a script leaves it: args.json, model.pt, and summary.json when global_step is given."""
    path = runs_dir / f"{key}__{unix_time}"
    path.mkdir(parents=True)
    args = {"total_timesteps": total, "num_envs": 1, "num_steps": 2048, "resume": resume}
    (path / "args.json").write_text(json.dumps(args))
    if checkpoint:
        (path / "model.pt").write_bytes(b"")
    if global_step is not None:
        summary = {"global_step": global_step, "start_step": 0, "interrupted": interrupted, "wall_seconds": 1.0}
        (path / "summary.json").write_text(json.dumps(summary))
    old = time.time() - age_minutes * 60
    for file in path.iterdir():
        os.utime(file, (old, old))
    return path


# ---------------------------------------------------------------------------------------------
# Suites
# ---------------------------------------------------------------------------------------------


def test_suites_expand_into_the_papers_runs():
    assert set(typing.get_args(suites.SuiteName)) == set(suites.SUITES)  # what --suite accepts
    counts = {name: len(runner.expand(cli("--suite", name))) for name in suites.SUITES}
    assert counts == {
        "mujoco": 7 * 3,
        "mujoco_sb3": 7 * 3,
        "mujoco_no_clip_vloss": 7 * 3,
        "mujoco_sb3_no_clip_vloss": 7 * 3,
        "table1": 11 * 7 * 3,
        "atari": 49 * 3,
        "atari3": 3 * 3,
        "atari3_ppo2": 1,
        "classic": 2 * 3 * 3,
    }
    runs = runner.expand(cli("--suite", "mujoco"))
    assert [r.seed for r in runs[:7]] == [1] * 7, "a first seed of every environment comes first"
    assert {r.env_id for r in runs} == set(suites.MUJOCO_ENVS)
    assert all(r.exp_name == "ppo_continuous" and r.total_timesteps == 1_000_000 for r in runs)
    atari = runner.expand(cli("--suite", "atari", "--seeds", "1"))
    assert len({r.env_id for r in atari}) == 49 and all(r.env_id.endswith("NoFrameskip-v4") for r in atari)


def test_table1_settings_call_the_right_script_with_the_right_flags():
    runs = runner.expand(cli("--suite", "table1", "--seeds", "1", "--envs", "Hopper"))
    commands = {r.exp_name: r.command("python", Path("/r")) for r in runs}
    tails = {name: " ".join([cmd[1], *cmd[cmd.index("--save-model") + 1 :]]) for name, cmd in commands.items()}
    assert tails == {
        "cpi": "ppo_penalty.py --no-adaptive-beta --init-beta 0",
        "clip0.1": "ppo_continuous.py --clip-coef 0.1",
        "clip0.2": "ppo_continuous.py --clip-coef 0.2",
        "clip0.3": "ppo_continuous.py --clip-coef 0.3",
        "klpen_adaptive_0.003": "ppo_penalty.py --kl-target 0.003",
        "klpen_adaptive_0.01": "ppo_penalty.py --kl-target 0.01",
        "klpen_adaptive_0.03": "ppo_penalty.py --kl-target 0.03",
        "klpen_fixed_0.3": "ppo_penalty.py --no-adaptive-beta --init-beta 0.3",
        "klpen_fixed_1": "ppo_penalty.py --no-adaptive-beta --init-beta 1",
        "klpen_fixed_3": "ppo_penalty.py --no-adaptive-beta --init-beta 3",
        "klpen_fixed_10": "ppo_penalty.py --no-adaptive-beta --init-beta 10",
    }
    assert [s.paper_score for s in suites.TABLE1_SETTINGS][:3] == [-0.39, 0.76, 0.82]


def test_a_reduced_budget_is_recorded_in_the_exp_name_and_the_command():
    runs = runner.expand(
        cli(
            "--suite",
            "table1",
            "--seeds",
            "2",
            "--total-timesteps",
            "300000",
            "--envs",
            "Swimmer",
            "--settings",
            "clip0.1",
        )
    )
    assert [r.key for r in runs] == ["Swimmer-v4__clip0.1-300k__2"]
    command = runs[0].command("python", ROOT / "benchmark" / "runs")
    assert command == [
        "python",
        "ppo_continuous.py",
        "--env-id",
        "Swimmer-v4",
        "--seed",
        "2",
        "--exp-name",
        "clip0.1-300k",
        "--runs-dir",
        "benchmark/runs/table1",
        "--total-timesteps",
        "300000",
        "--save-model",
        "--clip-coef",
        "0.1",
    ]
    assert suites.split_exp_name("klpen_fixed_10-300k", suites.SUITES["table1"]).slug == "klpen_fixed_10"
    assert suites.budget_label(2048) == "2048" and suites.budget_label(10_000_000) == "10M"


def test_short_env_names_and_errors():
    runs = runner.expand(cli("--suite", "atari3", "--envs", "Pong", "breakout", "--seeds", "1"))
    assert [r.env_id for r in runs] == ["PongNoFrameskip-v4", "BreakoutNoFrameskip-v4"]
    assert [
        r.env_id for r in runner.expand(cli("--suite", "mujoco", "--envs", "InvertedPendulum", "--seeds", "1"))
    ] == ["InvertedPendulum-v4"]
    with pytest.raises(runner.UserError, match="not in suite mujoco"):
        runner.expand(cli("--suite", "mujoco", "--envs", "Hoper"))
    with pytest.raises(runner.UserError, match="--settings"):
        runner.expand(cli("--suite", "table1", "--settings", "clip0.4"))
    result = run_script("benchmark/run.py", "--suite", "mujoco", "--envs", "Hoper", "--dry-run")
    assert result.returncode == 2
    assert_one_line_error(result, "Hoper", "Hopper-v4")


def test_seeds_and_runs_dir_a_run_cannot_use_are_refused(tmp_path):
    """A seed the scripts refuse (before: accepted here, each run failing in its log), no seed at all (before:
    "0 runs", exit 0), a seed twice (before: the same run started twice, one reported busy), a file as --runs-dir."""
    flags = ("--suite", "classic", "--envs", "CartPole", "--settings", "ppo_discrete")
    for seeds, message in ((["-1"], r"--seeds must be in \[0, 2\*\*32\)"), ([], "--seeds needs at least one seed")):
        with pytest.raises(runner.UserError, match=message):
            runner.validate(cli(*flags, "--seeds", *seeds, runs_dir=tmp_path))
    assert [run.seed for run in runner.expand(cli(*flags, "--seeds", "7", "2", "7"))] == [7, 2]
    (tmp_path / "a_file").touch()
    with pytest.raises(runner.UserError, match="--runs-dir .*a_file is not a folder"):
        runner.validate(cli(*flags, runs_dir=tmp_path / "a_file"))
    # Run folders in the published record would be committed with it.
    with pytest.raises(runner.UserError, match="inside benchmark/results, the published record: use benchmark/runs"):
        runner.validate(cli(*flags, "--runs-dir", str(ROOT / "benchmark" / "results" / "trial")))


def test_a_run_of_an_id_with_a_module_or_a_namespace_finds_its_folders(tmp_path):
    """The scripts name a folder portably (my_envs:Line-v0 -> my_envs-Line-v0, ALE/Pong-v5 -> ALE-Pong-v5);
    the runner's key is the same name, and the folder's env_id the id itself (from its args.json)."""
    assert run_folders.run_key("my_envs:Line-v0", "ppo", 1) == "my_envs-Line-v0__ppo__1"
    assert run_folders.run_key("ALE/Pong-v5", "ppo", 2) == "ALE-Pong-v5__ppo__2"
    folder = make_folder(tmp_path, "my_envs-Line-v0__ppo__1", 100, total=1024, global_step=1024)
    args = json.loads((folder / "args.json").read_text())
    (folder / "args.json").write_text(json.dumps(args | {"env_id": "my_envs:Line-v0"}))
    [found] = run_folders.folders_of(tmp_path, run_folders.run_key("my_envs:Line-v0", "ppo", 1), 1024)
    assert found.env_id == "my_envs:Line-v0" and found.is_complete(1024)


# ---------------------------------------------------------------------------------------------
# Skip if complete, resume if cut short
# ---------------------------------------------------------------------------------------------

KEY = "Hopper-v4__ppo_continuous__1"


def state(runs_dir: Path, total: int = 1_000_000, **kwargs) -> run_folders.RunState:
    return run_folders.run_state(run_folders.folders_of(runs_dir, KEY, total), total, **kwargs)


def test_run_state_start_resume_complete_and_other_budgets(tmp_path):
    assert state(tmp_path).action == "start"
    # Cut short by SIGKILL: a checkpoint, no summary.
    cut = make_folder(tmp_path, KEY, 100)
    assert (state(tmp_path).action, state(tmp_path).checkpoint) == ("resume", cut / "model.pt")
    assert state(tmp_path, allow_resume=False).action == "start"
    # Resumed, then interrupted by SIGTERM: the newest checkpoint is the one to resume from.
    stopped = make_folder(tmp_path, KEY, 200, global_step=600_064, interrupted="SIGTERM", resume=str(cut / "model.pt"))
    assert state(tmp_path).checkpoint == stopped / "model.pt"
    # A folder of another budget (a hand-made 300k run under the same name) is not this run.
    make_folder(tmp_path, KEY, 250, total=300_000, global_step=299_008)
    assert (state(tmp_path).action, state(tmp_path).checkpoint) == ("resume", stopped / "model.pt")
    assert (state(tmp_path, total=300_000).action, state(tmp_path, total=300_000).checkpoint) == ("complete", None)
    # 1M requested is 999,424 done with batches of 2048: complete, within one batch.
    make_folder(tmp_path, KEY, 300, global_step=999_424, resume=str(stopped / "model.pt"))
    assert state(tmp_path).action == "complete"


def test_run_state_one_batch_short_is_not_complete(tmp_path):
    make_folder(tmp_path, KEY, 100, global_step=999_424 - 2048)
    assert state(tmp_path).action == "resume"


def test_run_state_complete_only_past_one_batch_short(tmp_path):
    """1M with batches of 2048 is 488 iterations, 999,424 steps; 997,952 is exactly one batch short (487): not
    done, whether summary.json or a checkpoint without one says so."""
    make_folder(tmp_path, KEY, 100, global_step=997_952)
    assert state(tmp_path).action == "resume"
    make_folder(tmp_path / "cut", KEY, 100)
    assert state(tmp_path / "cut", checkpoint_step=lambda path: 997_952).action == "resume"


def test_run_state_an_interrupted_summary_is_not_complete_even_at_the_budget(tmp_path):
    """The module's rule: complete is a summary with `interrupted` null (the scripts write null when the signal
    came in the last iteration). A summary that says interrupted is resumed, whatever its step, and its
    checkpoint's step is not asked: the summary has the last word."""
    make_folder(tmp_path, KEY, 100, global_step=999_424, interrupted="SIGTERM")
    assert state(tmp_path).action == "resume"
    assert state(tmp_path, checkpoint_step=lambda path: 999_424).action == "resume"


def test_state_of_asks_a_checkpoint_without_a_summary_its_step(tmp_path):
    """A run that finished its last iteration but died before writing summary.json: its model.pt says 999,424,
    so it is complete, not resumed for nothing."""
    import torch

    options = cli("--suite", "mujoco", "--envs", "Hopper", "--seeds", "1", runs_dir=tmp_path)
    [run] = runner.expand(options)
    folder = make_folder(tmp_path / "mujoco", run.key, 100)
    torch.save({"global_step": 999_424}, folder / "model.pt")
    assert runner.state_of(run, options, jobs={}).action == "complete"


def test_run_state_resumes_a_run_killed_a_minute_ago(tmp_path):
    # Written a minute ago, no summary: killed hard, since a live run's process would hold its lock
    # (tests/test_run_lock.py), which run.py asks first. The newest checkpoint is resumed.
    make_folder(tmp_path, KEY, 100, age_minutes=1)
    make_folder(tmp_path, KEY, 150, checkpoint=False, age_minutes=0.5)
    assert state(tmp_path).action == "resume" and state(tmp_path).checkpoint.parent.name.endswith("__100")


def test_run_state_final_checkpoint_without_summary_is_complete(tmp_path):
    make_folder(tmp_path, KEY, 100)
    assert state(tmp_path, checkpoint_step=lambda path: 999_424).action == "complete"
    assert state(tmp_path, checkpoint_step=lambda path: 500_000).action == "resume"


def test_dry_run_lists_states_and_commands(tmp_path):
    runs_dir = tmp_path / "runs"
    make_folder(runs_dir / "mujoco", KEY, 100, global_step=999_424)
    cut = make_folder(runs_dir / "mujoco", "Hopper-v4__ppo_continuous__2", 100)
    result = run_script(
        "benchmark/run.py",
        "--suite",
        "mujoco",
        "--envs",
        "Hopper",
        "--runs-dir",
        runs_dir,
        "--dry-run",
        "--results-dir",
        tmp_path / "results",
    )
    assert result.returncode == 0, result.stderr
    assert f"# {KEY}: complete, skipped" in result.stdout
    assert f"--resume {cut}/model.pt" in result.stdout
    assert "# 3 runs: 1 complete, 0 running elsewhere, 1 to resume, 1 to start" in result.stdout


def test_a_run_the_results_record_as_complete_is_skipped_unless_rerun(tmp_path):
    """A fresh clone has the committed results but no run folders: what they record is not run again."""
    results = tmp_path / "results"
    results.mkdir()
    header = ",".join(report.CSV_COLUMNS)
    (results / "mujoco.csv").write_text(
        f"{header}\n"
        "ppo_continuous.py,ppo_continuous,Hopper-v4,1,999424,2660,400,2500,abc,True,1000000,900,1,m\n"
        "ppo_continuous.py,ppo_continuous,Hopper-v4,2,500000,900,200,2500,abc,False,1000000,400,1,m\n"
        "ppo_continuous.py,ppo_continuous,Hopper-v4,3,299008,900,200,2500,abc,True,300000,400,1,m\n"
    )
    options = cli("--suite", "mujoco", "--envs", "Hopper", runs_dir=tmp_path / "runs")
    options = runner.dataclasses.replace(options, results_dir=results)
    states = {run.seed: runner.state_of(run, options) for run in runner.expand(options)}
    # seed 1: recorded complete; seed 2: recorded but incomplete; seed 3: recorded under the same name at another
    # budget (a hand-made 300k run)
    assert [states[seed].action for seed in (1, 2, 3)] == ["complete", "start", "start"]
    assert states[1].reason == f"recorded in {results / 'mujoco.csv'}"
    # seed 2 starts again from step 0 (its checkpoint is on another machine, or gone), and says so
    assert states[2].reason == f"new; {results / 'mujoco.csv'} has it at 500,000 steps, but no checkpoint of it is here"
    assert states[3].reason == "new"
    options = runner.dataclasses.replace(options, rerun_recorded=True)
    assert runner.state_of(runner.expand(options)[0], options).action == "start"
    assert "--rerun-recorded" in slurm.forwarded_flags(options)


# ---------------------------------------------------------------------------------------------
# The local runner, with a stand-in for a training script
# ---------------------------------------------------------------------------------------------

# A stand-in's command line: the flags run.py gives a training script.
FAKE_ARGS = """
import argparse, json, os, sys, time
parser = argparse.ArgumentParser()
for flag in ("--env-id", "--exp-name", "--runs-dir", "--resume"):
    parser.add_argument(flag)
parser.add_argument("--seed", type=int)
parser.add_argument("--total-timesteps", type=int)
parser.add_argument("--save-model", action="store_true")
a, _ = parser.parse_known_args()
"""
FAKE_SCRIPT = (
    FAKE_ARGS
    + """if a.env_id == "Bad-v0":  # a script's one-line error
    print("fake: error: bad input; pass a good one", file=sys.stderr)
    sys.exit(2)
if a.env_id == "Refuse-v0" and a.resume:  # a checkpoint it cannot read: refused before anything starts
    print("fake: error: checkpoint unreadable; pass the model.pt of a run folder", file=sys.stderr)
    sys.exit(2)
assert os.environ["OMP_NUM_THREADS"] == "1"
received = []  # Slow-v0's signals, counted from before model.pt exists (the test's cue to send one)
if a.env_id == "Slow-v0":
    import signal
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: received.append(signal.Signals(signum).name))
run_dir = os.path.join(a.runs_dir, f"{a.env_id}__{a.exp_name}__{a.seed}__{int(time.time())}")
os.makedirs(run_dir)
args = {"total_timesteps": a.total_timesteps, "num_envs": 1, "num_steps": 512, "resume": a.resume, "argv": sys.argv}
json.dump(args, open(os.path.join(run_dir, "args.json"), "w"))
open(os.path.join(run_dir, "model.pt"), "wb").close()
if a.env_id == "Diverge-v0" and a.resume:  # an error once under way, in the run folder it made
    print("fake: error: the loss became non-finite; the last checkpoint is kept", file=sys.stderr)
    sys.exit(2)
if a.env_id == "Killed-v0":  # killed from outside (the out-of-memory killer, a node lost)
    import signal
    os.kill(os.getpid(), signal.SIGKILL)
summary = {"global_step": a.total_timesteps, "start_step": 0, "mean_return": 1.0, "episodes": 1,
           "wall_seconds": 0.1, "sps": 1.0, "interrupted": None}
if a.env_id == "Stopped-v0":  # a signal sent to the script alone (kill of its pid): saved, and says so
    summary |= {"global_step": 512, "interrupted": "SIGTERM"}
    json.dump(summary, open(os.path.join(run_dir, "summary.json"), "w"))
    sys.exit(143)
if a.env_id == "Slow-v0":  # trains until a signal, like the scripts: count the signals, then stop
    while not received:
        time.sleep(0.05)
    time.sleep(0.5)  # a second signal, if any, would arrive now
    summary |= {"global_step": 512, "interrupted": received[0], "signals": len(received)}
    json.dump(summary, open(os.path.join(run_dir, "summary.json"), "w"))
    sys.exit(143)
json.dump(summary, open(os.path.join(run_dir, "summary.json"), "w"))
"""
)


def test_local_runner_runs_resumes_records_meta_and_skips_on_the_second_pass(tmp_path, capsys):
    fake = tmp_path / "fake_script.py"
    fake.write_text(FAKE_SCRIPT)
    setting = suites.Setting("fake", str(fake))
    runs = [runner.Run("mujoco", setting, env, 1, 1024, "fake") for env in ("A-v0", "B-v0", "Bad-v0")]
    runs_dir = tmp_path / "runs"
    cut = make_folder(runs_dir / "mujoco", "B-v0__fake__1", 100, total=1024)
    options = cli("--suite", "mujoco", "--workers", "2", runs_dir=runs_dir)
    assert runner.run_locally(runs, options) == 1  # Bad-v0 failed
    out = capsys.readouterr().out
    assert "A-v0__fake__1: done" in out
    # The script's own line, and no "run again to retry": a rerun would be refused the same way.
    assert "Bad-v0__fake__1: failed (exit 2 before making a run folder: fake: error: bad input; pass a good one)" in out
    assert "1 runs stopped on an error in their input (exit 2, its line above): fix it, then rerun" in out
    assert "retry" not in out
    groups = run_folders.scan(runs_dir / "mujoco")
    a = groups["A-v0__fake__1"][-1]
    assert {"command", "commit", "machine"} <= a.meta.keys()
    assert (
        a.meta["commit"]
        == subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    )
    assert shlex.split(a.meta["command"])[1:3] == [str(fake), "--env-id"]
    assert " cores" in a.meta["machine"]
    assert a.meta["packages"]["torch"] == importlib.metadata.version("torch")  # what the run depended on
    assert a.meta["packages"]["gymnasium"] == importlib.metadata.version("gymnasium")
    resumed = groups["B-v0__fake__1"][-1]
    assert resumed.args["resume"] == str(cut / "model.pt")
    assert (runs_dir / "mujoco" / "logs").is_dir()
    # Second pass: everything complete is skipped, nothing new is made.
    assert runner.run_locally(runs[:2], options) == 0
    assert "A-v0__fake__1: complete" in capsys.readouterr().out
    assert sum(len(v) for v in run_folders.scan(runs_dir / "mujoco").values()) == 3


def test_a_refused_checkpoint_starts_afresh_but_an_error_under_way_keeps_the_run(tmp_path, capsys):
    """A resumed script that refuses its checkpoint (exit 2 before making a folder) is started again from 0;
    one that fails once under way (exit 2 in its new folder) is a failed run, its checkpoints kept for a look."""
    fake = tmp_path / "fake_script.py"
    fake.write_text(FAKE_SCRIPT)
    runs = [
        runner.Run("mujoco", suites.Setting("fake", str(fake)), env, 1, 1024, "fake")
        for env in ("Refuse-v0", "Diverge-v0")
    ]
    runs_dir = tmp_path / "runs"
    for run in runs:
        make_folder(runs_dir / "mujoco", run.key, 100, total=1024)  # cut short, with a checkpoint
    assert runner.run_locally(runs, cli("--suite", "mujoco", runs_dir=runs_dir)) == 1
    out = capsys.readouterr().out
    assert "Refuse-v0__fake__1: resuming" in out and "Refuse-v0__fake__1: done" in out
    assert "Diverge-v0__fake__1: failed (exit 2; " in out and "the loss became non-finite" in out
    assert "Diverge-v0__fake__1: resuming" not in out  # before: started afresh, its steps thrown away
    groups = run_folders.scan(runs_dir / "mujoco")
    assert [f.args["resume"] is None for f in groups["Refuse-v0__fake__1"]] == [True, True]  # the cut one, afresh
    assert [f.args["resume"] is None for f in groups["Diverge-v0__fake__1"]] == [True, False]


def test_a_run_stopped_on_its_own_is_interrupted_not_done(tmp_path, capsys):
    """The script alone got the signal (a kill of its pid, not of run.py's): it saved, its summary says
    interrupted, it exited 143. The runner, not asked to stop, reports it interrupted and exits 1: not done."""
    fake = tmp_path / "fake_script.py"
    fake.write_text(FAKE_SCRIPT)
    run = runner.Run("mujoco", suites.Setting("fake", str(fake)), "Stopped-v0", 1, 1024, "fake")
    assert runner.run_locally([run], cli("--suite", "mujoco", runs_dir=tmp_path / "runs")) == 1
    out = capsys.readouterr().out
    assert "Stopped-v0__fake__1: interrupted (exit 143; " in out and "done" not in out
    assert "run.py: 1 interrupted" in out


def popen_then(signum: int):
    """subprocess.Popen that signals this process as soon as the child exists: the runner's handler runs in
    this thread before it has registered the child (as in a Slurm task, whose runner is single-threaded)."""
    popen = subprocess.Popen

    def start(*args, **kwargs):
        proc = popen(*args, **kwargs)
        os.kill(os.getpid(), signum)
        return proc

    return start


def test_a_signal_that_comes_as_a_child_starts_reaches_it(monkeypatch):
    monkeypatch.setattr(runner.subprocess, "Popen", popen_then(signal.SIGTERM))
    child = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(143)); time.sleep(120)"
    start = time.time()
    with runner.Children() as children:
        returncode = children.run([sys.executable, "-c", child])
    assert children.signal == signal.SIGTERM and returncode in (143, -signal.SIGTERM)  # before or after its handler
    assert time.time() - start < 60  # before: never told, it slept its 120 s (a wide margin for a busy machine)


def test_a_slurm_task_exits_with_the_runners_codes(tmp_path, monkeypatch, capsys):
    """run.py --run: 143 when told to stop (its run then checkpoints), 2 on a script's one-line error, 1 when
    the script was killed by another signal (137: SIGKILL's, reported as a shell does)."""
    fake = tmp_path / "fake_script.py"
    fake.write_text(FAKE_SCRIPT)
    options = cli("--suite", "mujoco", runs_dir=tmp_path / "runs")
    run = {
        env: runner.Run("mujoco", suites.Setting("fake", str(fake)), env, 1, 1024, "fake")
        for env in ("Bad-v0", "Killed-v0", "Slow-v0")
    }
    assert runner.run_one(run["Bad-v0"], options) == 2
    # In the foreground the script's error went to the terminal: before, the reason read "folder: " and nothing.
    assert "Bad-v0__fake__1: failed (exit 2 before making a run folder: its line above)" in capsys.readouterr().out
    assert runner.run_one(run["Killed-v0"], options) == 1
    monkeypatch.setattr(runner.subprocess, "Popen", popen_then(signal.SIGTERM))
    assert runner.run_one(run["Slow-v0"], options) == 143
    assert "Killed-v0__fake__1: failed (exit 137; " in capsys.readouterr().out  # 128 + SIGKILL, as a shell says


def test_a_slurm_task_whose_run_another_process_holds_fails(tmp_path, capsys):
    """run.py --run on a run that a process holds (a local runner, an earlier task still alive): skipped, and
    not a success (exit 0 would let a Slurm array count it done)."""
    options = cli("--suite", "mujoco", runs_dir=tmp_path / "runs")
    run = runner.Run("mujoco", suites.Setting("fake", str(tmp_path / "never_started.py")), "A-v0", 1, 1024, "fake")
    held = runner.RunLock(run, options.runs_dir)
    assert held.acquire() is None
    try:
        assert runner.run_one(run, options) == 1
    finally:
        held.release()
    assert "A-v0__fake__1: busy (run.py (pid " in capsys.readouterr().out


def test_the_exit_code_of_a_stopped_runner_is_its_signals():
    """As a shell reports a process its signal ended: 128 + 2 for Ctrl-C, 128 + 15 for SIGTERM."""
    assert (runner.final_report([], signal.SIGINT), runner.final_report([], signal.SIGTERM)) == (130, 143)


def test_sigterm_reaches_each_run_once_and_the_run_is_resumed_next_time(tmp_path):
    # One worker, two runs: seed 2 waits behind seed 1 and, once the runner is stopped, is not started (no log).
    fake = tmp_path / "fake_script.py"
    fake.write_text(FAKE_SCRIPT)
    runs_dir = tmp_path / "runs"
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'benchmark')!r}); import run, suites; "
        f"rs = [run.Run('mujoco', suites.Setting('fake', {str(fake)!r}), 'Slow-v0', s, 1024, 'fake') for s in (1, 2)]; "
        f"sys.exit(run.run_locally(rs, run.tyro.cli(run.Cli, args=['--suite', 'mujoco', '--runs-dir', {str(runs_dir)!r}])))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 30
    while not list((runs_dir / "mujoco").glob("Slow-v0__*/model.pt")) and time.time() < deadline:
        time.sleep(0.05)
    # While it runs, its folder already says what made it (a report now, or a machine lost, keeps that).
    while not (running := run_folders.scan(runs_dir / "mujoco")["Slow-v0__fake__1"][0]).meta and time.time() < deadline:
        time.sleep(0.1)
    assert running.meta["command"].split()[1] == str(fake) and "returncode" not in running.meta
    assert proc.poll() is None and {"commit", "machine", "packages", "started"} <= running.meta.keys()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, out + err
    assert "run the same command again to resume" in out
    assert "Slow-v0__fake__2: not started" in out
    assert "run.py: 1 interrupted, 1 not started" in out  # exit 143 with a checkpoint: not "failed"
    assert [log.name.split("__")[2] for log in (runs_dir / "mujoco" / "logs").iterdir()] == ["1"]
    [folder] = run_folders.scan(runs_dir / "mujoco")["Slow-v0__fake__1"]
    assert folder.summary["signals"] == 1 and folder.summary["interrupted"] == "SIGTERM"
    assert folder.meta["returncode"] == 143
    state = run_folders.run_state([folder], 1024)
    assert (state.action, state.checkpoint) == ("resume", folder.path / "model.pt")


# ---------------------------------------------------------------------------------------------
# Slurm
# ---------------------------------------------------------------------------------------------

SLURM_FLAGS = ("--suite", "table1", "--seeds", "1", "--total-timesteps", "300000", "--slurm")
SLURM_FLAGS += ("--partition", "cpu", "--time", "04:00:00", "--cpus-per-task", "1", "--max-parallel", "20")


def test_slurm_script_has_one_array_task_per_run_still_to_do(tmp_path, capsys):
    done, cut = "Hopper-v4__cpi-300k__1", "Walker2d-v4__cpi-300k__1"
    make_folder(tmp_path / "table1", done, 100, total=300_000, global_step=299_008)
    make_folder(tmp_path / "table1", cut, 100, total=300_000)  # a checkpoint, no summary: killed, to resume
    options = cli(*SLURM_FLAGS, "--dry-run", runs_dir=tmp_path)
    planned = runner.plan(runner.expand(options), options)
    assert slurm.write_slurm(planned, options, runner.summarize(planned)) == 0  # --dry-run: prints the script
    text = capsys.readouterr().out
    todo = [run.key for run in runner.expand(options) if run.key != done]
    assert text.startswith("#!/bin/bash\n")
    for line in (
        "#SBATCH --job-name=ppo-table1",
        "#SBATCH --array=0-75%20",
        "#SBATCH --time=04:00:00",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem=2G",
        "#SBATCH --partition=cpu",
        "#SBATCH --signal=B:TERM@120",
        f"#SBATCH --output={tmp_path}/table1/slurm/%A_%a.out",
        f"cd {ROOT}",
        "export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1",
    ):
        assert line in text.splitlines(), line
    keys = text.split("RUNS=(\n")[1].split("\n)")[0].split()
    assert keys == todo and cut in keys and len(keys) == 76
    assert "#SBATCH --account" not in text
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    # The task's own command line selects its run: run it as task 3 would, with --dry-run.
    exec_line = next(line for line in text.splitlines() if line.startswith("exec "))
    task = exec_line.replace('"${RUNS[$SLURM_ARRAY_TASK_ID]}"', keys[3]).split()[1:]
    assert task[:2] == [sys.executable, "benchmark/run.py"]
    assert task[2:] == [
        "--suite",
        "table1",
        "--seeds",
        "1",
        "--total-timesteps",
        "300000",
        "--runs-dir",
        str(tmp_path),
        "--results-dir",
        str(tmp_path / "results"),
        "--run",
        keys[3],
    ]
    result = subprocess.run([*task, "--dry-run"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"# {keys[3]}: start (new)" in result.stdout and "--exp-name cpi-300k" in result.stdout


def test_slurm_script_quotes_a_runs_dir_with_a_space(tmp_path, capsys):
    runs_dir = tmp_path / "my runs"
    options = cli("--suite", "classic", "--seeds", "1", "--slurm", "--dry-run", runs_dir=runs_dir)
    planned = runner.plan(runner.expand(options), options)
    assert slurm.write_slurm(planned, options, runner.summarize(planned)) == 0
    [output] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("#SBATCH --output=")]
    # sbatch reads a directive's value as the shell would: before, it stopped at the space.
    assert shlex.split(output.removeprefix("#SBATCH --output=")) == [f"{runs_dir}/classic/slurm/%A_%a.out"]


def test_slurm_cli_writes_the_script_and_dry_run_prints_it(tmp_path):
    flags = (*SLURM_FLAGS, "--runs-dir", tmp_path, "--results-dir", tmp_path / "results")
    result = run_script("benchmark/run.py", *flags, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "#SBATCH --array=0-76%20" in result.stdout and not (tmp_path / "table1").exists()
    result = run_script("benchmark/run.py", *flags)
    assert result.returncode == 0, result.stderr
    [script] = (tmp_path / "table1" / "slurm").glob("table1__*.sbatch")
    assert "sbatch" in result.stdout and "#SBATCH --array=0-76%20" in script.read_text()
    result = run_script("benchmark/run.py", "--suite", "mujoco", "--submit")
    assert_one_line_error(result, "--submit goes with --slurm")


def test_real_run_interrupted_resumed_skipped_and_reported(tmp_path):
    """A tiny real run of ppo_continuous.py (4 iterations of 2048 steps) through run.py: SIGTERM after its
    first iteration stops it with a checkpoint; the same command resumes it to the end; a third time it is
    skipped; report.py stitches the two folders into one row, the markdown table and the learning curves."""
    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    flags = ["benchmark/run.py", "--suite", "mujoco", "--envs", "InvertedPendulum", "--seeds", "1"]
    flags += ["--total-timesteps", "8192", "--runs-dir", str(runs_dir)]
    key = "InvertedPendulum-v4__ppo_continuous-8192__1"
    proc = subprocess.Popen([sys.executable, *flags], cwd=ROOT, env=script_env(), stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and "step " not in "".join(p.read_text() for p in runs_dir.glob("mujoco/logs/*")):
        time.sleep(0.1)  # the script prints a status line after its first iteration
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGTERM, out  # ended by it, as a shell loop needs: its status 143
    assert f"{key}: interrupted (exit 143" in out

    result = run_script(*flags, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{key}: done" in result.stdout
    first, second = run_folders.scan(runs_dir / "mujoco")[key]
    assert first.summary["interrupted"] == "SIGTERM" and second.args["resume"].endswith(f"{first.path.name}/model.pt")
    assert second.summary["start_step"] == first.summary["global_step"] < 8192 == second.summary["global_step"]
    assert shlex.split(second.meta["command"])[1:4] == ["ppo_continuous.py", "--env-id", "InvertedPendulum-v4"]
    again = run_script(*flags)
    assert again.returncode == 0 and f"{key}: complete" in again.stdout, again.stdout + again.stderr

    result = run_script("benchmark/report.py", "--suite", "mujoco", "--runs-dir", runs_dir, "--results-dir", results)
    assert result.returncode == 0, result.stderr
    [row] = csv_rows(results / "mujoco.csv")
    assert (row["script"], row["setting"], row["env_id"], row["seed"]) == (
        "ppo_continuous.py",
        "ppo_continuous-8192",
        "InvertedPendulum-v4",
        "1",
    )
    assert (row["total_timesteps"], row["complete"], row["pieces"], row["budget"]) == ("8192", "True", "2", "8192")
    assert row["commit"] == second.meta["commit"] and float(row["final_return"]) > 0 and float(row["sps"]) > 0
    table = (results / "mujoco.md").read_text()
    assert "| InvertedPendulum-v4 | ppo_continuous-8192 | 8192 (reduced; paper 1M) | 1 (paper 3) |" in table
    assert "| ~1000 | 809.4 |" in table
    if HAS_MATPLOTLIB:
        assert (results / "mujoco.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------------------------
# The Stable-Baselines3 peer (benchmark/sb3_ppo.py, suite mujoco_sb3): the same runner, folders and report
# ---------------------------------------------------------------------------------------------

needs_sb3 = pytest.mark.skipif(
    __import__("importlib").util.find_spec("stable_baselines3") is None,
    reason="stable-baselines3 is not installed (pip install -r benchmark/requirements-speed.txt)",
)
SB3_SUMMARY_KEYS = {"global_step", "start_step", "mean_return", "episodes", "sps", "wall_seconds", "run_dir"}
SB3_SUMMARY_KEYS |= {"checkpoint", "interrupted"}
SB3_FAST = ("--num-steps", "256", "--num-minibatches", "4")  # 2048-step rollouts would make the tests slow


def test_sb3_peer_suite_dry_run_prints_the_command(tmp_path):
    flags = ["--suite", "mujoco_sb3", "--envs", "Swimmer", "--seeds", "1", "--dry-run"]
    flags += ["--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "results"]
    result = run_script("benchmark/run.py", *flags)
    assert result.returncode == 0, result.stderr
    command = result.stdout.splitlines()[1]
    assert command.startswith("OMP_NUM_THREADS=1 ")
    assert shlex.split(command)[2:] == [
        "benchmark/sb3_ppo.py",
        "--env-id",
        "Swimmer-v4",
        "--seed",
        "1",
        "--exp-name",
        "sb3_ppo",
        "--runs-dir",
        str(tmp_path / "runs" / "mujoco_sb3"),
        "--total-timesteps",
        "1000000",
        "--save-model",
    ]
    assert "# 1 runs: 0 complete, 0 running elsewhere, 0 to resume, 1 to start" in result.stdout
    assert suites.SUITES["mujoco_sb3"].description.startswith("A peer, not ours: Stable-Baselines3's PPO")
    assert suites.paper_columns("mujoco_sb3", "Swimmer-v4") == suites.paper_columns("mujoco", "Swimmer-v4")


def test_value_loss_ablation_suite_is_ppo_continuous_unclipped_beside_ours():
    """Issue 15's ablation on InvertedDoublePendulum: our script with --no-clip-vloss and nothing else changed,
    reported beside the mujoco suite (its peer table) and beside the same paper figures; and SB3 with the same
    flag, beside the ablation."""
    [run] = runner.expand(cli("--suite", "mujoco_no_clip_vloss", "--envs", "InvertedDoublePendulum", "--seeds", "4"))
    assert run.command("python", Path("runs")) == [
        "python",
        "ppo_continuous.py",
        "--env-id",
        "InvertedDoublePendulum-v4",
        "--seed",
        "4",
        "--exp-name",
        "no_clip_vloss",
        "--runs-dir",
        str(Path("runs") / "mujoco_no_clip_vloss"),
        "--total-timesteps",
        "1000000",
        "--save-model",
        "--no-clip-vloss",
    ]
    assert run.total_timesteps == suites.SUITES["mujoco"].total_timesteps
    assert suites.SUITES["mujoco_no_clip_vloss"].beside == "mujoco"
    assert suites.paper_columns("mujoco_no_clip_vloss", "Hopper-v4") == suites.paper_columns("mujoco", "Hopper-v4")
    [peer] = runner.expand(cli("--suite", "mujoco_sb3_no_clip_vloss", "--envs", "Hopper", "--seeds", "1"))
    assert peer.command("python", Path("runs"))[1] == "benchmark/sb3_ppo.py"
    assert peer.command("python", Path("runs"))[-1] == "--no-clip-vloss"
    assert suites.SUITES["mujoco_sb3_no_clip_vloss"].beside == "mujoco_no_clip_vloss"
    sb3 = suites.paper_columns("mujoco_sb3_no_clip_vloss", "Hopper-v4")
    assert sb3 == suites.paper_columns("mujoco", "Hopper-v4") and sb3["baselines ppo2 at 1M"] != "—"


def test_atari_ablation_suite_is_table5_but_for_ppo2s_three_settings():
    """Breakout with baselines ppo2's (and CleanRL's) Atari settings where they differ from Table 5 (K = 4, the
    squared value error weighted 0.25, ε constant), checkpointed as atari3's runs, beside atari3 and its figures."""
    [ours] = runner.expand(cli("--suite", "atari3", "--envs", "Breakout", "--seeds", "1"))
    [run] = runner.expand(cli("--suite", "atari3_ppo2"))
    command = run.command("python", Path("runs"))
    assert command[:2] == ours.command("python", Path("runs"))[:2] == ["python", "ppo_shared_backbone.py"]
    assert (run.env_id, run.seed, run.total_timesteps) == ("BreakoutNoFrameskip-v4", 1, 10_000_000)
    flags = ours.command("python", Path("runs"))[command.index("--save-model") + 1 :]
    assert command[command.index("--save-model") + 1 :] == [
        *flags,
        *("--update-epochs", "4", "--vf-coef", "0.25", "--no-anneal-clip"),
    ]
    assert flags == ["--save-interval", "100000"]
    suite = suites.SUITES["atari3_ppo2"]
    assert suite.beside == "atari3" and suites.is_atari(suite) and not suites.is_atari(suites.SUITES["mujoco_sb3"])
    breakout = "BreakoutNoFrameskip-v4"
    assert suites.paper_columns("atari3_ppo2", breakout) == suites.paper_columns("atari3", breakout)


@needs_sb3
def test_sb3_peer_real_run_through_the_runner_and_the_report(tmp_path, capsys):
    """A tiny real run of sb3_ppo.py (4 rollouts of 256 steps) started by run.py as the suite's runs are:
    the run folder has what run.py and report.py read, meta.json records the command, a second pass skips
    it, and the report sets it beside the paper's figures, saying it is the peer."""
    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    setting = suites.Setting("sb3_ppo", "benchmark/sb3_ppo.py", SB3_FAST)
    run = runner.Run("mujoco_sb3", setting, "InvertedPendulum-v4", 1, 1024, "sb3_ppo-1024")
    options = cli("--suite", "mujoco_sb3", runs_dir=runs_dir)
    assert runner.run_locally([run], options) == 0, capsys.readouterr().out
    assert "InvertedPendulum-v4__sb3_ppo-1024__1: done (return" in capsys.readouterr().out
    [folder] = run_folders.scan(runs_dir / "mujoco_sb3")[run.key]
    assert folder.summary.keys() == SB3_SUMMARY_KEYS
    assert (folder.summary["global_step"], folder.summary["start_step"]) == (1024, 0)
    assert folder.summary["checkpoint"] is None and folder.summary["interrupted"] is None
    assert folder.summary["episodes"] > 0 and folder.summary["mean_return"] > 0
    assert (folder.args["num_envs"], folder.args["num_steps"], folder.args["total_timesteps"]) == (1, 256, 1024)
    given = folder.args["stable_baselines3"]["ppo_kwargs"]
    assert (given["batch_size"], given["vf_coef"], given["clip_range_vf"]) == (64, 0.25, 0.2)
    assert shlex.split(folder.meta["command"])[1:3] == ["benchmark/sb3_ppo.py", "--env-id"]
    assert "--save-model" in folder.meta["command"] and {"commit", "machine"} <= folder.meta.keys()
    assert (folder.path / "sb3_model.zip").is_file() and folder.checkpoint is None  # nothing for --resume

    scalars = {
        tag: [(e.step, e.value) for e in events] for tag, events in run_folders.read_scalars(folder.path).items()
    }
    assert scalars.keys() == TENSORBOARD_KEYS
    ends = [step for step, _ in scalars["charts/episodic_length"]]
    assert ends == sorted(ends) and ends[0] > 0 and ends[-1] <= 1024  # the step where each episode ended
    lengths = [length for _, length in scalars["charts/episodic_length"]]
    assert ends[0] == lengths[0] and all(b - a == n for a, b, n in zip(ends, ends[1:], lengths[1:], strict=False))
    returns = [value for _, value in scalars["charts/episodic_return"]]
    assert returns == lengths  # InvertedPendulum pays 1 a step: the raw return, not the normalized one
    # ppo_continuous.py's schedule: the rate before rollout k is (1 - 256 (k - 1) / 1024) · 3e-4
    lr = scalars["charts/learning_rate"]
    assert [step for step, _ in lr] == [256, 512, 768, 1024]
    assert [value for _, value in lr] == pytest.approx([3e-4, 2.25e-4, 1.5e-4, 0.75e-4])

    assert runner.run_locally([run], options) == 0  # complete: skipped, not run again
    assert f"{run.key}: complete" in capsys.readouterr().out
    flags = ["--suite", "mujoco_sb3", "--runs-dir", str(runs_dir), "--results-dir", str(results)]
    paths = report.report(report.tyro.cli(report.Cli, args=flags))
    [row] = csv_rows(paths["csv"])
    assert (row["script"], row["setting"], row["env_id"], row["complete"]) == (
        "benchmark/sb3_ppo.py",
        "sb3_ppo-1024",
        "InvertedPendulum-v4",
        "True",
    )
    assert row["commit"] == folder.meta["commit"]
    assert float(row["final_return"]) == pytest.approx(folder.summary["mean_return"], abs=1e-3)
    table = paths["md"].read_text()
    assert table.startswith("# mujoco_sb3: A peer, not ours: Stable-Baselines3's PPO")
    assert "| InvertedPendulum-v4 | sb3_ppo-1024 | 1024 (reduced; paper 1M) | 1 (paper 3) |" in table
    assert "| seeds | SB3 (last 100 episodes) |" in table
    assert "| ~1000 | 809.4 |" in table
    assert re.search(r"\| InvertedPendulum-v4 \| 1024 \| [-.\d]+ \(1\) \| no run of ours \|", table)
