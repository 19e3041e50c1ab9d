"""The offline RL agents the pipeline trains: one registration per algorithm.

An algorithm is any class with offline_agents' interface (`config_cls`, `train`, `act`,
`save`/`load`): adding one is a line here plus its name in `config.Algo` (the CLI's choices).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class AgentSpec:
    module: str
    cls: str
    label: str
    """How tables name it."""

    def load_class(self):
        return getattr(importlib.import_module(self.module), self.cls)


AGENTS = {
    "td3bc": AgentSpec("offline_agents", "TD3BC", "TD3BC"),
    "iql": AgentSpec("offline_agents", "IQL", "IQL"),
}
ALGOS = tuple(AGENTS)
