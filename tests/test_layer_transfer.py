"""Yosinski's AnB / AnB+ / BnB / BnB+ against the strategies they must reduce to at k = 0 and k = all."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.conftest import run_data
from tests.conftest import same_arithmetic_atol
from transfer import compiler
from transfer.run import experiment
from transfer.train import strategies
from transfer import types
from transfer.train import target

ALL = 3  # backbone groups of the smoke MLP


def lane(layers_copied, lr_mult=1.0):
  return types.Lane(jnp.int32(1), jnp.int32(32), jnp.float32(0.0), jnp.float32(lr_mult), jnp.int32(layers_copied))


def fit(config, dataset, source_params, name, run_lane):
  run = run_data(config, dataset, run_lane)
  fn = compiler.jit(functools.partial(target.fit, strategy=strategies.get(name),
                                      spec=experiment.target_spec(config, dataset)))
  params = fn(run_lane, jax.tree.map(lambda a: a[1], source_params), run).params
  return params


def assert_trees_close(a, b, atol=0.0):
  """Equal within `atol` on CPU: these compare two programs that do the same arithmetic (see same_arithmetic_atol)."""
  jax.tree.map(functools.partial(np.testing.assert_allclose, atol=same_arithmetic_atol(atol), rtol=0), a, b)


@pytest.mark.parametrize('name', ['anb', 'anb_plus', 'bnb', 'bnb_plus'])
def test_copying_no_layer_is_training_from_scratch(config, dataset, source_params, name):
  # Two programs with the same arithmetic; XLA fuses them differently (a layer-transfer program also selects its
  # copied groups), which moved one parameter of these by 9e-10 on CPU; a group copied by mistake would move them by
  # the distance between the source model's weights and fresh ones.
  assert_trees_close(fit(config, dataset, source_params, name, lane(0)),
                     fit(config, dataset, source_params, 'scratch', lane(0)), atol=1e-6)


def test_anb_copying_every_layer_is_feature_extraction(config, dataset, source_params):
  anb = fit(config, dataset, source_params, 'anb', lane(ALL))
  assert_trees_close(anb, fit(config, dataset, source_params, 'feature_extraction', lane(ALL)), atol=1e-5)
  source = jax.tree.map(lambda a: a[1], source_params)
  for group in ('layer_0', 'layer_1', 'layer_2'):  # frozen through a traced LR of 0: bit-identical
    jax.tree.map(np.testing.assert_array_equal, anb[group], source[group])


def test_anb_plus_copying_every_layer_is_fine_tuning_at_the_full_lr(config, dataset, source_params):
  assert_trees_close(fit(config, dataset, source_params, 'anb_plus', lane(ALL)),
                     fit(config, dataset, source_params, 'fine_tuning', lane(ALL, lr_mult=1.0)), atol=1e-6)


def test_anb_copies_and_freezes_exactly_the_bottom_k_groups(config, dataset, source_params):
  source = jax.tree.map(lambda a: a[1], source_params)
  params = fit(config, dataset, source_params, 'anb', lane(1))
  jax.tree.map(np.testing.assert_array_equal, params['layer_0'], source['layer_0'])
  for group in ('layer_1', 'layer_2'):
    assert not np.allclose(params[group]['kernel'], source[group]['kernel'])


def test_bnb_copies_from_a_target_trained_network_not_the_source(config, dataset, source_params):
  bnb = fit(config, dataset, source_params, 'bnb', lane(ALL))
  source = jax.tree.map(lambda a: a[1], source_params)
  scratch = fit(config, dataset, source_params, 'scratch', lane(0))
  assert not np.allclose(bnb['layer_0']['kernel'], source['layer_0']['kernel'])
  assert not np.allclose(bnb['layer_0']['kernel'], scratch['layer_0']['kernel'])  # its own initialisation
