"""The cost model of the sweep: its work counted twice, by an analytic count of the model's matmuls and by XLA's cost
analysis of each compiled program (FLOPs and bytes accessed); the machine's practical peak (a large matmul) and memory
bandwidth (a large `x + 1`), measured; the roofline time, max(FLOPs / peak, bytes / bandwidth); and what the sweep's
small per-lane matmuls reach on their own (`lane_matmul_gflops`), the ceiling of its speed.

XLA's cost analysis counts the body of a loop once, not once per iteration (checked at run time by
`loops_counted_once`, on a tiny scan at two lengths; tests/test_bench.py checks it too). Every run is a `lax.scan`
over its steps, so where that holds each scan's body is compiled on its own and its figures are added (length - 1)
more times (`program_cost`). XLA's bytes accessed are an upper bound on memory traffic: it counts a gather's whole
operand (every minibatch draw reads the lane's whole pool, by its count); `render.limit_sentence` says where that
overstates the traffic.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.extend
import jax.numpy as jnp

from transfer import compiler
from transfer.run import sweep
from transfer.studies.bench import measure
from transfer.studies.bench import result
from transfer.train import strategies


def peak_matmul_gflops(sizes=(1024, 2048), repeats: int = 5, dtype=jnp.float32) -> float:
  """Best matmul throughput over a few square sizes (f32 unless `dtype`): the machine's practical peak."""
  best = 0.0
  for n in sizes:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32).astype(dtype)
    f = compiler.jit(lambda x: x @ x)
    measure.block(f(a))
    best = max(best, 2 * n ** 3 / measure.best_time(lambda: measure.block(f(a)), repeats) / 1e9)
  return best


def bandwidth_gbs(megabytes: float, repeats: int = 5) -> float:
  """Memory bandwidth, GB/s: bytes read and written by `x + 1` on a float32 array of `megabytes`, sharded over every
  device as the sweep's lanes are, over its best time."""
  mesh = sweep.lane_mesh()
  rows = max(1, round(megabytes * 2**20 / 4 / 1024 / mesh.size)) * mesh.size
  x = jax.device_put(jnp.zeros((rows, 1024), jnp.float32),
                     jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('lanes')))
  f = compiler.jit(lambda a: a + 1.0)
  measure.block(f(x))
  return 2 * x.nbytes / measure.best_time(lambda: measure.block(f(x)), repeats) / 1e9


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
    train_flop = rows * trained_flop_per_row(config, num_classes)
  return (train_flop + config.data.test_size * (fwd_backbone + fwd_head)) / 1e9


def layer_shapes(config, num_classes: int) -> list[tuple[int, int]]:
  """(in, out) of every layer, the head last."""
  backbone, head = dense_shapes(config, num_classes)
  return backbone + [head]


def trained_flop_per_row(config, num_classes: int) -> int:
  """Matmul FLOPs of one training example through the whole trained model: every layer's forward and weight
  gradient, and the input gradient of every layer but the first (nothing differentiates the input itself)."""
  layers = layer_shapes(config, num_classes)
  fwd = sum(2 * i * o for i, o in layers)
  return 3 * fwd - 2 * layers[0][0] * layers[0][1]  # forward, weight and input gradients, less the input's


def lane_matmuls(weights, x, grad_out):
  """One lane's matmuls of a training step and nothing else: the forward through `weights` ((in, out) each, no
  activation), then from `grad_out` every weight gradient and every input gradient but the first layer's. Returns
  the output and the weight gradients, last layer's first (so that no matmul is dead code)."""
  inputs = [x]
  for w in weights:
    inputs.append(inputs[-1] @ w)
  grads = []
  for k in reversed(range(len(weights))):
    grads.append(inputs[k].T @ grad_out)
    if k:
      grad_out = grad_out @ weights[k].T
  return inputs[-1], grads


def lane_matmul_gflops(config, num_classes: int, lanes: int, repeats: int = 30) -> float:
  """What the sweep's per-lane matmuls reach on their own: `lane_matmuls` of one minibatch (`config.batch_size`
  rows) at the model's shapes, vmapped over `lanes` lanes (a multiple of the devices) and sharded over every device
  as the sweep's lanes are; GFLOP/s by the analytic count (`trained_flop_per_row`), best of `repeats` (this
  machine's speed varies from call to call). It is the speed the sweep's matmuls would have with nothing else in the
  program, with this backend's matmul kernels: the ceiling of the sweep's own speed."""
  mesh = sweep.lane_mesh()
  split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('lanes'))
  layers = layer_shapes(config, num_classes)
  keys = jax.random.split(jax.random.key(0), len(layers) + 2)
  normal = lambda key, *shape: jax.device_put(jax.random.normal(key, (lanes, *shape), jnp.float32), split)
  weights = [normal(k, i, o) / i ** 0.5 for k, (i, o) in zip(keys, layers)]
  x, grad_out = normal(keys[-2], config.batch_size, layers[0][0]), normal(keys[-1], config.batch_size, layers[-1][1])
  f = compiler.jit(jax.vmap(lane_matmuls))
  measure.block(f(weights, x, grad_out))
  seconds = measure.best_time(lambda: measure.block(f(weights, x, grad_out)), repeats)
  return lanes * config.batch_size * trained_flop_per_row(config, num_classes) / seconds / 1e9


class XlaCost(NamedTuple):
  """XLA's cost analysis of one compiled program, as it reports it (a loop's body counted once)."""

  flops: float
  bytes: float | None  # bytes accessed; None where not reported


class ProgramCost(NamedTuple):
  """A program's FLOPs and bytes accessed with every loop iteration counted where `loops_scaled`; the loops that
  could not be scaled (while loops, loops inside a cond) are counted in `loops_uncorrected`."""

  flops: float
  bytes: float | None
  loops_scaled: bool
  loops_uncorrected: int


def cost_figures(compiled) -> XlaCost | None:
  """XLA's cost analysis of a compiled program, or None where the backend reports no FLOPs. Some jax versions return
  one dict per program in a list; some backends return nothing, or -1 for what they cannot count."""
  try:
    analysis = compiled.cost_analysis()
  except Exception:  # unimplemented on some backends; the analytic count stands in
    return None
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else None
  if not analysis or analysis.get('flops') is None or analysis['flops'] < 0:
    return None
  nbytes = analysis.get('bytes accessed')
  return XlaCost(float(analysis['flops']), None if nbytes is None or nbytes < 0 else float(nbytes))


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
  return figures[1].flops < 1.5 * figures[0].flops


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
      once = XlaCost(0.0, 0.0)
      if length > unroll:
        args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in body.in_avals]
        once = cost_figures(compiler.jit(jax.extend.core.jaxpr_as_fun(body)).lower(*args).compile()) or XlaCost(
            0.0, None)
      flops += (length - unroll) * once.flops + length * inner_flops
      nbytes = None if None in (nbytes, once.bytes, inner_bytes) else (
          nbytes + (length - unroll) * once.bytes + length * inner_bytes)
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


def program_cost(fn, args, compiled=None, devices: int = 1) -> ProgramCost | None:
  """XLA's FLOPs and bytes accessed of `fn(*args)`, every loop iteration counted; None where the backend reports
  none. `compiled` is `fn`'s compiled program for `args` if there is one already (else it is compiled here); its
  figures are per device, so a program sharded over `devices` devices counts `devices` times."""
  figures = cost_figures(compiled if compiled is not None else compiler.jit(fn).lower(*args).compile())
  if figures is None:
    return None
  flops, nbytes = figures.flops * devices, None if figures.bytes is None else figures.bytes * devices
  scaled, left = loops_counted_once(), 0
  if scaled:
    extra_flops, extra_bytes, left = loop_correction(jax.make_jaxpr(fn)(*args).jaxpr)
    flops += extra_flops
    nbytes = None if None in (nbytes, extra_bytes) else nbytes + extra_bytes
  return ProgramCost(flops, nbytes, scaled, left)


def roofline(gflop: float, gbytes: float | None, peak_gflops: float, bandwidth: float) -> result.Roofline:
  """The least time `gflop` of work moving `gbytes` can take at the matmul peak and the memory bandwidth (GB/s):
  the larger of the two bounds, and which it is (compute where the bytes are unknown)."""
  compute = gflop / peak_gflops
  memory = None if gbytes is None else gbytes / bandwidth
  bound = 'compute' if memory is None or compute >= memory else 'memory'
  return result.Roofline(compute, memory, compute if bound == 'compute' else memory, bound)


def sweep_cost(config, dataset, prepared: list[measure.Prepared]) -> result.Cost:
  """The sweep's work by XLA's cost analysis of each strategy's compiled program (every loop iteration counted),
  beside the analytic matmul count; where the backend reports no cost analysis, the analytic count and no bytes."""
  devices = sweep.lane_mesh().size
  analytic = {p.name: sum(lane_gflop(config, strategies.get(cell['strategy']), max(config.data_sizes),
                                     dataset.data.target_classes) for cell in p.cells) for p in prepared}
  costs = {p.name: program_cost(p.program, p.sharded, p.vmapped, devices) for p in prepared}
  xla = all(c is not None for c in costs.values())
  per_strategy = {name: result.StrategyCost(
      analytic[name], None if costs[name] is None else costs[name].flops / 1e9,
      None if costs[name] is None or costs[name].bytes is None else costs[name].bytes / 1e9) for name in analytic}
  gbytes = [c.xla_gbytes for c in per_strategy.values()]
  return result.Cost(
      source='xla' if xla else 'analytic (the backend reported no cost analysis)',
      xla_gflop=sum(c.xla_gflop for c in per_strategy.values()) if xla else None,
      analytic_gflop=sum(analytic.values()),
      gbytes=sum(gbytes) if xla and None not in gbytes else None,
      loops_scaled=xla and all(c.loops_scaled for c in costs.values()),
      loops_uncorrected=sum(c.loops_uncorrected for c in costs.values()) if xla else None,
      per_strategy=per_strategy)
