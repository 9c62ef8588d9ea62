"""What every entrypoint shares about the host: the CPU devices it fakes and (below) the compilation cache and the
one process that writes files."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from transfer import errors
from transfer import io
from transfer.report import plots
from transfer.run import cli
from transfer.run import store
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
  one_core = min(os.sched_getaffinity(0))
  code = (f'import os; os.sched_setaffinity(0, {{{one_core}}}); from transfer.run import xla_env; '
          'print(os.environ["XLA_FLAGS"])')
  proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                        env=dict(os.environ, XLA_FLAGS=''))
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.split() == [f'{xla_env.FLAG}=1']


# The persistent compilation cache (transfer/run/cli.py).

CACHE_OPTIONS = ('jax_enable_compilation_cache', 'jax_compilation_cache_dir',
                 'jax_persistent_cache_min_compile_time_secs')


@pytest.fixture
def jax_cache_config():
  """Restores the cache options a test changes (the session's own cache is set by conftest.py)."""
  saved = {name: getattr(jax.config, name) for name in CACHE_OPTIONS}
  yield
  for name, value in saved.items():
    jax.config.update(name, value)


@pytest.mark.parametrize('environ, expected', [
    ({}, os.path.join(os.path.expanduser('~'), '.cache', 'transfer', 'jax')),
    ({'XDG_CACHE_HOME': '/xdg'}, '/xdg/transfer/jax'),
    ({'XDG_CACHE_HOME': '/xdg', 'TRANSFER_JAX_CACHE': '/mine'}, '/mine'),
    ({'XDG_CACHE_HOME': '/xdg', 'TRANSFER_JAX_CACHE': ''}, None),  # set but empty: off
])
def test_the_compilation_cache_folder_is_documented_and_overridable(environ, expected):
  assert cli.compilation_cache_dir(environ) == expected


def test_the_cache_is_set_through_jax_config_and_can_be_turned_off(jax_cache_config, tmp_path):
  cli.use_compilation_cache(str(tmp_path))
  assert jax.config.jax_enable_compilation_cache
  assert jax.config.jax_compilation_cache_dir == str(tmp_path)
  assert jax.config.jax_persistent_cache_min_compile_time_secs == cli.MIN_COMPILE_SECONDS
  cli.use_compilation_cache(None)
  assert not jax.config.jax_enable_compilation_cache


def test_the_tests_and_the_scripts_they_start_never_use_the_users_cache():
  assert os.environ[cli.CACHE_ENV] == os.environ['JAX_COMPILATION_CACHE_DIR']
  assert cli.compilation_cache_dir(os.environ) != cli.compilation_cache_dir({})


def initialize_in_a_subprocess(*argv, **environ):
  code = ('import sys, jax; from transfer.run import cli; cli.parse_flags(sys.argv); cli.initialize(); '
          'print(jax.config.jax_enable_compilation_cache, jax.config.jax_compilation_cache_dir)')
  proc = subprocess.run([sys.executable, '-c', code, *argv], cwd=REPO, capture_output=True, text=True,
                        env=dict(os.environ, **environ), timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return proc.stdout.split()


def test_every_entrypoint_caches_compiled_programs_unless_told_not_to(tmp_path):
  assert initialize_in_a_subprocess(TRANSFER_JAX_CACHE=str(tmp_path)) == ['True', str(tmp_path)]
  assert initialize_in_a_subprocess('--jax_cache=false', TRANSFER_JAX_CACHE=str(tmp_path))[0] == 'False'
  assert initialize_in_a_subprocess(TRANSFER_JAX_CACHE='')[0] == 'False'


ENTRYPOINTS = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, 'scripts'))
                     if name.endswith('.py') and name != '__init__.py')


def test_the_entrypoints_are_found():
  assert {'run', 'decide', 'advise', 'bench', 'report', 'concept'} <= set(ENTRYPOINTS)


@pytest.mark.parametrize('script', ENTRYPOINTS)
def test_every_entrypoint_initializes_first(script):
  """cli.initialize (cache, --jax_distributed) is main's first call, before the config is read or anything runs."""
  with open(os.path.join(REPO, 'scripts', f'{script}.py')) as f:
    text = f.read()
  main = text[text.index('def main(argv):'):]
  body = [line.strip() for line in main.splitlines()[1:] if line.strip()]
  assert body[:3] == ['if len(argv) > 1:', "raise app.UsageError(f'Unexpected arguments: {argv[1:]}')",
                      'cli.initialize()'], script


# Joining a multi-host job (--jax_distributed).


def test_the_process_count_and_id_come_from_the_environment_where_set():
  assert cli.distributed_args({}) == {}  # detected by jax (SLURM, Open MPI, Cloud TPU)
  assert cli.distributed_args({'JAX_NUM_PROCESSES': '2', 'JAX_PROCESS_ID': '1'}) == {'num_processes': 2,
                                                                                     'process_id': 1}
  with pytest.raises(errors.UserError, match="JAX_PROCESS_ID='one' is not an integer"):
    cli.distributed_args({'JAX_NUM_PROCESSES': '2', 'JAX_PROCESS_ID': 'one'})


# Only process 0 writes files (transfer/io.py); tests/test_multihost.py runs it as two real processes.


@pytest.fixture
def process_1(monkeypatch):
  """This process as process 1 of a multi-process job, as far as transfer.io can tell."""
  monkeypatch.setattr(jax.distributed, 'is_initialized', lambda: True)
  monkeypatch.setattr(jax, 'process_index', lambda: 1)


def write_everything(folder) -> None:
  """Every kind of file operation the package does, each through its one function."""
  io.write_text(str(folder / 'a.txt'), 'text')
  io.write_json(str(folder / 'b.json'), {'x': 1})
  io.save_msgpack(str(folder / 'c.msgpack'), {'w': np.ones(3, np.float32)})
  io.makedirs(str(folder / 'd'))
  io.remove(str(folder / 'kept.txt'))
  fig, _ = plots.plt.subplots()
  plots.save(fig, str(folder / 'e.png'))
  runs = store.open_workdir(str(folder / 'workdir'), experiment='x', config_json='{}', overwrite=False)
  runs.add([{'strategy': 's', 'seed': 0, 'test_accuracy': 0.5}])


def test_a_process_other_than_0_writes_nothing(tmp_path, process_1):
  (tmp_path / 'kept.txt').write_text('not deleted by process 1')
  write_everything(tmp_path)
  assert os.listdir(tmp_path) == ['kept.txt']


def test_process_0_writes_everything(tmp_path):
  (tmp_path / 'kept.txt').write_text('deleted')
  write_everything(tmp_path)
  assert sorted(os.listdir(tmp_path)) == ['a.txt', 'b.json', 'c.msgpack', 'd', 'e.pdf', 'e.png', 'workdir']
  assert sorted(os.listdir(tmp_path / 'workdir')) == ['config.json', 'results.json']
  assert (tmp_path / 'e.png').read_bytes().startswith(b'\x89PNG')
