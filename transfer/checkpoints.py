"""Checkpoints as flax msgpack (no pickle): cached source models and a user's own pre-trained backbone.

Cached source models are keyed by everything that determines them: `<cache_dir>/<key>.msgpack` holds the
parameters stacked over seeds, and `<key>.json` the source config and the held-out source metrics for provenance.
A user's checkpoint is checked against the model parameter by parameter (`load_backbone`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import flax.serialization
import flax.traverse_util
import jax
import numpy as np

from transfer import groups as groups_lib
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


def loaded_shapes(model_shapes, rules, *, head_group: str, skip: str) -> dict[str, tuple]:
  """'/'-joined path -> shape of each model parameter a base network provides: all but the head group's and
  those whose path matches the regex `skip`."""
  out = {}
  for path, leaf in flax.traverse_util.flatten_dict(model_shapes).items():
    name = '/'.join(path)
    if groups_lib.group_of(name, rules) != head_group and not (skip and re.search(skip, name)):
      out[name] = tuple(leaf.shape)
  return out


def load_backbone(path: str, wanted: dict[str, tuple], *, known: set[str], skip: str, seeds: int):
  """A user's checkpoint (a flax msgpack tree of parameters) as per-seed base networks for `seeds` seeds.

  Every parameter in `wanted` (path -> shape) must be in the file, with that shape (one model, used by every
  seed) or with a leading seed axis of at least `seeds` (one model per seed, as in a workdir's
  source_models.msgpack). Parameters of the file that are not wanted (the head, those the skip pattern names)
  are ignored; one the model does not have (`known` holds its paths) is an error unless `skip` matches it. A
  missing, unknown or mis-shaped parameter raises one CheckpointError naming it.
  """
  if not os.path.isfile(path):
    raise CheckpointError(f'config.pretrained.checkpoint = {path!r}: no such file')
  flat = {'/'.join(p): np.asarray(v) for p, v in flax.traverse_util.flatten_dict(load(path)).items()}
  for name in flat:
    if name not in known and not (skip and re.search(skip, name)):
      raise CheckpointError(f'checkpoint {path!r} has parameter {name!r}, which the model does not have (the '
                            f'model has {", ".join(sorted(known))}); name it in config.pretrained.skip to ignore it')
  stacked = None
  out = {}
  for name, shape in wanted.items():
    if name not in flat:
      raise CheckpointError(f'checkpoint {path!r} lacks parameter {name!r} (shape {shape}); add it to '
                            'config.pretrained.skip to start it fresh instead')
    got = flat[name].shape
    per_seed = len(got) == len(shape) + 1 and got[1:] == shape and got[0] >= seeds
    if got != shape and not per_seed:
      raise CheckpointError(f'checkpoint {path!r}: parameter {name!r} has shape {got}; the model wants {shape} '
                            f'(or ({seeds}+, {", ".join(map(str, shape))}) for one model per seed)')
    if stacked is not None and stacked != per_seed:
      raise CheckpointError(f'checkpoint {path!r}: parameter {name!r} is {"" if per_seed else "not "}stacked per '
                            'seed while earlier ones are the other way; use one layout throughout')
    stacked = per_seed
    value = flat[name][:seeds] if per_seed else np.broadcast_to(flat[name], (seeds, *shape))
    out[tuple(name.split('/'))] = np.array(value, np.float32)
  return flax.traverse_util.unflatten_dict(out)
