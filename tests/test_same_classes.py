"""config.data.same_classes: the target task has the source's classes (synthetic, digits, an npz declaring it), every
data source declares whether it does, and the default modes are unchanged."""

import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import domain_shift
from configs import strategies as strategies_config
from tests.conftest import smoke_config
from tests.test_data import npz_config
from tests.test_data import write_npz
from transfer import compiler
from transfer import errors
from transfer import types
from transfer.data import dataset as dataset_lib
from transfer.data import digits
from transfer.data import synthetic
from transfer.run import experiment
from transfer.run import sources

REPO = pathlib.Path(__file__).resolve().parent.parent
SPEC = synthetic.SyntheticTask(source_pool=256, target_pool=64, test_size=64, source_classes=10)
SAME = synthetic.SyntheticTask(source_pool=256, target_pool=64, test_size=64, source_classes=10, same_classes=True)


def lane(seed=0, shift=0.0, data_size=8):
  return types.Lane(jnp.int32(seed), jnp.int32(data_size), jnp.float32(shift), jnp.float32(1.0), jnp.int32(-1))


def with_same_classes(config, value=True):
  with config.unlocked():
    config.data.same_classes = value
  return config


def test_at_shift_zero_the_same_classes_target_is_the_source_distribution():
  world = synthetic.make_world(jax.random.key(0), SAME)
  key = jax.random.key(1)
  source = synthetic.sample(world, key, 256, which='source', shift=0.0, task=SAME)
  target = synthetic.sample(world, key, 256, which='target', shift=0.0, task=SAME)
  np.testing.assert_array_equal(target.x, source.x)
  np.testing.assert_array_equal(target.y, source.y)
  shifted = synthetic.sample(world, key, 256, which='target', shift=2.0, task=SAME)
  np.testing.assert_array_equal(shifted.y, source.y)  # only the inputs move
  assert float(jnp.abs(shifted.x - source.x).mean()) > 0.1


def test_the_default_synthetic_target_keeps_its_own_classes():
  """Default mode: the target task is the argmax of the target projection, as before same_classes existed."""
  world = synthetic.make_world(jax.random.key(0), SPEC)
  key = jax.random.key(1)
  target = synthetic.sample(world, key, 256, which='target', shift=0.0, task=SPEC)
  z = jax.random.normal(jax.random.split(key)[0], (256, SPEC.latent_dim))
  np.testing.assert_array_equal(target.y, jnp.argmax(z[:, :SPEC.label_factors] @ world.target_projection, -1))
  assert synthetic.SyntheticData(SPEC).target_classes == SPEC.target_classes == 5
  assert not synthetic.SyntheticData(SPEC).same_classes


def test_same_classes_synthetic_data_has_the_source_classes_in_every_split():
  config = with_same_classes(smoke_config())
  data = dataset_lib.load(config).data
  assert data.same_classes and data.target_classes == data.source_classes == config.data.source_classes
  (source_pool, _), (pool, test) = data.source_splits((), jnp.int32(0)), data.target_splits((), lane(shift=1.0))
  assert set(np.unique(pool.y)) | set(np.unique(test.y)) <= set(range(data.source_classes))
  assert len(set(np.unique(test.y))) > 5  # more than the default target's five classes occur
  assert set(np.unique(test.y)) <= set(np.unique(source_pool.y))


def test_same_classes_digits_split_every_digit_between_source_and_target():
  arrays = digits.load(same_classes=True)
  for y in (arrays.source_y, arrays.source_test_y, arrays.target_y, arrays.test_y):
    assert set(np.unique(y)) == set(range(10))
  assert len(arrays.test_x) == digits.TEST_SIZE
  assert len(arrays.source_x) + len(arrays.source_test_x) + len(arrays.target_x) + len(arrays.test_x) == 1797
  np.testing.assert_array_equal(arrays.unlabeled_x, arrays.target_x)
  source = {a.tobytes() for a in np.concatenate([arrays.source_x, arrays.source_test_x])}
  target = [a.tobytes() for a in np.concatenate([arrays.target_x, arrays.test_x])]
  assert not any(t in source for t in target)  # disjoint images (the 1,797 images are all distinct)
  assert not set(a.tobytes() for a in arrays.test_x) & set(a.tobytes() for a in arrays.target_x[:50])
  counts = np.bincount(np.concatenate([arrays.source_y, arrays.source_test_y]), minlength=10)
  assert counts.min() >= 85  # a half of every digit (about 90 each)


def test_same_classes_digits_rotate_the_target_and_keep_its_labels():
  config = with_same_classes(strategies_config.get_config('digits,smoke'))
  dataset = dataset_lib.load(config)
  data = dataset.data
  assert data.same_classes and data.source_classes == data.target_classes == 10
  (pool, test), (shifted, shifted_test) = (data.target_splits(dataset.arrays, lane(shift=s)) for s in (0.0, 1.0))
  np.testing.assert_array_equal(shifted.y, pool.y)
  np.testing.assert_array_equal(shifted_test.y, test.y)
  assert not np.allclose(shifted.x, pool.x) and not np.allclose(shifted_test.x, test.x)
  seed_pool, seed_test, _ = data.seed_target(dataset.arrays, jnp.int32(0))
  np.testing.assert_array_equal(test.x, seed_test.x)  # shift 0: the seed's test images as they are
  adapt = data.adapt_data(dataset.arrays, lane(shift=1.0))
  np.testing.assert_array_equal(adapt.source.x, dataset.arrays.source_x)  # the source is never rotated
  assert adapt.unlabeled.shape == dataset.arrays.target_x.shape
  assert not np.allclose(adapt.unlabeled, seed_pool.x)  # rotated


def test_every_data_source_declares_whether_it_has_the_source_classes(tmp_path):
  assert not dataset_lib.load(smoke_config()).data.same_classes
  assert not dataset_lib.load(strategies_config.get_config('digits,smoke')).data.same_classes
  assert not dataset_lib.load(npz_config(write_npz(tmp_path / 'a.npz'))).data.same_classes
  npz = dataset_lib.load(with_same_classes(npz_config(write_npz(tmp_path / 'a.npz')))).data
  assert npz.same_classes and npz.target_classes == npz.source_classes


def test_an_npz_declaring_same_classes_must_have_only_source_classes_in_its_target(tmp_path):
  rng = np.random.default_rng(0)
  path = write_npz(tmp_path / 'bad.npz', target_y=rng.integers(0, 5, 40), test_y=rng.integers(0, 5, 30))
  dataset_lib.load(npz_config(path))  # target classes of its own: fine by default
  with pytest.raises(errors.DataError, match=r'target_y has label 4, not a source class'):
    experiment.prepare(with_same_classes(npz_config(path)))


def test_the_default_modes_still_find_the_committed_source_models(monkeypatch):
  """The pre-trained cache key covers the synthetic fields and the digits arrays' fingerprint: unchanged keys mean
  unchanged default data (every digits array, bit for bit), so outputs/pretrained/ is still used (by the scripts,
  whose level pre-trains at XLA's default; the suite's level 0 has keys of its own)."""
  monkeypatch.setattr(compiler, '_cpu_opt_level', compiler.DEFAULT_CPU_OPT_LEVEL)
  committed = set(os.listdir(REPO / 'outputs' / 'pretrained'))
  for config in (domain_shift.get_config(None), strategies_config.get_config('digits')):
    key = sources.cache_key(sources.source_config(config, dataset_lib.load(config)))
    assert f'{key}.json' in committed, (config.experiment, key)


def test_same_classes_digits_are_their_own_source_data():
  default, same = (strategies_config.get_config('digits,smoke') for _ in range(2))
  keys = {sources.cache_key(sources.source_config(c, dataset_lib.load(c))) for c in (default, with_same_classes(same))}
  assert len(keys) == 2  # pre-trained on other images: never served the other mode's cached models


def test_a_bad_same_classes_value_is_refused_before_anything_is_written(tmp_path):
  config = with_same_classes(smoke_config(), None)  # ml_collections' type check refuses other non-bools itself
  workdir = tmp_path / 'out'
  with pytest.raises(errors.ConfigError, match='config.data.same_classes = None is not allowed'):
    experiment.run(config, str(workdir))
  assert not workdir.exists()

