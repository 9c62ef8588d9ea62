"""A grid of runs x candidate settings -> lanes -> one `jit(vmap(train))` per strategy, called in equal-sized chunks.

Every chunk has the same shape (the last one is padded by repeating its final lane, and the padding is dropped),
so each strategy compiles exactly once however large the grid is. The lane axis of every chunk is sharded over
all visible devices (a 1-D `Mesh` named 'lanes'); chunk widths are multiples of the device count. With
`max_lanes_per_call = 0` the width is every lane, unless the compiled program's memory analysis says that would not
fit the device's free memory (`fitting_width`); a device that runs out of memory anyway is one OutOfMemoryError
naming `max_lanes_per_call` and a width to try.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from absl import logging
import jax
import numpy as np

from transfer import types
from transfer.errors import OutOfMemoryError
from transfer.run import progress as progress_lib
from transfer.train import lane_data
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


def train_lanes(lanes: types.Lane, source_params, data, *per_lane, train_fn: Callable) -> dict:
  """vmap of `train_fn` over lanes; each lane takes its own seed's pre-trained parameters and its data: its own
  row of `data` where that is a lane_data.DataTable (rendered once per seed and shift, shared by every lane), else
  `data` itself (a data source's arrays, for a `train_fn` that renders each lane's data itself); then its own row
  of each `per_lane` array (an argument only some programs take, such as the step a refit stops at)."""
  def one(lane, *own_values):
    own = data.row(lane) if isinstance(data, lane_data.DataTable) else data
    return train_fn(lane, jax.tree.map(lambda a: a[lane.seed], source_params), own, *own_values)
  return jax.vmap(one)(lanes, *per_lane)


def chunk_width(n: int, max_lanes_per_call: int, devices: int) -> int:
  """Lanes per call: all `n` (or at most `max_lanes_per_call` if > 0), a multiple of `devices`.

  Rounded up when all lanes fit in one call. Otherwise the fewest calls that respect the cap, with the lanes spread
  evenly over them: 320 lanes at most 312 per call run as 2 calls of 160, not 312 and 8 padded to 312 (every call
  costs its full width), never below one lane per device.
  """
  if max_lanes_per_call <= 0 or max_lanes_per_call >= n:
    return -(-n // devices) * devices
  cap = max(devices, max_lanes_per_call // devices * devices)
  calls = -(-n // cap)
  return min(cap, -(-(-(-n // calls)) // devices) * devices)


def chunks(n: int, width: int) -> list[tuple[int, int]]:
  """[start, stop) bounds of consecutive chunks of at most `width` lanes."""
  return [(i, min(i + width, n)) for i in range(0, n, width)]


def lane_mesh() -> jax.sharding.Mesh:
  return jax.sharding.Mesh(np.array(jax.devices()), ('lanes',))


def shard(lanes: types.Lane, source_params, arrays, mesh: jax.sharding.Mesh, per_lane: tuple = ()):
  """Lanes (and the `per_lane` arrays) split along their first axis over the mesh; source parameters and data
  arrays replicated."""
  split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('lanes'))
  whole = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return (jax.device_put(lanes, split), jax.device_put(source_params, whole), jax.device_put(arrays, whole),
          *jax.device_put(per_lane, split))


def pad_to(lanes: types.Lane, size: int) -> types.Lane:
  """Repeats the last lane until every field has `size` entries."""
  return jax.tree.map(lambda a: np.concatenate([a, np.repeat(a[-1:], size - len(a))]), lanes)


def gather(array: jax.Array) -> jax.Array:
  """The whole array on this process (on several hosts, each holds only its own devices' lanes)."""
  if jax.process_count() == 1:
    return array
  from jax.experimental import multihost_utils
  return multihost_utils.process_allgather(array, tiled=True)


# Of the memory a device has free, how much a sweep's program may plan on: an accelerator's XLA allocator needs some
# headroom; a CPU's devices share the host's memory with numpy's copies of every chunk, the compiler and whatever
# else runs, and the host figure is the memory free now (os.sysconf), not what the process could get.
DEVICE_FRACTION = 0.9
HOST_FRACTION = 0.5


class Timing(NamedTuple):
  """What `run_lanes` measured: seconds compiling (lowering included; 0 for a callable that is not jitted), seconds
  running the chunks, lanes per call, and how many programs were compiled."""

  compile_seconds: float
  run_seconds: float
  width: int
  programs: int


class Memory(NamedTuple):
  """A compiled program's memory per device, from XLA's memory analysis: `fixed` bytes (its arguments, replicated
  parameters and data, and its code) and `per_lane` bytes (temporaries and outputs, taken as proportional to the
  lanes each device runs)."""

  fixed: float
  per_lane: float


def compile_for(compiled: Callable, args: tuple, lanes_per_device: int):
  """`compiled` (a jitted function) compiled ahead of its first call for `args`' shapes and shardings, as one
  executable that every chunk calls, and its `Memory` (None where the backend has no memory analysis). A callable
  that is not jitted is returned as it is, with None."""
  if not hasattr(compiled, 'lower'):
    return compiled, None
  executable = compiled.lower(*args).compile()
  try:
    m = executable.memory_analysis()
    memory = Memory(m.argument_size_in_bytes + m.generated_code_size_in_bytes,
                    (m.temp_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes) / lanes_per_device)
  except Exception:  # not every backend has one; nothing depends on it
    memory = None
  return executable, memory


def device_memory() -> tuple[float, str] | None:
  """The bytes one device may plan on for a sweep's program, and where that figure comes from; None where unknown.

  An accelerator reports its free memory (`memory_stats`); the CPU's devices share the host's free memory.
  """
  device = jax.local_devices()[0]
  try:
    stats = device.memory_stats()
  except Exception:  # unimplemented on some backends
    stats = None
  if stats and stats.get('bytes_limit'):
    free = stats['bytes_limit'] - stats.get('bytes_in_use', 0)
    return free * DEVICE_FRACTION, (f'{DEVICE_FRACTION:.0%} of the {free / 2**30:.1f} GiB free on each '
                                    f'{device.device_kind}')
  if device.platform == 'cpu':
    try:
      free = os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (AttributeError, ValueError, OSError):  # not every OS names it
      return None
    devices = jax.local_device_count()
    return free * HOST_FRACTION / devices, (f'{HOST_FRACTION:.0%} of the host\'s {free / 2**30:.1f} GiB free memory, '
                                            f'shared by {devices} CPU device(s)')
  return None


def fitting_width(width: int, devices: int, memory: Memory, budget: float) -> int:
  """The widest chunk, a multiple of `devices` and at most `width`, whose program fits `budget` bytes per device
  (never below one lane per device)."""
  lanes_per_device = (budget - memory.fixed) // memory.per_lane if memory.per_lane > 0 else width // devices
  return int(max(devices, min(width, lanes_per_device * devices)))


def is_out_of_memory(error: BaseException) -> bool:
  """Whether `error` says a device ran out of memory: XLA's RESOURCE_EXHAUSTED, or the host's MemoryError."""
  return isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and 'RESOURCE_EXHAUSTED' in str(error))


def out_of_memory(name: str, width: int, devices: int, max_lanes_per_call: int,
                  error: BaseException) -> OutOfMemoryError:
  """The one error a device's out-of-memory becomes: what ran out, and the max_lanes_per_call to try."""
  what = (f'config.max_lanes_per_call = {max_lanes_per_call}' if max_lanes_per_call > 0 else
          'config.max_lanes_per_call = 0, chosen from the estimate of device memory')
  first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
  if width <= devices:
    advice = ('even one lane per device does not fit: use fewer or smaller examples (data_sizes, batch_size, '
              'data.test_size) or a smaller model')
  else:
    advice = (f'rerun with --config.max_lanes_per_call={max(devices, width // 2 // devices * devices)} (half as '
              'many; the finished chunks are kept, and no result depends on it)')
  return OutOfMemoryError(f'[{name}] the device ran out of memory running {width} lanes per call ({what}): '
                          f'{advice}. XLA said: {first}')


def run_lanes(name: str, lanes: Sequence[dict], source_params, arrays=(), *, compiled: Callable,
              max_lanes_per_call: int, on_chunk: Callable[[int, int, dict], None],
              progress: progress_lib.Progress | None = None, per_lane: tuple[np.ndarray, ...] = (),
              widest: int = 0) -> Timing:
  """Runs every lane (a dict of its grid axes and hyperparameters; with `per_lane`, also its row of each of those
  arrays) through `compiled` (a jitted `train_lanes`),
  chunk by chunk; `on_chunk(start, stop, outputs)` receives each chunk's outputs (numpy arrays, one row per lane)
  as soon as they are on the host (to persist them). The program is compiled once, before the first chunk, and
  timed apart from the chunks (twice where every lane would not fit the device's memory: then at the width that
  does). A device that runs out of memory is one OutOfMemoryError naming max_lanes_per_call. `progress` (a whole
  sweep's, run/progress.py) is told of the compilation and of every chunk. With `max_lanes_per_call` = 0 and
  `widest` > 0, calls are at most `widest` lanes wide (the lanes of several strategies sharing one program run no
  wider than the widest of them alone would, so sharing costs no memory)."""
  progress = progress or progress_lib.Progress({name: len(lanes)})
  mesh = lane_mesh()
  cap = max_lanes_per_call if max_lanes_per_call > 0 else chunk_width(widest, 0, mesh.size) if widest > 0 else 0
  width = chunk_width(len(lanes), cap, mesh.size)

  def chunk(lo: int, hi: int, width: int):
    own = pad_to(tuple(np.asarray(a)[lo:hi] for a in per_lane), width)
    return shard(pad_to(types.stack_lanes(lanes[lo:hi]), width), source_params, arrays, mesh, own)

  start, programs = time.perf_counter(), 1
  progress.compiling(name)
  try:
    call, memory = compile_for(compiled, chunk(0, min(width, len(lanes)), width), width // mesh.size)
    if max_lanes_per_call <= 0:
      fit = chunk_width(len(lanes), choose_width(name, len(lanes), width, mesh.size, memory), mesh.size)
      if fit < width:
        width, programs = fit, 2
        call, _ = compile_for(compiled, chunk(0, width, width), width // mesh.size)
  except Exception as e:  # XLA raises its own runtime error type
    if is_out_of_memory(e):
      raise out_of_memory(name, width, mesh.size, max_lanes_per_call, e) from e
    raise
  compile_seconds = time.perf_counter() - start
  logging.info('[%s] compiled in %.1fs for %d lanes per call', name, compile_seconds, width)
  bounds = chunks(len(lanes), width)
  progress.started(name, len(bounds))
  for i, (lo, hi) in enumerate(bounds):
    try:
      out = call(*chunk(lo, hi, width))
      out = jax.tree.map(lambda a: np.asarray(gather(a))[:hi - lo], out)  # one host transfer per chunk
    except Exception as e:
      if is_out_of_memory(e):
        raise out_of_memory(name, width, mesh.size, max_lanes_per_call, e) from e
      raise
    on_chunk(lo, hi, out)
    progress.chunk_done(name, hi - lo)
    logging.info('[%s] chunk %d/%d: %d lanes done on %d device(s), %.1fs elapsed', name, i + 1, len(bounds), hi - lo,
                 mesh.size, time.perf_counter() - start)
  return Timing(compile_seconds, time.perf_counter() - start - compile_seconds, width, programs)


def choose_width(name: str, n: int, width: int, devices: int, memory: Memory | None) -> int:
  """The lanes per call when max_lanes_per_call = 0: every lane (`width`), or fewer where the program compiled for
  them would not fit the device's memory; logs which and why."""
  budget = device_memory()
  if memory is None or budget is None:
    logging.info('[%s] %d lanes per call: every lane (no memory estimate on this backend)', name, width)
    return width
  budget, source = budget
  fit = fitting_width(width, devices, memory, budget)
  need = (memory.fixed + memory.per_lane * width / devices) / 2**20
  if fit >= width:
    logging.info('[%s] %d lanes per call%s: ~%.0f MiB per device, within %s', name, width,
                 f' (of {n})' if width < n else '', need, source)
  else:
    logging.info('[%s] %d lanes per call (of %d): all of them would need ~%.0f MiB per device (%.1f MiB per lane), '
                 'more than %s; set config.max_lanes_per_call to choose', name, fit, n, need,
                 memory.per_lane / 2**20, source)
  return fit
