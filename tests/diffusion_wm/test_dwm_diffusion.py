"""GaussianDiffusion: targets, per-dimension weights, inpainted entries, guide dropout."""

import pytest
import torch
from diffusion_wm import GaussianDiffusion, NoiseSchedule


class Recorder(torch.nn.Module):
    """Returns a fixed prediction and remembers what the diffusion fed it."""

    def __init__(self, pred: torch.Tensor) -> None:
        super().__init__()
        self.pred = pred

    def forward(self, x, t, c, g, use):
        self.seen = (x, t, use)
        return self.pred


def _batch():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 6, 2, generator=gen) * 2 - 1
    return x0, GaussianDiffusion(NoiseSchedule(5)).draw(x0.shape, gen, "cpu")


@pytest.mark.parametrize("prediction", ["x0", "epsilon"])
def test_loss_is_mse_to_the_selected_target(prediction):
    x0, (t, noise, use) = _batch()
    diff = GaussianDiffusion(NoiseSchedule(5), prediction=prediction)
    target = x0 if prediction == "x0" else noise
    net = Recorder(target + 0.5)
    loss = diff.loss(net, x0, None, torch.zeros(4, 1), t=t, noise=noise, use_guide=use)
    torch.testing.assert_close(loss, torch.tensor(0.25))
    ac = torch.from_numpy(NoiseSchedule(5).alphas_cumprod)[t][:, None, None]
    torch.testing.assert_close(net.seen[0], ac.sqrt() * x0 + (1 - ac).sqrt() * noise)


def test_per_dimension_weights_and_inpainted_entries_shape_the_loss():
    x0, (t, noise, use) = _batch()
    err = torch.zeros_like(x0)
    err[..., 1] = 1.0  # wrong only in dimension 1
    weighted = GaussianDiffusion(NoiseSchedule(5), loss_weights=torch.tensor([1.0, 0.0]))
    kw = dict(t=t, noise=noise, use_guide=use)
    assert weighted.loss(Recorder(x0 + err), x0, **kw) == 0.0
    assert GaussianDiffusion(NoiseSchedule(5)).loss(Recorder(x0 + err), x0, **kw) == 0.5

    mask = torch.zeros(6, 2, dtype=torch.bool)
    mask[0] = True  # token 0 known: fed clean, left out of the loss
    err0 = torch.zeros_like(x0)
    err0[:, 0] = 3.0
    net = Recorder(x0 + err0)
    assert GaussianDiffusion(NoiseSchedule(5), inpaint_mask=mask).loss(net, x0, **kw) == 0.0
    torch.testing.assert_close(net.seen[0][:, 0], x0[:, 0])


def test_guide_is_dropped_with_probability_p_uncond():
    diff = GaussianDiffusion(NoiseSchedule(5), p_uncond=0.25)
    _, _, use = diff.draw((20_000, 2, 1), torch.Generator().manual_seed(0), "cpu")
    assert abs((~use).float().mean().item() - 0.25) < 0.015
    with pytest.raises(ValueError, match="p_uncond"):
        GaussianDiffusion(NoiseSchedule(5), p_uncond=1.0)
