"""The benchmark's smoke variant runs and reports every figure the issue asks for; FLOP counting is sane."""

import json

import pytest

from configs import bench as bench_config
from transfer.studies import bench
from transfer.train import strategies

KEYS = ('vmap_seconds', 'sequential_seconds', 'torch_seconds', 'compile_seconds', 'model_gflop', 'peak_gflops',
        'achieved_gflops', 'fe_step_seconds', 'ft_step_seconds', 'peak_rss_mb', 'devices', 'lane_scaling_seconds')


def test_bench_smoke_writes_every_figure(tmp_path):
  config = bench_config.get_config('smoke')
  figures = bench.run(config, str(tmp_path / 'pretrained'))
  bench.write(str(tmp_path), figures)
  with open(tmp_path / 'benchmark.json') as f:
    written = json.load(f)
  for key in KEYS:
    assert key in written, key
  assert written['grid']['lanes'] == 3 * 2 * 2
  assert written['vmap_seconds'] > 0 and written['peak_gflops'] > 0 and written['model_gflop'] > 0
  assert '| vmapped sweep' in (tmp_path / 'benchmark.md').read_text()


def test_a_frozen_backbone_costs_no_backward_flops():
  config = bench_config.get_config()
  fe = bench.lane_gflop(config, strategies.get('feature_extraction'), 10_000, 5)
  ft = bench.lane_gflop(config, strategies.get('fine_tuning'), 10_000, 5)
  assert ft / fe > 3
  assert bench.lane_gflop(config, strategies.get('scratch'), 10_000, 5) == pytest.approx(ft)
