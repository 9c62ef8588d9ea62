"""Benchmark: the vmapped sweep vs the same JAX run one lane at a time vs a PyTorch per-run loop, on one grid; its
figures as benchmark.json and benchmark.md. This module checks the benchmark's config (`check`) and measures every
figure in one fixed order (`run`); each concern lives in its own module:

  measure   timing the sweep, its baselines (one lane per call, PyTorch), step costs and lane scaling
  cost      the work counted (an analytic matmul count, XLA's cost analysis), the measured peak and bandwidth,
            the roofline, and what the sweep's per-lane matmuls reach alone
  profile   where the device time goes, from jax.profiler traces
  result    the typed result (`BenchResult`) and its JSON form
  render    benchmark.md, and the sentence saying what limits the sweep

Also measured: the PyTorch loop on the GPU where torch sees one; the sweep with bfloat16 matmuls (`bench.bf16`,
float32 parameters and optimizer: `models.MLP.dtype`); one vmapped call per lane count (`bench.lane_counts`), skipped
where XLA's memory analysis says it would not fit the device. The figures of the last run on this repository's
machine are in outputs/benchmark/benchmark.md.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time

from absl import logging
import jax
import jax.numpy as jnp

from transfer import compiler
from transfer import errors
from transfer import io
from transfer.run import experiment
from transfer.run import sources
from transfer.run import sweep
from transfer.run import validate
from transfer.studies.bench import cost
from transfer.studies.bench import measure
from transfer.studies.bench import profile
from transfer.studies.bench import render
from transfer.studies.bench import result
from transfer.train import models
from transfer.train import strategies


def is_count(x, least: int = 1) -> bool:
  return isinstance(x, int) and not isinstance(x, bool) and x >= least


def check(config) -> None:
  """The benchmark's own fields (config.bench): one ConfigError naming the first that is out of range."""
  b = config.bench
  validate.require(is_count(b.repeats), 'bench.repeats', b.repeats, 'an integer >= 1')
  validate.require(is_count(b.step_lanes), 'bench.step_lanes', b.step_lanes, 'an integer >= 1')
  validate.require(len(b.step_counts) == 2 and all(is_count(n) for n in b.step_counts)
                   and b.step_counts[0] < b.step_counts[1], 'bench.step_counts', b.step_counts,
                   'two step counts >= 1, the first smaller')
  validate.require(len(b.lane_counts) > 0 and all(is_count(n) for n in b.lane_counts), 'bench.lane_counts',
                   b.lane_counts, 'a non-empty tuple of lane counts >= 1')
  validate.require(is_count(b.scaling_data_size, 0), 'bench.scaling_data_size', b.scaling_data_size,
                   "an integer >= 0 (0: the grid's largest data size)")
  validate.require(validate.is_number(b.bandwidth_mb) and b.bandwidth_mb > 0, 'bench.bandwidth_mb', b.bandwidth_mb,
                   'a number of megabytes > 0')
  validate.require(len(b.peak_sizes) > 0 and all(is_count(n) for n in b.peak_sizes), 'bench.peak_sizes',
                   b.peak_sizes, 'a non-empty tuple of matrix sizes >= 1')
  validate.require(isinstance(b.bf16, bool), 'bench.bf16', b.bf16, 'True or False')
  validate.require(isinstance(b.torch, bool), 'bench.torch', b.torch, 'True or False')


def bf16_sweep(config, dataset, source, vmap_seconds: float, jax_accuracy: float) -> result.Bf16:
  """The sweep again with bfloat16 matmuls: its time, speed and accuracy against float32, and the bfloat16 peak."""
  half = [measure.prepare(config, dataset, source, names, dtype=jnp.bfloat16, single=False)
          for names in program_names(config)]
  seconds = measure.best_time(lambda: [measure.block(p.vmapped(*p.sharded)) for p in half], config.bench.repeats)
  accuracy = measure.mean_accuracy(half)
  figures = result.Bf16(seconds, vmap_seconds / seconds, accuracy, accuracy - jax_accuracy,
                        sum(p.compile_seconds for p in half),
                        cost.peak_matmul_gflops(tuple(config.bench.peak_sizes), dtype=jnp.bfloat16))
  logging.info('vmapped sweep in bfloat16: %.2fs', seconds)
  return figures


def program_names(config) -> list[list[str]]:
  """The benchmark's strategies grouped by the program their lanes share, as an experiment's sweep groups them."""
  return [[s.name for s in group] for group in strategies.by_program([strategies.get(n) for n in config.strategies])]


def run(config, cache_dir: str) -> result.BenchResult:
  """Every figure of the benchmark on `config`'s grid (source models cached under `cache_dir`)."""
  mlp = models.resolved_name(config.model, (config.data.input_dim,)) == 'mlp'
  if config.data.name != 'synthetic' or config.data.get('module') or not mlp:
    raise errors.ConfigError('the benchmark counts the FLOPs of an MLP on synthetic data: keep config.data.name = '
                             "'synthetic' (no data.module) and config.model.name = 'auto' or 'mlp'")
  check(config)
  dataset = experiment.prepare(config)
  source = sources.source_models(config, dataset, cache_dir)
  start = time.perf_counter()
  table = jax.block_until_ready(experiment.data_table(config, dataset))  # every (seed, shift)'s data, once
  table_seconds = time.perf_counter() - start  # its program's compilation and first run
  prepared = [measure.prepare(config, dataset, source, names, table=table) for names in program_names(config)]
  lanes = sum(len(p.cells) for p in prepared)
  logging.info('benchmark grid: %d lanes; sweep programs compiled in %.1fs, one-lane programs in %.1fs', lanes,
               sum(p.compile_seconds for p in prepared), sum(p.single_compile_seconds for p in prepared))
  # the sweep's time includes rendering the data table, as an experiment's does
  vmap_seconds = measure.best_time(lambda: [measure.block(experiment.data_table(config, dataset))] +
                                   [measure.block(p.vmapped(*p.sharded)) for p in prepared], config.bench.repeats)
  logging.info('vmapped sweep: %.2fs', vmap_seconds)
  sequential_seconds = measure.best_time(lambda: [measure.run_sequential(p, source, dataset.arrays)
                                                  for p in prepared], 1)
  logging.info('one lane at a time: %.2fs', sequential_seconds)
  jax_accuracy = measure.mean_accuracy(prepared)
  torch_seconds, torch_accuracy, torch_gpu, torch_skipped = measure.torch_baseline(config, dataset, source, prepared,
                                                                                   vmap_seconds)
  bf16 = bf16_sweep(config, dataset, source, vmap_seconds, jax_accuracy) if config.bench.bf16 else None
  profiled = profile.sweep_profile(prepared, config.steps)
  work = cost.sweep_cost(config, dataset, prepared)
  peak = cost.peak_matmul_gflops(tuple(config.bench.peak_sizes))
  matmul_lanes = sweep.chunk_width(max(len(p.cells) for p in prepared), 0, len(jax.devices()))  # its widest call
  lane_matmul = cost.lane_matmul_gflops(config, dataset.data.target_classes, matmul_lanes)
  bandwidth = cost.bandwidth_gbs(config.bench.bandwidth_mb)
  bound = cost.roofline(work.analytic_gflop if work.xla_gflop is None else work.xla_gflop, work.gbytes, peak,
                        bandwidth)
  step = functools.partial(measure.step_seconds, config, dataset, source, lanes=config.bench.step_lanes,
                           steps=tuple(config.bench.step_counts))
  fe_step, ft_step = step('feature_extraction'), step('fine_tuning')
  peak_rss_mb = measure.peak_rss_mb()  # before the (larger) scaling calls
  scaling = measure.lane_scaling(config, dataset, source, tuple(config.bench.lane_counts))
  figures = result.BenchResult(
      grid=result.Grid(tuple(config.strategies), config.seeds, tuple(config.data_sizes), tuple(config.shifts), lanes,
                       config.steps, config.batch_size, config.model.width, config.model.depth),
      vmap_seconds=vmap_seconds, sequential_seconds=sequential_seconds, torch_seconds=torch_seconds,
      torch_skipped=torch_skipped, torch_gpu=torch_gpu, compile_seconds=sum(p.compile_seconds for p in prepared),
      table_first_call_seconds=table_seconds,
      sweep_programs=len(prepared) + 1,  # one per group of strategies sharing one, and the data table's
      single_compile_seconds=sum(p.single_compile_seconds for p in prepared), compiler_options=compiler.options(),
      cost=work, peak_gflops=peak, lane_matmul_gflops=lane_matmul,
      lane_matmul_lanes=matmul_lanes, bandwidth_gbs=bandwidth, bandwidth_mb=config.bench.bandwidth_mb, roofline=bound,
      bf16=bf16, profile=profiled, fe_step_seconds=fe_step, ft_step_seconds=ft_step,
      step_lanes=config.bench.step_lanes, lane_scaling=scaling,
      lane_scaling_data_size=config.bench.scaling_data_size or max(config.data_sizes), jax_accuracy=jax_accuracy,
      torch_accuracy=torch_accuracy, peak_rss_mb=peak_rss_mb, lane_scaling_peak_rss_mb=measure.peak_rss_mb(),
      devices=len(jax.devices()), machine=measure.machine(), limit='')
  return dataclasses.replace(figures, limit=render.limit_sentence(figures))


def write(out_dir: str, figures: result.BenchResult) -> None:
  """benchmark.json and benchmark.md in `out_dir`."""
  io.makedirs(out_dir)
  io.write_json(os.path.join(out_dir, 'benchmark.json'), figures.to_json())
  io.write_text(os.path.join(out_dir, 'benchmark.md'), render.markdown(figures))


def run_and_write(config, out_dir: str) -> str:
  """The benchmark on `config` (its source models cached as every experiment's are, sources.cache_dir), written to
  `out_dir`; returns its markdown."""
  figures = run(config, sources.cache_dir(config, out_dir))
  write(out_dir, figures)
  return render.markdown(figures)
