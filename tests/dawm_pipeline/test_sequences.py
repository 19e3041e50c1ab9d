"""Windows, returns-to-go and the DAWM x layout (docs/engine_contract.md)."""

import numpy as np
import pytest
from dawm_pipeline.data import DatasetInfo, OfflineDataset
from dawm_pipeline.sequences import (
    TokenLayout,
    build_conditions,
    episode_ends,
    returns_to_go,
    window_starts,
)


def _toy(lengths=(5, 3, 6), obs_dim=2, act_dim=1):
    """Episodes whose state i of episode e is (e, i): easy to check where a window reads."""
    obs, nxt, act, rew, term, tout = [], [], [], [], [], []
    for e, n in enumerate(lengths):
        for i in range(n):
            obs.append([e, i])
            nxt.append([e, i + 1])
            act.append([10 * e + i])
            rew.append(100 * e + i)
            term.append(i == n - 1 and e == 0)
            tout.append(i == n - 1 and e != 0)
    arr = lambda a, t=np.float32: np.asarray(a, t)  # noqa: E731
    info = DatasetInfo("toy", "d4rl", "toy.hdf5", "Hopper-v5", -np.ones(1), np.ones(1), 0.0, 1.0)
    return OfflineDataset(
        observations=arr(obs),
        actions=arr(act),
        rewards=arr(rew),
        next_observations=arr(nxt),
        terminals=arr(term, bool),
        timeouts=arr(tout, bool),
        episode_lengths=np.asarray(lengths, np.int64),
        info=info,
    )


def test_episode_bounds_and_states():
    data = _toy()
    assert data.bounds.tolist() == [[0, 5], [5, 8], [8, 14]]
    states = data.episode_states()
    assert [len(s) for s in states] == [6, 4, 7]  # T + 1 states per episode
    assert states[1][-1].tolist() == [1, 3]  # the final next state closes the episode


def test_returns_to_go_discounted_within_episode():
    data = _toy()
    rtg = returns_to_go(data.rewards, data.bounds, 0.5)
    # Episode 1 rewards 100, 101, 102: rtg = 100 + .5*101 + .25*102, 101 + .5*102, 102.
    np.testing.assert_allclose(rtg[5:8], [100 + 50.5 + 25.5, 101 + 51, 102], rtol=1e-6)
    assert rtg[4] == pytest.approx(4.0)  # last step of episode 0 sees only its own reward


def test_windows_stay_inside_episodes_and_follow_the_layout():
    data = _toy()
    h = 3
    starts = window_starts(data.bounds, h)
    # Episode 0 (5 steps): t = 0, 1, 2; episode 1 (3 steps): t = 5; episode 2 (6 steps): 8..11.
    assert starts.tolist() == [0, 1, 2, 5, 8, 9, 10, 11]
    x = TokenLayout(2, 1).build_x(data, starts, h)
    assert x.shape == (8, h + 1, 3)
    for row, t in enumerate(starts):
        e, i = data.observations[t]
        # token j holds s_{t+j} and r_{t+j-1}; token 0 is [s_t, 0]
        np.testing.assert_array_equal(x[row, :, :2], [[e, i + j] for j in range(h + 1)])
        assert x[row, 0, 2] == 0
        np.testing.assert_array_equal(x[row, 1:, 2], [100 * e + i + j for j in range(h)])
    rtg = returns_to_go(data.rewards, data.bounds, 0.99)
    context, guide = build_conditions(data, starts, rtg, rtg_scale=400.0)
    np.testing.assert_array_equal(context[:, :2], data.observations[starts])
    np.testing.assert_array_equal(context[:, 2:], data.actions[starts])
    np.testing.assert_allclose(guide[:, 0], rtg[starts] / 400.0)


def test_absorbing_windows_run_past_a_termination_but_not_past_a_timeout():
    data = _toy()  # episode 0 ends in a termination, episodes 1 and 2 in timeouts
    h = 3
    bounds = data.bounds
    absorbing = data.terminals[bounds[:, 1] - 1]
    assert absorbing.tolist() == [True, False, False]
    starts = window_starts(bounds, h, absorbing)
    # every row of episode 0 starts a window (3 and 4 are new); the others as before
    assert starts.tolist() == [0, 1, 2, 3, 4, 5, 8, 9, 10, 11]
    ends = episode_ends(bounds, starts)
    assert ends.tolist() == [5, 5, 5, 5, 5, 8, 14, 14, 14, 14]
    x = TokenLayout(2, 1).build_x(data, starts, h, ends)
    # start 3: s_3, then s_4 (r_3), s_5 = the fallen state (r_4), then s_5 again with reward 0
    assert x[3, :, :2].tolist() == [[0, 3], [0, 4], [0, 5], [0, 5]]
    assert x[3, 1:, 2].tolist() == [3, 4, 0]
    assert x[4, :, :2].tolist() == [[0, 4], [0, 5], [0, 5], [0, 5]]
    assert x[4, 1:, 2].tolist() == [4, 0, 0]
    # windows inside their episode read exactly what they read without `ends`
    inside = [0, 1, 2, 5, 6, 7, 8, 9]
    plain = TokenLayout(2, 1).build_x(data, starts[inside], h)
    assert np.array_equal(x[inside], plain)
    # action tokens past the end hold action 0
    xa = TokenLayout(2, 1, actions=True).build_x(data, starts[:5], h, ends[:5])
    assert xa[4, :, 2].tolist() == [4, 0, 0, 0]


def test_action_tokens_carry_each_states_action_and_need_one_more_row():
    data = _toy()
    layout, h = TokenLayout(2, 1, actions=True), 3
    assert (layout.x_dim, layout.action_col, layout.reward_col) == (4, 2, 3)
    starts = window_starts(data.bounds, layout.rows_needed(h))
    # a_{t+H} must exist too: episode 1 (3 steps) has no window, episode 0 stops at t = 1.
    assert starts.tolist() == [0, 1, 8, 9, 10]
    x = layout.build_x(data, starts, h)
    for row, t in enumerate(starts):
        e, i = data.observations[t]
        np.testing.assert_array_equal(x[row, :, 2], [10 * e + i + j for j in range(h + 1)])
        np.testing.assert_array_equal(x[row, 1:, 3], [100 * e + i + j for j in range(h)])
    mask, values = layout.inpaint(data.observations[starts], data.actions[starts], h + 1)
    assert mask.shape == (h + 1, 4) and mask[0].all() and not mask[1:].any()
    np.testing.assert_array_equal(values[:, 0], x[:, 0])  # [s_t, a_t, 0]


def test_select_and_mask():
    data = _toy()
    sub = data.select(np.array([2, 0]))
    assert sub.bounds.tolist() == [[0, 6], [6, 11]]
    assert sub.observations[0].tolist() == [2, 0] and sub.observations[6].tolist() == [0, 0]
    mask, values = TokenLayout(2, 1).inpaint(sub.observations[:2], sub.actions[:2], 4)
    assert mask.shape == (4, 3) and mask[0].all() and not mask[1:].any()
    np.testing.assert_array_equal(values[:, 0, :2], sub.observations[:2])


def test_the_world_model_stage_reads_absorbing_windows_only_when_asked():
    from types import SimpleNamespace

    from dawm_pipeline.stages.train_wm import windows

    data = _toy()

    def cfg(past_terminal):
        return SimpleNamespace(
            horizon=3, gamma=0.9, rtg_scale=1.0, wm=SimpleNamespace(past_terminal=past_terminal),
            token_layout=lambda o, a: TokenLayout(o, a),
        )  # fmt: skip

    x_drop = windows(cfg("drop"), data)[0]
    x, context, guide = windows(cfg("absorb"), data)
    assert len(x_drop) == 8 and len(x) == 10  # rows 3 and 4 of the terminated episode join
    assert context[:, :2].tolist()[3:5] == [[0, 3], [0, 4]]
    assert x[4, :, :2].tolist() == [[0, 4], [0, 5], [0, 5], [0, 5]]  # the fall, then absorbed
    assert x[4, 1:, 2].tolist() == [4, 0, 0]
    assert guide.shape == (10, 1)


def test_absorbing_windows_make_a_new_world_model_and_the_default_keeps_old_hashes():
    import dataclasses

    from dawm_pipeline.config import preset
    from dawm_pipeline.runs import config_hash
    from dawm_pipeline.stage_graph import stage_inputs, stage_settings

    cfg = dataclasses.replace(preset("bench"), env="hopper-medium-replay")
    assert "past_terminal" not in stage_settings(cfg, "train-wm")["wm"]  # as before the field
    absorb = dataclasses.replace(cfg, wm=dataclasses.replace(cfg.wm, past_terminal="absorb"))
    changed = {
        name
        for name in ("data", "train-wm", "train-idm", "generate", "train-agent")
        if config_hash(stage_inputs(cfg, name)) != config_hash(stage_inputs(absorb, name))
    }
    assert changed == {"train-wm", "generate", "train-agent"}
