"""The derived files of a workdir, from its records: summary.csv, table.md and plot.png with plot.pdf (each written
atomically); and every committed figure and table redrawn from the committed files, without rerunning anything."""

from __future__ import annotations

import csv
import io as std_io
import os
import types as std_types
from collections.abc import Sequence

import numpy as np

from transfer import io
from transfer import types
from transfer.report import concept
from transfer.report import plots
from transfer.report import stats
from transfer.report import tables
from transfer.report import validators

SUMMARY_KEYS = ('strategy',) + types.COMPARED_AXES  # one summary row per cell: every grid key but the seed


def summary_rows(records: Sequence[dict], metric: str = 'test_accuracy') -> list[dict]:
  """One row per grid cell (SUMMARY_KEYS): seeds, mean and 95% CI of `metric`."""
  cells: dict[tuple, list] = {}
  for r in records:
    cells.setdefault(tuple(r.get(k) for k in SUMMARY_KEYS), []).append(r[metric])
  rows = []
  for key, values in cells.items():
    finite = [v for v in values if v is not None]
    mean, lo, hi = stats.mean_ci(finite)
    rows.append(dict(zip(SUMMARY_KEYS, key), metric=metric, n_seeds=len(finite),
                     n_diverged=len(values) - len(finite), mean=mean, ci_low=lo, ci_high=hi))
  return rows


def csv_text(rows: Sequence[dict]) -> str:
  out = std_io.StringIO()
  writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator='\n')
  writer.writeheader()
  writer.writerows(rows)
  return out.getvalue()


def learning_curves(records: Sequence[dict], lanes: dict, *, axis: str, fixed: dict, eval_every: int) -> list:
  """Per value of `axis` (other grid keys at `fixed`) and per strategy: the mean over seeds of the selected
  candidate's validation and test accuracy curves, the steps they were evaluated at, and the mean selected step."""
  values = sorted({r[axis] for r in records if r[axis] is not None})
  columns = {v: {} for v in values}
  for r in records:
    if r['selected'] is None or not all(stats.matches(r, r['strategy'], {k: v}) for k, v in fixed.items()):
      continue
    lane = lanes[tuple(r[k] for k in types.RUN_KEY) + (r['selected']['candidate'],)]
    for value in values if r[axis] is None else [r[axis]]:  # a strategy without the axis: in every column
      columns[value].setdefault(r['strategy'], []).append((lane['curves'], r['selected']['step']))
  out = []
  for value in values:
    by_strategy = {}
    for name, runs in columns[value].items():
      mean = lambda c, runs=runs: np.nanmean(np.stack([curves[c] for curves, _ in runs]), axis=0)
      test = mean('test_accuracy')
      with np.errstate(all='ignore'):
        val = mean('val_accuracy') if any(np.isfinite(cv['val_accuracy']).any() for cv, _ in runs) else \
            np.full_like(test, np.nan)
      by_strategy[name] = {'step': eval_every * np.arange(1, len(test) + 1), 'test_accuracy': test,
                           'val_accuracy': val, 'selected_step': float(np.mean([s for _, s in runs]))}
    out.append((value, by_strategy))
  return out


def write_workdir(workdir: str, *, records: Sequence[dict], report_config, eval_every: int | None = None) -> str:
  """Writes summary.csv, table.md and plot.png/.pdf into `workdir`, validators.md where the records are of
  unsupervised domain adaptation (report/validators.py), and, where it holds curves.npz and `eval_every` is given,
  curves.png/.pdf (learning curves); returns the markdown table (also in table.md)."""
  rc = report_config
  names = list(dict.fromkeys(r['strategy'] for r in records))
  found = stats.panels(records, axis=rc.axis, strategies=names, baseline=rc.baseline, anchor=rc.transfer)
  table = tables.comparison_markdown(found, title=rc.title, axis_label=rc.axis_label, transfer=rc.transfer,
                                     baseline=rc.baseline)
  io.write_text(os.path.join(workdir, 'summary.csv'), csv_text(summary_rows(records)))
  io.write_text(os.path.join(workdir, 'table.md'), table)
  if validators.unsupervised(records):
    io.write_text(os.path.join(workdir, 'validators.md'),
                  validators.table(records, transfer=rc.transfer, baseline=rc.baseline) + '\n\n' +
                  validators.against_targets(records, transfer=rc.transfer, baseline=rc.baseline) + '\n')
  plots.comparison_plot(found, os.path.join(workdir, 'plot.png'), title=rc.title, axis_label=rc.axis_label,
                        baseline=rc.baseline, log_x=rc.log_x)
  lanes = io.read_lanes(os.path.join(workdir, 'curves.npz'))
  if lanes and eval_every:
    panels = []
    for panel in found:  # every setting the table reports, one row (or more) of the grid each
      fixed = {k: v for k, v in panel.fixed.items() if v is not None}
      panels.append((fixed, learning_curves(records, lanes, axis=rc.axis, fixed=fixed, eval_every=eval_every)))
    plots.curves_plot(panels, os.path.join(workdir, 'curves.png'), title=rc.title, axis=rc.axis)
  return table


def redraw_workdir(workdir: str) -> list[str]:
  """Rewrites a finished workdir's derived files from its config.json and results.json; returns their paths."""
  config, records = io.read_workdir(workdir)
  write_workdir(workdir, records=records, report_config=std_types.SimpleNamespace(**config['report']),
                eval_every=config.get('selection', {}).get('eval_every'))
  return [os.path.join(workdir, name) for name in ('summary.csv', 'table.md')] + plots.figure_paths(
      os.path.join(workdir, 'plot.png'))


def write_decision_map(workdir: str) -> list[str]:
  """Draws decision_map.png and .pdf from the decision experiment's decision.json in `workdir`."""
  cells = io.read_json(os.path.join(workdir, 'decision.json'))['cells']
  return plots.decision_map([(c['data_size'], c['shift'], c['best'], c['advisor']) for c in cells],
                            os.path.join(workdir, 'decision_map.png'))


def redraw(outputs: str) -> list[str]:
  """Every figure under `outputs` from the files committed there: each workdir's summary.csv, table.md and plot
  (byte-identical tables unless the results changed), the decision map, and the concept figure."""
  written = []
  for name in sorted(os.listdir(outputs)):
    workdir = os.path.join(outputs, name)
    if io.read_workdir(workdir) is not None:
      written += redraw_workdir(workdir)
    if os.path.exists(os.path.join(workdir, 'decision.json')):
      written += write_decision_map(workdir)
  return written + concept.figure(os.path.join(outputs, 'concept.png'))
