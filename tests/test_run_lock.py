"""benchmark/run.py: one run, one process. Two runners started on the same suite (a forgotten background
campaign, a second terminal) must not both run a run: the second skips it, in one line, while the first
lives, and takes it up once the first is dead, however it died. Real processes throughout: two runners,
each with its training script, and a SIGKILL."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_run import FAKE_ARGS
from util import ROOT

# A training script that makes its run folder, then waits for the test's word (a file) before it finishes.
WAITING_SCRIPT = (
    FAKE_ARGS
    + """run_dir = os.path.join(a.runs_dir, f"{a.env_id}__{a.exp_name}__{a.seed}__{time.time_ns()}")
os.makedirs(run_dir)
args = {"total_timesteps": a.total_timesteps, "num_envs": 1, "num_steps": 512, "resume": a.resume}
json.dump(args, open(os.path.join(run_dir, "args.json"), "w"))
open(os.path.join(run_dir, "model.pt"), "wb").close()
open(os.path.join(run_dir, "pid"), "w").write(str(os.getpid()))
while not os.path.exists(os.path.join(a.runs_dir, "finish")):
    time.sleep(0.05)
summary = {"global_step": a.total_timesteps, "start_step": 0, "mean_return": 1.0, "episodes": 1,
           "wall_seconds": 0.1, "sps": 1.0, "interrupted": None}
json.dump(summary, open(os.path.join(run_dir, "summary.json"), "w"))
"""
)

KEY = "Wait-v0__fake__1"


def start_runner(script: Path, runs_dir: Path) -> subprocess.Popen:
    """`run.py` on one run of the waiting script, as its own process (run_locally, as main() calls it)."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'benchmark')!r}); import run, suites; "
        f"r = run.Run('mujoco', suites.Setting('fake', {str(script)!r}), 'Wait-v0', 1, 1024, 'fake'); "
        f"cli = run.tyro.cli(run.Cli, args=['--suite', 'mujoco', '--runs-dir', {str(runs_dir)!r}, "
        f"'--results-dir', {str(runs_dir / 'results')!r}]); sys.exit(run.run_locally([r], cli))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def folders(runs_dir: Path) -> list[Path]:
    return sorted((runs_dir / "mujoco").glob(f"{KEY}__*"))


def wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def runs_dir(tmp_path):
    """The runs' root; at the end, whatever the test's outcome, every waiting script is told to finish."""
    yield tmp_path / "runs"
    (tmp_path / "runs" / "mujoco").mkdir(parents=True, exist_ok=True)
    (tmp_path / "runs" / "mujoco" / "finish").touch()


def test_a_second_runner_skips_the_run_the_first_is_running(tmp_path, runs_dir):
    script = tmp_path / "waiting_script.py"
    script.write_text(WAITING_SCRIPT)
    first = start_runner(script, runs_dir)
    wait_for(lambda: folders(runs_dir), "the first runner's run folder")
    second = start_runner(script, runs_dir)
    out, err = second.communicate(timeout=60)  # it does not wait for the first: it skips the run
    assert second.returncode == 1, out + err
    [line] = [line for line in out.splitlines() if KEY in line]
    holder = rf"run\.py \(pid {first.pid} on {re.escape(os.uname().nodename)}, since \d\d:\d\d\)"
    assert re.fullmatch(rf"\[1/1\] {KEY}: busy \({holder} is running it\)", line), line
    assert "Traceback" not in err and len(folders(runs_dir)) == 1  # no second folder for the run
    (runs_dir / "mujoco" / "finish").touch()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0 and f"{KEY}: done" in out, out + err
    [folder] = folders(runs_dir)
    assert json.loads((folder / "meta.json").read_text())["returncode"] == 0


def test_a_run_whose_runner_and_script_were_killed_is_taken_up_at_once(tmp_path, runs_dir):
    script = tmp_path / "waiting_script.py"
    script.write_text(WAITING_SCRIPT)
    first = start_runner(script, runs_dir)
    wait_for(lambda: folders(runs_dir), "the first runner's run folder")
    # The script runs in a session of its own: it outlives its runner, and holds the lock it inherited.
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    second = start_runner(script, runs_dir)
    out, err = second.communicate(timeout=60)
    assert f"{KEY}: busy" in out, "the orphaned script still runs the run: " + out + err
    pid_file = folders(runs_dir)[0] / "pid"
    wait_for(pid_file.exists, "the script's pid")
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid_file.read_text()}").exists(), "the script's end")
    # Nobody holds the lock now: the run's fresh folder (no summary) is resumed at once, not left as busy.
    (runs_dir / "mujoco" / "finish").touch()
    third = start_runner(script, runs_dir)
    out, err = third.communicate(timeout=60)
    assert third.returncode == 0 and f"{KEY}: done" in out, out + err
    resumed = folders(runs_dir)[-1]
    assert json.loads((resumed / "args.json").read_text())["resume"] == str(folders(runs_dir)[0] / "model.pt")
