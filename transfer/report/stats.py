"""Statistics over seeds, the numbers behind every table, plot and verdict.

Means and 95% t-intervals over seeds; paired differences between strategies (for one seed, every strategy sees the
same world, target pool and test set, so differences are paired); and `Panel`s, which compare strategies along one
grid axis at fixed values of the others: per axis value and strategy the accuracy interval, and per non-baseline
strategy the paired gain over the baseline. A paired `Test` is read as higher, lower, equivalent, inconclusive or
untestable (`outcomes`) and carries its power: the minimum detectable effect and the seeds a result would need.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import scipy.optimize
import scipy.stats

from transfer import types

Interval = tuple[float, float, float]  # mean, ci_low, ci_high


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Interval:
  """Mean and two-sided Student-t confidence interval; the interval is NaN with fewer than two values."""
  x = np.asarray(values, dtype=np.float64)
  if x.size == 0:
    return math.nan, math.nan, math.nan
  mean = float(x.mean())
  if x.size < 2:
    return mean, math.nan, math.nan
  half = float(scipy.stats.t.ppf(0.5 + confidence / 2, df=x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
  return mean, mean - half, mean + half


def paired_differences(a: dict, b: dict) -> list[float]:
  """`a[k] - b[k]` for every key (a seed) present in both, in sorted key order."""
  return [a[k] - b[k] for k in sorted(set(a) & set(b))]


def verdict(ci_low: float, ci_high: float, baseline: str = 'scratch') -> str:
  """Reads a gain's CI: significantly positive, negative (transfer), or not distinguishable from 0."""
  if ci_high < 0:
    return 'negative transfer' if baseline == 'scratch' else f'worse than {baseline}'
  if ci_low > 0:
    return 'transfer helps' if baseline == 'scratch' else f'better than {baseline}'
  return 'no significant difference'


def seeds_of(records: Sequence[dict]) -> list[int]:
  return sorted({r['seed'] for r in records})


ALPHA, POWER = 0.05, 0.8  # every test's two-sided level, and the power its detectable effect is quoted at
MOST_SEEDS = 10_000  # seeds_needed's answer beyond this is inf


def power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
  """Power of the two-sided paired (one-sample) t-test at level `alpha` over `n` seeds to detect a true mean
  difference `effect` when the per-seed differences have standard deviation `sd`: P(|T| > t_crit) with T noncentral
  t, n - 1 degrees of freedom, noncentrality effect / sd * sqrt(n) (exact, not a normal approximation)."""
  df = n - 1
  crit = scipy.stats.t.ppf(1 - alpha / 2, df)
  nc = effect / sd * math.sqrt(n)
  tails = [scipy.stats.nct.sf(crit, df, nc), scipy.stats.nct.sf(crit, df, -nc)]  # P(T > crit), P(T < -crit)
  return float(sum(0.0 if math.isnan(p) else p for p in tails))  # scipy returns NaN for a tail far below 1e-16


def minimum_detectable_effect(sd: float, n: int, target: float = POWER, alpha: float = ALPHA) -> float:
  """The smallest true mean difference the paired t-test over `n` seeds detects with probability `target` (two-sided,
  level `alpha`), given the SD of the per-seed differences; NaN with fewer than two seeds."""
  if n < 2 or math.isnan(sd):
    return math.nan
  if sd == 0:
    return 0.0
  high = 1.0
  while power(high, 1.0, n, alpha) < target:  # bracket the standardized effect, then solve for it
    high *= 2
  standardized = scipy.optimize.brentq(lambda d: power(d, 1.0, n, alpha) - target, 0.0, high)
  return float(standardized * sd)


def seeds_needed(effect: float, sd: float, target: float = POWER, alpha: float = ALPHA,
                 most: int = MOST_SEEDS) -> int | float:
  """The fewest seeds (at least 2) at which the paired t-test detects a true mean difference `effect` with
  probability `target` given the SD of the per-seed differences; inf when more than `most` or `effect` is 0. Starts
  from the normal approximation ((z_{1-alpha/2} + z_target) / (effect / sd))^2 and steps to the exact t answer."""
  if math.isnan(effect) or math.isnan(sd) or effect == 0:
    return math.inf
  if sd == 0:
    return 2
  d = abs(effect) / sd
  z = scipy.stats.norm.ppf(1 - alpha / 2) + scipy.stats.norm.ppf(target)
  n = max(2, math.ceil((z / d) ** 2))
  if n > most:
    return math.inf
  while power(d, 1.0, n, alpha) < target:
    n += 1
  while n > 2 and power(d, 1.0, n - 1, alpha) >= target:
    n -= 1
  return n if n <= most else math.inf


SAME_TOLERANCE = 1e-12  # per-seed differences this close to 0 on every seed: the two sides are the same numbers


@dataclasses.dataclass(frozen=True)
class Test:
  """One paired comparison over seeds (per-seed differences a - b), tested two ways: for a difference (two-sided
  one-sample t-test against 0) and for equivalence within +-`margin` (two one-sided tests, TOST: Schuirmann 1987);
  with its power: the minimum detectable effect and the seeds needed to detect the observed mean."""

  label: str
  differences: tuple[float, ...]
  margin: float

  @property
  def n(self) -> int:
    return len(self.differences)

  @property
  def interval(self) -> Interval:
    return mean_ci(self.differences)

  @property
  def sd(self) -> float:
    """Standard deviation of the per-seed differences (NaN with fewer than two)."""
    return float(np.std(self.differences, ddof=1)) if self.n > 1 else math.nan

  @property
  def self_comparison(self) -> bool:
    """Both sides hold the same value on every seed (e.g. one setting against itself): no evidence either way."""
    return self.n > 0 and all(abs(d) <= SAME_TOLERANCE for d in self.differences)

  @property
  def testable(self) -> bool:
    return self.n >= 2 and not self.self_comparison

  @property
  def negligible(self) -> bool:
    """Whether the 95% CI lies entirely inside [-margin, +margin]: whatever the difference is, it is too small to
    matter, significant or not."""
    _, lo, hi = self.interval
    return not math.isnan(lo) and -self.margin <= lo and hi <= self.margin

  @property
  def mde(self) -> float:
    """Minimum detectable effect: the true difference this test would detect with 80% power (two-sided 0.05)."""
    return minimum_detectable_effect(self.sd, self.n)

  @property
  def seeds_needed(self) -> int | float:
    """Seeds at which the observed mean difference, were it the truth, would be detected with 80% power."""
    return seeds_needed(self.interval[0], self.sd)

  def _t(self, shift: float) -> float:
    x = np.asarray(self.differences, np.float64)
    se = x.std(ddof=1) / math.sqrt(x.size)
    return (x.mean() - shift) / se if se > 0 else math.copysign(math.inf, x.mean() - shift) if x.mean() != shift \
        else 0.0

  @property
  def p_difference(self) -> float:
    if self.n < 2:
      return math.nan
    return float(2 * scipy.stats.t.sf(abs(self._t(0.0)), df=self.n - 1))

  @property
  def p_equivalence(self) -> float:
    """TOST p-value: the larger of the two one-sided p-values (mean > -margin, mean < +margin)."""
    if self.n < 2:
      return math.nan
    df = self.n - 1
    return float(max(scipy.stats.t.sf(self._t(-self.margin), df), scipy.stats.t.cdf(self._t(self.margin), df)))


def holm(pvalues: Sequence[float]) -> list[float]:
  """Holm's step-down adjustment of a family of p-values (NaN stays NaN and does not count)."""
  finite = [(p, i) for i, p in enumerate(pvalues) if not math.isnan(p)]
  adjusted, running = [math.nan] * len(pvalues), 0.0
  for rank, (p, i) in enumerate(sorted(finite)):
    running = max(running, min(1.0, (len(finite) - rank) * p))
    adjusted[i] = running
  return adjusted


HIGHER, LOWER, EQUIVALENT, INCONCLUSIVE, UNTESTABLE = 'higher', 'lower', 'equivalent', 'inconclusive', 'untestable'


def outcomes(tests: Sequence[Test], alpha: float = ALPHA) -> list[str]:
  """Each test of one family read after Holm's correction within the family (the difference tests as one family,
  the equivalence tests as another), in this order:

  - 'untestable': fewer than two seeds, or the two sides identical on every seed (a setting against itself); it is
    left out of both families and is no evidence;
  - 'equivalent': the TOST rejects (adjusted p < alpha), or the 95% CI lies inside [-margin, +margin]; a
    significant difference that small is negligible and reads equivalent, not higher or lower;
  - 'higher' / 'lower': a significant difference (adjusted p < alpha), by the sign of its mean;
  - else 'inconclusive'.
  """
  ok = [t.testable for t in tests]
  differ = holm([t.p_difference if k else math.nan for t, k in zip(tests, ok)])
  same = holm([t.p_equivalence if k else math.nan for t, k in zip(tests, ok)])
  out = []
  for t, k, pd, pe in zip(tests, ok, differ, same):
    if not k:
      out.append(UNTESTABLE)
    elif pe < alpha or t.negligible:
      out.append(EQUIVALENT)
    elif pd < alpha:
      out.append(HIGHER if t.interval[0] > 0 else LOWER)
    else:
      out.append(INCONCLUSIVE)
  return out


@dataclasses.dataclass(frozen=True)
class Panel:
  """One comparison at fixed values of the other grid keys (`fixed`), along `axis`."""

  axis: str
  fixed: dict
  values: list  # axis values, sorted
  accuracy: dict[str, list[Interval]]  # strategy -> one interval per axis value
  gain: dict[str, list[Interval]]  # non-baseline strategy -> paired gain over the baseline, per axis value
  n_seeds: dict[str, list[int]]  # strategy -> seeds behind each interval (diverged runs excluded)
  n_diverged: dict[str, list[int]]  # strategy -> runs left out of each interval because they diverged


def matches(record: dict, strategy: str, keys: dict) -> bool:
  """Whether `record` belongs to `strategy`'s cell `keys`; a record's None on an axis its strategy does not use
  (lr_mult, layers_copied) matches any value."""
  if record['strategy'] != strategy:
    return False
  return all(record.get(k) == v or (k in types.OPTIONAL_AXES and record.get(k) is None) for k, v in keys.items())


def by_seed(records: Sequence[dict], strategy: str, keys: dict, metric: str) -> dict[int, float]:
  """seed -> metric of the cell's runs that did not diverge."""
  return {r['seed']: r[metric] for r in records if matches(r, strategy, keys) and r[metric] is not None}


def count_diverged(records: Sequence[dict], strategy: str, keys: dict) -> int:
  return sum(1 for r in records if matches(r, strategy, keys) and r.get('diverged'))


def panels(records: Sequence[dict], *, axis: str, strategies: Sequence[str], baseline: str,
           anchor: str, metric: str = 'test_accuracy') -> list[Panel]:
  """One Panel per combination of the non-axis keys that `anchor` (the main transfer strategy) was run at."""
  if axis not in types.COMPARED_AXES:
    raise ValueError(f'axis must be one of {types.COMPARED_AXES}, got {axis!r}')
  fixed_keys = [k for k in types.COMPARED_AXES if k != axis]
  anchor_records = [r for r in records if r['strategy'] == anchor]
  combos = sorted({tuple(r.get(k) for k in fixed_keys) for r in anchor_records},
                  key=lambda combo: [(v is None, v or 0) for v in combo])
  values = sorted({r.get(axis) for r in records if r.get(axis) is not None})
  out = []
  for combo in combos:
    fixed = dict(zip(fixed_keys, combo))
    acc, gain, n, diverged = {}, {}, {}, {}
    for s in strategies:
      cells = [by_seed(records, s, {**fixed, axis: v}, metric) for v in values]
      acc[s] = [mean_ci(list(c.values())) for c in cells]
      n[s] = [len(c) for c in cells]
      diverged[s] = [count_diverged(records, s, {**fixed, axis: v}) for v in values]
      if s != baseline:
        base = [by_seed(records, baseline, {**fixed, axis: v}, metric) for v in values]
        gain[s] = [mean_ci(paired_differences(c, b)) for c, b in zip(cells, base)]
    out.append(Panel(axis, fixed, values, acc, gain, n, diverged))
  return out


def paired_test(label: str, records: Sequence[dict], a: str, b: str, keys: dict, keys_b: dict | None = None,
                metric: str = 'test_accuracy', margin: float = 0.0, seeds=None) -> Test:
  """The paired `Test` of `a` at cell `keys` minus `b` at `keys_b` (default: the same cell), over `seeds` (all)."""
  mine = records if seeds is None else [r for r in records if r['seed'] in seeds]
  b_cell = by_seed(mine, b, keys if keys_b is None else keys_b, metric)
  return Test(label, tuple(paired_differences(by_seed(mine, a, keys, metric), b_cell)), margin)


def paired(records: Sequence[dict], a: str, b: str, keys: dict, keys_b: dict | None = None,
           metric: str = 'test_accuracy') -> Interval:
  """Mean and 95% CI over seeds of `a` at cell `keys` minus `b` at `keys_b` (default: the same cell): the interval
  of `paired_test`."""
  return paired_test('', records, a, b, keys, keys_b, metric).interval


def accuracy(records: Sequence[dict], strategy: str, keys: dict, metric: str = 'test_accuracy') -> Interval:
  return mean_ci(list(by_seed(records, strategy, keys, metric).values()))
