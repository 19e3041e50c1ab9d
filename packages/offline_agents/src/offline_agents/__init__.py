"""offline_agents."""

__version__ = "0.1.0"
