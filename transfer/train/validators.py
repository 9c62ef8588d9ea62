"""Label-free validators of unsupervised domain adaptation: how good a checkpoint looks from what the protocol may
see, measured at every evaluation point inside the run. Nothing here reads a target label.

What a validator may read (`Validation`): labelled source examples that neither pre-training nor adaptation trains
on (`source_val`), source and unlabelled target inputs adaptation trains on (`source_train`, `target_train`: a few
hundred of each, for DEV's domain classifier) and unlabelled target inputs held out from adaptation (`target_val`).

| validator | what it measures | better | source |
|---|---|---|---|
| source_val_accuracy | accuracy on the held-out source examples | higher | DomainBed's training-domain validation |
| source_val_loss | their cross-entropy | lower | |
| entropy | mean entropy of the target predictions | lower | Morerio et al. 2018 |
| info_max | entropy of the mean target prediction minus the mean entropy | higher | Shi & Sha 2012; SHOT |
| bnm | nuclear norm of the (n, classes) target prediction matrix / n | higher | Cui et al. 2020 |
| snd | soft neighbourhood density of the target predictions | higher | Saito et al. 2021 |
| dev | importance-weighted source validation loss, with a control variate | lower | You et al. 2019 (DEV) |

docs/domain-adaptation.md states each definition and where ours departs from the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from transfer.types import Split

# Validator -> +1 where higher is better, -1 where lower is: a validator's score is sign x its value.
SIGNS = {'source_val_accuracy': 1.0, 'source_val_loss': -1.0, 'entropy': -1.0, 'info_max': 1.0, 'bnm': 1.0,
         'snd': 1.0, 'dev': -1.0}
NAMES = tuple(SIGNS)
TARGET_SIDE = ('entropy', 'info_max', 'bnm', 'snd', 'dev')  # those that read unlabelled target inputs
NEWTON_SCHULZ_STEPS = 40  # iterations of bnm's matrix square root (converged for eigenvalues down to ~1e-7 of the top)
SND_TEMPERATURE = 0.05  # Saito et al.'s temperature of the neighbourhood softmax
DOMAIN_STEPS = 100  # gradient steps of DEV's logistic-regression domain classifier
DOMAIN_LR = 0.5  # its step size (on standardised features, where the loss is well conditioned)
DOMAIN_L2 = 1e-2  # its L2 penalty (keeps the importance weights finite when the domains are separable)


class Validation(NamedTuple):
  """What the validators read: never a target label."""

  source_val: Split  # labelled source examples neither pre-training nor adaptation trained on
  target_val: jax.Array  # unlabelled target inputs adaptation does not train on
  source_train: jax.Array  # source inputs adaptation trains on (DEV's domain classifier)
  target_train: jax.Array  # unlabelled target inputs adaptation trains on (DEV's domain classifier)


def entropies(probs: jax.Array) -> jax.Array:
  """The entropy of each row of `probs` (natural log)."""
  return -jnp.sum(probs * jnp.log(jnp.clip(probs, 1e-12)), axis=-1)


def info_max(probs: jax.Array) -> jax.Array:
  """H(mean prediction) - mean H(prediction): high when each prediction is confident and the classes are used
  evenly."""
  return entropies(probs.mean(axis=0)) - entropies(probs).mean()


def bnm(probs: jax.Array) -> jax.Array:
  """The nuclear norm of the (n, classes) prediction matrix over n: high when predictions are confident and
  diverse. The nuclear norm is trace(sqrt(P^T P)), the square root of the small (classes, classes) Gram matrix taken
  by Newton-Schulz iterations (matmuls only): LAPACK's batched eigensolver, which jnp.linalg.eigvalsh calls on CPU,
  deadlocks XLA:CPU's thread pool when two devices run it at once."""
  gram = probs.T @ probs
  scale = jnp.sqrt(jnp.sum(gram * gram)) + 1e-12  # the Frobenius norm: every eigenvalue of gram / scale is in [0, 1]
  eye = jnp.eye(gram.shape[0], dtype=gram.dtype)

  def step(yz, _):
    y, z = yz
    t = 0.5 * (3.0 * eye - z @ y)
    return (y @ t, t @ z), None

  (root, _), _ = jax.lax.scan(step, (gram / scale, eye), None, length=NEWTON_SCHULZ_STEPS)
  return jnp.trace(root) * jnp.sqrt(scale) / probs.shape[0]


def snd(probs: jax.Array, temperature: float = SND_TEMPERATURE) -> jax.Array:
  """Soft neighbourhood density: the mean entropy of each example's softmax over its cosine similarities (at
  `temperature`) to the other examples' predictions; high when target predictions form dense clusters."""
  unit = probs / jnp.linalg.norm(probs, axis=-1, keepdims=True).clip(1e-12)
  similarity = unit @ unit.T / temperature
  similarity = jnp.where(jnp.eye(probs.shape[0], dtype=bool), -jnp.inf, similarity)
  return entropies(jax.nn.softmax(similarity, axis=-1)).mean()


def domain_classifier(source: jax.Array, target: jax.Array) -> Callable[[jax.Array], jax.Array]:
  """A logistic regression telling target (1) from source (0) features, fitted by full-batch gradient descent on
  features standardised with the pooled mean and spread; returns features -> logit of P(target)."""
  pooled = jnp.concatenate([source, target])
  mean, scale = pooled.mean(axis=0), pooled.std(axis=0) + 1e-6
  x = (pooled - mean) / scale
  y = jnp.concatenate([jnp.zeros(source.shape[0]), jnp.ones(target.shape[0])])

  def loss(wb):
    w, b = wb
    return optax.sigmoid_binary_cross_entropy(x @ w + b, y).mean() + 0.5 * DOMAIN_L2 * jnp.sum(w * w)

  def step(wb, _):
    return jax.tree.map(lambda p, g: p - DOMAIN_LR * g, wb, jax.grad(loss)(wb)), None

  (w, b), _ = jax.lax.scan(step, (jnp.zeros(x.shape[1]), jnp.float32(0.0)), None, length=DOMAIN_STEPS)
  return lambda features: ((features - mean) / scale) @ w + b


def dev(source_train: jax.Array, target_train: jax.Array, source_val: jax.Array, val_losses: jax.Array) -> jax.Array:
  """Deep Embedded Validation: the mean of the source validation losses weighted by the density ratio
  p_target(x) / p_source(x) (a domain classifier's odds times n_source / n_target), with the control variate that
  lowers its variance: mean(w l) + eta mean(w) - eta, eta = -Cov(w l, w) / Var(w)."""
  logit = domain_classifier(source_train, target_train)(source_val)
  weights = jnp.exp(logit) * source_train.shape[0] / target_train.shape[0]
  weighted = weights * val_losses
  eta = -jnp.cov(weighted, weights)[0, 1] / (jnp.var(weights, ddof=1) + 1e-6)
  return weighted.mean() + eta * weights.mean() - eta


def measure(params, validation: Validation, *, apply_fn: Callable, features_fn: Callable) -> dict[str, jax.Array]:
  """Every validator's value for the model `params` (see the module docstring)."""
  logits = apply_fn({'params': params}, validation.source_val.x)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, validation.source_val.y)
  probs = jax.nn.softmax(apply_fn({'params': params}, validation.target_val))
  features = lambda x: features_fn({'params': params}, x)
  return {'source_val_accuracy': jnp.mean(jnp.argmax(logits, -1) == validation.source_val.y),
          'source_val_loss': losses.mean(), 'entropy': entropies(probs).mean(), 'info_max': info_max(probs),
          'bnm': bnm(probs), 'snd': snd(probs),
          'dev': dev(features(validation.source_train), features(validation.target_train),
                     features(validation.source_val.x), losses)}


def score(values: dict[str, jax.Array], validator: str, *, floor: jax.Array | float = -jnp.inf) -> jax.Array:
  """The selection score of an evaluation under `validator` (higher is better): sign x its value, -inf where that
  or the source validation loss is not finite (a diverged model), or where the held-out source accuracy is below
  `floor`."""
  value = SIGNS[validator] * values[validator]
  ok = jnp.isfinite(value) & jnp.isfinite(values['source_val_loss']) & (values['source_val_accuracy'] >= floor)
  return jnp.where(ok, value, -jnp.inf)
