"""The decision experiment: the empirically best strategy per (size, shift) cell against the advisor's choice.

Thresholds are fitted on the first `decision.fit_seeds` seeds and scored on the remaining ones, never on the runs
they were fitted to. Writes decision.md, decision.json, thresholds.json and decision_map.png into the workdir.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from transfer import advisor
from transfer import compare
from transfer import data as data_lib
from transfer import errors
from transfer import experiment
from transfer import models
from transfer import report
from transfer import tables


def distance_fn(config, data: data_lib.Loaded, samples: int):
  """`advisor.domain_distance` on the config's source model, `samples` inputs per domain."""
  source = data.source
  return functools.partial(advisor.domain_distance, data=source, samples=samples,
                           model=models.make_model(config.model, source.source_classes, source.input_shape))


def distances(config, data: data_lib.Loaded, source_params) -> dict[tuple[int, float], float]:
  """(seed, shift) -> domain distance on that seed's pre-trained features, all in one jit(vmap)."""
  pairs = [(s, sh) for s in range(config.seeds) for sh in data_lib.shifts(config, data.source)]
  fn = distance_fn(config, data, config.decision.distance_samples)
  seeds = jnp.array([p[0] for p in pairs], jnp.int32)
  values = jax.jit(jax.vmap(fn, in_axes=(0, 0, 0, None)))(
      seeds, jnp.array([p[1] for p in pairs], jnp.float32),
      jax.tree.map(lambda a: jnp.asarray(a)[seeds], source_params), data.arrays)
  return dict(zip(pairs, np.asarray(values).tolist()))


def cells(records, dist, seeds, strategies) -> list[advisor.Cell]:
  """Per (size, shift): mean accuracy per strategy and mean distance over `seeds` only."""
  mine = [r for r in records if r['seed'] in seeds]
  out = []
  for n, shift in sorted({(r['data_size'], r['shift']) for r in mine}):
    keys = {'data_size': n, 'shift': shift, 'lr_mult': 0.1}
    accuracy = {s: compare.accuracy(mine, s, keys)[0] for s in strategies}
    out.append(advisor.Cell(n, shift, float(np.mean([dist[(s, shift)] for s in seeds])), accuracy))
  return out


@dataclasses.dataclass(frozen=True)
class Row:
  cell: advisor.Cell
  recommended: str
  reason: str
  best_interval: compare.Interval
  margin: compare.Interval  # best - runner-up, paired over the held-out seeds
  shortfall: compare.Interval  # best - the advisor's choice, paired over the held-out seeds

  @property
  def agrees(self) -> bool:
    return self.recommended == self.cell.best


def score(records, cells_out, seeds, t: advisor.Thresholds) -> list[Row]:
  mine = [r for r in records if r['seed'] in seeds]
  rows = []
  for c in cells_out:
    keys = {'data_size': c.data_size, 'shift': c.shift, 'lr_mult': 0.1}
    ranked = sorted(c.accuracy, key=c.accuracy.get, reverse=True)
    recommended, reason = advisor.recommend(c.data_size, c.distance, t)
    rows.append(Row(c, recommended, reason, compare.accuracy(mine, ranked[0], keys),
                    compare.paired(mine, ranked[0], ranked[1], keys),
                    compare.paired(mine, ranked[0], recommended, keys)))
  return rows


def constant_policies(rows: list[Row]) -> str:
  """Mean held-out regret of always running one strategy: what the advisor has to beat."""
  names = sorted(rows[0].cell.accuracy)
  return ', '.join(f'{s} {np.mean([advisor.regret(r.cell, s) for r in rows]):.3f}' for s in names)


def markdown(rows: list[Row], t: advisor.Thresholds, fit_seeds, eval_seeds) -> str:
  agreement = np.mean([r.agrees for r in rows])
  regrets = [advisor.regret(r.cell, r.recommended) for r in rows]
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
           f'Mean held-out regret of always running one strategy: {constant_policies(rows)}.', '',
           '| n | shift | distance | best (held-out seeds) | best - runner-up | advisor | best - advisor | why |',
           '|---|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f'| {r.cell.data_size} | {r.cell.shift:g} | {r.cell.distance:.4f} | {r.cell.best} '
                 f'{tables.fmt(r.best_interval)} | {tables.fmt(r.margin, True)} | '
                 f'{r.recommended}{"" if r.agrees else " (disagrees)"} | {tables.fmt(r.shortfall, True)} | '
                 f'{r.reason} |')
  return '\n'.join(lines) + '\n'


def decision_map(rows: list[Row], path: str) -> None:
  """Size x shift grid coloured by the measured best strategy; an X where the advisor disagrees."""
  sizes = sorted({r.cell.data_size for r in rows})
  shifts = sorted({r.cell.shift for r in rows})
  names = sorted({r.cell.best for r in rows} | {r.recommended for r in rows})
  colours = plt.get_cmap('tab10')
  fig, ax = plt.subplots(figsize=(2 + 1.6 * len(sizes), 1.5 + 0.9 * len(shifts)))
  for r in rows:
    x, y = sizes.index(r.cell.data_size), shifts.index(r.cell.shift)
    ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), 1, 1, color=colours(names.index(r.cell.best))))
    ax.text(x, y + 0.15, r.cell.best, ha='center', fontsize=7)
    ax.text(x, y - 0.2, f'advisor: {r.recommended}', ha='center', fontsize=6)
    if not r.agrees:
      ax.plot(x, y, 'kx', markersize=22, alpha=0.5)
  ax.set(xlim=(-0.5, len(sizes) - 0.5), ylim=(-0.5, len(shifts) - 0.5), xticks=range(len(sizes)),
         yticks=range(len(shifts)), xticklabels=sizes, yticklabels=[f'{s:g}' for s in shifts],
         xlabel='labelled target examples', ylabel='domain shift',
         title='Best strategy on held-out seeds (X: the advisor disagrees)')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def thresholds_json(t: advisor.Thresholds) -> dict:
  """JSON has no infinity: an unbounded threshold is the string 'inf' or '-inf'."""
  return {k: str(v) if math.isinf(v) else v for k, v in dataclasses.asdict(t).items()}


def load_thresholds(path: str) -> advisor.Thresholds:
  with open(path) as f:
    raw = json.load(f)
  return advisor.Thresholds(**{k: float(raw[k]) for k in ('little', 'lots', 'far')})


def run(config, workdir: str, *, overwrite: bool = False) -> str:
  """Runs (or resumes) the grid, fits the advisor on some seeds, scores it on the others, writes the files."""
  experiment.run(config, workdir, overwrite=overwrite)
  data = experiment.prepare(config)
  source = experiment.source_models(config, data, workdir)
  with open(os.path.join(workdir, 'results.json')) as f:
    records = json.load(f)['runs']
  dist = distances(config, data, source)
  fit_seeds = range(config.decision.fit_seeds)
  eval_seeds = range(config.decision.fit_seeds, config.seeds)
  t = advisor.fit_thresholds(cells(records, dist, fit_seeds, config.strategies))
  rows = score(records, cells(records, dist, eval_seeds, config.strategies), eval_seeds, t)
  text = markdown(rows, t, fit_seeds, eval_seeds)
  report.write_json(os.path.join(workdir, 'thresholds.json'), thresholds_json(t) | {'fit_seeds': list(fit_seeds)})
  report.write_json(os.path.join(workdir, 'decision.json'), {
      'distances': [{'seed': s, 'shift': sh, 'distance': d} for (s, sh), d in dist.items()],
      'cells': [{'data_size': r.cell.data_size, 'shift': r.cell.shift, 'distance': r.cell.distance,
                 'best': r.cell.best, 'advisor': r.recommended, 'regret': advisor.regret(r.cell, r.recommended),
                 'accuracy': r.cell.accuracy} for r in rows]})
  report.write_text(os.path.join(workdir, 'decision.md'), text)
  decision_map(rows, os.path.join(workdir, 'decision_map.png'))
  return text


def advise(config, *, seed: int, data_size: int, shift: float, thresholds_path: str) -> str:
  """The advisor's recommendation for one target task of the config's data, with the evidence behind it."""
  if not os.path.exists(thresholds_path):
    raise errors.UserError(f'no fitted thresholds at {thresholds_path!r}; run python -m scripts.decide first')
  if not 0 <= seed < config.seeds:
    raise errors.ConfigError(f'--seed={seed} is not allowed: the config pre-trains seeds 0..{config.seeds - 1}')
  t = load_thresholds(thresholds_path)
  data = experiment.prepare(config)
  source = experiment.base_models(config, data, experiment.cache_dir(config, 'outputs'))
  fn = distance_fn(config, data, samples=500)
  distance = float(jax.jit(fn)(jnp.int32(seed), jnp.float32(shift), jax.tree.map(lambda a: jnp.asarray(a)[seed],
                                                                                  source), data.arrays))
  strategy, reason = advisor.recommend(data_size, distance, t)
  return (f'labelled target examples: {data_size}\n'
          f'domain distance (squared MMD of pre-trained features, seed {seed}, shift {shift:g}): {distance:.4f}\n'
          f'thresholds ({thresholds_path}): little < {t.little:g}, lots >= {t.lots:g}, far >= {t.far:.4f}\n'
          f'recommendation: {strategy} ({reason})')
