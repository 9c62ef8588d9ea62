"""Diagnostics of domain adaptation, pure and shape-static (jit- and vmap-able): how distinguishable two sets of
features are.

The proxy A-distance (Ben-David et al. 2010, as Ganin et al. 2016 report it): a linear domain classifier learns to
tell source features from target features on a random half of each set, and its error `e` on the other halves
gives PAD = 2 (1 - 2 e): 0 when the domains are indistinguishable (e = 1/2; by chance PAD can come out slightly
negative), 2 when a hyperplane separates them (e = 0). Lower PAD after adaptation means aligned features.

The classifier is L2-regularised logistic regression on features standardised with the training halves' mean and
std, trained from zero with a fixed number of full-batch Adam steps (so its cost and shapes are static and the
result is a function of the features and the key, which only picks the halves). The domains are weighted equally
in the loss and in the error (the mean of the two domains' error rates), so sets of unequal size give PAD near 0
when they come from one distribution; with equal sizes the error is the plain test error.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class DomainClassifier(NamedTuple):
  """Static settings of the linear domain classifier."""

  steps: int = 300  # full-batch Adam steps
  lr: float = 0.05  # Adam learning rate (the features are standardised)
  l2: float = 1e-3  # weight of l2 / 2 * ||w||^2 (the bias is not penalised)


def random_halves(key: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """A random half of the rows of `x` (rounded down) and the other rows: (train, test)."""
  order = jax.random.permutation(key, x.shape[0])
  return x[order[:x.shape[0] // 2]], x[order[x.shape[0] // 2:]]


def balanced_logistic_loss(params, source: jax.Array, target: jax.Array, *, l2: float) -> jax.Array:
  """Mean cross-entropy of 'target' (label 1) vs 'source' (label 0) per domain, averaged over the two, plus L2."""
  w, b = params
  source_loss = jnp.mean(jax.nn.softplus(source @ w + b))
  target_loss = jnp.mean(jax.nn.softplus(-(target @ w + b)))
  return 0.5 * (source_loss + target_loss) + 0.5 * l2 * jnp.sum(w ** 2)


def fit_linear(source: jax.Array, target: jax.Array, *, classifier: DomainClassifier):
  """(w, b) of the logistic domain classifier after `classifier.steps` full-batch Adam steps from zero."""
  params = (jnp.zeros(source.shape[1], source.dtype), jnp.zeros((), source.dtype))
  optimizer = optax.adam(classifier.lr)
  grad = jax.grad(balanced_logistic_loss)

  def step(carry, _):
    params, state = carry
    updates, state = optimizer.update(grad(params, source, target, l2=classifier.l2), state, params)
    return (optax.apply_updates(params, updates), state), None

  (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=classifier.steps)
  return params


def domain_error(source: jax.Array, target: jax.Array, key: jax.Array, *,
                 classifier: DomainClassifier = DomainClassifier()) -> jax.Array:
  """The held-out balanced error of a linear classifier trained to tell `target` (m, ...) from `source` (n, ...)
  features on half of each; trailing axes are flattened. Needs at least 2 rows of each."""
  if source.shape[0] < 2 or target.shape[0] < 2:
    raise ValueError(f'the proxy A-distance needs >= 2 examples per domain, got {source.shape[0]} and '
                     f'{target.shape[0]}')
  source = source.reshape(source.shape[0], -1).astype(jnp.float32)
  target = target.reshape(target.shape[0], -1).astype(jnp.float32)
  source_key, target_key = jax.random.split(key)
  source_train, source_test = random_halves(source_key, source)
  target_train, target_test = random_halves(target_key, target)
  train = jnp.concatenate([source_train, target_train])
  mean, std = train.mean(axis=0), train.std(axis=0)
  std = jnp.where(std > 1e-6, std, 1.0)  # a feature constant on the training halves is only centred

  def scale(x):
    return (x - mean) / std

  w, b = fit_linear(scale(source_train), scale(target_train), classifier=classifier)
  source_wrong = jnp.mean(scale(source_test) @ w + b > 0)
  target_wrong = jnp.mean(scale(target_test) @ w + b <= 0)
  return 0.5 * (source_wrong + target_wrong)


def proxy_a_distance(source: jax.Array, target: jax.Array, key: jax.Array, *,
                     classifier: DomainClassifier = DomainClassifier()) -> jax.Array:
  """PAD = 2 (1 - 2 e) between `source` and `target` features, e from `domain_error`: about 0 (by chance a little
  below) for one distribution, 2 for linearly separable ones."""
  return 2.0 * (1.0 - 2.0 * domain_error(source, target, key, classifier=classifier))

