"""Paired comparison of strategies along one grid axis: the numbers behind every table and plot.

For each value of the axis (e.g. each shift) and each strategy: mean and 95% CI of test accuracy over seeds; for
each pre-trained strategy: the gain over the baseline, computed per seed (paired design) before averaging.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from transfer import stats

AXES = ('data_size', 'shift', 'lr_mult', 'layers_copied')
OPTIONAL_AXES = ('lr_mult', 'layers_copied')  # None in the records of strategies that do not use them
Interval = tuple[float, float, float]  # mean, ci_low, ci_high


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
  return all(record.get(k) == v or (k in OPTIONAL_AXES and record.get(k) is None) for k, v in keys.items())


def by_seed(records: Sequence[dict], strategy: str, keys: dict, metric: str) -> dict[int, float]:
  """seed -> metric of the cell's runs that did not diverge."""
  return {r['seed']: r[metric] for r in records if matches(r, strategy, keys) and r[metric] is not None}


def count_diverged(records: Sequence[dict], strategy: str, keys: dict) -> int:
  return sum(1 for r in records if matches(r, strategy, keys) and r.get('diverged'))


def panels(records: Sequence[dict], *, axis: str, strategies: Sequence[str], baseline: str,
           anchor: str, metric: str = 'test_accuracy') -> list[Panel]:
  """One Panel per combination of the non-axis keys that `anchor` (the main transfer strategy) was run at."""
  if axis not in AXES:
    raise ValueError(f'axis must be one of {AXES}, got {axis!r}')
  fixed_keys = [k for k in AXES if k != axis]
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
      acc[s] = [stats.mean_ci(list(c.values())) for c in cells]
      n[s] = [len(c) for c in cells]
      diverged[s] = [count_diverged(records, s, {**fixed, axis: v}) for v in values]
      if s != baseline:
        base = [by_seed(records, baseline, {**fixed, axis: v}, metric) for v in values]
        gain[s] = [stats.mean_ci(stats.paired_differences(c, b)) for c, b in zip(cells, base)]
    out.append(Panel(axis, fixed, values, acc, gain, n, diverged))
  return out


def paired(records: Sequence[dict], a: str, b: str, keys: dict, keys_b: dict | None = None,
           metric: str = 'test_accuracy') -> Interval:
  """Mean and 95% CI over seeds of `a` at cell `keys` minus `b` at `keys_b` (default: the same cell)."""
  b_cell = by_seed(records, b, keys if keys_b is None else keys_b, metric)
  return stats.mean_ci(stats.paired_differences(by_seed(records, a, keys, metric), b_cell))


def accuracy(records: Sequence[dict], strategy: str, keys: dict, metric: str = 'test_accuracy') -> Interval:
  return stats.mean_ci(list(by_seed(records, strategy, keys, metric).values()))
