"""Adam over parameters packed into one flat tensor: one kernel per step, no Python loop.

At the network sizes of offline RL (a few hundred thousand weights) ``torch.optim.Adam``
spends as long in its per-step Python bookkeeping as in arithmetic. Here the parameters
become views into one flat tensor and their ``.grad`` views into another, so zeroing is
one fill and the update is one call of ``torch._fused_adam_`` (the kernel behind
``torch.optim.Adam(fused=True)``: same arithmetic, same numbers).
"""

from __future__ import annotations

import torch
from torch import nn


def flatten_parameters(
    params: list[nn.Parameter], with_grad: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Re-home ``params`` (and their grads) as views into fresh flat tensors."""
    if not params:
        raise ValueError("no parameters to flatten")
    device = params[0].device
    n = sum(p.numel() for p in params)
    flat = torch.empty(n, device=device)
    grad = torch.zeros(n, device=device) if with_grad else None
    offset = 0
    for p in params:
        k = p.numel()
        flat[offset : offset + k].copy_(p.detach().reshape(-1))
        p.data = flat[offset : offset + k].view_as(p)
        if grad is not None:
            p.grad = grad[offset : offset + k].view_as(p)
        offset += k
    return flat, grad


def flat_target(module: nn.Module) -> torch.Tensor:
    """A target network's parameters as views into one flat tensor (no grads), laid out
    like its online twin's ``FlatAdam.param``: Polyak averaging is then one ``lerp_``."""
    return flatten_parameters(list(module.parameters()), with_grad=False)[0]


class FlatAdam:
    """Adam (Kingma & Ba; PyTorch's defaults) on a flat parameter group."""

    def __init__(
        self,
        params: list[nn.Parameter],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.lr, self.betas, self.eps = lr, betas, eps
        self._numels = [p.numel() for p in params]
        self.param, grad = flatten_parameters(list(params))
        assert grad is not None
        self.grad = grad
        self.exp_avg = torch.zeros_like(self.param)
        self.exp_avg_sq = torch.zeros_like(self.param)
        self.steps = torch.zeros((), device=self.param.device)

    def zero_grad(self) -> None:
        self.grad.zero_()

    def step(self, lr: float | torch.Tensor | None = None) -> None:
        """One Adam step; a tensor ``lr`` is read on the device (what a CUDA graph needs)."""
        self.steps += 1
        torch._fused_adam_(
            [self.param],
            [self.grad],
            [self.exp_avg],
            [self.exp_avg_sq],
            [],
            [self.steps],
            lr=self.lr if lr is None else lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=0.0,
            eps=self.eps,
            amsgrad=False,
            maximize=False,
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq, "steps": self.steps}

    def member_state(self, k: int, members: int) -> dict[str, torch.Tensor]:
        """Member k's share of the state when every parameter stacks ``members`` agents'
        along dim 0, laid out as that agent's own FlatAdam holds it (Adam is elementwise:
        the share is exactly the state of that agent trained alone)."""

        def share(flat: torch.Tensor) -> torch.Tensor:
            return torch.cat([t.view(members, -1)[k] for t in flat.split(self._numels)])

        return {
            "exp_avg": share(self.exp_avg),
            "exp_avg_sq": share(self.exp_avg_sq),
            "steps": self.steps.clone(),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for key, t in self.state_dict().items():
            t.copy_(state[key])
