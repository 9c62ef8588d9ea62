"""The multi-host path, run: `scripts.run --jax_distributed` as two processes on localhost (CPU devices, gloo
collectives) gives exactly the one-process records, and only process 0 writes files.

Each process fakes 2 CPU devices, so the lane mesh spans 4 devices over 2 processes and every chunk's results are
gathered across processes (sweep.gather). The processes find each other through JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES and JAX_PROCESS_ID (read by transfer/run/cli.py), as BUILD.md tells a user without SLURM or a TPU.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tests.conftest import cpu_env

PROCESSES = 2
DEVICES_PER_PROCESS = 2  # CPU devices, whatever the machine has (a GPU would be one device for both processes)
METRICS = ('test_accuracy', 'test_loss', 'train_loss', 'val_accuracy', 'val_loss', 'oracle_test_accuracy')
TIMEOUT = 240  # seconds per launch; a process that waits for a dead peer is killed, not left behind


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def launch(workdir_prefix: str, *flags) -> list[tuple[int, str]]:
  """Runs the smoke sweep as PROCESSES processes of one job, process i into <prefix><i>; (returncode, stderr) each."""
  port = free_port()
  procs = [subprocess.Popen(
      [sys.executable, '-m', 'scripts.run', '--config=configs/domain_shift.py:smoke', f'--workdir={workdir_prefix}{i}',
       '--jax_distributed', *flags], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
      env=cpu_env(XLA_FLAGS=f'--xla_force_host_platform_device_count={DEVICES_PER_PROCESS}',
                  JAX_COORDINATOR_ADDRESS=f'localhost:{port}', JAX_NUM_PROCESSES=str(PROCESSES),
                  JAX_PROCESS_ID=str(i), JAX_CPU_COLLECTIVES_IMPLEMENTATION='gloo'))
           for i in range(PROCESSES)]
  try:
    stderrs = [p.communicate(timeout=TIMEOUT)[1] for p in procs]
    return [(p.returncode, stderr) for p, stderr in zip(procs, stderrs)]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.communicate()


@pytest.fixture(scope='module')
def job(tmp_path_factory):
  """The smoke sweep run once as a two-process job: (workdir prefix, [(returncode, stderr)] per process)."""
  prefix = str(tmp_path_factory.mktemp('multihost') / 'process')
  return prefix, launch(prefix)


def assert_succeeded(results):
  for i, (code, stderr) in enumerate(results):
    assert code == 0, f'process {i}:\n{stderr[-3000:]}'


def test_two_processes_give_exactly_the_one_process_records(job, cpu_smoke_runs):
  prefix, results = job
  assert_succeeded(results)
  with open(f'{prefix}0/results.json') as f:
    runs = json.load(f)['runs']
  assert len(runs) == len(cpu_smoke_runs)
  for run, reference in zip(runs, cpu_smoke_runs):  # the grid's order, key by key
    assert {k: v for k, v in run.items() if k not in METRICS} == {k: v for k, v in reference.items()
                                                                   if k not in METRICS}
    for metric in METRICS:
      np.testing.assert_allclose(run[metric], reference[metric], atol=1e-5, err_msg=f'{run} {metric}')
  devices = PROCESSES * DEVICES_PER_PROCESS  # the mesh spans every process's devices
  assert all(f'{devices} device(s)' in stderr for _, stderr in results)


def test_only_process_0_writes(job, smoke_run):
  prefix, results = job
  assert_succeeded(results)
  assert sorted(os.listdir(f'{prefix}0')) == sorted(os.listdir(smoke_run[0]))  # every file, written once
  assert not os.path.exists(f'{prefix}1')  # no workdir, results, plot or source-model cache
  assert 'Pre-trained the source models of seeds' in results[0][1]
  assert 'Pre-trained' not in results[1][1]  # process 1 got the source models from process 0


def test_a_rerun_resumes_from_process_0s_workdir(job):
  """Process 1 has no files; it still runs exactly what process 0's workdir lacks (nothing), so neither waits for a
  collective the other never joins."""
  prefix, _ = job
  results = launch(prefix)
  assert_succeeded(results)
  for _, stderr in results:
    assert stderr.count('lanes already in the workdir; running 0') == 3, stderr[-3000:]
  assert not os.path.exists(f'{prefix}1')


def test_a_workdir_error_stops_every_process(job):
  prefix, _ = job
  results = launch(prefix, '--config.batch_size=5')  # changes every result (growing seeds would be accepted)
  for code, stderr in results:
    assert code != 0
    assert 'WorkdirError' in stderr and 'batch_size' in stderr, stderr[-3000:]
