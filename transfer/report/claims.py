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

UNCLEAR = 'inconclusive'  # nothing decided: neither a difference nor an equivalence


@dataclasses.dataclass(frozen=True)
class Claim:
  text: str  # the study's claim, paraphrased
  experiments: dict[str, str]  # data source -> the experiment it is measured by there
  check: Callable[[Experiment], tuple[str, str]]  # experiment -> (verdict, evidence)


def margin(e: Experiment) -> float:
  """The equivalence margin the experiment's config states (report.margin)."""
  return float(e.config['report']['margin'])


def judged(tests: list[stats.Test]) -> tuple[list[str], str]:
  """The three-way outcomes of one claim's family of tests (Holm-corrected) and the evidence line."""
  found = stats.outcomes(tests)
  evidence = '; '.join(f'{t.label}: {tables.fmt(t.interval, signed=True)} ({o})' for t, o in zip(tests, found))
  return found, evidence


def read(found: list[str], want: str) -> str:
  """A claim whose every test should come out `want`: holds if all do, partly if some do, inconclusive if no test
  is decided, and does not hold if tests are decided but none as wanted."""
  if found and all(f == want for f in found):
    return HOLDS
  if all(f == stats.INCONCLUSIVE for f in found):
    return UNCLEAR
  return PARTLY if want in found else FAILS


def wins(e: Experiment, winner: str, others: tuple[str, ...], sizes: Sequence[int]) -> tuple[str, str]:
  """Whether `winner` is better than each of `others` at every size: 'higher' in every test."""
  if not sizes:
    return MISSING, 'no size of this range was run'
  tests = [stats.paired_test(f'n={n}: {winner} - {other}', e.records, winner, other, e.cell(data_size=n),
                             margin=margin(e)) for n in sizes for other in others]
  found, evidence = judged(tests)
  return read(found, stats.HIGHER), evidence


LITTLE_DATA, LOTS_OF_DATA = 100, 1000  # the claims' "little data (50-100 samples)" and "more data (1000+)"


def labelled_sizes(e: Experiment) -> list[int]:
  return sorted(n for n in e.config['data_sizes'] if n > 0)


def feature_extraction_wins_small(e: Experiment):
  return wins(e, 'feature_extraction', ('fine_tuning', 'scratch'), [n for n in labelled_sizes(e) if n <= LITTLE_DATA])


def fine_tuning_wins_large(e: Experiment):
  return wins(e, 'fine_tuning', ('feature_extraction', 'scratch'), [n for n in labelled_sizes(e) if n >= LOTS_OF_DATA])


def scratch_needs_more_data(e: Experiment):
  """Scratch is behind fine-tuning at small sizes and catches up (equivalent or ahead) at the largest."""
  sizes = labelled_sizes(e)
  tests = [stats.paired_test(f'n={n}: scratch - fine_tuning', e.records, 'scratch', 'fine_tuning', e.cell(data_size=n),
                             margin=margin(e)) for n in sizes]
  found, evidence = judged(tests)
  behind = [n for n, f in zip(sizes, found) if f == stats.LOWER]
  caught = [n for n, f in zip(sizes, found) if f in (stats.EQUIVALENT, stats.HIGHER)]
  if behind and caught and max(behind) < min(caught):
    return HOLDS, f'behind up to n={max(behind)}, caught up from n={min(caught)}. {evidence}'
  if behind:
    return PARTLY, f'behind at n={behind}; it never catches up within the sizes run. {evidence}'
  return (FAILS if any(f != stats.INCONCLUSIVE for f in found) else UNCLEAR), evidence


def halves(e: Experiment) -> tuple[list[int], list[int]]:
  """The seeds split in two: a best value is picked on the first half and judged on the second (never both)."""
  seeds = stats.seeds_of(e.records)
  return seeds[:len(seeds) // 2], seeds[len(seeds) // 2:]


def lr_cells(e: Experiment) -> list[tuple[int, float]]:
  return [(n, s) for n in labelled_sizes(e) for s in sorted(e.config['shifts'])]


def versus_best(e: Experiment, pick: Callable[[list[float]], float], *, metric: str = 'test_accuracy',
                what: str = 'lr_mult {picked:g} - best ({best:g})') -> list[tuple[tuple, float, float, stats.Test]]:
  """Per (size, shift): the multiplier with the best mean `metric` on the first half of the seeds, and the test of
  the picked multiplier against it on the other half."""
  fit, held = halves(e)
  mults = sorted(e.config['lr_mults'])
  out = []
  for n, shift in lr_cells(e):
    keys = {'data_size': n, 'shift': shift}
    mean = {m: stats.mean_ci(list(stats.by_seed([r for r in e.records if r['seed'] in fit], 'fine_tuning',
                                                 {**keys, 'lr_mult': m}, metric).values()))[0] for m in mults}
    best, picked = max(mults, key=lambda m: mean[m]), pick(mults)
    label = f'n={n}, shift={shift:g}: ' + what.format(picked=picked, best=best)
    out.append(((n, shift), best, picked, stats.paired_test(label, e.records, 'fine_tuning', 'fine_tuning',
                                                            {**keys, 'lr_mult': picked}, {**keys, 'lr_mult': best},
                                                            metric=metric, margin=margin(e), seeds=held)))
  return out


def lr_verdict(rows, *, what: str) -> tuple[str, str]:
  """The picked multiplier is worse than the best in every setting: holds; in some: partly."""
  found, evidence = judged([t for *_, t in rows])
  lower = sum(f == stats.LOWER for f in found)
  return read(found, stats.LOWER), (f'{what} worse than the best (the best picked on the first half of the seeds, '
                                    f'judged on the second) in {lower} of {len(found)} settings. {evidence}')


def high_lr_hurts(e: Experiment):
  return lr_verdict(versus_best(e, max), what='the largest multiplier is')


def low_lr_underfits(e: Experiment):
  return lr_verdict(versus_best(e, lambda m: min(x for x in m if x > 0)), what='the smallest non-zero multiplier is')


def interior_optimum(e: Experiment):
  """Both the smallest and the largest multiplier are worse than the best, which lies strictly between them."""
  mults = sorted(e.config['lr_mults'])
  lows, highs = versus_best(e, min), versus_best(e, max)
  found, evidence = judged([t for *_, t in lows] + [t for *_, t in highs])
  inside = [min(mults) < b < max(mults) and fl == stats.LOWER and fh == stats.LOWER
            for (_, b, _, _), fl, fh in zip(lows, found[:len(lows)], found[len(lows):])]
  verdict = HOLDS if all(inside) else PARTLY if any(inside) else (
      UNCLEAR if all(f == stats.INCONCLUSIVE for f in found) else FAILS)
  return verdict, f'an interior optimum, worse at both ends, in {sum(inside)} of {len(inside)} settings. {evidence}'


def smaller_backbone_lr(e: Experiment):
  rows = versus_best(e, lambda m: 1.0)
  found, evidence = judged([t for *_, t in rows])
  below = [b < 1.0 and f == stats.LOWER for (_, b, _, _), f in zip(rows, found)]
  verdict = HOLDS if all(below) else PARTLY if any(below) else (
      UNCLEAR if all(f == stats.INCONCLUSIVE for f in found) else FAILS)
  return verdict, f'the head\'s LR (x1) is worse than a best multiplier below 1 in {sum(below)} of {len(below)} ' \
                  f'settings. {evidence}'


def high_lr_forgets(e: Experiment):
  """Forgetting (the source task's accuracy lost) grows from the smallest non-zero multiplier to the largest."""
  tests = []
  for n, shift in lr_cells(e):
    keys = {'data_size': n, 'shift': shift}
    low, high = min(m for m in e.config['lr_mults'] if m > 0), max(e.config['lr_mults'])
    tests.append(stats.paired_test(f'n={n}, shift={shift:g}: forgetting at x{high:g} - at x{low:g}', e.records,
                                   'fine_tuning', 'fine_tuning', {**keys, 'lr_mult': high}, {**keys, 'lr_mult': low},
                                   metric='forgetting', margin=margin(e)))
  found, evidence = judged(tests)
  return read(found, stats.HIGHER), evidence


def shift_tests(e: Experiment, shifts, label='gain') -> list[stats.Test]:
  n = e.only('data_sizes')
  return [stats.paired_test(f'shift {s:g}: {label}', e.records, 'fine_tuning', 'scratch', e.cell(data_size=n, shift=s),
                            margin=margin(e)) for s in shifts]


SMALL_SHIFT, LARGE_SHIFT = 0.5, 2.0  # the claims' "small domain shift (0.5)" and "large shift (2.0+)"


def helps_most_at_small_shift(e: Experiment):
  """gain(0.5) - gain(0), per seed: positive holds; negative or equivalent does not; else inconclusive."""
  n = e.only('data_sizes')
  gain = lambda s: stats.by_seed(e.records, 'fine_tuning', e.cell(data_size=n, shift=s), 'test_accuracy')
  scratch = lambda s: stats.by_seed(e.records, 'scratch', e.cell(data_size=n, shift=s), 'test_accuracy')
  g = {s: {k: gain(s)[k] - scratch(s)[k] for k in set(gain(s)) & set(scratch(s))} for s in (0.0, SMALL_SHIFT)}
  test = stats.Test('gain(0.5) - gain(0)', tuple(stats.paired_differences(g[SMALL_SHIFT], g[0.0])), margin(e))
  (found,), evidence = judged([test])
  verdict = {stats.HIGHER: HOLDS, stats.LOWER: FAILS, stats.EQUIVALENT: FAILS}.get(found, UNCLEAR)
  return verdict, evidence


def no_gain_without_shift(e: Experiment):
  (found,), evidence = judged(shift_tests(e, [0.0]))
  return {stats.EQUIVALENT: HOLDS, stats.HIGHER: FAILS, stats.LOWER: FAILS}.get(found, UNCLEAR), evidence


def benefit_vanishes_at_large_shift(e: Experiment):
  large = [s for s in sorted(e.config['shifts']) if s >= LARGE_SHIFT]
  found, evidence = judged(shift_tests(e, large))
  if all(f == stats.EQUIVALENT for f in found):
    return HOLDS, evidence
  if all(f in (stats.LOWER, stats.EQUIVALENT) for f in found) and stats.LOWER in found:
    return PARTLY, f'the benefit does not just vanish, it reverses (negative transfer). {evidence}'
  if stats.HIGHER in found:
    return FAILS, evidence
  return UNCLEAR, evidence


def gradual_unfreezing_beats_fine_tuning(e: Experiment):
  """Accuracy: gradual unfreezing - fine-tuning higher at every size; and its forgetting lower (the claim's reason)."""
  sizes = labelled_sizes(e)
  accuracy = [stats.paired_test(f'n={n}: accuracy', e.records, 'gradual_unfreezing', 'fine_tuning', e.cell(data_size=n),
                                margin=margin(e)) for n in sizes]
  forgetting = [stats.paired_test(f'n={n}: forgetting', e.records, 'gradual_unfreezing', 'fine_tuning',
                                  e.cell(data_size=n), metric='forgetting', margin=margin(e)) for n in sizes]
  found, evidence = judged(accuracy)
  kept, kept_evidence = judged(forgetting)
  return read(found, stats.HIGHER), f'{evidence}. Forgetting, gradual unfreezing - fine-tuning: {kept_evidence}'


DIFFERENT_DOMAINS = (1.0, 2.0)  # the claim's "different domains": moderate shifts, where transfer still helps


def domain_adaptation_beats_fine_tuning(e: Experiment):
  """At moderate shift (1 and 2), does any DA strategy beat plain fine-tuning?"""
  n = e.only('data_sizes')
  tests = [stats.paired_test(f'shift {s:g}: {name} - fine_tuning', e.records, name, 'fine_tuning',
                             e.cell(data_size=n, shift=s), margin=margin(e))
           for s in DIFFERENT_DOMAINS for name in ('dann', 'coral', 'mmd')]
  found, evidence = judged(tests)
  wins_at = {s for s in DIFFERENT_DOMAINS
             for t, f in zip(tests, found) if f == stats.HIGHER and t.label.startswith(f'shift {s:g}')}
  if len(wins_at) == len(DIFFERENT_DOMAINS):
    return HOLDS, evidence
  if wins_at:
    return PARTLY, evidence
  return (FAILS if any(f in (stats.LOWER, stats.EQUIVALENT) for f in found) else UNCLEAR), evidence


def lp_ft_holds_up_out_of_distribution(e: Experiment):
  """Trained at shift 0, tested at every other shift: LP-FT - fine-tuning (Kumar et al. 2022's advantage)."""
  shifts = [s for s in e.config.get('ood_shifts') or e.config['shifts'] if s > 0]
  if not shifts:
    return MISSING, 'the experiment tests no other shift (config.ood_shifts)'
  tests = []
  for n in labelled_sizes(e):
    for s in shifts:
      per = {m: {r['seed']: r['ood_accuracy'][f'{s:g}'] for r in e.records
                 if r['strategy'] == m and r['data_size'] == n and r['shift'] == 0.0 and r['ood_accuracy']}
             for m in ('lp_ft', 'fine_tuning')}
      tests.append(stats.Test(f'n={n}, tested at shift {s:g}: lp_ft - fine_tuning',
                              tuple(stats.paired_differences(per['lp_ft'], per['fine_tuning'])), margin(e)))
  found, evidence = judged(tests)
  return read(found, stats.HIGHER), evidence


def early_layers_are_universal(e: Experiment):
  """Copying the first layer group from the source model and freezing it is at least as good as learning it on the
  target data itself (AnB(1) - BnB(1): higher or equivalent) in every setting run."""
  cells = layer_cells(e.records)
  tests = [stats.paired_test(f'n={n}, shift {s:g}: AnB(1) - BnB(1)', e.records, 'anb', 'bnb',
                             {'data_size': n, 'shift': s, 'layers_copied': 1}, margin=margin(e)) for n, s in cells]
  found, evidence = judged(tests)
  if all(f in (stats.HIGHER, stats.EQUIVALENT) for f in found):
    return HOLDS, evidence
  if any(f == stats.LOWER for f in found):
    return (PARTLY if any(f in (stats.HIGHER, stats.EQUIVALENT) for f in found) else FAILS), evidence
  return UNCLEAR, evidence


def transfer_first(e: Experiment):
  """Fine-tuning against scratch in every cell: 'often beats, a strong baseline' holds when it is higher in most
  cells and lower in none."""
  cells = sorted({(r['data_size'], r['shift']) for r in e.records if r['strategy'] == 'fine_tuning'})
  tests = [stats.paired_test(f'n={n}, shift {s:g}: fine_tuning - scratch', e.records, 'fine_tuning', 'scratch',
                             e.cell(data_size=n, shift=s), margin=margin(e)) for n, s in cells]
  found, evidence = judged(tests)
  higher, lower = found.count(stats.HIGHER), found.count(stats.LOWER)
  verdict = HOLDS if higher > len(found) / 2 and not lower else PARTLY if higher else (
      FAILS if lower or stats.EQUIVALENT in found else UNCLEAR)
  return verdict, f'higher in {higher}, lower in {lower} of {len(found)} cells. {evidence}'


SYNTHETIC = 'synthetic'
DIGITS = 'digits'
CLAIMS = (
    Claim('With little data (50-100 samples) feature extraction wins.',
          {SYNTHETIC: 'strategies', DIGITS: 'strategies_digits'}, feature_extraction_wins_small),
    Claim('With more data (1000+) fine-tuning performs best.',
          {SYNTHETIC: 'strategies', DIGITS: 'strategies_digits'}, fine_tuning_wins_large),
    Claim('Training from scratch needs much more data to match transfer.',
          {SYNTHETIC: 'strategies', DIGITS: 'strategies_digits'}, scratch_needs_more_data),
    Claim('Too high a feature LR destroys pre-trained knowledge (accuracy).', {SYNTHETIC: 'lr_multiplier'},
          high_lr_hurts),
    Claim('Too high a feature LR destroys pre-trained knowledge (forgetting of the source task).',
          {SYNTHETIC: 'lr_multiplier'}, high_lr_forgets),
    Claim('Too low a feature LR underfits the target task.', {SYNTHETIC: 'lr_multiplier'}, low_lr_underfits),
    Claim('So the feature LR has an interior optimum.', {SYNTHETIC: 'lr_multiplier'}, interior_optimum),
    Claim('Use a smaller LR for pre-trained layers than for the new head.', {SYNTHETIC: 'lr_multiplier'},
          smaller_backbone_lr),
    Claim('Without domain shift, transfer and scratch are similar.', {SYNTHETIC: 'domain_shift'},
          no_gain_without_shift),
    Claim('Transfer helps most at a small domain shift (0.5).', {SYNTHETIC: 'domain_shift'},
          helps_most_at_small_shift),
    Claim('At large shift (2.0+) the benefit of transfer disappears.', {SYNTHETIC: 'domain_shift'},
          benefit_vanishes_at_large_shift),
    Claim('Gradual unfreezing beats plain fine-tuning at moderate data (prevents catastrophic forgetting).',
          {SYNTHETIC: 'gradual_unfreezing'}, gradual_unfreezing_beats_fine_tuning),
    Claim('With little data and different domains, domain adaptation (aligning features) is the strategy to use.',
          {SYNTHETIC: 'domain_adaptation_semi'}, domain_adaptation_beats_fine_tuning),
    Claim('LP-FT is more robust than fine-tuning out of distribution (Kumar et al. 2022; not the study\'s claim).',
          {SYNTHETIC: 'strategies', DIGITS: 'strategies_digits'}, lp_ft_holds_up_out_of_distribution),
    Claim('Early layers are universal: they transfer to almost any task.',
          {SYNTHETIC: 'layer_transfer', DIGITS: 'layer_transfer_digits'}, early_layers_are_universal),
    Claim('Always try transfer first: it often beats training from scratch.',
          {SYNTHETIC: 'strategies', DIGITS: 'strategies_digits'}, transfer_first),
)
SOURCES = (SYNTHETIC, DIGITS)


def check_all(results: Results) -> list[tuple[Claim, dict[str, tuple[str, str]]]]:
  """Per claim, per data source: (verdict, evidence); 'not measured' where its experiment has no results there."""
  out = []
  for claim in CLAIMS:
    found = {}
    for source in SOURCES:
      name = claim.experiments.get(source)
      e = results.get(name) if name else None
      found[source] = claim.check(e) if e else (MISSING, f'run {name or "(none here)"}')
    out.append((claim, found))
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

