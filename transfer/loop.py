"""The optimizer loop shared by pre-training and target training: minibatch steps inside one `lax.scan`."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import optax

from transfer import tasks


@dataclasses.dataclass(frozen=True)
class LoopSpec:
  """Static length and batch size of a training loop."""

  steps: int
  batch_size: int


def optimizer_step(carry, key: jax.Array, *, loss_fn: Callable, optimizer: optax.GradientTransformation,
                   pool: tasks.Split, data_size: jax.Array, batch_size: int):
  """One step on a minibatch drawn (with replacement) from the first `data_size` examples of `pool`."""
  params, opt_state = carry
  idx = jax.random.randint(key, (batch_size,), 0, data_size)
  loss, grads = jax.value_and_grad(loss_fn)(params, tasks.Split(pool.x[idx], pool.y[idx]))
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return (optax.apply_updates(params, updates), opt_state), loss


def run_steps(params, step_keys: jax.Array, *, loss_fn: Callable, optimizer: optax.GradientTransformation,
              pool: tasks.Split, data_size: jax.Array, batch_size: int):
  """One optimizer step per key, from a fresh optimizer state; returns final params and per-step losses."""
  step = functools.partial(optimizer_step, loss_fn=loss_fn, optimizer=optimizer, pool=pool,
                           data_size=data_size, batch_size=batch_size)
  (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), step_keys)
  return params, losses
