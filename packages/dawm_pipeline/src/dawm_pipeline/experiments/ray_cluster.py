"""Joining a Ray cluster for `--launcher ray`, and what it must offer a sweep's tasks.

Ray is an optional extra (`dawm-pipeline[ray]`): it is imported only here, when asked for,
and every way this can fail before any work (Ray missing, no cluster answering, cells no
node could run) is a one-line ValueError instead of a traceback or an endless wait.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from dawm_pipeline.config import PipelineConfig
from dawm_pipeline.experiments.runner import log

INSTALL = "pip install 'dawm-pipeline[ray]' (make setup installs it)"
AUTH = (
    "a cluster with token authentication also needs RAY_AUTH_MODE=token and its token "
    "(~/.ray/auth_token) here (docs/scaling.md)"
)


def import_ray() -> ModuleType:
    """The ray module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(f"--launcher ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


def _target(address: str | None) -> str | None:
    """The host:port `ray.init(address)` would join; None: it starts a new local cluster (or
    Ray's private lookup moved, and then ray.init reports by itself)."""
    try:
        from ray._private.services import get_ray_address_from_environment
    except ImportError:
        return address if address not in (None, "auto") else None
    try:
        return get_ray_address_from_environment(address, None)
    except ConnectionError as e:  # "auto" with no cluster on this machine
        raise ValueError(f"--ray-address {address}: {e}") from None


def _check_answers(address: str | None) -> None:
    """Refuse in one line a cluster address nothing listens on. Ray itself retries for
    minutes, e.g. at the address a head stopped without `ray stop` left in
    /tmp/ray/ray_current_cluster, which `ray.init()` tries before starting its own."""
    target = _target(address)
    if target is None or "://" in target:
        return
    host, _, port = target.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError):
        if os.environ.get("RAY_ADDRESS"):  # Ray prefers it even to an explicit address
            source = "RAY_ADDRESS"
        elif address not in (None, "auto"):
            source = f"--ray-address {address}"
        else:
            source = "the last `ray start` on this machine (/tmp/ray/ray_current_cluster)"
        raise ValueError(
            f"no Ray cluster answers at {target} (from {source}): start it with "
            "`ray start --head`, or run `ray stop` to forget a stopped one"
        ) from None


@contextmanager
def connected(address: str | None) -> Iterator[None]:
    """Connect to the cluster at `address` (None: RAY_ADDRESS, else a cluster `ray start`
    left on this machine, else a new one of this machine's cores) for the block; a process
    already connected (e.g. a test's cluster) is used as it is and left connected."""
    ray = import_ray()
    if ray.is_initialized():
        yield
        return
    _check_answers(address)
    try:
        context = ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=True,  # the workers' stage logs, prefixed with their task's name
        )
    except (ConnectionError, RuntimeError) as e:
        where = f"--ray-address {address}" if address else "ray"
        raise ValueError(
            f"{where}: cannot connect to a Ray cluster ({' '.join(str(e).split())}); {AUTH}"
        ) from None
    try:
        session = context.address_info.get("session_dir")
        cpus = ray.cluster_resources().get("CPU", 0)
        log(f"ray: cluster {context.address_info.get('gcs_address')} ({cpus:g} CPUs); "
            f"worker logs in {session}/logs")  # fmt: skip
        yield
    finally:
        ray.shutdown()


def check_resources(ray: ModuleType, cfg: PipelineConfig) -> None:
    """One-line errors for cells no node could ever run (Ray would wait for them forever)."""
    if cfg.device.startswith("cuda:"):
        raise ValueError(
            f"--device {cfg.device} with --launcher ray: pass --device cuda, Ray gives each task "
            "its own GPU"
        )
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    cpus = max((node.get("CPU", 0) for node in nodes), default=0)
    if cpus < cfg.threads:
        raise ValueError(
            f"each cell needs {cfg.threads} CPUs (--threads) on one node but the Ray cluster's "
            f"largest node has {cpus:g}: pass a smaller --threads or add larger nodes"
        )
    if cfg.device.startswith("cuda") and not any(node.get("GPU", 0) >= 1 for node in nodes):
        raise ValueError("--device cuda but the Ray cluster has no GPU: add GPU nodes")
