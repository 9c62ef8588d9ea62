"""What a run also measures: forgetting of the source task and accuracy at every shift of the experiment."""

import json
import os


def runs(workdir):
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)['runs']


def test_a_frozen_backbone_forgets_nothing(smoke_run):
  """Feature extraction never moves the backbone, so the source head still sees the source model's features."""
  for r in runs(smoke_run[0]):
    if r['strategy'] == 'feature_extraction':
      assert r['forgetting'] == 0.0 and r['source_accuracy'] is not None


def test_only_runs_that_start_from_a_source_model_measure_the_source_task(smoke_run):
  for r in runs(smoke_run[0]):
    assert (r['source_accuracy'] is None) == (r['strategy'] == 'scratch'), r['strategy']


def test_every_model_is_tested_at_every_shift_and_its_own_is_its_test_accuracy(smoke_run):
  """The smoke test sets hold fewer examples than the out-of-distribution sample, so at the run's own shift the
  two measure the same examples."""
  _, config, _ = smoke_run
  assert config.data.test_size <= 500
  for r in runs(smoke_run[0]):
    assert set(r['ood_accuracy']) == {f'{s:g}' for s in config.shifts}
    assert r['ood_accuracy'][f'{r["shift"]:g}'] == r['test_accuracy']
