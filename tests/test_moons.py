"""The two-moons data source: shapes and labels, the rotation of the shift axis, per-seed keys, its config fields
checked before anything is written, and a run end to end."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import common
from tests.conftest import smoke_config
from transfer import compiler
from transfer import errors
from transfer import types
from transfer.data import dataset as dataset_lib
from transfer.data import moons as moons_lib
from transfer.run import experiment
from transfer.studies import boundaries

DATA = moons_lib.MoonsData(source_pool=600, test_size=400, target_pool=200, adapt_source_pool=300,
                           unlabeled_pool=250)


def lane(seed=0, shift=0.0):
  return types.Lane(jnp.int32(seed), jnp.int32(50), jnp.float32(shift), jnp.float32(1.0), jnp.int32(-1))


def moons_config(**overrides):
  config = smoke_config(**overrides)
  with config.unlocked():
    common.use_moons(config)
  return config


def test_moons_have_two_balanced_classes_of_2d_points_in_every_split():
  assert (DATA.input_shape, DATA.source_classes, DATA.target_classes) == ((2,), 2, 2)
  assert DATA.has_shift and DATA.has_unlabeled and DATA.same_classes
  (pool, source_test), (target, test) = DATA.source_splits((), jnp.int32(0)), DATA.target_splits((), lane())
  for split, n in ((pool, 600), (source_test, 400), (target, 200), (test, 400)):
    assert split.x.shape == (n, 2) and split.x.dtype == jnp.float32 and split.y.dtype == jnp.int32
    np.testing.assert_array_equal(np.bincount(split.y), [n // 2, n // 2])
  np.testing.assert_array_equal(pool.y[:6], [0, 1, 0, 1, 0, 1])  # every prefix (data size) is balanced
  # Centred moons: mean near the origin; class 0 is the upper arc, class 1 the lower one.
  np.testing.assert_allclose(pool.x.mean(0), 0.0, atol=0.05)
  assert pool.x[pool.y == 0, 1].mean() > 0.3 > -0.3 > pool.x[pool.y == 1, 1].mean()


def test_the_moons_are_learnable_from_the_inputs():
  """Without noise every point lies on its arc: distance 1 from (0.5, 0.25) - centre or (1, 0.5) - centre."""
  split = moons_lib.moons(jax.random.key(0), 100, noise=0.0)
  centre = np.where((np.asarray(split.y) == 0)[:, None], [-0.5, -0.25], [0.5, 0.25])
  np.testing.assert_allclose(np.linalg.norm(split.x - centre, axis=1), 1.0, atol=1e-5)


def test_shift_zero_is_the_source_distribution():
  key = jax.random.key(3)
  exact = DATA.sample(key, 500, jnp.float32(0.0))
  source = moons_lib.moons(key, 500, noise=DATA.noise)
  np.testing.assert_array_equal(exact.x, source.x)
  np.testing.assert_array_equal(exact.y, source.y)
  # and the target test set at shift 0 (its own draw) matches the source pool's moments per class
  large = moons_lib.MoonsData(source_pool=4000, test_size=4000)
  pool, _ = large.source_splits((), jnp.int32(0))
  _, test = large.target_splits((), lane(shift=0.0))
  for c in (0, 1):
    np.testing.assert_allclose(test.x[test.y == c].mean(0), pool.x[pool.y == c].mean(0), atol=0.08)
    np.testing.assert_allclose(np.cov(test.x[test.y == c].T), np.cov(pool.x[pool.y == c].T), atol=0.05)


@pytest.mark.parametrize('shift', [0.5, 1.0, 3.0])
def test_a_shift_rotates_the_inputs_about_the_centre_and_keeps_the_labels(shift):
  (base, base_test), (moved, moved_test) = DATA.target_splits((), lane()), DATA.target_splits((), lane(shift=shift))
  np.testing.assert_array_equal(moved.y, base.y)
  np.testing.assert_array_equal(moved_test.y, base_test.y)
  assert not np.allclose(moved.x, base.x)
  angle = shift * math.pi / 6  # config.data.shift_angle's default: 30 degrees per unit
  np.testing.assert_allclose(np.linalg.norm(moved.x, axis=1), np.linalg.norm(base.x, axis=1), rtol=1e-5)
  turned = np.arctan2(moved.x[:, 1], moved.x[:, 0]) - np.arctan2(base.x[:, 1], base.x[:, 0])
  np.testing.assert_allclose(np.mod(turned + math.pi, 2 * math.pi) - math.pi, angle, atol=1e-4)
  np.testing.assert_allclose(moons_lib.rotate(moved.x, -angle), base.x, atol=1e-5)


def test_adaptation_data_are_unrotated_labelled_source_and_rotated_unlabelled_target():
  adapt = DATA.adapt_data((), lane(shift=3.0))
  pool, _ = DATA.source_splits((), jnp.int32(0))
  np.testing.assert_array_equal(adapt.source.x, pool.x[:300])  # the source pool's first examples, with labels
  np.testing.assert_array_equal(adapt.source.y, pool.y[:300])
  assert adapt.unlabeled.shape == (250, 2)
  target, _ = DATA.target_splits((), lane(shift=3.0))
  assert not np.allclose(adapt.unlabeled[:200], target.x)  # drawn apart from the labelled target pool
  # exactly the shift-0 unlabelled inputs turned by 3 x 30 degrees
  unrotated = DATA.adapt_data((), lane(shift=0.0)).unlabeled
  np.testing.assert_allclose(moons_lib.rotate(unrotated, math.pi / 2), adapt.unlabeled, atol=1e-5)
  source_x, target_x = DATA.domain_samples((), jnp.int32(0), jnp.float32(1.0), 64)
  assert source_x.shape == target_x.shape == (64, 2)


def test_each_seed_has_its_own_moons_and_every_call_the_same():
  a, b = DATA.target_splits((), lane(seed=0, shift=1.0)), DATA.target_splits((), lane(seed=1, shift=1.0))
  assert not np.allclose(a[0].x, b[0].x)
  jax.tree.map(np.testing.assert_array_equal, a, DATA.target_splits((), lane(seed=0, shift=1.0)))
  lanes = types.stack_lanes([dict(seed=s, data_size=50, shift=h) for s in (0, 1) for h in (0.0, 1.0)])
  batched = compiler.jit(jax.vmap(DATA.target_splits, in_axes=(None, 0)))((), lanes)  # as the sweep runs it
  np.testing.assert_allclose(batched[0].x[3], b[0].x, atol=1e-6)


def test_the_moons_are_loaded_from_the_config():
  config = moons_config()
  dataset = dataset_lib.load(config)
  assert isinstance(dataset.data, moons_lib.MoonsData) and dataset.arrays == ()
  assert dataset.data.target_pool == max(config.data_sizes)
  assert dataset.data.source_pool == config.data.source_pool and dataset.data.noise == config.data.noise
  assert dataset.key['name'] == 'moons'
  assert dataset_lib.shifts(config, dataset.data) == tuple(config.shifts)


@pytest.mark.parametrize('field, value, message', [
    ('noise', -0.1, 'config.data.noise = -0.1 is not allowed'),
    ('noise', float('nan'), 'config.data.noise = nan is not allowed'),
    ('source_pool', 0, 'config.data.source_pool = 0 is not allowed'),
    ('unlabeled_pool', 0, 'config.data.unlabeled_pool = 0 is not allowed'),
    ('test_size', -5, 'config.data.test_size = -5 is not allowed'),
    ('name', 'moon', "config.data.name = 'moon' is not allowed: one of ('synthetic', 'moons'"),
])
def test_bad_moons_fields_are_refused_before_anything_is_written(tmp_path, field, value, message):
  config = moons_config()
  with config.unlocked():
    config.data[field] = value
  workdir = tmp_path / 'out'
  with pytest.raises(errors.ConfigError, match=message.replace('(', r'\(')):
    experiment.run(config, str(workdir))
  assert not workdir.exists()


def test_a_moons_experiment_runs_end_to_end(tmp_path):
  config = moons_config(strategies=('fine_tuning', 'coral', 'scratch'), shifts=(0.0, 3.0))
  assert config.experiment == 'domain_shift_moons' and config.data.name == 'moons'
  experiment.run(config, str(tmp_path))
  with open(os.path.join(tmp_path, 'results.json')) as f:
    runs = json.load(f)['runs']
  assert len(runs) == 3 * config.seeds * len(config.data_sizes) * 2
  assert all(0.0 <= r['test_accuracy'] <= 1.0 and not r['diverged'] for r in runs)


def test_the_boundaries_figure_draws_the_seed_of_the_median_gain():
  gains = {0: 0.0, 1: 0.4, 2: -0.1, 3: 0.2, 4: 0.45}  # sorted: 2, 0, 3, 1, 4 -> the median is seed 3
  records = [{'seed': s, 'shift': 2.0, 'strategy': name, 'test_accuracy': 0.4 + (g if name == 'dann' else 0.0)}
             for s, g in gains.items() for name in ('dann', 'source_only')]
  records.append({'seed': 9, 'shift': 1.0, 'strategy': 'dann', 'test_accuracy': 1.0})  # another shift: ignored
  assert boundaries.median_seed(records, 2.0) == 3
  assert boundaries.median_seed(records[:8], 2.0) == 3  # seeds 0-3, sorted 2, 0, 3, 1: the upper median
