"""File I/O every layer may use, with nothing heavy behind it: atomic text/JSON writes, msgpack parameter trees,
numpy .npz arrays, and reading a workdir's results.

Writes go to a temporary file and are renamed into place, so a reader (or a killed run) never sees half a file.
"""

from __future__ import annotations

import json
import os

import flax.serialization
import jax
import numpy as np

from transfer import types
from transfer.errors import CheckpointError


def write_text(path: str, text: str) -> None:
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)


def write_json(path: str, obj) -> None:
  write_text(path, json.dumps(obj, indent=1, allow_nan=False) + '\n')


def read_json(path: str):
  with open(path) as f:
    return json.load(f)


def save_msgpack(path: str, params) -> None:
  """Writes `params` (a tree of arrays) as flax msgpack (no pickle)."""
  tmp = f'{path}.tmp'
  with open(tmp, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, params)))
  os.replace(tmp, path)


def load_msgpack(path: str):
  """Reads a tree of numpy arrays written by `save_msgpack`; a damaged file gives one clear error."""
  with open(path, 'rb') as f:
    data = f.read()
  try:
    return flax.serialization.msgpack_restore(data)
  except Exception as e:  # msgpack raises several types for truncated or corrupt input
    raise CheckpointError(f'checkpoint {path!r} is damaged or not a msgpack checkpoint ({e}); delete it to '
                          'recompute it') from e


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
  """Writes named numpy arrays as an uncompressed .npz (strings as fixed-width unicode: no pickle)."""
  tmp = f'{path}.tmp.npz'
  np.savez(tmp, **arrays)
  os.replace(tmp, path)


def load_npz(path: str) -> dict[str, np.ndarray]:
  with np.load(path, allow_pickle=False) as f:
    return {name: f[name] for name in f.files}


def write_lanes(path: str, lanes: dict[tuple, dict]) -> None:
  """Writes finished lanes (key tuple -> {'hparams': {name: value}, 'curves': {name: array}, 'scalars': {name:
  value}}) as one .npz with a row per lane: 'key' (JSON), 'hparams' (in types.HPARAMS order), 'curve/<name>',
  'scalar/<name>'."""
  if not lanes:
    return
  rows = list(lanes.items())
  first = rows[0][1]
  save_npz(path, {
      'key': np.array([json.dumps(list(k)) for k, _ in rows]),
      'hparams': np.array([[lane['hparams'][h] for h in types.HPARAMS] for _, lane in rows], np.float64),
      **{f'curve/{c}': np.stack([lane['curves'][c] for _, lane in rows]) for c in first['curves']},
      **{f'scalar/{s}': np.array([lane['scalars'][s] for _, lane in rows]) for s in first['scalars']}})


def read_lanes(path: str) -> dict[tuple, dict]:
  """The lanes `write_lanes` wrote ({} where there is no file), in the order they were written."""
  if not os.path.exists(path):
    return {}
  arrays = load_npz(path)
  curves = [k.split('/', 1)[1] for k in arrays if k.startswith('curve/')]
  scalars = [k.split('/', 1)[1] for k in arrays if k.startswith('scalar/')]
  return {tuple(json.loads(str(key))): {'hparams': dict(zip(types.HPARAMS, arrays['hparams'][i].tolist())),
                                        'curves': {c: arrays[f'curve/{c}'][i] for c in curves},
                                        'scalars': {s: arrays[f'scalar/{s}'][i].item() for s in scalars}}
          for i, key in enumerate(arrays['key'])}


def read_workdir(workdir: str) -> tuple[dict, list[dict]] | None:
  """(config, records) of a finished experiment's workdir, or None where it has not been run."""
  paths = [os.path.join(workdir, f) for f in ('config.json', 'results.json')]
  if not all(os.path.exists(p) for p in paths):
    return None
  return read_json(paths[0]), read_json(paths[1])['runs']
