"""benchmark/record.py: reading and writing the results record (the committed record is read and written
again byte for byte in test_report.py's golden test)."""

import gzip
import sys

import pandas as pd
import pytest
from util import ROOT, csv_rows, load_script, only_run_dir, read_scalars

sys.path.insert(0, str(ROOT / "benchmark"))
import record  # noqa: E402
import run_folders  # noqa: E402

RESULTS = ROOT / "benchmark" / "results"


def test_a_recorded_run_is_scored_from_its_episodes_and_written_back_as_recorded(tmp_path):
    """The CSV's 8522.95 was the run folder's score; the episodes' mean is 8522.944 (6 digits: 8522.94): the
    tables score from the episodes, the CSV keeps its text. A run recorded before episodes were kept has its
    CSV score and no history."""
    header = ",".join(record.CSV_COLUMNS)
    (tmp_path / "s.csv").write_text(
        f'{header}\r\nx.py,a,E-v0,1,100,8522.95,1,100,c,True,100,2,1,"m, 2 cores",torch==2.13.0+cpu\r\n'
        "x.py,a,E-v0,2,100,7,1,100,,False,100,9,1,m,\r\n"
    )
    (tmp_path / "s_episodes.csv.gz").write_bytes(
        gzip.compress(
            b"setting,env_id,seed,budget,step,return\r\na,E-v0,1,100,50,8522.9\r\na,E-v0,1,100,99,8522.988\r\n"
        )
    )
    runs = record.read_record(tmp_path, "s")
    assert runs["final_return"].tolist() == pytest.approx([8522.944, 7.0])
    assert runs["history"].tolist() == [[(50, 8522.9), (99, 8522.988)], []]
    assert runs["complete"].tolist() == [True, False] and runs["commit"].tolist() == ["c", ""]
    assert record.read_record(tmp_path, "s", last=1)["final_return"][0] == 8522.988
    (tmp_path / "out").mkdir()
    record.write_record(runs, tmp_path / "out", "s")
    assert (tmp_path / "out" / "s.csv").read_bytes() == (tmp_path / "s.csv").read_bytes()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s.csv", "s_episodes.csv.gz"]  # no .tmp left
    assert record.read_record(tmp_path, "none").empty
    # A record written before versions were kept: read with none, written back with the column, empty.
    (tmp_path / "old.csv").write_text(
        f"{header.removesuffix(',packages')}\r\nx.py,a,E-v0,2,100,7,1,100,,False,100,9,1,m\r\n"
    )
    old = record.read_record(tmp_path, "old")
    assert old["packages"].tolist() == [""]
    record.write_record(old, tmp_path / "out", "old")
    assert (tmp_path / "out" / "old.csv").read_text().splitlines()[1].endswith(",m,")


@pytest.mark.parametrize("damage", ["empty", "cut", "row", "conflict", "episodes"])
def test_a_damaged_record_is_one_line_saying_how_to_restore_it(tmp_path, damage):
    """A write cut short, or a merge's conflict markers: before, a pandas traceback in run.py and report.py."""
    good = (RESULTS / "classic.csv").read_text()
    (tmp_path / "classic_episodes.csv.gz").write_bytes((RESULTS / "classic_episodes.csv.gz").read_bytes())
    head, last = good.rstrip().rsplit("\n", 1)
    row = head + "\n" + ",".join(last.split(",")[:6]) + "\n"  # cut after final_return: no budget, no steps
    text = {"empty": "", "cut": good[: len(good) // 2], "conflict": good.replace("\n", "\n<<<<<<< HEAD\n", 1)}
    text["row"] = row
    (tmp_path / "classic.csv").write_text(text.get(damage, good))
    if damage == "episodes":
        (tmp_path / "classic_episodes.csv.gz").write_bytes((RESULTS / "classic_episodes.csv.gz").read_bytes()[:500])
    broken = "classic_episodes.csv.gz" if damage == "episodes" else "classic.csv"
    with pytest.raises(record.ReportError, match=f"{broken} cannot be read .*; restore it: git checkout -- "):
        record.read_record(tmp_path, "classic")
    if damage != "episodes":  # run.py reads the CSV too, for the runs it skips (before: int(NaN)'s traceback)
        with pytest.raises(record.ReportError, match="classic.csv cannot be read .*; restore it: git checkout -- "):
            run_folders.recorded_runs(tmp_path / "classic.csv")


def test_random_policy_scores(tmp_path):
    assert record.read_random(RESULTS / "random_policy.csv")["Swimmer-v4"] == pytest.approx(0.0, abs=1)
    with pytest.raises(record.ReportError, match="python benchmark/random_policy.py --publish"):
        record.read_random(tmp_path / "random_policy.csv")
    with pytest.raises(record.ReportError, match="is not a random_policy.csv .*; pass that file"):
        record.read_random(RESULTS / "classic.csv")


def test_the_record_keeps_the_papers_score_the_mean_of_the_last_100_episodes(tmp_path):
    """150 episodes returning 0, 1, ..., 149, scored 149 in the tables (--last-episodes 1): the CSV keeps the
    paper's score, the mean of the last 100, 50..149: 99.5. Its wall time, 123456.7 s, in 6 significant digits."""
    row = dict.fromkeys(record.CSV_COLUMNS, "") | {"setting": "a", "env_id": "E-v0", "seed": 1, "budget": 150_000}
    row |= {"total_timesteps": 150_000, "final_return": 149.0, "wall_seconds": 123456.7, "sps": 1.2, "complete": True}
    row["episodes"] = 150
    row["history"] = [(1000 * (i + 1), float(i)) for i in range(150)]
    record.write_record(pd.DataFrame([row]), tmp_path, "s")
    [written] = csv_rows(tmp_path / "s.csv")
    assert (written["final_return"], written["wall_seconds"], written["episodes"]) == ("99.5", "123457", "150")
    assert record.fmt(123456.7) == "123457" and record.fmt(float("nan")) == "nan"


# The episodes each environment's first rollout of 2048 steps ends. Not HalfCheetah's or Swimmer's: their episodes
# last 1000 steps, long enough for the float rounding of the policy's and MuJoCo's kernels to part two CPUs' runs
# of the same code (the record's own seed 1 on Intel and on AMD: HalfCheetah -388.8 and -375.9, Swimmer -7.4493 and
# -7.4508 in the first episode).
FIRST_ROLLOUT_EPISODES = {
    "Hopper-v4": 100,
    "InvertedDoublePendulum-v4": 355,
    "InvertedPendulum-v4": 267,
    "Reacher-v4": 40,
    "Walker2d-v4": 110,
}


@pytest.mark.parametrize("env_id", sorted(FIRST_ROLLOUT_EPISODES))
def test_the_records_mujoco_runs_are_made_again_here_until_their_first_update(tmp_path, env_id):
    """The record is what this code makes with the packages the requirements install: ppo_continuous.py's first
    rollout, seed 1 (no update yet, and episodes short enough that no CPU's float rounding parts two runs), ends the
    same episodes, at the same steps with the same returns, as mujoco.csv's run (commit 60837cc, on the Intel
    machine). A MuJoCo or gymnasium release that changed the dynamics or the reset noise, or a change to our
    seeding, initialization or sampling, fails it: the record would then no longer be what a user's run makes. (So
    far: Hopper the same on three machines; all five with MuJoCo 3.17.0 and 4.0.1.)"""
    ppo = load_script("ppo_continuous")
    ppo.train(ppo.Args(env_id=env_id, seed=1, total_timesteps=2048, runs_dir=str(tmp_path)))
    ours = read_scalars(only_run_dir(tmp_path))["charts/episodic_return"]
    runs = record.read_record(RESULTS, "mujoco")
    history = runs[(runs["env_id"] == env_id) & (runs["seed"] == 1)]["history"].item()
    recorded = [(step, value) for step, value in history if step <= 2048]
    assert len(ours) == len(recorded) == FIRST_ROLLOUT_EPISODES[env_id]
    assert [step for step, _ in ours] == [step for step, _ in recorded]
    assert [value for _, value in ours] == pytest.approx([value for _, value in recorded], rel=1e-5)  # 6 digits


def test_halfcheetahs_model_weighs_what_it_asks_for():
    """HalfCheetah-v4's model sets its total mass to 14 with `settotalmass`, which MuJoCo 4 deprecates ("will be
    removed"): a release that drops it would change HalfCheetah's dynamics, which the test above cannot see there."""
    import gymnasium as gym

    env = gym.make("HalfCheetah-v4")
    assert env.unwrapped.model.body_mass.sum() == pytest.approx(14.0)
    env.close()
