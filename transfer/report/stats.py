"""Statistics over seeds, the numbers behind every table, plot and verdict.

Means and 95% t-intervals over seeds; paired differences between strategies (for one seed, every strategy sees the
same world, target pool and test set, so differences are paired); and `Panel`s, which compare strategies along one
grid axis at fixed values of the others: per axis value and strategy the accuracy interval, and per non-baseline
strategy the paired gain over the baseline.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import scipy.stats

from transfer import types

Interval = tuple[float, float, float]  # mean, ci_low, ci_high


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Interval:
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


def seeds_of(records: Sequence[dict]) -> list[int]:
  return sorted({r['seed'] for r in records})


@dataclasses.dataclass(frozen=True)
class Test:
  """One paired comparison over seeds (per-seed differences a - b), tested two ways: for a difference (two-sided
  one-sample t-test against 0) and for equivalence within +-`margin` (two one-sided tests, TOST: Schuirmann 1987)."""

  label: str
  differences: tuple[float, ...]
  margin: float

  @property
  def interval(self) -> Interval:
    return mean_ci(self.differences)

  def _t(self, shift: float) -> float:
    x = np.asarray(self.differences, np.float64)
    se = x.std(ddof=1) / math.sqrt(x.size)
    return (x.mean() - shift) / se if se > 0 else math.copysign(math.inf, x.mean() - shift) if x.mean() != shift \
        else 0.0

  @property
  def p_difference(self) -> float:
    if len(self.differences) < 2:
      return math.nan
    return float(2 * scipy.stats.t.sf(abs(self._t(0.0)), df=len(self.differences) - 1))

  @property
  def p_equivalence(self) -> float:
    """TOST p-value: the larger of the two one-sided p-values (mean > -margin, mean < +margin)."""
    if len(self.differences) < 2:
      return math.nan
    df = len(self.differences) - 1
    return float(max(scipy.stats.t.sf(self._t(-self.margin), df), scipy.stats.t.cdf(self._t(self.margin), df)))


def holm(pvalues: Sequence[float]) -> list[float]:
  """Holm's step-down adjustment of a family of p-values (NaN stays NaN and does not count)."""
  finite = [(p, i) for i, p in enumerate(pvalues) if not math.isnan(p)]
  adjusted, running = [math.nan] * len(pvalues), 0.0
  for rank, (p, i) in enumerate(sorted(finite)):
    running = max(running, min(1.0, (len(finite) - rank) * p))
    adjusted[i] = running
  return adjusted


HIGHER, LOWER, EQUIVALENT, INCONCLUSIVE = 'higher', 'lower', 'equivalent', 'inconclusive'


def outcomes(tests: Sequence[Test], alpha: float = 0.05) -> list[str]:
  """Each test of one family read three ways after Holm's correction within the family (the difference tests as
  one family, the equivalence tests as another): 'higher' / 'lower' (a significant difference, by its sign),
  'equivalent' (within the margin), else 'inconclusive'."""
  differ = holm([t.p_difference for t in tests])
  same = holm([t.p_equivalence for t in tests])
  out = []
  for t, pd, pe in zip(tests, differ, same):
    if pd < alpha:
      out.append(HIGHER if t.interval[0] > 0 else LOWER)
    elif pe < alpha:
      out.append(EQUIVALENT)
    else:
      out.append(INCONCLUSIVE)
  return out


@dataclasses.dataclass(frozen=True)
class Panel:
  """One comparison at fixed values of the other grid keys (`fixed`), along `axis`."""

  axis: str
  fixed: dict
  values: list  # axis values, sorted
  accuracy: dict[str, list[Interval]]  # strategy -> one interval per axis value
  gain: dict[str, list[Interval]]  # non-baseline strategy -> paired gain over the baseline, per axis value
  n_seeds: dict[str, list[int]]  # strategy -> seeds behind each interval (diverged runs excluded)
  n_diverged: dict[str, list[int]]  # strategy -> runs left out of each interval because they diverged


def matches(record: dict, strategy: str, keys: dict) -> bool:
  """Whether `record` belongs to `strategy`'s cell `keys`; a record's None on an axis its strategy does not use
  (lr_mult, layers_copied) matches any value."""
  if record['strategy'] != strategy:
    return False
  return all(record.get(k) == v or (k in types.OPTIONAL_AXES and record.get(k) is None) for k, v in keys.items())


def by_seed(records: Sequence[dict], strategy: str, keys: dict, metric: str) -> dict[int, float]:
  """seed -> metric of the cell's runs that did not diverge."""
  return {r['seed']: r[metric] for r in records if matches(r, strategy, keys) and r[metric] is not None}


def count_diverged(records: Sequence[dict], strategy: str, keys: dict) -> int:
  return sum(1 for r in records if matches(r, strategy, keys) and r.get('diverged'))


def panels(records: Sequence[dict], *, axis: str, strategies: Sequence[str], baseline: str,
           anchor: str, metric: str = 'test_accuracy') -> list[Panel]:
  """One Panel per combination of the non-axis keys that `anchor` (the main transfer strategy) was run at."""
  if axis not in types.COMPARED_AXES:
    raise ValueError(f'axis must be one of {types.COMPARED_AXES}, got {axis!r}')
  fixed_keys = [k for k in types.COMPARED_AXES if k != axis]
  anchor_records = [r for r in records if r['strategy'] == anchor]
  combos = sorted({tuple(r.get(k) for k in fixed_keys) for r in anchor_records},
                  key=lambda combo: [(v is None, v or 0) for v in combo])
  values = sorted({r.get(axis) for r in records if r.get(axis) is not None})
  out = []
  for combo in combos:
    fixed = dict(zip(fixed_keys, combo))
    acc, gain, n, diverged = {}, {}, {}, {}
    for s in strategies:
      cells = [by_seed(records, s, {**fixed, axis: v}, metric) for v in values]
      acc[s] = [mean_ci(list(c.values())) for c in cells]
      n[s] = [len(c) for c in cells]
      diverged[s] = [count_diverged(records, s, {**fixed, axis: v}) for v in values]
      if s != baseline:
        base = [by_seed(records, baseline, {**fixed, axis: v}, metric) for v in values]
        gain[s] = [mean_ci(paired_differences(c, b)) for c, b in zip(cells, base)]
    out.append(Panel(axis, fixed, values, acc, gain, n, diverged))
  return out


def paired_test(label: str, records: Sequence[dict], a: str, b: str, keys: dict, keys_b: dict | None = None,
                metric: str = 'test_accuracy', margin: float = 0.0, seeds=None) -> Test:
  """The paired `Test` of `a` at cell `keys` minus `b` at `keys_b` (default: the same cell), over `seeds` (all)."""
  mine = records if seeds is None else [r for r in records if r['seed'] in seeds]
  b_cell = by_seed(mine, b, keys if keys_b is None else keys_b, metric)
  return Test(label, tuple(paired_differences(by_seed(mine, a, keys, metric), b_cell)), margin)


def paired(records: Sequence[dict], a: str, b: str, keys: dict, keys_b: dict | None = None,
           metric: str = 'test_accuracy') -> Interval:
  """Mean and 95% CI over seeds of `a` at cell `keys` minus `b` at `keys_b` (default: the same cell)."""
  b_cell = by_seed(records, b, keys if keys_b is None else keys_b, metric)
  return mean_ci(paired_differences(by_seed(records, a, keys, metric), b_cell))


def accuracy(records: Sequence[dict], strategy: str, keys: dict, metric: str = 'test_accuracy') -> Interval:
  return mean_ci(list(by_seed(records, strategy, keys, metric).values()))
