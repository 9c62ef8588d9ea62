"""Benchmark: the vmapped sweep vs the same JAX run one lane at a time vs a PyTorch per-run loop, on one grid; its
figures as benchmark.json and benchmark.md.

Everything is timed after compilation (compile time is reported apart), in one process, on the same data and
pre-trained weights. The sweep's work is counted twice: XLA's cost analysis of each compiled program (FLOPs and bytes
accessed) and an analytic count of the model's matmuls. The machine's peak is a large f32 matmul and its memory
bandwidth a large `x + 1`, both measured in the same run; the roofline time of the sweep is
max(FLOPs / peak, bytes / bandwidth).

XLA's cost analysis counts the body of a loop once, not once per iteration (checked at run time by
`loops_counted_once`, on a tiny scan at two lengths; tests/test_bench.py checks it too). Every run is a `lax.scan`
over its steps, so where that holds each scan's body is compiled on its own and its figures are added (length - 1)
more times (`program_cost`). XLA's bytes accessed are an upper bound on memory traffic: it counts a gather's whole
operand (every minibatch draw reads the lane's whole pool, by its count), so where bytes / bandwidth exceeds the time
the sweep took, `limit_sentence` says so and lets the FLOPs decide.

Also measured: the PyTorch loop on the GPU where torch sees one; the sweep with bfloat16 matmuls (`bench.bf16`,
float32 parameters and optimizer: `models.MLP.dtype`); one vmapped call per lane count (`bench.lane_counts`), skipped
where XLA's memory analysis says it would not fit the device.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import gzip
import json
import os
import platform
import re
import resource
import tempfile
import time
from collections.abc import Callable

from absl import logging
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from transfer import compiler
from transfer import errors
from transfer import io
from transfer import types
from transfer.run import experiment
from transfer.run import sources
from transfer.run import sweep
from transfer.run import validate
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


def peak_matmul_gflops(sizes=(1024, 2048), repeats: int = 5, dtype=jnp.float32) -> float:
  """Best matmul throughput over a few square sizes (f32 unless `dtype`): the machine's practical peak."""
  best = 0.0
  for n in sizes:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32).astype(dtype)
    f = compiler.jit(lambda x: x @ x)
    block(f(a))
    best = max(best, 2 * n ** 3 / best_time(lambda: block(f(a)), repeats) / 1e9)
  return best


def bandwidth_gbs(megabytes: float, repeats: int = 5) -> float:
  """Memory bandwidth, GB/s: bytes read and written by `x + 1` on a float32 array of `megabytes`, sharded over every
  device as the sweep's lanes are, over its best time."""
  mesh = sweep.lane_mesh()
  rows = max(1, round(megabytes * 2**20 / 4 / 1024 / mesh.size)) * mesh.size
  x = jax.device_put(jnp.zeros((rows, 1024), jnp.float32),
                     jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('lanes')))
  f = compiler.jit(lambda a: a + 1.0)
  block(f(x))
  return 2 * x.nbytes / best_time(lambda: block(f(x)), repeats) / 1e9


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


def cost_figures(compiled) -> dict | None:
  """XLA's cost analysis of a compiled program: {'flops', 'bytes'} ('bytes' None where not reported), or None where
  the backend reports no FLOPs. Some jax versions return one dict per program in a list; some backends return
  nothing, or -1 for what they cannot count."""
  try:
    analysis = compiled.cost_analysis()
  except Exception:  # pylint: disable=broad-except  (unimplemented on some backends; the analytic count stands in)
    return None
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else None
  if not analysis or analysis.get('flops') is None or analysis['flops'] < 0:
    return None
  nbytes = analysis.get('bytes accessed')
  return {'flops': float(analysis['flops']), 'bytes': None if nbytes is None or nbytes < 0 else float(nbytes)}


def scan_matmul(length: int, n: int = 32):
  """A tiny program whose work is known: `length` (n, n) matmuls in a `lax.scan`; returns (function, its argument)."""
  def fn(x):
    return jax.lax.scan(lambda c, _: (c @ x, None), x, None, length=length)[0]
  return fn, jnp.ones((n, n), jnp.float32)


CHECK_LENGTHS = (100, 200)  # long enough that no compiler unrolls them whole, as it may a loop of a few steps


@functools.cache
def loops_counted_once() -> bool:
  """Whether XLA's cost analysis on this backend counts a loop's body once rather than once per iteration: the
  FLOPs it reports for a scan of matmuls do not grow from 100 to 200 iterations. False where it reports none."""
  figures = [cost_figures(compiler.jit(fn).lower(x).compile()) for fn, x in map(scan_matmul, CHECK_LENGTHS)]
  if None in figures:
    return False
  return figures[1]['flops'] < 1.5 * figures[0]['flops']


def sub_jaxprs(eqn):
  """The jaxprs an equation calls (of jit, custom_jvp/vjp, scan, ...)."""
  for value in eqn.params.values():
    for v in value if isinstance(value, (tuple, list)) else (value,):
      if hasattr(v, 'eqns'):
        yield v
      elif hasattr(getattr(v, 'jaxpr', None), 'eqns'):
        yield v.jaxpr


def loop_correction(jaxpr) -> tuple[float, float | None, int]:
  """What XLA's figures for `jaxpr` miss when they count each loop body once: (FLOPs, bytes, loops left as counted).

  Each scan of length L runs its body L times, XLA counts it `unroll` times (once, unless unrolled): its body is
  compiled on its own, and its figures are added L - unroll more times, with L times the body's own correction
  (nested scans). A while loop (no static trip count) or a loop inside a cond is left as XLA counts it.
  """
  flops, nbytes, uncorrected = 0.0, 0.0, 0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == 'scan':
      body, length, unroll = eqn.params['jaxpr'], eqn.params['length'], eqn.params.get('unroll', 1)
      unroll = length if unroll is True else max(1, min(int(unroll), length))
      inner_flops, inner_bytes, inner_left = loop_correction(body.jaxpr)
      once = {'flops': 0.0, 'bytes': 0.0}
      if length > unroll:
        args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in body.in_avals]
        once = cost_figures(compiler.jit(jax.extend.core.jaxpr_as_fun(body)).lower(*args).compile()) or {
            'flops': 0.0, 'bytes': None}
      flops += (length - unroll) * once['flops'] + length * inner_flops
      nbytes = None if None in (nbytes, once['bytes'], inner_bytes) else (
          nbytes + (length - unroll) * once['bytes'] + length * inner_bytes)
      uncorrected += inner_left
    elif name in ('while', 'cond'):
      uncorrected += int(name == 'while') + sum(1 for sub in sub_jaxprs(eqn) for e in sub.eqns
                                                 if e.primitive.name in ('scan', 'while'))
    else:
      for sub in sub_jaxprs(eqn):
        f, b, left = loop_correction(sub)
        flops, uncorrected = flops + f, uncorrected + left
        nbytes = None if None in (nbytes, b) else nbytes + b
  return flops, nbytes, uncorrected


def program_cost(fn, args, compiled=None, devices: int = 1) -> dict | None:
  """XLA's FLOPs and bytes accessed of `fn(*args)`, every loop iteration counted; None where the backend reports
  none. `compiled` is `fn`'s compiled program for `args` if there is one already (else it is compiled here); its
  figures are per device, so a program sharded over `devices` devices counts `devices` times. Also returns
  whether loop bodies were scaled by their trip counts and how many loops could not be ('loops_uncorrected')."""
  figures = cost_figures(compiled if compiled is not None else compiler.jit(fn).lower(*args).compile())
  if figures is None:
    return None
  flops, nbytes = figures['flops'] * devices, None if figures['bytes'] is None else figures['bytes'] * devices
  scaled, left = loops_counted_once(), 0
  if scaled:
    extra_flops, extra_bytes, left = loop_correction(jax.make_jaxpr(fn)(*args).jaxpr)
    flops += extra_flops
    nbytes = None if None in (nbytes, extra_bytes) else nbytes + extra_bytes
  return {'flops': flops, 'bytes': nbytes, 'loops_scaled': scaled, 'loops_uncorrected': left}


def roofline(gflop: float, gbytes: float | None, peak_gflops: float, bandwidth: float) -> dict:
  """The least time `gflop` of work moving `gbytes` can take at the matmul peak and the memory bandwidth (GB/s):
  the larger of the two bounds, and which it is (compute where the bytes are unknown)."""
  compute = gflop / peak_gflops
  memory = None if gbytes is None else gbytes / bandwidth
  bound = 'compute' if memory is None or compute >= memory else 'memory'
  return {'compute_seconds': compute, 'memory_seconds': memory, 'seconds': compute if bound == 'compute' else memory,
          'bound': bound}


@dataclasses.dataclass
class Prepared:
  """One strategy's lanes, and its vmapped and single-lane programs, compiled."""

  name: str
  cells: list
  lanes: types.Lane
  sharded: tuple
  program: Callable  # sweep.train_lanes with the strategy's run bound: what `vmapped` compiles
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


def prepare(config, dataset, source, name: str, dtype=None, single: bool = True, table=None) -> Prepared:
  """The strategy's sweep program on the shared data `table` (experiment.data_table; made here when None) and, with
  `single`, its one-lane program, which renders its lane's data itself as a run alone does."""
  strategy = strategies.get(name)
  cells = sweep.config_grid(strategy, config)
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
  return Prepared(name, cells, lanes, sharded, program, vmapped, compiled_single, middle - start,
                  time.perf_counter() - middle if single else 0.0)


def run_sequential(p: Prepared, source, arrays) -> None:
  """One call per lane, waiting for each result, as a per-run loop would."""
  for i in range(len(p.cells)):
    lane = jax.tree.map(lambda a, i=i: a[i], p.lanes)
    block(p.single(lane, jax.tree.map(lambda a, s=int(lane.seed): a[s], source), arrays))


def run_torch(config, dataset, source, p: Prepared, device: str = 'cpu') -> tuple[float, list[float]]:
  """Seconds in PyTorch training loops over every lane on `device`, and the accuracies they reach."""
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
        seed=cell['seed'], device=device)
    seconds += t
    accuracies.append(accuracy)
  return seconds, accuracies


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


def memory_need(compiled) -> float | None:
  """Bytes a compiled program needs on its device by XLA's memory analysis (arguments, outputs, temporaries and
  code); None where the backend has no memory analysis."""
  try:
    m = compiled.memory_analysis()
    return float(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
                 + m.generated_code_size_in_bytes)
  except Exception:  # pylint: disable=broad-except  (not every backend has one)
    return None


OP_NAME = re.compile(r'^[A-Za-z][\w-]*(\.\d+)?$')  # an HLO instruction's name, as the profiler names its thunk
MATMUL_PREFIXES = ('dot', 'ynn', 'convolution', 'custom-call', 'cublas', 'gemm', 'triton_gemm')
COPY_PREFIXES = ('copy', 'transpose', 'dynamic-update-slice', 'memcpy')


def op_kind(name: str) -> str:
  """'matmul' (dots, convolutions and library calls such as XNNPACK/YNNPACK's), 'copy' (copies and transposes) or
  'fused' (XLA's own generated code: elementwise fusions, reductions, random bits, gathers, the optimizer update)."""
  lowered = name.lower()
  if lowered.startswith(MATMUL_PREFIXES):
    return 'matmul'
  return 'copy' if lowered.startswith(COPY_PREFIXES) else 'fused'


def op_profile(events: dict[str, tuple[float, int]], steps: int, devices: int) -> dict | None:
  """Where a program's device time goes, from its ops' (total seconds, calls) summed over devices: shares by kind
  (op_kind) and by how often an op runs: 'per_step' (at least once per optimizer step on every device) or
  'per_run' (less often: data generation, initialisation, evaluation). None without op events."""
  total = sum(seconds for seconds, _ in events.values())
  if not total:
    return None
  kinds, per_step = {'matmul': 0.0, 'copy': 0.0, 'fused': 0.0}, 0.0
  for name, (seconds, calls) in events.items():
    kinds[op_kind(name)] += seconds
    per_step += seconds if calls >= steps * devices else 0.0
  return {'op_seconds': total, 'share': {k: v / total for k, v in kinds.items()}, 'per_step_share': per_step / total,
          'ops': len(events)}


def traced_ops(fn: Callable, trace_dir: str) -> dict[str, tuple[float, int]]:
  """Calls `fn` under jax.profiler and returns {op name: (total seconds, calls)} for the XLA ops it ran (the
  profiler's events named like HLO instructions; Python frames and runtime events are left out). Empty where the
  backend's trace has no per-op events."""
  jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
  try:
    fn()
  finally:
    jax.profiler.stop_trace()
  found = sorted(glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'), recursive=True))
  if not found:
    return {}
  with gzip.open(found[-1]) as f:
    trace = json.load(f)
  ops: dict[str, list] = {}
  for event in trace['traceEvents'] if isinstance(trace, dict) else trace:
    name = event.get('name', '')
    if event.get('ph') == 'X' and OP_NAME.match(name):
      entry = ops.setdefault(name, [0.0, 0])
      entry[0] += event.get('dur', 0) / 1e6
      entry[1] += 1
  return {name: (seconds, calls) for name, (seconds, calls) in ops.items()}


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


def lane_scaling(config, dataset, source, counts: tuple[int, ...]) -> dict[str, dict]:
  """One vmapped fine-tuning call of n lanes for each n, on one device: {'seconds', 'us_per_lane_step'}, or
  {'skipped': why} where XLA's memory analysis says the program would not fit the device (or the device ran out).

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
      compiled = fn.lower(lanes, source, table).compile()
      need = memory_need(compiled)
      if need is not None and budget is not None and need > budget:
        out[str(n)] = {'skipped': f"needs ~{need / 2**30:.1f} GiB by XLA's memory analysis, more than the "
                                  f'{budget / 2**30:.1f} GiB one device may use'}
        logging.info('lane scaling: %d lanes skipped: %s', n, out[str(n)]['skipped'])
        continue
      call = lambda compiled=compiled, lanes=lanes: block(compiled(lanes, source, table))
      seconds = best_time(call, 1)
      if seconds <= LONG_CALL_SECONDS and config.bench.repeats > 1:
        seconds = min(seconds, best_time(call, config.bench.repeats))
    except Exception as e:  # pylint: disable=broad-except  (XLA raises its own runtime error type)
      if not sweep.is_out_of_memory(e):
        raise
      out[str(n)] = {'skipped': f'the device ran out of memory: {str(e).strip().splitlines()[0]}'}
      continue
    out[str(n)] = {'seconds': seconds, 'us_per_lane_step': seconds / (n * scaled.steps) * 1e6}
    logging.info('lane scaling: %d lanes in %.3fs', n, seconds)
  return out


def machine() -> dict:
  cpu = platform.processor()
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
    cpu = names[0] if names else cpu
  return {'cpu': cpu, 'cores': os.cpu_count(), 'platform': platform.platform(), 'jax': jax.__version__,
          'backend': jax.default_backend(), 'devices': [str(d) for d in jax.devices()],
          'device_kind': jax.devices()[0].device_kind}


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


def sweep_cost(config, dataset, prepared: list[Prepared]) -> dict:
  """The sweep's work by XLA's cost analysis of each strategy's compiled program (every loop iteration counted),
  beside the analytic matmul count; where the backend reports no cost analysis, the analytic count and no bytes."""
  devices = sweep.lane_mesh().size
  analytic = {p.name: lane_gflop(config, strategies.get(p.name), max(config.data_sizes), dataset.data.target_classes)
                      * len(p.cells) for p in prepared}
  costs = {p.name: program_cost(p.program, p.sharded, p.vmapped, devices) for p in prepared}
  xla = all(c is not None for c in costs.values())
  per_strategy = {name: {'analytic_gflop': analytic[name],
                         'xla_gflop': None if costs[name] is None else costs[name]['flops'] / 1e9,
                         'xla_gbytes': None if costs[name] is None or costs[name]['bytes'] is None
                                       else costs[name]['bytes'] / 1e9}
                  for name in analytic}
  gbytes = [c['xla_gbytes'] for c in per_strategy.values()]
  return {
      'source': 'xla' if xla else 'analytic (the backend reported no cost analysis)',
      'xla_gflop': sum(c['xla_gflop'] for c in per_strategy.values()) if xla else None,
      'analytic_gflop': sum(analytic.values()),
      'gbytes': sum(gbytes) if xla and None not in gbytes else None,
      'loops_scaled': xla and all(c['loops_scaled'] for c in costs.values()),
      'loops_uncorrected': sum(c['loops_uncorrected'] for c in costs.values()) if xla else None,
      'per_strategy': per_strategy,
  }


def sweep_profile(prepared: list[Prepared], steps: int) -> dict:
  """One more call of each strategy's program under the profiler: {'per_strategy': op_profile of each, 'sweep': their
  shares weighted by each program's op seconds} (None where the backend's trace has no per-op events)."""
  devices = sweep.lane_mesh().size
  per_strategy = {}
  for p in prepared:
    with tempfile.TemporaryDirectory() as trace_dir:
      per_strategy[p.name] = op_profile(traced_ops(lambda p=p: block(p.vmapped(*p.sharded)), trace_dir), steps,
                                        devices)
  found = [r for r in per_strategy.values() if r is not None]
  if len(found) < len(per_strategy):
    return {'per_strategy': per_strategy, 'sweep': None}
  total = sum(r['op_seconds'] for r in found)
  weighted = lambda get: sum(get(r) * r['op_seconds'] for r in found) / total
  return {'per_strategy': per_strategy, 'sweep': {
      'op_seconds': total, 'share': {k: weighted(lambda r, k=k: r['share'][k]) for k in ('matmul', 'copy', 'fused')},
      'per_step_share': weighted(lambda r: r['per_step_share'])}}


def profile_text(r: dict | None) -> str:
  if r is None:
    return 'no per-op events in this backend\'s trace'
  share = r['share']
  return (f"matmuls {share['matmul']:.0%}, XLA's generated code {share['fused']:.0%}, copies and transposes "
          f"{share['copy']:.0%}; in every step {r['per_step_share']:.0%}, once per run {1 - r['per_step_share']:.0%}")


def run(config, cache_dir: str) -> dict:
  """Every figure of the benchmark on `config`'s grid; returns them as a JSON-ready dict."""
  if config.data.name != 'synthetic' or models.resolved_name(config.model, (config.data.input_dim,)) != 'mlp':
    raise errors.ConfigError('the benchmark counts the FLOPs of an MLP on synthetic data: keep config.data.name = '
                             "'synthetic' and config.model.name = 'auto' or 'mlp'")
  check(config)
  dataset = experiment.prepare(config)
  source = sources.source_models(config, dataset, cache_dir)
  start = time.perf_counter()
  table = jax.block_until_ready(experiment.data_table(config, dataset))  # every (seed, shift)'s data, once
  table_seconds = time.perf_counter() - start  # its program's compilation and first run
  prepared = [prepare(config, dataset, source, name, table=table) for name in config.strategies]
  lanes = sum(len(p.cells) for p in prepared)
  logging.info('benchmark grid: %d lanes; sweep programs compiled in %.1fs, one-lane programs in %.1fs', lanes,
               sum(p.compile_seconds for p in prepared), sum(p.single_compile_seconds for p in prepared))
  # the sweep's time includes rendering the data table, as an experiment's does
  vmap_seconds = best_time(lambda: [block(experiment.data_table(config, dataset))] +
                           [block(p.vmapped(*p.sharded)) for p in prepared], config.bench.repeats)
  logging.info('vmapped sweep: %.2fs', vmap_seconds)
  sequential_seconds = best_time(lambda: [run_sequential(p, source, dataset.arrays) for p in prepared], 1)
  logging.info('one lane at a time: %.2fs', sequential_seconds)
  jax_accuracy = mean_accuracy(prepared)
  torch_seconds = torch_accuracy = torch_gpu = None
  torch_skipped = ('skipped (config.bench.torch = False)' if not config.bench.torch else
                   None if torch_loop.available() else 'skipped (torch not installed)')
  if torch_skipped is None:
    results = [run_torch(config, dataset, source, p) for p in prepared]
    torch_seconds = sum(r[0] for r in results)
    torch_accuracy = float(np.mean([a for r in results for a in r[1]]))
    logging.info('pytorch per-run loop: %.2fs', torch_seconds)
    gpu = torch_loop.cuda_device()
    if gpu is not None:
      results = [run_torch(config, dataset, source, p, device='cuda') for p in prepared]
      seconds = sum(r[0] for r in results)
      torch_gpu = {'device': gpu, 'seconds': seconds, 'speedup': seconds / vmap_seconds,
                   'mean_test_accuracy': float(np.mean([a for r in results for a in r[1]]))}
      logging.info('pytorch per-run loop on %s: %.2fs', gpu, seconds)
  bf16 = None
  if config.bench.bf16:
    half = [prepare(config, dataset, source, name, dtype=jnp.bfloat16, single=False) for name in config.strategies]
    seconds = best_time(lambda: [block(p.vmapped(*p.sharded)) for p in half], config.bench.repeats)
    accuracy = mean_accuracy(half)
    bf16 = {'vmap_seconds': seconds, 'speedup': vmap_seconds / seconds, 'mean_test_accuracy': accuracy,
            'accuracy_change': accuracy - jax_accuracy, 'compile_seconds': sum(p.compile_seconds for p in half),
            'peak_gflops': peak_matmul_gflops(tuple(config.bench.peak_sizes), dtype=jnp.bfloat16)}
    logging.info('vmapped sweep in bfloat16: %.2fs', seconds)
    del half
  profile = sweep_profile(prepared, config.steps)
  cost = sweep_cost(config, dataset, prepared)
  model_gflop = cost['analytic_gflop']
  work_gflop = model_gflop if cost['xla_gflop'] is None else cost['xla_gflop']
  peak = peak_matmul_gflops(tuple(config.bench.peak_sizes))
  bandwidth = bandwidth_gbs(config.bench.bandwidth_mb)
  bound = roofline(work_gflop, cost['gbytes'], peak, bandwidth)
  step = functools.partial(step_seconds, config, dataset, source, lanes=config.bench.step_lanes,
                           steps=tuple(config.bench.step_counts))
  fe_step, ft_step = step('feature_extraction'), step('fine_tuning')
  peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the (larger) scaling calls
  scaling = lane_scaling(config, dataset, source, tuple(config.bench.lane_counts))
  figures = {
      'grid': {'strategies': list(config.strategies), 'seeds': config.seeds, 'data_sizes': list(config.data_sizes),
               'shifts': list(config.shifts), 'lanes': lanes, 'steps': config.steps,
               'batch_size': config.batch_size, 'width': config.model.width, 'depth': config.model.depth},
      'vmap_seconds': vmap_seconds, 'sequential_seconds': sequential_seconds, 'torch_seconds': torch_seconds,
      'torch_skipped': torch_skipped, 'torch_gpu': torch_gpu,
      'compile_seconds': sum(p.compile_seconds for p in prepared),
      'table_first_call_seconds': table_seconds,
      'sweep_programs': len(prepared) + 1,  # one per strategy and the data table's
      'single_compile_seconds': sum(p.single_compile_seconds for p in prepared),
      'compile_over_sweep': sum(p.compile_seconds for p in prepared) / vmap_seconds,
      'compiler_options': compiler.options(),
      'speedup_vs_sequential': sequential_seconds / vmap_seconds,
      'speedup_vs_torch': None if torch_seconds is None else torch_seconds / vmap_seconds,
      'model_gflop': model_gflop, 'xla_gflop': cost['xla_gflop'], 'gbytes_accessed': cost['gbytes'], 'cost': cost,
      'peak_gflops': peak, 'achieved_gflops': model_gflop / vmap_seconds,
      'fraction_of_peak': model_gflop / vmap_seconds / peak,
      'xla_fraction_of_peak': work_gflop / vmap_seconds / peak,
      'bandwidth_gbs': bandwidth, 'bandwidth_mb': config.bench.bandwidth_mb,
      'roofline': bound, 'fraction_of_roofline': bound['seconds'] / vmap_seconds,
      'bf16': bf16, 'profile': profile,
      'fe_step_seconds': fe_step, 'ft_step_seconds': ft_step, 'ft_over_fe_step': ft_step / fe_step,
      'step_lanes': config.bench.step_lanes,
      'lane_scaling': scaling,
      'lane_scaling_seconds': {n: r.get('seconds') for n, r in scaling.items()},
      'lane_scaling_data_size': config.bench.scaling_data_size or max(config.data_sizes),
      'mean_test_accuracy': {'jax': jax_accuracy, 'torch': torch_accuracy},
      'peak_rss_mb': peak_rss_mb,
      'lane_scaling_peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      'devices': len(jax.devices()), 'machine': machine(),
  }
  figures['limit'] = limit_sentence(figures)
  return figures


def limit_sentence(b: dict) -> str:
  """What limits the sweep, from its figures: the roofline's bound where the sweep comes within half of it, else the
  overhead between the two. Bytes that would take longer at the measured bandwidth than the sweep took are not a
  bound: XLA counts a minibatch gather's whole pool as read (every step), which caches serve; then FLOPs decide."""
  r, g, seconds = b['roofline'], b['grid'], b['vmap_seconds']
  lead, bound, fraction, of = '', r['bound'], r['seconds'] / seconds, 'roofline'
  if r['memory_seconds'] is not None and r['memory_seconds'] > seconds:
    lead = (f"Not memory: XLA's {b['gbytes_accessed']:.3g} GB accessed would take {r['memory_seconds']:.3g} s at the "
            f'measured bandwidth, longer than the sweep took ({seconds:.3g} s), so they overstate its traffic (XLA '
            "counts each minibatch gather's whole pool as read; caches serve the re-reads). ")
    bound, fraction, of = 'compute', r['compute_seconds'] / seconds, 'compute bound (FLOPs / peak)'
  what = 'the matmul peak' if bound == 'compute' else 'memory bandwidth'
  if fraction >= 0.5:
    return lead + (f'{bound.capitalize()}-bound: the sweep runs at {fraction:.0%} of its {of}, so {what} is what '
                   'limits it.')
  profile = (b.get('profile') or {}).get('sweep')
  if profile is None:
    return lead + (f'Overhead, not {what}: the sweep takes {1 / fraction:.1f}x its {of} time, so the gap is per-step '
                   'loop and launch overhead and the inefficiency of small per-lane matmuls '
                   f"({g['batch_size']} rows by {g['width']} wide), not the machine's {what}.")
  share = profile['share']
  return lead + (f'Not {what} alone: the sweep takes {1 / fraction:.1f}x its {of} time. The profiler puts '
                 f"{share['matmul']:.0%} of the device time in matmuls (per-lane, {g['batch_size']} rows by "
                 f"{g['width']} wide, below the peak that large ones reach), {share['fused']:.0%} in XLA's generated "
                 'code (the Adam update, activations, losses, random minibatch draws and data generation) and '
                 f"{share['copy']:.0%} in copies and transposes; {1 - profile['per_step_share']:.0%} of it runs once "
                 'per run (generating each lane\'s data, initialising, evaluating), not in the steps.')


def profile_rows(b: dict) -> list[tuple[str, dict | None]]:
  """('sweep', its profile) then each strategy's; none for figures written before the benchmark profiled."""
  profile = b.get('profile')
  return [] if profile is None else [('sweep', profile['sweep'])] + list(profile['per_strategy'].items())


def fmt_figure(value, unit: str = '', digits: int = 2, missing: str = 'skipped (torch not installed)') -> str:
  return missing if value is None else f'{value:.{digits}f}{unit}'


def scaling_row(n: str, r: dict) -> tuple[str, str]:
  if 'skipped' in r:
    return f'one vmapped fine-tuning call of {n} lane(s), one device', f"skipped: {r['skipped']}"
  return (f'one vmapped fine-tuning call of {n} lane(s), one device',
          f"{r['seconds']:.3f} s ({r['us_per_lane_step']:.2f} µs per lane-step)")


def markdown(b: dict) -> str:
  g, m = b['grid'], b['machine']
  no_torch = b.get('torch_skipped') or 'skipped (torch not installed)'
  cost, r, half, gpu = b['cost'], b['roofline'], b['bf16'], b['torch_gpu']
  counted = ('XLA cost analysis, loop bodies x trip count' if cost['loops_scaled'] else 'XLA cost analysis')
  no_xla = 'not reported by this backend'
  rows = [
      ('vmapped sweep (`jit(vmap(train))`, one call per strategy, and the data table they share)',
       fmt_figure(b['vmap_seconds'], ' s')),
      ('same JAX training, one lane per call', fmt_figure(b['sequential_seconds'], ' s')),
      ('PyTorch, one Python training loop per run', fmt_figure(b['torch_seconds'], ' s', missing=no_torch)),
      ('PyTorch on GPU' + (f" ({gpu['device']})" if gpu else '') + ', one Python training loop per run',
       fmt_figure(gpu and gpu['seconds'], ' s', missing=no_torch if b['torch_seconds'] is None else
                  'skipped (torch sees no CUDA device)')),
      ('speed-up of the sweep over one lane per call', fmt_figure(b['speedup_vs_sequential'], 'x', 1)),
      ('speed-up of the sweep over PyTorch', fmt_figure(b['speedup_vs_torch'], 'x', 1, missing=no_torch)),
  ] + ([('speed-up of the sweep over PyTorch on GPU', fmt_figure(gpu['speedup'], 'x', 1))] if gpu else []) + [
      ("compilation of the sweep's programs (one per strategy; apart from the above)",
       fmt_figure(b['compile_seconds'], ' s')),
      ('compilation / sweep', fmt_figure(b['compile_over_sweep'], 'x', 2)),
      ("distinct programs of the sweep (one per strategy, and the shared data table's)",
       fmt_figure(b.get('sweep_programs'), '', 0)),
      ("the data table's first call (its compilation and one rendering of every seed and shift)",
       fmt_figure(b.get('table_first_call_seconds'), ' s')),
      ('compilation of the one-lane programs (the baseline above only)', fmt_figure(b['single_compile_seconds'], ' s')),
      ('model matmul work of the sweep (analytic count)', fmt_figure(b['model_gflop'], ' GFLOP', 1)),
      (f'work of the sweep ({counted})', fmt_figure(b['xla_gflop'], ' GFLOP', 1, missing=no_xla)),
      (f'bytes accessed by the sweep ({counted})', fmt_figure(b['gbytes_accessed'], ' GB', 1, missing=no_xla)),
      ('achieved during the sweep (analytic matmul count)', fmt_figure(b['achieved_gflops'], ' GFLOP/s', 1)),
      ('peak f32 matmul, measured in the same run', fmt_figure(b['peak_gflops'], ' GFLOP/s', 1)),
      ('fraction of peak (analytic matmul count)', fmt_figure(100 * b['fraction_of_peak'], ' %', 1)),
      (f"fraction of peak ({'XLA' if b['xla_gflop'] is not None else 'analytic'} FLOPs)",
       fmt_figure(100 * b['xla_fraction_of_peak'], ' %', 1)),
      (f"memory bandwidth (`x + 1` on {b['bandwidth_mb']:g} MB), measured in the same run",
       fmt_figure(b['bandwidth_gbs'], ' GB/s', 1)),
      ('roofline time: max(FLOPs / peak, bytes / bandwidth)',
       f"{r['seconds']:.3g} s ({r['bound']}-bound; FLOPs / peak {r['compute_seconds']:.3g} s, bytes / bandwidth "
       + ('unknown)' if r['memory_seconds'] is None else f"{r['memory_seconds']:.3g} s)")),
      ('fraction of roofline (roofline time / sweep time)', fmt_figure(100 * b['fraction_of_roofline'], ' %', 1)),
  ] + ([
      ('vmapped sweep with bfloat16 matmuls (float32 parameters and optimizer)',
       fmt_figure(half['vmap_seconds'], ' s')),
      ('speed of bfloat16 over float32 (f32 time / bf16 time)', fmt_figure(half['speedup'], 'x', 2)),
      ('mean test accuracy, bfloat16 minus float32', f"{half['accuracy_change']:+.4f}"),
      ('peak bfloat16 matmul, measured in the same run', fmt_figure(half['peak_gflops'], ' GFLOP/s', 1)),
  ] if half else []) + [
      (f'one feature-extraction step ({b["step_lanes"]} lanes)', fmt_figure(1e3 * b['fe_step_seconds'], ' ms', 3)),
      (f'one fine-tuning step ({b["step_lanes"]} lanes)', fmt_figure(1e3 * b['ft_step_seconds'], ' ms', 3)),
      ('fine-tuning step / feature-extraction step', fmt_figure(b['ft_over_fe_step'], 'x', 1)),
      ('mean test accuracy, JAX / PyTorch (sanity: same job)',
       f"{b['mean_test_accuracy']['jax']:.3f} / {fmt_figure(b['mean_test_accuracy']['torch'], '', 3, no_torch)}"),
  ] + [(f"where the sweep's device time goes{'' if name == 'sweep' else f' ({name})'} (jax.profiler, op seconds)",
         profile_text(r)) for name, r in profile_rows(b)] + (
      [('mean test accuracy, PyTorch on GPU', fmt_figure(gpu['mean_test_accuracy'], '', 3))] if gpu else []) + [
      ('peak resident memory (everything above)', fmt_figure(b['peak_rss_mb'], ' MB', 0)),
  ] + [scaling_row(n, s) for n, s in b['lane_scaling'].items()] + [
      ('peak resident memory including those calls', fmt_figure(b['lane_scaling_peak_rss_mb'], ' MB', 0))]
  lines = ['# Benchmark', '',
           f"Machine: {m['cpu']}, {m['cores']} cores, {b['devices']} JAX device(s) ({m['device_kind']}), "
           f"jax {m['jax']}; compiler options {b['compiler_options'] or 'XLA defaults'}.",
           f"Grid: {', '.join(g['strategies'])} x {g['seeds']} seeds x data sizes {g['data_sizes']} x shifts "
           f"{g['shifts']} = {g['lanes']} runs of {g['steps']} steps (batch {g['batch_size']}).",
           f"Lane scaling: fine-tuning runs of {g['steps']} steps on target pools of {b['lane_scaling_data_size']} "
           'examples.', '',
           '| measure | value |', '|---|---|'] + [f'| {k} | {v} |' for k, v in rows]
  return '\n'.join(lines) + '\n\n' + f"**What limits the sweep:** {b['limit']}\n"


def write(out_dir: str, figures: dict) -> None:
  io.makedirs(out_dir)
  io.write_json(os.path.join(out_dir, 'benchmark.json'), figures)
  io.write_text(os.path.join(out_dir, 'benchmark.md'), markdown(figures))
