"""Config hashes, stage markers, presets and CLI parsing."""

import warnings

import numpy as np
import pytest
import torch
from dawm_pipeline.atomic import read_npz, write_npz
from dawm_pipeline.cli import parse
from dawm_pipeline.config import preset
from dawm_pipeline.runs import StageDir, config_hash
from dawm_pipeline.simcheck import SimScale, consistency
from dawm_pipeline.stage_graph import STAGES, stage_inputs
from dawm_pipeline.tasks import resolve


def test_hash_ignores_key_order_and_sees_values():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_stage_hash_follows_its_inputs_only():
    a, b = preset("tiny"), preset("tiny")
    b.agent.steps += 1
    h = lambda cfg, s: config_hash(stage_inputs(cfg, s))  # noqa: E731
    assert h(a, "train-wm") == h(b, "train-wm")  # agent settings do not touch the world model
    assert h(a, "train-agent") != h(b, "train-agent")
    assert h(a, "report") != h(b, "report")  # ... but reach the report downstream
    b.sampler = "native"
    c = preset("tiny")
    c.sampler = "torch"
    assert h(b, "generate") == h(c, "generate")  # both samplers give the same result


def test_later_options_at_their_defaults_keep_the_earlier_hashes():
    """Options added after results existed (drop_at_bound, synthetic_steps, the IDM's
    next_state_noise) are left out of
    the hashes at their defaults, so earlier stage folders stay valid; set, they count."""
    cfg = preset("tiny")
    gen = stage_inputs(cfg, "generate")["settings"]["gen"]
    agent = stage_inputs(cfg, "train-agent")["settings"]["agent"]
    assert "drop_at_bound" not in gen and "synthetic_steps" not in agent
    assert "synthetic_dynamics" not in agent
    assert "next_state_noise" not in stage_inputs(cfg, "train-idm")["settings"]["idm"]
    h = lambda c, s: config_hash(stage_inputs(c, s))  # noqa: E731
    filtered, first = preset("tiny"), preset("tiny")
    filtered.gen.drop_at_bound = True
    first.agent.synthetic_steps = "first"
    assert h(filtered, "generate") != h(cfg, "generate")
    assert h(filtered, "train-wm") == h(cfg, "train-wm")
    assert h(first, "train-agent") != h(cfg, "train-agent")
    assert h(first, "generate") == h(cfg, "generate")
    replayed = preset("tiny")
    replayed.agent.synthetic_dynamics = "simulator"
    assert h(replayed, "train-agent") != h(cfg, "train-agent")
    assert h(replayed, "generate") == h(cfg, "generate")
    robust = preset("tiny")
    robust.idm.next_state_noise = 0.1
    assert h(robust, "train-idm") != h(cfg, "train-idm")
    assert h(robust, "generate") != h(cfg, "generate")  # downstream of the IDM
    assert h(robust, "train-wm") == h(cfg, "train-wm")


def test_data_stage_hash_sees_the_stochastic_perturbation(monkeypatch):
    import dataclasses

    from dawm_pipeline.tasks import stochastic

    plain, noisy = preset("tiny"), preset("tiny")
    plain.env, noisy.env = "hopper-medium", "hopper-medium-stochastic"
    assert "perturbation" not in stage_inputs(plain, "data")["settings"]
    before = config_hash(stage_inputs(noisy, "generate"))
    heavier = dataclasses.replace(stochastic.STOCHASTIC, torso_mass_scale=1.5)
    monkeypatch.setattr(stochastic, "STOCHASTIC", heavier)
    assert stage_inputs(noisy, "data")["settings"]["perturbation"]["torso_mass_scale"] == 1.5
    assert config_hash(stage_inputs(noisy, "generate")) != before  # reaches downstream stages


def test_stage_dir_done_and_recompute(tmp_path):
    sd = StageDir(tmp_path / "s", {"x": 1})
    assert sd.done() is None
    sd.prepare()
    sd.finish({"ok": True}, 1.0)
    assert sd.done()["summary"] == {"ok": True}
    other = StageDir(tmp_path / "s", {"x": 2})
    assert other.done() is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        other.prepare()
    assert any("another config" in str(w.message) for w in caught)
    assert not (tmp_path / "s" / "done.json").exists()


def test_npz_round_trip_without_pickle(tmp_path):
    write_npz(tmp_path / "a.npz", {"x": np.arange(3), "y": np.ones((2, 2), bool)})
    out = read_npz(tmp_path / "a.npz")
    assert out["x"].tolist() == [0, 1, 2] and out["y"].all()
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_paper_preset_without_gpu_says_how_to_run_on_cpu():
    with pytest.raises(ValueError, match="pass --device cpu"):
        parse(["--preset", "paper"])


def test_cli_preset_defaults_and_overrides():
    stages, cfg = parse(["--preset", "paper", "--device", "cpu"])
    assert stages == STAGES
    assert (cfg.horizon, cfg.wm.diffusion_steps, cfg.gen.sampling_steps) == (7, 5, 3)
    assert (cfg.wm.steps, cfg.agent.steps, cfg.synthetic_ratio) == (2_000_000, 1_000_000, 8.0)
    stages, cfg = parse(["generate", "--horizon", "5", "--seeds", "3", "4", "--algo", "both"])
    assert stages == ("generate",) and cfg.preset == "quick"
    assert cfg.horizon == 5 and cfg.seeds == (3, 4) and cfg.algos == ("td3bc", "iql")
    stages, _ = parse(["train-idm", "data"])
    assert stages == ("data", "train-idm")  # pipeline order whatever the command-line order


def test_synthetic_share_keeps_the_ratio_mix_under_a_volume_cap():
    _, cfg = parse(["--preset", "tiny", "--synthetic-ratio", "8"])
    assert cfg.synthetic_share() is None  # uncapped: uniform over real + synthetic
    _, cfg = parse(["--preset", "tiny", "--synthetic-ratio", "8", "--gen.max-transitions", "10"])
    assert cfg.synthetic_share() == pytest.approx(8 / 9)
    _, cfg = parse(
        ["--preset", "tiny", "--gen.max-transitions", "10", "--agent.synthetic-fraction", "0.5"]
    )
    assert cfg.synthetic_share() == 0.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "ant-medium"], "unknown dataset name 'ant-medium'"),
        (["--horizon", "0"], "--horizon must be >= 1"),
        (["--horizon", "x"], "--horizon"),
        (["--data-scale", "2"], "--data-scale"),
        (["trainwm"], "unknown stage 'trainwm'"),
        (["--preset", "fast"], "unknown preset 'fast'"),
    ],
    ids=[
        "unknown-env",
        "horizon-zero",
        "horizon-text",
        "data-scale-above-1",
        "unknown-stage",
        "unknown-preset",
    ],
)
def test_cli_rejects_bad_input_with_one_line(args, message):
    with pytest.raises(ValueError, match=message) as err:
        parse(args)
    assert "\n" not in str(err.value)


def test_simulator_check_reproduces_recorded_transitions():
    import gymnasium as gym

    env = gym.make("Hopper-v5")
    obs, _ = env.reset(seed=0)
    rows = []
    rng = np.random.default_rng(0)
    for _ in range(30):
        a = rng.uniform(-1, 1, 3).astype(np.float32)
        nxt, *_ = env.step(a)
        rows.append((obs, a, nxt))
        obs = nxt
    o, a, n = (np.array(x) for x in zip(*rows, strict=True))
    scale = SimScale.of(o, n)
    exact = consistency(resolve("hopper-medium"), o, a, n, scale)
    assert exact["delta_r2"] > 0.999 and exact["state_r2"] > 0.999
    wrong = consistency(resolve("hopper-medium"), o, -a, n, scale)["delta_r2"]
    assert wrong < 0.99  # other actions do not reproduce the next state


def test_source_revision_names_the_checkout_commit():
    import shutil
    import subprocess
    from pathlib import Path

    from dawm_pipeline.runs import source_revision

    repo = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    revision = source_revision()
    assert revision is not None and revision.split()[0] == head


def test_ema_of_the_sampled_weights_is_scaled_to_the_run():
    from dawm_pipeline.stages.train_wm import ema_decay, ema_mean_age

    quick, paper = preset("quick"), preset("paper")
    age = ema_mean_age(ema_decay(quick), quick.wm.ema_every)
    assert age == pytest.approx(quick.wm.ema_max_age * quick.wm.steps)  # 200 of 4,000 steps
    assert ema_mean_age(quick.wm.ema_decay, quick.wm.ema_every) > 0.4 * quick.wm.steps  # DWM's
    assert ema_decay(paper) == 0.995  # 2M steps: DWM's decay is already young enough


def test_world_model_training_stops_when_its_quality_stalls():
    from dawm_pipeline.stages.train_wm import stale

    rising = [[1000, 0.5], [2000, 0.7], [3000, 0.8]]
    assert not stale(rising, 2, 0.005)
    flat = [*rising, [4000, 0.802], [5000, 0.79]]
    assert stale(flat, 2, 0.005)  # two checks without a 0.005 gain on 0.8
    assert not stale(flat[:4], 2, 0.005)  # only one check since the best
    assert not stale(flat, 3, 0.005)  # 0.8 at 3000 was itself a gain on 0.7


def test_cli_algorithm_choices_are_the_registered_agents():
    from typing import get_args

    from dawm_pipeline.agents import ALGOS
    from dawm_pipeline.config import Algo

    assert set(get_args(Algo)) == {*ALGOS, "both"}


def test_finished_stage_outputs_are_verified_before_reuse(tmp_path):
    from dawm_pipeline.runs import _VERIFIED

    sd = StageDir(tmp_path / "s", {"x": 1})
    sd.prepare()
    (sd.path / "model").mkdir()
    (sd.path / "model" / "w.bin").write_bytes(b"weights")
    (sd.path / "checkpoint").mkdir()
    (sd.path / "checkpoint" / "ckpt.pt").write_bytes(b"resume state")  # not an output
    record = sd.finish({"ok": True}, 1.0)
    assert set(record["outputs"]) == {"model/w.bin"}
    assert sd.done() is not None
    (sd.path / "checkpoint" / "ckpt.pt").unlink()  # checkpoints may go
    _VERIFIED.clear()
    assert sd.done() is not None
    (sd.path / "model" / "w.bin").write_bytes(b"tampered")
    _VERIFIED.clear()
    with pytest.warns(UserWarning, match=r"w\.bin does not match the checksum"):
        assert sd.done() is None
    (sd.path / "model" / "w.bin").unlink()
    with pytest.warns(UserWarning, match=r"w\.bin is missing; the stage will be recomputed"):
        assert sd.done() is None
    (sd.path / "done.json").write_text("{ torn")
    with pytest.warns(UserWarning, match="unreadable"):
        assert sd.done() is None
    sd.prepare()  # a recompute starts unfinished
    assert not (sd.path / "done.json").exists()


def _claim(run_dir, cfg, overwrite=False):
    from pathlib import Path

    from dawm_pipeline.runs import claim_run_dir
    from dawm_pipeline.stage_graph import Context

    ctx = Context(cfg, Path(run_dir))
    return claim_run_dir(ctx.run_dir, cfg.to_dict(), ctx.stage_dirs(), overwrite)


def test_a_reused_run_name_with_another_config_is_refused_naming_what_differs(tmp_path):
    from dawm_pipeline.runs import RECORD, write_run_record
    from dawm_pipeline.stage_graph import Context

    run_dir = tmp_path / "hopper-medium-replay" / "mine"
    run_dir.mkdir(parents=True)
    first = preset("tiny")
    write_run_record(run_dir, first.to_dict(), {}, Context(first, run_dir).stage_dirs())
    same = preset("tiny")
    same.threads, same.sampler = 7, "torch"  # where and how fast, not what: no conflict
    assert _claim(run_dir, same) is None
    changed = preset("tiny")
    changed.agent.steps += 1
    changed.gamma = 0.9
    with pytest.raises(ValueError) as e:
        _claim(run_dir, changed)
    message = str(e.value)
    assert "\n" not in message and "--run mine" in message and "--overwrite" in message
    assert "train-wm" in message and "train-agent" in message and "train-idm" not in message
    assert "gamma: 0.99 -> 0.9" in message and "agent.steps" in message
    assert (run_dir / RECORD).is_file()  # refused before anything moved
    aside = _claim(run_dir, changed, overwrite=True)
    assert aside is not None and (aside / RECORD).is_file() and not run_dir.exists()
    assert aside.name.startswith("mine.replaced-")


def test_unreadable_in_progress_files_are_moved_aside_with_a_warning(tmp_path):
    from dawm_pipeline.inprogress import read_or_set_aside

    good = tmp_path / "chunk.npz"
    write_npz(good, {"a": np.arange(3)})
    assert read_or_set_aside(good, read_npz)["a"].tolist() == [0, 1, 2]
    assert read_or_set_aside(tmp_path / "missing.npz", read_npz) is None
    torn = tmp_path / "torn.npz"
    torn.write_bytes(good.read_bytes()[:40])
    with pytest.warns(UserWarning, match=r"torn\.npz is unreadable .*moved aside to torn\.npz"):
        assert read_or_set_aside(torn, read_npz) is None
    assert not torn.exists() and len(list(tmp_path.glob("torn.npz.unreadable-*"))) == 1
    torn.write_bytes(b"again")  # a second torn copy gets its own name, nothing overwritten
    with pytest.warns(UserWarning):
        assert read_or_set_aside(torn, read_npz) is None
    assert len(list(tmp_path.glob("torn.npz.unreadable-*"))) == 2


def test_a_torn_agent_checkpoint_or_curve_restarts_its_job(tmp_path):
    from dawm_pipeline.stages.train_agent import CURVE, check_resume_state

    job = tmp_path / "td3bc-real-seed0"
    (job / "checkpoint").mkdir(parents=True)
    ckpt, curve = job / "checkpoint" / "checkpoint.pt", job / CURVE
    torch.save({"step": 10}, ckpt)
    curve.write_text("step,critic_loss\n5,1.0\n10,0.5\n")
    check_resume_state([job], job / "checkpoint")  # both readable: resume
    assert ckpt.is_file() and curve.is_file()
    ckpt.write_bytes(b"PK\x03\x04 torn")
    with pytest.warns(UserWarning, match="checkpoint.pt is unreadable"):
        check_resume_state([job], job / "checkpoint")
    assert not ckpt.exists() and curve.is_file()  # the curve restarts with the job (_CsvLog)
    torch.save({"step": 10}, ckpt)
    curve.write_text("critic_loss\n1.0\n")  # no step column
    with pytest.warns(UserWarning) as caught:
        check_resume_state([job], job / "checkpoint")
    assert not ckpt.exists() and not curve.exists()
    assert any("curve.csv is missing or unreadable" in str(w.message) for w in caught)


def test_tensorboard_logging_without_the_package_is_one_line(monkeypatch):
    import sys

    cfg = preset("tiny")
    cfg.log = "tensorboard"
    cfg.validate()  # installed here (the test extra)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    with pytest.raises(ValueError, match=r"--log tensorboard needs the tensorboard package") as e:
        cfg.validate()
    assert 'pip install "dawm-pipeline[tensorboard]"' in str(e.value) and "\n" not in str(e.value)


def test_batching_enters_the_agent_stage_hash_only_when_on():
    plain, batched = preset("tiny"), preset("tiny")
    batched.agent.batched = True
    assert "batched" not in stage_inputs(plain, "train-agent")["settings"]["agent"]  # old hashes
    assert config_hash(stage_inputs(plain, "train-agent")) != config_hash(
        stage_inputs(batched, "train-agent")
    )
    assert config_hash(stage_inputs(plain, "generate")) == config_hash(
        stage_inputs(batched, "generate")
    )


def test_cuda_graph_keeps_every_hash_and_bf16_moves_the_world_model_and_after():
    plain, graphed, bf16 = preset("tiny"), preset("tiny"), preset("tiny")
    graphed.cuda_graph = True  # how fast, not what: no stage's hash moves
    bf16.wm.precision = "bfloat16"
    assert "precision" not in stage_inputs(plain, "train-wm")["settings"]["wm"]  # old hashes
    for stage in ("data", "train-wm", "train-idm", "generate", "train-agent"):
        same = config_hash(stage_inputs(plain, stage)) == config_hash(stage_inputs(bf16, stage))
        assert config_hash(stage_inputs(plain, stage)) == config_hash(stage_inputs(graphed, stage))
        assert same == (stage in ("data", "train-idm"))  # bf16 reaches what reads the model


def test_eval_workers_keep_every_hash_and_bad_counts_are_refused():
    plain, workers = preset("tiny"), preset("tiny")
    workers.eval_workers = 4  # how fast, not what
    for stage in ("data", "train-wm", "train-idm", "generate", "train-agent", "evaluate"):
        assert config_hash(stage_inputs(plain, stage)) == config_hash(stage_inputs(workers, stage))
    with pytest.raises(ValueError, match="eval-workers"):
        parse(["--eval-workers", "0"])


def test_cuda_graph_off_cuda_is_refused():
    cfg = preset("tiny")
    cfg.cuda_graph = True
    with pytest.raises(ValueError, match=r"^--cuda-graph needs --device cuda \(got --device cpu"):
        cfg.validate()


def test_bf16_on_a_cpu_without_bf16_instructions_is_refused(monkeypatch):
    from dawm_pipeline import native

    cfg = preset("tiny")
    cfg.wm.precision = "bfloat16"
    monkeypatch.setattr(native, "cpu_has_bf16", lambda: True)
    cfg.validate()
    monkeypatch.setattr(native, "cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match=r"^--wm.precision bfloat16 on a CPU without bfloat16"):
        cfg.validate()


def test_a_run_folder_recorded_under_another_spelling_of_out_is_the_same_run(tmp_path):
    from dawm_pipeline.runs import claim_run_dir
    from dawm_pipeline.stage_graph import Context

    cfg = preset("tiny")
    here = Context(cfg, tmp_path / "hopper-medium-replay" / "mine")
    stages = here.stage_dirs()
    record = {"config": cfg.to_dict(), "stages": {k: f"/elsewhere/{v}" for k, v in stages.items()}}
    here.run_dir.mkdir(parents=True)
    (here.run_dir / "run.json").write_text(__import__("json").dumps(record))
    assert claim_run_dir(here.run_dir, cfg.to_dict(), stages, overwrite=False) is None


def test_a_data_stage_of_an_older_bundle_is_refused(tmp_path, monkeypatch):
    from dawm_pipeline.atomic import write_json
    from dawm_pipeline.data import bundled
    from dawm_pipeline.pipeline import run
    from test_data import make_bundle

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    bundle = make_bundle(tmp_path, False)
    cfg = preset("tiny")
    cfg.dataset_source, cfg.dataset_path, cfg.out = "bundled", str(bundle), str(tmp_path / "runs")
    run(cfg, ("data",))
    run(cfg, ("data",))  # same shipped files: reused
    manifest = bundled.read_manifest("hopper", bundle)
    manifest["bundle_hash"] = "f" * 64  # the package now ships other hopper data
    write_json(bundle / "hopper" / "manifest.json", manifest)
    with pytest.raises(ValueError, match="another version of the bundled hopper data") as e:
        run(cfg, ("data",))
    assert "fresh --out" in str(e.value) and "\n" not in str(e.value)


def test_versions_are_those_of_the_running_modules(monkeypatch):
    """An editable install's metadata keeps its install-time version; the record must not."""
    import inverse_dynamics
    from dawm_pipeline.runs import package_versions

    monkeypatch.setattr(inverse_dynamics, "__version__", "9.9.9")
    versions = package_versions()
    assert versions["dawm-inverse-dynamics"] == "9.9.9"
    assert versions["torch"] == __import__("torch").__version__


def test_cuda_graph_under_torchrun_is_refused(monkeypatch):
    from dawm_pipeline import distributed
    from dawm_pipeline.pipeline import check_torchrun

    cfg = preset("tiny")
    cfg.cuda_graph = True  # validate() would refuse it on this CPU first; check the rule alone
    monkeypatch.setattr(distributed, "world", lambda: 2)
    with pytest.raises(ValueError, match=r"^--cuda-graph captures one process's step"):
        check_torchrun(cfg, ("data", "train-wm"))
