"""`python -m dawm_pipeline.datasets train|build|install|table`: this project's own datasets.

train    SAC behaviour policies on Gymnasium v5 (resumable, background job of hours)
build    bundled files (policies, medium-replay, manifest) from finished training runs
measure  regenerate every built level once and record its figures in the manifest
install  every bundled level into local Minari storage as dawm/<env>/<level>-v0
table    the measured tables for docs/datasets.md
"""

from __future__ import annotations

import tyro

from dawm_pipeline.datasets.build import BuildConfig, MeasureConfig, build, measure
from dawm_pipeline.datasets.install import InstallConfig, install
from dawm_pipeline.datasets.table import TableConfig, table
from dawm_pipeline.datasets.train import TrainConfig, train


def main() -> None:
    cfg = tyro.extras.subcommand_cli_from_dict(
        {
            "train": TrainConfig,
            "build": BuildConfig,
            "measure": MeasureConfig,
            "install": InstallConfig,
            "table": TableConfig,
        }
    )
    if isinstance(cfg, TrainConfig):
        train(cfg)
    elif isinstance(cfg, BuildConfig):
        build(cfg)
    elif isinstance(cfg, MeasureConfig):
        measure(cfg)
    elif isinstance(cfg, InstallConfig):
        install(cfg)
    else:
        table(cfg)


if __name__ == "__main__":
    main()
