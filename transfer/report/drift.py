"""How far regenerated results moved from the committed ones: per experiment and grid cell, the old and new mean test
accuracy over seeds, the paired per-seed change and the cell's own seed noise (the half-width of its 95% interval).

A change that alters the compiled programs (not the science) should move no cell by more than its seed noise; this
is the table that shows it. The old results are read from a git revision of the same outputs folder.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence

import numpy as np

from transfer import io
from transfer import types
from transfer.report import stats
from transfer.report import tables

METRICS = ('test_accuracy', 'oracle_test_accuracy')


def cell_key(record: dict) -> tuple:
  return (record['strategy'],) + tuple(record.get(a) for a in types.COMPARED_AXES)


def by_cell(records: Sequence[dict], metric: str) -> dict[tuple, dict[int, float]]:
  """Cell -> seed -> `metric` (cells' diverged or missing values left out)."""
  out: dict[tuple, dict[int, float]] = {}
  for r in records:
    if r.get(metric) is not None:
      out.setdefault(cell_key(r), {})[r['seed']] = r[metric]
  return out


def half_width(values: Sequence[float]) -> float:
  mean, low, _ = stats.mean_ci(values)
  return mean - low


def compare(old: Sequence[dict], new: Sequence[dict], metric: str = 'test_accuracy') -> dict:
  """Per cell present in both: old and new means, the paired change's interval and the larger seed noise (CI
  half-width) of the two; and the counts: cells, cells identical, cells whose |change| exceeds their seed noise."""
  a, b = by_cell(old, metric), by_cell(new, metric)
  rows, identical, beyond = [], 0, 0
  for key in sorted(set(a) & set(b), key=repr):
    seeds = sorted(set(a[key]) & set(b[key]))
    x, y = [a[key][s] for s in seeds], [b[key][s] for s in seeds]
    change = stats.mean_ci(np.subtract(y, x))
    noise = max(half_width(x), half_width(y))
    same = x == y
    moved = not same and abs(change[0]) > noise
    identical += same
    beyond += moved
    rows.append({'cell': key, 'old': float(np.mean(x)), 'new': float(np.mean(y)), 'change': change, 'noise': noise,
                 'identical': same, 'beyond_noise': moved})
  return {'rows': rows, 'cells': len(rows), 'identical': identical, 'beyond_noise': beyond}


def committed_records(revision: str, path: str, repo: str) -> list[dict] | None:
  """The runs of results.json at `path` (relative to `repo`) as committed at `revision`; None where it is absent."""
  proc = subprocess.run(['git', 'show', f'{revision}:{path}'], cwd=repo, capture_output=True, text=True)
  return json.loads(proc.stdout)['runs'] if proc.returncode == 0 else None


def cell_label(key: tuple) -> str:
  strategy, *axes = key
  return ', '.join([strategy] + [f'{a}={v:g}' for a, v in zip(types.COMPARED_AXES, axes) if v is not None])


def markdown(revision: str, outputs: str, repo: str) -> str:
  """The drift report of every experiment in `outputs` against `revision`: a summary row per experiment and
  metric, then every cell that moved beyond its seed noise."""
  summary, moved = [], []
  for name in sorted(os.listdir(outputs)):
    path = os.path.join(outputs, name, 'results.json')
    if not os.path.exists(path):
      continue
    old = committed_records(revision, os.path.relpath(os.path.abspath(path), os.path.abspath(repo)), repo)
    if old is None:
      continue
    new = io.read_json(path)['runs']
    for metric in METRICS:
      c = compare(old, new, metric)
      worst = max((abs(r['change'][0]) / r['noise'] for r in c['rows'] if r['noise'] > 0 and not r['identical']),
                  default=0.0)
      summary.append([name, metric, str(c['cells']), str(c['identical']), str(c['beyond_noise']),
                      f'{worst:.2f}'])
      moved += [[name, metric, cell_label(r['cell']), f"{r['old']:.3f}", f"{r['new']:.3f}",
                 tables.fmt(r['change'], signed=True), f"{r['noise']:.3f}"] for r in c['rows'] if r['beyond_noise']]
  text = [f'# Regenerated results against revision {revision}', '',
          'Per experiment and metric: grid cells compared (the same strategy, sizes, shifts and settings in both), '
          'cells identical seed for seed, cells whose mean moved by more than their seed noise (the larger half-width '
          'of the two 95% intervals over seeds), and the largest |change| / noise of a cell that moved.', '',
          tables.markdown_table(['experiment', 'metric', 'cells', 'identical', 'beyond seed noise',
                                 'largest change / noise'], summary), '']
  if moved:
    text += ['Cells that moved beyond their seed noise (paired change over seeds, new - old, with its 95% CI):', '',
             tables.markdown_table(['experiment', 'metric', 'cell', 'old', 'new', 'change', 'noise'], moved), '']
  else:
    text += ['No cell moved beyond its seed noise.', '']
  return '\n'.join(text)
