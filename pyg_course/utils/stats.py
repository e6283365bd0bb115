"""Summary statistics of repeated runs: the one mean ± std estimator every result uses."""

from __future__ import annotations

import statistics
from typing import Iterable, Tuple


def mean_std(values: Iterable[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0 for a single value, NaN for none)."""
    values = list(values)
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
