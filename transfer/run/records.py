"""One result per grid cell, from the lanes of its candidate settings: what results.json's runs hold.

Under `selection.mode = 'search'` the cell's result is the candidate and evaluation step that run/selection.py
chooses from validation data alone; the test metrics are read there (measured once, on the parameters the lane kept
at that step). Under 'fixed' it is the one candidate (the fixed setting) at the last step. Every record also carries
the oracle: the whole test set's accuracy at each candidate's best test-curve evaluation (the curve holds the first
500 test examples) or at its selected step where that is higher, the best over candidates; an upper bound on what
selection reached, never a result.
"""

from __future__ import annotations

import math

import numpy as np

from transfer.run import selection
from transfer.train import strategies

CURVES = ('val_accuracy', 'val_loss', 'test_accuracy', 'test_loss', 'train_loss', 'source_loss', 'target_loss',
          'alignment_loss', 'domain_accuracy')  # per evaluation
# One value per lane (ood_accuracy: one per test shift). source_accuracy and ood_accuracy are measured once, at the
# lane's own selected step (target.final_evaluation), which is the cell's when the lane is the chosen candidate.
# The record's value measured once at the lane's selected step (target.final_evaluation) -> the lane's name for it.
# The test curve is on the first 500 test examples; the record's test accuracy and loss are the whole test set's.
AT_SELECTED = {'test_accuracy': 'selected_test_accuracy', 'test_loss': 'selected_test_loss',
               'source_accuracy': 'source_accuracy', 'ood_accuracy': 'ood_accuracy'}
SCALARS = ('final_train_loss', 'val_size', 'diverged', 'source_accuracy_before', 'pad_before', 'pad_after',
           'oracle_test_accuracy', *AT_SELECTED.values())


def at_selected(lane: dict, field: str, evaluation: int):
  """A lane's value of the record's `field` (of AT_SELECTED) at its selected step; a lane stored before these were
  measured once holds them as curves (on the whole test set), read at `evaluation`."""
  name = AT_SELECTED[field]
  return lane['scalars'][name] if name in lane['scalars'] else lane['curves'][field][evaluation]


def oracle(lanes: list[dict]) -> float | None:
  """The best whole-test accuracy over the candidates' oracle steps (each lane's best test-curve evaluation, or its
  selected step where that scores higher: so at least the cell's result); of stored lanes older than that, the best
  test accuracy over every candidate and evaluation."""
  values = np.array([lane['scalars']['oracle_test_accuracy'] if 'oracle_test_accuracy' in lane['scalars'] else
                     np.nanmax(lane['curves']['test_accuracy'], initial=-np.inf) for lane in lanes], float)
  finite = values[np.isfinite(values)]
  return float(finite.max()) if finite.size else None


def number(value) -> float | None:
  """A JSON-safe float: None for NaN or inf (a diverged or absent value)."""
  value = float(value)
  return value if math.isfinite(value) else None


def cell_record(strategy: strategies.Strategy, cell: dict, lanes: list[dict], *, mode: str, eval_every: int,
                shifts: tuple[float, ...]) -> dict:
  """The record of one grid cell from its lanes (candidate 0 first; see store.LaneStore for a lane's fields).

  Besides the test metrics at the chosen candidate and step: `source_accuracy` there (the source task under the
  pre-trained source head) and `forgetting` (the source model's own accuracy minus it), for runs that start from a
  source model; `ood_accuracy`, the test accuracy at every shift of the experiment (`shifts`), keyed by shift.
  """
  curves = {c: np.stack([lane['curves'][c] for lane in lanes]) for c in CURVES}  # (candidates, evaluations)
  if mode == 'fixed':
    chosen = None if lanes[0]['scalars']['diverged'] else (0, curves['test_accuracy'].shape[1] - 1)
  else:
    chosen = selection.choose(curves['val_accuracy'], curves['val_loss'])
  values = dict(test_accuracy=None, test_loss=None, train_loss=None, val_accuracy=None, val_loss=None,
                source_accuracy=None, forgetting=None, ood_accuracy=None)
  selected = None
  if chosen is not None:
    c, e = chosen
    at = {**{k: v[c, e] for k, v in curves.items()}, **{k: at_selected(lanes[c], k, e) for k in AT_SELECTED}}
    train_loss = lanes[c]['scalars']['final_train_loss'] if mode == 'fixed' else at['train_loss']
    before = lanes[c]['scalars']['source_accuracy_before']
    values = dict(test_accuracy=number(at['test_accuracy']), test_loss=number(at['test_loss']),
                  train_loss=number(train_loss), val_accuracy=number(at['val_accuracy']),
                  val_loss=number(at['val_loss']), source_accuracy=number(at['source_accuracy']),
                  forgetting=number(before - at['source_accuracy']),
                  ood_accuracy={f'{s:g}': number(a) for s, a in zip(shifts, at['ood_accuracy'])})
    selected = {'candidate': c, 'step': (e + 1) * eval_every,
                **{h: lanes[c]['hparams'][h] for h in strategy.hyperparameters}}
  adaptation = {}
  if strategy.adapts and chosen is not None:  # the selected lane's diagnostics
    c, e = chosen
    adaptation = {'adaptation': {'pad_before': number(lanes[c]['scalars']['pad_before']),
                                 'pad_after': number(lanes[c]['scalars']['pad_after']),
                                 'alignment_loss': number(curves['alignment_loss'][c, e]),
                                 'domain_accuracy': number(curves['domain_accuracy'][c, e])}}
  return dict(strategy=strategy.name, **cell, **values, **adaptation,
              oracle_test_accuracy=oracle(lanes),
              selected=selected, val_size=int(lanes[0]['scalars']['val_size']), candidates=len(lanes),
              candidates_diverged=sum(bool(lane['scalars']['diverged']) for lane in lanes),
              diverged=chosen is None)
