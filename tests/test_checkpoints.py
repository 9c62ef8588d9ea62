"""A user's own pre-trained backbone: loads per seed or shared, reproduces the run that saved it, and every
structure mismatch is refused with the parameter's name before anything is written."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from tests.conftest import smoke_config
from transfer import checkpoints
from transfer import io
from transfer import errors
from transfer import types
from transfer.run import experiment
from transfer.run import export
from transfer.run import sources
from transfer.train import losses
from transfer.train import strategies
from transfer.train import target


def with_checkpoint(path, **overrides):
  config = smoke_config(**overrides)
  with config.unlocked():
    config.pretrained.checkpoint = str(path)
  return config


def runs(workdir):
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)['runs']


def test_the_saved_source_models_as_a_checkpoint_reproduce_the_run_exactly(smoke_run, tmp_path, monkeypatch):
  workdir, _, _ = smoke_run
  monkeypatch.setattr(sources, 'pretrain_all', lambda *_: pytest.fail('pre-trained despite a checkpoint'))
  experiment.run(with_checkpoint(os.path.join(workdir, experiment.SOURCE_MODELS)), str(tmp_path))
  # A checkpoint provides the backbone only (its head is never loaded), so the source task cannot be scored through
  # a source head: forgetting is not measured there; everything the target run computes is identical.
  unmeasured = ('source_accuracy', 'forgetting')
  assert all(r[k] is None for r in runs(tmp_path) for k in unmeasured)
  assert ([{k: v for k, v in r.items() if k not in unmeasured} for r in runs(tmp_path)] ==
          [{k: v for k, v in r.items() if k not in unmeasured} for r in runs(workdir)])


def one_model(smoke_run, tmp_path, seed=0, **edits):
  """Seed `seed`'s source model as a single-model checkpoint file, with `edits` (path -> array or None)."""
  stacked = io.load_msgpack(os.path.join(smoke_run[0], experiment.SOURCE_MODELS))
  params = {g: {k: np.asarray(v)[seed] for k, v in leaves.items()} for g, leaves in stacked.items()}
  for name, value in edits.items():
    group, leaf = name.split('/')
    if value is None:
      del params[group][leaf]
    else:
      params.setdefault(group, {})[leaf] = value
  path = tmp_path / 'mine.msgpack'
  io.save_msgpack(str(path), params)
  return path, params


def test_a_single_model_checkpoint_serves_every_seed(smoke_run, config, dataset, tmp_path):
  path, params = one_model(smoke_run, tmp_path, seed=1)
  loaded = sources.load_checkpoint(with_checkpoint(path), dataset)
  assert 'head' not in loaded  # the head group is never loaded
  for seed in range(config.seeds):
    np.testing.assert_array_equal(loaded['layer_2']['kernel'][seed], params['layer_2']['kernel'])


@pytest.mark.parametrize('edits, message', [
    ({'layer_1/kernel': np.zeros((16, 15), np.float32)}, "parameter 'layer_1/kernel' has shape (16, 15)"),
    ({'layer_2/bias': None}, "lacks parameter 'layer_2/bias'"),
    ({'layer_9/kernel': np.zeros((3, 3), np.float32)}, "has parameter 'layer_9/kernel', which the model does not"),
])
def test_a_mismatched_checkpoint_is_refused_naming_the_parameter(smoke_run, tmp_path, edits, message):
  path, _ = one_model(smoke_run, tmp_path, **edits)
  workdir = tmp_path / 'work'
  with pytest.raises(errors.CheckpointError) as e:
    experiment.run(with_checkpoint(path), str(workdir))
  assert message in str(e.value)
  assert not workdir.exists()  # refused before anything was written


def test_the_skip_pattern_starts_named_parameters_fresh(smoke_run, dataset, tmp_path):
  path, params = one_model(smoke_run, tmp_path, **{'layer_2/bias': None, 'layer_9/kernel': np.zeros(3, np.float32)})
  config = with_checkpoint(path)
  with config.unlocked():
    config.pretrained.skip = '^(head|layer_2|layer_9)/'
  loaded = sources.load_checkpoint(config, dataset)
  assert set(loaded) == {'layer_0', 'layer_1'}
  spec, lane = experiment.target_spec(config, dataset), types.stack_lanes([dict(seed=0, data_size=8, shift=0.0)])
  lane = jax.tree.map(lambda a: a[0], lane)
  strategy, key = strategies.get('fine_tuning'), jax.random.key(7)
  x = np.zeros((1, *dataset.data.input_shape), np.float32)
  start = target.initial_params(lane, jax.tree.map(lambda a: a[0], loaded), types.Split(x, None), strategy=strategy,
                                spec=spec, init_key=key)
  fresh = spec.model.init(key, x)['params']
  np.testing.assert_array_equal(start['layer_0']['kernel'], params['layer_0']['kernel'])  # loaded
  np.testing.assert_array_equal(start['layer_2']['kernel'], fresh['layer_2']['kernel'])  # started fresh
  assert not np.array_equal(fresh['layer_0']['kernel'], params['layer_0']['kernel'])


def test_a_missing_checkpoint_file_is_a_clear_error(tmp_path):
  with pytest.raises(errors.CheckpointError, match='no such file'):
    experiment.prepare(with_checkpoint(tmp_path / 'absent.msgpack'))


@pytest.mark.parametrize('form', ['npz', 'orbax'])
def test_the_same_backbone_as_npz_or_orbax_loads_identically(smoke_run, dataset, tmp_path, form):
  """big_vision's flat npz of named arrays and an orbax checkpoint directory serve as msgpack does."""
  path, params = one_model(smoke_run, tmp_path, seed=1)
  other = tmp_path / ('mine.npz' if form == 'npz' else 'mine_orbax')
  (checkpoints.save_npz if form == 'npz' else checkpoints.save_orbax)(str(other), params)
  assert checkpoints.form(str(other)) == form
  by_msgpack = sources.load_checkpoint(with_checkpoint(path), dataset)
  by_other = sources.load_checkpoint(with_checkpoint(other), dataset)
  assert jax.tree.structure(by_other) == jax.tree.structure(by_msgpack)
  jax.tree.map(np.testing.assert_array_equal, by_other, by_msgpack)


@pytest.mark.parametrize('make, message', [
    (lambda p: p.write_text('not a zip'), 'not an .npz file'),
    (lambda p: p.mkdir(), 'is a directory but not a readable orbax checkpoint'),
    (lambda p: p.write_bytes(b'\x00\x01garbage'), 'is damaged or not a msgpack checkpoint'),
])
def test_a_file_that_is_not_what_its_path_says_is_one_error(tmp_path, make, message):
  path = tmp_path / ('bad.npz' if 'npz' in message else 'bad_dir' if 'directory' in message else 'bad.msgpack')
  make(path)
  with pytest.raises(errors.CheckpointError, match=message):
    checkpoints.read(str(path))


def test_every_cells_selected_model_is_exported_and_scores_what_the_workdir_recorded(smoke_run, dataset,
                                                                                     tmp_path):
  workdir, config, _ = smoke_run
  out = str(tmp_path / 'models')
  written = export.export(config, workdir, out)
  records = [r for r in runs(workdir) if r['selected']]
  assert written == len(records)
  models = checkpoints.read(out)
  assert set(models) == set(config.strategies)
  spec = experiment.target_spec(config, dataset)
  for record in records[::3]:  # the model's own test accuracy, computed here apart from the export's check
    params = models[record['strategy']][types.cell_label(record)]
    lane = jax.tree.map(lambda a: a[0], types.stack_lanes([{a: record[a] for a in types.AXES}]))
    test = target.render(dataset.arrays, lane, data=dataset.data, strategy=strategies.get(record['strategy']),
                         spec=spec).test
    accuracy = losses.evaluate(params, test, apply_fn=spec.model.apply)['accuracy']
    assert abs(float(accuracy) - record['test_accuracy']) <= export.TOLERANCE
  manifest = json.loads((tmp_path / 'models.json').read_text())['models']
  assert [(m['strategy'], m['cell'], m['selected']) for m in manifest] == [
      (r['strategy'], types.cell_label(r), r['selected']) for r in records]


def test_an_export_refuses_a_workdir_whose_results_this_code_did_not_compute(smoke_run, tmp_path):
  workdir, config, _ = smoke_run
  copy = tmp_path / 'copy'
  shutil.copytree(workdir, copy)
  results = json.loads((copy / 'results.json').read_text())
  results['runs'][0]['test_accuracy'] += 0.25
  (copy / 'results.json').write_text(json.dumps(results))
  with pytest.raises(errors.WorkdirError, match='the workdir recorded'):
    export.selected_models(config, str(copy))
  other = config.copy_and_resolve_references()
  other.steps = 30
  with pytest.raises(errors.WorkdirError, match='fields that differ: steps'):
    export.selected_models(other, workdir)
