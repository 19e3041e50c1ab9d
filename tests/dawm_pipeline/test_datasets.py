"""dawm_pipeline.datasets: SAC training that resumes, policy export parity, checkpoint choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dawm_pipeline.data.policy import GaussianPolicy
from dawm_pipeline.datasets import build
from dawm_pipeline.datasets.build import (
    best_checkpoint,
    pick_medium,
    replay_dataset,
    sampled_evaluations,
)
from dawm_pipeline.datasets.train import TrainConfig, export_actor, train
from dawm_pipeline.tasks import resolve as parse_name
from dawm_pipeline.tasks import robot

sb3 = pytest.importorskip("stable_baselines3")


def test_numpy_policy_matches_sb3_actor(tmp_path):
    import torch

    model = sb3.SAC("MlpPolicy", "Hopper-v5", seed=0, device="cpu")
    path = tmp_path / "actor.safetensors"
    export_actor(model, path, {"env": "hopper"})
    policy = GaussianPolicy.load(path)
    obs = np.random.default_rng(0).standard_normal((7, 11)).astype(np.float32)
    want, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(policy.act(obs), want, atol=1e-5)
    # The stochastic action is tanh(mean + std·ε), as in SB3's actor.
    eps = np.random.default_rng(1).standard_normal((7, 3))
    with torch.no_grad():
        mean, log_std, _ = model.actor.get_action_dist_params(torch.as_tensor(obs))
    sampled = np.tanh(mean.numpy() + np.exp(log_std.numpy()) * eps)
    np.testing.assert_allclose(policy.act(obs, eps), sampled, atol=1e-5)


def test_train_checkpoints_and_resumes(tmp_path):
    cfg = TrainConfig(
        env=("hopper",), work_dir=tmp_path, steps=300, eval_every=150, eval_episodes=1
    )
    train(cfg)
    env_dir = tmp_path / "hopper"
    log = json.loads((env_dir / "evals.json").read_text())
    assert log["finished"] and [e["step"] for e in log["evaluations"]] == [150, 300]
    cfg.steps = 450
    train(cfg)  # resumes from step 300 rather than starting over
    log = json.loads((env_dir / "evals.json").read_text())
    assert [e["step"] for e in log["evaluations"]] == [150, 300, 450]
    for e in log["evaluations"]:
        assert (env_dir / "policies" / e["policy"]).is_file()
        assert len(e["returns"]) == 1 and np.isfinite(e["mean_return"])
    progress = json.loads((env_dir / "state" / "progress.json").read_text())
    assert progress["step"] == 450 and sorted(p.name for p in (env_dir / "state").iterdir()) == [
        "progress.json",
        "state-450",
    ]
    with np.load(env_dir / "state" / "state-450" / "buffer.npz") as z:
        dones, timeouts, obs, nxt = (
            z["dones"],
            z["timeouts"],
            z["observations"],
            z["next_observations"],
        )
    assert dones.shape == (450,)
    assert dones[299] and timeouts[299]  # the episode cut by the restart is a truncation
    ds = replay_dataset(
        {"dones": dones, "timeouts": timeouts, "observations": obs, "next_observations": nxt,
         "actions": np.zeros((450, 3)), "rewards": np.zeros(450)},
        450,
        parse_name("hopper-medium-replay"),
    )  # fmt: skip
    assert ds.num_transitions == 450  # contiguous within every episode


def test_a_full_buffer_is_saved_whole_and_an_overwritten_one_refused(tmp_path):
    from dawm_pipeline.datasets.train import save_state

    model = sb3.SAC("MlpPolicy", "Hopper-v5", seed=0, device="cpu", buffer_size=100)
    model.learn(100)  # exactly fills the buffer: SB3 wraps its position to 0
    assert model.replay_buffer.full and model.replay_buffer.pos == 0
    save_state(model, tmp_path / "a")  # (the halfcheetah run of 2026-11-27 saved 0 rows here)
    with np.load(tmp_path / "a" / "state-100" / "buffer.npz") as z:
        assert z["rewards"].shape == (100,)
    model.learn(20, reset_num_timesteps=False)  # the 20 oldest transitions are overwritten
    with pytest.raises(RuntimeError, match="holds 100 of the run's 120 transitions"):
        save_state(model, tmp_path / "a")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["progress.json", "state-100"]


def test_train_sizes_the_buffer_to_hold_the_whole_run(tmp_path, monkeypatch):
    sizes = []

    class Recorder(sb3.SAC):
        def __init__(self, *args, **kwargs):
            sizes.append(kwargs["buffer_size"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sb3, "SAC", Recorder)
    cfg = TrainConfig(env=("hopper",), work_dir=tmp_path, steps=120, eval_every=120)
    train(cfg)
    assert sizes == [121]  # at SB3's default a 1M-step run wrapped at its last step
    with np.load(tmp_path / "hopper" / "state" / "state-120" / "buffer.npz") as z:
        assert z["rewards"].shape == (120,)
    progress = tmp_path / "hopper" / "state" / "progress.json"
    short = json.loads(progress.read_text()) | {"step": 130}  # a buffer short of its steps
    progress.write_text(json.dumps(short))
    cfg.steps = 200
    with pytest.raises(RuntimeError, match="holds 120 of the run's 130 transitions"):
        train(cfg)


def pick(evals, bot, judged=None):
    """Expert and medium of one run, as build_env chooses them."""
    expert = best_checkpoint(evals)
    upto = [e for e in (judged or evals) if e["step"] <= expert["step"]]
    level = next(e for e in upto if e["step"] == expert["step"])["mean_return"]
    return pick_medium(upto, bot, bot.normalized_score(level)), expert


def test_the_medium_checkpoint_is_smoothed_toward_the_target():
    hopper = robot("hopper")  # medium target 53.5 normalized = return ~1721
    curve = [100, 300, 2500, 1500, 1700, 3000, 2000]
    evals = [{"step": 10 * (i + 1), "mean_return": r} for i, r in enumerate(curve)]
    medium, expert = pick(list(reversed(evals)), hopper)  # order does not matter
    assert expert["step"] == 60
    # smoothed returns 200, 967, 1433, 1900, 2067, 2233: 1900 (step 40) is closest to 1721.
    # The lucky single evaluation at step 30 (2500) is not taken, nor step 50, whose own
    # return (1700) is closest but whose neighbours say the policy is better than medium.
    assert medium["step"] == 40
    assert hopper.normalized_score(1721.0) == pytest.approx(hopper.behaviour.medium_target, abs=0.1)
    with pytest.raises(ValueError, match="train first"):
        best_checkpoint([])
    with pytest.raises(ValueError, match="under 2/3"):  # an expert too weak for any medium
        pick_medium(evals[:3], hopper, expert_normalized=10.0)


def test_the_medium_level_can_be_judged_by_other_returns():
    hopper = robot("hopper")
    curve = [100, 1000, 1700, 2400, 3000]
    evals = [{"step": 10 * (i + 1), "mean_return": r} for i, r in enumerate(curve)]
    assert pick(evals, hopper)[0]["step"] == 30

    def judged(returns):
        return [{**e, "mean_return": r} for e, r in zip(evals, returns, strict=True)]

    # Sampled episodes score lower (action noise): the later checkpoint holds the medium level.
    medium, expert = pick(evals, hopper, judged([50, 400, 1000, 1720, 3000]))
    assert (medium["step"], medium["mean_return"], expert["step"]) == (40, 1720, 50)
    # The cap follows the judged returns: 2/3 of the expert's sampled 2000 rules out step 40.
    assert pick(evals, hopper, judged([50, 400, 1000, 1720, 2000]))[0]["step"] == 30


def test_sampled_evaluations_sample_actions_and_resume_from_their_cache(tmp_path, monkeypatch):
    hopper = robot("hopper")
    (tmp_path / "policies").mkdir()
    model = sb3.SAC("MlpPolicy", "Hopper-v5", seed=0, device="cpu")
    export_actor(model, tmp_path / "policies" / "a.safetensors", {"env": "hopper"})
    evals = [{"step": 10, "policy": "a.safetensors", "mean_return": 0.0}]
    first = sampled_evaluations(tmp_path, evals, hopper, episodes=3)
    policy = GaussianPolicy.load(tmp_path / "policies" / "a.safetensors")
    want = build.evaluate(policy, "Hopper-v5", 3, build.SAMPLED_EVAL_SEED, stochastic=True)
    mean_action = build.evaluate(policy, "Hopper-v5", 3, build.SAMPLED_EVAL_SEED)
    assert first[0]["mean_return"] == pytest.approx(want.mean())
    assert not np.allclose(want, mean_action)  # the actions were sampled
    calls = []
    monkeypatch.setattr(build, "evaluate", lambda *a, **k: calls.append(a) or np.zeros(1))
    assert sampled_evaluations(tmp_path, evals, hopper, episodes=3) == first  # from the cache
    assert calls == []
    sampled_evaluations(tmp_path, evals, hopper, episodes=2)  # other settings: recomputed
    assert len(calls) == 1
    sampled_evaluations(tmp_path, evals, hopper, episodes=2)
    assert len(calls) == 1  # cached again
    model = sb3.SAC("MlpPolicy", "Hopper-v5", seed=1, device="cpu")  # the file is replaced
    export_actor(model, tmp_path / "policies" / "a.safetensors", {"env": "hopper"})
    sampled_evaluations(tmp_path, evals, hopper, episodes=2)
    assert len(calls) == 2


def test_replay_dataset_rejects_non_contiguous_buffer():
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((6, 11))
    buf = {
        "observations": obs,
        "next_observations": rng.standard_normal((6, 11)),  # not obs[t + 1]
        "actions": np.zeros((6, 3)),
        "rewards": np.zeros(6),
        "dones": np.array([0, 0, 1, 0, 0, 1.0]),
        "timeouts": np.zeros(6),
    }
    with pytest.raises(ValueError, match="not contiguous"):
        replay_dataset(buf, 6, parse_name("hopper-medium-replay"))
