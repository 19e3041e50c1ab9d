"""Which finished real-only jobs a train-agent stage may copy (stages/real_reuse.py)."""

import json

import pytest
from dawm_pipeline.runs import DONE, output_checksums
from dawm_pipeline.stages.real_reuse import _source, clear_staging, real_job_inputs

JOB = "td3bc-real-seed0"
AGENT = {"steps": 100, "batch_size": 32, "synthetic_fraction": None, "synthetic_steps": "all"}


def stage_inputs(agent: dict, data: str = "d1", generate: str = "g1") -> dict:
    return {"stage": "train-agent", "settings": {"agent": agent, "algos": ["td3bc"],
            "seeds": [0]}, "upstream": {"data": data, "generate": generate}}  # fmt: skip


def finished_stage(root, name: str, inputs: dict):
    stage = root / name
    (stage / JOB / "agent").mkdir(parents=True)
    (stage / JOB / "curve.csv").write_text("step,elapsed_s\n100,1.0\n")
    (stage / JOB / "result.json").write_text('{"seed": 0}')
    (stage / JOB / "agent" / "model.safetensors").write_bytes(b"weights")
    (stage / "inputs.json").write_text(json.dumps({"hash": "x", "inputs": inputs}))
    (stage / DONE).write_text(json.dumps({"outputs": output_checksums(stage)}))
    return stage


@pytest.fixture
def out(tmp_path):
    target = tmp_path / "train-agent-mine"
    target.mkdir()
    return target


def want(agent: dict, **upstream) -> dict:
    return real_job_inputs(stage_inputs(agent, **upstream))


def test_a_sibling_differing_only_in_synthetic_settings_is_reused(out):
    source = finished_stage(out.parent, "train-agent-a", stage_inputs(AGENT, generate="g2"))
    mine = {**AGENT, "synthetic_fraction": 0.5, "synthetic_steps": "first",
            "synthetic_dynamics": "simulator"}  # fmt: skip
    found = _source(out, JOB, want(mine))
    assert found is not None and found[0] == source


@pytest.mark.parametrize(
    "mine, upstream",
    [
        ({**AGENT, "steps": 200}, {}),  # more updates: another outcome
        (AGENT, {"data": "d2"}),  # other data
        ({**AGENT, "batched": True}, {}),  # a batched sibling trains differently
    ],
)
def test_a_sibling_of_other_data_or_agent_settings_is_not_reused(out, mine, upstream):
    finished_stage(out.parent, "train-agent-a", stage_inputs(AGENT))
    assert _source(out, JOB, want(mine, **upstream)) is None


def test_an_unfinished_or_changed_sibling_is_not_reused(out):
    source = finished_stage(out.parent, "train-agent-a", stage_inputs(AGENT))
    (source / JOB / "curve.csv").write_text("step,elapsed_s\n100,9.0\n")
    assert _source(out, JOB, want(AGENT)) is None
    other = finished_stage(out.parent, "train-agent-b", stage_inputs(AGENT))
    (other / DONE).unlink()
    assert _source(out, JOB, want(AGENT)) is None


def test_clear_staging_removes_only_interrupted_copies(out):
    (out / f".{JOB}.copying").mkdir()
    (out / JOB).mkdir()
    clear_staging(out)
    assert not (out / f".{JOB}.copying").exists() and (out / JOB).exists()
