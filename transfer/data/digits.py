"""scikit-learn's bundled handwritten digits (1,797 8x8 images; read from the package, no network) as a transfer
task: source = digits 0-4, target = digits 5-9 (labels 0-4), target test = a fixed held-out 400 of the 5-9 images.

Pixels are scaled from 0..16 to [0, 1]. The target images' shift axis is a rotation (see transfer/data/arrays.py).
The unlabelled target examples domain adaptation uses are the target pool's images (their labels unused).
"""

from __future__ import annotations

import numpy as np

from transfer.data import arrays as arrays_lib
from transfer.errors import ConfigError

TEST_SIZE = 400  # held-out target (5-9) images; the remaining ~496 form the labelled target pool
SOURCE_HELD_OUT = 0.1  # share of the 0-4 images held out to measure pre-training


def load() -> arrays_lib.Arrays:
  """The digits split into source / target / test arrays (deterministic: a fixed permutation)."""
  try:
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ConfigError("config.data.name = 'digits' needs scikit-learn: pip install -e '.[digits]'") from e
  digits = datasets.load_digits()
  x = (digits.images / 16.0).astype(np.float32)
  y = digits.target.astype(np.int32)
  source_x, source_y, source_test_x, source_test_y = arrays_lib.hold_out(x[y < 5], y[y < 5], SOURCE_HELD_OUT,
                                                                          cap=len(x))
  target_x, target_y = x[y >= 5], y[y >= 5] - 5
  order = np.random.default_rng(0).permutation(len(target_x))
  test, pool = np.sort(order[:TEST_SIZE]), np.sort(order[TEST_SIZE:])
  return arrays_lib.Arrays(source_x, source_y, source_test_x, source_test_y, target_x[pool], target_y[pool],
                           target_x[test], target_y[test], unlabeled_x=target_x[pool])
