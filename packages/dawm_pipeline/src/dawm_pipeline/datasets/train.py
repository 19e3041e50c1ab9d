"""Behaviour-policy training: stable-baselines3 SAC on Gymnasium v5, resumable.

D4RL's protocol (Fu et al. 2020, arXiv 2004.07219, §5): train SAC online, keep the policy
stopped at about 1/3 of the expert's return ("medium") and the replay buffer up to that
point ("medium-replay"); here "expert" is the best evaluated policy within a fixed,
stated CPU budget (TRAIN_BUDGETS), labelled as such.

Work dir layout (`<work_dir>/<env>/`):
  evals.json                    every evaluation: step, returns of `eval_episodes` episodes
  policies/step_<N>.safetensors the actor at each evaluation (see data/policy.py)
  state/progress.json           points at the latest complete state-<N>/ folder
  state/state-<N>/              SAC weights (safetensors), optimizers (torch, weights_only),
                                replay buffer (npz) — nothing here is unpickled on resume
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dawm_pipeline import atomic
from dawm_pipeline.data.policy import GaussianPolicy
from dawm_pipeline.data.rollout import evaluate
from dawm_pipeline.tasks import robot

EVAL_SEED = 10_000  # evaluation episodes use seeds disjoint from training (seed 0..)


@dataclass
class TrainConfig:
    """SAC behaviour-policy training (stable-baselines3 defaults otherwise)."""

    env: tuple[str, ...] = ("hopper",)
    """Robots to train, in order (any registered robot: hopper, walker2d, halfcheetah, pusher)."""
    work_dir: Path = Path(".cache/dawm_datasets")
    """Git-ignored folder for checkpoints, replay buffers and evaluation logs."""
    steps: int | None = None
    """Env steps per robot; None uses its registered recipe (`behaviour.sac_steps`)."""
    eval_every: int | None = None
    """Evaluate (and checkpoint the policy and the training state) every this many steps;
    None uses the robot's recipe (`behaviour.eval_every`)."""
    eval_episodes: int = 10
    seed: int | None = None
    """SAC seed; None uses the robot's recipe (`behaviour.seed`)."""
    threads: int = 1
    """torch threads (the machine's cores are shared)."""


def export_actor(model, path: Path, metadata: dict[str, str]) -> None:
    """Save the SB3 SAC actor's weights as safetensors, with the action bounds."""
    space = model.action_space
    state = {k: v.detach().cpu().numpy() for k, v in model.actor.state_dict().items()}
    meta = {
        **metadata,
        "action_low": json.dumps(space.low.tolist()),
        "action_high": json.dumps(space.high.tolist()),
        "format": "sb3-sac-actor",
    }
    atomic.write_safetensors(path, state, meta)


def _buffer_arrays(model) -> dict[str, np.ndarray]:
    """Every transition of the run, oldest first (a full SB3 buffer has wrapped its position
    to 0); refuses one that overwrote its oldest, before anything is written or deleted."""
    rb = model.replay_buffer
    n = rb.buffer_size if rb.full else rb.pos
    if n != model.num_timesteps:
        raise RuntimeError(
            f"the replay buffer holds {n} of the run's {model.num_timesteps} transitions: its "
            "size must be at least the run's steps (train_env sizes it so); the last saved "
            "state is kept"
        )
    return {
        "observations": rb.observations[:n, 0],
        "next_observations": rb.next_observations[:n, 0],
        "actions": rb.actions[:n, 0],
        "rewards": rb.rewards[:n, 0],
        "dones": rb.dones[:n, 0],
        "timeouts": rb.timeouts[:n, 0],
    }


def save_state(model, state_root: Path) -> None:
    """Write SAC weights, optimizers and replay buffer to a fresh folder, then point at it."""
    step = model.num_timesteps
    buffer = _buffer_arrays(model)  # first: a buffer that lost transitions writes nothing
    folder = state_root / f"state-{step}"
    params = model.get_parameters()
    atomic.write_safetensors(
        folder / "policy.safetensors",
        {k: v.detach().cpu().numpy() for k, v in params.pop("policy").items()},
        {"step": str(step)},
    )
    params["log_ent_coef"] = model.log_ent_coef.detach().cpu()
    tmp = folder / "optim.pt.tmp"
    torch.save(params, tmp)
    tmp.replace(folder / "optim.pt")
    atomic.write_npz(folder / "buffer.npz", buffer)
    prev = _read_progress(state_root)
    atomic.write_json(
        state_root / "progress.json",
        {
            "step": step,
            "folder": folder.name,
            "n_updates": model._n_updates,
            "episode_num": model._episode_num,
        },
    )
    if prev and prev["folder"] != folder.name:
        shutil.rmtree(state_root / prev["folder"], ignore_errors=True)


def _read_progress(state_root: Path) -> dict | None:
    p = state_root / "progress.json"
    return json.loads(p.read_text()) if p.is_file() else None


def load_state(model, state_root: Path) -> int:
    """Restore a saved state into a fresh SAC; returns the step (0 when none saved)."""
    from safetensors.torch import load_file

    prog = _read_progress(state_root)
    if prog is None:
        return 0
    folder = state_root / prog["folder"]
    params = torch.load(folder / "optim.pt", weights_only=True)
    log_ent = params.pop("log_ent_coef")
    params["policy"] = load_file(str(folder / "policy.safetensors"))
    model.set_parameters(params, exact_match=True)
    with torch.no_grad():
        model.log_ent_coef.copy_(log_ent)
    buf = np.load(folder / "buffer.npz")
    rb, n = model.replay_buffer, int(buf["rewards"].shape[0])
    if n != prog["step"]:
        raise RuntimeError(
            f"{folder}: the saved replay buffer holds {n} of the run's {prog['step']} "
            "transitions (a state saved before the buffer fix of 2026-11-27): its medium-replay "
            "cannot be rebuilt from it; start this robot's run again in a new --work-dir"
        )
    for k in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
        getattr(rb, k)[:n, 0] = buf[k]
    # The interrupted episode cannot be continued (the env state is gone): cut it as a
    # truncation, the same way a time limit ends an episode.
    if n and not rb.dones[n - 1, 0]:
        rb.dones[n - 1, 0] = 1.0
        rb.timeouts[n - 1, 0] = 1.0
    rb.pos = n
    model.num_timesteps = prog["step"]
    model._n_updates = prog["n_updates"]
    model._episode_num = prog["episode_num"]
    return prog["step"]


def read_evals(env_dir: Path) -> dict:
    p = env_dir / "evals.json"
    return json.loads(p.read_text()) if p.is_file() else {"evaluations": [], "finished": False}


def train_env(env: str, cfg: TrainConfig) -> None:
    """Train (or resume) SAC on one environment up to its budget."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    bot = robot(env)
    env, env_id = bot.name, bot.gym_id
    budget = cfg.steps if cfg.steps is not None else bot.behaviour.sac_steps
    seed = cfg.seed if cfg.seed is not None else bot.behaviour.seed
    eval_every = cfg.eval_every if cfg.eval_every is not None else bot.behaviour.eval_every
    env_dir = cfg.work_dir / env
    saved = _read_progress(env_dir / "state")
    # The buffer keeps the whole run: at SB3's default size (1M) a 1M-step run wrapped its
    # position to 0 at the last step and saved an empty buffer (the halfcheetah run of
    # 2026-11-27 lost its replay that way). One slot more than the run will ever hold.
    buffer_size = max(budget, saved["step"] if saved else 0) + 1
    log = read_evals(env_dir)
    log.update(
        env=env,
        env_id=env_id,
        budget=budget,
        eval_every=eval_every,
        eval_episodes=cfg.eval_episodes,
        seed=seed,
        algorithm="SAC",
        implementation="stable-baselines3 SAC defaults (MlpPolicy 256-256), learning_starts "
        f"{bot.behaviour.learning_starts}",
    )
    model = SAC(
        "MlpPolicy",
        env_id,
        seed=seed,
        learning_starts=bot.behaviour.learning_starts,
        buffer_size=buffer_size,
        verbose=0,
        device="cpu",
    )
    start = load_state(model, env_dir / "state")
    if start >= budget:
        print(f"[{env}] already trained to {start} steps (budget {budget})", flush=True)
        log["finished"] = True
        atomic.write_json(env_dir / "evals.json", log)
        return
    print(f"[{env}] SAC on {env_id}: steps {start} -> {budget}", flush=True)
    t0, steps0 = time.time(), start

    class Checkpoint(BaseCallback):
        # At rollout end the step's transition is in the buffer and its gradient updates are
        # not yet done, so the saved state is consistent (in `_on_step` the buffer lags by one).
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            step = self.model.num_timesteps
            if step % eval_every == 0:
                path = env_dir / "policies" / f"step_{step}.safetensors"
                export_actor(self.model, path, {"env": env, "env_id": env_id, "step": str(step)})
                returns = evaluate(GaussianPolicy.load(path), env_id, cfg.eval_episodes, EVAL_SEED)
                log["evaluations"] = [e for e in log["evaluations"] if e["step"] < step]
                log["evaluations"].append(
                    {
                        "step": step,
                        "mean_return": float(returns.mean()),
                        "std_return": float(returns.std()),
                        "returns": returns.tolist(),
                        "policy": path.name,
                        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                )
                save_state(self.model, env_dir / "state")
                atomic.write_json(env_dir / "evals.json", log)
                rate = (step - steps0) / (time.time() - t0)
                print(
                    f"[{env}] step {step}/{budget}: return {returns.mean():.1f} ± "
                    f"{returns.std():.1f} (normalized {bot.normalized_score(returns.mean()):.1f}), "
                    f"{rate:.0f} steps/s",
                    flush=True,
                )

    model.learn(
        total_timesteps=budget - start,
        callback=Checkpoint(),
        reset_num_timesteps=False,
        progress_bar=False,
    )
    log["finished"] = True
    log["steps_per_s_last_session"] = (model.num_timesteps - steps0) / (time.time() - t0)
    atomic.write_json(env_dir / "evals.json", log)
    print(f"[{env}] finished {model.num_timesteps} steps", flush=True)


def train(cfg: TrainConfig) -> None:
    """Train each env of `cfg.env` in turn (each resumes where its work dir stopped)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        for env in cfg.env:
            train_env(env, cfg)
    finally:
        torch.set_num_threads(threads)
