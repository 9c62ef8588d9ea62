"""The shared vocabulary every layer speaks: labelled examples, domain-adaptation data and the grid's lanes.

Nothing here imports anything of the project's, so the data, train, run and report layers can all depend on it.
The grid axes and the hyperparameters are defined once, here, by `Lane`: lane stacking, the store's run keys,
summaries, comparisons and the search all read `AXES` and `HPARAMS`.
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
  """The per-run values of one lane; each field is a scalar (or a batch of them under vmap).

  The first fields are the grid axes, in the order records list them; an axis a strategy ignores (lr_mult,
  layers_copied) is None in its records and `UNUSED[axis]` in its lane. The rest are the run's hyperparameters,
  which a search varies across lanes of one compiled program. `lr_mult` is both: an axis where the experiment
  sweeps it (the backbone-LR experiment), a searched hyperparameter elsewhere. The last, `pretrained`, is neither:
  it lets two strategies share one program (strategies.program).
  """

  seed: Any  # int32: picks the world, data, initialisation and minibatch order
  data_size: Any  # int32: labelled target examples the run may see (a prefix of the pool)
  shift: Any  # float32: domain shift of the target inputs
  lr_mult: Any  # float32: backbone LR / head LR (strategies with backbone='lr_mult')
  layers_copied: Any  # int32: backbone groups copied from the base network (layer-transfer strategies)
  lr: Any = 1e-3  # float32: Adam learning rate of the head; backbone groups get lr x their multiplier
  weight_decay: Any = 0.0  # float32: decoupled weight decay of every trained group (AdamW), scaled like the LR
  l2_sp_weight: Any = 0.01  # float32: alpha of the L2-SP penalty (strategies with l2_sp)
  align_weight: Any = 1.0  # float32: weight of the feature-alignment term (domain-adaptation strategies)
  pretrained: Any = True  # bool: the lane starts from the base network, where its program's strategy does; False in
  #                         the lanes a fresh strategy runs in a pre-trained strategy's program (strategies.program)


AXES: tuple[str, ...] = Lane._fields[:5]  # every grid axis, in record order
RUN_KEY = ('strategy',) + AXES  # one run (a record of results.json) per grid cell of a strategy
LANE_KEY = RUN_KEY + ('candidate',)  # one lane (curves.npz) per candidate setting of a run
COMPARED_AXES = AXES[1:]  # the axes results are summarised over seeds along (every axis but the seed)
CELL_LABEL = {'data_size': 'n', 'shift': 'shift', 'lr_mult': 'lrmult', 'layers_copied': 'k', 'seed': 'seed'}  # order
HPARAMS = ('lr', 'lr_mult', 'weight_decay', 'l2_sp_weight', 'align_weight')  # what a search can vary per lane
DTYPES = {'seed': np.int32, 'data_size': np.int32, 'shift': np.float32, 'lr_mult': np.float32,
          'layers_copied': np.int32, 'lr': np.float32, 'weight_decay': np.float32, 'l2_sp_weight': np.float32,
          'align_weight': np.float32, 'pretrained': np.bool_}
UNUSED = {'lr_mult': 1.0, 'layers_copied': -1}  # lane value of an axis the strategy ignores (nothing reads it)
OPTIONAL_AXES = tuple(UNUSED)  # None in the records of strategies that ignore them


def cell_label(key: dict) -> str:
  """A grid cell as a name: its axes (those its strategy has) in `CELL_LABEL`'s order, e.g. 'n100_shift0.5_seed3'
  (TensorBoard's tag suffixes, the exported models' names)."""
  def number(v):
    return f'{v:g}' if isinstance(v, float) else str(v)
  return '_'.join(f'{prefix}{number(key[axis])}' for axis, prefix in CELL_LABEL.items() if key.get(axis) is not None)


def stack_lanes(cells) -> Lane:
  """Lanes given as dicts (grid axes, and hyperparameters where set) -> one `Lane` of numpy arrays."""
  def value(cell, field):
    v = cell.get(field)
    return (UNUSED.get(field) if field in UNUSED else Lane._field_defaults[field]) if v is None else v
  return Lane(**{f: np.array([value(c, f) for c in cells], DTYPES[f]) for f in Lane._fields})
