"""REPORT.md's domain-adaptation sections: the unsupervised setting (the methods' own: the same classes, no target
label), each data source beside its fixed-protocol twin with its label-free validators judged on the target labels,
then the semi-supervised setting (a few labelled target examples of new classes) against plain fine-tuning."""

from __future__ import annotations

import os

import numpy as np

from transfer import io
from transfer.report import claims
from transfer.report import stats
from transfer.report import tables
from transfer.report import validators as validators_report

UNSUPERVISED = {'domain_adaptation': ('synthetic', ''), 'domain_adaptation_moons': ('moons', 'moons'),  # DA's own
                'domain_adaptation_digits': ('digits', 'digits')}  # setting: workdir -> data source, config variant


def section(semi: claims.Experiment | None, outputs: str | None) -> list[str]:
  """REPORT.md's domain-adaptation lines: the unsupervised tables of every workdir of UNSUPERVISED run under
  `outputs` (None: not run), then the semi-supervised experiment `semi`'s setting and table."""
  return ['## Domain adaptation', UNSUPERVISED_INTRO, '', *unsupervised_section(outputs), '',
          *semi_supervised_heading(semi), adaptation_table(semi), '']


UNSUPERVISED_INTRO = """### Unsupervised: the same classes, no target label (the methods' own setting)

Every strategy starts from the pre-trained source model and trains on labelled source examples and unlabelled
target inputs; `source_only` without an alignment term. Selection reads no target label: a label-free validator
(`selection.validator`, named under each table) scores every candidate and evaluation from held-out source examples
and held-out unlabelled target inputs; the oracle (the best target test accuracy over every candidate and step,
read from target labels) is what selection could have reached, never a result. PAD: the proxy A-distance between
source and target backbone features (2 = linearly separable, 0 = indistinguishable), before and after adaptation,
of the selected runs; DANN's discriminator accuracy at the selected step (0.5 = fooled). The selected step (median
over seeds) and the held-out source accuracy there show what selection saw. Below each searched table, every
validator judged against the target labels (a diagnostic: its rank correlation with target accuracy over the
candidates and evaluations, and the test-curve accuracy, on the first 500 test examples, at what it selects)."""


def unsupervised_table(e: claims.Experiment) -> str:
  """Per shift and strategy: accuracy, gain over source_only, the oracle, PAD before/after, discriminator accuracy."""
  names = [s for s in e.config['strategies'] if s != 'source_only'] + ['source_only']
  rows = []
  for shift in sorted(e.config['shifts']):
    keys = {'data_size': 0, 'shift': shift}
    for name in names:
      mine = [r for r in e.records if r['strategy'] == name and r['shift'] == shift and r['test_accuracy'] is not None]
      diag = lambda k, mine=mine: stats.mean_ci([r['adaptation'][k] for r in mine if r.get('adaptation') and
                                                 r['adaptation'][k] is not None])
      gain = '' if name == 'source_only' else tables.fmt(stats.paired(e.records, name, 'source_only', e.cell(**keys)),
                                                        signed=True)
      oracle = stats.accuracy(e.records, name, e.cell(**keys), metric='oracle_test_accuracy')
      step = float(np.median([r['selected']['step'] for r in mine])) if mine else float('nan')
      vals = [r['val_accuracy'] for r in mine if r.get('val_accuracy') is not None]  # none under the fixed protocol
      val = f'{np.mean(vals):.3f}' if vals else 'no validation'
      rows.append([f'{shift:g}', name, tables.ours(e, name, **keys), gain, tables.fmt(oracle),
                   f'{diag("pad_before")[0]:.2f} -> {diag("pad_after")[0]:.2f}',
                   tables.fmt(diag('domain_accuracy')) if name == 'dann' else '', f'{step:g} ({val})'])
  return tables.markdown_table(['Domain Shift', 'strategy', 'target accuracy (selected without target labels)',
                                'gain over source_only', 'oracle (selected on target labels)', 'PAD before -> after',
                                'discriminator accuracy', 'selected step (source val. accuracy)'], rows)


def unsupervised_section(outputs: str | None) -> list[str]:
  """The unsupervised tables of every data source run under `outputs`, each beside its fixed-protocol twin."""
  if outputs is None:
    return ['not run']
  parts = []
  for name, (source, variant) in UNSUPERVISED.items():
    for fixed in (False, True):
      loaded = io.read_workdir(os.path.join(outputs, name + ('_fixed' if fixed else '')))
      if loaded is None:
        continue
      variants = ','.join(filter(None, [variant, 'fixed' if fixed else '']))
      command = f'python -m scripts.run --config=configs/domain_adaptation.py{":" + variants if variants else ""}'
      how = "the fixed setting (the papers' defaults), last step" if fixed else 'validation-selected'
      e = claims.Experiment(*loaded)
      parts += [f'#### {source}: {how} (`{command}`)', '', unsupervised_table(e), '']
      if not fixed:
        default = e.config.get('selection', {}).get('validator')
        parts += [f'Selected by `{default}`. Every validator, judged with the target labels:', '',
                  validators_report.table(e.records), '']
  return parts or ['not run']


def semi_supervised_heading(e: claims.Experiment | None) -> list[str]:
  """The semi-supervised DA subsection's title and setting, from its config."""
  if e is None:
    return ['### Semi-supervised', '']
  c, d = e.config, e.config['data']
  n = ', '.join(str(x) for x in c['data_sizes'])
  return [f'### Semi-supervised: {n} labelled target examples of {d["target_classes"]} new classes, '
          f'{d["unlabeled_pool"]:,} unlabelled',
          f'Each DA run also trains on {d["adapt_source_pool"]:,} labelled source examples through the pre-trained '
          'source head; the alignment weight is a searched hyperparameter like the others. Gains against plain '
          'fine-tuning.', '']


def adaptation_table(e: claims.Experiment | None) -> str:
  """The semi-supervised experiment per shift: each strategy's accuracy and each DA strategy's gain over plain
  fine-tuning."""
  if not e:
    return 'not run'
  names = [s for s in ('fine_tuning', 'dann', 'coral', 'mmd', 'scratch') if s in e.config['strategies']]
  rows = []
  for shift in sorted(e.config['shifts']):
    keys = {'data_size': e.only('data_sizes'), 'shift': shift}
    rows.append([f'{shift:g}'] + [tables.ours(e, s, **keys) for s in names] +
                [tables.fmt(stats.paired(e.records, s, 'fine_tuning', e.cell(**keys)), signed=True)
                 for s in ('dann', 'coral', 'mmd')])
  return tables.markdown_table(['Domain Shift'] + names + [f'{s} - fine_tuning' for s in ('dann', 'coral', 'mmd')],
                               rows)
