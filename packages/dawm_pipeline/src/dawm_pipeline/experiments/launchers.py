"""Where an experiment's cells run: `local` (in this process, one after another) or `ray`.

Both take the same arguments and return the same counts, and both write the same results
file (ray_launcher.py says how its driver keeps it free of lost or doubled rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dawm_pipeline.experiments.runner import run_experiment

LAUNCHERS = ("local", "ray")

Launch = Callable[..., dict[str, int]]
"""run_experiment's signature: (name, sweep, tasks, algos, seeds, on_row) -> counts."""


def check_options(kind: str, ray_address: str | None) -> None:
    if kind not in LAUNCHERS:
        raise ValueError(f"unknown launcher {kind!r}: use {' or '.join(LAUNCHERS)}")
    if ray_address is not None and kind != "ray":
        raise ValueError("--ray-address is for --launcher ray: add --launcher ray or drop it")


@contextmanager
def launcher(kind: str, ray_address: str | None = None) -> Iterator[Launch]:
    """The run_experiment of `kind`, its cluster connected while the block runs."""
    check_options(kind, ray_address)
    if kind == "local":
        yield run_experiment
        return
    from dawm_pipeline.experiments.ray_cluster import connected
    from dawm_pipeline.experiments.ray_launcher import run_experiment_ray

    with connected(ray_address):
        yield run_experiment_ray
