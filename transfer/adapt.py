"""Domain-adaptation building blocks as pure functions: gradient reversal, Deep CORAL, multi-kernel MMD."""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_vjp
def gradient_reversal(x: jax.Array, lam) -> jax.Array:
  """Identity forward; the backward pass multiplies the incoming gradient by `-lam` (Ganin & Lempitsky 2015)."""
  del lam
  return x


def _reversal_fwd(x, lam):
  return x, lam


def _reversal_bwd(lam, g):
  return -lam * g, jnp.zeros_like(lam)


gradient_reversal.defvjp(_reversal_fwd, _reversal_bwd)


def covariance(x: jax.Array) -> jax.Array:
  """Unbiased covariance of the rows of `x` (n, d)."""
  centred = x - x.mean(axis=0, keepdims=True)
  return centred.T @ centred / (x.shape[0] - 1)


def coral_loss(source_features: jax.Array, target_features: jax.Array) -> jax.Array:
  """Deep CORAL (Sun & Saenko 2016): ||C_s - C_t||_F^2 / (4 d^2) with unbiased batch covariances."""
  d = source_features.shape[-1]
  return jnp.sum((covariance(source_features) - covariance(target_features)) ** 2) / (4 * d * d)


def squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
  return jnp.maximum(jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None, :] - 2 * a @ b.T, 0.0)


def mmd_loss(source_features: jax.Array, target_features: jax.Array,
             scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)) -> jax.Array:
  """Squared MMD (biased V-statistic, so >= 0) with a sum of Gaussian kernels (Long et al. 2015).

  Bandwidths are `scales` times the mean squared distance of the pooled batch (held constant for gradients).
  """
  pooled = jnp.concatenate([source_features, target_features])
  base = jax.lax.stop_gradient(jnp.mean(squared_distances(pooled, pooled))) + 1e-8

  def kernel(a, b):
    d2 = squared_distances(a, b)
    return sum(jnp.exp(-d2 / (2 * s * base)) for s in scales)

  return (kernel(source_features, source_features).mean() + kernel(target_features, target_features).mean()
          - 2 * kernel(source_features, target_features).mean())


def dann_lambda(progress: jax.Array) -> jax.Array:
  """DANN's reversal weight over training progress p in [0, 1]: 2 / (1 + exp(-10 p)) - 1."""
  return 2.0 / (1.0 + jnp.exp(-10.0 * progress)) - 1.0
