"""Generation bookkeeping: IDM windows over generated states, transitions, termination cut."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from dawm_pipeline.generate import (
    Rollouts,
    at_action_bound,
    idm_windows,
    initial_noise,
    to_transitions,
    torch_generate,
)
from dawm_pipeline.sequences import TokenLayout
from dawm_pipeline.stages.generate import step_zero_falls, without_at_bound
from dawm_pipeline.stages.train_agent import select_steps
from dawm_pipeline.tasks import robot
from diffusion_wm import SamplingConfig


def test_idm_windows_reach_back_into_s_t_and_repeat_it():
    b, h, d, m = 2, 4, 1, 2
    start = np.array([[0.0], [100.0]])
    states = start[:, None] + np.arange(1, h + 1)[None, :, None]  # ŝ_{t+j} = s_t + j
    w = idm_windows(start, states, m)
    assert w.shape == (b, h - 1, m + 2, d)
    # step i = 1: [s_{t-1}, s_t, ŝ_{t+1}, ŝ_{t+2}] with s_{t-1} padded by s_t
    np.testing.assert_array_equal(w[0, 0, :, 0], [0, 0, 1, 2])
    # step i = 3: [ŝ_{t+1}, ŝ_{t+2}, ŝ_{t+3}, ŝ_{t+4}]
    np.testing.assert_array_equal(w[1, 2, :, 0], [101, 102, 103, 104])


def test_transitions_chain_and_stop_after_first_terminal():
    h = 3
    start = np.array([[1.3] + [0.0] * 10, [1.3] + [0.0] * 10], np.float32)
    states = np.repeat(start[:, None], h, axis=1).copy()
    states[0, 1, 0] = 0.5  # rollout 0 falls at step 1 (ŝ_{t+2} unhealthy)
    states[:, :, 2] = np.arange(h)  # mark tokens to check the chaining
    rewards = np.arange(2 * h, dtype=np.float32).reshape(2, h)
    actions = np.zeros((2, h, 3), np.float32)
    actions[:, 0, 0] = 1.0  # a real a_t at the bound is never flagged
    actions[1, 2, 1] = -1.0  # an inferred one is
    ones = np.ones(3, np.float32)
    out = to_transitions(
        robot("hopper"),
        start,
        Rollouts(states, rewards, actions),
        np.array([0.5, 0.7]),
        -ones,
        ones,
    )
    # rollout 0 keeps steps 0, 1 (1 is terminal), rollout 1 keeps all 3
    assert len(out["rewards"]) == 5
    assert out["terminals"].tolist() == [False, True, False, False, False]
    assert out["step"].tolist() == [0, 1, 0, 1, 2]
    np.testing.assert_array_equal(out["observations"][1], out["next_observations"][0])
    np.testing.assert_array_equal(out["observations"][0], start[0])
    assert out["rewards"].tolist() == [0, 1, 3, 4, 5]
    np.testing.assert_allclose(out["guide"], [0.5, 0.5, 0.7, 0.7, 0.7])
    assert out["at_bound"].tolist() == [False, False, False, False, True]


def test_at_action_bound_is_per_row_within_a_tolerance_of_the_box():
    low, high = np.array([-1.0, 0.0]), np.array([1.0, 4.0])
    actions = np.array(
        [[0.9995, 2.0], [0.0, 3.997], [0.99, 0.01], [-2.0, 1.0], [0.0, 2.0], [0.0, 3.995]]
    )
    # the tolerance is 0.1% of each dimension's width: 0.002 on [-1, 1], 0.004 on [0, 4]
    expected = [True, True, False, True, False, False]
    assert at_action_bound(actions, low, high).tolist() == expected


def test_noise_is_a_function_of_seed_and_chunk():
    a = initial_noise(3, 1, 4, 5, 6)
    np.testing.assert_array_equal(a, initial_noise(3, 1, 4, 5, 6))
    assert not np.allclose(a, initial_noise(3, 2, 4, 5, 6))


class _FakeWM:
    """Records what it is asked and returns the inpainted values plus a constant."""

    def sample(self, context, guide, noise, inpaint, sampling):
        mask, values = inpaint
        self.args = (context, guide, noise, mask, sampling)
        return np.where(mask, values, 0.5).astype(np.float32)


class _LinearIDM:
    config = SimpleNamespace(history=1)

    def predict(self, windows):
        return torch.as_tensor(windows[:, -1, :3] - windows[:, -2, :3]).numpy()


@pytest.mark.parametrize("action_tokens", [False, True])
def test_torch_generate_wires_context_inpaint_and_idm(action_tokens):
    b, h, od, ad = 3, 4, 11, 3
    layout = TokenLayout(od, ad, action_tokens)
    states = np.random.default_rng(0).normal(size=(b, od)).astype(np.float32)
    actions = np.ones((b, ad), np.float32)
    wm = _FakeWM()
    sampling = SamplingConfig(steps=2, guidance=1.5)
    noise = np.zeros((b, h + 1, layout.x_dim))
    out = torch_generate(
        wm, _LinearIDM(), states, actions, np.zeros((b, 1)), noise, sampling, layout
    )
    context, _, _, mask, given = wm.args
    assert given is sampling  # sampling settings come from the caller, not the model
    np.testing.assert_array_equal(context, np.concatenate([states, actions], 1))
    assert mask[0].all() and not mask[1:].any()
    assert mask.shape == (h + 1, od + 1 + (ad if action_tokens else 0))
    np.testing.assert_array_equal(out.rewards, 0.5)  # read from the layout's reward column
    assert out.states.shape == (b, h, od) and np.all(out.states == 0.5)
    np.testing.assert_array_equal(out.actions[:, 0], actions)  # â_t is the real a_t
    np.testing.assert_array_equal(out.actions[:, 1:], 0.0)  # IDM(ŝ_{t+i}, ŝ_{t+i+1}) = 0.5 - 0.5


def test_without_at_bound_drops_only_flagged_rows_and_counts_them():
    synthetic = {
        "rewards": np.arange(5, dtype=np.float32),
        "at_bound": np.array([False, True, False, True, False]),
    }
    kept, dropped = without_at_bound(synthetic)
    assert dropped == 2
    assert kept["rewards"].tolist() == [0, 2, 4]
    assert not kept["at_bound"].any()


def test_select_steps_keeps_the_first_step_or_the_inferred_ones():
    synthetic = {"step": np.array([0, 1, 2, 0, 1]), "rewards": np.arange(5.0)}
    assert select_steps(synthetic, "all") is synthetic
    assert select_steps(synthetic, "first")["rewards"].tolist() == [0, 3]
    assert select_steps(synthetic, "inferred")["rewards"].tolist() == [1, 2, 4]
    assert select_steps({}, "first") == {}
    with pytest.raises(ValueError, match="synthetic_steps"):
        select_steps(synthetic, "step0")


def test_with_dynamics_keeps_the_models_transitions_unless_told_and_refuses_typos():
    from types import SimpleNamespace

    from dawm_pipeline.stages.train_agent import with_dynamics

    synthetic = {"rewards": np.arange(3.0)}
    cfg = lambda which: SimpleNamespace(agent=SimpleNamespace(synthetic_dynamics=which))  # noqa: E731
    assert with_dynamics(cfg("model"), synthetic) is synthetic
    with pytest.raises(ValueError, match="must be one of model, simulator, simulator-replayable"):
        with_dynamics(cfg("mujoco"), synthetic)


def test_the_idm_at_bound_yardstick_on_real_windows():
    """The like-for-like rate: the IDM's clipped mean on real windows, beside the recorded."""
    from types import SimpleNamespace

    from dawm_pipeline.stages.train_idm import at_bound_rates

    class ClippedIDM:
        def predict(self, windows):
            return np.clip(windows[:, :2] * 2.0, -1.0, 1.0)  # overshoots, then clipped

    recorded = np.array([[0.99, 0.0], [0.2, 0.1], [-0.7, 0.3], [0.1, -0.98]])
    info = SimpleNamespace(action_low=np.full(2, -1.0), action_high=np.full(2, 1.0))
    rates = at_bound_rates(ClippedIDM(), recorded, recorded, info)
    assert rates == {"idm_at_bound_real": 0.75, "recorded_at_bound_heldout": 0.0}


def test_step_zero_falls_counts_missed_and_false_falls_against_the_real_steps():
    # rows 1 and 3 end their episodes in a termination; the health check reads x < 0 as fallen
    # and misses row 3's (its recorded flag and the check disagree there)
    data = SimpleNamespace(
        terminals=np.array([False, True, False, True]),
        next_observations=np.array([[1.0], [-1.0], [1.0], [1.0]]),
    )
    robot_stub = SimpleNamespace(terminal_flags=lambda s: np.asarray(s)[..., 0] < 0)
    starts = np.array([1, 0, 3, 2, 1])
    # rollout 0 (a real fall) misses it at step 0 and goes on 2 more steps; rollout 1 runs 2
    # steps; rollout 2 falls where the real one did; rollout 3 falls where the real one did
    # not; rollout 4 falls as the real one did
    synthetic = {
        "step": np.array([0, 1, 2, 0, 1, 0, 0, 0]),
        "terminals": np.array([False, False, False, False, False, True, True, True]),
    }
    out = step_zero_falls(robot_stub, data, starts, synthetic)
    assert out["fall_starts"] == 3
    assert out["fall_recall_step0"] == pytest.approx(2 / 3)
    assert out["false_fall_step0"] == pytest.approx(1 / 2)
    assert out["steps_after_missed_fall"] == 2
    # the yardstick: the check on the real next states finds 2 of the 3 falls, no false one
    assert out["real_fall_recall"] == pytest.approx(2 / 3) and out["real_false_fall"] == 0.0
    # data without terminations give only the count; a rollout without its step 0 is refused
    calm = SimpleNamespace(terminals=np.zeros(4, bool), next_observations=np.ones((4, 1)))
    assert step_zero_falls(robot_stub, calm, starts, synthetic) == {"fall_starts": 0}
    with pytest.raises(ValueError, match="5 rollouts in the synthetic data for 4 starts"):
        step_zero_falls(robot_stub, data, starts[:4], synthetic)


def test_rollout_starts_cover_the_target_and_repeat_rows_only_when_they_must():
    from dawm_pipeline.stages.generate import rollout_starts, target_transitions

    def cfg(ratio, cap):
        return SimpleNamespace(
            synthetic_ratio=ratio, horizon=7, model_seed=3,
            gen=SimpleNamespace(max_transitions=cap),
        )  # fmt: skip

    few = rollout_starts(cfg(1.0, None), 700)  # 700 transitions: 100 rollouts of 7
    assert target_transitions(cfg(1.0, None), 700) == 700 and len(few) == 100
    assert len(set(few.tolist())) == 100 and few.min() >= 0 and few.max() < 700
    assert np.array_equal(few, rollout_starts(cfg(1.0, None), 700))  # seeded: the same rows
    capped = rollout_starts(cfg(8.0, 350), 100)  # 800 wanted, capped at 350: 50 rollouts
    assert target_transitions(cfg(8.0, 350), 100) == 350 and len(set(capped.tolist())) == 50
    more = rollout_starts(cfg(30.0, None), 100)  # 3,000 transitions: 429 rollouts, rows repeat
    assert len(more) == 429 and len(set(more.tolist())) <= 100
