"""Data sources behind one interface, chosen by `config.data.name`: 'synthetic', 'digits' or 'npz'.

A data source is a static, hashable description (bound into the compiled run with `functools.partial`) plus
`arrays`, a tree of arrays passed to the compiled run as an argument (empty for synthetic data, which is generated
inside the run). It offers, all pure and vmappable:

  source_splits(arrays, seed) -> (source pool, held-out source test)   for pre-training
  target_splits(arrays, lane) -> (target pool, target test)            for one target run
  adapt_data(arrays, lane)    -> AdaptData                             for domain adaptation
  domain_samples(arrays, seed, shift, n) -> (source x, target x)        for the advisor's domain distance
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from absl import logging
import jax

from transfer import adapt_train
from transfer import array_data
from transfer import digits
from transfer import npz_data
from transfer import tasks
from transfer.errors import ConfigError
from transfer.spec import Lane
from transfer.synthetic_data import SyntheticData

NAMES = ('synthetic', 'digits', 'npz')
SOURCE_FIELDS = ('label_factors', 'nuisance_factors', 'input_dim', 'generator_depth', 'generator_gain', 'noise',
                 'source_classes', 'source_pool', 'target_classes', 'test_size', 'shift_angle')  # key the cache
TASK_FIELDS = SOURCE_FIELDS + ('adapt_source_pool', 'unlabeled_pool')


class DataSource(Protocol):
  name: str
  input_shape: tuple[int, ...]
  source_classes: int
  target_classes: int
  has_shift: bool  # whether lanes' `shift` changes the target data (else the shift axis collapses to 0)
  has_unlabeled: bool  # whether adapt_data has unlabelled target examples (domain adaptation needs them)

  def source_splits(self, arrays, seed: jax.Array) -> tuple[tasks.Split, tasks.Split]: ...
  def target_splits(self, arrays, lane: Lane) -> tuple[tasks.Split, tasks.Split]: ...
  def adapt_data(self, arrays, lane: Lane) -> adapt_train.AdaptData: ...
  def domain_samples(self, arrays, seed: jax.Array, shift: jax.Array, n: int) -> tuple[jax.Array, jax.Array]: ...


class Loaded(NamedTuple):
  """A data source ready to run: its static description, its arrays and what identifies it."""

  source: DataSource
  arrays: object  # () for synthetic data, an array_data.Arrays otherwise
  key: dict  # what identifies the data (part of the pre-trained models' cache key)


def task_spec(config) -> tasks.TaskSpec:
  """The synthetic task's static shapes: the data config's fields; the target pool holds the largest data size."""
  return tasks.TaskSpec(**{f: config.data[f] for f in TASK_FIELDS}, target_pool=max(config.data_sizes))


def from_arrays(config, arrays: array_data.Arrays) -> Loaded:
  """An ArrayData source over checked arrays; data sizes beyond the target pool are an error."""
  name, pool = config.data.name, arrays.target_x.shape[0]
  if max(config.data_sizes) > pool:
    raise ConfigError(f'config.data_sizes = {tuple(config.data_sizes)} is not allowed: {name} data has '
                      f'{pool} labelled target examples, so every data size must be <= {pool}')
  source = array_data.ArrayData(
      name=name, input_shape=tuple(arrays.source_x.shape[1:]), source_classes=int(arrays.source_y.max()) + 1,
      target_classes=int(arrays.target_y.max()) + 1, target_pool=max(config.data_sizes),
      rotates=name == 'digits', shift_angle=float(config.data.shift_angle),
      has_unlabeled=arrays.unlabeled_x.shape[0] > 0)
  return Loaded(source, arrays, {'name': name, 'arrays': array_data.fingerprint(arrays)})


def load(config) -> Loaded:
  """The data source `config.data` names, loaded and checked (DataError / ConfigError before anything compiles)."""
  name = config.data.name
  if name == 'synthetic':
    return Loaded(SyntheticData(task_spec(config)), (), {f: config.data[f] for f in SOURCE_FIELDS})
  if name == 'digits':
    return from_arrays(config, digits.load())
  if name == 'npz':
    return from_arrays(config, npz_data.load(config.data.path))
  raise ConfigError(f'config.data.name = {name!r} is not allowed: one of {NAMES}')


def shifts(config, source: DataSource) -> tuple[float, ...]:
  """The grid's shifts: the config's, except for data used as given (npz), where the axis collapses to 0."""
  if not source.has_shift:
    if tuple(config.shifts) != (0.0,):
      logging.warning('%s data has no shift axis: config.shifts = %s collapses to (0.0,) (the data as given)',
                      source.name, tuple(config.shifts))
    return (0.0,)
  return tuple(config.shifts)
