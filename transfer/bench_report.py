"""benchmark.json and benchmark.md from the benchmark's figures."""

from __future__ import annotations

import os

from transfer import report


def fmt(value, unit: str = '', digits: int = 2) -> str:
  return 'skipped (torch not installed)' if value is None else f'{value:.{digits}f}{unit}'


def markdown(b: dict) -> str:
  g, m = b['grid'], b['machine']
  rows = [
      ('vmapped sweep (`jit(vmap(train))`, one call per strategy)', fmt(b['vmap_seconds'], ' s')),
      ('same JAX training, one lane per call', fmt(b['sequential_seconds'], ' s')),
      ('PyTorch, one Python training loop per run', fmt(b['torch_seconds'], ' s')),
      ('speed-up of the sweep over one lane per call', fmt(b['speedup_vs_sequential'], 'x', 1)),
      ('speed-up of the sweep over PyTorch', fmt(b['speedup_vs_torch'], 'x', 1)),
      ('compilation (apart from the above)', fmt(b['compile_seconds'], ' s')),
      ('model matmul work of the sweep', fmt(b['model_gflop'], ' GFLOP', 1)),
      ('achieved during the sweep', fmt(b['achieved_gflops'], ' GFLOP/s', 1)),
      ('peak f32 matmul, measured in the same run', fmt(b['peak_gflops'], ' GFLOP/s', 1)),
      ('fraction of peak', fmt(100 * b['fraction_of_peak'], ' %', 1)),
      (f'one feature-extraction step ({b["step_lanes"]} lanes)', fmt(1e3 * b['fe_step_seconds'], ' ms', 3)),
      (f'one fine-tuning step ({b["step_lanes"]} lanes)', fmt(1e3 * b['ft_step_seconds'], ' ms', 3)),
      ('fine-tuning step / feature-extraction step', fmt(b['ft_over_fe_step'], 'x', 1)),
      ('mean test accuracy, JAX / PyTorch (sanity: same job)',
       f"{b['mean_test_accuracy']['jax']:.3f} / {fmt(b['mean_test_accuracy']['torch'], '', 3)}"),
      ('peak resident memory (everything above)', fmt(b['peak_rss_mb'], ' MB', 0)),
  ] + [(f'one vmapped fine-tuning call of {n} lane(s), one device', fmt(t, ' s', 3))
       for n, t in b['lane_scaling_seconds'].items()] + [
      ('peak resident memory including those calls', fmt(b['lane_scaling_peak_rss_mb'], ' MB', 0))]
  lines = ['# Benchmark', '',
           f"Machine: {m['cpu']}, {m['cores']} cores, {b['devices']} JAX device(s) ({m['device_kind']}), "
           f"jax {m['jax']}.",
           f"Grid: {', '.join(g['strategies'])} x {g['seeds']} seeds x data sizes {g['data_sizes']} x shifts "
           f"{g['shifts']} = {g['lanes']} runs of {g['steps']} steps (batch {g['batch_size']}).", '',
           '| measure | value |', '|---|---|'] + [f'| {k} | {v} |' for k, v in rows]
  return '\n'.join(lines) + '\n'


def write(out_dir: str, figures: dict) -> None:
  os.makedirs(out_dir, exist_ok=True)
  report.write_json(os.path.join(out_dir, 'benchmark.json'), figures)
  report.write_text(os.path.join(out_dir, 'benchmark.md'), markdown(figures))
