"""ppo_penalty.py: the β rule, the closed-form KL and L^KLPEN against hand and reference values,
the adaptive β on a short Hopper run, checkpoints, and the errors a user can cause. What the file
shares with ppo_continuous.py (rollout, GAE, truncation, normalization) is the same text, checked by
test_shared_code.py and tested in test_continuous.py."""

import dataclasses
import json
import math
import os
import shutil
import signal

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence
from util import (
    ROOT,
    TENSORBOARD_KEYS,
    assert_resumed_schedule,
    load_script,
    only_run_dir,
    read_scalars,
    run_script,
    signal_handlers,
    standard_gaussian_agent,
)

ppo = load_script("ppo_penalty")

TINY = ["--num-steps", "512", "--num-minibatches", "4", "--update-epochs", "2", "--total-timesteps", "1024"]


def tiny_kwargs(**overrides):
    return dict(num_steps=512, num_minibatches=4, update_epochs=2, total_timesteps=1024) | overrides


# ---------------------------------------------------------------------------------------------
# The math
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kl", "expected"),
    [
        (0.001, 0.5),  # below the band [d_targ/1.5, 1.5 d_targ] = [0.00667, 0.015]: β/2
        (0.01, 1.0),  # inside: unchanged
        (0.02, 2.0),  # above: 2β
        (0.01 / 1.5, 1.0),  # the band's edges belong to the band (the paper's inequalities are strict)
        (0.01 * 1.5, 1.0),
        (0.01 / 1.5 * 0.999, 0.5),
        (0.01 * 1.5 * 1.001, 2.0),
    ],
)
def test_adapt_beta_follows_section_4(kl, expected):
    assert ppo.adapt_beta(1.0, kl, 0.01) == expected


def test_adapt_beta_scales_any_beta():
    assert ppo.adapt_beta(3.0, 0.0, 0.01) == 1.5 and ppo.adapt_beta(3.0, 1.0, 0.01) == 6.0


def test_gaussian_kl_by_hand():
    # One dimension, μ_old = 0, σ_old = 1, μ_new = 1, σ_new = e:
    # log(e/1) + (1 + 1) / (2 e²) - 1/2 = 1 + e⁻² - 0.5.
    kl = ppo.gaussian_kl(torch.tensor([[0.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.tensor([[1.0]]))
    assert kl.item() == pytest.approx(0.5 + math.exp(-2.0), rel=1e-6)


def test_gaussian_kl_matches_torch_and_monte_carlo():
    generator = torch.Generator().manual_seed(0)
    old_mean, new_mean = torch.randn(5, 3, generator=generator), torch.randn(5, 3, generator=generator)
    old_log_std, new_log_std = (
        0.3 * torch.randn(5, 3, generator=generator),
        0.3 * torch.randn(5, 3, generator=generator),
    )
    kl = ppo.gaussian_kl(old_mean, old_log_std, new_mean, new_log_std)
    old = Independent(Normal(old_mean, old_log_std.exp()), 1)
    new = Independent(Normal(new_mean, new_log_std.exp()), 1)
    torch.testing.assert_close(kl, kl_divergence(old, new))
    # KL[p, q] = E_{a~p}[log p(a) - log q(a)], estimated from 200k samples per state.
    samples = old.sample((200_000,))
    monte_carlo = (old.log_prob(samples) - new.log_prob(samples)).mean(0)
    torch.testing.assert_close(kl, monte_carlo, rtol=0.03, atol=0.01)


def test_kl_penalty_with_beta_zero_is_the_cpi_surrogate():
    ratio, advantages = torch.tensor([0.5, 1.0, 1.5, 3.0]), torch.tensor([1.0, -2.0, 0.5, -1.0])
    kl = torch.tensor([0.1, 0.2, 0.3, 0.4])
    # -L^CPI = -mean(r·Â) = -(0.5 - 2 + 0.75 - 3) / 4 = 0.9375: no ratio is clipped.
    assert ppo.kl_penalty_loss(ratio, advantages, kl, 0.0).item() == pytest.approx(0.9375)
    # With β = 2 the penalty adds β·mean(KL) = 2 · 0.25.
    assert ppo.kl_penalty_loss(ratio, advantages, kl, 2.0).item() == pytest.approx(0.9375 + 0.5)


def test_minibatch_loss_by_hand():
    """Eq. (9) with L^KLPEN for L^CLIP on one minibatch, at the defaults (c1 = 0.25, c2 = 0) and β = 2."""
    agent = standard_gaussian_agent(ppo)  # π_θ = N(0, 1) and V = 3 in every state
    ratio = torch.tensor([0.5, 1.0, 1.0, 1.5])
    mb = {
        "obs": torch.randn(4, 2),
        "actions": torch.zeros(4, 1),
        "logprobs": -0.5 * math.log(2 * math.pi) - ratio.log(),  # log π_θ(0) - log r: the ratios above
        # π_old = N(1, e²) (the stored log-probs above stand for another π_old: minibatch_loss takes both as
        # given). KL is not symmetric: KL[π_old, π_θ] = log(1/e) + (e² + 1)/2 - 1/2 = e²/2 - 1, where
        # KL[π_θ, π_old] = 1/2 + e⁻².
        "old_mean": torch.ones(4, 1),
        "old_log_std": torch.ones(4, 1),
        # mean 3, sample std s = √(14/3): Â = (-2, -1, 0, 3) / s
        "advantages": torch.tensor([1.0, 2.0, 3.0, 6.0]),
        # V_old: the first value moves by -0.5, clipped to -ε = -0.2 (value clipping is on by default)
        "values": torch.tensor([3.5, 3.0, 3.0, 3.0]),
        # max((V - V^targ)², (V_old + clip(V - V_old, ±ε) - V^targ)²) = 3.3 - 1 = 2.3², 0, 1, 0: L^VF = 1.5725
        # (unclipped: 2², 0, 1, 0, so 1.25)
        "returns": torch.tensor([1.0, 3.0, 4.0, 3.0]),
    }
    s, kl = math.sqrt(14 / 3), math.exp(2.0) / 2 - 1
    loss, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args(), beta=2.0)
    # -(E[r·Â] - β·E[KL]) = -(0.5·(-2) - 1 + 0 + 1.5·3) / (4s) + 2·(e²/2 - 1): no clipping in L^KLPEN
    policy_loss = -2.5 / (4 * s) + 2 * kl
    torch.testing.assert_close(diagnostics[ppo.DIAGNOSTICS.index("policy_loss")], torch.tensor(policy_loss))
    torch.testing.assert_close(diagnostics[ppo.DIAGNOSTICS.index("value_loss")], torch.tensor(1.5725))
    torch.testing.assert_close(loss, torch.tensor(policy_loss + 0.25 * 1.5725))
    _, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args(clip_vloss=False), beta=2.0)
    torch.testing.assert_close(diagnostics[ppo.DIAGNOSTICS.index("value_loss")], torch.tensor(1.25))
    # --no-norm-adv: E[r·A] = (0.5 + 2 + 3 + 9) / 4 = 3.625
    _, diagnostics = ppo.minibatch_loss(agent, mb, ppo.Args(norm_adv=False), beta=2.0)
    torch.testing.assert_close(diagnostics[0], torch.tensor(-3.625 + 2 * kl))
    # c2 = 0.01: the entropy of N(0, 1), ½(1 + log 2π), is a bonus
    loss, _ = ppo.minibatch_loss(agent, mb, ppo.Args(ent_coef=0.01), beta=2.0)
    torch.testing.assert_close(
        loss, torch.tensor(policy_loss + 0.25 * 1.5725 - 0.01 * 0.5 * (1 + math.log(2 * math.pi)))
    )
    # Equal advantages (std 0) normalize to 0, not 0/0: only the penalty is left.
    _, diagnostics = ppo.minibatch_loss(agent, mb | {"advantages": torch.full((4,), 2.0)}, ppo.Args(), beta=2.0)
    torch.testing.assert_close(diagnostics[0], torch.tensor(2 * kl))


def test_defaults_other_than_the_objective_are_ppo_continuous():
    """ppo_penalty.py is ppo_continuous.py with another objective: every flag they share has one default."""
    continuous, penalty = load_script("ppo_continuous").Args(), ppo.Args()
    names = [f.name for f in dataclasses.fields(penalty) if f.name not in ("kl_target", "init_beta", "adaptive_beta")]
    assert len(names) == 32 and all(hasattr(continuous, name) for name in names)
    differ = {name: getattr(penalty, name) for name in names if getattr(penalty, name) != getattr(continuous, name)}
    assert differ == {"exp_name": "ppo_penalty"}


def test_update_measures_the_kl_from_the_old_policy_to_the_new(monkeypatch):
    """KL is not symmetric: Eq. (8)'s penalty and the d of the β rule are KL[π_old, π_θ]. In every KL the
    update takes, π_old (fixed: no gradient) comes first; d is that of the whole batch after the epochs."""
    calls, gaussian_kl = [], ppo.gaussian_kl
    monkeypatch.setattr(ppo, "gaussian_kl", lambda *args: calls.append(args) or gaussian_kl(*args))
    torch.manual_seed(0)
    agent, n = ppo.Agent(3, 2), 64
    batch = {"obs": torch.randn(n, 3), "actions": torch.randn(n, 2), "advantages": torch.randn(n)}
    batch |= {"returns": torch.randn(n), "values": torch.randn(n)}
    with torch.no_grad():
        old = tuple(x.clone() for x in agent.policy(batch["obs"]))  # σ is a view of the parameter: a copy
        batch["logprobs"] = ppo.gaussian_log_prob_and_entropy(batch["actions"], *old)[0]
    args = ppo.Args(num_minibatches=4, update_epochs=2)
    losses = ppo.update(agent, torch.optim.Adam(agent.parameters(), lr=1e-2), batch, args, beta=1.0)
    *minibatches, last = calls
    assert len(minibatches) == 8
    assert all(not old_mean.requires_grad and new_mean.requires_grad for old_mean, _, new_mean, _ in minibatches)
    with torch.no_grad():
        new = agent.policy(batch["obs"])
    for passed, expected in zip(last, (*old, *new), strict=True):
        torch.testing.assert_close(passed, expected)
    assert losses["kl"] == pytest.approx(gaussian_kl(*old, *new).mean().item()) and losses["kl"] > 0


def test_each_update_uses_the_beta_the_rule_gave_after_the_one_before(tmp_path, monkeypatch):
    """Section 4: β starts at --init-beta; after each update the rule halves, keeps or doubles it for the next.
    update() is replaced by one that records its β and reports scripted d: with d_targ = 0.01, d = 0.001
    (< d_targ/1.5: halve), 0.01 (keep), 0.05 (> 1.5·d_targ: double), 0.01 (keep) gives β = 1, 0.5, 0.5, 1."""
    given, kls = [], iter([0.001, 0.01, 0.05, 0.01])

    def scripted_update(agent, optimizer, batch, args, beta):
        given.append(beta)
        return dict.fromkeys(ppo.DIAGNOSTICS, 0.0) | {"kl": next(kls)}

    monkeypatch.setattr(ppo, "update", scripted_update)
    args = ppo.Args(env_id="Pendulum-v1", init_beta=1.0, kl_target=0.01, runs_dir=str(tmp_path), seed=1)
    summary = ppo.train(ppo.dataclasses.replace(args, **tiny_kwargs(total_timesteps=2048)))
    assert given == [1.0, 0.5, 0.5, 1.0]
    assert summary["beta"] == 1.0  # for the next update, had there been one


def test_penalty_and_its_gradient_vanish_when_the_policies_agree():
    mean = torch.randn(4, 2, requires_grad=True)
    log_std = torch.full((4, 2), -0.5, requires_grad=True)
    kl = ppo.gaussian_kl(mean.detach(), log_std.detach(), mean, log_std)
    assert torch.all(kl.abs() < 1e-7)
    kl.sum().backward()  # KL is at its minimum where the new policy is the old one
    assert mean.grad.abs().max() < 1e-6 and log_std.grad.abs().max() < 1e-6


# ---------------------------------------------------------------------------------------------
# β in training
# ---------------------------------------------------------------------------------------------


def test_adaptive_beta_follows_the_logged_kl_toward_the_target(tmp_path):
    """A β far too large keeps the policy still (d ≪ d_targ); the rule halves it after every update
    and d grows toward d_targ. Every logged β is section 4's rule, written out here, applied to the previous
    β and d (not adapt_beta, the function under test: with it, a rule of /1.5 and ×1.5 passed)."""

    def by_hand(beta: float, d: float) -> float:
        return beta / 2 if d < 0.02 / 1.5 else 2 * beta if d > 1.5 * 0.02 else beta

    args = ppo.Args(env_id="Hopper-v4", init_beta=30.0, kl_target=0.02, anneal_lr=False, runs_dir=str(tmp_path), seed=1)
    args = ppo.dataclasses.replace(args, num_steps=512, num_minibatches=8, update_epochs=4, total_timesteps=5120)
    summary = ppo.train(args)
    scalars = read_scalars(summary["run_dir"])
    betas = [value for _, value in scalars["charts/beta"]]
    kls = [value for _, value in scalars["losses/kl"]]
    assert len(betas) == len(kls) == 10
    for k in range(9):
        assert betas[k + 1] == pytest.approx(by_hand(betas[k], kls[k]))
    assert betas[-1] < betas[0] / 8  # it moved, down
    assert abs(math.log(kls[-1] / 0.02)) < abs(math.log(kls[0] / 0.02))  # and d moved toward d_targ
    assert summary["beta"] == pytest.approx(by_hand(betas[-1], kls[-1]))


def test_fixed_beta_never_changes(tmp_path):
    args = ppo.Args(env_id="Pendulum-v1", adaptive_beta=False, init_beta=3.0, runs_dir=str(tmp_path), seed=1)
    summary = ppo.train(ppo.dataclasses.replace(args, **tiny_kwargs(total_timesteps=2048)))
    scalars = read_scalars(summary["run_dir"])
    assert [value for _, value in scalars["charts/beta"]] == [3.0] * 4
    assert all(value > 0 for _, value in scalars["losses/kl"])  # d is still measured and logged


def test_short_run_logs_and_checkpoint_with_beta_that_evaluates_and_resumes(tmp_path):
    result = run_script("ppo_penalty.py", "--env-id", "Hopper-v4", *TINY, "--runs-dir", tmp_path / "a", "--save-model")
    assert result.returncode == 0, result.stderr
    assert "β " in result.stdout and "| d " in result.stdout  # the status line shows β and d
    run_dir = only_run_dir(tmp_path / "a")
    scalars = read_scalars(run_dir)
    assert scalars.keys() >= TENSORBOARD_KEYS | {"charts/beta", "losses/kl"}
    summary = json.loads((run_dir / "summary.json").read_text())
    checkpoint = torch.load(run_dir / "model.pt", weights_only=True)
    assert checkpoint["script"] == "ppo_penalty" and checkpoint["beta"] == summary["beta"]
    # the normalization statistics go with the model: 1,024 steps (and the first reset's observation)
    assert checkpoint["obs_rms"]["count"] == pytest.approx(1025, abs=1e-3)
    assert checkpoint["return_rms"]["count"] == pytest.approx(1024, abs=1e-3)
    evaluation = run_script("ppo_penalty.py", "--eval-checkpoint", run_dir / "model.pt", "--eval-episodes", "2")
    assert evaluation.returncode == 0, evaluation.stderr
    assert "Hopper-v4: 2 episodes, return" in evaluation.stdout

    # β is part of the training state: a resumed run starts from the saved β, not --init-beta.
    resume_argv = [
        "--resume",
        str(run_dir / "model.pt"),
        "--total-timesteps",
        "2048",
        "--runs-dir",
        str(tmp_path / "b"),
    ]
    resumed = ppo.train(ppo.parse_args(resume_argv))
    assert resumed["start_step"] == 1024
    assert checkpoint["beta"] != 1.0  # adapted away from --init-beta, so the check below tells the two apart
    assert read_scalars(resumed["run_dir"])["charts/beta"][0][1] == pytest.approx(checkpoint["beta"])
    assert_resumed_schedule(resumed["run_dir"], checkpoint, 2048)


def test_a_resumed_run_stopped_before_its_first_update_keeps_its_beta(tmp_path, monkeypatch):
    """SIGTERM while a resumed run sets up: its checkpoint and summary keep the β it resumed with (before: no β,
    so the next --resume fell back to --init-beta)."""
    first = ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path / "a"), **tiny_kwargs(save_model=True)))
    beta = torch.load(first["checkpoint"], weights_only=True)["beta"]
    assert beta != 1.0  # adapted away from --init-beta
    actors = ppo.Actors

    def stopped(*args, **kwargs):  # the signal comes as the run sets up, before its first iteration
        os.kill(os.getpid(), signal.SIGTERM)
        return actors(*args, **kwargs)

    monkeypatch.setattr(ppo, "Actors", stopped)
    flags = ["--resume", first["checkpoint"], "--total-timesteps", "2048", "--save-model"]
    with signal_handlers() as caught:
        second = ppo.train(ppo.parse_args([*flags, "--runs-dir", str(tmp_path / "b")]))
    assert (second["interrupted"], second["global_step"], caught) == ("SIGTERM", 1024, ["SIGTERM"])
    assert torch.load(second["checkpoint"], weights_only=True)["beta"] == second["beta"] == beta


def test_a_fixed_beta_resumed_with_a_new_init_beta_uses_it(tmp_path):
    """A fixed β is a setting, not training state: --init-beta given on resume is the β the run uses."""
    fixed = tiny_kwargs(adaptive_beta=False, init_beta=0.5, save_model=True)
    first = ppo.train(ppo.Args(env_id="Pendulum-v1", runs_dir=str(tmp_path / "a"), **fixed))
    flags = ["--resume", first["checkpoint"], "--init-beta", "2", "--total-timesteps", "2048"]
    second = ppo.train(ppo.parse_args([*flags, "--runs-dir", str(tmp_path / "b")]))
    assert [beta for _, beta in read_scalars(second["run_dir"])["charts/beta"]] == [2.0, 2.0]


def test_file_copied_alone_into_an_empty_folder_runs(tmp_path):
    shutil.copy(ROOT / "ppo_penalty.py", tmp_path)
    result = run_script(tmp_path / "ppo_penalty.py", "--env-id", "Pendulum-v1", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs").is_dir()


# ---------------------------------------------------------------------------------------------
# Bad input: one line, non-zero exit, no traceback
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--kl-target", "0"], "--kl-target must be positive"),
        (["--init-beta", "-1"], "--init-beta must be non-negative"),
        (["--init-beta", "0"], "add --no-adaptive-beta"),
        (["--num-minibatches", "7"], "not divisible by --num-minibatches"),
        (["--num-minibatches", "2048"], "minibatches of 1 sample"),
        (["--env-id", "CartPole-v1"], "use ppo_discrete.py"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, tmp_path, argv, fragment):
    with pytest.raises(SystemExit) as exit_info:
        ppo.main([*argv, "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())
