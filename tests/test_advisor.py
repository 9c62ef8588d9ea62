"""The advisor applies the decision framework; its thresholds are fitted on some seeds and scored on others."""

import math
import os

import pytest

from transfer import errors
from transfer import io
from transfer.run import experiment
from transfer.studies import decision

T = decision.Thresholds(little=100, lots=1000, far=0.5)


@pytest.mark.parametrize('n, distance, expected', [
    (50, 0.1, 'feature_extraction'), (50, 0.9, 'dann'), (500, 0.9, 'gradual_unfreezing'),
    (5000, 0.1, 'fine_tuning')])
def test_recommend_follows_the_framework(n, distance, expected):
  strategy, reason = decision.recommend(n, distance, T)
  assert strategy == expected and reason


def cell(n, distance, best, shift=0.0):
  accuracy = {s: 0.5 for s in ('feature_extraction', 'dann', 'gradual_unfreezing', 'fine_tuning', 'scratch')}
  accuracy[best] = 0.6
  return decision.Cell(n, shift, distance, accuracy)


def test_fitted_thresholds_reproduce_a_framework_shaped_world():
  cells = [cell(50, 0.1, 'feature_extraction'), cell(50, 0.9, 'dann', 3.0), cell(200, 0.1, 'gradual_unfreezing'),
           cell(200, 0.9, 'gradual_unfreezing', 3.0), cell(1000, 0.1, 'fine_tuning'), cell(1000, 0.9, 'fine_tuning', 3)]
  t = decision.fit_thresholds(cells)
  assert all(decision.recommend(c.data_size, c.distance, t)[0] == c.best for c in cells)
  assert 50 < t.little <= 200 and 200 < t.lots <= 1000 and 0.1 < t.far <= 0.9


def test_regret_is_zero_only_for_the_best():
  c = cell(50, 0.1, 'dann')
  assert decision.regret(c, 'dann') == 0.0
  assert decision.regret(c, 'fine_tuning') == pytest.approx(0.1)


def test_cells_use_only_the_seeds_they_are_given():
  records = [dict(strategy=s, seed=seed, data_size=50, shift=0.0, lr_mult=0.1 if s == 'fine_tuning' else None,
                  test_accuracy=0.9 if (seed == 1 and s == 'scratch') else 0.5, diverged=False)
             for s in ('fine_tuning', 'scratch') for seed in (0, 1)]
  dist = {(0, 0.0): 0.1, (1, 0.0): 0.3}
  (fit,) = decision.cells(records, dist, range(1), ('fine_tuning', 'scratch'), lr_mult=0.1)
  assert fit.accuracy == {'fine_tuning': 0.5, 'scratch': 0.5} and fit.distance == 0.1
  (held_out,) = decision.cells(records, dist, range(1, 2), ('fine_tuning', 'scratch'), lr_mult=0.1)
  assert held_out.best == 'scratch' and held_out.distance == 0.3


def test_unbounded_thresholds_round_trip_through_json(tmp_path):
  t = decision.Thresholds(little=-math.inf, lots=math.inf, far=0.25)
  path = tmp_path / 'thresholds.json'
  io.write_json(str(path), decision.thresholds_json(t))
  assert decision.load_thresholds(str(path)) == t


def test_decision_smoke_runs_and_the_advisor_reads_its_thresholds(tmp_path):
  from configs import decision as decision_config
  config = decision_config.get_config('smoke')
  text = decision.run(config, str(tmp_path))
  assert 'agrees with the measured best strategy in' in text
  for name in ('decision.md', 'decision.json', 'thresholds.json', 'decision_map.png', 'results.json', 'table.md',
               'plot.png'):
    assert os.path.exists(tmp_path / name), name
  with config.unlocked():
    config.pretrain.cache_dir = str(tmp_path / 'pretrained')
  for advisor, fitted in (('framework', 'thresholds.json'), ('tree', 'tree.json')):
    advice = decision.advise(config, seed=1, data_size=8, shift=3.0, advisor=advisor,
                             fitted_path=str(tmp_path / fitted))
    assert 'recommendation: ' in advice and 'domain distance' in advice


def test_the_fitted_tree_can_recommend_scratch_and_beats_the_framework_where_scratch_wins():
  """A world where scratch is best at large distance: the framework cannot say scratch, the tree does."""
  cells = [cell(50, 0.1, 'feature_extraction'), cell(50, 0.9, 'scratch', 3.0), cell(1000, 0.1, 'fine_tuning'),
           cell(1000, 0.9, 'scratch', 3.0)]
  tree = decision.fit_tree(cells)
  assert all(tree.recommend(c.data_size, c.distance)[0] == c.best for c in cells)
  t = decision.fit_thresholds(cells)
  assert sum(decision.regret(c, decision.recommend(c.data_size, c.distance, t)[0]) for c in cells) > 0
  assert any(c.best == 'scratch' and tree.recommend(c.data_size, c.distance)[0] == 'scratch' for c in cells)
  assert all(decision.recommend(c.data_size, c.distance, t)[0] != 'scratch' for c in cells)  # it cannot say it


def test_the_tree_round_trips_through_json(tmp_path):
  tree = decision.Tree(('distance', 0.5, 'fine_tuning', ('data_size', 100.0, 'dann', 'scratch')))
  path = tmp_path / 'tree.json'
  io.write_json(str(path), decision.tree_json(tree))
  assert decision.load_tree(str(path)) == tree
  assert decision.load_tree(str(path)).recommend(50, 0.7) == ('dann', 'distance >= 0.5, data_size < 100')


def test_the_advisor_refuses_data_without_unlabelled_target_inputs(tmp_path):
  from tests.test_data import npz_config
  from tests.test_data import write_npz
  config = npz_config(write_npz(tmp_path / 'mine.npz', target_unlabeled_x=None))
  with pytest.raises(errors.ConfigError, match='never reads test inputs'):
    decision.check_unlabeled(experiment.prepare(config))
