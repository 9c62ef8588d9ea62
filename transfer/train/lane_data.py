"""The data a target run reads, made once per (seed, shift) and shared by every lane that has that seed and shift.

Every strategy and candidate setting of a seed at a shift trains and evaluates on the same target pool, test set,
out-of-distribution test sets, held-out source examples and (for domain adaptation) adaptation data and its
source validation set: `render` makes
them for one (seed, shift), `DataTable` holds them for every (seed, shift) of a sweep (rendered by one small
program, `make_table`, before any lane runs), and a lane reads its own row (`DataTable.row`). The training programs
then hold no data generator: what a lane carries is its row index, computed from its traced seed and shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from transfer.data.source import DataSource
from transfer.types import AdaptData
from transfer.types import Lane
from transfer.types import Split

EVAL_SAMPLES = 500  # test examples per other shift (out of distribution) and held-out source examples (forgetting)


class LaneData(NamedTuple):
  """What one (seed, shift)'s runs train and evaluate on."""

  pool: Split  # the labelled target pool (a lane of data size n trains on its first n, split for validation)
  test: Split  # the target test set at the lane's shift
  ood: Split  # the first EVAL_SAMPLES test examples at every shift of ood_shifts, stacked: x (ood_shifts, m, ...),
  #            y (ood_shifts, m)
  source: Split  # the first EVAL_SAMPLES held-out source examples: the source task, which forgetting is measured on
  adapt: AdaptData | None  # labelled source and unlabelled target inputs (None where no strategy adapts)
  source_val: Split | None  # EVAL_SAMPLES labelled source examples that neither pre-training nor adaptation trains
  #                           on: what validates unsupervised domain adaptation (None where no strategy adapts)


def render(arrays, seed: jax.Array, shift: jax.Array, *, data: DataSource, ood_shifts: Sequence[float],
           adapts: bool) -> LaneData:
  """The data of one seed at one shift (pure: vmappable over seeds and shifts)."""
  lane = Lane(seed=seed, data_size=jnp.int32(0), shift=shift, lr_mult=jnp.float32(1.0), layers_copied=jnp.int32(-1))
  pool, test = data.target_splits(arrays, lane)
  tests = [data.target_splits(arrays, lane._replace(shift=jnp.float32(s)))[1] for s in ood_shifts]
  m = min(EVAL_SAMPLES, tests[0].y.shape[0])
  ood = Split(jnp.stack([t.x[:m] for t in tests]), jnp.stack([t.y[:m] for t in tests]))
  _, source_test = data.source_splits(arrays, seed)
  m = min(EVAL_SAMPLES, source_test.y.shape[0])
  return LaneData(pool, test, ood, Split(source_test.x[:m], source_test.y[:m]),
                  data.adapt_data(arrays, lane) if adapts else None,
                  data.source_validation(arrays, seed, EVAL_SAMPLES) if adapts else None)


class DataTable(NamedTuple):
  """`LaneData` of every (seed, shift) of a sweep, stacked: row `seed * len(shifts) + i` is seed at `shifts[i]`."""

  shifts: jax.Array  # (S,) float32: the sweep's shifts, in the order the rows take them
  rows: LaneData  # every leaf with a leading (seeds * S,) axis

  def row(self, lane: Lane) -> LaneData:
    """The lane's own row (traced: its seed and shift pick it)."""
    index = lane.seed * self.shifts.shape[0] + jnp.argmin(jnp.abs(self.shifts - lane.shift))
    return jax.tree.map(lambda a: a[index], self.rows)


def table_rows(seeds: int, shifts: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
  """The (seed, shift) of every row of a table, in row order."""
  return (np.repeat(np.arange(seeds, dtype=np.int32), len(shifts)),
          np.tile(np.asarray(shifts, np.float32), seeds))


def make_table(arrays, seeds: jax.Array, shifts: jax.Array, grid_shifts: jax.Array, *, data: DataSource,
               ood_shifts: Sequence[float], adapts: bool) -> DataTable:
  """Every row's `LaneData` (rows as `table_rows` lists them), in one vmapped program."""
  rows = jax.vmap(lambda seed, shift: render(arrays, seed, shift, data=data, ood_shifts=ood_shifts,
                                             adapts=adapts))(seeds, shifts)
  return DataTable(grid_shifts, rows)
