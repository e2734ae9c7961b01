"""The benchmark suites as small declarative tables, and the paper's figures the report sets beside ours.

A suite is a list of settings (a script and its flags, named by a short slug that becomes the run's --exp-name),
environment ids, seeds and a step budget: `run.py` expands it into runs (setting × env id × seed), `report.py`
reads them back. The figures are the paper's (Schulman et al. 2017, arXiv:1707.06347: Figure 3 read off the
plot, Table 1, Table 6) and OpenAI baselines' published ppo2 MuJoCo benchmark at 1M steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Setting:
    """One column of a suite: a script with its flags. `slug` is the run's --exp-name."""

    slug: str
    script: str
    flags: tuple[str, ...] = ()
    label: str = ""
    """how the paper names this setting (the report's row label)"""
    paper_score: float | None = None
    """the paper's Table 1 normalized score for this setting, where it has one"""


@dataclass(frozen=True)
class Suite:
    """A benchmark: settings × env ids × seeds at one step budget, plus Slurm defaults per run."""

    name: str
    description: str  # its first sentence heads the report; the rest is a paragraph under it
    settings: tuple[Setting, ...]
    env_ids: tuple[str, ...]
    total_timesteps: int
    seeds: tuple[int, ...] = (1, 2, 3)
    slurm_time: str = "02:00:00"
    """default wall-time limit of one array task (one run on one core), with a safety margin"""
    slurm_mem: str = "2G"
    beside: str = ""
    """a peer's or an ablation's suite: the suite of ours its report sets it beside (see tables.peer_table)"""
    who: str = "ours"
    """whose runs these are, as the report's column headings name them"""

    def setting(self, slug: str) -> Setting | None:
        return next((s for s in self.settings if s.slug == slug), None)


MUJOCO = "HalfCheetah Hopper InvertedDoublePendulum InvertedPendulum Reacher Swimmer Walker2d"  # Figure 3's
MUJOCO_ENVS = tuple(f"{name}-v4" for name in MUJOCO.split())

# The 49 games of the paper's Table 6, as gymnasium/ale-py ids.
ATARI_GAMES = """
    Alien Amidar Assault Asterix Asteroids Atlantis BankHeist BattleZone BeamRider Bowling Boxing Breakout
    Centipede ChopperCommand CrazyClimber DemonAttack DoubleDunk Enduro FishingDerby Freeway Frostbite
    Gopher Gravitar IceHockey Jamesbond Kangaroo Krull KungFuMaster MontezumaRevenge MsPacman NameThisGame
    Pitfall Pong PrivateEye Qbert Riverraid RoadRunner Robotank Seaquest SpaceInvaders StarGunner Tennis
    TimePilot Tutankham UpNDown Venture VideoPinball WizardOfWor Zaxxon
""".split()  # noqa: SIM905 (49 names read best as text, not one per line)
ATARI_ENVS = tuple(f"{game}NoFrameskip-v4" for game in ATARI_GAMES)

# Table 1, in the paper's row order, with the paper's normalized scores. L^CPI, the unclipped, unpenalized
# surrogate of Eq. (6), is the penalty script with a fixed β of 0.
FIXED_BETA = ("--no-adaptive-beta", "--init-beta")  # ppo_penalty.py with β fixed at the value that follows
TABLE1_SETTINGS = (
    Setting("cpi", "ppo_penalty.py", (*FIXED_BETA, "0"), "no clipping or penalty (L^CPI)", -0.39),
    Setting("clip0.1", "ppo_continuous.py", ("--clip-coef", "0.1"), "clipping, ε = 0.1", 0.76),
    Setting("clip0.2", "ppo_continuous.py", ("--clip-coef", "0.2"), "clipping, ε = 0.2", 0.82),
    Setting("clip0.3", "ppo_continuous.py", ("--clip-coef", "0.3"), "clipping, ε = 0.3", 0.70),
    Setting("klpen_adaptive_0.003", "ppo_penalty.py", ("--kl-target", "0.003"), "adaptive KL, d_targ = 0.003", 0.68),
    Setting("klpen_adaptive_0.01", "ppo_penalty.py", ("--kl-target", "0.01"), "adaptive KL, d_targ = 0.01", 0.74),
    Setting("klpen_adaptive_0.03", "ppo_penalty.py", ("--kl-target", "0.03"), "adaptive KL, d_targ = 0.03", 0.71),
    Setting("klpen_fixed_0.3", "ppo_penalty.py", (*FIXED_BETA, "0.3"), "fixed KL, β = 0.3", 0.62),
    Setting("klpen_fixed_1", "ppo_penalty.py", (*FIXED_BETA, "1"), "fixed KL, β = 1", 0.71),
    Setting("klpen_fixed_3", "ppo_penalty.py", (*FIXED_BETA, "3"), "fixed KL, β = 3", 0.72),
    Setting("klpen_fixed_10", "ppo_penalty.py", (*FIXED_BETA, "10"), "fixed KL, β = 10", 0.69),
)

# ppo_discrete.py's defaults (Huang et al. 2022's classic-control settings) where ppo_shared_backbone.py's differ.
CLASSIC_FLAGS = ("--num-envs", "4", "--num-steps", "128", "--update-epochs", "4", "--clip-coef", "0.2")
CLASSIC_FLAGS += ("--no-anneal-clip", "--vf-coef", "0.25")

# A checkpoint every 100k steps (about 6 minutes of an Atari run on one core): a run cut short loses little.
ATARI_SETTING = Setting(
    "ppo_shared_backbone", "ppo_shared_backbone.py", ("--save-interval", "100000"), label="PPO, Table 5 settings"
)

# A peer, not ours: Stable-Baselines3's PPO with ppo_continuous.py's settings (issue 15; see benchmark/sb3_ppo.py).
SB3_PPO = Setting("sb3_ppo", "benchmark/sb3_ppo.py", label="Stable-Baselines3 PPO (peer), ppo_continuous.py's settings")
# An ablation, not the paper's setting: ppo_continuous.py with the value loss unclipped (issue 15). Value clipping
# is the one difference left between its update and SB3's (baselines' max form against SB3's clipped term alone);
# unclipped, the two updates are the same mathematics.
NO_CLIP_VLOSS = Setting("no_clip_vloss", "ppo_continuous.py", ("--no-clip-vloss",), "PPO-Clip, value loss unclipped")
SB3_NO_CLIP_VLOSS = Setting(
    "sb3_ppo_no_clip_vloss", "benchmark/sb3_ppo.py", ("--no-clip-vloss",), "Stable-Baselines3 PPO (peer), unclipped"
)
# An ablation, not the paper's setting: baselines ppo2's shipped Atari settings, which CleanRL's ppo_atari.py copies,
# where they differ from Table 5: K = 4 epochs, the squared value error weighted 0.25 (vf_coef 0.5 on half of it),
# ε constant at 0.1. Does that explain Breakout's gap between ours (and the paper's) and CleanRL's figure?
PPO2_ATARI = Setting(
    "ppo2_settings",
    "ppo_shared_backbone.py",
    (*ATARI_SETTING.flags, "--update-epochs", "4", "--vf-coef", "0.25", "--no-anneal-clip"),
    "PPO, ppo2's Atari settings (K = 4, c1 = 0.25, ε constant)",
)

SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            "mujoco",
            "Figure 3 (PPO-Clip, ε = 0.2): ppo_continuous.py on the 7 MuJoCo environments, 1M steps, 3 or more seeds",
            (Setting("ppo_continuous", "ppo_continuous.py", label="PPO-Clip, ε = 0.2"),),
            MUJOCO_ENVS,
            1_000_000,
        ),
        Suite(
            "mujoco_sb3",
            "A peer, not ours: Stable-Baselines3's PPO with ppo_continuous.py's settings. benchmark/sb3_ppo.py at 1M "
            "steps, beside the mujoco suite, on the environments and seeds listed below (issue 15)",
            (SB3_PPO,),
            MUJOCO_ENVS,
            1_000_000,
            beside="mujoco",
            who="SB3",
        ),
        Suite(
            "mujoco_no_clip_vloss",
            "An ablation, not the paper's setting: ppo_continuous.py --no-clip-vloss. The value loss unclipped, at 1M "
            "steps, beside the mujoco suite, on the environments and seeds listed below (issue 15)",
            (NO_CLIP_VLOSS,),
            MUJOCO_ENVS,
            1_000_000,
            beside="mujoco",
            who="value loss unclipped",
        ),
        Suite(
            "mujoco_sb3_no_clip_vloss",
            "A peer, not ours: Stable-Baselines3's PPO with the value loss unclipped. benchmark/sb3_ppo.py "
            "--no-clip-vloss, beside the mujoco_no_clip_vloss suite: the same update's mathematics in both (issue 15)",
            (SB3_NO_CLIP_VLOSS,),
            MUJOCO_ENVS,
            1_000_000,
            beside="mujoco_no_clip_vloss",
            who="SB3",
        ),
        Suite(
            "table1",
            "Table 1: the 11 surrogate-objective settings on the 7 MuJoCo environments, 1M steps, 3 seeds",
            TABLE1_SETTINGS,
            MUJOCO_ENVS,
            1_000_000,
        ),
        Suite(
            "atari",
            "Table 6: ppo_shared_backbone.py on the paper's 49 Atari games, 10M steps (40M frames), 3 seeds",
            (ATARI_SETTING,),
            ATARI_ENVS,
            10_000_000,
            slurm_time="24:00:00",
            slurm_mem="6G",
        ),
        Suite(
            "atari3",
            "Three Atari games of Table 6 (Pong, Breakout, BeamRider), 10M steps × 3 seeds as the paper. The 2M runs "
            "(reduced) weighed the value error 0.5, not Table 5's c1 = 1 (before commit a899491); those ending in "
            "-gymobs were also run before the observations matched baselines (gymnasium's AtariPreprocessing, "
            "commits b2b30a8 and 9ddee8f)",
            (ATARI_SETTING,),
            ("PongNoFrameskip-v4", "BreakoutNoFrameskip-v4", "BeamRiderNoFrameskip-v4"),
            10_000_000,
            slurm_time="24:00:00",
            slurm_mem="6G",
        ),
        Suite(
            "atari3_ppo2",
            "An ablation, not the paper's setting: ppo_shared_backbone.py with baselines ppo2's Atari settings "
            "(--update-epochs 4 --vf-coef 0.25 --no-anneal-clip, as CleanRL's ppo_atari.py), beside the atari3 suite: "
            "Breakout, 10M steps, one seed",
            (PPO2_ATARI,),
            ("BreakoutNoFrameskip-v4",),
            10_000_000,
            seeds=(1,),
            slurm_time="24:00:00",
            slurm_mem="6G",
            beside="atari3",
            who="ppo2's settings",
        ),
        Suite(
            "classic",
            "Classic control (no paper figure): ppo_discrete.py and ppo_shared_backbone.py, 500k steps, 3 seeds",
            (
                Setting("ppo_discrete", "ppo_discrete.py", label="PPO-Clip, separate networks"),
                # The same hyperparameters as ppo_discrete.py's defaults (its Atari defaults are Table 5's), so the
                # two columns differ only in the network: separate actor and critic, or one shared trunk.
                Setting(
                    "ppo_shared_backbone",
                    "ppo_shared_backbone.py",
                    CLASSIC_FLAGS,
                    label="PPO-Clip, shared trunk (ppo_discrete.py's settings)",
                ),
            ),
            ("CartPole-v1", "Acrobot-v1", "MountainCar-v0"),
            500_000,
            slurm_time="01:00:00",
        ),
    )
}
SuiteName = Literal[tuple(SUITES)]
"""The keys of SUITES, as run.py's and report.py's --suite take them (tyro reads the Literal at run time)."""

# Figure 3, PPO (clip, ε = 0.2) at 1M steps: plot readings (±10–15%); and OpenAI baselines' ppo2 at 1M.
FIGURE3 = {
    "HalfCheetah-v4": ("~1800", 1668.6),
    "Hopper-v4": ("~2300", 2316.2),
    "InvertedDoublePendulum-v4": ("~8000", 7102.9),
    "InvertedPendulum-v4": ("~1000", 809.4),
    "Reacher-v4": ("~−7", -6.7),
    "Swimmer-v4": ("~108", 111.2),
    "Walker2d-v4": ("~3000–3460", 3425.0),
}

# Some of Table 6's rows (mean of the last 100 episodes at 40M frames): (A2C, ACER, PPO).
TABLE6 = {
    "PongNoFrameskip-v4": (19.7, 20.7, 20.7),
    "BreakoutNoFrameskip-v4": (303.0, 456.4, 274.8),
    "BeamRiderNoFrameskip-v4": (3031.7, 3863.3, 1590.0),
    "EnduroNoFrameskip-v4": (0.0, 0.0, 758.3),
    "QbertNoFrameskip-v4": (10065.7, 15316.6, 14293.3),
    "SeaquestNoFrameskip-v4": (1714.3, 1739.5, 1204.5),
    "SpaceInvadersNoFrameskip-v4": (744.5, 1213.9, 942.5),
}

# PPO at 10M steps by CleanRL's `ppo_atari.py` and by baselines' ppo2 itself, as CleanRL's documentation gives
# them (its PPO page: `ppo_atari.py` and "openai/baselines' PPO (Huang et al., 2022)", 3 seeds each): mean ± std.
# Not our runs: what ours are compared with beside the paper's.
ATARI_PEERS = {
    "BreakoutNoFrameskip-v4": ("414.66 ± 28.09", "406.57 ± 31.55"),
    "PongNoFrameskip-v4": ("20.36 ± 0.20", "20.51 ± 0.50"),
    "BeamRiderNoFrameskip-v4": ("1915.93 ± 484.58", "2642.97 ± 670.37"),
}


def base_of(suite: str) -> str:
    """The suite of ours a peer's or an ablation's suite is set beside (a suite of ours: itself)."""
    while suite in SUITES and SUITES[suite].beside:
        suite = SUITES[suite].beside
    return suite


ATARI_SUITES = ("atari", "atari3")  # ours on Atari; a suite beside one is reported as Atari too


def is_atari(suite: Suite) -> bool:
    """An Atari suite, or one beside it: its report gives Table 6's two metrics and the seeds' range."""
    return base_of(suite.name) in ATARI_SUITES


def paper_columns(suite: str, env_id: str) -> dict[str, str]:
    """The paper's (and baselines') figures for one environment of a suite, as printed table cells."""
    suite = base_of(suite)  # a peer's or an ablation's figures are those of its base
    if suite in ("mujoco", "table1"):
        reading, ppo2 = FIGURE3.get(env_id, ("—", None))
        ppo2 = "—" if ppo2 is None else f"{ppo2:g}"
        return {"paper Fig. 3 (PPO, plot reading)": reading, "baselines ppo2 at 1M": ppo2}
    if suite in ATARI_SUITES:
        a2c, acer, ppo = (f"{x:g}" for x in TABLE6[env_id]) if env_id in TABLE6 else ("—",) * 3
        cleanrl, baselines = ATARI_PEERS.get(env_id, ("—", "—"))
        names = ("paper PPO", "paper A2C", "paper ACER", "CleanRL ppo_atari", "baselines ppo2 (CleanRL's docs)")
        return dict(zip(names, (ppo, a2c, acer, cleanrl, baselines), strict=True))
    return {}


def budget_label(total_timesteps: int) -> str:
    """A short, exact name for a step budget: 300000 -> '300k', 1000000 -> '1M', 2048 -> '2048'."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if total_timesteps % size == 0:
            return f"{total_timesteps // size}{unit}"
    return str(total_timesteps)


def exp_name(setting: Setting, total_timesteps: int, suite: Suite) -> str:
    """The run's --exp-name: the setting's slug, plus the budget when it differs from the suite's, so a
    reduced run is never taken for a full one (e.g. 'clip0.1-300k')."""
    if total_timesteps == suite.total_timesteps:
        return setting.slug
    return f"{setting.slug}-{budget_label(total_timesteps)}"


def split_exp_name(name: str, suite: Suite) -> Setting | None:
    """The suite's setting an exp name belongs to (its slug, with or without a budget suffix)."""
    return next((s for s in suite.settings if name == s.slug or name.startswith(f"{s.slug}-")), None)
