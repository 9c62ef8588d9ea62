import math

import numpy as np
import pytest

from transfer.report import stats


def test_mean_ci_matches_a_hand_computed_t_interval():
  mean, lo, hi = stats.mean_ci([1.0, 2.0, 3.0, 4.0])
  half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2  # t_{0.975, 3} * s / sqrt(4)
  assert mean == 2.5
  assert lo == pytest.approx(2.5 - half) and hi == pytest.approx(2.5 + half)


def test_mean_ci_of_one_value_has_no_interval():
  mean, lo, hi = stats.mean_ci([0.7])
  assert mean == 0.7 and math.isnan(lo) and math.isnan(hi)


def test_paired_differences_use_common_seeds_only():
  assert stats.paired_differences({0: 0.5, 1: 0.7, 2: 0.9}, {1: 0.6, 2: 0.4, 3: 0.0}) == pytest.approx([0.1, 0.5])


def test_verdict_reads_the_interval():
  assert stats.verdict(-0.2, -0.01) == 'negative transfer'
  assert stats.verdict(0.01, 0.2) == 'transfer helps'
  assert stats.verdict(-0.01, 0.2) == 'no significant difference'


def test_holm_multiplies_the_smallest_p_by_the_family_size_and_keeps_the_order():
  assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
  adjusted = stats.holm([0.2, float('nan'), 0.01])
  assert math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02) and adjusted[0] == pytest.approx(0.2)


def test_tost_calls_a_tight_difference_inside_the_margin_equivalent_and_a_wide_one_inconclusive():
  tight = stats.Test('tight', (0.004, -0.003, 0.002, -0.001, 0.0, 0.003, -0.002, 0.001), margin=0.02)
  wide = stats.Test('wide', (0.08, -0.09, 0.07, -0.06, 0.0, 0.05, -0.04, 0.03), margin=0.02)
  shifted = stats.Test('shifted', (0.05, 0.06, 0.055, 0.045, 0.05, 0.06, 0.052, 0.048), margin=0.02)
  assert stats.outcomes([tight, wide, shifted]) == [stats.EQUIVALENT, stats.INCONCLUSIVE, stats.HIGHER]
  assert tight.p_equivalence < 0.01 < wide.p_equivalence


def test_holm_can_turn_a_lone_significant_result_inconclusive_in_a_large_family():
  marginal = stats.Test('marginal', (0.02, 0.01, 0.03, 0.0, 0.015, 0.01), margin=0.001)
  assert stats.outcomes([marginal]) == [stats.HIGHER]
  nothing = stats.Test('nothing', (0.01, -0.01, 0.0, 0.02, -0.02, 0.0), margin=0.001)
  assert stats.outcomes([marginal] + [nothing] * 9)[0] == stats.INCONCLUSIVE
