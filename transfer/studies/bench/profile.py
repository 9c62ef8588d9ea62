"""Where the sweep's device time goes, from jax.profiler traces: each strategy's program called once more under the
profiler, its ops' time split by kind (matmuls, XLA's generated code, copies) and by how often they run (in every
optimizer step, or once per run: data generation, initialisation, evaluation)."""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import tempfile
from collections.abc import Callable

import jax

from transfer.run import sweep
from transfer.studies.bench import measure
from transfer.studies.bench import result

OP_NAME = re.compile(r'^[A-Za-z][\w-]*(\.\d+)?$')  # an HLO instruction's name, as the profiler names its thunk
MATMUL_PREFIXES = ('dot', 'ynn', 'convolution', 'custom-call', 'cublas', 'gemm', 'triton_gemm')
COPY_PREFIXES = ('copy', 'transpose', 'dynamic-update-slice', 'memcpy')
KINDS = ('matmul', 'copy', 'fused')


def op_kind(name: str) -> str:
  """'matmul' (dots, convolutions and library calls such as XNNPACK/YNNPACK's), 'copy' (copies and transposes) or
  'fused' (XLA's own generated code: elementwise fusions, reductions, random bits, gathers, the optimizer update)."""
  lowered = name.lower()
  if lowered.startswith(MATMUL_PREFIXES):
    return 'matmul'
  return 'copy' if lowered.startswith(COPY_PREFIXES) else 'fused'


def op_profile(events: dict[str, tuple[float, int]], steps: int, devices: int) -> result.OpProfile | None:
  """Where a program's device time goes, from its ops' (total seconds, calls) summed over devices: shares by kind
  (op_kind) and by how often an op runs: 'per_step' (at least once per optimizer step on every device) or
  'per_run' (less often: data generation, initialisation, evaluation). None without op events."""
  total = sum(seconds for seconds, _ in events.values())
  if not total:
    return None
  kinds, per_step = dict.fromkeys(KINDS, 0.0), 0.0
  for name, (seconds, calls) in events.items():
    kinds[op_kind(name)] += seconds
    per_step += seconds if calls >= steps * devices else 0.0
  return result.OpProfile(total, result.Shares(**{k: v / total for k, v in kinds.items()}), per_step / total,
                          len(events))


def self_times(events: list[dict]) -> dict[str, tuple[float, int]]:
  """{op name: (total seconds, calls)} from a trace's complete events ('ph' 'X', microseconds) named like HLO
  instructions (OP_NAME; Python frames and runtime events are left out). An op's seconds are its own: an event that
  holds others on its thread (a while loop's, around the ops of its body) counts its duration less theirs, so no op
  time is counted twice."""
  ops = [e for e in events if e.get('ph') == 'X' and OP_NAME.match(e.get('name', ''))]
  threads: dict[tuple, list[dict]] = {}
  for event in ops:
    threads.setdefault((event.get('pid'), event.get('tid')), []).append(event)
  found: dict[str, list] = {}
  for thread in threads.values():
    thread.sort(key=lambda e: (e.get('ts', 0), -e.get('dur', 0)))  # a holder before what it holds
    spans = [(e.get('ts', 0), e.get('dur', 0)) for e in thread]  # microseconds
    own = [duration for _, duration in spans]
    holders: list[int] = []  # the events holding the current one, innermost last
    for i, (start, duration) in enumerate(spans):
      while holders and sum(spans[holders[-1]]) <= start:  # that holder ended before this event began
        holders.pop()
      if holders:
        own[holders[-1]] -= duration
      holders.append(i)
    for event, microseconds in zip(thread, own):
      entry = found.setdefault(event['name'], [0.0, 0])
      entry[0] += microseconds / 1e6
      entry[1] += 1
  return {name: (seconds, calls) for name, (seconds, calls) in found.items()}


def traced_ops(fn: Callable, trace_dir: str) -> dict[str, tuple[float, int]]:
  """Calls `fn` under jax.profiler and returns the `self_times` of the XLA ops it ran. Empty where the backend's
  trace has no per-op events."""
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
  return self_times(trace['traceEvents'] if isinstance(trace, dict) else trace)


def sweep_profile(prepared: list[measure.Prepared], steps: int) -> result.Profile:
  """One more call of each strategy's program under the profiler: the op_profile of each, and the sweep's: their
  shares weighted by each program's op seconds (None where some program's trace has no per-op events)."""
  devices = sweep.lane_mesh().size
  per_strategy = {}
  for p in prepared:
    with tempfile.TemporaryDirectory() as trace_dir:
      per_strategy[p.name] = op_profile(traced_ops(lambda p=p: measure.block(p.vmapped(*p.sharded)), trace_dir), steps,
                                        devices)
  found = [r for r in per_strategy.values() if r is not None]
  if len(found) < len(per_strategy):
    return result.Profile(per_strategy, None)
  total = sum(r.op_seconds for r in found)
  weighted = lambda get: sum(get(r) * r.op_seconds for r in found) / total
  share = result.Shares(**{k: weighted(lambda r, k=k: getattr(r.share, k)) for k in KINDS})
  return result.Profile(per_strategy, result.OpProfile(total, share, weighted(lambda r: r.per_step_share)))
