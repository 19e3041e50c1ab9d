"""Dataset names, Gymnasium env ids and D4RL's reference scores.

Names follow D4RL: `{hopper,walker2d,halfcheetah}-{medium,medium-replay,medium-expert}`,
with an optional `-v2` suffix (D4RL's MuJoCo version). Each maps to a Minari id
`<namespace>/<env>/<level>-v0`: `mujoco/...` for Farama's copy of D4RL, `dawm/...` for
the datasets made by this project's own recipe (`python -m dawm_pipeline.datasets`).

`<env>-medium-stochastic` and `<env>-medium-expert-stochastic` are this project's own data
collected in the stochastic version of the task (data/stochastic.py), which is also where
agents trained on them are evaluated; they exist only as bundled (regenerated) data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENVS = ("hopper", "walker2d", "halfcheetah")
LEVELS = ("medium", "medium-replay", "medium-expert")
STOCHASTIC_SUFFIX = "-stochastic"

# Gymnasium environments used for evaluation and for this project's own data
# (observation and action spaces match D4RL's v2 tasks).
GYM_ENV_IDS = {"hopper": "Hopper-v5", "walker2d": "Walker2d-v5", "halfcheetah": "HalfCheetah-v5"}

# (observation dim, action dim) of each task: D4RL v2 and Gymnasium v5 agree.
DIMS = {"hopper": (11, 3), "walker2d": (17, 6), "halfcheetah": (17, 6)}

# D4RL's reference returns for the normalized score (random policy, expert policy):
# d4rl/gym_mujoco/__init__.py, REF_MIN_SCORE / REF_MAX_SCORE (Fu et al. 2020, arXiv 2004.07219).
REF_SCORES = {
    "hopper": (-20.272305, 3234.3),
    "halfcheetah": (-280.178953, 12135.0),
    "walker2d": (1.629008, 4592.3),
}

MINARI_NAMESPACE = "mujoco"  # Farama's Minari port of the D4RL MuJoCo datasets
BUNDLED_NAMESPACE = "dawm"  # this project's recipe


@dataclass(frozen=True)
class DatasetName:
    """A parsed dataset name."""

    env: str
    level: str
    stochastic: bool = False
    """Collected in (and evaluated on) the stochastic version of the task."""

    def __post_init__(self) -> None:
        if self.stochastic and self.level == "medium-replay":
            raise ValueError(
                f"{self.env}-medium-replay{STOCHASTIC_SUFFIX}: a replay buffer is the SAC "
                "training run's own history and cannot be re-collected in the stochastic env; "
                f"use {self.env}-medium{STOCHASTIC_SUFFIX} or "
                f"{self.env}-medium-expert{STOCHASTIC_SUFFIX}"
            )

    @property
    def _suffix(self) -> str:
        return STOCHASTIC_SUFFIX if self.stochastic else ""

    @property
    def name(self) -> str:
        return f"{self.env}-{self.level}{self._suffix}"

    @property
    def gym_env_id(self) -> str:
        """Where the data was collected and where agents trained on it are evaluated."""
        if not self.stochastic:
            return GYM_ENV_IDS[self.env]
        from dawm_pipeline.data.stochastic import stochastic_env_id

        return stochastic_env_id(GYM_ENV_IDS[self.env])

    def minari_id(self, namespace: str) -> str:
        return f"{namespace}/{self.env}/{self.level}{self._suffix}-v0"

    def __str__(self) -> str:
        return self.name


def parse_name(name: str) -> DatasetName:
    """Parse `hopper-medium-replay` (or `hopper-medium-replay-v2`, `hopper-medium-stochastic`);
    one-line error otherwise."""
    base = name.strip().lower().removesuffix("-v2")
    stochastic = base.endswith(STOCHASTIC_SUFFIX)
    env, _, level = base.removesuffix(STOCHASTIC_SUFFIX).partition("-")
    if env not in ENVS or level not in LEVELS:
        known = ", ".join(f"{e}-{lv}" for e in ENVS for lv in LEVELS)
        raise ValueError(
            f"unknown dataset name {name!r}: use one of {known} (a -v2 suffix is accepted; "
            f"medium and medium-expert also as e.g. hopper-medium{STOCHASTIC_SUFFIX})"
        )
    return DatasetName(env, level, stochastic)


def parse_env(env: str) -> str:
    """Validate a bare environment name (`hopper`, `walker2d`, `halfcheetah`)."""
    e = env.strip().lower()
    if e not in ENVS:
        raise ValueError(f"unknown environment {env!r}: use one of {', '.join(ENVS)}")
    return e


def normalized_score(env: str, returns: float | np.ndarray) -> float | np.ndarray:
    """D4RL's normalized score 100·(R − R_random)/(R_expert − R_random).

    `env` may be a bare env (`hopper`) or a dataset name (`hopper-medium-v2`).
    """
    key = env.strip().lower().partition("-")[0]
    if key not in REF_SCORES:
        raise ValueError(f"no reference scores for {env!r}: use one of {', '.join(ENVS)}")
    lo, hi = REF_SCORES[key]
    out = 100.0 * (np.asarray(returns, dtype=np.float64) - lo) / (hi - lo)
    return float(out) if out.ndim == 0 else out
