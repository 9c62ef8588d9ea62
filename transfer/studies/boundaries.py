"""Decision boundaries of domain adaptation on the two moons, the DANN paper's toy figure regenerated: for one seed
and shift, each strategy's model trained as its experiment trained it, drawn over the source and the rotated target.

The models are retrained here (a run's parameters are not stored) with the lane's hyperparameters as its workdir
recorded them: under the fixed protocol the fixed setting for the whole budget; under a search, the selected
candidate's hyperparameters for the whole budget (the figure shows the end of training, which the selected step
may precede; the title says which).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from transfer import compiler
from transfer import errors
from transfer import io
from transfer import types
from transfer.report import plots
from transfer.run import experiment
from transfer.run import search
from transfer.train import strategies
from transfer.train import target

GRID = 200  # points per side of the probability map
SHOWN = 300  # source and target examples drawn


def median_seed(records: list[dict], shift: float, names=('source_only', 'dann')) -> int:
  """The seed whose gain of names[1] over names[0] (test accuracy, paired) at `shift` is the median of the seeds'
  gains (the upper median for an even count; ties to the lower seed): a representative seed, not the best."""
  accuracy = {}
  for r in records:
    if r['shift'] == shift and r['strategy'] in names and r['test_accuracy'] is not None:
      accuracy.setdefault(r['seed'], {})[r['strategy']] = r['test_accuracy']
  gains = sorted((a[names[1]] - a[names[0]], seed) for seed, a in accuracy.items() if len(a) == 2)
  if not gains:
    raise errors.UserError(f'no seed has results of both {names} at shift {shift:g}')
  return gains[len(gains) // 2][1]


def run(config, workdir: str, *, shift: float, seed: int | None = None, names=('source_only', 'dann')) -> list[str]:
  """Retrains `names` for `seed` (None: `median_seed`, the rule the figure's title states) at `shift` on the config's
  (2-D) data and writes boundaries.png/.pdf into `workdir`; returns the paths."""
  if config.data.name != 'moons' or config.data.get('module'):
    raise errors.ConfigError(f"config.data.name = {config.data.name!r} is not allowed: decision boundaries are drawn "
                             "for 2-D inputs, 'moons' (use configs/domain_adaptation.py:moons, no data.module)")
  loaded = io.read_workdir(workdir)
  if loaded is None:
    raise errors.UserError(f'{workdir!r} holds no finished run; run the experiment first')
  rule = seed is None
  if rule:
    seed = median_seed(loaded[1], shift, names)
  records = {r['strategy']: r for r in loaded[1] if r['seed'] == seed and r['shift'] == shift}
  dataset = experiment.prepare(config)
  outcome = experiment.run(config, workdir)  # a finished workdir: computes nothing, gives its source models
  source_params = jax.tree.map(lambda a: jnp.asarray(a)[seed], outcome.source_params())
  spec = experiment.target_spec(config, dataset)
  panels = []
  for name in names:
    strategy, record = strategies.get(name), records[name]
    hparams = {**search.fixed_setting(config), **{h: v for h, v in (record['selected'] or {}).items()
                                                  if h in types.HPARAMS}}
    lane = jax.tree.map(lambda a: a[0], types.stack_lanes([{'seed': seed, 'data_size': 0, 'shift': shift,
                                                                 'lr_mult': None, 'layers_copied': None,
                                                                 **hparams}]))

    def fitted(lane, source_params, arrays, strategy=strategy):
      own = target.render(arrays, lane, data=dataset.data, strategy=strategy, spec=spec)
      run_data, adapt, _ = target.prepared(lane, own, data=dataset.data, strategy=strategy, spec=spec)
      result = target.fit(lane, source_params, run_data, strategy=strategy, spec=spec, adapt=adapt, evaluate=False)
      return result.params, adapt.data.source, adapt.data.unlabeled, run_data.test

    params, source, unlabeled, test = compiler.jit(fitted)(lane, source_params, dataset.arrays)
    lo, hi = -2.0, 2.0
    axis = np.linspace(lo, hi, GRID, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    probability = jax.nn.softmax(spec.model.apply({'params': params}, grid))[:, 1].reshape(GRID, GRID)
    accuracy = float(np.mean(np.argmax(spec.model.apply({'params': params}, test.x), -1) == np.asarray(test.y)))
    selected = record['selected'] or {}
    panels.append({'strategy': name, 'axis': axis, 'probability': np.asarray(probability),
                   'source': (np.asarray(source.x[:SHOWN]), np.asarray(source.y[:SHOWN])),
                   'target': np.asarray(unlabeled[:SHOWN]), 'accuracy': accuracy,
                   'note': f'end of training ({config.steps} steps)' + (
                       f'; selected step {selected["step"]}' if config.selection.mode == 'search' else '')})
  degrees = np.degrees(shift * config.data.shift_angle)
  return plots.boundaries_plot(panels, os.path.join(workdir, 'boundaries.png'),
                               title=f'Two moons, target rotated {degrees:.0f} degrees (seed {seed}' +
                               (f': the median {names[1]} - {names[0]} gain of the seeds)' if rule else ')'))
