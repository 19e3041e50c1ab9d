"""What each experiment runs: its cells (task x algorithm x seed x variant) at a compute scale.

Ablation tasks are the three medium-replay datasets (the ones where data is scarcest and
augmentation has the most room); the DAWM paper (arXiv 2509.19538) runs its ablations on a
subset of the 9 tasks as well.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dawm_pipeline.agents import ALGOS
from dawm_pipeline.config import PipelineConfig, preset
from dawm_pipeline.tasks import LEVELS, STOCHASTIC_SUFFIX, resolve

PAPER_ROBOTS = ("halfcheetah", "hopper", "walker2d")
"""The robots of the paper's main table (DAWM arXiv 2509.19538, D4RL locomotion)."""
PAPER_TASKS = tuple(f"{robot}-{level}" for level in LEVELS for robot in PAPER_ROBOTS)
"""The 9 D4RL locomotion tasks, in the order of the paper's main table."""
MANIPULATION_TASKS = tuple(f"pusher-{level}" for level in LEVELS)
"""Beyond the paper: Gymnasium's Pusher-v5 arm (issue #15), to test whether the design
transfers beyond locomotion (no published numbers exist for it)."""
TASKS = PAPER_TASKS + MANIPULATION_TASKS
"""Every task the experiments know: the paper's 9, then Pusher's 3."""
ABLATION_TASKS = ("hopper-medium-replay", "walker2d-medium-replay", "halfcheetah-medium-replay")


@dataclass(frozen=True)
class Scale:
    """A compute budget: the pipeline preset every cell starts from, and the seeds."""

    name: str
    preset: str
    seeds: tuple[int, ...]
    note: str = ""
    """What the preset's numbers do not say (where it runs, what it costs)."""
    fewer_seeds: tuple[tuple[str, int], ...] = ()
    """(dataset level, n): tasks of that level run only the first n seeds."""

    def seeds_for(self, task: str) -> tuple[int, ...]:
        """The seeds a task runs at this scale."""
        for level, n in self.fewer_seeds:
            if task.endswith(f"-{level}"):
                return self.seeds[:n]
        return self.seeds

    @property
    def description(self) -> str:
        """The preset's settings in words, generated from the preset itself."""
        cfg = preset(self.preset)
        wm, agent, gen = cfg.wm, cfg.agent, cfg.gen
        cap = f" capped at {gen.max_transitions:,} transitions" if gen.max_transitions else ""
        text = (
            f"the pipeline's {self.preset} preset: world model dim {wm.dim} mults "
            f"{tuple(wm.dim_mults)}, {wm.steps:,} steps at batch {wm.batch_size}, lr {wm.lr:g}"
            f"{', action tokens' if wm.action_tokens else ''}; IDM <= {cfg.idm.max_epochs} "
            f"epochs; {cfg.synthetic_ratio:g}x synthetic data{cap}, H = {cfg.horizon}, "
            f"R_tg: {gen.rtg_source}; agents {agent.steps:,} updates at batch "
            f"{agent.batch_size}, learning curve every {agent.eval_every:,} updates "
            f"({agent.eval_episodes} episodes), score = mean of the last {agent.score_points} "
            f"curve points; {len(self.seeds)} seeds"
        )
        text += "".join(f" ({n} on {level})" for level, n in self.fewer_seeds)
        return f"{text}. {self.note}" if self.note else text


SCALES = {
    "cpu": Scale("cpu", "quick", (0, 1, 2)),
    "bench": Scale(
        "bench",
        "bench",
        (0, 1, 2, 3, 4),
        "Sized for agents that learn (issue #19); run across sittings, two cells at a time. "
        "Medium-expert's cells cost the most: issue #19 accepts 3 seeds there when compute "
        "forces it",
        fewer_seeds=(("medium-expert", 3),),
    ),
    "paper": Scale(
        "paper",
        "paper",
        (0, 1, 2, 3, 4),
        "Measured on an H100 (docs/performance.md): the world model trains at 43 steps/s in "
        "eager PyTorch (about 13 h per task for 2M steps), agents at 284 (TD3+BC) and 196 "
        "(IQL) updates/s (1 to 1.4 h per 1M-update run), so it has not been run here",
    ),
    "tiny": Scale("tiny", "tiny", (0,), "Tests only"),
}


@dataclass(frozen=True)
class Experiment:
    """One experiment of issue #8: which tasks, algorithms and variants it crosses."""

    name: str
    title: str
    tasks: tuple[str, ...]
    algos: tuple[str, ...] = ("td3bc",)
    horizons: tuple[int | None, ...] = (None,)
    """None: the scale's own horizon."""
    ratios: tuple[float | None, ...] = (None,)
    """Synthetic transitions per real one; None: the scale's own (8x)."""
    eval_envs: tuple[str, ...] = ("deterministic",)
    """"stochastic": the task's `-stochastic` dataset, collected in and evaluated on the
    stochastic env (data/stochastic.py)."""
    agents: bool = True
    """False: only the world model, IDM and generation run (no agents, no seeds)."""


EXPERIMENTS = {
    e.name: e
    for e in (
        Experiment("main", "Main table: real only vs real + DAWM", TASKS, ALGOS),
        Experiment("horizon", "Horizon ablation", ABLATION_TASKS, horizons=(1, 3, 7)),
        Experiment("dawm-t", "Synthetic volume: 1x vs 8x", ABLATION_TASKS, ratios=(1.0, 8.0)),
        Experiment("idm-check", "IDM and simulator consistency", TASKS, agents=False),
        Experiment(
            "stochastic",
            "Deterministic vs stochastic dynamics (data and evaluation)",
            ("hopper-medium", "walker2d-medium"),  # issue #19's two
            eval_envs=("deterministic", "stochastic"),
        ),
    )
}


@dataclass(frozen=True)
class Cell:
    """The unit of work and of the results file: one row per finished cell."""

    experiment: str
    task: str
    algo: str | None
    seed: int | None
    horizon: int
    synthetic_ratio: float
    eval_env: str = "deterministic"
    """"stochastic": `task` is a `-stochastic` dataset, scored in its stochastic env."""

    def label(self) -> str:
        parts = [self.experiment, self.task]
        if self.algo is not None:
            parts += [self.algo, f"seed{self.seed}"]
        parts += [f"H{self.horizon}", f"x{self.synthetic_ratio:g}"]
        if self.eval_env != "deterministic":
            parts.append(self.eval_env)
        return " ".join(parts)


def base_config(scale: str) -> PipelineConfig:
    return preset(SCALES[scale].preset)


def scale_settings(cfg: PipelineConfig) -> dict:
    """The sizes a results row records: a row whose sizes differ from its scale's preset today
    was measured under earlier settings."""
    return {
        "preset": cfg.preset,
        "wm_dim": cfg.wm.dim,
        "wm_dim_mults": list(cfg.wm.dim_mults),
        "wm_steps": cfg.wm.steps,
        "wm_batch": cfg.wm.batch_size,
        "agent_steps": cfg.agent.steps,
        "agent_batch": cfg.agent.batch_size,
    }


def check_name(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(
            f"unknown experiment {name!r}: use one of {', '.join(EXPERIMENTS)}, all or report"
        )
    return EXPERIMENTS[name]


def plan(
    name: str,
    scale: str = "cpu",
    tasks: tuple[str, ...] | None = None,
    algos: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
) -> list[Cell]:
    """The cells of experiment `name`; tasks/algos/seeds narrow or replace its defaults."""
    exp = check_name(name)
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
    for task in tasks or ():
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}: use some of {', '.join(TASKS)}")
    if "stochastic" in exp.eval_envs:
        for task in tasks or exp.tasks:
            resolve(stochastic_task(task))  # medium-replay has no stochastic data
    for algo in algos or ():
        if algo not in ALGOS:
            raise ValueError(f"unknown algorithm {algo!r}: use td3bc and/or iql")
    base = base_config(scale)

    def agent_runs(task: str) -> list[tuple[str | None, int | None]]:
        if not exp.agents:
            return [(None, None)]
        task_seeds = seeds if seeds is not None else SCALES[scale].seeds_for(task)
        return [(algo, seed) for algo in (algos or exp.algos) for seed in task_seeds]

    cells = [
        Cell(
            exp.name,
            task if eval_env == "deterministic" else stochastic_task(task),
            algo,
            seed,
            horizon if horizon is not None else base.horizon,
            ratio if ratio is not None else base.synthetic_ratio,
            eval_env,
        )
        for task in (tasks or exp.tasks)
        for horizon in exp.horizons
        for ratio in exp.ratios
        for algo, seed in agent_runs(task)
        for eval_env in exp.eval_envs
    ]
    return [shared_with_main(cell, base) for cell in cells]


def shared_with_main(cell: Cell, base: PipelineConfig) -> Cell:
    """An ablation's cell at the scale's own variant (H, ratio, plain env) is the main table's
    cell: the same stages, seeds and agents. It is planned, run and stored as that one, so an
    ablation reuses the main table's row instead of training the same agents again."""
    default = (base.horizon, base.synthetic_ratio, "deterministic")
    if cell.algo is None or (cell.horizon, cell.synthetic_ratio, cell.eval_env) != default:
        return cell
    return dataclasses.replace(cell, experiment="main")


def stochastic_task(task: str) -> str:
    """'hopper-medium' -> 'hopper-medium-stochastic': the same task with stochastic dynamics."""
    return f"{task}{STOCHASTIC_SUFFIX}"


def cell_config(cell: Cell, scale: str, **overrides) -> PipelineConfig:
    """The pipeline config of one cell: the scale's preset with the cell's task and variant."""
    cfg = dataclasses.replace(
        base_config(scale),
        env=cell.task,
        horizon=cell.horizon,
        synthetic_ratio=cell.synthetic_ratio,
        **overrides,
    )
    if cell.algo is not None:
        cfg = dataclasses.replace(cfg, algo=cell.algo, seeds=(cell.seed,))
    cfg.validate()
    return cfg
