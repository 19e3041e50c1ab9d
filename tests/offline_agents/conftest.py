"""Fixtures for the offline_agents tests (the toy task lives in point_mass.py)."""

from __future__ import annotations

import pytest
from offline_agents import Transitions
from point_mass import random_policy_data


@pytest.fixture(scope="session")
def point_mass_data() -> tuple[Transitions, float]:
    return random_policy_data(episodes=200, seed=0)
