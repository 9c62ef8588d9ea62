"""Pre-training on the source task of one seed's world: pure and vmappable over seeds."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import optax

from transfer import keys as keys_lib
from transfer import loop as loop_lib
from transfer import losses
from transfer import optim
from transfer import tasks


def pretrain(seed: jax.Array, *, task: tasks.TaskSpec, model: nn.Module, adam: optim.AdamSpec,
             loop: loop_lib.LoopSpec):
  """Trains `model` (with `task.source_classes` outputs) on the source pool; returns params and held-out metrics."""
  keys = keys_lib.seed_keys(seed)
  world = tasks.make_world(keys.world, task)
  pool = tasks.sample(world, keys.source_pool, task.source_pool, task='source', shift=0.0, spec=task)
  test = tasks.sample(world, keys.source_test, task.test_size, task='source', shift=0.0, spec=task)
  params = model.init(keys.source_init, pool.x[:1])['params']
  params, _ = loop_lib.run_steps(
      params, keys_lib.step_keys(keys.source_batches, loop.steps),
      loss_fn=functools.partial(losses.cross_entropy, apply_fn=model.apply),
      optimizer=optax.adam(adam.lr, b1=adam.b1, b2=adam.b2, eps=adam.eps),
      draw=functools.partial(loop_lib.minibatch, pool=pool, data_size=task.source_pool,
                             batch_size=loop.batch_size))
  return params, losses.evaluate(params, test, apply_fn=model.apply)
