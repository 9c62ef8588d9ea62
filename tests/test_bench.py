"""The benchmark's smoke variant runs and reports every figure the issue asks for; FLOP counting is sane; XLA's cost
analysis counts every loop iteration once corrected; the float32 default is the model every experiment runs; the
typed result writes benchmark.json's keys and renders benchmark.md the same from a run or read back from the file."""

import dataclasses
import functools
import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import bench as bench_config
from transfer import errors
from transfer.run import experiment
from transfer.run import sources
from transfer.run import sweep
from transfer.studies import bench
from transfer.studies.bench import cost
from transfer.studies.bench import measure
from transfer.studies.bench import profile
from transfer.studies.bench import render
from transfer.studies.bench import result
from transfer.train import strategies
from transfer import types
from tests.conftest import cpu_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ('vmap_seconds', 'sequential_seconds', 'torch_seconds', 'compile_seconds', 'model_gflop', 'peak_gflops',
        'achieved_gflops', 'fe_step_seconds', 'ft_step_seconds', 'peak_rss_mb', 'devices', 'lane_scaling_seconds',
        'xla_gflop', 'gbytes_accessed', 'cost', 'bandwidth_gbs', 'roofline', 'fraction_of_roofline',
        'xla_fraction_of_peak', 'lane_scaling', 'torch_gpu', 'bf16', 'limit', 'profile', 'single_compile_seconds',
        'compile_over_sweep', 'compiler_options', 'sweep_programs', 'table_first_call_seconds', 'lane_matmul_gflops',
        'lane_matmul_fraction_of_peak', 'sweep_over_lane_matmul')
# benchmark.json's keys in their order: what readers of outputs/benchmark/benchmark.json know
JSON_KEYS = ('grid', 'vmap_seconds', 'sequential_seconds', 'torch_seconds', 'torch_skipped', 'torch_gpu',
             'compile_seconds', 'table_first_call_seconds', 'sweep_programs', 'single_compile_seconds',
             'compile_over_sweep', 'compiler_options', 'speedup_vs_sequential', 'speedup_vs_torch', 'model_gflop',
             'xla_gflop', 'gbytes_accessed', 'cost', 'peak_gflops', 'achieved_gflops', 'fraction_of_peak',
             'xla_fraction_of_peak', 'lane_matmul_gflops', 'lane_matmul_lanes', 'lane_matmul_fraction_of_peak',
             'sweep_over_lane_matmul', 'bandwidth_gbs', 'bandwidth_mb', 'roofline', 'fraction_of_roofline', 'bf16',
             'profile', 'fe_step_seconds', 'ft_step_seconds', 'ft_over_fe_step', 'step_lanes', 'lane_scaling',
             'lane_scaling_seconds', 'lane_scaling_data_size', 'mean_test_accuracy', 'peak_rss_mb',
             'lane_scaling_peak_rss_mb', 'devices', 'machine', 'limit')


def constructed(**changes) -> result.BenchResult:
  """A BenchResult made by hand (nothing measured): float32 only, torch not installed, one lane count skipped."""
  share = result.Shares(matmul=0.6, copy=0.1, fused=0.3)
  made = result.BenchResult(
      grid=result.Grid(('fine_tuning', 'feature_extraction'), 2, (8, 32), (0.0,), lanes=8, steps=10, batch_size=64,
                       width=128, depth=2),
      vmap_seconds=2.0, sequential_seconds=5.0, torch_seconds=None, torch_skipped='skipped (torch not installed)',
      torch_gpu=None, compile_seconds=1.0, table_first_call_seconds=0.5, sweep_programs=3,
      single_compile_seconds=1.5, compiler_options={'xla_backend_optimization_level': 1},
      cost=result.Cost('xla', 12.0, 10.0, 4.0, True, 0, {'fine_tuning': result.StrategyCost(8.0, 9.0, 2.0),
                                                          'feature_extraction': result.StrategyCost(2.0, 3.0, 2.0)}),
      peak_gflops=100.0, lane_matmul_gflops=40.0, lane_matmul_lanes=8, bandwidth_gbs=10.0, bandwidth_mb=16,
      roofline=cost.roofline(12.0, 4.0, 100.0, 10.0),
      bf16=None, profile=result.Profile({'fine_tuning': result.OpProfile(1.0, share, 0.9, 40),
                                         'feature_extraction': None}, None),
      fe_step_seconds=0.001, ft_step_seconds=0.004, step_lanes=4,
      lane_scaling={'1': result.ScalingCall(0.1, 10_000.0), '4': result.ScalingCall(skipped='needs ~9.0 GiB')},
      lane_scaling_data_size=32, jax_accuracy=0.6, torch_accuracy=None, peak_rss_mb=1000.0,
      lane_scaling_peak_rss_mb=1200.0, devices=2,
      machine=result.Machine('a cpu', 2, 'Linux', '0.10.2', 'cpu', ('cpu:0', 'cpu:1'), 'cpu'), limit='')
  return dataclasses.replace(made, **changes)


@pytest.fixture(scope='module')
def written(tmp_path_factory):
  """The smoke benchmark, bfloat16 on, written to a folder: (its folder, benchmark.json parsed)."""
  out = tmp_path_factory.mktemp('bench')
  config = bench_config.get_config('smoke')
  with config.unlocked():
    config.bench.bf16 = True
  figures = bench.run(config, str(out / 'pretrained'))
  assert isinstance(figures, result.BenchResult)
  bench.write(str(out), figures)
  with open(out / 'benchmark.json') as f:
    return out, json.load(f)


def test_bench_smoke_writes_every_figure(written):
  _, figures = written
  for key in KEYS:
    assert key in figures, key
  assert tuple(figures) == JSON_KEYS
  assert figures['grid']['lanes'] == 3 * 2 * 2
  assert figures['vmap_seconds'] > 0 and figures['peak_gflops'] > 0 and figures['model_gflop'] > 0
  assert figures['machine']['device_kind'] and figures['machine']['backend'] == jax.default_backend()


def test_cost_analysis_figures_are_present_and_positive(written):
  _, figures = written
  cost = figures['cost']
  if jax.default_backend() == 'cpu':  # XLA:CPU reports both; another backend may fall back to the analytic count
    assert cost['source'] == 'xla' and cost['loops_scaled'] and cost['loops_uncorrected'] == 0
  if cost['source'] == 'xla':
    assert figures['xla_gflop'] > 0 and figures['gbytes_accessed'] > 0
    for name, c in cost['per_strategy'].items():
      assert c['xla_gflop'] > 0 and c['xla_gbytes'] > 0, name
  if cost['source'] == 'xla' and jax.default_backend() == 'cpu':
    # Every step's matmuls are in it: at least the analytic count of the model's matmuls, every iteration counted.
    # (Not asserted elsewhere: a GPU's cost analysis of library matmul calls is unchecked here.)
    assert figures['xla_gflop'] >= figures['model_gflop']
  assert figures['bandwidth_gbs'] > 0 and figures['fraction_of_roofline'] > 0


def test_cost_analysis_counts_every_loop_iteration():
  # XLA's cost analysis counts a while loop's body once (XLA:CPU, jax 0.10.2); program_cost scales it by the trip
  # count. Whatever XLA does, the corrected count of a scan of L matmuls must be L matmuls.
  n = 32
  raw = {}
  short, long = cost.CHECK_LENGTHS
  for length in (3, short, long):
    fn, x = cost.scan_matmul(length, n)
    raw[length] = cost.cost_figures(jax.jit(fn).lower(x).compile())
    corrected = cost.program_cost(fn, (x,))
    if raw[length] is None:
      pytest.skip('this backend reports no cost analysis (the benchmark falls back to the analytic count)')
    assert corrected.flops == pytest.approx(length * 2 * n ** 3, rel=0.01), length
  counted_once = raw[long].flops < 1.5 * raw[short].flops
  assert cost.loops_counted_once() == counted_once
  if jax.default_backend() == 'cpu':
    assert counted_once  # what the benchmark's docs say of XLA:CPU; if this changes, say so there


def test_nested_scans_are_corrected_at_every_level():
  n = 16

  def nested(x):
    def outer(c, _):
      return jax.lax.scan(lambda c, _: (c @ x, None), c, None, length=5)[0] @ x, None
    return jax.lax.scan(outer, x, None, length=3)[0]

  counted = cost.program_cost(jax.jit(nested), (jnp.ones((n, n)),))
  if counted is None:
    pytest.skip('no cost analysis on this backend')
  assert counted.flops == pytest.approx(3 * (5 + 1) * 2 * n ** 3, rel=0.01)


def test_cost_figures_accept_every_shape_of_answer():
  class Compiled:
    def __init__(self, answer):
      self.answer = answer

    def cost_analysis(self):
      if isinstance(self.answer, Exception):
        raise self.answer
      return self.answer

  assert cost.cost_figures(Compiled([{'flops': 2.0, 'bytes accessed': 3.0}])) == cost.XlaCost(flops=2.0, bytes=3.0)
  assert cost.cost_figures(Compiled({'flops': 2.0})) == cost.XlaCost(flops=2.0, bytes=None)
  for answer in (None, [], {}, {'flops': -1.0}, NotImplementedError()):
    assert cost.cost_figures(Compiled(answer)) is None


def test_roofline_is_the_larger_bound():
  compute = cost.roofline(100.0, 1.0, peak_gflops=10.0, bandwidth=10.0)  # 10 s of FLOPs, 0.1 s of bytes
  assert compute.seconds == max(compute.compute_seconds, compute.memory_seconds) == 10.0
  assert compute.bound == 'compute'
  memory = cost.roofline(1.0, 100.0, peak_gflops=10.0, bandwidth=10.0)
  assert memory.seconds == max(memory.compute_seconds, memory.memory_seconds) == 10.0
  assert memory.bound == 'memory'
  unknown = cost.roofline(1.0, None, peak_gflops=10.0, bandwidth=10.0)
  assert unknown.seconds == 0.1 and unknown.bound == 'compute' and unknown.memory_seconds is None


def test_what_limits_the_sweep_follows_the_numbers():
  def figures(seconds, gflop, gbytes):  # no profile: the overhead is not broken down
    made = constructed(profile=None)
    return dataclasses.replace(made, vmap_seconds=seconds, cost=dataclasses.replace(made.cost, gbytes=gbytes),
                               roofline=cost.roofline(gflop, gbytes, peak_gflops=100.0, bandwidth=10.0))

  assert render.limit_sentence(figures(1.2, 100.0, 1.0)).startswith('Compute-bound')  # 83% of 1 s
  assert render.limit_sentence(figures(1.2, 1.0, 10.0)).startswith('Memory-bound')
  overhead = render.limit_sentence(figures(40.0, 100.0, 1.0))
  assert overhead.startswith('Overhead') and '40.0x' in overhead and '64 rows by 128 wide' in overhead
  # 10 GFLOP in 40 s against the per-lane matmuls' 40 GFLOP/s alone (40% of the 100 GFLOP/s peak)
  assert overhead.endswith("per-lane matmuls reach 40.0 GFLOP/s with this backend's kernels (8 lanes of 64 rows), "
                           '40% of the peak, and the sweep runs at 1% of that.')
  assert 'per-lane matmuls reach' not in render.limit_sentence(
      dataclasses.replace(figures(40.0, 100.0, 1.0), lane_matmul_gflops=None))
  overstated = render.limit_sentence(figures(2.0, 100.0, 1000.0))  # 100 s of bytes in a 2 s sweep
  assert overstated.startswith('Not memory') and 'Overhead' not in overstated and 'Compute-bound' in overstated


def test_markdown_has_every_new_row(written):
  out, figures = written
  text = (out / 'benchmark.md').read_text()
  read_back = result.BenchResult.from_json(figures)
  assert read_back.to_json() == figures  # every figure and ratio survives the file
  assert text == render.markdown(read_back)  # the markdown renders the same from the file
  for row in ('| vmapped sweep', '| PyTorch on GPU', 'work of the sweep (XLA cost analysis',
              'bytes accessed by the sweep',
              '| memory bandwidth', '| roofline time: max(FLOPs / peak, bytes / bandwidth) |',
              '| fraction of roofline', '| fraction of peak (XLA FLOPs) |', 'bfloat16 matmuls',
              '| speed of bfloat16 over float32', '| mean test accuracy, bfloat16 minus float32 |',
              'one vmapped fine-tuning call of 1 lane(s)', 'one vmapped fine-tuning call of 4 lane(s)',
              'per lane-step', "the sweep's per-lane matmuls alone", '**What limits the sweep:** ' + figures['limit']):
    assert row in text, row


def test_lane_scaling_reports_each_count(written):
  _, figures = written
  assert list(figures['lane_scaling']) == ['1', '4'] == list(figures['lane_scaling_seconds'])
  steps = figures['grid']['steps']
  for n, r in figures['lane_scaling'].items():
    assert r['seconds'] > 0
    assert r['us_per_lane_step'] == pytest.approx(r['seconds'] / (int(n) * steps) * 1e6)


def test_lane_counts_that_would_not_fit_are_skipped_and_said(monkeypatch, tmp_path):
  config = bench_config.get_config('smoke')
  dataset = experiment.prepare(config)
  source = sources.source_models(config, dataset, str(tmp_path))
  monkeypatch.setattr(measure, 'one_device_budget', lambda: 1.0)  # one byte
  scaling = measure.lane_scaling(config, dataset, source, (2,))
  assert list(scaling) == ['2'] and 'GiB' in scaling['2'].skipped and scaling['2'].seconds is None
  assert scaling['2'].to_json() == {'skipped': scaling['2'].skipped}
  assert render.scaling_row('2', scaling['2'])[1].startswith('skipped: needs')


def test_bfloat16_sweep_is_reported(written):
  _, figures = written
  half = figures['bf16']
  assert half['vmap_seconds'] > 0 and half['peak_gflops'] > 0
  assert half['speedup'] == pytest.approx(figures['vmap_seconds'] / half['vmap_seconds'])
  assert half['accuracy_change'] == pytest.approx(half['mean_test_accuracy'] - figures['mean_test_accuracy']['jax'])
  assert abs(half['accuracy_change']) < 0.2


@pytest.mark.parametrize('name', ['fine_tuning', 'feature_extraction'])
def test_float32_default_is_the_experiments_program_and_bfloat16_computes_in_bfloat16(name):
  config = bench_config.get_config('smoke')
  dataset = experiment.prepare(config)
  source = jax.tree.map(lambda s: jnp.zeros((config.seeds, *s.shape), s.dtype),
                        sources.target_param_shapes(config, dataset))
  strategy = strategies.get(name)
  lanes = types.stack_lanes(sweep.config_grid(strategy, config))
  default = measure.train_fn(config, dataset, strategy)
  table = experiment.data_table(config, dataset)

  def program(fn):
    return str(jax.make_jaxpr(functools.partial(sweep.train_lanes, train_fn=fn))(lanes, source, table))

  # The program every experiment's sweep runs, so bit-identical results; and the model's default dtype (None) adds
  # nothing to a model computing in float32 (no cast, no conversion of its logits).
  assert program(default) == program(experiment.strategy_train_fn(config, dataset, strategy, shared=True))
  assert program(default) == program(measure.train_fn(config, dataset, strategy, jnp.float32))
  assert 'bf16' not in program(default)
  half = measure.train_fn(config, dataset, strategy, jnp.bfloat16)
  assert 'bf16' in program(half)
  # Parameters (so the optimizer's moments) stay float32, and the logits the loss reads are float32.
  model16 = half.keywords['spec'].model
  x = jnp.zeros((2, config.data.input_dim))
  params = model16.init(jax.random.key(0), x)['params']
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
  assert model16.apply({'params': params}, x).dtype == jnp.float32


def test_a_bad_bench_field_is_one_config_error(tmp_path):
  config = bench_config.get_config('smoke')
  with config.unlocked():
    config.bench.lane_counts = (1, 0)
  with pytest.raises(errors.ConfigError, match=r'config\.bench\.lane_counts'):
    bench.run(config, str(tmp_path))


def test_the_gpu_script_fits_a_ten_minute_slot_and_runs_nothing_without_a_gpu(tmp_path):
  """scripts/bench_gpu.sh parses, its steps' default timeouts (the main job twice, the benchmark, the tests) add up
  to at most 540 s, and where JAX sees no GPU it says so and runs no step."""
  script = os.path.join(REPO, 'scripts', 'bench_gpu.sh')
  assert os.path.isfile(script) and os.access(script, os.X_OK)
  subprocess.run(['bash', '-n', script], check=True)
  with open(script) as f:
    limits = {name: int(seconds) for name, seconds in re.findall(r'\$\{(\w+)_TIMEOUT:-(\d+)\}', f.read())}
  assert set(limits) == {'MAIN', 'BENCH', 'TEST'}
  assert 2 * limits['MAIN'] + limits['BENCH'] + limits['TEST'] <= 540
  out = tmp_path / 'out'
  proc = subprocess.run(['bash', script, str(out)], env=cpu_env(PYTHON=sys.executable), capture_output=True,
                        text=True, timeout=120)
  assert proc.returncode == 1 and 'JAX sees no GPU' in proc.stdout and 'Nothing was run.' in proc.stdout
  assert sorted(os.listdir(out)) == ['bench_gpu.log']


def test_a_frozen_backbone_costs_no_backward_flops():
  config = bench_config.get_config()
  fe = cost.lane_gflop(config, strategies.get('feature_extraction'), 10_000, 5)
  ft = cost.lane_gflop(config, strategies.get('fine_tuning'), 10_000, 5)
  assert ft / fe > 3
  assert cost.lane_gflop(config, strategies.get('scratch'), 10_000, 5) == pytest.approx(ft)


def test_the_lane_matmuls_are_a_training_steps_and_counted_as_the_analytic_count_counts_them():
  """`lane_matmuls` computes the weight gradients a training step does (those of a linear chain, by jax.grad) with
  the matmuls the analytic count counts for one example per row (XLA's cost analysis of it, on CPU)."""
  config = bench_config.get_config('smoke')
  layers, rows = cost.layer_shapes(config, 3), 7
  keys = jax.random.split(jax.random.key(1), len(layers) + 2)
  weights = [jax.random.normal(k, shape) for k, shape in zip(keys, layers)]
  x, grad_out = jax.random.normal(keys[-2], (rows, layers[0][0])), jax.random.normal(keys[-1], (rows, 3))

  def chain(ws):
    h = x
    for w in ws:
      h = h @ w
    return (h * grad_out).sum()

  with jax.default_matmul_precision('highest'):
    expected, (out, got) = jax.grad(chain)(weights), cost.lane_matmuls(weights, x, grad_out)
  got = got[::-1]
  assert out.shape == (rows, 3)
  assert [g.shape for g in got] == layers
  for e, g in zip(expected, got):
    np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)
  figures = cost.cost_figures(jax.jit(cost.lane_matmuls).lower(weights, x, grad_out).compile())
  if figures is None or jax.default_backend() != 'cpu':
    pytest.skip("the analytic count is checked against XLA:CPU's cost analysis")
  matmul_flops = rows * cost.trained_flop_per_row(config, 3)
  assert matmul_flops <= figures.flops <= 1.01 * matmul_flops  # its matmuls, and nothing but them
  assert cost.lane_matmul_gflops(config, 3, lanes=jax.device_count(), repeats=1) > 0


def test_the_profile_splits_op_time_by_kind_and_by_how_often_ops_run():
  steps, devices = 10, 2
  events = {'dot.3': (2.0, 20), 'ynn_fusion.1': (1.0, 20), 'copy.7': (0.5, 20), 'multiply_add_fusion.2': (4.0, 20),
            'broadcast_add_fusion.21': (2.5, 2)}  # the last: once per run on each device (e.g. data generation)
  r = profile.op_profile(events, steps, devices)
  assert r.op_seconds == 10.0 and r.ops == 5
  assert r.share.to_json() == pytest.approx({'matmul': 0.3, 'copy': 0.05, 'fused': 0.65})
  assert r.per_step_share == pytest.approx(0.75)
  assert profile.op_profile({}, steps, devices) is None


def test_an_op_that_holds_others_counts_only_its_own_time():
  """A while loop's event spans the ops of its body on the same thread: they are counted once, under their names,
  and the loop keeps the rest; another thread's events overlapping in time are not held by it."""
  x = lambda name, ts, dur, tid=1: {'ph': 'X', 'name': name, 'ts': ts, 'dur': dur, 'pid': 7, 'tid': tid}
  events = [x('while.3', 0, 100), x('dot.1', 10, 30), x('fusion.2', 50, 20), x('dot.1', 110, 30),  # after the loop
            x('copy.4', 20, 60, tid=2), x('while.3', 200, 50), x('while.9', 205, 40), x('dot.1', 210, 10),  # nested
            {'ph': 'X', 'name': '$python frame', 'ts': 0, 'dur': 500, 'pid': 7, 'tid': 1}]  # not an op: left out
  found = profile.self_times(events)
  assert {name: calls for name, (_, calls) in found.items()} == {'while.3': 2, 'dot.1': 3, 'fusion.2': 1,
                                                                 'copy.4': 1, 'while.9': 1}
  assert {name: seconds for name, (seconds, _) in found.items()} == pytest.approx(
      {'while.3': 60e-6, 'dot.1': 70e-6, 'fusion.2': 20e-6, 'copy.4': 60e-6, 'while.9': 30e-6})
  busy = 100 + 30 + 50 + 60  # microseconds in which thread 1 and thread 2 ran ops
  assert sum(seconds for seconds, _ in found.values()) == pytest.approx(busy * 1e-6)


def test_the_smoke_benchmark_profiles_every_program(written):
  """...one per group of strategies sharing one, as an experiment's sweep compiles them: scratch's lanes run in
  fine-tuning's."""
  _, figures = written
  profiled = figures['profile']
  assert figures['grid']['strategies'] == ['fine_tuning', 'feature_extraction', 'scratch']
  assert set(profiled['per_strategy']) == set(figures['cost']['per_strategy']) == {'fine_tuning+scratch',
                                                                                   'feature_extraction'}
  assert figures['sweep_programs'] == 3  # and the data table's
  if jax.default_backend() == 'cpu':  # XLA:CPU's trace names every op it runs
    assert profiled['sweep'] is not None
  for r in [profiled['sweep'], *profiled['per_strategy'].values()]:
    if r is not None:
      assert sum(r['share'].values()) == pytest.approx(1.0) and 0 <= r['per_step_share'] <= 1
      assert r['share']['matmul'] > 0  # every strategy multiplies matrices
  assert figures['compile_over_sweep'] == pytest.approx(figures['compile_seconds'] / figures['vmap_seconds'])



def test_the_json_has_every_key_in_order_and_reads_back_to_the_same_result():
  made = constructed(limit='a sentence')
  figures = made.to_json()
  assert tuple(figures) == JSON_KEYS
  json.dumps(figures, allow_nan=False)  # as io.write_json writes it
  assert result.BenchResult.from_json(json.loads(json.dumps(figures))) == made
  # the ratios are derived from the figures, once
  assert figures['speedup_vs_sequential'] == 2.5 and figures['compile_over_sweep'] == 0.5
  assert figures['model_gflop'] == 10.0 and figures['xla_gflop'] == 12.0 and figures['gbytes_accessed'] == 4.0
  assert figures['achieved_gflops'] == 5.0 and figures['fraction_of_peak'] == 0.05
  assert figures['xla_fraction_of_peak'] == 0.06 and figures['ft_over_fe_step'] == 4.0
  assert figures['lane_matmul_fraction_of_peak'] == 0.4 and figures['sweep_over_lane_matmul'] == 0.125
  assert figures['lane_scaling'] == {'1': {'seconds': 0.1, 'us_per_lane_step': 10_000.0},
                                     '4': {'skipped': 'needs ~9.0 GiB'}}
  assert figures['lane_scaling_seconds'] == {'1': 0.1, '4': None}
  assert figures['mean_test_accuracy'] == {'jax': 0.6, 'torch': None}
  assert figures['profile']['sweep'] is None and 'ops' in figures['profile']['per_strategy']['fine_tuning']


def test_a_file_from_before_the_table_was_timed_reads_back_unchanged():
  """benchmark.json written before `table_first_call_seconds`, `sweep_programs`, `profile` and the lane matmuls
  were measured lacks them: it reads back, and writes back, without them."""
  figures = constructed().to_json()
  for key in ('table_first_call_seconds', 'sweep_programs', 'profile', 'lane_matmul_gflops', 'lane_matmul_lanes',
              'lane_matmul_fraction_of_peak', 'sweep_over_lane_matmul'):
    del figures[key]
  read_back = result.BenchResult.from_json(figures)
  assert read_back.sweep_programs is None and read_back.profile is None and read_back.lane_matmul_gflops is None
  assert read_back.to_json() == figures
  assert "where the sweep's device time goes" not in render.markdown(read_back)
  assert 'per-lane matmuls alone' not in render.markdown(read_back)


def test_markdown_renders_a_constructed_result():
  made = constructed()
  made = dataclasses.replace(made, limit=render.limit_sentence(made))
  text = render.markdown(made)
  assert text.startswith('# Benchmark\n\nMachine: a cpu, 2 cores, 2 JAX device(s) (cpu), jax 0.10.2; compiler '
                         "options {'xla_backend_optimization_level': 1}.\nGrid: fine_tuning, feature_extraction x 2 "
                         'seeds x data sizes [8, 32] x shifts [0.0] = 8 runs of 10 steps (batch 64).\n')
  for row in ('| vmapped sweep (`jit(vmap(train))`, one call per program, and the data table they share) | 2.00 s |',
              '| PyTorch, one Python training loop per run | skipped (torch not installed) |',
              '| speed-up of the sweep over one lane per call | 2.5x |',
              "| distinct programs (one per strategy, scratch's in fine-tuning's, and the data table's) | 3 |",
              '| work of the sweep (XLA cost analysis, loop bodies x trip count) | 12.0 GFLOP |',
              '| fraction of peak (XLA FLOPs) | 6.0 % |',
              '| memory bandwidth (`x + 1` on 16 MB), measured in the same run | 10.0 GB/s |',
              '| roofline time: max(FLOPs / peak, bytes / bandwidth) | 0.4 s (memory-bound; FLOPs / peak 0.12 s, '
              'bytes / bandwidth 0.4 s) |',
              '| fraction of roofline (roofline time / sweep time) | 20.0 % |',
              "| the sweep's per-lane matmuls alone (every layer's forward and gradients, 8 lanes of 64 rows, no "
              'other op), measured in the same run | 40.0 GFLOP/s (40.0 % of peak) |',
              '| achieved during the sweep / those matmuls alone | 12.5 % |',
              '| one fine-tuning step (4 lanes) | 4.000 ms |',
              '| mean test accuracy, JAX / PyTorch (sanity: same job) | 0.600 / skipped (torch not installed) |',
              "| where the sweep's device time goes (jax.profiler, own op seconds) | no per-op events in this "
              "backend's trace |",
              "| where the sweep's device time goes (fine_tuning) (jax.profiler, own op seconds) | matmuls 60%, XLA's "
              'generated code 30%, copies and transposes 10%; in every step 90%, once per run 10% |',
              '| one vmapped fine-tuning call of 1 lane(s), one device | 0.100 s (10000.00 µs per lane-step) |',
              '| one vmapped fine-tuning call of 4 lane(s), one device | skipped: needs ~9.0 GiB |'):
    assert f'\n{row}\n' in text, row
  assert 'bfloat16' not in text and 'PyTorch on GPU (' not in text
  assert text.endswith('\n\n**What limits the sweep:** Overhead, not memory bandwidth: the sweep takes 5.0x its '
                       'roofline time, so the gap is per-step loop and launch overhead and the inefficiency of small '
                       "per-lane matmuls (64 rows by 128 wide), not the machine's memory bandwidth. On their own, "
                       "the sweep's per-lane matmuls reach 40.0 GFLOP/s with this backend's kernels (8 lanes of 64 "
                       'rows), 40% of the peak, and the sweep runs at 12% of that.\n')
