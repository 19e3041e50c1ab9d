"""Published figures to show beside ours, with their sources. They are D4RL results, not ours.

The only stored copy of DAWM (arXiv 2509.19538) available offline gives its abstract and
introduction, not its results tables, so DAWM's per-task scores are not here; only its stated
gains over DWM and DD are. The per-task table is DWM's (arXiv 2402.03570), the world model
DAWM builds on and compares against: TD3+BC, DWM-TD3BC, IQL and DWM-IQL from its model-free
comparison, and Decision Diffuser from its DD comparison. The values were read from those
tables as printed in chapter 6 of Z. Ding's thesis (arXiv 2607.17560, Tables 6.4 and 6.3; the
same tables are 5.3 and 5.2 in DWM's arXiv v4). They are on a 0-1 scale there (1 = expert),
mean ± std over 5 seeds x 10 episodes; `PER_TASK_SCALE` turns them into our 0-100 scores.
"""

from __future__ import annotations

DWM = "DWM arXiv 2402.03570v4, average rows of Tables 5.2 and 5.3 (x100)"
CORL = "CORL (tinkoff-ai/CORL), published last-score averages"

NINE_TASK_AVERAGES = (
    ("TD3+BC (model-free)", 69.3, DWM),
    ("DWM-TD3BC", 67.9, DWM),
    ("IQL (model-free)", 60.1, DWM),
    ("DWM-IQL", 64.1, DWM),
    ("Decision Diffuser (DD)", 67.7, DWM),
    ("TD3+BC, CORL reproduction (last score)", 76.45, CORL),
    ("IQL, CORL reproduction (last score)", 81.63, CORL),
)
"""(method, 9-task average normalized score on D4RL, source)."""

DAWM_CLAIMS = (
    "DAWM-TD3BC averages 9.3% above DWM-TD3BC over the 9 tasks (DAWM arXiv 2509.19538)",
    "DAWM-IQL averages 9.5% above DD-IQL (DAWM arXiv 2509.19538)",
)

PER_TASK_SOURCE = (
    "DWM arXiv 2402.03570v4, Table 5.3 (TD3+BC, DWM-TD3BC, IQL, DWM-IQL) and Table 5.2 (DD); "
    "values as printed in Z. Ding's thesis, arXiv 2607.17560, Tables 6.4 and 6.3"
)
PER_TASK_SCALE = 100.0
"""The tables give 0-1 normalized returns; ours are D4RL scores on 0-100."""

_ROWS = (
    "hopper-medium",
    "walker2d-medium",
    "halfcheetah-medium",
    "hopper-medium-replay",
    "walker2d-medium-replay",
    "halfcheetah-medium-replay",
    "hopper-medium-expert",
    "walker2d-medium-expert",
    "halfcheetah-medium-expert",
)
# Columns as published, rows in _ROWS order: (mean, std), 0-1 scale.
_COLUMNS: dict[str, tuple[tuple[float, float | None], ...]] = {
    "TD3+BC": (
        (0.58, 0.11), (0.77, 0.09), (0.47, 0.01),
        (0.53, 0.19), (0.75, 0.19), (0.43, 0.01),
        (0.90, 0.28), (1.08, 0.01), (0.73, 0.16),
    ),
    "DWM-TD3BC": (
        (0.65, 0.10), (0.70, 0.15), (0.46, 0.01),
        (0.53, 0.09), (0.46, 0.19), (0.43, 0.01),
        (1.03, 0.14), (1.10, 0.00), (0.75, 0.16),
    ),
    "IQL": (
        (0.48, 0.08), (0.75, 0.15), (0.46, 0.07),
        (0.25, 0.02), (0.48, 0.23), (0.44, 0.01),
        (0.86, 0.22), (1.09, 0.00), (0.60, 0.23),
    ),
    "DWM-IQL": (
        (0.54, 0.11), (0.76, 0.05), (0.44, 0.01),
        (0.61, 0.13), (0.35, 0.14), (0.41, 0.01),
        (0.90, 0.25), (1.04, 0.10), (0.71, 0.14),
    ),
    "DD": (
        (0.49, 0.07), (0.67, 0.16), (0.49, 0.01),
        (0.66, 0.15), (0.44, 0.26), (0.38, 0.06),
        (1.06, 0.11), (0.99, 0.15), (0.91, 0.01),
    ),
}  # fmt: skip

PER_TASK_METHODS = tuple(_COLUMNS)
PER_TASK: dict[str, dict[str, tuple[float, float | None]]] = {
    task: {method: column[i] for method, column in _COLUMNS.items()} for i, task in enumerate(_ROWS)
}
"""task -> method -> (mean, std or None), 0-1 normalized return on the D4RL dataset."""
