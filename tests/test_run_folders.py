"""benchmark/run_folders.py's reading of a suite's folders into a table of runs: stitching a resumed run."""

import json
import math
import sys

import pytest
from test_run import make_folder
from util import ROOT, only_run_dir, run_script, write_events

sys.path.insert(0, str(ROOT / "benchmark"))
import run_folders  # noqa: E402
import suites  # noqa: E402


def test_stitch_drops_the_episodes_a_resumed_run_played_again():
    first = [(1000, 1.0), (3000, 2.0), (4096, 3.0), (5000, 99.0)]  # 5000: after its checkpoint at 4096
    second = [(5500, 4.0), (8000, 5.0)]
    stitched = run_folders.stitch([(0, first), (4096, second)])
    assert stitched == [(1000, 1.0), (3000, 2.0), (4096, 3.0), (5500, 4.0), (8000, 5.0)]
    assert run_folders.final_score(stitched, last=2) == 4.5


def test_stitch_cuts_each_piece_where_the_next_one_resumed():
    """Resumed twice (a Slurm job cut by its time limit twice): each piece counts up to the next one's start,
    not up to the last one's."""
    first = [(1000, 1.0), (4096, 2.0), (5000, 99.0)]  # 5000: played again by the second piece
    second = [(5500, 3.0), (8192, 4.0), (9000, 98.0)]  # 9000: played again by the third
    third = [(10000, 5.0)]
    stitched = run_folders.stitch([(0, first), (4096, second), (8192, third)])
    assert stitched == [(1000, 1.0), (4096, 2.0), (5500, 3.0), (8192, 4.0), (10000, 5.0)]


def test_read_runs_stitches_a_run_resumed_from_a_checkpoint(tmp_path):
    key = "Hopper-v4__ppo_continuous-8192__1"
    first = make_folder(tmp_path, key, 100, total=8192)  # killed: no summary; last checkpoint at 4096
    write_events(first, [(1000, 1.0), (3000, 2.0), (5000, 99.0)], [2048, 4096, 6144])
    second = make_folder(tmp_path, key, 200, total=8192, global_step=8192, resume=f"elsewhere/{first.name}/model.pt")
    summary = json.loads((second / "summary.json").read_text()) | {"start_step": 4096, "wall_seconds": 2.0}
    (second / "summary.json").write_text(json.dumps(summary))
    versions = {"torch": "2.13.0+cpu", "gymnasium": "1.4.0"}
    (first / "meta.json").write_text(json.dumps({"command": "c", "commit": "abc", "packages": versions}))
    meta = {"command": "c", "commit": "abc", "machine": "m, 2 cores", "packages": versions | {"gymnasium": "1.5.0"}}
    (second / "meta.json").write_text(json.dumps(meta))
    write_events(second, [(6000, 4.0), (8000, 5.0)], [6144, 8192])
    [run] = run_folders.read_runs(tmp_path, suites.SUITES["mujoco"]).to_dict("records")
    assert run["history"] == [(1000, 1.0), (3000, 2.0), (6000, 4.0), (8000, 5.0)]
    assert (run["final_return"], run["total_timesteps"], run["pieces"], run["complete"]) == (3.0, 8192, 2, True)
    assert (run["episodes"], run["budget"], run["commit"], run["machine"]) == (4, 8192, "abc", "m, 2 cores")
    assert run["packages"] == "torch==2.13.0+cpu gymnasium==1.4.0; torch==2.13.0+cpu gymnasium==1.5.0"
    assert (run["script"], run["setting"], run["seed"]) == ("ppo_continuous.py", "ppo_continuous-8192", 1)
    # Without the resumed run's summary, its start is one batch before its first update.
    (second / "summary.json").unlink()
    [run] = run_folders.read_runs(tmp_path, suites.SUITES["mujoco"]).to_dict("records")
    assert run["history"] == [(1000, 1.0), (3000, 2.0), (6000, 4.0), (8000, 5.0)] and run["complete"]
    assert run_folders.read_runs(tmp_path / "none", suites.SUITES["mujoco"]).empty


def test_a_resumed_run_whose_new_folder_has_not_logged_yet_stands_where_it_resumed(tmp_path):
    """Its newest folder has args.json only (the process is in its first update, or died setting up): the run
    is at its checkpoint's step, not at 0, which a later, shorter run would replace in the record."""
    import torch

    key = "Hopper-v4__ppo_continuous-20k__1"
    first = make_folder(tmp_path, key, 100, total=20480, global_step=12288, interrupted="SIGTERM")
    write_events(first, [(2000, 1.0), (6000, 2.0), (12000, 3.0)], [2048 * i for i in range(1, 7)])
    torch.save({"global_step": 12288}, first / "model.pt")
    make_folder(tmp_path, key, 200, total=20480, checkpoint=False, resume=f"elsewhere/{first.name}/model.pt")
    [run] = run_folders.read_runs(tmp_path, suites.SUITES["mujoco"]).to_dict("records")
    assert (run["total_timesteps"], run["complete"], run["pieces"], run["episodes"]) == (12288, False, 2, 3)


def test_a_folder_without_its_args_is_not_a_run(tmp_path):
    """A process killed as it wrote args.json asked for no budget: not a run complete at budget 0."""
    key = "Hopper-v4__ppo_continuous-20k__2"
    folder = make_folder(tmp_path, key, 100, total=20480, checkpoint=False)
    (folder / "args.json").write_text('{"total_timesteps": 20')  # cut mid-write
    assert run_folders.read_runs(tmp_path, suites.SUITES["mujoco"]).empty


# A budget too short for any episode to end: MountainCar and Pendulum episodes last 200 steps.
NO_EPISODE = {
    "ppo_continuous.py": ["--env-id", "Pendulum-v1", "--num-steps", "64", "--num-minibatches", "2"],
    "ppo_penalty.py": ["--env-id", "Pendulum-v1", "--num-steps", "64", "--num-minibatches", "2"],
    "ppo_discrete.py": ["--env-id", "MountainCar-v0", "--num-envs", "1", "--num-steps", "64"],
    "ppo_shared_backbone.py": ["--env-id", "MountainCar-v0", "--num-envs", "1", "--num-steps", "64"],
}


@pytest.mark.parametrize("script", sorted(NO_EPISODE))
def test_a_run_without_a_finished_episode_writes_strict_json_which_reads_back_as_nan(script, tmp_path):
    """Before: "mean_return": NaN, which Python reads but JSON parsers of other languages (and jq 1.6) refuse."""
    result = run_script(script, *NO_EPISODE[script], "--total-timesteps", "64", "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    folder = only_run_dir(tmp_path)

    def refuse(constant):
        raise AssertionError(f"summary.json holds {constant}, which is not JSON")

    summary = json.loads((folder / "summary.json").read_text(), parse_constant=refuse)
    assert (summary["episodes"], summary["mean_return"]) == (0, None)
    assert math.isnan(run_folders.read_folder(folder).summary["mean_return"])


def test_a_run_at_two_budgets_is_two_rows(tmp_path):
    """One name, run complete at 8192 and again at 4096 (a hand-made shorter run under the same name): two runs,
    not only the newest folder's budget."""
    key = "Hopper-v4__ppo_continuous__1"
    make_folder(tmp_path, key, 100, total=8192, global_step=8192)
    make_folder(tmp_path, key, 200, total=4096, global_step=4096)
    table = run_folders.read_runs(tmp_path, suites.SUITES["mujoco"])
    assert list(zip(table["budget"], table["total_timesteps"], table["complete"], strict=True)) == [
        (8192, 8192, True),
        (4096, 4096, True),
    ]


def test_a_complete_run_is_not_replaced_by_a_later_fresh_start(tmp_path):
    """A run complete in one folder, then started afresh (its checkpoint not resumed) in a later folder that has
    no summary yet: the run is the complete one, scored from its episodes (1 and 2), not the newer folder's 9."""
    key = "Hopper-v4__ppo_continuous-8192__1"
    done = make_folder(tmp_path, key, 100, total=8192, global_step=8192)
    write_events(done, [(3000, 1.0), (8000, 2.0)], [4096, 8192])
    fresh = make_folder(tmp_path, key, 200, total=8192)
    write_events(fresh, [(1000, 9.0)], [2048])
    [run] = run_folders.read_runs(tmp_path, suites.SUITES["mujoco"]).to_dict("records")
    assert (run["final_return"], run["total_timesteps"], run["complete"], run["pieces"]) == (1.5, 8192, True, 1)


def test_of_two_complete_folders_of_a_run_the_newer_counts(tmp_path):
    """A run complete, then run again to the end (--rerun-recorded, --no-resume): the rerun is the run."""
    key = "Hopper-v4__ppo_continuous-8192__1"
    write_events(make_folder(tmp_path, key, 100, total=8192, global_step=8192), [(8000, 1.0)], [8192])
    write_events(make_folder(tmp_path, key, 200, total=8192, global_step=8192), [(8000, 2.0)], [8192])
    [run] = run_folders.read_runs(tmp_path, suites.SUITES["mujoco"]).to_dict("records")
    assert (run["final_return"], run["complete"], run["pieces"]) == (2.0, True, 1)


@pytest.mark.parametrize(
    ("budget", "updates", "complete"),
    [
        (8192, [2048, 4096, 6144, 8192], True),  # killed after its last update, before its summary
        (8192, [2048, 4096, 6144], False),  # one batch short
        (7000, [2048, 4096, 6144], True),  # a budget that is no multiple of the batch: 3 batches are all of it
        (7000, [2048, 4096], False),
    ],
)
def test_a_run_without_a_summary_is_complete_once_within_a_batch_of_its_budget(tmp_path, budget, updates, complete):
    """A complete run is skipped by run.py for good, so one batch (2048 steps) short must not count."""
    folder = make_folder(tmp_path, f"Hopper-v4__ppo_continuous-{budget}__1", 100, total=budget)
    write_events(folder, [(1000, 1.0)], updates)
    [run] = run_folders.read_runs(tmp_path, suites.SUITES["mujoco"]).to_dict("records")
    assert (run["total_timesteps"], run["complete"]) == (updates[-1], complete)


def test_a_resumed_runs_wall_time_adds_up_its_pieces(tmp_path):
    """The first piece was killed (no summary): its time is the span of its events, 130 - 100 = 30 s; the
    resumed piece's summary says 2 s. The run took 32 s, 8192 steps: 256 steps/s."""
    from torch.utils.tensorboard import SummaryWriter

    key = "Hopper-v4__ppo_continuous-8192__1"
    first = make_folder(tmp_path, key, 100, total=8192)
    writer = SummaryWriter(str(first))
    writer.add_scalar("charts/episodic_return", 1.0, 1000, walltime=100.0)
    writer.add_scalar("charts/SPS", 1000.0, 4096, walltime=130.0)
    writer.close()
    second = make_folder(tmp_path, key, 200, total=8192, global_step=8192, resume=f"elsewhere/{first.name}/model.pt")
    summary = json.loads((second / "summary.json").read_text()) | {"start_step": 4096, "wall_seconds": 2.0}
    (second / "summary.json").write_text(json.dumps(summary))
    [run] = run_folders.read_runs(tmp_path, suites.SUITES["mujoco"]).to_dict("records")
    assert (run["pieces"], run["wall_seconds"], run["sps"]) == (2, 32.0, 256.0)
