"""REPORT.md: claims are judged from paired CIs, tables put the original study beside ours."""

import pytest

from transfer.report import claims
from transfer.report import study
from transfer.report import verdicts


def records(strategy, values, **keys):
  """One record per seed with the given accuracies."""
  base = dict(data_size=100, shift=0.0, lr_mult=None, diverged=False)
  return [dict(base, **keys, strategy=strategy, seed=s, test_accuracy=v) for s, v in enumerate(values)]


def shift_runs(gain_by_shift):
  """A domain-shift experiment (its config's grid and its records) with the given fine-tuning gain per shift."""
  out = []
  for i, (shift, gain) in enumerate(gain_by_shift.items()):
    scratch = [0.5, 0.52, 0.48, 0.51, 0.49]
    out += records('scratch', scratch, shift=shift)
    noise = [0.01, -0.01, 0.005, -0.005, 0.0]  # paired differences = gain + noise, symmetric around the gain,
    noise = noise[i % 5:] + noise[:i % 5]  # rotated per shift, so that gains at two shifts differ by more than noise
    out += records('fine_tuning', [s + gain + e for s, e in zip(scratch, noise)], shift=shift, lr_mult=0.1)
  config = {'experiment': 'domain_shift', 'strategies': ['fine_tuning', 'scratch'], 'data_sizes': [100],
            'shifts': list(gain_by_shift), 'lr_mults': [0.1], 'report': {'margin': 0.02}}
  return claims.Experiment(config, out)


@pytest.mark.parametrize('gains, verdict', [
    ({0.0: 0.02, 0.5: 0.08, 3.0: 0.0}, verdicts.HOLDS),  # larger at 0.5 than at every other shift, significantly
    ({0.0: 0.08, 0.5: 0.02, 3.0: 0.08}, verdicts.FAILS),  # smaller at 0.5
    ({0.0: 0.05, 0.5: 0.05, 3.0: 0.05}, verdicts.FAILS),  # the same gain: equivalent, so not "most" at 0.5
    ({0.0: 0.05, 0.5: 0.05, 3.0: 0.0}, verdicts.PARTLY),  # above shift 3, not above shift 0
])
def test_helps_most_at_small_shift_needs_a_larger_gain_at_0_5_not_a_larger_point_estimate(gains, verdict):
  found, evidence, _ = claims.helps_most_at_small_shift(shift_runs(gains))
  assert found == verdict and 'gain(0.5) - gain(0)' in evidence and 'gain(0.5) - gain(3)' in evidence


def test_a_difference_too_noisy_to_read_is_inconclusive():
  runs = shift_runs({0.0: 0.0, 0.5: 0.0})
  noisy = [0.3, -0.3, 0.25, -0.2, 0.0]  # large seed-to-seed scatter around a gain of about 0.01
  for r, e in zip([r for r in runs.records if r['strategy'] == 'fine_tuning' and r['shift'] == 0.0], noisy):
    r['test_accuracy'] += e + 0.01
  assert claims.no_gain_without_shift(runs)[0] == verdicts.UNCLEAR


@pytest.mark.parametrize('gain, verdict', [(0.0, verdicts.HOLDS), (0.05, verdicts.FAILS)])
def test_no_gain_without_shift_needs_equivalence_not_just_no_significance(gain, verdict):
  assert claims.no_gain_without_shift(shift_runs({0.0: gain, 0.5: 0.05}))[0] == verdict


@pytest.mark.parametrize('large_gain, verdict',
                         [(0.0, verdicts.HOLDS), (-0.05, verdicts.HOLDS), (0.05, verdicts.FAILS)])
def test_benefit_vanishes_allows_a_reversal_and_says_so(large_gain, verdict):
  runs = shift_runs({0.0: 0.05, 2.0: large_gain, 3.0: large_gain})
  found, evidence, _ = claims.benefit_vanishes_at_large_shift(runs)
  assert found == verdict and ('reverses (negative transfer) at shift 2, 3' in evidence) == (large_gain < 0)


def test_missing_experiments_are_reported_not_guessed():
  results = claims.check_all({'domain_shift': shift_runs({0.0: 0.05, 0.5: 0.05, 3.0: 0.0})})
  for claim, found in results:
    measured = claim.experiments.get(claims.SYNTHETIC) == ('domain_shift',)
    assert (found[claims.SYNTHETIC][0] != verdicts.MISSING) == measured, claim.text
    assert found[claims.DIGITS][0] == verdicts.MISSING


def test_report_renders_the_original_tables_beside_ours():
  text = study.render({'domain_shift': shift_runs({0.0: 0.05, 0.5: 0.05, 1.0: 0.0, 2.0: 0.0, 3.0: 0.0})})
  assert '| 0.5 | 0.26 |' in text  # the original study's transfer accuracy at shift 0.5, beside ours
  assert 'not run' in text  # experiments without results say so


def layer_runs(anb_by_k):
  """AnB / AnB+ / BnB / BnB+ records over k with AnB's mean at each k given; the others flat at 0.5."""
  noise = [0.01, -0.01, 0.005, -0.005, 0.0]
  out = []
  for k, anb in anb_by_k.items():
    for strategy, level in (('anb', anb), ('anb_plus', 0.5), ('bnb', 0.5), ('bnb_plus', 0.5)):
      out += records(strategy, [level + e for e in noise], layers_copied=k)
  return out


def test_layer_findings_call_a_group_specific_only_when_copying_it_frozen_hurts():
  rows = claims.layer_rows(layer_runs({0: 0.5, 1: 0.6, 2: 0.6, 3: 0.4}), ['layer_0', 'layer_1', 'layer_2'])
  assert [(r[2], r[3], r[-1]) for r in rows] == [('1', 'layer_0', 'transfers'), ('2', 'layer_1', 'neutral'),
                                                 ('3', 'layer_2', 'specific to the source')]
  assert rows[2][4].startswith('-0.100')  # AnB - BnB at k = 3
  assert rows[2][6].startswith('+0.000')  # BnB(3) - BnB(0): no co-adaptation drop


def test_lp_ft_selected_inside_its_probe_phase_is_counted_as_such():
  steps = [100, 500, 501, 1000]  # the probe phase is the first round(0.5 * 1000) = 500 steps
  runs = [dict(strategy='lp_ft', seed=s, data_size=50, selected={'step': step}) for s, step in enumerate(steps)]
  config = {'experiment': 'strategies', 'data_sizes': [50], 'steps': 1000, 'probe_fraction': 0.5}
  note = study.probe_phase_note(claims.Experiment(config, runs))
  assert 'step <= 500 of 1,000' in note and '2 of 4 runs at n = 50' in note
  assert study.probe_phase_note(claims.Experiment(config, [dict(r, strategy='fine_tuning') for r in runs])) == ''


def test_the_step_budgets_of_both_protocols_are_stated_side_by_side():
  def e(mode, steps):
    return claims.Experiment({'experiment': 'x', 'steps': steps, 'data': {'name': 'synthetic'},
                              'selection': {'mode': mode, 'eval_every': steps // 10}}, [])
  table = study.budgets_table({'x': e('search', 300)}, {'x': e('fixed', 500)})
  assert '| x | 300 (evaluated every 30; the best evaluation counts) | 500 (the last step counts) |' in table


def test_findings_say_where_transfer_helps_from_the_paired_tests_not_from_text():
  from transfer.report import findings
  e = shift_runs({0.0: 0.1, 0.5: 0.1, 2.0: -0.1})
  runs = [dict(r, val_size=20, oracle_test_accuracy=r['test_accuracy'] + 0.01) for r in e.records]
  e = claims.Experiment({**e.config, 'selection': {'val_fraction': 0.2}}, runs)
  flipped = claims.Experiment(e.config, [dict(r, test_accuracy=1 - r['test_accuracy']) for r in runs])
  text = ' '.join(' '.join(findings.domain_shift(e, None)).split())  # wrapping aside
  assert '5 seeds, 100 labelled target examples per run, of which 20 validate' in text
  assert 'at shift 0 (+0.100) and 0.5 (+0.100).' in text and '-0.100' in text and '(lower)' in text
  flipped_text = ' '.join(' '.join(findings.domain_shift(flipped, None)).split())  # now it loses where it won
  assert 'at shift 2 (+0.100).' in flipped_text and 'frozen features' not in flipped_text


def test_run_times_are_read_from_each_workdirs_environment_and_skip_unfinished_runs(tmp_path):
  import json
  from transfer.report import findings
  for name, wall in (('done', 12.4), ('running', None)):
    (tmp_path / name).mkdir()
    (tmp_path / name / 'config.json').write_text(json.dumps({'seeds': 30}))
    (tmp_path / name / 'environment.json').write_text(json.dumps(
        {'wall_seconds': wall, 'compile_seconds': {'a': 1.2, 'b': 2.0}, 'lanes': {'a': 1000, 'b': 200},
         'start': '2026-12-02T07:00:00+00:00', 'git': {'commit': 'abcdef123'}}))
  (table,) = findings.run_times(str(tmp_path))
  assert '| done | 30 | 1,200 | 12 | 3 | 2026-12-02 | abcdef1 |' in table and 'running' not in table
