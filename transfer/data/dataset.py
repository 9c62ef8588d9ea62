"""The data sources, chosen by `config.data.name` (the entries of `SOURCES`: 'synthetic', 'moons', 'digits' or
'npz'), or defined anywhere and named by `config.data.module` (plugin.py); what a data source is: source.py.

Each source of the package is its own file, which holds its loader (`dataset(config) -> Dataset`), the config
fields it reads and keys its cache by, and its checks of them (`check(config)`, run before anything is loaded); a new
one is that file plus one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from absl import logging

from transfer.data import digits
from transfer.data import moons
from transfer.data import npz
from transfer.data import plugin
from transfer.data import synthetic
from transfer.data.source import Dataset
from transfer.data.source import DataSource
from transfer.errors import ConfigError


class Entry(NamedTuple):
  """A data source of the package: its loader and its config checks (none by default)."""

  dataset: Callable[..., Dataset]  # config -> Dataset (checked; DataError / ConfigError before anything compiles)
  check: Callable[..., None] = lambda config: None  # config -> None: its config.data fields, as ConfigError


SOURCES = {'synthetic': Entry(synthetic.dataset, synthetic.check), 'moons': Entry(moons.dataset, moons.check),
           'digits': Entry(digits.dataset), 'npz': Entry(npz.dataset, npz.check)}
NAMES = tuple(SOURCES)


def load(config) -> Dataset:
  """The data source `config.data.module` or `config.data.name` names, loaded and checked (DataError / ConfigError
  before anything compiles)."""
  if plugin.path_of(config.data):
    return plugin.dataset(config)
  name = config.data.name
  if name not in SOURCES:
    raise ConfigError(f'config.data.name = {name!r} is not allowed: one of {NAMES}')
  return SOURCES[name].dataset(config)


def ood_shifts(config, data: DataSource) -> tuple[float, ...]:
  """The shifts every model is also tested at: config.ood_shifts, else the grid's (0 alone without a shift axis)."""
  if not data.has_shift:
    return (0.0,)
  return tuple(config.ood_shifts) or tuple(config.shifts)


def shifts(config, data: DataSource) -> tuple[float, ...]:
  """The grid's shifts: the config's, except for data used as given (npz), where the axis collapses to 0."""
  if not data.has_shift:
    if tuple(config.shifts) != (0.0,):
      logging.warning('%s data has no shift axis: config.shifts = %s collapses to (0.0,) (the data as given)',
                      data.name, tuple(config.shifts))
    return (0.0,)
  return tuple(config.shifts)
