"""The four scripts repeat the code they share on purpose (each runs when copied alone), so the
copies must stay the same text: a fix to one lands in all. Every top-level function or class that
two scripts both define must be identical, except the names listed in VARIANT, which each script
defines in its own way (its hyperparameters, its network, its objective, its loop)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(ROOT.glob("ppo_*.py"))

# What a variant changes, by design. Everything else a script shares with another is the same text.
VARIANT = {
    "Args",  # each script's own defaults and flags
    "Agent",  # Gaussian, categorical, shared-trunk networks
    "SCRIPT",
    "check_env",  # which spaces a script accepts, and where it points otherwise
    "make_env",  # Atari preprocessing vs. plain environments
    "Actors",  # how an action reaches the environment (clipped Box, discrete; normalization in front or not)
    "NumpyPolicy",  # the rollout's numpy copy of the Gaussian or categorical policy
    "minibatch_loss",  # the objective: L^CLIP, L^KLPEN, L^{CLIP+VF+S}
    "update",
    "train",
    "evaluate",
    "validate",  # each variant's own flags are checked too
}

# Code every script must contain, word for word.
REQUIRED = {
    "UserError",
    "NonFiniteLossError",
    "make_probe_env",
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


def test_scripts_found():
    assert "ppo_continuous.py" in SOURCES


@pytest.mark.parametrize("script", sorted(SOURCES))
def test_required_shared_code_present(script):
    missing = REQUIRED - SOURCES[script].keys()
    assert not missing, f"{script} lacks {sorted(missing)}"


def shared_names():
    names = set()
    scripts = sorted(SOURCES)
    for i, a in enumerate(scripts):
        for b in scripts[i + 1 :]:
            for name in (SOURCES[a].keys() & SOURCES[b].keys()) - VARIANT:
                names.add((name, a, b))
    return sorted(names)


@pytest.mark.parametrize(("name", "a", "b"), shared_names() or [pytest.param(None, None, None, marks=pytest.mark.skip)])
def test_shared_definitions_identical(name, a, b):
    assert SOURCES[a][name] == SOURCES[b][name], f"{name} differs between {a} and {b}; change it in every script"
