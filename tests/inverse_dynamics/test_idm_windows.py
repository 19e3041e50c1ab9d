import numpy as np
import pytest
from inverse_dynamics import episodes_from_arrays, make_windows


def _episode(start: float, steps: int, obs_dim: int = 2):
    obs = start + np.arange(steps + 1, dtype=np.float32)[:, None].repeat(obs_dim, 1)
    act = np.arange(steps, dtype=np.float32)[:, None]
    return obs, act


def test_windows_pad_with_first_state_and_never_cross_episodes():
    episodes = [_episode(0.0, 3), _episode(100.0, 2)]
    windows, actions = make_windows(episodes, history=2)
    assert windows.shape == (5, 4, 2) and actions.shape == (5, 1)
    # First step of episode 0: s_{-2}, s_{-1} padded with s_0.
    np.testing.assert_array_equal(windows[0, :, 0], [0, 0, 0, 1])
    np.testing.assert_array_equal(windows[2, :, 0], [0, 1, 2, 3])
    # First step of episode 1 sees only its own states.
    np.testing.assert_array_equal(windows[3, :, 0], [100, 100, 100, 101])
    np.testing.assert_array_equal(windows[4, :, 0], [100, 100, 101, 102])
    np.testing.assert_array_equal(actions[:, 0], [0, 1, 2, 0, 1])


def test_history_zero_is_plain_state_pairs():
    windows, _ = make_windows([_episode(5.0, 2)], history=0)
    np.testing.assert_array_equal(windows[:, :, 0], [[5, 6], [6, 7]])


def test_episodes_from_arrays_with_and_without_next_observations():
    obs = np.arange(5, dtype=np.float32)[:, None]
    act = np.arange(5, dtype=np.float32)[:, None] * 10
    ends = np.array([0, 1, 0, 0, 1], bool)
    eps = episodes_from_arrays(obs, act, ends, next_observations=obs + 0.5)
    assert [e[1].shape[0] for e in eps] == [2, 3]
    np.testing.assert_array_equal(eps[0][0][:, 0], [0, 1, 1.5])
    eps = episodes_from_arrays(obs, act, ends)
    assert [e[1].shape[0] for e in eps] == [1, 2]
    np.testing.assert_array_equal(eps[1][0][:, 0], [2, 3, 4])


@pytest.mark.parametrize(
    "episodes, message",
    [
        ([], "no episodes"),
        ([(np.zeros((3, 2)), np.zeros((3, 1)))], "final observation"),
        ([(np.full((3, 2), np.nan), np.zeros((2, 1)))], "NaN"),
        ([(np.zeros((1, 2)), np.zeros((0, 1)))], "empty"),
        ([(np.zeros((3, 2)), np.zeros((2, 1))), (np.zeros((3, 4)), np.zeros((2, 1)))], "dims"),
    ],
)
def test_bad_episodes_raise_clear_errors(episodes, message):
    with pytest.raises(ValueError, match=message):
        make_windows(episodes, history=1)
