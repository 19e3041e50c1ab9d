"""Build the bundled files of `dawm_pipeline/bundled/<env>/` from a training work dir.

Per D4RL's protocol (Fu et al. 2020, arXiv 2004.07219, §5) applied to our training run:
  expert        = the best evaluated checkpoint within the fixed budget (labelled as such);
  medium        = the earliest checkpoint whose mean return ≥ MEDIUM_FRACTION × expert's;
  medium-replay = every replay-buffer transition collected up to the medium checkpoint;
  medium-expert = medium rollouts + as many expert rollouts (regenerated on first use).
The build then regenerates every level once (in a throwaway Minari storage) to record
sizes, returns and fingerprints in the manifest — the figures docs/datasets.md reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dawm_pipeline.data import atomic, bundled
from dawm_pipeline.data.dataset import OfflineDataset
from dawm_pipeline.data.names import (
    DIMS,
    GYM_ENV_IDS,
    LEVELS,
    DatasetName,
    normalized_score,
    parse_env,
)
from dawm_pipeline.data.validate import episode_lengths
from dawm_pipeline.datasets.train import read_evals

# D4RL: "medium" is a policy stopped at about a third of the expert's return.
MEDIUM_FRACTION = 1.0 / 3.0
# Regenerated sizes: D4RL's medium has 1M transitions and medium-expert 2M (1M + 1M).
REGEN_TRANSITIONS = 1_000_000
MEDIUM_SEED, EXPERT_SEED = 1, 2


@dataclass
class BuildConfig:
    """Turn finished training runs into bundled dataset files."""

    env: tuple[str, ...] = ("hopper", "walker2d", "halfcheetah")
    """Environments to build; those whose training has not finished are skipped."""
    work_dir: Path = Path(".cache/dawm_datasets")
    bundle_dir: Path = bundled.BUNDLE_DIR
    transitions: int = REGEN_TRANSITIONS
    """Transitions of regenerated medium (and of each half of medium-expert)."""
    allow_unfinished: bool = False
    """Build from a run that has not reached its budget (its best policy so far)."""
    measure: bool = True
    """Regenerate every level once to record sizes, returns and fingerprints."""


def pick_checkpoints(evals: list[dict], fraction: float = MEDIUM_FRACTION) -> tuple[dict, dict]:
    """(medium, expert) evaluation entries: expert = best mean return, medium = the
    earliest entry reaching `fraction` of it."""
    if not evals:
        raise ValueError("no evaluations in the training log: train first")
    expert = max(evals, key=lambda e: e["mean_return"])
    medium = next(
        e
        for e in sorted(evals, key=lambda e: e["step"])
        if e["mean_return"] >= fraction * expert["mean_return"]
    )
    return medium, expert


def replay_dataset(buffer: dict[str, np.ndarray], steps: int, name: DatasetName) -> OfflineDataset:
    """The first `steps` replay transitions, split into episodes (SB3 `dones` mark ends,
    `timeouts` the truncations; an episode still running at `steps` is closed as truncated)."""
    n = min(steps, int(buffer["rewards"].shape[0]))
    dones = buffer["dones"][:n].astype(bool)
    timeouts = buffer["timeouts"][:n].astype(bool)
    terminals = dones & ~timeouts
    lengths, timeouts = episode_lengths(terminals, timeouts)
    obs, nxt = buffer["observations"][:n], buffer["next_observations"][:n]
    inner = np.ones(n, bool)
    inner[np.cumsum(lengths) - 1] = False
    if not np.array_equal(nxt[inner], obs[1:][inner[:-1]]):
        raise ValueError(f"{name}: replay buffer observations are not contiguous within episodes")
    return OfflineDataset(
        observations=obs.astype(np.float32),
        actions=buffer["actions"][:n].astype(np.float32),
        rewards=buffer["rewards"][:n].astype(np.float32),
        next_observations=nxt.astype(np.float32),
        terminals=terminals,
        timeouts=timeouts,
        episode_lengths=lengths,
        info=bundled.dataset_info(name),
    )


@contextlib.contextmanager
def _scratch_minari():
    old = os.environ.get("MINARI_DATASETS_PATH")
    tmp = tempfile.mkdtemp(prefix="dawm-build-minari-")
    os.environ["MINARI_DATASETS_PATH"] = tmp
    try:
        yield
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def _entry(e: dict, env: str) -> dict:
    return {
        "step": e["step"],
        "mean_return": round(e["mean_return"], 2),
        "std_return": round(e["std_return"], 2),
        "normalized": round(float(normalized_score(env, e["mean_return"])), 2),
        "policy_file": e["policy"],
    }


def build_env(env: str, cfg: BuildConfig) -> bool:
    """Write `bundle_dir/<env>/`; False (and a message) when training is not finished."""
    env = parse_env(env)
    env_dir = cfg.work_dir / env
    log = read_evals(env_dir)
    if not log["evaluations"]:
        print(f"[{env}] no training log in {env_dir}: run `train --env {env}` first", flush=True)
        return False
    if not log.get("finished") and not cfg.allow_unfinished:
        last = log["evaluations"][-1]["step"]
        print(
            f"[{env}] training at {last}/{log['budget']} steps, not finished: skipped", flush=True
        )
        return False
    medium, expert = pick_checkpoints(log["evaluations"])
    name_mr = DatasetName(env, "medium-replay")
    progress = json.loads((env_dir / "state" / "progress.json").read_text())
    with np.load(env_dir / "state" / progress["folder"] / "buffer.npz") as z:
        buffer = {k: z[k] for k in z.files}
    replay = replay_dataset(buffer, medium["step"], name_mr)

    out = cfg.bundle_dir / env
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "policy_medium": "policy_medium.safetensors",
        "policy_expert": "policy_expert.safetensors",
        "medium-replay": "medium_replay.npz",
    }
    shutil.copyfile(env_dir / "policies" / medium["policy"], out / files["policy_medium"])
    shutil.copyfile(env_dir / "policies" / expert["policy"], out / files["policy_expert"])
    bundled.save_episodes_npz(out / files["medium-replay"], replay)
    last_step = max(e["step"] for e in log["evaluations"])
    budget_k = f"{log['budget'] // 1000}k"
    manifest = {
        "env": env,
        "env_id": GYM_ENV_IDS[env],
        "obs_dim": DIMS[env][0],
        "act_dim": DIMS[env][1],
        "not_d4rl": True,
        "recipe": {
            "algorithm": log["algorithm"],
            "implementation": log["implementation"],
            "seed": log["seed"],
            "budget_steps": log["budget"],
            "trained_steps": last_step,
            "finished": bool(log.get("finished")),
            "eval_every": log["eval_every"],
            "eval_episodes": log["eval_episodes"],
            "medium_fraction": MEDIUM_FRACTION,
            "expert": {
                **_entry(expert, env),
                "label": f"best evaluated SAC policy within a fixed {budget_k}-step CPU budget "
                "(this project's 'expert', not D4RL's expert policy)",
            },
            "medium": _entry(medium, env),
            "evaluations": [
                {"step": e["step"], "mean_return": round(e["mean_return"], 2)}
                for e in log["evaluations"]
            ],
        },
        "files": files,
        "regenerate": {
            "medium": {"transitions": cfg.transitions, "seed": MEDIUM_SEED},
            "expert": {"transitions": cfg.transitions, "seed": EXPERT_SEED},
        },
    }
    manifest["bundle_hash"] = bundled.bundle_hash(out, manifest)
    atomic.write_json(out / "manifest.json", manifest)
    print(
        f"[{env}] expert: step {expert['step']} return {expert['mean_return']:.1f}; medium: step "
        f"{medium['step']} return {medium['mean_return']:.1f}; medium-replay "
        f"{replay.num_transitions} transitions in {replay.num_episodes} episodes",
        flush=True,
    )
    if cfg.measure:
        measure_env(env, cfg.bundle_dir)
    return True


def measure_env(env: str, bundle_dir: Path) -> None:
    """Regenerate every level of a built env in a throwaway Minari storage and record its
    sizes, returns, fingerprints and build time in the manifest (the shipped files stay)."""
    manifest = bundled.read_manifest(env, bundle_dir)
    stats, prints, seconds = {}, {}, {}
    with _scratch_minari():
        for level in LEVELS:
            name = DatasetName(env, level)
            t0 = time.time()
            ds = bundled.load_bundled(name, bundle_dir)
            seconds[name.name] = round(time.time() - t0, 1)
            stats[name.name] = ds.summary()
            prints[name.name] = ds.fingerprint
            print(f"[{env}] {ds!r} in {seconds[name.name]} s", flush=True)
    manifest.update(stats=stats, fingerprints=prints, build_seconds=seconds)
    atomic.write_json(Path(bundle_dir) / env / "manifest.json", manifest)


@dataclass
class MeasureConfig:
    """Measure already built bundles (regenerates medium and medium-expert once)."""

    env: tuple[str, ...] = ("hopper", "walker2d", "halfcheetah")
    bundle_dir: Path = bundled.BUNDLE_DIR


def measure(cfg: MeasureConfig) -> None:
    for env in cfg.env:
        try:
            measure_env(parse_env(env), cfg.bundle_dir)
        except FileNotFoundError as e:
            print(f"[{env}] skipped: {e}", flush=True)


def build(cfg: BuildConfig) -> None:
    built = [env for env in cfg.env if build_env(env, cfg)]
    print(f"built: {', '.join(built) or 'nothing'} -> {cfg.bundle_dir}", flush=True)
