"""OfflineAgent.load and the checkpoint loader: every damaged or foreign file gives one line
naming the file and the fix (never a json/safetensors/torch traceback), and nothing unpickles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from offline_agents import IQL, TD3BC, ReplayBuffer, TD3BCConfig
from safetensors.torch import load_file, save_file

SMALL = TD3BCConfig(hidden=(8,), batch_size=8)


def _one_line(err: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg, msg
    return msg


@pytest.fixture
def saved(tmp_path) -> Path:
    TD3BC(1, 1, 0.7, SMALL).save(tmp_path / "agent")
    return tmp_path / "agent"


def _edit_meta(directory: Path, **changes) -> None:
    meta = json.loads((directory / "agent.json").read_text())
    (directory / "agent.json").write_text(json.dumps(meta | changes))


def _edit_config(directory: Path, **changes) -> None:
    meta = json.loads((directory / "agent.json").read_text())
    _edit_meta(directory, config=meta["config"] | changes)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _set_weight(directory: Path, key: str, value: float) -> None:
    tensors = load_file(directory / "model.safetensors")
    tensors[key] = torch.full_like(tensors[key], value)
    save_file(tensors, directory / "model.safetensors")


# (id, damage done to a saved agent's directory, file named in the error, words in the error)
LOAD_FAULTS = [
    ("weights-missing", lambda d: (d / "model.safetensors").unlink(), "model.safetensors", "agent.save"),
    ("weights-truncated", lambda d: _truncate(d / "model.safetensors"), "model.safetensors", "corrupt or truncated"),
    ("weights-garbage", lambda d: (d / "model.safetensors").write_bytes(b"\xff" * 64), "model.safetensors", "corrupt or truncated"),
    ("weights-empty", lambda d: (d / "model.safetensors").write_bytes(b""), "model.safetensors", "corrupt or truncated"),
    ("meta-not-json", lambda d: (d / "agent.json").write_text("{not json"), "agent.json", "not JSON"),
    ("meta-not-utf8", lambda d: (d / "agent.json").write_bytes(b"\xff\xfe\x00"), "agent.json", "not JSON"),
    ("meta-a-list", lambda d: (d / "agent.json").write_text("[1, 2]"), "agent.json", "not an agent file"),
    ("meta-no-config", lambda d: _edit_meta(d, config=None), "agent.json", "not an agent file"),
    ("meta-obs-dim-string", lambda d: _edit_meta(d, obs_dim="1"), "agent.json", "not an agent file"),
    ("meta-step-negative", lambda d: _edit_meta(d, step=-1), "agent.json", "not an agent file"),
    ("config-unknown-field", lambda d: _edit_config(d, lambda_=1.0), "agent.json", "['lambda_'] that offline_agents"),
    ("config-bad-value", lambda d: _edit_config(d, actor_lr=-1.0), "agent.json", "TD3BCConfig.actor_lr must be"),
    ("config-bad-type", lambda d: _edit_config(d, hidden="8"), "agent.json", "TD3BCConfig.hidden must be"),
    ("obs-dim-changed", lambda d: _edit_meta(d, obs_dim=3), "model.safetensors", "does not fit"),
    ("max-action-negative", lambda d: _set_weight(d, "max_action", -1.0), "model.safetensors", "holds invalid values (max_action must be positive"),
    ("hidden-changed", lambda d: _edit_config(d, hidden=[16]), "model.safetensors", "does not fit"),
]  # fmt: skip


@pytest.mark.parametrize(
    "damage, named, words", [f[1:] for f in LOAD_FAULTS], ids=[f[0] for f in LOAD_FAULTS]
)
def test_damaged_agent_directory_raises_one_line_naming_the_file(saved, damage, named, words):
    damage(saved)
    error = FileNotFoundError if words == "agent.save" else ValueError
    with pytest.raises(error) as err:
        TD3BC.load(saved)
    assert words in _one_line(err, saved / named)


def test_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        TD3BC.load(tmp_path / "nowhere")
    assert "agent.save(dir)" in _one_line(err, tmp_path / "nowhere")


def test_other_algorithm_is_named(saved):
    with pytest.raises(ValueError) as err:
        IQL.load(saved)
    assert "holds a TD3BC; load it with that class" in _one_line(err, saved)


def test_a_clean_directory_still_loads(saved):
    agent = TD3BC.load(saved)
    assert agent.config == SMALL and agent.step == 0
    np.testing.assert_allclose(agent.max_action.numpy(), [0.7])


class _Marker:
    """Pickles as a call that would create a file, to prove loading never runs it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _params(agent) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in agent._tensors().items()}


@pytest.fixture
def trained(point_mass_data, tmp_path) -> tuple[ReplayBuffer, Path]:
    buffer = ReplayBuffer(point_mass_data[0])
    TD3BC(1, 1, 1.0, SMALL).train(buffer, 4, checkpoint_dir=tmp_path, progress=False)
    return buffer, tmp_path / "checkpoint.pt"


def _swap_tensor(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    key = next(k for k in state["tensors"] if k.startswith("actor."))
    state["tensors"][key] = torch.zeros(3, 3)
    torch.save(state, path)


def _zero_std(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["tensors"]["obs_std"].zero_()
    torch.save(state, path)


def _drop_optimizer(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    del state["optimizers"]["critic"]
    torch.save(state, path)


# (id, damage done to a checkpoint.pt, words in the error)
CHECKPOINT_FAULTS = [
    ("truncated", _truncate, "corrupt or not an offline_agents checkpoint"),
    ("garbage", lambda p: p.write_bytes(b"\x00garbage" * 20), "corrupt or not an offline_agents checkpoint"),
    ("empty", lambda p: p.write_bytes(b""), "corrupt or not an offline_agents checkpoint"),
    ("a-bare-tensor", lambda p: torch.save(torch.zeros(3), p), "corrupt or not an offline_agents checkpoint"),
    ("no-meta", lambda p: torch.save({"step": 1}, p), "corrupt or not an offline_agents checkpoint"),
    ("obs-std-zero", _zero_std, "is damaged (std must be positive"),
    ("tensor-reshaped", _swap_tensor, "is damaged (tensors.actor."),
    ("optimizer-missing", _drop_optimizer, "is damaged (optimizers: missing keys ['critic']"),
]  # fmt: skip


@pytest.mark.parametrize(
    "damage, words", [f[1:] for f in CHECKPOINT_FAULTS], ids=[f[0] for f in CHECKPOINT_FAULTS]
)
def test_damaged_checkpoint_raises_one_line_and_leaves_the_agent_untouched(trained, damage, words):
    buffer, ckpt = trained
    damage(ckpt)
    agent = TD3BC(1, 1, 1.0, SMALL)
    before = _params(agent)
    with pytest.raises(ValueError) as err:
        agent.train(buffer, 8, checkpoint_dir=ckpt.parent, progress=False)
    msg = _one_line(err, ckpt)
    assert words in msg and "resume=False" in msg
    assert agent.step == 0
    assert all(torch.equal(before[k], v) for k, v in _params(agent).items())
    agent.train(buffer, 2, checkpoint_dir=ckpt.parent, resume=False, progress=False)  # the fix
    assert agent.step == 2


def test_checkpoint_with_pickled_code_is_refused_without_running_it(trained, tmp_path):
    buffer, ckpt = trained
    marker = tmp_path / "code-ran"
    torch.save({"meta": _Marker(marker)}, ckpt)
    with pytest.raises(ValueError) as err:
        TD3BC(1, 1, 1.0, SMALL).train(buffer, 8, checkpoint_dir=ckpt.parent, progress=False)
    assert "corrupt or not an offline_agents checkpoint" in _one_line(err, ckpt)
    assert not marker.exists()
