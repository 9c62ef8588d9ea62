"""Means and 95% t-intervals over seeds, and paired differences between strategies."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.stats


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
  """Mean and two-sided Student-t confidence interval; the interval is NaN with fewer than two values."""
  x = np.asarray(values, dtype=np.float64)
  if x.size == 0:
    return math.nan, math.nan, math.nan
  mean = float(x.mean())
  if x.size < 2:
    return mean, math.nan, math.nan
  half = float(scipy.stats.t.ppf(0.5 + confidence / 2, df=x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
  return mean, mean - half, mean + half


def paired_differences(a: dict, b: dict) -> list[float]:
  """`a[k] - b[k]` for every key (a seed) present in both, in sorted key order."""
  return [a[k] - b[k] for k in sorted(set(a) & set(b))]


def verdict(ci_low: float, ci_high: float, baseline: str = 'scratch') -> str:
  """Reads a gain's CI: significantly positive, negative (transfer), or not distinguishable from 0."""
  if ci_high < 0:
    return 'negative transfer' if baseline == 'scratch' else f'worse than {baseline}'
  if ci_low > 0:
    return 'transfer helps' if baseline == 'scratch' else f'better than {baseline}'
  return 'no significant difference'
