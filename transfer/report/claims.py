"""The original study's published tables and claims, and each claim checked against our measurements.

Every check is a small function of the experiments a claim is about (their config.json and records) that lists the
claim's paired tests, each with the outcomes that would support the claim; `verdicts.judge` reads them with the one
rule (verdicts.py; docs/verdicts.md) and returns a verdict ('holds', 'partly', 'does not hold', 'inconclusive', or
'not measured' when an experiment has not been run) and the numbers behind it. The cells a check reads (which
backbone multiplier, which target size) come from the experiments' own configs; only what the claim itself says
(little data = at most 100 examples, large shift = 2 or more) is written here. The layer-transferability reading per
layer group is here too.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

from transfer.report import stats
from transfer.report import tables
from transfer.report import verdicts

# The original study's tables, as it reported them (docs/original-study.md).
# Experiment 1: accuracy by target data size.
ORIGINAL_EXP1 = {  # size: (feature extraction, fine-tuning, from scratch)
    50: (1.00, 1.00, 1.00),
    100: (0.95, 1.00, 1.00),
    500: (0.99, 1.00, 1.00),
    1000: (1.00, 1.00, 1.00),
}

# Experiment 2: fine-tuning accuracy by feature-LR multiplier (target size not stated).
ORIGINAL_EXP2 = {0.01: 0.19, 0.1: 0.20, 0.5: 0.20, 1.0: 0.22}

# Experiment 3: domain shift -> (transfer acc, scratch acc, transfer gain).
ORIGINAL_EXP3 = {
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
Check = Callable[..., tuple[str, str]]  # the experiments a claim reads -> (verdict, evidence)


@dataclasses.dataclass(frozen=True)
class Claim:
  text: str  # the study's claim, paraphrased
  experiments: dict[str, tuple[str, ...]]  # data source -> the experiments it is measured by there
  check: Check  # those experiments, in that order -> (verdict, evidence)


def margin(e: Experiment) -> float:
  """The equivalence margin the experiment's config states (report.margin)."""
  return float(e.config['report']['margin'])


def labelled_sizes(e: Experiment) -> list[int]:
  return sorted(n for n in e.config['data_sizes'] if n > 0)


def compare(e: Experiment, label: str, a: str, b: str, keys_b: dict | None = None, *,
            metric: str = 'test_accuracy', **keys) -> stats.Test:
  """The paired test of `a` minus `b` at the experiment's cell `keys` (b at `keys_b` if given) over every seed."""
  return stats.paired_test(label, e.records, a, b, e.cell(**keys), keys_b and e.cell(**keys_b), metric=metric,
                           margin=margin(e))


LITTLE_DATA, LOTS_OF_DATA = 100, 1000  # the claims' "little data (50-100 samples)" and "more data (1000+)"


def wins(e: Experiment, winner: str, others: tuple[str, ...], sizes: Sequence[int]) -> tuple[str, str]:
  """Whether `winner` is better than each of `others` at each size: a difference, higher, predicted in every test."""
  return verdicts.judge([verdicts.Expect(compare(e, f'n={n}: {winner} - {other}', winner, other, data_size=n),
                                         verdicts.DIFFERENT_HIGHER) for n in sizes for other in others])


def feature_extraction_wins_small(e: Experiment):
  return wins(e, 'feature_extraction', ('fine_tuning', 'scratch'), [n for n in labelled_sizes(e) if n <= LITTLE_DATA])


def fine_tuning_wins_large(e: Experiment):
  return wins(e, 'fine_tuning', ('feature_extraction', 'scratch'), [n for n in labelled_sizes(e) if n >= LOTS_OF_DATA])


def scratch_needs_more_data(e: Experiment):
  """Scratch is behind fine-tuning with little data (lower at every size up to 100) and has caught up at the largest
  size run (equivalent or higher there: an equivalence is for this claim)."""
  sizes = labelled_sizes(e)
  small = [n for n in sizes[:-1] if n <= LITTLE_DATA]
  if not small:
    return verdicts.missing(f'no size up to {LITTLE_DATA} below the largest ({sizes})')
  label = lambda n: f'n={n}: scratch - fine_tuning'
  return verdicts.judge(
      [verdicts.Expect(compare(e, label(n), 'scratch', 'fine_tuning', data_size=n), verdicts.DIFFERENT_LOWER)
       for n in small] +
      [verdicts.Expect(compare(e, label(sizes[-1]), 'scratch', 'fine_tuning', data_size=sizes[-1]), verdicts.AT_LEAST)])


def seed_halves(e: Experiment) -> tuple[list[int], list[int]]:
  """The seeds split in two, for cross-fitting: what is picked on one half is judged on the other."""
  seeds = stats.seeds_of(e.records)
  return seeds[:len(seeds) // 2], seeds[len(seeds) // 2:]


def lr_cells(e: Experiment) -> list[tuple[int, float]]:
  return [(n, s) for n in labelled_sizes(e) for s in sorted(e.config['shifts'])]


def best_of(e: Experiment, seeds: Sequence[int], keys: dict, candidates: Sequence[float]) -> float:
  """The candidate multiplier with the best mean fine-tuning accuracy over `seeds` at cell `keys`."""
  mine = [r for r in e.records if r['seed'] in seeds]
  mean = lambda m: stats.mean_ci(list(stats.by_seed(mine, 'fine_tuning', {**keys, 'lr_mult': m},
                                                    'test_accuracy').values()))[0]
  return max(candidates, key=lambda m: -math.inf if math.isnan(mean(m)) else mean(m))


def versus_best_other(e: Experiment, picked: float, candidates: Callable[[float], bool],
                      name: str) -> list[stats.Test]:
  """Per (size, shift): fine-tuning at multiplier `picked` minus at the best other multiplier (of those `candidates`
  accepts, never `picked` itself), cross-fitted (rule 4 of verdicts.py's docstring): the best is picked on each half of
  the seeds and judged on the other half, and both halves' differences form one test."""
  others = [m for m in sorted(e.config['lr_mults']) if m != picked and candidates(m)]
  if not others:
    return []
  out = []
  for n, shift in lr_cells(e):
    keys = {'data_size': n, 'shift': shift}
    differences, bests = [], []
    for fit, held in (seed_halves(e), seed_halves(e)[::-1]):
      bests.append(best_of(e, fit, keys, others))
      differences += stats.paired_test('', e.records, 'fine_tuning', 'fine_tuning', {**keys, 'lr_mult': picked},
                                       {**keys, 'lr_mult': bests[-1]}, seeds=held).differences
    picks = ' / '.join(dict.fromkeys(f'x{b:g}' for b in bests))  # one name where both halves pick the same
    out.append(stats.Test(f'n={n}, shift={shift:g}: lr_mult {picked:g} - {name} ({picks})', tuple(differences),
                          margin(e)))
  return out


def cross_fit_note(e: Experiment) -> str:
  a, b = seed_halves(e)
  return (f'Each comparison multiplier is picked on one half of the seeds and judged on the other, both ways (shown '
          f'as: picked on seeds {a[0]}-{a[-1]} / on seeds {b[0]}-{b[-1]}, once where both agree); both halves form '
          'one test. ')


def lower_than_best_other(e: Experiment, picked: float, candidates: Callable[[float], bool], name: str):
  """The claim that multiplier `picked` is worse than the best of `candidates`: lower in every cell."""
  return verdicts.judge([verdicts.Expect(t, verdicts.DIFFERENT_LOWER)
                         for t in versus_best_other(e, picked, candidates, name)], cross_fit_note(e))


def high_lr_hurts(e: Experiment):
  top = max(e.config['lr_mults'])
  return lower_than_best_other(e, top, lambda m: m < top, 'best lower')


def low_lr_underfits(e: Experiment):
  low = min(m for m in e.config['lr_mults'] if m > 0)
  return lower_than_best_other(e, low, lambda m: m > low, 'best higher')


def interior_optimum(e: Experiment):
  """Both the smallest and the largest multiplier are worse than the best of the others: the optimum lies between."""
  low, top = min(e.config['lr_mults']), max(e.config['lr_mults'])
  tests = versus_best_other(e, low, lambda m: True, 'best other') + versus_best_other(e, top, lambda m: True,
                                                                                       'best other')
  return verdicts.judge([verdicts.Expect(t, verdicts.DIFFERENT_LOWER) for t in tests], cross_fit_note(e))


def smaller_backbone_lr(e: Experiment):
  """The head's LR (x1) for the backbone is worse than the best multiplier strictly between 0 (frozen) and 1."""
  return lower_than_best_other(e, 1.0, lambda m: 0 < m < 1, 'best in (0, 1)')


def high_lr_forgets(e: Experiment):
  """Forgetting (the source task's accuracy lost) is higher at the largest multiplier than at the smallest non-zero
  one, in every cell."""
  low, high = min(m for m in e.config['lr_mults'] if m > 0), max(e.config['lr_mults'])
  return verdicts.judge([verdicts.Expect(compare(e, f'n={n}, shift={s:g}: forgetting at x{high:g} - at x{low:g}',
                                                 'fine_tuning', 'fine_tuning',
                                                 {'data_size': n, 'shift': s, 'lr_mult': low}, metric='forgetting',
                                                 data_size=n, shift=s, lr_mult=high),
                                         verdicts.DIFFERENT_HIGHER) for n, s in lr_cells(e)])


def gain_test(e: Experiment, shift: float) -> stats.Test:
  """Fine-tuning - scratch at `shift` (the transfer gain), at the experiment's one data size."""
  return compare(e, f'shift {shift:g}: gain', 'fine_tuning', 'scratch', data_size=e.only('data_sizes'), shift=shift)


SMALL_SHIFT, LARGE_SHIFT = 0.5, 2.0  # the claims' "small domain shift (0.5)" and "large shift (2.0+)"


def gains(e: Experiment, shift: float) -> dict[int, float]:
  """seed -> fine-tuning - scratch at `shift`, at the experiment's one data size."""
  keys = e.cell(data_size=e.only('data_sizes'), shift=shift)
  tuned, scratch = (stats.by_seed(e.records, s, keys, 'test_accuracy') for s in ('fine_tuning', 'scratch'))
  return {k: tuned[k] - scratch[k] for k in tuned.keys() & scratch.keys()}


def helps_most_at_small_shift(e: Experiment):
  """gain(0.5) - gain(s), per seed, higher for every other shift s run."""
  return verdicts.judge([verdicts.Expect(stats.Test(f'gain({SMALL_SHIFT:g}) - gain({s:g})',
                                                    tuple(stats.paired_differences(gains(e, SMALL_SHIFT), gains(e, s))),
                                                    margin(e)),
                                         verdicts.DIFFERENT_HIGHER)
                         for s in sorted(e.config['shifts']) if s != SMALL_SHIFT])


def no_gain_without_shift(e: Experiment):
  return verdicts.judge([verdicts.Expect(gain_test(e, 0.0), verdicts.SAME)])


def benefit_vanishes_at_large_shift(e: Experiment):
  """At every shift of 2 or more the gain is gone: not higher than scratch (equivalent, or lower: negative transfer,
  which this claim allows; the evidence says where)."""
  large = [s for s in sorted(e.config['shifts']) if s >= LARGE_SHIFT]
  tests = [gain_test(e, s) for s in large]
  found = stats.outcomes(tests)
  reverses = [f'{s:g}' for s, f in zip(large, found) if f == stats.LOWER]
  note = f'The gain reverses (negative transfer) at shift {", ".join(reverses)}. ' if reverses else ''
  return verdicts.judge([verdicts.Expect(t, verdicts.AT_MOST) for t in tests], note)


def gradual_unfreezing_beats_fine_tuning(e: Experiment):
  """Gradual unfreezing - fine-tuning: accuracy higher at every size, and forgetting lower (the claim's reason)."""
  sizes = labelled_sizes(e)
  return verdicts.judge(
      [verdicts.Expect(compare(e, f'n={n}: accuracy', 'gradual_unfreezing', 'fine_tuning', data_size=n),
                       verdicts.DIFFERENT_HIGHER) for n in sizes] +
      [verdicts.Expect(compare(e, f'n={n}: forgetting', 'gradual_unfreezing', 'fine_tuning', data_size=n,
                               metric='forgetting'), verdicts.DIFFERENT_LOWER) for n in sizes])


DIFFERENT_DOMAINS = (1.0, 2.0)  # the claim's "different domains": moderate shifts, where transfer still helps


def domain_adaptation_is_the_strategy(e: Experiment):
  """At moderate shift (1 and 2), every DA strategy run beats the alternative without alignment: plain fine-tuning
  where there are labelled target examples (the semi-supervised setting), source_only where there are none (the
  unsupervised one, each cell selected by the experiment's label-free validator)."""
  n = e.only('data_sizes')
  reference = 'fine_tuning' if 'fine_tuning' in e.config['strategies'] else 'source_only'
  names = [m for m in ('dann', 'coral', 'mmd') if m in e.config['strategies']]
  return verdicts.judge([verdicts.Expect(compare(e, f'shift {s:g}: {m} - {reference}', m, reference, data_size=n,
                                                 shift=s), verdicts.DIFFERENT_HIGHER)
                         for s in DIFFERENT_DOMAINS for m in names])


def lp_ft_holds_up_out_of_distribution(e: Experiment):
  """Trained at shift 0, tested at every other shift: LP-FT - fine-tuning higher (Kumar et al. 2022's advantage)."""
  shifts = [s for s in e.config.get('ood_shifts') or e.config['shifts'] if s > 0]
  if not shifts:
    return verdicts.missing('the experiment tests no other shift (config.ood_shifts)')
  tests = []
  for n in labelled_sizes(e):
    for s in shifts:
      per = {m: {r['seed']: r['ood_accuracy'][f'{s:g}'] for r in e.records
                 if r['strategy'] == m and r['data_size'] == n and r['shift'] == 0.0 and r['ood_accuracy']}
             for m in ('lp_ft', 'fine_tuning')}
      tests.append(stats.Test(f'n={n}, tested at shift {s:g}: lp_ft - fine_tuning',
                              tuple(stats.paired_differences(per['lp_ft'], per['fine_tuning'])), margin(e)))
  return verdicts.judge([verdicts.Expect(t, verdicts.DIFFERENT_HIGHER) for t in tests])


def early_layers_are_universal(e: Experiment):
  """Copying the first layer group from the source model and freezing it is at least as good as learning it on the
  target data itself (AnB(1) - BnB(1): higher or equivalent) in every setting run."""
  return verdicts.judge([verdicts.Expect(stats.paired_test(f'n={n}, shift {s:g}: AnB(1) - BnB(1)', e.records, 'anb',
                                                           'bnb', {'data_size': n, 'shift': s, 'layers_copied': 1},
                                                           margin=margin(e)), verdicts.AT_LEAST)
                         for n, s in layer_cells(e.records)])


def transfer_first(*experiments: Experiment):
  """Fine-tuning against scratch in every cell of every experiment given (target sizes at shift 0, and shifts at one
  size): 'often beats' predicts higher in most cells, so a tie in one cell is neither for nor against it; a cell where
  transfer is worse is against it."""
  tests = []
  for e in experiments:
    cells = sorted({(r['data_size'], r['shift']) for r in e.records if r['strategy'] == 'fine_tuning'})
    tests += [compare(e, f'{e.config["experiment"]}, n={n}, shift {s:g}: fine_tuning - scratch', 'fine_tuning',
                      'scratch', data_size=n, shift=s) for n, s in cells]
  return verdicts.judge([verdicts.Expect(t, verdicts.OFTEN_HIGHER) for t in tests])


SYNTHETIC = 'synthetic'
DIGITS = 'digits'
STRATEGIES_EXPERIMENTS = {SYNTHETIC: ('strategies',), DIGITS: ('strategies_digits',)}
CLAIMS = (
    Claim('With little data (50-100 samples) feature extraction wins.', STRATEGIES_EXPERIMENTS,
          feature_extraction_wins_small),
    Claim('With more data (1000+) fine-tuning performs best.', STRATEGIES_EXPERIMENTS, fine_tuning_wins_large),
    Claim('Training from scratch needs much more data to match transfer.', STRATEGIES_EXPERIMENTS,
          scratch_needs_more_data),
    Claim('Too high a feature LR destroys pre-trained knowledge (accuracy).', {SYNTHETIC: ('lr_multiplier',)},
          high_lr_hurts),
    Claim('Too high a feature LR destroys pre-trained knowledge (forgetting of the source task).',
          {SYNTHETIC: ('lr_multiplier',)}, high_lr_forgets),
    Claim('Too low a feature LR underfits the target task.', {SYNTHETIC: ('lr_multiplier',)}, low_lr_underfits),
    Claim('So the feature LR has an interior optimum.', {SYNTHETIC: ('lr_multiplier',)}, interior_optimum),
    Claim('Use a smaller LR for pre-trained layers than for the new head.', {SYNTHETIC: ('lr_multiplier',)},
          smaller_backbone_lr),
    Claim('Without domain shift, transfer and scratch are similar.', {SYNTHETIC: ('domain_shift',)},
          no_gain_without_shift),
    Claim('Transfer helps most at a small domain shift (0.5).', {SYNTHETIC: ('domain_shift',)},
          helps_most_at_small_shift),
    Claim('At large shift (2.0+) the benefit of transfer disappears.', {SYNTHETIC: ('domain_shift',)},
          benefit_vanishes_at_large_shift),
    Claim('Gradual unfreezing beats plain fine-tuning at moderate data (prevents catastrophic forgetting).',
          {SYNTHETIC: ('gradual_unfreezing',)}, gradual_unfreezing_beats_fine_tuning),
    Claim('With little data and different domains, domain adaptation (aligning features) is the strategy to use.',
          {SYNTHETIC: ('domain_adaptation_semi',), DIGITS: ('domain_adaptation_digits',)},
          domain_adaptation_is_the_strategy),
    Claim('LP-FT is more robust than fine-tuning out of distribution (Kumar et al. 2022; not the study\'s claim).',
          STRATEGIES_EXPERIMENTS, lp_ft_holds_up_out_of_distribution),
    Claim('Early layers are universal: they transfer to almost any task.',
          {SYNTHETIC: ('layer_transfer',), DIGITS: ('layer_transfer_digits',)}, early_layers_are_universal),
    Claim('Always try transfer first: it often beats training from scratch.',
          {SYNTHETIC: ('strategies', 'domain_shift'), DIGITS: ('strategies_digits',)}, transfer_first),
)
SOURCES = (SYNTHETIC, DIGITS)


def check_all(results: Results) -> list[tuple[Claim, dict[str, verdicts.Verdict]]]:
  """Per claim, per data source: its Verdict; 'not measured' where one of its experiments has no results."""
  out = []
  for claim in CLAIMS:
    found = {}
    for source in SOURCES:
      names = claim.experiments.get(source, ())
      missing = [name for name in names if name not in results]
      if names and not missing:
        found[source] = claim.check(*(results[name] for name in names))
      else:
        found[source] = verdicts.missing(f'run {", ".join(missing) or "(none here)"}')
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
