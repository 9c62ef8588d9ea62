"""What every data source is and gives: the `DataSource` protocol, a loaded `Dataset`, and the checks the package's
own sources share (each source's file holds its loader, `dataset(config)`, and its checks; dataset.py registers them).

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

import math
from typing import NamedTuple, Protocol

import jax

from transfer.errors import ConfigError
from transfer.types import AdaptData
from transfer.types import Lane
from transfer.types import Split


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


def require(ok: bool, field: str, value, allowed: str) -> None:
  """One ConfigError naming `config.<field>` and what it allows, unless `ok`."""
  if not ok:
    raise ConfigError(f'config.{field} = {value!r} is not allowed: {allowed}')


def check_generated(config) -> None:
  """A generated source's sizes (config.data's source_pool, test_size, adapt_source_pool, unlabeled_pool) are
  integers >= 1 and its noise a finite number >= 0."""
  for field in ('source_pool', 'test_size', 'adapt_source_pool', 'unlabeled_pool'):
    value = config.data[field]
    require(isinstance(value, int) and not isinstance(value, bool) and value >= 1, f'data.{field}', value,
            f'an integer >= 1 ({config.data.name} data are generated in these numbers)')
  noise = config.data.noise
  require(isinstance(noise, (int, float)) and not isinstance(noise, bool) and math.isfinite(noise) and noise >= 0,
          'data.noise', noise, 'a finite number >= 0 (the std of the input noise)')
