"""Percentiles, as nearest-rank on the sorted sample (p99 of 200 samples is the 198th)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(sample: Sequence[float], p: float) -> float:
    if not sample:
        return float("nan")
    ordered = sorted(sample)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(sample: Sequence[float]) -> float:
    return statistics.median(sample) if sample else float("nan")
