"""benchmarks/synthetic_state_drift.py: the nearest-state search is exact across its chunks,
the measure reads zero for the reference's own rows and flags a shifted copy, and a store
without a task's stages says so; benchmarks/synthetic_collapse_probe.py's nearest real rows
and actions are the nearest ones, and its contradictory options are refused."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "dawm_pipeline"))  # sim_rows: real env transitions
import synthetic_state_drift as drift  # noqa: E402


def test_nearest_matches_a_brute_force_search_across_chunks():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((300, 4)).astype(np.float32)
    queries = rng.standard_normal((drift.CHUNK * 2 + 17, 4)).astype(np.float32)
    dist, index = drift.nearest(queries, torch.as_tensor(reference))
    full = np.linalg.norm(queries[:, None] - reference[None], axis=-1)
    np.testing.assert_array_equal(index, full.argmin(1))
    np.testing.assert_allclose(dist, full.min(1), rtol=1e-4, atol=1e-5)


def test_the_reference_rows_read_zero_and_a_shifted_copy_does_not():
    rng = np.random.default_rng(1)
    states = rng.normal(5.0, 3.0, (500, 3))
    actions = rng.uniform(-1, 1, (500, 2))
    mean, std = states.mean(0), states.std(0)
    reference = torch.as_tensor(((states - mean) / std).astype(np.float32))
    own = drift.drift_row(states[:50], actions[:50], reference, actions, mean, std)
    assert own["distance_median"] < 1e-3 and own["action_gap"] == 0.0 and own["rows"] == 50
    shifted = states[:50] + 2.0 * std  # two standard deviations off in every dimension
    off = drift.drift_row(shifted, actions[:50], reference, actions, mean, std)
    assert off["distance_median"] > 1.0 and off["action_gap"] > 0.1


def test_a_store_without_the_tasks_stages_reports_it_missing(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "synthetic_state_drift.py"), "--out",
         str(tmp_path), "--tasks", "hopper-medium", "--json", str(tmp_path / "d.jsonl")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = {"task": "hopper-medium", "missing": "no bench stages"}
    assert json.loads(proc.stdout) == line
    assert json.loads((tmp_path / "d.jsonl").read_text()) == line


def test_the_probes_nearest_real_rows_are_the_real_transitions_nearest_to_each_state(
    monkeypatch,
):
    import synthetic_collapse_probe as probe

    rng = np.random.default_rng(2)
    n = 40
    real = {
        "observations": rng.normal(0.0, [1.0, 10.0], (n, 2)),  # unequal scales: standardized
        "actions": rng.uniform(-1, 1, (n, 1)),
        "rewards": rng.normal(size=n),
        "next_observations": rng.normal(size=(n, 2)),
        "terminals": rng.random(n) < 0.2,
    }
    target = rng.integers(0, n, 30)
    std = real["observations"].std(0)
    near = real["observations"][target] + 0.01 * std * rng.standard_normal((30, 2))
    steps = np.arange(30) % 7
    near[steps == 0] = real["observations"][target[steps == 0]]  # step 0: the start row itself
    synthetic = {"observations": near, "step": steps}
    searched = []

    def recording(queries, reference):
        searched.append(len(queries))
        return drift.nearest(queries, reference)

    monkeypatch.setattr(probe, "nearest", recording)
    out = probe.nearest_real(real, synthetic)
    for key in ("observations", "actions", "rewards", "next_observations", "terminals"):
        np.testing.assert_array_equal(out[key], real[key][target])
    assert out["step"] is synthetic["step"]
    assert searched == [int((steps > 0).sum())]  # step-0 rows are found by their bytes
    only_starts = {k: v[steps == 0] for k, v in synthetic.items()}
    out = probe.nearest_real(real, only_starts)  # nothing left to search
    np.testing.assert_array_equal(out["actions"], real["actions"][target[steps == 0]])


def test_the_probes_nearest_real_actions_keep_the_generated_state_and_outcome():
    import synthetic_collapse_probe as probe

    rng = np.random.default_rng(3)
    real = {
        "observations": rng.normal(size=(50, 3)),
        "actions": rng.uniform(-1, 1, (50, 2)),
    }
    target = rng.integers(0, 50, 20)
    steps = np.arange(20) % 7
    states = real["observations"][target] + 0.01 * rng.standard_normal((20, 3))
    states[steps == 0] = real["observations"][target[steps == 0]]
    synthetic = {
        "observations": states,
        "actions": rng.uniform(-1, 1, (20, 2)),  # the IDM's labels, to be swapped
        "next_observations": rng.normal(size=(20, 3)),
        "rewards": rng.normal(size=20),
        "step": steps,
    }
    out = probe.nearest_real_actions(real, synthetic)
    np.testing.assert_array_equal(out["actions"], real["actions"][target])
    for key in ("observations", "next_observations", "rewards", "step"):
        assert out[key] is synthetic[key]


def test_the_probe_refuses_options_that_contradict_each_other(tmp_path):
    script = str(ROOT / "benchmarks" / "synthetic_collapse_probe.py")
    for extra, words in (
        (["--real-only", "--simulator"], "--real-only trains on real rows alone"),
        (["--nearest-real", "--actions", "nearest-real"], "--nearest-real replaces every"),
        (["--simulator", "--real", "rewards"], "--simulator replaces r, s' and terminal"),
        (["--real-dims", "velocities"], "--real-dims goes with --real next_observations"),
    ):
        proc = subprocess.run(
            [sys.executable, script, "--out", str(tmp_path), *extra],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr[-2000:]


def test_the_probe_replays_the_nearest_real_action_not_the_idms(tmp_path, capsys):
    """--actions nearest-real --simulator: the action is swapped before the simulator steps,
    so generated rows at real states get the recorded action and its true outcome back, and
    the simulator's message stays off stdout, which carries the JSON lines."""
    import synthetic_collapse_probe as probe
    from sim_rows import rewarded_transitions
    from synthetic_diagnosis import variant_config

    obs, actions, nxt, rewards = rewarded_transitions("halfcheetah", n=60)
    real = {"observations": obs, "actions": actions, "next_observations": nxt,
            "rewards": rewards, "terminals": np.zeros(60, bool)}  # fmt: skip
    (tmp_path / "generate").mkdir()
    np.savez(tmp_path / "generate" / "synthetic.npz", observations=obs, actions=-actions,
             next_observations=np.zeros_like(nxt), rewards=np.full(60, 99.0, np.float32),
             terminals=np.ones(60, bool), step=(np.arange(60) % 7).astype(np.int16))  # fmt: skip
    args = SimpleNamespace(steps="all", only_step=None, real=[], real_dims="all",
                           nearest_real=False, actions="nearest-real", simulator=True)  # fmt: skip
    cfg = variant_config("td3bc", {}, tmp_path, task="halfcheetah-medium-replay")
    ctx = SimpleNamespace(dir=lambda stage: tmp_path / stage)
    out = probe.synthetic_rows(args, cfg, ctx, real)
    assert capsys.readouterr().out == ""
    assert len(out["rewards"]) == 60  # halfcheetah's velocities have no clip: every row kept
    kept = [int(np.flatnonzero((obs == o).all(1))[0]) for o in out["observations"]]
    np.testing.assert_array_equal(out["actions"], actions[kept])
    np.testing.assert_allclose(out["next_observations"], nxt[kept], atol=1e-4)
    np.testing.assert_allclose(out["rewards"], rewards[kept], atol=1e-4)


def test_simulated_next_states_of_real_rows_are_their_recorded_ones():
    """The next-state measure's check: from real (s, a) the simulator lands on the recorded s',
    which reads zero against a reference holding it; rows at the velocity clip are left out."""
    from dawm_pipeline.tasks import resolve
    from sim_rows import rewarded_transitions

    obs, actions, nxt, _ = rewarded_transitions("hopper", n=40)
    task = resolve("hopper-medium-replay")
    lo = task.robot.simulator.velocity_dims[0]
    obs = obs.copy()
    obs[0, lo] = task.robot.simulator.velocity_clip  # unreplayable: left out
    simulated = drift.simulated_next(task, obs, actions)
    np.testing.assert_allclose(simulated, nxt[1:], atol=1e-4)
    mean, std = nxt.mean(0), nxt.std(0) + 1e-6
    reference = torch.as_tensor(((nxt - mean) / std).astype(np.float32))
    row = drift.next_state_row(simulated, reference, mean, std)
    assert row["rows"] == 39 and row["distance_median"] < 1e-2
    assert drift.next_state_row(simulated + 2.0 * std, reference, mean, std)["distance_median"] > 1
