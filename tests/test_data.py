"""Data sources: digits offline, a user's npz end to end, every npz validation error, the image shift."""

import json
import math
import os
import socket

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import strategies as strategies_config
from transfer.data import arrays as arrays_lib
from transfer.data import dataset as dataset_lib
from transfer.data import digits
from transfer import errors
from transfer.run import experiment
from transfer.data import images
from transfer import types


def test_digits_load_without_network_access(monkeypatch):
  def no_network(*args, **kwargs):
    raise AssertionError('digits tried to open a network connection')
  monkeypatch.setattr(socket, 'socket', no_network)
  monkeypatch.setattr(socket, 'create_connection', no_network)
  arrays = digits.load()
  assert arrays.source_x.shape[1:] == (8, 8) and arrays.source_x.dtype == np.float32
  assert 0.0 <= arrays.source_x.min() and arrays.source_x.max() <= 1.0
  for y in (arrays.source_y, arrays.source_test_y, arrays.target_y, arrays.test_y):
    assert set(np.unique(y)) == set(range(5))
  assert len(arrays.test_x) == digits.TEST_SIZE
  assert len(arrays.source_x) + len(arrays.source_test_x) + len(arrays.target_x) + len(arrays.test_x) == 1797
  assert not any(np.array_equal(a, b) for a in arrays.test_x[:20] for b in arrays.target_x)  # test held out


def write_npz(path, rng=None, **changes):
  """A small valid npz (images 6x6, 3 source and 3 target classes) with `changes` applied (None deletes)."""
  rng = rng or np.random.default_rng(0)
  arrays = {'source_x': rng.normal(size=(120, 6, 6)).astype(np.float32), 'source_y': rng.integers(0, 3, 120),
            'target_x': rng.normal(size=(40, 6, 6)).astype(np.float32), 'target_y': rng.integers(0, 3, 40),
            'test_x': rng.normal(size=(30, 6, 6)).astype(np.float32), 'test_y': rng.integers(0, 3, 30),
            'target_unlabeled_x': rng.normal(size=(50, 6, 6)).astype(np.float32)}
  for name, value in changes.items():
    if value is None:
      del arrays[name]
    else:
      arrays[name] = value
  np.savez(path, **arrays)
  return str(path)


def npz_config(path, arg='smoke', **overrides):
  config = strategies_config.get_config(arg)
  with config.unlocked():
    config.data.name = 'npz'
    config.data.path = path
    config.data_sizes = (8, 40)
    for key, value in overrides.items():
      config[key] = value
  return config


def test_an_npz_written_here_runs_end_to_end(tmp_path):
  path = write_npz(tmp_path / 'mine.npz')
  config = npz_config(path, shifts=(0.0, 2.0))  # npz has no shift axis: it collapses to the data as given
  with config.unlocked():
    config.strategies = ('fine_tuning', 'coral', 'scratch')  # labelled, adapting on its unlabelled pool, baseline
  table = experiment.run(config, str(tmp_path / 'work')).table
  with open(tmp_path / 'work' / 'results.json') as f:
    runs = json.load(f)['runs']
  assert len(runs) == 3 * config.seeds * 2 and {r['shift'] for r in runs} == {0.0}
  assert all(0.0 <= r['test_accuracy'] <= 1.0 for r in runs)
  assert '| 40 |' in table
  assert os.path.exists(tmp_path / 'work' / experiment.SOURCE_MODELS)


BAD_NPZ = [
    (dict(test_y=None), "array 'test_y' is missing"),
    (dict(target_x=np.zeros((40, 6, 5), np.float32)), 'target_x has examples of shape (6, 5)'),
    (dict(test_x=np.full((30, 6, 6), np.nan, np.float32)), 'test_x holds 1080 NaN or infinite values'),
    (dict(target_unlabeled_x=np.full((50, 6, 6), np.inf, np.float32)), 'target_unlabeled_x holds 1800 NaN'),
    (dict(target_y=np.full(40, -1)), 'target_y has label -1'),
    (dict(test_y=np.full(30, 7)), 'test_y has label 7, out of range'),
    (dict(source_y=np.full(120, 1.5)), 'source_y has dtype float64; labels must be integers'),
    (dict(target_y=np.zeros(39, int)), 'target_y has shape (39,)'),
    (dict(source_x=np.zeros((120, 6, 6), np.int64)), 'source_x has dtype int64; inputs must be float'),
    (dict(target_unlabelled_x=np.zeros((5, 6, 6), np.float32)), "unexpected array 'target_unlabelled_x'"),
    (dict(source_x=np.array([None] * 120, dtype=object)), 'not a readable .npz of plain arrays'),
]


@pytest.mark.parametrize('changes, message', BAD_NPZ)
def test_each_npz_problem_is_one_clear_error_naming_the_array(tmp_path, changes, message):
  path = write_npz(tmp_path / 'bad.npz', **changes)
  with pytest.raises(errors.DataError) as e:
    experiment.prepare(npz_config(path))
  assert message in str(e.value)


def test_a_data_size_beyond_the_npz_pool_is_refused(tmp_path):
  config = npz_config(write_npz(tmp_path / 'mine.npz'), data_sizes=(8, 41))
  with pytest.raises(errors.ConfigError, match='40 labelled target examples, so every data size must be <= 40'):
    experiment.prepare(config)


def test_a_missing_npz_file_and_a_missing_path_are_refused(tmp_path):
  with pytest.raises(errors.DataError, match='no such file'):
    experiment.prepare(npz_config(str(tmp_path / 'absent.npz')))
  with pytest.raises(errors.ConfigError, match='config.data.path'):
    experiment.prepare(npz_config(''))


def test_domain_adaptation_needs_unlabelled_npz_data(tmp_path):
  config = npz_config(write_npz(tmp_path / 'mine.npz', target_unlabeled_x=None))
  with config.unlocked():
    config.strategies = ('dann', 'fine_tuning', 'scratch')
  with pytest.raises(errors.ConfigError, match='no unlabelled target examples'):
    experiment.prepare(config)


def test_rotation_by_zero_is_the_identity_and_by_a_quarter_turn_is_rot90():
  x = jax.random.uniform(jax.random.key(0), (3, 8, 8))
  np.testing.assert_allclose(images.rotate(x, 0.0), x, atol=1e-6)
  quarter = np.asarray(images.rotate(x, math.pi / 2))
  assert any(np.allclose(quarter, np.rot90(x, k, axes=(1, 2)), atol=1e-5) for k in (1, 3))
  assert images.rotate(x[..., None], 0.3).shape == (3, 8, 8, 1)


def test_each_seed_sees_its_own_random_subset_and_larger_sizes_extend_it():
  config = strategies_config.get_config('digits,smoke')
  dataset = dataset_lib.load(config)
  assert isinstance(dataset.data, arrays_lib.ArrayData) and dataset.data.rotates

  def pool(seed, shift=0.0):
    lane = types.Lane(jnp.int32(seed), jnp.int32(8), jnp.float32(shift), jnp.float32(1.0), jnp.int32(-1))
    return dataset.data.target_splits(dataset.arrays, lane)

  (a, test_a), (b, _) = pool(0), pool(1)
  assert a.x.shape[0] == max(config.data_sizes)
  assert not np.array_equal(a.y, b.y)
  np.testing.assert_array_equal(pool(0)[0].x, a.x)
  shifted, test_shifted = pool(0, shift=1.0)
  np.testing.assert_array_equal(shifted.y, a.y)
  assert not np.allclose(shifted.x, a.x) and not np.allclose(test_shifted.x, test_a.x)


def test_each_digits_seed_draws_its_own_test_set_and_never_trains_or_adapts_on_it(tmp_path):
  dataset = dataset_lib.load(strategies_config.get_config('digits,smoke'))
  data, arrays = dataset.data, dataset.arrays
  every = {a.tobytes() for a in np.concatenate([arrays.target_x, arrays.test_x])}
  tests = []
  for seed in (0, 1):
    lane = types.Lane(jnp.int32(seed), jnp.int32(8), jnp.float32(0.0), jnp.float32(1.0), jnp.int32(-1))
    (pool, test), unlabeled = data.target_splits(arrays, lane), data.adapt_data(arrays, lane).unlabeled
    test_images = {a.tobytes() for a in np.asarray(test.x)}
    rest = {a.tobytes() for a in np.asarray(unlabeled)}
    assert len(test_images) == digits.TEST_SIZE and len(rest) == len(arrays.target_x)
    assert not test_images & rest and test_images | rest == every  # a split of the target images
    assert {a.tobytes() for a in np.asarray(pool.x)} <= rest  # the labelled pool is never a test image
    _, domain = data.domain_samples(arrays, jnp.int32(seed), jnp.float32(0.0), 50)
    assert {a.tobytes() for a in np.asarray(domain)} <= rest
    tests.append(test_images)
  assert tests[0] != tests[1]  # the seeds' test sets differ
  npz = dataset_lib.load(npz_config(write_npz(tmp_path / 'mine.npz')))
  for seed in (0, 1):  # a user's file keeps its own test set for every seed
    lane = types.Lane(jnp.int32(seed), jnp.int32(8), jnp.float32(0.0), jnp.float32(1.0), jnp.int32(-1))
    np.testing.assert_array_equal(npz.data.target_splits(npz.arrays, lane)[1].x, npz.arrays.test_x)
