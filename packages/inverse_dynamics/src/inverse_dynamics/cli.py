"""Command line: `python -m inverse_dynamics fit|eval` on an .npz of episodes.

The .npz holds flat per-step arrays:
  observations (N, obs_dim), actions (N, act_dim), and the episode boundaries as either
  `episode_ends` (N,) bool, or `terminals` and/or `timeouts` (N,) bool (D4RL's names);
  optional `next_observations` (N, obs_dim): with it every row is a transition, without it
  consecutive rows within an episode are.

`fit` checkpoints every epoch to <out>/checkpoint/: the same command run again after an
interrupt resumes there and gives the model an uninterrupted run gives.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from inverse_dynamics.config import FitConfig, IDMConfig
from inverse_dynamics.io import load, save
from inverse_dynamics.metrics import evaluate
from inverse_dynamics.model import InverseDynamicsModel
from inverse_dynamics.training import fit
from inverse_dynamics.windows import episodes_from_arrays, make_windows


def load_npz_windows(path: str, history: int) -> tuple[np.ndarray, np.ndarray]:
    """Read an episodes .npz (format in this module's docstring) into IDM windows."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no data file at {p}; pass an .npz of episodes with --data")
    try:
        data = np.load(p, allow_pickle=False)
        arrays = {k: data[k] for k in data.files}
    except Exception as e:  # zipfile/ValueError/OSError: all mean an unreadable file
        raise ValueError(f"cannot read {p} as .npz: {e}") from e
    for key in ("observations", "actions"):
        if key not in arrays:
            raise ValueError(f"{p} has no '{key}' array (found {sorted(arrays)}); see --help")
    if "episode_ends" in arrays:
        ends = arrays["episode_ends"].astype(bool)
    elif "terminals" in arrays or "timeouts" in arrays:
        n = len(arrays["observations"])
        ends = np.zeros(n, bool)
        for key in ("terminals", "timeouts"):
            if key in arrays:
                ends |= arrays[key].astype(bool).reshape(-1)
    else:
        raise ValueError(
            f"{p} has no episode boundaries: add 'episode_ends' or 'terminals'/'timeouts'"
        )
    episodes = episodes_from_arrays(
        arrays["observations"], arrays["actions"], ends, arrays.get("next_observations")
    )
    return make_windows(episodes, history)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inverse_dynamics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="train an IDM on an .npz of episodes and save it to --out")
    f.add_argument("--data", required=True, help="episodes .npz (see above)")
    f.add_argument("--out", required=True, help="directory for the saved model")
    f.add_argument("--history", type=int, default=1, help="previous states m in the window")
    f.add_argument("--hidden", type=int, nargs="+", default=[256, 256], help="MLP widths")
    f.add_argument("--activation", default="relu")
    f.add_argument("--epochs", type=int, default=100, help="maximum epochs")
    f.add_argument("--patience", type=int, default=5, help="early-stopping patience (epochs)")
    f.add_argument("--batch-size", type=int, default=256)
    f.add_argument("--lr", type=float, default=1e-3)
    f.add_argument("--val-fraction", type=float, default=0.1)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument(
        "--action-bound",
        type=float,
        default=None,
        help="clip actions to [-B, B]; default: the data's per-dimension min and max",
    )
    e = sub.add_parser("eval", help="score a saved IDM on an .npz of episodes (JSON to stdout)")
    e.add_argument("--model", required=True, help="directory written by `fit`")
    e.add_argument("--data", required=True, help="episodes .npz (see above)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "fit":
            windows, actions = load_npz_windows(args.data, args.history)
            config = IDMConfig(
                obs_dim=windows.shape[-1],
                act_dim=actions.shape[-1],
                history=args.history,
                hidden_sizes=tuple(args.hidden),
                activation=args.activation,
            )
            if args.action_bound is None:
                low, high = actions.min(0), actions.max(0)
                high = np.where(high > low, high, low + 1e-6)
            else:
                low, high = -args.action_bound, args.action_bound
            model = InverseDynamicsModel(config, low, high)
            fit_cfg = FitConfig(
                batch_size=args.batch_size,
                lr=args.lr,
                max_epochs=args.epochs,
                patience=args.patience,
                val_fraction=args.val_fraction,
                seed=args.seed,
            )
            result = fit(
                model, windows, actions, fit_cfg, checkpoint_dir=Path(args.out, "checkpoint")
            )
            save(model, args.out)
            Path(args.out, "fit_result.json").write_text(json.dumps(result.to_dict(), indent=2))
            print(json.dumps(result.val_metrics.to_dict()))
        else:
            model = load(args.model)
            windows, actions = load_npz_windows(args.data, model.config.history)
            print(json.dumps(evaluate(model, windows, actions).to_dict()))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
