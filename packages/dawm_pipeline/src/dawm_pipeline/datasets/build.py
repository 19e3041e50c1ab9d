"""Build the bundled files of `dawm_pipeline/bundled/<env>/` from a training work dir.

Per D4RL's protocol (Fu et al. 2020, arXiv 2004.07219, §5) applied to our training run:
  expert        = the best evaluated checkpoint within the fixed budget (labelled as such);
  medium        = the checkpoint (up to the expert's step) whose return, averaged with its
                  neighbours' (SMOOTHING evaluations), is closest to the robot's medium target
                  (D4RL's medium-data level: tasks/builtin.py), so one noisy evaluation
                  cannot decide the level; returns of deterministic evaluations, or of
                  sampled episodes where the robot's recipe says so (Pusher);
  medium-replay = every replay-buffer transition collected up to the medium checkpoint
                  (both may come from a second, shorter run of the recipe: BuildConfig);
  medium-expert = medium rollouts + as many expert rollouts (regenerated on first use).
The build then regenerates every level once (in a throwaway Minari storage) to record
sizes, returns and fingerprints in the manifest — the figures docs/datasets.md reports.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dawm_pipeline import atomic
from dawm_pipeline.data import bundled
from dawm_pipeline.data.dataset import OfflineDataset
from dawm_pipeline.data.policy import GaussianPolicy
from dawm_pipeline.data.rollout import evaluate
from dawm_pipeline.data.validate import episode_lengths
from dawm_pipeline.datasets.train import read_evals
from dawm_pipeline.tasks import LEVELS, Robot, Task, robot, robots

SMOOTHING = 3  # evaluations averaged when choosing the medium checkpoint
# A medium policy must stay clearly below the expert, or medium-expert mixes one level with
# itself: at most 2/3 of the expert's normalized return (D4RL's own medium data returns 44-72%
# of its expert data's on the three robots). Binds where our expert is weak (walker2d: 77).
MEDIUM_CAP = 2.0 / 3.0
# Regenerated sizes: D4RL's medium has 1M transitions and medium-expert 2M (1M + 1M).
REGEN_TRANSITIONS = 1_000_000
MEDIUM_SEED, EXPERT_SEED = 1, 2
# Sampled evaluations of checkpoints (the medium rule's `medium_by_sampled_returns`) use
# their own episodes, not those of the data they choose.
SAMPLED_EVAL_SEED = 3
SAMPLED_EVALS_FILE = "sampled_evals.json"


@dataclass
class BuildConfig:
    """Turn finished training runs into bundled dataset files."""

    env: tuple[str, ...] = robots()
    """Robots to build; those whose training has not finished are skipped."""
    work_dir: Path = Path(".cache/dawm_datasets")
    bundle_dir: Path = bundled.BUNDLE_DIR
    transitions: int = REGEN_TRANSITIONS
    """Transitions of regenerated medium (and of each half of medium-expert)."""
    allow_unfinished: bool = False
    """Build from a run that has not reached its budget (its best policy so far)."""
    medium_work_dir: Path | None = None
    """Take medium and medium-replay from another, shorter run of the robot's recipe in this
    work dir (its checkpoints and replay buffer), the expert from `work_dir`'s run: where the
    main run's replay buffer is lost, or to keep a long expert run's buffer off the disk."""
    measure: bool = True
    """Regenerate every level once to record sizes, returns and fingerprints."""


def smoothed_returns(evals: list[dict], window: int = SMOOTHING) -> np.ndarray:
    """Each evaluation's mean return averaged with its neighbours' (centred window, shrunk at
    the ends), in step order."""
    r = np.array([e["mean_return"] for e in evals], np.float64)
    half = window // 2
    return np.array([r[max(0, i - half) : i + half + 1].mean() for i in range(len(r))])


def best_checkpoint(evals: list[dict]) -> dict:
    """The expert: the evaluation entry with the best mean return."""
    if not evals:
        raise ValueError("no evaluations in the training log: train first")
    return max(sorted(evals, key=lambda e: e["step"]), key=lambda e: e["mean_return"])


def pick_medium(candidates: list[dict], bot: Robot, expert_normalized: float) -> dict:
    """Among `candidates` (checkpoints of one run, any returns: deterministic or sampled),
    those whose smoothed normalized return is at most MEDIUM_CAP of the expert's (measured the
    same way), the one closest to the robot's `behaviour.medium_target`."""
    if not candidates:
        raise ValueError("no evaluations in the training log: train first")
    judged = sorted(candidates, key=lambda e: e["step"])
    smooth = bot.normalized_score(smoothed_returns(judged))
    distance = np.abs(smooth - bot.behaviour.medium_target)
    distance[smooth > MEDIUM_CAP * expert_normalized] = np.inf
    if np.isinf(distance).all():
        raise ValueError(
            "no checkpoint returns under 2/3 of the expert's: train the medium run longer, or "
            "give it a run that starts lower"
        )
    return judged[int(np.argmin(distance))]


def sampled_evaluations(env_dir: Path, evals: list[dict], bot: Robot, episodes: int) -> list[dict]:
    """`evals`' checkpoints re-evaluated with sampled actions (`episodes` each), cached in
    `env_dir/sampled_evals.json` after every checkpoint so an interrupted build resumes; an
    entry is reused only for the same policy file contents, episodes and seed."""
    path = env_dir / SAMPLED_EVALS_FILE
    key = {"episodes": episodes, "seed": SAMPLED_EVAL_SEED, "env_id": bot.gym_id}
    cache = atomic.read_json(path) if path.is_file() else {}
    done: dict[str, dict] = cache.get("returns", {}) if cache.get("key") == key else {}
    out = []
    for e in sorted(evals, key=lambda e: e["step"]):
        file = env_dir / "policies" / e["policy"]
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        if done.get(e["policy"], {}).get("sha256") != digest:  # new, or the file was replaced
            policy = GaussianPolicy.load(file)
            r = evaluate(policy, bot.gym_id, episodes, SAMPLED_EVAL_SEED, stochastic=True)
            done[e["policy"]] = {"mean_return": float(r.mean()), "std_return": float(r.std()),
                                 "sha256": digest}  # fmt: skip
            atomic.write_json(path, {"key": key, "returns": done})
        returns = {k: done[e["policy"]][k] for k in ("mean_return", "std_return")}
        out.append({**e, **returns})
    return out


def replay_dataset(buffer: dict[str, np.ndarray], steps: int, name: Task) -> OfflineDataset:
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


def _curve(evals: list[dict]) -> list[dict]:
    """A run's evaluation curve as the manifest keeps it (and `datasets table --plot` draws)."""
    return [{"step": e["step"], "mean_return": round(e["mean_return"], 2)} for e in evals]


def _entry(e: dict, bot: Robot) -> dict:
    return {
        "step": e["step"],
        "mean_return": round(e["mean_return"], 2),
        "std_return": round(e["std_return"], 2),
        "normalized": round(float(bot.normalized_score(e["mean_return"])), 2),
        "policy_file": e["policy"],
        **({"sampled_return": e["sampled_return"]} if "sampled_return" in e else {}),
    }


def build_env(env: str, cfg: BuildConfig) -> bool:
    """Write `bundle_dir/<env>/`; False (and a message) when training is not finished."""
    bot = robot(env)
    env = bot.name
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
    expert = best_checkpoint(log["evaluations"])
    second_run = cfg.medium_work_dir is not None
    medium_dir = cfg.medium_work_dir / env if second_run else env_dir
    medium_log = read_evals(medium_dir) if second_run else log
    if second_run and not medium_log["evaluations"]:
        print(f"[{env}] no training log in {medium_dir}: run `train` there first", flush=True)
        return False
    if second_run and not (medium_log.get("finished") or cfg.allow_unfinished):
        print(f"[{env}] the medium run in {medium_dir} has not finished: skipped", flush=True)
        return False
    candidates = [e for e in medium_log["evaluations"] if second_run or e["step"] <= expert["step"]]
    expert_judged = expert
    sampled = bot.behaviour.medium_by_sampled_returns
    if sampled:
        print(f"[{env}] sampled evaluations of {len(candidates)} checkpoints", flush=True)
        episodes = log["eval_episodes"]
        candidates = sampled_evaluations(medium_dir, candidates, bot, episodes)
        expert_judged = sampled_evaluations(env_dir, [expert], bot, episodes)[0]
    medium = pick_medium(candidates, bot, bot.normalized_score(expert_judged["mean_return"]))
    if sampled:  # the manifest keeps the deterministic evaluation first
        deterministic = next(e for e in medium_log["evaluations"] if e["step"] == medium["step"])
        medium = {**deterministic, "sampled_return": round(medium["mean_return"], 2)}
    name_mr = Task(bot, "medium-replay")
    progress = json.loads((medium_dir / "state" / "progress.json").read_text())
    with np.load(medium_dir / "state" / progress["folder"] / "buffer.npz") as z:
        buffer = {k: z[k] for k in z.files}
    replay = replay_dataset(buffer, medium["step"], name_mr)

    out = cfg.bundle_dir / env
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "policy_medium": "policy_medium.safetensors",
        "policy_expert": "policy_expert.safetensors",
        "medium-replay": "medium_replay.npz",
    }
    shutil.copyfile(medium_dir / "policies" / medium["policy"], out / files["policy_medium"])
    shutil.copyfile(env_dir / "policies" / expert["policy"], out / files["policy_expert"])
    bundled.save_episodes_npz(out / files["medium-replay"], replay)
    last_step = max(e["step"] for e in log["evaluations"])
    budget_k = f"{log['budget'] // 1000}k"
    manifest = {
        "env": env,
        "env_id": bot.gym_id,
        "obs_dim": bot.obs_dim,
        "act_dim": bot.act_dim,
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
            "medium_rule": {
                "target_normalized": bot.behaviour.medium_target,
                "target_source": bot.behaviour.medium_target_source,
                "smoothing_evaluations": SMOOTHING,
                "cap_fraction_of_expert": MEDIUM_CAP,
                "returns": f"sampled episodes (seed {SAMPLED_EVAL_SEED})"
                if sampled
                else "deterministic evaluations",
            },
            "expert": {
                **_entry(expert, bot),
                "label": f"best evaluated SAC policy within a fixed {budget_k}-step CPU budget "
                "(this project's 'expert', not D4RL's expert policy)",
            },
            "medium": _entry(medium, bot),
            **(
                {
                    "medium_run": {
                        "seed": medium_log["seed"],
                        "budget_steps": medium_log["budget"],
                        "note": "medium and medium-replay come from this second run of the "
                        "recipe; the expert from the main run",
                        "evaluations": _curve(medium_log["evaluations"]),
                    }
                }
                if second_run
                else {}
            ),
            "evaluations": _curve(log["evaluations"]),
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
            name = Task(robot(env), level)
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

    env: tuple[str, ...] = robots()
    bundle_dir: Path = bundled.BUNDLE_DIR


def measure(cfg: MeasureConfig) -> None:
    for env in cfg.env:
        try:
            measure_env(robot(env).name, cfg.bundle_dir)
        except FileNotFoundError as e:
            print(f"[{env}] skipped: {e}", flush=True)


def build(cfg: BuildConfig) -> None:
    built = [env for env in cfg.env if build_env(env, cfg)]
    print(f"built: {', '.join(built) or 'nothing'} -> {cfg.bundle_dir}", flush=True)
