"""Model selection on validation data: which candidate and which evaluation point of a cell become its result.

`choose` sees validation accuracy and loss only: no other metric is passed to it, so nothing it decides can depend
on the test set (tests/test_selection.py permutes the test labels and checks every choice stays the same).
"""

from __future__ import annotations

import numpy as np


def early_stop(val_accuracy: np.ndarray) -> np.ndarray:
  """Per candidate (rows), the first evaluation at its best validation accuracy; NaN never counts as best."""
  accuracy = np.where(np.isnan(val_accuracy), -np.inf, val_accuracy)
  return np.argmax(accuracy, axis=1)


def choose(val_accuracy: np.ndarray, val_loss: np.ndarray) -> tuple[int, int] | None:
  """(candidate, evaluation) with the best validation accuracy, from (candidates, evaluations) arrays.

  An evaluation counts only where its validation loss is finite (a model whose parameters blew up can still
  produce an argmax, but not a finite loss). Each candidate stops early at its first counting evaluation of best
  validation accuracy; across candidates the best accuracy there wins, ties going to the lower validation loss
  there, then to the lower candidate index (candidate 0 is the fixed setting). Returns None when no evaluation
  counts (every candidate diverged, or there was no validation data).
  """
  val_accuracy = np.where(np.isfinite(val_loss), val_accuracy, np.nan)
  stops = early_stop(val_accuracy)
  rows = np.arange(len(stops))
  accuracy, loss = val_accuracy[rows, stops], val_loss[rows, stops]
  valid = ~np.isnan(accuracy)
  if not valid.any():
    return None
  best = min(rows[valid], key=lambda c: (-accuracy[c], loss[c], c))
  return int(best), int(stops[best])
