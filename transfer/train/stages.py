"""A stage: one optimizer (fresh state) over a span of a target run's steps, as a strategy says. Plain stages train
on the labelled target pool; domain-adaptation stages also train on labelled source examples and align backbone
features of source and unlabelled target examples (DANN, Deep CORAL or MMD). Every stage evaluates the model on
the run's validation and test examples every `eval_every` steps.

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
  eval_every: int = 0  # steps between evaluations inside the run; 0 = the run's last step only


class RunData(NamedTuple):
  """What one lane's stages train and evaluate on."""

  pool: Split  # the labelled target pool (the lane's prefix of it is its data)
  order: jax.Array | None  # indices into `pool`: the first `size` are the training examples (None: pool order)
  size: jax.Array  # how many training examples
  val: Split  # validation examples (fixed size; `val_mask` marks the real ones)
  val_mask: jax.Array
  test: Split


def evaluation(params, run: RunData, *, apply_fn: Callable) -> dict[str, jax.Array]:
  """Accuracy and loss on the run's validation (masked) and test examples."""
  val = losses.evaluate(params, run.val, apply_fn=apply_fn, mask=run.val_mask)
  test = losses.evaluate(params, run.test, apply_fn=apply_fn)
  return {'val_accuracy': val['accuracy'], 'val_loss': val['loss'], 'test_accuracy': test['accuracy'],
          'test_loss': test['loss']}


def head_only(params, run: RunData, *, model: nn.Module, steps: int, batch_size: int):
  """For a stage whose whole backbone is frozen: the run's pool, validation and test examples as backbone features
  (computed once) and the head's apply function, when that is cheaper than a backbone pass per minibatch; else
  None."""
  if run.pool.x.shape[0] > steps * batch_size:
    return None
  features = lambda split: Split(model.apply({'params': params}, split.x, method=model.features), split.y)
  run = run._replace(pool=features(run.pool), val=features(run.val), test=features(run.test))
  return run, functools.partial(model.apply, method=model.classify)


def run_stage(params, step_keys: jax.Array, lane: Lane, run: RunData | None, *, strategy: strategies.Strategy,
              anchor, spec: TargetSpec, evaluate: bool = True):
  """One plain stage of `strategy` over `step_keys`; `anchor` is the L2-SP reference. Returns final params,
  per-step losses and the evaluations (see loop.run_steps; {} when `evaluate` is False)."""
  steps = step_keys.shape[0]
  labels, schedules, frozen = optim.group_plan(params, strategy, rules=spec.rules, head_group=spec.head_group,
                                               lr_mult=lane.lr_mult, steps=steps, knobs=spec.knobs,
                                               layers_copied=lane.layers_copied)
  apply_fn = spec.model.apply
  if all(s is None for g, s in schedules.items() if g != spec.head_group):
    run, apply_fn = head_only(params, run, model=spec.model, steps=steps,
                              batch_size=spec.loop.batch_size) or (run, apply_fn)
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
                            eval_every=spec.eval_every)


def init_aux(key: jax.Array, source_params, feature_dim: int) -> dict:
  """A domain-adaptation stage's auxiliary parameters: the pre-trained source head and a fresh discriminator."""
  domain = models.DomainDiscriminator().init(key, jnp.zeros((1, feature_dim)))['params']
  return {'source_head': source_params['head'], 'domain': domain}


def run_adapt_stage(params, step_keys: jax.Array, lane: Lane, run: RunData, adapt_data: AdaptData, *,
                    strategy: strategies.Strategy, source_params, spec: TargetSpec):
  """One domain-adaptation stage; returns the model's final params, the per-step losses and the evaluations.

  The trained state is `{'model': params, 'aux': {'source_head', 'domain'}}`: the model's groups keep the
  strategy's LR multipliers; the auxiliary source head (starting from the pre-trained one) and the domain
  discriminator learn at the head's LR. One `optax.partition` optimizer covers both.
  """
  steps = step_keys.shape[0]
  labels, schedules, frozen = optim.group_plan(params, strategy, rules=spec.rules, head_group=spec.head_group,
                                               lr_mult=lane.lr_mult, steps=steps, knobs=spec.knobs)
  feature_dim = spec.model.apply({'params': params}, run.pool.x[:1], method=spec.model.features).shape[-1]
  aux = init_aux(jax.random.fold_in(keys_lib.seed_keys(lane.seed).target_init, 1), source_params, feature_dim)
  state = {'model': params, 'aux': aux}
  state_labels = {'model': labels, 'aux': jax.tree.map(lambda _: AUX_GROUP, aux)}
  optimizer = optim.make_optimizer(state_labels, {**schedules, AUX_GROUP: optax.constant_schedule(1.0)}, spec.adam,
                                   lr=lane.lr, weight_decay=lane.weight_decay)
  loss_fn = functools.partial(losses.adapt_loss, frozen=frozen, model=spec.model, mode=strategy.align,
                              knobs=spec.knobs, align_weight=lane.align_weight)
  draw = functools.partial(loop_lib.adapt_minibatch, pool=run.pool, adapt_data=adapt_data, size=run.size,
                           batch_size=spec.loop.batch_size, steps=steps, order=run.order)
  evaluate = functools.partial(evaluation, run=run, apply_fn=spec.model.apply)
  state, step_losses, evals = loop_lib.run_steps(state, step_keys, loss_fn=loss_fn, optimizer=optimizer, draw=draw,
                                                 evaluate=lambda s: evaluate(s['model']),
                                                 eval_every=spec.eval_every)
  return state['model'], step_losses, evals
