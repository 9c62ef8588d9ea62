"""The benchmark as markdown (benchmark.md): its table of figures and the sentence saying what limits the sweep,
from a `BenchResult` (measured now, or read back from benchmark.json by `BenchResult.from_json`)."""

from __future__ import annotations

from transfer.studies.bench.result import BenchResult
from transfer.studies.bench.result import OpProfile
from transfer.studies.bench.result import ScalingCall

NO_TORCH = 'skipped (torch not installed)'


def limit_sentence(b: BenchResult) -> str:
  """What limits the sweep, from its figures: the roofline's bound where the sweep comes within half of it, else the
  overhead between the two. Bytes that would take longer at the measured bandwidth than the sweep took are not a
  bound: XLA counts a minibatch gather's whole pool as read (every step), which caches serve; then FLOPs decide."""
  r, g, seconds = b.roofline, b.grid, b.vmap_seconds
  lead, bound, fraction, of = '', r.bound, r.seconds / seconds, 'roofline'
  if r.memory_seconds is not None and r.memory_seconds > seconds:
    lead = (f"Not memory: XLA's {b.gbytes_accessed:.3g} GB accessed would take {r.memory_seconds:.3g} s at the "
            f'measured bandwidth, longer than the sweep took ({seconds:.3g} s), so they overstate its traffic (XLA '
            "counts each minibatch gather's whole pool as read; caches serve the re-reads). ")
    bound, fraction, of = 'compute', r.compute_seconds / seconds, 'compute bound (FLOPs / peak)'
  what = 'the matmul peak' if bound == 'compute' else 'memory bandwidth'
  if fraction >= 0.5:
    return lead + (f'{bound.capitalize()}-bound: the sweep runs at {fraction:.0%} of its {of}, so {what} is what '
                   'limits it.')
  alone = '' if b.lane_matmul_gflops is None else (
      f" On their own, the sweep's per-lane matmuls reach {b.lane_matmul_gflops:.1f} GFLOP/s with this backend's "
      f'kernels ({b.lane_matmul_lanes} lanes of {g.batch_size} rows), {b.lane_matmul_fraction_of_peak:.0%} of the '
      f'peak, and the sweep runs at {b.sweep_over_lane_matmul:.0%} of that.')
  profile = None if b.profile is None else b.profile.sweep
  if profile is None:
    return lead + (f'Overhead, not {what}: the sweep takes {1 / fraction:.1f}x its {of} time, so the gap is per-step '
                   'loop and launch overhead and the inefficiency of small per-lane matmuls '
                   f"({g.batch_size} rows by {g.width} wide), not the machine's {what}." + alone)
  share = profile.share
  return lead + (f'Not {what} alone: the sweep takes {1 / fraction:.1f}x its {of} time. The profiler puts '
                 f'{share.matmul:.0%} of the device time in matmuls (per-lane, {g.batch_size} rows by '
                 f"{g.width} wide, below the peak that large ones reach), {share.fused:.0%} in XLA's generated "
                 'code (the Adam update, activations, losses, random minibatch draws and data generation) and '
                 f"{share.copy:.0%} in copies and transposes; {1 - profile.per_step_share:.0%} of it runs once "
                 'per run (generating each lane\'s data, initialising, evaluating), not in the steps.' + alone)


def profile_rows(b: BenchResult) -> list[tuple[str, OpProfile | None]]:
  """('sweep', its profile) then each strategy's; none for figures written before the benchmark profiled."""
  return [] if b.profile is None else [('sweep', b.profile.sweep)] + list(b.profile.per_strategy.items())


def profile_text(r: OpProfile | None) -> str:
  if r is None:
    return 'no per-op events in this backend\'s trace'
  share = r.share
  return (f"matmuls {share.matmul:.0%}, XLA's generated code {share.fused:.0%}, copies and transposes "
          f'{share.copy:.0%}; in every step {r.per_step_share:.0%}, once per run {1 - r.per_step_share:.0%}')


def fmt_figure(value, unit: str = '', digits: int = 2, missing: str = NO_TORCH) -> str:
  return missing if value is None else f'{value:.{digits}f}{unit}'


def scaling_row(n: str, r: ScalingCall) -> tuple[str, str]:
  if r.skipped is not None:
    return f'one vmapped fine-tuning call of {n} lane(s), one device', f'skipped: {r.skipped}'
  return (f'one vmapped fine-tuning call of {n} lane(s), one device',
          f'{r.seconds:.3f} s ({r.us_per_lane_step:.2f} µs per lane-step)')


def markdown(b: BenchResult) -> str:
  """benchmark.md: the machine and grid, a table of every figure, and what limits the sweep."""
  g, m = b.grid, b.machine
  no_torch = b.torch_skipped or NO_TORCH
  cost, r, half, gpu = b.cost, b.roofline, b.bf16, b.torch_gpu
  counted = ('XLA cost analysis, loop bodies x trip count' if cost.loops_scaled else 'XLA cost analysis')
  no_xla = 'not reported by this backend'
  rows = [
      ('vmapped sweep (`jit(vmap(train))`, one call per program, and the data table they share)',
       fmt_figure(b.vmap_seconds, ' s')),
      ('same JAX training, one lane per call', fmt_figure(b.sequential_seconds, ' s')),
      ('PyTorch, one Python training loop per run', fmt_figure(b.torch_seconds, ' s', missing=no_torch)),
      ('PyTorch on GPU' + (f' ({gpu.device})' if gpu else '') + ', one Python training loop per run',
       fmt_figure(gpu and gpu.seconds, ' s', missing=no_torch if b.torch_seconds is None else
                  'skipped (torch sees no CUDA device)')),
      ('speed-up of the sweep over one lane per call', fmt_figure(b.speedup_vs_sequential, 'x', 1)),
      ('speed-up of the sweep over PyTorch', fmt_figure(b.speedup_vs_torch, 'x', 1, missing=no_torch)),
  ] + ([('speed-up of the sweep over PyTorch on GPU', fmt_figure(gpu.speedup, 'x', 1))] if gpu else []) + [
      ("compilation of the sweep's programs (apart from the above)",
       fmt_figure(b.compile_seconds, ' s')),
      ('compilation / sweep', fmt_figure(b.compile_over_sweep, 'x', 2)),
      ("distinct programs (one per strategy, scratch's in fine-tuning's, and the data table's)",
       fmt_figure(b.sweep_programs, '', 0)),
      ("the data table's first call (its compilation and one rendering of every seed and shift)",
       fmt_figure(b.table_first_call_seconds, ' s')),
      ('compilation of the one-lane programs (the baseline above only)', fmt_figure(b.single_compile_seconds, ' s')),
      ('model matmul work of the sweep (analytic count)', fmt_figure(b.model_gflop, ' GFLOP', 1)),
      (f'work of the sweep ({counted})', fmt_figure(b.xla_gflop, ' GFLOP', 1, missing=no_xla)),
      (f'bytes accessed by the sweep ({counted})', fmt_figure(b.gbytes_accessed, ' GB', 1, missing=no_xla)),
      ('achieved during the sweep (analytic matmul count)', fmt_figure(b.achieved_gflops, ' GFLOP/s', 1)),
      ('peak f32 matmul, measured in the same run', fmt_figure(b.peak_gflops, ' GFLOP/s', 1)),
      ('fraction of peak (analytic matmul count)', fmt_figure(100 * b.fraction_of_peak, ' %', 1)),
      (f"fraction of peak ({'XLA' if b.xla_gflop is not None else 'analytic'} FLOPs)",
       fmt_figure(100 * b.xla_fraction_of_peak, ' %', 1)),
  ] + ([
      (f"the sweep's per-lane matmuls alone (every layer's forward and gradients, {b.lane_matmul_lanes} lanes of "
       f'{g.batch_size} rows, no other op), measured in the same run',
       f'{b.lane_matmul_gflops:.1f} GFLOP/s ({100 * b.lane_matmul_fraction_of_peak:.1f} % of peak)'),
      ('achieved during the sweep / those matmuls alone', fmt_figure(100 * b.sweep_over_lane_matmul, ' %', 1)),
  ] if b.lane_matmul_gflops is not None else []) + [
      (f'memory bandwidth (`x + 1` on {b.bandwidth_mb:g} MB), measured in the same run',
       fmt_figure(b.bandwidth_gbs, ' GB/s', 1)),
      ('roofline time: max(FLOPs / peak, bytes / bandwidth)',
       f'{r.seconds:.3g} s ({r.bound}-bound; FLOPs / peak {r.compute_seconds:.3g} s, bytes / bandwidth '
       + ('unknown)' if r.memory_seconds is None else f'{r.memory_seconds:.3g} s)')),
      ('fraction of roofline (roofline time / sweep time)', fmt_figure(100 * b.fraction_of_roofline, ' %', 1)),
  ] + ([
      ('vmapped sweep with bfloat16 matmuls (float32 parameters and optimizer)', fmt_figure(half.vmap_seconds, ' s')),
      ('speed of bfloat16 over float32 (f32 time / bf16 time)', fmt_figure(half.speedup, 'x', 2)),
      ('mean test accuracy, bfloat16 minus float32', f'{half.accuracy_change:+.4f}'),
      ('peak bfloat16 matmul, measured in the same run', fmt_figure(half.peak_gflops, ' GFLOP/s', 1)),
  ] if half else []) + [
      (f'one feature-extraction step ({b.step_lanes} lanes)', fmt_figure(1e3 * b.fe_step_seconds, ' ms', 3)),
      (f'one fine-tuning step ({b.step_lanes} lanes)', fmt_figure(1e3 * b.ft_step_seconds, ' ms', 3)),
      ('fine-tuning step / feature-extraction step', fmt_figure(b.ft_over_fe_step, 'x', 1)),
      ('mean test accuracy, JAX / PyTorch (sanity: same job)',
       f'{b.jax_accuracy:.3f} / {fmt_figure(b.torch_accuracy, "", 3, no_torch)}'),
  ] + [(f"where the sweep's device time goes{'' if name == 'sweep' else f' ({name})'} (jax.profiler, own op seconds)",
        profile_text(p)) for name, p in profile_rows(b)] + (
      [('mean test accuracy, PyTorch on GPU', fmt_figure(gpu.mean_test_accuracy, '', 3))] if gpu else []) + [
      ('peak resident memory (everything above)', fmt_figure(b.peak_rss_mb, ' MB', 0)),
  ] + [scaling_row(n, s) for n, s in b.lane_scaling.items()] + [
      ('peak resident memory including those calls', fmt_figure(b.lane_scaling_peak_rss_mb, ' MB', 0))]
  lines = ['# Benchmark', '',
           f'Machine: {m.cpu}, {m.cores} cores, {b.devices} JAX device(s) ({m.device_kind}), '
           f"jax {m.jax}; compiler options {b.compiler_options or 'XLA defaults'}.",
           f"Grid: {', '.join(g.strategies)} x {g.seeds} seeds x data sizes {list(g.data_sizes)} x shifts "
           f'{list(g.shifts)} = {g.lanes} runs of {g.steps} steps (batch {g.batch_size}).',
           f'Lane scaling: fine-tuning runs of {g.steps} steps on target pools of {b.lane_scaling_data_size} '
           'examples.', '',
           '| measure | value |', '|---|---|'] + [f'| {k} | {v} |' for k, v in rows]
  return '\n'.join(lines) + '\n\n' + f'**What limits the sweep:** {b.limit}\n'
