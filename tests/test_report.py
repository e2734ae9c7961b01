"""benchmark/report.py: the golden test (today's committed record in, the committed tables out), a trial that
leaves benchmark/results/ as it is, runs of several sessions adding up, and the runs recorded before episodes
were kept."""

import hashlib
import json
import shutil
import sys

import PIL.Image
import pytest
from test_run import make_folder
from util import ROOT, csv_rows, run_script, write_events

sys.path.insert(0, str(ROOT / "benchmark"))
import plots  # noqa: E402
import record  # noqa: E402
import report  # noqa: E402
import suites  # noqa: E402

RESULTS = ROOT / "benchmark" / "results"
RECORDED = sorted(p.stem for p in RESULTS.glob("*.csv") if p.stem in suites.SUITES)


def make(*flags: str) -> dict:
    return report.report(report.tyro.cli(report.Cli, args=list(map(str, flags))))


@pytest.mark.parametrize("suite", RECORDED)
def test_golden_the_committed_record_gives_the_committed_tables(suite, tmp_path, monkeypatch):
    """No run folders: from benchmark/results/'s CSVs and episodes, the same record byte for byte, and the same
    markdown, every line: the runs counted, every score, interval and row."""
    monkeypatch.setattr(plots, "plot_curves", lambda *args: {})  # tests/test_plots.py draws them
    monkeypatch.setattr(plots, "plot_table1", lambda *args: None)
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)  # --publish, as the committed report was made
    for name in {suite, suites.SUITES[suite].beside} - {""}:
        for path in (RESULTS / f"{name}.csv", RESULTS / f"{name}_episodes.csv.gz"):
            shutil.copy(path, tmp_path)
    for path in RESULTS.glob(f"{suite}*_before_episodes.png"):  # which S.md names
        shutil.copy(path, tmp_path)
    paths = make("--suite", suite, "--runs-dir", tmp_path / "no-runs", "--publish")
    for key in ("csv", "episodes"):
        assert paths[key].read_bytes() == (RESULTS / paths[key].name).read_bytes(), paths[key].name
    assert paths["md"].read_text().splitlines() == (RESULTS / f"{suite}.md").read_text().splitlines()


def digest(folder) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_trial_leaves_the_committed_results_as_they_are(tmp_path):
    """A new user's first try, as benchmark/README shows it: a short run, then its report."""
    before = digest(RESULTS)
    runs_dir = tmp_path / "runs"
    trial = ("--suite", "classic", "--envs", "CartPole", "--seeds", "1", "--total-timesteps", "5000")
    trial += ("--settings", "ppo_discrete")  # one run of the two, to be quick
    result = run_script("benchmark/run.py", *trial, "--runs-dir", runs_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_script("benchmark/report.py", "--suite", "classic", "--runs-dir", runs_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "benchmark/results is left as it is (--publish writes the report there)" in result.stdout
    assert digest(RESULTS) == before
    [row] = csv_rows(runs_dir / "results" / "classic.csv")
    assert (row["setting"], row["env_id"], row["budget"], row["complete"]) == (
        "ppo_discrete-5k",
        "CartPole-v1",
        "5000",
        "True",
    )
    assert (runs_dir / "results" / "classic.png").is_file() and (runs_dir / "results" / "classic.md").is_file()


def test_publish_writes_into_the_record(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path / "published")
    folder = make_folder(
        tmp_path / "runs" / "classic", "CartPole-v1__ppo_discrete-8192__1", 100, total=8192, global_step=8192
    )
    write_events(folder, [(1000, 10.0), (8000, 30.0)], [8192])
    paths = make("--suite", "classic", "--runs-dir", tmp_path / "runs", "--publish")
    assert paths["csv"] == tmp_path / "published" / "classic.csv" and not (tmp_path / "runs" / "results").exists()
    assert "`python benchmark/report.py --suite classic --publish` from 1 runs" in paths["md"].read_text()


def test_runs_of_two_sessions_add_up_and_the_record_alone_gives_the_same_report(tmp_path, monkeypatch):
    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    flags = ["--suite", "mujoco", "--runs-dir", runs_dir, "--results-dir", results, "--last-episodes", "2"]
    first = make_folder(runs_dir / "mujoco", "Hopper-v4__ppo_continuous-8192__1", 100, total=8192, global_step=8192)
    write_events(first, [(1000, 1.0), (4000, 2.0), (8000, 4.0)], [8192])
    make(*flags)
    # Next session: a new run here, the first one's folder gone.
    runs_dir.rename(tmp_path / "gone")
    second = make_folder(runs_dir / "mujoco", "Hopper-v4__ppo_continuous-8192__2", 100, total=8192, global_step=8192)
    write_events(second, [(2000, 10.0), (8000, 20.0)], [8192])
    paths = make(*flags)
    rows = {row["seed"]: row for row in csv_rows(paths["csv"])}
    # The CSV keeps the paper's score (the last 100: all 3 episodes of seed 1); the table, the last 2's.
    assert (rows["1"]["final_return"], rows["1"]["episodes"], rows["2"]["final_return"]) == ("2.33333", "3", "15")
    row = (
        "| Hopper-v4 | ppo_continuous-8192 | 8192 (reduced; paper 1M) | 2 (paper 3) | 9.0 ± 6.0 | — | ~2300 | 2316.2 |"
    )
    assert row in paths["md"].read_text().splitlines()
    # No run folders at all: the same results again, byte for byte.
    runs_dir.rename(tmp_path / "gone2")
    before = {key: paths[key].read_bytes() for key in ("csv", "episodes", "md")}
    again = make(*flags)
    assert {key: again[key].read_bytes() for key in ("csv", "episodes", "md")} == before
    with pytest.raises(
        report.ReportError, match=r"no runs in .*run.py --suite mujoco --runs-dir \S+ --rerun-recorded\)"
    ):
        make(*flags[:4], "--results-dir", tmp_path / "empty")  # mujoco is in the record: run.py would skip it
    with pytest.raises(report.ReportError, match=r"no runs in .*run.py --suite atari --runs-dir \S+\)"):
        make("--suite", "atari", "--runs-dir", runs_dir, "--results-dir", tmp_path / "empty")  # not recorded
    # (the hint keeps the --runs-dir given: before, it sent the user to run the suite into the default one)
    # A stand-in for the published record: were the refusal gone, the report would be written there, not into
    # benchmark/results.
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path / "published")
    with pytest.raises(report.ReportError, match="is the published record: pass --publish to write the report there"):
        make("--suite", "classic", "--runs-dir", tmp_path, "--results-dir", tmp_path / "published")
    assert not (tmp_path / "published").exists()
    with pytest.raises(report.ReportError, match="--last-episodes must be at least 1"):
        make(*flags[:-1], "0")
    with pytest.raises(report.ReportError, match="--points-every must be 0"):
        make(*flags, "--points-every", "-1")


def test_a_run_recorded_at_two_budgets_is_kept_at_both(tmp_path, monkeypatch):
    """The same setting, environment and seed at 300k (a hand-made run under the same name) and at 1M are two
    runs: with no run folders, the report keeps both rows, in the order of their budgets."""
    monkeypatch.setattr(plots, "plot_curves", lambda *args: {})
    results = tmp_path / "results"
    results.mkdir()
    header = ",".join(record.CSV_COLUMNS)
    (results / "mujoco.csv").write_text(
        f"{header}\nppo_continuous.py,ppo_continuous,Hopper-v4,1,999424,2600,400,2500,abc,True,1000000,900,1,m\n"
        "ppo_continuous.py,ppo_continuous,Hopper-v4,1,299008,900,120,2500,abc,True,300000,300,1,m\n"
    )
    rows = csv_rows(make("--suite", "mujoco", "--runs-dir", tmp_path / "runs", "--results-dir", results)["csv"])
    assert [(row["budget"], row["final_return"]) for row in rows] == [("300000", "900"), ("1000000", "2600")]


def test_main_exits_2_on_a_users_mistake_and_writes_nothing(tmp_path, capsys):
    """--last-episodes 0: one line on stderr and exit 2 (a user's error, as the other scripts' are), before any
    folder is made."""
    with pytest.raises(SystemExit) as stopped:
        report.main(["--suite", "classic", "--last-episodes", "0", "--runs-dir", str(tmp_path / "runs")])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "report.py: error: --last-episodes must be at least 1\n"
    assert list(tmp_path.iterdir()) == []


def test_a_results_dir_that_is_a_file_is_said_to_be_one(tmp_path, capsys):
    """Before: "report.py: error: [Errno 17] File exists: '…'" (mkdir's, once the runs were read)."""
    (tmp_path / "results").write_text("")
    with pytest.raises(SystemExit) as stopped:
        report.main(["--suite", "classic", "--runs-dir", str(tmp_path), "--results-dir", str(tmp_path / "results")])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"report.py: error: --results-dir {tmp_path / 'results'} is a file, not a folder: give a folder (made if "
        "missing)\n"
    )


@pytest.mark.parametrize(("steps", "complete"), [(8192, "True"), (4096, "False")], ids=["complete", "under-way"])
def test_a_rerun_under_way_does_not_replace_the_recorded_run_until_it_goes_further(steps, complete, tmp_path, capsys):
    """A run recorded complete, run again (--rerun-recorded), or recorded under way and started again from 0 (its
    checkpoint lost with a machine): while the rerun's folder is short of the record's steps the record's run
    stays, score and all; once it is complete, the rerun replaces it."""
    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    results.mkdir()
    header = ",".join(record.CSV_COLUMNS)
    (results / "classic.csv").write_text(
        f"{header}\nppo_discrete.py,ppo_discrete-8192,CartPole-v1,1,{steps},500,100,5000,abc,{complete},8192,900,1,m\n"
    )
    key = "CartPole-v1__ppo_discrete-8192__1"
    rerun = make_folder(runs_dir / "classic", key, 100, total=8192, global_step=2048, interrupted="SIGTERM")
    write_events(rerun, [(1000, 10.0), (2000, 30.0)], [2048])
    flags = ("--suite", "classic", "--runs-dir", runs_dir, "--results-dir", results)
    [row] = csv_rows(make(*flags)["csv"])
    assert (row["final_return"], row["total_timesteps"], row["complete"], row["commit"]) == (
        "500",
        str(steps),
        complete,
        "abc",
    )
    assert "CartPole-v1 ppo_discrete-8192 seed 1: the record's run is kept, the run folders' has 2,048 steps" in (
        capsys.readouterr().out
    )
    rerun.rename(tmp_path / "gone")  # the rerun made again from the start, to the end
    done = make_folder(runs_dir / "classic", key, 200, total=8192, global_step=8192)
    write_events(done, [(4000, 40.0), (8000, 60.0)], [8192])
    [row] = csv_rows(make(*flags)["csv"])
    assert (row["final_return"], row["complete"], row["commit"]) == ("50", "True", "")


def test_runs_recorded_before_episodes_were_kept_are_named_and_the_curves_drawn_then_pointed_to(tmp_path):
    """A run recorded without its episodes has no curve to draw again: the PNG is drawn from the runs that have
    theirs, and the report names the run and the drawing of its curve an earlier report made, kept beside."""
    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    results.mkdir()
    header = ",".join(record.CSV_COLUMNS)
    (results / "classic.csv").write_text(
        f"{header}\nppo_discrete.py,ppo_discrete,CartPole-v1,1,499712,500,100,5000,abc,True,500000,900,1,m\n"
    )
    folder = make_folder(
        runs_dir / "classic", "CartPole-v1__ppo_discrete-20k__1", 100, total=20_000, global_step=19_968
    )
    write_events(folder, [(5000, 20.0), (19_968, 60.0)], [19_968])
    flags = ("--suite", "classic", "--runs-dir", runs_dir, "--results-dir", results)
    bare = "no learning curve kept for CartPole-v1 seed 1 (ppo_discrete): recorded before episodes were kept"
    paths = make(*flags)
    assert paths["png"] == results / "classic.png"
    assert PIL.Image.open(paths["png"]).text["Runs"] == "ppo_discrete-20k/CartPole-v1/1/20000"  # plots.run_id
    assert f"{bare}. A run's score" in paths["md"].read_text()
    (results / "classic_before_episodes.png").write_bytes(b"drawn then")
    text = make(*flags)["md"].read_text()
    assert f"{bare} (their curves as drawn then: `classic_before_episodes.png`)" in text
    assert "Learning curves: `classic.png`." in text


def test_last_episodes_changes_the_tables_not_the_record(tmp_path):
    """--last-episodes 1 scores our runs and the peer's alike in the tables; the CSV keeps the paper's score,
    the mean of the last 100 episodes, which a later report reads back."""
    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    for suite in ("mujoco", "mujoco_sb3"):  # the same episodes on both sides: every difference is 0
        for seed in range(1, 6):
            key = f"Hopper-v4__{'sb3_ppo' if suite == 'mujoco_sb3' else 'ppo_continuous'}-8192__{seed}"
            folder = make_folder(runs_dir / suite, key, 100, total=8192, global_step=8192)
            write_events(folder, [(2000, 100.0), (8000, 2.0)], [8192])
        make("--suite", suite, "--runs-dir", runs_dir, "--results-dir", results, "--last-episodes", "1")
    [row] = {r["final_return"] for r in csv_rows(results / "mujoco_sb3.csv")}
    assert row == "51"  # (100 + 2) / 2
    text = (results / "mujoco_sb3.md").read_text()
    assert "| Hopper-v4 | 8192 | 2.0 ± 0.0 (5) | 2.0 ± 0.0 (5) | [0.0, 0.0] |" in text  # before: 100.0 for ours
    assert "| SB3 (last 1 episodes) |" in text


def test_a_run_without_episodes_yet_is_not_said_to_predate_them(tmp_path):
    runs_dir = tmp_path / "runs"
    key = "CartPole-v1__ppo_discrete-8192__1"
    make_folder(runs_dir / "classic", key, 100, total=8192, global_step=2048, interrupted="SIGTERM")
    text = make("--suite", "classic", "--runs-dir", runs_dir)["md"].read_text()
    assert "Incomplete, in the CSV only: CartPole-v1 ppo_discrete-8192 seed 1 at 2,048 steps." in text
    assert "recorded before episodes were kept" not in text


def test_an_incomplete_run_is_scored_only_when_asked(tmp_path):
    """A run still under way is in the CSV (at its steps) and, with --include-incomplete only, in the tables."""
    runs_dir = tmp_path / "runs"
    key = "CartPole-v1__ppo_discrete-8192__1"
    folder = make_folder(runs_dir / "classic", key, 100, total=8192, global_step=4096, interrupted="SIGTERM")
    write_events(folder, [(1000, 10.0), (4000, 30.0)], [4096])
    flags = ("--suite", "classic", "--runs-dir", runs_dir, "--last-episodes", "2")
    row = "| CartPole-v1 | ppo_discrete-8192 | 8192 (reduced; suite 500k) | 1 (suite 3) | 20.0 |"
    text = make(*flags)["md"].read_text()
    assert "Incomplete, in the CSV only: CartPole-v1 ppo_discrete-8192 seed 1 at 4,096 steps." in text
    assert not any(line.startswith(row) for line in text.splitlines())
    text = make(*flags, "--include-incomplete")["md"].read_text()
    assert "Incomplete, included in the tables: CartPole-v1 ppo_discrete-8192 seed 1 at 4,096 steps." in text
    assert any(line.startswith(row) for line in text.splitlines()), text


def test_an_atari_ablation_is_reported_as_atari_beside_ours(tmp_path, monkeypatch):
    """atari3_ppo2 (ppo2's settings) gets Table 6's two metrics beside the paper's figures, as atari3 does, and the
    table beside atari3's runs; its plot gives the seeds' range and the paper's score."""
    drawn = []
    monkeypatch.setattr(plots, "plot_curves", lambda suite, used, path: drawn.append(suite.name) or {})
    runs_dir, results = tmp_path / "runs", tmp_path / "results"
    for suite, slug in (("atari3", "ppo_shared_backbone"), ("atari3_ppo2", "ppo2_settings")):
        folder = make_folder(runs_dir / suite, f"BreakoutNoFrameskip-v4__{slug}-8192__1", 100, 8192, 8192)
        write_events(folder, [(2000, 10.0), (8000, 30.0 if suite == "atari3" else 50.0)], [8192])
        if suite == "atari3_ppo2":  # run.py's meta.json: the ablation's packages are known, ours are not
            (folder / "meta.json").write_text(json.dumps({"commit": "c", "packages": {"torch": "2.13.0+cpu"}}))
        make("--suite", suite, "--runs-dir", runs_dir, "--results-dir", results)
    assert "Machines: unknown. Packages: not recorded for 1 run." in (results / "atari3.md").read_text()
    text = (results / "atari3_ppo2.md").read_text()
    assert "Commits: c. Machines: unknown. Packages: torch==2.13.0+cpu." in text
    assert "## 8192 steps, reduced (paper 10M)" in text and "Mean return of all episodes of training" in text
    assert "| BreakoutNoFrameskip-v4 | ppo2_settings-8192 | 1 | 30.0 | 30.0 | 274.8 | 303 |" in text
    assert "| BreakoutNoFrameskip-v4 | 8192 | 30.0 (1) | 20.0 (1) | — | 30.0 | 20.0 |" in text  # beside atari3's
    assert "95% CI of the mean" not in text  # Atari: 3 seeds, no interval of one mean
    assert drawn == ["atari3", "atari3_ppo2"]
