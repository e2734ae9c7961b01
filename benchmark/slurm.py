"""run.py's Slurm part: the job-array script (one array task per run still to do, each calling
`run.py --run <key>`), its submission, and which array task runs which run.

A run killed hard (SIGKILL, a node lost) leaves no summary.json, and a pending array task has not yet taken
its run's lock. So `--submit` records the array task it gives each run in <runs-dir>/<suite>/slurm/owners/<key>,
each task records itself when it starts its run, and the runner asks squeue whether that job is still there.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from repo import REPO, UserError, display
from suites import SUITES

if TYPE_CHECKING:  # run.py imports this file; the types only, for the reader
    from run import Cli, Run, RunState


def forwarded_flags(cli: Cli) -> list[str]:
    """The flags an array task needs to expand the same suite again (everything that selects runs), with
    the runs' and the results' folders as absolute paths (the task may start elsewhere)."""
    flags = ["--suite", cli.suite]
    total = None if cli.total_timesteps is None else [cli.total_timesteps]
    selection = {"--seeds": cli.seeds, "--total-timesteps": total, "--envs": cli.envs, "--settings": cli.settings}
    for flag, values in selection.items():
        if values is not None:
            flags += [flag, *map(str, values)]
    flags += ["--runs-dir", str(cli.runs_dir.absolute()), "--results-dir", str(cli.results_dir.absolute())]
    if not cli.resume:
        flags.append("--no-resume")
    if cli.rerun_recorded:
        flags.append("--rerun-recorded")
    return flags


def slurm_script(runs: list[Run], cli: Cli) -> str:
    """A Slurm job-array script with one array task per run; each task calls `run.py --run <key>`."""
    suite = SUITES[cli.suite]
    sbatch = {
        "job-name": f"ppo-{cli.suite}",
        "array": f"0-{len(runs) - 1}" + (f"%{cli.max_parallel}" if cli.max_parallel else ""),
        "time": cli.time or suite.slurm_time,
        "ntasks": 1,
        "cpus-per-task": cli.cpus_per_task,
        "mem": cli.mem or suite.slurm_mem,
        "output": f"{(cli.runs_dir / cli.suite / 'slurm').absolute()}/%A_%a.out",
        # SIGTERM to this script 2 minutes before the time limit: run.py forwards it, the run checkpoints
        # and stops; submitting again resumes it.
        "signal": "B:TERM@120",
        "partition": cli.partition,
        "account": cli.account,
        "qos": cli.qos,
    }
    task = shlex.join([cli.python, "benchmark/run.py", *forwarded_flags(cli)])
    lines = [
        "#!/bin/bash",
        f"# {suite.description}",
        f"# Written by benchmark/run.py on {time.strftime('%Y-%m-%d %H:%M')}: {len(runs)} runs still to do, one per array task.",
        "# Each task skips its run if complete and resumes it from its checkpoint if cut short, so the same",
        "# run.py command, run again after a time-out or a failure, writes a script for what is left.",
        *(f"#SBATCH --{option}={shlex.quote(str(value))}" for option, value in sbatch.items() if value),
        "",
        "set -euo pipefail",
        "RUNS=(",
        *(f"  {run.key}" for run in runs),
        ")",
        f"cd {shlex.quote(str(REPO))}",
        "export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1",
        f'exec {task} --run "${{RUNS[$SLURM_ARRAY_TASK_ID]}}"',
        "",
    ]
    return "\n".join(lines)


def owner_file(run: Run, cli: Cli) -> Path:
    return cli.runs_dir / run.suite / "slurm" / "owners" / run.key


def this_slurm_job() -> str | None:
    """This process's Slurm job as squeue names it: <array job>_<task> in an array task, else the job id."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def take_over(run: Run, cli: Cli) -> str | None:
    """Record that this process runs `run` now: its Slurm job, or (outside Slurm) no job at all, so that
    an earlier array task's record no longer speaks for the run. Returns the job."""
    path, job = owner_file(run, cli), this_slurm_job()
    if job is None:
        path.unlink(missing_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(job + "\n")
    return job


def slurm_jobs(runs: list[Run], cli: Cli) -> dict[str, tuple[str, str]]:
    """{run key: (job, state)} of the runs with a recorded array task, state as squeue says it: '' once Slurm
    no longer lists the job, or the job is this process's own. Empty when squeue cannot be asked (the runs'
    locks and folders decide then)."""
    owners = {}
    for run in runs:
        with contextlib.suppress(OSError):  # no record, or taken back (see take_over) as we read it
            owners[run.key] = owner_file(run, cli).read_text().strip()
    owners = {key: job for key, job in owners.items() if job}
    states = squeue_states(set(owners.values())) if owners else {}
    if states is None:
        return {}
    return {key: (job, "" if job == this_slurm_job() else states.get(job, "")) for key, job in owners.items()}


def squeue_states(jobs: set[str]) -> dict[str, str] | None:
    """{job: state} of those of `jobs` that squeue lists (pending, running, completing: not yet ended);
    None when squeue is not here or does not answer."""
    command = ["squeue", "--noheader", "--array", "--format=%i %T", "--jobs=" + ",".join(sorted(jobs))]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        # Every job purged from the controller's memory: it ended (squeue refuses the list as a whole).
        return {} if "Invalid job id" in result.stderr else None
    listed = [line.split() for line in result.stdout.splitlines()]
    return {words[0]: words[1] for words in listed if len(words) == 2 and words[0] in jobs}


def write_slurm(planned: list[tuple[Run, RunState]], cli: Cli, summary: str) -> int:
    """--slurm: write (or with --dry-run print) the array script of the runs still to do; --submit it.
    `summary`: the runs' states counted, in one line. Returns 1 when runs were held back as running
    elsewhere (the array then lacks them), else 0."""
    todo = [run for run, state in planned if state.action in ("resume", "start")]
    held = [(run, state) for run, state in planned if state.action == "busy"]
    print(summary, file=sys.stderr if cli.dry_run else sys.stdout)
    for run, state in held:
        print(f"run.py: held back {run.key}: {state.reason}", file=sys.stderr)
    advice = f": {len(held)} runs are running elsewhere (listed above); submit again once they have ended"
    if not todo:
        print("run.py: nothing to submit" + (advice if held else ""), file=sys.stderr)
        return 1 if held and not cli.dry_run else 0
    if cli.dry_run:
        print(slurm_script(todo, cli), end="")
        return 0
    path = cli.runs_dir / cli.suite / "slurm" / f"{cli.suite}__{int(time.time())}.sbatch"
    path.parent.mkdir(parents=True, exist_ok=True)  # sbatch does not create the --output folder
    path.write_text(slurm_script(todo, cli))
    print(f"run.py: wrote {display(path)} ({len(todo)} array tasks)")
    if cli.submit:
        submit(path, todo, cli)
    else:
        print(f"run.py: submit it with: sbatch {display(path)}")
    if held:
        print("run.py: left out of the array" + advice, file=sys.stderr)
    return 1 if held else 0


def submit(path: Path, todo: list[Run], cli: Cli) -> None:
    """sbatch the script, then record which array task has each run."""
    try:
        result = subprocess.run(["sbatch", "--parsable", str(path)], cwd=REPO, capture_output=True, text=True)
    except FileNotFoundError:
        raise UserError("sbatch not found: --submit needs a Slurm login node (or submit the script by hand)") from None
    if result.returncode != 0:
        raise UserError(f"sbatch failed: {result.stderr.strip()}")
    job = result.stdout.strip().split(";")[0]  # --parsable: <job id>[;<cluster>]
    print(f"Submitted batch job {job}")
    if not job.isdigit():
        print("run.py: sbatch gave no job id: the runs' array tasks are not recorded", file=sys.stderr)
        return
    for index, run in enumerate(todo):
        owner_file(run, cli).parent.mkdir(parents=True, exist_ok=True)
        owner_file(run, cli).write_text(f"{job}_{index}\n")
