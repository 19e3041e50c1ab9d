import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from offline_agents import evaluate, evaluate_members, normalized_score
from point_mass import HORIZON, SPEED, PointMass


def stay(obs: np.ndarray) -> np.ndarray:
    return np.zeros((len(obs), 1), np.float32)


def expected_stay_return(seed: int) -> float:
    env = PointMass()
    x0 = env.reset(seed=seed)[0][0]
    return -HORIZON * abs(float(x0))


def test_returns_are_per_episode_and_seeded():
    result = evaluate(stay, PointMass, episodes=7, seed=3, num_envs=3)
    want = [expected_stay_return(3 + i) for i in range(7)]
    np.testing.assert_allclose(result.returns, want, rtol=1e-5)
    assert result.lengths.tolist() == [HORIZON] * 7  # truncation ends the episode
    assert result.mean == pytest.approx(np.mean(want), rel=1e-5)
    assert result.normalized is None


def test_batching_does_not_change_results():
    def go_to_zero(obs):
        return -np.sign(obs) * np.minimum(1.0, np.abs(obs) / SPEED)

    one = evaluate(go_to_zero, PointMass, episodes=5, seed=0, num_envs=1)
    many = evaluate(go_to_zero, PointMass, episodes=5, seed=0, num_envs=4)
    np.testing.assert_array_equal(one.returns, many.returns)
    assert np.all(one.returns > -4 * HORIZON * SPEED)  # optimal: reaches 0 within 8 steps


def test_normalized_score_uses_the_given_references():
    result = evaluate(stay, PointMass, episodes=4, seed=0, ref_min=-40.0, ref_max=0.0)
    np.testing.assert_allclose(result.normalized, 100 * (result.returns + 40) / 40)
    assert result.summary()["eval_normalized_mean"] == pytest.approx(result.normalized_mean)
    assert normalized_score(np.array([3234.3]), -20.272305, 3234.3)[0] == pytest.approx(100.0)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="both ref_min and ref_max"):
        evaluate(stay, PointMass, episodes=1, ref_min=0.0)
    with pytest.raises(ValueError, match="must exceed"):
        normalized_score(np.zeros(1), 1.0, 1.0)
    with pytest.raises(ValueError, match="episodes and num_envs must be positive"):
        evaluate(stay, PointMass, episodes=0)


def test_package_imports_without_gymnasium():
    code = "import sys; sys.modules['gymnasium'] = None; import offline_agents; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


class Runaway(PointMass):
    """The point mass, ended (terminated) once |x| passes 1.9: episodes of varied length."""

    def step(self, action):
        obs, reward, _, truncated, info = super().step(action)
        return obs, reward, bool(abs(self.x) > 1.9), truncated, info


def _push(gain: float):
    """A deterministic policy: push away from 0 with this gain (saturating)."""
    return lambda obs: np.clip(gain * np.sign(obs) * (np.abs(obs) + 0.1), -1.0, 1.0)


GAINS, SEEDS = (0.2, 1.0, 0.05), [3, 17, 40]
POLICIES = [_push(g) for g in GAINS]


def _members_act(obs):
    """A batched agent's act: [N, B, obs_dim] -> [N, B, act_dim], member m acting by POLICIES[m]."""
    return np.stack([p(o) for p, o in zip(POLICIES, obs, strict=True)])


def test_members_evaluated_together_equal_each_evaluated_alone():
    seeds, policies = SEEDS, POLICIES

    def act(obs):
        assert obs.shape == (3, 3, 1)  # every member's every slot, ended ones included
        return _members_act(obs)

    together = evaluate_members(act, Runaway, seeds, episodes=7, num_envs=3, ref_min=-40.0,
                                ref_max=0.0)  # fmt: skip
    for m, result in enumerate(together):
        alone = evaluate(policies[m], Runaway, 7, seeds[m], num_envs=3, ref_min=-40.0, ref_max=0.0)
        np.testing.assert_array_equal(result.returns, alone.returns)
        np.testing.assert_array_equal(result.lengths, alone.lengths)
        np.testing.assert_array_equal(result.normalized, alone.normalized)
    lengths = np.concatenate([r.lengths for r in together])
    assert lengths.min() < HORIZON and lengths.max() == HORIZON  # some ended early, some not


class Breaks(Runaway):
    """Fails on its 5th step, inside whichever process steps it."""

    def step(self, action):
        if self.t == 4:
            raise RuntimeError("simulator exploded")
        return super().step(action)


@pytest.mark.parametrize("workers", [2, 3, 5])
def test_worker_processes_step_the_same_episodes(workers):
    here = evaluate_members(_members_act, Runaway, SEEDS, episodes=7, num_envs=3)
    there = evaluate_members(_members_act, Runaway, SEEDS, episodes=7, num_envs=3, workers=workers)
    for a, b in zip(here, there, strict=True):
        np.testing.assert_array_equal(a.returns, b.returns)
        np.testing.assert_array_equal(a.lengths, b.lengths)
    assert min(r.lengths.min() for r in there) < HORIZON  # slots went idle at different times


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_workers_fork_from_a_parent_holding_a_cuda_context():
    """The pipeline's GPU cells fork evaluation workers after CUDA is initialized: the workers
    only step environments, and give the episodes one process gives."""
    torch.zeros(1, device="cuda")
    policy = _push(0.5)
    here = evaluate_members(policy, Runaway, [1, 2], episodes=3)
    there = evaluate_members(policy, Runaway, [1, 2], episodes=3, workers=2)
    for a, b in zip(here, there, strict=True):
        np.testing.assert_array_equal(a.returns, b.returns)


def test_a_failing_worker_raises_its_error_here():
    with pytest.raises(RuntimeError, match=r"evaluation worker failed(.|\n)*simulator exploded"):
        evaluate_members(lambda obs: np.zeros_like(obs), Breaks, [0, 1], episodes=2, workers=2)


def test_an_error_in_act_stops_every_worker():
    calls = []

    def act(obs):
        calls.append(len(obs))
        if len(calls) == 3:
            raise RuntimeError("policy failed")
        return np.zeros_like(obs)

    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="policy failed"):
        evaluate_members(act, PointMass, [0, 1, 2], episodes=2, workers=3)
    assert not multiprocessing.active_children()  # stopped and joined, not left behind
    assert time.perf_counter() - start < 5  # told to stop, not left to a join's timeout


ORPHAN_SCRIPT = """
import json, sys, time, multiprocessing
import numpy as np
sys.path.insert(0, {tests!r})
from point_mass import PointMass
from offline_agents import evaluate_members

def act(obs):
    pids = [p.pid for p in multiprocessing.active_children()]
    open({pids!r}, "w").write(json.dumps(pids))
    time.sleep(600)  # killed here, with its workers waiting for actions

evaluate_members(act, PointMass, [0, 1], episodes=2, workers=2)
"""


def test_workers_of_a_killed_parent_exit(tmp_path):
    pids_file = tmp_path / "pids.json"
    script = ORPHAN_SCRIPT.format(tests=str(Path(__file__).parent), pids=str(pids_file))
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not pids_file.exists() or not pids_file.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, "no workers started"
            time.sleep(0.1)
        pids = json.loads(pids_file.read_text())
        assert len(pids) == 2
    finally:
        proc.kill()  # SIGKILL: no finally, no atexit in the parent
        proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids), "orphaned evaluation workers"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return status != "Z"  # a zombie has exited


def test_evaluate_members_refuses_bad_arguments():
    with pytest.raises(ValueError, match="one seed per member"):
        evaluate_members(stay, PointMass, [], episodes=2)
    with pytest.raises(ValueError, match="episodes and num_envs must be positive"):
        evaluate_members(stay, PointMass, [0], episodes=0)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        evaluate_members(stay, PointMass, [0], workers=0)
