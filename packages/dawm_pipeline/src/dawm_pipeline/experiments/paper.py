"""Published figures to show beside ours, with their sources. They are D4RL results, not ours.

DAWM's own per-task table (arXiv 2509.19538) could not be read offline here (only its abstract
and claims were reachable), so the closest published figures are listed: DWM's 9-task averages
(arXiv 2402.03570, 0-1 scale there, x100 here) and the relative gains DAWM states.
"""

from __future__ import annotations

DWM = "DWM arXiv 2402.03570 (as collected in the project's REFERENCES.md)"
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
