"""How paired tests become a claim's verdict: the one rule every claim is read by (docs/verdicts.md says the same
for readers).

A claim's check (claims.py) lists every paired test the claim is about, each with what the claim predicts there
(`Expect`); `judge` reads them with the rules below and returns a verdict ('holds', 'partly', 'does not hold',
'inconclusive', or 'not measured' when no test could be formed) and the evidence line behind it.

1. Each paired test (per-seed differences a - b) reads one of five ways (`stats.outcomes`), with Holm's correction
   over the tests of one claim (the difference tests one family, the equivalence tests another): *untestable* when
   the two sides are the same numbers on every seed (a setting against itself) or fewer than two seeds pair up: no
   evidence, left out of the count; *equivalent* when the equivalence test (TOST within the experiment's
   `report.margin`) has an adjusted p below 0.05, or when the 95% CI lies inside [-margin, +margin], significant or
   not (a difference that small is negligible); *higher* / *lower* when the difference test's adjusted p is below
   0.05 and the difference is not negligible; else *inconclusive*.
2. A check states, per test, what the claim predicts there: the outcomes that support it and those that contradict
   it (`Prediction`). A predicted difference (higher, or lower) is contradicted by the other direction and by an
   equivalence; a predicted absence of difference, by either difference; "at least as good", only by lower; a claim
   about most cells ("often beats") is supported by higher and contradicted by lower, a tie in one cell bearing on it
   neither way. So an equivalence reads against a claim only where the claim predicts a difference in that test.
   Inconclusive and untestable tests are neither for nor against.
3. Of the claim's testable tests (all of them: a check lists every test the claim is about), the claim *holds* when
   more than half are for it and none against; it *does not hold* when more than half are against it and none for;
   it holds *partly* when some are for and some against; otherwise it is *inconclusive*. The rule is symmetric: a
   claim fails on exactly the evidence that would have made it hold, mirrored.
4. A claim about the best of several settings (the LR-multiplier claims) never compares a setting with itself: the
   named multiplier is tested against the best of the *other* candidates, picked by mean accuracy on one half of
   the seeds and judged on the other half, both ways round (two-fold cross-fitting); each seed's difference is
   against the best picked without it, and the two halves' differences form one paired test over every seed
   (`claims.versus_best_other` forms those tests).

Every test also states its power: the minimum detectable effect (the true difference the paired t-test over these
seeds would detect with 80% power, two-sided alpha 0.05, from the SD of the per-seed differences) and, where it is
inconclusive, the seeds it would need to detect its observed mean difference with 80% power (`stats.seeds_needed`;
exact noncentral t, without Holm's correction, so a lower bound).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from transfer.report import stats
from transfer.report import tables

HOLDS, PARTLY, FAILS, MISSING = 'holds', 'partly', 'does not hold', 'not measured'
UNCLEAR = 'inconclusive'  # neither holds nor fails: too little decided, in either direction
FOR, AGAINST, NEITHER = 'for', 'against', 'neither'  # a test's stance towards its claim


class Prediction(NamedTuple):
  """What a claim predicts for one of its tests: the outcomes that support it and those that contradict it; any
  other outcome (inconclusive, untestable, or one the claim says nothing about) is neither."""

  supports: frozenset[str]
  contradicts: frozenset[str]


H, L, E = stats.HIGHER, stats.LOWER, stats.EQUIVALENT
DIFFERENT_HIGHER = Prediction(frozenset({H}), frozenset({L, E}))  # a difference, a - b > 0
DIFFERENT_LOWER = Prediction(frozenset({L}), frozenset({H, E}))
SAME = Prediction(frozenset({E}), frozenset({H, L}))  # no difference
AT_LEAST = Prediction(frozenset({H, E}), frozenset({L}))  # at least as good
AT_MOST = Prediction(frozenset({L, E}), frozenset({H}))
OFTEN_HIGHER = Prediction(frozenset({H}), frozenset({L}))  # higher in most tests: a tie in one is no evidence


class Expect(NamedTuple):
  """One test of a claim and what the claim predicts for it."""

  test: stats.Test
  want: Prediction


class Verdict(NamedTuple):
  """A claim's reading on one data source: the verdict, the evidence line behind it, and the tests it read."""

  verdict: str
  evidence: str
  tests: tuple[stats.Test, ...] = ()


def missing(reason: str) -> Verdict:
  """The reading of a claim no test of which could be formed, and why."""
  return Verdict(MISSING, reason)


def disjoint(a: stats.Test, b: stats.Test) -> bool:
  """Whether two estimates of the same difference lie beyond each other's 95% CIs (the intervals do not overlap)."""
  (_, lo_a, hi_a), (_, lo_b, hi_b) = a.interval, b.interval
  return bool(lo_a > hi_b or lo_b > hi_a)


def changed(one: Verdict, other: Verdict) -> bool:
  """Whether `other` reads a claim differently from `one` *beyond noise*: the verdicts differ and at least one of the
  claim's tests (the same check, so the same tests in the same order) has estimates whose 95% CIs do not overlap. A
  verdict that differs only because one reading's CI crossed a threshold the other's did not is precision, not
  disagreement. (For the LR claims the best *other* multiplier may differ between the protocols: the paired tests
  are then the same comparison with different picks.)"""
  if one.verdict == other.verdict or MISSING in (one.verdict, other.verdict):
    return False
  if len(one.tests) != len(other.tests):  # not the same tests: nothing says the difference is only precision
    return True
  return any(disjoint(a, b) for a, b in zip(one.tests, other.tests))


def stance(outcome: str, want: Prediction) -> str:
  return FOR if outcome in want.supports else AGAINST if outcome in want.contradicts else NEITHER


def read(found: Sequence[str], wants: Sequence[Prediction]) -> str:
  """The one verdict rule (rule 3 of the module docstring): of the testable tests, holds when more than half are for
  the claim and none against, does not hold when more than half are against and none for, partly when some are for
  and some against, else inconclusive."""
  stances = [stance(f, w) for f, w in zip(found, wants) if f != stats.UNTESTABLE]
  pro, con = stances.count(FOR), stances.count(AGAINST)
  if pro > len(stances) / 2 and not con:
    return HOLDS
  if con > len(stances) / 2 and not pro:
    return FAILS
  return PARTLY if pro and con else UNCLEAR


def seeds_text(n: float) -> str:
  return f'needs > {stats.MOST_SEEDS:,} seeds' if math.isinf(n) else f'needs ~{n:,} seeds'


def describe(test: stats.Test, outcome: str, want: Prediction) -> str:
  """'label: mean [lo, hi] (outcome: stance; MDE m[, needs ~k seeds])'."""
  if test.self_comparison:
    return f'{test.label}: untestable (the same numbers on both sides of every seed)'
  if outcome == stats.UNTESTABLE:
    return f'{test.label}: untestable ({test.n} seed(s) pair up)'
  power = f'MDE {test.mde:.3f}'
  if outcome == stats.INCONCLUSIVE:
    return f'{test.label}: {tables.fmt(test.interval, signed=True)} (inconclusive; {power}, ' \
           f'{seeds_text(test.seeds_needed)})'
  return f'{test.label}: {tables.fmt(test.interval, signed=True)} ({outcome}: {stance(outcome, want)}; {power})'


def judge(expected: Sequence[Expect], note: str = '') -> Verdict:
  """A claim's verdict from every test it is about (Holm-corrected together) and the evidence line: a count of the
  tests for, against and neither, `note`, then each test with its reading, its stance and its power."""
  if not expected:
    return missing(f'{note}no test of this claim could be formed')
  found = stats.outcomes([x.test for x in expected])
  wants = [x.want for x in expected]
  stances = [stance(f, w) for f, w in zip(found, wants) if f != stats.UNTESTABLE]
  skipped = len(found) - len(stances)
  count = (f'{stances.count(FOR)} for, {stances.count(AGAINST)} against, {stances.count(NEITHER)} neither of '
           f'{len(stances)} tests' + (f' ({skipped} untestable, left out)' if skipped else ''))
  evidence = '; '.join(describe(x.test, f, x.want) for x, f in zip(expected, found))
  return Verdict(read(found, wants), f'{count}. {note}{evidence}', tuple(x.test for x in expected))
