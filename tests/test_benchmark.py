"""benchmark/: suite expansion, the skip/resume decision, the local runner, the Slurm script (its text,
without a cluster), the report on a tiny real run, the stitching of resumed runs, Table 1's
normalized score against a hand-computed example, and the Stable-Baselines3 peer (sb3_ppo.py) through the
same runner and report."""

import csv
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
from util import ROOT, TENSORBOARD_KEYS, assert_one_line_error, run_script, script_env

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


# ---------------------------------------------------------------------------------------------
# Skip if complete, resume if cut short
# ---------------------------------------------------------------------------------------------

KEY = "Hopper-v4__ppo_continuous__1"


def state(runs_dir: Path, total: int = 1_000_000, **kwargs) -> run_folders.RunState:
    return run_folders.run_state(run_folders.folders_of(runs_dir, KEY, total), total, **kwargs)


def test_run_state_complete_resume_start_busy(tmp_path):
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
    assert state(tmp_path).action == "resume"
    # 1M requested is 999,424 done with batches of 2048: complete, within one batch.
    make_folder(tmp_path, KEY, 300, global_step=999_424, resume=str(stopped / "model.pt"))
    assert state(tmp_path).action == "complete"
    assert state(tmp_path, total=300_000).action == "complete"


def test_run_state_one_batch_short_is_not_complete(tmp_path):
    make_folder(tmp_path, KEY, 100, global_step=999_424 - 2048)
    assert state(tmp_path).action == "resume"


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
        "ppo_continuous.py,ppo_continuous-300k,Hopper-v4,3,299008,900,200,2500,abc,True,300000,400,1,m\n"
    )
    options = cli("--suite", "mujoco", "--envs", "Hopper", runs_dir=tmp_path / "runs")
    options = runner.dataclasses.replace(options, results_dir=results)
    states = {run.seed: runner.state_of(run, options) for run in runner.expand(options)}
    # seed 1: recorded complete; seed 2: recorded but incomplete; seed 3: recorded at another budget
    assert [states[seed].action for seed in (1, 2, 3)] == ["complete", "start", "start"]
    assert states[1].reason == f"recorded in {results / 'mujoco.csv'}"
    options = runner.dataclasses.replace(options, rerun_recorded=True)
    assert runner.state_of(runner.expand(options)[0], options).action == "start"
    assert "--rerun-recorded" in slurm.forwarded_flags(options)


# ---------------------------------------------------------------------------------------------
# The local runner, with a stand-in for a training script
# ---------------------------------------------------------------------------------------------

FAKE_SCRIPT = """
import argparse, json, os, sys, time
parser = argparse.ArgumentParser()
for flag in ("--env-id", "--exp-name", "--runs-dir", "--resume"):
    parser.add_argument(flag)
parser.add_argument("--seed", type=int)
parser.add_argument("--total-timesteps", type=int)
parser.add_argument("--save-model", action="store_true")
a, _ = parser.parse_known_args()
if a.env_id == "Bad-v0":
    sys.exit("fake: error: bad input")
assert os.environ["OMP_NUM_THREADS"] == "1"
run_dir = os.path.join(a.runs_dir, f"{a.env_id}__{a.exp_name}__{a.seed}__{int(time.time())}")
os.makedirs(run_dir)
args = {"total_timesteps": a.total_timesteps, "num_envs": 1, "num_steps": 512, "resume": a.resume, "argv": sys.argv}
json.dump(args, open(os.path.join(run_dir, "args.json"), "w"))
open(os.path.join(run_dir, "model.pt"), "wb").close()
summary = {"global_step": a.total_timesteps, "start_step": 0, "mean_return": 1.0, "episodes": 1,
           "wall_seconds": 0.1, "sps": 1.0, "interrupted": None}
if a.env_id == "Slow-v0":  # trains until a signal, like the scripts: count the signals, then stop
    import signal
    received = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: received.append(signal.Signals(signum).name))
    while not received:
        time.sleep(0.05)
    time.sleep(0.5)  # a second signal, if any, would arrive now
    summary |= {"global_step": 512, "interrupted": received[0], "signals": len(received)}
    json.dump(summary, open(os.path.join(run_dir, "summary.json"), "w"))
    sys.exit(143)
json.dump(summary, open(os.path.join(run_dir, "summary.json"), "w"))
"""


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
    assert "A-v0__fake__1: done" in out and "Bad-v0__fake__1: failed" in out
    groups = run_folders.scan(runs_dir / "mujoco")
    a = groups["A-v0__fake__1"][-1]
    assert {"command", "commit", "machine"} <= a.meta.keys()
    assert (
        a.meta["commit"]
        == subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    )
    assert shlex.split(a.meta["command"])[1:3] == [str(fake), "--env-id"]
    assert " cores" in a.meta["machine"]
    resumed = groups["B-v0__fake__1"][-1]
    assert resumed.args["resume"] == str(cut / "model.pt")
    assert (runs_dir / "mujoco" / "logs").is_dir()
    # Second pass: everything complete is skipped, nothing new is made.
    assert runner.run_locally(runs[:2], options) == 0
    assert "A-v0__fake__1: complete" in capsys.readouterr().out
    assert sum(len(v) for v in run_folders.scan(runs_dir / "mujoco").values()) == 3


def test_sigterm_reaches_each_run_once_and_the_run_is_resumed_next_time(tmp_path):
    fake = tmp_path / "fake_script.py"
    fake.write_text(FAKE_SCRIPT)
    runs_dir = tmp_path / "runs"
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'benchmark')!r}); import run, suites; "
        f"r = run.Run('mujoco', suites.Setting('fake', {str(fake)!r}), 'Slow-v0', 1, 1024, 'fake'); "
        f"sys.exit(run.run_locally([r], run.tyro.cli(run.Cli, args=['--suite', 'mujoco', '--runs-dir', {str(runs_dir)!r}])))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 30
    while not list((runs_dir / "mujoco").glob("Slow-v0__*/model.pt")) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, out + err
    assert "run the same command again to resume" in out
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


def test_slurm_script_has_one_array_task_per_run_still_to_do(tmp_path):
    done = "Hopper-v4__cpi-300k__1"
    make_folder(tmp_path / "table1", done, 100, total=300_000, global_step=299_008)
    options = cli(*SLURM_FLAGS, runs_dir=tmp_path)
    todo = [r for r in runner.expand(options) if r.key != done]
    text = slurm.slurm_script(todo, options)
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
    assert keys == [r.key for r in todo] and done not in keys and len(keys) == 76
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


# ---------------------------------------------------------------------------------------------
# Report: stitching, the normalized score, a tiny real run
# ---------------------------------------------------------------------------------------------


def test_stitch_drops_the_episodes_a_resumed_run_played_again():
    first = [(1000, 1.0), (3000, 2.0), (4096, 3.0), (5000, 99.0)]  # 5000: after its checkpoint at 4096
    second = [(5500, 4.0), (8000, 5.0)]
    assert report.stitch([(0, first), (4096, second)]) == [
        (1000, 1.0),
        (3000, 2.0),
        (4096, 3.0),
        (5500, 4.0),
        (8000, 5.0),
    ]
    assert report.final_score(report.stitch([(0, first), (4096, second)]), last=2) == 4.5


def write_events(folder: Path, episodes: list[tuple[int, float]], update_steps: list[int]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    for step, value in episodes:
        writer.add_scalar("charts/episodic_return", value, step)
    for step in update_steps:
        writer.add_scalar("charts/SPS", 1000.0, step)
    writer.close()


def test_report_stitches_a_run_resumed_from_a_checkpoint(tmp_path):
    key = "Hopper-v4__ppo_continuous-8192__1"
    first = make_folder(tmp_path, key, 100, total=8192)  # killed: no summary; last checkpoint at 4096
    write_events(first, [(1000, 1.0), (3000, 2.0), (5000, 99.0)], [2048, 4096, 6144])
    second = make_folder(tmp_path, key, 200, total=8192, global_step=8192, resume=f"elsewhere/{first.name}/model.pt")
    summary = json.loads((second / "summary.json").read_text()) | {"start_step": 4096, "wall_seconds": 2.0}
    (second / "summary.json").write_text(json.dumps(summary))
    (second / "meta.json").write_text(json.dumps({"command": "c", "commit": "abc", "machine": "m, 2 cores"}))
    write_events(second, [(6000, 4.0), (8000, 5.0)], [6144, 8192])
    [result] = report.read_suite(tmp_path, suites.SUITES["mujoco"], last=100)
    assert result.episodes == [(1000, 1.0), (3000, 2.0), (6000, 4.0), (8000, 5.0)]
    assert (result.final_return, result.total_timesteps, result.pieces, result.complete) == (3.0, 8192, 2, True)
    assert result.commit == "abc" and result.script == "ppo_continuous.py" and result.setting == "ppo_continuous-8192"
    # Without the resumed run's summary, its start is one batch before its first update.
    (second / "summary.json").unlink()
    [result] = report.read_suite(tmp_path, suites.SUITES["mujoco"], last=100)
    assert result.episodes == [(1000, 1.0), (3000, 2.0), (6000, 4.0), (8000, 5.0)] and result.complete


def test_report_keeps_recorded_runs_and_rewrites_from_the_results_alone(tmp_path):
    """Runs of two sessions add up: the second session has only the first's results (CSV and episodes),
    its own run folders; and with no run folders at all the report is rewritten from the results."""
    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    flags = ["--suite", "mujoco", "--runs-dir", str(runs_dir), "--results-dir", str(results), "--last-episodes", "2"]
    first = make_folder(runs_dir / "mujoco", "Hopper-v4__ppo_continuous-8192__1", 100, total=8192, global_step=8192)
    write_events(first, [(1000, 1.0), (4000, 2.0), (8000, 4.0)], [8192])
    report.report(report.tyro.cli(report.Cli, args=flags))
    csv_before = (results / "mujoco.csv").read_text()
    episodes_before = (results / "mujoco_episodes.csv.gz").read_bytes()
    # Next session: a new run here, the first one's folder gone.
    runs_dir.rename(tmp_path / "gone")
    second = make_folder(runs_dir / "mujoco", "Hopper-v4__ppo_continuous-8192__2", 100, total=8192, global_step=8192)
    write_events(second, [(2000, 10.0), (8000, 20.0)], [8192])
    paths = report.report(report.tyro.cli(report.Cli, args=flags))
    with open(paths["csv"]) as f:
        rows = {row["seed"]: row for row in csv.DictReader(f)}
    assert (rows["1"]["final_return"], rows["1"]["episodes"], rows["2"]["final_return"]) == ("3", "3", "15")
    assert "| Hopper-v4 | ppo_continuous-8192 | 8192 (reduced; paper 1M) | 2 (paper 3) | 9.0 ± 6.0 |" in (
        paths["md"].read_text()
    )
    assert "1 from their folders" in paths["md"].read_text() and "1 as an earlier report recorded them" in (
        paths["md"].read_text()
    )
    # No run folders at all: the same results again, byte for byte.
    runs_dir.rename(tmp_path / "gone2")
    csv_after = (results / "mujoco.csv").read_text()
    episodes_after = (results / "mujoco_episodes.csv.gz").read_bytes()
    report.report(report.tyro.cli(report.Cli, args=flags))
    assert (results / "mujoco.csv").read_text() == csv_after != csv_before
    assert (results / "mujoco_episodes.csv.gz").read_bytes() == episodes_after != episodes_before
    # A row recorded before episodes were kept: in the tables, not in the curves.
    (results / "mujoco_episodes.csv.gz").unlink()
    paths = report.report(report.tyro.cli(report.Cli, args=flags))
    assert "9.0 ± 6.0" in paths["md"].read_text() and "no learning curve kept for Hopper-v4 seed 1" in (
        paths["md"].read_text()
    )
    assert "png" not in paths
    with pytest.raises(report.ReportError, match="no runs in"):
        report.report(report.tyro.cli(report.Cli, args=[*flags[:4], "--results-dir", str(tmp_path / "empty")]))


# Hand-computed example of Table 1's normalized score. Two environments, two settings, two seeds.
#   Hopper:  random 0.   cpi runs 10, 20 (mean 15); clip0.2 runs 30, 50 (mean 40) -> best 40.
#            cpi: 10/40 = 0.25, 20/40 = 0.5;        clip0.2: 30/40 = 0.75, 50/40 = 1.25
#   Swimmer: random -100. cpi runs -50, -30 (mean -40); clip0.2 -80, -60 (mean -70) -> best -40, range 60.
#            cpi: 50/60 = 0.8333, 70/60 = 1.1667;   clip0.2: 20/60 = 0.3333, 40/60 = 0.6667
#   cpi = (0.25 + 0.5 + 0.8333 + 1.1667) / 4 = 0.6875;  clip0.2 = (0.75 + 1.25 + 0.3333 + 0.6667) / 4 = 0.75
SCORES = {
    "cpi": {"Hopper-v4": [10.0, 20.0], "Swimmer-v4": [-50.0, -30.0]},
    "clip0.2": {"Hopper-v4": [30.0, 50.0], "Swimmer-v4": [-80.0, -60.0]},
}
RANDOM = {"Hopper-v4": 0.0, "Swimmer-v4": -100.0}


def test_bootstrap_interval_of_the_mean_across_seeds():
    """Under 5 seeds there is no interval; equal scores give a point. Five 0s and five 100s resample to a
    mean of 10·k, k ~ Binomial(10, 1/2) the 100s drawn: P(k <= 1) = 11/1024 ≈ 1.1% and P(k <= 2) = 56/1024
    ≈ 5.5%, so the 2.5% quantile is 20 and, by symmetry, the 97.5% one 80; a NaN (no episode) is left out."""
    assert report.bootstrap_ci([1.0, 2.0, 3.0, 4.0]) == report.bootstrap_ci([]) == "—"
    assert report.bootstrap_ci([7.0] * 6) == "[7.0, 7.0]"
    assert report.bootstrap_ci([0.0] * 5 + [100.0] * 5) == "[20.0, 80.0]"
    assert report.bootstrap_ci([0.0] * 5 + [100.0] * 5 + [float("nan")]) == "[20.0, 80.0]"


def test_normalized_score_matches_the_hand_computed_example():
    assert report.normalized_scores(SCORES, RANDOM) == pytest.approx({"cpi": 0.6875, "clip0.2": 0.75})
    with pytest.raises(report.ReportError, match="random_policy.py --envs Swimmer-v4"):
        report.normalized_scores(SCORES, {"Hopper-v4": 0.0})


@needs_matplotlib
def test_table1_report_prints_the_normalized_score_beside_the_papers(tmp_path):
    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    for setting, per_env in SCORES.items():
        for env_id, scores in per_env.items():
            for seed, score in enumerate(scores, start=1):
                folder = make_folder(runs_dir / "table1", f"{env_id}__{setting}__{seed}", 100, global_step=999_424)
                write_events(folder, [(500_000, score)], [999_424])
    random_csv = tmp_path / "random_policy.csv"
    random_csv.write_text("env_id,episodes,mean_return\nHopper-v4,100,0.0\nSwimmer-v4,100,-100.0\n")
    flags = [
        "--suite",
        "table1",
        "--runs-dir",
        str(runs_dir),
        "--results-dir",
        str(results),
        "--random-csv",
        str(random_csv),
    ]
    paths = report.report(report.tyro.cli(report.Cli, args=flags))
    table = paths["md"].read_text()
    # The intervals: normalized, cpi's runs are 0.25, 0.5 on Hopper and 5/6, 7/6 on Swimmer; clip0.2's 0.75,
    # 1.25 and 1/3, 2/3. All four resampled to the lower (or the upper) run has probability 1/16 > 2.5%, so
    # the interval is from the lowest mean, (0.5 + 10/6) / 4 = 0.54, to the highest, (1 + 14/6) / 4 = 0.83;
    # clip0.2's from (1.5 + 2/3) / 4 = 0.54 to (2.5 + 4/3) / 4 = 0.96.
    assert "| no clipping or penalty (L^CPI) | cpi | 4 (paper 21) | 0.69 | [0.54, 0.83] | -0.39 | 2 | 2 |" in table
    assert "| clipping, ε = 0.2 | clip0.2 | 4 (paper 21) | 0.75 | [0.54, 0.96] | 0.82 | 1 | 1 |" in table
    assert "| random policy (100 episodes) | 0.0 | -100.0 |" in table
    # Per environment: the mean over seeds of the normalized runs (see the hand-computed example).
    assert "| setting | Hopper-v4 | Swimmer-v4 | all runs |" in table
    assert "| cpi | 0.38 (2) | 1.00 (2) | 0.69 (4) |" in table
    assert "| clip0.2 | 1.00 (2) | 0.50 (2) | 0.75 (4) |" in table
    assert "| best setting (= 1) | clip0.2 | cpi |  |" in table
    # 8 of 231 runs: said plainly, with what it does to the normalization.
    assert "**Incomplete: 8 of the paper's 231 runs**" in table
    assert "no runs on HalfCheetah, InvertedDoublePendulum, InvertedPendulum, Reacher, Walker2d" in table
    assert "Each setting here has 4 runs, not the paper's 21." in table
    assert "on each environment the 1 is the best of the settings run there, not of all 11" in table
    assert "- **Agrees**: the best setting is clipping, ε = 0.2 in both (ours 0.75, paper 0.82)." in table
    with open(paths["csv"]) as f:
        assert len(list(csv.DictReader(f))) == 8
    # The normalized scores beside the paper's are table1.png; the learning curves go to table1_curves.png.
    assert (paths["scores_png"], paths["png"]) == (results / "table1.png", results / "table1_curves.png")
    text = report.png_text(results / "table1.png")
    assert text[report.PNG_PLOT_KEY] == report.SCORES_PLOT
    assert set(text[report.PNG_RUNS_KEY].split()) == {
        f"{setting}/{env}/{seed}/1000000" for setting in SCORES for env in RANDOM for seed in (1, 2)
    }
    assert "Normalized scores at 1M steps, ours beside the paper's: `table1.png`." in table
    assert "Learning curves: `table1_curves.png`." in table


def table1(scores: dict[str, dict[str, list[float]]], budget: int = 1_000_000) -> report.Table1:
    """Table 1 from made-up scores, with a random policy of 0 on every environment."""
    envs = {env for per_env in scores.values() for env in per_env}
    return report.Table1(suites.SUITES["table1"], budget, dict.fromkeys(envs, 0.0), scores, [])


def test_table1_interval_resamples_each_environments_seeds():
    """Normalized (random 0, best mean 50 on Hopper): clip0.1 runs 0 and 2, clip0.2 1 and 1, cpi 0.2 and 0.2.
    clip0.1's figure resampled is 0, 1 or 2 with probabilities 1/4, 1/2, 1/4, so its interval is [0, 2] and,
    minus clip0.2's constant 1, [-1, 1]: within the noise; clip0.2 minus cpi is 0.8 in every sample: beyond it.
    A setting with a single seed on an environment has no interval."""
    t = table1(
        {
            "clip0.1": {"Hopper-v4": [0.0, 100.0]},
            "clip0.2": {"Hopper-v4": [50.0, 50.0]},
            "cpi": {"Hopper-v4": [10.0, 10.0]},
            "clip0.3": {"Hopper-v4": [50.0, 50.0], "Walker2d-v4": [10.0]},
        }
    )
    assert t.interval("clip0.1") == (0.0, 2.0) and t.interval("clip0.1", "clip0.2") == (-1.0, 1.0)
    assert t.interval("clip0.2", "cpi") == pytest.approx((0.8, 0.8))
    assert t.interval("clip0.3") is None and t.interval("clip0.2", "clip0.3") is None
    assert (
        report.gap(t, "clip0.1", "clip0.2") == "difference 0.00 (95% interval [-1.00, 1.00], within the seeds' noise)"
    )
    assert report.gap(t, "clip0.2", "cpi") == "difference 0.80 (95% interval [0.80, 0.80], beyond the seeds' noise)"
    assert report.gap(t, "clip0.3", "cpi").endswith("(no interval while a setting has a single seed on an environment)")
    # Pairs out of the paper's order (the paper's upper setting first): which are out of it beyond the noise.
    pairs = [("clip0.1", "cpi"), ("cpi", "clip0.2"), ("cpi", "clip0.3")]
    assert report.noise_of(t, pairs, out_of_order=True) == (
        "Of the 3 out of order, 1 is out of it beyond the seeds' noise: clipping, ε = 0.2 above no clipping or penalty "
        "(L^CPI), difference 0.80 (95% interval [0.80, 0.80], beyond the seeds' noise) (1 has no interval yet: a "
        "setting has a single seed on an environment)."
    )
    in_order = report.noise_of(t, [("clip0.2", "cpi"), ("clip0.2", "clip0.1")], out_of_order=False)
    assert in_order == "Of the 2 in the paper's order, 1 is in it beyond the seeds' noise."
    # The same report each time: each setting's draws come from its own fixed generator.
    again = table1({"clip0.1": {"Hopper-v4": [0.0, 100.0]}})
    assert t.draws("clip0.1").tolist() == again.draws("clip0.1").tolist()


def test_table1_ordering_statement_where_it_agrees_with_the_paper():
    # clip0.2: 50/50, 100/100 -> 1.00; klpen_fixed_3: 0.8, 0.8 -> 0.80; cpi: 0.2, 0.1 -> 0.15: the paper's order.
    t = table1(
        {
            "cpi": {"Hopper-v4": [10.0], "Walker2d-v4": [10.0]},
            "clip0.2": {"Hopper-v4": [50.0], "Walker2d-v4": [100.0]},
            "klpen_fixed_3": {"Hopper-v4": [40.0], "Walker2d-v4": [80.0]},
        }
    )
    text = "\n".join(report.ordering_statement(t))
    assert "- **Agrees**: the best setting is clipping, ε = 0.2 in both (ours 1.00, paper 0.82)." in text
    assert (
        "- **Agrees**: the kinds of objective come in the paper's order: paper clipping (ε = 0.2, 0.82) > "
        "fixed KL (β = 3, 0.72) > no clipping or penalty (-0.39); ours clipping (ε = 0.2, 1.00) > "
        "fixed KL (β = 3, 0.80) > no clipping or penalty (0.15)"
    ) in text
    assert (
        "- **Agrees**: 3 of 3 pairs of settings are in the paper's order: every one. Of the 3 in the paper's "
        "order, none are in it beyond the seeds' noise (3 have no interval yet: a setting has a "
        "single seed on an environment)."
    ) in text
    assert "Differs" not in text and "Caution" not in text


def test_table1_ordering_statement_names_the_scores_behind_a_difference():
    # Hopper: fixed β = 3 is the 1 (100), clipping 0.5; Walker2d: clipping is the 1 (100), fixed β = 3 0.8.
    # fixed β = 3: (1.0 + 0.8) / 2 = 0.90 > clipping ε = 0.2: (0.5 + 1.0) / 2 = 0.75, the paper's other way.
    scores = {
        "cpi": {"Hopper-v4": [10.0], "Walker2d-v4": [10.0]},
        "clip0.2": {"Hopper-v4": [50.0], "Walker2d-v4": [100.0]},
        "klpen_fixed_3": {"Hopper-v4": [100.0], "Walker2d-v4": [80.0]},
    }
    text = "\n".join(report.ordering_statement(table1(scores)))
    behind = (
        "difference 0.15 (no interval while a setting has a single seed on an environment); per environment, "
        "fixed KL, β = 3 against clipping, ε = 0.2: ahead on Hopper (1.00 vs 0.50); behind on Walker2d (0.80 vs 1.00)"
    )
    assert (
        "- **Differs**: our best setting is fixed KL, β = 3 (0.90; paper 0.72); the paper's, clipping, ε = 0.2 "
        f"(paper 0.82), is our 2nd (0.75): {behind}."
    ) in text
    assert "As in the paper: clipping above no clipping or penalty, fixed KL above no clipping or penalty." in text
    assert f"Ours puts fixed KL (β = 3, 0.90) above clipping (ε = 0.2, 0.75): {behind}." in text
    assert "- **Differs**: 2 of 3 pairs of settings are in the paper's order. Of the 2 in the paper's order" in text
    assert "single seed on an environment). Out of order:\n" in text
    assert f"  - fixed KL, β = 3 above clipping, ε = 0.2 (ours 0.90 vs 0.75; paper 0.72 vs 0.82): {behind}." in text
    # Within a kind of objective, and a setting with fewer environments: the caution, and what it lacks.
    scores["clip0.3"] = {"Hopper-v4": [60.0, 80.0]}  # 0.7 on Hopper: above clipping ε = 0.2's 0.75 overall
    text = "\n".join(report.ordering_statement(table1(scores)))
    assert "**Caution**: the settings' figures are means over different runs (cpi, clip0.2, klpen_fixed_3: " in text
    assert "clip0.3: Hopper (2 seeds)), so their ranking is not like for like" in text
    # 0.70 < 0.75: ε = 0.2 is still our best clipping setting
    assert "- **Agrees**: within clipping, the best is ε = 0.2 in both (ours 0.75, paper 0.82)." in text
    scores["clip0.3"] = {"Hopper-v4": [90.0, 90.0]}  # 0.9 on Hopper, no Walker2d run
    text = "\n".join(report.ordering_statement(table1(scores)))
    assert (
        "- **Differs**: within clipping, our best is ε = 0.3 (0.90; paper 0.70), the paper's ε = 0.2 (paper 0.82; "
        "ours 0.75): difference 0.15 (no interval while a setting has a single seed on an environment); per "
        "environment, clipping, ε = 0.3 against clipping, ε = 0.2: ahead on Hopper (0.90 vs 0.50); "
        "only clipping, ε = 0.2 has runs on Walker2d."
    ) in text


@needs_matplotlib
def test_table1_report_from_the_results_alone_keeps_the_reduced_budget_and_the_old_curves(tmp_path):
    """A fresh clone: table1.csv records 300k and 1M runs, no run folders; the committed table1.png holds
    learning curves drawn before table1.png became the normalized-score plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = tmp_path / "results"
    results.mkdir()
    rows = [
        f"{script},{exp},{env},1,{steps},{score},100,2000,abc,{complete},{budget},500,1,m"
        for script, exp, env, steps, score, complete, budget in (
            ("ppo_penalty.py", "cpi-300k", "Hopper-v4", 299008, 300, True, 300000),
            ("ppo_continuous.py", "clip0.2-300k", "Hopper-v4", 299008, 1800, True, 300000),
            ("ppo_penalty.py", "cpi", "Hopper-v4", 999424, 400, True, 1000000),
            ("ppo_continuous.py", "clip0.2", "Hopper-v4", 999424, 2400, True, 1000000),
            ("ppo_continuous.py", "clip0.2", "Walker2d-v4", 500000, 1000, False, 1000000),
        )
    ]
    (results / "table1.csv").write_text(",".join(report.CSV_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    random_csv = tmp_path / "random_policy.csv"
    random_csv.write_text("env_id,episodes,mean_return\nHopper-v4,100,0.0\nWalker2d-v4,100,0.0\n")
    fig = plt.figure()  # learning curves, as the report drew them before they went to table1_curves.png
    fig.savefig(results / "table1.png")
    plt.close(fig)
    old_curves = (results / "table1.png").read_bytes()
    flags = ["--suite", "table1", "--runs-dir", str(tmp_path / "no-runs"), "--results-dir", str(results)]
    flags += ["--random-csv", str(random_csv)]
    result = run_script("benchmark/report.py", *flags)
    assert result.returncode == 0, result.stderr
    assert f"moved {results / 'table1.png'} to {results / 'table1_curves.png'}" in result.stdout
    assert (results / "table1_curves.png").read_bytes() == old_curves
    assert f"kept {results / 'table1_curves.png'} as it was" in result.stdout
    assert report.png_text(results / "table1.png")[report.PNG_PLOT_KEY] == report.SCORES_PLOT
    table = (results / "table1.md").read_text()
    full, reduced = table.split("## 1M steps, the paper's budget")[1].split("## 300k steps: a reduced budget")
    assert "| cpi | 400.0 |" in full and "| clip0.2 | 2400.0 |" in full and "-300k" not in full
    assert "| clipping, ε = 0.2 | clip0.2 | 1 (paper 21) | 1.00 | — | 0.82 | 1 | 1 |" in full
    assert "| cpi-300k | 300.0 |" in reduced and "| clip0.2-300k | 1800.0 |" in reduced
    assert "| cpi-300k | 0.17 (1) | 0.17 (1) |" in reduced  # 300 / 1800: the 300k runs normalized by themselves
    assert "The paper's figures are at 1M steps, ours here at 300k." in reduced
    assert "Learning curves: `table1_curves.png`, drawn by an earlier report" in table
    # An incomplete run drawn on request is not dropped from table1.png by the next report without it.
    report.report(report.tyro.cli(report.Cli, args=[*flags, "--include-incomplete"]))
    assert "clip0.2/Walker2d-v4/1/1000000" in report.drawn_runs(results / "table1.png")
    before = (results / "table1.png").read_bytes()
    paths = report.report(report.tyro.cli(report.Cli, args=flags))
    assert (paths["scores_png"], paths["kept_scores"]) == (results / "table1_partial.png", results / "table1.png")
    assert (results / "table1.png").read_bytes() == before
    assert (results / "table1_curves.png").read_bytes() == old_curves
    # Old curves in table1.png with table1_curves.png there too: nothing is overwritten, the user decides.
    (results / "table1.png").write_bytes(old_curves)
    with pytest.raises(report.ReportError, match="keep the one you want as table1_curves.png"):
        report.report(report.tyro.cli(report.Cli, args=flags))


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
    assert proc.returncode == 143, out
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
    with open(results / "mujoco.csv") as f:
        [row] = list(csv.DictReader(f))
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


@needs_matplotlib
def test_learning_curves_png(tmp_path):
    runs_dir = tmp_path / "runs"
    for seed in (1, 2):
        folder = make_folder(runs_dir / "mujoco", f"Hopper-v4__ppo_continuous__{seed}", 100, global_step=999_424)
        write_events(folder, [(s, s / 1000 + seed) for s in range(10_000, 1_000_000, 10_000)], [999_424])
    flags = ["--suite", "mujoco", "--runs-dir", str(runs_dir), "--results-dir", str(tmp_path / "results")]
    paths = report.report(report.tyro.cli(report.Cli, args=flags))
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grid = [100_000.0, 200_000.0]
    assert report.curve([(50_000, 1.0), (90_000, 3.0), (150_000, 5.0)], grid, 60_000) == pytest.approx([2.0, 5.0])


@needs_matplotlib
def test_report_never_replaces_a_png_that_shows_runs_it_cannot_redraw(tmp_path):
    """Issue 16, item 9: runs recorded before episodes were kept have their curves only in the committed PNG;
    a report of a few new runs must keep that PNG, draw beside it, and say so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    flags = ["--suite", "classic", "--runs-dir", str(runs_dir), "--results-dir", str(results)]
    results.mkdir()
    header = ",".join(report.CSV_COLUMNS)
    (results / "classic.csv").write_text(
        f"{header}\nppo_discrete.py,ppo_discrete,CartPole-v1,1,499712,500,100,5000,abc,True,500000,900,1,m\n"
    )
    fig = plt.figure()  # classic.png as drawn before PNGs named their runs (and episodes were kept)
    fig.savefig(results / "classic.png")
    plt.close(fig)
    before = (results / "classic.png").read_bytes()
    for seed in (1, 2):
        key = f"CartPole-v1__ppo_discrete-20k__{seed}"
        folder = make_folder(runs_dir / "classic", key, 100, total=20_000, global_step=19_968 if seed == 1 else 5120)
        write_events(folder, [(5000, 20.0), (19_968, 60.0)][: 3 - seed], [5120])
    result = run_script("benchmark/report.py", *flags)
    assert result.returncode == 0, result.stderr
    assert (results / "classic.png").read_bytes() == before
    assert f"kept {results / 'classic.png'} as it was" in result.stdout
    assert f"wrote {results / 'classic_partial.png'}" in result.stdout
    assert "`classic.png`, drawn earlier, is kept as it was: it shows 1 runs" in (results / "classic.md").read_text()
    # With every run's episodes kept, the PNG names the runs it shows, and is replaced by a plot that
    # shows them all, but not by one that leaves some out (here: an incomplete run, drawn on request).
    (results / "classic.csv").unlink()
    (results / "classic_episodes.csv.gz").unlink()
    with_incomplete = report.report(report.tyro.cli(report.Cli, args=[*flags, "--include-incomplete"]))
    assert with_incomplete["png"] == results / "classic.png" and "kept" not in with_incomplete
    assert report.drawn_runs(results / "classic.png") == {
        "ppo_discrete-20k/CartPole-v1/1/20000",
        "ppo_discrete-20k/CartPole-v1/2/20000",
    }
    before = (results / "classic.png").read_bytes()
    paths = report.report(report.tyro.cli(report.Cli, args=flags))
    assert (paths["png"], paths["kept"]) == (results / "classic_partial.png", results / "classic.png")
    assert (results / "classic.png").read_bytes() == before
    assert report.drawn_runs(paths["png"]) == {"ppo_discrete-20k/CartPole-v1/1/20000"}


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
    with open(paths["csv"]) as f:
        [row] = list(csv.DictReader(f))
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


@needs_sb3
def test_sb3_peer_stops_cleanly_on_sigterm_and_is_restarted_from_scratch(tmp_path):
    flags = ["--env-id", "InvertedPendulum-v4", "--total-timesteps", "1000000", "--runs-dir", str(tmp_path), *SB3_FAST]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmark" / "sb3_ppo.py"), *flags],
        cwd=ROOT,
        env=script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().startswith("step "), "the status line after the first update"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, out + err
    assert "Traceback" not in err and out.startswith("interrupted: step ")
    [folder] = run_folders.scan(tmp_path)["InvertedPendulum-v4__sb3_ppo__1"]
    assert folder.summary["interrupted"] == "SIGTERM" and 256 <= folder.summary["global_step"] < 1_000_000
    assert folder.summary.keys() == SB3_SUMMARY_KEYS
    state = run_folders.run_state([folder], 1_000_000, checkpoint_step=run_folders.checkpoint_step)
    assert (state.action, state.reason, state.checkpoint) == ("start", "no checkpoint", None)


@needs_sb3
def test_sb3_peer_gets_ppo_continuous_learning_rate_schedule():
    """SB3 asks for the rate after rollout k, at progress 1 - 2048 k / 999,424 (the rounded budget); ours
    set it before that rollout: (1 - 2048 (k - 1) / 1,000,000) · 3e-4, from 3e-4 down to nearly 0."""
    import sb3_ppo

    schedule = sb3_ppo.AnnealedLR(3e-4, 2048, 999_424, 1_000_000)
    sb3 = [schedule(1.0 - 2048 * k / 999_424) for k in range(1, 489)]
    assert sb3 == pytest.approx([(1.0 - 2048 * (k - 1) / 1_000_000) * 3e-4 for k in range(1, 489)], rel=1e-12)
    assert schedule(1.0) == 3e-4  # SB3's first call, when it builds the optimizer
    given = sb3_ppo.sb3_kwargs(sb3_ppo.Args(), 999_424)
    assert given["learning_rate"] == schedule and given["batch_size"] == 64 and given["vf_coef"] == 0.25
    assert sb3_ppo.sb3_kwargs(sb3_ppo.Args(clip_vloss=False, anneal_lr=False), 999_424)["clip_range_vf"] is None


@needs_sb3
def test_sb3_peer_refuses_bad_input_in_one_line():
    result = run_script("benchmark/sb3_ppo.py", "--env-id", "Hoper-v4", "--total-timesteps", "2048")
    assert result.returncode == 2
    assert_one_line_error(result, "Hoper-v4")
    import sb3_ppo

    with pytest.raises(sb3_ppo.UserError, match="not divisible by --num-minibatches"):
        sb3_ppo.validate(sb3_ppo.Args(num_minibatches=3))
    with pytest.raises(sb3_ppo.UserError, match="--total-timesteps must be at least"):
        sb3_ppo.validate(sb3_ppo.Args(total_timesteps=1000))


# ---------------------------------------------------------------------------------------------
# speed.py's report and penalty_beta.py's summary (their arithmetic, on made-up figures)
# ---------------------------------------------------------------------------------------------


def test_speed_report_gives_ratios_and_targets():
    import speed
    import speed_profile

    split = {"env_step": 0.25, "inference": 0.35, "update": 0.3, "other": 0.1}
    results = {
        "versions": {"torch": "2.x", "sb3": "2.y", "gymnasium": "1.z"},
        "cases": {
            "hopper": {"ours": 3000.0, "ours_all": [3000.0], "split": split, "sb3": 1000.0, "sb3_all": [1000.0]},
            "hopper_penalty": {"ours": 2800.0, "ours_all": [2800.0], "split": split, "sb3": 1000.0, "sb3_all": [1e3]},
            "cartpole": {"ours": 15000.0, "ours_all": [15000.0], "split": split, "sb3": 10000.0, "sb3_all": [1e4]},
        },
    }
    memory = {"100k": 500.0, "1M": 520.0, "1M_return": 2500.0, "1M_wall": 400.0, "1M_sps": 2500.0, "commit": "abc"}
    results["profile"] = {"env_step": 100.0, "policy_forward": 50.0, "normalizers": 20.0, "mb_forward": 200.0}
    results["profile"] |= {"mb_backward": 300.0, "mb_clip": 50.0, "mb_adam": 90.0, "update_per_step": 100.0}
    text = speed.render(results, 1, "python benchmark/speed.py", memory)
    # 100 + 50 + 20 + 100 = 270 µs per step; twice SB3's 1,000 steps/s leaves 500 µs per step.
    assert "cost 270 µs per step (3,704 steps/s)" in text and "leaves 500 µs per step" in text
    assert "The pieces fit in it" in text  # 270 ≤ 500
    results["profile"]["update_per_step"] = 400.0  # 100 + 50 + 20 + 400 = 570 > 500: the update bounds it
    assert "the ratio is bounded there" in speed.render(results, 1, "python benchmark/speed.py", memory)
    assert "| 3,000 | 1,000 | 3.00× ✓ | ≥ 2.0× | 25% | 35% | 30% | 10% |" in text  # 3,000 / 1,000 meets 2×
    assert "| 15,000 | 10,000 | 1.50× ✗ |" in text  # 1.5× misses 2×
    # penalty: 2.8× against hopper's 3.0× is 0.93 of hopper's ratio, inside the 10% asked for
    assert "| 2.80× ✓ | hopper's ratio ± 10% (here 0.93) |" in text
    results["cases"]["hopper_penalty"]["ours"] = 2600.0  # 2.6 / 3.0 = 0.87: more than 10% below
    assert "| 2.60× ✗ | hopper's ratio ± 10% (here 0.87) |" in speed.render(results, 1, "x", memory)
    assert "500 MiB at 100k steps, 520 MiB at 1M steps (+4.0%" in text
    assert "What bounds ppo_shared_backbone.py" not in text  # no Breakout profile measured
    parts = dict(
        zip(
            [name for name, _ in speed_profile.UPDATE_PARTS] + [speed_profile.THE_REST],
            [0.4, 0.2, 0.15, 0.05, 0.02, 0.18],
            strict=True,
        )
    )
    results["cases"]["breakout"] = {"ours": 330.0, "ours_all": [330.0], "split": split, "sb3": 250.0, "sb3_all": [250]}
    results["profile_breakout"] = {"update_ms_per_step": 2.0, "parts": parts}
    text = speed.render(results, 1, "python benchmark/speed.py", memory)
    assert "| convolutions, backward | 40% |" in text and "2.00 ms per environment step" in text
    assert "80% of the update is the Nature CNN's own arithmetic" in text  # 0.4 + 0.2 + 0.15 + 0.05


def test_penalty_beta_summary(tmp_path):
    import penalty_beta
    from torch.utils.tensorboard import SummaryWriter

    run_dir = tmp_path / "Hopper-v4__klpen__1__1"
    writer = SummaryWriter(str(run_dir))
    # d_targ = 0.01, band [0.00667, 0.015]: 0.001 below, 0.01 and 0.015 inside, 0.02 above.
    for step, (beta, kl) in enumerate([(1.0, 0.001), (0.5, 0.01), (0.5, 0.015), (0.5, 0.02)]):
        writer.add_scalar("charts/beta", beta, step)
        writer.add_scalar("losses/kl", kl, step)
    writer.close()
    (run_dir / "args.json").write_text(json.dumps({"kl_target": 0.01, "seed": 1}))
    (run_dir / "summary.json").write_text(json.dumps({"global_step": 4, "mean_return": 1.0, "beta": 1.0}))
    row = penalty_beta.describe(run_dir)
    assert (row["beta_min"], row["beta_max"], row["beta_final"]) == (0.5, 1.0, 1.0)
    assert (row["below"], row["inside"], row["above"]) == (0.25, 0.5, 0.25)


def test_curve_points_average_the_last_episodes_by_each_point():
    def run(episodes):
        return report.RunResult("s.py", "s", "Pong", 1, 300, 300, 0.0, 1.0, 1.0, "c", True, 1, "m", episodes)

    # Seed 1: returns 1, 2, 3 end at steps 50, 100, 250; seed 2: 10 at 150. With the last 2 episodes:
    # at 100: seed 1 → mean(1, 2) = 1.5, seed 2 has none yet → 1.5; at 200: (1.5 + 10) / 2 = 5.75;
    # at 300: seed 1 → mean(2, 3) = 2.5 → (2.5 + 10) / 2 = 6.25.
    # Seed 3 was recorded before episodes were kept: it has no curve, and the runs column says 2 of 3.
    groups = {(300, "s", "Pong"): [run([(50, 1.0), (100, 2.0), (250, 3.0)]), run([(150, 10.0)]), run([])]}
    lines = report.curve_points(groups, 100, last=2)
    assert "| s | Pong | 2 of 3 | 1.5 | 5.8 | 6.2 |" in lines, lines  # 5.75 and 6.25 print rounded half to even
    assert report.curve_points({(300, "s", "Pong"): [run([])]}, 100) == [], "no curve kept: no heading either"


def test_peer_table_sets_the_peer_beside_ours_with_the_interval_of_the_difference():
    def run(setting, env_id, seed, score, complete=True):
        return report.RunResult("s.py", setting, env_id, seed, 1_000_000, 10**6, score, 1.0, 1.0, "c", complete, 1, "m")

    # SB3: five 0s and five 100s; ours: 50 on every seed. The difference's interval is then the SB3 mean's,
    # [20, 80], shifted by -50 (the same draws: SB3's sample is resampled first from the same generator).
    peer = [run("sb3_ppo", "Swimmer-v4", seed, 0.0 if seed <= 5 else 100.0) for seed in range(10, 0, -1)]
    peer.append(run("sb3_ppo", "Hopper-v4", 1, 2000.0))
    ours = [run("ppo_continuous", "Swimmer-v4", seed, 50.0) for seed in range(1, 11)]
    ours.append(run("ppo_continuous", "Swimmer-v4", 11, 5.0, complete=False))  # incomplete: not a score
    lines = report.peer_table(suites.SUITES["mujoco_sb3"], report.group(peer), ours)
    row = "| Swimmer-v4 | 1M | 50.0 ± 50.0 (10) | 50.0 ± 0.0 (10) | [-30.0, 30.0] | 0.0 / 0.0 / 0.0 / 0.0 / 0.0 / "
    assert any(line.startswith(row + "100.0 / 100.0 / 100.0 / 100.0 / 100.0 | 50.0 / ") for line in lines), lines
    assert "| Hopper-v4 | 1M | 2000.0 (1) | no run of ours |  |  |  |" in lines, lines
    assert report.bootstrap_ci([0.0] * 5 + [100.0] * 5, [1.0] * 4) == "—"  # under 5 seeds on one side


def test_the_readme_mujoco_tables_are_copied_from_the_reports():
    """Honest results: the README's MuJoCo rows are mujoco.md's (written by report.py from mujoco.csv) without
    its setting and steps columns, and its peer and ablation tables are mujoco_sb3.md's and
    mujoco_no_clip_vloss.md's: never figures typed in, or left
    behind when the results moved on."""

    def rows(text: str) -> list[list[str]]:
        text = text.replace("−", "-")  # the README prints minus signs
        return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if "-v4 |" in line]

    readme = (ROOT / "README.md").read_text().split("### MuJoCo, PPO-Clip")[1].split("###")[0]
    ours = rows(readme.split("**The Stable-Baselines3 peer.**")[0])
    table = (ROOT / "benchmark" / "results" / "mujoco.md").read_text().split("## Learning curve")[0]
    recorded = [[row[0], *row[3:]] for row in rows(table)]
    assert len(ours) == 7 and ours == recorded
    peer, ablation = readme.split("**The Stable-Baselines3 peer.**")[1].split("**Value clipping, an ablation.**")
    reports = (ROOT / "benchmark" / "results" / "mujoco.md").read_text()  # its curve table too
    for text, name in ((peer, "mujoco_sb3.md"), (ablation, "mujoco_no_clip_vloss.md")):
        md = (ROOT / "benchmark" / "results" / name).read_text()
        assert rows(text) and rows(text) == rows(md.split("## Beside ours")[1].split("## ")[0]), name
        reports += md
    reports += (ROOT / "benchmark" / "results" / "mujoco_sb3_no_clip_vloss.md").read_text()  # quoted, not copied
    prose = "\n".join(line for line in peer.splitlines() + ablation.splitlines() if not line.startswith("|"))
    score = r"(?<![\d.])-?\d+\.\d(?![.\d])"  # 84.7, not a version (2.9.2) or γ (0.99)
    figures = set(re.findall(score, prose))  # every score it quotes is in a report
    assert figures and figures <= set(re.findall(score, reports)), figures - set(re.findall(score, reports))


def test_the_readme_table1_section_quotes_table1_md():
    """The README's Table 1 at 1M: its table is table1.md's, and every normalized score and run count its
    prose quotes is in table1.md's 1M section."""
    readme = (ROOT / "README.md").read_text().split("### Table 1 (the surrogate objectives)")[1].split("\n### ")[0]
    md = (ROOT / "benchmark" / "results" / "table1.md").read_text()
    one_m = md.split("## 1M steps, the paper's budget")[1].split("\n## ")[0]
    beside = one_m.split("### Normalized score beside the paper's Table 1")[1].split("###")[0]
    table = [line for line in readme.splitlines() if line.startswith("|")]
    assert table and table == [line for line in beside.splitlines() if line.startswith("|")]
    prose = "\n".join(line for line in readme.splitlines() if not line.startswith("|"))
    scores = set(re.findall(r"-?\d\.\d\d\b", prose))
    assert scores and all(score in one_m for score in scores), scores - set(re.findall(r"-?\d\.\d\d", one_m))
    counts = re.findall(r"there are (\d+) of its (\d+) runs", prose)
    if counts:  # while runs are missing, the README's count is table1.md's
        [(runs, paper)] = counts
        assert f"**Incomplete: {runs} of the paper's {paper} runs**" in one_m
    else:  # the README calls it complete only when table1.md does
        assert "all 231 runs" in prose and "Complete: 21 runs for each of the 11 settings" in one_m


def test_compare_losses_compares_distributions_in_standard_errors():
    import compare_losses

    def runs(means):  # one run per seed, every loss logged twice with the given mean
        return [{key: [m - 1.0, m + 1.0] for key in compare_losses.KEYS} for m in means]

    # before: 1, 2, 3 (mean 2, sample variance 1); now: 3, 4, 5 (mean 4, variance 1)
    # standard error √(1/3 + 1/3) = 0.8165, so the difference 2 is 2.449 standard errors
    result = compare_losses.compare_distributions(runs([1.0, 2.0, 3.0]), runs([3.0, 4.0, 5.0]))
    mean_before, mean_now, z = result["losses/entropy"]
    assert (mean_before, mean_now) == (2.0, 4.0) and z == pytest.approx(2.449, abs=1e-3)
