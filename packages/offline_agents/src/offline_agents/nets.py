"""Small MLPs evaluated as batched matmuls, so twin critics cost one call per layer."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn


class EnsembleMLP(nn.Module):
    """``members`` independent ReLU MLPs with weights stacked as ``[members, in, out]``.

    One ``baddbmm`` per layer evaluates every member: on CPU this is as fast per FLOP as
    one plain matmul and uses both cores where a 256×256 ``addmm`` does not. Each member
    is initialised like ``nn.Linear`` (uniform ±1/sqrt(fan_in) for weights and biases),
    as in the reference implementations.

    ``matmul_dtype=torch.bfloat16`` runs the hidden layers' matmuls in bfloat16 (weights
    stay float32, the output layer stays float32 so Q-values keep their precision): about
    2× faster matmuls on CPUs with AVX512-BF16 or AMX, slower on CPUs without.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: tuple[int, ...],
        members: int = 1,
        matmul_dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.matmul_dtype = matmul_dtype
        sizes = (in_dim, *hidden, out_dim)
        self.members = members
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(members, fan_in, fan_out)))
            self.biases.append(nn.Parameter(torch.empty(members, 1, fan_out)))
            nn.init.uniform_(self.weights[-1], -bound, bound)
            nn.init.uniform_(self.biases[-1], -bound, bound)

    def forward(self, x: torch.Tensor, frozen: bool = False, first: int = 0) -> torch.Tensor:
        """x: [B, in] (shared by all members) or [members, B, in] -> [members, B, out].

        ``first=k`` evaluates only the first k members (TD3+BC's actor loss needs Q1
        alone). ``frozen=True`` uses detached weights: gradients reach the input only (the
        actor's loss through the critic) and no weight gradient is computed.
        """
        members = first or self.members
        if x.dim() == 2:
            x = x.expand(members, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if first:
                w, b = w[:first], b[:first]
            if frozen:
                w, b = w.detach(), b.detach()
            if i < last:
                dt = self.matmul_dtype
                x = torch.relu_(torch.baddbmm(b.to(dt), x.to(dt), w.to(dt)))
            elif w.shape[0] > 1 and w.shape[-1] == 1:
                # Twin critics' [256 -> 1] heads: MKL's batched gemm takes ~0.4 ms for
                # this one's forward and backward at batch 256, a multiply-sum ~0.14 ms.
                x = torch.sum(x.float() * w.mT, -1, keepdim=True) + b
            else:
                x = torch.baddbmm(b, x.float(), w)
        return x
