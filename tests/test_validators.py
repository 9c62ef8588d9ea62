"""Label-free validators of unsupervised domain adaptation: what each one measures, the sets they read are held out
from pre-training and adaptation, they never read a target label, and a bad choice is one ConfigError."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import domain_adaptation
from tests.test_data import write_npz
from tests.test_unsupervised import da_config
from transfer import compiler
from transfer import errors
from transfer import types
from transfer.run import experiment
from transfer.run import sources
from transfer.train import lane_data
from transfer.train import strategies
from transfer.train import target
from transfer.train import validators


def one_hot(labels, classes):
  return jax.nn.one_hot(jnp.asarray(labels), classes)


def test_entropy_and_information_maximisation_reward_confident_diverse_predictions():
  uniform = jnp.full((12, 4), 0.25)
  balanced = one_hot(np.arange(12) % 4, 4)
  collapsed = one_hot(np.zeros(12, int), 4)
  assert float(validators.entropies(uniform).mean()) == pytest.approx(np.log(4), rel=1e-5)
  assert float(validators.entropies(balanced).mean()) == pytest.approx(0.0, abs=1e-5)
  assert float(validators.info_max(balanced)) == pytest.approx(np.log(4), rel=1e-5)  # confident and diverse
  assert float(validators.info_max(collapsed)) == pytest.approx(0.0, abs=1e-5)  # confident, one class
  assert float(validators.info_max(uniform)) == pytest.approx(0.0, abs=1e-5)  # diverse on average, unsure


def test_bnm_is_the_nuclear_norm_over_the_examples():
  probs = jax.nn.softmax(jax.random.normal(jax.random.key(0), (40, 5)) * 3)
  expected = np.linalg.svd(np.asarray(probs, np.float64), compute_uv=False).sum() / 40
  assert float(validators.bnm(probs)) == pytest.approx(expected, rel=1e-4)
  assert float(validators.bnm(one_hot(np.arange(40) % 5, 5))) > float(validators.bnm(one_hot(np.zeros(40, int), 5)))


def test_snd_is_higher_for_predictions_that_form_dense_clusters():
  key = jax.random.key(1)
  clustered = jax.nn.softmax(10 * one_hot(np.arange(30) % 3, 3) + 0.1 * jax.random.normal(key, (30, 3)))
  scattered = jax.nn.softmax(3 * jax.random.normal(key, (30, 3)))
  assert float(validators.snd(clustered)) > float(validators.snd(scattered))


def test_dev_is_the_plain_mean_loss_when_the_domains_match_and_weighs_the_target_like_examples_otherwise():
  k = jax.random.split(jax.random.key(2), 4)
  source, target_same = jax.random.normal(k[0], (400, 6)), jax.random.normal(k[1], (400, 6))
  val = jax.random.normal(k[2], (300, 6))
  losses = jnp.abs(jax.random.normal(k[3], (300,)))
  assert float(validators.dev(source, target_same, val, losses)) == pytest.approx(float(losses.mean()), rel=0.15)
  target_shifted = target_same.at[:, 0].add(1.5)  # the target lies towards larger x0
  hard_where_target_is = 1.0 + (val[:, 0] > 0)  # source examples that look like the target are harder
  weighted = float(validators.dev(source, target_shifted, val, hard_where_target_is))
  assert weighted > float(hard_where_target_is.mean()) + 0.1


def test_the_score_orients_every_validator_and_drops_what_is_not_finite_or_below_the_floor():
  values = {'source_val_accuracy': jnp.float32(0.8), 'source_val_loss': jnp.float32(0.5), 'entropy': jnp.float32(0.3),
            'info_max': jnp.float32(0.2), 'bnm': jnp.float32(0.4), 'snd': jnp.float32(1.0), 'dev': jnp.float32(0.7)}
  assert float(validators.score(values, 'entropy')) == pytest.approx(-0.3)  # lower entropy is better
  assert float(validators.score(values, 'dev')) == pytest.approx(-0.7)
  assert float(validators.score(values, 'bnm')) == pytest.approx(0.4)
  assert float(validators.score(values, 'bnm', floor=0.9)) == -np.inf  # source accuracy 0.8 < 0.9
  assert float(validators.score({**values, 'source_val_loss': jnp.float32(np.nan)}, 'bnm')) == -np.inf


def rows_in(a, b):
  """Whether any row of `a` equals a row of `b`."""
  a, b = np.asarray(a).reshape(len(a), -1), np.asarray(b).reshape(len(b), -1)
  return bool((a[:, None, :] == b[None, :, :]).all(-1).any())


@pytest.mark.parametrize('variant', ['smoke', 'moons,smoke', 'digits,smoke', 'npz'])
def test_the_source_validation_set_is_held_out_from_pre_training_and_adaptation(tmp_path, variant):
  config = da_config(write_npz(tmp_path / 'd.npz')) if variant == 'npz' else domain_adaptation.get_config(variant)
  dataset = experiment.prepare(config)
  data, spec = dataset.data, experiment.target_spec(config, dataset)
  lane = jax.tree.map(lambda a: a[0], types.stack_lanes([dict(seed=1, data_size=0, shift=1.0)]))
  pretraining, _ = data.source_splits(dataset.arrays, lane.seed)
  own = lane_data.render(dataset.arrays, lane.seed, lane.shift, data=data, ood_shifts=(0.0,), adapts=True)
  adapt_run, validation = target.adapt_run(own.adapt, own.source_val, spec=spec)
  assert validation.source_val.y.shape[0] > 0 and validation.target_val.shape[0] > 0
  assert not rows_in(validation.source_val.x, pretraining.x)
  assert not rows_in(validation.source_val.x, adapt_run.data.source.x)
  assert not rows_in(validation.target_val, adapt_run.data.unlabeled)  # adaptation never trains on them
  whole = own.adapt.unlabeled
  assert len(whole) == len(validation.target_val) + len(adapt_run.data.unlabeled)


def test_validators_and_selection_never_read_a_target_label(tmp_path):
  """Every labelled target example's label and every test label permuted: each validator's curve, the selection
  score and what is selected are unchanged (only the test metrics move)."""
  rng = np.random.default_rng(1)
  labels, test_y = rng.integers(0, 3, 40), rng.integers(0, 3, 30)
  outs = []
  for name, (target_y, test) in {'a': (labels, test_y), 'b': (np.roll(labels, 7), rng.permutation(test_y))}.items():
    source_y = np.random.default_rng(0).integers(0, 3, 120)
    config = da_config(write_npz(tmp_path / f'{name}.npz', source_y=source_y, target_y=target_y, test_y=test))
    with config.unlocked():
      config.data_sizes = (0,)
    dataset = experiment.prepare(config)
    source = jax.tree.map(lambda a: a[0], sources.pretrain_all(config, dataset)[0])
    lane = jax.tree.map(lambda a: a[0], types.stack_lanes([dict(seed=0, data_size=0, shift=0.0)]))
    train = experiment.strategy_train_fn(config, dataset, strategies.get('dann'))
    outs.append(compiler.jit(train)(lane, source, dataset.arrays))
  a, b = outs
  for curve in validators.NAMES + ('score',):
    np.testing.assert_array_equal(a[curve], b[curve])
  assert np.isfinite(a['score']).all()


def test_an_unknown_validator_or_one_without_unlabelled_target_inputs_is_one_config_error(tmp_path):
  config = domain_adaptation.get_config('smoke')
  with config.unlocked():
    config.selection.validator = 'accuracy'
  with pytest.raises(errors.ConfigError, match=r"selection.validator = 'accuracy' is not allowed: one of \("):
    experiment.prepare(config)
  config = da_config(write_npz(tmp_path / 'n.npz', target_unlabeled_x=None))
  with config.unlocked():
    config.selection.validator = 'snd'
  with pytest.raises(errors.ConfigError, match="selection.validator = 'snd' is not allowed: one of "
                                                r"\('source_val_accuracy', 'source_val_loss'\)"):
    experiment.prepare(config)

