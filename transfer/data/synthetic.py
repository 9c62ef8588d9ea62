"""The synthetic task family in which transfer actually matters, as a data source.

A *world* (one per seed) is a deep, high-gain random tanh network that renders latent factors into inputs, plus
random class projections. Latents are `label` factors (which decide the class) and `nuisance` factors (which
only move the input). Source and target tasks share the generator and the label factors but use independent
class projections, so features that recover the label factors from the input transfer, while the classes do not.
With `same_classes` the target task is the source task instead (the source's projection, so the target has the
source's classes): shift 0 is then the source distribution itself, and a shift moves only the inputs.

`shift` rotates the generator's first layer toward an independent one by the angle `shift * shift_angle`
(0 = the source's generator, `pi/2` = an unrelated first layer), so the target's inputs move away from the
source's while its labels keep the same meaning.

Everything here is pure and shape-static: every split is generated inside the compiled run from the lane's seed
and shift, vmapped over seeds and shifts, so this source passes no arrays (`arrays` is an empty tuple).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from transfer import keys as keys_lib
from transfer.data import source
from transfer.types import AdaptData
from transfer.types import Lane
from transfer.types import Split


@dataclasses.dataclass(frozen=True)
class SyntheticTask:
  """Static shape and scale parameters of the synthetic task family (hashable: safe as a jit static)."""

  label_factors: int = 8
  nuisance_factors: int = 8
  input_dim: int = 64
  generator_depth: int = 3
  generator_gain: float = 2.5
  noise: float = 0.1
  source_classes: int = 50
  source_pool: int = 30_000
  target_classes: int = 5
  target_pool: int = 1000
  test_size: int = 2000
  shift_angle: float = math.pi / 6
  adapt_source_pool: int = 5000  # labelled source examples a domain-adaptation run trains on
  unlabeled_pool: int = 2000  # unlabelled target examples (at the run's shift) for domain adaptation
  same_classes: bool = False  # the target task is the source task (its projection and classes; target_classes unused)

  @property
  def latent_dim(self) -> int:
    return self.label_factors + self.nuisance_factors


class World(NamedTuple):
  """Random parameters of one world: the generator and both tasks' class projections."""

  generator: tuple[jax.Array, ...]  # generator_depth weight matrices, first one (latent_dim, input_dim)
  shifted_first_layer: jax.Array  # independent first layer the shift rotates toward
  source_projection: jax.Array  # (label_factors, source_classes)
  target_projection: jax.Array  # (label_factors, target_classes)


def make_world(key: jax.Array, task: SyntheticTask) -> World:
  """Draws one world's generator and class projections from `key`."""
  keys = jax.random.split(key, task.generator_depth + 3)
  dims = [task.latent_dim] + [task.input_dim] * task.generator_depth
  generator = tuple(
      jax.random.normal(k, (d_in, d_out)) for k, d_in, d_out in zip(keys, dims[:-1], dims[1:]))
  shifted = jax.random.normal(keys[-3], (task.latent_dim, task.input_dim))
  source = jax.random.normal(keys[-2], (task.label_factors, task.source_classes))
  target = jax.random.normal(keys[-1], (task.label_factors, task.target_classes))
  return World(generator, shifted, source, target)


def render(world: World, z: jax.Array, noise_key: jax.Array, *, shift: jax.Array | float,
           task: SyntheticTask) -> jax.Array:
  """Maps latents (n, latent_dim) to inputs (n, input_dim) through the (possibly shifted) generator."""
  angle = shift * task.shift_angle
  first = jnp.cos(angle) * world.generator[0] + jnp.sin(angle) * world.shifted_first_layer
  h = z
  for w in (first,) + world.generator[1:]:
    h = jnp.tanh(task.generator_gain * (h @ w) / math.sqrt(w.shape[0]))
  return h + task.noise * jax.random.normal(noise_key, h.shape)


def sample(world: World, key: jax.Array, n: int, *, which: str, shift: jax.Array | float,
           task: SyntheticTask) -> Split:
  """Draws `n` labelled examples of the `which` task ('source' or 'target', the same one when
  `task.same_classes`) rendered at `shift`."""
  if which not in ('source', 'target'):
    raise ValueError(f"which must be 'source' or 'target', got {which!r}")
  projection = world.source_projection if which == 'source' or task.same_classes else world.target_projection
  z_key, noise_key = jax.random.split(key)
  z = jax.random.normal(z_key, (n, task.latent_dim))
  y = jnp.argmax(z[:, :task.label_factors] @ projection, axis=-1).astype(jnp.int32)
  return Split(render(world, z, noise_key, shift=shift, task=task), y)


@dataclasses.dataclass(frozen=True)
class SyntheticData:
  """One seed = one world; the target pool holds `task.target_pool` examples at the lane's shift."""

  task: SyntheticTask
  name: str = 'synthetic'
  has_shift: bool = True  # the shift rotates the generator's first layer
  has_unlabeled: bool = True  # unlabelled target examples are generated like the rest

  @property
  def input_shape(self) -> tuple[int, ...]:
    return (self.task.input_dim,)

  @property
  def source_classes(self) -> int:
    return self.task.source_classes

  @property
  def target_classes(self) -> int:
    return self.task.source_classes if self.task.same_classes else self.task.target_classes

  @property
  def same_classes(self) -> bool:
    return self.task.same_classes

  def source_splits(self, arrays: tuple, seed: jax.Array) -> tuple[Split, Split]:
    """The seed's source pool (pre-training) and held-out source test set, at shift 0."""
    del arrays
    keys, task = keys_lib.seed_keys(seed), self.task
    world = make_world(keys.world, task)
    pool = sample(world, keys.source_pool, task.source_pool, which='source', shift=0.0, task=task)
    test = sample(world, keys.source_test, task.test_size, which='source', shift=0.0, task=task)
    return pool, test

  def target_splits(self, arrays: tuple, lane: Lane) -> tuple[Split, Split]:
    """The lane's labelled target pool and its test set, at the lane's shift."""
    del arrays
    keys, task = keys_lib.seed_keys(lane.seed), self.task
    world = make_world(keys.world, task)
    pool = sample(world, keys.target_pool, task.target_pool, which='target', shift=lane.shift, task=task)
    test = sample(world, keys.target_test, task.test_size, which='target', shift=lane.shift, task=task)
    return pool, test

  def domain_samples(self, arrays: tuple, seed: jax.Array, shift: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """`n` unlabelled source and target inputs (target at `shift`) that no training run sees: for the advisor."""
    del arrays
    keys, task = keys_lib.seed_keys(seed), self.task
    world = make_world(keys.world, task)
    # fold_in 2: `sample` splits its key into fold_in 0 and 1 (JAX's partitionable threefry), so 1 would reuse the
    # test set's noise key
    source = sample(world, jax.random.fold_in(keys.source_test, 2), n, which='source', shift=0.0, task=task)
    target = sample(world, jax.random.fold_in(keys.target_test, 2), n, which='target', shift=shift, task=task)
    return source.x, target.x

  def source_validation(self, arrays: tuple, seed: jax.Array, n: int) -> Split:
    """`n` labelled source examples (shift 0) that neither pre-training nor adaptation trains on: an independent
    draw (fold_in 3 of the source test key: `sample` uses 0 and 1, domain_samples 2)."""
    del arrays
    keys, task = keys_lib.seed_keys(seed), self.task
    world = make_world(keys.world, task)
    return sample(world, jax.random.fold_in(keys.source_test, 3), n, which='source', shift=0.0, task=task)

  def adapt_data(self, arrays: tuple, lane: Lane) -> AdaptData:
    """Labelled source examples (shift 0; the first of the pre-training pool) and unlabelled target inputs at the
    lane's shift."""
    del arrays
    keys, task = keys_lib.seed_keys(lane.seed), self.task
    world = make_world(keys.world, task)
    source = sample(world, keys.source_pool, task.adapt_source_pool, which='source', shift=0.0, task=task)
    unlabeled_key = jax.random.fold_in(keys.target_pool, 2)  # 2, not 1: see domain_samples
    unlabeled = sample(world, unlabeled_key, task.unlabeled_pool, which='target', shift=lane.shift, task=task)
    return AdaptData(source, unlabeled.x)


# config.data's fields: those that determine a seed's source models (they key the cache), and the whole task.
SOURCE_FIELDS = ('label_factors', 'nuisance_factors', 'input_dim', 'generator_depth', 'generator_gain', 'noise',
                 'source_classes', 'source_pool', 'target_classes', 'test_size', 'shift_angle')
TASK_FIELDS = SOURCE_FIELDS + ('adapt_source_pool', 'unlabeled_pool')


def task(config) -> SyntheticTask:
  """The synthetic task's static shapes: the data config's fields; the target pool holds the largest data size."""
  return SyntheticTask(**{f: config.data[f] for f in TASK_FIELDS}, target_pool=source.pool_size(config),
                       same_classes=config.data.same_classes)


def dataset(config) -> source.Dataset:
  return source.Dataset(SyntheticData(task(config)), (), {f: config.data[f] for f in SOURCE_FIELDS})


check = source.check_generated

