"""Domain adaptation's own protocol: same classes, no target label. Nothing reads a target label, source_only is
the same training without the alignment term, the papers' schedules, and the diagnostics every DA run reports."""

import functools
import os

import jax
import numpy as np
import pytest

from configs import domain_adaptation
from tests.conftest import same_arithmetic_atol
from tests.test_data import npz_config
from tests.test_data import write_npz
from transfer import compiler
from transfer import errors
from transfer import types
from transfer.run import experiment
from transfer.run import sources
from transfer.train import losses
from transfer.train import stages
from transfer.train import strategies
from transfer.train import target


def unsupervised_npz(path, target_y):
  """An npz whose target classes are the source's (3 classes), with unlabelled target inputs."""
  rng = np.random.default_rng(0)
  return write_npz(path, source_y=rng.integers(0, 3, 120), target_y=target_y, test_y=rng.integers(0, 3, 30))


def final_params(config, name, lane_values):
  dataset = experiment.prepare(config)
  source = jax.tree.map(lambda a: a[lane_values['seed']], sources.pretrain_all(config, dataset)[0])
  spec, strategy = experiment.target_spec(config, dataset), strategies.get(name)
  lane = jax.tree.map(lambda a: a[0], types.stack_lanes([lane_values]))

  def fitted(lane, source, arrays):
    own = target.render(arrays, lane, data=dataset.data, strategy=strategy, spec=spec)
    run, adapt, validation = target.prepared(lane, own, data=dataset.data, strategy=strategy, spec=spec)
    return target.fit(lane, source, run, strategy=strategy, spec=spec, adapt=adapt, validation=validation).params

  return compiler.jit(fitted)(lane, source, dataset.arrays)


def da_config(path):
  config = npz_config(path, data_sizes=(0, 8))  # 8: the lanes of size 0 take the traced path (has_target)
  with config.unlocked():
    config.data.same_classes = True
    config.strategies = ('dann', 'source_only')
    config.report.transfer, config.report.baseline = 'dann', 'source_only'
  return config


@pytest.mark.parametrize('name', ['dann', 'coral', 'mmd', 'source_only'])
def test_no_target_label_is_read(tmp_path, name):
  """Permuting every labelled target example's label leaves the trained parameters exactly as they were."""
  labels = np.random.default_rng(1).integers(0, 3, 40)
  lane = dict(seed=0, data_size=0, shift=0.0, lr_mult=1.0, layers_copied=None)
  a = final_params(da_config(unsupervised_npz(tmp_path / 'a.npz', labels)), name, lane)
  b = final_params(da_config(unsupervised_npz(tmp_path / 'b.npz', np.roll(labels, 7))), name, lane)
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_source_only_is_dann_without_the_alignment_term(tmp_path):
  config = da_config(unsupervised_npz(tmp_path / 'a.npz', np.random.default_rng(1).integers(0, 3, 40)))
  lane = dict(seed=1, data_size=0, shift=0.0, lr_mult=1.0, layers_copied=None, align_weight=0.0)
  jax.tree.map(functools.partial(np.testing.assert_allclose, atol=same_arithmetic_atol(1e-6), rtol=0),
               final_params(config, 'dann', lane), final_params(config, 'source_only', lane))
  moved = final_params(config, 'dann', {**lane, 'align_weight': 10.0})
  assert not np.allclose(moved['layer_0']['kernel'], final_params(config, 'source_only', lane)['layer_0']['kernel'])


def test_the_learning_rate_anneals_as_in_dann():
  schedule = stages.annealed(lambda count: 2.0, steps=100)
  assert float(schedule(0)) == 2.0
  assert float(schedule(100)) == pytest.approx(2.0 * 11 ** -0.75)


def test_the_mmd_bandwidth_follows_the_features_scale():
  """The median heuristic sets the kernel width from the data, so MMD does not change when features are rescaled."""
  k = jax.random.split(jax.random.key(0), 2)
  a, b = jax.random.normal(k[0], (64, 8)), jax.random.normal(k[1], (64, 8)) + 0.5
  assert float(losses.mmd_loss(a, b)) == pytest.approx(float(losses.mmd_loss(40 * a, 40 * b)), rel=1e-4)


def test_the_unsupervised_smoke_sweep_reports_its_diagnostics(tmp_path):
  records = experiment.run(domain_adaptation.get_config('moons,smoke'), str(tmp_path)).records
  assert {r['data_size'] for r in records} == {0}
  for r in records:
    assert r['val_size'] > 0  # validated on held-out source examples
    d = r['adaptation']
    assert -1 <= d['pad_before'] <= 2 and -1 <= d['pad_after'] <= 2
    assert (d['domain_accuracy'] is not None) == (r['strategy'] == 'dann')
  assert os.path.exists(tmp_path / 'curves.png')


@pytest.mark.parametrize('changes, message', [
    (dict(strategies=('fine_tuning', 'dann'), report=None), "need labelled target examples"),
    (dict(same_classes=False), "target classes are not the source's"),
])
def test_an_unsupervised_run_that_needs_target_labels_is_refused(tmp_path, changes, message):
  config = domain_adaptation.get_config('smoke')
  with config.unlocked():
    if 'strategies' in changes:
      config.strategies = changes['strategies']
      config.report.baseline = 'fine_tuning'
    if 'same_classes' in changes:
      config.data.same_classes = changes['same_classes']
  with pytest.raises(errors.ConfigError, match=message):
    experiment.run(config, str(tmp_path / 'out'))
  assert not os.path.exists(tmp_path / 'out')
