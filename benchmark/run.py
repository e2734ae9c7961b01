"""Run a benchmark suite: locally, a few processes at a time, or as a Slurm job array (slurm.py).

A suite (suites.py) expands into runs (setting × environment id × seed), each one process of a script writing
into `benchmark/runs/<suite>/`. Run again, the same command skips the runs that are complete (or that
`benchmark/results/<suite>.csv` records as complete) or running in another process, and resumes those cut short.

    python benchmark/run.py --suite mujoco --workers 2
    python benchmark/run.py --suite table1 --seeds 1 --total-timesteps 300000 --dry-run
    python benchmark/run.py --suite table1 --slurm --partition cpu --time 04:00:00 --cpus-per-task 1 [--submit]
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import tyro
from repo import REPO, UserError, display, git_commit, machine, quiet_on_closed_pipe, versions
from run_folders import RunState, checkpoint_step, folders_of, recorded_runs, run_key, run_state, scan
from slurm import slurm_jobs, take_over, write_slurm
from suites import SUITES, Setting, Suite, SuiteName, exp_name

RECORD = REPO / "benchmark" / "results"  # the published record: report.py --publish writes it, nothing else


@dataclass
class Cli:
    """Run a benchmark suite (locally, or as a Slurm job array with --slurm)."""

    suite: SuiteName  # which suite (see benchmark/README.md)
    seeds: tuple[int, ...] | None = None  # seeds to run (None: the suite's, 1 2 3)
    total_timesteps: int | None = None  # step budget (None: the suite's); others go into the exp name: clip0.1-300k
    envs: tuple[str, ...] | None = None  # environments (None: the suite's), as full ids or short names: Hopper, Pong
    settings: tuple[str, ...] | None = None  # settings to run, by slug (None: all), e.g. cpi clip0.2 klpen_fixed_1
    workers: int = 1  # local runs at a time (each a single-threaded process: OMP_NUM_THREADS=1)
    dry_run: bool = False  # print what would run (or the Slurm script) and exit
    runs_dir: Path = REPO / "benchmark" / "runs"  # root of the run folders; a suite's runs go to <runs-dir>/<suite>
    python: str = sys.executable  # the Python interpreter that runs the scripts
    resume: bool = True  # resume a run cut short from its checkpoint; --no-resume restarts it from scratch
    results_dir: Path = RECORD  # report.py's record; complete runs in <suite>.csv are skipped
    rerun_recorded: bool = False  # run again the runs that <suite>.csv records as complete (e.g. to remake their logs)

    # --- Slurm ---
    slurm: bool = False  # write a Slurm job-array script (one task per run still to do) instead of running locally
    submit: bool = False  # with --slurm: also submit the script with sbatch
    partition: str | None = None  # sbatch --partition
    time: str | None = None  # sbatch --time of one array task (None: the suite's, e.g. 02:00:00 for MuJoCo)
    cpus_per_task: int = 1  # sbatch --cpus-per-task
    mem: str | None = None  # sbatch --mem (None: the suite's, e.g. 2G)
    account: str | None = None  # sbatch --account
    qos: str | None = None  # sbatch --qos
    max_parallel: int | None = None  # at most this many array tasks at once (the %N of --array)
    run: str | None = None  # only the run <env_id>__<exp_name>__<seed>, in the foreground (what an array task calls)


@dataclass(frozen=True)
class Run:
    """One training process to be done: a setting on an environment with a seed and a step budget."""

    suite: str
    setting: Setting
    env_id: str
    seed: int
    total_timesteps: int
    exp_name: str

    @property
    def key(self) -> str:
        return run_key(self.env_id, self.exp_name, self.seed)

    def command(self, python: str, runs_dir: Path, resume: Path | None = None) -> list[str]:
        """The script's command line, run from the repository's root."""
        cmd = [python, self.setting.script, "--env-id", self.env_id, "--seed", str(self.seed)]
        cmd += ["--exp-name", self.exp_name, "--runs-dir", display(runs_dir / self.suite)]
        cmd += ["--total-timesteps", str(self.total_timesteps), "--save-model", *self.setting.flags]
        return cmd + (["--resume", display(resume)] if resume is not None else [])


def select_envs(suite: Suite, names: tuple[str, ...] | None) -> list[str]:
    """The suite's env ids, or those named: a full id (any gymnasium id), or a short name (Hopper, Pong)."""
    if names is None:
        return list(suite.env_ids)
    chosen = []
    for name in names:
        matches = [e for e in suite.env_ids if name.lower() in (e.lower(), short_name(e).lower())]
        if not matches and "-v" in name:
            matches = [name]  # a full id outside the suite's list: allowed, on the user's word
        if not matches:
            raise UserError(f"--envs: {name!r} is not in suite {suite.name}; its envs are {', '.join(suite.env_ids)}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def short_name(env_id: str) -> str:
    """Hopper-v4 -> Hopper, PongNoFrameskip-v4 -> Pong."""
    return env_id.split("-v")[0].removesuffix("NoFrameskip")


def select_settings(suite: Suite, slugs: tuple[str, ...] | None) -> list[Setting]:
    if unknown := [slug for slug in slugs or () if suite.setting(slug) is None]:
        known = " ".join(s.slug for s in suite.settings)
        raise UserError(f"--settings: {', '.join(unknown)} not in suite {suite.name}; its settings are {known}")
    return [s for s in suite.settings if slugs is None or s.slug in slugs]


def expand(cli: Cli) -> list[Run]:
    """The suite's runs after the reductions of the flags, seed by seed (a first seed of everything comes first)."""
    suite = SUITES[cli.suite]
    total = suite.total_timesteps if cli.total_timesteps is None else cli.total_timesteps
    if total <= 0:
        raise UserError("--total-timesteps must be positive")
    seeds = suite.seeds if cli.seeds is None else dict.fromkeys(cli.seeds)  # a seed given twice is one run
    settings, envs = select_settings(suite, cli.settings), select_envs(suite, cli.envs)
    runs = [
        Run(suite.name, setting, env_id, seed, total, exp_name(setting, total, suite))
        for seed, setting, env_id in product(seeds, settings, envs)
    ]
    if cli.run is None:
        return runs
    if not (match := [run for run in runs if run.key == cli.run]):
        raise UserError(f"--run {cli.run}: no such run in suite {cli.suite} with these flags")
    return match


def state_of(run: Run, cli: Cli, jobs: dict | None = None, locked: bool = False) -> RunState:
    """What to do about a run now. `jobs`: slurm_jobs of the runs (asked here when None); `locked`: this
    process holds the run's lock (else a process that holds it is running the run)."""
    results = cli.results_dir / f"{run.suite}.csv"
    complete, steps = recorded_runs(results).get((run.key, run.total_timesteps), (False, 0))
    if complete and not cli.rerun_recorded:
        return RunState("complete", f"recorded in {display(results)}")
    if not locked and (holder := RunLock(run, cli.runs_dir).holder()):
        return RunState("busy", f"{holder} is running it")
    folders = folders_of(cli.runs_dir / run.suite, run.key, run.total_timesteps)
    job = (slurm_jobs([run], cli) if jobs is None else jobs).get(run.key)
    state = run_state(folders, run.total_timesteps, cli.resume, checkpoint_step, slurm_job=job)
    if state.action == "start" and not complete and steps:  # a campaign on a machine without its run folders
        state.reason += f"; {display(results)} has it at {steps:,} steps, but no checkpoint of it is here"
    return state


class RunLock:
    """An exclusive flock on <runs-dir>/<suite>/locks/<key>.lock, held while a process runs the run. The
    training script inherits it, so it is held until both the runner and the script have ended, however
    they end: the kernel drops it with the last process, and a run killed hard is never taken for a live
    one. The file names its holder, for the message of a process that finds it taken."""

    def __init__(self, run: Run, runs_dir: Path):
        self.path = runs_dir / run.suite / "locks" / f"{run.key}.lock"
        self.file = None

    def acquire(self) -> str | None:
        """Takes the lock; returns None, or the holder's description when another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a+")  # noqa: SIM115 (held open for the run: the lock lives with it)
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.release()
            return holder
        self.file.truncate(0)
        self.file.write(f"run.py (pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M')})\n")
        self.file.flush()
        return None

    def release(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def holder(self) -> str | None:
        """Who holds the lock now (None: nobody), without keeping it."""
        if not self.path.exists():
            return None
        holder = self.acquire()
        self.release()
        return holder


class Children:
    """The training processes running now. Each runs in its own session, so a signal reaches it only
    through the runner, which forwards each Ctrl-C/SIGTERM: at the first the script checkpoints and stops
    after its iteration, at a second Ctrl-C it stops at once (the scripts ignore a repeated SIGTERM)."""

    def __init__(self):
        self.lock = threading.RLock()  # the handler may run while the main thread holds it
        self.procs: dict[subprocess.Popen, int] = {}  # each child, and how many of `signals` it has been sent
        self.signals: list[int] = []  # the Ctrl-C/SIGTERMs received, in order
        self.previous: dict = {}

    @property
    def signal(self) -> int | None:
        """The first signal received (None: the runner was not told to stop)."""
        return self.signals[0] if self.signals else None

    def __enter__(self) -> Children:
        self.previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def handle(self, signum: int, frame) -> None:
        what = "again: stopping the runs at once"
        if self.signal is None:
            what = "stopping the runs after their iteration (they checkpoint); no new run starts; again to stop them"
            what += " at once"
        self.signals.append(signum)
        print(f"\nrun.py: {signal.Signals(signum).name}: {what}", file=sys.stderr)
        with self.lock:
            self.forward()

    def forward(self) -> None:
        """Sends each live child the signals it has not been sent yet, once each. A child being started when
        a signal came (in the thread the handler ran in, as with --run) gets them once it is registered."""
        for proc, sent in self.procs.items():
            if proc.poll() is None:
                for signum in self.signals[sent:]:
                    proc.send_signal(signum)
            self.procs[proc] = len(self.signals)

    def run(self, cmd: list[str], **kwargs) -> int | None:
        """Runs a script with one thread (N processes at a time on N cores): its exit code as a shell gives it
        (ended by a signal: 128 + its number; a stopped script ends by the signal, 130 or 143), or None when the
        runner was told to stop before it started."""
        with self.lock:
            if self.signals:
                return None
            env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True, **kwargs)
            self.procs[proc] = 0
            self.forward()  # a signal that came while Popen ran
        returncode = proc.wait()
        with self.lock:
            del self.procs[proc]
        return 128 - returncode if returncode < 0 else returncode


@dataclass
class Outcome:
    run: Run
    status: str  # complete (skipped), busy (skipped), done, interrupted, failed, not started
    detail: str = ""
    returncode: int | None = None
    folder: Path | None = None  # the run folder the script made (None: it made none)


def execute(run: Run, cli: Cli, children: Children, log: Path | None) -> Outcome:
    """Do one run: skip it when complete or busy, else resume or start it. The decision is made here, just
    before starting, from what is on disk now. `log`: where the script's output goes (None: this process's
    own stdout, as in a Slurm task)."""
    if children.signal is not None:  # queued behind a stopped runner: no lock taken, no log written
        return Outcome(run, "not started", "the runner was asked to stop")
    lock = RunLock(run, cli.runs_dir)
    if holder := lock.acquire():
        return Outcome(run, "busy", f"{holder} is running it")
    try:
        state = state_of(run, cli, locked=True)
        if state.action in ("complete", "busy"):
            return Outcome(run, state.action, state.reason)
        owner = take_over(run, cli)
        if log is None:  # a Slurm task's .out: say what it does, as a local log's first lines do
            print(f"run.py: {run.key}: {state.action} ({state.reason}){f' in Slurm job {owner}' if owner else ''}")
        outcome = launch(run, cli, children, log, state.checkpoint, lock)
        if outcome.returncode == 2 and outcome.folder is None and state.checkpoint is not None and not children.signal:
            # The script refused the checkpoint before it began (unreadable, or made by other code): start afresh.
            # An error once under way (a non-finite loss, a full disk) is the run's failure, its steps kept.
            print(f"run.py: {run.key}: resuming {display(state.checkpoint)} failed; starting it afresh")
            outcome = launch(run, cli, children, log, None, lock)
        return outcome
    finally:
        lock.release()


def launch(run: Run, cli: Cli, children: Children, log: Path | None, resume: Path | None, lock: RunLock) -> Outcome:
    """Start the script (it inherits the run's lock), wait for it, and write meta.json into the folder it made:
    the command, the commit (and whether the script differs from it), the machine, the packages' versions, the
    times, and once it has ended its exit code. The first meta.json goes in as soon as the folder is made, so that
    a report made while the run goes on, or a run killed with its machine, still says what made it."""
    cmd = run.command(cli.python, cli.runs_dir, resume)
    command = shlex.join([display(cmd[0]) if Path(cmd[0]).is_absolute() else cmd[0], *cmd[1:]])
    runs_dir = cli.runs_dir / run.suite
    before = {f.path for f in scan(runs_dir).get(run.key, [])}
    diff = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", run.setting.script], cwd=REPO, capture_output=True)
    meta = {"command": command, "commit": git_commit(), "machine": machine(), "script_modified": diff.returncode != 0}
    meta |= {"packages": versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with meta_once_made(runs_dir, run.key, dict(meta)), open(log, "a") if log else contextlib.nullcontext() as out:
        print(f"$ {command}", file=out, flush=True)  # no log: to this process's stdout
        stderr = subprocess.STDOUT if out else None
        returncode = children.run(cmd, stdout=out, stderr=stderr, pass_fds=(lock.file.fileno(),))
    if returncode is None:
        return Outcome(run, "not started", "the runner was asked to stop")
    meta |= {"returncode": returncode, "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    new = [f for f in scan(runs_dir).get(run.key, []) if f.path not in before]
    # A script's error is its last line (exit 2: one line saying what is wrong and what to do); without a log
    # (--run, in the foreground) the script has printed it above.
    last_line = "".join(log.read_text(errors="replace").strip().splitlines()[-1:]) if log else "its line above"
    said = f": {last_line}" if returncode < 128 else ""  # ended by a signal: it said nothing to add
    if not new:
        return Outcome(run, "failed", f"exit {returncode} before making a run folder{said}", returncode)
    folder = new[-1]
    write_meta(folder.path, meta)
    if folder.is_complete(run.total_timesteps):
        summary = folder.summary
        detail = f"return {summary['mean_return']:.1f} (last {summary['episodes']} episodes)"
        detail += f" in {summary['wall_seconds']:.0f} s; {display(folder.path)}"
        return Outcome(run, "done", detail, returncode, folder.path)
    if returncode in (130, 143):
        return Outcome(run, "interrupted", f"exit {returncode}; {display(folder.path)}", returncode, folder.path)
    return Outcome(run, "failed", f"exit {returncode}; {display(folder.path)}{said}", returncode, folder.path)


def write_meta(folder: Path, meta: dict) -> None:
    """meta.json written whole, then renamed into place: a report never reads half of it."""
    (folder / "meta.json.tmp").write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(folder / "meta.json.tmp", folder / "meta.json")


@contextlib.contextmanager
def meta_once_made(runs_dir: Path, key: str, meta: dict):
    """While the script runs: meta.json into the run folder it makes, once made (a few seconds after it starts)."""
    made, ended = set(runs_dir.glob(f"{key}__*")), threading.Event()  # the key's folders so far, runs or not

    def watch() -> None:
        while not ended.wait(2.0):
            if new := sorted(set(runs_dir.glob(f"{key}__*")) - made):
                return write_meta(new[-1], meta)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield
    finally:
        ended.set()
        watcher.join()


def run_locally(runs: list[Run], cli: Cli) -> int:
    """Execute the runs, --workers at a time; returns final_report's exit code."""
    logs = cli.runs_dir / cli.suite / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = int(time.time())
    outcomes: list[Outcome] = []
    with Children() as children, ThreadPoolExecutor(max_workers=cli.workers) as pool:
        pending = {pool.submit(execute, run, cli, children, logs / f"{run.key}__{stamp}.log") for run in runs}
        print(f"run.py: {len(runs)} runs, {cli.workers} at a time; each script's output goes to {display(logs)}/")
        while pending:
            # Wakes up every second: the signal handler runs in this thread, and a signal may reach another.
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                outcomes.append(outcome := future.result())
                print(f"[{len(outcomes)}/{len(runs)}] {outcome.run.key}: {outcome.status} ({outcome.detail})")
    return final_report(outcomes, children.signal)


def final_report(outcomes: list[Outcome], stop_signal: int | None) -> int:
    """The outcomes counted, and the exit code: 0 when every run is complete, 1 when some failed or are
    running elsewhere, 130/143 when interrupted."""
    counts = Counter(outcome.status for outcome in outcomes)
    print("run.py: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if stop_signal is not None:
        print("run.py: stopped; run the same command again to resume where it stopped")
        return 130 if stop_signal == signal.SIGINT else 143
    unfinished, busy = counts["failed"] + counts["interrupted"], counts["busy"]
    refused = sum(outcome.returncode == 2 for outcome in outcomes)  # a script's one-line error: retrying won't do
    if refused:
        print(f"run.py: {refused} runs stopped on an error in their input (exit 2, its line above): fix it, then rerun")
    if unfinished > refused:
        print(f"run.py: {unfinished - refused} runs did not complete (see their logs); run again to retry")
    if busy:
        print(f"run.py: {busy} runs are running in another process or Slurm job; run again once they have ended")
    return 1 if unfinished or busy else 0


def run_one(run: Run, cli: Cli) -> int:
    """--run KEY: do that run in the foreground, its output on this process's stdout (a Slurm task's .out)."""
    with Children() as children:
        outcome = execute(run, cli, children, None)
    print(f"run.py: {run.key}: {outcome.status} ({outcome.detail})")
    if outcome.status in ("complete", "done"):
        return 0
    if children.signal is not None:  # told to stop: as run_locally's exit code
        return 130 if children.signal == signal.SIGINT else 143
    # A script's one-line error, or interrupted from outside; any other end (another signal's, 137...) is 1.
    return outcome.returncode if outcome.returncode in (2, 130, 143) else 1


def plan(runs: list[Run], cli: Cli) -> list[tuple[Run, RunState]]:
    """Each run with what would be done about it now (Slurm is asked once, for all of them)."""
    jobs = slurm_jobs(runs, cli)
    return [(run, state_of(run, cli, jobs)) for run in runs]


def print_plan(planned: list[tuple[Run, RunState]], cli: Cli) -> None:
    """The --dry-run listing: the state of each run, and the command that would do it."""
    for run, state in planned:
        if state.action in ("complete", "busy"):
            print(f"# {run.key}: {state.action}, skipped ({state.reason})")
        else:
            command = shlex.join(run.command(display(cli.python), cli.runs_dir, state.checkpoint))
            print(f"# {run.key}: {state.action} ({state.reason})\nOMP_NUM_THREADS=1 {command}")
    print(summarize(planned))


def summarize(planned: list[tuple[Run, RunState]]) -> str:
    counts = Counter(state.action for _, state in planned)
    return (
        f"# {len(planned)} runs: {counts['complete']} complete, {counts['busy']} running elsewhere, "
        f"{counts['resume']} to resume, {counts['start']} to start"
    )


def validate(cli: Cli) -> None:
    for wrong, message in (
        (cli.workers < 1, "--workers must be at least 1"),
        (cli.cpus_per_task < 1, "--cpus-per-task must be at least 1"),
        (cli.submit and not cli.slurm, "--submit goes with --slurm"),
        (cli.run and cli.slurm, "--run is what an array task calls; do not combine it with --slurm"),
        (cli.max_parallel is not None and cli.max_parallel < 1, "--max-parallel must be at least 1"),
        (shutil.which(cli.python) is None, f"--python {cli.python}: no such interpreter"),
        (cli.seeds == (), "--seeds needs at least one seed"),
        (any(not 0 <= seed < 2**32 for seed in cli.seeds or ()), "--seeds must be in [0, 2**32)"),
        (cli.runs_dir.exists() and not cli.runs_dir.is_dir(), f"--runs-dir {cli.runs_dir} is not a folder"),
        (
            cli.runs_dir.resolve().is_relative_to(RECORD.resolve()),
            f"--runs-dir {cli.runs_dir} is inside {display(RECORD)}, the published record: use benchmark/runs",
        ),
    ):
        if wrong:
            raise UserError(message)


def main(argv: list[str] | None = None) -> None:
    # Line by line: progress shows in a log as it happens, and a Slurm task's lines come before its script's.
    sys.stdout.reconfigure(line_buffering=True)
    try:
        cli = tyro.cli(Cli, args=argv)
        cli = dataclasses.replace(cli, runs_dir=cli.runs_dir.absolute())
        validate(cli)
        runs = expand(cli)
        if cli.slurm:
            planned = plan(runs, cli)
            sys.exit(write_slurm(planned, cli, summarize(planned)))
        if cli.dry_run:
            print_plan(plan(runs, cli), cli)
        else:
            code = run_one(runs[0], cli) if cli.run else run_locally(runs, cli)
            if code in (130, 143):  # stopped: ended by the signal, as the scripts are, so a shell loop stops too
                end_by(signal.SIGINT if code == 130 else signal.SIGTERM)
            sys.exit(code)
    except BrokenPipeError:  # a reader gone (| head): quiet_on_closed_pipe's to end, not an error of the run
        raise
    except (UserError, OSError) as e:  # OSError: a --runs-dir or --results-dir it may not write to
        print(f"run.py: error: {e}", file=sys.stderr)
        sys.exit(2)


def end_by(sig: signal.Signals) -> None:
    """Ends the process by the signal (exit status 128 + its number): bash stops a loop only for a child that
    a signal ended, not for one that exited 130."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(sig, signal.SIG_DFL)
    signal.raise_signal(sig)


if __name__ == "__main__":
    quiet_on_closed_pipe(main)
