"""Data sources behind one interface, chosen by `config.data.name`: 'synthetic', 'moons', 'digits' or 'npz'.

A data source (`DataSource`) is a static, hashable description, bound into the compiled run with
`functools.partial`; its `arrays` are a tree passed to the compiled run as an argument (empty for synthetic and moons
data, which are generated inside the run). A `Dataset` is the two together, plus what identifies them. A data source
offers, all pure and vmappable:

  source_splits(arrays, seed) -> (source pool, held-out source test)   for pre-training
  target_splits(arrays, lane) -> (target pool, target test)            for one target run
  adapt_data(arrays, lane)    -> AdaptData                             for domain adaptation
  source_validation(arrays, seed, n) -> Split                          held-out source examples that validate it
  domain_samples(arrays, seed, shift, n) -> (source x, target x)        for the advisor's domain distance
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from absl import logging
import jax

from transfer.data import arrays as arrays_lib
from transfer.data import digits
from transfer.data import npz
from transfer.data.moons import MoonsData
from transfer.data.synthetic import SyntheticData
from transfer.data.synthetic import SyntheticTask
from transfer.errors import ConfigError
from transfer.types import AdaptData
from transfer.types import Lane
from transfer.types import Split

NAMES = ('synthetic', 'moons', 'digits', 'npz')
GENERATED = ('synthetic', 'moons')  # generated inside the run, in the numbers config.data's size fields give
SOURCE_FIELDS = ('label_factors', 'nuisance_factors', 'input_dim', 'generator_depth', 'generator_gain', 'noise',
                 'source_classes', 'source_pool', 'target_classes', 'test_size', 'shift_angle')  # key the cache
TASK_FIELDS = SOURCE_FIELDS + ('adapt_source_pool', 'unlabeled_pool')
MOONS_SOURCE_FIELDS = ('noise', 'source_pool', 'test_size')  # what the moons' source models depend on (key the cache)
MOONS_FIELDS = MOONS_SOURCE_FIELDS + ('shift_angle', 'adapt_source_pool', 'unlabeled_pool')


class DataSource(Protocol):
  name: str
  input_shape: tuple[int, ...]
  source_classes: int
  target_classes: int
  has_shift: bool  # whether lanes' `shift` changes the target data (else the shift axis collapses to 0)
  has_unlabeled: bool  # whether adapt_data has unlabelled target examples (domain adaptation needs them)
  same_classes: bool  # whether the target's labels are the source's classes, with the same meaning (so the source
  #                     model's own head can predict target classes: unsupervised domain adaptation needs it)

  def source_splits(self, arrays, seed: jax.Array) -> tuple[Split, Split]: ...
  def target_splits(self, arrays, lane: Lane) -> tuple[Split, Split]: ...
  def adapt_data(self, arrays, lane: Lane) -> AdaptData: ...
  def source_validation(self, arrays, seed: jax.Array, n: int) -> Split: ...
  def domain_samples(self, arrays, seed: jax.Array, shift: jax.Array, n: int) -> tuple[jax.Array, jax.Array]: ...


class Dataset(NamedTuple):
  """A data source ready to run: its static description, its arrays and what identifies it."""

  data: DataSource
  arrays: object  # () for generated data (synthetic, moons), an arrays.Arrays otherwise
  key: dict  # what identifies the data (part of the pre-trained models' cache key)


def pool_size(config) -> int:
  """Labelled target examples each lane's pool holds: the largest data size (at least one row, so shapes stay
  valid when every size is 0, the unsupervised protocol)."""
  return max(1, max(config.data_sizes))


def synthetic_task(config) -> SyntheticTask:
  """The synthetic task's static shapes: the data config's fields; the target pool holds the largest data size."""
  return SyntheticTask(**{f: config.data[f] for f in TASK_FIELDS}, target_pool=pool_size(config),
                       same_classes=config.data.same_classes)


def moons_data(config) -> MoonsData:
  """The moons' static sizes: the data config's fields; the target pool holds the largest data size."""
  return MoonsData(**{f: config.data[f] for f in MOONS_FIELDS}, target_pool=pool_size(config))


def from_arrays(config, arrays: arrays_lib.Arrays) -> Dataset:
  """An ArrayData source over checked arrays; data sizes beyond the target pool are an error. With
  `config.data.same_classes` the target's labels are the source's classes (the target has the source's number)."""
  name, pool = config.data.name, arrays.target_x.shape[0]
  if max(config.data_sizes) > pool:
    raise ConfigError(f'config.data_sizes = {tuple(config.data_sizes)} is not allowed: {name} data has '
                      f'{pool} labelled target examples, so every data size must be <= {pool}')
  same_classes, source_classes = bool(config.data.same_classes), int(arrays.source_y.max()) + 1
  data = arrays_lib.ArrayData(
      name=name, input_shape=tuple(arrays.source_x.shape[1:]), source_classes=source_classes,
      target_classes=source_classes if same_classes else int(arrays.target_y.max()) + 1,
      target_pool=pool_size(config), rotates=name == 'digits', shift_angle=float(config.data.shift_angle),
      has_unlabeled=arrays.unlabeled_x.shape[0] > 0, same_classes=same_classes)
  return Dataset(data, arrays, {'name': name, 'arrays': arrays_lib.fingerprint(arrays)})


def load(config) -> Dataset:
  """The data source `config.data` names, loaded and checked (DataError / ConfigError before anything compiles)."""
  name = config.data.name
  if name == 'synthetic':
    return Dataset(SyntheticData(synthetic_task(config)), (), {f: config.data[f] for f in SOURCE_FIELDS})
  if name == 'moons':
    return Dataset(moons_data(config), (), {'name': name, **{f: config.data[f] for f in MOONS_SOURCE_FIELDS}})
  if name == 'digits':
    return from_arrays(config, digits.load(same_classes=config.data.same_classes))
  if name == 'npz':
    return from_arrays(config, npz.load(config.data.path, same_classes=config.data.same_classes))
  raise ConfigError(f'config.data.name = {name!r} is not allowed: one of {NAMES}')


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
