"""The results record, benchmark/results/: <suite>.csv (one row per run) and <suite>_episodes.csv.gz (every
episode), from which the report is made again. In memory, a table of runs: the CSV's columns and `history`, the
run's episodes as (global step at the end, return). The same runs give the same bytes: git sees no change."""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import pandas as pd
from repo import UserError as ReportError  # a problem the user can fix: one line, exit 2
from repo import read_csv
from run_folders import final_score

CSV_COLUMNS = ["script", "setting", "env_id", "seed", "total_timesteps", "final_return", "wall_seconds", "sps"]
CSV_COLUMNS += ["commit", "complete", "budget", "episodes", "pieces", "machine", "packages"]  # episodes: how many
KEY = ["setting", "env_id", "seed", "budget"]  # one run
EPISODE_COLUMNS = [*KEY, "step", "return"]
FLOATS = ["final_return", "wall_seconds", "sps"]


def fmt(value: float) -> str:
    """A float as the CSV keeps it: 6 significant digits; from a million on, one decimal (not 1.23457e+06)."""
    return "nan" if math.isnan(value) else f"{value:.6g}" if abs(value) < 1e6 else f"{value:.1f}"


def read_record(results_dir: Path, suite: str, last: int = 100) -> pd.DataFrame:
    """The runs <suite>.csv records (none without it), with their episodes where they were kept. A run's score is
    the mean of its last `last` episodes where they are kept, as from its folders (the CSV's 6 digits can round
    the other way); `recorded_return` keeps the CSV's, which write_record writes back byte for byte."""
    path, episodes = results_dir / f"{suite}.csv", results_dir / f"{suite}_episodes.csv.gz"
    if not path.is_file():
        return pd.DataFrame(columns=[*CSV_COLUMNS, "history", "recorded_return"])
    text = dict.fromkeys(["script", "setting", "env_id", "commit", "complete", "machine", "packages"], str)
    runs = read_csv(
        path,
        FLOATS,
        ("seed", "budget", "total_timesteps"),
        dtype=text,
        keep_default_na=False,
        na_values=dict.fromkeys(FLOATS, ["nan"]),
    )
    runs["complete"] = runs["complete"] == "True"
    runs["packages"] = runs.get("packages", "")  # a record written before versions were kept
    history = {}
    if episodes.is_file():
        text = {"setting": str, "env_id": str}
        table = read_csv(episodes, ["return"], ("seed", "budget", "step"), dtype=text, keep_default_na=False)
        for key, run in table.groupby(KEY, sort=False):
            history[key] = list(run[["step", "return"]].itertuples(index=False, name=None))
    runs["history"] = [history.get(key, []) for key in runs[KEY].itertuples(index=False, name=None)]
    rescored = [final_score(h, last) if h else x for h, x in zip(runs["history"], runs["final_return"], strict=True)]
    return runs.assign(recorded_return=runs["final_return"], final_return=rescored)


def write_record(runs: pd.DataFrame, results_dir: Path, suite: str) -> list[Path]:
    """<suite>.csv and <suite>_episodes.csv.gz of these runs, in their order."""
    csv_path, episodes_path = results_dir / f"{suite}.csv", results_dir / f"{suite}_episodes.csv.gz"
    table = runs[CSV_COLUMNS].copy()
    # The paper's score (the last 100 episodes), whatever --last-episodes the tables used; a recorded run's as
    # recorded, byte for byte.
    table["final_return"] = [
        final_score(history) if history else x for history, x in zip(runs["history"], runs["final_return"], strict=True)
    ]
    if "recorded_return" in runs:
        table["final_return"] = runs["recorded_return"].fillna(table["final_return"])
    table[FLOATS] = table[FLOATS].astype(float).map(fmt)
    # Each file written whole, then renamed over the old one: a Ctrl-C or a full disk leaves the record as it was.
    table.to_csv(csv_path.with_suffix(".tmp"), index=False, lineterminator="\r\n")
    rows = [
        (*key, *episode) for *key, history in runs[[*KEY, "history"]].itertuples(index=False) for episode in history
    ]
    text = pd.DataFrame(rows, columns=EPISODE_COLUMNS).to_csv(index=False, lineterminator="\r\n", float_format="%.6g")
    packed_path = episodes_path.with_suffix(".tmp")
    with open(packed_path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as packed:
        packed.write(text.encode())
        packed.flush()  # as the earlier csv-module writer did on closing: the record's bytes stay the same
    os.replace(csv_path.with_suffix(".tmp"), csv_path)
    os.replace(packed_path, episodes_path)
    return [csv_path, episodes_path]


def read_random(path: Path) -> dict[str, float]:
    """env_id -> mean return of a uniformly random policy, from random_policy.csv (Table 1's 0)."""
    if not path.is_file():
        raise ReportError(f"{path} is not a file; make it with: python benchmark/random_policy.py --publish")
    table = read_csv(path, [])
    if not {"env_id", "mean_return"} <= set(table.columns):
        raise ReportError(f"{path} is not a random_policy.csv (columns env_id, mean_return); pass that file")
    return table.set_index("env_id")["mean_return"].astype(float).to_dict()
