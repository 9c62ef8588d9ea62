"""Data sources defined outside the package (here, in this file) by `config.data.module` alone: named arrays run
exactly as the same arrays in an npz do, a generated `DataSource` runs fine-tuning and domain adaptation, and each
way to get it wrong is one error naming the field before anything compiles."""

import dataclasses
import pathlib
import re
import sys
import types

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import domain_adaptation
from configs import strategies as strategies_config
from transfer import errors
from transfer import keys as keys_lib
from transfer.data import dataset as dataset_lib
from transfer.run import experiment
from transfer.run import sources
from transfer.run import validate
from transfer.types import AdaptData
from transfer.types import Split


def named_arrays(rows: int = 120, seed: int = 0) -> dict[str, np.ndarray]:
  """A small labelled source (3 classes), target pool and test set (3 other classes) and unlabelled target inputs,
  as an npz holds them."""
  rng = np.random.default_rng(seed)
  return {'source_x': rng.normal(size=(rows, 6)).astype(np.float32), 'source_y': rng.integers(0, 3, rows),
          'target_x': rng.normal(size=(40, 6)).astype(np.float32), 'target_y': rng.integers(0, 3, 40),
          'test_x': rng.normal(size=(30, 6)).astype(np.float32), 'test_y': rng.integers(0, 3, 30),
          'target_unlabeled_x': rng.normal(size=(50, 6)).astype(np.float32)}


def missing_test_labels() -> dict[str, np.ndarray]:
  arrays = named_arrays()
  del arrays['test_y']
  return arrays


def not_data() -> list:
  return [1, 2, 3]


@dataclasses.dataclass(frozen=True)
class Blobs:
  """A generated source the package does not know: Gaussian blobs around per-seed class centres; the target is the
  same classes moved by `shift` along the first axis (so unsupervised domain adaptation applies)."""

  classes: int = 3
  pool: int = 64  # labelled target examples per lane (and source, test and unlabelled examples per split)
  spread: float = 0.7
  name: str = 'blobs'
  input_shape: tuple = (4,)
  has_shift: bool = True
  has_unlabeled: bool = True
  same_classes: bool = True

  @property
  def source_classes(self) -> int:
    return self.classes

  @property
  def target_classes(self) -> int:
    return self.classes

  def sample(self, key, seed, n: int, shift) -> Split:
    centres = 2.0 * jax.random.normal(jax.random.fold_in(jax.random.key(7), seed), (self.classes, *self.input_shape))
    y = (jnp.arange(n) % self.classes).astype(jnp.int32)
    x = centres[y] + self.spread * jax.random.normal(key, (n, *self.input_shape))
    return Split(x.at[:, 0].add(shift), y)

  def source_splits(self, arrays, seed):
    keys = keys_lib.seed_keys(seed)
    return self.sample(keys.source_pool, seed, 4 * self.pool, 0.0), self.sample(keys.source_test, seed, self.pool, 0.0)

  def target_splits(self, arrays, lane):
    keys = keys_lib.seed_keys(lane.seed)
    return (self.sample(keys.target_pool, lane.seed, self.pool, lane.shift),
            self.sample(keys.target_test, lane.seed, self.pool, lane.shift))

  def adapt_data(self, arrays, lane):
    keys = keys_lib.seed_keys(lane.seed)
    unlabeled = self.sample(jax.random.fold_in(keys.target_pool, 1), lane.seed, self.pool, lane.shift)
    return AdaptData(self.sample(keys.source_pool, lane.seed, 4 * self.pool, 0.0), unlabeled.x)

  def source_validation(self, arrays, seed, n: int):
    return self.sample(jax.random.fold_in(keys_lib.seed_keys(seed).source_test, 3), seed, n, 0.0)

  def domain_samples(self, arrays, seed, shift, n: int):
    key = jax.random.fold_in(keys_lib.seed_keys(seed).target_test, 5)
    return self.sample(key, seed, n, 0.0).x, self.sample(key, seed, n, shift).x


def with_data(config, module: str, **kwargs):
  config = config.copy_and_resolve_references()
  config.data.module = module
  config.data.kwargs = ml_collections.ConfigDict(kwargs)
  return config


def npz_config(path: str):
  config = strategies_config.get_config('smoke')
  with config.unlocked():
    config.data.name = 'npz'
    config.data.path = path
    config.data_sizes = (8, 40)
    config.shifts = (0.0,)
    config.strategies = ('fine_tuning', 'scratch')
  return config


def accuracies(records) -> dict:
  return {(r['strategy'], r['seed'], r['data_size']): (r['test_accuracy'], r['selected']['step'])
          for r in records}


def test_named_arrays_run_exactly_as_the_same_arrays_in_an_npz(tmp_path):
  path = str(tmp_path / 'same.npz')
  np.savez(path, **named_arrays())
  by_file = experiment.run(npz_config(path), str(tmp_path / 'npz')).records
  config = with_data(npz_config(path), 'tests.test_outside_data:named_arrays', rows=120)
  by_function = experiment.run(config, str(tmp_path / 'plugin')).records
  assert len(by_function) == len(by_file) == 2 * config.seeds * 2
  assert accuracies(by_function) == accuracies(by_file)
  # Its source models are keyed by the function and the arrays' content, not by data.name.
  key = sources.source_config(config, dataset_lib.load(config))['data']
  assert key['module'] == 'tests.test_outside_data:named_arrays' and 'name' not in key


def test_its_settings_are_its_keyword_arguments():
  config = with_data(npz_config(''), 'tests.test_outside_data:named_arrays', rows=90)
  validate.check_fields(config)
  dataset = dataset_lib.load(config)
  assert dataset.arrays.source_x.shape[0] + dataset.arrays.source_test_x.shape[0] == 90
  other = dataset_lib.load(with_data(config, 'tests.test_outside_data:named_arrays', rows=90, seed=1))
  assert dataset.key != other.key  # other arrays, other cached source models


def test_a_generated_source_runs_fine_tuning_and_domain_adaptation(tmp_path):
  config = with_data(domain_adaptation.get_config('smoke'), 'tests.test_outside_data:Blobs', pool=48)
  with config.unlocked():
    config.strategies = ('dann', 'source_only')
    config.search.num_samples = 1
  dataset = dataset_lib.load(config)
  assert dataset.data == Blobs(pool=48) and dataset.key['kwargs'] == {'pool': 48} and dataset.key['source']
  records = experiment.run(config, str(tmp_path)).records
  assert {r['strategy'] for r in records} == {'dann', 'source_only'}
  assert {r['shift'] for r in records} == set(config.shifts)  # its shift axis is used
  assert all(0.0 <= r['test_accuracy'] <= 1.0 for r in records)


def test_the_guide_data_source_loads(monkeypatch):
  guide = (pathlib.Path(__file__).resolve().parent.parent / 'docs' / 'extending.md').read_text()
  (code,) = [c for c in re.findall(r'```python\n(.*?)```', guide, re.S) if 'def my_data' in c]
  module = types.ModuleType('my_data')
  exec(code, module.__dict__)
  monkeypatch.setitem(sys.modules, 'my_data', module)
  config = with_data(npz_config(''), 'my_data:my_data', seed=3)
  validate.check_fields(config)
  dataset = dataset_lib.load(config)
  assert dataset.data.source_classes >= 2 and dataset.data.has_unlabeled


@pytest.mark.parametrize('module, kwargs, error, message', [
    ('tests.test_outside_data:missing', {}, errors.ConfigError,
     "config.data.module = 'tests.test_outside_data:missing': 'tests.test_outside_data' has no function"),
    ('tests.test_outside_data.named_arrays', {}, errors.ConfigError, "'package.module:function'"),
    ('no_such_package.data:load', {}, errors.ConfigError, "cannot import 'no_such_package.data'"),
    ('tests.test_outside_data:named_arrays', {'width': 3}, errors.ConfigError,
     "config.data.kwargs: 'width' is not an argument of it"),
    ('tests.test_outside_data:missing_test_labels', {}, errors.DataError,
     "config.data.module = 'tests.test_outside_data:missing_test_labels': array 'test_y' is missing"),
    ('tests.test_outside_data:not_data', {}, errors.DataError,
     'returned a list: neither a dict of named arrays nor a DataSource'),
    ('tests.test_outside_data:Blobs', {'pool': 20}, errors.ConfigError,
     r'config.data_sizes = \(8, 40\) is not allowed: .* makes target pools of 20 examples'),
])
def test_each_problem_is_one_error_naming_the_field(module, kwargs, error, message):
  config = with_data(npz_config(''), module, **kwargs)
  with pytest.raises(error, match=message):
    validate.check_fields(config)
    dataset_lib.load(config)
