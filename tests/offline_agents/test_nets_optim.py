import copy

import torch
from offline_agents.nets import EnsembleMLP
from offline_agents.optim import FlatAdam, flat_target


def test_flat_adam_matches_torch_fused_adam_bit_for_bit():
    torch.manual_seed(0)
    ours = EnsembleMLP(5, 2, (8, 8), members=2)
    ref = copy.deepcopy(ours)
    opt_ref = torch.optim.Adam(ref.parameters(), lr=1e-2, fused=True)
    opt = FlatAdam(list(ours.parameters()), lr=1e-2)
    x = torch.randn(16, 5)
    for _ in range(20):
        opt_ref.zero_grad()
        ref(x).square().mean().backward()
        opt_ref.step()
        opt.zero_grad()
        ours(x).square().mean().backward()
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), ref.parameters(), strict=True))


def test_ensemble_members_are_independent_mlps():
    torch.manual_seed(0)
    net = EnsembleMLP(3, 1, (4,), members=2)
    x = torch.randn(6, 3)
    out = net(x)
    for m in range(2):
        h = torch.relu(x @ net.weights[0][m] + net.biases[0][m])
        torch.testing.assert_close(out[m], h @ net.weights[1][m] + net.biases[1][m])
    torch.testing.assert_close(net(x, first=1), out[:1])


def test_flat_target_lerp_is_polyak_averaging():
    online = EnsembleMLP(3, 1, (4,))
    target = copy.deepcopy(online)
    opt = FlatAdam(list(online.parameters()), lr=0.1)
    flat = flat_target(target)
    with torch.no_grad():
        opt.param.add_(1.0)
    before = [p.clone() for p in target.parameters()]
    flat.lerp_(opt.param, 0.25)
    for b, t, o in zip(before, target.parameters(), online.parameters(), strict=True):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * o)
