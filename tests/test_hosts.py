"""What every entrypoint shares about the host: the CPU devices it fakes and (below) the compilation cache and the
one process that writes files."""

import os
import subprocess
import sys

import pytest

from transfer.run import xla_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_usable_cpus_counts_the_affinity_mask_not_the_machine(monkeypatch):
  monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {3}, raising=False)
  monkeypatch.setattr(os, 'cpu_count', lambda: 64)
  assert xla_env.usable_cpus() == 1


def test_usable_cpus_falls_back_to_the_core_count_without_an_affinity_mask(monkeypatch):
  monkeypatch.delattr(os, 'sched_getaffinity', raising=False)
  monkeypatch.setattr(os, 'cpu_count', lambda: 6)
  assert xla_env.usable_cpus() == 6


@pytest.mark.skipif(not hasattr(os, 'sched_setaffinity'), reason='no CPU affinity on this OS')
def test_a_process_limited_to_one_core_fakes_one_cpu_device():
  code = 'from transfer.run import xla_env; import os; print(os.environ["XLA_FLAGS"])'
  one_core = min(os.sched_getaffinity(0))
  proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                        env=dict(os.environ, XLA_FLAGS=''), preexec_fn=lambda: os.sched_setaffinity(0, {one_core}))
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.split() == [f'{xla_env.FLAG}=1']
