"""`python -m dawm_pipeline.datasets train|build`: this project's own D4RL-protocol datasets."""

from __future__ import annotations

import tyro

from dawm_pipeline.datasets.build import BuildConfig, build
from dawm_pipeline.datasets.train import TrainConfig, train


def main() -> None:
    cfg = tyro.extras.subcommand_cli_from_dict({"train": TrainConfig, "build": BuildConfig})
    if isinstance(cfg, TrainConfig):
        train(cfg)
    else:
        build(cfg)


if __name__ == "__main__":
    main()
