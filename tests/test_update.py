"""update() of each script, the part of Algorithm 1 the hand-computed losses do not reach: K epochs, each over
a fresh shuffle of the batch into minibatches, and --target-kl's early stop (not in the paper; off by default)."""

import pytest
import torch
from util import load_script

SCRIPTS = ["ppo_continuous", "ppo_discrete", "ppo_penalty", "ppo_shared_backbone"]


def update_counting(name: str, monkeypatch, **flags) -> tuple[list[torch.Tensor], int]:
    """One update of a fresh agent on a random batch of 64 (3 epochs × 2 minibatches unless flags say
    otherwise): the permutations it drew, and how many gradient steps it took."""
    ppo = load_script(name)
    torch.manual_seed(0)
    n, gaussian = 64, name in ("ppo_continuous", "ppo_penalty")
    agent = ppo.Agent((3,) if name == "ppo_shared_backbone" else 3, 2)
    actions = torch.randn(n, 2) if gaussian else torch.randint(0, 2, (n,))
    batch = {"obs": torch.randn(n, 3), "actions": actions, "advantages": torch.randn(n)}
    batch |= {"returns": torch.randn(n), "values": torch.randn(n)}
    with torch.no_grad():  # θ_old = θ: the log-probs the rollout would have stored
        batch["logprobs"] = agent.get_logprob_entropy_value(batch["obs"], actions)[0]
    permutations, steps, randperm, gradient_step = [], [], torch.randperm, ppo.gradient_step
    monkeypatch.setattr(torch, "randperm", lambda *a, **k: permutations.append(randperm(*a, **k)) or permutations[-1])
    monkeypatch.setattr(ppo, "gradient_step", lambda *a: steps.append(1) or gradient_step(*a))
    args = ppo.Args(**({"update_epochs": 3, "num_minibatches": 2} | flags))
    extra = {"ppo_penalty": {"beta": 1.0}, "ppo_shared_backbone": {"clip_coef": 0.1}}.get(name, {})
    ppo.update(agent, torch.optim.Adam(agent.parameters(), lr=1e-3), batch, args, **extra)
    return permutations, len(steps)


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_epoch_shuffles_the_batch_afresh(name, monkeypatch):
    permutations, steps = update_counting(name, monkeypatch)
    assert len(permutations) == 3 and steps == 6  # K = 3 epochs of 2 minibatches of 32
    assert all(sorted(p.tolist()) == list(range(64)) for p in permutations)  # each sample once per epoch
    assert not torch.equal(permutations[0], permutations[1]) and not torch.equal(permutations[1], permutations[2])


@pytest.mark.parametrize("name", SCRIPTS)
def test_target_kl_stops_the_epochs_once_an_epochs_kl_exceeds_it(name, monkeypatch):
    """The first epoch's mean approx KL is above 0 (its second minibatch follows a step) and far below 1e9."""
    permutations, steps = update_counting(name, monkeypatch, target_kl=1e-12)
    assert len(permutations) == 1 and steps == 2
    monkeypatch.undo()
    permutations, steps = update_counting(name, monkeypatch, target_kl=1e9)
    assert len(permutations) == 3 and steps == 6
