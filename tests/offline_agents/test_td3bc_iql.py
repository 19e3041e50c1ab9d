import csv

import numpy as np
import pytest
import torch
from offline_agents import (
    IQL,
    TD3BC,
    IQLConfig,
    ReplayBuffer,
    TD3BCConfig,
    Transitions,
    evaluate,
    locomotion_reward_scale,
)
from point_mass import PointMass

FAST = {"hidden": (64, 64), "discount": 0.8}
TD3_FAST = TD3BCConfig(actor_lr=1e-3, critic_lr=1e-3, **FAST)
IQL_FAST = IQLConfig(actor_lr=1e-3, q_lr=1e-3, value_lr=1e-3, **FAST)


@pytest.mark.parametrize(
    "agent_cls, config",
    [
        (TD3BC, TD3_FAST),
        (IQL, IQL_FAST),
        (TD3BC, TD3BCConfig(**{**TD3_FAST.__dict__, "matmul_dtype": "bfloat16"})),
    ],
    ids=["td3bc", "iql", "td3bc-bf16"],
)
def test_agent_beats_the_data_it_learned_from(agent_cls, config, point_mass_data):
    data, data_return = point_mass_data  # random actions: ≈ −20.9; optimum ≈ −3
    agent = agent_cls(1, 1, 1.0, config)
    agent.train(ReplayBuffer(data), 500, progress=False)
    result = evaluate(agent.act, PointMass, episodes=20, seed=100)
    assert result.mean > data_return + 5.0, (result.mean, data_return)


def test_td3bc_with_alpha_zero_is_behaviour_cloning():
    """λ = α/mean|Q| weighs the Q term: α → 0 leaves pure BC (the paper's Eq. 3)."""
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (2000, 2)).astype(np.float32)
    act = (0.6 * np.sin(2 * obs[:, :1]) * obs[:, 1:]).astype(np.float32)  # the behaviour
    # Rewards favour a = +1 everywhere, which RL (α > 0) would chase.
    rew = act[:, 0].copy()
    data = Transitions(obs, act, rew, obs[rng.permutation(2000)], np.zeros(2000, bool))
    buf = ReplayBuffer(data)
    probe = rng.uniform(-1, 1, (500, 2)).astype(np.float32)
    target = 0.6 * np.sin(2 * probe[:, :1]) * probe[:, 1:]
    errors = {}
    for alpha in (0.0, 20.0):
        agent = TD3BC(2, 1, 1.0, TD3BCConfig(alpha=alpha, **{**FAST, "hidden": (64, 64)}))
        agent.train(buf, 600, progress=False)
        errors[alpha] = float(np.mean((agent.act(probe) - target) ** 2))
    assert errors[0.0] < 2e-3, errors  # clones the behaviour closely
    assert errors[20.0] > 10 * errors[0.0], errors  # the Q term pulls away from it


@pytest.mark.parametrize("agent_cls", [TD3BC, IQL])
@pytest.mark.parametrize("terminal, expected", [(True, 1.0), (False, 2.0)])
def test_bootstraps_through_truncations_not_terminations(agent_cls, terminal, expected):
    """Reward 1 every step, γ = 0.5: Q = 1 if the step terminates, 1/(1−γ) = 2 if not."""
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (512, 2)).astype(np.float32)
    act = np.zeros((512, 1), np.float32)
    nxt = rng.uniform(-1, 1, (512, 2)).astype(np.float32)
    data = Transitions(obs, act, np.ones(512, np.float32), nxt, np.full(512, terminal))
    cfg = agent_cls.config_cls(hidden=(32, 32), discount=0.5, tau=0.05, seed=1)
    cfg = type(cfg)(**{**cfg.__dict__, **{k: 3e-3 for k in cfg.__dict__ if k.endswith("lr")}})
    agent = agent_cls(2, 1, 1.0, cfg)
    agent.train(ReplayBuffer(data), 600, progress=False)
    with torch.no_grad():
        s = (torch.from_numpy(obs) - agent.obs_mean) / agent.obs_std
        q = agent.critic(torch.cat([s, torch.from_numpy(act)], 1)).mean().item()
    assert abs(q - expected) < 0.15, q


def _params(agent):
    return {k: v for k, v in agent._tensors().items()}


@pytest.mark.parametrize("agent_cls", [TD3BC, IQL])
def test_resume_after_interrupt_is_bit_identical(agent_cls, point_mass_data, tmp_path):
    buf = ReplayBuffer(point_mass_data[0])
    cfg = agent_cls.config_cls(hidden=(16, 16), batch_size=32)
    straight = agent_cls(1, 1, 1.0, cfg)
    straight_rows = straight.train(buf, 40, log_every=5, progress=False)

    def crash_at_25(agent):
        raise KeyboardInterrupt

    first = agent_cls(1, 1, 1.0, cfg)
    log = tmp_path / "curve.csv"
    with pytest.raises(KeyboardInterrupt):
        first.train(buf, 40, log_every=5, checkpoint_dir=tmp_path, checkpoint_every=10,
                    eval_fn=crash_at_25, eval_every=25, log_csv=log, progress=False)  # fmt: skip
    resumed = agent_cls(1, 1, 1.0, cfg)
    resumed.train(buf, 40, log_every=5, checkpoint_dir=tmp_path, log_csv=log, progress=False)
    assert resumed.step == 40
    a, b = _params(straight), _params(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with log.open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(5, 45, 5))  # no duplicates after 20
    for mine, ref in zip(rows, straight_rows, strict=True):
        for name in agent_cls.loss_names:
            assert float(mine[name]) == pytest.approx(ref[name], rel=1e-6)


@pytest.mark.parametrize("agent_cls", [TD3BC, IQL])
def test_save_load_round_trip(agent_cls, point_mass_data, tmp_path):
    agent = agent_cls(1, 1, 0.7, agent_cls.config_cls(hidden=(16, 16), batch_size=32))
    agent.train(ReplayBuffer(point_mass_data[0]), 20, progress=False)
    agent.save(tmp_path)
    loaded = agent_cls.load(tmp_path)
    obs = np.linspace(-2, 2, 9, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(loaded.act(obs), agent.act(obs))
    assert loaded.step == 20 and loaded.config == agent.config
    assert np.all(np.abs(loaded.act(obs)) <= 0.7)
    assert loaded.act(obs[0]).shape == (1,)


def test_bad_agent_inputs_are_rejected(point_mass_data, tmp_path):
    with pytest.raises(ValueError, match="expectile"):
        IQLConfig(expectile=1.5)
    with pytest.raises(ValueError, match="matmul_dtype"):
        IQLConfig(matmul_dtype="float16")
    with pytest.raises(ValueError, match="tau"):
        TD3BCConfig(tau=0.0)
    with pytest.raises(ValueError, match="max_action"):
        TD3BC(1, 1, max_action=0.0)
    with pytest.raises(ValueError, match="needs a TD3BCConfig"):
        TD3BC(1, 1, 1.0, IQLConfig())
    agent = TD3BC(2, 1)
    with pytest.raises(ValueError, match="buffer has obs/act dims"):
        agent.train(ReplayBuffer(point_mass_data[0]), 10, progress=False)
    with pytest.raises(ValueError, match="act expects"):
        agent.act(np.zeros(3))
    with pytest.raises(FileNotFoundError, match=r"agent\.save"):
        TD3BC.load(tmp_path / "missing")
    small = TD3BC(1, 1, 1.0, TD3BCConfig(hidden=(8,), batch_size=8))
    small.train(ReplayBuffer(point_mass_data[0]), 10, checkpoint_dir=tmp_path, progress=False)
    other = TD3BC(1, 1, 1.0, TD3BCConfig(hidden=(8,), batch_size=8, alpha=1.0))
    with pytest.raises(ValueError, match="different config"):
        other.train(ReplayBuffer(point_mass_data[0]), 20, checkpoint_dir=tmp_path)


def test_locomotion_reward_scale():
    assert locomotion_reward_scale(np.array([100.0, 600.0, 350.0])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="two episodes"):
        locomotion_reward_scale(np.array([5.0, 5.0]))


def test_on_log_receives_every_row_as_it_is_written(point_mass_data, tmp_path):
    buf = ReplayBuffer(point_mass_data[0])
    agent = TD3BC(1, 1, 1.0, TD3BCConfig(hidden=(16, 16), batch_size=32))
    seen: list[dict] = []
    rows = agent.train(buf, 30, log_every=10, log_csv=tmp_path / "c.csv", progress=False,
                       on_log=seen.append)  # fmt: skip
    assert seen == rows and [r["step"] for r in seen] == [10, 20, 30]
    assert "critic_loss" in seen[0]
