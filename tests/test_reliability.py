"""Failures are loud, early and harmless: bad input, divergence, killed sweeps, reruns, damaged files."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import smoke_config
from transfer import errors
from transfer import types
from transfer.run import experiment
from transfer.run import sources

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(*flags, timeout=180):
  return subprocess.run([sys.executable, '-m', 'scripts.run', '--config=configs/domain_shift.py:smoke', *flags],
                        cwd=REPO, capture_output=True, text=True, timeout=timeout)


def lanes_in(workdir) -> int:
  """Finished lanes in the workdir's curves.npz (0 before the first chunk)."""
  path = os.path.join(workdir, 'curves.npz')
  return len(np.load(path)['key']) if os.path.exists(path) else 0


def load_runs(workdir):
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)['runs']


@pytest.mark.parametrize('overrides, message', [
    (dict(strategies=('fine_tuning', 'finetune')), "config.strategies = 'finetune'"),
    (dict(seeds=0), 'config.seeds = 0'),
    (dict(data_sizes=(8, 0)), 'config.data_sizes'),
    (dict(shifts=(0.0, -1.0)), 'config.shifts'),
    (dict(lr=-1e-3), 'config.lr = -0.001'),
    (dict(lr_mults=(float('nan'),)), 'config.lr_mults'),
    (dict(groups=(('^layer_', 'backbone'), ('^head/kernel', 'head'))), "'head/bias' is covered by no group rule"),
    (dict(groups=(('^layer_', 'backbone'),)), 'config.head_group'),
    (dict(groups=(('^layer_(', 'backbone'), ('^head/', 'head'))), 'not a valid regex'),
    (dict(strategies=('anb', 'fine_tuning', 'scratch'), layers_copied=(0, 4)), 'integers from 0 to 3'),
    (dict(layers_copied=(-1,)), 'config.layers_copied'),
    (dict(model=dict(name='resnet', width=16, depth=3, channels=(4,))), "config.model.name = 'resnet'"),
])
def test_bad_configs_fail_before_anything_is_written(tmp_path, overrides, message):
  workdir = str(tmp_path / 'out')
  with pytest.raises(errors.ConfigError, match=message.replace('(', r'\(')):
    experiment.run(smoke_config(**overrides), workdir)
  assert not os.path.exists(workdir)


@pytest.mark.parametrize('flag, message', [
    ('--config.data_sizes=(0,)', 'ConfigError: config.data_sizes = (0,) is not allowed'),
    ('--config.sedes=3', 'unknown config field in --config.sedes=3'),
    ('--config.seeds=three', 'Flag error'),
])
def test_script_reports_user_errors_in_one_line(tmp_path, flag, message):
  workdir = str(tmp_path / 'out')
  proc = run_script(f'--workdir={workdir}', flag)
  assert proc.returncode != 0
  assert message in proc.stderr
  assert 'Traceback' not in proc.stderr
  assert not os.path.exists(workdir)


@pytest.mark.parametrize('mode', ['fixed', 'search'])
def test_a_diverged_run_is_recorded_and_never_averaged(tmp_path, mode):
  """Under the fixed protocol one setting diverges; under a search, a cell diverges when every candidate does."""
  config = smoke_config(lr=1e30, strategies=('fine_tuning', 'scratch'))
  with config.unlocked():
    config.selection.mode = mode
    config.search.space.lr = (1e30, 1e30)
  table = experiment.run(config, str(tmp_path)).table
  runs = load_runs(str(tmp_path))
  assert runs and all(r['diverged'] for r in runs)
  assert all(r['test_accuracy'] is None and r['train_loss'] is None for r in runs)
  assert '(2 diverged)' in table  # 2 seeds per cell, both left out
  with open(tmp_path / 'summary.csv') as f:
    rows = f.read().splitlines()[1:]
  assert all(',0,2,nan,nan,nan' in row for row in rows)


def test_a_workdir_that_is_a_file_is_refused_and_left_alone(tmp_path):
  path = tmp_path / 'notes.txt'
  path.write_text('not a workdir')
  with pytest.raises(errors.WorkdirError, match='is a file, not a folder'):
    experiment.run(smoke_config(), str(path))
  assert path.read_text() == 'not a workdir'


def test_a_different_config_in_the_workdir_is_refused_unless_overwrite(smoke_run, tmp_path):
  workdir, config, _ = smoke_run
  with open(os.path.join(workdir, 'results.json')) as f:
    before = f.read()
  with pytest.raises(errors.WorkdirError, match='fields that differ: steps'):
    experiment.run(smoke_config(steps=30), workdir)
  with open(os.path.join(workdir, 'results.json')) as f:
    assert f.read() == before
  other = str(tmp_path / 'copy')
  os.makedirs(other)
  with open(os.path.join(other, 'config.json'), 'w') as f:
    f.write(config.to_json(indent=1))
  changed = smoke_config(steps=30, strategies=('feature_extraction', 'scratch'))
  with changed.unlocked():
    changed.report.transfer = 'feature_extraction'
  experiment.run(changed, other, overwrite=True)
  assert {r['strategy'] for r in load_runs(other)} == {'feature_extraction', 'scratch'}


def test_a_killed_sweep_resumes_without_recomputing_and_matches_an_uninterrupted_run(smoke_run, tmp_path):
  """Also the determinism check: a separate process reproduces the in-process run's numbers exactly."""
  reference_dir, config, _ = smoke_run
  workdir = str(tmp_path / 'killed')
  total = lanes_in(reference_dir)  # every candidate of every cell
  cache = f'--config.pretrain.cache_dir={tmp_path / "cache"}'
  proc = subprocess.Popen(
      [sys.executable, '-m', 'scripts.run', '--config=configs/domain_shift.py:smoke', f'--workdir={workdir}',
       cache], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 120
  while time.time() < deadline and proc.poll() is None:
    if 0 < lanes_in(workdir) < total:
      proc.send_signal(signal.SIGKILL)
      break
    time.sleep(0.02)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL, 'the run finished before it could be killed partway'
  finished = lanes_in(workdir)
  assert 0 < finished < total

  resumed = run_script(f'--workdir={workdir}', cache)
  assert resumed.returncode == 0, resumed.stderr
  ran = sum(int(line.rsplit('running ', 1)[1]) for line in resumed.stderr.splitlines()
            if 'already in the workdir; running' in line)
  assert ran == total - finished  # no finished lane was recomputed
  ours, reference = load_runs(workdir), load_runs(reference_dir)
  assert [r['seed'] for r in ours] == [r['seed'] for r in reference]
  assert ours == reference


def test_a_damaged_cached_source_model_is_a_clear_error(config, dataset, tmp_path):
  cache = str(tmp_path / 'cache')
  sources.pretrained(config, dataset, cache)
  checkpoint = sorted(f for f in os.listdir(cache) if f.endswith('.msgpack'))[-1]  # one seed's model
  with open(os.path.join(cache, checkpoint), 'r+b') as f:
    f.truncate(100)
  with pytest.raises(errors.CheckpointError, match=f'{checkpoint}.*delete it'):
    sources.pretrained(config, dataset, cache)


def test_no_pickle_anywhere():
  proc = subprocess.run(['git', 'grep', '-nE', r'import +pickle|pickle[.]load|allow_pickle *= *True', '--',
                         'transfer', 'scripts', 'configs'], cwd=REPO, capture_output=True, text=True)
  assert proc.stdout == ''


def test_a_finished_workdir_reruns_without_training(smoke_run, monkeypatch):
  workdir, config, table = smoke_run

  def fail(*_, **__):
    raise AssertionError('nothing is missing, so nothing should be pre-trained or trained')

  monkeypatch.setattr(sources, 'pretrained', fail)
  monkeypatch.setattr(experiment.sweep, 'run_lanes', fail)
  assert experiment.run(config, workdir).table == table


def test_lanes_of_an_earlier_version_are_read_but_never_mixed_with_new_ones(tmp_path):
  """A curves.npz whose lanes hold other curves (an earlier version measured OOD accuracy at every evaluation) still
  serves its records; adding new lanes to it is one WorkdirError, before anything runs."""
  from transfer import io
  from transfer.run import records
  from transfer.run import store
  path = str(tmp_path / 'curves.npz')
  old = {'hparams': {h: 0.0 for h in types.HPARAMS}, 'curves': {'test_accuracy': np.zeros(2), 'ood_accuracy':
         np.zeros((2, 1))}, 'scalars': {'diverged': False}}
  io.write_lanes(path, {('fine_tuning', 0, 8, 0.0, 0.1, None, 0): old})
  lanes = store.LaneStore(path)
  assert len(lanes.lanes) == 1
  with pytest.raises(errors.WorkdirError, match='earlier version'):
    lanes.require(records.CURVES, records.SCALARS)
  store.LaneStore(str(tmp_path / 'none.npz')).require(records.CURVES, records.SCALARS)  # an empty file is fine
