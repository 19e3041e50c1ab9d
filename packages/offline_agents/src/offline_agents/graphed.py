"""A chunk of agent updates as one CUDA graph (issue #16: the whole update, captured).

On a GPU an update of these small MLPs is a few hundred tiny kernels, so launches, not
arithmetic, set the rate. ``UpdateGraph`` runs ``period`` consecutive updates (TD3+BC's
policy delay, so the actor's step sits at the same place in every chunk), batch sampling
included, first eagerly on a side stream to warm up, then captured once and replayed. Every
member's generator is registered with the graph, so each replay draws fresh batches and noise
from it and its state advances as in eager mode; a member of a graphed run matches the eager
run with the same seed to float tolerance (tests/offline_agents/test_graphed.py, on CUDA).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

WARMUP_CHUNKS = 3  # eager chunks on a side stream before capture (torch.cuda.graphs' recipe)


def graph_supported(device: torch.device) -> bool:
    """Whether updates on ``device`` can be captured (CUDA graphs: CUDA devices only)."""
    return device.type == "cuda"


class UpdateGraph:
    """Replays ``chunk`` after warm-up, with ``device`` current (streams and capture are per
    device); ``before`` runs eagerly before each chunk.

    The contract: ``chunk`` leaves every Python-side value it reads as it found it (a replay
    runs no Python), reads and writes only tensors that outlive the graph at the same
    addresses (a reallocated batch or index tensor would leave the graph on freed memory),
    and draws randomness only from ``generators``. ``before`` sets per-chunk device tensors
    (e.g. a learning rate): one value per chunk.
    """

    def __init__(
        self,
        chunk: Callable[[], None],
        generators: list[torch.Generator],
        before: Callable[[], None],
        device: torch.device,
    ) -> None:
        self.chunk, self.generators, self.before, self.device = chunk, generators, before, device
        self.warm = 0
        self.graph: torch.cuda.CUDAGraph | None = None

    def run(self) -> None:
        with torch.cuda.device(self.device):
            self.before()
            if self.graph is not None:
                self.graph.replay()
            elif self.warm < WARMUP_CHUNKS:
                self._warm_up()
            else:
                self._capture()

    def _warm_up(self) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.chunk()
        torch.cuda.current_stream().wait_stream(side)
        self.warm += 1

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        for gen in self.generators:
            graph.register_generator_state(gen)
        with torch.cuda.graph(graph):
            self.chunk()
        self.graph = graph
        graph.replay()  # capture records the chunk without running it
