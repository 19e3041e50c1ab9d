"""offline_agents: TD3+BC and IQL on plain arrays, with a real+synthetic replay buffer.

buffer = ReplayBuffer(Transitions(obs, act, rew, next_obs, terminals))
agent = TD3BC(obs_dim, act_dim, max_action=1.0)
agent.train(buffer, steps=100_000, checkpoint_dir="ckpt", log_csv="curve.csv")
result = evaluate(agent.act, lambda: gymnasium.make("Hopper-v5"), episodes=10)

agents = TD3BC.batched(obs_dim, act_dim, 1.0, [config_seed0, config_seed1])  # one network
agents.train([buffer_real, buffer_mixed], steps=100_000); agents.member(1).save("agent1")
"""

__version__ = "0.2.0"

from .agent import OfflineAgent
from .buffer import Batch, ReplayBuffer, Transitions
from .evaluation import EvalResult, evaluate, evaluate_members, normalized_score
from .iql import IQL, IQLConfig, locomotion_reward_scale
from .td3bc import TD3BC, TD3BCConfig

__all__ = [
    "IQL",
    "TD3BC",
    "Batch",
    "EvalResult",
    "IQLConfig",
    "OfflineAgent",
    "ReplayBuffer",
    "TD3BCConfig",
    "Transitions",
    "__version__",
    "evaluate",
    "evaluate_members",
    "locomotion_reward_scale",
    "normalized_score",
]
