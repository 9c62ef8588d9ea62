"""Benchmark: the vmapped sweep vs the same JAX run one lane at a time vs a PyTorch per-run loop, on one grid.

Everything is timed after compilation (compile time is reported apart), in one process, on the same data and
pre-trained weights. FLOPs are counted from the model's matmuls; the machine's peak is a large f32 matmul measured
in the same run.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import resource
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from transfer import errors
from transfer import experiment
from transfer import models
from transfer import strategies
from transfer import sweep
from transfer import torch_reference
from transfer import train


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


def peak_matmul_gflops(sizes=(1024, 2048), repeats: int = 5) -> float:
  """Best f32 matmul throughput over a few square sizes: the machine's practical peak."""
  best = 0.0
  for n in sizes:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    block(f(a))
    best = max(best, 2 * n ** 3 / best_time(lambda: block(f(a)), repeats) / 1e9)
  return best


def dense_shapes(config, num_classes: int) -> tuple[list[tuple[int, int]], tuple[int, int]]:
  """(in, out) of every backbone layer, and of the head."""
  dims = [config.data.input_dim] + [config.model.width] * config.model.depth
  return list(zip(dims[:-1], dims[1:])), (config.model.width, num_classes)


def lane_gflop(config, strategy: strategies.Strategy, data_size_pool: int, num_classes: int) -> float:
  """Model matmul GFLOP of one run: training steps (forward + backward) and the test-set evaluation.

  A frozen backbone costs one forward pass over the pool (its features are computed once) and no backward.
  """
  backbone, head = dense_shapes(config, num_classes)
  fwd_backbone = sum(2 * i * o for i, o in backbone)
  fwd_head = 2 * head[0] * head[1]
  rows = config.steps * config.batch_size
  if strategy.backbone == 'frozen':
    train_flop = data_size_pool * fwd_backbone + rows * 2 * fwd_head  # head: forward + weight gradient
  else:
    input_grads = fwd_backbone - 2 * backbone[0][0] * backbone[0][1]  # no gradient w.r.t. the input itself
    train_flop = rows * (2 * (fwd_backbone + fwd_head) + input_grads + fwd_head)
  return (train_flop + config.data.test_size * (fwd_backbone + fwd_head)) / 1e9


@dataclasses.dataclass
class Prepared:
  """One strategy's lanes, and its vmapped and single-lane programs, compiled."""

  name: str
  cells: list
  lanes: train.Lane
  sharded: tuple
  vmapped: object
  single: object
  compile_seconds: float


def prepare(config, data, source, name: str) -> Prepared:
  strategy = strategies.get(name)
  cells = sweep.config_grid(strategy, config)
  mesh = sweep.lane_mesh()
  lanes = sweep.stack_lanes(cells)
  width = sweep.chunk_width(len(cells), 0, mesh.size)
  sharded = sweep.shard(sweep.pad_to(lanes, width), source, data.arrays, mesh)
  train_fn = experiment.strategy_train_fn(config, data, strategy)
  start = time.perf_counter()
  vmapped = jax.jit(functools.partial(sweep.train_lanes, train_fn=train_fn)).lower(*sharded).compile()
  one = jax.tree.map(lambda a: a[0], lanes), jax.tree.map(lambda a: a[0], source), data.arrays
  single = jax.jit(train_fn).lower(*one).compile()
  return Prepared(name, cells, lanes, sharded, vmapped, single, time.perf_counter() - start)


def run_sequential(p: Prepared, source, arrays) -> None:
  """One call per lane, waiting for each result, as a per-run loop would."""
  for i in range(len(p.cells)):
    lane = jax.tree.map(lambda a, i=i: a[i], p.lanes)
    block(p.single(lane, jax.tree.map(lambda a, s=int(lane.seed): a[s], source), arrays))


def run_torch(config, data, source, p: Prepared) -> tuple[float, list[float]]:
  """Seconds in PyTorch training loops over every lane, and the accuracies they reach."""
  strategy = strategies.get(p.name)
  seconds, accuracies = 0.0, []
  for cell in p.cells:
    lane = train.Lane(*(jnp.asarray(v) for v in sweep.stack_lanes([cell])))
    lane = jax.tree.map(lambda a: a[0], lane)
    pool, test = data.source.target_splits(data.arrays, lane)
    accuracy, t = torch_reference.train_one(
        pool.x, pool.y, test.x, test.y, jax.tree.map(lambda a, s=cell['seed']: a[s], source), strategy=strategy,
        data_size=cell['data_size'], lr=config.lr, lr_mult=cell['lr_mult'] or 1.0, steps=config.steps,
        batch_size=config.batch_size, depth=config.model.depth, num_classes=data.source.target_classes, seed=cell['seed'])
    seconds += t
    accuracies.append(accuracy)
  return seconds, accuracies


def step_seconds(config, data, source, name: str, *, lanes: int, steps: tuple[int, int]) -> float:
  """Marginal cost of one optimizer step of `lanes` vmapped lanes: (t(steps[1]) - t(steps[0])) / difference."""
  strategy = strategies.get(name)
  cells = [dict(seed=i % config.seeds, data_size=max(config.data_sizes), shift=0.0, lr_mult=0.1, layers_copied=None)
           for i in range(lanes)]
  stacked = sweep.stack_lanes(cells)
  times = []
  for n in steps:
    timed = config.copy_and_resolve_references()
    with timed.unlocked():
      timed.steps = n
    fn = jax.jit(functools.partial(sweep.train_lanes, train_fn=experiment.strategy_train_fn(timed, data, strategy)))
    block(fn(stacked, source, data.arrays))
    times.append(best_time(lambda fn=fn: block(fn(stacked, source, data.arrays)), 3))
  return (times[1] - times[0]) / (steps[1] - steps[0])


def lane_scaling(config, data, source, counts: tuple[int, ...]) -> dict[str, float]:
  """Seconds for one vmapped fine-tuning call of n lanes, per n: how the cost grows with the lane count."""
  strategy = strategies.get('fine_tuning')
  cells = sweep.config_grid(strategy, config)
  fn = jax.jit(functools.partial(sweep.train_lanes, train_fn=experiment.strategy_train_fn(config, data, strategy)))
  out = {}
  for n in counts:
    lanes = sweep.stack_lanes([cells[i % len(cells)] for i in range(n)])
    block(fn(lanes, source, data.arrays))
    out[str(n)] = best_time(lambda lanes=lanes: block(fn(lanes, source, data.arrays)), config.bench.repeats)
  return out


def machine() -> dict:
  cpu = platform.processor()
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
    cpu = names[0] if names else cpu
  return {'cpu': cpu, 'cores': os.cpu_count(), 'platform': platform.platform(), 'jax': jax.__version__,
          'devices': [str(d) for d in jax.devices()], 'device_kind': jax.devices()[0].device_kind}


def run(config, cache_dir: str) -> dict:
  """Every figure of the benchmark on `config`'s grid; returns them as a JSON-ready dict."""
  if config.data.name != 'synthetic' or models.resolved_name(config.model, (config.data.input_dim,)) != 'mlp':
    raise errors.ConfigError('the benchmark counts the FLOPs of an MLP on synthetic data: keep config.data.name = '
                             "'synthetic' and config.model.name = 'auto' or 'mlp'")
  data = experiment.prepare(config)
  source = experiment.pretrained_sources(config, data, cache_dir)
  prepared = [prepare(config, data, source, name) for name in config.strategies]
  lanes = sum(len(p.cells) for p in prepared)
  logging.info('benchmark grid: %d lanes; compiled in %.1fs', lanes, sum(p.compile_seconds for p in prepared))
  vmap_seconds = best_time(lambda: [block(p.vmapped(*p.sharded)) for p in prepared], config.bench.repeats)
  logging.info('vmapped sweep: %.2fs', vmap_seconds)
  sequential_seconds = best_time(lambda: [run_sequential(p, source, data.arrays) for p in prepared], 1)
  logging.info('one lane at a time: %.2fs', sequential_seconds)
  torch_seconds = torch_accuracy = None
  if config.bench.torch and torch_reference.available():
    results = [run_torch(config, data, source, p) for p in prepared]
    torch_seconds = sum(r[0] for r in results)
    torch_accuracy = float(np.mean([a for r in results for a in r[1]]))
    logging.info('pytorch per-run loop: %.2fs', torch_seconds)
  jax_accuracy = float(np.mean([np.asarray(p.vmapped(*p.sharded)['test_accuracy'])[:len(p.cells)]
                                for p in prepared]))
  model_gflop = sum(lane_gflop(config, strategies.get(p.name), max(config.data_sizes), data.source.target_classes) * len(p.cells)
                    for p in prepared)
  peak = peak_matmul_gflops()
  step = functools.partial(step_seconds, config, data, source, lanes=config.bench.step_lanes,
                           steps=tuple(config.bench.step_counts))
  fe_step, ft_step = step('feature_extraction'), step('fine_tuning')
  peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the (larger) scaling calls
  scaling = lane_scaling(config, data, source, tuple(config.bench.lane_counts))
  return {
      'grid': {'strategies': list(config.strategies), 'seeds': config.seeds, 'data_sizes': list(config.data_sizes),
               'shifts': list(config.shifts), 'lanes': lanes, 'steps': config.steps,
               'batch_size': config.batch_size},
      'vmap_seconds': vmap_seconds, 'sequential_seconds': sequential_seconds, 'torch_seconds': torch_seconds,
      'compile_seconds': sum(p.compile_seconds for p in prepared),
      'speedup_vs_sequential': sequential_seconds / vmap_seconds,
      'speedup_vs_torch': None if torch_seconds is None else torch_seconds / vmap_seconds,
      'model_gflop': model_gflop,
      'peak_gflops': peak, 'achieved_gflops': model_gflop / vmap_seconds,
      'fraction_of_peak': model_gflop / vmap_seconds / peak,
      'fe_step_seconds': fe_step, 'ft_step_seconds': ft_step, 'ft_over_fe_step': ft_step / fe_step,
      'step_lanes': config.bench.step_lanes, 'lane_scaling_seconds': scaling,
      'mean_test_accuracy': {'jax': jax_accuracy, 'torch': torch_accuracy},
      'peak_rss_mb': peak_rss_mb,
      'lane_scaling_peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      'devices': len(jax.devices()), 'machine': machine(),
  }
