"""The original study's decision framework as an executable advisor, and the experiment that scores it.

The framework: little target data and similar domains -> feature extraction; little data and different domains ->
domain adaptation; moderate data -> gradual unfreezing; lots of data -> fine-tuning. The advisor measures the two
inputs the framework needs, the labelled target size and a domain distance (squared MMD between the pre-trained
backbone's features of source and target inputs), and applies the framework with thresholds (`little`, `lots`,
`far`). The decision experiment runs the grid, fits the thresholds on the first `decision.fit_seeds` seeds and
scores them against the empirically best strategy per (size, shift) cell on the remaining seeds, never on the runs
they were fitted to. It writes decision.md, decision.json, thresholds.json and decision_map.png (and .pdf) into the
workdir.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import os
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from transfer import errors
from transfer import io
from transfer.data import dataset as dataset_lib
from transfer.data.dataset import DataSource
from transfer.report import stats
from transfer.report import tables
from transfer.report import workdir as workdir_report
from transfer.run import experiment
from transfer.run import sources
from transfer.train import losses
from transfer.train import models

LITTLE_SIMILAR, LITTLE_DIFFERENT, MODERATE, LOTS = ('feature_extraction', 'dann', 'gradual_unfreezing',
                                                    'fine_tuning')


@dataclasses.dataclass(frozen=True)
class Thresholds:
  """n < little: little data; n >= lots: lots of data; distance >= far: different domains."""

  little: float
  lots: float
  far: float


def recommend(n: int, distance: float, t: Thresholds) -> tuple[str, str]:
  """The framework's strategy for `n` labelled target examples at domain `distance`, and why."""
  if n < t.little:
    if distance < t.far:
      return LITTLE_SIMILAR, f'little data (n={n} < {t.little:g}) and similar domains ({distance:.4f} < {t.far:.4f})'
    return LITTLE_DIFFERENT, f'little data (n={n} < {t.little:g}) and different domains ({distance:.4f} >= {t.far:.4f})'
  if n < t.lots:
    return MODERATE, f'moderate data ({t.little:g} <= n={n} < {t.lots:g})'
  return LOTS, f'lots of data (n={n} >= {t.lots:g})'


def domain_distance(seed: jax.Array, shift: jax.Array, source_params, arrays, *, data: DataSource,
                    model: nn.Module, samples: int) -> jax.Array:
  """Squared MMD between backbone features of up to `samples` source and unlabelled target inputs (pure,
  vmappable)."""
  source_x, target_x = data.domain_samples(arrays, seed, shift, samples)
  features = lambda x: model.apply({'params': source_params}, x, method=model.features)
  return losses.mmd_loss(features(source_x), features(target_x))


@dataclasses.dataclass(frozen=True)
class Cell:
  """One grid cell as the advisor sees it: size, mean distance, and mean accuracy per strategy."""

  data_size: int
  shift: float
  distance: float
  accuracy: dict[str, float]

  @property
  def best(self) -> str:
    return max(self.accuracy, key=self.accuracy.get)


def regret(cell: Cell, strategy: str) -> float:
  """Accuracy lost by running `strategy` instead of the cell's best."""
  return cell.accuracy[cell.best] - cell.accuracy[strategy]


def fit_thresholds(cells: Sequence[Cell]) -> Thresholds:
  """The thresholds whose recommendations lose the least accuracy on `cells`, searched over cut points
  between the grid's own sizes and distances (ties: the first found, smallest thresholds first)."""
  sizes = sorted({c.data_size for c in cells})
  distances = sorted({c.distance for c in cells})
  size_cuts = [s + 0.5 for s in sizes[:-1]] + [-math.inf, math.inf]
  far_cuts = [(a + b) / 2 for a, b in zip(distances, distances[1:])] + [-math.inf, math.inf]
  best, best_loss = None, math.inf
  for little, lots, far in itertools.product(sorted(size_cuts), sorted(size_cuts), sorted(far_cuts)):
    if lots < little:
      continue
    t = Thresholds(little, lots, far)
    loss = sum(regret(c, recommend(c.data_size, c.distance, t)[0]) for c in cells)
    if loss < best_loss - 1e-12:
      best, best_loss = t, loss
  return best


# The decision experiment.


def distance_fn(config, dataset: dataset_lib.Dataset, samples: int):
  """`domain_distance` on the config's source model, `samples` inputs per domain."""
  data = dataset.data
  return functools.partial(domain_distance, data=data, samples=samples,
                           model=models.make_model(config.model, data.source_classes, data.input_shape))


def distances(config, dataset: dataset_lib.Dataset, source_params) -> dict[tuple[int, float], float]:
  """(seed, shift) -> domain distance on that seed's pre-trained features, all in one jit(vmap)."""
  pairs = [(s, sh) for s in range(config.seeds) for sh in dataset_lib.shifts(config, dataset.data)]
  fn = distance_fn(config, dataset, config.decision.distance_samples)
  seeds = jnp.array([p[0] for p in pairs], jnp.int32)
  values = jax.jit(jax.vmap(fn, in_axes=(0, 0, 0, None)))(
      seeds, jnp.array([p[1] for p in pairs], jnp.float32),
      jax.tree.map(lambda a: jnp.asarray(a)[seeds], source_params), dataset.arrays)
  return dict(zip(pairs, np.asarray(values).tolist()))


def cells(records, dist, seeds, strategies, lr_mult: float) -> list[Cell]:
  """Per (size, shift): mean accuracy per strategy and mean distance over `seeds` only."""
  mine = [r for r in records if r['seed'] in seeds]
  out = []
  for n, shift in sorted({(r['data_size'], r['shift']) for r in mine}):
    keys = {'data_size': n, 'shift': shift, 'lr_mult': lr_mult}
    accuracy = {s: stats.accuracy(mine, s, keys)[0] for s in strategies}
    out.append(Cell(n, shift, float(np.mean([dist[(s, shift)] for s in seeds])), accuracy))
  return out


@dataclasses.dataclass(frozen=True)
class Row:
  cell: Cell
  recommended: str
  reason: str
  best_interval: stats.Interval
  margin: stats.Interval  # best - runner-up, paired over the held-out seeds
  shortfall: stats.Interval  # best - the advisor's choice, paired over the held-out seeds

  @property
  def agrees(self) -> bool:
    return self.recommended == self.cell.best


def score(records, cells_out, seeds, t: Thresholds, lr_mult: float) -> list[Row]:
  mine = [r for r in records if r['seed'] in seeds]
  rows = []
  for c in cells_out:
    keys = {'data_size': c.data_size, 'shift': c.shift, 'lr_mult': lr_mult}
    ranked = sorted(c.accuracy, key=c.accuracy.get, reverse=True)
    recommended, reason = recommend(c.data_size, c.distance, t)
    rows.append(Row(c, recommended, reason, stats.accuracy(mine, ranked[0], keys),
                    stats.paired(mine, ranked[0], ranked[1], keys),
                    stats.paired(mine, ranked[0], recommended, keys)))
  return rows


def constant_policies(rows: list[Row]) -> str:
  """Mean held-out regret of always running one strategy: what the advisor has to beat."""
  names = sorted(rows[0].cell.accuracy)
  return ', '.join(f'{s} {np.mean([regret(r.cell, s) for r in rows]):.3f}' for s in names)


def markdown(rows: list[Row], t: Thresholds, fit_seeds, eval_seeds) -> str:
  agreement = np.mean([r.agrees for r in rows])
  regrets = [regret(r.cell, r.recommended) for r in rows]
  worse = sum(r.shortfall[1] > 0 for r in rows)
  ties = sum(r.margin[1] <= 0 for r in rows)
  lines = ['# Decision framework: measured best strategy vs the advisor', '',
           f'Thresholds fitted on seeds {list(fit_seeds)}: little data below n = {t.little:g}, lots from n = '
           f'{t.lots:g}, different domains from distance {t.far:.4f} (squared MMD of pre-trained features).',
           f'Scored on the held-out seeds {list(eval_seeds)}: the advisor agrees with the measured best strategy in '
           f'**{agreement:.0%}** of {len(rows)} cells; mean regret (accuracy lost by following it) '
           f'**{np.mean(regrets):.3f}**, worst {np.max(regrets):.3f}. Its choice is significantly worse than the '
           f'best (paired CI of best - advisor above 0) in {worse} of {len(rows)} cells; in {ties} cells the best '
           'is not significantly better than the runner-up, so agreement there is a coin toss.',
           f'Mean held-out regret of always running one strategy: {constant_policies(rows)}.', '']
  header = ['n', 'shift', 'distance', 'best (held-out seeds)', 'best - runner-up', 'advisor', 'best - advisor', 'why']
  table = [[f'{r.cell.data_size}', f'{r.cell.shift:g}', f'{r.cell.distance:.4f}',
            f'{r.cell.best} {tables.fmt(r.best_interval)}', tables.fmt(r.margin, True),
            f'{r.recommended}{"" if r.agrees else " (disagrees)"}', tables.fmt(r.shortfall, True), r.reason]
           for r in rows]
  return '\n'.join(lines) + '\n' + tables.markdown_table(header, table) + '\n'


def thresholds_json(t: Thresholds) -> dict:
  """JSON has no infinity: an unbounded threshold is the string 'inf' or '-inf'."""
  return {k: str(v) if math.isinf(v) else v for k, v in dataclasses.asdict(t).items()}


def load_thresholds(path: str) -> Thresholds:
  raw = io.read_json(path)
  return Thresholds(**{k: float(raw[k]) for k in ('little', 'lots', 'far')})


def run(config, workdir: str, *, overwrite: bool = False) -> str:
  """Runs (or resumes) the grid, fits the advisor on some seeds, scores it on the others, writes the files."""
  if len(config.lr_mults) != 1:
    raise errors.ConfigError(f'config.lr_mults = {tuple(config.lr_mults)} is not allowed: the decision grid compares '
                             'strategies at one backbone LR multiplier')
  outcome = experiment.run(config, workdir, overwrite=overwrite)
  records = outcome.records
  dist = distances(config, outcome.dataset, outcome.source_params())
  (lr_mult,) = config.lr_mults
  fit_seeds = range(config.decision.fit_seeds)
  eval_seeds = range(config.decision.fit_seeds, config.seeds)
  t = fit_thresholds(cells(records, dist, fit_seeds, config.strategies, lr_mult))
  rows = score(records, cells(records, dist, eval_seeds, config.strategies, lr_mult), eval_seeds, t, lr_mult)
  text = markdown(rows, t, fit_seeds, eval_seeds)
  io.write_json(os.path.join(workdir, 'thresholds.json'), thresholds_json(t) | {'fit_seeds': list(fit_seeds)})
  io.write_json(os.path.join(workdir, 'decision.json'), {
      'distances': [{'seed': s, 'shift': sh, 'distance': d} for (s, sh), d in dist.items()],
      'cells': [{'data_size': r.cell.data_size, 'shift': r.cell.shift, 'distance': r.cell.distance,
                 'best': r.cell.best, 'advisor': r.recommended, 'regret': regret(r.cell, r.recommended),
                 'accuracy': r.cell.accuracy} for r in rows]})
  io.write_text(os.path.join(workdir, 'decision.md'), text)
  workdir_report.write_decision_map(workdir)  # decision_map.png and .pdf, drawn from decision.json
  return text


def advise(config, *, seed: int, data_size: int, shift: float, thresholds_path: str) -> str:
  """The advisor's recommendation for one target task of the config's data, with the evidence behind it."""
  if not os.path.exists(thresholds_path):
    raise errors.UserError(f'no fitted thresholds at {thresholds_path!r}; run python -m scripts.decide first')
  if not 0 <= seed < config.seeds:
    raise errors.ConfigError(f'--seed={seed} is not allowed: the config pre-trains seeds 0..{config.seeds - 1}')
  t = load_thresholds(thresholds_path)
  dataset = experiment.prepare(config)
  source = sources.source_models(config, dataset, sources.cache_dir(config, 'outputs'))
  fn = distance_fn(config, dataset, samples=500)
  distance = float(jax.jit(fn)(jnp.int32(seed), jnp.float32(shift), jax.tree.map(lambda a: jnp.asarray(a)[seed],
                                                                                  source), dataset.arrays))
  strategy, reason = recommend(data_size, distance, t)
  return (f'labelled target examples: {data_size}\n'
          f'domain distance (squared MMD of pre-trained features, seed {seed}, shift {shift:g}): {distance:.4f}\n'
          f'thresholds ({thresholds_path}): little < {t.little:g}, lots >= {t.lots:g}, far >= {t.far:.4f}\n'
          f'recommendation: {strategy} ({reason})')
