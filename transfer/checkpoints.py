"""Pre-trained source models cached in the workdir, keyed by everything that determines them.

Files are flax msgpack (no pickle): `<cache_dir>/<key>.msgpack` holds the parameters stacked over seeds, and
`<key>.json` the source config and the held-out source metrics for provenance.
"""

from __future__ import annotations

import hashlib
import json
import os

import flax.serialization
import jax
import numpy as np

from transfer.errors import CheckpointError


def cache_key(source_config: dict) -> str:
  """A short stable hash of the JSON-serialised source config."""
  blob = json.dumps(source_config, sort_keys=True).encode()
  return hashlib.sha256(blob).hexdigest()[:16]


def save(path: str, params) -> None:
  """Writes `params` (a tree of arrays) via a temporary file and a rename."""
  tmp = f'{path}.tmp'
  with open(tmp, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, params)))
  os.replace(tmp, path)


def load(path: str):
  """Reads a tree of numpy arrays written by `save`; a damaged file gives one clear error."""
  with open(path, 'rb') as f:
    data = f.read()
  try:
    return flax.serialization.msgpack_restore(data)
  except Exception as e:  # msgpack raises several types for truncated or corrupt input
    raise CheckpointError(f'checkpoint {path!r} is damaged or not a msgpack checkpoint ({e}); delete it to '
                          'recompute it') from e
