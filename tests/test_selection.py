"""Model selection: the validation split, the search as lanes of one program, early stopping, and a protocol that
never reads the test set."""

import functools
import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import strategies as strategies_config
from tests.conftest import smoke_config
from transfer import compiler
from transfer import errors
from transfer import io
from transfer import types
from transfer.run import experiment
from transfer.run import search
from transfer.run import selection
from transfer.run import sweep
from transfer.train import strategies
from transfer.train import target
from transfer.types import Split


def test_the_validation_split_is_stratified_nested_and_disjoint_from_training():
  y = jnp.array(np.random.default_rng(0).integers(0, 3, 60), jnp.int32)
  pool = Split(jnp.arange(60, dtype=jnp.float32)[:, None], y)
  split = {}
  for n in (12, 30, 60):
    order, size, val, mask = target.validation_split(pool, jnp.int32(n), every=4, num_classes=3)
    train = set(np.asarray(order[:int(size)]).tolist())
    held = set(np.asarray(val.x[:, 0][np.asarray(mask)]).astype(int).tolist())
    assert not train & held and train | held == set(range(n))  # every labelled example once, test never
    counts = np.bincount(np.asarray(y[:n]), minlength=3)
    assert np.bincount(np.asarray(y)[sorted(held)], minlength=3).tolist() == (counts // 4).tolist()  # stratified
    split[n] = train, held
  for small, large in ((12, 30), (30, 60)):
    assert split[small][0] <= split[large][0] and split[small][1] <= split[large][1]  # sizes stay nested


def test_early_stopping_returns_the_first_argmax_of_validation_accuracy():
  accuracy = np.array([[0.2, 0.6, 0.6, 0.5], [0.1, np.nan, 0.3, 0.7]])
  assert selection.early_stop(accuracy).tolist() == [1, 3]
  loss = np.zeros_like(accuracy)
  assert selection.choose(accuracy, loss) == (1, 3)


def test_ties_between_candidates_go_to_the_lower_validation_loss_then_the_lower_index():
  accuracy = np.array([[0.5, 0.7], [0.7, 0.1], [0.7, 0.7]])
  assert selection.choose(accuracy, np.array([[0, 0.3], [0.2, 0], [0.2, 0.1]])) == (1, 0)
  assert selection.choose(accuracy, np.zeros((3, 2))) == (0, 1)


def test_nothing_finite_means_nothing_is_chosen():
  assert selection.choose(np.full((2, 3), np.nan), np.zeros((2, 3))) is None
  assert selection.choose(np.ones((2, 3)), np.full((2, 3), np.inf)) is None  # blown up: an argmax, no finite loss


def test_an_evaluation_with_a_non_finite_loss_never_wins():
  accuracy = np.array([[0.9, 0.5], [0.6, 0.7]])
  assert selection.choose(accuracy, np.array([[np.nan, 0.1], [0.2, 0.2]])) == (1, 1)


def test_candidate_zero_is_the_fixed_setting_and_draws_stay_in_their_ranges():
  config = smoke_config()
  with config.unlocked():
    config.search.num_samples = 6
  fixed = search.fixed_setting(config)
  for name in ('fine_tuning', 'scratch', 'l2_sp'):
    strategy = strategies.get(name)
    candidates = search.candidates(config, strategy)
    assert len(candidates) == 6 and candidates[0] == fixed
    for candidate in candidates[1:]:
      for h in types.HPARAMS:
        lo, hi = config.search.space[h]
        assert lo <= candidate[h] <= hi if h in strategy.hyperparameters else candidate[h] == fixed[h]
  ft, l2 = (search.candidates(config, strategies.get(n)) for n in ('fine_tuning', 'l2_sp'))
  assert [c['lr'] for c in ft] == [c['lr'] for c in l2]  # shared hyperparameters: the same candidates (paired)


def test_a_grid_search_runs_every_combination():
  config = smoke_config()
  with config.unlocked():
    config.search.method, config.search.grid_points = 'grid', 2
  assert len(search.candidates(config, strategies.get('fine_tuning'))) == 1 + 2 ** 3  # lr, lr_mult, weight_decay


def lanes_of(config, name):
  strategy = strategies.get(name)
  cells = sweep.config_grid(strategy, config, lr_mult_axis=False)
  return [search.lane_values(c, cand) for c in cells for cand in search.candidates(config, strategy)]


def test_a_vmapped_candidate_equals_the_same_hyperparameters_run_alone(config, dataset, source_params):
  fn = experiment.strategy_train_fn(config, dataset, strategies.get('l2_sp'))
  lanes = lanes_of(config, 'l2_sp')[:3]
  assert len({(v['lr'], v['l2_sp_weight']) for v in lanes}) == 3  # three different candidates
  stacked = types.stack_lanes(lanes)
  batched = compiler.jit(functools.partial(sweep.train_lanes, train_fn=fn))(stacked, source_params, ())
  for i, values in enumerate(lanes):
    alone = compiler.jit(fn)(jax.tree.map(lambda a: a[i], stacked), jax.tree.map(lambda a: a[values['seed']],
                                                                                 source_params), ())
    for key, value in alone.items():
      np.testing.assert_allclose(batched[key][i], value, atol=1e-5, rtol=0, err_msg=key)


def test_a_whole_search_compiles_once_per_strategy(config, dataset, source_params):
  train_fn = experiment.strategy_train_fn(config, dataset, strategies.get('fine_tuning'))

  @chex.assert_max_traces(n=1)
  def counted(lane, params, arrays):
    return train_fn(lane, params, arrays)

  compiled = compiler.jit(functools.partial(sweep.train_lanes, train_fn=counted))
  lanes = lanes_of(config, 'fine_tuning')
  assert len({v['lr'] for v in lanes}) == config.search.num_samples
  chunks = []
  timing = sweep.run_lanes('fine_tuning', lanes, source_params, compiled=compiled, max_lanes_per_call=5,
                           on_chunk=lambda lo, hi, out: chunks.append(hi - lo))
  assert timing.programs == 1 and sum(chunks) == len(lanes) and len(chunks) > 1


def test_records_carry_the_selection_and_an_oracle_that_bounds_it(smoke_run):
  workdir, config, _ = smoke_run
  with open(os.path.join(workdir, 'results.json')) as f:
    runs = json.load(f)['runs']
  curves = np.load(os.path.join(workdir, 'curves.npz'))
  assert len(curves['key']) == len(runs) * config.search.num_samples
  for run in runs:
    assert 0 <= run['selected']['candidate'] < config.search.num_samples
    assert run['selected']['step'] % config.selection.eval_every == 0 and run['val_accuracy'] is not None
    assert run['oracle_test_accuracy'] >= run['test_accuracy']
    assert set(run['selected']) == {'candidate', 'step', *strategies.get(run['strategy']).hyperparameters}


def write_npz(path, test_y):
  rng = np.random.default_rng(0)
  arrays = {'source_x': rng.normal(size=(120, 6)).astype(np.float32), 'source_y': rng.integers(0, 3, 120),
            'target_x': rng.normal(size=(40, 6)).astype(np.float32), 'target_y': rng.integers(0, 3, 40),
            'test_x': rng.normal(size=(60, 6)).astype(np.float32), 'test_y': test_y}
  np.savez(path, **arrays)
  return str(path)


def test_selection_is_blind_to_the_test_labels(tmp_path):
  """Permuting the test labels changes test accuracies but not one choice of the search. Selection is the same code
  for every strategy; LP-FT (whose kept parameters cross from its probe stage into its fine-tuning stage) and scratch
  stand for them."""
  labels = np.random.default_rng(1).integers(0, 3, 60)
  results = []
  for name, test_y in (('original', labels), ('permuted', np.random.default_rng(2).permutation(labels))):
    config = strategies_config.get_config('smoke')
    with config.unlocked():
      config.data.name, config.data.path, config.data_sizes = 'npz', write_npz(tmp_path / f'{name}.npz', test_y), (
          16, 40)
      config.strategies, config.report.transfer = ('lp_ft', 'scratch'), 'lp_ft'
    results.append(experiment.run(config, str(tmp_path / name)).records)
  original, permuted = results
  assert [r['selected'] for r in original] == [r['selected'] for r in permuted]
  assert [r['val_accuracy'] for r in original] == [r['val_accuracy'] for r in permuted]
  assert [r['test_accuracy'] for r in original] != [r['test_accuracy'] for r in permuted]


@pytest.mark.parametrize('overrides, message', [
    ({'search.over': ('lr', 'momentum')}, "config.search.over = 'momentum'"),
    ({'search.space.lr': (0.0, 1e-2)}, 'config.search.space.lr = (0.0, 0.01)'),
    ({'search.space.weight_decay': (1e-2, 1e-6)}, 'config.search.space.weight_decay'),
    ({'lr': 0.0}, 'config.lr = 0.0'),
    ({'selection.val_fraction': 0.6}, 'config.selection.val_fraction = 0.6'),
    ({'selection.val_fraction': 0.0}, 'config.selection.val_fraction = 0.0'),
    ({'selection.eval_every': 7}, 'config.selection.eval_every = 7'),
    ({'selection.mode': 'oracle'}, "config.selection.mode = 'oracle'"),
    ({'data_sizes': (4, 32)}, 'config.data_sizes = (4, 32)'),
    ({'lr_mults': (0.1, 1.0)}, 'config.lr_mults = (0.1, 1.0)'),
])
def test_bad_selection_settings_fail_before_anything_is_written(tmp_path, overrides, message):
  config = smoke_config()
  with config.unlocked():
    for field, value in overrides.items():
      *parents, last = field.split('.')
      holder = config
      for part in parents:
        holder = holder[part]
      holder[last] = value
  workdir = str(tmp_path / 'out')
  with pytest.raises(errors.ConfigError, match=message.replace('(', r'\(').replace(')', r'\)')):
    experiment.run(config, workdir)
  assert not os.path.exists(workdir)


def test_what_is_measured_once_is_measured_at_the_step_selection_picks(smoke_run):
  """OOD and source accuracy are computed once, on the parameters each lane kept in its scan: those of its first
  evaluation of best validation score, the step run/selection.py picks from the stored curves. At the lane's own
  shift the OOD accuracy is its test accuracy there (the smoke test sets are smaller than EVAL_SAMPLES)."""
  workdir, config, _ = smoke_run
  lanes = io.read_lanes(os.path.join(workdir, 'curves.npz'))
  assert lanes
  for key, lane in lanes.items():
    curves, scalars = lane['curves'], lane['scalars']
    stop = selection.early_stop(np.where(np.isfinite(curves['val_loss']), curves['val_accuracy'], np.nan)[None])[0]
    shift = key[types.RUN_KEY.index('shift')]
    own = scalars['ood_accuracy'][list(config.shifts).index(shift)]
    assert own == curves['test_accuracy'][stop], key
    assert 'ood_accuracy' not in curves and 'source_accuracy' not in curves  # not measured at every evaluation
