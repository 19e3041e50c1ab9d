"""TD3+BC (Fujimoto & Gu, "A Minimalist Approach to Offline RL", NeurIPS 2021).

TD3 with a behaviour-cloning term in the actor loss, λ = α / mean|Q| (paper Eq. 3), and
normalized states (paper Eq. 4). Defaults follow the paper's Appendix C and the
published implementations (authors' code, CORL ``td3_bc.py``, d3rlpy ``TD3PlusBC``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import torch

from ._fields import COUNT, NONNEGATIVE, POSITIVE, Valid, check_fields
from .agent import COMMON_VALID, OfflineAgent
from .buffer import Batch
from .nets import EnsembleMLP
from .optim import FlatAdam, flat_target


@dataclass(frozen=True)
class TD3BCConfig:
    alpha: float = 2.5  # BC trade-off α (paper Sec. 5)
    discount: float = 0.99  # γ
    tau: float = 0.005  # target-network Polyak rate
    policy_noise: float = 0.2  # target policy smoothing noise, × max_action (TD3)
    noise_clip: float = 0.5  # clip of that noise, × max_action (TD3)
    policy_freq: int = 2  # actor and target updates every 2nd critic update (TD3)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    batch_size: int = 256
    hidden: tuple[int, ...] = (256, 256)  # actor and each of the twin critics
    matmul_dtype: str = "float32"  # "bfloat16": hidden-layer matmuls in bf16 (see nets.py)
    normalize_states: bool = True  # paper Eq. 4
    normalize_eps: float = 1e-3  # std + eps, as the paper's code
    seed: int = 0

    VALID: ClassVar[dict[str, Valid]] = {
        "alpha": Valid("float", lo=0, why="0 is pure behaviour cloning"),
        "policy_noise": NONNEGATIVE,
        "noise_clip": NONNEGATIVE,
        "policy_freq": COUNT,
        "actor_lr": POSITIVE,
        "critic_lr": POSITIVE,
        **COMMON_VALID,
    }

    def __post_init__(self) -> None:
        check_fields(self)


class TD3BC(OfflineAgent):
    """TD3+BC: ``TD3BC(obs_dim, act_dim, max_action, TD3BCConfig(), device)``."""

    config_cls = TD3BCConfig
    loss_names = ("critic_loss", "actor_loss", "q_mean", "bc_mse")
    config: TD3BCConfig

    def _init_networks(self) -> dict[str, EnsembleMLP]:
        o, a = self.obs_dim, self.act_dim
        return {"actor": self._mlp(o, a), "critic": self._mlp(o + a, 1, members=2)}

    def _build(self, nets: dict[str, EnsembleMLP]) -> None:
        cfg = self.config
        self.actor, self.critic = nets["actor"], nets["critic"]
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = FlatAdam(list(self.actor.parameters()), lr=cfg.actor_lr)
        self.critic_opt = FlatAdam(list(self.critic.parameters()), lr=cfg.critic_lr)
        self._actor_target_flat = flat_target(self.actor_target)
        self._critic_target_flat = flat_target(self.critic_target)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {
            "actor": self.actor,
            "critic": self.critic,
            "actor_target": self.actor_target,
            "critic_target": self.critic_target,
        }

    def optimizers(self) -> dict[str, FlatAdam]:
        return {"actor": self.actor_opt, "critic": self.critic_opt}

    def _pi(self, net: EnsembleMLP, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(net(obs)) * self.max_action

    def _policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self._pi(self.actor, obs)

    @property
    def graph_period(self) -> int:
        return self.config.policy_freq  # one actor update per chunk, at its end

    def _update(self, batch: Batch, states: torch.Tensor) -> torch.Tensor:
        cfg, o, n = self.config, self.obs_dim, self.members
        s, s_next = states[..., :o], states[..., o:]
        a = batch.actions
        with torch.no_grad():
            noise = torch.empty_like(a)
            for gen, out in zip(self.generators, noise, strict=True):  # each member's own stream
                torch.randn(out.shape, generator=gen, device=self.device, out=out)
            clip = cfg.noise_clip * self.max_action
            noise = torch.clamp(noise * (cfg.policy_noise * self.max_action), -clip, clip)
            a_next = torch.clamp(
                self._pi(self.actor_target, s_next) + noise, -self.max_action, self.max_action
            )
            q_next = self.critic_target(torch.cat([s_next, a_next], -1)).view(n, 2, -1).amin(1)
            # Bootstrap unless the episode truly terminated (truncations bootstrap).
            y = torch.addcmul(batch.rewards, 1.0 - batch.terminals, q_next, value=cfg.discount)
        q = self.critic(torch.cat([s, a], -1)).view(n, 2, -1)  # [N, 2, B]: Q1 and Q2
        critic_loss = (q - y.unsqueeze(1)).square().mean(2).sum(1)  # MSE(Q1, y) + MSE(Q2, y)
        self.critic_opt.zero_grad()
        # Members' parameters are disjoint: each gets the gradient of its own loss.
        critic_loss.sum().backward()
        self.critic_opt.step()

        if (self.step + 1) % cfg.policy_freq:
            return critic_loss.detach().unsqueeze(1)  # the actor's losses: not at this step
        pi = self._pi(self.actor, s)
        # Q1 only, with the just-updated critic frozen: gradients reach the actor alone.
        q1 = self.critic(torch.cat([s, pi], -1), frozen=True, first=1).view(n, -1)
        lmbda = cfg.alpha / q1.abs().mean(1).detach()  # per member, from its own Q
        bc = (pi - a).square().mean((1, 2))
        actor_loss = bc - lmbda * q1.mean(1)
        self.actor_opt.zero_grad()
        actor_loss.sum().backward()
        self.actor_opt.step()
        self._critic_target_flat.lerp_(self.critic_opt.param, cfg.tau)  # Polyak averaging
        self._actor_target_flat.lerp_(self.actor_opt.param, cfg.tau)
        return torch.stack(
            [critic_loss.detach(), actor_loss.detach(), q1.detach().mean(1), bc.detach()], 1
        )
