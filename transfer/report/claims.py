"""The original study's published tables and claims, and each claim checked against our measurements.

Every check is a small function of one experiment (its config.json and its records) that returns a verdict
('holds', 'partly', 'does not hold', or 'not measured' when its experiment has not been run) and the numbers behind
it. A difference counts only when its paired 95% CI excludes 0. The cells a check reads (which backbone multiplier,
which target size) come from the experiment's own config; only what the claim itself says (little data = at most 100
examples, large shift = 2 or more) is written here. The layer-transferability reading per layer group is here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import NamedTuple

from transfer.report import stats
from transfer.report import tables

HOLDS, PARTLY, FAILS, MISSING = 'holds', 'partly', 'does not hold', 'not measured'

# Experiment 1: accuracy by target data size.
STRATEGIES = {  # size: (feature extraction, fine-tuning, from scratch)
    50: (1.00, 1.00, 1.00),
    100: (0.95, 1.00, 1.00),
    500: (0.99, 1.00, 1.00),
    1000: (1.00, 1.00, 1.00),
}

# Experiment 2: fine-tuning accuracy by feature-LR multiplier (target size not stated).
LR_MULTIPLIER = {0.01: 0.19, 0.1: 0.20, 0.5: 0.20, 1.0: 0.22}

# Experiment 3: domain shift -> (transfer acc, scratch acc, transfer gain).
DOMAIN_SHIFT = {
    0.0: (0.20, 0.20, +0.00),
    0.5: (0.26, 0.21, +0.05),
    1.0: (0.23, 0.20, +0.03),
    2.0: (0.20, 0.20, +0.00),
    3.0: (0.20, 0.20, +0.00),
}


class Experiment(NamedTuple):
  """One finished experiment as the report reads it."""

  config: dict  # its config.json
  records: list[dict]  # its results.json runs

  def only(self, field: str):
    """The one value of a grid field the experiment holds fixed (e.g. its backbone LR multiplier)."""
    values = self.config[field]
    if len(values) != 1:
      raise ValueError(f'experiment {self.config["experiment"]!r} sweeps {field} = {values}; a claim that reads '
                       'one value of it cannot be checked on it')
    return values[0]

  def cell(self, **keys) -> dict:
    """Grid keys of one cell: `keys`, plus the experiment's fixed shift and backbone multiplier where not given."""
    fixed = {'shift': 'shifts', 'lr_mult': 'lr_mults'}
    return {**{k: self.only(f) for k, f in fixed.items() if k not in keys}, **keys}


Results = dict[str, Experiment]  # experiment name -> its config and records


@dataclasses.dataclass(frozen=True)
class Claim:
  text: str  # the study's claim, paraphrased
  experiment: str  # where it is measured
  check: Callable[[Experiment], tuple[str, str]]  # experiment -> (verdict, evidence)


def sign(interval: stats.Interval) -> int:
  """+1 / -1 when the CI lies entirely above / below 0, else 0."""
  _, lo, hi = interval
  return 1 if lo > 0 else -1 if hi < 0 else 0


def diff(interval: stats.Interval) -> str:
  return tables.fmt(interval, signed=True)


def wins(e: Experiment, winner: str, others: tuple[str, ...], sizes: Sequence[int]) -> tuple[str, str]:
  """Whether `winner` is significantly better than each of `others` at every size."""
  signs, lines = [], []
  for n in sizes:
    for other in others:
      d = stats.paired(e.records, winner, other, e.cell(data_size=n))
      signs.append(sign(d))
      lines.append(f'n={n}: {winner} - {other} = {diff(d)}')
  verdict = HOLDS if min(signs) == 1 else FAILS if min(signs) == -1 or max(signs) < 1 else PARTLY
  return verdict, '; '.join(lines)


LITTLE_DATA, LOTS_OF_DATA = 100, 1000  # the claims' "little data (50-100 samples)" and "more data (1000+)"


def feature_extraction_wins_small(e: Experiment):
  sizes = [n for n in e.config['data_sizes'] if n <= LITTLE_DATA]
  return wins(e, 'feature_extraction', ('fine_tuning', 'scratch'), sizes)


def fine_tuning_wins_large(e: Experiment):
  sizes = [n for n in e.config['data_sizes'] if n >= LOTS_OF_DATA]
  return wins(e, 'fine_tuning', ('feature_extraction', 'scratch'), sizes)


def scratch_needs_more_data(e: Experiment):
  sizes = sorted(e.config['data_sizes'])
  gaps = {n: stats.paired(e.records, 'scratch', 'fine_tuning', e.cell(data_size=n)) for n in sizes}
  behind = [n for n in sizes if sign(gaps[n]) == -1]
  caught_up = [n for n in sizes if sign(gaps[n]) >= 0]
  evidence = '; '.join(f'n={n}: scratch - fine_tuning = {diff(g)}' for n, g in gaps.items())
  if behind and caught_up and max(behind) < min(caught_up):
    return HOLDS, f'scratch is behind up to n={max(behind)} and catches up from n={min(caught_up)}. {evidence}'
  return (PARTLY if behind else FAILS), evidence


def lr_panels(e: Experiment):
  """(data_size, shift) -> fine-tuning accuracy interval per lr_mult."""
  cells = [(n, s) for n in sorted(e.config['data_sizes']) for s in sorted(e.config['shifts'])]
  mults = sorted(e.config['lr_mults'])
  return mults, {c: {m: stats.accuracy(e.records, 'fine_tuning', {'data_size': c[0], 'shift': c[1], 'lr_mult': m})
                     for m in mults} for c in cells}


def versus_best(e: Experiment, pick: Callable[[list[float]], float]) -> list[tuple[tuple, float, float,
                                                                                   stats.Interval]]:
  """Per panel: (cell, best multiplier, picked multiplier, paired accuracy of picked - best)."""
  records = e.records
  mults, panels = lr_panels(e)
  out = []
  for (n, shift), acc in panels.items():
    best = max(mults, key=lambda m: acc[m][0])
    picked = pick(mults)
    keys = {'data_size': n, 'shift': shift}
    out.append(((n, shift), best, picked, stats.paired(records, 'fine_tuning', 'fine_tuning',
                                                         {**keys, 'lr_mult': picked}, {**keys, 'lr_mult': best})))
  return out


def verdict_over_panels(rows, *, what: str) -> tuple[str, str]:
  hits = [sign(d) == -1 for *_, d in rows]
  evidence = '; '.join(f'n={n}, shift={s:g}: lr_mult {p:g} - best ({b:g}) = {diff(d)}'
                       for (n, s), b, p, d in rows)
  verdict = HOLDS if all(hits) else PARTLY if any(hits) else FAILS
  return verdict, f'{what} significantly worse than the best multiplier in {sum(hits)} of {len(hits)} settings. ' \
                  f'{evidence}'


def high_lr_hurts(e: Experiment):
  return verdict_over_panels(versus_best(e, max), what='the largest multiplier is')


def low_lr_underfits(e: Experiment):
  return verdict_over_panels(versus_best(e, lambda m: min(x for x in m if x > 0)),
                             what='the smallest non-zero multiplier is')


def interior_optimum(e: Experiment):
  mults, _ = lr_panels(e)
  lows, highs = versus_best(e, min), versus_best(e, max)
  found, lines = 0, []
  for (cell, best, _, d_low), (*_, d_high) in zip(lows, highs):
    inside = min(mults) < best < max(mults) and sign(d_low) == -1 and sign(d_high) == -1
    found += inside
    lines.append(f'n={cell[0]}, shift={cell[1]:g}: best {best:g}{" (interior, significant)" if inside else ""}; '
                 f'lr_mult {min(mults):g} - best = {diff(d_low)}, lr_mult {max(mults):g} - best = {diff(d_high)}')
  verdict = HOLDS if found == len(lows) else PARTLY if found else FAILS
  return verdict, f'a significant interior optimum in {found} of {len(lows)} settings. ' + '; '.join(lines)


def smaller_backbone_lr(e: Experiment):
  rows = versus_best(e, lambda m: 1.0)
  below = [b < 1.0 and sign(d) == -1 for _, b, _, d in rows]
  evidence = '; '.join(f'n={n}, shift={s:g}: best {b:g}, lr_mult 1 - best = {diff(d)}' for (n, s), b, _, d in rows)
  return (HOLDS if all(below) else PARTLY if any(below) else FAILS), evidence


def gains_by_shift(e: Experiment):
  shifts = sorted(e.config['shifts'])
  keys = {s: e.cell(data_size=e.only('data_sizes'), shift=s) for s in shifts}
  return shifts, keys, {s: stats.paired(e.records, 'fine_tuning', 'scratch', keys[s]) for s in shifts}


SMALL_SHIFT, LARGE_SHIFT = 0.5, 2.0  # the claims' "small domain shift (0.5)" and "large shift (2.0+)"


def helps_most_at_small_shift(e: Experiment):
  shifts, keys, gains = gains_by_shift(e)
  peak = max(shifts, key=lambda s: gains[s][0])
  evidence = '; '.join(f'shift {s:g}: gain {diff(g)}' for s, g in gains.items())
  if peak == 0.0:
    return FAILS, f'the gain is largest at shift 0, not at a small non-zero shift. {evidence}'
  return (HOLDS if sign(gains[peak]) == 1 else PARTLY), f'largest gain at shift {peak:g}. {evidence}'


def no_gain_without_shift(e: Experiment):
  _, _, gains = gains_by_shift(e)
  return (HOLDS if sign(gains[0.0]) == 0 else FAILS), f'gain at shift 0: {diff(gains[0.0])}'


def benefit_vanishes_at_large_shift(e: Experiment):
  shifts, _, gains = gains_by_shift(e)
  large = [s for s in shifts if s >= LARGE_SHIFT]
  signs = [sign(gains[s]) for s in large]
  evidence = '; '.join(f'shift {s:g}: gain {diff(gains[s])}' for s in large)
  if all(x == 0 for x in signs):
    return HOLDS, evidence
  if all(x <= 0 for x in signs):
    return PARTLY, f'the benefit does not just vanish, it reverses (negative transfer). {evidence}'
  return FAILS, evidence


def gradual_unfreezing_beats_fine_tuning(e: Experiment):
  sizes = sorted(e.config['data_sizes'])
  ds = {n: stats.paired(e.records, 'gradual_unfreezing', 'fine_tuning', e.cell(data_size=n)) for n in sizes}
  signs = [sign(d) for d in ds.values()]
  evidence = '; '.join(f'n={n}: gradual_unfreezing - fine_tuning = {diff(d)}' for n, d in ds.items())
  return (HOLDS if min(signs) == 1 else PARTLY if max(signs) == 1 else FAILS), evidence


DIFFERENT_DOMAINS = (1.0, 2.0)  # the claim's "different domains": moderate shifts, where transfer still helps


def domain_adaptation_beats_fine_tuning(e: Experiment):
  """At moderate shift (1 and 2), does any DA strategy beat plain fine-tuning (paired CI above 0)?"""
  lines, wins_at = [], set()
  for shift in DIFFERENT_DOMAINS:
    for name in ('dann', 'coral', 'mmd'):
      d = stats.paired(e.records, name, 'fine_tuning', e.cell(data_size=e.only('data_sizes'), shift=shift))
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
          'domain_adaptation_semi', domain_adaptation_beats_fine_tuning),
)


def check_all(results: Results) -> list[tuple[Claim, str, str]]:
  """(claim, verdict, evidence) for every claim; 'not measured' where its experiment has no results."""
  out = []
  for claim in CLAIMS:
    e = results.get(claim.experiment)
    out.append((claim, *(claim.check(e) if e else (MISSING, f'run configs/{claim.experiment}.py'))))
  return out


# Layer transferability (Yosinski et al. 2014), read per layer group.
#
# For each grid cell (data size, shift) and each k >= 1: AnB - BnB (copied-and-frozen source layers against layers
# trained on the target data itself), AnB+ - BnB+ (the same, both fine-tuned), and AnB(k) - AnB(k-1), the marginal
# value of also copying and freezing group k, and BnB(k) - BnB(0), Yosinski's co-adaptation test (a drop means
# frozen layers of a target-trained network do not work with freshly trained layers above them). Group k
# *transfers* when that marginal difference is significantly above 0, is *specific to the source* when it is
# significantly below 0, and is *neutral* otherwise.


def layer_reading(interval: stats.Interval) -> str:
  _, lo, hi = interval
  if lo > 0:
    return 'transfers'
  if hi < 0:
    return 'specific to the source'
  return 'neutral'


def layer_cells(records: Sequence[dict]) -> list[tuple[int, float]]:
  """The (data_size, shift) cells the experiment ran, sorted."""
  return sorted({(r['data_size'], r['shift']) for r in records if r['strategy'] == 'anb'})


def layer_rows(records: Sequence[dict], groups: Sequence[str]) -> list[list[str]]:
  """One row per cell and k >= 1: cell, k, the group copied last, the four paired differences, the reading."""
  out = []
  copied = sorted({r['layers_copied'] for r in records if r['strategy'] == 'anb'})
  for n, shift in layer_cells(records):
    for k in (k for k in copied if k >= 1):
      keys = {'data_size': n, 'shift': shift, 'layers_copied': k}
      marginal = stats.paired(records, 'anb', 'anb', keys, {**keys, 'layers_copied': k - 1})
      out.append([f'{n}', f'{shift:g}', f'{k}', groups[k - 1],
                  tables.fmt(stats.paired(records, 'anb', 'bnb', keys), True),
                  tables.fmt(stats.paired(records, 'anb_plus', 'bnb_plus', keys), True),
                  tables.fmt(stats.paired(records, 'bnb', 'bnb', keys, {**keys, 'layers_copied': 0}), True),
                  tables.fmt(marginal, True), layer_reading(marginal)])
  return out


def layer_markdown(records: Sequence[dict], groups: Sequence[str]) -> str:
  header = ['n', 'shift', 'k', 'group copied last', 'AnB - BnB', 'AnB+ - BnB+', 'BnB(k) - BnB(0)', 'AnB(k) - AnB(k-1)',
            'group k']
  return tables.markdown_table(header, layer_rows(records, groups))

