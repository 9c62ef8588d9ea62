"""Pre-training on the source task of one seed: pure and vmappable over seeds."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import optax

from transfer import keys as keys_lib
from transfer.data.source import DataSource
from transfer.train import loop as loop_lib
from transfer.train import losses
from transfer.train import optim


def source_loss(params, batch, *, apply_fn) -> tuple[jax.Array, dict]:
  """Cross-entropy on a source minibatch, with no terms to report (the loop's loss interface)."""
  return losses.cross_entropy(params, batch, apply_fn=apply_fn), {}


def pretrain(seed: jax.Array, arrays, *, data: DataSource, model: nn.Module, lr: float, adam: optim.Adam,
             loop: loop_lib.Loop):
  """Trains `model` (with the source's classes) on the seed's source pool; returns params and held-out metrics."""
  keys = keys_lib.seed_keys(seed)
  pool, test = data.source_splits(arrays, seed)
  params = model.init(keys.source_init, pool.x[:1])['params']
  params, _, _, _ = loop_lib.run_steps(
      params, keys_lib.step_keys(keys.source_batches, loop.steps),
      loss_fn=functools.partial(source_loss, apply_fn=model.apply),
      optimizer=optax.adam(lr, b1=adam.b1, b2=adam.b2, eps=adam.eps),
      draw=functools.partial(loop_lib.minibatch, pool=pool, size=pool.x.shape[0],
                             batch_size=loop.batch_size))
  return params, losses.evaluate(params, test, apply_fn=model.apply)
