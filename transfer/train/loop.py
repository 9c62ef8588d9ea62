"""The optimizer loop shared by pre-training and target training: minibatch steps inside one `lax.scan`, with an
evaluation every `eval_every` steps (a scan of blocks of steps), and the minibatch draws it takes (plain, or
domain adaptation's three streams)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from transfer.types import AdaptData
from transfer.types import Split


@dataclasses.dataclass(frozen=True)
class Loop:
  """Static length and batch size of a training loop."""

  steps: int
  batch_size: int


def minibatch(key: jax.Array, step: jax.Array, *, pool: Split, size: jax.Array, batch_size: int,
              order: jax.Array | None = None) -> Split:
  """`batch_size` examples drawn with replacement from the first `size` examples of `pool`, or, where `order` is
  given, from the examples `order[:size]` indexes (the training part of a pool split for validation)."""
  del step
  idx = jax.random.randint(key, (batch_size,), 0, size)
  if order is not None:
    idx = order[idx]
  return Split(pool.x[idx], pool.y[idx])


class AdaptBatch(NamedTuple):
  target: Split
  source: Split
  unlabeled: jax.Array
  progress: jax.Array  # step / steps, for DANN's reversal weight


def adapt_minibatch(key: jax.Array, step: jax.Array, *, pool: Split, adapt_data: AdaptData, size: jax.Array,
                    batch_size: int, steps: int, order: jax.Array | None = None,
                    source_order: jax.Array | None = None, source_size: jax.Array | None = None) -> AdaptBatch:
  """A labelled target (as `minibatch` draws it), a labelled source (from the first `source_size` examples that
  `source_order` indexes, or all of them) and an unlabelled target minibatch, each `batch_size` examples."""
  k_target, k_source, k_unlabeled = jax.random.split(key, 3)
  target = minibatch(k_target, step, pool=pool, size=jnp.maximum(size, 1), batch_size=batch_size, order=order)
  source = minibatch(k_source, step, pool=adapt_data.source,
                     size=adapt_data.source.x.shape[0] if source_size is None else source_size,
                     batch_size=batch_size, order=source_order)
  idx = jax.random.randint(k_unlabeled, (batch_size,), 0, adapt_data.unlabeled.shape[0])
  return AdaptBatch(target, source, adapt_data.unlabeled[idx], step / steps)


def optimizer_step(carry, xs, *, loss_fn: Callable, optimizer: optax.GradientTransformation, draw: Callable):
  """One step on the batch `draw(key, step)` returns; `loss_fn(params, batch)` returns the loss and a dict of terms
  to report (it may read the step from the batch). Returns the new carry, and the loss and terms."""
  params, opt_state = carry
  key, step = xs
  (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, draw(key, step))
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return (optax.apply_updates(params, updates), opt_state), (loss, terms)


def stopping_step(carry, xs, *, step: Callable, stop: jax.Array):
  """`step`, whose new carry is kept only before step index `stop` (xs = (key, index))."""
  new, out = step(carry, xs)
  return jax.tree.map(lambda a, b: jnp.where(xs[1] < stop, a, b), new, carry), out


class Kept(NamedTuple):
  """The parameters at the best evaluation so far and its score (higher is better; -inf: none counted yet)."""

  score: jax.Array
  params: object


def selection_score(evals: dict) -> jax.Array:
  """An evaluation's score for model selection, as the evaluation computed it (`score`: the validation accuracy
  where the validation loss is finite, or a label-free validator's score; -inf is never kept). run/selection.py
  reads the stored `score` curve the same way, so the first evaluation with the best score is the one both
  choose."""
  return evals['score']


def oracle_score(evals: dict) -> jax.Array:
  """An evaluation's score for the oracle (an upper bound, never a result): its test accuracy (-inf where NaN)."""
  return jnp.where(jnp.isnan(evals['test_accuracy']), -jnp.inf, evals['test_accuracy'])


SCORES = {'selected': selection_score, 'oracle': oracle_score}  # what each kept set of parameters follows


def keep_better(kept: Kept, score: jax.Array, params) -> Kept:
  """`kept`, replaced by `params` where their evaluation's `score` is strictly higher (ties keep the earlier one)."""
  take = score > kept.score
  return Kept(jnp.where(take, score, kept.score),
              jax.tree.map(lambda new, old: jnp.where(take, new, old), params, kept.params))


def run_steps(params, step_keys: jax.Array, *, loss_fn: Callable, optimizer: optax.GradientTransformation,
              draw: Callable, evaluate: Callable | None = None, eval_every: int = 0,
              kept: dict[str, Kept] | None = None, model_params: Callable = lambda params: params,
              stop: jax.Array | None = None):
  """One optimizer step per key, from a fresh optimizer state.

  Returns the final params, the per-step losses, the evaluations and `kept`. With `evaluate` (params -> dict of
  scalars) the evaluations are its values after every `eval_every` steps together with the mean of each term
  `loss_fn` reports over those steps, each stacked into a (steps // eval_every,) array ({} without `evaluate`). The
  steps are then a scan over blocks of `eval_every` steps, each followed by the evaluation; `eval_every` must divide
  them. Each entry of `kept` (a name of SCORES -> Kept) follows the evaluation with the best score of its name so
  far (`keep_better`) and holds `model_params(params)` there (the trained state may hold more than the model).
  With `stop` (traced) only the first `stop` steps update the parameters and optimizer state; the later ones leave
  them as they are (a lane that stops early in a program of a fixed number of steps).
  """
  step = functools.partial(optimizer_step, loss_fn=loss_fn, optimizer=optimizer, draw=draw)
  if stop is not None:
    step = functools.partial(stopping_step, step=step, stop=stop)
  n = step_keys.shape[0]
  xs, carry = (step_keys, jax.numpy.arange(n)), (params, optimizer.init(params))
  if evaluate is None:
    (params, _), (losses, _) = jax.lax.scan(step, carry, xs)
    return params, losses, {}, kept
  if n % eval_every:
    raise ValueError(f'eval_every = {eval_every} does not divide a stage of {n} steps')

  def block(carry, block_xs):
    state, kept = carry
    state, (losses, terms) = jax.lax.scan(step, state, block_xs)
    evals = evaluate(state[0])
    if kept:
      kept = {name: keep_better(k, SCORES[name](evals), model_params(state[0])) for name, k in kept.items()}
    return (state, kept), (losses, {**evals, **jax.tree.map(lambda t: t.mean(), terms)})

  blocks = jax.tree.map(lambda a: a.reshape(n // eval_every, eval_every, *a.shape[1:]), xs)
  ((params, _), kept), (losses, evals) = jax.lax.scan(block, (carry, kept), blocks)
  return params, losses.reshape(n), evals, kept
