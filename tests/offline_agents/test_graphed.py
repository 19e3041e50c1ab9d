"""train(cuda_graph=True): chunks of updates replayed as one CUDA graph equal eager updates.

On CPU the capture is replaced by running the chunk eagerly, which checks everything around
it: chunk boundaries against logs, evaluations and checkpoints, TD3+BC's policy delay inside
a chunk, IQL's learning rate read from a device tensor. On CUDA the real capture runs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from offline_agents import IQL, TD3BC, IQLConfig, ReplayBuffer, TD3BCConfig
from offline_agents import agent as agent_module
from offline_agents.evaluation import EvalResult

SMALL = {"hidden": (32, 32), "batch_size": 64}
CASES = {
    "td3bc": (TD3BC, TD3BCConfig(**SMALL)),
    "td3bc-delay-3": (TD3BC, TD3BCConfig(policy_freq=3, **SMALL)),
    "iql": (IQL, IQLConfig(**SMALL)),
}
SEEDS = (0, 5)
ATOL, RTOL = 1e-5, 1e-4  # graph replay may pick other kernels than eager: float rounding


class EagerChunks:
    """Stands in for UpdateGraph on CPU: the same calls, run eagerly, counted. A replay runs
    no Python, so a chunk must leave the agent's Python state (its step) as it found it."""

    runs = 0
    agent = None

    def __init__(self, chunk, generators, before, device) -> None:
        self.chunk, self.before = chunk, before  # generators: only a real capture needs them

    def run(self) -> None:
        type(self).runs += 1
        step = self.agent.step
        self.before()
        self.chunk()
        assert self.agent.step == step, "the chunk moved the agent's step: a replay would not"


def _train(cls, config, device, buffers, steps, graph, **kw):
    agent = cls.batched(1, 1, 1.0, [dataclasses.replace(config, seed=s) for s in SEEDS], device)
    EagerChunks.agent = agent
    rows = agent.train(buffers, steps, progress=False, cuda_graph=graph, **kw)
    return agent, rows


def _assert_close(a, b) -> None:
    ta, tb = a._tensors(), b._tensors()
    for key in ta:
        torch.testing.assert_close(ta[key], tb[key], atol=ATOL, rtol=RTOL, msg=key)
    assert a.step == b.step


def _buffers(point_mass_data, device) -> list[ReplayBuffer]:
    real = point_mass_data[0]
    return [ReplayBuffer(real, device=device) for _ in SEEDS]


@pytest.mark.parametrize("case", CASES)
def test_chunked_loop_matches_the_plain_loop(case, point_mass_data, monkeypatch):
    cls, config = CASES[case]
    buffers = _buffers(point_mass_data, "cpu")
    evals: list[int] = []

    def eval_fn(agent):
        evals.append(agent.step)
        return EvalResult(returns=np.zeros(1), lengths=np.ones(1))

    # odd boundaries: chunks must stop short of them and resume after
    kw = {"log_every": 25, "eval_every": 35, "eval_fn": eval_fn}
    ref, ref_rows = _train(cls, config, "cpu", buffers, 101, False, **kw)
    ref_evals, evals[:] = list(evals), []
    monkeypatch.setattr(agent_module, "UpdateGraph", EagerChunks)
    monkeypatch.setattr(agent_module, "graph_supported", lambda device: True)
    EagerChunks.runs = 0
    got, rows = _train(cls, config, "cpu", buffers, 101, True, **kw)
    assert EagerChunks.runs * got.graph_period >= 80  # most updates went in chunks
    assert ref_evals == [35, 35, 70, 70, 101, 101] and evals == ref_evals
    assert [r["step"] for r in rows] == [r["step"] for r in ref_rows]
    assert sorted({r["step"] for r in rows}) == [25, 35, 50, 70, 75, 100, 101]
    _assert_close(got, ref)
    for r, g in zip(ref_rows, rows, strict=True):  # the same loss curve, member by member
        assert r["member"] == g["member"]
        for name in cls.loss_names:
            assert g[name] == pytest.approx(r[name], rel=RTOL, abs=ATOL)


def test_refused_off_cuda(point_mass_data):
    agent = TD3BC(1, 1, 1.0, TD3BCConfig(**SMALL))
    with pytest.raises(ValueError, match="cuda_graph=True needs an agent on a CUDA device"):
        agent.train(ReplayBuffer(point_mass_data[0]), 10, cuda_graph=True, progress=False)
    assert agent.step == 0


class Interrupted(Exception):
    """Stands in for Ctrl-C: raised from an evaluation, mid-run."""


def _check_resume(cls, config, device, buffers, tmp_path) -> None:
    """A captured run interrupted at 75 updates (its last checkpoint at 60) and resumed by a
    fresh agent to 150 equals an uninterrupted eager run: weights, batch streams, loss rows
    and evaluations. The interruption must be real: a run that ends at 75 on its own writes a
    final checkpoint there and anneals IQL's learning rate over 75 updates, not 150."""
    evals: list[tuple[int, float]] = []

    def eval_fn(agent):  # a member's policy at evaluation time, as the pipeline's would see it
        evals.append((agent.step, float(agent.act(np.zeros((1, 1), np.float32)).sum())))
        return EvalResult(returns=np.zeros(1), lengths=np.ones(1))

    def interrupting(agent):
        raise Interrupted

    kw = {"log_every": 50, "eval_every": 75, "checkpoint_every": 60}
    ref, ref_rows = _train(cls, config, device, buffers, 150, False, eval_fn=eval_fn, **kw)
    ref_evals, evals[:] = list(evals), []
    with pytest.raises(Interrupted):
        _train(cls, config, device, buffers, 150, True, checkpoint_dir=tmp_path,
               eval_fn=interrupting, **kw)  # fmt: skip
    got, rows = _train(cls, config, device, buffers, 150, True, checkpoint_dir=tmp_path,
                       eval_fn=eval_fn, **kw)  # fmt: skip
    _assert_close(got, ref)
    gen_ref = torch.stack([g.get_state() for g in ref.generators])
    gen_got = torch.stack([g.get_state() for g in got.generators])
    assert torch.equal(gen_ref, gen_got)  # the streams advanced alike
    resumed = [r for r in ref_rows if r["step"] > 60]
    assert [r["step"] for r in rows] == [r["step"] for r in resumed]
    for r, g in zip(resumed, rows, strict=True):
        for name in cls.loss_names:
            assert g[name] == pytest.approx(r[name], rel=RTOL, abs=ATOL)
    assert [e[0] for e in evals] == [e[0] for e in ref_evals] == [75, 75, 150, 150]  # 2 members
    for (_, a), (_, b) in zip(evals, ref_evals, strict=True):
        assert a == pytest.approx(b, rel=RTOL, abs=ATOL)


@pytest.mark.parametrize("case", CASES)
def test_chunked_loop_resumes_after_an_interrupt(case, point_mass_data, tmp_path, monkeypatch):
    monkeypatch.setattr(agent_module, "UpdateGraph", EagerChunks)
    monkeypatch.setattr(agent_module, "graph_supported", lambda device: True)
    EagerChunks.runs = 0
    _check_resume(*CASES[case], "cpu", _buffers(point_mass_data, "cpu"), tmp_path)
    assert EagerChunks.runs > 0  # the captured runs really went through chunks


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", CASES)
def test_captured_updates_match_eager_on_cuda(case, point_mass_data, tmp_path):
    _check_resume(*CASES[case], "cuda", _buffers(point_mass_data, "cuda"), tmp_path)
