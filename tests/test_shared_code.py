"""The four scripts repeat the code they share on purpose (each runs when copied alone), so the
copies must stay the same text: a fix to one lands in all. Every top-level function or class that
two scripts both define must be identical, except the names listed in VARIANT, which a script may
define in its own way (its hyperparameters, its network, its objective, its loop); even those are the
same text in the scripts that VARIANT groups together."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(ROOT.glob("ppo_*.py"))

CONTINUOUS, DISCRETE = "ppo_continuous.py", "ppo_discrete.py"
PENALTY, SHARED = "ppo_penalty.py", "ppo_shared_backbone.py"
GAUSSIAN = (CONTINUOUS, PENALTY)  # ppo_penalty.py is ppo_continuous.py with another objective
CLIP = (CONTINUOUS, DISCRETE)  # PPO-Clip, with a Gaussian or a categorical policy

# What a variant changes, by design: each name with the groups of scripts that share one text of it (a
# script in no group has its own). Everything else a script shares with another is the same text.
VARIANT = {
    "Args": (),  # each script's own defaults and flags
    "SCRIPT": (),
    "train": (),  # each loop logs its own diagnostics (β, the trunk's losses...)
    "Agent": (GAUSSIAN,),  # Gaussian, categorical, shared-trunk networks
    "NumpyPolicy": (GAUSSIAN,),  # the rollout's numpy copy of the Gaussian or categorical policy
    "Actors": (GAUSSIAN,),  # how an action reaches the environment (clipped Box, discrete; normalization or not)
    "evaluate": (GAUSSIAN,),
    "check_env": (GAUSSIAN,),  # which spaces a script accepts, and where it points otherwise
    "make_env": ((CONTINUOUS, DISCRETE, PENALTY),),  # Atari preprocessing vs. plain environments
    "minibatch_loss": (CLIP,),  # the objective: L^CLIP, L^KLPEN, L^{CLIP+VF+S}
    "update": (CLIP,),
    "validate": ((CONTINUOUS, DISCRETE, SHARED),),  # ppo_penalty.py checks its own flags too
}


def same_text_required(name: str, a: str, b: str) -> bool:
    return name not in VARIANT or any(a in group and b in group for group in VARIANT[name])


# Code every script must contain, word for word.
REQUIRED = {
    "UserError",
    "NonFiniteLossError",
    "make_probe_env",
    "check_reset_and_step",
    "looks_like_atari",
    "make_vector_env",
    "layer_init",
    "compute_gae",
    "value_loss",
    "explained_variance",
    "Rollout",
    "DIAGNOSTICS",
    "gradient_step",
    "flatten_batch",
    "setup_torch",
    "check_video",
    "Run",
    "status_line",
    "load_checkpoint",
    "restore_state",
    "parse_args",
    "main",
}


def top_level_sources(path: Path) -> dict[str, str]:
    text = path.read_text()
    tree = ast.parse(text)
    sources = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            sources[node.name] = ast.get_source_segment(text, node)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            sources[node.targets[0].id] = ast.get_source_segment(text, node)
    return sources


SOURCES = {path.name: top_level_sources(path) for path in SCRIPTS}


def test_the_four_scripts_are_the_ones_compared():
    """VARIANT names the scripts by file: a renamed or added script would silently compare less."""
    assert set(SOURCES) == {CONTINUOUS, DISCRETE, PENALTY, SHARED}


@pytest.mark.parametrize("script", sorted(SOURCES))
def test_required_shared_code_present(script):
    missing = REQUIRED - SOURCES[script].keys()
    assert not missing, f"{script} lacks {sorted(missing)}"


def shared_names():
    names = set()
    scripts = sorted(SOURCES)
    for i, a in enumerate(scripts):
        for b in scripts[i + 1 :]:
            for name in SOURCES[a].keys() & SOURCES[b].keys():
                if same_text_required(name, a, b):
                    names.add((name, a, b))
    return sorted(names)


@pytest.mark.parametrize(("name", "a", "b"), shared_names())
def test_shared_definitions_identical(name, a, b):
    assert SOURCES[a][name] == SOURCES[b][name], f"{name} differs between {a} and {b}; change it in every script"
