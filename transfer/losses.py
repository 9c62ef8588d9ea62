"""Losses and metrics: cross-entropy, accuracy, the L2-SP penalty, and the target objective with frozen groups."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from transfer import tasks


def cross_entropy(params, batch: tasks.Split, *, apply_fn: Callable) -> jax.Array:
  logits = apply_fn({'params': params}, batch.x)
  return optax.softmax_cross_entropy_with_integer_labels(logits, batch.y).mean()


def evaluate(params, split: tasks.Split, *, apply_fn: Callable) -> dict[str, jax.Array]:
  logits = apply_fn({'params': params}, split.x)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, split.y).mean()
  return {'accuracy': jnp.mean(jnp.argmax(logits, -1) == split.y), 'loss': loss}


def l2_sp_penalty(params, anchor, mask, *, weight: float) -> jax.Array:
  """`weight / 2 * sum ||p - anchor||^2` over the leaves where `mask` is True (the backbone)."""
  sq = [jnp.sum((p - a) ** 2) for p, a, m in zip(*(jax.tree.leaves(t) for t in (params, anchor, mask))) if m]
  return 0.5 * weight * sum(sq, jnp.float32(0.0))


def target_loss(params, batch: tasks.Split, *, frozen, apply_fn: Callable,
                penalty: Callable | None = None) -> jax.Array:
  """Cross-entropy (plus `penalty(params)`), with `stop_gradient` on frozen leaves so autodiff never runs
  backward through them."""
  params = jax.tree.map(lambda p, f: jax.lax.stop_gradient(p) if f else p, params, frozen)
  loss = cross_entropy(params, batch, apply_fn=apply_fn)
  return loss if penalty is None else loss + penalty(params)
