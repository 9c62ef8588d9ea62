"""The original study's claims, each checked against our measurements with paired 95% CIs.

Every check is a small function of the experiments' records that returns a verdict ('holds', 'partly',
'does not hold', or 'not measured' when its experiment has not been run) and the numbers behind it. A difference
counts only when its CI excludes 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from transfer import compare
from transfer import tables

Records = dict[str, list[dict]]  # experiment name -> its runs

HOLDS, PARTLY, FAILS, MISSING = 'holds', 'partly', 'does not hold', 'not measured'


@dataclasses.dataclass(frozen=True)
class Claim:
  text: str  # the study's claim, paraphrased
  experiment: str  # where it is measured
  check: Callable[[list[dict]], tuple[str, str]]  # records -> (verdict, evidence)


def sign(interval: compare.Interval) -> int:
  """+1 / -1 when the CI lies entirely above / below 0, else 0."""
  _, lo, hi = interval
  return 1 if lo > 0 else -1 if hi < 0 else 0


def diff(interval: compare.Interval) -> str:
  return tables.fmt(interval, signed=True)


def wins(records, winner: str, others: tuple[str, ...], sizes: tuple[int, ...]) -> tuple[str, str]:
  """Whether `winner` is significantly better than each of `others` at every size (shift 0)."""
  signs, lines = [], []
  for n in sizes:
    for other in others:
      d = compare.paired(records, winner, other, {'data_size': n, 'shift': 0.0, 'lr_mult': 0.1})
      signs.append(sign(d))
      lines.append(f'n={n}: {winner} - {other} = {diff(d)}')
  verdict = HOLDS if min(signs) == 1 else FAILS if min(signs) == -1 or max(signs) < 1 else PARTLY
  return verdict, '; '.join(lines)


def feature_extraction_wins_small(records):
  return wins(records, 'feature_extraction', ('fine_tuning', 'scratch'), (50, 100))


def fine_tuning_wins_large(records):
  return wins(records, 'fine_tuning', ('feature_extraction', 'scratch'), (1000, 10_000))


def scratch_needs_more_data(records):
  sizes = sorted({r['data_size'] for r in records})
  gaps = {n: compare.paired(records, 'scratch', 'fine_tuning', {'data_size': n, 'shift': 0.0, 'lr_mult': 0.1})
          for n in sizes}
  behind = [n for n in sizes if sign(gaps[n]) == -1]
  caught_up = [n for n in sizes if sign(gaps[n]) >= 0]
  evidence = '; '.join(f'n={n}: scratch - fine_tuning = {diff(g)}' for n, g in gaps.items())
  if behind and caught_up and max(behind) < min(caught_up):
    return HOLDS, f'scratch is behind up to n={max(behind)} and catches up from n={min(caught_up)}. {evidence}'
  return (PARTLY if behind else FAILS), evidence


def lr_panels(records):
  """(data_size, shift) -> fine-tuning accuracy interval per lr_mult."""
  cells = sorted({(r['data_size'], r['shift']) for r in records if r['strategy'] == 'fine_tuning'})
  mults = sorted({r['lr_mult'] for r in records if r['strategy'] == 'fine_tuning'})
  return mults, {c: {m: compare.accuracy(records, 'fine_tuning', {'data_size': c[0], 'shift': c[1], 'lr_mult': m})
                     for m in mults} for c in cells}


def versus_best(records, pick: Callable[[list[float]], float]) -> list[tuple[tuple, float, float, compare.Interval]]:
  """Per panel: (cell, best multiplier, picked multiplier, paired accuracy of picked - best)."""
  mults, panels = lr_panels(records)
  out = []
  for (n, shift), acc in panels.items():
    best = max(mults, key=lambda m: acc[m][0])
    picked = pick(mults)
    keys = {'data_size': n, 'shift': shift}
    out.append(((n, shift), best, picked, compare.paired(records, 'fine_tuning', 'fine_tuning',
                                                         {**keys, 'lr_mult': picked}, {**keys, 'lr_mult': best})))
  return out


def verdict_over_panels(rows, *, what: str) -> tuple[str, str]:
  hits = [sign(d) == -1 for *_, d in rows]
  evidence = '; '.join(f'n={n}, shift={s:g}: lr_mult {p:g} - best ({b:g}) = {diff(d)}'
                       for (n, s), b, p, d in rows)
  verdict = HOLDS if all(hits) else PARTLY if any(hits) else FAILS
  return verdict, f'{what} significantly worse than the best multiplier in {sum(hits)} of {len(hits)} settings. ' \
                  f'{evidence}'


def high_lr_hurts(records):
  return verdict_over_panels(versus_best(records, max), what='the largest multiplier is')


def low_lr_underfits(records):
  return verdict_over_panels(versus_best(records, lambda m: min(x for x in m if x > 0)),
                             what='the smallest non-zero multiplier is')


def interior_optimum(records):
  mults, _ = lr_panels(records)
  lows, highs = versus_best(records, min), versus_best(records, max)
  found, lines = 0, []
  for (cell, best, _, d_low), (*_, d_high) in zip(lows, highs):
    inside = min(mults) < best < max(mults) and sign(d_low) == -1 and sign(d_high) == -1
    found += inside
    lines.append(f'n={cell[0]}, shift={cell[1]:g}: best {best:g}{" (interior, significant)" if inside else ""}; '
                 f'lr_mult {min(mults):g} - best = {diff(d_low)}, lr_mult {max(mults):g} - best = {diff(d_high)}')
  verdict = HOLDS if found == len(lows) else PARTLY if found else FAILS
  return verdict, f'a significant interior optimum in {found} of {len(lows)} settings. ' + '; '.join(lines)


def smaller_backbone_lr(records):
  rows = versus_best(records, lambda m: 1.0)
  below = [b < 1.0 and sign(d) == -1 for _, b, _, d in rows]
  evidence = '; '.join(f'n={n}, shift={s:g}: best {b:g}, lr_mult 1 - best = {diff(d)}' for (n, s), b, _, d in rows)
  return (HOLDS if all(below) else PARTLY if any(below) else FAILS), evidence


def gains_by_shift(records):
  shifts = sorted({r['shift'] for r in records})
  keys = {s: {'data_size': max(r['data_size'] for r in records), 'shift': s, 'lr_mult': 0.1} for s in shifts}
  return shifts, keys, {s: compare.paired(records, 'fine_tuning', 'scratch', keys[s]) for s in shifts}


def helps_most_at_small_shift(records):
  shifts, keys, gains = gains_by_shift(records)
  peak = max(shifts, key=lambda s: gains[s][0])
  evidence = '; '.join(f'shift {s:g}: gain {diff(g)}' for s, g in gains.items())
  if peak == 0.0:
    return FAILS, f'the gain is largest at shift 0, not at a small non-zero shift. {evidence}'
  return (HOLDS if sign(gains[peak]) == 1 else PARTLY), f'largest gain at shift {peak:g}. {evidence}'


def no_gain_without_shift(records):
  _, _, gains = gains_by_shift(records)
  return (HOLDS if sign(gains[0.0]) == 0 else FAILS), f'gain at shift 0: {diff(gains[0.0])}'


def benefit_vanishes_at_large_shift(records):
  shifts, _, gains = gains_by_shift(records)
  large = [s for s in shifts if s >= 2.0]
  signs = [sign(gains[s]) for s in large]
  evidence = '; '.join(f'shift {s:g}: gain {diff(gains[s])}' for s in large)
  if all(x == 0 for x in signs):
    return HOLDS, evidence
  if all(x <= 0 for x in signs):
    return PARTLY, f'the benefit does not just vanish, it reverses (negative transfer). {evidence}'
  return FAILS, evidence


def gradual_unfreezing_beats_fine_tuning(records):
  sizes = sorted({r['data_size'] for r in records})
  ds = {n: compare.paired(records, 'gradual_unfreezing', 'fine_tuning', {'data_size': n, 'shift': 0.0,
                                                                         'lr_mult': 0.1}) for n in sizes}
  signs = [sign(d) for d in ds.values()]
  evidence = '; '.join(f'n={n}: gradual_unfreezing - fine_tuning = {diff(d)}' for n, d in ds.items())
  return (HOLDS if min(signs) == 1 else PARTLY if max(signs) == 1 else FAILS), evidence


def domain_adaptation_beats_fine_tuning(records):
  """At moderate shift (1 and 2), does any DA strategy beat plain fine-tuning (paired CI above 0)?"""
  lines, wins_at = [], set()
  for shift in (1.0, 2.0):
    for name in ('dann', 'coral', 'mmd'):
      d = compare.paired(records, name, 'fine_tuning', {'data_size': 100, 'shift': shift, 'lr_mult': 0.1})
      wins_at.update({shift} if sign(d) == 1 else set())
      lines.append(f'shift {shift:g}: {name} - fine_tuning = {diff(d)}')
  verdict = HOLDS if len(wins_at) == 2 else PARTLY if wins_at else FAILS
  return verdict, '; '.join(lines)


CLAIMS = (
    Claim('With little data (50-100 samples) feature extraction wins.', 'strategies', feature_extraction_wins_small),
    Claim('With more data (1000+) fine-tuning performs best.', 'strategies', fine_tuning_wins_large),
    Claim('Training from scratch needs much more data to match transfer.', 'strategies', scratch_needs_more_data),
    Claim('Too high a feature LR destroys pre-trained knowledge.', 'lr_multiplier', high_lr_hurts),
    Claim('Too low a feature LR underfits the target task.', 'lr_multiplier', low_lr_underfits),
    Claim('So the feature LR has an interior optimum.', 'lr_multiplier', interior_optimum),
    Claim('Use a smaller LR for pre-trained layers than for the new head.', 'lr_multiplier', smaller_backbone_lr),
    Claim('Without domain shift, transfer and scratch are similar.', 'domain_shift', no_gain_without_shift),
    Claim('Transfer helps most at a small domain shift (0.5).', 'domain_shift', helps_most_at_small_shift),
    Claim('At large shift (2.0+) the benefit of transfer disappears.', 'domain_shift',
          benefit_vanishes_at_large_shift),
    Claim('Gradual unfreezing beats plain fine-tuning at moderate data (prevents catastrophic forgetting).',
          'gradual_unfreezing', gradual_unfreezing_beats_fine_tuning),
    Claim('With little data and different domains, domain adaptation (aligning features) is the strategy to use.',
          'domain_adaptation', domain_adaptation_beats_fine_tuning),
)


def check_all(runs: Records) -> list[tuple[Claim, str, str]]:
  """(claim, verdict, evidence) for every claim; 'not measured' where its experiment has no results."""
  out = []
  for claim in CLAIMS:
    records = runs.get(claim.experiment)
    out.append((claim, *(claim.check(records) if records else (MISSING, f'run configs/{claim.experiment}.py'))))
  return out
