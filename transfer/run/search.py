"""The hyperparameter search: which candidate settings each strategy runs, as lanes of one compiled program.

Candidate 0 is always the fixed setting (the config's `lr`, `lr_mults`, `weight_decay`, `l2_sp_weight`,
`align_weight`), so the search contains the fixed protocol's setting. With `search.method = 'random'` the other
`num_samples - 1` candidates draw each hyperparameter the strategy reads and `search.over` names log-uniformly from
its range in `search.space` (DomainBed's random search, Gulrajani & Lopez-Paz 2021); with 'grid' they are every
combination of `search.grid_points` log-spaced values per range. Draws depend only on `search.seed` and the
hyperparameter's name, so every strategy, seed and cell sees the same candidates (a paired search). Nothing here
reads any data.
"""

from __future__ import annotations

import itertools
import math
import zlib

import numpy as np

from transfer import types
from transfer.train import strategies


def fixed_setting(config) -> dict[str, float]:
  """The config's one setting of every hyperparameter (the fixed protocol, and candidate 0 of a search): the config
  field of its name; the backbone multiplier's is the first of `lr_mults` (the grid axis where it is swept)."""
  return {h: float(config.lr_mults[0] if h == 'lr_mult' else config[h]) for h in types.HPARAMS}


def searched(config, strategy: strategies.Strategy) -> tuple[str, ...]:
  """The hyperparameters the search varies for `strategy`: those it reads that `search.over` names."""
  if config.selection.mode != 'search':
    return ()
  return tuple(h for h in strategy.hyperparameters if h in config.search.over)


def draws(config, name: str, count: int) -> np.ndarray:
  """`count` log-uniform draws of hyperparameter `name` from its range, seeded by `search.seed` and the name."""
  lo, hi = config.search.space[name]
  rng = np.random.default_rng([config.search.seed, zlib.crc32(name.encode())])
  return np.exp(rng.uniform(math.log(lo), math.log(hi), size=count))


def candidates(config, strategy: strategies.Strategy) -> list[dict[str, float]]:
  """Every setting `strategy` runs, candidate 0 first (the fixed setting); each a dict over types.HPARAMS."""
  fixed, names = fixed_setting(config), searched(config, strategy)
  if not names:
    return [fixed]
  if config.search.method == 'grid':
    axes = [np.geomspace(*config.search.space[h], config.search.grid_points) for h in names]
    combos = [dict(zip(names, map(float, values))) for values in itertools.product(*axes)]
  else:
    drawn = {h: draws(config, h, config.search.num_samples - 1) for h in names}
    combos = [{h: float(drawn[h][i]) for h in names} for i in range(config.search.num_samples - 1)]
  return [fixed] + [{**fixed, **combo} for combo in combos]


def lane_values(cell: dict, candidate: dict[str, float]) -> dict:
  """One lane's values: the cell's grid axes, the candidate's hyperparameters (a grid axis the experiment sweeps,
  such as lr_mult in the backbone-LR experiment, overrides the candidate's value)."""
  return {**candidate, **{a: cell[a] for a in types.AXES if cell.get(a) is not None}}
