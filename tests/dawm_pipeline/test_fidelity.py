"""Step-0 fidelity metrics, checked on models whose answers are known (the check of the check)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from dawm_pipeline.fidelity import step_zero_fidelity
from dawm_pipeline.simcheck import SimScale, clipped_rows, simulate, simulator_dynamics
from dawm_pipeline.stages.train_agent import with_dynamics
from dawm_pipeline.tasks import resolve
from sim_rows import rewarded_transitions, transitions


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


@pytest.mark.parametrize("name", ["hopper", "halfcheetah"])
def test_simulator_dynamics_puts_back_each_state_and_actions_real_outcome(name):
    """`--agent.synthetic-dynamics simulator` on real rows whose outcome was replaced by junk:
    the simulator's step gives back the recorded next states and rewards and the health
    check's flags; a row the simulator cannot start from keeps what it had."""
    task = resolve(f"{name}-medium-replay")
    obs, actions, nxt, rewards = rewarded_transitions(name, n=100)
    generated = {
        "observations": obs.copy(),
        "actions": actions,
        "next_observations": np.zeros_like(nxt),
        "rewards": np.full(len(obs), 99.0, np.float32),
        "terminals": np.ones(len(obs), bool),
        "step": np.arange(len(obs)),
    }
    spec = task.robot.simulator
    if spec.velocity_clip is not None:  # hopper: its observed velocities are clipped
        generated["observations"][0, spec.velocity_dims[0]] = spec.velocity_clip
    out, clipped = simulator_dynamics(task, generated)
    assert clipped.tolist() == clipped_rows(task, generated["observations"]).tolist()
    assert clipped.sum() == (spec.velocity_clip is not None) + clipped[1:].sum()
    ok = ~clipped
    np.testing.assert_allclose(out["next_observations"][ok], nxt[ok], atol=1e-4)
    np.testing.assert_allclose(out["rewards"][ok], rewards[ok], atol=1e-4)
    assert out["terminals"][ok].tolist() == task.robot.terminal_flags(nxt[ok]).tolist()
    assert (out["rewards"][clipped] == 99.0).all() and out["terminals"][clipped].all()
    # the model's arrays are not modified
    assert (generated["rewards"] == 99.0).all() and generated["terminals"].all()
    assert not generated["next_observations"].any()
    assert out["step"] is generated["step"]
    # "simulator-replayable": the same replayed rows, the clipped ones left out
    agent = SimpleNamespace(synthetic_dynamics="simulator-replayable")
    only = with_dynamics(SimpleNamespace(task=task, agent=agent), generated)
    assert set(only) == set(out)
    for key, values in out.items():
        np.testing.assert_array_equal(only[key], values[ok])
    if spec.velocity_clip is not None:  # nothing replayable: refused, not an empty buffer
        every = {k: v[:1] for k, v in generated.items()}
        with pytest.raises(ValueError, match="none is left; use simulator"):
            with_dynamics(SimpleNamespace(task=task, agent=agent), every)
