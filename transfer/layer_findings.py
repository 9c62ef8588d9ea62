"""What the layer-transferability experiment says about each layer group, read from paired CIs.

For each grid cell (data size, shift) and each k >= 1: AnB - BnB (copied-and-frozen source layers against layers
trained on the target data itself), AnB+ - BnB+ (the same, both fine-tuned), and AnB(k) - AnB(k-1), the marginal
value of also copying and freezing group k, and BnB(k) - BnB(0), Yosinski's co-adaptation test (a drop means
frozen layers of a target-trained network do not work with freshly trained layers above them). Group k *transfers* when that marginal difference is significantly
above 0, is *specific to the source* when it is significantly below 0, and is *neutral* otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from transfer import compare
from transfer import tables


def reading(interval: compare.Interval) -> str:
  _, lo, hi = interval
  if lo > 0:
    return 'transfers'
  if hi < 0:
    return 'specific to the source'
  return 'neutral'


def cells(records: Sequence[dict]) -> list[tuple[int, float]]:
  """The (data_size, shift) cells the experiment ran, sorted."""
  return sorted({(r['data_size'], r['shift']) for r in records if r['strategy'] == 'anb'})


def rows(records: Sequence[dict], groups: Sequence[str]) -> list[list[str]]:
  """One row per cell and k >= 1: cell, k, the group copied last, the four paired differences, the reading."""
  out = []
  copied = sorted({r['layers_copied'] for r in records if r['strategy'] == 'anb'})
  for n, shift in cells(records):
    for k in (k for k in copied if k >= 1):
      keys = {'data_size': n, 'shift': shift, 'layers_copied': k}
      marginal = compare.paired(records, 'anb', 'anb', keys, {**keys, 'layers_copied': k - 1})
      out.append([f'{n}', f'{shift:g}', f'{k}', groups[k - 1],
                  tables.fmt(compare.paired(records, 'anb', 'bnb', keys), True),
                  tables.fmt(compare.paired(records, 'anb_plus', 'bnb_plus', keys), True),
                  tables.fmt(compare.paired(records, 'bnb', 'bnb', keys, {**keys, 'layers_copied': 0}), True),
                  tables.fmt(marginal, True), reading(marginal)])
  return out


def markdown(records: Sequence[dict], groups: Sequence[str]) -> str:
  header = ['n', 'shift', 'k', 'group copied last', 'AnB - BnB', 'AnB+ - BnB+', 'BnB(k) - BnB(0)', 'AnB(k) - AnB(k-1)',
            'group k']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  return '\n'.join(lines + ['| ' + ' | '.join(row) + ' |' for row in rows(records, groups)])

