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

from transfer import compiler
from transfer import errors
from transfer import io
from transfer.data import dataset as dataset_lib
from transfer.data.source import Dataset
from transfer.data.source import DataSource
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
  features = lambda x: models.backbone_features(source_params, x, model=model)
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


def distance_fn(config, dataset: Dataset, samples: int):
  """`domain_distance` on the config's source model, `samples` inputs per domain."""
  data = dataset.data
  return functools.partial(domain_distance, data=data, samples=samples,
                           model=models.make_model(config.model, data.source_classes, data.input_shape))


def distances(config, dataset: Dataset, source_params) -> dict[tuple[int, float], float]:
  """(seed, shift) -> domain distance on that seed's pre-trained features, all in one jit(vmap)."""
  pairs = [(s, sh) for s in range(config.seeds) for sh in dataset_lib.shifts(config, dataset.data)]
  fn = distance_fn(config, dataset, config.decision.distance_samples)
  seeds = jnp.array([p[0] for p in pairs], jnp.int32)
  values = compiler.jit(jax.vmap(fn, in_axes=(0, 0, 0, None)))(
      seeds, jnp.array([p[1] for p in pairs], jnp.float32),
      jax.tree.map(lambda a: jnp.asarray(a)[seeds], source_params), dataset.arrays)
  return dict(zip(pairs, np.asarray(values).tolist()))


def cells(records, dist, seeds, strategies, lr_mult: float, metric: str = 'test_accuracy') -> list[Cell]:
  """Per (size, shift): mean `metric` per strategy and mean distance over `seeds` only."""
  mine = [r for r in records if r['seed'] in seeds]
  out = []
  for n, shift in sorted({(r['data_size'], r['shift']) for r in mine}):
    keys = {'data_size': n, 'shift': shift, 'lr_mult': lr_mult}
    accuracy = {s: stats.accuracy(mine, s, keys, metric=metric)[0] for s in strategies}
    out.append(Cell(n, shift, float(np.mean([dist[(s, shift)] for s in seeds])), accuracy))
  return out


@dataclasses.dataclass(frozen=True)
class Tree:
  """A fitted advisor: a decision tree of depth <= 2 over the target size and the domain distance, whose leaves are
  strategies (any of the grid's, scratch included). A node is a strategy name (a leaf) or
  (feature, threshold, below, at_or_above)."""

  root: object

  def recommend(self, n: float, distance: float) -> tuple[str, str]:
    node, path = self.root, []
    while not isinstance(node, str):
      feature, threshold, below, above = node
      value = n if feature == 'data_size' else distance
      path.append(f'{feature} {"<" if value < threshold else ">="} {threshold:.4g}')
      node = below if value < threshold else above
    return node, ', '.join(path) or 'always'


def tree_json(tree: Tree) -> dict:
  return {'root': tree.root}


def load_tree(path: str) -> Tree:
  def node(raw):
    return raw if isinstance(raw, str) else (raw[0], float(raw[1]), node(raw[2]), node(raw[3]))
  return Tree(node(io.read_json(path)['root']))


def fit_tree(cells: Sequence[Cell]) -> Tree:
  """The depth-2 tree with the least total regret on `cells` (ties: the simpler tree, then the smaller threshold):
  each child of the root split is fitted on its own cells, as a leaf or one more split."""
  names = sorted(cells[0].accuracy)
  cuts = {f: sorted({(a + b) / 2 for a, b in zip(vals, vals[1:])})
          for f, vals in (('data_size', sorted({c.data_size for c in cells})),
                          ('distance', sorted({c.distance for c in cells})))}
  value = lambda c, f: c.data_size if f == 'data_size' else c.distance
  loss = lambda node, mine: sum(regret(c, Tree(node).recommend(c.data_size, c.distance)[0]) for c in mine)

  def best_leaf(mine):
    return min(names, key=lambda s: (sum(regret(c, s) for c in mine), names.index(s)))

  def best_node(mine, depth):
    best = best_leaf(mine) if mine else names[0]
    best_loss = loss(best, mine)
    if depth == 0:
      return best
    for f, thresholds in cuts.items():
      for t in thresholds:
        below, above = [c for c in mine if value(c, f) < t], [c for c in mine if value(c, f) >= t]
        if not below or not above:
          continue
        node = (f, t, best_node(below, depth - 1), best_node(above, depth - 1))
        if loss(node, mine) < best_loss - 1e-12:
          best, best_loss = node, loss(node, mine)
    return best

  return Tree(best_node(list(cells), 2))


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


def score(records, cells_out, seeds, advise_fn, lr_mult: float) -> list[Row]:
  """Each held-out cell: the advisor's choice (`advise_fn(n, distance)`), and how it fares on held-out seeds."""
  mine = [r for r in records if r['seed'] in seeds]
  rows = []
  for c in cells_out:
    keys = {'data_size': c.data_size, 'shift': c.shift, 'lr_mult': lr_mult}
    ranked = sorted(c.accuracy, key=c.accuracy.get, reverse=True)
    recommended, reason = advise_fn(c.data_size, c.distance)
    rows.append(Row(c, recommended, reason, stats.accuracy(mine, ranked[0], keys),
                    stats.paired(mine, ranked[0], ranked[1], keys),
                    stats.paired(mine, ranked[0], recommended, keys)))
  return rows


def per_seed_regret(records, rows: list[Row], seeds, choose, lr_mult: float) -> dict[int, float]:
  """seed -> mean over the cells of (the cell's best strategy - `choose(row)`)'s accuracy on that seed."""
  out = {}
  for s in seeds:
    gaps = []
    for r in rows:
      keys = {'data_size': r.cell.data_size, 'shift': r.cell.shift, 'lr_mult': lr_mult}
      best = stats.by_seed(records, r.cell.best, keys, 'test_accuracy').get(s)
      chosen = stats.by_seed(records, choose(r), keys, 'test_accuracy').get(s)
      if best is not None and chosen is not None:
        gaps.append(best - chosen)
    out[s] = float(np.mean(gaps))
  return out


def against_constants(records, rows: list[Row], seeds, lr_mult: float) -> list[list[str]]:
  """The advisor's held-out regret beside every constant policy's, and their paired difference over seeds."""
  mine = per_seed_regret(records, rows, seeds, lambda r: r.recommended, lr_mult)
  out = []
  for name in sorted(rows[0].cell.accuracy):
    theirs = per_seed_regret(records, rows, seeds, lambda r, name=name: name, lr_mult)
    out.append([f'always {name}', tables.fmt(stats.mean_ci(list(theirs.values()))),
                tables.fmt(stats.mean_ci(stats.paired_differences(mine, theirs)), True)])
  return out


def advisor_markdown(title: str, rows: list[Row], summary: str, constants: list[list[str]],
                     regret_interval: stats.Interval) -> list[str]:
  agreement = np.mean([r.agrees for r in rows])
  worse = sum(r.shortfall[1] > 0 for r in rows)
  ties = sum(r.margin[1] <= 0 for r in rows)
  header = ['n', 'shift', 'distance', 'best (held-out seeds)', 'best - runner-up', 'advisor', 'best - advisor', 'why']
  table = [[f'{r.cell.data_size}', f'{r.cell.shift:g}', f'{r.cell.distance:.4f}',
            f'{r.cell.best} {tables.fmt(r.best_interval)}', tables.fmt(r.margin, True),
            f'{r.recommended}{"" if r.agrees else " (disagrees)"}', tables.fmt(r.shortfall, True), r.reason]
           for r in rows]
  return [f'## {title}', '', summary,
          f'On the held-out seeds it agrees with the measured best strategy in **{agreement:.0%}** of {len(rows)} '
          f'cells; its mean regret (accuracy lost by following it, per seed, averaged over cells) is '
          f'**{tables.fmt(regret_interval)}**. Its choice is significantly worse than the best in {worse} cells; in '
          f'{ties} cells the best is not significantly better than the runner-up, so agreement there is a coin toss.',
          '', 'Against every constant policy (held-out seeds; paired over seeds):', '',
          tables.markdown_table(['policy', 'its regret', 'advisor - policy (negative: the advisor loses less)'],
                                constants), '', tables.markdown_table(header, table), '']


def thresholds_json(t: Thresholds) -> dict:
  """JSON has no infinity: an unbounded threshold is the string 'inf' or '-inf'."""
  return {k: str(v) if math.isinf(v) else v for k, v in dataclasses.asdict(t).items()}


def load_thresholds(path: str) -> Thresholds:
  raw = io.read_json(path)
  return Thresholds(**{k: float(raw[k]) for k in ('little', 'lots', 'far')})


def run(config, workdir: str, *, overwrite: bool = False) -> str:
  """Runs (or resumes) the grid, fits both advisors on some seeds (the framework's thresholds, and a depth-2 tree
  that may recommend any strategy), scores them on the others, and writes the files."""
  if len(config.lr_mults) != 1:
    raise errors.ConfigError(f'config.lr_mults = {tuple(config.lr_mults)} is not allowed: the decision grid compares '
                             'strategies at one backbone LR multiplier')
  outcome = experiment.run(config, workdir, overwrite=overwrite)
  records = outcome.records
  check_unlabeled(outcome.dataset)
  dist = distances(config, outcome.dataset, outcome.source_params())
  (lr_mult,) = config.lr_mults
  fit_seeds = list(range(config.decision.fit_seeds))
  eval_seeds = list(range(config.decision.fit_seeds, config.seeds))
  fit_metric = 'val_accuracy' if config.selection.mode == 'search' else 'test_accuracy'
  fitted = cells(records, dist, fit_seeds, config.strategies, lr_mult, metric=fit_metric)
  held = cells(records, dist, eval_seeds, config.strategies, lr_mult)
  t, tree = fit_thresholds(fitted), fit_tree(fitted)
  text = ['# Decision framework: measured best strategy vs two advisors', '',
          f'Both advisors are fitted on seeds {fit_seeds} ({fit_metric.replace("_", " ")} of each strategy there, '
          f'so no choice reads a test set) and scored on the held-out seeds {eval_seeds} (their test accuracy). '
          'Distance: squared MMD between the pre-trained backbone\'s features of source and target inputs.', '']
  written = {}
  for name, advise_fn, summary in (
      ('framework', lambda n, d: recommend(n, d, t),
       f'The original study\'s framework with fitted thresholds: little data below n = {t.little:g}, lots from n = '
       f'{t.lots:g}, different domains from distance {t.far:.4f}. It can only recommend feature extraction, DANN, '
       'gradual unfreezing or fine-tuning.'),
      ('tree', tree.recommend, f'A depth-2 decision tree over target size and distance, any strategy at its leaves: '
                               f'`{tree.root}`.')):
    rows = score(records, held, eval_seeds, advise_fn, lr_mult)
    regret_interval = stats.mean_ci(list(per_seed_regret(records, rows, eval_seeds, lambda r: r.recommended,
                                                         lr_mult).values()))
    text += advisor_markdown('The study\'s framework' if name == 'framework' else 'A fitted tree', rows, summary,
                             against_constants(records, rows, eval_seeds, lr_mult), regret_interval)
    written[name] = rows
  io.write_json(os.path.join(workdir, 'thresholds.json'), thresholds_json(t) | {'fit_seeds': fit_seeds})
  io.write_json(os.path.join(workdir, 'tree.json'), tree_json(tree) | {'fit_seeds': fit_seeds})
  io.write_json(os.path.join(workdir, 'decision.json'), {
      'distances': [{'seed': s, 'shift': sh, 'distance': d} for (s, sh), d in dist.items()],
      'cells': [{'data_size': r.cell.data_size, 'shift': r.cell.shift, 'distance': r.cell.distance,
                 'best': r.cell.best, 'advisor': r.recommended, 'tree': rt.recommended,
                 'regret': regret(r.cell, r.recommended), 'tree_regret': regret(rt.cell, rt.recommended),
                 'accuracy': r.cell.accuracy} for r, rt in zip(written['framework'], written['tree'])]})
  text = '\n'.join(text)
  io.write_text(os.path.join(workdir, 'decision.md'), text)
  workdir_report.write_decision_map(workdir)  # decision_map.png and .pdf, drawn from decision.json
  return text


def check_unlabeled(dataset: Dataset) -> None:
  """The domain distance needs unlabelled target inputs; it never falls back to the test set's."""
  if not dataset.data.has_unlabeled:
    raise errors.ConfigError(f'{dataset.data.name} data has no unlabelled target inputs (an .npz\'s '
                             'target_unlabeled_x): the advisor\'s domain distance needs them and never reads test '
                             'inputs')


def advise(config, *, seed: int, data_size: int, shift: float, advisor: str, fitted_path: str) -> str:
  """The recommendation of the fitted advisor ('framework': thresholds.json, or 'tree': tree.json, at
  `fitted_path`) for one target task of the config's data, with the evidence behind it."""
  if advisor not in ADVISORS:
    raise errors.ConfigError(f'--advisor={advisor!r} is not allowed: one of {ADVISORS}')
  if not os.path.exists(fitted_path):
    raise errors.UserError(f'no fitted {advisor} at {fitted_path!r}; run python -m scripts.decide first')
  if not 0 <= seed < config.seeds:
    raise errors.ConfigError(f'--seed={seed} is not allowed: the config pre-trains seeds 0..{config.seeds - 1}')
  dataset = experiment.prepare(config)
  check_unlabeled(dataset)
  source = sources.source_models(config, dataset, sources.cache_dir(config, 'outputs'))
  fn = distance_fn(config, dataset, samples=500)
  distance = float(compiler.jit(fn)(jnp.int32(seed), jnp.float32(shift), jax.tree.map(lambda a: jnp.asarray(a)[seed],
                                                                                  source), dataset.arrays))
  if advisor == 'framework':
    t = load_thresholds(fitted_path)
    strategy, reason = recommend(data_size, distance, t)
    fitted = f'thresholds ({fitted_path}): little < {t.little:g}, lots >= {t.lots:g}, far >= {t.far:.4f}'
  else:
    tree = load_tree(fitted_path)
    strategy, reason = tree.recommend(data_size, distance)
    fitted = f'tree ({fitted_path}): {tree.root}'
  return (f'labelled target examples: {data_size}\n'
          f'domain distance (squared MMD of pre-trained features, seed {seed}, shift {shift:g}): {distance:.4f}\n'
          f'{fitted}\nrecommendation: {strategy} ({reason})')


ADVISORS = ('framework', 'tree')
