"""Roll a deterministic policy out in gymnasium envs; raw and normalized returns.

gymnasium is imported by the caller's ``env_fn`` only, so this module (and the package)
imports without the ``eval`` extra.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EvalResult:
    """Per-episode returns (episode i was reset with seed + i) and their summary."""

    returns: np.ndarray
    lengths: np.ndarray
    normalized: np.ndarray | None = None  # 100·(R − R_min)/(R_max − R_min), when given refs

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    @property
    def normalized_mean(self) -> float | None:
        return None if self.normalized is None else float(np.mean(self.normalized))

    @property
    def normalized_std(self) -> float | None:
        return None if self.normalized is None else float(np.std(self.normalized))

    @staticmethod
    def summary_fields() -> tuple[str, ...]:
        return ("eval_return_mean", "eval_return_std", "eval_normalized_mean")

    def summary(self) -> dict[str, float]:
        out = {"eval_return_mean": self.mean, "eval_return_std": self.std}
        if self.normalized is not None:
            out["eval_normalized_mean"] = float(np.mean(self.normalized))
        return out


def normalized_score(returns: np.ndarray, ref_min: float, ref_max: float) -> np.ndarray:
    """D4RL's 100·(R − R_random)/(R_expert − R_random); the caller owns the references."""
    if not ref_max > ref_min:
        raise ValueError(f"ref_max ({ref_max}) must exceed ref_min ({ref_min})")
    return 100.0 * (np.asarray(returns, dtype=np.float64) - ref_min) / (ref_max - ref_min)


class _Episodes:
    """One policy's ``episodes`` episodes in up to ``num_envs`` envs stepped side by side: env
    slot i runs whole episodes, episode j reset with ``seed + j``; a slot whose last episode
    ended goes idle."""

    def __init__(self, env_fn: Callable[[], Any], episodes: int, seed: int, num_envs: int):
        self.episodes, self.seed = episodes, seed
        self.envs = [env_fn() for _ in range(min(num_envs, episodes))]
        self.returns = np.zeros(episodes)
        self.lengths = np.zeros(episodes, dtype=np.int64)
        self.next_episode = 0
        self.slot_episode: list[int] = []
        self.obs: list[np.ndarray] = []
        for env in self.envs:
            self.obs.append(self._reset(env))
            self.slot_episode.append(self.next_episode - 1)
        self.active = list(range(len(self.envs)))

    def _reset(self, env: Any) -> np.ndarray:
        o, _ = env.reset(seed=self.seed + self.next_episode)
        self.next_episode += 1
        return np.asarray(o)

    def step(self, actions: np.ndarray) -> None:
        """Step every active slot with its row of ``actions`` (one row per active slot)."""
        still = []
        for row, i in enumerate(self.active):
            o, r, terminated, truncated, _ = self.envs[i].step(actions[row])
            ep = self.slot_episode[i]
            self.returns[ep] += float(r)
            self.lengths[ep] += 1
            if terminated or truncated:
                if self.next_episode == self.episodes:
                    continue
                self.slot_episode[i] = self.next_episode
                o = self._reset(self.envs[i])
            self.obs[i] = np.asarray(o)
            still.append(i)
        self.active = still

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _result(
    returns: np.ndarray, lengths: np.ndarray, ref_min: float | None, ref_max: float | None
) -> EvalResult:
    normalized = None
    if ref_min is not None and ref_max is not None:
        normalized = normalized_score(returns, ref_min, ref_max)
    return EvalResult(returns=returns, lengths=lengths, normalized=normalized)


class _Members:
    """Some members' episode runs, stepped in this process."""

    def __init__(self, env_fn: Callable[[], Any], seeds: Sequence[int], episodes: int,
                 num_envs: int) -> None:  # fmt: skip
        self.runs: list[_Episodes] = []
        try:
            for seed in seeds:
                self.runs.append(_Episodes(env_fn, episodes, seed, num_envs))
        except BaseException:
            self.close()
            raise

    def state(self) -> tuple[np.ndarray, list[list[int]]]:
        """Every slot's observation [members, slots, obs_dim] and each member's active slots."""
        return np.stack([np.stack(r.obs) for r in self.runs]), [list(r.active) for r in self.runs]

    def step(self, actions: np.ndarray) -> None:
        for run, member_actions in zip(self.runs, actions, strict=True):
            if run.active:
                run.step(member_actions[run.active])

    def outcome(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(r.returns, r.lengths) for r in self.runs]

    def close(self) -> None:
        for run in self.runs:
            run.close()


def _serve(conn: Any, env_fn: Callable[[], Any], seeds: Sequence[int], episodes: int,
           num_envs: int) -> None:  # fmt: skip
    """A worker process: steps its members' envs on the actions it is sent."""
    members = None
    try:
        members = _Members(env_fn, seeds, episodes, num_envs)
        conn.send(("state", members.state()))
        parent = mp.parent_process()
        while True:
            # Forked workers hold copies of the parent's pipe ends, so a parent killed outright
            # never closes them: watch the parent itself too.
            if conn not in mp_connection.wait([conn, parent.sentinel]):
                return
            try:
                what, actions = conn.recv()
            except EOFError:  # the parent stopped (its act raised, or it was interrupted)
                return
            if what != "step":  # "outcome" answers once more; "stop" does not
                if what == "outcome":
                    conn.send(("outcome", members.outcome()))
                return
            members.step(actions)
            conn.send(("state", members.state()))
    except Exception:  # the parent re-raises it with this traceback
        conn.send(("error", traceback.format_exc()))
    finally:
        if members is not None:
            members.close()
        conn.close()


class _Here:
    """A group of members stepped in this process, behind `_Worker`'s send / receive."""

    def __init__(self, env_fn: Callable[[], Any], seeds: Sequence[int], episodes: int,
                 num_envs: int) -> None:  # fmt: skip
        self.members = _Members(env_fn, seeds, episodes, num_envs)
        self.reply: Any = self.members.state()

    def send(self, what: str, actions: np.ndarray | None) -> None:
        if what == "step":
            self.members.step(actions)
            self.reply = self.members.state()
        else:
            self.reply = self.members.outcome()

    def receive(self) -> Any:
        return self.reply

    def close(self) -> None:
        self.members.close()


class _Worker:
    """A group of members stepped in a `_serve` process: `send` a request, then `receive` its
    answer, so that every worker steps its envs at the same time."""

    def __init__(self, ctx: Any, env_fn: Callable[[], Any], seeds: Sequence[int], episodes: int,
                 num_envs: int) -> None:  # fmt: skip
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_serve, args=(child, env_fn, list(seeds), episodes, num_envs), daemon=True
        )
        self.proc.start()
        child.close()

    def send(self, what: str, actions: np.ndarray | None) -> None:
        self.conn.send((what, actions))

    def receive(self) -> Any:
        try:
            what, payload = self.conn.recv()
        except EOFError:
            raise RuntimeError(
                f"an evaluation worker (pid {self.proc.pid}) died without a word"
            ) from None
        if what == "error":
            raise RuntimeError(f"an evaluation worker failed:\n{payload}")
        return payload

    def close(self) -> None:
        # An explicit stop: forked siblings hold copies of this end, so closing it alone may
        # not reach the worker as an end of file.
        with contextlib.suppress(OSError):  # the worker is gone already
            self.conn.send(("stop", None))
        self.conn.close()
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()


def _check(episodes: int, num_envs: int, ref_min: float | None, ref_max: float | None) -> None:
    if episodes <= 0 or num_envs <= 0:
        raise ValueError(f"episodes and num_envs must be positive, got {episodes}, {num_envs}")
    if (ref_min is None) != (ref_max is None):
        raise ValueError("give both ref_min and ref_max, or neither")


def evaluate(
    policy: Callable[[np.ndarray], np.ndarray],
    env_fn: Callable[[], Any],
    episodes: int = 10,
    seed: int = 0,
    *,
    ref_min: float | None = None,
    ref_max: float | None = None,
    num_envs: int = 10,
) -> EvalResult:
    """Run ``episodes`` episodes of ``policy`` (batch of observations -> batch of actions).

    ``num_envs`` envs from ``env_fn`` step side by side so the policy sees one batch per
    step; each env runs whole episodes (episode i reset with ``seed + i``) and an episode
    ends on termination or truncation. Give ``ref_min`` / ``ref_max`` (e.g. D4RL's random
    and expert returns) for normalized scores. An agent's ``act`` applies its own state
    normalization, so pass ``agent.act`` as is.
    """
    _check(episodes, num_envs, ref_min, ref_max)
    run = _Episodes(env_fn, episodes, seed, num_envs)
    try:
        while run.active:
            run.step(np.asarray(policy(np.stack([run.obs[i] for i in run.active]))))
    finally:
        run.close()
    return _result(run.returns, run.lengths, ref_min, ref_max)


def evaluate_members(
    act: Callable[[np.ndarray], np.ndarray],
    env_fn: Callable[[], Any],
    seeds: Sequence[int],
    episodes: int = 10,
    *,
    ref_min: float | None = None,
    ref_max: float | None = None,
    num_envs: int = 10,
    workers: int = 1,
) -> list[EvalResult]:
    """`evaluate` for the N members of a batched agent at once, one result per member.

    Member m runs its episodes as ``evaluate(member(m).act, env_fn, episodes, seeds[m])``
    would, in envs of its own, but one ``act`` call per step answers every member: a batched
    agent's ``act`` maps [N, num_envs, obs_dim] to [N, num_envs, act_dim]. Slots whose
    episodes are over pass their last observation along and their actions are dropped, so
    each member's actions are those of its own network on its own observations.

    ``workers`` > 1 steps the envs in that many forked processes (at most one per member;
    Linux's fork start method) while ``act`` stays here: the same episodes, for machines
    with cores to spare. The workers only step environments, never torch or CUDA, which is
    what makes forking a parent that holds a CUDA context safe (as for PyTorch's DataLoader
    workers); fork also spares the caller's script an ``if __name__ == "__main__"`` guard.
    """
    _check(episodes, num_envs, ref_min, ref_max)
    if not seeds:
        raise ValueError("seeds must hold one seed per member, got none")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers > 1 and "fork" not in mp.get_all_start_methods():
        raise ValueError("workers > 1 needs the fork start method (Linux): pass workers=1")
    groups = np.array_split(np.arange(len(seeds)), min(workers, len(seeds)))
    ctx = mp.get_context("fork") if workers > 1 else None
    parts: list[_Here | _Worker] = []
    try:
        for group in groups:
            group_seeds = [seeds[i] for i in group]
            if ctx is None:
                parts.append(_Here(env_fn, group_seeds, episodes, num_envs))
            else:
                parts.append(_Worker(ctx, env_fn, group_seeds, episodes, num_envs))
        states = [p.receive() for p in parts]
        while any(active for _, actives in states for active in actives):  # a slot is left
            actions = np.asarray(act(np.concatenate([obs for obs, _ in states])))
            for part, group in zip(parts, groups, strict=True):
                part.send("step", actions[group])
            states = [p.receive() for p in parts]
        for part in parts:
            part.send("outcome", None)
        outcome = [pair for part in parts for pair in part.receive()]
    finally:
        for part in parts:
            part.close()
    return [_result(returns, lengths, ref_min, ref_max) for returns, lengths in outcome]
