"""fit_model's speed options (issue #16): bfloat16 and the captured CUDA-graph step.

They change how a step runs, not what it computes: bf16 training still learns the toy, a
captured step equals the eager one to float rounding (on CUDA), and a graph off CUDA is
refused before any work.
"""

from __future__ import annotations

import pytest
import torch
from diffusion_wm import DiffusionWorldModel, WorldModelConfig, unet
from diffusion_wm.gemm_conv import conv1d_gemm as gemm_conv
from diffusion_wm.unet import SameConv1d
from dwm_toys import L, sine_data

CFG = WorldModelConfig(x_dim=2, length=L, context_dim=2, guide_dim=1, dim=16, dim_mults=(1, 2))


def _fit(device: str, steps: int, **kw) -> tuple[DiffusionWorldModel, list[float]]:
    torch.manual_seed(0)
    model = DiffusionWorldModel(CFG, device)
    x, c, g = sine_data(256)
    hist = model.fit(
        x, c, g, steps=steps, batch_size=32, lr=1e-3, log_every=20, progress=False, seed=3, **kw
    )
    return model, hist.loss


def test_bf16_learns_like_float32():
    _, fp32 = _fit("cpu", 120)
    model, bf16 = _fit("cpu", 120, precision="bfloat16")
    assert bf16 != fp32  # bfloat16 really ran (the curves differ in the 4th digit)
    assert bf16[-1] < 0.6 * bf16[0]  # it learns
    assert abs(bf16[-1] - fp32[-1]) < 0.25 * fp32[-1]  # and lands where float32 does
    # on CPU only the training step's convolutions ran in bfloat16: the model left is float32
    assert {m.gemm_dtype for m in model.net.modules() if isinstance(m, SameConv1d)} == {None}


def test_bf16_on_cpu_runs_the_convolutions_as_gemms(monkeypatch):
    calls = []
    monkeypatch.setattr(unet, "conv1d_gemm", lambda *a: calls.append(a[3]) or gemm_conv(*a))
    _fit("cpu", 2, precision="bfloat16")
    assert calls and set(calls) == {torch.bfloat16}
    calls.clear()
    _fit("cpu", 2)
    assert not calls


def test_a_resume_in_another_precision_is_refused(tmp_path):
    _fit("cpu", 10, checkpoint_dir=tmp_path, checkpoint_every=10)
    with pytest.raises(ValueError, match="was made with fit arguments"):
        _fit("cpu", 20, checkpoint_dir=tmp_path, precision="bfloat16")


def test_cuda_graph_refused_off_cuda(tmp_path):
    model = DiffusionWorldModel(CFG, "cpu")
    x, c, g = sine_data(64)
    with pytest.raises(ValueError, match="cuda_graph=True needs one process on a CUDA device"):
        model.fit(x, c, g, steps=2, cuda_graph=True, checkpoint_dir=tmp_path, progress=False)
    assert model.normalizer is None and not list(tmp_path.iterdir())


def _assert_same(a: DiffusionWorldModel, b: DiffusionWorldModel) -> None:
    """Same weights, and the same validation loss at every step where `a` validated (a run
    resumed from a shorter one also holds that run's end-of-run validation)."""
    for net in ("net", "ema"):
        for x, y in zip(getattr(a, net).parameters(), getattr(b, net).parameters(), strict=True):
            torch.testing.assert_close(x, y, atol=2e-4, rtol=1e-3)
    val_a = dict(zip(a.history.val_step, a.history.val_loss, strict=True))
    val_b = dict(zip(b.history.val_step, b.history.val_loss, strict=True))
    assert val_a and {s: val_b.get(s) for s in val_a} == pytest.approx(val_a, rel=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_captured_step_matches_eager_on_cuda(precision):
    eager, eager_loss = _fit("cuda", 100, precision=precision)
    graphed, graph_loss = _fit("cuda", 100, precision=precision, cuda_graph=True)
    _assert_same(eager, graphed)
    assert graph_loss == pytest.approx(eager_loss, rel=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_captured_run_resumes_an_eager_checkpoint_on_cuda(tmp_path):
    eager, _ = _fit("cuda", 100)
    _fit("cuda", 50, checkpoint_dir=tmp_path, checkpoint_every=50)  # a shorter eager run
    resumed, _ = _fit("cuda", 100, checkpoint_dir=tmp_path, checkpoint_every=50, cuda_graph=True)
    _assert_same(eager, resumed)
