"""The optimizer loop shared by pre-training and target training: minibatch steps inside one `lax.scan`, and the
minibatch draws it takes (plain, or domain adaptation's three streams)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import optax

from transfer.types import AdaptData
from transfer.types import Split


@dataclasses.dataclass(frozen=True)
class Loop:
  """Static length and batch size of a training loop."""

  steps: int
  batch_size: int


def minibatch(key: jax.Array, step: jax.Array, *, pool: Split, data_size: jax.Array, batch_size: int) -> Split:
  """`batch_size` examples drawn with replacement from the first `data_size` of `pool` (any step)."""
  del step
  idx = jax.random.randint(key, (batch_size,), 0, data_size)
  return Split(pool.x[idx], pool.y[idx])


class AdaptBatch(NamedTuple):
  target: Split
  source: Split
  unlabeled: jax.Array
  progress: jax.Array  # step / steps, for DANN's reversal weight


def adapt_minibatch(key: jax.Array, step: jax.Array, *, pool: Split, adapt_data: AdaptData, data_size: jax.Array,
                    batch_size: int, steps: int) -> AdaptBatch:
  """A labelled target, a labelled source and an unlabelled target minibatch, each `batch_size` examples."""
  k_target, k_source, k_unlabeled = jax.random.split(key, 3)
  target = minibatch(k_target, step, pool=pool, data_size=data_size, batch_size=batch_size)
  source = minibatch(k_source, step, pool=adapt_data.source, data_size=adapt_data.source.x.shape[0],
                     batch_size=batch_size)
  idx = jax.random.randint(k_unlabeled, (batch_size,), 0, adapt_data.unlabeled.shape[0])
  return AdaptBatch(target, source, adapt_data.unlabeled[idx], step / steps)


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
