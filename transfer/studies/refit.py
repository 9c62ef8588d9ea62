"""Refit: does retraining the chosen setting on every labelled example beat the selected run itself?

Model selection holds out a fifth of each lane's labelled target examples to validate, so the selected model trained
on four fifths of them. scikit-learn's `refit` then retrains the chosen setting on all of them. Here, for every grid
cell of a finished search: the cell's chosen candidate is run again as the sweep ran it (its validation split, its
selected step: the selection, recomputed on this machine) and refit (the same run on every labelled example,
stopped at that step: `target.refit_model`); the oracle (the best test-curve step of the same lane) bounds both. Per
strategy and data size: mean test accuracy [95% CI] over seeds of each, and the paired refit - selection difference,
read by the project's rules (stats.Test: a difference, equivalent within the report margin, or inconclusive). Nothing
here reads a test label to choose anything: the step and candidate come from validation alone.

Only cells with labelled target examples (data_size > 0) and a selection (not diverged) are compared.
"""

from __future__ import annotations

import functools

from absl import logging
import numpy as np

from transfer import io
from transfer import types
from transfer.errors import ConfigError
from transfer.errors import WorkdirError
from transfer.report import stats
from transfer.run import experiment
from transfer.run import export
from transfer.train import strategies
from transfer.train import target

FILE = 'refit.md'  # and refit.json beside it: every compared cell's numbers


def selected_steps(score: np.ndarray, eval_every: int) -> np.ndarray:
  """Each lane's selected step: the first evaluation of its best score ((lanes, evaluations) -> (lanes,) steps;
  0 where no evaluation has a finite score)."""
  finite = np.where(np.isfinite(score), score, -np.inf)
  best = np.argmax(finite, axis=1)
  return np.where(np.isfinite(finite.max(axis=1)), (best + 1) * eval_every, 0).astype(np.int32)


def compare(config, workdir: str) -> list[dict]:
  """One row per compared cell: strategy, its grid axes, selected / refit / oracle test accuracy, the step, and
  whether the selection recomputed here is the workdir's (its test accuracy equal to the recorded one)."""
  if config.selection.mode != 'search':
    raise ConfigError(f"config.selection.mode = {config.selection.mode!r} is not allowed: refit compares against "
                      "model selection ('search')")
  done = export.finished(config, workdir)
  dataset = done.dataset
  spec = experiment.target_spec(config, dataset)
  rows = []
  for name in config.strategies:
    strategy = strategies.get(name)
    chosen, lanes = export.chosen_lanes(config, done.records, name)
    keep = [i for i, r in enumerate(chosen) if r['data_size'] > 0]
    if not keep:
      continue
    chosen, lanes = [chosen[i] for i in keep], [lanes[i] for i in keep]
    selected = export.rerun(f'{name} (selected again)', lanes, done,
                            experiment.strategy_train_fn(config, dataset, strategy, shared=True),
                            max_lanes_per_call=config.max_lanes_per_call)
    steps = selected_steps(selected['score'], spec.eval_every)
    refit_accuracy = export.rerun(f'{name} (refit)', lanes, done, functools.partial(
        target.refit_model, data=dataset.data, strategy=strategy, spec=spec),
        max_lanes_per_call=config.max_lanes_per_call, per_lane=(steps,))['test_accuracy']
    for i, record in enumerate(chosen):
      rows.append({'strategy': name, **{a: record[a] for a in types.AXES},
                   'step': int(steps[i]), 'selected': float(selected['selected_test_accuracy'][i]),
                   'refit': float(refit_accuracy[i]), 'oracle': float(selected['oracle_test_accuracy'][i]),
                   'as_recorded': abs(float(selected['selected_test_accuracy'][i]) - record['test_accuracy'])
                   <= export.TOLERANCE})
    logging.info('[%s] %d cells refit', name, len(chosen))
  return rows


def interval(values) -> str:
  mean, lo, hi = stats.mean_ci(values)
  return f'{mean:.3f} [{lo:.3f}, {hi:.3f}]'


def gains_table(rows: list[dict], groups: dict, *, baseline: str, margin: float) -> list[str]:
  """Each strategy's paired gain over `baseline` per cell, under selection and under refit, each read as the
  claims are (one family per protocol): would refitting change a comparison?"""
  by = {(r['strategy'], types.cell_label({a: r[a] for a in types.COMPARED_AXES}), r['seed']): r for r in rows}
  pairs = [(name, label) for name, label in groups if name != baseline and (baseline, label) in groups]
  if not pairs:
    return []
  out = {}
  for side in ('selected', 'refit'):
    tests = []
    for name, label in pairs:
      seeds = sorted(seed for (n, cell, seed) in by if (n, cell) == (name, label) and (baseline, label, seed) in by)
      gains = tuple(by[(name, label, seed)][side] - by[(baseline, label, seed)][side] for seed in seeds)
      tests.append(stats.Test(f'{name} at {label}', gains, margin))
    out[side] = list(zip(tests, stats.outcomes(tests)))
  lines = ['', f'## Gains over {baseline}, under selection and under refit', '',
           f"Paired gain over {baseline} (same seed), each protocol's tests one family (Holm); the last column says "
           'whether the reading changes.', '',
           '| strategy | cell | gain, selected | reads | gain, refit | reads | changed |',
           '|---|---|---|---|---|---|---|']
  changed = 0
  for (name, label), (a, ra), (b, rb) in zip(pairs, out['selected'], out['refit']):
    changed += ra != rb
    lines.append(f'| {name} | {label} | {format_interval(a.interval)} | {ra} | {format_interval(b.interval)} | {rb} '
                 f'| {"yes" if ra != rb else "no"} |')
  lines += ['', f'Readings that change with refit: {changed} of {len(pairs)}.']
  return lines


def format_interval(interval: stats.Interval) -> str:
  mean, lo, hi = interval
  return f'{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]'


def markdown(rows: list[dict], *, experiment_name: str, margin: float, baseline: str = 'scratch') -> str:
  """The comparison as a page: a table per strategy and data size, and how it reads."""
  lines = [f'# Refit against selection: {experiment_name}', '',
           "Test accuracy, mean [95% t-interval] over seeds, of each cell's chosen candidate: **selected** (trained "
           'on four fifths of the labelled examples, at the step of its best validation accuracy), **refit** (the '
           'same run on every labelled example, stopped at that step) and the **oracle** (the same lane at its best '
           'test-curve step: an upper bound, never a result). Refit - selected is paired per seed and read as the '
           "project's claims are (every row one test of one family, Holm-adjusted): 'higher' = refit significantly "
           f"above selection, 'equivalent' = within +-{margin:g}, else 'inconclusive'. Generated by "
           '`python -m scripts.refit` (transfer/studies/refit.py).', '',
           '| strategy | cell | selected | refit | oracle | refit - selected | reads |',
           '|---|---|---|---|---|---|---|']
  readings, groups = {}, {}
  seed = lambda r: r['seed']
  for r in rows:  # a cell over seeds: its strategy and every other axis
    groups.setdefault((r['strategy'], types.cell_label({a: r[a] for a in types.COMPARED_AXES})), []).append(r)
  tests = [stats.Test(f'{name} at {label}', tuple(r['refit'] - r['selected'] for r in sorted(cell, key=seed)),
                      margin) for (name, label), cell in groups.items()]
  for ((name, label), cell), test, reading in zip(groups.items(), tests, stats.outcomes(tests)):
    readings.setdefault(reading, []).append(test.label)
    lines.append(f'| {name} | {label} | {interval([r["selected"] for r in cell])} | '
                 f'{interval([r["refit"] for r in cell])} | {interval([r["oracle"] for r in cell])} | '
                 f'{format_interval(test.interval)} | {reading} |')
  matched = sum(r['as_recorded'] for r in rows)
  above = sum(t.interval[1] > 0 for t in tests)
  lines += ['', f'Grid cells compared: {len(rows)} (seeds x rows above); the selection recomputed here equals the '
            f'workdir\'s record in {matched} of them (elsewhere the source models or the CPU differ: '
            'docs/determinism.md). Refit - selected has its 95% CI above 0 in '
            f'{above} of {len(tests)} rows and inside +-{margin:g} in {sum(t.negligible for t in tests)}.', '']
  for reading in sorted(readings):
    lines.append(f'- **{reading}** ({len(readings[reading])}): {", ".join(readings[reading])}')
  lines += gains_table(rows, groups, baseline=baseline, margin=margin)
  return '\n'.join(lines) + '\n'


def write(config, workdir: str, out: str | None = None) -> str:
  """Compares refit with selection on `workdir`'s cells and writes the page (default <workdir>/refit.md)."""
  rows = compare(config, workdir)
  if not rows:
    raise WorkdirError(f'{workdir!r} has no selected cell with labelled target examples to refit')
  path = out or f'{workdir.rstrip("/")}/{FILE}'
  io.write_text(path, markdown(rows, experiment_name=config.experiment, margin=config.report.margin,
                               baseline=config.report.baseline))
  io.write_json(path[:-len('.md')] + '.json' if path.endswith('.md') else path + '.json', {'cells': rows})
  return path
