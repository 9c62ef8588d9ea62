"""REPORT.md: the original study's tables beside ours on the same axes, and a verdict on each of its claims."""

from __future__ import annotations

import os

from transfer import io
from transfer.report import adaptation
from transfer.report import claims
from transfer.report import findings
from transfer.report import stats
from transfer.report import tables
from transfer.report import verdicts

# What the claims read.
EXPERIMENTS = ('strategies', 'lr_multiplier', 'domain_shift', 'gradual_unfreezing', 'domain_adaptation_semi',
               'domain_adaptation_digits', 'strategies_digits', 'layer_transfer', 'layer_transfer_digits')


def load_results(outputs: str, suffix: str = '') -> claims.Results:
  """experiment -> its config and records, for every experiment of the original study run under `outputs`
  (in outputs/<experiment><suffix>: suffix '_fixed' reads the fixed-protocol runs)."""
  results = {}
  for name in EXPERIMENTS:
    loaded = io.read_workdir(os.path.join(outputs, name + suffix))
    if loaded is not None:
      results[name] = claims.Experiment(*loaded)
  return results


def load_workdir(outputs: str | None, name: str) -> tuple[dict, list[dict]] | None:
  """(config, records) of the workdir outputs/<name>, or None if it has not been run."""
  return None if outputs is None else io.read_workdir(os.path.join(outputs, name))


def workdir_tables(outputs: str | None, name: str) -> str:
  """The comparison tables of outputs/<name> as its own config's report settings draw them, and its plot."""
  loaded = load_workdir(outputs, name)
  if loaded is None:
    return f'not run (see the command in configs/{name.removesuffix("_digits")}.py)'
  config, records = loaded
  rc = config['report']
  names = list(dict.fromkeys(r['strategy'] for r in records))
  parts = []
  for panel in stats.panels(records, axis=rc['axis'], strategies=names, baseline=rc['baseline'],
                            anchor=rc['transfer']):
    table = tables.panel_table(panel, axis_label=rc['axis_label'], transfer=rc['transfer'], baseline=rc['baseline'])
    parts += [f'{tables.fixed_label(panel)}:', '', table, '']
  return '\n'.join(parts + [f'![{name}]({name}/plot.png)'])


def layer_section(outputs: str | None, name: str) -> str:
  """Which layer groups transfer, per cell, from the layer-transfer experiment in outputs/<name>."""
  loaded = load_workdir(outputs, name)
  if loaded is None:
    return 'not run'
  return findings.layer_readings(*loaded)


def strategies_table(e: claims.Experiment | None) -> str:
  records = e.records if e else []
  sizes = sorted(set(claims.ORIGINAL_EXP1) | {r['data_size'] for r in records})
  extra = [s for s in ('lp_ft', 'l2_sp') if any(r['strategy'] == s for r in records)]
  rows = []
  for n in sizes:
    orig = claims.ORIGINAL_EXP1.get(n, ('-',) * 3)
    cells = [tables.ours(e, s, data_size=n) for s in ('feature_extraction', 'fine_tuning', 'scratch', *extra)]
    orig = [x if isinstance(x, str) else f'{x:.2f}' for x in orig]
    rows.append([f'{n}'] + [x for pair in zip(orig, cells[:3]) for x in pair] + cells[3:])
  header = (['Target Data Size'] + [f'{s} ({who})' for s in ('Feature Extraction', 'Fine-tuning', 'From Scratch')
                                    for who in ('original', 'ours')] + [f'{s} (ours)' for s in extra])
  return tables.markdown_table(header, rows)


def probe_phase_note(e: claims.Experiment | None) -> str:
  """How often LP-FT's selected step falls inside its linear-probe phase (the first round(probe_fraction * steps)
  steps, when the backbone has not moved yet): such a run is reported as LP-FT but is a linear probe."""
  if not e or not any(r['strategy'] == 'lp_ft' for r in e.records):
    return ''
  probe = round(e.config['probe_fraction'] * e.config['steps'])
  counts = []
  for n in sorted(e.config['data_sizes']):
    mine = [r for r in e.records if r['strategy'] == 'lp_ft' and r['data_size'] == n and r.get('selected')]
    inside = sum(r['selected']['step'] <= probe for r in mine)
    counts.append(f'{inside} of {len(mine)} runs at n = {n:,}')
  return (f'LP-FT\'s selected step lies inside its linear-probe phase (step <= {probe:,} of {e.config["steps"]:,}, '
          f'the backbone not yet trained; such a result is a linear probe\'s) in {", ".join(counts)}.')


def budgets_table(results: claims.Results, fixed: claims.Results) -> str:
  """Each experiment's target step budget under both protocols: the search's budget (selection may stop at any
  evaluation) against the fixed protocol's (its last step counts)."""
  rows = []
  for name, e in results.items():
    if e.config.get('selection', {}).get('mode') != 'search' or e.config['data'].get('name') != 'synthetic':
      continue
    twin = fixed.get(name)
    rows.append([name, f'{e.config["steps"]:,} (evaluated every {e.config["selection"]["eval_every"]:,}; the best '
                 'evaluation counts)', f'{twin.config["steps"]:,} (the last step counts)' if twin else 'not run'])
  return tables.markdown_table(['experiment', 'search: steps', 'fixed setting: steps'], rows)


def lr_table(e: claims.Experiment | None) -> str:
  cells = [(n, s) for n in sorted(e.config['data_sizes']) for s in sorted(e.config['shifts'])] if e else []
  mults = sorted(set(claims.ORIGINAL_EXP2) | set(e.config['lr_mults'] if e else ()))
  rows = [[f'{m:g}', f'{claims.ORIGINAL_EXP2[m]:.2f}' if m in claims.ORIGINAL_EXP2 else '-'] +
          [tables.ours(e, 'fine_tuning', data_size=n, shift=s, lr_mult=m) for n, s in cells] for m in mults]
  return tables.markdown_table(['Feature LR Multiplier', 'original'] + [f'ours (n={n}, shift {s:g})' for n, s in cells],
                        rows)


def shift_table(e: claims.Experiment | None) -> str:
  shifts = sorted(set(claims.ORIGINAL_EXP3) | set(e.config['shifts'] if e else ()))
  rows = []
  for s in shifts:
    keys = {'data_size': e.only('data_sizes'), 'shift': s} if e else {}
    orig = claims.ORIGINAL_EXP3.get(s)
    mine = [tables.ours(e, 'fine_tuning', **keys), tables.ours(e, 'scratch', **keys),
            tables.fmt(stats.paired(e.records, 'fine_tuning', 'scratch', e.cell(**keys)), signed=True) if e else '']
    o = [f'{orig[0]:.2f}', f'{orig[1]:.2f}', f'{orig[2]:+.2f}'] if orig else ['-'] * 3
    rows.append([f'{s:g}'] + [x for pair in zip(o, mine) for x in pair])
  header = ['Domain Shift'] + [f'{c} ({who})' for c in ('Transfer Acc', 'Scratch Acc', 'Transfer Gain')
                               for who in ('original', 'ours')]
  return tables.markdown_table(header, rows)


def gradual_table(e: claims.Experiment | None) -> str:
  if not e:
    return 'not run'
  names = list(e.config['strategies'])
  sizes = sorted(e.config['data_sizes'])
  rows = [[f'{n}'] + [tables.ours(e, s, data_size=n) for s in names] +
          [tables.fmt(stats.paired(e.records, 'gradual_unfreezing', 'fine_tuning', e.cell(data_size=n)),
                      signed=True)]
          for n in sizes]
  return tables.markdown_table(['Target Data Size'] + names + ['gradual_unfreezing - fine_tuning'], rows)


def forgetting_table(e: claims.Experiment | None, *, by: str) -> str:
  """Forgetting (the source model's accuracy on held-out source examples minus the trained backbone's, under the
  same source head) per strategy and `by` ('lr_mult' or 'data_size'), at each other grid value."""
  if not e:
    return 'not run'
  names = [s for s in e.config['strategies'] if s != 'scratch']
  if by == 'lr_mult':
    cells = [(n, sh) for n in sorted(e.config['data_sizes']) for sh in sorted(e.config['shifts'])]
    rows = [[f'{m:g}'] + [tables.fmt(stats.accuracy(e.records, 'fine_tuning', {'data_size': n, 'shift': sh,
                                                                                'lr_mult': m}, metric='forgetting'))
                          for n, sh in cells] for m in sorted(e.config['lr_mults'])]
    return tables.markdown_table(['Feature LR Multiplier'] + [f'fine-tuning, n={n}, shift {sh:g}' for n, sh in cells],
                                 rows)
  rows = [[f'{n}'] + [tables.fmt(stats.accuracy(e.records, name, e.cell(data_size=n), metric='forgetting'))
                      for name in names] for n in sorted(e.config['data_sizes'])]
  return tables.markdown_table(['Target Data Size'] + names, rows)


def ood_matrix(e: claims.Experiment | None, strategy: str, *, trained: list[float] | None = None,
               data_size: int | None = None) -> str:
  """Test accuracy of `strategy`'s models trained at shift a (rows) and tested at shift b (columns)."""
  if not e:
    return 'not run'
  tested = list(e.config.get('ood_shifts') or e.config['shifts'])
  trained = trained if trained is not None else sorted(e.config['shifts'])
  n = data_size if data_size is not None else e.only('data_sizes')
  rows = []
  for a in trained:
    mine = [r for r in e.records if r['strategy'] == strategy and r['shift'] == a and r['data_size'] == n and
            r.get('ood_accuracy')]
    rows.append([f'{a:g}'] + [tables.fmt(stats.mean_ci([r['ood_accuracy'][f'{b:g}'] for r in mine])) for b in tested])
  return tables.markdown_table([f'{strategy}: trained at \\ tested at'] + [f'{b:g}' for b in tested], rows)


def decision_summary(outputs: str) -> str:
  """The decision experiment's verdict paragraph (outputs/decision/decision.md), if it has been run."""
  path = os.path.join(outputs, 'decision', 'decision.md')
  if not os.path.exists(path):
    return 'not run (python -m scripts.decide --config=configs/decision.py)'
  with open(path) as f:
    paragraph = [line for line in f.read().split('\n\n')[1].splitlines() if line]
  return '\n'.join(paragraph + ['', 'Cell by cell: [decision/decision.md](decision/decision.md); map: '
                                 '[decision/decision_map.png](decision/decision_map.png).'])


def fixed_verdict(selected: verdicts.Verdict, fixed: verdicts.Verdict) -> str:
  """The fixed protocol's verdict beside the selected one: 'same'; the other verdict marked '(changed)' where the
  two protocols' estimates of one of the claim's tests lie beyond each other's 95% CIs (`verdicts.changed`); or
  marked '(CIs overlap)' where the verdicts differ only in precision."""
  if verdicts.MISSING in (fixed.verdict, selected.verdict):
    return fixed.verdict
  if fixed.verdict == selected.verdict:
    return 'same'
  return f'{fixed.verdict} ({"changed" if verdicts.changed(selected, fixed) else "CIs overlap"})'


def claims_table(results: claims.Results, fixed: claims.Results) -> str:
  """Each claim's verdict per data source from the validation-selected results, the verdict the fixed protocol (one
  untuned setting, last step) gave on synthetic data, and the numbers behind the synthetic verdict."""
  rows = []
  for i, ((claim, found), (_, fixed_found)) in enumerate(zip(claims.check_all(results), claims.check_all(fixed)), 1):
    synthetic, digits = found[claims.SYNTHETIC], found[claims.DIGITS]
    evidence = synthetic.evidence if synthetic.verdict != verdicts.MISSING else digits.evidence
    rows.append([str(i), claim.text, f'**{synthetic.verdict}**', f'**{digits.verdict}**',
                 fixed_verdict(synthetic, fixed_found[claims.SYNTHETIC]), evidence])
  return tables.markdown_table(['#', "The original study's claim", 'Synthetic', 'Digits',
                                'Synthetic, fixed setting', 'Our numbers (validation-selected, synthetic where run; '
                                'paired 95% CI over seeds, each test\'s reading and its stance towards the claim, '
                                'its minimum detectable effect (MDE) and, if inconclusive, the seeds it would need)'],
                               rows)


def claims_intro(results: claims.Results) -> str:
  """How the claims table reaches its verdicts (verdicts.py's rules, in short), with the margins the configs state."""
  margins = ', '.join(f'{m:g}' for m in sorted({claims.margin(e) for e in results.values()})) or 'n/a'
  return (
      'Each claim is checked by every paired test it is about (per-seed differences a - b over the seeds, Holm-'
      'corrected within the claim). A test reads *higher* or *lower* when the difference is significant (adjusted '
      f'p < {stats.ALPHA:g}), *equivalent* when the equivalence test within the experiment\'s margin (`report.margin`: '
      f'{margins}) succeeds or its 95% CI lies inside the margin (a significant difference that small is '
      'negligible), *untestable* when both sides are the same numbers on every seed (such a test is no evidence and '
      'is left out), else *inconclusive*; it is *for* the claim, *against* it, or *neither* by what the claim '
      'predicts for that test (an equivalence is against a claim only where the claim predicts a difference). A '
      'claim *holds* when more than half of its tests are for it and none against, *does not hold* when more than '
      'half are against it and none for, holds *partly* when some are for and some against, and is *inconclusive* '
      'otherwise. The LR-multiplier claims test the named multiplier against the best *other* one, picked on one '
      'half of the seeds and judged on the other, both ways round (the two picks shown as x.. / x..). Each test '
      f'states its minimum detectable effect (MDE: the true difference its seeds detect with {stats.POWER:.0%} power, '
      f'two-sided alpha {stats.ALPHA:g}, from the SD of its per-seed differences) and, where it is inconclusive, the '
      'seeds needed to detect its observed difference with that power. The last column but one is the verdict under '
      'the fixed protocol: *same*, or the other verdict, marked *(changed)* where one of the claim\'s tests has '
      'estimates under the two protocols whose 95% CIs do not overlap and *(CIs overlap)* where they differ only in '
      'precision. The rules in full: [docs/verdicts.md](../docs/verdicts.md).')


INTRO = """# Transfer learning: the original study beside this reproduction

Generated by `python -m scripts.report` from `outputs/*/config.json` and `results.json`; do not edit by hand. Every
number of ours is a mean with its 95% t-interval over seeds; differences are paired per seed (the same seed's data,
target pool, validation split and test set). Each experiment is rerun by
`python -m scripts.run --config=configs/<experiment>.py`, its fixed-protocol twin by `...py:fixed`.

The original study's numbers were at or near chance (0.20 for 5 classes) or saturated (1.00), so its tables cannot
be matched number for number; what can be compared is the direction of each claim.

![concept](concept.png)
"""


def setup(config: dict | None) -> str:
  """The setup and protocol the experiments share, read from one experiment's config.json."""
  if config is None or 'data' not in config:
    return 'Setup: see `configs/common.py` (no experiment config found).'
  d, m, pre, sel, srch = (config[k] for k in ('data', 'model', 'pretrain', 'selection', 'search'))
  lines = [
      f'Setup (from `{config["experiment"]}/config.json`; see `configs/common.py`): a synthetic world per seed in '
      f'which {d["label_factors"]} label factors and {d["nuisance_factors"]} nuisance factors are rendered into '
      f'{d["input_dim"]}-d inputs by a deep, high-gain random tanh network; the source task has '
      f'{d["source_classes"]} classes, the target task {d["target_classes"]} new classes over the same label '
      f'factors. A {m["depth"]}x{m["width"]} ReLU MLP is pre-trained on {d["source_pool"]:,} source examples '
      f'({pre["steps"]:,} Adam steps), then trained on the target for a budget of {config["steps"]} steps of '
      f'{config["batch_size"]} examples.']
  if sel['mode'] == 'search':
    space = ', '.join(f'{h} {lo:g}-{hi:g}' for h, (lo, hi) in srch['space'].items() if h in srch['over'])
    lines.append(
        f'Model selection: every `{round(1 / sel["val_fraction"])}`th labelled target example of each class is '
        f'held out for validation; each strategy runs {srch["num_samples"]} candidate settings as lanes of one '
        f'program (the fixed setting, head LR {config["lr"]:g} and backbone x{config["lr_mults"][0]:g}, plus '
        f'{srch["num_samples"] - 1} log-uniform draws of what the strategy reads of: {space}), evaluated every '
        f'{sel["eval_every"]} steps; a cell\'s number is the test accuracy at the candidate and step with the best '
        'validation accuracy (per experiment: `config.json`, `selection` and `search`). The fixed protocol (the '
        'original one: the fixed setting, every labelled example trains, the last step counts) is rerun beside '
        "each experiment in `outputs/<experiment>_fixed/`, and the claims table gives both verdicts.")
  return '\n'.join(lines)


def source_accuracy_range(records: list[dict]) -> str:
  """The held-out source accuracy of the seeds' source models, as 'lo-hi%': a record's source accuracy at its
  selected step plus what it forgot there is its source model's own accuracy."""
  before = findings.source_model_accuracies(records)
  if not before:
    return 'n/a'
  return f'{100 * before[0]:.0f}-{100 * before[-1]:.0f}%'


def caveats(results: claims.Results, outputs: str | None) -> str:
  """The caveats, with the figures they cite read from the committed workdirs."""
  shift = results.get('domain_shift')
  digits = load_workdir(outputs, 'strategies_digits')
  lines = ['## Caveats',
           '- One synthetic task family with a small MLP, and scikit-learn\'s 8x8 digits with a small CNN. The '
           'verdicts say what happens here, not in ImageNet-scale vision.']
  selection = shift.config.get('selection', {}) if shift is not None else {}
  if selection.get('mode', 'fixed') != 'fixed':
    every = round(1 / selection['val_fraction'])
    n = min(x for x in shift.config['data_sizes'] if x > 0)
    lines.append(f'- Validation sets are small (every {every}th labelled example: {n // every} of {n} in Experiment '
                 '3), so selection is noisy: a candidate and step chosen on so few examples can be worse on the test '
                 'set than the fixed setting. `oracle_test_accuracy` in each record bounds what any selection could '
                 'reach; it is never a result.')
  lines += ['- The budget is one static number of steps per experiment (every lane of a compiled program runs as '
            'long); early stopping on validation accuracy then picks the step.',
            '- Gradual unfreezing splits the budget into one stage per group plus one; while a group waits, its Adam '
            'moments keep accumulating (see `configs/gradual_unfreezing.py`).']
  classes = shift.config.get('data', {}).get('source_classes') if shift is not None else None
  sources = ([f'{source_accuracy_range(shift.records)} on the synthetic source task ({classes} classes)']
             if classes else [])
  if digits is not None:
    sources.append(f'{source_accuracy_range(digits[1])} on digits 0-4')
  if sources:
    lines.append(f'- The source models reach {" and ".join(sources)} held-out accuracy over the seeds (before any '
                 'target training): their features are useful but imperfect, which bounds what freezing them can '
                 'reach.')
  return '\n'.join(lines) + '\n'


def extensions_intro(outputs: str | None) -> str:
  """What the digits experiments run, from outputs/strategies_digits/config.json."""
  lines = ['## Beyond the original study', '',
           'Real data and the feature hierarchy the study\'s concept figure draws. Digits: scikit-learn\'s bundled '
           '8x8 images, source = digits 0-4 (90% of them; 10% held out to score pre-training), target = digits 5-9 '
           'relabelled 0-4; each seed draws its own target test set from the 5-9 images and its labelled pool from '
           'the rest, so the intervals over seeds include the test set\'s sampling (sizes: docs/data.md).']
  loaded = load_workdir(outputs, 'strategies_digits')
  if loaded is not None:
    config = loaded[0]
    channels = ', '.join(str(c) for c in config['model']['channels'])
    lines.append(f'Backbone: {len(config["model"]["channels"])} 3x3 conv layers ({channels} filters), '
                 f'{config["pretrain"]["steps"]:,} pre-training steps, a budget of {config["steps"]:,} target steps '
                 '(from `strategies_digits/config.json`).')
  return '\n'.join(lines)


def shift_size(results: claims.Results) -> str:
  """Experiment 3's number of labelled target examples (its one data size)."""
  return f'{results["domain_shift"].only("data_sizes"):,}' if 'domain_shift' in results else 'n/a'


LAYERS_INTRO = """## Layer transferability (Yosinski et al. 2014)

For k = 0..3 the bottom k layer groups are copied from a base network and the rest start fresh (the head always
does): AnB copies from the pre-trained source model and freezes them, AnB+ fine-tunes everything at the full LR, BnB
and BnB+ do the same from a network trained from scratch on the same target data (its own initialisation and
minibatch order). k = 0 is training from scratch in all four. A group *transfers* when also copying it frozen
raises accuracy (AnB(k) - AnB(k-1) > 0, paired 95% CI), is *specific to the source* when it lowers it, and is
*neutral* otherwise; AnB - BnB compares the copied source layers with layers learnt on the target data itself, and
BnB(k) - BnB(0) is Yosinski's co-adaptation test (a drop: frozen target-trained layers that do not work with freshly
trained layers above them).
The marginal reading is cumulative: once a lower group is specific, freezing more groups on top of it also removes
the layers that could have compensated, so the groups above it read as specific partly for that reason."""


def layer_block(outputs: str | None, title: str, name: str) -> list[str]:
  """One layer-transfer experiment's REPORT.md lines: its tables and plot, then the reading per layer group."""
  return [title, '', workdir_tables(outputs, name), '', 'Reading per layer group:', '', layer_section(outputs, name),
          '']


def render(results: claims.Results, decision: str = 'not run', outputs: str | None = None,
           fixed: claims.Results | None = None) -> str:
  """REPORT.md's text; the sections beyond the original study read their workdirs under `outputs` (None: not run)."""
  parts = [INTRO, setup(results['domain_shift'].config if 'domain_shift' in results else None), '',
           '## Experiment 1: strategies by target data size (shift 0)',
           strategies_table(results.get('strategies')), '', probe_phase_note(results.get('strategies')), '',
           '## Experiment 2: fine-tuning accuracy by feature-LR multiplier',
           'The original study does not state its target size; ours are at 100 and 1000 examples, at shift 0 and at '
           'shift 1 (where the backbone has something to adapt). Multiplier 0 is feature extraction.', '',
           lr_table(results.get('lr_multiplier')), '',
           f'## Experiment 3: domain shift ({shift_size(results)} target examples; transfer = fine-tuning)',
           shift_table(results.get('domain_shift')), '',
           '## Gradual unfreezing and discriminative LRs (the original study describes them, with no table)',
           gradual_table(results.get('gradual_unfreezing')), '',
           '## Forgetting of the source task',
           'The trained backbone under the pre-trained source head, on held-out source examples, against the source '
           'model itself: accuracy lost (positive = forgotten), at the selected step.', '',
           '### By feature-LR multiplier (Experiment 2)', forgetting_table(results.get('lr_multiplier'), by='lr_mult'),
           '', '### Gradual unfreezing and discriminative LRs', forgetting_table(results.get('gradual_unfreezing'),
                                                                                 by='data_size'), '',
           '## Out of distribution: trained at one shift, tested at every shift',
           'Each model is also tested on its seed\'s target test set rendered at every shift of the experiment '
           f'(its first examples, as many as the test curve reads: docs/how-it-works.md). Experiment 3, '
           f'{shift_size(results)} labelled target '
           'examples:', '',
           *[part for name in ('fine_tuning', 'feature_extraction', 'scratch')
             for part in (ood_matrix(results.get('domain_shift'), name), '')],
           'Experiment 1, trained at shift 0 (LP-FT against fine-tuning, Kumar et al. 2022):', '',
           *[part for name in ('lp_ft', 'fine_tuning') for n in (sorted(results['strategies'].config['data_sizes'])
                                                                   if 'strategies' in results else [])
             for part in (f'n = {n}:', '', ood_matrix(results.get('strategies'), name, trained=[0.0], data_size=n),
                          '')],
           *adaptation.section(results.get('domain_adaptation_semi'), outputs),
           '## The decision framework as an advisor, scored on held-out seeds', decision, '',
           "## The original study's claims, checked", claims_intro(results), '', claims_table(results, fixed or {}), '',
           'The two protocols do not train equally long: the search\'s budget follows the largest data size '
           '(`configs/common.py: budget`) and selection stops at any evaluation, '
           'the fixed protocol trains its own fixed number of steps (`use_fixed`). Per synthetic experiment:', '',
           budgets_table(results, fixed or {}), '',
           extensions_intro(outputs), '',
           "### Experiment 1 on scikit-learn's digits (source 0-4, target 5-9, CNN backbone)", '',
           workdir_tables(outputs, 'strategies_digits'), '',
           LAYERS_INTRO, '',
           *layer_block(outputs, '### Synthetic task (MLP; shift 0 and shift 3)', 'layer_transfer'),
           *layer_block(outputs, '### Digits (CNN; unrotated)', 'layer_transfer_digits'),
           caveats(results, outputs)]
  return '\n'.join(parts)


def verdicts_table(results: claims.Results, fixed: claims.Results) -> str:
  """The short form for the README: claim, verdicts per data source, and the fixed protocol's on synthetic data (the
  numbers are in REPORT.md)."""
  rows = [[claim.text, f'**{found[claims.SYNTHETIC].verdict}**', f'**{found[claims.DIGITS].verdict}**',
           fixed_verdict(found[claims.SYNTHETIC], fixed_found[claims.SYNTHETIC])]
          for (claim, found), (_, fixed_found) in zip(claims.check_all(results), claims.check_all(fixed))]
  return tables.markdown_table(["The original study's claim", 'Synthetic', 'Digits', 'Synthetic, fixed setting'],
                               rows)


def texts(outputs: str) -> dict[str, str]:
  """REPORT.md's, claims.md's and findings.md's text (file name -> text), a pure function of the workdirs under
  `outputs`."""
  results, fixed = load_results(outputs), load_results(outputs, '_fixed')
  return {'REPORT.md': render(results, decision_summary(outputs), outputs, fixed),
          'claims.md': verdicts_table(results, fixed) + '\n',
          'findings.md': findings.render(results, fixed, outputs)}


def write(outputs: str) -> list[str]:
  """Writes `<outputs>/REPORT.md`, `claims.md` (the verdicts alone) and `findings.md` (results in words); returns
  their paths."""
  paths = []
  for name, text in texts(outputs).items():
    paths.append(os.path.join(outputs, name))
    io.write_text(paths[-1], text)
  return paths
