"""Using a sweep: source models cached per seed, committed provenance left alone, damaged workdir files reported."""

import json
import os
import pathlib
import shutil

import jax
import numpy as np
import pytest

from configs import domain_shift
from tests.conftest import smoke_config
from transfer import errors
from transfer import io
from transfer.data import dataset as dataset_lib
from transfer.run import experiment
from transfer.run import sources

REPO = pathlib.Path(__file__).resolve().parent.parent


def counting_pretrain(monkeypatch) -> list[list[int]]:
  """Wraps sources.pretrain_all; returns the list of the seeds each call pre-trained."""
  calls, real = [], sources.pretrain_all

  def pretrain_all(config, dataset, seeds=None):
    calls.append(list(range(config.seeds) if seeds is None else seeds))
    return real(config, dataset, seeds)

  monkeypatch.setattr(sources, 'pretrain_all', pretrain_all)
  return calls


def test_source_models_are_cached_per_seed_and_more_seeds_pre_train_only_the_new_ones(dataset, source_params,
                                                                                       tmp_path, monkeypatch):
  calls, cache = counting_pretrain(monkeypatch), str(tmp_path / 'cache')
  sources.pretrained(smoke_config(seeds=1), dataset, cache)
  grown = sources.pretrained(smoke_config(seeds=2), dataset, cache)
  assert calls == [[0], [1]]
  key = sources.cache_key(sources.source_config(smoke_config(), dataset))
  assert sorted(os.listdir(cache)) == [f'{key}.json', f'{key}.seed0.msgpack', f'{key}.seed1.msgpack']
  with open(os.path.join(cache, f'{key}.json')) as f:
    assert [len(v) for v in json.load(f)['source_test'].values()] == [2, 2]
  # on CPU a seed pre-trained alone is the seed pre-trained with the others, bit for bit (docs/determinism.md)
  if jax.default_backend() == 'cpu':
    jax.tree.map(np.testing.assert_array_equal, grown, jax.tree.map(np.asarray, source_params))
  sources.pretrained(smoke_config(seeds=2), dataset, cache)
  assert calls == [[0], [1]]  # all cached


def test_pre_training_again_leaves_the_provenance_file_untouched(config, dataset, tmp_path):
  cache = str(tmp_path / 'cache')
  sources.pretrained(config, dataset, cache)
  (record,) = [os.path.join(cache, f) for f in os.listdir(cache) if f.endswith('.json')]
  before = os.stat(record)
  for name in os.listdir(cache):  # the .msgpack files are not committed: a fresh clone has only the .json
    if name.endswith('.msgpack'):
      os.remove(os.path.join(cache, name))
  sources.pretrained(config, dataset, cache)
  after = os.stat(record)
  assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not even rewritten


def test_the_main_job_pre_training_again_leaves_the_committed_provenance_files_byte_identical(tmp_path, monkeypatch):
  """The committed outputs/pretrained/*.json are in the writer's own form (sorted keys), and the main job, were
  its gitignored .msgpack files missing, would pre-train and leave them as they are (its pre-training is replaced
  here by the committed metrics, so the test takes no time)."""
  committed = REPO / 'outputs' / 'pretrained'
  for path in committed.glob('*.json'):
    text = path.read_text()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + '\n', path.name
  cache = tmp_path / 'pretrained'
  shutil.copytree(committed, cache, ignore=shutil.ignore_patterns('*.msgpack'))
  config = domain_shift.get_config(None)
  dataset = dataset_lib.load(config)
  key = sources.cache_key(sources.source_config(config, dataset))
  with open(cache / f'{key}.json') as f:
    metrics = json.load(f)['source_test']

  def pretrain_all(config, dataset, seeds):
    shapes = sources.source_shapes(config, dataset)
    params = jax.tree.map(lambda s: np.zeros((len(seeds), *s.shape[1:]), s.dtype), shapes)
    return params, {name: [values[s] for s in seeds] for name, values in metrics.items()}

  monkeypatch.setattr(sources, 'pretrain_all', pretrain_all)
  sources.pretrained(config, dataset, str(cache))
  assert len(list(cache.glob(f'{key}.seed*.msgpack'))) == config.seeds
  assert {p.name: p.read_bytes() for p in cache.glob('*.json')} == {
      p.name: p.read_bytes() for p in committed.glob('*.json')}


def a_finished_looking_workdir(folder) -> str:
  """A workdir holding the smoke config's config.json, a results.json and a curves.npz of one lane (no compute)."""
  workdir = str(folder / 'workdir')
  os.makedirs(workdir)
  io.write_text(os.path.join(workdir, 'config.json'), smoke_config().to_json(indent=1))
  io.write_json(os.path.join(workdir, 'results.json'), {'experiment': 'domain_shift', 'runs': []})
  io.write_lanes(os.path.join(workdir, 'curves.npz'), {('scratch', 0, 8, 0.0, None, None, 0): {
      'hparams': {'lr': 1e-3, 'lr_mult': 0.1, 'weight_decay': 0.0, 'l2_sp_weight': 0.01, 'align_weight': 1.0},
      'curves': {'test_accuracy': np.zeros(2)}, 'scalars': {'diverged': False}}})
  return workdir


@pytest.mark.parametrize('name', ['results.json', 'curves.npz'])
def test_a_truncated_results_file_is_one_clear_error_and_nothing_is_overwritten(tmp_path, name):
  workdir = a_finished_looking_workdir(tmp_path)
  path = os.path.join(workdir, name)
  with open(path, 'r+b') as f:
    f.truncate(os.path.getsize(path) // 2)
  before = {f: open(os.path.join(workdir, f), 'rb').read() for f in os.listdir(workdir)}
  with pytest.raises(errors.WorkdirError, match=f"{name}' is damaged.*delete it"):
    experiment.run(smoke_config(), workdir)
  assert {f: open(os.path.join(workdir, f), 'rb').read() for f in os.listdir(workdir)} == before
