"""One aggregation of seeds and one rule for "did DAWM help", for every report.

The rule (RULE, printed in both the run report and docs/results.md) compares the paired
seeds of real-only and real + DAWM agents; both reports take their verdicts from this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RULE = (
    "Verdict rule: real-only and real + DAWM agents share seeds and are compared seed by "
    "seed. DAWM helped when real + DAWM scored higher on every seed, hurt when it scored "
    "lower on every seed, and otherwise there is no consistent difference; with one seed "
    "nothing is decided. The paired difference and its 95% interval beside each verdict "
    "describe the size of the effect; they do not change the verdict."
)

# Two-sided 95% quantiles t_{0.975, df} of Student's t (any statistics table, e.g. the
# NIST/SEMATECH e-Handbook of Statistical Methods, section 1.3.6.7.2); a df between two
# entries uses the smaller one, so an interval is never narrower than it should be.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000,
        120: 1.980}  # fmt: skip

WORDS = {
    "helped": "DAWM helped on every seed",
    "hurt": "DAWM hurt on every seed",
    "mixed": "no consistent difference",
    "one seed": "one seed: nothing decided",
}


@dataclass(frozen=True)
class Comparison:
    """Per-seed final scores of both conditions, in the same seed order."""

    real: np.ndarray
    dawm: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "real", np.asarray(self.real, float))
        object.__setattr__(self, "dawm", np.asarray(self.dawm, float))
        if self.real.shape != self.dawm.shape or self.real.ndim != 1 or not len(self.real):
            raise ValueError(
                f"paired seeds needed: {self.real.shape} real-only vs {self.dawm.shape} DAWM"
            )

    @property
    def n(self) -> int:
        return len(self.real)

    @property
    def wins(self) -> int:
        return int((self.dawm > self.real).sum())

    @property
    def kind(self) -> str:
        if self.n < 2:
            return "one seed"
        if self.wins == self.n:
            return "helped"
        if self.wins == 0 and bool((self.dawm < self.real).all()):
            return "hurt"
        return "mixed"

    @property
    def relative_change(self) -> float:
        """(mean DAWM − mean real) / |mean real|, in percent (nan when real's mean is 0)."""
        base = self.real.mean()
        return float((self.dawm.mean() - base) / abs(base) * 100) if base else float("nan")

    def paired_interval(self) -> tuple[float, float, float] | None:
        """Mean DAWM − real over paired seeds and its 95% Student-t interval; None for one
        seed. Beside the rule, not part of it: how large the difference is, and how sure."""
        if self.n < 2:
            return None
        diff = self.dawm - self.real
        t = T975[max(df for df in T975 if df <= self.n - 1)]
        half = t * diff.std(ddof=1) / np.sqrt(self.n)
        return float(diff.mean()), float(diff.mean() - half), float(diff.mean() + half)

    @staticmethod
    def mean_std(scores: np.ndarray) -> str:
        return f"{scores.mean():.1f} ± {scores.std():.1f}"

    def change(self) -> str:
        return f"{self.relative_change:+.1f}% ({self.wins}/{self.n} seeds)"

    def sentence(self, label: str) -> str:
        interval = self.paired_interval()
        paired = ""
        if interval is not None:
            d, lo, hi = interval
            paired = f"; paired difference {d:+.1f} (95% CI {lo:+.1f} to {hi:+.1f})"
        return (
            f"{label}: real only {self.mean_std(self.real)}, real + DAWM "
            f"{self.mean_std(self.dawm)} → {self.change()}; {WORDS[self.kind]} (n = {self.n})"
            f"{paired}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "real": self.real.tolist(),
            "dawm": self.dawm.tolist(),
            "dawm_minus_real": float(self.dawm.mean() - self.real.mean()),
            "relative_change_percent": self.relative_change,
            "wins": self.wins,
            "seeds": self.n,
            "kind": self.kind,
            "paired_ci95": None if self.n < 2 else list(self.paired_interval()[1:]),
        }
