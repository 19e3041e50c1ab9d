"""The stage graph: which stage reads which, what each one's hash covers, where it lives.

Every stage's hash covers its own settings and the hashes of the stages it reads, and a stage's
folder is named by that hash (`<out>/<env>/stages/<stage>-<hash>/`), so any run or experiment
cell with the same inputs reuses it: changing e.g. the agent steps or the guidance ω reruns
only what depends on it and never overwrites the world model another setting trained. A run's
own folder `<out>/<env>/<run>/` holds its record (run.json, naming every stage folder it used)
and its report. The runner is pipeline.py; stages read this module, never the runner.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dawm_pipeline.atomic import read_json
from dawm_pipeline.config import PipelineConfig
from dawm_pipeline.runs import DONE, config_hash
from dawm_pipeline.tasks.stochastic import perturbation_record

DEPENDS: dict[str, tuple[str, ...]] = {
    "data": (),
    "train-wm": ("data",),
    "train-idm": ("data",),
    "generate": ("data", "train-wm", "train-idm"),
    "train-agent": ("data", "generate"),
    "evaluate": ("data", "train-agent"),
    "report": ("data", "train-wm", "train-idm", "generate", "train-agent", "evaluate"),
}
STAGES = tuple(DEPENDS)
"""Every stage, in the order a full run computes them."""


def stage_settings(cfg: PipelineConfig, name: str) -> dict[str, Any]:
    """The settings a stage's output depends on (not paths, threads, device, sampler,
    cuda_graph or eval_workers: those change how fast, not what)."""
    agent = dataclasses.asdict(cfg.agent)
    final_eval = agent.pop("final_eval_episodes")
    if not agent["batched"]:  # batching arrived later: unbatched runs keep their old hashes
        del agent["batched"]
    if agent["synthetic_steps"] == "all":  # arrived later too: the default keeps old hashes
        del agent["synthetic_steps"]
    if agent["synthetic_dynamics"] == "model":  # arrived later too
        del agent["synthetic_dynamics"]
    idm = dataclasses.asdict(cfg.idm)
    if idm["next_state_noise"] == 0:  # arrived later: the plain IDM keeps its old hashes
        del idm["next_state_noise"]
    wm = dataclasses.asdict(cfg.wm)
    if wm["precision"] == "float32":  # arrived later: float32 runs keep their old hashes
        del wm["precision"]
    if wm["past_terminal"] == "drop":  # arrived later: the default keeps old hashes
        del wm["past_terminal"]
    gen = dataclasses.asdict(cfg.gen)  # cfg.sampler is left out: torch and native agree
    if not gen["drop_at_bound"]:  # the filter arrived later: unfiltered runs keep their hashes
        del gen["drop_at_bound"]
    return {
        "data": {
            "env": cfg.env,
            "source": cfg.dataset_source,
            "path": cfg.dataset_path,
            "data_scale": cfg.data_scale,
            "holdout": cfg.idm.holdout_fraction,
            **perturbation_record(cfg.task),
        },
        "train-wm": {
            "wm": wm,
            "horizon": cfg.horizon,
            "gamma": cfg.gamma,
            "seed": cfg.model_seed,
        },
        "train-idm": {"idm": idm, "seed": cfg.model_seed},
        "generate": {"gen": gen, "ratio": cfg.synthetic_ratio, "seed": cfg.model_seed},
        "train-agent": {"agent": agent, "algos": list(cfg.algos), "seeds": list(cfg.seeds)},
        "evaluate": {"episodes": final_eval},
        "report": {},
    }[name]


def stage_inputs(cfg: PipelineConfig, name: str) -> dict[str, Any]:
    return {
        "stage": name,
        "settings": stage_settings(cfg, name),
        "upstream": {d: config_hash(stage_inputs(cfg, d)) for d in DEPENDS[name]},
    }


def run_name(cfg: PipelineConfig) -> str:
    return cfg.run or f"{cfg.preset}-{config_hash(stage_inputs(cfg, 'report'))[:8]}"


STAGE_STORE = "stages"
RUN_STAGES = ("report",)  # written into the run's own folder; the rest are shared by content


@dataclass
class Context:
    """What a stage gets: the config and where the run and the stage folders live."""

    cfg: PipelineConfig
    run_dir: Path
    started: float = dataclasses.field(default_factory=time.perf_counter)
    ran: list[str] = dataclasses.field(default_factory=list)  # stages computed (not skipped)

    def dir(self, stage: str) -> Path:
        if stage in RUN_STAGES:
            return self.run_dir / stage
        key = config_hash(stage_inputs(self.cfg, stage))[:12]
        return self.run_dir.parent / STAGE_STORE / f"{stage}-{key}"

    def stage_dirs(self) -> dict[str, str]:
        """Every stage's folder, for the run record."""
        return {name: str(self.dir(name)) for name in STAGES}

    @property
    def run(self) -> str:
        return self.run_dir.name

    def done(self, stage: str) -> dict[str, Any]:
        return read_json(self.dir(stage) / DONE)
