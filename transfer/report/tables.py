"""Markdown tables: the one table builder, number formats, and a comparison's tables (the original study's columns,
with 95% CIs and a verdict per row)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from transfer.report import stats


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  """A markdown table: one header row, one line per row (cells already formatted)."""
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  return '\n'.join(lines + ['| ' + ' | '.join(row) + ' |' for row in rows])


def fmt(interval: stats.Interval, signed: bool = False) -> str:
  """'mean [low, high]' to three decimals; 'n/a' for an empty cell, the mean alone with a single seed."""
  mean, lo, hi = interval
  f = '{:+.3f}' if signed else '{:.3f}'
  if math.isnan(mean):
    return 'n/a'
  if math.isnan(lo):
    return f.format(mean)
  return f'{f.format(mean)} [{f.format(lo)}, {f.format(hi)}]'


def ours(e, strategy: str, **keys) -> str:
  """Our accuracy of `strategy` at the cell `keys` of experiment `e` (a claims.Experiment), as `fmt` writes it;
  'not run' without the experiment."""
  return fmt(stats.accuracy(e.records, strategy, e.cell(**keys))) if e else 'not run'


def fmt_value(value) -> str:
  return 'n/a' if value is None else f'{value:g}'


def fixed_label(panel: stats.Panel, sep: str = ' = ') -> str:
  """The panel's fixed grid keys, e.g. 'data_size = 100, lr_mult = 0.1'."""
  return ', '.join(f'{k}{sep}{fmt_value(v)}' for k, v in panel.fixed.items() if v is not None)


def acc_cell(panel: stats.Panel, strategy: str, i: int) -> str:
  """Accuracy interval, with the number of diverged runs it leaves out, if any."""
  text = fmt(panel.accuracy[strategy][i])
  k = panel.n_diverged[strategy][i]
  return f'{text} ({k} diverged)' if k else text


def panel_table(panel: stats.Panel, *, axis_label: str, transfer: str, baseline: str) -> str:
  """One markdown table: axis | transfer acc | other accs | baseline acc | gains | verdict of the transfer gain."""
  others = [s for s in panel.accuracy if s not in (transfer, baseline)]
  from_scratch = baseline == 'scratch'
  header = ([axis_label, f'Transfer Acc ({transfer})'] + [f'{s} Acc' for s in others] +
            [f'Scratch Acc ({baseline})' if from_scratch else f'Baseline Acc ({baseline})',
             'Transfer Gain' if from_scratch else f'Gain over {baseline}'] + [f'{s} Gain' for s in others] +
            ['Verdict'])
  rows = []
  for i, value in enumerate(panel.values):
    gain = panel.gain[transfer][i]
    rows.append([fmt_value(value), acc_cell(panel, transfer, i)] + [acc_cell(panel, s, i) for s in others] +
                [acc_cell(panel, baseline, i), fmt(gain, True)] +
                [fmt(panel.gain[s][i], True) for s in others] + [stats.verdict(gain[1], gain[2], baseline)])
  return markdown_table(header, rows)


def comparison_markdown(panels: list[stats.Panel], *, title: str, axis_label: str, transfer: str,
                        baseline: str) -> str:
  """Every panel's table under a heading naming its fixed grid keys, plus how to read the numbers."""
  n_seeds = max(max(n) for p in panels for n in p.n_seeds.values())
  parts = [f'# {title}', '',
           f'Test accuracy, mean [95% t-interval] over {n_seeds} seeds. Gains are paired per seed '
           f"(strategy - {baseline} with the same seed: the same data, target pool and test set). "
           "'negative transfer' = the transfer gain's CI lies entirely below 0; 'transfer helps' = entirely above. "
           "Runs whose loss or parameters became NaN/inf are counted as '(k diverged)' and left out of every mean.",
           '']
  for panel in panels:
    parts += [f'## {fixed_label(panel)}', '', panel_table(panel, axis_label=axis_label, transfer=transfer,
                                                          baseline=baseline), '']
  return '\n'.join(parts)
