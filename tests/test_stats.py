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
