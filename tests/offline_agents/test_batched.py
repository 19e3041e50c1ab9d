"""Seed-batched agents: N members trained as one batched network equal N single agents.

Member k of ``cls.batched(..., configs)`` must start from the weights of ``cls(...,
configs[k])``, consume the same random stream from its own buffer, and end where that
single agent ends (to float rounding: batched matmuls may sum in another order).
"""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from offline_agents import (
    IQL,
    TD3BC,
    EvalResult,
    IQLConfig,
    ReplayBuffer,
    TD3BCConfig,
    Transitions,
    evaluate,
    evaluate_members,
)
from point_mass import PointMass, random_policy_data

SMALL = {"hidden": (32, 32), "batch_size": 64}
CASES = {
    "td3bc": (TD3BC, TD3BCConfig(**SMALL)),
    "iql": (IQL, IQLConfig(**SMALL)),
    "iql-deterministic": (IQL, IQLConfig(deterministic_actor=True, **SMALL)),
}
SEEDS = (0, 7, 3)
# Parity holds to float rounding: measured max |difference| 6e-8 (TD3+BC), 2e-7 (IQL).
ATOL, RTOL = 1e-6, 1e-5


@pytest.fixture(scope="module")
def buffers(point_mass_data) -> list[ReplayBuffer]:
    """Three data streams: real only, real + synthetic at a fixed ratio, the union."""
    real = point_mass_data[0]
    other = random_policy_data(episodes=80, seed=1)[0]
    return [ReplayBuffer(real), ReplayBuffer(real, other, 0.25), ReplayBuffer(other, real)]


def _configs(config) -> list:
    return [dataclasses.replace(config, seed=s) for s in SEEDS]


def _assert_same_agent(mine, ref, atol: float = ATOL, rtol: float = RTOL) -> None:
    a, b = mine._tensors(), ref._tensors()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=atol, rtol=rtol, msg=key)
    for key, opt in ref.optimizers().items():
        theirs = mine.optimizers()[key].state_dict()
        for name, t in opt.state_dict().items():
            torch.testing.assert_close(theirs[name], t, atol=atol, rtol=rtol, msg=name)
    assert mine.step == ref.step


@pytest.mark.parametrize("case", CASES)
def test_members_start_as_single_agents_of_their_seed(case):
    cls, config = CASES[case]
    before = torch.random.get_rng_state()
    batch = cls.batched(1, 1, 0.5, _configs(config))
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG untouched
    for k, cfg in enumerate(_configs(config)):
        _assert_same_agent(batch.member(k), cls(1, 1, 0.5, cfg), atol=0, rtol=0)


@pytest.mark.parametrize("case", CASES)
def test_member_matches_the_single_run_of_its_seed_and_data(case, buffers):
    cls, config = CASES[case]
    steps = 120
    batch = cls.batched(1, 1, 1.0, _configs(config))
    rows = batch.train(buffers, steps, log_every=40, progress=False)
    for k, cfg in enumerate(_configs(config)):
        single = cls(1, 1, 1.0, cfg)
        single_rows = single.train(buffers[k], steps, log_every=40, progress=False)
        member = batch.member(k)
        _assert_same_agent(member, single)
        # The same random stream consumed: batches and TD3+BC's target noise alike.
        assert torch.equal(member.generators[0].get_state(), single.generators[0].get_state())
        mine = [r for r in rows if r["member"] == k]
        for name in cls.loss_names:
            got, want = [r[name] for r in mine], [r[name] for r in single_rows]
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_member_trains_on_alone_as_it_would_have_in_the_batch(buffers):
    cls, config = CASES["td3bc"]
    batch = cls.batched(1, 1, 1.0, _configs(config))
    batch.train(buffers, 60, progress=False)
    member = batch.member(1)
    member.train(buffers[1], 120, progress=False)
    single = cls(1, 1, 1.0, _configs(config)[1])
    single.train(buffers[1], 120, progress=False)
    _assert_same_agent(member, single)


@pytest.mark.parametrize("case", ["td3bc", "iql"])
def test_every_member_learns_and_logs_its_own_curve(case, point_mass_data, tmp_path):
    cls, config = CASES[case]
    config = dataclasses.replace(config, hidden=(64, 64), discount=0.8, batch_size=256)
    config = dataclasses.replace(config, **{f: 1e-3 for f in vars(config) if f.endswith("lr")})
    data, data_return = point_mass_data  # random actions: ≈ −20.9; optimum ≈ −3
    batch = cls.batched(1, 1, 1.0, _configs(config))
    seen = []

    def eval_fn(agent):
        seen.append(agent.config.seed)
        return evaluate(agent.act, PointMass, episodes=20, seed=100)

    curves = [tmp_path / f"curve{k}.csv" for k in range(3)]
    batch.train(ReplayBuffer(data), 500, eval_fn=eval_fn, eval_every=500, log_every=250,
                log_csv=curves, progress=False)  # fmt: skip
    assert seen == list(SEEDS)  # one evaluation per member, of that member
    for curve in curves:
        with curve.open() as f:
            rows = list(csv.DictReader(f))
        assert [int(r["step"]) for r in rows] == [250, 500]
        # +4: IQL's worst of seeds 0-7 trained alone gains 4.4 here (seed 7), TD3+BC 7.9.
        assert float(rows[-1]["eval_return_mean"]) > data_return + 4.0, rows[-1]


@pytest.mark.parametrize("agent_cls", [TD3BC, IQL])
def test_batch_resumes_after_interrupt_bit_identically(agent_cls, buffers, tmp_path):
    configs = _configs(agent_cls.config_cls(hidden=(16, 16), batch_size=32))
    straight = agent_cls.batched(1, 1, 1.0, configs)
    straight_rows = straight.train(buffers, 40, log_every=5, progress=False)

    def crash_at_25(agent):
        raise KeyboardInterrupt

    logs = [tmp_path / f"curve{k}.csv" for k in range(3)]
    kwargs = {"log_every": 5, "checkpoint_dir": tmp_path, "log_csv": logs, "progress": False}
    first = agent_cls.batched(1, 1, 1.0, configs)
    with pytest.raises(KeyboardInterrupt):
        first.train(buffers, 40, checkpoint_every=10, eval_fn=crash_at_25, eval_every=25, **kwargs)
    resumed = agent_cls.batched(1, 1, 1.0, configs)
    resumed.train(buffers, 40, **kwargs)
    a, b = straight._tensors(), resumed._tensors()
    assert resumed.step == 40 and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    for k, log in enumerate(logs):
        with log.open() as f:
            rows = list(csv.DictReader(f))
        assert [int(r["step"]) for r in rows] == list(range(5, 45, 5))
        ref = [r for r in straight_rows if r["member"] == k]
        for mine, want in zip(rows, ref, strict=True):
            for name in agent_cls.loss_names:
                assert float(mine[name]) == pytest.approx(want[name], rel=1e-6)


def test_members_act_save_and_load_as_single_agents(buffers, tmp_path):
    cls, config = CASES["iql"]
    batch = cls.batched(1, 1, 0.7, _configs(config))
    batch.train(buffers, 10, progress=False)
    obs = np.linspace(-2, 2, 5, dtype=np.float32)[:, None]
    shared = batch.act(obs)
    own = batch.act(np.stack([obs, obs[::-1], obs]))
    assert shared.shape == own.shape == (3, 5, 1) and batch.act(obs[0]).shape == (3, 1)
    np.testing.assert_array_equal(own[1], shared[1][::-1])
    dirs = [tmp_path / f"member{k}" for k in range(3)]
    batch.save(dirs)
    single = cls(1, 1, 0.7, config)
    for k, directory in enumerate(dirs):
        loaded = cls.load(directory)
        np.testing.assert_array_equal(loaded.act(obs), batch.member(k).act(obs))
        np.testing.assert_allclose(loaded.act(obs), shared[k], atol=ATOL)  # batched matmuls
        assert loaded.config.seed == SEEDS[k] and loaded.step == 10
        assert {k: v.shape for k, v in loaded._tensors().items()} == {
            k: v.shape for k, v in single._tensors().items()
        }  # the single agent's file format
        assert json.loads((directory / "agent.json").read_text()).keys() == {
            "algo", "package_version", "obs_dim", "act_dim", "config", "step"
        }  # fmt: skip


def _one_line(err: pytest.ExceptionInfo, *words: str) -> None:
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_bad_batch_inputs_give_one_line_errors(buffers, point_mass_data, tmp_path):
    configs = _configs(TD3BCConfig(hidden=(8,), batch_size=8))
    with pytest.raises(ValueError) as err:
        TD3BC.batched(1, 1, 1.0, [*configs[:2], dataclasses.replace(configs[2], alpha=1.0)])
    _one_line(err, "differ only in seed", "configs[2]", "['alpha']")
    with pytest.raises(ValueError) as err:
        TD3BC.batched(1, 1, 1.0, [configs[0], IQLConfig()])
    _one_line(err, "needs a TD3BCConfig, got IQLConfig")
    with pytest.raises(ValueError) as err:
        TD3BC.batched(1, 1, 1.0, [])
    _one_line(err, "at least one config")
    batch = TD3BC.batched(1, 1, 1.0, configs)
    with pytest.raises(ValueError) as err:
        batch.train(buffers[:2], 5, progress=False)
    _one_line(err, "got 2 buffers for 3 member(s)")
    t = point_mass_data[0]
    two = np.repeat(t.observations, 2, 1), np.repeat(t.next_observations, 2, 1)
    wide = ReplayBuffer(Transitions(two[0], t.actions, t.rewards, two[1], t.terminals))
    with pytest.raises(ValueError) as err:
        batch.train([buffers[0], wide, buffers[2]], 5, progress=False)
    _one_line(err, "buffer[1] has obs/act dims (2, 1) but the agent (1, 1)")
    with pytest.raises(ValueError) as err:
        batch.train(buffers, 5, log_csv=tmp_path / "curve.csv", progress=False)
    _one_line(err, "log_csv paths as a sequence of 3")
    with pytest.raises(ValueError) as err:
        batch.train(buffers, 5, eval_fn=[lambda a: None], progress=False)
    _one_line(err, "got 1 eval_fns for 3 member(s)")
    with pytest.raises(ValueError) as err:
        batch.train(buffers, 5, eval_fn=lambda a: None, eval_members=lambda a: [], progress=False)
    _one_line(err, "takes eval_fn or eval_members, not both")
    with pytest.raises(ValueError) as err:
        batch.save(tmp_path / "agent")
    _one_line(err, "directories as a sequence of 3")
    with pytest.raises(IndexError, match="member 3 of a batch of 3"):
        batch.member(3)
    assert batch.step == 0 and not list(tmp_path.iterdir())  # nothing ran or was written
    # A checkpoint of other members is refused before anything changes.
    TD3BC(1, 1, 1.0, configs[0]).train(buffers[0], 2, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError) as err:
        batch.train(buffers, 4, checkpoint_dir=tmp_path, progress=False)
    _one_line(err, "different seeds (None vs [0, 7, 3])", "resume=False")


@pytest.mark.parametrize("case", ["td3bc", "iql"])
def test_evaluating_members_together_matches_one_by_one(case, buffers, tmp_path):
    """eval_members (one batched forward per env step) gives each member the curve that
    eval_fn on member(m) gives, and a wrong number of results is refused."""
    cls, config = CASES[case]
    seeds = [100, 200, 300]

    def curve(**evaluation) -> list[float]:
        batch = cls.batched(1, 1, 1.0, _configs(config))
        rows = batch.train(buffers, 60, eval_every=30, log_every=30, progress=False, **evaluation)
        return [r["eval_return_mean"] for r in rows]

    one_by_one = curve(
        eval_fn=[
            (lambda agent, seed=seed: evaluate(agent.act, PointMass, episodes=4, seed=seed))
            for seed in seeds
        ]
    )
    together = curve(
        eval_members=lambda agent: evaluate_members(agent.act, PointMass, seeds, episodes=4)
    )
    assert len(together) == 6  # 2 evaluations x 3 members
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5)
    batch = cls.batched(1, 1, 1.0, _configs(config))
    with pytest.raises(ValueError, match="returned 2 results for 3 member"):
        batch.train(buffers, 30, eval_every=30, progress=False,
                    eval_members=lambda agent: [EvalResult(np.zeros(1), np.ones(1))] * 2)  # fmt: skip


def test_a_single_agent_takes_eval_members_too(point_mass_data):
    agent = TD3BC(1, 1, 1.0, TD3BCConfig(**SMALL))
    rows = agent.train(ReplayBuffer(point_mass_data[0]), 20, eval_every=20, log_every=20,
                       progress=False,
                       eval_members=lambda a: evaluate_members(a.act, PointMass, [5], episodes=2))  # fmt: skip
    alone = evaluate(agent.act, PointMass, episodes=2, seed=5)
    assert rows[-1]["eval_return_mean"] == pytest.approx(alone.mean, rel=1e-5)
