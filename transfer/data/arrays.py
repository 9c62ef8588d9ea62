"""Data given as fixed arrays (scikit-learn's digits, a user's npz): the arrays enter the compiled run as an
argument, the same for every lane; what differs per lane is computed inside it.

Per lane: the target pool is the lane's seed's own random order of `target_x` (so a data size of n is a different
random n examples for each seed, and a prefix of the same order for every n), and, where the source has a shift
axis (digits), the target pool, test and unlabelled images are rotated by `shift * shift_angle` radians. Where the
source draws its test set per seed (digits: `ArrayData.draws_test`), each seed first splits `test_x` and `target_x`
together at random into a test set of `test_x`'s size and the rest, which is its pool (in the seed's order) and its
unlabelled images, so that the spread over seeds includes the test set's sampling; a user's npz keeps the test set it
was given.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from transfer import keys as keys_lib
from transfer.data import images
from transfer.data import source
from transfer.errors import ConfigError
from transfer.types import AdaptData
from transfer.types import Lane
from transfer.types import Split


class Arrays(NamedTuple):
  """Every array a file-based source provides (inputs float32 with equal trailing shapes, labels int32)."""

  source_x: np.ndarray  # labelled source examples pre-training trains on
  source_y: np.ndarray
  source_test_x: np.ndarray  # held-out source examples: pre-training's reported accuracy
  source_test_y: np.ndarray
  target_x: np.ndarray  # the labelled target pool; a run of data size n sees n of them
  target_y: np.ndarray
  test_x: np.ndarray  # target test examples
  test_y: np.ndarray
  unlabeled_x: np.ndarray  # unlabelled target inputs for domain adaptation (may have 0 rows)


def hold_out(x: np.ndarray, y: np.ndarray, fraction: float, cap: int) -> tuple[np.ndarray, ...]:
  """(train_x, train_y, held_x, held_y): a fixed random `fraction` (at most `cap`, at least 1) held out."""
  order = np.random.default_rng(0).permutation(len(x))
  held = order[:max(1, min(cap, round(fraction * len(x))))]
  kept = np.sort(order[len(held):])
  held = np.sort(held)
  return x[kept], y[kept], x[held], y[held]


def fingerprint(arrays: Arrays) -> str:
  """sha256 of every array's bytes and shape: keys the cache of models pre-trained on these arrays."""
  digest = hashlib.sha256()
  for name, a in zip(Arrays._fields, arrays):
    digest.update(f'{name}{a.shape}{a.dtype}'.encode())
    digest.update(np.ascontiguousarray(a).tobytes())
  return digest.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class ArrayData:
  """A data source over `Arrays` (static description; the arrays themselves are passed to each method)."""

  name: str
  input_shape: tuple[int, ...]
  source_classes: int
  target_classes: int
  target_pool: int  # examples each lane's pool holds: the largest data size
  rotates: bool  # whether the shift axis rotates the target images (digits); else the data is used as given
  shift_angle: float  # radians of rotation per unit of shift
  has_unlabeled: bool
  same_classes: bool  # whether target_y are the source's classes (digits' same-classes mode; an npz declaring it)
  draws_test: bool  # whether each seed draws its own test set from test_x and target_x together (digits)

  @property
  def has_shift(self) -> bool:
    return self.rotates

  def shifted(self, x: jax.Array, shift: jax.Array) -> jax.Array:
    return images.rotate(x, shift * self.shift_angle) if self.rotates else x

  def source_splits(self, arrays: Arrays, seed: jax.Array) -> tuple[Split, Split]:
    del seed  # the same source data for every seed; seeds differ in initialisation and minibatch order
    return (Split(arrays.source_x, arrays.source_y),
            Split(arrays.source_test_x, arrays.source_test_y))

  def seed_target(self, arrays: Arrays, seed: jax.Array) -> tuple[Split, Split, jax.Array]:
    """The seed's (labelled pool in its order, test set, unlabelled inputs), unshifted. With `draws_test` the test
    set is the first `test_x.shape[0]` of the seed's random order over `test_x` and `target_x` together and the
    rest (as many as `target_x`) is both the pool and the unlabelled inputs; otherwise the pool is the seed's order
    of `target_x` and the test set and unlabelled inputs are the arrays given."""
    keys = keys_lib.seed_keys(seed)
    if not self.draws_test:
      order = jax.random.permutation(keys.target_pool, arrays.target_x.shape[0])
      return (Split(arrays.target_x[order], arrays.target_y[order]), Split(arrays.test_x, arrays.test_y),
              arrays.unlabeled_x)
    x, y = jnp.concatenate([arrays.test_x, arrays.target_x]), jnp.concatenate([arrays.test_y, arrays.target_y])
    order = jax.random.permutation(keys.target_test, x.shape[0])
    test, rest = order[:arrays.test_x.shape[0]], order[arrays.test_x.shape[0]:]
    return Split(x[rest], y[rest]), Split(x[test], y[test]), x[rest]

  def target_splits(self, arrays: Arrays, lane: Lane) -> tuple[Split, Split]:
    pool, test, _ = self.seed_target(arrays, lane.seed)
    pool = Split(pool.x[:self.target_pool], pool.y[:self.target_pool])
    return (Split(self.shifted(pool.x, lane.shift), pool.y), Split(self.shifted(test.x, lane.shift), test.y))

  def domain_samples(self, arrays: Arrays, seed: jax.Array, shift: jax.Array, n: int) -> tuple[jax.Array, ...]:
    """Up to `n` held-out source inputs and unlabelled target inputs at `shift` (never test inputs: without
    unlabelled inputs the advisor refuses, see studies/decision.check_unlabeled)."""
    unlabeled = self.seed_target(arrays, seed)[2]
    return arrays.source_test_x[:n], self.shifted(unlabeled[:n], shift)

  def source_validation(self, arrays: Arrays, seed: jax.Array, n: int) -> Split:
    """Up to `n` labelled source examples that neither pre-training nor adaptation trains on: the held-out source
    examples (`source_test_x`, a fixed share of the source set held out before pre-training)."""
    del seed
    return Split(arrays.source_test_x[:n], arrays.source_test_y[:n])

  def adapt_data(self, arrays: Arrays, lane: Lane) -> AdaptData:
    return AdaptData(Split(arrays.source_x, arrays.source_y),
                     self.shifted(self.seed_target(arrays, lane.seed)[2], lane.shift))


def dataset(config, arrays: Arrays, *, name: str | None = None, key: dict | None = None) -> source.Dataset:
  """An ArrayData source over checked arrays; data sizes beyond the target pool are an error. With
  `config.data.same_classes` the target's labels are the source's classes (the target has the source's number).
  `name` (config.data.name by default) says what the messages call the data; only 'digits' rotates with the shift.
  `key` identifies the data (by default its name and the arrays' fingerprint)."""
  name, pool = name or config.data.name, arrays.target_x.shape[0]
  if max(config.data_sizes) > pool:
    raise ConfigError(f'config.data_sizes = {tuple(config.data_sizes)} is not allowed: {name} data has '
                      f'{pool} labelled target examples, so every data size must be <= {pool}')
  same_classes, source_classes = bool(config.data.same_classes), int(arrays.source_y.max()) + 1
  data = ArrayData(
      name=name, input_shape=tuple(arrays.source_x.shape[1:]), source_classes=source_classes,
      target_classes=source_classes if same_classes else int(arrays.target_y.max()) + 1,
      target_pool=source.pool_size(config), rotates=name == 'digits', shift_angle=float(config.data.shift_angle),
      has_unlabeled=arrays.unlabeled_x.shape[0] > 0, same_classes=same_classes, draws_test=name == 'digits')
  return source.Dataset(data, arrays, key or {'name': name, 'arrays': fingerprint(arrays)})

