"""Errors never show a traceback: a bad --config and a file that is not an npz are one line each, printed before
anything compiles; a machine without a TPU logs nothing about it; docs/errors.md quotes the messages the code prints."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import smoke_config
from tests.test_data import npz_config
from tests.test_data import write_npz
from transfer import checkpoints
from transfer import errors
from transfer import io
from transfer.data import dataset as dataset_lib
from transfer.data import npz
from transfer.run import cli
from transfer.run import sources
from transfer.run import store
from transfer.run import sweep
from transfer.run import validate

REPO = pathlib.Path(__file__).resolve().parent.parent
CONFIG_ENTRYPOINTS = sorted(p.stem for p in (REPO / 'scripts').glob('*.py') if 'DEFINE_config_file' in p.read_text())
# The first column of a row of docs/errors.md's table, where it quotes an error message.
QUOTED_ERROR = re.compile(r'^\| `((?:\w+Error|Config error): [^`]+)`', re.M)
# A config whose get_config raises at its line 6 (a misspelt name).
BROKEN_CONFIG = ('from configs import common\n\n\n'
                 'def get_config(arg=None):\n  c = common.base("mine")\n  c.shifts = shfits\n  return c\n')


# Runs an entrypoint as `python -m` does, and then, where the process had imported jax, says so in one more line.
JAX_PROBE = ("import atexit, runpy, sys; "
             "atexit.register(lambda: 'jax' in sys.modules and print('(jax was imported)', file=sys.stderr)); "
             "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")


def run_script(name: str, *flags: str, probe_jax: bool = False) -> subprocess.CompletedProcess:
  """`python -m scripts.<name> <flags>`; with `probe_jax`, its output ends with a line saying whether jax was
  imported (so a config error reported before jax loads is still one line)."""
  start = ['-c', JAX_PROBE] if probe_jax else ['-m']
  return subprocess.run([sys.executable, *start, f'scripts.{name}', *flags], cwd=REPO, capture_output=True,
                        text=True, timeout=120)


def one_line(proc: subprocess.CompletedProcess) -> str:
  """The one line a failed entrypoint printed (asserting that it failed, with one line and no traceback)."""
  lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
  assert proc.returncode != 0
  assert 'Traceback' not in proc.stdout + proc.stderr
  assert len(lines) == 1, lines
  return lines[0]


@pytest.mark.parametrize('script', CONFIG_ENTRYPOINTS)
def test_every_config_entrypoint_reports_an_unknown_variant_in_one_line_before_jax_loads(script):
  """A mistyped variant is reported in a fraction of a second: the entrypoint imports its library (and with it
  jax, about 1.5 s, and matplotlib) only once the flags and the config file have parsed."""
  line = one_line(run_script(script, '--config=configs/domain_shift.py:smoky', probe_jax=True))
  assert line == ("ConfigError: configs/domain_shift.py: unknown variant 'smoky'; use any of ('fixed', 'smoke'), "
                  'comma-separated, or none')


@pytest.mark.parametrize('config, message', [
    ('configs/no_such_config.py', "ConfigError: no config file 'configs/no_such_config.py'; use one of "
                                  + ', '.join(f'configs/{p.name}' for p in sorted((REPO / 'configs').glob('*.py'))
                                              if p.name not in ('__init__.py', 'common.py'))),
    ('{tmp}/syntax.py', "ConfigError: config file '{tmp}/syntax.py' does not load: SyntaxError: "),
    ('{tmp}/broken.py', "ConfigError: config file '{tmp}/broken.py' does not load: NameError: name 'shfits' is not "
                        'defined (line 6)'),
])
def test_a_config_file_that_is_missing_or_does_not_load_is_one_line_naming_it(tmp_path, config, message):
  (tmp_path / 'syntax.py').write_text('def get_config(:\n')
  (tmp_path / 'broken.py').write_text(BROKEN_CONFIG)
  line = one_line(run_script('run', f'--config={config.format(tmp=tmp_path)}', f'--workdir={tmp_path / "out"}',
                             probe_jax=True))
  assert line.startswith(message.format(tmp=tmp_path))
  assert not (tmp_path / 'out').exists()


def test_a_file_that_is_not_an_npz_is_one_data_error(tmp_path):
  (tmp_path / 'mine.npz').write_text('x,y\n1,2\n')
  line = one_line(run_script('run', '--config=configs/domain_shift.py:smoke', '--config.data.name=npz',
                             f'--config.data.path={tmp_path / "mine.npz"}', f'--workdir={tmp_path / "out"}'))
  assert line == f'DataError: {tmp_path / "mine.npz"}: not an .npz file (a zip of .npy arrays, as np.savez writes)'
  np.save(tmp_path / 'one.npy', np.zeros(3))  # a single array's .npy is no npz either
  with pytest.raises(errors.DataError, match='not an .npz file'):
    npz.read(str(tmp_path / 'one.npy'))


def test_a_cpu_run_does_not_log_that_libtpu_is_missing():
  code = ('import logging; logging.basicConfig(level=logging.INFO); from transfer.run import xla_env; import jax; '
          'print(jax.devices())')
  env = {k: v for k, v in os.environ.items() if k != 'JAX_PLATFORMS'}  # jax looks for every backend, the TPU's too
  proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert 'libtpu' not in proc.stderr


def printed(fn, *args, **kwargs) -> str:
  """What an entrypoint prints for the UserError `fn` raises."""
  with pytest.raises(SystemExit) as e:
    cli.exit_on_user_error(fn, *args, **kwargs)
  return e.value.code


def raise_(error: Exception):
  raise error


def printed_messages(tmp_path, monkeypatch) -> list[str]:
  """One message of each kind docs/errors.md quotes, as the code prints it."""
  monkeypatch.chdir(REPO)
  parser = cli.ConfigFileParser('config', lock_config=True)
  out = [printed(validate.check_fields, smoke_config(seeds=0)),
         one_line(run_script('run', '--config=configs/domain_shift.py:smoke', '--config.sedes=3')),
         printed(parser.parse, 'configs/domain_shift.py:smoky'),
         printed(parser.parse, 'configs/no_such_config.py'),
         printed(cli.distributed_args, {'JAX_NUM_PROCESSES': 'two'}),
         printed(raise_, sweep.out_of_memory('fine_tuning', 256, 1, 0, RuntimeError('RESOURCE_EXHAUSTED: ...')))]
  workdir = tmp_path / 'workdir'
  workdir.mkdir()
  (workdir / 'config.json').write_text(smoke_config().to_json())
  out.append(printed(store.claim_workdir, str(workdir), config_json=smoke_config(steps=30).to_json(), overwrite=False))
  out.append(printed(store.claim_workdir, str(workdir / 'config.json'), config_json='{}', overwrite=False))
  (workdir / 'results.json').write_text('{"runs": [')
  out.append(printed(store.read_runs, str(workdir / 'results.json')))
  (workdir / 'model.msgpack').write_bytes(b'\xc1')
  out.append(printed(io.load_msgpack, str(workdir / 'model.msgpack')))
  io.save_msgpack(str(workdir / 'model.msgpack'), {'layer_1': {'kernel': np.zeros((3, 3))}})
  out.append(printed(sources.load_backbone, str(workdir / 'model.msgpack'), {'layer_1/kernel': (16, 16)},
                     known={'layer_1/kernel'}, skip='', seeds=1))
  monkeypatch.chdir(tmp_path)  # where the files the quotes name are: my.npz, my_config.py
  out.append(printed(npz.load, write_npz('my.npz', test_y=np.full(30, 7))))
  out.append(printed(dataset_lib.load, npz_config(write_npz('my.npz'), data_sizes=(8, 100))))
  pathlib.Path('my.npz').write_text('x,y\n')
  out.append(printed(npz.load, 'my.npz'))
  pathlib.Path('my_config.py').write_text(BROKEN_CONFIG)
  out.append(printed(parser.parse, 'my_config.py'))
  out.append(printed(validate.check_fields, smoke_config(data={**smoke_config().data, 'module': 'my_data:my_data'})))
  out.append(printed(dataset_lib.load, smoke_config(data={**smoke_config().data,
                                                          'module': 'tests.test_outside_data:not_data'})))
  pathlib.Path('my_orbax').mkdir()
  out.append(printed(checkpoints.read, 'my_orbax'))
  return out


def quoted(quote: str, message: str) -> bool:
  """Whether `message` starts as `quote` says ('...', with the space before it, standing for any text)."""
  return re.match('.*'.join(map(re.escape, re.split(r' ?\.\.\.', quote))), message, re.S) is not None


def test_docs_errors_md_quotes_every_error_class_as_the_code_prints_it(tmp_path, monkeypatch):
  quotes = QUOTED_ERROR.findall((REPO / 'docs' / 'errors.md').read_text())
  classes = {name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value,
                                                                                                 errors.UserError)}
  assert classes - {q.split(':')[0] for q in quotes} == set(), 'docs/errors.md quotes no message of these'
  messages = printed_messages(tmp_path, monkeypatch)
  for quote in quotes:
    assert any(quoted(quote, m) for m in messages), f'docs/errors.md quotes {quote!r}; the code prints {messages}'
  for message in messages:
    assert any(quoted(q, message) for q in quotes), f'docs/errors.md quotes no message like {message!r}'
