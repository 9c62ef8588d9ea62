"""Import before jax (`from transfer.run import xla_env`): on CPU, one XLA device per core, so a sweep's lanes run
on every core in parallel.

A single XLA CPU device runs one program on essentially one core for this workload (small per-lane matmuls);
sharding the lane axis over one device per core measured 1.4x faster on 2 cores (see outputs/benchmark/). Accelerator
backends are unaffected (the flag only shapes the host platform). An XLA_FLAGS that already sets the count wins.
"""

import os
import sys

FLAG = '--xla_force_host_platform_device_count'


def one_device_per_core() -> None:
  if 'jax' in sys.modules:
    raise RuntimeError('transfer.run.xla_env must be imported before jax')
  flags = os.environ.get('XLA_FLAGS', '')
  if FLAG not in flags:
    os.environ['XLA_FLAGS'] = f'{flags} {FLAG}={os.cpu_count() or 1}'.strip()


one_device_per_core()
