"""benchmark/run.py on Slurm: what an array task's output says, which runs a resubmission holds back, and a
real one-node Slurm (benchmark/slurm_local.sh) running a small array, one task cancelled and one killed hard,
resubmitted, every run completed and stitched by report.py.

The first tests stand in for squeue and sbatch with small shell scripts; the last one needs Slurm and munge
(Debian: `sudo benchmark/slurm_local.sh install`) and root, and skips, saying so, where they are missing
(with PPO_SLURM_REQUIRED=1, as CI sets it once it has installed them, it fails instead)."""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_run import FAKE_SCRIPT, make_folder
from util import ROOT, csv_rows, read_scalars, script_env

sys.path.insert(0, str(ROOT / "benchmark"))
import run as runner  # noqa: E402
import run_folders  # noqa: E402
import suites  # noqa: E402

KEY = "CartPole-v1__ppo_discrete-200k__1"
SETUP = ROOT / "benchmark" / "slurm_local.sh"


def options(runs_dir: Path, *flags: str) -> runner.Cli:
    flags = ("--suite", "classic", "--envs", "CartPole", "--settings", "ppo_discrete", *flags)
    flags += ("--total-timesteps", "200000", "--runs-dir", str(runs_dir), "--results-dir", str(runs_dir / "results"))
    return runner.tyro.cli(runner.Cli, args=list(flags))


def fake_slurm(folder: Path, queue: str = "", invalid: bool = False) -> Path:
    """squeue and sbatch stand-ins in `folder`: squeue prints `queue` (or fails as for purged jobs) and
    records its arguments; sbatch answers as `sbatch --parsable` for job 42."""
    folder.mkdir(exist_ok=True)
    (folder / "queue").write_text(queue)
    squeue = f'echo "$@" >> {folder}/squeue.args\ncat {folder}/queue\n'
    if invalid:
        squeue = (
            f'echo "$@" >> {folder}/squeue.args\necho "slurm_load_jobs error: Invalid job id specified" >&2\nexit 1\n'
        )
    for name, body in (("squeue", squeue), ("sbatch", f'echo "$@" >> {folder}/sbatch.args\necho 42\n')):
        (folder / name).write_text("#!/bin/sh\n" + body)
        (folder / name).chmod(0o755)
    return folder


# ---------------------------------------------------------------------------------------------
# Item 7: an array task's output starts with what it does
# ---------------------------------------------------------------------------------------------


def test_a_slurm_task_prints_its_decision_and_command_before_the_scripts_output(tmp_path, capfd, monkeypatch):
    fake = tmp_path / "fake_script.py"
    fake.write_text(FAKE_SCRIPT)
    run = runner.Run("classic", suites.Setting("fake", str(fake)), "A-v0", 1, 1024, "fake")
    cut = make_folder(tmp_path / "runs" / "classic", run.key, 100, total=1024)
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "7")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    with runner.Children() as children:
        outcome = runner.execute(run, options(tmp_path / "runs"), children, None)
    assert outcome.status == "done", outcome
    lines = capfd.readouterr().out.splitlines()
    assert lines[0] == f"run.py: A-v0__fake__1: resume (cut short in {cut.name}) in Slurm job 7_3"
    assert lines[1].startswith("$ ") and lines[1].endswith(f"--resume {cut}/model.pt"), lines
    assert (tmp_path / "runs" / "classic" / "slurm" / "owners" / run.key).read_text() == "7_3\n"


# ---------------------------------------------------------------------------------------------
# Item 8: a run killed hard is held back only while Slurm still lists its job
# ---------------------------------------------------------------------------------------------


def killed_hard(runs_dir: Path, owner: str | None = "5_0") -> Path:
    """A run folder as SIGKILL leaves it a minute ago: a checkpoint, no summary.json; and its owner."""
    folder = make_folder(runs_dir / "classic", KEY, 100, total=200_000, age_minutes=1)
    if owner:
        (runs_dir / "classic" / "slurm" / "owners").mkdir(parents=True)
        (runs_dir / "classic" / "slurm" / "owners" / KEY).write_text(owner + "\n")
    return folder


def state(runs_dir: Path) -> run_folders.RunState:
    cli = options(runs_dir, "--seeds", "1")
    return runner.state_of(runner.expand(cli)[0], cli)


def test_slurm_decides_whether_a_run_without_summary_is_running(tmp_path, monkeypatch, capsys):
    runs_dir = tmp_path / "runs"
    folder = killed_hard(runs_dir)
    bin_dir = fake_slurm(tmp_path / "bin", queue="5_0 RUNNING\n5_1 PENDING\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    busy = state(runs_dir)
    assert (busy.action, busy.reason) == (
        "busy",
        "Slurm job 5_0 is RUNNING with it (scancel 5_0 to stop it)",
    )
    assert (bin_dir / "squeue.args").read_text() == "--noheader --array --format=%i %T --jobs=5_0\n"
    # A runner that reaches the run skips it: nothing is started beside the job's task.
    cli = options(runs_dir, "--seeds", "1")

    def never(run, *args):
        raise AssertionError(f"started {run.key} while Slurm runs it")

    with monkeypatch.context() as patch:
        patch.setattr(runner, "launch", never)
        assert runner.run_one(runner.expand(cli)[0], cli) == 1
    assert f"{KEY}: busy (Slurm job 5_0 is RUNNING with it" in capsys.readouterr().out
    # The job has ended: the folder is a minute old, but nothing runs it any more.
    fake_slurm(bin_dir, queue="5_1 PENDING\n")
    assert (state(runs_dir).action, state(runs_dir).checkpoint) == ("resume", folder / "model.pt")
    fake_slurm(bin_dir, invalid=True)  # purged from the controller's memory
    assert state(runs_dir).action == "resume"
    # The task that owns the run, deciding for itself, does not take itself for another.
    fake_slurm(bin_dir, queue="5_0 RUNNING\n")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")
    assert state(runs_dir).action == "resume"
    # Slurm cannot be asked (no squeue here): no process holds the run's lock, so nothing runs it here.
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID")
    monkeypatch.setenv("PATH", str(tmp_path / "runs"))
    assert state(runs_dir).action == "resume"


def test_resubmitting_after_a_hard_kill_holds_what_is_left(tmp_path):
    """--submit records each run's array task; a resubmission holds back only the runs whose task Slurm
    still lists, names them, and exits 1 when it leaves any out."""
    runs_dir = tmp_path / "runs"
    bin_dir = fake_slurm(tmp_path / "bin")
    env = script_env() | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    flags = ["benchmark/run.py", "--suite", "classic", "--envs", "CartPole", "--settings", "ppo_discrete"]
    flags += ["--seeds", "1", "2", "--total-timesteps", "200000", "--runs-dir", str(runs_dir)]
    flags += ["--results-dir", str(tmp_path / "results"), "--slurm", "--submit"]

    def submit() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *flags], cwd=ROOT, env=env, capture_output=True, text=True)

    first = submit()
    assert first.returncode == 0 and "Submitted batch job 42" in first.stdout, first.stdout + first.stderr
    owners = runs_dir / "classic" / "slurm" / "owners"
    assert {p.name: p.read_text() for p in owners.iterdir()} == {KEY: "42_0\n", KEY[:-1] + "2": "42_1\n"}
    # Task 42_0 was killed hard a minute ago (no summary.json); 42_1 has not started yet.
    make_folder(runs_dir / "classic", KEY, 100, total=200_000, age_minutes=1)
    fake_slurm(bin_dir, queue="42_0 RUNNING\n42_1 PENDING\n")
    again = submit()
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"run.py: held back {KEY}: Slurm job 42_0 is RUNNING" in again.stderr
    assert "nothing to submit: 2 runs are running elsewhere" in again.stderr
    fake_slurm(bin_dir, queue="")  # both tasks have ended
    again = submit()
    assert again.returncode == 0 and "1 to resume, 1 to start" in again.stdout, again.stdout + again.stderr
    assert "(2 array tasks)" in again.stdout and "held back" not in again.stderr
    # A run that a process on this machine runs holds its lock: it is held back too, and the output says so.
    runner_lock = runner.RunLock(runner.expand(options(runs_dir, "--seeds", "1"))[0], runs_dir)
    assert runner_lock.acquire() is None
    try:
        again = subprocess.run([sys.executable, *flags[:-1]], cwd=ROOT, env=env, capture_output=True, text=True)
    finally:
        runner_lock.release()
    assert again.returncode == 1 and f"held back {KEY}: run.py (pid {os.getpid()} on" in again.stderr
    assert "left out of the array: 1 runs are running elsewhere" in again.stderr, again.stderr


# ---------------------------------------------------------------------------------------------
# Item 10: a real one-node Slurm
# ---------------------------------------------------------------------------------------------

SLURM_COMMANDS = ("munged", "mungekey", "munge", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol")


def why_no_slurm() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])  # as slurm_local.sh looks
    missing = [name for name in SLURM_COMMANDS if shutil.which(name, path=path) is None]
    if missing:
        return f"Slurm and munge are not installed ({', '.join(missing)} missing): sudo {SETUP} install"
    if os.geteuid() != 0:
        return f"a one-node Slurm needs root (slurmd starts the jobs): run the tests as root, or see {SETUP}"
    return None


def free_port_pair() -> int:
    """A port p with p and p + 1 free: slurmctld's and slurmd's, away from a real cluster's."""
    for _ in range(100):
        port = random.randint(20_000, 60_000)
        try:
            for p in (port, port + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
    raise RuntimeError("no two free ports in a row")


@pytest.fixture(scope="module")
def slurm():
    """The environment of a one-node Slurm started by benchmark/slurm_local.sh, stopped afterwards."""
    reason = why_no_slurm()
    if reason is not None:
        if os.environ.get("PPO_SLURM_REQUIRED") == "1":
            pytest.fail(f"PPO_SLURM_REQUIRED=1 but {reason}")
        pytest.skip(reason)
    # munged wants every folder above its socket open to all (pytest's own are not).
    folder = Path(tempfile.mkdtemp(prefix="ppo-slurm-test-", dir="/tmp"))
    folder.chmod(0o755)
    env = script_env() | {"PPO_SLURM_DIR": str(folder), "PPO_SLURM_PORT": str(free_port_pair())}
    env["SLURM_CONF"] = str(folder / "slurm.conf")
    try:
        started = subprocess.run(["bash", str(SETUP), "start"], env=env, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stdout + started.stderr + logs(folder)
        yield env
    finally:
        stopped = subprocess.run(["bash", str(SETUP), "stop"], env=env, capture_output=True, text=True, timeout=180)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        shutil.rmtree(folder, ignore_errors=True)


def logs(folder: Path) -> str:
    return "".join(f"\n--- {p}\n{p.read_text()[-3000:]}" for p in sorted(folder.rglob("*.log")))


def wait_until(predicate, seconds: float, what: str, env: dict, out_dir: Path):
    """Poll until predicate() is true; on time-out, fail with squeue's view and the tasks' output."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    queue = subprocess.run(["squeue"], env=env, capture_output=True, text=True).stdout
    outs = "".join(f"\n--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(out_dir.glob("*.out")))
    pytest.fail(f"{what} did not happen within {seconds:.0f} s\nsqueue:\n{queue}{outs}")


def listed(env: dict, job: str) -> bool:
    """Whether squeue still lists any task of array job `job` (pending, running or completing)."""
    result = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", job], env=env, capture_output=True, text=True)
    return result.returncode == 0 and bool(result.stdout.strip())


def kill_hard(env: dict, task: str) -> None:
    """SIGKILL every process of an array task, as a lost node or the OOM killer would: nothing is written.
    (scancel, even with --signal=KILL, cancels: the run gets SIGTERM first and checkpoints.)"""
    ids = subprocess.run(["squeue", "-h", "-o", "%A", "-j", task], env=env, capture_output=True, text=True)
    pids = subprocess.run(["scontrol", "listpids", ids.stdout.strip()], env=env, capture_output=True, text=True)
    killed = 0
    for line in pids.stdout.splitlines()[1:]:
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, ValueError):
            pass
    assert killed, f"no process of {task} to kill: {ids.stdout} {pids.stdout} {pids.stderr}"


def test_a_real_slurm_array_cancelled_killed_resubmitted_completed_and_stitched(slurm, tmp_path):
    """CartPole, 2 seeds, 200k steps each (about 25 s of training on one core). Task 0 is cancelled after
    its first iteration (scancel: SIGTERM, a checkpoint, summary.json says interrupted); task 1 is killed
    hard after its periodic checkpoint at 100k (no summary.json, its folder seconds old: a guess from file
    times would hold it back for 10 minutes). The resubmitted array resumes both; report.py stitches each
    run's two folders."""
    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    out_dir = runs_dir / "classic" / "slurm"
    flags = ["benchmark/run.py", "--suite", "classic", "--envs", "CartPole", "--settings", "ppo_discrete"]
    flags += ["--seeds", "1", "2", "--total-timesteps", "200000", "--runs-dir", str(runs_dir)]
    flags += ["--results-dir", str(results), "--slurm", "--submit", "--time", "00:20:00", "--mem", "1G"]
    keys = [KEY, KEY[:-1] + "2"]

    def submit() -> tuple[subprocess.CompletedProcess, str]:
        result = subprocess.run([sys.executable, *flags], cwd=ROOT, env=slurm, capture_output=True, text=True)
        job = next((line.split()[-1] for line in result.stdout.splitlines() if "Submitted batch job" in line), "")
        return result, job

    def out(job: str, task: int) -> str:
        path = out_dir / f"{job}_{task}.out"
        return path.read_text() if path.is_file() else ""

    def folders(key: str) -> list[run_folders.RunFolder]:
        return run_folders.scan(runs_dir / "classic").get(key, [])

    first, job = submit()
    assert first.returncode == 0 and job, first.stdout + first.stderr
    wait_until(lambda: "step " in out(job, 0), 120, f"task {job}_0's first iteration", slurm, out_dir)
    subprocess.run(["scancel", f"{job}_0"], env=slurm, check=True)
    wait_until(lambda: any(f.checkpoint for f in folders(keys[1])), 240, f"task {job}_1's checkpoint", slurm, out_dir)
    kill_hard(slurm, f"{job}_1")
    wait_until(lambda: not listed(slurm, job), 120, f"job {job} ending", slurm, out_dir)

    # What the first array left: seed 1 stopped cleanly, seed 2 died with no summary.
    [stopped], [killed] = folders(keys[0]), folders(keys[1])
    assert stopped.summary["interrupted"] == "SIGTERM" and stopped.summary["global_step"] < 200_000
    assert killed.summary is None and killed.checkpoint is not None, "task 1 ended before it was killed"
    assert run_folders.run_state([killed], 200_000).action == "resume", "nothing holds it: Slurm's word decides"
    for task, key in enumerate(keys):  # Item 7: the .out says what the task did, first
        assert out(job, task).startswith(f"run.py: {key}: start (new) in Slurm job {job}_{task}\n$ "), out(job, task)

    second, job2 = submit()
    assert second.returncode == 0 and job2, second.stdout + second.stderr
    assert "0 running elsewhere, 2 to resume, 0 to start" in second.stdout and "(2 array tasks)" in second.stdout
    wait_until(lambda: not listed(slurm, job2), 400, f"job {job2} ending", slurm, out_dir)
    for task, (key, folder) in enumerate(zip(keys, (stopped, killed), strict=True)):
        text = out(job2, task)
        assert text.startswith(f"run.py: {key}: resume (cut short in {folder.path.name}) in Slurm job {job2}_{task}")
        assert f"--resume {folder.path}/model.pt\n" in text and f"run.py: {key}: done" in text, text

    third, job3 = submit()
    assert third.returncode == 0 and not job3 and "nothing to submit" in third.stderr, third.stdout + third.stderr
    assert "2 runs: 2 complete" in third.stdout

    made = subprocess.run(
        [sys.executable, "benchmark/report.py", "--suite", "classic", "--runs-dir", str(runs_dir)]
        + ["--results-dir", str(results)],
        cwd=ROOT,
        env=slurm,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    rows = {row["seed"]: row for row in csv_rows(results / "classic.csv")}
    assert {seed: (r["complete"], r["pieces"], r["budget"]) for seed, r in rows.items()} == {
        "1": ("True", "2", "200000"),
        "2": ("True", "2", "200000"),
    }
    for result in run_folders.read_runs(runs_dir / "classic", suites.SUITES["classic"]).itertuples():
        check_stitched(result, folders(run_key(result)))


def run_key(result) -> str:
    return run_folders.run_key(result.env_id, result.setting, result.seed)


def check_stitched(result, folders: list[run_folders.RunFolder]) -> None:
    """The run's episodes: the first folder's up to the step the second resumed from, then the second's."""
    first, second = folders
    assert second.args["resume"] == str(first.path / "model.pt")
    cut = json.loads((second.path / "summary.json").read_text())["start_step"]
    before = [e for e in read_scalars(first.path)["charts/episodic_return"] if e[0] <= cut]
    after = read_scalars(second.path)["charts/episodic_return"]
    assert before and after and after[0][0] > cut
    assert result.history == before + after
    steps = [step for step, _ in result.history]
    assert steps == sorted(steps) and result.total_timesteps > 200_000 - 512
