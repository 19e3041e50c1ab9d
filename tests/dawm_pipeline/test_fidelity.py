"""Step-0 fidelity metrics, checked on models whose answers are known (the check of the check)."""

from __future__ import annotations

import numpy as np
import pytest
from dawm_pipeline.fidelity import step_zero_fidelity
from dawm_pipeline.simcheck import SimScale, simulate
from dawm_pipeline.tasks import resolve
from sim_rows import transitions


@pytest.mark.parametrize("name", ["hopper", "halfcheetah"])
def test_the_simulator_itself_scores_one_and_an_action_blind_model_zero(name):
    task = resolve(f"{name}-medium-replay")
    obs, actions, nxt = transitions(name, n=200)
    scale = SimScale.of(obs, nxt)

    def physics(states, acts):
        return simulate(task, states, acts)

    def blind(states, acts):  # ignores the action: always steps with zeros
        return simulate(task, states, np.zeros_like(acts))

    exact = step_zero_fidelity(task, physics, obs, actions, scale, float(np.var([1.0, 2.0])))
    assert exact["velocity_r2"] == pytest.approx(1.0, abs=1e-6)
    assert exact["action_sensitivity"] == pytest.approx(1.0, abs=1e-6)
    assert exact["reward_r2"] == pytest.approx(1.0, abs=1e-6)
    assert exact["reward_change_r2"] == pytest.approx(1.0, abs=1e-6)
    assert exact["velocity_r2_random_action"] < 0.5

    ignored = step_zero_fidelity(task, blind, obs, actions, scale, 1.0)
    assert ignored["action_sensitivity"] == 0.0
    assert ignored["velocity_r2"] < exact["velocity_r2"] - 0.3
    assert ignored["reward_change_r2"] <= 0.0  # the reward check that can fail on hopper too
