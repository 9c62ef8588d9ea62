"""A stage: one optimizer (fresh state) over a span of a target run's steps, as a strategy says. Plain stages train
on the labelled target pool; domain-adaptation stages also train on labelled source examples and align backbone
features of source and unlabelled target examples (DANN, Deep CORAL or MMD). Every stage evaluates the model on
the run's validation and test examples every `eval_every` steps, and keeps the parameters of the best validation
score so far (where the run selects); what is reported only at the selected step (out-of-distribution and source
accuracy) is measured once, on those, by target.py.

`TargetSpec` holds everything structural about target training, shared by every lane of a sweep; `RunData` is what
one lane's stages train and evaluate on.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from transfer import keys as keys_lib
from transfer.train import loop as loop_lib
from transfer.train import losses
from transfer.train import models
from transfer.train import optim
from transfer.train import strategies
from transfer.train import validators
from transfer.types import AdaptData
from transfer.types import Lane
from transfer.types import Split

AUX_GROUP = 'aux'  # the optimizer group of a domain-adaptation stage's auxiliary source head and discriminator


@dataclasses.dataclass(frozen=True)
class TargetSpec:
  """Everything structural about target training, shared by every lane of a sweep."""

  model: nn.Module
  rules: optim.Rules
  head_group: str
  adam: optim.Adam
  loop: loop_lib.Loop
  knobs: strategies.Knobs = strategies.Knobs()
  skip: str = ''  # regex: parameters never loaded from the base network (start fresh), besides the head group
  holdout_every: int = 0  # every k-th example of each class (in the seed's order) validates; 0 = no validation
  eval_every: int = 0  # steps between evaluations inside the run
  same_classes: bool = False  # the target's classes are the source's: the target model keeps the source's head
  labelled_target: bool = True  # some lane has labelled target examples (False: every data size is 0, so the
  #                               domain-adaptation stages skip the target term altogether)
  ood_shifts: tuple[float, ...] = (0.0,)  # every shift of the experiment: each model is also tested at each
  keep_best: bool = False  # the run selects (search): OOD and source accuracy are measured on the parameters of the
  #                          best validation score (the selected step); else on the final parameters
  validator: str = 'source_val_accuracy'  # what selects a lane without labelled target examples (validators.NAMES)
  source_floor: float = 0.0  # such a lane's evaluation counts only where its held-out source accuracy is at least
  #                            this fraction of the source model's (0: always)


class RunData(NamedTuple):
  """What one lane's stages train and evaluate on."""

  pool: Split  # the labelled target pool (the lane's prefix of it is its data)
  order: jax.Array | None  # indices into `pool`: the first `size` are the training examples (None: pool order)
  size: jax.Array  # how many training examples
  val: Split  # validation examples (fixed size; `val_mask` marks the real ones)
  val_mask: jax.Array
  test: Split  # the whole test set: measured once, at the selected and the oracle's step
  curve_test: Split  # its first EVAL_SAMPLES examples (lane_data.py): the test curve at every evaluation
  ood: Split  # test examples at every shift of spec.ood_shifts, stacked: x (ood_shifts, m, ...), y (ood_shifts, m)
  source: Split  # held-out source examples: the source task, which forgetting is measured on
  source_head: dict | None  # the pre-trained source head (None: the run does not start from a source model)
  #                           (ood and source are read once, at the selected step: target.final_evaluation)


class AdaptRun(NamedTuple):
  """What a domain-adaptation stage trains on besides the target pool: labelled source examples (the first
  `source_size` that `source_order` indexes; the others may validate) and unlabelled target inputs."""

  data: AdaptData
  source_order: jax.Array | None
  source_size: jax.Array


def evaluation(params, run: RunData, *, apply_fn: Callable) -> dict[str, jax.Array]:
  """Accuracy and loss on the run's validation (masked) examples and on the test curve's examples (the first
  EVAL_SAMPLES of the test set): what every evaluation point records; and `score`, what selection reads: the
  validation accuracy where the validation loss is finite, else -inf (never selected)."""
  val = losses.evaluate(params, run.val, apply_fn=apply_fn, mask=run.val_mask)
  test = losses.evaluate(params, run.curve_test, apply_fn=apply_fn)
  return {'val_accuracy': val['accuracy'], 'val_loss': val['loss'], 'test_accuracy': test['accuracy'],
          'test_loss': test['loss'], 'score': jnp.where(jnp.isfinite(val['loss']), val['accuracy'], -jnp.inf)}


def adapt_evaluation(params, run: RunData, validation: validators.Validation | None, *, lane: Lane,
                     spec: TargetSpec, floor: jax.Array) -> dict[str, jax.Array]:
  """`evaluation`, and, with `validation`, every label-free validator (validators.measure); a lane without labelled
  target examples then scores by `spec.validator` (evaluations whose held-out source accuracy is below `floor`
  never count)."""
  evals = evaluation(params, run, apply_fn=spec.model.apply)
  if validation is None:
    return evals
  values = validators.measure(params, validation, apply_fn=spec.model.apply,
                              features_fn=functools.partial(spec.model.apply, method=spec.model.features))
  unsupervised = validators.score(values, spec.validator, floor=floor)
  return {**evals, **values, 'score': jnp.where(lane.data_size > 0, evals['score'], unsupervised)}


def head_only(params, run: RunData, *, model: nn.Module, steps: int, batch_size: int):
  """For a stage whose whole backbone is frozen: the run's pool, validation and test examples as backbone features
  (computed once) and the head's apply function, when that is cheaper than a backbone pass per minibatch; else
  None."""
  if run.pool.x.shape[0] > steps * batch_size:
    return None
  features = lambda split: Split(models.backbone_features(params, split.x, model=model), split.y)
  run = run._replace(pool=features(run.pool), val=features(run.val), curve_test=features(run.curve_test))
  return run, functools.partial(model.apply, method=model.classify)


def lane_lr_mult(lane: Lane) -> jax.Array:
  """The backbone LR multiplier a lane's 'lr_mult' schedule reads: its `lr_mult`, or 1 (the full LR) for a lane that
  starts fresh, a fresh strategy's lane in a pre-trained strategy's program (strategies.program)."""
  return jnp.where(lane.pretrained, lane.lr_mult, 1.0)


def run_stage(params, step_keys: jax.Array, lane: Lane, run: RunData | None, *, strategy: strategies.Strategy,
              anchor, spec: TargetSpec, evaluate: bool = True, kept: dict[str, loop_lib.Kept] | None = None,
              stop: jax.Array | None = None):
  """One plain stage of `strategy` over `step_keys`; `anchor` is the L2-SP reference (target.fit passes the
  parameters the whole run started from, not this stage's `params`). Returns final params, per-step losses, the
  evaluations ({} when `evaluate` is False) and `kept` followed through the stage (see loop.run_steps); with `stop`
  only the stage's first `stop` steps train."""
  steps = step_keys.shape[0]
  labels, schedules, frozen = optim.group_plan(params, strategy, rules=spec.rules, head_group=spec.head_group,
                                               lr_mult=lane_lr_mult(lane), steps=steps, knobs=spec.knobs,
                                               layers_copied=lane.layers_copied)
  apply_fn = spec.model.apply
  if all(s is None for g, s in schedules.items() if g != spec.head_group):
    head = head_only(params, run, model=spec.model, steps=steps, batch_size=spec.loop.batch_size)
    if head is not None:  # every input is a backbone feature already
      run, apply_fn = head
  penalty = None
  if strategy.l2_sp:
    backbone = jax.tree.map(lambda g: g != spec.head_group, labels)
    penalty = functools.partial(losses.l2_sp_penalty, anchor=anchor, mask=backbone, weight=lane.l2_sp_weight)
  loss_fn = functools.partial(losses.target_loss, frozen=frozen, apply_fn=apply_fn, knobs=spec.knobs,
                              penalty=penalty)
  draw = functools.partial(loop_lib.minibatch, pool=run.pool, size=run.size, batch_size=spec.loop.batch_size,
                           order=run.order)
  optimizer = optim.make_optimizer(labels, schedules, spec.adam, lr=lane.lr, weight_decay=lane.weight_decay)
  return loop_lib.run_steps(params, step_keys, loss_fn=loss_fn, optimizer=optimizer, draw=draw,
                            evaluate=functools.partial(evaluation, run=run, apply_fn=apply_fn) if evaluate else None,
                            eval_every=spec.eval_every, kept=kept, stop=stop)


def init_aux(key: jax.Array, source_params, feature_dim: int, *, same_classes: bool) -> dict:
  """A domain-adaptation stage's auxiliary parameters: a fresh domain discriminator, and, where the source's classes
  are not the target's, the pre-trained source head (the source examples' classifier)."""
  domain = models.DomainDiscriminator().init(key, jnp.zeros((1, feature_dim)))['params']
  return {'domain': domain} if same_classes else {'source_head': source_params['head'], 'domain': domain}


def annealed(schedule: strategies.Schedule | None, steps: int) -> strategies.Schedule | None:
  """`schedule` times DANN's learning-rate annealing 1 / (1 + 10 p)^0.75 over progress p = step / steps."""
  if schedule is None:
    return None
  return lambda count: schedule(count) * (1.0 + 10.0 * count / steps) ** -0.75


def run_adapt_stage(params, step_keys: jax.Array, lane: Lane, run: RunData, adapt: AdaptRun, *,
                    strategy: strategies.Strategy, source_params, spec: TargetSpec,
                    kept: dict[str, loop_lib.Kept] | None = None, validation: validators.Validation | None = None,
                    stop: jax.Array | None = None):
  """One domain-adaptation stage; returns the model's final params, the per-step losses, the evaluations (with
  the loss terms of losses.ADAPT_TERMS and, with `validation`, the validators) and `kept` followed through the
  stage (the model's parameters only); with `stop` only the stage's first `stop` steps train. The source floor of
  `spec.source_floor` is relative to the held-out source accuracy of the parameters the stage starts from (the
  source model, for the unsupervised protocol).

  The trained state is `{'model': params, 'aux': {'domain', ('source_head')}}`: the model's groups keep the
  strategy's LR multipliers; the domain discriminator (and the pre-trained source head, where the classes differ)
  learn at the head's LR. One `optax.partition` optimizer covers both, every group's LR annealed as in DANN (Ganin
  et al. 2016), whatever the alignment, so `source_only` differs from the others only by the alignment term. Deep
  CORAL's term is scaled by the ratio of the source cross-entropy to it on the first minibatch, so that both start
  on the same order and `align_weight` = 1 weighs them equally (Sun & Saenko 2016).
  """
  steps = step_keys.shape[0]
  labels, schedules, frozen = optim.group_plan(params, strategy, rules=spec.rules, head_group=spec.head_group,
                                               lr_mult=lane_lr_mult(lane), steps=steps, knobs=spec.knobs)
  feature_dim = models.backbone_features(params, run.pool.x[:1], model=spec.model).shape[-1]
  aux = init_aux(jax.random.fold_in(keys_lib.seed_keys(lane.seed).target_init, 1), source_params, feature_dim,
                 same_classes=spec.same_classes)
  state = {'model': params, 'aux': aux}
  state_labels = {'model': labels, 'aux': jax.tree.map(lambda _: AUX_GROUP, aux)}
  schedules = {g: annealed(s, steps) for g, s in {**schedules, AUX_GROUP: optax.constant_schedule(1.0)}.items()}
  optimizer = optim.make_optimizer(state_labels, schedules, spec.adam, lr=lane.lr, weight_decay=lane.weight_decay)
  draw = functools.partial(loop_lib.adapt_minibatch, pool=run.pool, adapt_data=adapt.data, size=run.size,
                           batch_size=spec.loop.batch_size, steps=steps, order=run.order,
                           source_order=adapt.source_order, source_size=adapt.source_size)
  loss_fn = functools.partial(losses.adapt_loss, frozen=frozen, model=spec.model, mode=strategy.align,
                              knobs=spec.knobs, align_weight=lane.align_weight, align_scale=jnp.float32(1.0),
                              has_target=(lane.data_size > 0) if spec.labelled_target else None)
  if strategy.align == 'coral':
    _, first = loss_fn(state, draw(step_keys[0], jnp.int32(0)))
    scale = jax.lax.stop_gradient(first['source_loss'] / (first['alignment_loss'] + 1e-12))
    loss_fn = functools.partial(loss_fn, align_scale=scale)
  floor = jnp.float32(-jnp.inf)
  if validation is not None and spec.source_floor > 0:
    start_accuracy = losses.evaluate(params, validation.source_val, apply_fn=spec.model.apply)['accuracy']
    floor = spec.source_floor * start_accuracy
  evaluate = functools.partial(adapt_evaluation, run=run, validation=validation, lane=lane, spec=spec, floor=floor)
  state, step_losses, evals, kept = loop_lib.run_steps(
      state, step_keys, loss_fn=loss_fn, optimizer=optimizer, draw=draw, evaluate=lambda s: evaluate(s['model']),
      eval_every=spec.eval_every, kept=kept, model_params=lambda s: s['model'], stop=stop)
  return state['model'], step_losses, evals, kept
