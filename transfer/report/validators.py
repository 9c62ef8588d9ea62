"""The label-free validators judged: for an unsupervised domain-adaptation workdir, how well each validator ranks
checkpoints by target accuracy and what it would select, beside the oracle. A diagnostic that reads the target
test labels (records' `validators`, run/records.py), reported apart from results: no choice depends on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from transfer.report import stats
from transfer.report import tables


def unsupervised(records: Sequence[dict]) -> list[dict]:
  """The records that carry validator diagnostics (unsupervised domain adaptation under selection)."""
  return [r for r in records if r.get('validators')]


def by_seed(records: Sequence[dict], strategy: str, shift: float, validator: str, field: str) -> dict[int, float]:
  """seed -> a validator's diagnostic `field` in the cell (strategy, shift), where it is defined."""
  out = {}
  for r in records:
    if r['strategy'] == strategy and r['shift'] == shift:
      value = r['validators'].get(validator, {}).get(field)
      if value is not None:
        out[r['seed']] = value
  return out


def correlation(records: Sequence[dict], validator: str, shifts: Sequence[float]) -> stats.Interval:
  """A validator's Spearman correlation with target test accuracy, averaged per seed over the cells (strategies x
  `shifts`) of that seed, then mean and CI over seeds."""
  per_seed: dict[int, list[float]] = {}
  for r in records:
    if r['shift'] in shifts:
      rho = r['validators'].get(validator, {}).get('spearman')
      if rho is not None:
        per_seed.setdefault(r['seed'], []).append(rho)
  return stats.mean_ci([np.mean(v) for v in per_seed.values()])


def table(records: Sequence[dict], *, transfer: str = 'dann', baseline: str = 'source_only') -> str:
  """Rows: each validator (the one the workdir selected with marked 'default') and the oracle; columns: its rank
  correlation with target accuracy over every candidate and evaluation (cells at shifts > 0), the target accuracy
  it selects for each strategy at the largest shift, and `transfer` - `baseline` there, paired per seed."""
  records = unsupervised(records)
  if not records:
    return 'no unsupervised domain-adaptation records with validator diagnostics'
  names = list(dict.fromkeys(r['strategy'] for r in records))
  shifts = sorted({r['shift'] for r in records})
  top, moved = shifts[-1], [s for s in shifts if s > 0] or shifts
  default = records[0].get('validator')
  validators = [v for v in records[0]['validators'] if v != 'oracle']
  rows = []
  for v in validators + ['oracle']:
    label = 'oracle (target labels)' if v == 'oracle' else (f'{v} (default)' if v == default else v)
    rho = 'n/a' if v == 'oracle' else tables.fmt(correlation(records, v, moved), signed=True)
    accuracy = [tables.fmt(stats.mean_ci(list(by_seed(records, s, top, v, 'test_curve_accuracy').values())))
                for s in names]
    a, b = (by_seed(records, s, top, v, 'test_curve_accuracy') for s in (transfer, baseline))
    gain = tables.fmt(stats.mean_ci([a[k] - b[k] for k in sorted(a.keys() & b.keys())]), signed=True)
    rows.append([label, rho] + accuracy + [gain])
  header = (['validator', f'rank correlation with target accuracy (shift {", ".join(f"{s:g}" for s in moved)})'] +
            [f'{s} at shift {top:g}' for s in names] + [f'{transfer} - {baseline} at shift {top:g}'])
  return tables.markdown_table(header, rows)


def against_targets(records: Sequence[dict], *, transfer: str = 'dann', baseline: str = 'source_only') -> str:
  """The selected result (whole test set) at every shift above 0: `transfer` - `baseline` paired per seed under the
  workdir's validator, the same under the oracle (each cell's oracle_test_accuracy), and the share of the oracle's
  mean gain that selection recovered (n/a where the oracle's own gain is not above 0: there is nothing to recover)."""
  records = unsupervised(records)
  if not records:
    return 'no unsupervised domain-adaptation records with validator diagnostics'
  rows = []
  for shift in sorted({r['shift'] for r in records if r['shift'] > 0}):
    keys = {'shift': shift}
    gain = stats.paired(records, transfer, baseline, keys)
    oracle = stats.paired(records, transfer, baseline, keys, metric='oracle_test_accuracy')
    share = gain[0] / oracle[0] if oracle[1] > 0 else float('nan')
    rows.append([f'{shift:g}', tables.fmt(gain, signed=True), tables.fmt(oracle, signed=True),
                 'n/a' if np.isnan(share) else f'{share:.0%}'])
  default = records[0].get('validator')
  return tables.markdown_table(['shift', f'{transfer} - {baseline}, selected by {default}',
                                f'{transfer} - {baseline}, oracle', "share of the oracle's gain recovered"], rows)
