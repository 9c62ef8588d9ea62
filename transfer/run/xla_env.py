"""Import before jax (`from transfer.run import xla_env`): on CPU, one XLA device per usable core, so a sweep's lanes
run on every core in parallel.

A single XLA CPU device runs one program on essentially one core for this workload (small per-lane matmuls);
sharding the lane axis over one device per core measured 1.4x faster on 2 cores (see outputs/benchmark/). Accelerator
backends are unaffected (the flag only shapes the host platform). An XLA_FLAGS that already sets the count wins.

The count is of the cores this process may run on (its CPU affinity, which SLURM, taskset and container CPU sets
restrict), not of the machine's: more devices than usable cores would only contend for them.

It also drops the INFO line jax logs on every machine without libtpu ("Unable to initialize backend 'tpu': ... Failed to
open libtpu.so"); jax still looks for every backend, and any other backend failure is still logged.
"""

from __future__ import annotations

import logging
import os
import sys

FLAG = '--xla_force_host_platform_device_count'


def usable_cpus() -> int:
  """Cores this process may run on: its affinity mask where the OS has one (Linux), else every core."""
  if hasattr(os, 'sched_getaffinity'):
    return max(1, len(os.sched_getaffinity(0)))
  return os.cpu_count() or 1


def one_device_per_core() -> None:
  if 'jax' in sys.modules:
    raise RuntimeError('transfer.run.xla_env must be imported before jax')
  flags = os.environ.get('XLA_FLAGS', '')
  if FLAG not in flags:
    os.environ['XLA_FLAGS'] = f'{flags} {FLAG}={usable_cpus()}'.strip()


def quiet_missing_tpu() -> None:
  logging.getLogger('jax._src.xla_bridge').addFilter(
      lambda record: 'Failed to open libtpu.so:' not in record.getMessage())


one_device_per_core()
quiet_missing_tpu()
