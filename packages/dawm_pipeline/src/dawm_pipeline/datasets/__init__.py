"""Recipe for this project's own datasets (SAC behaviour policies, D4RL protocol)."""
