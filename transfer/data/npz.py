"""A user's own data: one .npz file, loaded without pickle and checked before anything compiles.

Arrays: `source_x, source_y, target_x, target_y, test_x, test_y` and optionally `target_unlabeled_x` (for domain
adaptation). Inputs are float with the same trailing shape (one example); labels are integer class indices from 0.
A fixed 10% of the source examples (at most 1,000) is held out to report pre-training's accuracy. With
`config.data.same_classes` the file declares that its target labels are the source's classes (same indices, same
meaning), which unsupervised domain adaptation needs; then every target and test label must be a source class.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from transfer.data import arrays as arrays_lib
from transfer.data import source
from transfer.errors import DataError

INPUTS = ('source_x', 'target_x', 'test_x', 'target_unlabeled_x')
LABELS = {'source_y': 'source_x', 'target_y': 'target_x', 'test_y': 'test_x'}  # labels -> their inputs
REQUIRED = ('source_x', 'source_y', 'target_x', 'target_y', 'test_x', 'test_y')
OPTIONAL = ('target_unlabeled_x',)
SOURCE_HELD_OUT, SOURCE_HELD_OUT_CAP = 0.1, 1000


def read(path: str) -> dict[str, np.ndarray]:
  """Every array in the file (allow_pickle=False: an object array is refused, never unpickled)."""
  if not os.path.isfile(path):
    raise DataError(f'config.data.path = {path!r}: no such file')
  if not zipfile.is_zipfile(path):  # np.load would take it for a pickle and offer to unpickle it
    raise DataError(f'{path}: not an .npz file (a zip of .npy arrays, as np.savez writes)')
  try:
    with np.load(path, allow_pickle=False) as f:
      return {name: f[name] for name in f.files}
  except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
    raise DataError(f'{path}: not a readable .npz of plain arrays ({e})') from e


def check_names(arrays: dict, path: str) -> None:
  for name in REQUIRED:
    if name not in arrays:
      raise DataError(f'{path}: array {name!r} is missing (required: {", ".join(REQUIRED)})')
  for name in arrays:
    if name not in REQUIRED + OPTIONAL:
      raise DataError(f'{path}: unexpected array {name!r} (allowed: {", ".join(REQUIRED + OPTIONAL)})')


def check_inputs(arrays: dict, path: str) -> None:
  example = arrays['source_x'].shape[1:]
  for name in (n for n in INPUTS if n in arrays):
    x = arrays[name]
    if not np.issubdtype(x.dtype, np.floating):
      raise DataError(f'{path}: {name} has dtype {x.dtype}; inputs must be float (e.g. x.astype(np.float32))')
    rows = 2 if name == 'source_x' else 1  # source_x: some to train on, some held out
    if x.ndim < 2 or x.shape[0] < rows:
      raise DataError(f'{path}: {name} has shape {x.shape}; inputs need shape (n >= {rows}, *example_shape)')
    if x.shape[1:] != example:
      raise DataError(f'{path}: {name} has examples of shape {x.shape[1:]}, but source_x has {example}; every '
                      'input array needs the same trailing shape')
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
      raise DataError(f'{path}: {name} holds {bad} NaN or infinite values')


def check_labels(arrays: dict, path: str) -> None:
  for name, inputs in LABELS.items():
    y = arrays[name]
    if not np.issubdtype(y.dtype, np.integer):
      raise DataError(f'{path}: {name} has dtype {y.dtype}; labels must be integers (class indices from 0)')
    if y.shape != (arrays[inputs].shape[0],):
      raise DataError(f'{path}: {name} has shape {y.shape}; it needs one label per row of {inputs}: '
                      f'({arrays[inputs].shape[0]},)')
    if y.min() < 0:
      raise DataError(f'{path}: {name} has label {int(y.min())}; labels are class indices from 0')
  classes = int(arrays['target_y'].max()) + 1
  if arrays['test_y'].max() >= classes:
    raise DataError(f'{path}: test_y has label {int(arrays["test_y"].max())}, out of range: target_y has labels '
                    f'0..{classes - 1}')


def check_same_classes(arrays: dict, path: str) -> None:
  classes = int(arrays['source_y'].max()) + 1
  for name in ('target_y', 'test_y'):
    if arrays[name].max() >= classes:
      raise DataError(f'{path}: {name} has label {int(arrays[name].max())}, not a source class: with '
                      f'config.data.same_classes the target labels must be classes of source_y, 0..{classes - 1}')


def load(path: str, same_classes: bool = False) -> arrays_lib.Arrays:
  """The file's checked arrays (see `checked`)."""
  return checked(read(path), path, same_classes=same_classes)


def checked(arrays: dict[str, np.ndarray], where: str, *, same_classes: bool = False) -> arrays_lib.Arrays:
  """Named arrays (this file's names) checked and converted (inputs float32, labels int32); a problem raises one
  DataError that starts with `where` (the file, or the function that made them) and names the array.
  `same_classes`: the target labels are declared to be the source's classes, which is checked too."""
  check_names(arrays, where)
  check_inputs(arrays, where)
  check_labels(arrays, where)
  if same_classes:
    check_same_classes(arrays, where)
  source_x, source_y, test_x, test_y = arrays_lib.hold_out(arrays['source_x'], arrays['source_y'],
                                                            SOURCE_HELD_OUT, SOURCE_HELD_OUT_CAP)
  example = arrays['source_x'].shape[1:]
  unlabeled = arrays.get('target_unlabeled_x', np.zeros((0, *example)))
  f32, i32 = (lambda a: a.astype(np.float32)), (lambda a: a.astype(np.int32))
  return arrays_lib.Arrays(f32(source_x), i32(source_y), f32(test_x), i32(test_y), f32(arrays['target_x']),
                           i32(arrays['target_y']), f32(arrays['test_x']), i32(arrays['test_y']), f32(unlabeled))


def dataset(config):
  """The file at config.data.path as a Dataset."""
  return arrays_lib.dataset(config, load(config.data.path, same_classes=config.data.same_classes))


def check(config) -> None:
  source.require(isinstance(config.data.path, str) and config.data.path != '', 'data.path', config.data.path,
                 "the path of an .npz file (config.data.name = 'npz')")

