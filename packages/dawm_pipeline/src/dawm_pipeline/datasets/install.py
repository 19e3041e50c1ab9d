"""Put the bundled datasets into local Minari storage (`make datasets`).

Afterwards `minari.load_dataset("dawm/hopper/medium-replay-v0")` works without dawm;
medium and medium-expert are regenerated from the shipped policies on the way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from dawm_pipeline.data import bundled, minari_io
from dawm_pipeline.tasks import LEVELS, resolve, robots


@dataclass
class InstallConfig:
    """Create `dawm/<env>/<level>-v0` in local Minari storage for every built environment."""

    env: tuple[str, ...] = robots()
    level: tuple[str, ...] = LEVELS
    bundle_dir: Path = bundled.BUNDLE_DIR


def install(cfg: InstallConfig) -> None:
    print(f"Minari storage: {minari_io.storage_root()}", flush=True)
    for env in cfg.env:
        try:
            bundled.read_manifest(env, cfg.bundle_dir)
        except FileNotFoundError as e:
            print(f"[{env}] skipped: {e}", flush=True)
            continue
        for level in cfg.level:
            t0 = time.time()
            ds = bundled.load_bundled(resolve(f"{env}-{level}"), cfg.bundle_dir)
            print(f"{ds!r} ready in {time.time() - t0:.1f} s", flush=True)
