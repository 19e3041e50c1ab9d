import numpy as np
import pytest
import torch
from offline_agents import ReplayBuffer, Transitions


def make(n: int, obs_dim: int = 3, act_dim: int = 2, tag: float = 0.0) -> Transitions:
    """Transitions whose reward column holds ``tag`` and whose obs encode the row index."""
    idx = np.arange(n, dtype=np.float32)
    obs = np.repeat(idx[:, None], obs_dim, 1)
    return Transitions(
        observations=obs,
        actions=np.full((n, act_dim), 0.5, np.float32),
        rewards=np.full(n, tag, np.float32),
        next_observations=obs + 1,
        terminals=(idx % 7 == 0),
    )


def test_rows_stay_aligned_after_sampling():
    buf = ReplayBuffer(make(1000))
    b = buf.sample(512, torch.Generator().manual_seed(0))
    assert buf.data.dtype == torch.float32 and buf.data.shape == (1000, 2 * 3 + 2 + 2)
    i = b.observations[:, 0]
    assert torch.equal(b.next_observations[:, 0], i + 1)
    assert torch.equal(b.terminals, (i % 7 == 0).float())
    assert torch.equal(b.states, torch.cat([b.observations, b.next_observations], 1))
    assert torch.all(b.actions == 0.5)


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_ratio_mode_draws_exactly_the_set_fraction(ratio):
    buf = ReplayBuffer(make(300, tag=0.0), make(5000, tag=1.0), synthetic_ratio=ratio)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        n_syn = int(buf.sample(256, g).rewards.sum())
        assert n_syn == round(ratio * 256)


def test_all_together_mode_is_uniform_over_the_union():
    buf = ReplayBuffer(make(1000, tag=0.0), make(3000, tag=1.0), synthetic_ratio=None)
    g = torch.Generator().manual_seed(2)
    frac = np.mean([buf.sample(256, g).rewards.mean().item() for _ in range(200)])
    assert abs(frac - 0.75) < 0.01  # 51,200 draws: std of the fraction ≈ 0.002
    rows = torch.cat([buf.sample(4096, g).observations[:, 0] for _ in range(20)])
    assert rows.max() > 2900 and rows.min() < 50  # both sources, whole index range


def test_state_stats_use_real_data_only():
    real, syn = make(100), make(100)
    syn = Transitions(
        syn.observations + 1000, syn.actions, syn.rewards, syn.next_observations, syn.terminals
    )
    mean, std = ReplayBuffer(real, syn, 0.5).state_stats(eps=1e-3)
    np.testing.assert_allclose(mean, 49.5, rtol=1e-6)
    np.testing.assert_allclose(std, np.arange(100).std() + 1e-3, rtol=1e-5)


def test_bad_transitions_are_rejected():
    good = make(10)
    with pytest.raises(ValueError, match="rewards has shape"):
        Transitions(good.observations, good.actions, np.zeros(9), good.next_observations,
                    good.terminals)  # fmt: skip
    with pytest.raises(ValueError, match="2-D"):
        Transitions(good.observations[:, 0], good.actions, good.rewards,
                    good.next_observations, good.terminals)  # fmt: skip
    bad_obs = good.observations.copy()
    bad_obs[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Transitions(bad_obs, good.actions, good.rewards, good.next_observations, good.terminals)
    with pytest.raises(ValueError, match="terminals must be bool or 0/1"):
        Transitions(good.observations, good.actions, good.rewards, good.next_observations,
                    np.full(10, 0.5))  # fmt: skip
    with pytest.raises(ValueError, match="empty"):
        make(0)


def test_bad_buffer_arguments_are_rejected():
    with pytest.raises(ValueError, match=r"synthetic_ratio must lie in \[0, 1\]"):
        ReplayBuffer(make(10), make(10), synthetic_ratio=1.5)
    with pytest.raises(ValueError, match="needs synthetic transitions"):
        ReplayBuffer(make(10), None, synthetic_ratio=0.5)
    with pytest.raises(ValueError, match="same task"):
        ReplayBuffer(make(10), make(10, obs_dim=4), synthetic_ratio=0.5)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        ReplayBuffer(make(10)).sample(0)
