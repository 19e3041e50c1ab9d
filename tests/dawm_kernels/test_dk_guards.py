"""Large batches and mismatched exports: batches run in short native calls that Ctrl-C can stop
between (with the results of one call), batches that cannot fit in memory are refused before
anything is allocated, and a U-Net and an IDM exported for different data are refused."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import dawm_kernels as dk
import numpy as np
import pytest
from dawm_kernels import engine as engine_mod
from dk_reference import Case, make_inputs, make_models
from inverse_dynamics import IDMConfig, InverseDynamicsModel

CASE = Case(length=4, dim=16)


@pytest.fixture(scope="module")
def models():
    return make_models(CASE)


@pytest.fixture(scope="module")
def exports(models):
    wm, idm = models
    return wm.export(CASE.sampling), idm.export()


class Calls:
    """Stands in for the native engine: counts the calls, runs them, then runs `after`."""

    def __init__(self, native: Any, after: Any = None) -> None:
        self.native, self.after, self.rows = native, after, []

    def run(self, *args: Any) -> None:
        self.rows.append(args[0])
        self.native.run(*args)
        if self.after is not None:
            self.after(len(self.rows))


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's own SIGINT handler (KeyboardInterrupt), whatever the test runner installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def args_of(batch: int) -> tuple[np.ndarray, ...]:
    inputs = make_inputs(CASE, batch=batch)
    return inputs["states"], inputs["actions"], inputs["rtg"]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_chunked_batch_equals_one_call(exports, device) -> None:
    if device == "cuda" and not dk.cuda_status()[0]:
        pytest.skip(dk.cuda_status()[1])
    args = args_of(23)
    noise = make_inputs(CASE, batch=23)["noise"]
    small = dk.Engine.from_exports(*exports, device=device, threads=2, tile=4, chunk=5)
    whole = dk.Engine.from_exports(*exports, device=device, threads=2, tile=4, chunk=23)
    for kwargs in ({"seed": 7}, {"noise": noise}):
        a, b = small.sample(*args, **kwargs), whole.sample(*args, **kwargs)
        for name in ("states", "rewards", "actions", "x"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        states, rewards, actions = small.generate(*args, **kwargs)  # the same, without x
        for got, want in ((states, a.states), (rewards, a.rewards), (actions, a.actions)):
            np.testing.assert_array_equal(got, want)


def test_default_chunk_bounds_the_work_of_a_call(exports, monkeypatch) -> None:
    engine = dk.Engine.from_exports(*exports, threads=2, tile=4)
    rows = engine.chunk_rows()
    assert rows == engine.chunk_rows(2)  # the engine's own thread count
    assert rows % 4 == 0 and rows >= 2 * 4
    assert engine.chunk_rows(1) <= rows  # fewer threads, less work per call
    # A wider U-Net costs more per row, so a call takes fewer of them.
    wide = Case(length=4, dim=64)
    wm, idm = make_models(wide)
    assert (
        dk.Engine.from_exports(wm.export(wide.sampling), idm.export(), tile=4).chunk_rows(2) < rows
    )
    calls = Calls(engine._cpu)
    monkeypatch.setattr(engine, "_cpu", calls)
    engine.generate(*args_of(2 * rows + 3), seed=1)
    assert calls.rows == [rows, rows, 3]


def test_ctrl_c_between_chunks_stops_the_batch(exports, monkeypatch, default_sigint) -> None:
    engine = dk.Engine.from_exports(*exports, threads=1, tile=4, chunk=4)
    args = args_of(20)
    want = engine.sample(*args, seed=3)

    def ctrl_c(calls: int) -> None:
        if calls == 1:
            signal.raise_signal(signal.SIGINT)

    calls = Calls(engine._cpu, ctrl_c)
    monkeypatch.setattr(engine, "_cpu", calls)
    with pytest.raises(KeyboardInterrupt):
        engine.sample(*args, seed=3)
    assert calls.rows == [4]  # no chunk ran after the interrupt
    # Nothing half-done stays behind: the engine gives the uninterrupted result again.
    monkeypatch.undo()
    again = engine.sample(*args, seed=3)
    np.testing.assert_array_equal(again.x, want.x)
    np.testing.assert_array_equal(again.actions, want.actions)


def test_sigint_during_a_long_batch_stops_it_within_a_second(exports, default_sigint) -> None:
    engine = dk.Engine.from_exports(*exports, threads=1)
    rows = engine.chunk_rows(1)
    batch = 100 * rows  # many seconds of work in one call
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.generate(*args_of(batch), seed=0)
        stopped = time.perf_counter()
    finally:
        timer.cancel()
    assert stopped - start < 0.3 + 2.0, "Ctrl-C took more than ~2 s to stop the batch"


def test_batch_too_large_for_memory_is_refused_before_allocating(exports, monkeypatch) -> None:
    engine = dk.Engine.from_exports(*exports, threads=1, tile=4)
    calls = Calls(engine._cpu)
    monkeypatch.setattr(engine, "_cpu", calls)
    monkeypatch.setattr(engine_mod, "available_memory", lambda: 2**20)
    args = args_of(10_000)
    with pytest.raises(ValueError, match=r"^batch of 10000 rows needs about [\d.]+ MiB") as err:
        engine.generate(*args)
    message = str(err.value)
    assert "\n" not in message and "1.0 MiB is available" in message
    assert "smaller batch or call in parts" in message
    assert calls.rows == []  # refused before any native call
    with pytest.raises(ValueError, match="batch of 100000 rows"):
        engine.initial_noise(100_000)
    # The suggested part size fits; without a known amount of memory nothing is checked.
    fits = int(re.search(r"at most (\d+) rows", message).group(1))
    assert 0 < fits < 10_000
    engine.generate(*(a[:fits] for a in args))
    monkeypatch.setattr(engine_mod, "available_memory", lambda: None)
    engine.generate(*args)


def test_available_memory_falls_back_to_sysconf_then_unknown(monkeypatch) -> None:
    real = engine_mod.available_memory()
    assert real is None or real > 0

    def no_file(*_: Any, **__: Any) -> Any:
        raise OSError("no /proc here")

    monkeypatch.setattr(engine_mod, "open", no_file, raising=False)
    pages = {"SC_AVPHYS_PAGES": 10, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(engine_mod.os, "sysconf", lambda name: pages[name])
    assert engine_mod.available_memory() == 40960

    def no_sysconf(name: str) -> int:
        raise ValueError(name)

    monkeypatch.setattr(engine_mod.os, "sysconf", no_sysconf)
    assert engine_mod.available_memory() is None


def other_idm(obs: int, act: int) -> tuple[dict, dict]:
    model = InverseDynamicsModel(
        IDMConfig(obs, act, history=1, hidden_sizes=(32, 32)), -np.ones(act), np.ones(act)
    )
    return model.export()


def test_idm_for_another_observation_space_is_refused(exports) -> None:
    with pytest.raises(ValueError, match=r"x_dim 6 != IDM obs_dim 4 \+ 1 reward column = 5"):
        dk.Engine.from_exports(exports[0], other_idm(CASE.obs - 1, CASE.act))


def test_idm_for_another_action_space_is_refused(exports) -> None:
    with pytest.raises(ValueError, match=r"context_dim 7 != IDM obs_dim 5 \+ act_dim 3 = 8"):
        dk.Engine.from_exports(exports[0], other_idm(CASE.obs, CASE.act + 1))


def test_action_token_layout_on_a_state_reward_model_is_refused(exports) -> None:
    layout = dk.Layout(action_col=CASE.obs, reward_col=CASE.obs + CASE.act)
    with pytest.raises(ValueError, match=r"x_dim 6 != IDM obs_dim 5 \+ act_dim 2 \+ 1 reward"):
        dk.Engine.from_exports(*exports, layout=layout)


def test_world_model_with_more_known_tokens_is_refused(exports) -> None:
    weights, config = exports[0]
    with pytest.raises(ValueError, match="inpaint_tokens=2 known leading tokens"):
        dk.Engine.from_exports((weights, {**config, "inpaint_tokens": 2}), exports[1])
