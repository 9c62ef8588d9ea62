"""Model selection on validation data: which candidate and which evaluation point of a cell become its result.

`choose` sees a validation score and a validation loss only (the held-out labelled target examples' accuracy and
loss, or, for unsupervised domain adaptation, a label-free validator's score and the held-out source loss): no
other metric is passed to it, so nothing it decides can depend on the test set (tests/test_selection.py permutes
the test labels and checks every choice stays the same).
"""

from __future__ import annotations

import numpy as np


def early_stop(score: np.ndarray) -> np.ndarray:
  """Per candidate (rows), the first evaluation at its best score; NaN and -inf never count as best."""
  return np.argmax(np.where(np.isfinite(score), score, -np.inf), axis=1)


def choose(score: np.ndarray, loss: np.ndarray) -> tuple[int, int] | None:
  """(candidate, evaluation) with the best validation score (higher is better), from (candidates, evaluations)
  arrays.

  An evaluation counts only where its score and its validation loss are finite (a model whose parameters blew up
  can still produce an argmax, but not a finite loss). Each candidate stops early at its first counting evaluation
  of best score; across candidates the best score there wins, ties going to the lower validation loss there, then
  to the lower candidate index (candidate 0 is the fixed setting). Returns None when no evaluation counts (every
  candidate diverged, or there was no validation data).
  """
  score = np.where(np.isfinite(loss) & np.isfinite(score), score, np.nan)
  stops = early_stop(score)
  rows = np.arange(len(stops))
  best_score, loss = score[rows, stops], loss[rows, stops]
  valid = ~np.isnan(best_score)
  if not valid.any():
    return None
  best = min(rows[valid], key=lambda c: (-best_score[c], loss[c], c))
  return int(best), int(stops[best])
