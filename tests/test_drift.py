"""Regenerated results against committed ones: identical cells are counted as such, a move within the seed noise is
not flagged, a move beyond it is."""

import numpy as np

from tests.conftest import REPO
from transfer.report import drift


def records(values, strategy='fine_tuning', shift=0.0):
  return [dict(strategy=strategy, seed=s, data_size=100, shift=shift, lr_mult=None, layers_copied=None,
               test_accuracy=v, oracle_test_accuracy=v) for s, v in enumerate(values)]


def test_identical_small_and_large_moves_are_told_apart():
  rng = np.random.default_rng(0)
  base = list(0.6 + 0.05 * rng.standard_normal(10))
  old = records(base) + records(base, shift=1.0) + records(base, shift=2.0)
  new = (records(base) + records([v + 0.001 for v in base], shift=1.0) +
         records([v + 0.2 for v in base], shift=2.0))
  c = drift.compare(old, new)
  assert (c['cells'], c['identical'], c['beyond_noise']) == (3, 1, 1)
  (moved,) = [r for r in c['rows'] if r['beyond_noise']]
  assert moved['cell'][2] == 2.0 and abs(moved['change'][0] - 0.2) < 1e-9


def test_cells_only_one_side_has_are_not_compared():
  old = records([0.5, 0.6, 0.7])
  new = records([0.5, 0.6, 0.7], strategy='scratch')
  assert drift.compare(old, new)['cells'] == 0


def test_committed_results_are_read_from_a_revision():
  runs = drift.committed_records('HEAD', 'outputs/domain_shift/results.json', REPO)
  assert runs and all('test_accuracy' in r for r in runs)
  assert drift.committed_records('HEAD', 'outputs/no_such_experiment/results.json', REPO) is None
