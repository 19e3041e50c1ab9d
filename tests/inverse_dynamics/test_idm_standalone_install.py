"""`pip install packages/inverse_dynamics` works alone, in a venv with only torch and numpy."""

import os
import subprocess
import venv
from pathlib import Path

from idm_systems import linear_system_episodes
from test_idm_cli import write_episodes_npz

ROOT = Path(__file__).resolve().parents[2]


def test_package_installs_and_runs_alone(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = str(env_dir / "bin" / "python")
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "torch==2.13.0", "numpy"], check=True)
    subprocess.run([*pip, str(ROOT / "packages" / "inverse_dynamics")], check=True)
    data = tmp_path / "episodes.npz"
    write_episodes_npz(data, linear_system_episodes(5, 20, seed=0), with_next=False)
    env = {**os.environ, "PYTHONPATH": ""}
    fit = [py, "-m", "inverse_dynamics", "fit", "--data", str(data), "--out", str(tmp_path / "m")]
    subprocess.run([*fit, "--epochs", "2", "--hidden", "16"], check=True, env=env, cwd=tmp_path)
    out = subprocess.run(
        [py, "-m", "inverse_dynamics", "eval", "--model", str(tmp_path / "m"), "--data", str(data)],
        check=True,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert '"r2"' in out.stdout
    # Nothing from the rest of the monorepo came along.
    listing = subprocess.run([py, "-m", "pip", "list"], capture_output=True, text=True).stdout
    assert "dawm-diffusion-wm" not in listing and "dawm-inverse-dynamics" in listing
