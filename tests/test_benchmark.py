"""benchmark/'s other tools: the Stable-Baselines3 peer (sb3_ppo.py) on its own, speed.py's report,
penalty_beta.py's summary, random_policy.py's scores, trunk_features.py's rows and compare_losses.py's
statistics (their arithmetic, on made-up figures)."""

import json
import math
import re
import signal
import subprocess
import sys
import types

import pytest
import torch.nn as nn
from test_run import SB3_FAST, SB3_SUMMARY_KEYS, needs_sb3
from util import ROOT, assert_one_line_error, csv_rows, read_scalars, run_script, script_env

sys.path.insert(0, str(ROOT / "benchmark"))
import run_folders  # noqa: E402


@needs_sb3
def test_sb3_peer_stops_cleanly_on_sigterm_and_is_restarted_from_scratch(tmp_path):
    flags = ["--env-id", "InvertedPendulum-v4", "--total-timesteps", "1000000", "--runs-dir", str(tmp_path), *SB3_FAST]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmark" / "sb3_ppo.py"), *flags],
        cwd=ROOT,
        env={key: value for key, value in script_env().items() if key != "PYTHONWARNINGS"},  # warnings as a user's
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().startswith("step "), "the status line after the first update"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, out + err  # ended by it: a shell's 143
    assert "Traceback" not in err and out.startswith("interrupted: step ")
    assert "out of date" not in err  # gymnasium's on -v4, which our scripts do not print either
    [folder] = run_folders.scan(tmp_path)["InvertedPendulum-v4__sb3_ppo__1"]
    assert folder.summary["interrupted"] == "SIGTERM" and 256 <= folder.summary["global_step"] < 1_000_000
    assert folder.summary.keys() == SB3_SUMMARY_KEYS
    state = run_folders.run_state([folder], 1_000_000, checkpoint_step=run_folders.checkpoint_step)
    assert (state.action, state.reason, state.checkpoint) == ("start", "no checkpoint", None)


@needs_sb3
def test_sb3_peer_gets_ppo_continuous_learning_rate_schedule():
    """SB3 asks for the rate after rollout k, at progress 1 - 2048 k / 999,424 (the rounded budget); ours
    set it before that rollout: (1 - 2048 (k - 1) / 1,000,000) · 3e-4, from 3e-4 down to nearly 0."""
    import sb3_ppo

    schedule = sb3_ppo.Annealed(3e-4, 2048, 999_424, 1_000_000)
    sb3 = [schedule(1.0 - 2048 * k / 999_424) for k in range(1, 489)]
    assert sb3 == pytest.approx([(1.0 - 2048 * (k - 1) / 1_000_000) * 3e-4 for k in range(1, 489)], rel=1e-12)
    assert schedule(1.0) == 3e-4  # SB3's first call, when it builds the optimizer
    given = sb3_ppo.sb3_kwargs(sb3_ppo.Args(), 999_424)
    assert given["learning_rate"] == schedule and given["batch_size"] == 64 and given["vf_coef"] == 0.25
    assert sb3_ppo.sb3_kwargs(sb3_ppo.Args(clip_vloss=False, anneal_lr=False), 999_424)["clip_range_vf"] is None


@needs_sb3
def test_sb3_peer_refuses_bad_input_in_one_line():
    result = run_script("benchmark/sb3_ppo.py", "--env-id", "Hoper-v4", "--total-timesteps", "2048")
    assert result.returncode == 2
    assert_one_line_error(result, "Hoper-v4")
    import sb3_ppo

    with pytest.raises(sb3_ppo.UserError, match="not divisible by --num-minibatches"):
        sb3_ppo.validate(sb3_ppo.Args(num_minibatches=3))
    with pytest.raises(sb3_ppo.UserError, match="--total-timesteps must be at least"):
        sb3_ppo.validate(sb3_ppo.Args(total_timesteps=1000))


@needs_sb3
def test_sb3_peer_refuses_a_runs_dir_that_is_a_file_in_one_line(tmp_path):
    """As ppo_continuous.py says it (before: SummaryWriter's NotADirectoryError traceback)."""
    (tmp_path / "runs").write_text("")
    result = run_script("benchmark/sb3_ppo.py", "--runs-dir", tmp_path / "runs", "--total-timesteps", "2048")
    assert result.returncode == 2
    assert_one_line_error(
        result, f"cannot make the run folder {tmp_path / 'runs'}/", "Not a directory; pass another --runs-dir"
    )


@needs_sb3
@pytest.mark.parametrize(
    "tool", ["sb3_ppo", "speed", "compare_losses", "random_policy", "penalty_beta", "trunk_features", "report", "run"]
)
def test_help_piped_into_a_reader_gone_is_no_traceback(tool):
    """`--help | head -1`: head gone before the help is written (here: the pipe closed at once), as the scripts
    (before: tyro's BrokenPipeError traceback in all but run.py; report.py's "error: [Errno 32] Broken pipe")."""
    script = [sys.executable, str(ROOT / "benchmark" / f"{tool}.py"), "--help"]
    with subprocess.Popen(script, cwd=ROOT, env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        proc.stdout.close()
        err = proc.stderr.read().decode()
    assert "Traceback" not in err and "Broken" not in err and "error" not in err, err


# ---------------------------------------------------------------------------------------------
# speed.py's report and penalty_beta.py's summary (their arithmetic, on made-up figures)
# ---------------------------------------------------------------------------------------------


def test_speed_report_gives_ratios_and_targets():
    import speed

    split = {"env_step": 0.25, "inference": 0.35, "update": 0.3, "other": 0.1}
    results = {
        "versions": {"torch": "2.x", "sb3": "2.y", "gymnasium": "1.z"},
        "commit": "0123456789abcdef",
        "made": "2026-01-01 00:00 UTC",
        "machine": "a machine",
        "cases": {
            "hopper": {"ours": 3000.0, "ours_all": [3000.0], "split": split, "sb3": 1000.0, "sb3_all": [1000.0]},
            "hopper_penalty": {"ours": 2800.0, "ours_all": [2800.0], "split": split, "sb3": 1000.0, "sb3_all": [1e3]},
            "cartpole": {"ours": 15000.0, "ours_all": [15000.0], "split": split, "sb3": 10000.0, "sb3_all": [1e4]},
        },
    }
    memory = {"100k": 500.0, "1M": 520.0, "1M_return": 2500.0, "1M_wall": 400.0, "1M_sps": 2500.0, "commit": "abc"}
    results["profile"] = {"env_step": 100.0, "policy_forward": 50.0, "policy_forward_torch": 80.0, "normalizers": 20.0}
    results["profile"] |= {"mb_forward": 200.0}
    results["profile"] |= {"mb_backward": 300.0, "mb_clip": 50.0, "mb_adam": 90.0, "update_per_step": 100.0}
    text = speed.render(results, 1, "python benchmark/speed.py", memory)
    # 100 + 50 + 20 + 100 = 270 µs per step; twice SB3's 1,000 steps/s leaves 500 µs per step.
    assert "| the update (320 minibatches per 2048 steps) | 100 |" in text
    assert "| the pieces above, before any bookkeeping (3,704 steps/s) | 270 |" in text
    assert "| twice SB3's median (1,000 steps/s): the target's budget | 500 |" in text
    assert "| 3,000 | 1,000 | 3.00× ✓ | ≥ 2.0× | 25% | 35% | 30% | 10% |" in text  # 3,000 / 1,000 meets 2×
    assert "| 15,000 | 10,000 | 1.50× ✗ |" in text  # 1.5× misses 2×
    at_target = {"hopper": {"ours": 2000.0, "sb3": 1000.0, "split": split}}
    assert "| 2,000 | 1,000 | 2.00× ✓ | ≥ 2.0× |" in speed.case_row("hopper", at_target)  # exactly 2× meets 2×
    # penalty: 2.8× against hopper's 3.0× is 0.93 of hopper's ratio, inside the 10% asked for
    assert "| 2.80× ✓ | hopper's ratio ± 10% (here 0.93) |" in text
    results["cases"]["hopper_penalty"]["ours"] = 2600.0  # 2.6 / 3.0 = 0.87: more than 10% below
    assert "| 2.60× ✗ | hopper's ratio ± 10% (here 0.87) |" in speed.render(results, 1, "x", memory)
    assert "| 100k | 500 |" in text and "| 1M | 520 (+4.0%; target within 10%) | 2500.0 | 400 | 2,500 | abc |" in text
    assert "ppo_shared_backbone.py's update" not in text  # no Breakout profile measured
    parts = dict(
        zip(
            [name for name, _ in speed.UPDATE_PARTS] + [speed.THE_REST],
            [0.4, 0.2, 0.15, 0.05, 0.02, 0.18],
            strict=True,
        )
    )
    results["cases"]["breakout"] = {"ours": 330.0, "ours_all": [330.0], "split": split, "sb3": 250.0, "sb3_all": [250]}
    results["profile_breakout"] = {"update_ms_per_step": 2.0, "parts": parts}
    text = speed.render(results, 1, "python benchmark/speed.py", memory)
    assert "| convolutions, backward | 40% |" in text and "2.00 ms per environment step" in text
    assert "| the network's arithmetic (convolutions, linear layers, ReLUs) | 80% |" in text  # 0.4 + 0.2 + 0.15 + 0.05


def test_speed_report_renders_the_committed_figures_as_published():
    """speed.md is made again, to the byte, from the committed speed.json and speed_memory.json."""
    import speed

    results = json.loads((speed.RESULTS / "speed.json").read_text())
    memory = json.loads((speed.RESULTS / "speed_memory.json").read_text())
    text = speed.render(results, 3, "python benchmark/speed.py --publish", memory)
    assert text == (speed.RESULTS / "speed.md").read_text()


@needs_sb3
def test_speed_gives_sb3_each_script_defaults():
    import speed

    classic, atari = speed.sb3_args(speed.CASES["cartpole"]), speed.sb3_args(speed.CASES["breakout"])
    assert (classic.num_envs, classic.num_steps, classic.update_epochs, classic.learning_rate) == (4, 128, 4, 2.5e-4)
    assert (classic.ent_coef, atari.num_envs, atari.update_epochs, atari.clip_coef, atari.vf_coef) == (
        0.01,
        8,
        3,
        0.1,
        1,
    )
    assert (classic.env_id, classic.total_timesteps, classic.seed) == ("CartPole-v1", 40_960, 1)
    assert not (classic.norm_obs or atari.norm_reward) and speed.sb3_args(speed.CASES["hopper"]).norm_obs


def test_penalty_beta_summary_of_a_resumed_run(tmp_path):
    import penalty_beta
    from torch.utils.tensorboard import SummaryWriter

    def folder(name: str, updates: list, args: dict, summary: dict):
        run_dir = tmp_path / name
        writer = SummaryWriter(str(run_dir))
        for step, beta, kl in updates:
            writer.add_scalar("charts/beta", beta, step)
            writer.add_scalar("losses/kl", kl, step)
        writer.close()
        args |= {"kl_target": 0.01, "seed": 1, "total_timesteps": 4, "num_envs": 1, "num_steps": 1}
        (run_dir / "args.json").write_text(json.dumps(args))
        (run_dir / "summary.json").write_text(json.dumps(summary | {"mean_return": 1.0}))
        return run_dir

    # Cut by SIGTERM after step 3, checkpointed at 2; resumed from step 2 (its update at 3 is done again).
    # d_targ = 0.01, band [0.00667, 0.015]: 0.001 below, 0.01 and 0.015 inside, 0.02 above.
    first = folder(
        "Hopper-v4__klpen__1__1",
        [(1, 1.0, 0.001), (2, 0.5, 0.01), (3, 9.0, 9.0)],
        {},
        {"global_step": 3, "interrupted": "SIGTERM"},
    )
    resumed = folder(
        "Hopper-v4__klpen__1__2",
        [(3, 0.5, 0.015), (4, 0.5, 0.02)],
        {"resume": str(first / "model.pt")},
        {"global_step": 4, "start_step": 2, "beta": 1.0},
    )
    assert penalty_beta.finished_runs((first,)) == []  # cut short: no row
    [pieces] = penalty_beta.finished_runs((resumed, first))
    assert [p.path for p in pieces] == [first, resumed]
    row = penalty_beta.describe(pieces)
    assert (row["beta_min"], row["beta_max"], row["beta_final"], row["updates"]) == (0.5, 1.0, 1.0, 4)
    assert (row["below"], row["inside"], row["above"]) == (0.25, 0.5, 0.25)
    line = "| Hopper-v4__klpen__1__2 | 1 | 4 | 1.0 | 0.01 | 0.5 | 1 | 1 | 4 | 50% | 25% | 25% | 0.0150 |\n"
    assert penalty_beta.ROW.format(**row) == line  # as penalty_hopper.md has its rows
    again = folder("Hopper-v4__klpen__1__3", [(4, 0.5, 0.01)], {}, {"global_step": 4})  # the same run, run again
    assert [[p.path for p in run] for run in penalty_beta.finished_runs((first, resumed, again))] == [[again]]
    result = run_script("benchmark/penalty_beta.py", tmp_path / "nothing-here")
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"penalty_beta.py: give the folders of finished ppo_penalty.py runs with an adaptive β; no such folder: "
        f"{tmp_path / 'nothing-here'}"
    ]
    # A fixed β (before: its rows were made, with a band it never aimed for).
    fixed = folder("Hopper-v4__klpen_fixed_1__1__4", [(4, 1.0, 0.01)], {"adaptive_beta": False}, {"global_step": 4})
    result = run_script("benchmark/penalty_beta.py", fixed)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"penalty_beta.py: give the folders of finished ppo_penalty.py runs with an adaptive β; a fixed β: {fixed}"
    ]
    # Among others, or a suite's folder for its runs: the folder at fault named (before: only the line above).
    result = run_script("benchmark/penalty_beta.py", first, resumed, fixed)
    assert result.returncode == 1 and result.stderr.strip().endswith(f"runs with an adaptive β; a fixed β: {fixed}")
    result = run_script("benchmark/penalty_beta.py", tmp_path)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"penalty_beta.py: give the folders of finished ppo_penalty.py runs with an adaptive β; not a run folder "
        f"(env__exp-name__seed__time): {tmp_path}"
    ]
    # A folder that is no run's (a typo) is named, not silently dropped; an --output it cannot write, before any work.
    result = run_script("benchmark/penalty_beta.py", first, resumed, tmp_path / "Typo__klpen__2__9")
    assert result.returncode == 0 and result.stderr.strip().splitlines() == [
        f"penalty_beta.py: left out, not part of a finished run: {tmp_path / 'Typo__klpen__2__9'}"
    ]
    result = run_script("benchmark/penalty_beta.py", first, resumed, "--output", tmp_path / "no" / "x.md")
    assert result.returncode == 1 and result.stderr.strip() == (
        f"penalty_beta.py: --output {tmp_path / 'no' / 'x.md'}: no folder {tmp_path / 'no'}"
    )
    result = run_script("benchmark/penalty_beta.py", first, resumed, "--output", tmp_path)  # before: IsADirectoryError
    assert result.returncode == 1 and result.stderr.strip() == (
        f"penalty_beta.py: --output {tmp_path} is a folder: give a file, e.g. {tmp_path / 'beta.md'}"
    )


def test_compare_losses_compares_distributions_in_standard_errors():
    import compare_losses

    def runs(means):  # one run per seed, every loss logged twice with the given mean, and one episode
        return [
            {key: [(512, m - 1.0), (1024, m + 1.0)] for key in compare_losses.KEYS}
            | {"charts/episodic_return": [(100 * m, m)]}
            for m in means
        ]

    # before: 1, 2, 3 (mean 2, sample variance 1); now: 3, 4, 5 (mean 4, variance 1)
    # standard error √(1/3 + 1/3) = 0.8165, so the difference 2 is 2.449 standard errors
    result = compare_losses.compare_distributions(runs([1.0, 2.0, 3.0]), runs([3.0, 4.0, 5.0]))
    mean_before, mean_now, z = result["losses/entropy"]
    assert (mean_before, mean_now) == (2.0, 4.0) and z == pytest.approx(2.449, abs=1e-3)
    assert sorted(result) == sorted(compare_losses.KEYS)  # the losses; not the episodes


def test_compare_losses_flags_a_difference_either_way(capsys):
    """before 5, 6, 7 and now 1, 2, 3: 4 lower, 4 / 0.8165 = 4.90 standard errors (see above): more than 3, flagged
    as a rise would be."""
    import compare_losses

    def runs(means):
        return [{key: [(512, m - 1.0), (1024, m + 1.0)] for key in compare_losses.KEYS} for m in means]

    cli = compare_losses.Cli("ppo_discrete.py", num_seeds=3)
    compare_losses.by_distribution(cli, range(1, 4), {"before": runs([5.0, 6.0, 7.0]), "now": runs([1.0, 2.0, 3.0])})
    [entropy] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("losses/entropy")]
    assert entropy.endswith("difference -4.90 standard errors  <- differs"), entropy


def test_compare_losses_runs_the_script_at_both_commits(monkeypatch, capsys):
    """One run each way with the flags as given, or one per seed with --num-seeds; the runs are stand-ins."""
    import compare_losses

    calls = []

    def run(script, flags, runs_dir):
        calls.append((script.parent.name, flags))
        seed = float(flags[-1]) if "--seed" in flags else 1.0
        return {key: [(512, 1.0), (1024, seed)] for key in compare_losses.KEYS}  # the same each way: identical

    monkeypatch.setattr(compare_losses, "run", run)
    monkeypatch.setattr(sys, "argv", ["compare_losses.py", "ppo_discrete.py", "--flags=--total-timesteps 512"])
    compare_losses.main()
    assert calls == [("before", ["--total-timesteps", "512"]), (ROOT.name, ["--total-timesteps", "512"])]
    assert json.loads(capsys.readouterr().out.splitlines()[0]) | {"max_relative_difference": 0.0} == {
        "script": "ppo_discrete.py",
        "before": "HEAD",
        "updates": 2,
        "tags": 5,
        "identical": True,
        "max_relative_difference": 0.0,
        "same_episodes": True,
    }
    calls.clear()
    monkeypatch.setattr(sys, "argv", ["compare_losses.py", "ppo_discrete.py", "--num-seeds", "2", "--first-seed", "3"])
    compare_losses.main()
    assert [flags[-2:] for _, flags in calls] == [["--seed", "3"]] * 2 + [["--seed", "4"]] * 2
    assert "seeds 3-4" in capsys.readouterr().out
    for flags, said in (
        (["--num-seeds", "1"], "--num-seeds needs at least 2 (a standard error needs two samples); left out, one run"),
        (["--out", "means.json"], "--out writes the means of --num-seeds runs: give --num-seeds too"),  # was ignored
    ):
        monkeypatch.setattr(sys, "argv", ["compare_losses.py", "ppo_discrete.py", *flags])
        with pytest.raises(SystemExit, match=f"^compare_losses.py: {re.escape(said)}"):
            compare_losses.main()

    # Now's last update 5% off before's in a chart no loss shows yet (ppo_penalty's β after its last update):
    # not identical, and by how much; an episode that ended elsewhere is said too.
    def logged(now: bool, beta: float = 1.0, updates: int = 2, tag: str = "losses/value_loss") -> dict:
        log = {tag: [(512 * (i + 1), 2.0) for i in range(updates)], "charts/beta": [(512, 1.0), (1024, beta)]}
        return log | {"charts/episodic_return": [(700 if now else 600, 5.0)]}

    def stand_ins(now: dict, before: dict):
        return lambda script, flags, runs_dir: before if script.parent.name == "before" else now

    monkeypatch.setattr(sys, "argv", ["compare_losses.py", "ppo_penalty.py"])
    monkeypatch.setattr(compare_losses, "run", stand_ins(logged(True, beta=1.05), logged(False)))
    compare_losses.main()
    summary = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (summary["identical"], summary["same_episodes"], summary["tags"]) == (False, False, 2)
    assert summary["max_relative_difference"] == pytest.approx(0.05)
    # A run that did fewer updates, or a tag only one side logged: one line, no comparison.
    monkeypatch.setattr(compare_losses, "run", stand_ins(logged(True, updates=1), logged(False)))
    with pytest.raises(SystemExit, match="losses/value_loss: before logged 2 updates, now 1 "):
        compare_losses.main()
    monkeypatch.setattr(compare_losses, "run", stand_ins(logged(True, tag="losses/v"), logged(False)))
    with pytest.raises(SystemExit, match="only one side logged losses/v, losses/value_loss: nothing to compare"):
        compare_losses.main()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--flags=--env-id 'CartPole-v1"],
            "--flags: No closing quotation; write it as --flags='--total-timesteps 4096'",
        ),
        (["--flags=--runs-dir /tmp/x"], "--flags may not hold --runs-dir: each run is a fresh training run of its own"),
        (["--before="], "--before needs a commit, e.g. HEAD~1"),
        (
            ["--before", "no_such_commit"],
            "compare_losses.py: --before no_such_commit: fatal: invalid object name 'no_such_commit'; ",
        ),
        # Before: a NotADirectoryError or IsADirectoryError traceback, once every run had finished.
        (
            ["--num-seeds", "2", "--out", f"{ROOT / 'README.md'}/x.json"],
            f"--out {ROOT / 'README.md'}/x.json: no folder {ROOT / 'README.md'}; give a file in an existing folder",
        ),
        (["--num-seeds", "2", "--out", str(ROOT)], f"--out {ROOT}: {ROOT} is a folder; give a file in an existing"),
    ],
)
def test_compare_losses_refuses_what_it_cannot_run_in_one_line(monkeypatch, flags, message):
    """Before: a shlex traceback, an unpacking traceback after a run in the other folder, a comparison with the
    staged file, git's bare line."""
    import compare_losses

    monkeypatch.setattr(compare_losses, "run", lambda *args: pytest.fail("nothing may run"))
    monkeypatch.setattr(sys, "argv", ["compare_losses.py", "ppo_discrete.py", *flags])
    with pytest.raises(SystemExit, match=re.escape(message)):
        compare_losses.main()


def test_compare_losses_takes_the_script_by_any_path_in_the_repository(tmp_path, monkeypatch, capsys):
    """From the current folder, from the root or absolute: git is given it from the root (before: ../ppo_discrete.py
    or an absolute path blamed --before HEAD, as not in that commit). A file elsewhere is refused in one line."""
    import compare_losses

    scripts = []

    def run(script, flags, runs_dir):  # a stand-in: the same losses each way
        scripts.append(script)
        return {key: [(512, 1.0)] for key in compare_losses.KEYS}

    monkeypatch.setattr(compare_losses, "run", run)
    monkeypatch.chdir(ROOT / "benchmark")
    for given in ("../ppo_discrete.py", str(ROOT / "ppo_discrete.py"), "ppo_discrete.py"):  # the last: from the root
        monkeypatch.setattr(sys, "argv", ["compare_losses.py", given])
        compare_losses.main()
        assert json.loads(capsys.readouterr().out.splitlines()[0])["script"] == "ppo_discrete.py"
        before, now = scripts[-2:]
        assert (before.parent.name, before.name, now) == ("before", "ppo_discrete.py", ROOT / "ppo_discrete.py")
    outside = tmp_path / "ppo_discrete.py"
    outside.write_text("")
    monkeypatch.setattr(sys, "argv", ["compare_losses.py", str(outside)])
    with pytest.raises(SystemExit, match=f"^compare_losses.py: {outside}: the script must be a file of the repository"):
        compare_losses.main()


def test_speed_writes_the_record_only_with_publish(tmp_path, monkeypatch):
    """A look (`speed.py --cases cartpole`) goes to the scratch folder; --publish writes benchmark/results/.
    The measurements are stand-ins: this is about where the report goes, not what it says."""
    import speed

    row = {"ours": 2.0, "ours_all": [2.0], "sb3": 1.0, "sb3_all": [1.0]}
    row["split"] = {"env_step": 0.25, "inference": 0.25, "update": 0.25, "other": 0.25}
    monkeypatch.setattr(speed, "measure_case", lambda *args: row)
    monkeypatch.setattr(speed, "RESULTS", tmp_path / "record")
    monkeypatch.setattr(speed, "SCRATCH", tmp_path / "scratch")
    for flags, folder in ((["--cases", "cartpole"], "scratch"), (["--cases", "cartpole", "--publish"], "record")):
        monkeypatch.setattr(sys, "argv", ["speed.py", *flags])
        speed.main()
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == ["speed.json", "speed.md"]
        assert "| 2 | 1 | 2.00× ✓ |" in (tmp_path / folder / "speed.md").read_text()
        assert (tmp_path / "record").exists() == (folder == "record")  # a look leaves the record alone
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == ["speed.json", "speed.md"]
    monkeypatch.setattr(sys, "argv", ["speed.py", "--before", "HEAD", "--publish"])  # before: --publish ignored
    with pytest.raises(SystemExit, match="--before only prints a comparison; leave out --publish and --memory"):
        speed.main()


def test_speed_never_replaces_the_record_by_fewer_cases_or_rounds(tmp_path, monkeypatch, capsys):
    """Before: `speed.py --publish --cases hopper` rewrote speed.md with the Hopper row only."""
    import speed

    monkeypatch.setattr(speed, "measure_case", lambda *args: pytest.fail("nothing may be measured"))
    monkeypatch.setattr(speed, "RESULTS", tmp_path)
    three = {"ours": 2.0, "ours_all": [2.0, 2.1, 1.9], "sb3": 1.0, "sb3_all": [1.0, 1.0, 1.0]}
    (tmp_path / "speed.json").write_text(json.dumps({"cases": {"hopper": three, "cartpole": three}}))
    refused = {
        ("--cases", "hopper"): "no cartpole",
        ("--cases", "hopper", "cartpole", "--rounds", "2"): "2 rounds, not 3",
        ("--cases", "hopper", "--rounds", "1"): "no cartpole, 1 rounds, not 3",
    }
    for flags, less in refused.items():
        monkeypatch.setattr(sys, "argv", ["speed.py", *flags, "--publish"])
        with pytest.raises(SystemExit, match=rf"^speed.py: --publish would replace the record by less \({less}\): "):
            speed.main()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speed.json"]


def test_speed_refuses_an_empty_before_in_one_line(tmp_path, monkeypatch):
    """Before: --before '' was no --before: SB3 measured, and with --publish the record written."""
    import speed

    monkeypatch.setattr(speed, "measure_case", lambda *args: pytest.fail("nothing may be measured"))
    monkeypatch.setattr(speed, "RESULTS", tmp_path / "record")
    monkeypatch.setattr(speed, "SCRATCH", tmp_path / "scratch")
    for flags in (["--before", ""], ["--before=", "--publish"]):
        monkeypatch.setattr(sys, "argv", ["speed.py", "--cases", "cartpole", *flags])
        with pytest.raises(SystemExit, match=r"^speed.py: --before needs a commit, e.g. HEAD~1$"):
            speed.main()
    assert list(tmp_path.iterdir()) == []


def test_trunk_features_measure_saturation_and_what_varies_across_states(tmp_path):
    """The trunk's last layer set to a constant: tanh(10) in every unit is saturated, tanh(0) is not, and either
    gives the same features, policy and value in every state; the trunk as initialized varies with the state."""
    import torch
    import trunk_features
    from repo import load_script

    states = trunk_features.visited_states("CartPole-v1", n=200)
    agent = load_script("ppo_shared_backbone").Agent((4,), 2)

    def row_of(name: str, bias: float | None) -> list[str]:
        folder = tmp_path / f"CartPole-v1__ppo_shared_backbone__1__{name}"
        folder.mkdir()
        if bias is not None:
            with torch.no_grad():
                agent.trunk[2].weight.zero_()
                agent.trunk[2].bias.fill_(bias)
        torch.save({"model": agent.state_dict()}, folder / "model.pt")
        (folder / "summary.json").write_text(json.dumps({"mean_return": 12.5}))
        return trunk_features.row(run_folders.read_folder(folder), states, 2)

    initialized = row_of("1", None)
    assert initialized[:5] == ["CartPole-v1", "ppo_shared_backbone.py", "1", "12.5", "0%"]
    assert float(initialized[5]) > 0.05
    assert row_of("2", 10.0)[4:7] == ["100%", "0.000", "0.0000"]
    assert row_of("3", 0.0)[4:] == ["0%", "0.000", "0.0000", f"{agent.critic.bias.item():.1f} (0.00)"]


def test_a_commit_git_does_not_know_is_one_line(tmp_path):
    """compare_losses.py and speed.py --before: an unknown commit (before: git's CalledProcessError traceback)."""
    import repo

    with pytest.raises(
        SystemExit, match=r"^\S+: --before 0000000: fatal: .*0000000.*has it \(git log --oneline -- ppo_discrete.py\)"
    ):
        repo.script_at("0000000", "ppo_discrete.py", tmp_path)
    result = run_script("benchmark/speed.py", "--cases", "cartpole", "--before", "nosuch")
    assert result.returncode == 1 and result.stderr.startswith("speed.py: --before nosuch: fatal: ")  # named the tool
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert repo.script_at("HEAD", "ppo_discrete.py", tmp_path).read_text().startswith('"""')


def test_machine_tells_apart_cpus_a_virtual_machine_names_alike():
    """Two AMD machines of this project both called themselves 'AMD EPYC', one running our Breakout at 320 steps/s,
    the other at 500 (speed_earlier_runs.txt, speed.md): the record names the CPU's family and model too."""
    import os

    import repo

    zen5 = "processor\t: 0\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\nstepping\t: 1\n"
    assert repo.machine(zen5) == f"AMD EPYC family 26 model 2, {os.cpu_count()} cores"
    assert (
        repo.machine("model name\t: Intel(R) Xeon(R) Processor\n")
        == f"Intel(R) Xeon(R) Processor, {os.cpu_count()} cores"
    )


def test_random_policy_writes_the_record_only_with_publish_and_refuses_bad_ids_in_one_line(
    tmp_path, monkeypatch, capsys
):
    import random_policy

    monkeypatch.setattr(random_policy, "REPO", tmp_path)
    random_policy.main(["--envs", "CartPole-v1", "--episodes", "3"])
    assert not (tmp_path / "benchmark" / "results").exists()  # a look: the record is left as it is
    look = (tmp_path / "benchmark" / "runs" / "results" / "random_policy.csv").read_text()
    random_policy.main(["--envs", "Pendulum-v1", "--episodes", "2", "--publish"])
    record = (tmp_path / "benchmark" / "results" / "random_policy.csv").read_text()
    assert "CartPole-v1,3," in look and "Pendulum-v1,2," in record and "CartPole" not in record
    with pytest.raises(SystemExit) as refused:  # a record is never replaced by less: 1 episode for 2
        random_policy.main(["--envs", "Pendulum-v1", "--episodes", "1", "--publish"])
    assert refused.value.code == 2 and (tmp_path / "benchmark" / "results" / "random_policy.csv").read_text() == record
    assert capsys.readouterr().err == (
        "random_policy.py: error: --publish: Pendulum-v1's row has 2 episodes; give --episodes 2 or more\n"
    )
    own = "gymnasium.envs.classic_control:CartPole-v1"  # an id with its module, as for your own env: versioned
    random_policy.main(["--envs", own, "--episodes", "1"])
    assert f"{own},1," in (tmp_path / "benchmark" / "runs" / "results" / "random_policy.csv").read_text()
    bad = [("Hopper-v3", "Hopper-v3 cannot be measured: "), ("NoSuch-v0", "NoSuch-v0 cannot be")]
    bad += [("CartPole", "--envs CartPole has no version, and gymnasium would make CartPole-v1: give the version")]
    for env_id, message in bad:  # before: "CartPole" was measured as CartPole-v1 into a row named CartPole
        # before any measurement: CartPole-v1's would have been thrown away with the rest
        result = run_script("benchmark/random_policy.py", "--envs", "CartPole-v1", env_id, "--episodes", "1")
        assert_one_line_error(result, message)
        assert result.stdout == ""


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--envs"], "--envs needs at least one gymnasium id, e.g. --envs CartPole-v1"),  # before: "wrote …", exit 0
        (["--envs", "CartPole-v1", "--seed", "-1"], "--seed -1: give a seed from 0 to 2**32 - 1"),  # before: blamed
        (["--envs", "CartPole-v1", "--seed", str(2**32)], f"--seed {2**32}: give a seed"),  # CartPole-v1
        (["--envs", "Hopper"], "--envs Hopper has no version"),  # before: after gymnasium's two warning lines
    ],
)
def test_random_policy_refuses_bad_flags_in_one_line_before_measuring(flags, message):
    env = {key: value for key, value in script_env().items() if key != "PYTHONWARNINGS"}  # warnings as a user sees
    script = [sys.executable, str(ROOT / "benchmark" / "random_policy.py"), *flags]
    result = subprocess.run(script, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert_one_line_error(result, message)
    assert result.stdout == ""


def test_random_policy_measures_atari_games(tmp_path, monkeypatch):
    """Their ids are ale_py's to register, as the scripts do (before: "Environment `PongNoFrameskip` doesn't
    exist"). A random policy loses Pong 21-0, or nearly."""
    pytest.importorskip("ale_py", reason="needs ale-py for the Atari games (pip install ale-py)")
    import random_policy

    monkeypatch.setattr(random_policy, "REPO", tmp_path)
    random_policy.main(["--envs", "PongNoFrameskip-v4", "--episodes", "1"])
    [row] = csv_rows(tmp_path / "benchmark" / "runs" / "results" / "random_policy.csv")
    assert row["env_id"] == "PongNoFrameskip-v4" and -21 <= float(row["mean_return"]) <= -18


@needs_sb3
def test_speed_starts_sb3s_clock_after_its_first_reset(monkeypatch):
    """Ours resets its envs before its clock; SB3's learn() resets them inside (on Atari a seeded reset reloads
    every ROM). A reset that moves the clock on by 1000 s must not count: counted, 2048 steps would measure at
    most 2 steps/s; not counted, at least 20, however loaded the machine (not a timing: before, a real 1 s
    reset was checked against a speed, which a busy machine did not reach)."""
    import dataclasses
    import time

    import sb3_ppo
    import speed

    make_envs, perf_counter, skipped = sb3_ppo.make_envs, time.perf_counter, [0.0]

    def slow_to_reset(args):
        envs = make_envs(args)
        reset = envs.reset

        def reset_taking_1000_s():
            skipped[0] += 1000.0
            return reset()

        envs.reset = reset_taking_1000_s
        return envs

    monkeypatch.setattr(sb3_ppo, "make_envs", slow_to_reset)
    monkeypatch.setattr(time, "perf_counter", lambda: perf_counter() + skipped[0])
    assert speed.measure_sb3(dataclasses.replace(speed.CASES["cartpole"], steps=2048))["sps"] > 20
    assert skipped[0] == 1000.0  # the reset was made (once) inside learn()


def test_random_policy_measures_seeded_episodes_and_writes_their_mean_and_std(tmp_path, monkeypatch):
    """CartPole-v1, seed 1 (gymnasium 1.x): returns 29, 10, 11, 36, 13; mean 19.8 (median 13), std 10.6471."""
    import random_policy

    assert random_policy.random_returns("CartPole-v1", 5, 1) == [29.0, 10.0, 11.0, 36.0, 13.0]
    monkeypatch.setattr(random_policy, "REPO", tmp_path)
    random_policy.main(["--envs", "CartPole-v1", "--episodes", "5"])
    text = (tmp_path / "benchmark" / "runs" / "results" / "random_policy.csv").read_text()
    assert "\nCartPole-v1,5,19.8000,10.6471,1," in text


def test_penalty_beta_band_is_closed_and_return_comes_from_the_episodes(tmp_path):
    """d_targ = 0.375: band [0.25, 0.5625], both ends exact in float32; d = 0.25 and 0.5625 inside, 0.1 below,
    1.0 above. β's largest is the last update's; the return is the mean of the logged episodes (15), not the
    summary's (1)."""
    import penalty_beta
    from torch.utils.tensorboard import SummaryWriter

    run_dir = tmp_path / "Hopper-v4__klpen__1__1"
    writer = SummaryWriter(str(run_dir))
    for step, beta, kl in [(1, 2.0, 0.25), (2, 0.5, 0.5625), (3, 1.0, 0.1), (4, 4.0, 1.0)]:
        writer.add_scalar("charts/beta", beta, step)
        writer.add_scalar("losses/kl", kl, step)
    for step, value in [(1, 10.0), (3, 20.0)]:
        writer.add_scalar("charts/episodic_return", value, step)
    writer.close()
    args = {"kl_target": 0.375, "seed": 1, "total_timesteps": 4, "num_envs": 1, "num_steps": 1}
    (run_dir / "args.json").write_text(json.dumps(args))
    (run_dir / "summary.json").write_text(json.dumps({"global_step": 4, "mean_return": 1.0, "beta": 8.0}))
    [pieces] = penalty_beta.finished_runs((run_dir,))
    row = penalty_beta.describe(pieces)
    assert (row["below"], row["inside"], row["above"]) == (0.25, 0.5, 0.25)
    assert (row["beta_min"], row["beta_max"], row["beta_final"], row["mean_return"]) == (0.5, 4.0, 8.0, 15.0)


def test_trunk_features_of_ppo_discrete_are_its_last_tanh_layers(tmp_path):
    """ppo_discrete.py: the actor's last hidden layer set to tanh(0.995) = 0.76 in half its units and tanh(1.832)
    = 0.95 in the other half (not saturated: |h| ≤ 0.99; constant over states, not over units); the critic's to
    tanh(10) (saturated). The states of the random policy are the same on every call (seeded)."""
    import torch
    import trunk_features
    from repo import load_script

    states = trunk_features.visited_states("CartPole-v1", n=200)
    assert torch.equal(states, trunk_features.visited_states("CartPole-v1", n=200))
    agent = load_script("ppo_discrete").Agent(4, 2)
    with torch.no_grad():
        agent.actor[2].weight.zero_()
        agent.actor[2].bias.copy_(torch.tensor([0.995] * 32 + [1.832] * 32))
        agent.critic[2].weight.zero_()
        agent.critic[2].bias.fill_(10.0)
    folder = tmp_path / "CartPole-v1__ppo_discrete__1__1"
    folder.mkdir()
    torch.save({"model": agent.state_dict()}, folder / "model.pt")
    (folder / "summary.json").write_text(json.dumps({"mean_return": 12.5}))
    row = trunk_features.row(run_folders.read_folder(folder), states, 2)
    assert row[:7] == ["CartPole-v1", "ppo_discrete.py", "1", "12.5", "0% (critic's: 100%)", "0.000", "0.0000"]


@needs_sb3
def test_sb3_peer_gives_sb3_every_flag_away_from_its_defaults(tmp_path):
    """Every flag at a value of neither ours' nor SB3's defaults, read back from the PPO that make_model builds
    (a flag not passed would show SB3's default); the policy and VecNormalize as the docstring says."""
    import sb3_ppo

    args = sb3_ppo.Args(env_id="Pendulum-v1", num_envs=2, num_steps=128, num_minibatches=4, update_epochs=3)
    args = sb3_ppo.dataclasses.replace(args, gamma=0.9, gae_lambda=0.8, clip_coef=0.3, norm_adv=False)
    args = sb3_ppo.dataclasses.replace(args, ent_coef=0.02, vf_coef=0.4, max_grad_norm=0.7, norm_reward=False)
    args = sb3_ppo.dataclasses.replace(args, anneal_lr=False, learning_rate=1e-3, total_timesteps=1000)
    envs = sb3_ppo.make_envs(args)
    assert (envs.norm_obs, envs.norm_reward, envs.gamma, envs.clip_obs, envs.clip_reward) == (True, False, 0.9, 10, 10)
    model = sb3_ppo.make_model(args, envs, 768)
    assert (model.n_envs, model.n_steps, model.batch_size, model.n_epochs) == (2, 128, 64, 3)
    assert (model.gamma, model.gae_lambda, model.clip_range(1.0), model.clip_range_vf(1.0)) == (0.9, 0.8, 0.3, 0.3)
    assert (model.normalize_advantage, model.ent_coef, model.vf_coef, model.max_grad_norm) == (False, 0.02, 0.4, 0.7)
    assert model.lr_schedule(0.5) == 1e-3 and model.policy.optimizer.defaults["eps"] == 1e-5
    policy = model.policy
    assert (policy.ortho_init, policy.activation_fn) == (True, nn.Tanh)  # net_arch: the step-for-step test
    assert policy.log_std.tolist() == [0.0]
    envs = sb3_ppo.make_envs(sb3_ppo.dataclasses.replace(args, norm_obs=False, norm_reward=True))
    assert (envs.norm_obs, envs.norm_reward) == (False, True)
    assert sb3_ppo.Run(sb3_ppo.Args()).learn_steps == 999_424  # 1M rounded down to 488 rollouts of 2048


@needs_sb3
def test_sb3_peer_summary_is_the_mean_of_the_last_100_raw_returns_and_diagnostics_keep_their_sign(tmp_path):
    """150 episodes with returns 0, 1, 4, ..., 149²: the last 100 are 50²..149², mean 10,733.5 (median 9,900.5)."""
    import sb3_ppo

    with sb3_ppo.Run(sb3_ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path))) as run:
        run.start_time, run.last_print = 0.0, math.inf
        names = {theirs: 0.5 for theirs in sb3_ppo.DIAGNOSTICS} | {"train/n_updates": 10, "train/entropy_loss": -1.4}
        run.model = types.SimpleNamespace(num_timesteps=0, logger=types.SimpleNamespace(name_to_value=names))
        for k in range(150):
            run.model.num_timesteps = 10 * (k + 1)
            run.locals = {"infos": [{"episode": {"r": float(k * k), "l": 10, "t": 0.0}}, {}]}
            assert run._on_step()
        run.log_update()
        summary = run.finish(run.model)
    assert (summary["mean_return"], summary["episodes"], summary["global_step"]) == (10_733.5, 100, 1500)
    scalars = read_scalars(run.dir)
    assert scalars["charts/episodic_return"][-1] == (1500, 149.0**2) and len(scalars["charts/episodic_return"]) == 150
    assert scalars["losses/entropy"] == [(1500, pytest.approx(1.4))]


def test_trunk_features_publishes_only_the_whole_suite(tmp_path, monkeypatch):
    """Before: --publish with one run of one's own on disk replaced classic_trunk.md's 18 rows by that run's row
    (and counted a run of CartPole-v0, outside the suite). Now --publish is refused until every run of the suite
    is there, and the record is left as it is."""
    import trunk_features

    record = ROOT / "benchmark" / "results" / "classic_trunk.md"
    before = record.read_bytes()
    for env_id in ("CartPole-v1", "CartPole-v0"):
        folder = tmp_path / "classic" / f"{env_id}__ppo_discrete__1__1"
        folder.mkdir(parents=True)
        args = {"env_id": env_id, "total_timesteps": 500_000, "num_envs": 4, "num_steps": 128}
        (folder / "args.json").write_text(json.dumps(args))
        summary = {"global_step": 500_000, "interrupted": None, "mean_return": 500.0}
        (folder / "summary.json").write_text(json.dumps(summary))
        (folder / "model.pt").touch()
    monkeypatch.setattr(sys, "argv", ["trunk_features.py", "--runs-dir", str(tmp_path), "--publish"])
    with pytest.raises(SystemExit, match="--publish needs every run of the classic suite; 17 are not complete"):
        trunk_features.main()
    assert record.read_bytes() == before
