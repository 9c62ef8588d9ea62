"""scikit-learn's bundled handwritten digits (1,797 8x8 images; read from the package, no network) as a transfer
task, in one of two modes:

- new classes (the default): source = digits 0-4, target = digits 5-9 (labels 0-4);
- same classes (`config.data.same_classes`): source = a fixed half of the images of every digit 0-9, target = the
  other half (labels 0-9, the source's classes): the setting of unsupervised domain adaptation, where the rotation
  (the shift) is the only difference between the domains.

Each seed draws its own target test set: a random 400 of the target images, the rest (496; same classes: 501) its
labelled pool and its unlabelled images (labels unused), so that the spread over seeds includes the test set's
sampling (`load` returns a fixed 400 / rest split of the arrays, which `ArrayData.draws_test` redraws per seed).
Pixels are scaled from 0..16 to [0, 1]. The target images' shift axis is a rotation (see transfer/data/arrays.py).
"""

from __future__ import annotations

import numpy as np

from transfer.data import arrays as arrays_lib
from transfer.errors import ConfigError

TEST_SIZE = 400  # target images each seed holds out as its test set; the other 496 (same classes: 501) are its pool
SOURCE_HELD_OUT = 0.1  # share of the source images held out to measure pre-training


def class_halves(y: np.ndarray) -> np.ndarray:
  """A fixed random half (rounded down) of the examples of each class: a boolean mask over `y`."""
  order = np.random.default_rng(0).permutation(len(y))
  mask = np.zeros(len(y), bool)
  for c in np.unique(y):
    members = order[y[order] == c]
    mask[members[:len(members) // 2]] = True
  return mask


def load(same_classes: bool = False) -> arrays_lib.Arrays:
  """The digits split into source / target / test arrays (deterministic: fixed permutations). The source is digits
  0-4 and the target 5-9 relabelled 0-4, or, with `same_classes`, half of every digit each, labels 0-9 in both."""
  try:
    from sklearn import datasets
  except ImportError as e:
    raise ConfigError("config.data.name = 'digits' needs scikit-learn: pip install -e '.[digits]'") from e
  digits = datasets.load_digits()
  x = (digits.images / 16.0).astype(np.float32)
  y = digits.target.astype(np.int32)
  if same_classes:
    source = class_halves(y)
    (source_x, source_y), (target_x, target_y) = (x[source], y[source]), (x[~source], y[~source])
  else:
    (source_x, source_y), (target_x, target_y) = (x[y < 5], y[y < 5]), (x[y >= 5], y[y >= 5] - 5)
  source_x, source_y, source_test_x, source_test_y = arrays_lib.hold_out(source_x, source_y, SOURCE_HELD_OUT,
                                                                          cap=len(x))
  order = np.random.default_rng(0).permutation(len(target_x))
  test, pool = np.sort(order[:TEST_SIZE]), np.sort(order[TEST_SIZE:])
  return arrays_lib.Arrays(source_x, source_y, source_test_x, source_test_y, target_x[pool], target_y[pool],
                           target_x[test], target_y[test], unlabeled_x=target_x[pool])


def dataset(config):
  """The digits as a Dataset (config.data.same_classes picks the split)."""
  return arrays_lib.dataset(config, load(same_classes=config.data.same_classes))

