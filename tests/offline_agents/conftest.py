"""Fixtures for the offline_agents tests (the toy task lives in point_mass.py)."""

from __future__ import annotations

import pytest
import torch
from offline_agents import Transitions
from point_mass import random_policy_data


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests share a 2-core machine; one thread keeps them predictable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def point_mass_data() -> tuple[Transitions, float]:
    return random_policy_data(episodes=200, seed=0)
