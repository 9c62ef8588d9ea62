"""The synthetic task family (transfer/tasks.py) as a data source: every split is generated inside the compiled
run from the lane's seed and shift, so it takes no arrays (`arrays` is an empty tuple)."""

from __future__ import annotations

import dataclasses

import jax

from transfer import adapt_train
from transfer import keys as keys_lib
from transfer import tasks
from transfer.spec import Lane


@dataclasses.dataclass(frozen=True)
class SyntheticData:
  """One seed = one world; the target pool holds `task.target_pool` examples at the lane's shift."""

  task: tasks.TaskSpec
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
    return self.task.target_classes

  def arrays(self) -> tuple:
    return ()

  def source_splits(self, arrays: tuple, seed: jax.Array) -> tuple[tasks.Split, tasks.Split]:
    """The seed's source pool (pre-training) and held-out source test set, at shift 0."""
    del arrays
    keys, task = keys_lib.seed_keys(seed), self.task
    world = tasks.make_world(keys.world, task)
    pool = tasks.sample(world, keys.source_pool, task.source_pool, task='source', shift=0.0, spec=task)
    test = tasks.sample(world, keys.source_test, task.test_size, task='source', shift=0.0, spec=task)
    return pool, test

  def target_splits(self, arrays: tuple, lane: Lane) -> tuple[tasks.Split, tasks.Split]:
    """The lane's labelled target pool and its test set, at the lane's shift."""
    del arrays
    keys, task = keys_lib.seed_keys(lane.seed), self.task
    world = tasks.make_world(keys.world, task)
    pool = tasks.sample(world, keys.target_pool, task.target_pool, task='target', shift=lane.shift, spec=task)
    test = tasks.sample(world, keys.target_test, task.test_size, task='target', shift=lane.shift, spec=task)
    return pool, test

  def domain_samples(self, arrays: tuple, seed: jax.Array, shift: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """`n` unlabelled source and target inputs (target at `shift`) that no training run sees: for the advisor."""
    del arrays
    keys, task = keys_lib.seed_keys(seed), self.task
    world = tasks.make_world(keys.world, task)
    source = tasks.sample(world, jax.random.fold_in(keys.source_test, 1), n, task='source', shift=0.0, spec=task)
    target = tasks.sample(world, jax.random.fold_in(keys.target_test, 1), n, task='target', shift=shift, spec=task)
    return source.x, target.x

  def adapt_data(self, arrays: tuple, lane: Lane) -> adapt_train.AdaptData:
    """Labelled source examples (shift 0) and unlabelled target inputs at the lane's shift."""
    del arrays
    keys, task = keys_lib.seed_keys(lane.seed), self.task
    world = tasks.make_world(keys.world, task)
    source = tasks.sample(world, keys.source_pool, task.adapt_source_pool, task='source', shift=0.0, spec=task)
    unlabeled = tasks.sample(world, jax.random.fold_in(keys.target_pool, 1), task.unlabeled_pool, task='target',
                             shift=lane.shift, spec=task)
    return adapt_train.AdaptData(source, unlabeled.x)
