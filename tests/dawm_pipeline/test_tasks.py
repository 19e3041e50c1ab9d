"""The task registry: robot facts in one place, health rules, simulator replay, a toy task.

The check of the check lives here too: real transitions replayed with their recorded actions
must score ~1 on every shipped robot, and random actions far lower, or the simulator check
that judges the world model could not fail.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import h5py
import numpy as np
import pytest
from dawm_pipeline import simcheck
from dawm_pipeline.tasks import (
    BehaviourRecipe,
    Robot,
    SimulatorSpec,
    register,
    resolve,
    robot,
    robots,
    unregister,
)
from sim_rows import transitions


@pytest.mark.parametrize("name", ["hopper", "walker2d"])
def test_health_rules_match_gymnasium_terminations(name):
    bot = robot(name)
    env = gym.make(bot.gym_id)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    terminated_seen = 0
    for _ in range(600):
        nxt, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, env.action_space.shape))
        assert bool(bot.terminal_flags(nxt[None])[0]) == terminated
        terminated_seen += terminated
        if terminated or truncated:
            env.reset()
    env.close()
    assert terminated_seen > 3  # the check was exercised on both outcomes


def test_health_rules_by_hand():
    hopper, walker = robot("hopper"), robot("walker2d")
    standing = np.array([1.25, 0.0] + [0.0] * 9)
    assert not hopper.terminal_flags(standing[None])[0]
    assert hopper.terminal_flags(np.array([[0.6, 0.0] + [0.0] * 9]))[0]  # fallen
    assert hopper.terminal_flags(np.array([[1.25, 0.3] + [0.0] * 9]))[0]  # tilted
    upright = np.array([1.2, 0.5] + [0.0] * 15)
    assert not walker.terminal_flags(upright[None])[0]
    assert walker.terminal_flags(2 * upright[None])[0]  # z 2.4
    for never in ("halfcheetah", "pusher"):
        bot = robot(never)
        assert not bot.terminal_flags(np.full((4, bot.obs_dim), 1e3)).any()


def test_registry_resolves_every_shipped_robot_from_one_place():
    assert {"hopper", "walker2d", "halfcheetah", "pusher"} <= set(robots())
    for name in ("hopper", "walker2d", "halfcheetah", "pusher"):
        bot = robot(name)
        env = gym.make(bot.gym_id)
        assert env.observation_space.shape == (bot.obs_dim,)
        assert env.action_space.shape == (bot.act_dim,)
        np.testing.assert_allclose(env.action_space.high, bot.action_bound)
        env.close()
    task = resolve("walker2d-medium-expert-v2")
    assert task.name == "walker2d-medium-expert" and task.target_rtg == 0.9
    assert task.with_level("medium").name == "walker2d-medium"
    noisy = resolve("hopper-medium-stochastic")
    assert noisy.gym_id == "dawm/StochasticHopper-v5" and noisy.robot is robot("hopper")
    with pytest.raises(ValueError, match="no stochastic variant"):
        resolve("pusher-medium-stochastic")
    with pytest.raises(ValueError, match="unknown robot 'ant'"):
        robot("ant")


@pytest.mark.parametrize("name", ["hopper", "walker2d", "halfcheetah", "pusher"])
def test_check_of_the_check_real_actions_score_one_random_ones_do_not(name):
    task = resolve(f"{name}-medium")
    obs, actions, nxt = transitions(name)
    scale = simcheck.SimScale.of(obs, nxt)
    real = simcheck.consistency(task, obs, actions, nxt, scale)
    floor = simcheck.random_floor(task, obs, nxt, scale)
    assert real["n"] == 300 and real["n_clipped"] < 300
    if name == "pusher":  # the object's velocity is not observed: replayed as 0
        assert real["velocity_r2"] >= 0.95
    else:
        assert real["velocity_r2"] >= 0.99  # clipped rows left out; delta_r2 keeps them
    assert floor["velocity_r2"] < real["velocity_r2"] - 0.3


def test_clipped_velocity_rows_are_left_out_and_counted():
    task = resolve("hopper-medium")
    obs, actions, nxt = transitions("hopper", n=50)
    obs[:5, 6] = 10.0  # observed at Hopper-v5's ±10 clip
    scale = simcheck.SimScale.of(obs, nxt)
    out = simcheck.consistency(task, obs, actions, nxt, scale)
    assert out["n_clipped"] >= 5


# ---------------------------------------------------------------- a toy task, end to end


def _set_pendulum_state(env, obs: np.ndarray) -> None:
    env.set_state(np.asarray(obs[:2], np.float64), np.asarray(obs[2:], np.float64))


def _pendulum_healthy(obs: np.ndarray) -> np.ndarray:
    return np.isfinite(obs).all(axis=-1) & (np.abs(obs[..., 1]) <= 0.2)


def write_pendulum_data(path: Path, transitions_: int = 1200, seed: int = 0) -> Path:
    """A noisy PD controller on InvertedPendulum-v5, episodes cut at 100 steps (D4RL layout)."""
    env = gym.make("InvertedPendulum-v5")
    rng = np.random.default_rng(seed)
    keys = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
    out: dict[str, list] = {k: [] for k in keys}
    obs, _ = env.reset(seed=seed)
    t = 0
    while len(out["rewards"]) < transitions_:
        pd = 2.0 * obs[0] + 10.0 * obs[1] + 0.5 * obs[2] + 2.0 * obs[3]
        action = np.clip([pd + 0.5 * rng.normal()], -3, 3).astype(np.float32)
        nxt, reward, terminated, truncated, _ = env.step(action)
        t += 1
        timeout = (t >= 100 or truncated) and not terminated
        for k, v in zip(keys, (obs, action, reward, nxt, terminated, timeout), strict=True):
            out[k].append(v)
        obs = nxt
        if terminated or timeout:
            obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
            t = 0
    env.close()
    with h5py.File(path, "w") as f:
        for k in keys:
            f[k] = np.asarray(out[k], dtype=bool if k in ("terminals", "timeouts") else np.float32)
    return path


@pytest.fixture
def pendulum():
    bot = register(
        Robot(
            name="invpendulum",
            gym_id="InvertedPendulum-v5",
            obs_dim=4,
            act_dim=1,
            action_bound=3.0,
            score_refs=(0.0, 1000.0),
            score_refs_source="test: episode length",
            rtg_scale=100.0,
            target_rtg={"medium": 0.9, "medium-replay": 0.9, "medium-expert": 0.9},
            rtg_source="test",
            healthy=_pendulum_healthy,
            termination_source="InvertedPendulum-v5: |angle| > 0.2",
            simulator=SimulatorSpec(_set_pendulum_state, velocity_dims=(2, 4)),
            behaviour=BehaviourRecipe(sac_steps=1_000),
        )
    )
    yield bot
    unregister(bot.name)


def test_a_new_task_is_one_registration(pendulum, tmp_path):
    """A robot registered here, in the test, runs the tiny pipeline end to end."""
    from dawm_pipeline.atomic import read_json
    from dawm_pipeline.config import preset
    from dawm_pipeline.pipeline import run

    cfg = preset("tiny")
    cfg.env = "invpendulum-medium-replay"
    cfg.dataset_source = "d4rl"
    cfg.dataset_path = str(write_pendulum_data(tmp_path / "pendulum.hdf5"))
    cfg.out = str(tmp_path / "runs")
    run_dir = run(cfg)
    report = read_json(run_dir / "report" / "report.json")
    assert report["dataset"]["env_id"] == "InvertedPendulum-v5"
    idm_dir = read_json(run_dir / "run.json")["stages"]["train-idm"]
    idm = read_json(Path(idm_dir) / "done.json")["summary"]
    assert idm["sim_velocity_r2_true_action"] > 0.99  # recorded actions replay exactly
    assert idm["sim_velocity_r2_random_action"] < 0.9


def test_iql_follows_corl_per_task_settings():
    """CORL configs/offline/iql/<robot>/<level>_v2.yaml, read through the registry."""
    from dawm_pipeline.config import preset
    from dawm_pipeline.stages.train_agent import iql_settings

    data = SimpleNamespace(episode_returns=lambda: np.array([100.0, 600.0]))
    cfg = preset("tiny")
    expected = {
        "hopper-medium": (0.7, 3.0, 0.001, True, 2.0),
        "hopper-medium-replay": (0.7, 3.0, 0.001, True, 2.0),
        "hopper-medium-expert": (0.5, 6.0, 0.005, False, 1.0),
        "walker2d-medium-replay": (0.7, 3.0, 0.005, False, 1.0),
        "halfcheetah-medium": (0.7, 3.0, 0.005, False, 1.0),
    }
    for name, values in expected.items():
        cfg.env = name
        s = iql_settings(cfg, data)
        keys = ("expectile", "beta", "tau", "deterministic_actor", "reward_scale")
        assert tuple(s[k] for k in keys) == values, name  # 1000 / (600 - 100) = 2
