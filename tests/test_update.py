"""update() of each script, the part of Algorithm 1 the hand-computed losses do not reach: K epochs, each over
a fresh shuffle of the batch into minibatches, --target-kl's early stop (not in the paper; off by default), and
the diagnostics it logs."""

import math

import pytest
import torch
from util import load_script

SCRIPTS = ["ppo_continuous", "ppo_discrete", "ppo_penalty", "ppo_shared_backbone"]


def update_recording(name: str, monkeypatch, **flags) -> dict:
    """One update of a fresh agent on a random batch of 64 (3 epochs × 2 minibatches unless flags say
    otherwise): the batch, the permutations update() drew, the minibatches and diagnostics minibatch_loss saw
    and gave, how many gradient steps it took, and what update() returned."""
    ppo = load_script(name)
    torch.manual_seed(0)
    n, gaussian = 64, name in ("ppo_continuous", "ppo_penalty")
    agent = ppo.Agent((3,) if name == "ppo_shared_backbone" else 3, 2)
    actions = torch.randn(n, 2) if gaussian else torch.randint(0, 2, (n,))
    batch = {"obs": torch.randn(n, 3), "actions": actions, "advantages": torch.randn(n)}
    batch |= {"returns": torch.randn(n), "values": torch.randn(n)}
    with torch.no_grad():  # θ_old = θ: the log-probs the rollout would have stored
        batch["logprobs"] = agent.get_logprob_entropy_value(batch["obs"], actions)[0]
    seen = {"batch": batch, "permutations": [], "minibatches": [], "diagnostics": [], "steps": 0}
    randperm, gradient_step, minibatch_loss = torch.randperm, ppo.gradient_step, ppo.minibatch_loss

    def recording_randperm(*a, **k):
        seen["permutations"].append(randperm(*a, **k))
        return seen["permutations"][-1]

    def recording_loss(agent, mb, *rest):
        loss, diagnostics = minibatch_loss(agent, mb, *rest)
        seen["minibatches"].append(mb)
        seen["diagnostics"].append(diagnostics.double())
        return loss, diagnostics

    def counting_step(*a):
        seen["steps"] += 1
        gradient_step(*a)

    monkeypatch.setattr(torch, "randperm", recording_randperm)
    monkeypatch.setattr(ppo, "gradient_step", counting_step)
    monkeypatch.setattr(ppo, "minibatch_loss", recording_loss)
    args = ppo.Args(**({"update_epochs": 3, "num_minibatches": 2} | flags))
    extra = {"ppo_penalty": {"beta": 1.0}, "ppo_shared_backbone": {"clip_coef": 0.1}}.get(name, {})
    seen["returned"] = ppo.update(agent, torch.optim.Adam(agent.parameters(), lr=1e-3), batch, args, **extra)
    seen["DIAGNOSTICS"] = ppo.DIAGNOSTICS
    return seen


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_epoch_shuffles_the_batch_afresh(name, monkeypatch):
    seen = update_recording(name, monkeypatch)
    permutations, minibatches = seen["permutations"], seen["minibatches"]
    assert len(permutations) == 3 and len(minibatches) == seen["steps"] == 6  # K = 3 epochs of 2 minibatches of 32
    assert all(sorted(p.tolist()) == list(range(64)) for p in permutations)  # each sample once per epoch
    assert not torch.equal(permutations[0], permutations[1]) and not torch.equal(permutations[1], permutations[2])
    # The minibatches are the samples the epoch's permutation picks, in its order, every field alike.
    for i, mb in enumerate(minibatches):
        picked = permutations[i // 2][32 * (i % 2) : 32 * (i % 2 + 1)]
        for key, value in seen["batch"].items():
            torch.testing.assert_close(mb[key], value[picked], rtol=0, atol=0)


@pytest.mark.parametrize("target_kl", [None, 1e-12], ids=["all-epochs", "stopped-after-one"])
@pytest.mark.parametrize("name", SCRIPTS)
def test_the_logged_diagnostics_are_the_means_over_the_minibatches_run(name, target_kl, monkeypatch):
    """What update() returns for TensorBoard (and compare_losses.py reads): each diagnostic's mean over the
    minibatches actually run: 6, or 2 when --target-kl stops after the first epoch."""
    seen = update_recording(name, monkeypatch, target_kl=target_kl)
    assert len(seen["diagnostics"]) == (6 if target_kl is None else 2)
    means = torch.stack(seen["diagnostics"]).mean(0)
    returned = torch.tensor([seen["returned"][key] for key in seen["DIAGNOSTICS"]], dtype=torch.float64)
    torch.testing.assert_close(returned, means)
    assert means[seen["DIAGNOSTICS"].index("value_loss")] > 0  # a real mean, not all zeros


@pytest.mark.parametrize("name", SCRIPTS)
def test_explained_variance_by_hand(name):
    ppo = load_script(name)
    # target - predicted = 0, 1, 0, 1: sample variance 1/3; target 1, 3, 3, 5: (4 + 0 + 0 + 4) / 3 = 8/3.
    # 1 - (1/3) / (8/3) = 0.875
    explained = ppo.explained_variance(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 3.0, 3.0, 5.0]))
    assert explained == pytest.approx(0.875)
    # A constant target: NaN (nothing to explain), not a division by zero.
    assert math.isnan(ppo.explained_variance(torch.zeros(4), torch.full((4,), 2.0)))


@pytest.mark.parametrize("name", SCRIPTS)
def test_target_kl_stops_the_epochs_once_an_epochs_kl_exceeds_it(name, monkeypatch):
    """The first epoch's mean approx KL is above 0 (its second minibatch follows a step) and far below 1e9."""
    seen = update_recording(name, monkeypatch, target_kl=1e-12)
    assert len(seen["permutations"]) == 1 and seen["steps"] == 2
    monkeypatch.undo()
    seen = update_recording(name, monkeypatch, target_kl=1e9)
    assert len(seen["permutations"]) == 3 and seen["steps"] == 6
