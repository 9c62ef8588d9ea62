"""A domain-adaptation stage: fine-tuning on the few labelled target examples, plus the labelled source task, plus
an alignment of backbone features between source and unlabelled target examples (DANN, Deep CORAL or MMD).

The trained state is `{'model': params, 'aux': {'source_head', 'domain'}}`: the model's groups keep the strategy's
LR multipliers; the auxiliary source head (starting from the pre-trained one) and the domain discriminator learn at
the head's LR. One `optax.partition` optimizer covers both.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from transfer import adapt
from transfer import keys as keys_lib
from transfer import loop as loop_lib
from transfer import models
from transfer import optim
from transfer import strategies
from transfer import tasks
from transfer.spec import Lane
from transfer.spec import TargetSpec

AUX_GROUP = 'aux'


class AdaptData(NamedTuple):
  source: tasks.Split  # labelled source examples (unshifted)
  unlabeled: jax.Array  # unlabelled target inputs at the lane's shift


class AdaptBatch(NamedTuple):
  target: tasks.Split
  source: tasks.Split
  unlabeled: jax.Array
  progress: jax.Array  # step / steps, for DANN's reversal weight


def draw(key: jax.Array, step: jax.Array, *, pool: tasks.Split, data: AdaptData, data_size: jax.Array,
         batch_size: int, steps: int) -> AdaptBatch:
  """A labelled target, a labelled source and an unlabelled target minibatch, each `batch_size` examples."""
  k_target, k_source, k_unlabeled = jax.random.split(key, 3)
  target = loop_lib.minibatch(k_target, step, pool=pool, data_size=data_size, batch_size=batch_size)
  source = loop_lib.minibatch(k_source, step, pool=data.source, data_size=data.source.x.shape[0],
                              batch_size=batch_size)
  idx = jax.random.randint(k_unlabeled, (batch_size,), 0, data.unlabeled.shape[0])
  return AdaptBatch(target, source, data.unlabeled[idx], step / steps)


def alignment(source_features, target_features, progress, domain_params, *, mode: str) -> jax.Array:
  """The alignment loss between source and unlabelled-target backbone features."""
  if mode == 'coral':
    return adapt.coral_loss(source_features, target_features)
  if mode == 'mmd':
    return adapt.mmd_loss(source_features, target_features)
  features = adapt.gradient_reversal(jnp.concatenate([source_features, target_features]),
                                     adapt.dann_lambda(progress))
  logits = models.DomainDiscriminator().apply({'params': domain_params}, features)
  is_target = jnp.concatenate([jnp.zeros(len(source_features)), jnp.ones(len(target_features))])
  return optax.sigmoid_binary_cross_entropy(logits, is_target).mean()


def adapt_loss(state, batch: AdaptBatch, *, frozen, model: nn.Module, mode: str, weight: float) -> jax.Array:
  """Target cross-entropy + source cross-entropy (pre-trained source head) + weight * alignment."""
  params = jax.tree.map(lambda p, f: jax.lax.stop_gradient(p) if f else p, state['model'], frozen)
  aux = state['aux']
  features = functools.partial(model.apply, {'params': params}, method=model.features)
  target_logits = model.apply({'params': params}, batch.target.x)
  source_features, unlabeled_features = features(batch.source.x), features(batch.unlabeled)
  source_logits = nn.Dense(aux['source_head']['bias'].shape[0]).apply({'params': aux['source_head']},
                                                                      source_features)
  ce = optax.softmax_cross_entropy_with_integer_labels
  return (ce(target_logits, batch.target.y).mean() + ce(source_logits, batch.source.y).mean() +
          weight * alignment(source_features, unlabeled_features, batch.progress, aux['domain'], mode=mode))


def init_aux(key: jax.Array, source_params, feature_dim: int) -> dict:
  domain = models.DomainDiscriminator().init(key, jnp.zeros((1, feature_dim)))['params']
  return {'source_head': source_params['head'], 'domain': domain}


def run_adapt_stage(params, step_keys: jax.Array, lane: Lane, pool: tasks.Split, data: AdaptData, *,
                    strategy: strategies.Strategy, source_params, spec: TargetSpec):
  """One domain-adaptation stage; returns the model's final params and the per-step losses."""
  steps = step_keys.shape[0]
  labels, schedules, frozen = optim.group_plan(params, strategy, rules=spec.rules, head_group=spec.head_group,
                                               lr_mult=lane.lr_mult, steps=steps, knobs=spec.knobs)
  feature_dim = spec.model.apply({'params': params}, pool.x[:1], method=spec.model.features).shape[-1]
  aux = init_aux(jax.random.fold_in(keys_lib.seed_keys(lane.seed).target_init, 1), source_params, feature_dim)
  state = {'model': params, 'aux': aux}
  state_labels = {'model': labels, 'aux': jax.tree.map(lambda _: AUX_GROUP, aux)}
  optimizer = optim.make_optimizer(state_labels, {**schedules, AUX_GROUP: optax.constant_schedule(1.0)}, spec.adam)
  loss_fn = functools.partial(adapt_loss, frozen=frozen, model=spec.model, mode=strategy.align,
                              weight=spec.knobs.align_weight)
  draw_fn = functools.partial(draw, pool=pool, data=data, data_size=lane.data_size,
                              batch_size=spec.loop.batch_size, steps=steps)
  state, losses = loop_lib.run_steps(state, step_keys, loss_fn=loss_fn, optimizer=optimizer, draw=draw_fn)
  return state['model'], losses
