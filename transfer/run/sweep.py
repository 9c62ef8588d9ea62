"""A grid of runs x candidate settings -> lanes -> one `jit(vmap(train))` per strategy, called in equal-sized chunks.

Every chunk has the same shape (the last one is padded by repeating its final lane, and the padding is dropped),
so each strategy compiles exactly once however large the grid is. The lane axis of every chunk is sharded over
all visible devices (a 1-D `Mesh` named 'lanes'); chunk widths are multiples of the device count.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from absl import logging
import jax
import numpy as np

from transfer import types
from transfer.train import strategies


def grid(strategy: strategies.Strategy, *, seeds: int, data_sizes: Sequence[int], shifts: Sequence[float],
         lr_mults: Sequence[float], layers_copied: Sequence[int] = ()) -> list[dict]:
  """The cells one strategy runs: seeds x data sizes x shifts (x LR multipliers, x layers copied, for the strategies
  that use them). An axis a strategy ignores is recorded as None and run once.
  """
  values = {'seed': range(seeds), 'data_size': data_sizes, 'shift': shifts,
            'lr_mult': tuple(lr_mults) if strategy.uses_lr_mult else (None,),
            'layers_copied': tuple(layers_copied) if strategy.uses_layers_copied else (None,)}
  return [dict(zip(types.AXES, cell)) for cell in itertools.product(*(values[a] for a in types.AXES))]


def config_grid(strategy: strategies.Strategy, config, shifts: Sequence[float] | None = None,
                lr_mult_axis: bool = True) -> list[dict]:
  """`grid` over the axes an experiment config names (`shifts` replaces config.shifts where the data has none).

  Without `lr_mult_axis` (the backbone multiplier is searched, not swept), lr_mult is not a grid axis.
  """
  return grid(strategy, seeds=config.seeds, data_sizes=config.data_sizes,
              shifts=config.shifts if shifts is None else shifts,
              lr_mults=config.lr_mults if lr_mult_axis else (None,), layers_copied=config.layers_copied)


def train_lanes(lanes: types.Lane, source_params, arrays, *, train_fn: Callable) -> dict:
  """vmap of `train_fn` over lanes; each lane takes its own seed's pre-trained parameters and the shared arrays."""
  def one(lane):
    return train_fn(lane, jax.tree.map(lambda a: a[lane.seed], source_params), arrays)
  return jax.vmap(one)(lanes)


def chunk_width(n: int, max_lanes_per_call: int, devices: int) -> int:
  """Lanes per call: all `n` (or `max_lanes_per_call` if > 0), rounded to a multiple of `devices`.

  Rounded up when all lanes fit in one call, down otherwise (never below one lane per device).
  """
  if max_lanes_per_call <= 0 or max_lanes_per_call >= n:
    return -(-n // devices) * devices
  return max(devices, max_lanes_per_call // devices * devices)


def chunks(n: int, width: int) -> list[tuple[int, int]]:
  """[start, stop) bounds of consecutive chunks of at most `width` lanes."""
  return [(i, min(i + width, n)) for i in range(0, n, width)]


def lane_mesh() -> jax.sharding.Mesh:
  return jax.sharding.Mesh(np.array(jax.devices()), ('lanes',))


def shard(lanes: types.Lane, source_params, arrays, mesh: jax.sharding.Mesh):
  """Lanes split along their first axis over the mesh; source parameters and data arrays replicated."""
  split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('lanes'))
  whole = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return jax.device_put(lanes, split), jax.device_put(source_params, whole), jax.device_put(arrays, whole)


def pad_to(lanes: types.Lane, size: int) -> types.Lane:
  """Repeats the last lane until every field has `size` entries."""
  return jax.tree.map(lambda a: np.concatenate([a, np.repeat(a[-1:], size - len(a))]), lanes)


def gather(array: jax.Array) -> jax.Array:
  """The whole array on this process (on several hosts, each holds only its own devices' lanes)."""
  if jax.process_count() == 1:
    return array
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return multihost_utils.process_allgather(array, tiled=True)


class Timing(NamedTuple):
  """What `run_lanes` measured: seconds compiling (lowering included; 0 for a callable that is not jitted), seconds
  running the chunks, lanes per call, and how many programs were compiled."""

  compile_seconds: float
  run_seconds: float
  width: int
  programs: int


def compile_for(compiled: Callable, args: tuple):
  """`compiled` (a jitted function) compiled ahead of its first call for `args`' shapes and shardings, as one
  executable that every chunk calls (a callable that is not jitted is returned as it is)."""
  if not hasattr(compiled, 'lower'):
    return compiled
  return compiled.lower(*args).compile()


def run_lanes(name: str, lanes: Sequence[dict], source_params, arrays=(), *, compiled: Callable,
              max_lanes_per_call: int, on_chunk: Callable[[int, int, dict], None]) -> Timing:
  """Runs every lane (a dict of its grid axes and hyperparameters) through `compiled` (a jitted `train_lanes`),
  chunk by chunk; `on_chunk(start, stop, outputs)` receives each chunk's outputs (numpy arrays, one row per lane)
  as soon as they are on the host (to persist them). The program is compiled once, before the first chunk, and
  timed apart from the chunks."""
  mesh = lane_mesh()
  width = chunk_width(len(lanes), max_lanes_per_call, mesh.size)

  def chunk(lo: int, hi: int):
    return shard(pad_to(types.stack_lanes(lanes[lo:hi]), width), source_params, arrays, mesh)

  start = time.perf_counter()
  call = compile_for(compiled, chunk(0, min(width, len(lanes))))
  compile_seconds = time.perf_counter() - start
  logging.info('[%s] compiled in %.1fs for %d lanes per call', name, compile_seconds, width)
  bounds = chunks(len(lanes), width)
  for i, (lo, hi) in enumerate(bounds):
    out = call(*chunk(lo, hi))
    out = jax.tree.map(lambda a: np.asarray(gather(a))[:hi - lo], out)  # one host transfer per chunk
    on_chunk(lo, hi, out)
    logging.info('[%s] chunk %d/%d: %d lanes done on %d device(s), %.1fs elapsed', name, i + 1, len(bounds), hi - lo,
                 mesh.size, time.perf_counter() - start)
  return Timing(compile_seconds, time.perf_counter() - start - compile_seconds, width, 1)
