"""Shared smoke-sized fixtures: a config, its loaded dataset and per-seed pre-trained source models."""

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile

# Identical programs compiled by several tests (and by the scripts they start) are compiled once per session, in a
# cache of the session's own: the scripts' default cache (transfer/run/cli.py, ~/.cache/transfer/jax) is the user's.
# The process that makes it (pytest's own; its workers and scripts inherit it) deletes it when it exits.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='transfer-jax-cache-')
  atexit.register(shutil.rmtree, os.environ['JAX_COMPILATION_CACHE_DIR'], ignore_errors=True)
os.environ['TRANSFER_JAX_CACHE'] = os.environ['JAX_COMPILATION_CACHE_DIR']
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')
# The suite's sweeps compile at LLVM level 0, not the scripts' 1: its smoke programs are almost all compilation, and
# level 0 compiles them about a quarter faster. Set in the environment, so that the scripts the tests start compile
# as the tests' own runs do (transfer/compiler.py); tests/test_compiler.py compares the scripts' level 1 with XLA's
# default 3 explicitly.
os.environ['TRANSFER_CPU_OPT_LEVEL'] = '0'

from transfer.run import xla_env  # noqa: E402,F401  (for its effect, before jax, as the scripts do)

import jax
import pytest

from configs import domain_shift
from transfer.data import dataset as dataset_lib
from transfer.run import experiment
from transfer.run import sources


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def same_arithmetic_atol(cpu_atol: float = 0.0) -> float:
  """The tolerance between two different compiled programs that do the same arithmetic (a strategy that reduces to
  another, a vmapped lane and the same run alone): `cpu_atol` on CPU, where XLA's results for these tests are
  bit-identical or within it; at least 1e-5 on an accelerator, where XLA fuses, tiles and autotunes each program's
  matmuls separately (and may round float32 matmul inputs to TF32), so the last bits differ and training compounds
  them. Checks that hold by construction on any backend (a frozen parameter is bit-identical) stay exact."""
  return cpu_atol if jax.default_backend() == 'cpu' else max(cpu_atol, 1e-5)


def cpu_env(**extra) -> dict:
  """The environment of a test subprocess that must run on CPU devices whatever the machine has (on a GPU machine
  the default backend is the GPU, with its own device count and numerics)."""
  return dict(os.environ, JAX_PLATFORMS='cpu', **extra)


def smoke_config(**overrides):
  """The domain-shift smoke config, unlocked, with `overrides` applied (dotted names allowed via nested dicts)."""
  config = domain_shift.get_config('smoke')
  with config.unlocked():
    for key, value in overrides.items():
      config[key] = value
  return config


def run_data(config, dataset, lane):
  """What `target.fit` trains and evaluates on for `lane` (its pool split for validation as the config says; no
  source task measured)."""
  from transfer.train import strategies
  from transfer.train import target
  strategy, spec = strategies.get('scratch'), experiment.target_spec(config, dataset)
  own = target.render(dataset.arrays, lane, data=dataset.data, strategy=strategy, spec=spec)
  run, _, _ = target.prepared(lane, own, data=dataset.data, strategy=strategy, spec=spec)
  return run


@pytest.fixture(scope='session')
def config():
  return smoke_config()


@pytest.fixture(scope='session')
def dataset(config):
  return dataset_lib.load(config)


@pytest.fixture(scope='session')
def source_params(config, dataset):
  params, _ = sources.pretrain_all(config, dataset)
  return params


@pytest.fixture(scope='session')
def smoke_run(tmp_path_factory):
  """One uninterrupted smoke experiment: (workdir, config, table)."""
  workdir = str(tmp_path_factory.mktemp('smoke'))
  config = smoke_config()
  return workdir, config, experiment.run(config, workdir).table


@pytest.fixture(scope='session')
def cpu_smoke_workdir(request, tmp_path_factory):
  """The smoke sweep's workdir from one process on CPU: the reference of the multi-device and multi-process runs,
  which run on CPU devices. On a CPU backend that is the session's smoke run; elsewhere the script, run on CPU (a
  GPU's float32 differs from the CPU's in the last bits, e.g. TF32 matmuls, and training amplifies that)."""
  if jax.default_backend() == 'cpu':
    return request.getfixturevalue('smoke_run')[0]
  else:
    workdir = str(tmp_path_factory.mktemp('cpu_smoke'))
    proc = subprocess.run([sys.executable, '-m', 'scripts.run', '--config=configs/domain_shift.py:smoke',
                           f'--workdir={workdir}'], cwd=REPO, env=cpu_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


@pytest.fixture(scope='session')
def cpu_smoke_runs(cpu_smoke_workdir):
  """The records of `cpu_smoke_workdir`."""
  with open(os.path.join(cpu_smoke_workdir, 'results.json')) as f:
    return json.load(f)['runs']


@pytest.fixture(scope='session')
def train_fn_for(config, dataset):
  """strategy name -> `train` with the smoke config's structure bound."""
  from transfer.train import strategies
  return functools.lru_cache(None)(
      lambda name: experiment.strategy_train_fn(config, dataset, strategies.get(name)))
