"""PRNG keys derived from a seed. The same seed gives the same keys in every strategy (the paired design)."""

from __future__ import annotations

from typing import NamedTuple

import jax


class SeedKeys(NamedTuple):
  world: jax.Array
  source_pool: jax.Array
  source_test: jax.Array
  source_init: jax.Array
  source_batches: jax.Array
  target_pool: jax.Array
  target_test: jax.Array
  target_init: jax.Array
  target_batches: jax.Array


def seed_keys(seed: jax.Array) -> SeedKeys:
  return SeedKeys(*jax.random.split(jax.random.key(seed), len(SeedKeys._fields)))


def step_keys(key: jax.Array, steps: int) -> jax.Array:
  """One key per step, `fold_in(key, step)`: step t's minibatch does not depend on how many steps follow."""
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jax.numpy.arange(steps))


def target_run_keys(seed: jax.Array, salt: int = 0) -> tuple[jax.Array, jax.Array]:
  """(init, minibatch) keys of a target run; `salt` > 0 gives an independent run on the same data (a base network
  trained on the target task, for Yosinski's BnB)."""
  keys = seed_keys(seed)
  if salt == 0:
    return keys.target_init, keys.target_batches
  return jax.random.fold_in(keys.target_init, salt), jax.random.fold_in(keys.target_batches, salt)
