"""The smoke experiment end to end: files, schema, cache reuse, and config errors before anything is written."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import smoke_config
from transfer import checkpoints
from transfer import experiment
from transfer import validate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_KEYS = {'strategy', 'seed', 'data_size', 'shift', 'lr_mult', 'test_accuracy', 'test_loss', 'train_loss'}


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('smoke'))
  config = smoke_config()
  return workdir, config, experiment.run(config, workdir)


def test_smoke_run_writes_every_file(smoke_run):
  workdir, _, table = smoke_run
  for name in ('results.json', 'summary.csv', 'table.md', 'plot.png', 'config.json'):
    assert os.path.getsize(os.path.join(workdir, name)) > 0, name
  assert '| Domain Shift | Transfer Acc (fine_tuning) |' in table
  with open(os.path.join(workdir, 'table.md')) as f:
    assert f.read() == table


def test_results_json_has_one_record_per_run(smoke_run):
  workdir, config, _ = smoke_run
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  assert results['experiment'] == 'domain_shift'
  runs = results['runs']
  cells = config.seeds * len(config.data_sizes) * len(config.shifts)
  assert len(runs) == cells * len(config.strategies)  # one lr_mult: every strategy runs each cell once
  for run in runs:
    assert RUN_KEYS <= set(run)
    assert 0.0 <= run['test_accuracy'] <= 1.0
    assert (run['lr_mult'] is None) == (run['strategy'] != 'fine_tuning')
  with open(os.path.join(workdir, 'summary.csv')) as f:
    header, *rows = f.read().splitlines()
  assert header == 'strategy,data_size,shift,lr_mult,metric,n_seeds,mean,ci_low,ci_high'
  assert len(rows) == cells // config.seeds * len(config.strategies)


def test_rerun_reuses_the_cached_source_models(smoke_run, monkeypatch):
  workdir, config, _ = smoke_run
  cached = os.listdir(os.path.join(workdir, 'pretrained'))
  assert sorted(f.rsplit('.', 1)[1] for f in cached) == ['json', 'msgpack']

  def fail(*_):
    raise AssertionError('pre-trained again although the cache matches')

  monkeypatch.setattr(experiment, 'pretrain_all', fail)
  with config.unlocked():
    config.strategies = ('feature_extraction', 'scratch')
    config.report.transfer = 'feature_extraction'
  experiment.run(config, workdir)


def test_checkpoint_round_trip_is_bit_identical_and_damage_is_reported(tmp_path, source_params):
  path = str(tmp_path / 'source.msgpack')
  checkpoints.save(path, source_params)
  loaded = checkpoints.load(path)
  assert loaded.keys() == source_params.keys()
  for layer, leaves in source_params.items():
    for name, value in leaves.items():
      np.testing.assert_array_equal(loaded[layer][name], value)
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[:len(data) // 2])
  with pytest.raises(ValueError, match='damaged'):
    checkpoints.load(path)


@pytest.mark.parametrize('overrides, message', [
    (dict(strategies=('fine_tuning', 'finetune')), "config.strategies = 'finetune'"),
    (dict(seeds=0), 'config.seeds = 0'),
    (dict(shifts=(0.0, -1.0)), 'config.shifts'),
    (dict(lr_mults=(float('nan'),)), 'config.lr_mults'),
    (dict(groups=(('^layer_', 'backbone'), ('^head/kernel', 'head'))), "'head/bias' is covered by no group rule"),
    (dict(groups=(('^layer_', 'backbone'),)), 'config.head_group'),
])
def test_bad_configs_fail_before_anything_is_written(tmp_path, overrides, message):
  workdir = str(tmp_path / 'out')
  with pytest.raises(validate.ConfigError, match=message.replace('(', r'\(')):
    experiment.run(smoke_config(**overrides), workdir)
  assert not os.path.exists(workdir)


def test_script_reports_a_config_error_without_a_traceback(tmp_path):
  workdir = str(tmp_path / 'out')
  proc = subprocess.run(
      [sys.executable, '-m', 'scripts.run', '--config=configs/domain_shift.py:smoke', f'--workdir={workdir}',
       '--config.data_sizes=(0,)'], cwd=REPO, capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0
  assert 'Config error: config.data_sizes = (0,)' in proc.stderr
  assert 'Traceback' not in proc.stderr
  assert not os.path.exists(workdir)
