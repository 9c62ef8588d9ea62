"""The shared vocabulary every layer speaks: labelled examples, domain-adaptation data and the grid's lanes.

Nothing here imports anything of the project's, so the data, train, run and report layers can all depend on it.
The grid axes are defined once, here, by `Lane`: lane stacking, the store's run keys, summaries and comparisons all
read `AXES`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class Split(NamedTuple):
  """Labelled examples: inputs (n, *example_shape) float32 and integer labels (n,)."""

  x: Any
  y: Any


class AdaptData(NamedTuple):
  """What domain adaptation trains on besides the labelled target pool."""

  source: Split  # labelled source examples (unshifted)
  unlabeled: Any  # unlabelled target inputs at the lane's shift


class Lane(NamedTuple):
  """The per-run values of one grid cell; each field is a scalar (or a batch of them under vmap).

  The fields are the grid axes, in the order records list them. An axis a strategy ignores (lr_mult,
  layers_copied) is None in its records and `UNUSED[axis]` in its lane.
  """

  seed: Any  # int32: picks the world, data, initialisation and minibatch order
  data_size: Any  # int32: labelled target examples the run may see (a prefix of the pool)
  shift: Any  # float32: domain shift of the target inputs
  lr_mult: Any  # float32: backbone LR multiplier (strategies with backbone='lr_mult')
  layers_copied: Any  # int32: backbone groups copied from the base network (layer-transfer strategies)


AXES: tuple[str, ...] = Lane._fields  # every grid axis, in record order
COMPARED_AXES = AXES[1:]  # the axes results are summarised over seeds along (every axis but the seed)
AXIS_DTYPES = {'seed': np.int32, 'data_size': np.int32, 'shift': np.float32, 'lr_mult': np.float32,
               'layers_copied': np.int32}
UNUSED = {'lr_mult': 1.0, 'layers_copied': -1}  # lane value of an axis the strategy ignores (nothing reads it)
OPTIONAL_AXES = tuple(UNUSED)  # None in the records of strategies that ignore them


def stack_lanes(cells) -> Lane:
  """Grid cells (dicts over AXES) -> one `Lane` of numpy arrays, one entry per cell."""
  def value(cell, axis):
    v = cell.get(axis)
    return UNUSED[axis] if v is None else v
  return Lane(**{a: np.array([value(c, a) for c in cells], AXIS_DTYPES[a]) for a in AXES})
