"""Run folders on disk: what the scripts write, a run's state read back from them, and a suite's runs as a table.

A script writes `{runs_dir}/{env_id}__{exp_name}__{seed}__{unix_time}/` with TensorBoard events, `args.json`,
`model.pt` (with --save-model) and, when it ends, `summary.json`; the runner adds `meta.json` (command, commit,
machine). One *run* (env id, exp name, seed, step budget) may span several folders: each `--resume` continues the
global step into a new folder, whose `args.json` names the checkpoint it came from. A run is complete when one of
its folders has a summary with `interrupted` null and a global step within one batch of the budget (the scripts
run whole iterations: 1M requested is 999,424 done with batches of 2048).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from repo import read_csv
from suites import Suite, split_exp_name

FOLDER_RE = re.compile(r"^(?P<env_id>.+?)__(?P<exp_name>.+)__(?P<seed>\d+)__(?P<time>\d+)$")


def run_key(env_id: str, exp_name: str, seed: int) -> str:
    """The name of a run: its folders' names without the unix time, made portable as the scripts make them
    (ALE/Pong-v5 -> ALE-Pong-v5, my_module:MyEnv-v0 -> my_module-MyEnv-v0)."""
    name = f"{env_id}__{exp_name}__{seed}"
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in name)


def read_scalars(folder: Path) -> dict[str, list]:
    """Every scalar in a folder's TensorBoard events, by tag: TensorBoard's ScalarEvent tuples (wall_time,
    step, value) in the order they were logged."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: accumulator.Scalars(tag) for tag in accumulator.Tags()["scalars"]}


def checkpoint_step(path: Path) -> int | None:
    """A checkpoint's global step (plain tensors only: weights_only=True); None when missing or unreadable."""
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])
    except Exception:
        return None


def read_json(path: Path) -> dict | None:
    """A JSON file's content, or None when it is missing or half-written."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@dataclass
class RunFolder:
    """One folder written by one process of a script."""

    path: Path
    env_id: str
    exp_name: str
    seed: int
    unix_time: int
    args: dict
    summary: dict | None
    meta: dict

    @property
    def key(self) -> str:
        return run_key(self.env_id, self.exp_name, self.seed)

    @property
    def budget(self) -> int | None:
        """The --total-timesteps this process was asked for."""
        return self.args.get("total_timesteps")

    @property
    def batch_size(self) -> int:
        return int(self.args.get("num_envs", 1)) * int(self.args.get("num_steps", 1))

    @property
    def checkpoint(self) -> Path | None:
        path = self.path / "model.pt"
        return path if path.is_file() else None

    @property
    def resumed_from(self) -> str | None:
        """The folder name of the checkpoint this process resumed from (None for a fresh start)."""
        resume = self.args.get("resume")
        return Path(resume).parent.name if resume else None

    def is_complete(self, total_timesteps: int) -> bool:
        """Finished normally, within one batch of the budget."""
        s = self.summary
        if s is None or s.get("interrupted") is not None:
            return False
        return total_timesteps - self.batch_size < s.get("global_step", -1) <= total_timesteps


def read_folder(path: Path) -> RunFolder | None:
    """A run folder's identity and files, or None when the name is not a run folder's."""
    match = FOLDER_RE.match(path.name)
    if match is None or not path.is_dir():
        return None
    env_id, exp_name, seed, unix_time = match.groups()
    args, summary, meta = (read_json(path / f"{name}.json") for name in ("args", "summary", "meta"))
    env_id = (args or {}).get("env_id", env_id)  # the id itself, where the name has made it portable
    if summary is not None and "mean_return" in summary and summary["mean_return"] is None:
        summary["mean_return"] = float("nan")  # no episode finished: null in the file (NaN in older ones)
    return RunFolder(path, env_id, exp_name, int(seed), int(unix_time), args or {}, summary, meta or {})


def scan(runs_dir: Path) -> dict[str, list[RunFolder]]:
    """Every run folder under runs_dir, grouped by run key, oldest first."""
    folders = [read_folder(path) for path in runs_dir.iterdir()] if runs_dir.is_dir() else []
    groups: dict[str, list[RunFolder]] = {}
    for folder in sorted(filter(None, folders), key=lambda f: (f.unix_time, f.path.name)):
        groups.setdefault(folder.key, []).append(folder)
    return groups


def folders_of(runs_dir: Path, key: str, total_timesteps: int) -> list[RunFolder]:
    """The folders of one run: its key, made for this budget (a hand-made run of another budget is not it)."""
    return [f for f in scan(runs_dir).get(key, []) if f.budget in (None, total_timesteps)]


def recorded_runs(results_csv: Path) -> dict[tuple[str, int], tuple[bool, int]]:
    """(run key, step budget) -> (complete, steps done) of each run a suite's results CSV (written by report.py)
    records; empty when there is no such file."""
    if not results_csv.is_file():
        return {}
    runs = read_csv(results_csv, [], ("seed", "budget", "total_timesteps"), dtype={"complete": str})
    return {
        (run_key(r.env_id, r.setting, int(r.seed)), int(r.budget)): (r.complete == "True", int(r.total_timesteps))
        for r in runs.itertuples()
    }


@dataclass
class RunState:
    """What the runner should do about a run: `complete`, `busy`, `resume` (from `checkpoint`) or `start`."""

    action: str
    reason: str
    checkpoint: Path | None = None


def run_state(
    folders: list[RunFolder],
    total_timesteps: int,
    allow_resume: bool = True,
    checkpoint_step=None,
    slurm_job: tuple[str, str] | None = None,
) -> RunState:
    """Decide from a run's folders (oldest first) whether it is complete, running in a Slurm job, resumable
    or new (run.py has asked before whether a process on this machine holds the run's lock).

    `checkpoint_step(path) -> int` is asked only of a checkpoint without a summary: a run that finished its last
    iteration but died before writing summary.json. `slurm_job` is (job id, squeue's state, '' once Slurm no
    longer lists it) of the array task the run was given; None when there is none or Slurm cannot be asked."""
    done = [f for f in folders if f.is_complete(total_timesteps)]
    if done:
        return RunState("complete", f"complete in {done[-1].path.name}")
    if slurm_job is not None and slurm_job[1]:  # squeue still lists the array task the run was given
        job, state = slurm_job
        return RunState("busy", f"Slurm job {job} is {state} with it (scancel {job} to stop it)")
    with_checkpoint = [f for f in folders if f.checkpoint is not None]
    if not allow_resume or not with_checkpoint:
        why = "resuming is off" if folders and not allow_resume else "no checkpoint" if folders else "new"
        return RunState("start", why)
    latest = with_checkpoint[-1]
    if latest.summary is None and checkpoint_step is not None:
        step = checkpoint_step(latest.checkpoint)
        if step is not None and step > total_timesteps - latest.batch_size:
            return RunState("complete", f"{latest.path.name} reached step {step:,} (no summary.json)")
    return RunState("resume", f"cut short in {latest.path.name}", latest.checkpoint)


def chain(folders: list[RunFolder], last: RunFolder) -> list[RunFolder]:
    """The pieces of a resumed run, oldest first, following each folder's resume link back from `last`."""
    by_name = {f.path.name: f for f in folders}
    pieces = [last]
    while pieces[-1].resumed_from in by_name and by_name[pieces[-1].resumed_from] not in pieces:
        pieces.append(by_name[pieces[-1].resumed_from])
    return pieces[::-1]


def start_step(folder: RunFolder, update_steps: list[int]) -> int:
    """The global step a folder's process started from: 0, or the step of the checkpoint it resumed (from
    summary.json, else one batch before its first update, else the checkpoint itself)."""
    if folder.summary is not None and "start_step" in folder.summary:
        return int(folder.summary["start_step"])
    if folder.resumed_from is None:
        return 0
    if update_steps:
        return min(update_steps) - folder.batch_size
    return checkpoint_step(folder.path.parent / folder.resumed_from / "model.pt") or 0


def stitch(pieces: list[tuple[int, list[tuple[int, float]]]]) -> list[tuple[int, float]]:
    """The episodes of a resumed run. `pieces` are (start step, episodes) of its folders, oldest first:
    a folder's episodes count up to the step where the next folder resumed, the rest were played again."""
    episodes: list[tuple[int, float]] = []
    for i, (_, piece_episodes) in enumerate(pieces):
        cut = pieces[i + 1][0] if i + 1 < len(pieces) else math.inf
        episodes += [(step, value) for step, value in piece_episodes if step <= cut]
    return episodes


def final_score(episodes: list[tuple[int, float]], last: int = 100) -> float:
    """The paper's score of a run: the mean total reward of its last 100 episodes."""
    return float(np.mean([value for _, value in episodes[-last:]])) if episodes else math.nan


def joined(values, by: str = "+") -> str:
    """Distinct non-empty values in order, joined by `by`."""
    return by.join(dict.fromkeys(v for v in values if v))


def packages(meta: dict) -> str:
    """The versions meta.json records, as pip writes them: 'torch==2.13.0+cpu gymnasium==1.4.0 ...'."""
    return " ".join(f"{name}=={version}" for name, version in (meta.get("packages") or {}).items())


def read_run(folders: list[RunFolder], budget: int, suite: Suite, last: int) -> dict:
    """One run from its folders (all of one key and budget, oldest first), as a row of read_runs."""
    complete = [f for f in folders if f.is_complete(budget)]
    final = complete[-1] if complete else folders[-1]
    pieces = chain(folders, final)
    episodes, updates, wall = [], [], 0.0
    for folder in pieces:
        scalars = read_scalars(folder.path)
        updates = [e.step for e in scalars.get("charts/SPS", [])]
        returns = [(e.step, e.value) for e in scalars.get("charts/episodic_return", [])]
        episodes.append((start_step(folder, updates), returns))
        if folder.summary is not None and "wall_seconds" in folder.summary:
            wall += float(folder.summary["wall_seconds"])
        elif times := [e.wall_time for events in scalars.values() for e in events]:
            wall += max(times) - min(times)
    history = stitch(episodes)
    # A folder still in its first update (or that died before it) has done nothing yet: its run stands where
    # the folder resumed it.
    steps = int(final.summary["global_step"] if final.summary else max(updates, default=start_step(final, updates)))
    setting = split_exp_name(final.exp_name, suite)
    command = final.meta.get("command", "")
    return {
        "script": setting.script if setting else next((w for w in command.split() if w.endswith(".py")), ""),
        "setting": final.exp_name,
        "env_id": final.env_id,
        "seed": final.seed,
        "total_timesteps": steps,
        "final_return": final_score(history, last),
        "wall_seconds": wall,
        "sps": steps / wall if wall > 0 else math.nan,
        "commit": joined(f.meta.get("commit") for f in pieces),
        "complete": bool(complete) or steps > budget - final.batch_size,
        "budget": budget,
        "episodes": len(history),
        "pieces": len(pieces),
        "machine": joined(f.meta.get("machine") for f in pieces),
        "packages": joined((packages(f.meta) for f in pieces), "; "),  # a piece with other versions: after a ;
        "history": history,
    }


def read_runs(runs_dir: Path, suite: Suite, last: int = 100) -> pd.DataFrame:
    """Every run in <runs_dir>: one row per run (the results CSV's columns, and `history`, its episodes as
    (global step at the end, return)), a run of several folders stitched (see stitch)."""
    # A folder without a readable args.json (a process killed as it started) asked for no budget: not a run.
    rows = [
        read_run([f for f in folders if f.budget == budget], budget, suite, last)
        for folders in scan(runs_dir).values()
        for budget in dict.fromkeys(f.budget for f in folders if f.budget)
    ]
    return pd.DataFrame(rows)
