"""A grid of runs -> lanes -> one `jit(vmap(train))` per strategy, called in equal-sized chunks.

Every chunk has the same shape (the last one is padded by repeating its final lane, and the padding is dropped),
so each strategy compiles exactly once however large the grid is.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence

from absl import logging
import jax
import numpy as np

from transfer import strategies
from transfer import train

GRID_KEYS = ('seed', 'data_size', 'shift', 'lr_mult')


def grid(strategy: strategies.Strategy, *, seeds: int, data_sizes: Sequence[int], shifts: Sequence[float],
         lr_mults: Sequence[float]) -> list[dict]:
  """The cells one strategy runs: seeds x data sizes x shifts (x LR multipliers if the strategy uses them).

  A strategy that ignores `lr_mult` runs each cell once, with `lr_mult` recorded as None.
  """
  mults = tuple(lr_mults) if strategy.uses_lr_mult else (None,)
  return [dict(seed=s, data_size=n, shift=sh, lr_mult=m)
          for s, n, sh, m in itertools.product(range(seeds), data_sizes, shifts, mults)]


def stack_lanes(cells: Sequence[dict]) -> train.Lane:
  """Cells -> one `Lane` of numpy arrays (an unused `lr_mult` becomes 1.0, which nothing reads)."""
  return train.Lane(
      seed=np.array([c['seed'] for c in cells], np.int32),
      data_size=np.array([c['data_size'] for c in cells], np.int32),
      shift=np.array([c['shift'] for c in cells], np.float32),
      lr_mult=np.array([1.0 if c['lr_mult'] is None else c['lr_mult'] for c in cells], np.float32))


def train_lanes(lanes: train.Lane, source_params, *, train_fn: Callable) -> dict:
  """vmap of `train_fn` over lanes; each lane takes its own seed's pre-trained parameters."""
  def one(lane):
    return train_fn(lane, jax.tree.map(lambda a: a[lane.seed], source_params))
  return jax.vmap(one)(lanes)


def chunks(n: int, size: int) -> list[tuple[int, int]]:
  """[start, stop) bounds of consecutive chunks of at most `size` (all of `n` in one if size <= 0)."""
  size = n if size <= 0 else size
  return [(i, min(i + size, n)) for i in range(0, n, size)]


def pad_to(lanes: train.Lane, size: int) -> train.Lane:
  """Repeats the last lane until every field has `size` entries."""
  return jax.tree.map(lambda a: np.concatenate([a, np.repeat(a[-1:], size - len(a))]), lanes)


def to_record(strategy: str, cell: dict, metrics: dict) -> dict:
  """One tidy record; a diverged run keeps its grid keys but no metric values (never averaged in)."""
  diverged = bool(metrics['diverged'])
  values = {k: None if diverged else float(v) for k, v in metrics.items() if k != 'diverged'}
  return dict(strategy=strategy, **cell, **values, diverged=diverged)


def run_strategy(name: str, cells: Sequence[dict], source_params, *, compiled: Callable,
                 max_lanes_per_call: int, on_chunk: Callable[[list[dict]], None] = lambda _: None) -> list[dict]:
  """Runs every cell through `compiled` (a jitted `train_lanes`) chunk by chunk; returns one record per cell.

  `on_chunk` receives each chunk's records as soon as they are on the host (to persist them).
  """
  bounds = chunks(len(cells), max_lanes_per_call)
  width = bounds[0][1] - bounds[0][0]
  records, start = [], time.perf_counter()
  for i, (lo, hi) in enumerate(bounds):
    out = compiled(pad_to(stack_lanes(cells[lo:hi]), width), source_params)
    out = jax.tree.map(lambda a: np.asarray(a)[:hi - lo], out)  # one host transfer per chunk
    done = [to_record(name, cell, {k: v[j] for k, v in out.items()}) for j, cell in enumerate(cells[lo:hi])]
    on_chunk(done)
    records += done
    logging.info('[%s] chunk %d/%d: %d lanes done, %.1fs elapsed%s', name, i + 1, len(bounds), hi - lo,
                 time.perf_counter() - start, ' (includes compilation)' if i == 0 else '')
  return records
