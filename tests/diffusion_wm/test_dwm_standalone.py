"""`pip install packages/diffusion_wm` works alone: no sibling package, only its own files."""

import os
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import numpy as np, torch, diffusion_wm, sys
from diffusion_wm import DiffusionWorldModel, WorldModelConfig
assert diffusion_wm.__file__.startswith(sys.prefix), diffusion_wm.__file__  # the venv's copy
x = np.random.default_rng(0).normal(size=(64, 4, 2)).astype(np.float32)
m = DiffusionWorldModel(WorldModelConfig(x_dim=2, length=4, guide_dim=1, dim=8, dim_mults=(1, 2)))
m.fit(x, None, x[:, 0, :1], steps=3, batch_size=8, progress=False)
m.save(sys.argv[1]); print(DiffusionWorldModel.load(sys.argv[1]).sample(None, x[:2, 0, :1]).shape)
"""


@pytest.mark.slow
def test_package_installs_and_runs_alone(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = str(env_dir / "bin" / "python")
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    subprocess.run([*pip, str(ROOT / "packages" / "diffusion_wm")], check=True)
    # torch/numpy/safetensors/tqdm come from the dev venv's plain site-packages on PYTHONPATH;
    # its editable installs (the sibling packages) need .pth hooks, so they stay invisible.
    env = os.environ | {"PYTHONPATH": sysconfig.get_paths()["purelib"]}
    out = subprocess.run(
        [py, "-c", SCRIPT, str(tmp_path / "m")], env=env, cwd=tmp_path,
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(2, 4, 2)"
    probe = subprocess.run([py, "-c", "import inverse_dynamics"], env=env, cwd=tmp_path)
    assert probe.returncode != 0, "a sibling package leaked into the isolated environment"
