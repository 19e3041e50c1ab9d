"""TemporalUNet: shapes for any length, the padding rule, the contract's names and forward."""

import numpy as np
import pytest
import torch
from diffusion_wm import TemporalUNet, UNetConfig
from dwm_contract_reference import forward as contract_forward

torch.set_num_threads(1)


def _net(**kw) -> TemporalUNet:
    torch.manual_seed(0)
    cfg = dict(x_dim=3, length=8, context_dim=4, guide_dim=2, dim=16, dim_mults=(1, 2, 4))
    cfg.update(kw)
    return TemporalUNet(UNetConfig(**cfg)).eval()


def _inputs(b: int, length: int, x_dim: int = 3, c_dim: int = 4, g_dim: int = 2):
    gen = torch.Generator().manual_seed(1)
    return (
        torch.randn(b, length, x_dim, generator=gen),
        torch.randint(0, 5, (b,), generator=gen),
        torch.randn(b, c_dim, generator=gen),
        torch.randn(b, g_dim, generator=gen),
        torch.tensor([True, False] * (b // 2)),
    )


@pytest.mark.parametrize("length", [1, 3, 4, 7, 8, 9, 16])
@pytest.mark.parametrize("mults", [(1,), (1, 2), (1, 2, 4)])
def test_output_shape_for_any_length(length, mults):
    net = _net(dim_mults=mults)
    x, t, c, g, use = _inputs(4, length)
    assert net(x, t, c, g, use).shape == (4, length, 3)


def test_padding_rule_zero_pads_at_the_end_and_crops():
    net = _net()
    x, t, c, g, use = _inputs(2, 5)
    padded = torch.cat([x, torch.zeros(2, 3, 3)], dim=1)  # 5 → 8 = next multiple of 2**2
    with torch.no_grad():
        torch.testing.assert_close(net(x, t, c, g, use), net(padded, t, c, g, use)[:, :5])


def test_unconditional_pass_ignores_the_guide_and_conditional_uses_it():
    net = _net()
    x, t, c, g, _ = _inputs(2, 8)
    off, on = torch.zeros(2, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(net(x, t, c, g, off), net(x, t, c, 5 * g + 1, off))
        assert not torch.allclose(net(x, t, c, g, on), net(x, t, c, 5 * g + 1, on))


def test_parameter_names_follow_the_contract():
    names = set(_net().state_dict())
    expected = {
        "time_mlp.0.weight", "time_mlp.2.bias", "context_mlp.0.weight", "guide_mlp.2.weight",
        "down.0.block0.conv0.weight", "down.0.block0.norm0.weight", "down.0.block0.emb.weight",
        "down.0.block0.conv1.bias", "down.0.block0.norm1.bias", "down.0.block0.skip.weight",
        "down.0.downsample.weight", "down.1.downsample.bias", "down.2.block1.conv0.weight",
        "mid.block0.conv0.weight", "mid.block1.norm1.weight", "up.0.block0.skip.weight",
        "up.0.upsample.weight", "up.1.block1.emb.bias", "up.1.upsample.bias",
        "final.conv.weight", "final.norm.weight", "final.out.weight",
    }  # fmt: skip
    assert expected <= names
    assert "down.2.downsample.weight" not in names  # no down-sampling after the last level
    assert "down.0.block1.skip.weight" not in names  # identity skip when in == out
    assert "up.2.block0.conv0.weight" not in names  # n - 1 up levels
    net = _net()
    assert net.state_dict()["up.0.block0.conv0.weight"].shape == (32, 128, 5)  # 2·out_2 → in_2
    assert net.state_dict()["up.0.upsample.weight"].shape == (32, 32, 4)  # (in, out, k)
    assert net.state_dict()["down.0.block0.conv0.weight"].shape == (16, 3, 5)


@pytest.mark.parametrize("length", [5, 8])
@pytest.mark.parametrize("mults", [(1,), (1, 2, 4)])
def test_forward_matches_the_contract_written_independently(length, mults):
    net = _net(dim_mults=mults)
    weights = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    config = {"dim": 16, "dim_mults": list(mults), "context_dim": 4, "guide_dim": 2}
    x, t, c, g, use = _inputs(4, length)
    with torch.no_grad():
        ours = net(x, t, c, g, use)
        ref = contract_forward(weights, config, x, t, c, g, use)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-5, rtol=0)


def test_context_and_guide_may_be_absent():
    net = _net(context_dim=0, guide_dim=0)
    assert not any(k.startswith(("context_mlp", "guide_mlp")) for k in net.state_dict())
    x, t, *_ = _inputs(2, 8)
    assert net(x, t).shape == (2, 8, 3)


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"dim": 12}, "multiple of 8"),
        ({"dim_mults": ()}, "dim_mults"),
        ({"prediction": "v"}, "prediction"),
        ({"context_dim": -1}, "context_dim"),
    ],
)
def test_bad_config_raises_clear_error(kw, msg):
    cfg = dict(x_dim=3, length=8)
    cfg.update(kw)
    with pytest.raises(ValueError, match=msg):
        UNetConfig(**cfg)
