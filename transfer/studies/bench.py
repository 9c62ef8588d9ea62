"""Benchmark: the vmapped sweep vs the same JAX run one lane at a time vs a PyTorch per-run loop, on one grid; its
figures as benchmark.json and benchmark.md.

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
from transfer import io
from transfer import types
from transfer.run import experiment
from transfer.run import sources
from transfer.run import sweep
from transfer.studies import torch_loop
from transfer.train import models
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
  lanes: types.Lane
  sharded: tuple
  vmapped: object
  single: object
  compile_seconds: float


def prepare(config, dataset, source, name: str) -> Prepared:
  strategy = strategies.get(name)
  cells = sweep.config_grid(strategy, config)
  mesh = sweep.lane_mesh()
  lanes = types.stack_lanes(cells)
  width = sweep.chunk_width(len(cells), 0, mesh.size)
  sharded = sweep.shard(sweep.pad_to(lanes, width), source, dataset.arrays, mesh)
  train_fn = experiment.strategy_train_fn(config, dataset, strategy)
  start = time.perf_counter()
  vmapped = jax.jit(functools.partial(sweep.train_lanes, train_fn=train_fn)).lower(*sharded).compile()
  one = jax.tree.map(lambda a: a[0], lanes), jax.tree.map(lambda a: a[0], source), dataset.arrays
  single = jax.jit(train_fn).lower(*one).compile()
  return Prepared(name, cells, lanes, sharded, vmapped, single, time.perf_counter() - start)


def run_sequential(p: Prepared, source, arrays) -> None:
  """One call per lane, waiting for each result, as a per-run loop would."""
  for i in range(len(p.cells)):
    lane = jax.tree.map(lambda a, i=i: a[i], p.lanes)
    block(p.single(lane, jax.tree.map(lambda a, s=int(lane.seed): a[s], source), arrays))


def run_torch(config, dataset, source, p: Prepared) -> tuple[float, list[float]]:
  """Seconds in PyTorch training loops over every lane, and the accuracies they reach."""
  strategy = strategies.get(p.name)
  seconds, accuracies = 0.0, []
  for cell in p.cells:
    lane = types.Lane(*(jnp.asarray(v) for v in types.stack_lanes([cell])))
    lane = jax.tree.map(lambda a: a[0], lane)
    pool, test = dataset.data.target_splits(dataset.arrays, lane)
    accuracy, t = torch_loop.train_one(
        pool.x, pool.y, test.x, test.y, jax.tree.map(lambda a, s=cell['seed']: a[s], source), strategy=strategy,
        data_size=cell['data_size'], lr=config.lr, lr_mult=cell['lr_mult'] or 1.0, steps=config.steps,
        batch_size=config.batch_size, depth=config.model.depth, num_classes=dataset.data.target_classes,
        seed=cell['seed'])
    seconds += t
    accuracies.append(accuracy)
  return seconds, accuracies


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
    fn = jax.jit(functools.partial(sweep.train_lanes, train_fn=experiment.strategy_train_fn(timed, dataset, strategy)))
    block(fn(stacked, source, dataset.arrays))
    times.append(best_time(lambda fn=fn: block(fn(stacked, source, dataset.arrays)), 3))
  return (times[1] - times[0]) / (steps[1] - steps[0])


def lane_scaling(config, dataset, source, counts: tuple[int, ...]) -> dict[str, float]:
  """Seconds for one vmapped fine-tuning call of n lanes, per n: how the cost grows with the lane count."""
  strategy = strategies.get('fine_tuning')
  cells = sweep.config_grid(strategy, config)
  fn = jax.jit(functools.partial(sweep.train_lanes, train_fn=experiment.strategy_train_fn(config, dataset, strategy)))
  out = {}
  for n in counts:
    lanes = types.stack_lanes([cells[i % len(cells)] for i in range(n)])
    block(fn(lanes, source, dataset.arrays))
    out[str(n)] = best_time(lambda lanes=lanes: block(fn(lanes, source, dataset.arrays)), config.bench.repeats)
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
  dataset = experiment.prepare(config)
  source = sources.source_models(config, dataset, cache_dir)
  prepared = [prepare(config, dataset, source, name) for name in config.strategies]
  lanes = sum(len(p.cells) for p in prepared)
  logging.info('benchmark grid: %d lanes; compiled in %.1fs', lanes, sum(p.compile_seconds for p in prepared))
  vmap_seconds = best_time(lambda: [block(p.vmapped(*p.sharded)) for p in prepared], config.bench.repeats)
  logging.info('vmapped sweep: %.2fs', vmap_seconds)
  sequential_seconds = best_time(lambda: [run_sequential(p, source, dataset.arrays) for p in prepared], 1)
  logging.info('one lane at a time: %.2fs', sequential_seconds)
  torch_seconds = torch_accuracy = None
  if config.bench.torch and torch_loop.available():
    results = [run_torch(config, dataset, source, p) for p in prepared]
    torch_seconds = sum(r[0] for r in results)
    torch_accuracy = float(np.mean([a for r in results for a in r[1]]))
    logging.info('pytorch per-run loop: %.2fs', torch_seconds)
  jax_accuracy = float(np.mean([np.asarray(sweep.gather(p.vmapped(*p.sharded)['test_accuracy']))[:len(p.cells)]
                                for p in prepared]))  # gathered: on several hosts each holds only its own lanes
  model_gflop = sum(lane_gflop(config, strategies.get(p.name), max(config.data_sizes), dataset.data.target_classes)
                    * len(p.cells)
                    for p in prepared)
  peak = peak_matmul_gflops()
  step = functools.partial(step_seconds, config, dataset, source, lanes=config.bench.step_lanes,
                           steps=tuple(config.bench.step_counts))
  fe_step, ft_step = step('feature_extraction'), step('fine_tuning')
  peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the (larger) scaling calls
  scaling = lane_scaling(config, dataset, source, tuple(config.bench.lane_counts))
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


def fmt_figure(value, unit: str = '', digits: int = 2) -> str:
  return 'skipped (torch not installed)' if value is None else f'{value:.{digits}f}{unit}'


def markdown(b: dict) -> str:
  g, m = b['grid'], b['machine']
  rows = [
      ('vmapped sweep (`jit(vmap(train))`, one call per strategy)', fmt_figure(b['vmap_seconds'], ' s')),
      ('same JAX training, one lane per call', fmt_figure(b['sequential_seconds'], ' s')),
      ('PyTorch, one Python training loop per run', fmt_figure(b['torch_seconds'], ' s')),
      ('speed-up of the sweep over one lane per call', fmt_figure(b['speedup_vs_sequential'], 'x', 1)),
      ('speed-up of the sweep over PyTorch', fmt_figure(b['speedup_vs_torch'], 'x', 1)),
      ('compilation (apart from the above)', fmt_figure(b['compile_seconds'], ' s')),
      ('model matmul work of the sweep', fmt_figure(b['model_gflop'], ' GFLOP', 1)),
      ('achieved during the sweep', fmt_figure(b['achieved_gflops'], ' GFLOP/s', 1)),
      ('peak f32 matmul, measured in the same run', fmt_figure(b['peak_gflops'], ' GFLOP/s', 1)),
      ('fraction of peak', fmt_figure(100 * b['fraction_of_peak'], ' %', 1)),
      (f'one feature-extraction step ({b["step_lanes"]} lanes)', fmt_figure(1e3 * b['fe_step_seconds'], ' ms', 3)),
      (f'one fine-tuning step ({b["step_lanes"]} lanes)', fmt_figure(1e3 * b['ft_step_seconds'], ' ms', 3)),
      ('fine-tuning step / feature-extraction step', fmt_figure(b['ft_over_fe_step'], 'x', 1)),
      ('mean test accuracy, JAX / PyTorch (sanity: same job)',
       f"{b['mean_test_accuracy']['jax']:.3f} / {fmt_figure(b['mean_test_accuracy']['torch'], '', 3)}"),
      ('peak resident memory (everything above)', fmt_figure(b['peak_rss_mb'], ' MB', 0)),
  ] + [(f'one vmapped fine-tuning call of {n} lane(s), one device', fmt_figure(t, ' s', 3))
       for n, t in b['lane_scaling_seconds'].items()] + [
      ('peak resident memory including those calls', fmt_figure(b['lane_scaling_peak_rss_mb'], ' MB', 0))]
  lines = ['# Benchmark', '',
           f"Machine: {m['cpu']}, {m['cores']} cores, {b['devices']} JAX device(s) ({m['device_kind']}), "
           f"jax {m['jax']}.",
           f"Grid: {', '.join(g['strategies'])} x {g['seeds']} seeds x data sizes {g['data_sizes']} x shifts "
           f"{g['shifts']} = {g['lanes']} runs of {g['steps']} steps (batch {g['batch_size']}).", '',
           '| measure | value |', '|---|---|'] + [f'| {k} | {v} |' for k, v in rows]
  return '\n'.join(lines) + '\n'


def write(out_dir: str, figures: dict) -> None:
  io.makedirs(out_dir)
  io.write_json(os.path.join(out_dir, 'benchmark.json'), figures)
  io.write_text(os.path.join(out_dir, 'benchmark.md'), markdown(figures))
