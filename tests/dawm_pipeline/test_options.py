"""Every numeric option is range-checked before any stage runs, with one line naming it."""

from __future__ import annotations

import dataclasses
import math

import pytest
from dawm_pipeline import native, options
from dawm_pipeline.config import PipelineConfig, preset


def numeric_fields(obj, prefix: str = "") -> list[str]:
    """Dotted paths of every int/float (or optional int/float) field of the config tree."""
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out += numeric_fields(value, f"{path}.")
        elif any(t in str(f.type) for t in ("int", "float")) and not any(
            t in str(f.type)
            for t in ("tuple", "Literal")  # Literal['float32', ...]: a choice
        ):
            out.append(path)
    return out


def test_every_numeric_option_has_a_range():
    assert set(numeric_fields(PipelineConfig())) == set(options.RANGES)


def bad_values(valid: options.Range) -> list:
    candidates = [-1, 0, 0.5, 1, 1.5, 2, -0.5, math.nan, math.inf, -1e9, 1e9, None, True, "x"]
    return [v for v in candidates if not valid.accepts(v)]


def set_option(cfg, path: str, value) -> None:
    """Set the option at dotted `path` (e.g. "wm.dim") of `cfg` to `value`."""
    *parents, leaf = path.split(".")
    setattr(options.get(cfg, ".".join(parents)) if parents else cfg, leaf, value)


@pytest.mark.parametrize("path", sorted(options.RANGES))
def test_bad_values_are_refused_with_one_line_naming_the_flag(path):
    valid = options.RANGES[path]
    bad = bad_values(valid)
    assert bad, f"no bad value found for {path}"
    for value in bad:
        cfg = preset("tiny")
        set_option(cfg, path, value)
        with pytest.raises(ValueError) as e:
            cfg.validate()
        message = str(e.value)
        assert message.startswith(options.flag(path)) and "\n" not in message, message
        assert valid.text in message


def test_every_choice_option_refuses_a_value_it_does_not_allow():
    """A config built in Python skips the CLI's own check of choices; validate() catches it."""
    fields = options.choice_options(preset("tiny"))
    assert {"algo", "gen.rtg_source", "agent.synthetic_steps", "agent.synthetic_dynamics"} <= set(
        fields
    )
    for path, allowed in fields.items():
        cfg = preset("tiny")
        set_option(cfg, path, "no-such-choice")
        with pytest.raises(ValueError) as e:
            cfg.validate()
        message = str(e.value)
        assert message.startswith(options.flag(path) + " must be one of") and "\n" not in message
        assert "'no-such-choice'" in message and str(allowed[0]) in message


def test_choices_read_literal_and_optional_literal_hints():
    from typing import Literal, Optional

    assert options.choices(Literal["a", "b"]) == ("a", "b")
    assert options.choices(Optional[Literal["a"]]) == ("a", None)  # noqa: UP045
    assert options.choices(Literal["a"] | None) == ("a", None)
    assert options.choices(int) is None and options.choices(int | None) is None


def test_the_presets_are_valid_and_the_harmful_cases_are_refused():
    for name in ("tiny", "quick", "bench"):
        preset(name).validate()
    cfg = preset("tiny")
    cfg.gamma = -0.5  # once accepted: a run on a meaningless return-to-go
    with pytest.raises(ValueError, match=r"--gamma must be in \(0, 1\] \(got -0.5\)"):
        cfg.validate()
    cfg = preset("tiny")
    cfg.seeds = (0, 0)  # two jobs in one folder
    with pytest.raises(ValueError, match="--seeds names a seed twice"):
        cfg.validate()
    for bad_seeds in ((), (-1,), (0, 1.5)):
        cfg = preset("tiny")
        cfg.seeds = bad_seeds
        with pytest.raises(ValueError, match="--seeds must be one or more integers >= 0"):
            cfg.validate()
    cfg = preset("tiny")
    cfg.device = "gpu0"
    with pytest.raises(ValueError, match="is not a torch device"):
        cfg.validate()


def test_native_backends_are_refused_up_front_without_the_engine(monkeypatch):
    monkeypatch.setattr(native, "available", lambda module=native.SAMPLER_MODULE: False)
    for option, field in (("--sampler", "sampler"), ("--train-kernel", "train_kernel")):
        cfg = preset("tiny")
        setattr(cfg, field, "native")
        with pytest.raises(ValueError, match=f"{option} native needs (the )?dawm_kernels"):
            cfg.validate()
        setattr(cfg, field, "auto")  # falls back to PyTorch
        cfg.validate()
        assert native.resolve("auto", option) == "torch"


def test_an_engine_without_training_kernels_falls_back_or_is_refused(monkeypatch):
    """dawm_kernels < 0.3.0 has the sampler but not torch_ops: auto trains with PyTorch's
    ops, native is refused up front (not at the train-wm stage)."""
    monkeypatch.setattr(native, "available", lambda module: module == native.SAMPLER_MODULE)
    cfg = preset("tiny")
    cfg.validate()
    assert native.resolve(cfg.train_kernel, "--train-kernel", native.TRAIN_KERNEL_MODULE) == "torch"
    cfg.train_kernel = "native"
    with pytest.raises(
        ValueError,
        match=r"--train-kernel native needs dawm_kernels >= 0\.3\.0 \(its training kernels\)",
    ):
        cfg.validate()
