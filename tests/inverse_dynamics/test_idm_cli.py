import json
import subprocess
import sys

import numpy as np
from idm_systems import linear_system_episodes
from inverse_dynamics.cli import main


def write_episodes_npz(path, episodes, with_next: bool):
    obs = np.concatenate([o[:-1] for o, _ in episodes])
    nxt = np.concatenate([o[1:] for o, _ in episodes])
    act = np.concatenate([a for _, a in episodes])
    timeouts = np.zeros(len(act), bool)
    timeouts[np.cumsum([len(a) for _, a in episodes]) - 1] = True
    arrays = {
        "observations": obs,
        "actions": act,
        "timeouts": timeouts,
        "terminals": ~timeouts & False,
    }
    if with_next:
        arrays["next_observations"] = nxt
    np.savez(path, **arrays)


def test_cli_fit_then_eval_round_trip(tmp_path, capsys):
    train, test = tmp_path / "train.npz", tmp_path / "test.npz"
    write_episodes_npz(train, linear_system_episodes(30, 40, seed=0), with_next=True)
    write_episodes_npz(test, linear_system_episodes(5, 40, seed=1), with_next=True)
    args = ["fit", "--data", str(train), "--out", str(tmp_path / "m"), "--hidden", "64", "64"]
    assert main([*args, "--epochs", "30", "--lr", "3e-3", "--action-bound", "1"]) == 0
    fit_metrics = json.loads(capsys.readouterr().out)
    assert fit_metrics["r2"] > 0.9
    assert main(["eval", "--model", str(tmp_path / "m"), "--data", str(test)]) == 0
    eval_metrics = json.loads(capsys.readouterr().out)
    assert eval_metrics["r2"] > 0.9 and eval_metrics["count"] == 5 * 40
    first = json.loads((tmp_path / "m" / "fit_result.json").read_text())
    assert first["resumed_from_epoch"] == 0
    # The same command again resumes from <out>/checkpoint/: nothing left to train, same model.
    assert main([*args, "--epochs", "30", "--lr", "3e-3", "--action-bound", "1"]) == 0
    assert json.loads(capsys.readouterr().out) == fit_metrics
    again = json.loads((tmp_path / "m" / "fit_result.json").read_text())
    assert (
        again["resumed_from_epoch"] == len(first["val_nll"])
        and again["val_nll"] == first["val_nll"]
    )
    # Other settings against that checkpoint: refused in one line, nothing overwritten.
    assert main([*args, "--epochs", "30", "--lr", "1e-2", "--action-bound", "1"]) == 2
    assert "another FitConfig" in capsys.readouterr().err


def test_cli_errors_are_one_clear_line(tmp_path):
    np.savez(tmp_path / "bad.npz", observations=np.zeros((5, 2)), actions=np.zeros((5, 1)))
    for args, needle in [
        (
            ["eval", "--model", str(tmp_path / "none"), "--data", str(tmp_path / "bad.npz")],
            "missing",
        ),
        (
            ["fit", "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o")],
            "episode boundaries",
        ),
        (
            ["fit", "--data", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "o")],
            "no data file",
        ),
    ]:
        proc = subprocess.run(
            [sys.executable, "-m", "inverse_dynamics", *args], capture_output=True, text=True
        )
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], proc.stderr
