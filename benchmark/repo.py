"""The repository the benchmark's tools work in: its root, the commit and machine a result records, paths
as the commands show them, and the PPO scripts: imported as modules, written out as they were at a commit,
and the environment they run in when a tool measures them."""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class UserError(Exception):
    """A problem the user can fix: the tools print it as one line and exit 2."""


def quiet_on_closed_pipe(main) -> None:
    """A tool's main(), its output piped into a reader gone before it is written (`--help | head -1`): it ends
    silently, as a shell tool does, not in a BrokenPipeError traceback."""
    try:
        main()
    except BrokenPipeError:
        sys.stderr.close()  # also silences Python's "Exception ignored" on flushing stdout at exit


def display(path: Path | str) -> str:
    """A path as the commands show it: relative to the repository's root when inside it."""
    path = Path(path).absolute()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def git_commit() -> str:
    """The commit checked out (HEAD), or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(cpuinfo: str | None = None) -> str:
    """'<cpu model> family <f> model <m>, <n> cores', as meta.json records it (from /proc/cpuinfo's text). A
    virtual machine may name its CPU only 'AMD EPYC': the family and model tell two generations apart."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux
            cpuinfo = ""

    def field(name: str) -> str:
        return next(iter(re.findall(rf"^{name}\s*:(.*)$", cpuinfo, re.MULTILINE)), "").strip()

    model = field("model name") or platform.processor() or platform.machine()
    if field("cpu family"):
        model += f" family {field('cpu family')} model {field('model')}"
    return f"{model}, {os.cpu_count()} cores"


# What a run's numbers depend on besides our code and the CPU: a MuJoCo or ALE release can change the dynamics.
PACKAGES = ("torch", "gymnasium", "mujoco", "ale-py", "numpy", "stable-baselines3")


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """The installed version of each package (those not installed left out), as meta.json records them."""
    found = {}
    for package in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


def script_env() -> dict:
    """The environment a measured script runs in: one thread (OMP_NUM_THREADS=1), no warnings."""
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def run_script(script: Path, flags: list[str], runs_dir: Path) -> tuple[Path, float]:
    """Run a PPO script (a file) into runs_dir, as script_env() has it; return the run folder it made and its
    peak resident memory in MiB (its process alone, from wait4). A failure ends the tool with its stderr."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(script), "--runs-dir", str(runs_dir), *flags]
    before = set(runs_dir.iterdir())
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: a pipe left unread can fill and block
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=script_env(), cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            stderr.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{stderr.read().decode()[-1500:]}")
    (run_dir,) = set(runs_dir.iterdir()) - before
    return run_dir, usage.ru_maxrss / 1024  # Linux reports KiB


def load_script(script: str | Path):
    """Import a PPO script as a module (importing one has no side effects): a name like "ppo_continuous"
    or a file relative to the repository's root, or any path (e.g. the script as it was at a commit)."""
    path = (REPO / script).with_suffix(".py")
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def script_at(commit: str, script: str, folder: Path) -> Path:
    """Write `script` (a path in the repository) as it was at `commit` into `folder`; return the file."""
    source = subprocess.run(["git", "show", f"{commit}:{script}"], cwd=REPO, capture_output=True, text=True)
    if source.returncode != 0:  # an unknown commit, or a script that did not exist then
        said = (source.stderr.strip().splitlines() or ["not in git"])[-1].rstrip(".")
        tool = Path(sys.argv[0]).name  # compare_losses.py or speed.py
        raise SystemExit(
            f"{tool}: --before {commit}: {said}; pass a commit that has it (git log --oneline -- {script})"
        )
    path = folder / script
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source.stdout)
    return path


def read_csv(path: Path, numeric: list[str], whole: tuple[str, ...] = (), **kwargs):
    """A CSV of the record (pandas), or one line saying it is damaged: a cut write, a merge's conflict markers.
    The `numeric` columns must read as numbers (NaN where the CSV says nan), the `whole` ones as whole numbers."""
    import pandas as pd

    try:
        table = pd.read_csv(path, **kwargs)
        table[numeric].astype(float)
        table[list(whole)].astype("int64")  # a row cut short leaves them empty: NaN, which no integer is
    except (ValueError, KeyError, EOFError, OSError) as e:  # pandas' parser errors are ValueErrors
        detail = " ".join(str(e).split())[:120]
        raise UserError(f"{path} cannot be read ({detail}); restore it: git checkout -- {path}") from None
    return table
