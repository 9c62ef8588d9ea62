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
from scipy import stats

from transfer.run import selection
from transfer.train import strategies
from transfer.train import validators

CURVES = ('val_accuracy', 'val_loss', 'score', 'test_accuracy', 'test_loss', 'train_loss', 'source_loss',
          'target_loss', 'alignment_loss', 'domain_accuracy', *validators.NAMES)  # per evaluation
# One value per lane (ood_accuracy: one per shift of ood_shifts). source_accuracy and ood_accuracy are measured once,
# at the lane's own selected step (target.final_evaluation), which is the cell's when the lane is the chosen candidate.
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


def lane_curve(lane: dict, name: str) -> np.ndarray:
  """A lane's curve `name`; for a lane stored before it was recorded, what it was then: `score` the validation
  accuracy where the validation loss is finite, a validator NaN."""
  curves = lane['curves']
  if name in curves:
    return curves[name]
  if name == 'score':
    return np.where(np.isfinite(curves['val_loss']), curves['val_accuracy'], -np.inf)
  return np.full_like(curves['val_loss'], np.nan)


def validator_diagnostics(curves: dict) -> dict:
  """What each label-free validator would select in an unsupervised cell, judged with the test labels (a
  diagnostic, reported apart from results; selection never reads it): per validator, the candidate and evaluation
  it picks (selection.choose on its score, ties to the lower held-out source loss), the test-curve accuracy there
  (the first 500 test examples) and the Spearman rank correlation of its score with that accuracy over every
  candidate and evaluation where both are finite (None where either is constant). Also `oracle`: the best
  test-curve accuracy."""
  test = curves['test_accuracy']
  out = {}
  for name in validators.NAMES:
    score = validators.SIGNS[name] * curves[name]
    chosen = selection.choose(score, curves['source_val_loss'])
    finite = np.isfinite(score) & np.isfinite(test)
    rho = None
    if finite.sum() > 2 and np.ptp(score[finite]) > 0 and np.ptp(test[finite]) > 0:
      rho = number(stats.spearmanr(score[finite], test[finite]).statistic)
    out[name] = {'candidate': None if chosen is None else chosen[0],
                 'evaluation': None if chosen is None else chosen[1],
                 'test_curve_accuracy': None if chosen is None else number(test[chosen]), 'spearman': rho}
  out['oracle'] = {'test_curve_accuracy': number(np.nanmax(test, initial=-np.inf))}
  return out


def number(value) -> float | None:
  """A JSON-safe float: None for NaN or inf (a diverged or absent value)."""
  value = float(value)
  return value if math.isfinite(value) else None


def cell_record(strategy: strategies.Strategy, cell: dict, lanes: list[dict], *, mode: str, eval_every: int,
                ood_shifts: tuple[float, ...], validator: str = 'source_val_accuracy') -> dict:
  """The record of one grid cell from its lanes (candidate 0 first; see store.LaneStore for a lane's fields).

  Besides the test metrics at the chosen candidate and step: `source_accuracy` there (the source task under the
  pre-trained source head) and `forgetting` (the source model's own accuracy minus it), for runs that start from a
  source model; `ood_accuracy`, the test accuracy at every shift of the experiment (`ood_shifts`), keyed by shift.

  A cell of the unsupervised protocol (a domain-adaptation strategy with no labelled target example) is selected
  by `validator` (the lanes' `score` curve), its `val_accuracy` and `val_loss` are the held-out source examples',
  and it carries `validator` and `validators` (validator_diagnostics: what every validator would have picked).
  """
  curves = {c: np.stack([lane_curve(lane, c) for lane in lanes]) for c in CURVES}  # (candidates, evaluations)
  unsupervised = strategy.adapts and cell['data_size'] == 0 and np.isfinite(curves['source_val_loss']).any()
  if unsupervised:
    curves['val_accuracy'], curves['val_loss'] = curves['source_val_accuracy'], curves['source_val_loss']
  if mode == 'fixed':
    chosen = None if lanes[0]['scalars']['diverged'] else (0, curves['test_accuracy'].shape[1] - 1)
  else:
    chosen = selection.choose(curves['score'], curves['val_loss'])
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
                  ood_accuracy={f'{s:g}': number(a) for s, a in zip(ood_shifts, at['ood_accuracy'])})
    selected = {'candidate': c, 'step': (e + 1) * eval_every,
                **{h: lanes[c]['hparams'][h] for h in strategy.hyperparameters}}
  adaptation = {}
  if strategy.adapts and chosen is not None:  # the selected lane's diagnostics
    c, e = chosen
    adaptation = {'adaptation': {'pad_before': number(lanes[c]['scalars']['pad_before']),
                                 'pad_after': number(lanes[c]['scalars']['pad_after']),
                                 'alignment_loss': number(curves['alignment_loss'][c, e]),
                                 'domain_accuracy': number(curves['domain_accuracy'][c, e])}}
  if unsupervised and mode == 'search':
    adaptation.update(validator=validator, validators=validator_diagnostics(curves))
  return dict(strategy=strategy.name, **cell, **values, **adaptation,
              oracle_test_accuracy=oracle(lanes),
              selected=selected, val_size=int(lanes[0]['scalars']['val_size']), candidates=len(lanes),
              candidates_diverged=sum(bool(lane['scalars']['diverged']) for lane in lanes),
              diverged=chosen is None)
