"""What TD3BC and IQL share: state normalization, ``act``, save/load and the resumable loop.

An algorithm subclass draws one agent's networks in ``_init_networks``, builds targets and
optimizers in ``_build`` and implements one gradient update in ``_update``; everything
here is algorithm-agnostic.

Every agent is a batch of N members, a plain agent being N = 1 (``OfflineAgent.batched``):
members differ only in seed, and each has its own data stream, state normalizer and
random generator. Their weights are stacked along the leading dim of every network
(``nets.EnsembleMLP``; an agent's twin critics are 2 consecutive members), so one batched
matmul per layer and one fused Adam step serve all of them, and ``_update`` is written
once with a leading member dim. Files of a single agent keep the layout they had before
batching (no member dim).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from . import __version__
from ._atomic import atomic_write
from ._fields import COUNT, FLAG, NONNEGATIVE, SEED, Valid
from .buffer import Batch, ReplayBuffer
from .evaluation import EvalResult
from .graphed import UpdateGraph, graph_supported
from .nets import EnsembleMLP
from .optim import FlatAdam

EvalFn = Callable[["OfflineAgent"], EvalResult]
CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.safetensors"
META = "agent.json"

# The fields every agent config has. γ may be 0 (one-step rewards) to 1 (undiscounted), as in
# TD3's and IQL's code; τ = 1 copies the online networks into the targets at every update.
COMMON_VALID: dict[str, Valid] = {
    "discount": Valid("float", lo=0, hi=1),
    "tau": Valid("float", lo=0, hi=1, lo_open=True),
    "batch_size": COUNT,
    "hidden": Valid("int", lo=1, many=True),
    "matmul_dtype": Valid("str", choices=("float32", "bfloat16")),
    "normalize_states": FLAG,
    "normalize_eps": NONNEGATIVE,
    "seed": SEED,
}
# train()'s arguments: steps is the total to reach, so 0 (or a step already reached) trains none.
TRAIN_VALID: dict[str, Valid] = {
    "steps": Valid("int", lo=0),
    "eval_every": COUNT,
    "log_every": COUNT,
    "checkpoint_every": COUNT,
    "resume": FLAG,
    "progress": FLAG,
    "cuda_graph": FLAG,
}


def _config_dict(config: Any) -> dict[str, Any]:
    """The config as plain JSON values (tuples become lists), for files and comparisons."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


class OfflineAgent:
    """Base of the offline agents. Subclasses set ``config_cls`` and ``loss_names``."""

    config_cls: ClassVar[type]
    loss_names: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        max_action: float | np.ndarray = 1.0,
        config: Any = None,
        device: str | torch.device = "cpu",
    ) -> None:
        config = self.config_cls() if config is None else config
        self._setup(obs_dim, act_dim, max_action, [config], device)

    @classmethod
    def batched(
        cls,
        obs_dim: int,
        act_dim: int,
        max_action: float | np.ndarray,
        configs: Sequence[Any],
        device: str | torch.device = "cpu",
    ) -> Self:
        """N agents trained as one batched network, member k from ``configs[k]``.

        The configs may differ only in ``seed`` (the networks' shapes and the update's
        constants are shared). Member k starts from the weights of ``cls(..., configs[k])``
        and draws the same random numbers; ``train`` takes one buffer per member and
        ``member(k)`` returns member k as a single agent.
        """
        agent = cls.__new__(cls)
        agent._setup(obs_dim, act_dim, max_action, list(configs), device)
        return agent

    def _setup(
        self,
        obs_dim: int,
        act_dim: int,
        max_action: float | np.ndarray,
        configs: list[Any],
        device: str | torch.device,
    ) -> None:
        name = type(self).__name__
        obs_dim = COUNT.check(name, "obs_dim", obs_dim)
        act_dim = COUNT.check(name, "act_dim", act_dim)
        _check_member_configs(name, self.config_cls, configs)
        max_a = _max_action(max_action, act_dim)
        self.obs_dim, self.act_dim = obs_dim, act_dim
        # `config`: what the members share (their seeds are in `configs`)
        self.configs, self.config, self.members = tuple(configs), configs[0], len(configs)
        self.device = torch.device(device)
        self.max_action = torch.tensor(max_a, device=self.device)
        self.step = 0
        self._elapsed = 0.0
        self._train_steps = 0  # the `steps` of the running train() call
        self._graphed = False  # updates run inside a CUDA graph (train(cuda_graph=True))
        self.generators = [torch.Generator(self.device).manual_seed(c.seed) for c in configs]
        self.obs_mean = torch.zeros(self.members, obs_dim, device=self.device)
        self.obs_std = torch.ones(self.members, obs_dim, device=self.device)
        self._normalizer_set = not self.config.normalize_states
        self._loss_sum = torch.zeros(self.members, len(self.loss_names), device=self.device)
        self._loss_count = torch.zeros(len(self.loss_names), device=self.device)
        nets = []
        for config in configs:
            # Each member from its own seed, as alone, without touching the caller's global RNG.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                nets.append(self._init_networks())
        self._build({key: EnsembleMLP.stack([n[key] for n in nets]) for key in nets[0]})
        self._set_state_affine()

    # ----- subclass hooks -------------------------------------------------------------
    def _init_networks(self) -> dict[str, EnsembleMLP]:
        """One agent's freshly initialised networks (drawn from the global RNG, seeded)."""
        raise NotImplementedError

    def _build(self, nets: dict[str, EnsembleMLP]) -> None:
        """Take the members' stacked networks; create target networks and optimizers."""
        raise NotImplementedError

    def _update(self, batch: Batch, states: torch.Tensor) -> torch.Tensor:
        """One gradient update of every member; the batch is [N, B, ...] and ``states``
        [N, B, 2·obs_dim] is [s | s'] normalized. Returns the values of the first k
        ``loss_names`` computed at this step as [N, k]."""
        raise NotImplementedError

    def _policy(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic actions [N, B, act_dim] for normalized observations [N, B, obs_dim]."""
        raise NotImplementedError

    @property
    def graph_period(self) -> int:
        """Updates per captured chunk: a cycle after which ``_update`` repeats itself."""
        return 1

    def _before_chunk(self) -> None:
        """Set, outside the graph, the device tensors a chunk reads that change per step."""

    def modules(self) -> dict[str, nn.Module]:
        """Every network, target networks included (what save/load and checkpoints hold)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, FlatAdam]:
        raise NotImplementedError

    def _mlp(self, in_dim: int, out_dim: int, members: int = 1) -> EnsembleMLP:
        """A network of the config's ``hidden`` widths and ``matmul_dtype`` on the agent's
        device; its weights draw from the global RNG, so ``_build``'s call order fixes them."""
        dt = getattr(torch, self.config.matmul_dtype)
        net = EnsembleMLP(in_dim, out_dim, self.config.hidden, members=members, matmul_dtype=dt)
        return net.to(self.device)

    # ----- state normalization --------------------------------------------------------
    def set_state_normalizer(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Fix the (s − mean) / std applied to every state, in training and in ``act``:
        [obs_dim] for every member, or [N, obs_dim] one row per member."""
        mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        shapes = {(self.obs_dim,), (self.members, self.obs_dim)}
        if mean.shape not in shapes or std.shape not in shapes:
            raise ValueError(f"mean and std must have one of the shapes {sorted(shapes)}")
        if not np.all(std > 0):
            raise ValueError("std must be positive; add an epsilon to constant dimensions")
        self.obs_mean.copy_(torch.from_numpy(mean))
        self.obs_std.copy_(torch.from_numpy(std))
        self._normalizer_set = True
        self._set_state_affine()

    def _set_state_affine(self) -> None:
        # [s | s'] normalized in one fused multiply-add: x·scale + shift, [N, 1, 2·obs_dim].
        scale = 1.0 / self.obs_std
        self._scale2 = torch.cat([scale, scale], 1).unsqueeze(1)
        self._shift2 = torch.cat([-self.obs_mean * scale, -self.obs_mean * scale], 1).unsqueeze(1)

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action(s) for raw observation(s) [obs_dim] or [B, obs_dim]. A batch
        of N members answers [N, ..., act_dim]: every member on the same observations, or
        each on its own with [N, B, obs_dim]."""
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        n, o = self.members, self.obs_dim
        own = x.dim() == 3 and x.shape[0] == n
        if not (x.dim() in (1, 2) or own) or x.shape[-1] != o:
            raise ValueError(
                f"act expects [obs_dim], [B, obs_dim] or [{n}, B, obs_dim] with obs_dim={o}"
            )
        lead = x.shape[:-1] if own or n == 1 else (n, *x.shape[:-1])
        x = torch.addcmul(
            self._shift2[..., :o], x.reshape(n if own else 1, -1, o), self._scale2[..., :o]
        )
        a = self._policy(x).clamp(-self.max_action, self.max_action)
        return a.reshape(*lead, self.act_dim).cpu().numpy()

    def member(self, k: int) -> Self:
        """Member k as a single agent of its own config, with its weights, normalizer, Adam
        state, generator and step: it acts, saves and trains on as it would have in the batch."""
        if not 0 <= k < self.members:
            raise IndexError(f"member {k} of a batch of {self.members}")
        agent = type(self)(self.obs_dim, self.act_dim, 1.0, self.configs[k], self.device)
        agent._load_tensors(
            {key: t[k].cpu() for key, t in self._per_member().items()}
            | {"max_action": self.max_action.cpu()}
        )
        for key, opt in agent.optimizers().items():
            opt.load_state_dict(self.optimizers()[key].member_state(k, self.members))
        agent.generators[0].set_state(self.generators[k].get_state())
        agent._normalizer_set = self._normalizer_set
        agent.step, agent._elapsed = self.step, self._elapsed
        return agent

    def _one_per_member(self, value: Any, what: str, owner: str, shared: bool) -> list[Any]:
        """``value`` as one per member: a sequence of N as given; a single value serves
        every member where ``shared`` (and always a single agent)."""
        n = self.members
        if isinstance(value, Sequence) and not isinstance(value, str):
            if len(value) != n:
                raise ValueError(
                    f"{type(self).__name__}.{owner} got {len(value)} {what} for {n} "
                    "member(s); give one per member"
                )
            return list(value)
        if n > 1 and not shared:
            raise ValueError(
                f"{type(self).__name__}.{owner} needs {what} as a sequence of {n}, one per member"
            )
        return [value] * n

    # ----- training -------------------------------------------------------------------
    def train(
        self,
        buffer: ReplayBuffer | Sequence[ReplayBuffer],
        steps: int,
        *,
        eval_fn: EvalFn | Sequence[EvalFn] | None = None,
        eval_members: Callable[[Self], Sequence[EvalResult]] | None = None,
        eval_every: int = 5000,
        log_every: int = 1000,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 10_000,
        resume: bool = True,
        log_csv: str | Path | Sequence[str | Path] | None = None,
        progress: bool = True,
        on_log: Callable[[dict[str, float]], None] | None = None,
        cuda_graph: bool = False,
    ) -> list[dict[str, float]]:
        """Train until ``self.step == steps`` (a total, so a resumed run finishes the same).

        With ``checkpoint_dir`` and ``resume`` an existing checkpoint is loaded first and
        training continues bit-identically (weights, optimizer moments, RNG state, step).
        Returns the rows written to the training-curve CSV during this call.

        A batch of N members takes ``buffer`` and ``eval_fn`` as sequences of N, one per
        member (or one shared by all), and ``log_csv`` as N paths: member k samples its own
        batches from its buffer with its own generator, ``eval_fn`` gets ``member(k)``, the
        checkpoint holds the whole batch, and the rows returned carry ``member``.
        ``eval_members(agent)``, instead of ``eval_fn``, evaluates every member in one call and
        returns one result per member (``evaluation.evaluate_members``: one batched forward
        per environment step instead of one per member).
        ``on_log(row)`` receives each row as it is written (e.g. for TensorBoard).
        ``cuda_graph`` (CUDA only) replays chunks of ``graph_period`` updates as one captured
        graph between evaluations, logs and checkpoints (``graphed.UpdateGraph``).
        """
        buffers = self._one_per_member(buffer, "buffers", "train", shared=True)
        for k, buf in enumerate(buffers):
            which = "buffer" if self.members == 1 else f"buffer[{k}]"
            if buf.obs_dim != self.obs_dim or buf.act_dim != self.act_dim:
                raise ValueError(
                    f"{which} has obs/act dims ({buf.obs_dim}, {buf.act_dim}) but the agent "
                    f"({self.obs_dim}, {self.act_dim})"
                )
            if buf.device != self.device:
                raise ValueError(f"{which} is on {buf.device} but the agent on {self.device}")
        if eval_fn is not None and eval_members is not None:
            raise ValueError(
                f"{type(self).__name__}.train takes eval_fn or eval_members, not both: drop one"
            )
        eval_fns = self._one_per_member(eval_fn, "eval_fns", "train", shared=True)
        evaluating = eval_fn is not None or eval_members is not None
        csvs = self._one_per_member(log_csv, "log_csv paths", "train", shared=log_csv is None)
        given = {
            "steps": steps,
            "eval_every": eval_every,
            "log_every": log_every,
            "checkpoint_every": checkpoint_every,
            "resume": resume,
            "progress": progress,
            "cuda_graph": cuda_graph,
        }
        for name, valid in TRAIN_VALID.items():
            valid.check(f"{type(self).__name__}.train", name, given[name])
        if cuda_graph and not graph_supported(self.device):
            raise ValueError(
                f"{type(self).__name__}.train: cuda_graph=True needs an agent on a CUDA "
                f"device, this one is on {self.device}; pass cuda_graph=False"
            )
        ckpt = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
        if ckpt is not None and resume and ckpt.exists():
            self._load_checkpoint(ckpt)
        if not self._normalizer_set:
            stats = [b.state_stats(self.config.normalize_eps) for b in buffers]
            self.set_state_normalizer(*(np.stack(s) for s in zip(*stats, strict=True)))
        self._train_steps = steps
        loggers = [] if log_csv is None else [_CsvLog(p, self.loss_names, self.step) for p in csvs]
        rows: list[dict[str, float]] = []
        bar = tqdm(total=steps, initial=self.step, disable=not progress, desc=type(self).__name__)
        t0, s0 = time.perf_counter(), self.step
        batch_size = self.config.batch_size
        packed = torch.empty((self.members, batch_size, buffers[0].width), device=self.device)
        batch = Batch.from_rows(packed, self.obs_dim, self.act_dim)

        def one_update() -> None:
            for buf, gen, out in zip(buffers, self.generators, packed, strict=True):
                buf.sample(batch_size, gen, out=out)
            states = torch.addcmul(self._shift2, batch.states, self._scale2)
            losses = self._update(batch, states)
            k = losses.shape[1]
            self._loss_sum[:, :k] += losses
            self._loss_count[:k] += 1

        period = self.graph_period

        def chunk() -> None:
            """`period` updates from self.step, which it leaves as it found it: a replay runs
            the captured kernels, not this Python, so the loop advances the count."""
            start = self.step
            try:
                for i in range(period):
                    self.step = start + i  # what _update's Python reads (TD3+BC's policy delay)
                    one_update()
            finally:
                self.step = start

        graph = None
        if cuda_graph:
            graph = UpdateGraph(chunk, self.generators, self._before_chunk, self.device)
        stops = [log_every] + [checkpoint_every] * (ckpt is not None) + [eval_every] * evaluating
        self._graphed = cuda_graph
        try:
            while self.step < steps:
                boundary = min([steps] + [(self.step // e + 1) * e for e in stops])
                if graph is not None and self.step % period == 0 and self.step + period <= boundary:
                    graph.run()
                    self.step += period
                    bar.update(period)
                else:
                    self._before_chunk()
                    one_update()
                    self.step += 1
                    bar.update()
                do_eval = evaluating and (self.step % eval_every == 0 or self.step == steps)
                if do_eval or self.step % log_every == 0 or self.step == steps:
                    if graph is not None and self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)  # replays run ahead of the host
                    now = time.perf_counter()
                    self._elapsed += now - t0
                    logged = self._log_rows((self.step - s0) / max(now - t0, 1e-9))
                    if do_eval:
                        results = self._evaluate(eval_fns, eval_members)
                        for row, result in zip(logged, results, strict=True):
                            row.update(result.summary())
                        bar.set_postfix(ret=f"{np.mean([r.mean for r in results]):.1f}")
                    if loggers:
                        for logger, row in zip(loggers, logged, strict=True):
                            logger.write(row)
                    many = self.members > 1
                    fresh = [{"member": m, **row} if many else row for m, row in enumerate(logged)]
                    if on_log is not None:
                        for row in fresh:
                            on_log(row)
                    rows += fresh
                    t0, s0 = time.perf_counter(), self.step
                if ckpt is not None and (self.step % checkpoint_every == 0 or self.step == steps):
                    self._save_checkpoint(ckpt)
        finally:
            self._graphed = False
        bar.close()
        return rows

    def _evaluate(
        self,
        eval_fns: list[EvalFn | None],
        eval_members: Callable[[Self], Sequence[EvalResult]] | None,
    ) -> list[EvalResult]:
        """One result per member, from ``eval_members`` (all at once) or each ``eval_fn``."""
        if eval_members is None:
            return [
                fn(self if self.members == 1 else self.member(m)) for m, fn in enumerate(eval_fns)
            ]
        results = list(eval_members(self))
        if len(results) != self.members:
            raise ValueError(
                f"eval_members returned {len(results)} results for {self.members} member(s); "
                "return one per member"
            )
        return results

    def _log_rows(self, updates_per_s: float) -> list[dict[str, float]]:
        """One curve row per member: its loss means since the last row."""
        means = (self._loss_sum / self._loss_count.clamp(min=1)).tolist()
        self._loss_sum.zero_()
        self._loss_count.zero_()
        head: dict[str, float] = {
            "step": self.step,
            "elapsed_s": round(self._elapsed, 3),
            "updates_per_s": round(updates_per_s, 1),
        }
        return [head | dict(zip(self.loss_names, m, strict=True)) for m in means]

    # ----- files ----------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        meta = {
            "algo": type(self).__name__,
            "package_version": __version__,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "config": _config_dict(self.config),
        }
        if self.members > 1:
            meta["seeds"] = [c.seed for c in self.configs]
        return meta

    def _per_member(self) -> dict[str, torch.Tensor]:
        """Every tensor held once per member, as views [N, ...]: a network's [N·m, ...]
        weights as [N, m, ...] (m = 2 for twin critics), other tensors as they are."""
        out = {
            f"{name}.{key}": t.unflatten(0, (self.members, -1))
            if isinstance(mod, EnsembleMLP)
            else t
            for name, mod in self.modules().items()
            for key, t in mod.state_dict().items()
        }
        return out | {"obs_mean": self.obs_mean, "obs_std": self.obs_std}

    def _file_layout(self, t: torch.Tensor) -> torch.Tensor:
        """A per-member [N, ...] tensor as files hold it: a single agent's without the
        member dim, as before batching (its files keep their format)."""
        return t[0] if self.members == 1 else t

    def _tensors(self) -> dict[str, torch.Tensor]:
        out = {k: self._file_layout(t) for k, t in self._per_member().items()}
        out["max_action"] = self.max_action
        # clone: parameters are views into flat buffers, and safetensors refuses shared memory
        return {k: v.cpu().clone() for k, v in out.items()}

    def _load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Load what ``_tensors`` wrote; bad values raise before anything of the agent changes."""
        max_a = _max_action(tensors["max_action"].numpy(), self.act_dim)
        self.set_state_normalizer(tensors["obs_mean"].numpy(), tensors["obs_std"].numpy())
        self.max_action.copy_(torch.tensor(max_a))
        for key, t in self._per_member().items():
            self._file_layout(t).copy_(tensors[key])

    def save(self, directory: str | Path | Sequence[str | Path]) -> None:
        """Weights (safetensors) + config (JSON): enough to act or to fine-tune afresh. A
        batch of N members saves each as a single agent, given N directories."""
        directories = self._one_per_member(directory, "directories", "save", shared=False)
        if self.members > 1:
            for k, each in enumerate(directories):
                self.member(k).save(each)
            return
        directory = Path(directories[0])
        atomic_write(directory / WEIGHTS, lambda tmp: save_file(self._tensors(), tmp))
        meta = json.dumps(self._meta() | {"step": self.step}, indent=2) + "\n"
        atomic_write(directory / META, lambda tmp: Path(tmp).write_text(meta))

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> OfflineAgent:
        """Rebuild an agent written by ``save``. A missing, corrupt or foreign file raises one
        line naming it and the fix, never the JSON or safetensors parser's traceback."""
        directory = Path(directory)
        meta_path, weights_path = directory / META, directory / WEIGHTS
        if not directory.is_dir():
            raise FileNotFoundError(
                f"no agent directory {directory}; write one with agent.save(dir)"
            )
        for path in (meta_path, weights_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing; write the agent with agent.save(dir)")
        meta = _read_meta(meta_path)
        if meta["algo"] != cls.__name__:
            raise ValueError(f"{directory} holds a {meta['algo']}; load it with that class")
        config = _read_config(cls.config_cls, meta, meta_path)
        try:
            tensors = load_file(weights_path)
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(
                f"{weights_path} is corrupt or truncated ({_first_line(e)}); "
                "save the agent again with agent.save(dir)"
            ) from e
        agent = cls(meta["obs_dim"], meta["act_dim"], 1.0, config, device)  # max_action: below
        bad = _mismatch(tensors, agent._tensors())
        if bad:
            raise ValueError(
                f"{weights_path} does not fit {meta_path} ({bad}); the files are from "
                "different agents: save the agent again with agent.save(dir)"
            )
        try:
            agent._load_tensors(tensors)
        except ValueError as e:
            raise ValueError(
                f"{weights_path} holds invalid values ({e}); save the agent again with agent.save(dir)"
            ) from e
        agent.step = meta["step"]
        return agent

    def _state(self) -> dict[str, Any]:
        """Everything a checkpoint holds, to continue training bit-identically."""
        return {
            "meta": self._meta(),
            "tensors": self._tensors(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
            "generator": self._file_layout(torch.stack([g.get_state() for g in self.generators])),
            "step": self.step,
            "elapsed_s": self._elapsed,
            "loss_sum": self._file_layout(self._loss_sum).cpu(),
            "loss_count": self._loss_count.cpu(),
        }

    def _save_checkpoint(self, path: Path) -> None:
        state = self._state()
        atomic_write(path, lambda tmp: torch.save(state, tmp))

    def _load_checkpoint(self, path: Path) -> None:
        """Resume from ``path`` (weights_only: never unpickles code). A corrupt, foreign or
        mismatched file raises one line naming it before anything of this agent changes."""
        fix = "delete it or pass resume=False"
        foreign = f"checkpoint {path} is corrupt or not an offline_agents checkpoint"
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as e:  # torch raises many types for a truncated or foreign file
            raise ValueError(f"{foreign} ({type(e).__name__}: {_first_line(e)}); {fix}") from e
        mine, keys = self._meta(), ("algo", "obs_dim", "act_dim", "config")
        theirs = state.get("meta") if isinstance(state, dict) else None
        if not isinstance(theirs, dict) or not all(k in theirs for k in keys):
            raise ValueError(f"{foreign} (it lacks the agent's meta); {fix}")
        for key in (*keys, "seeds"):  # seeds: a batch's members (None: a single agent)
            if mine.get(key) != theirs.get(key):
                raise ValueError(
                    f"checkpoint {path} was written with a different {key} "
                    f"({theirs.get(key)} vs {mine.get(key)}); use a matching agent or resume=False"
                )
        want = self._state()
        del state["meta"], want["meta"]
        bad = _mismatch(state, want)
        if bad:
            raise ValueError(f"checkpoint {path} is damaged ({bad}); {fix}")
        try:
            self._load_tensors({k: v.cpu() for k, v in state["tensors"].items()})
        except ValueError as e:
            raise ValueError(f"checkpoint {path} is damaged ({e}); {fix}") from e
        for key, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][key])
        generators = state["generator"].cpu().view(self.members, -1)
        for gen, gen_state in zip(self.generators, generators, strict=True):
            gen.set_state(gen_state.clone())  # torch 2.13 segfaults on a row at an offset
        self.step = state["step"]
        self._elapsed = state["elapsed_s"]
        self._loss_sum.copy_(state["loss_sum"])
        self._loss_count.copy_(state["loss_count"])


def _check_member_configs(owner: str, config_cls: type, configs: list[Any]) -> None:
    """A batch's configs: at least one, all of ``config_cls``, equal but for ``seed``."""
    if not configs:
        raise ValueError(f"{owner}.batched needs at least one config")
    for config in configs:
        if not isinstance(config, config_cls):
            raise ValueError(f"{owner} needs a {config_cls.__name__}, got {type(config).__name__}")
    first = _config_dict(configs[0])
    for k, config in enumerate(configs):
        differ = [f for f, v in _config_dict(config).items() if f != "seed" and v != first[f]]
        if differ:
            raise ValueError(
                f"{owner}.batched: member configs may differ only in seed, but configs[{k}] "
                f"differs from configs[0] in {differ}"
            )


def _max_action(value: Any, act_dim: int) -> np.ndarray:
    """``value`` broadcast to [act_dim] float32; positive and finite, as actions lie in
    [-max, max] (a wrong shape raises numpy's one-line ValueError)."""
    max_a = np.broadcast_to(np.asarray(value, dtype=np.float32), (act_dim,))
    if not np.all(np.isfinite(max_a)) or np.any(max_a <= 0):
        raise ValueError(
            f"max_action must be positive and finite (actions lie in [-max, max]), got {value}"
        )
    return max_a


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _read_meta(path: Path) -> dict[str, Any]:
    """agent.json, checked to hold what ``load`` reads; else one line naming the file."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path} is unreadable or not JSON ({_first_line(e)}); "
            "save the agent again with agent.save(dir)"
        ) from e

    def is_int(v: Any, lo: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= lo

    ok = (
        isinstance(meta, dict)
        and isinstance(meta.get("algo"), str)
        and isinstance(meta.get("config"), dict)
        and is_int(meta.get("obs_dim"), 1)
        and is_int(meta.get("act_dim"), 1)
        and is_int(meta.get("step"), 0)
    )
    if not ok:
        raise ValueError(
            f"{path} is not an agent file of offline_agents: it needs algo, config, obs_dim and "
            "act_dim (ints >= 1) and step (int >= 0); save the agent again with agent.save(dir)"
        )
    return meta


def _read_config(config_cls: type, meta: dict[str, Any], path: Path) -> Any:
    """The saved config; unknown or invalid fields (another version's file) name the file."""
    saved = meta["config"]
    unknown = sorted(set(saved) - {f.name for f in dataclasses.fields(config_cls)})
    if unknown:
        raise ValueError(
            f"{path} has {config_cls.__name__} fields {unknown} that offline_agents "
            f"{__version__} lacks (written by {meta.get('package_version', '?')}); "
            "load it with that version or retrain"
        )
    try:
        return config_cls(**saved)
    except ValueError as e:
        raise ValueError(f"{path} holds an invalid config: {e}; fix or re-save it") from e


def _mismatch(found: Any, want: Any, at: str = "") -> str | None:
    """Where ``found`` differs from ``want`` in keys, tensor shape and dtype, or value type
    (so loading fails up front, not half-way); None where it matches."""
    where = at or "top level"
    if isinstance(want, dict):
        if not isinstance(found, dict):
            return f"{where}: {type(found).__name__} where a dict was expected"
        missing, extra = sorted(set(want) - set(found)), sorted(set(found) - set(want))
        if missing or extra:
            return f"{where}: missing keys {missing[:3]}, unexpected keys {extra[:3]}"
        for key in want:
            bad = _mismatch(found[key], want[key], f"{at}.{key}" if at else str(key))
            if bad:
                return bad
        return None
    if isinstance(want, torch.Tensor):
        if not isinstance(found, torch.Tensor):
            return f"{where}: {type(found).__name__} where a tensor was expected"
        if found.shape != want.shape or found.dtype != want.dtype:
            return (
                f"{where}: {tuple(found.shape)} {found.dtype} where "
                f"{tuple(want.shape)} {want.dtype} was expected"
            )
        return None
    if type(found) is not type(want):
        return f"{where}: {type(found).__name__} where {type(want).__name__} was expected"
    return None


def cosine_lr(base_lr: float, step: int, total: int) -> float:
    """Cosine annealing from ``base_lr`` to 0 over ``total`` steps (a pure function of the
    step, so resuming needs no scheduler state)."""
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


class _CsvLog:
    """Training-curve CSV; on resume, rows past the checkpoint's step are dropped first."""

    def __init__(self, path: str | Path, loss_names: tuple[str, ...], step: int) -> None:
        self.path = Path(path)
        self.fields = [
            "step",
            "elapsed_s",
            "updates_per_s",
            *loss_names,
            *EvalResult.summary_fields(),
        ]
        kept: list[dict[str, str]] = []
        if self.path.exists() and step > 0:
            with self.path.open(newline="") as f:
                kept = [r for r in csv.DictReader(f) if int(r["step"]) <= step]

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, self.fields)
                w.writeheader()
                w.writerows(kept)

        atomic_write(self.path, write)

    def write(self, row: dict[str, float]) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow(row)
