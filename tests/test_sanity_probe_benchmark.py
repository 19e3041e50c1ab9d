"""benchmarks/sanity_probe.py: each variant gets its own task's settings (IQL's per-task CORL
settings came from the preset's default task before), and only its own changes."""

import sys
from pathlib import Path

import numpy as np
import pytest
from dawm_pipeline.tasks import resolve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sanity_probe as sp


class _Returns:
    """What agent_config reads of a dataset: its episode returns (IQL's reward scale)."""

    def episode_returns(self) -> np.ndarray:
        return np.array([100.0, 2100.0])


@pytest.mark.parametrize("env", ["hopper-medium", "walker2d-medium", "halfcheetah-medium"])
def test_iql_variants_take_their_own_tasks_corl_settings(env):
    want = resolve(env).iql
    for variant in ("iql", "iql_beta0"):
        cfg = sp.variant_config(env, variant, 100, 30_000, _Returns())
        assert (cfg.expectile, cfg.tau, cfg.deterministic_actor) == (
            want.expectile, want.tau, want.deterministic_actor
        )  # fmt: skip
        assert cfg.reward_scale == (1000 / 2000 if want.scale_rewards else 1.0)
        assert cfg.cosine_lr_steps == 30_000 and cfg.seed == 100
    assert sp.variant_config(env, "iql_beta0", 100, 1, _Returns()).beta == 0.0
    assert sp.variant_config(env, "iql", 100, 1, _Returns()).beta == want.beta


def test_the_tasks_differ_where_the_old_probe_went_wrong():
    hopper, walker = resolve("hopper-medium").iql, resolve("walker2d-medium").iql
    assert (hopper.tau, hopper.deterministic_actor) != (walker.tau, walker.deterministic_actor)


def test_bc_is_td3bc_without_its_q_term():
    assert sp.variant_config("hopper-medium", "bc", 100, 1, _Returns()).alpha == 0.0
    assert sp.variant_config("hopper-medium", "td3bc", 100, 1, _Returns()).alpha > 0
