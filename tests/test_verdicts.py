"""The rules that turn paired tests into claim verdicts (transfer/report/verdicts.py's docstring, docs/verdicts.md),
checked on constructed cases: negligible differences, self-comparisons, the symmetric verdict rule, cross-fitting,
every test a claim is about, and each test's power."""

import itertools
import math
import re

import numpy as np
import pytest

from transfer.report import claims
from transfer.report import stats
from transfer.report import study
from transfer.report import verdicts

SEEDS = 10
NOISE = np.random.default_rng(0).normal(0.0, 1.0, size=(64, SEEDS))  # fixed per-seed noise, one row per cell


def records(strategy, level, row, scale=0.01, metric='test_accuracy', **keys):
  """One record per seed: `level` plus row `row` of the fixed noise times `scale`."""
  base = dict(data_size=100, shift=0.0, lr_mult=None, layers_copied=None, diverged=False)
  return [dict(base, **keys, strategy=strategy, seed=s, **{metric: level + scale * NOISE[row, s]})
          for s in range(SEEDS)]


def experiment(name, runs, **grid):
  config = {'experiment': name, 'data_sizes': [100], 'shifts': [0.0], 'lr_mults': [0.1], 'strategies': [],
            'report': {'margin': 0.02}, **grid}
  return claims.Experiment(config, runs)


# One test's reading.


def test_a_significant_difference_inside_the_margin_reads_equivalent_not_higher():
  negligible = stats.Test('small', tuple(0.01 + 0.002 * NOISE[0]), margin=0.02)
  assert negligible.p_difference < 1e-4 and negligible.negligible  # significant, yet the CI is inside +-0.02
  assert stats.outcomes([negligible]) == [stats.EQUIVALENT]
  relevant = stats.Test('large', tuple(0.05 + 0.002 * NOISE[0]), margin=0.02)
  assert stats.outcomes([relevant]) == [stats.HIGHER]
  tighter = stats.Test('small, tight margin', negligible.differences, margin=0.005)
  assert stats.outcomes([tighter]) == [stats.HIGHER]


def test_the_ci_inside_the_margin_reads_equivalent_even_where_the_holm_corrected_tost_does_not():
  z = (NOISE[1] - NOISE[1].mean()) / NOISE[1].std(ddof=1)
  negligible = stats.Test('small', tuple(0.013 + 0.00885 * z), margin=0.02)
  wide = [stats.Test(f'wide {i}', tuple(0.1 * NOISE[2 + i]), margin=0.02) for i in range(3)]
  assert negligible.negligible and 4 * negligible.p_difference < 0.05 < 4 * negligible.p_equivalence
  assert stats.outcomes([negligible] + wide)[0] == stats.EQUIVALENT


def test_a_setting_against_itself_is_untestable_and_does_not_dilute_the_family():
  same = stats.Test('x - x', (0.0,) * SEEDS, margin=0.02)
  assert same.self_comparison and not same.testable
  assert stats.outcomes([same]) == [stats.UNTESTABLE]
  marginal = stats.Test('marginal', (0.02, 0.01, 0.03, 0.0, 0.015, 0.005), margin=0.001)
  assert 0.025 < marginal.p_difference < 0.05  # significant alone, not in a Holm family of two
  assert stats.outcomes([marginal, same]) == [stats.HIGHER, stats.UNTESTABLE]
  assert stats.outcomes([marginal, marginal])[0] == stats.INCONCLUSIVE
  verdict, evidence, _ = verdicts.judge([verdicts.Expect(same, verdicts.DIFFERENT_HIGHER)])
  assert verdict == verdicts.UNCLEAR and '1 untestable, left out' in evidence and 'same numbers' in evidence


# The verdict rule.

OUTCOMES = (stats.HIGHER, stats.LOWER, stats.EQUIVALENT, stats.INCONCLUSIVE, stats.UNTESTABLE)
PREDICTIONS = (verdicts.DIFFERENT_HIGHER, verdicts.DIFFERENT_LOWER, verdicts.SAME, verdicts.AT_LEAST, verdicts.AT_MOST,
               verdicts.OFTEN_HIGHER)
MIRROR = {verdicts.HOLDS: verdicts.FAILS, verdicts.FAILS: verdicts.HOLDS, verdicts.PARTLY: verdicts.PARTLY,
          verdicts.UNCLEAR: verdicts.UNCLEAR}


@pytest.mark.parametrize('want', PREDICTIONS)
def test_holds_and_does_not_hold_need_the_same_evidence(want):
  """Swapping what supports and what contradicts a claim swaps holds and does not hold, for every set of outcomes."""
  swapped = verdicts.Prediction(want.contradicts, want.supports)
  for n in range(1, 5):
    for found in itertools.product(OUTCOMES, repeat=n):
      assert verdicts.read(found, [swapped] * n) == MIRROR[verdicts.read(found, [want] * n)], found


@pytest.mark.parametrize('found, verdict', [
    ([stats.LOWER, stats.INCONCLUSIVE, stats.INCONCLUSIVE], verdicts.UNCLEAR),  # one against: not enough to fail
    ([stats.HIGHER, stats.INCONCLUSIVE, stats.INCONCLUSIVE], verdicts.UNCLEAR),  # one for: not enough to hold
    ([stats.LOWER, stats.EQUIVALENT, stats.INCONCLUSIVE], verdicts.FAILS),
    ([stats.HIGHER, stats.HIGHER, stats.INCONCLUSIVE], verdicts.HOLDS),
    ([stats.HIGHER, stats.HIGHER, stats.EQUIVALENT], verdicts.PARTLY),
    ([stats.HIGHER, stats.UNTESTABLE, stats.UNTESTABLE], verdicts.HOLDS),  # untestable tests are left out
    ([stats.UNTESTABLE], verdicts.UNCLEAR),
])
def test_the_verdict_counts_every_test(found, verdict):
  assert verdicts.read(found, [verdicts.DIFFERENT_HIGHER] * len(found)) == verdict


def test_an_equivalence_is_against_a_claim_only_where_it_predicts_a_difference():
  assert verdicts.stance(stats.EQUIVALENT, verdicts.DIFFERENT_HIGHER) == verdicts.AGAINST
  assert verdicts.stance(stats.EQUIVALENT, verdicts.SAME) == verdicts.FOR
  assert verdicts.stance(stats.EQUIVALENT, verdicts.AT_LEAST) == verdicts.FOR
  assert verdicts.stance(stats.EQUIVALENT, verdicts.OFTEN_HIGHER) == verdicts.NEITHER
  assert verdicts.stance(stats.INCONCLUSIVE, verdicts.SAME) == verdicts.NEITHER


# Claims on constructed experiments.


def strategies_runs(gaps, fe_gap=None):
  """Fine-tuning at 0.7 at every size; scratch at 0.7 + gaps[n] (noise 0.01) and, if given, feature extraction at
  0.7 + fe_gap[n] (noise 0.06, wide)."""
  runs = []
  for i, (n, gap) in enumerate(gaps.items()):
    runs += records('fine_tuning', 0.7, 3 * i, data_size=n, lr_mult=0.1)
    runs += records('scratch', 0.7 + gap, 3 * i + 1, data_size=n)
    if fe_gap:
      runs += records('feature_extraction', 0.7 + fe_gap[n], 3 * i + 2, scale=0.06, data_size=n)
  return experiment('strategies', runs, data_sizes=list(gaps))


@pytest.mark.parametrize('largest, verdict', [(0.0, verdicts.HOLDS), (-0.1, verdicts.PARTLY), (0.1, verdicts.HOLDS)])
def test_scratch_catching_up_at_the_largest_size_supports_the_claim(largest, verdict):
  e = strategies_runs({50: -0.1, 100: -0.1, 1000: -0.05, 10000: largest})
  assert claims.scratch_needs_more_data(e)[0] == verdict


def test_an_equivalence_at_the_largest_size_alone_does_not_fail_the_claim():
  noisy = strategies_runs({50: 0.0, 100: 0.0, 1000: 0.0})
  for r in noisy.records:  # scratch scattered at the small sizes: nothing decided there
    if r['strategy'] == 'scratch' and r['data_size'] < 1000:
      r['test_accuracy'] += 0.2 * NOISE[40 + r['data_size'] // 50, r['seed']]
  verdict, evidence, _ = claims.scratch_needs_more_data(noisy)
  assert verdict == verdicts.UNCLEAR and 'n=1000: scratch - fine_tuning' in evidence and '(equivalent: for' in evidence


def test_feature_extraction_beating_scratch_alone_does_not_make_its_claim_partly_true():
  e = strategies_runs({50: -0.1, 100: -0.1}, fe_gap={50: 0.01, 100: 0.0})  # FE vs FT: wide, unresolved
  verdict, evidence, _ = claims.feature_extraction_wins_small(e)
  assert verdict == verdicts.UNCLEAR and '2 for, 0 against, 2 neither' in evidence


def gradual_runs(accuracy_gap, forgetting_gap):
  """Gradual unfreezing - fine-tuning: `accuracy_gap` in accuracy and `forgetting_gap` in forgetting at each size."""
  runs = []
  for i, n in enumerate((200, 500, 1000)):
    for j, (strategy, scale) in enumerate((('fine_tuning', 0.0), ('gradual_unfreezing', 1.0))):
      acc = records(strategy, 0.7 + scale * accuracy_gap, 4 * i + j, scale=0.005, data_size=n, lr_mult=0.1)
      forget = records(strategy, 0.1 + scale * forgetting_gap, 4 * i + 2 + j, scale=0.005, metric='forgetting',
                       data_size=n, lr_mult=0.1)
      runs += [dict(a, forgetting=f['forgetting']) for a, f in zip(acc, forget)]
  return experiment('gradual_unfreezing', runs, data_sizes=[200, 500, 1000])


@pytest.mark.parametrize('accuracy, forgetting, verdict', [
    (0.05, -0.05, verdicts.HOLDS),
    (0.0, -0.05, verdicts.PARTLY),  # the accuracy half fails, the forgetting half (the claim's reason) holds
    (0.0, 0.0, verdicts.FAILS),
])
def test_gradual_unfreezing_is_judged_on_accuracy_and_forgetting_together(accuracy, forgetting, verdict):
  found, evidence, _ = claims.gradual_unfreezing_beats_fine_tuning(gradual_runs(accuracy, forgetting))
  assert found == verdict and 'of 6 tests' in evidence


def shift_runs(gains):
  runs = []
  for i, (shift, gain) in enumerate(gains.items()):
    runs += records('scratch', 0.5, 2 * i, shift=shift)
    runs += records('fine_tuning', 0.5 + gain, 2 * i + 1, shift=shift, lr_mult=0.1)
  return experiment('domain_shift', runs, shifts=list(gains))


AHEAD = {50: -0.1, 100: -0.1, 10000: 0.0}  # scratch - fine-tuning: transfer ahead, then a tie ('often': neither)


@pytest.mark.parametrize('scratch_gaps, gains, verdict', [
    (AHEAD, {0.0: 0.1, 0.5: 0.1, 1.0: 0.05, 3.0: 0.1}, verdicts.HOLDS),
    (AHEAD, {0.0: 0.1, 0.5: 0.1, 1.0: 0.05, 3.0: -0.05}, verdicts.PARTLY),  # worse than scratch at shift 3: against
    ({50: 0.1, 100: 0.1, 10000: 0.0}, {0.0: -0.05, 0.5: -0.05, 1.0: 0.0, 3.0: -0.05}, verdicts.FAILS),
])
def test_transfer_first_reads_every_size_and_every_shift(scratch_gaps, gains, verdict):
  found, evidence, _ = claims.transfer_first(strategies_runs(scratch_gaps), shift_runs(gains))
  assert found == verdict and 'of 7 tests' in evidence and 'domain_shift, n=100, shift 3' in evidence
  missing = claims.check_all({'domain_shift': shift_runs(gains)})[-1][1][claims.SYNTHETIC]
  assert missing == verdicts.missing('run strategies')


@pytest.mark.parametrize('gains, verdict', [
    ({0.0: 0.02, 0.5: 0.1, 3.0: 0.0}, verdicts.HOLDS),
    ({0.0: 0.1, 0.5: 0.1, 3.0: 0.0}, verdicts.PARTLY),  # equal to shift 0 (against), above shift 3 (for)
])
def test_helps_most_at_small_shift_compares_with_every_other_shift(gains, verdict):
  found, evidence, _ = claims.helps_most_at_small_shift(shift_runs(gains))
  assert found == verdict and 'gain(0.5) - gain(0)' in evidence and 'gain(0.5) - gain(3)' in evidence


# The LR claims: the best other multiplier, cross-fitted.

MULTS = (0.0, 0.01, 0.1, 1.0, 3.0)


def lr_runs(level_a, level_b=None):
  """Fine-tuning accuracy per multiplier, `level_a` on seeds 0-4 and `level_b` (default the same) on seeds 5-9."""
  level_b = level_b or level_a
  runs = []
  for i, m in enumerate(MULTS):
    for r in records('fine_tuning', 0.0, i, scale=0.005, lr_mult=m):
      r['test_accuracy'] += (level_a if r['seed'] < SEEDS // 2 else level_b)[m]
      runs.append(r)
  return experiment('lr_multiplier', runs, lr_mults=list(MULTS))


PEAKED = {0.0: 0.60, 0.01: 0.70, 0.1: 0.66, 1.0: 0.62, 3.0: 0.50}  # x0.01 best on both halves


def self_comparisons(evidence):
  return [m for m in re.finditer(r'lr_mult (\S+) - [^:]*\((x[^)]*)\):', evidence)
          if f'x{m.group(1)}' in m.group(2).split(' / ')]


def test_the_picked_multiplier_is_never_compared_with_itself():
  e = lr_runs(PEAKED)
  verdict, evidence, _ = claims.low_lr_underfits(e)  # x0.01 is the best: the old reading compared it with itself
  assert not self_comparisons(evidence)
  assert 'lr_mult 0.01 - best higher (x0.1)' in evidence and '(higher: against' in evidence
  assert verdict == verdicts.FAILS
  for check in (claims.high_lr_hurts, claims.interior_optimum, claims.smaller_backbone_lr):
    assert not self_comparisons(check(e)[1])
  assert claims.interior_optimum(e)[0] == verdicts.HOLDS  # x0 and x3 both below x0.01
  frozen_best = lr_runs({**PEAKED, 0.0: 0.75})  # "too low" is judged against larger multipliers only
  assert 'lr_mult 0.01 - best higher (x0.1)' in claims.low_lr_underfits(frozen_best)[1]
  assert 'lr_mult 1 - best in (0, 1) (x0.01)' in claims.smaller_backbone_lr(frozen_best)[1]  # not x0 (frozen)


def test_the_best_other_multiplier_is_cross_fitted_both_ways():
  second = {**PEAKED, 0.1: 0.60, 1.0: 0.66}  # seeds 5-9 prefer x1 to x0.1
  e = lr_runs(PEAKED, second)
  (t,) = claims.versus_best_other(e, 3.0, lambda m: m < 3.0, 'best lower')
  assert t.label.endswith('(x0.01)')  # x0.01 wins on both halves
  (t,) = claims.versus_best_other(e, 0.01, lambda m: m > 0.01, 'best higher')
  assert t.label.endswith('(x0.1 / x1)') and len(t.differences) == SEEDS
  acc = lambda m, s: next(r['test_accuracy'] for r in e.records if r['lr_mult'] == m and r['seed'] == s)
  expected = [acc(0.01, s) - acc(0.1, s) for s in range(5, 10)] + [acc(0.01, s) - acc(1.0, s) for s in range(5)]
  assert t.differences == pytest.approx(expected)  # seeds 5-9 against x0.1 (picked on 0-4), and the reverse


# Power.


def test_minimum_detectable_effect_and_seeds_needed_match_the_textbook_values():
  # Paired t-test, two-sided alpha 0.05, 80% power (e.g. G*Power): d = 0.5 needs 34, 0.8 needs 15, 0.2 needs 199;
  # 10 pairs detect d = 0.996.
  assert stats.seeds_needed(0.5, 1.0) == 34 and stats.seeds_needed(0.8, 1.0) == 15
  assert stats.seeds_needed(0.2, 1.0) == 199 and stats.seeds_needed(-0.02, 0.04) == 34
  assert stats.minimum_detectable_effect(1.0, 10) == pytest.approx(0.996, abs=0.001)
  assert stats.minimum_detectable_effect(0.03, 10) == pytest.approx(0.03 * 0.996, abs=1e-4)
  assert math.isinf(stats.seeds_needed(0.0, 1.0)) and math.isnan(stats.minimum_detectable_effect(1.0, 1))


def test_minimum_detectable_effect_is_detected_four_times_in_five_by_simulation():
  rng = np.random.default_rng(1)
  mde = stats.minimum_detectable_effect(1.0, 10)
  x = rng.normal(mde, 1.0, size=(40_000, 10))
  t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(10))
  rejected = np.mean(np.abs(t) > 2.2621571627409915)  # t_{0.975, 9}
  assert rejected == pytest.approx(0.80, abs=0.01)
  x = rng.normal(0.5, 1.0, size=(40_000, 33))  # one seed fewer than seeds_needed(0.5, 1)
  t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(33))
  assert np.mean(np.abs(t) > 2.036933343460101) == pytest.approx(stats.power(0.5, 1.0, 33), abs=0.01)  # t_{.975,32}
  assert stats.power(0.5, 1.0, 33) < 0.80 <= stats.power(0.5, 1.0, 34)


def test_every_test_shows_its_power_and_an_inconclusive_one_its_seeds_needed():
  differences = tuple(0.03 + 0.06 * NOISE[5])
  t = stats.Test('wide', differences, margin=0.02)
  assert t.mde == pytest.approx(stats.minimum_detectable_effect(float(np.std(differences, ddof=1)), SEEDS))
  assert t.seeds_needed == stats.seeds_needed(float(np.mean(differences)), float(np.std(differences, ddof=1)))
  evidence = verdicts.judge([verdicts.Expect(t, verdicts.DIFFERENT_HIGHER)]).evidence
  assert 10 < t.seeds_needed < 100 and f'(inconclusive; MDE {t.mde:.3f}, needs ~{t.seeds_needed:,} seeds)' in evidence
  decided = stats.Test('clear', tuple(0.1 + 0.01 * NOISE[5]), margin=0.02)
  evidence = verdicts.judge([verdicts.Expect(decided, verdicts.DIFFERENT_HIGHER)]).evidence
  assert f'(higher: for; MDE {decided.mde:.3f})' in evidence and 'needs' not in evidence


def test_the_claims_section_says_how_verdicts_and_power_are_read():
  text = study.claims_intro({'domain_shift': shift_runs({0.0: 0.1})})
  assert 'minimum detectable effect' in text and 'seeds needed' in text and 'margin' in text
  assert '(`report.margin`: 0.02)' in text


# The fixed protocol's verdict beside the selected one.


def reading(level, spread, row):
  """A one-test claim read as `verdicts.judge` reads it: 'holds' (a predicted difference found) or not."""
  return verdicts.judge([verdicts.Expect(stats.Test('a - b', tuple(level + spread * NOISE[row]), margin=0.02),
                                         verdicts.DIFFERENT_HIGHER)])


def test_a_different_verdict_is_changed_only_where_the_estimates_lie_beyond_each_others_cis():
  selected = reading(0.05, 0.01, 5)  # decided: higher
  precise_elsewhere = reading(0.04, 0.08, 6)  # about the same mean, too noisy to decide
  far = reading(-0.05, 0.01, 7)  # decided the other way
  assert selected.verdict == verdicts.HOLDS and precise_elsewhere.verdict != verdicts.HOLDS != far.verdict
  assert not verdicts.changed(selected, precise_elsewhere)
  assert verdicts.changed(selected, far) and verdicts.changed(far, selected)
  assert study.fixed_verdict(selected, selected) == 'same'
  assert study.fixed_verdict(selected, precise_elsewhere) == f'{precise_elsewhere.verdict} (CIs overlap)'
  assert study.fixed_verdict(selected, far) == f'{far.verdict} (changed)'
  assert study.fixed_verdict(verdicts.missing('not run'), selected) == selected.verdict  # nothing to compare with
  assert verdicts.changed(selected, verdicts.Verdict(far.verdict, '', ()))  # not the same tests: not precision
