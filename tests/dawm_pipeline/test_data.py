"""dawm_pipeline.data: names, OfflineDataset, the three sources, errors, regeneration.

Every fixture is written by the tests themselves: a local Minari dataset in a temporary
MINARI_DATASETS_PATH, a D4RL-layout hdf5 written with h5py, and a tiny bundle built by
`datasets.build` from a fake training work dir.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import gymnasium as gym
import h5py
import numpy as np
import pytest
from dawm_pipeline.atomic import write_json, write_npz, write_safetensors
from dawm_pipeline.data import (
    DatasetError,
    Episode,
    OfflineDataset,
    bundled,
    load_dataset,
    normalized_score,
    resolve_source,
    source_choice,
)
from dawm_pipeline.datasets.build import BuildConfig, build_env
from dawm_pipeline.datasets.table import curves_figure, dataset_table, level_table, policy_table
from dawm_pipeline.tasks import LEVELS, Perturbation, robot, robots
from dawm_pipeline.tasks import resolve as parse_name
from dawm_pipeline.tasks.stochastic import StochasticDynamics, stochastic_gym_id

OBS, ACT = 11, 3  # hopper


@pytest.fixture(autouse=True)
def minari_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def random_episodes(rng, lengths, terminal_last=(True,)) -> list[Episode]:
    """Contiguous random episodes: next_observations[t] == observations[t + 1]."""
    eps = []
    for i, n in enumerate(lengths):
        obs = rng.standard_normal((n + 1, OBS)).astype(np.float32)
        term = np.zeros(n, bool)
        tout = np.zeros(n, bool)
        (term if terminal_last[i % len(terminal_last)] else tout)[-1] = True
        eps.append(
            Episode(
                observations=obs[:-1],
                actions=rng.uniform(-1, 1, (n, ACT)).astype(np.float32),
                rewards=rng.standard_normal(n).astype(np.float32),
                next_observations=obs[1:],
                terminals=term,
                timeouts=tout,
            )
        )
    return eps


def flat(eps: list[Episode]) -> dict[str, np.ndarray]:
    keys = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
    return {k: np.concatenate([getattr(e, k) for e in eps]) for k in keys}


# ----------------------------------------------------------------- names and scores


@pytest.mark.parametrize(
    ("name", "env", "level"),
    [
        ("hopper-medium-replay", "hopper", "medium-replay"),
        ("hopper-medium-replay-v2", "hopper", "medium-replay"),
        ("Walker2d-Medium-Expert-v2", "walker2d", "medium-expert"),
        ("halfcheetah-medium", "halfcheetah", "medium"),
    ],
)
def test_parse_name(name, env, level):
    p = parse_name(name)
    assert (p.robot.name, p.level, p.stochastic) == (env, level, False)
    assert p.minari_id("dawm") == f"dawm/{env}/{level}-v0"
    assert p.gym_id == robot(env).gym_id


@pytest.mark.parametrize("level", ["medium", "medium-expert"])
@pytest.mark.parametrize("env", ["hopper", "walker2d", "halfcheetah"])
def test_parse_stochastic_name(env, level):
    p = parse_name(f"{env}-{level}-stochastic")
    assert (p.robot.name, p.level, p.stochastic) == (env, level, True)
    assert p.name == f"{env}-{level}-stochastic"
    assert p.minari_id("dawm") == f"dawm/{env}/{level}-stochastic-v0"
    assert p.gym_id == stochastic_gym_id(robot(env))
    assert gym.spec(p.gym_id).kwargs == {"robot_name": env}


def test_stochastic_names_errors_are_one_line():
    with pytest.raises(ValueError, match="cannot be re-collected") as e:
        parse_name("hopper-medium-replay-stochastic")
    assert "use hopper-medium-stochastic or hopper-medium-expert-stochastic" in str(e.value)
    for source in ("minari", "d4rl"):
        with pytest.raises(ValueError, match="only source 'bundled'") as e:
            resolve_source("walker2d-medium-stochastic", source, path="x.hdf5")
        assert "\n" not in str(e.value)
    assert resolve_source("hopper-medium-stochastic") == "bundled"
    with pytest.raises(ValueError, match="unknown dataset name"):
        parse_name("hopper-stochastic")


@pytest.mark.parametrize("bad", ["hopper-expert", "ant-medium", "hopper", "hopper-medium-v1"])
def test_unknown_name_is_one_clear_line(bad):
    with pytest.raises(ValueError, match="unknown dataset name") as e:
        parse_name(bad)
    assert "hopper-medium-replay" in str(e.value) and "\n" not in str(e.value)


def test_normalized_score_uses_d4rl_references():
    lo, hi = robot("hopper").score_refs
    assert lo == -20.272305 and hi == 3234.3
    assert normalized_score("hopper", lo) == pytest.approx(0.0)
    assert normalized_score("hopper-medium-v2", hi) == pytest.approx(100.0)
    np.testing.assert_allclose(
        normalized_score("walker2d", np.array([1.629008, 4592.3])), [0.0, 100.0]
    )
    with pytest.raises(ValueError, match="no reference scores"):
        normalized_score("ant", 1.0)


# ------------------------------------------------------------------ OfflineDataset


def test_offline_dataset_episodes_returns_and_fingerprint():
    rng = np.random.default_rng(0)
    eps = random_episodes(rng, [5, 3, 7], terminal_last=(True, False))
    ds = OfflineDataset.from_episodes(eps, bundled.dataset_info(parse_name("hopper-medium")))
    assert (ds.num_transitions, ds.num_episodes, ds.obs_dim, ds.act_dim) == (15, 3, OBS, ACT)
    np.testing.assert_array_equal(ds.episode_starts, [0, 5, 8])
    for got, want in zip(ds.episodes(), eps, strict=True):
        np.testing.assert_array_equal(got.observations, want.observations)
        np.testing.assert_array_equal(got.timeouts, want.timeouts)
    np.testing.assert_allclose(ds.episode_returns(), [e.rewards.sum() for e in eps], rtol=1e-6)
    same = OfflineDataset.from_episodes(eps, ds.info)
    assert same.fingerprint == ds.fingerprint
    same.rewards[3] += 1e-3
    assert same.fingerprint != ds.fingerprint
    assert "not D4RL" in repr(ds)


# -------------------------------------------------------------------- D4RL hdf5


def write_d4rl(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    return path


def test_d4rl_hdf5_loads_and_splits_episodes(tmp_path):
    rng = np.random.default_rng(1)
    eps = random_episodes(rng, [4, 6, 5], terminal_last=(True, False))
    arrays = flat(eps)
    arrays["terminals"][-1] = arrays["timeouts"][-1] = False  # a replay dataset cut mid-episode
    path = write_d4rl(tmp_path / "hopper-medium-replay-v2.hdf5", arrays)
    ds = load_dataset("hopper-medium-replay-v2", source="d4rl", path=path)
    assert ds.source == "d4rl" and ds.env_id == "Hopper-v5"
    np.testing.assert_array_equal(ds.episode_lengths, [4, 6, 5])
    np.testing.assert_array_equal(ds.observations, arrays["observations"])
    assert ds.terminals[3] and not ds.timeouts[3]  # termination stays a termination
    assert ds.timeouts[9] and not ds.terminals[9]
    assert ds.timeouts[-1]  # the unfinished last episode is closed as a truncation
    assert resolve_source("hopper-medium-replay", path=path) == "d4rl"


def _d4rl_broken(tmp_path, kind: str) -> Path:
    rng = np.random.default_rng(2)
    arrays = flat(random_episodes(rng, [4, 4]))
    path = tmp_path / f"{kind}.hdf5"
    if kind == "nan":
        arrays["observations"][2, 1] = np.nan
    elif kind == "inf":
        arrays["rewards"][5] = np.inf
    elif kind == "wrong_dim":
        arrays["observations"] = np.zeros((8, 17), np.float32)  # a walker2d file
    elif kind == "short":
        arrays["actions"] = arrays["actions"][:5]
    elif kind == "old_layout":
        del arrays["next_observations"]
    elif kind == "action_scale":
        arrays["actions"] = arrays["actions"] * 50.0  # [-50, 50] for Hopper's [-1, 1]
    elif kind == "text":
        arrays["rewards"] = np.array([b"1.0"] * len(arrays["rewards"]))
    write_d4rl(path, arrays)
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "not_hdf5":
        path.write_text("not an hdf5 file")
    return path


D4RL_BROKEN = [
    ("nan", "observations holds 1 NaN/inf values"),
    ("inf", "rewards holds 1 NaN/inf values"),
    ("wrong_dim", r"observations has shape \(8, 17\), expected \(N, 11\)"),
    ("short", "actions has 5 rows"),
    ("old_layout", "lacks next_observations"),
    (
        "action_scale",
        r"actions lie outside hopper's action space \[-1, 1\] in 8 rows "
        r"\(first at row 0",
    ),
    ("text", "rewards holds \\|S3 values, not numbers"),
    ("truncated", "not a readable hdf5 file"),
    ("not_hdf5", "not a readable hdf5 file"),
]


@pytest.mark.parametrize(("kind", "message"), D4RL_BROKEN, ids=[kind for kind, _ in D4RL_BROKEN])
def test_d4rl_bad_files_give_one_line_errors(tmp_path, kind, message):
    path = _d4rl_broken(tmp_path, kind)
    with pytest.raises(DatasetError, match=message) as e:
        load_dataset("hopper-medium", source="d4rl", path=path)
    assert "--dataset-path" in str(e.value) and "\n" not in str(e.value)


def test_d4rl_missing_file_and_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_dataset("hopper-medium", source="d4rl", path=tmp_path / "nope.hdf5")
    with pytest.raises(ValueError, match="needs the hdf5 file"):
        load_dataset("hopper-medium", source="d4rl")
    with pytest.raises(ValueError, match="unknown source"):
        load_dataset("hopper-medium", source="d4rl-online")


# ------------------------------------------------------------------------ Minari


def write_minari_raw(dataset_id: str, eps: list[Episode]) -> None:
    """Create a Minari dataset with Minari's own API (not the code under test)."""
    import minari
    from minari.data_collector import EpisodeBuffer

    buffers = [
        EpisodeBuffer(
            id=i,
            observations=np.concatenate([e.observations, e.next_observations[-1:]]),
            actions=e.actions,
            rewards=e.rewards,
            terminations=e.terminals,
            truncations=e.timeouts,
        )
        for i, e in enumerate(eps)
    ]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "env_spec is None")  # env=None is the offline way
        _create(minari, dataset_id, buffers)


def _create(minari, dataset_id, buffers) -> None:
    import gymnasium as gym

    minari.create_dataset_from_buffers(
        dataset_id,
        buffers,
        env=None,
        eval_env="Hopper-v5",
        observation_space=gym.spaces.Box(-np.inf, np.inf, (OBS,), np.float64),
        action_space=gym.spaces.Box(-1, 1, (ACT,), np.float32),
        algorithm_name="test",
        author="test",
        author_email="test",
        code_permalink="test",
        description="fixture",
        data_format="hdf5",
    )


def test_minari_source_is_preferred_and_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    eps = random_episodes(rng, [6, 2, 9], terminal_last=(False, True))
    assert resolve_source("hopper-medium") == "bundled"
    with pytest.raises(FileNotFoundError, match="not found in local storage"):
        load_dataset("hopper-medium", source="minari")
    write_minari_raw("mujoco/hopper/medium-v0", eps)
    assert resolve_source("hopper-medium") == "minari"
    # ... but an explicit choice wins over the automatic one: a given hdf5 file is read.
    assert source_choice("hopper-medium", path=tmp_path / "x.hdf5") == (
        "d4rl",
        "a file was given (--dataset-path)",
    )
    ds = load_dataset("hopper-medium-v2")
    assert ds.source == "minari" and ds.info.dataset_id == "mujoco/hopper/medium-v0"
    want = OfflineDataset.from_episodes(eps, ds.info)
    assert ds.fingerprint == want.fingerprint
    np.testing.assert_array_equal(ds.timeouts, want.timeouts)


def test_minari_wrong_task_dims_rejected():
    rng = np.random.default_rng(4)
    write_minari_raw("mujoco/walker2d/medium-v0", random_episodes(rng, [3]))  # hopper-shaped
    with pytest.raises(DatasetError, match=r"expected \(N, 17\) for walker2d"):
        load_dataset("walker2d-medium")


# ----------------------------------------------------------------------- bundled


def random_policy(path: Path, rng, hidden: int = 16) -> None:
    """A stable-baselines3-layout SAC actor with random weights."""
    shapes = {
        "latent_pi.0.weight": (hidden, OBS),
        "latent_pi.0.bias": (hidden,),
        "latent_pi.2.weight": (hidden, hidden),
        "latent_pi.2.bias": (hidden,),
        "mu.weight": (ACT, hidden),
        "mu.bias": (ACT,),
        "log_std.weight": (ACT, hidden),
        "log_std.bias": (ACT,),
    }
    tensors = {k: (0.3 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    write_safetensors(path, tensors, {"action_low": "[-1, -1, -1]", "action_high": "[1, 1, 1]"})


def fake_training_run(work: Path, rng) -> list[Episode]:
    """What `datasets train` leaves behind: evaluations, policies, a replay buffer."""
    env_dir = work / "hopper"
    evals = [(100, 500.0), (200, 1700.0), (300, 3000.0), (400, 2500.0)]
    for step, _ in evals:
        random_policy(env_dir / "policies" / f"step_{step}.safetensors", rng)
    write_json(
        env_dir / "evals.json",
        {
            "env": "hopper", "budget": 400, "finished": True, "algorithm": "SAC",
            "implementation": "test", "seed": 0, "eval_every": 100, "eval_episodes": 2,
            "evaluations": [
                {"step": s, "mean_return": r, "std_return": 1.0, "policy": f"step_{s}.safetensors"}
                for s, r in evals
            ],
        },
    )  # fmt: skip
    eps = random_episodes(rng, [40, 30, 50, 80, 100, 100], terminal_last=(True, False))
    a = flat(eps)
    buffer = {
        "observations": a["observations"],
        "next_observations": a["next_observations"],
        "actions": a["actions"],
        "rewards": a["rewards"],
        "dones": (a["terminals"] | a["timeouts"]).astype(np.float32),
        "timeouts": a["timeouts"].astype(np.float32),
    }
    write_npz(env_dir / "state" / "state-400" / "buffer.npz", buffer)
    write_json(env_dir / "state" / "progress.json", {"step": 400, "folder": "state-400"})
    return eps


def make_bundle(tmp_path: Path, measure: bool, transitions: int = 150) -> Path:
    """A hopper bundle from a fake training run (random policies), as `datasets build` makes."""
    rng = np.random.default_rng(5)
    cfg = BuildConfig(
        env=("hopper",), work_dir=tmp_path / "work", bundle_dir=tmp_path / "bundle",
        transitions=transitions, measure=measure,
    )  # fmt: skip
    fake_training_run(cfg.work_dir, rng)
    assert build_env("hopper", cfg)
    return cfg.bundle_dir


@pytest.fixture
def bundle(tmp_path) -> Path:
    return make_bundle(tmp_path, measure=False)


def test_build_picks_checkpoints_and_writes_bundle(bundle):
    m = json.loads((bundle / "hopper" / "manifest.json").read_text())
    assert m["recipe"]["expert"]["step"] == 300  # best evaluated return
    assert m["recipe"]["medium"]["step"] == 200  # smoothed 1733, nearest hopper's target 1721
    assert "not D4RL" in m["recipe"]["expert"]["label"] and m["not_d4rl"]
    ds = bundled.load_episodes_npz(
        bundle / "hopper" / "medium_replay.npz",
        parse_name("hopper-medium-replay"),
        bundled.dataset_info(parse_name("hopper-medium-replay")),
    )
    # The replay buffer up to step 200: episodes 40 + 30 + 50 + 80 cut at 80 → truncation.
    np.testing.assert_array_equal(ds.episode_lengths, [40, 30, 50, 80])
    assert ds.terminals[39] and ds.timeouts[69] and ds.timeouts[199] and not ds.terminals[199]


def test_build_takes_medium_and_its_replay_from_a_second_run_when_given(tmp_path):
    rng = np.random.default_rng(5)
    main_run, medium_run = tmp_path / "main", tmp_path / "medium"
    fake_training_run(main_run, rng)
    eps = fake_training_run(medium_run, rng)  # other policies and replay
    evals_path = medium_run / "hopper" / "evals.json"
    log = json.loads(evals_path.read_text())
    for e, r in zip(log["evaluations"], [1000.0, 1200.0, 1700.0, 2500.0], strict=True):
        e["mean_return"] = r  # smoothed 1100, 1300, 1800, 2100: step 300 is nearest 1721
    log["budget"] = log["evaluations"][-1]["step"]
    write_json(evals_path, log | {"finished": False})
    cfg = BuildConfig(
        env=("hopper",), work_dir=main_run, bundle_dir=tmp_path / "bundle",
        medium_work_dir=medium_run, measure=False,
    )  # fmt: skip
    assert not build_env("hopper", cfg)  # the medium run has not finished: nothing built
    write_json(evals_path, log)
    assert build_env("hopper", cfg)
    m = json.loads((cfg.bundle_dir / "hopper" / "manifest.json").read_text())
    assert m["recipe"]["expert"]["step"] == 300  # the main run's best
    assert m["recipe"]["medium"]["step"] == 300  # the medium run's checkpoint
    assert m["recipe"]["medium_run"]["budget_steps"] == 400
    policy = (cfg.bundle_dir / "hopper" / "policy_medium.safetensors").read_bytes()
    assert policy == (medium_run / "hopper" / "policies" / "step_300.safetensors").read_bytes()
    ds = bundled.load_episodes_npz(
        cfg.bundle_dir / "hopper" / "medium_replay.npz",
        parse_name("hopper-medium-replay"),
        bundled.dataset_info(parse_name("hopper-medium-replay")),
    )
    want = np.concatenate([e.observations for e in eps])[:300]
    np.testing.assert_array_equal(ds.observations, want)  # the medium run's replay, to step 300


def test_build_can_judge_the_medium_level_by_sampled_returns(tmp_path, monkeypatch):
    from dawm_pipeline.datasets import build as build_module

    hopper = robot("hopper")
    sampling = dataclasses.replace(hopper.behaviour, medium_by_sampled_returns=True)
    monkeypatch.setattr(
        build_module, "robot", lambda env: dataclasses.replace(hopper, behaviour=sampling)
    )
    sampled = iter([1700.0, 1720.0, 2900.0])  # steps 100, 200, 300 (the expert), in order
    monkeypatch.setattr(build_module, "evaluate", lambda *a, **k: np.full(2, next(sampled)))
    cfg = BuildConfig(
        env=("hopper",), work_dir=tmp_path / "work", bundle_dir=tmp_path / "bundle", measure=False
    )  # fmt: skip
    fake_training_run(cfg.work_dir, np.random.default_rng(5))
    assert build_env("hopper", cfg)
    recipe = json.loads((cfg.bundle_dir / "hopper" / "manifest.json").read_text())["recipe"]
    # smoothed sampled 1710, 2107 (65 normalized: over 2/3 of the expert's sampled 2900) -> 100;
    # by deterministic returns the medium would be step 200 (test above)
    assert recipe["medium"]["step"] == 100 and recipe["medium"]["sampled_return"] == 1700.0
    assert recipe["medium"]["mean_return"] == 500.0  # the deterministic evaluation, kept
    assert recipe["medium_rule"]["returns"] == "sampled episodes (seed 3)"
    assert next(sampled, None) is None  # the expert's sampled return came from the cache


def test_bundled_medium_replay_loads_and_is_cached_in_minari(bundle, minari_root, monkeypatch):
    import minari

    ds = load_dataset("hopper-medium-replay", source="bundled", path=bundle)
    assert ds.source == "bundled" and ds.info.dataset_id == "dawm/hopper/medium-replay-v0"
    assert ds.num_transitions == 200 and "not D4RL" in ds.info.source_label
    assert (minari_root / "dawm" / "hopper" / "medium-replay-v0" / "data").is_dir()
    (bundle / "hopper" / "medium_replay.npz").unlink()  # later loads need only the cache
    mds = minari.load_dataset("dawm/hopper/medium-replay-v0")  # users can load it too
    assert mds.total_steps == 200 and "Not D4RL" in mds.storage.metadata["description"]
    monkeypatch.setattr(bundled, "BUNDLE_DIR", bundle)
    again = load_dataset("hopper-medium-replay")  # auto → bundled, read from the Minari cache
    assert again.fingerprint == ds.fingerprint


def test_bundled_medium_and_medium_expert_regenerate_deterministically(bundle, minari_root):
    name = parse_name("hopper-medium")
    a, b = bundled.generate(name, bundle), bundled.generate(name, bundle)
    assert a.num_transitions >= 150
    assert a.fingerprint == b.fingerprint
    np.testing.assert_array_equal(a.actions, b.actions)
    # A different seed gives different rollouts.
    m = bundled.read_manifest("hopper", bundle)
    m["regenerate"]["medium"]["seed"] = 7
    write_json(bundle / "hopper" / "manifest.json", m)
    assert bundled.generate(name, bundle).fingerprint != a.fingerprint
    m["regenerate"]["medium"]["seed"] = 1
    write_json(bundle / "hopper" / "manifest.json", m)
    me = load_dataset("hopper-medium-expert", source="bundled", path=bundle)
    medium = load_dataset("hopper-medium", source="bundled", path=bundle)
    assert medium.fingerprint == a.fingerprint  # cached copy equals a fresh regeneration
    # medium-expert = the medium episodes followed by as many expert transitions
    np.testing.assert_array_equal(me.observations[: medium.num_transitions], medium.observations)
    assert me.num_transitions - medium.num_transitions >= 150


def test_stochastic_data_regenerate_deterministically_in_the_stochastic_env(
    bundle, minari_root, monkeypatch, caplog
):
    name = parse_name("hopper-medium-stochastic")
    a, b = bundled.generate(name, bundle), bundled.generate(name, bundle)
    assert a.num_transitions >= 150 and a.env_id == "dawm/StochasticHopper-v5"
    np.testing.assert_array_equal(a.observations, b.observations)
    np.testing.assert_array_equal(a.actions, b.actions)
    plain = bundled.generate(parse_name("hopper-medium"), bundle)
    assert a.fingerprint != plain.fingerprint  # same policy and seeds, other dynamics
    me = load_dataset("hopper-medium-expert-stochastic", path=bundle)  # auto → bundled
    assert me.info.dataset_id == "dawm/hopper/medium-expert-stochastic-v0"
    assert me.env_id == a.env_id
    assert "stochastic dynamics (action noise 0.1, torso mass x1.25)" in me.info.source_label
    medium = load_dataset("hopper-medium-stochastic", source="bundled", path=bundle)
    assert medium.fingerprint == a.fingerprint  # the Minari cache equals a fresh regeneration
    np.testing.assert_array_equal(me.observations[: medium.num_transitions], medium.observations)
    assert (minari_root / "dawm" / "hopper" / "medium-stochastic-v0" / "data").is_dir()
    assert not (minari_root / "dawm" / "hopper" / "medium-v0").exists()  # a separate entry
    assert medium.summary()["fingerprint"] == a.fingerprint  # no manifest check, recorded
    monkeypatch.setattr(bundled, "STOCHASTIC", Perturbation(action_noise=0.2))
    with caplog.at_level("WARNING"):  # a cache collected with another perturbation is rebuilt
        noisier = load_dataset("hopper-medium-stochastic", path=bundle)
    assert "was collected with another perturbation" in caplog.text
    assert noisier.info.extra["dawm"]["perturbation"]["action_noise"] == 0.2


def test_stochastic_env_perturbs_and_is_seeded():
    env_id = stochastic_gym_id(robot("hopper"))
    assert env_id == stochastic_gym_id(robot("hopper"))  # registered once
    plain, noisy = gym.make("Hopper-v5"), gym.make(env_id)
    assert noisy.unwrapped.model.body_mass[1] == pytest.approx(
        plain.unwrapped.model.body_mass[1] * 1.25
    )

    def rollout(env, seed):
        env.reset(seed=seed)
        return np.stack([env.step(np.zeros(3, np.float32))[0] for _ in range(20)])

    assert not np.allclose(rollout(plain, 0), rollout(noisy, 0))
    np.testing.assert_array_equal(rollout(noisy, 3), rollout(gym.make(env_id), 3))
    found = noisy
    while not isinstance(found, StochasticDynamics):
        found = found.env
    assert found.perturbation.action_noise == 0.1


def test_stale_minari_cache_is_rebuilt_and_a_damaged_shipped_file_reported(bundle, caplog):
    first = load_dataset("hopper-medium-replay", source="bundled", path=bundle)
    m = bundled.read_manifest("hopper", bundle)
    m["bundle_hash"] = "1" * 64  # a new version of the shipped files
    write_json(bundle / "hopper" / "manifest.json", m)
    with caplog.at_level("WARNING"):
        again = load_dataset("hopper-medium-replay", source="bundled", path=bundle)
    assert "was made from another version of the bundled data; rebuilding it" in caplog.text
    assert again.info.extra["dawm"]["bundle_hash"] == "1" * 64
    assert again.fingerprint == first.fingerprint
    m["fingerprints"] = {"hopper-medium-replay": "0" * 64}  # the shipped file no longer matches
    write_json(bundle / "hopper" / "manifest.json", m)
    with pytest.raises(DatasetError, match=r"does not match its manifest .* reinstall") as e:
        load_dataset("hopper-medium-replay", source="bundled", path=bundle)
    assert "\n" not in str(e.value)


def test_bundled_missing_env_and_truncated_file(bundle, tmp_path):
    with pytest.raises(FileNotFoundError, match="datasets train --env walker2d"):
        load_dataset("walker2d-medium", source="bundled", path=bundle)
    npz = bundle / "hopper" / "medium_replay.npz"
    npz.write_bytes(npz.read_bytes()[:200])
    with pytest.raises(DatasetError, match="unreadable"):
        load_dataset("hopper-medium-replay", source="bundled", path=bundle)


def test_build_measures_every_level_for_the_docs_table(tmp_path, minari_root, caplog):
    bundle = make_bundle(tmp_path, measure=True)
    m = bundled.read_manifest("hopper", bundle)
    assert set(m["stats"]) == {"hopper-medium", "hopper-medium-replay", "hopper-medium-expert"}
    assert m["stats"]["hopper-medium-replay"]["transitions"] == 200
    assert not minari_root.exists() or not any(minari_root.iterdir())  # measured in scratch storage
    table = dataset_table(bundle)
    assert "| dawm hopper-medium-replay | 200 | 4 |" in table and "402,000" in table
    assert "hopper | 400 | 400 | 300: 3000" in policy_table(bundle)
    ours = m["stats"]["hopper-medium"]["normalized_mean"]
    assert f"| hopper-medium | {ours:.1f} | 53.5 |" in level_table(bundle)  # beside D4RL's BC
    assert curves_figure(bundle, tmp_path / "curves.png") == "curves.png"
    assert (tmp_path / "curves.png").stat().st_size > 5000  # the behaviour curves, drawn
    # Regenerated here, the data match the build's fingerprints (same machine): no warning.
    with caplog.at_level("WARNING"):
        ds = load_dataset("hopper-medium-expert", source="bundled", path=bundle)
    assert ds.fingerprint == m["fingerprints"]["hopper-medium-expert"]
    assert "fingerprint" not in caplog.text


# --------------------------------------------------- the data shipped with the package

SHIPPED = [f"{r}-{lv}" for r in robots() for lv in LEVELS]


def _shipped_manifest(name: str) -> dict:
    env = parse_name(name).robot.name
    try:
        return bundled.read_manifest(env)
    except FileNotFoundError:
        pytest.skip(f"no bundled data for {env} in this checkout yet")


@pytest.mark.parametrize("name", [n for n in SHIPPED if n.endswith("medium-replay")])
def test_shipped_medium_replay_loads(name):
    m = _shipped_manifest(name)
    ds = load_dataset(name)  # auto: no Minari mujoco/ data here → bundled
    assert ds.source == "bundled"
    assert ds.fingerprint == bundled.generate(parse_name(name)).fingerprint  # Minari round trip
    if "fingerprints" in m:
        assert ds.fingerprint == m["fingerprints"][name]


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_dataset_regenerates_as_measured(name):
    m = _shipped_manifest(name)
    ds = load_dataset(name, source="bundled")
    stats = m["stats"][name]
    assert (ds.num_transitions, ds.num_episodes) == (stats["transitions"], stats["episodes"])
    assert ds.episode_returns().mean() == pytest.approx(stats["return_mean"], rel=0.05)
