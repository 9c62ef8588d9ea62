"""One whole target run per lane: its initial parameters, its stages, its evaluation. Pure, scan-based, vmappable.

Everything that differs between lanes (seed, data size, shift, LR multiplier, layers copied) is a traced array in
`Lane`, so `jit(vmap(train))` compiles one program for a whole grid. Everything structural (strategy,
shapes, step counts) is bound with `functools.partial` as keyword-only arguments.
"""

from __future__ import annotations

import dataclasses
import re
from typing import NamedTuple

import flax.traverse_util
import jax
import jax.numpy as jnp

from transfer import keys as keys_lib
from transfer.data.source import DataSource
from transfer.train import diagnostics
from transfer.train import lane_data as lane_data_lib
from transfer.train import loop as loop_lib
from transfer.train import losses
from transfer.train import models
from transfer.train import optim
from transfer.train import stages as stages_lib
from transfer.train import strategies
from transfer.train import validators
from transfer.train.stages import TargetSpec
from transfer.types import AdaptData
from transfer.types import Lane
from transfer.types import Split


def transplant(fresh, base_params, labels, *, head_group: str, skip: str = '', copied=None,
               keep_head: bool = False):
  """`fresh` with backbone parameters taken from `base_params` (the base network's): all except the head group and
  those whose path matches `skip`; where `copied` (group -> traced bool) is given, only the groups it marks. Shapes
  must agree. With `keep_head` the head comes from `base_params` too where it has the head with the same shapes
  (the source's classes are the target's)."""
  flat_fresh, flat_base = (flax.traverse_util.flatten_dict(t) for t in (fresh, base_params))
  flat_labels = flax.traverse_util.flatten_dict(labels)
  head = [p for p in flat_fresh if flat_labels[p] == head_group]
  take_head = keep_head and all(p in flat_base and flat_base[p].shape == flat_fresh[p].shape for p in head)
  out = {}
  for path, leaf in flat_fresh.items():
    name, group = '/'.join(path), flat_labels[path]
    if group == head_group:
      out[path] = flat_base[path] if take_head else leaf
      continue
    if skip and re.search(skip, name):
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
  groups) replaced by those of `base_params` (the base network's: see base_network) if the strategy starts
  pre-trained, unless the lane does not (`lane.pretrained` False: strategies.program); where the source's classes
  are the target's (`spec.same_classes`) a strategy that copies the whole source model keeps its head too."""
  fresh = spec.model.init(init_key, pool.x[:1])['params']
  if not strategy.pretrained:
    return fresh
  labels = optim.assign_groups(fresh, spec.rules)
  copied = copied_groups(lane, spec) if strategy.uses_layers_copied else None
  keep_head = spec.same_classes and strategy.copy == 'all' and strategy.base == 'source'
  params = transplant(fresh, base_params, labels, head_group=spec.head_group, skip=spec.skip, copied=copied,
                      keep_head=keep_head)
  return jax.tree.map(lambda p, f: jnp.where(lane.pretrained, p, f), params, fresh)


def validation_split(pool: Split, data_size: jax.Array, *, every: int, num_classes: int):
  """The lane's labelled examples (the first `data_size` of the pool) split into training and validation.

  Within each class, in the pool's order (the seed's random order), every `every`-th example validates and the
  others train: the split is stratified, the split of a larger size extends that of a smaller one, and every
  strategy and candidate of a seed sees the same split. Returns (order, size, val, val_mask): the training examples'
  indices first in `order` and their count, then the validation examples padded to the static len(pool) // every
  rows (at least one), with `val_mask` marking the real ones. No test example is ever involved.
  """
  n = pool.y.shape[0]
  seen = jnp.cumsum(jax.nn.one_hot(pool.y, num_classes, dtype=jnp.int32), axis=0)
  rank = jnp.take_along_axis(seen, pool.y[:, None], axis=1)[:, 0] - 1  # position within its class
  inside = jnp.arange(n) < data_size
  validates = rank % every == every - 1
  is_train, is_val = inside & ~validates, inside & validates
  order = jnp.argsort(jnp.where(is_train, 0, 1), stable=True)
  rows = max(1, n // every)  # static; at least one (masked-out) row, so shapes stay valid for a tiny pool
  val_rows = jnp.argsort(jnp.where(is_val, 0, 1), stable=True)[:rows]
  val = Split(pool.x[val_rows], pool.y[val_rows])
  return order, is_train.sum(), val, jnp.arange(rows) < is_val.sum()


def run_data(pool: Split, test: Split, lane: Lane, *, spec: TargetSpec, num_classes: int, ood: Split,
             source: Split, source_head: dict | None) -> stages_lib.RunData:
  """What the lane's stages train and evaluate on: with `spec.holdout_every`, its examples split for validation;
  without, all of them train (the order of the pool) and the validation set is empty (one masked-out row)."""
  m = min(lane_data_lib.EVAL_SAMPLES, test.y.shape[0])
  extra = dict(curve_test=Split(test.x[:m], test.y[:m]), ood=ood, source=source, source_head=source_head)
  if not spec.holdout_every:
    return stages_lib.RunData(pool, None, lane.data_size, Split(pool.x[:1], pool.y[:1]), jnp.zeros((1,), bool), test,
                              **extra)
  order, size, val, val_mask = validation_split(pool, lane.data_size, every=spec.holdout_every, num_classes=num_classes)
  return stages_lib.RunData(pool, order, size, val, val_mask, test, **extra)


def base_network(lane: Lane, source_params, run: stages_lib.RunData, *, strategy: strategies.Strategy,
                 spec: TargetSpec):
  """What a pre-trained strategy copies from: the source model, or (base='target') a network trained from scratch
  on the lane's training examples with its own initialisation and minibatch order (never evaluated)."""
  if strategy.base == 'source':
    return source_params
  return fit(lane, None, run, strategy=strategies.get('scratch'), spec=spec, salt=1, evaluate=False).params


class Fit(NamedTuple):
  """What `fit` returns."""

  params: dict  # the final parameters
  step_losses: jax.Array  # (steps,)
  curves: dict  # name -> (evaluations,) arrays; {} without evaluation
  start: dict  # the parameters training started from (after any copying from a base network)
  kept: dict[str, loop_lib.Kept]  # with evaluation: the parameters at the best test-curve accuracy ('oracle') and,
  #                                 with spec.keep_best, at the best validation score ('selected'); else {}


def fit(lane: Lane, source_params, run: stages_lib.RunData, *, strategy: strategies.Strategy, spec: TargetSpec,
        adapt: stages_lib.AdaptRun | None = None, validation: validators.Validation | None = None, salt: int = 0,
        evaluate: bool = True, stop: jax.Array | None = None) -> Fit:
  """Trains on the run's training examples as `strategy` says, stage after stage.

  The curves are the evaluations every `spec.eval_every` steps across all stages (see stages.evaluation), if
  `evaluate`. Domain-adaptation strategies also need `adapt` (labelled source and unlabelled target examples).
  `salt` picks independent initialisation and minibatch keys (see keys.target_run_keys). With `stop` (traced) only
  the first `stop` steps of the whole run train: the same run, stopped there (the stages' schedules unchanged).
  """
  init_key, batches_key = keys_lib.target_run_keys(lane.seed, salt)
  base_params = base_network(lane, source_params, run, strategy=strategy, spec=spec) if strategy.pretrained else None
  params = start = initial_params(lane, base_params, run.pool, strategy=strategy, spec=spec, init_key=init_key)
  all_keys = keys_lib.step_keys(batches_key, spec.loop.steps)
  names = (('selected',) if spec.keep_best else ()) + ('oracle',) if evaluate else ()
  kept = {name: loop_lib.Kept(jnp.float32(-jnp.inf), start) for name in names}
  begin, stage_losses, stage_evals = 0, [], []
  for stage, steps in strategies.stages(strategy, spec.loop.steps, spec.knobs):
    stage_keys = all_keys[begin:begin + steps]
    stage_stop = None if stop is None else stop - begin
    if stage.adapts:
      params, stage_loss, evals, kept = stages_lib.run_adapt_stage(
          params, stage_keys, lane, run, adapt, strategy=stage, source_params=source_params, spec=spec, kept=kept,
          validation=validation, stop=stage_stop)
    else:
      params, stage_loss, evals, kept = stages_lib.run_stage(params, stage_keys, lane, run, strategy=stage,
                                                             anchor=start, spec=spec, evaluate=evaluate, kept=kept,
                                                             stop=stage_stop)
    begin += steps
    stage_losses.append(stage_loss)
    stage_evals.append(evals)
  curves = jax.tree.map(lambda *a: jnp.concatenate(a), *stage_evals) if evaluate else {}
  return Fit(params, jnp.concatenate(stage_losses), curves, start, kept)


def is_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


ADAPT_CURVES = losses.ADAPT_TERMS  # reported by domain-adaptation runs, NaN for the others
VALIDATOR_CURVES = validators.NAMES  # reported by domain-adaptation runs that may select without target labels
DIAGNOSTIC_SAMPLES = 500  # source and unlabelled target examples per proxy A-distance


def adapt_run(adapt_data: AdaptData, source_val: Split, *, spec: TargetSpec):
  """A domain-adaptation stage's data: every labelled source example trains, and, where the run validates
  (`spec.holdout_every`) and the target's classes are the source's (the unsupervised protocol is possible), the
  label-free validators' data: the held-out source examples, and the last 1/holdout_every of the unlabelled target
  inputs, which adaptation then does not train on (None otherwise)."""
  n = adapt_data.source.y.shape[0]
  if not (spec.holdout_every and spec.same_classes):
    return stages_lib.AdaptRun(adapt_data, None, jnp.int32(n)), None
  unlabeled = adapt_data.unlabeled
  held = max(1, unlabeled.shape[0] // spec.holdout_every)
  train = unlabeled[:unlabeled.shape[0] - held]
  m = min(DIAGNOSTIC_SAMPLES, n, train.shape[0])
  validation = validators.Validation(source_val, unlabeled[-held:], adapt_data.source.x[:m], train[:m])
  return stages_lib.AdaptRun(AdaptData(adapt_data.source, train), None, jnp.int32(n)), validation


def proxy_a_distances(start, params, adapt_data: AdaptData, *, spec: TargetSpec, key: jax.Array) -> dict:
  """The proxy A-distance between source and unlabelled target backbone features, before and after training."""
  m = min(DIAGNOSTIC_SAMPLES, adapt_data.source.x.shape[0], adapt_data.unlabeled.shape[0])
  features = lambda p, x: models.backbone_features(p, x, model=spec.model)
  pad = lambda p: diagnostics.proxy_a_distance(features(p, adapt_data.source.x[:m]),
                                               features(p, adapt_data.unlabeled[:m]), key)
  return {'pad_before': pad(start), 'pad_after': pad(params)}


def prepared(lane: Lane, lane_data: lane_data_lib.LaneData, *, data: DataSource, strategy: strategies.Strategy,
             spec: TargetSpec, source_params=None):
  """The lane's data as its run trains and evaluates on it: (RunData, AdaptRun or None, validators.Validation or
  None). With `source_params` (a pre-trained strategy's source model) the run also measures the source task under
  the source head."""
  from_source = strategy.pretrained and strategy.base == 'source' and source_params is not None
  head = source_params.get(spec.head_group) if from_source else None
  run = run_data(lane_data.pool, lane_data.test, lane, spec=spec, num_classes=data.target_classes, ood=lane_data.ood,
                 source=lane_data.source, source_head=head)
  adapt, validation = None, None
  if strategy.adapts:
    adapt, validation = adapt_run(lane_data.adapt, lane_data.source_val, spec=spec)
  return run, adapt, validation


def source_task_accuracy(params, run: stages_lib.RunData, *, spec: TargetSpec) -> jax.Array:
  """The source task's accuracy of `params`' backbone under the pre-trained source head (NaN without one)."""
  if run.source_head is None:
    return jnp.float32(jnp.nan)
  logits = models.source_head_logits(run.source_head,
                                     models.backbone_features(params, run.source.x, model=spec.model))
  return jnp.mean(jnp.argmax(logits, -1) == run.source.y)


def final_evaluation(params, oracle_params, run: stages_lib.RunData, *, spec: TargetSpec) -> dict[str, jax.Array]:
  """What is reported only at the selected step, measured once there (`params`): accuracy and loss on the whole
  test set (`selected_test_accuracy`, `selected_test_loss`), test accuracy at every shift of spec.ood_shifts
  (`ood_accuracy`, one value per shift) and the source task's accuracy (`source_accuracy`); and
  `oracle_test_accuracy`, the whole test set's accuracy at the step of best test-curve accuracy (`oracle_params`)
  or at the selected step, whichever is higher: an upper bound on the lane's result."""
  test = losses.evaluate(params, run.test, apply_fn=spec.model.apply)
  oracle = losses.evaluate(oracle_params, run.test, apply_fn=spec.model.apply)['accuracy']
  ood = jax.vmap(lambda x, y: losses.evaluate(params, Split(x, y), apply_fn=spec.model.apply)['accuracy'])(*run.ood)
  return {'selected_test_accuracy': test['accuracy'], 'selected_test_loss': test['loss'], 'ood_accuracy': ood,
          'source_accuracy': source_task_accuracy(params, run, spec=spec),
          'oracle_test_accuracy': jnp.fmax(oracle, test['accuracy'])}


def train_on(lane: Lane, source_params, lane_data: lane_data_lib.LaneData, *, data: DataSource,
             strategy: strategies.Strategy, spec: TargetSpec) -> dict[str, jax.Array]:
  """One whole target run for one lane on its (seed, shift)'s data (lane_data.py): `fit`, and the evaluations.

  Returns curves, one value per evaluation (every `spec.eval_every` steps): `val_accuracy`, `val_loss`,
  `test_accuracy`, `test_loss` (on the first EVAL_SAMPLES test examples, lane_data.py), `train_loss` (the mean step
  loss since the previous evaluation) and the
  domain-adaptation terms of ADAPT_CURVES (NaN for other strategies); and scalars: `final_train_loss` (the mean
  step loss over the last tenth of the steps), `val_size`, `diverged` (whether any step loss or final parameter is
  NaN/inf), `source_accuracy_before` (the source model's accuracy on the held-out source examples, under the
  source head; NaN without a source model) and, for domain adaptation, `pad_before`/`pad_after` (NaN otherwise).
  Measured once, at the step selection picks within this lane (its first evaluation of best validation score,
  with `spec.keep_best`; else the last step): `selected_test_accuracy` and `selected_test_loss` (the whole test
  set), `source_accuracy` (the trained backbone on those source examples under the same head), `ood_accuracy`
  (test accuracy at every shift of the experiment, spec.ood_shifts) and `oracle_test_accuracy` (see
  final_evaluation).

  Validation: the lane's held-out labelled target examples; a domain-adaptation lane with no labelled target
  examples (data_size 0, the unsupervised protocol on same-classes data) is selected by `spec.validator`, one of
  the label-free validators (validators.py) measured at every evaluation (the curves VALIDATOR_CURVES, NaN for other
  lanes), and never reads a target label. `score` is the curve selection reads (higher is better).
  """
  run, adapt, validation = prepared(lane, lane_data, data=data, strategy=strategy, spec=spec,
                                    source_params=source_params)
  result = fit(lane, source_params, run, strategy=strategy, spec=spec, adapt=adapt, validation=validation)
  # the source model's own accuracy; neither it nor `source_accuracy` is measured by a lane that starts fresh
  measured = lambda accuracy: jnp.where(lane.pretrained, accuracy, jnp.nan)
  before = measured(source_task_accuracy(source_params, run, spec=spec))
  steps, every = spec.loop.steps, spec.eval_every
  nan_curve, nan = jnp.full((steps // every,), jnp.nan, jnp.float32), jnp.float32(jnp.nan)
  pads = {'pad_before': nan, 'pad_after': nan}
  if strategy.adapts:
    pads = proxy_a_distances(result.start, result.params, adapt.data, spec=spec,
                             key=jax.random.fold_in(keys_lib.seed_keys(lane.seed).target_init, 3))
  selected = result.kept['selected'].params if 'selected' in result.kept else result.params
  final = final_evaluation(selected, result.kept['oracle'].params, run, spec=spec)
  tail = max(1, steps // 10)
  val_size = run.val_mask.sum()
  if validation is not None:  # a lane without labelled target examples validates on held-out source examples
    val_size = jnp.where(lane.data_size > 0, val_size, validation.source_val.y.shape[0])
  return {**{c: nan_curve for c in ADAPT_CURVES + VALIDATOR_CURVES}, **result.curves,
          'train_loss': result.step_losses.reshape(steps // every, every).mean(axis=1),
          'final_train_loss': jnp.mean(result.step_losses[-tail:]), 'val_size': val_size,
          'diverged': ~is_finite((result.step_losses, result.params)), 'source_accuracy_before': before, **pads,
          **final, 'source_accuracy': measured(final['source_accuracy'])}


def selected_model(lane: Lane, source_params, lane_data: lane_data_lib.LaneData, *, data: DataSource,
                   strategy: strategies.Strategy, spec: TargetSpec) -> dict:
  """The lane's model at the step its selection picks (as `train_on` trains and picks it; the last step without
  `spec.keep_best`): `params`, and `test_accuracy`, their whole-test-set accuracy, which equals the lane's
  `selected_test_accuracy`."""
  run, adapt, validation = prepared(lane, lane_data, data=data, strategy=strategy, spec=spec,
                                    source_params=source_params)
  result = fit(lane, source_params, run, strategy=strategy, spec=spec, adapt=adapt, validation=validation)
  params = result.kept['selected'].params if 'selected' in result.kept else result.params
  return {'params': params, 'test_accuracy': losses.evaluate(params, run.test, apply_fn=spec.model.apply)['accuracy']}


def refit_model(lane: Lane, source_params, lane_data: lane_data_lib.LaneData, stop: jax.Array, *, data: DataSource,
                strategy: strategies.Strategy, spec: TargetSpec) -> dict:
  """The lane's run refit (scikit-learn's `refit`): every labelled example of the lane trains, its validation
  examples too, and training stops after `stop` steps (traced: the step its selection picked; the stages' schedules
  are those of the whole budget, so it is the selected run's first `stop` steps on more data). Returns
  `test_accuracy`, the final parameters' accuracy on the whole test set."""
  spec = dataclasses.replace(spec, holdout_every=0, keep_best=False)
  run, adapt, validation = prepared(lane, lane_data, data=data, strategy=strategy, spec=spec,
                                    source_params=source_params)
  result = fit(lane, source_params, run, strategy=strategy, spec=spec, adapt=adapt, validation=validation,
               evaluate=False, stop=stop)
  return {'test_accuracy': losses.evaluate(result.params, run.test, apply_fn=spec.model.apply)['accuracy']}


def render(arrays, lane: Lane, *, data: DataSource, strategy: strategies.Strategy,
           spec: TargetSpec) -> lane_data_lib.LaneData:
  """The lane's own (seed, shift)'s data, rendered for it alone (a sweep renders every row once: lane_data.py)."""
  return lane_data_lib.render(arrays, lane.seed, lane.shift, data=data, ood_shifts=spec.ood_shifts,
                              adapts=strategy.adapts)


def train(lane: Lane, source_params, arrays, *, data: DataSource, strategy: strategies.Strategy,
          spec: TargetSpec) -> dict[str, jax.Array]:
  """`train_on` a lane alone: its data rendered from the data source's `arrays` first. A sweep's lane equals it."""
  return train_on(lane, source_params, render(arrays, lane, data=data, strategy=strategy, spec=spec), data=data,
                  strategy=strategy, spec=spec)
