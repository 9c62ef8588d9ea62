"""Domain-adaptation losses (gradient reversal, CORAL, MMD) and the DA strategies end to end."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from transfer import compiler
from transfer.run import experiment
from transfer.train import loop
from transfer.train import losses
from transfer.train import stages
from transfer.train import strategies
from transfer import types
from transfer.train import target


def test_gradient_reversal_is_identity_forward_and_negates_scaled_gradients():
  x = jnp.array([1.0, -2.0, 3.0])
  np.testing.assert_array_equal(losses.gradient_reversal(x, 0.7), x)
  upstream = jnp.array([0.5, 2.0, -1.0])
  _, vjp = jax.vjp(lambda v: losses.gradient_reversal(v, jnp.float32(0.7)), x)
  np.testing.assert_array_equal(vjp(upstream)[0], -jnp.float32(0.7) * upstream)
  grad = jax.grad(lambda v: jnp.sum(losses.gradient_reversal(v, 2.0) * upstream))(x)
  np.testing.assert_array_equal(grad, -2.0 * upstream)


def test_coral_is_zero_for_identical_batches_and_matches_a_hand_computation():
  a = jax.random.normal(jax.random.key(0), (16, 3))
  assert float(losses.coral_loss(a, a)) == 0.0
  s = jnp.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])  # covariance diag(4/3, 4/3), unbiased
  t = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # covariance diag(1/3, 1/3)
  expected = (2 * (4 / 3 - 1 / 3) ** 2) / (4 * 2 ** 2)
  assert float(losses.coral_loss(s, t)) == pytest.approx(expected, rel=1e-6)


def test_mmd_is_non_negative_small_within_and_large_across_distributions():
  k = jax.random.split(jax.random.key(1), 3)
  p1, p2 = jax.random.normal(k[0], (200, 8)), jax.random.normal(k[1], (200, 8))
  shifted = jax.random.normal(k[2], (200, 8)) + 1.5
  same, different = float(losses.mmd_loss(p1, p2)), float(losses.mmd_loss(p1, shifted))
  assert same >= 0 and different >= 0
  assert same < 0.05 and different > 10 * same


def test_every_alignment_mode_has_one_handler_and_an_unknown_one_is_an_error():
  assert set(losses.ALIGNMENTS) == set(strategies.ALIGN_MODES) - {'none'}
  features = jnp.ones((4, 3))
  with pytest.raises(ValueError, match="unknown alignment mode 'wasserstein'"):
    losses.alignment(features, features, jnp.float32(0.5), {}, mode='wasserstein')
  with pytest.raises(ValueError, match="align must be one of .* got 'wasserstein'"):
    strategies.Strategy('mine', pretrained=True, backbone='lr_mult', align='wasserstein')


def test_dann_lambda_ramps_from_zero_to_one():
  assert float(losses.dann_lambda(0.0)) == 0.0
  assert float(losses.dann_lambda(1.0)) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize('name', ['dann', 'coral', 'mmd'])
def test_each_domain_adaptation_strategy_trains_end_to_end(config, dataset, source_params, name):
  spec = experiment.target_spec(config, dataset)
  lane = types.Lane(jnp.int32(0), jnp.int32(32), jnp.float32(2.0), jnp.float32(0.1), jnp.int32(-1))
  source = jax.tree.map(lambda a: a[0], source_params)
  train = functools.partial(target.train, data=dataset.data, strategy=strategies.get(name), spec=spec)
  metrics = compiler.jit(train)(lane, source, dataset.arrays)
  assert not bool(metrics['diverged'])
  assert 0.0 <= float(metrics['test_accuracy'][-1]) <= 1.0  # the last evaluation


@pytest.mark.parametrize('mode', ['dann', 'coral', 'mmd'])
def test_the_alignment_term_reaches_the_backbone(config, dataset, source_params, mode):
  """The alignment loss changes the backbone's gradient (so a null DA result is not a disconnected loss)."""
  spec = experiment.target_spec(config, dataset)
  lane = types.Lane(jnp.int32(0), jnp.int32(32), jnp.float32(2.0), jnp.float32(0.1), jnp.int32(-1))
  source = jax.tree.map(lambda a: a[0], source_params)
  pool, _ = dataset.data.target_splits(dataset.arrays, lane)
  adapt_data = dataset.data.adapt_data(dataset.arrays, lane)
  params = target.initial_params(lane, source, pool, strategy=strategies.get('fine_tuning'), spec=spec,
                                init_key=jax.random.key(2))
  aux = stages.init_aux(jax.random.key(0), source, config.model.width, same_classes=False)
  state = {'model': params, 'aux': aux}
  batch = loop.adapt_minibatch(jax.random.key(1), jnp.int32(5), pool=pool, adapt_data=adapt_data, size=32,
                               batch_size=16, steps=10)
  frozen = jax.tree.map(lambda _: False, params)

  def backbone_grad(weight):
    loss = functools.partial(losses.adapt_loss, frozen=frozen, model=spec.model, mode=mode, knobs=spec.knobs,
                             align_weight=weight, align_scale=1.0, has_target=True)
    grads, _ = compiler.jit(jax.grad(loss, has_aux=True))(state, batch)  # jitted: op by op is slow on GPUs
    return grads['model']['layer_0']['kernel']

  assert float(jnp.abs(backbone_grad(1.0) - backbone_grad(0.0)).max()) > 0
