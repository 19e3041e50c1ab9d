"""The verdict rule and the paired interval beside it (dawm_pipeline.verdict)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dawm_pipeline.verdict import T975, Comparison


def _t_cdf(x: float, df: int) -> float:
    """Student's t CDF by Simpson's rule on its density (no scipy here): checks the table."""
    c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    grid = np.linspace(0.0, x, 20_001)
    pdf = c * (1 + grid**2 / df) ** (-(df + 1) / 2)
    h = grid[1] - grid[0]
    return 0.5 + h / 3 * (pdf[0] + pdf[-1] + 4 * pdf[1:-1:2].sum() + 2 * pdf[2:-1:2].sum())


@pytest.mark.parametrize("df", sorted(T975))
def test_the_t_table_holds_the_975_quantiles(df):
    # the tabled value is the quantile to its 3 decimals: the CDF crosses 0.975 within ±5e-4
    assert _t_cdf(T975[df] - 5e-4, df) < 0.975 < _t_cdf(T975[df] + 5e-4, df)


def test_kinds_wins_and_change():
    real = np.array([10.0, 20.0, 30.0])
    assert Comparison(real, real + 1).kind == "helped"
    assert Comparison(real, real - 1).kind == "hurt"
    mixed = Comparison(real, real + np.array([1.0, -1.0, 0.0]))
    assert (mixed.kind, mixed.wins) == ("mixed", 1)
    assert Comparison(real, real * 1.1).relative_change == pytest.approx(10.0)
    assert Comparison([5.0], [6.0]).kind == "one seed"


def test_paired_interval():
    real = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    d, lo, hi = Comparison(real, real + 2).paired_interval()
    assert (d, lo, hi) == pytest.approx((2.0, 2.0, 2.0))  # the same gain on every seed
    d, lo, hi = Comparison([0.0, 0.0], [1.0, -1.0]).paired_interval()
    assert (d, lo, hi) == pytest.approx((0.0, -12.706, 12.706))  # se 1, df 1
    # 12 seeds: df 11 falls back to the table's df 10 (wider, never narrower)
    diffs = np.arange(12.0)
    d, lo, hi = Comparison(np.zeros(12), diffs).paired_interval()
    assert hi - d == pytest.approx(2.228 * diffs.std(ddof=1) / math.sqrt(12))
    assert Comparison([1.0], [2.0]).paired_interval() is None
    text = Comparison(real, real - np.arange(1.0, 6.0)).sentence("x")
    assert "paired difference -3.0 (95% CI -5.0 to -1.0)" in text
