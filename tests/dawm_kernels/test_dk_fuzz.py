"""Hypothesis throws random shapes, dtypes, NaN/inf, non-contiguous and zero-size arrays and
odd seeds at the Python face: every call either returns well-formed outputs or raises a
ValueError naming the problem; nothing reaches the C++ that could crash it."""

from __future__ import annotations

import dawm_kernels as dk
import numpy as np
import pytest
from dk_reference import Case, make_models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

CASE = Case(obs=3, act=2, length=3, dim=8, dim_mults=(1, 2))
DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.bool_, np.complex64]


@pytest.fixture(scope="module")
def engine():
    wm, idm = make_models(CASE)
    return dk.Engine.from_exports(wm.export(CASE.sampling), idm.export(), threads=1, tile=3)


@st.composite
def arrays(draw, good_shape: tuple[int, ...]):
    """Mostly-valid arrays for one argument, with one kind of damage drawn at random."""
    damage = draw(st.sampled_from(["none", "shape", "dtype", "nonfinite", "strided", "empty"]))
    shape = good_shape
    dtype = np.float32
    if damage == "shape":
        shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
    elif damage == "dtype":
        dtype = draw(st.sampled_from(DTYPES))
    elif damage == "empty":
        shape = tuple(0 if i == 0 else s for i, s in enumerate(good_shape))
    arr = draw(
        hnp.arrays(
            dtype,
            shape,
            elements=hnp.from_dtype(np.dtype(dtype), allow_nan=False, allow_infinity=False)
            if dtype != np.float32
            else st.floats(-3, 3, width=32),
        )
    )
    if damage == "nonfinite" and arr.size:
        arr = arr.copy()
        arr.flat[draw(st.integers(0, arr.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf])
        )
    if damage == "strided" and arr.ndim >= 1:
        arr = np.repeat(arr, 2, axis=-1)[..., ::2]
    return arr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), batch=st.integers(0, 4))
def test_random_inputs_give_outputs_or_value_errors(engine, data, batch) -> None:
    obs, act, L = CASE.obs, CASE.act, CASE.length
    H = L - 1  # generated steps: token 0 is s_t
    states = data.draw(arrays((batch, obs)), label="states")
    actions = data.draw(arrays((batch, act)), label="actions")
    rtg = data.draw(arrays((batch, 1)), label="rtg")
    use_noise = data.draw(st.booleans(), label="use_noise")
    noise = data.draw(arrays((batch, L, obs + 1)), label="noise") if use_noise else None
    seed = data.draw(
        st.one_of(st.integers(-5, 2**64 + 5), st.floats(), st.none(), st.just(True)), label="seed"
    )
    try:
        s, r, a = engine.generate(states, actions, rtg, seed, noise=noise)
    except ValueError as err:
        assert str(err)
        return
    n = states.shape[0]
    assert s.shape == (n, H, obs) and r.shape == (n, H) and a.shape == (n, H, act)
    assert np.isfinite(s).all() and np.isfinite(r).all() and np.isfinite(a).all()


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(-3, 3), seed=st.integers(0, 2**64 - 1))
def test_initial_noise_checks_its_arguments(engine, batch, seed) -> None:
    if batch < 0:
        with pytest.raises(ValueError, match="batch"):
            engine.initial_noise(batch, seed)
    else:
        assert engine.initial_noise(batch, seed).shape == (batch, CASE.length, CASE.obs + 1)
