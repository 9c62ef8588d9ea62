"""Timing the sweep and what it is compared with: the vmapped programs (compiled apart), the same JAX run one lane
per call, the PyTorch per-run loop (CPU, and a CUDA device where torch sees one), one optimizer step's marginal cost,
and one vmapped call per lane count (lane scaling); also the machine they ran on and the process's peak memory.

Every time is taken after compilation, in one process, on the same data and pre-trained weights, and is the best of
some calls of a function that blocks until its result is ready (`best_time`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import resource
import time
from collections.abc import Callable

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from transfer import compiler
from transfer import types
from transfer.run import experiment
from transfer.run import provenance
from transfer.run import sweep
from transfer.studies import torch_loop
from transfer.studies.bench import result
from transfer.train import strategies


def block(tree):
  return jax.tree.map(lambda a: a.block_until_ready(), tree)


def best_time(fn, repeats: int) -> float:
  """Best wall time of `repeats` calls of `fn` (which must block until its result is ready)."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


@dataclasses.dataclass
class Prepared:
  """The lanes of the strategies that share one program (strategies.program), and its vmapped and single-lane
  programs, compiled."""

  name: str  # the strategies' names joined by '+', as environment.json names a sweep's programs
  cells: list  # every lane's grid cell, with its 'strategy' and 'pretrained'
  lanes: types.Lane
  sharded: tuple
  program: Callable  # sweep.train_lanes with the program's run bound: what `vmapped` compiles
  vmapped: object
  single: object | None  # None where it was not asked for
  compile_seconds: float  # the vmapped program's
  single_compile_seconds: float  # the single-lane program's (0 where it was not asked for)


def train_fn(config, dataset, strategy: strategies.Strategy, dtype=None, shared: bool = True) -> Callable:
  """The strategy's run (experiment.strategy_train_fn: on a row of the shared data table, or with `shared` False
  rendering its own data, as a run alone does), its model computing in `dtype` (None: float32, the run exactly as
  every experiment runs it); parameters and optimizer stay float32 either way."""
  fn = experiment.strategy_train_fn(config, dataset, strategy, shared=shared)
  if dtype is None:
    return fn
  spec = fn.keywords['spec']
  return functools.partial(fn, spec=dataclasses.replace(spec, model=spec.model.clone(dtype=dtype)))


def prepare(config, dataset, source, names: list[str], dtype=None, single: bool = True, table=None) -> Prepared:
  """The sweep program of the strategies `names`, which share one (strategies.same_program), on the shared data
  `table` (experiment.data_table; made here when None) with every lane of theirs, and, with `single`, its one-lane
  program, which renders its lane's data itself as a run alone does."""
  chosen = [strategies.get(name) for name in names]
  if not all(strategies.same_program(chosen[0], s) for s in chosen):
    raise ValueError(f'{names} do not share one program')
  strategy = strategies.program(chosen[0])
  cells = [{**cell, 'strategy': s.name, 'pretrained': s.pretrained} for s in chosen
           for cell in sweep.config_grid(s, config)]
  mesh = sweep.lane_mesh()
  lanes = types.stack_lanes(cells)
  width = sweep.chunk_width(len(cells), 0, mesh.size)
  table = experiment.data_table(config, dataset) if table is None else table
  sharded = sweep.shard(sweep.pad_to(lanes, width), source, table, mesh)
  program = functools.partial(sweep.train_lanes, train_fn=train_fn(config, dataset, strategy, dtype))
  start = time.perf_counter()
  vmapped = compiler.jit(program).lower(*sharded).compile()
  middle = time.perf_counter()
  one = jax.tree.map(lambda a: a[0], lanes), jax.tree.map(lambda a: a[0], source), dataset.arrays
  run_fn = train_fn(config, dataset, strategy, dtype, shared=False)
  compiled_single = compiler.jit(run_fn).lower(*one).compile() if single else None
  return Prepared('+'.join(names), cells, lanes, sharded, program, vmapped, compiled_single, middle - start,
                  time.perf_counter() - middle if single else 0.0)


def run_sequential(p: Prepared, source, arrays) -> None:
  """One call per lane, waiting for each result, as a per-run loop would."""
  for i in range(len(p.cells)):
    lane = jax.tree.map(lambda a, i=i: a[i], p.lanes)
    block(p.single(lane, jax.tree.map(lambda a, s=int(lane.seed): a[s], source), arrays))


def run_torch(config, dataset, source, p: Prepared, device: str = 'cpu') -> tuple[float, list[float]]:
  """Seconds in PyTorch training loops over every lane on `device`, and the accuracies they reach."""
  seconds, accuracies = 0.0, []
  for cell in p.cells:
    strategy = strategies.get(cell['strategy'])
    lane = types.Lane(*(jnp.asarray(v) for v in types.stack_lanes([cell])))
    lane = jax.tree.map(lambda a: a[0], lane)
    pool, test = dataset.data.target_splits(dataset.arrays, lane)
    accuracy, t = torch_loop.train_one(
        pool.x, pool.y, test.x, test.y, jax.tree.map(lambda a, s=cell['seed']: a[s], source), strategy=strategy,
        data_size=cell['data_size'], lr=config.lr, lr_mult=cell['lr_mult'] or 1.0, steps=config.steps,
        batch_size=config.batch_size, depth=config.model.depth, num_classes=dataset.data.target_classes,
        seed=cell['seed'], device=device)
    seconds += t
    accuracies.append(accuracy)
  return seconds, accuracies


def torch_baseline(config, dataset, source, prepared: list[Prepared], vmap_seconds: float
                   ) -> tuple[float | None, float | None, result.TorchGpu | None, str | None]:
  """The PyTorch per-run loop over every lane on CPU and, where torch sees one, on a CUDA device: (CPU seconds, CPU
  mean test accuracy, the CUDA device's figures, why it was skipped); None where not run."""
  skipped = ('skipped (config.bench.torch = False)' if not config.bench.torch else
             None if torch_loop.available() else 'skipped (torch not installed)')
  if skipped is not None:
    return None, None, None, skipped
  results = [run_torch(config, dataset, source, p) for p in prepared]
  seconds = sum(r[0] for r in results)
  accuracy = float(np.mean([a for r in results for a in r[1]]))
  logging.info('pytorch per-run loop: %.2fs', seconds)
  gpu, on_gpu = torch_loop.cuda_device(), None
  if gpu is not None:
    results = [run_torch(config, dataset, source, p, device='cuda') for p in prepared]
    gpu_seconds = sum(r[0] for r in results)
    on_gpu = result.TorchGpu(gpu, gpu_seconds, gpu_seconds / vmap_seconds,
                             float(np.mean([a for r in results for a in r[1]])))
    logging.info('pytorch per-run loop on %s: %.2fs', gpu, gpu_seconds)
  return seconds, accuracy, on_gpu, None


def mean_accuracy(prepared: list[Prepared]) -> float:
  """Mean test accuracy over every lane of the vmapped programs (padding dropped; gathered, since on several hosts
  each holds only its own lanes)."""
  accuracies = [np.asarray(sweep.gather(p.vmapped(*p.sharded)['selected_test_accuracy']))[:len(p.cells)]
                for p in prepared]
  return float(np.mean(np.concatenate([a.reshape(-1) for a in accuracies])))


def step_seconds(config, dataset, source, name: str, *, lanes: int, steps: tuple[int, int]) -> float:
  """Marginal cost of one optimizer step of `lanes` vmapped lanes: (t(steps[1]) - t(steps[0])) / difference."""
  strategy = strategies.get(name)
  cells = [dict(seed=i % config.seeds, data_size=max(config.data_sizes), shift=0.0, lr_mult=0.1, layers_copied=None)
           for i in range(lanes)]
  stacked = types.stack_lanes(cells)
  times = []
  for n in steps:
    timed = config.copy_and_resolve_references()
    with timed.unlocked():
      timed.steps = timed.selection.eval_every = n  # one evaluation, at the end
    fn = compiler.jit(functools.partial(sweep.train_lanes,
                                        train_fn=experiment.strategy_train_fn(timed, dataset, strategy, shared=True)))
    table = experiment.data_table(timed, dataset)
    block(fn(stacked, source, table))
    times.append(best_time(lambda fn=fn, table=table: block(fn(stacked, source, table)), 3))
  return (times[1] - times[0]) / (steps[1] - steps[0])


SCALING_HOST_FRACTION = 0.8  # of the host's free memory, what one lane-scaling call on CPU may plan on: it runs alone
#                              (a sweep plans on half, sharing it with numpy's copies of every chunk)


def one_device_budget() -> float | None:
  """Bytes one lane-scaling call on one device may plan on: on CPU SCALING_HOST_FRACTION of the host's free memory,
  on an accelerator what a sweep's program may (sweep.device_memory); None where unknown."""
  if jax.default_backend() == 'cpu':
    try:
      return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') * SCALING_HOST_FRACTION
    except (AttributeError, ValueError, OSError):  # not every OS names it
      return None
  found = sweep.device_memory()
  return None if found is None else found[0]


LONG_CALL_SECONDS = 10.0  # a lane-scaling call longer than this is timed once


def lane_scaling(config, dataset, source, counts: tuple[int, ...]) -> dict[str, result.ScalingCall]:
  """One vmapped fine-tuning call of n lanes for each n, on one device: its time, or why it was skipped: XLA's memory
  analysis (sweep.compile_for) says the program would not fit the device, or the device ran out.

  The lanes' target pools hold `bench.scaling_data_size` examples (0: the grid's largest). A call of over
  LONG_CALL_SECONDS is timed once, its first call after compilation; shorter ones are the best of `bench.repeats`.
  """
  scaled = config.copy_and_resolve_references()
  if config.bench.scaling_data_size:
    with scaled.unlocked():
      scaled.data_sizes = (config.bench.scaling_data_size,)
    dataset = experiment.prepare(scaled)
  strategy = strategies.get('fine_tuning')
  cells = sweep.config_grid(strategy, scaled)
  fn = compiler.jit(functools.partial(sweep.train_lanes,
                                      train_fn=experiment.strategy_train_fn(scaled, dataset, strategy, shared=True)))
  table = experiment.data_table(scaled, dataset)
  budget = one_device_budget()
  out = {}
  for n in counts:
    lanes = types.stack_lanes([cells[i % len(cells)] for i in range(n)])
    try:
      compiled, memory = sweep.compile_for(fn, (lanes, source, table), lanes_per_device=n)
      need = None if memory is None else memory.fixed + memory.per_lane * n
      if need is not None and budget is not None and need > budget:
        out[str(n)] = result.ScalingCall(skipped=f"needs ~{need / 2**30:.1f} GiB by XLA's memory analysis, more "
                                                 f'than the {budget / 2**30:.1f} GiB one device may use')
        logging.info('lane scaling: %d lanes skipped: %s', n, out[str(n)].skipped)
        continue
      call = lambda compiled=compiled, lanes=lanes: block(compiled(lanes, source, table))
      seconds = best_time(call, 1)
      if seconds <= LONG_CALL_SECONDS and config.bench.repeats > 1:
        seconds = min(seconds, best_time(call, config.bench.repeats))
    except Exception as e:  # XLA raises its own runtime error type
      if not sweep.is_out_of_memory(e):
        raise
      out[str(n)] = result.ScalingCall(skipped=f'the device ran out of memory: {str(e).strip().splitlines()[0]}')
      continue
    out[str(n)] = result.ScalingCall(seconds, seconds / (n * scaled.steps) * 1e6)
    logging.info('lane scaling: %d lanes in %.3fs', n, seconds)
  return out


def peak_rss_mb() -> float:
  """The process's peak resident memory so far, MB (Linux reports ru_maxrss in KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> result.Machine:
  devices = jax.devices()
  return result.Machine(provenance.host_cpu(), os.cpu_count(), platform.platform(), jax.__version__,
                        jax.default_backend(), tuple(str(d) for d in devices), devices[0].device_kind)
