"""Every experiment config loads, validates, documents its command, and its smoke variant runs end to end."""

import glob
import importlib
import os
import re

import pytest

from transfer import errors
from transfer.run import experiment
from transfer.run import validate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, 'configs', '*.py'))
                     if not os.path.basename(p).startswith(('_', 'common', 'bench')))  # bench: test_bench.py


def load(name, arg=None):
  return importlib.import_module(f'configs.{name}').get_config(arg)


@pytest.mark.parametrize('name', EXPERIMENTS)
def test_config_is_valid_locked_and_documented(name):
  for arg in (None, 'smoke'):
    config = load(name, arg)
    experiment.prepare(config)
    assert config.is_locked
    assert config.experiment == name
  if ':digits' in importlib.import_module(f'configs.{name}').__doc__:
    for arg in ('digits', 'digits,smoke'):
      config = load(name, arg)
      experiment.prepare(config)
      assert config.experiment == f'{name}_digits' and config.data.name == 'digits'
  doc = importlib.import_module(f'configs.{name}').__doc__
  assert f'--config=configs/{name}.py' in doc and 'python -m scripts.' in doc
  assert f'--config=configs/{name}.py:smoke' in doc
  with pytest.raises(ValueError, match='unknown variant'):
    load(name, 'smoky')


@pytest.mark.parametrize('name', EXPERIMENTS + ['bench'])
def test_a_docstring_names_where_its_results_are_but_quotes_no_result_number(name):
  """Numbers in a config's docstring would go stale when its results are regenerated: it names the generated file
  (table.md, REPORT.md, findings.md) that holds them instead. Settings such as 'shift 0.5' or a multiplier 'x0.01'
  are not results; an accuracy or a difference (two decimals or more) is."""
  doc = importlib.import_module(f'configs.{name}').__doc__
  assert not re.findall(r'(?<![x\w.])[+-]?0\.\d{2,}', doc), f'configs/{name}.py quotes result numbers in its docstring'
  assert re.search(r'outputs/\w+', doc), f'configs/{name}.py names no generated result file'


# domain_shift's smoke run is conftest's smoke_run; decision's runs through scripts.decide's library function (which
# calls experiment.run) in tests/test_advisor.py.
@pytest.mark.parametrize('name, arg', [(n, 'smoke') for n in EXPERIMENTS if n not in ('domain_shift', 'decision')]
                         + [('strategies', 'digits,smoke')])
def test_smoke_variant_runs_end_to_end(name, arg, tmp_path):
  config = load(name, arg)
  table = experiment.run(config, str(tmp_path)).table
  assert table.startswith(f'# {name}')
  assert os.path.exists(tmp_path / 'plot.png')


def test_every_shared_field_is_commented():
  with open(os.path.join(REPO, 'configs', 'common.py')) as f:
    lines = [line for line in f.read().split('def shrink_for_smoke')[0].splitlines() if line.strip().startswith('c.')]
  uncommented = [line.strip() for line in lines if '#' not in line and 'ConfigDict()' not in line]
  assert not uncommented, uncommented


def test_an_unknown_strategy_in_a_config_is_rejected():
  config = load('strategies', 'smoke')
  with config.unlocked():
    config.strategies = ('fine_tuning', 'scratch', 'freeze_all')
  with pytest.raises(errors.ConfigError, match='freeze_all'):
    validate.check_fields(config)
