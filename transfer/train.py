"""Pre-training on the source task and training on the target task: pure, scan-based, vmappable.

One call of `train` is one whole run (data generation, initialisation, every optimizer step, evaluation) for one
*lane* of a sweep. Everything that differs between lanes (seed, data size, shift, LR multiplier) is a traced array
in `Lane`, so `jax.jit(jax.vmap(train))` compiles one program for a whole grid. Everything structural (strategy,
shapes, step counts) is bound with `functools.partial` as keyword-only arguments.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import flax.traverse_util
import jax
import jax.numpy as jnp
import optax

from transfer import groups as groups_lib
from transfer import optim
from transfer import strategies
from transfer import tasks


class Lane(NamedTuple):
  """The per-run values of one grid cell; each field is a scalar (or a batch of them under vmap)."""

  seed: jax.Array  # int32: picks the world, data, initialisation and minibatch order
  data_size: jax.Array  # int32: labelled target examples the run may see (a prefix of the pool)
  shift: jax.Array  # float32: domain shift of the target inputs
  lr_mult: jax.Array  # float32: backbone LR multiplier (ignored by strategies that do not use it)


class SeedKeys(NamedTuple):
  """Independent PRNG keys derived from one seed. Same seed -> same keys in every strategy (paired design)."""

  world: jax.Array
  source_pool: jax.Array
  source_test: jax.Array
  source_init: jax.Array
  source_batches: jax.Array
  target_pool: jax.Array
  target_test: jax.Array
  target_init: jax.Array
  target_batches: jax.Array


@dataclasses.dataclass(frozen=True)
class LoopSpec:
  """Static length and batch size of a training loop."""

  steps: int
  batch_size: int


def seed_keys(seed: jax.Array) -> SeedKeys:
  return SeedKeys(*jax.random.split(jax.random.key(seed), len(SeedKeys._fields)))


def cross_entropy(params, batch: tasks.Split, *, apply_fn: Callable) -> jax.Array:
  logits = apply_fn({'params': params}, batch.x)
  return optax.softmax_cross_entropy_with_integer_labels(logits, batch.y).mean()


def evaluate(params, split: tasks.Split, *, apply_fn: Callable) -> dict[str, jax.Array]:
  logits = apply_fn({'params': params}, split.x)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, split.y).mean()
  return {'accuracy': jnp.mean(jnp.argmax(logits, -1) == split.y), 'loss': loss}


def optimizer_step(carry, key: jax.Array, *, loss_fn: Callable, optimizer: optax.GradientTransformation,
                   pool: tasks.Split, data_size: jax.Array, batch_size: int):
  """One Adam step on a minibatch drawn (with replacement) from the first `data_size` examples of `pool`."""
  params, opt_state = carry
  idx = jax.random.randint(key, (batch_size,), 0, data_size)
  loss, grads = jax.value_and_grad(loss_fn)(params, tasks.Split(pool.x[idx], pool.y[idx]))
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return (optax.apply_updates(params, updates), opt_state), loss


def run_steps(params, key: jax.Array, *, loss_fn: Callable, optimizer: optax.GradientTransformation,
              pool: tasks.Split, data_size: jax.Array, loop: LoopSpec):
  """`loop.steps` optimizer steps inside one `lax.scan`; returns final params and the per-step losses."""
  step = functools.partial(optimizer_step, loss_fn=loss_fn, optimizer=optimizer, pool=pool,
                           data_size=data_size, batch_size=loop.batch_size)
  (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)),
                                     jax.random.split(key, loop.steps))
  return params, losses


def pretrain(seed: jax.Array, *, task: tasks.TaskSpec, model: nn.Module, adam: optim.AdamSpec,
             loop: LoopSpec):
  """Trains `model` (with `task.source_classes` outputs) on the source task of `seed`'s world.

  Returns the parameters and the held-out source accuracy/loss.
  """
  keys = seed_keys(seed)
  world = tasks.make_world(keys.world, task)
  pool = tasks.sample(world, keys.source_pool, task.source_pool, task='source', shift=0.0, spec=task)
  test = tasks.sample(world, keys.source_test, task.test_size, task='source', shift=0.0, spec=task)
  params = model.init(keys.source_init, pool.x[:1])['params']
  optimizer = optax.adam(adam.lr, b1=adam.b1, b2=adam.b2, eps=adam.eps)
  params, _ = run_steps(params, keys.source_batches, loss_fn=functools.partial(cross_entropy, apply_fn=model.apply),
                        optimizer=optimizer, pool=pool, data_size=task.source_pool, loop=loop)
  return params, evaluate(params, test, apply_fn=model.apply)


def transplant(fresh, source, labels, *, head_group: str):
  """`fresh` with every non-head parameter replaced by `source`'s; shapes must agree."""
  flat_fresh, flat_source = (flax.traverse_util.flatten_dict(t) for t in (fresh, source))
  flat_labels = flax.traverse_util.flatten_dict(labels)
  out = {}
  for path, leaf in flat_fresh.items():
    if flat_labels[path] == head_group:
      out[path] = leaf
      continue
    name = '/'.join(path)
    if path not in flat_source:
      raise ValueError(f'pre-trained parameters lack {name!r}')
    if flat_source[path].shape != leaf.shape:
      raise ValueError(f'pre-trained {name!r} has shape {flat_source[path].shape}, the model wants {leaf.shape}')
    out[path] = flat_source[path]
  return flax.traverse_util.unflatten_dict(out)


def target_data(lane: Lane, *, task: tasks.TaskSpec) -> tuple[tasks.Split, tasks.Split]:
  """The lane's labelled target pool (`task.target_pool` examples) and its test set, at the lane's shift."""
  keys = seed_keys(lane.seed)
  world = tasks.make_world(keys.world, task)
  pool = tasks.sample(world, keys.target_pool, task.target_pool, task='target', shift=lane.shift, spec=task)
  test = tasks.sample(world, keys.target_test, task.test_size, task='target', shift=lane.shift, spec=task)
  return pool, test


def fit(lane: Lane, source_params, pool: tasks.Split, *, strategy: strategies.Strategy, model: nn.Module,
        rules: groups_lib.Rules, head_group: str, adam: optim.AdamSpec, loop: LoopSpec):
  """Trains on the target pool as `strategy` says; returns the final params and per-step losses."""
  keys = seed_keys(lane.seed)
  params = model.init(keys.target_init, pool.x[:1])['params']
  labels = groups_lib.assign_groups(params, rules)
  if strategy.pretrained:
    params = transplant(params, source_params, labels, head_group=head_group)
  schedules = strategies.group_schedules(strategy, groups_lib.group_names(rules), head_group=head_group,
                                         lr_mult=lane.lr_mult)
  frozen = jax.tree.map(lambda g: schedules[g] is None, labels)
  loss_fn = functools.partial(frozen_cross_entropy, frozen=frozen, apply_fn=model.apply)
  return run_steps(params, keys.target_batches, loss_fn=loss_fn,
                   optimizer=optim.make_optimizer(labels, schedules, adam), pool=pool,
                   data_size=lane.data_size, loop=loop)


def frozen_cross_entropy(params, batch: tasks.Split, *, frozen, apply_fn: Callable) -> jax.Array:
  """Cross-entropy with `stop_gradient` on frozen leaves, so autodiff never runs backward through them."""
  params = jax.tree.map(lambda p, f: jax.lax.stop_gradient(p) if f else p, params, frozen)
  return cross_entropy(params, batch, apply_fn=apply_fn)


def train(lane: Lane, source_params, *, task: tasks.TaskSpec, strategy: strategies.Strategy, model: nn.Module,
          rules: groups_lib.Rules, head_group: str, adam: optim.AdamSpec, loop: LoopSpec) -> dict[str, jax.Array]:
  """One whole target run for one lane: data, `fit`, evaluation on the test set. Returns scalar metrics."""
  pool, test = target_data(lane, task=task)
  params, losses = fit(lane, source_params, pool, strategy=strategy, model=model, rules=rules,
                       head_group=head_group, adam=adam, loop=loop)
  metrics = evaluate(params, test, apply_fn=model.apply)
  tail = max(1, loop.steps // 10)
  finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in [losses, *jax.tree.leaves(params)]]))
  return {'test_accuracy': metrics['accuracy'], 'test_loss': metrics['loss'],
          'train_loss': jnp.mean(losses[-tail:]), 'diverged': ~finite}
