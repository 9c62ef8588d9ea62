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


def minibatch(key: jax.Array, step: jax.Array, *, pool: tasks.Split, data_size: jax.Array,
              batch_size: int) -> tasks.Split:
  """`batch_size` examples drawn with replacement from the first `data_size` of `pool` (any step)."""
  del step
  idx = jax.random.randint(key, (batch_size,), 0, data_size)
  return tasks.Split(pool.x[idx], pool.y[idx])


def optimizer_step(carry, xs, *, loss_fn: Callable, optimizer: optax.GradientTransformation, draw: Callable):
  """One step on the batch `draw(key, step)` returns; `loss_fn(params, batch)` may read the step from it."""
  params, opt_state = carry
  key, step = xs
  loss, grads = jax.value_and_grad(loss_fn)(params, draw(key, step))
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return (optax.apply_updates(params, updates), opt_state), loss


def run_steps(params, step_keys: jax.Array, *, loss_fn: Callable, optimizer: optax.GradientTransformation,
              draw: Callable):
  """One optimizer step per key, from a fresh optimizer state; returns final params and per-step losses."""
  step = functools.partial(optimizer_step, loss_fn=loss_fn, optimizer=optimizer, draw=draw)
  steps = jax.numpy.arange(step_keys.shape[0])
  (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), (step_keys, steps))
  return params, losses
