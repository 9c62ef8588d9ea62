"""Data sources behind one interface, chosen by `config.data.name` ('synthetic', 'moons', 'digits' or 'npz': the
entries of `LOADERS`), or defined anywhere and named by `config.data.module` (plugin.py).

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

from collections.abc import Mapping

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from transfer.data import arrays as arrays_lib
from transfer.data import digits
from transfer.data import npz
from transfer.data import plugin
from transfer.data.moons import MoonsData
from transfer.data.synthetic import SyntheticData
from transfer.data.synthetic import SyntheticTask
from transfer.errors import ConfigError
from transfer.errors import DataError
from transfer.types import AdaptData
from transfer.types import Lane
from transfer.types import Split

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


def from_arrays(config, arrays: arrays_lib.Arrays, *, name: str | None = None, key: dict | None = None) -> Dataset:
  """An ArrayData source over checked arrays; data sizes beyond the target pool are an error. With
  `config.data.same_classes` the target's labels are the source's classes (the target has the source's number).
  `name` (config.data.name by default) says what the messages call the data; only 'digits' rotates with the shift.
  `key` identifies the data (by default its name and the arrays' fingerprint)."""
  name, pool = name or config.data.name, arrays.target_x.shape[0]
  if max(config.data_sizes) > pool:
    raise ConfigError(f'config.data_sizes = {tuple(config.data_sizes)} is not allowed: {name} data has '
                      f'{pool} labelled target examples, so every data size must be <= {pool}')
  same_classes, source_classes = bool(config.data.same_classes), int(arrays.source_y.max()) + 1
  data = arrays_lib.ArrayData(
      name=name, input_shape=tuple(arrays.source_x.shape[1:]), source_classes=source_classes,
      target_classes=source_classes if same_classes else int(arrays.target_y.max()) + 1,
      target_pool=pool_size(config), rotates=name == 'digits', shift_angle=float(config.data.shift_angle),
      has_unlabeled=arrays.unlabeled_x.shape[0] > 0, same_classes=same_classes)
  return Dataset(data, arrays, key or {'name': name, 'arrays': arrays_lib.fingerprint(arrays)})


def load_synthetic(config) -> Dataset:
  return Dataset(SyntheticData(synthetic_task(config)), (), {f: config.data[f] for f in SOURCE_FIELDS})


def load_moons(config) -> Dataset:
  return Dataset(moons_data(config), (), {'name': 'moons', **{f: config.data[f] for f in MOONS_SOURCE_FIELDS}})


def load_digits(config) -> Dataset:
  return from_arrays(config, digits.load(same_classes=config.data.same_classes))


def load_npz(config) -> Dataset:
  return from_arrays(config, npz.load(config.data.path, same_classes=config.data.same_classes))


# The package's data sources by `config.data.name`: config -> Dataset. A source of the package is its file and one
# line here (its config fields in configs/common.py's c.data); one of your own needs neither (`config.data.module`).
LOADERS = {'synthetic': load_synthetic, 'moons': load_moons, 'digits': load_digits, 'npz': load_npz}
NAMES = tuple(LOADERS)


def load(config) -> Dataset:
  """The data source `config.data.module` or `config.data.name` names, loaded and checked (DataError / ConfigError
  before anything compiles)."""
  if plugin.path_of(config.data):
    return load_plugin(config)
  name = config.data.name
  if name not in LOADERS:
    raise ConfigError(f'config.data.name = {name!r} is not allowed: one of {NAMES}')
  return LOADERS[name](config)


def load_plugin(config) -> Dataset:
  """The data `config.data.module`'s function returns for `config.data.kwargs` (plugin.py): named arrays, checked
  like an npz, or a DataSource whose target pool must hold the largest data size."""
  path, kwargs = plugin.path_of(config.data), plugin.kwargs_of(config.data)
  where = f'config.data.module = {path!r}'
  try:
    fn = plugin.function(path)
  except ValueError as e:
    raise ConfigError(f'{where}: {e}') from e
  made = fn(**kwargs)
  if isinstance(made, Mapping):
    arrays = npz.checked({k: np.asarray(v) for k, v in made.items()}, where, same_classes=config.data.same_classes)
    return from_arrays(config, arrays, name=path.partition(':')[2],
                       key={'module': path, 'arrays': arrays_lib.fingerprint(arrays)})
  missing = plugin.missing_members(made)
  if missing:
    raise DataError(f'{where} returned a {type(made).__name__}: neither a dict of named arrays nor a DataSource '
                    f'(it lacks {", ".join(missing)})')
  try:
    hash(made)
  except TypeError as e:
    raise DataError(f'{where} returned an unhashable {type(made).__name__}: a DataSource is bound into the compiled '
                    'run as a static value (make it a frozen dataclass)') from e
  lane = Lane(seed=jnp.int32(0), data_size=jnp.int32(0), shift=jnp.float32(0), lr_mult=jnp.float32(1),
              layers_copied=jnp.int32(-1))
  pool = jax.eval_shape(lambda: made.target_splits((), lane)[0].y).shape[0]
  if max(config.data_sizes) > pool:
    raise ConfigError(f'config.data_sizes = {tuple(config.data_sizes)} is not allowed: {where} makes target pools '
                      f'of {pool} examples, so every data size must be <= {pool}')
  return Dataset(made, (), {'module': path, 'kwargs': kwargs, 'source': plugin.source_hash(fn)})


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
