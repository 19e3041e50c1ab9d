"""Pipeline configuration: one dataclass tree, three presets.

Paper-derived defaults cite their source. DAWM (arXiv 2509.19538) sets the horizon H = 7, K = 5
diffusion training steps, k = 3 DDIM sampling steps and 8x synthetic data; DAWM builds on DWM
(arXiv 2402.03570), whose settings fill in what DAWM does not state (RTG scales, gamma,
p_uncond, U-Net training). ../shared/REFERENCES.md collects these figures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import torch
from diffusion_wm import SamplingConfig

from dawm_pipeline import native, options, tblog
from dawm_pipeline.agents import ALGOS
from dawm_pipeline.sequences import TokenLayout
from dawm_pipeline.tasks import Task, resolve

Preset = Literal["quick", "bench", "paper", "tiny"]
Algo = Literal["td3bc", "iql", "both"]
Backend = Literal["auto", "torch", "native"]
DatasetSource = Literal["auto", "minari", "d4rl", "bundled"]
LogFormat = Literal["none", "tensorboard"]


def torch_device_ok(device: str) -> bool:
    try:
        torch.device(device)
    except (RuntimeError, ValueError):
        return False
    return True


@dataclass
class WorldModelSettings:
    """The diffusion world model p(s_{t+1..t+H}, r_{t..t+H-1} | s_t, a_t, R_tg)."""

    dim: int = 32
    """U-Net base channel width."""
    dim_mults: tuple[int, ...] = (1, 2, 4)
    """Channel multipliers per U-Net level."""
    diffusion_steps: int = 5
    """K, diffusion steps in training (DAWM arXiv 2509.19538 / DWM arXiv 2402.03570: K = 5)."""
    prediction: Literal["epsilon", "x0"] = "x0"
    """What the network predicts. x0, as Decision Diffuser's locomotion config
    (predict_epsilon=False): with K = 5 steps the first DDIM step has alpha_bar ~ 0, where an
    epsilon-network's x0 = (x - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar) blows up; measured
    on hopper data, epsilon gave ~19x the next-state error of x0 at equal training."""
    action_tokens: bool = False
    """Every token carries its action and token 0's a_t is inpainted beside s_t (DWM arXiv
    2402.03570 inpaints the first token's state-action slots); off: a_t enters only through
    the global condition embedding (sequences.py, TokenLayout)."""
    p_uncond: float = 0.25
    """Probability of dropping the RTG guide in training (DWM arXiv 2402.03570: 0.25)."""
    past_terminal: Literal["drop", "absorb"] = "drop"
    """Training windows near a termination (a fall). "drop": only windows inside their episode
    (t + H <= its end), so the model sees a fall only at the last token, and never a context
    from an episode's last H - 1 rows, though generation starts rollouts there too. "absorb":
    episodes that end in a termination also give windows from those rows, the tokens past the
    end holding the fallen state again with reward 0 (an absorbing state), so falls appear at
    every token (on walker2d-medium-replay: 4,800 more windows, 1.5% of 313,702). Diffuser's
    sequence datasets (use_padding=True) likewise start windows at every row and pad past the
    end, with zeros. A diagnostic (docs/synthetic_diagnosis.md); the bench table's rows use
    "drop"."""
    lr: float = 1e-4
    """Adam learning rate (DWM arXiv 2402.03570: 1e-4)."""
    batch_size: int = 64
    """Training batch (DWM arXiv 2402.03570: 64)."""
    steps: int = 2_000_000
    """Gradient steps (DWM arXiv 2402.03570: 2M)."""
    ema_decay: float = 0.995
    """Upper bound of the per-update EMA decay of the sampled weights (DWM arXiv 2402.03570:
    0.995 every 10 steps); short runs use less (ema_max_age)."""
    ema_every: int = 10
    """Steps between EMA updates (DWM arXiv 2402.03570: 10)."""
    ema_max_age: float = 0.05
    """Largest mean age of the sampled (EMA) weights as a fraction of the run. DWM's 0.995
    every 10 steps averages over the last ~2,000 steps: 0.1% of its 2M-step run but half of
    a 4,000-step CPU run, whose sampled weights would then be far behind the trained ones."""
    checkpoint_every: int = 10_000
    """Steps between resumable checkpoints."""
    stop_patience: int | None = None
    """Stop training once this many quality checks in a row (every `stop_every` steps) gained
    less than `stop_min_gain` on the best so far; `steps` is then a cap. The check: R² of the
    first generated velocity change against the real one on held-out episodes (the IDM's
    hold-out, left out of world-model training). None: train exactly `steps`."""
    stop_every: int = 1_000
    """Steps between quality checks (with stop_patience)."""
    stop_min_gain: float = 0.005
    """Smallest R² gain over the best check that counts as progress."""
    precision: Literal["float32", "bfloat16"] = "float32"
    """The network's arithmetic in training (weights, loss and optimizer stay float32):
    bfloat16 runs it under autocast on GPUs and its stride-1 convolutions as bfloat16 GEMMs
    on CPUs with bfloat16 instructions (AVX512-BF16 or AMX), measured faster there
    (docs/performance.md). Not in DWM's or DAWM's text; float32 by default because it
    changes the numbers."""


@dataclass
class IDMSettings:
    """The inverse dynamics model a_t ~ p(a | s_{t-m..t}, s_{t+1}), trained on real data only."""

    history: int = 1
    """m, past states the IDM sees besides s_t and s_{t+1}."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """MLP widths (Decision Diffuser's IDM: 2x256 ReLU)."""
    lr: float = 3e-4
    """Adam learning rate."""
    batch_size: int = 256
    """Training batch."""
    max_epochs: int = 100
    """Epochs over the real windows (upper bound: training stops early on validation NLL)."""
    patience: int = 5
    """Epochs without a validation improvement before stopping."""
    holdout_fraction: float = 0.05
    """Fraction of real episodes kept out of IDM training to measure its accuracy."""
    next_state_noise: float = 0.0
    """Gaussian noise on s_{t+1} of the IDM's training windows, as a fraction of each state
    dimension's std (inverse_dynamics.FitConfig.next_state_noise): the IDM then labels a
    world model's states, errors included, without turning the errors into extreme actions.
    Not in DAWM's text; 0 = the plain IDM (docs/mixing.md)."""


@dataclass
class GenerationSettings:
    """How synthetic transitions are sampled."""

    sampling_steps: int = 3
    """k, DDIM steps at generation (DAWM arXiv 2509.19538: k = 3)."""
    guidance: float = 1.2
    """omega, classifier-free guidance weight (Decision Diffuser's 1.2; DWM does not state it)."""
    rtg_source: Literal["quantile", "data", "target"] = "quantile"
    """R_tg at generation: one target from the dataset's return quantile (default), the start
    state's own return-to-go in the data, or a fixed target (--gen.target-rtg or the task's)."""
    rtg_quantile: float = 0.9
    """With rtg_source='quantile', R_tg = this quantile of the dataset's own returns-to-go
    over all its states: a high return the data shows is reachable. DWM (arXiv 2402.03570)
    and DAWM condition every rollout on one fixed per-task target, from a grid on D4RL's
    scale; on our own datasets those grids are far off (halfcheetah's 0.5 is ~10x our data),
    so the target comes from the data instead."""
    target_rtg: float | None = None
    """Normalized target R_tg when rtg_source='target' (None: the task's registered target,
    the middle of DWM's per-task grid for the locomotion tasks)."""
    clip: float = 1.0
    """Clip of the predicted x0 in normalized units at every DDIM step (Diffuser's clip)."""
    max_transitions: int | None = None
    """Cap on generated transitions (None: synthetic_ratio x real, uncapped). Under a cap the
    agents still draw the ratio's share of synthetic data per batch (see synthetic_share)."""
    drop_at_bound: bool = False
    """Leave out generated transitions whose IDM-inferred action sits at the action box's
    bound in any dimension (`generate.at_action_bound`): the state change asked for more than
    the actuators give. Not in DAWM's text; this project's filter (docs/mixing.md). The
    stage's rate at the bound counts every transition; its other checks see the kept ones."""


@dataclass
class AgentSettings:
    """Offline RL agents trained on real data and on real + DAWM data."""

    steps: int = 1_000_000
    """Gradient steps per agent (DAWM arXiv 2509.19538 / TD3+BC: 1M)."""
    batch_size: int = 256
    """Batch size (TD3+BC / IQL defaults: 256)."""
    synthetic_fraction: float | None = None
    """Share of synthetic transitions per batch; None = uniform over real + synthetic (the
    augmented dataset as a whole, SynthER / CleanDiffuser style; DAWM does not state a mix)."""
    synthetic_steps: Literal["all", "first", "inferred"] = "all"
    """Which generated transitions the real + DAWM agents train on: all H steps (DAWM), only
    step 0 (the real a_t with the world model's r̂_t and ŝ_{t+1}; no IDM), or only steps
    1..H-1 (the IDM's actions). A diagnostic of which part helps or hurts (docs/mixing.md)."""
    synthetic_dynamics: Literal["model", "simulator", "simulator-replayable"] = "model"
    """Where each generated transition's reward, next state and terminal flag come from: the
    world model (DAWM), or one simulator step from its (s, a), so that the world model supplies
    only the states and the IDM the actions ("simulator": rows at a velocity clip, which the
    simulator cannot start from, keep the model's; "simulator-replayable": those rows are left
    out). A diagnostic: does the model's dynamics cost the agents, or the states and actions it
    visits (docs/synthetic_diagnosis.md)."""
    eval_every: int = 5_000
    """Steps between learning-curve evaluations (TD3+BC: 5k)."""
    eval_episodes: int = 10
    """Episodes per learning-curve evaluation (TD3+BC: 10)."""
    final_eval_episodes: int = 10
    """Episodes of the final evaluation stage (the run's last-point score)."""
    score_points: int = 5
    """The final score is the mean of the last this many learning-curve evaluations: one
    evaluation swings by tens of points between nearby checkpoints (docs/results.md)."""
    checkpoint_every: int = 10_000
    """Steps between resumable checkpoints."""
    hidden: int = 256
    """Width of the agents' MLPs (TD3+BC / IQL: 256)."""
    batched: bool = False
    """Train every seed and data condition of an algorithm as one batched network
    (offline_agents' `batched`: each member the same updates as its own run, to float
    rounding). Same jobs, files and scores; for GPUs, where one agent's update is too small to
    fill the device. On a CPU it measured 0.88-0.96x the single agents' speed (docs/agents.md)."""


@dataclass
class PipelineConfig:
    """DAWM end to end: data, world model, IDM, generation, agents, evaluation, report."""

    env: str = "hopper-medium-replay"
    """Dataset (the task), <robot>-<level> for any registered robot (hopper, walker2d,
    halfcheetah, pusher; dawm_pipeline.tasks) and level medium, medium-replay or medium-expert;
    medium and medium-expert also as <robot>-<level>-stochastic (data and evaluation in a
    stochastic env, docs/datasets.md)."""
    preset: Preset = "quick"
    """quick: CPU, whole run in <= 20 min on 2 cores; paper: the paper's settings (GPU);
    tiny: seconds, for tests."""
    out: str = "runs"
    """Root of the artifacts: <out>/<env>/<run>/<stage>/."""
    run: str | None = None
    """Run name; default <preset>-<hash of the config> (a changed config gets a new run)."""
    overwrite: bool = False
    """Let a --run name that holds a run of another config be reused: the old run folder is
    moved aside, and deleted once the new run has finished (stage folders are never touched)."""
    algo: Algo = "td3bc"
    """Offline RL algorithm(s) to train."""
    seeds: tuple[int, ...] = (0,)
    """Seeds; every agent is trained once per seed (real-only and real+DAWM)."""
    horizon: int = 7
    """H, generated steps per rollout (DAWM arXiv 2509.19538: H = 7)."""
    synthetic_ratio: float = 8.0
    """Synthetic transitions generated per real transition (DAWM arXiv 2509.19538: 8x)."""
    data_scale: float = 1.0
    """Fraction of the real episodes used by every stage (DAWM-T: training on less data)."""
    gamma: float = 0.99
    """Discount of the return-to-go (DWM arXiv 2402.03570: 0.99)."""
    dataset_source: DatasetSource = "auto"
    """Where the dataset comes from; auto: Minari, then --dataset-path, then bundled."""
    dataset_path: str | None = None
    """A D4RL-style hdf5 file (dataset_source auto or d4rl)."""
    threads: int = 2
    """torch CPU threads."""
    device: str = "cpu"
    """torch device for training and generation."""
    sampler: Backend = "auto"
    """Generation backend; auto: the native dawm_kernels engine when installed, else torch
    (both sample the same rollouts for the same seed)."""
    train_kernel: Backend = "auto"
    """Mish(GroupNorm) in world-model training and its checks; auto: dawm_kernels' fused CPU
    kernel when installed, else torch. Same numbers to float rounding, ~1.3x the training
    steps/s on CPU (docs/performance.md); on a GPU or under bfloat16 PyTorch's ops run anyway."""
    cuda_graph: bool = False
    """Capture the world model's training step and the agents' updates as CUDA graphs and
    replay them (--device cuda only): the same updates to float rounding, without Python
    and kernel-launch overhead (docs/performance.md)."""
    eval_workers: int = 1
    """Processes stepping the learning-curve evaluation's environments of seed-batched agents
    (--agent.batched): the same episodes, for machines with cores to spare (a GPU host)."""
    log: LogFormat = "none"
    """Training curves as they happen: tensorboard writes event files under
    <out>/<env>/<run>/tensorboard/ (needs the tensorboard extra); none: tqdm lines only."""
    model_seed: int = 0
    """Seed of the world model, the IDM and generation (agents use --seeds)."""
    wm: WorldModelSettings = field(default_factory=WorldModelSettings)
    idm: IDMSettings = field(default_factory=IDMSettings)
    gen: GenerationSettings = field(default_factory=GenerationSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)

    def sampling(self) -> SamplingConfig:
        """The world model's sampling settings, given to both generation backends at
        generate time (never stored with the trained model)."""
        return SamplingConfig(
            steps=self.gen.sampling_steps, guidance=self.gen.guidance, clip=self.gen.clip
        )

    def synthetic_share(self) -> float | None:
        """Share of synthetic transitions per agent batch; None: uniform over real + synthetic.

        An explicit --agent.synthetic-fraction wins. With --gen.max-transitions set, the volume
        may be capped below synthetic_ratio x real, so batches keep the mix the ratio would give
        uncapped, ratio / (1 + ratio) (8x: 8/9).
        """
        if self.agent.synthetic_fraction is not None:
            return self.agent.synthetic_fraction
        if self.gen.max_transitions is not None:
            return self.synthetic_ratio / (1.0 + self.synthetic_ratio)
        return None

    @property
    def algos(self) -> tuple[str, ...]:
        return ALGOS if self.algo == "both" else (self.algo,)

    def validate(self) -> None:
        """Reject bad settings with one line naming the problem and the fix."""
        resolve(self.env)
        options.check(self)
        if not torch_device_ok(self.device):
            raise ValueError(
                f"--device {self.device!r} is not a torch device: use cpu, cuda or cuda:N"
            )
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(
                f"--device {self.device} but torch sees no CUDA device (the {self.preset} preset "
                "is meant for a GPU): pass --device cpu to run it here"
            )
        if (
            self.wm.precision == "bfloat16"
            and self.device.startswith("cuda")
            and not torch.cuda.is_bf16_supported()
        ):
            raise ValueError(
                f"--wm.precision bfloat16 but {torch.cuda.get_device_name(self.device)} has no "
                "bfloat16 arithmetic: use --wm.precision float32"
            )
        on_cpu = torch.device(self.device).type == "cpu"
        if self.wm.precision == "bfloat16" and on_cpu and not native.cpu_has_bf16():
            raise ValueError(
                "--wm.precision bfloat16 on a CPU without bfloat16 instructions (AVX512-BF16 "
                "or AMX) would emulate them and train slower: use --wm.precision float32"
            )
        if self.cuda_graph and not self.device.startswith("cuda"):
            raise ValueError(
                f"--cuda-graph needs --device cuda (got --device {self.device}): CUDA graphs "
                "exist on GPUs only; drop --cuda-graph"
            )
        if self.log == "tensorboard":
            tblog.check_available()
        native.resolve(self.sampler, "--sampler")
        native.resolve(self.train_kernel, "--train-kernel", native.TRAIN_KERNEL_MODULE)
        if self.gen.sampling_steps > self.wm.diffusion_steps:
            raise ValueError(
                f"--gen.sampling-steps ({self.gen.sampling_steps}) must be <= "
                f"--wm.diffusion-steps ({self.wm.diffusion_steps})"
            )

    @property
    def task(self) -> Task:
        """The dataset name resolved in the task registry (robot facts live there)."""
        return resolve(self.env)

    def token_layout(self, obs_dim: int, act_dim: int) -> TokenLayout:
        return TokenLayout(obs_dim, act_dim, self.wm.action_tokens)

    @property
    def rtg_scale(self) -> float:
        return self.task.robot.rtg_scale

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _paper() -> PipelineConfig:
    """The paper's settings (DAWM arXiv 2509.19538 with DWM's 2402.03570 training details)."""
    return PipelineConfig(
        preset="paper",
        algo="both",
        seeds=(0, 1, 2, 3, 4),  # DWM: 5 seeds x 10 episodes
        horizon=7,
        synthetic_ratio=8.0,
        device="cuda",
        wm=WorldModelSettings(dim=128, dim_mults=(1, 4, 8), batch_size=64, steps=2_000_000),
        agent=AgentSettings(steps=1_000_000, eval_every=5_000, eval_episodes=10),
    )


def _quick() -> PipelineConfig:
    """CPU preset: the full dataset, 8x synthetic data up to 1M transitions, few gradient steps.

    Sized from speeds measured on our 2-core machines while they were shared (one torch
    thread: a 2-level dim-32 U-Net trains at ~7-18 steps/s at batch 256 and generates ~8k
    transitions/s in PyTorch, ~20k with dawm_kernels; dim 64 trains at about half that,
    3.5 steps/s with four other jobs on the 2 cores; TD3+BC ~50-250 updates/s). One thread,
    because two threads on two busy cores ran the U-Net up to 30x slower (OpenMP spin-waiting).

    World model: lr 1e-3 for 4,000 steps. `benchmarks/wm_quality.py` on hopper-medium-replay
    (held-out episodes, R² of the first generated state against the real s_{t+1}) measured
    0.74 / 0.83 / 0.91 / 0.95 / 0.98 after 1k / 2k / 3k / 4k / 6k steps at lr 2e-4, and
    0.88 / 0.92 / 0.95 after 1k / 2k / 3k at lr 1e-3; the earlier 1,500 steps at 2e-4 (~0.8)
    left the generated data far from the dynamics (DAWM lost to real-only on every seed).
    The 1M cap keeps generation to minutes on the 1M-2M-transition datasets; the agents
    still draw 8/9 of each batch from synthetic data (PipelineConfig.synthetic_share).
    Width 64: issue #20's step-0 check against the simulator (velocity R² of s' - s with the
    real a_t, docs/fidelity.md) reached 0.915 after 4,000 steps at dim 64 on hopper-medium-
    replay, where dim 32 gave 0.856 (and saturated at 0.897 after 12,000): the cheapest
    network that meets the 0.9 target, at about twice dim 32's cost per step.
    """
    return PipelineConfig(
        preset="quick",
        algo="td3bc",
        seeds=(0, 1),
        threads=1,
        wm=WorldModelSettings(
            dim=64,
            dim_mults=(1, 2),
            batch_size=256,
            lr=1e-3,
            steps=4_000,
            checkpoint_every=500,
        ),
        gen=GenerationSettings(max_transitions=1_000_000),
        idm=IDMSettings(max_epochs=3, patience=2),
        agent=AgentSettings(
            steps=4_000,
            eval_every=1_000,
            eval_episodes=3,
            final_eval_episodes=10,
            checkpoint_every=1_000,
        ),
    )


def _bench() -> PipelineConfig:
    """CPU benchmark scale: agents trained long enough to learn (issue #19).

    Agents: 100,000 updates, evaluated every 5,000 (10 episodes), score = mean of the last 5
    evaluations. d3rlpy's benchmark curves (../shared/REFERENCES.md) reach 90% of their final
    TD3+BC score after 28k-104k updates on medium-replay and 31k-349k on medium, and at
    ~12.5 min per 100k-update run (two side by side on our 2 cores) 100k is what a 12-task x
    2-agent x 2-condition x 5-seed table can afford; medium-expert tasks will still be short of
    convergence. World model: the quick network, trained until its held-out step-0 check
    stalls (patience 2 checks of 1,000 steps, cap 16,000 steps).
    """
    quick = _quick()
    return dataclasses.replace(
        quick,
        preset="bench",
        algo="both",
        seeds=(0, 1, 2, 3, 4),
        wm=dataclasses.replace(
            quick.wm,
            steps=16_000,
            checkpoint_every=1_000,
            stop_patience=2,
            stop_every=1_000,
        ),
        idm=IDMSettings(),
        agent=AgentSettings(
            steps=100_000,
            eval_every=5_000,
            eval_episodes=10,
            final_eval_episodes=10,
            checkpoint_every=10_000,
        ),
    )


def _tiny() -> PipelineConfig:
    """Seconds-long settings for tests: tiny networks and tens of steps."""
    return PipelineConfig(
        preset="tiny",
        algo="td3bc",
        seeds=(0,),
        horizon=3,
        synthetic_ratio=1.0,
        threads=1,
        wm=WorldModelSettings(
            dim=16, dim_mults=(1, 2), batch_size=32, lr=1e-3, steps=30, checkpoint_every=10
        ),
        idm=IDMSettings(
            hidden_sizes=(32, 32), max_epochs=3, patience=2, batch_size=64, holdout_fraction=0.2
        ),
        agent=AgentSettings(
            steps=40,
            batch_size=32,
            eval_every=20,
            eval_episodes=1,
            final_eval_episodes=1,
            checkpoint_every=20,
            hidden=32,
        ),
    )


PRESETS = {"quick": _quick, "bench": _bench, "paper": _paper, "tiny": _tiny}


def preset(name: str) -> PipelineConfig:
    """A fresh config for a preset name."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
    return PRESETS[name]()
