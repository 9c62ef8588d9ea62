"""Every objective a run optimises, as pure functions: cross-entropy and accuracy, the L2-SP penalty, the target
objective with frozen groups, and domain adaptation's terms (gradient reversal, Deep CORAL, multi-kernel MMD) with
the objective that combines them."""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from transfer.train import models
from transfer.train import strategies
from transfer.types import Split


def cross_entropy(params, batch: Split, *, apply_fn: Callable) -> jax.Array:
  logits = apply_fn({'params': params}, batch.x)
  return optax.softmax_cross_entropy_with_integer_labels(logits, batch.y).mean()


def evaluate(params, split: Split, *, apply_fn: Callable, mask: jax.Array | None = None) -> dict[str, jax.Array]:
  """Accuracy and mean cross-entropy on `split`, over the rows `mask` marks if given (NaN where it marks none)."""
  logits = apply_fn({'params': params}, split.x)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, split.y)
  correct = jnp.argmax(logits, -1) == split.y
  if mask is None:
    return {'accuracy': jnp.mean(correct), 'loss': loss.mean()}
  count = mask.sum()
  return {'accuracy': jnp.where(mask, correct, False).sum() / count, 'loss': jnp.where(mask, loss, 0.0).sum() / count}


def l2_sp_penalty(params, anchor, mask, *, weight: float) -> jax.Array:
  """`weight / 2 * sum ||p - anchor||^2` over the leaves where `mask` is True (the backbone)."""
  sq = [jnp.sum((p - a) ** 2) for p, a, m in zip(*(jax.tree.leaves(t) for t in (params, anchor, mask))) if m]
  return 0.5 * weight * sum(sq, jnp.float32(0.0))


def stop_frozen(params, frozen):
  """`stop_gradient` on the leaves `frozen` marks, so autodiff never runs backward through them."""
  return jax.tree.map(lambda p, f: jax.lax.stop_gradient(p) if f else p, params, frozen)


def target_loss(params, batch: Split, *, frozen, apply_fn: Callable, knobs: strategies.Knobs,
                penalty: Callable | None = None) -> tuple[jax.Array, dict]:
  """Cross-entropy (plus `penalty(params)`) with frozen leaves never differentiated, and no terms to report.
  `knobs` are the strategies' static settings (a new loss setting is a `Knobs` field read here)."""
  del knobs  # no plain-stage setting reads them yet
  params = stop_frozen(params, frozen)
  loss = cross_entropy(params, batch, apply_fn=apply_fn)
  return (loss if penalty is None else loss + penalty(params)), {}


# Domain adaptation.


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

  Bandwidths are `scales` times the median squared distance between the pooled batch's examples (the median
  heuristic, Gretton et al. 2012; held constant for gradients).
  """
  pooled = jnp.concatenate([source_features, target_features])
  pairs = np.triu_indices(pooled.shape[0], k=1)  # static: every pair of distinct examples once
  base = jax.lax.stop_gradient(jnp.median(squared_distances(pooled, pooled)[pairs])) + 1e-8

  def kernel(a, b):
    d2 = squared_distances(a, b)
    return sum(jnp.exp(-d2 / (2 * s * base)) for s in scales)

  return (kernel(source_features, source_features).mean() + kernel(target_features, target_features).mean()
          - 2 * kernel(source_features, target_features).mean())


def dann_lambda(progress: jax.Array) -> jax.Array:
  """DANN's reversal weight over training progress p in [0, 1]: 2 / (1 + exp(-10 p)) - 1."""
  return 2.0 / (1.0 + jnp.exp(-10.0 * progress)) - 1.0


def no_alignment(source_features, target_features, progress, domain_params) -> tuple[jax.Array, jax.Array]:
  """'source' (the baseline source_only): no alignment term."""
  del source_features, target_features, progress, domain_params
  return jnp.float32(0.0), jnp.float32(jnp.nan)


def dann_alignment(source_features, target_features, progress, domain_params) -> tuple[jax.Array, jax.Array]:
  """DANN: the domain discriminator's cross-entropy through gradient reversal, and its accuracy."""
  features = gradient_reversal(jnp.concatenate([source_features, target_features]), dann_lambda(progress))
  logits = models.DomainDiscriminator().apply({'params': domain_params}, features)
  is_target = jnp.concatenate([jnp.zeros(len(source_features)), jnp.ones(len(target_features))])
  accuracy = jnp.mean((logits > 0) == (is_target > 0))
  return optax.sigmoid_binary_cross_entropy(logits, is_target).mean(), accuracy


def coral_alignment(source_features, target_features, progress, domain_params) -> tuple[jax.Array, jax.Array]:
  del progress, domain_params
  return coral_loss(source_features, target_features), jnp.float32(jnp.nan)


def mmd_alignment(source_features, target_features, progress, domain_params) -> tuple[jax.Array, jax.Array]:
  del progress, domain_params
  return mmd_loss(source_features, target_features), jnp.float32(jnp.nan)


# Every domain-adaptation mode of a strategy (strategies.ALIGN_MODES but 'none'; a test checks they agree) -> its
# term: (source features, unlabelled-target features, training progress, domain-discriminator params) -> (the
# alignment loss, the domain discriminator's accuracy (NaN without one)).
ALIGNMENTS = {'source': no_alignment, 'dann': dann_alignment, 'coral': coral_alignment, 'mmd': mmd_alignment}


def alignment(source_features, target_features, progress, domain_params, *,
              mode: str) -> tuple[jax.Array, jax.Array]:
  """The alignment loss between source and unlabelled-target backbone features, and the domain discriminator's
  accuracy on them (NaN without one), by the handler `ALIGNMENTS` gives `mode`; an unknown mode is an error."""
  if mode not in ALIGNMENTS:
    raise ValueError(f'unknown alignment mode {mode!r}; known: {sorted(ALIGNMENTS)}')
  return ALIGNMENTS[mode](source_features, target_features, progress, domain_params)


ADAPT_TERMS = ('source_loss', 'target_loss', 'alignment_loss', 'domain_accuracy')  # per-step values adapt_loss reports


def adapt_loss(state, batch, *, frozen, model: nn.Module, mode: str, knobs: strategies.Knobs,
               align_weight: jax.Array, align_scale: jax.Array, has_target: jax.Array):
  """Source cross-entropy + target cross-entropy (where the lane has labelled target examples) + align_weight *
  align_scale * alignment ('source': no alignment term); returns the loss and its terms (ADAPT_TERMS).

  `state` is `{'model': params, 'aux': {'domain': ..., 'source_head': ...}}`; `batch` a `loop.AdaptBatch`. The
  source examples go through the model's own head where the source's classes are the target's (no 'source_head'
  in `aux`), else through the pre-trained source head. `has_target` (traced) switches the target term off without
  reading its labels' values; None leaves the term out of the program.
  """
  del knobs  # no domain-adaptation setting is static yet
  params = stop_frozen(state['model'], frozen)
  aux = state['aux']
  features = functools.partial(models.backbone_features, params, model=model)
  source_features, unlabeled_features = features(batch.source.x), features(batch.unlabeled)
  if 'source_head' in aux:
    source_logits = models.source_head_logits(aux['source_head'], source_features)
  else:
    source_logits = model.apply({'params': params}, source_features, method=model.classify)
  ce = optax.softmax_cross_entropy_with_integer_labels
  source_loss = ce(source_logits, batch.source.y).mean()
  target_loss = jnp.float32(0.0)
  if has_target is not None:  # None: no lane of the program has labelled target examples (nothing to compute)
    target_loss = jnp.where(has_target, ce(model.apply({'params': params}, batch.target.x), batch.target.y).mean(),
                            0.0)
  align, accuracy = alignment(source_features, unlabeled_features, batch.progress, aux['domain'], mode=mode)
  loss = source_loss + target_loss + align_weight * align_scale * align
  return loss, {'source_loss': source_loss, 'target_loss': target_loss, 'alignment_loss': align,
                'domain_accuracy': accuracy}
