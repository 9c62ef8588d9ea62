"""File I/O every layer may use, with nothing heavy behind it: atomic text/JSON writes, msgpack parameter trees,
and reading a workdir's results.

Writes go to a temporary file and are renamed into place, so a reader (or a killed run) never sees half a file.
"""

from __future__ import annotations

import json
import os

import flax.serialization
import jax
import numpy as np

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


def read_workdir(workdir: str) -> tuple[dict, list[dict]] | None:
  """(config, records) of a finished experiment's workdir, or None where it has not been run."""
  paths = [os.path.join(workdir, f) for f in ('config.json', 'results.json')]
  if not all(os.path.exists(p) for p in paths):
    return None
  return read_json(paths[0]), read_json(paths[1])['runs']
