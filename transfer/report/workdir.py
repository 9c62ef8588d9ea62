"""The derived files of a workdir, from its records: summary.csv, table.md and plot.png with plot.pdf (each written
atomically)."""

from __future__ import annotations

import csv
import io as std_io
import os
from collections.abc import Sequence

from transfer import io
from transfer import types
from transfer.report import plots
from transfer.report import stats
from transfer.report import tables

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


def write_workdir(workdir: str, *, records: Sequence[dict], report_config) -> str:
  """Writes summary.csv, table.md, plot.png and plot.pdf into `workdir`; returns the markdown table (also in
  table.md)."""
  rc = report_config
  names = list(dict.fromkeys(r['strategy'] for r in records))
  found = stats.panels(records, axis=rc.axis, strategies=names, baseline=rc.baseline, anchor=rc.transfer)
  table = tables.comparison_markdown(found, title=rc.title, axis_label=rc.axis_label, transfer=rc.transfer,
                                     baseline=rc.baseline)
  io.write_text(os.path.join(workdir, 'summary.csv'), csv_text(summary_rows(records)))
  io.write_text(os.path.join(workdir, 'table.md'), table)
  plots.comparison_plot(found, os.path.join(workdir, 'plot.png'), title=rc.title, axis_label=rc.axis_label,
                        baseline=rc.baseline, log_x=rc.log_x)
  return table
