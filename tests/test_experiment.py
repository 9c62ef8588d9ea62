"""The smoke experiment end to end: files, schema, cache reuse, checkpoints."""

import json
import os

import numpy as np
import pytest

from tests.conftest import smoke_config
from transfer import io
from transfer.run import experiment
from transfer.run import sources
from transfer import errors

RUN_KEYS = {'strategy', 'seed', 'data_size', 'shift', 'lr_mult', 'layers_copied', 'test_accuracy', 'test_loss',
            'train_loss',
            'diverged'}


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
    assert 0.0 <= run['test_accuracy'] <= 1.0 and run['diverged'] is False
    assert run['lr_mult'] is None  # searched (a hyperparameter), not a grid axis here
    assert ('lr_mult' in run['selected']) == (run['strategy'] == 'fine_tuning')
    assert run['layers_copied'] is None  # no layer-transfer strategy here
  with open(os.path.join(workdir, 'summary.csv')) as f:
    header, *rows = f.read().splitlines()
  assert header == 'strategy,data_size,shift,lr_mult,layers_copied,metric,n_seeds,n_diverged,mean,ci_low,ci_high'
  assert len(rows) == cells // config.seeds * len(config.strategies)


def test_a_new_config_reuses_the_cached_source_models(smoke_run, tmp_path, monkeypatch):
  workdir, _, _ = smoke_run
  cached = os.listdir(os.path.join(workdir, 'pretrained'))
  assert sorted(f.split('.', 1)[1] for f in cached) == ['json'] + [f'seed{s}.msgpack' for s in range(2)]

  def fail(*_):
    raise AssertionError('pre-trained again although the cache matches')

  monkeypatch.setattr(sources, 'pretrain_all', fail)
  config = smoke_config(strategies=('feature_extraction', 'scratch'))
  with config.unlocked():
    config.report.transfer = 'feature_extraction'
    config.pretrain.cache_dir = os.path.join(workdir, 'pretrained')
  experiment.run(config, str(tmp_path / 'other'))


def test_checkpoint_round_trip_is_bit_identical_and_damage_is_reported(tmp_path, source_params):
  path = str(tmp_path / 'source.msgpack')
  io.save_msgpack(path, source_params)
  loaded = io.load_msgpack(path)
  assert loaded.keys() == source_params.keys()
  for layer, leaves in source_params.items():
    for name, value in leaves.items():
      np.testing.assert_array_equal(loaded[layer][name], value)
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[:len(data) // 2])
  with pytest.raises(errors.CheckpointError, match='damaged'):
    io.load_msgpack(path)
