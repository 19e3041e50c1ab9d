"""IQL (Kostrikov, Nair & Levine, "Offline RL with Implicit Q-Learning", ICLR 2022).

V is fitted to the twin target-Q by expectile regression (paper Eq. 5), Q to
r + γV(s') (Eq. 6), and the actor by advantage-weighted regression with weight
exp(β·(Q − V)) capped at 100 (Eq. 7). Defaults follow the paper's Appendix B and the
published implementations (CORL ``iql.py``, d3rlpy ``IQL``).

All three losses read the networks as they were before the step (V's target uses the
target critic, Q's target uses V(s') computed before V moves, the actor's weights use
the advantage before either moves), exactly as in CORL's sequential updates; so one
backward pass over the sum and one fused Adam step compute the same update.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ._fields import FINITE, FLAG, POSITIVE, Valid, check_fields
from .agent import COMMON_VALID, OfflineAgent, cosine_lr
from .buffer import Batch
from .nets import EnsembleMLP
from .optim import FlatAdam, flat_target


@dataclass(frozen=True)
class IQLConfig:
    expectile: float = 0.7  # τ of the expectile loss (paper Sec. 5.1, locomotion)
    beta: float = 3.0  # inverse temperature of the advantage weights (paper App. B)
    max_weight: float = 100.0  # exp-advantage cap (paper's code, CORL EXP_ADV_MAX)
    discount: float = 0.99  # γ
    tau: float = 0.005  # target-critic Polyak rate (CORL: 0.001 on hopper-medium(-replay))
    actor_lr: float = 3e-4
    q_lr: float = 3e-4
    value_lr: float = 3e-4
    batch_size: int = 256
    hidden: tuple[int, ...] = (256, 256)  # actor, each twin critic, and V
    deterministic_actor: bool = False  # CORL: Gaussian by default, deterministic on hopper-m/mr
    log_std_min: float = -20.0  # Gaussian actor's state-independent log-std range (CORL)
    log_std_max: float = 2.0
    # actor lr anneals to 0 over this; None: train()'s steps, i.e. over the run, as CORL's
    # CosineAnnealingLR(T_max=max_timesteps) does over its 1M-update run (a shorter run, e.g.
    # the bench's 100k, anneals faster: its last 20k updates run below 10% of the lr)
    cosine_lr_steps: int | None = None
    reward_scale: float = 1.0  # rewards × this; locomotion: locomotion_reward_scale(returns)
    matmul_dtype: str = "float32"  # "bfloat16": hidden-layer matmuls in bf16 (see nets.py)
    normalize_states: bool = True
    normalize_eps: float = 1e-3
    seed: int = 0

    VALID: ClassVar[dict[str, Valid]] = {
        "expectile": Valid("float", lo=0, hi=1, lo_open=True, hi_open=True),
        "beta": Valid("float", lo=0, why="0 is plain behaviour cloning"),
        "max_weight": POSITIVE,
        "actor_lr": POSITIVE,
        "q_lr": POSITIVE,
        "value_lr": POSITIVE,
        "deterministic_actor": FLAG,
        "log_std_min": FINITE,
        "log_std_max": FINITE,
        "cosine_lr_steps": Valid("int", lo=1, none=True, why="None: train()'s steps"),
        "reward_scale": POSITIVE,
        **COMMON_VALID,
    }

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.log_std_min < self.log_std_max:
            raise ValueError(
                "IQLConfig.log_std_min must be below IQLConfig.log_std_max, "
                f"got {self.log_std_min} and {self.log_std_max}"
            )


def locomotion_reward_scale(episode_returns: np.ndarray, target: float = 1000.0) -> float:
    """IQL's locomotion reward scale: target / (max − min episode return) of the dataset.

    From the IQL authors' code and CORL ``iql.py`` (``modify_reward``); pass the result as
    ``IQLConfig.reward_scale``. Count a truncated trailing episode as an episode too.
    """
    returns = np.asarray(episode_returns, dtype=np.float64)
    if returns.size < 2 or not np.ptp(returns) > 0:
        raise ValueError("need at least two episodes with different returns to scale rewards")
    return float(target / np.ptp(returns))


class IQL(OfflineAgent):
    """IQL: ``IQL(obs_dim, act_dim, max_action, IQLConfig(), device)``."""

    config_cls = IQLConfig
    loss_names = ("value_loss", "q_loss", "actor_loss", "adv_mean")
    config: IQLConfig

    def _init_networks(self) -> dict[str, EnsembleMLP]:
        o, a = self.obs_dim, self.act_dim
        return {
            "actor": self._mlp(o, a),
            "critic": self._mlp(o + a, 1, members=2),
            "value": self._mlp(o, 1),
        }

    def _build(self, nets: dict[str, EnsembleMLP]) -> None:
        cfg, n, a = self.config, self.members, self.act_dim
        self.actor, self.critic, self.value = nets["actor"], nets["critic"], nets["value"]
        log_std = torch.zeros(n, a, device=self.device)
        self.actor_log_std = nn.ParameterDict({"log_std": log_std})
        self.log_std = self.actor_log_std["log_std"]  # state-independent (CORL, d3rlpy)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        actor_params = list(self.actor.parameters())
        if not cfg.deterministic_actor:
            actor_params.append(self.log_std)
        self.actor_opt = FlatAdam(actor_params, lr=cfg.actor_lr)
        self.q_opt = FlatAdam(list(self.critic.parameters()), lr=cfg.q_lr)
        self.value_opt = FlatAdam(list(self.value.parameters()), lr=cfg.value_lr)
        self._critic_target_flat = flat_target(self.critic_target)
        self._actor_lr = torch.zeros((), device=self.device)  # the cosine lr, when graphed
        self._log_2pi = 0.5 * math.log(2 * math.pi)

    def modules(self) -> dict[str, nn.Module]:
        return {
            "actor": self.actor,
            "actor_log_std": self.actor_log_std,
            "critic": self.critic,
            "critic_target": self.critic_target,
            "value": self.value,
        }

    def optimizers(self) -> dict[str, FlatAdam]:
        return {"actor": self.actor_opt, "q": self.q_opt, "value": self.value_opt}

    def _policy(self, obs: torch.Tensor) -> torch.Tensor:
        # The Gaussian's mean (CORL: tanh-bounded mean, unsquashed Normal around it).
        return torch.tanh(self.actor(obs)) * self.max_action

    def _actor_lr_now(self) -> float:
        cfg = self.config
        total = self._train_steps if cfg.cosine_lr_steps is None else cfg.cosine_lr_steps
        return cosine_lr(cfg.actor_lr, self.step, total)  # same for all members

    def _before_chunk(self) -> None:
        if self._graphed:
            self._actor_lr.fill_(self._actor_lr_now())

    def _update(self, batch: Batch, states: torch.Tensor) -> torch.Tensor:
        cfg, o, n = self.config, self.obs_dim, self.members
        s, s_next = states[..., :o], states[..., o:]
        a = batch.actions
        sa = torch.cat([s, a], -1)
        with torch.no_grad():
            q_target = self.critic_target(sa).view(n, 2, -1).amin(1)
            v_next = self.value(s_next).view(n, -1)
            # Bootstrap unless the episode truly terminated (truncations bootstrap).
            y = torch.addcmul(
                batch.rewards * cfg.reward_scale, 1.0 - batch.terminals, v_next, value=cfg.discount
            )
        v = self.value(s).view(n, -1)
        adv = q_target - v
        weight = torch.where(adv < 0, 1.0 - cfg.expectile, cfg.expectile)  # |τ − 1(u<0)|
        value_loss = (weight * adv.square()).mean(1)

        q = self.critic(sa).view(n, 2, -1)  # [N, 2, B]
        q_loss = (q - y.unsqueeze(1)).square().mean(2).mean(1)  # mean of the two MSEs, as CORL

        exp_adv = torch.exp(cfg.beta * adv.detach()).clamp(max=cfg.max_weight)
        mean = self._policy(s)
        if cfg.deterministic_actor:
            bc = (mean - a).square().sum(-1)
        else:
            log_std = self.log_std.clamp(cfg.log_std_min, cfg.log_std_max).unsqueeze(1)
            z = (a - mean) * torch.exp(-log_std)
            bc = (0.5 * z.square() + log_std + self._log_2pi).sum(-1)  # −log N(a; mean, std)
        actor_loss = (exp_adv * bc).mean(1)

        for opt in (self.actor_opt, self.q_opt, self.value_opt):
            opt.zero_grad()
        # One backward over every member's losses: their parameters are disjoint.
        (value_loss + q_loss + actor_loss).sum().backward()
        self.value_opt.step()
        self.q_opt.step()
        self.actor_opt.step(lr=self._actor_lr if self._graphed else self._actor_lr_now())
        self._critic_target_flat.lerp_(self.q_opt.param, cfg.tau)  # Polyak averaging
        return torch.stack(
            [value_loss.detach(), q_loss.detach(), actor_loss.detach(), adv.detach().mean(1)], 1
        )
