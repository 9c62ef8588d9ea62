"""One whole target run per lane: its initial parameters, its stages, its evaluation. Pure, scan-based, vmappable.

Everything that differs between lanes (seed, data size, shift, LR multiplier, layers copied) is a traced array in
`Lane`, so `jax.jit(jax.vmap(train))` compiles one program for a whole grid. Everything structural (strategy,
shapes, step counts) is bound with `functools.partial` as keyword-only arguments.
"""

from __future__ import annotations

import re

import flax.traverse_util
import jax
import jax.numpy as jnp

from transfer import keys as keys_lib
from transfer.data.dataset import DataSource
from transfer.train import losses
from transfer.train import optim
from transfer.train import stages as stages_lib
from transfer.train import strategies
from transfer.train.stages import TargetSpec
from transfer.types import AdaptData
from transfer.types import Lane
from transfer.types import Split


def transplant(fresh, base, labels, *, head_group: str, skip: str = '', copied=None):
  """`fresh` with backbone parameters taken from `base`: all except the head group and those whose path matches
  `skip`; where `copied` (group -> traced bool) is given, only the groups it marks. Shapes must agree."""
  flat_fresh, flat_base = (flax.traverse_util.flatten_dict(t) for t in (fresh, base))
  flat_labels = flax.traverse_util.flatten_dict(labels)
  out = {}
  for path, leaf in flat_fresh.items():
    name, group = '/'.join(path), flat_labels[path]
    if group == head_group or (skip and re.search(skip, name)):
      out[path] = leaf
      continue
    if path not in flat_base:
      raise ValueError(f'pre-trained parameters lack {name!r}')
    if flat_base[path].shape != leaf.shape:
      raise ValueError(f'pre-trained {name!r} has shape {flat_base[path].shape}, the model wants {leaf.shape}')
    out[path] = flat_base[path] if copied is None else jnp.where(copied[group], flat_base[path], leaf)
  return flax.traverse_util.unflatten_dict(out)


def copied_groups(lane: Lane, spec: TargetSpec) -> dict:
  """Backbone group -> whether it is among the bottom `lane.layers_copied` groups (traced)."""
  backbone = optim.backbone_groups(spec.rules, spec.head_group)
  return {g: i < lane.layers_copied for i, g in enumerate(backbone)}


def initial_params(lane: Lane, base_params, pool: Split, *, strategy: strategies.Strategy, spec: TargetSpec,
                   init_key: jax.Array):
  """A fresh model for the target classes, its backbone (or, for `copy='first_k'`, its bottom `layers_copied`
  groups) replaced by `base_params`' if the strategy starts pre-trained."""
  params = spec.model.init(init_key, pool.x[:1])['params']
  if strategy.pretrained:
    labels = optim.assign_groups(params, spec.rules)
    copied = copied_groups(lane, spec) if strategy.uses_layers_copied else None
    params = transplant(params, base_params, labels, head_group=spec.head_group, skip=spec.skip, copied=copied)
  return params


def base_network(lane: Lane, source_params, pool: Split, *, strategy: strategies.Strategy,
                 spec: TargetSpec):
  """What a pre-trained strategy copies from: the source model, or (base='target') a network trained from scratch
  on the lane's target data with its own initialisation and minibatch order."""
  if strategy.base == 'source':
    return source_params
  params, _ = fit(lane, None, pool, strategy=strategies.get('scratch'), spec=spec, salt=1)
  return params


def fit(lane: Lane, source_params, pool: Split, *, strategy: strategies.Strategy, spec: TargetSpec,
        adapt_data: AdaptData | None = None, salt: int = 0):
  """Trains on the target pool as `strategy` says, stage after stage; returns final params and per-step losses.

  Domain-adaptation strategies also need `adapt_data` (labelled source and unlabelled target examples). `salt`
  picks independent initialisation and minibatch keys (see keys.target_run_keys).
  """
  init_key, batches_key = keys_lib.target_run_keys(lane.seed, salt)
  base = base_network(lane, source_params, pool, strategy=strategy, spec=spec) if strategy.pretrained else None
  params = initial_params(lane, base, pool, strategy=strategy, spec=spec, init_key=init_key)
  anchor = params
  all_keys = keys_lib.step_keys(batches_key, spec.loop.steps)
  start, stage_losses = 0, []
  for stage, steps in strategies.stages(strategy, spec.loop.steps, spec.knobs):
    stage_keys = all_keys[start:start + steps]
    if stage.align != 'none':
      params, stage_loss = stages_lib.run_adapt_stage(params, stage_keys, lane, pool, adapt_data, strategy=stage,
                                                      source_params=source_params, spec=spec)
    else:
      params, stage_loss = stages_lib.run_stage(params, stage_keys, lane, pool, strategy=stage, anchor=anchor,
                                                spec=spec)
    start += steps
    stage_losses.append(stage_loss)
  return params, jnp.concatenate(stage_losses)


def is_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def train(lane: Lane, source_params, arrays, *, data: DataSource, strategy: strategies.Strategy,
          spec: TargetSpec) -> dict[str, jax.Array]:
  """One whole target run for one lane: data, `fit`, evaluation on the test set. Returns scalar metrics.

  `arrays` are the data source's arrays (an argument of the compiled run, the same for every lane).
  """
  pool, test = data.target_splits(arrays, lane)
  adapt_data = data.adapt_data(arrays, lane) if strategy.align != 'none' else None
  params, step_losses = fit(lane, source_params, pool, strategy=strategy, spec=spec, adapt_data=adapt_data)
  metrics = losses.evaluate(params, test, apply_fn=spec.model.apply)
  tail = max(1, spec.loop.steps // 10)
  return {'test_accuracy': metrics['accuracy'], 'test_loss': metrics['loss'],
          'train_loss': jnp.mean(step_losses[-tail:]), 'diverged': ~is_finite((step_losses, params))}
