"""The health checks agree with Gymnasium's own termination on real env states."""

import gymnasium as gym
import numpy as np
import pytest
from dawm_pipeline.termination import is_healthy, terminal_flags


@pytest.mark.parametrize(
    ("robot", "env_id"), [("hopper", "Hopper-v5"), ("walker2d", "Walker2d-v5")]
)
def test_matches_gymnasium_terminations(robot, env_id):
    env = gym.make(env_id)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    terminated_seen = 0
    for _ in range(600):
        nxt, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, env.action_space.shape))
        assert bool(terminal_flags(robot, nxt[None])[0]) == terminated
        terminated_seen += terminated
        if terminated or truncated:
            env.reset()
    env.close()
    assert terminated_seen > 3  # the check was exercised on both outcomes


def test_rules_by_hand():
    standing = np.array([1.25, 0.0] + [0.0] * 9)
    assert is_healthy("hopper", standing)
    assert not is_healthy("hopper", np.array([0.6, 0.0] + [0.0] * 9))  # fallen
    assert not is_healthy("hopper", np.array([1.25, 0.3] + [0.0] * 9))  # tilted
    walker = np.array([1.2, 0.5] + [0.0] * 15)
    assert is_healthy("walker2d", walker) and not is_healthy("walker2d", 2 * walker)  # z 2.4
    assert is_healthy("halfcheetah", np.full((4, 17), 1e3)).all()
    with pytest.raises(ValueError, match="no termination rule"):
        is_healthy("ant", standing)
