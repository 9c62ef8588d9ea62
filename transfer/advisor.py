"""The original study's decision framework as an executable advisor, with thresholds fitted to measurements.

The framework: little target data and similar domains -> feature extraction; little data and different domains ->
domain adaptation; moderate data -> gradual unfreezing; lots of data -> fine-tuning. The advisor measures the two
inputs the framework needs, the labelled target size and a domain distance (squared MMD between the pre-trained
backbone's features of source and target inputs), and applies the framework with thresholds (`little`, `lots`,
`far`) that are fitted on some seeds and scored on others.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

from typing import TYPE_CHECKING

import flax.linen as nn
import jax

from transfer import adapt

if TYPE_CHECKING:
  from transfer.data import DataSource

LITTLE_SIMILAR, LITTLE_DIFFERENT, MODERATE, LOTS = ('feature_extraction', 'dann', 'gradual_unfreezing',
                                                    'fine_tuning')


@dataclasses.dataclass(frozen=True)
class Thresholds:
  """n < little: little data; n >= lots: lots of data; distance >= far: different domains."""

  little: float
  lots: float
  far: float


def recommend(n: int, distance: float, t: Thresholds) -> tuple[str, str]:
  """The framework's strategy for `n` labelled target examples at domain `distance`, and why."""
  if n < t.little:
    if distance < t.far:
      return LITTLE_SIMILAR, f'little data (n={n} < {t.little:g}) and similar domains ({distance:.4f} < {t.far:.4f})'
    return LITTLE_DIFFERENT, f'little data (n={n} < {t.little:g}) and different domains ({distance:.4f} >= {t.far:.4f})'
  if n < t.lots:
    return MODERATE, f'moderate data ({t.little:g} <= n={n} < {t.lots:g})'
  return LOTS, f'lots of data (n={n} >= {t.lots:g})'


def domain_distance(seed: jax.Array, shift: jax.Array, source_params, arrays, *, data: DataSource,
                    model: nn.Module, samples: int) -> jax.Array:
  """Squared MMD between backbone features of up to `samples` source and unlabelled target inputs (pure,
  vmappable)."""
  source_x, target_x = data.domain_samples(arrays, seed, shift, samples)
  features = lambda x: model.apply({'params': source_params}, x, method=model.features)
  return adapt.mmd_loss(features(source_x), features(target_x))


@dataclasses.dataclass(frozen=True)
class Cell:
  """One grid cell as the advisor sees it: size, mean distance, and mean accuracy per strategy."""

  data_size: int
  shift: float
  distance: float
  accuracy: dict[str, float]

  @property
  def best(self) -> str:
    return max(self.accuracy, key=self.accuracy.get)


def regret(cell: Cell, strategy: str) -> float:
  """Accuracy lost by running `strategy` instead of the cell's best."""
  return cell.accuracy[cell.best] - cell.accuracy[strategy]


def fit_thresholds(cells: Sequence[Cell]) -> Thresholds:
  """The thresholds whose recommendations lose the least accuracy on `cells`, searched over cut points
  between the grid's own sizes and distances (ties: the first found, smallest thresholds first)."""
  sizes = sorted({c.data_size for c in cells})
  distances = sorted({c.distance for c in cells})
  size_cuts = [s + 0.5 for s in sizes[:-1]] + [-math.inf, math.inf]
  far_cuts = [(a + b) / 2 for a, b in zip(distances, distances[1:])] + [-math.inf, math.inf]
  best, best_loss = None, math.inf
  for little, lots, far in itertools.product(sorted(size_cuts), sorted(size_cuts), sorted(far_cuts)):
    if lots < little:
      continue
    t = Thresholds(little, lots, far)
    loss = sum(regret(c, recommend(c.data_size, c.distance, t)[0]) for c in cells)
    if loss < best_loss - 1e-12:
      best, best_loss = t, loss
  return best
