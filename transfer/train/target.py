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


def holdout(pool: Split, data_size: jax.Array, *, every: int, num_classes: int):
  """The lane's labelled examples (the first `data_size` of the pool) split into training and validation.

  Within each class, in the pool's order (the seed's random order), every `every`-th example validates and the
  others train: the split is stratified, the split of a larger size extends that of a smaller one, and every
  strategy and candidate of a seed sees the same split. Returns (order, size, val, val_mask): the training examples'
  indices first in `order` and their count, then the validation examples padded to the static len(pool) // every
  rows, with `val_mask` marking the real ones. No test example is ever involved.
  """
  n = pool.y.shape[0]
  seen = jnp.cumsum(jax.nn.one_hot(pool.y, num_classes, dtype=jnp.int32), axis=0)
  rank = jnp.take_along_axis(seen, pool.y[:, None], axis=1)[:, 0] - 1  # position within its class
  inside = jnp.arange(n) < data_size
  validates = rank % every == every - 1
  is_train, is_val = inside & ~validates, inside & validates
  order = jnp.argsort(jnp.where(is_train, 0, 1), stable=True)
  val_rows = jnp.argsort(jnp.where(is_val, 0, 1), stable=True)[:n // every]
  val = Split(pool.x[val_rows], pool.y[val_rows])
  return order, is_train.sum(), val, jnp.arange(n // every) < is_val.sum()


def run_data(pool: Split, test: Split, lane: Lane, *, spec: TargetSpec, num_classes: int) -> stages_lib.RunData:
  """What the lane's stages train and evaluate on: with `spec.holdout_every`, its examples split for validation;
  without, all of them train (the order of the pool) and the validation set is empty (one masked-out row)."""
  if not spec.holdout_every:
    return stages_lib.RunData(pool, None, lane.data_size, Split(pool.x[:1], pool.y[:1]), jnp.zeros((1,), bool), test)
  order, size, val, val_mask = holdout(pool, lane.data_size, every=spec.holdout_every, num_classes=num_classes)
  return stages_lib.RunData(pool, order, size, val, val_mask, test)


def base_network(lane: Lane, source_params, run: stages_lib.RunData, *, strategy: strategies.Strategy,
                 spec: TargetSpec):
  """What a pre-trained strategy copies from: the source model, or (base='target') a network trained from scratch
  on the lane's training examples with its own initialisation and minibatch order (never evaluated)."""
  if strategy.base == 'source':
    return source_params
  params, _, _ = fit(lane, None, run, strategy=strategies.get('scratch'), spec=spec, salt=1, evaluate=False)
  return params


def fit(lane: Lane, source_params, run: stages_lib.RunData, *, strategy: strategies.Strategy, spec: TargetSpec,
        adapt_data: AdaptData | None = None, salt: int = 0, evaluate: bool = True):
  """Trains on the run's training examples as `strategy` says, stage after stage.

  Returns the final params, the per-step losses and, if `evaluate`, the evaluations every `spec.eval_every` steps
  across all stages (see stages.evaluation). Domain-adaptation strategies also need `adapt_data` (labelled source and
  unlabelled target examples). `salt` picks independent initialisation and minibatch keys (keys.target_run_keys).
  """
  init_key, batches_key = keys_lib.target_run_keys(lane.seed, salt)
  base = base_network(lane, source_params, run, strategy=strategy, spec=spec) if strategy.pretrained else None
  params = initial_params(lane, base, run.pool, strategy=strategy, spec=spec, init_key=init_key)
  anchor = params
  all_keys = keys_lib.step_keys(batches_key, spec.loop.steps)
  start, stage_losses, stage_evals = 0, [], []
  for stage, steps in strategies.stages(strategy, spec.loop.steps, spec.knobs):
    stage_keys = all_keys[start:start + steps]
    if stage.align != 'none':
      params, stage_loss, evals = stages_lib.run_adapt_stage(params, stage_keys, lane, run, adapt_data,
                                                             strategy=stage, source_params=source_params, spec=spec)
    else:
      params, stage_loss, evals = stages_lib.run_stage(params, stage_keys, lane, run, strategy=stage, anchor=anchor,
                                                       spec=spec, evaluate=evaluate)
    start += steps
    stage_losses.append(stage_loss)
    stage_evals.append(evals)
  curves = jax.tree.map(lambda *a: jnp.concatenate(a), *stage_evals) if evaluate else {}
  return params, jnp.concatenate(stage_losses), curves


def is_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def train(lane: Lane, source_params, arrays, *, data: DataSource, strategy: strategies.Strategy,
          spec: TargetSpec) -> dict[str, jax.Array]:
  """One whole target run for one lane: its data, `fit`, and the evaluations along the way.

  Returns curves, one value per evaluation (every `spec.eval_every` steps): `val_accuracy`, `val_loss`,
  `test_accuracy`, `test_loss` and `train_loss` (the mean step loss since the previous evaluation); and scalars:
  `final_train_loss` (the mean step loss over the last tenth of the steps), `val_size` and `diverged` (whether any
  step loss or final parameter is NaN/inf). `arrays` are the data source's arrays (an argument of the compiled run,
  the same for every lane).
  """
  pool, test = data.target_splits(arrays, lane)
  run = run_data(pool, test, lane, spec=spec, num_classes=data.target_classes)
  adapt_data = data.adapt_data(arrays, lane) if strategy.align != 'none' else None
  params, step_losses, curves = fit(lane, source_params, run, strategy=strategy, spec=spec, adapt_data=adapt_data)
  steps, every = spec.loop.steps, spec.eval_every
  tail = max(1, steps // 10)
  return {**curves, 'train_loss': step_losses.reshape(steps // every, every).mean(axis=1),
          'final_train_loss': jnp.mean(step_losses[-tail:]), 'val_size': run.val_mask.sum(),
          'diverged': ~is_finite((step_losses, params))}
