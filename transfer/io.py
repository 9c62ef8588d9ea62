"""File I/O every layer may use, with nothing heavy behind it: atomic text/JSON/bytes writes, msgpack parameter
trees, numpy .npz arrays (a workdir's lanes), reading a workdir's results, and the one rule of a multi-process job
(`--jax_distributed`): only process 0 touches files.

Writes go to a temporary file and are renamed into place, so a reader (or a killed run) never sees half a file.
Every file this package writes, deletes or makes a folder for goes through a function here, and on any process but
0 each of them does nothing; what process 0 reads to decide what to run (the workdir's finished runs, cached source
models) is read there alone and broadcast (`json_from_process_0`, `arrays_from_process_0`), so every process runs
the same lanes even though only process 0's disk holds the files.
"""

from __future__ import annotations

import io as std_io
import json
import os
from collections.abc import Callable

import flax.serialization
import jax
import numpy as np

from transfer import errors
from transfer import types


def writes() -> bool:
  """Whether this process writes files: always in a single process, only process 0 in a multi-process job."""
  return not jax.distributed.is_initialized() or jax.process_index() == 0  # no backend needed when not distributed


def write_bytes(path: str, data: bytes) -> None:
  if not writes():
    return
  tmp = f'{path}.tmp'
  with open(tmp, 'wb') as f:
    f.write(data)
  os.replace(tmp, path)


def write_text(path: str, text: str) -> None:
  write_bytes(path, text.encode())


def write_json(path: str, obj, *, sort_keys: bool = False) -> None:
  write_text(path, json.dumps(obj, indent=1, allow_nan=False, sort_keys=sort_keys) + '\n')


def write_json_if_changed(path: str, obj) -> bool:
  """Writes `obj` as JSON with sorted keys unless `path` already holds the same content (in any key order), so
  rerunning what made a committed file leaves it byte-identical; returns whether it wrote."""
  if os.path.exists(path):
    try:
      if read_json(path) == json.loads(json.dumps(obj)):  # the round trip: tuples as lists, as the file has them
        return False
    except ValueError:  # unreadable: rewritten
      pass
  write_json(path, obj, sort_keys=True)
  return True


def makedirs(path: str) -> None:
  if writes():
    os.makedirs(path, exist_ok=True)


def remove(path: str) -> None:
  if writes() and os.path.exists(path):
    os.remove(path)


def read_json(path: str):
  with open(path) as f:
    return json.load(f)


def save_msgpack(path: str, params) -> None:
  """Writes `params` (a tree of arrays) as flax msgpack (no pickle)."""
  write_bytes(path, flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, params)))


def load_msgpack(path: str):
  """Reads a tree of numpy arrays written by `save_msgpack`; a damaged file gives one clear error."""
  with open(path, 'rb') as f:
    data = f.read()
  try:
    return flax.serialization.msgpack_restore(data)
  except Exception as e:  # msgpack raises several types for truncated or corrupt input
    raise errors.CheckpointError(f'checkpoint {path!r} is damaged or not a msgpack checkpoint ({e}); delete it to '
                          'recompute it') from e


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
  """Writes named numpy arrays as an uncompressed .npz (strings as fixed-width unicode: no pickle)."""
  buffer = std_io.BytesIO()
  np.savez(buffer, **arrays)
  write_bytes(path, buffer.getvalue())


def load_npz(data: bytes) -> dict[str, np.ndarray]:
  with np.load(std_io.BytesIO(data), allow_pickle=False) as f:
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
  """The lanes `write_lanes` wrote ({} where there is no file), in the order they were written; in a
  multi-process job, process 0's file on every process. A damaged file is one WorkdirError naming it."""
  data = bytes_from_process_0(lambda: open(path, 'rb').read() if os.path.exists(path) else b'')
  return parse_lanes(data, path) if data else {}


def scalar(value):
  """A lane's value of one result: a Python number, or an array where it has one value per something (per shift)."""
  value = np.asarray(value)
  return value.item() if value.ndim == 0 else value


def parse_lanes(data: bytes, path: str) -> dict[tuple, dict]:
  """The lanes in the bytes of a file `write_lanes` wrote (at `path`, named in the error if they are damaged)."""
  try:
    arrays = load_npz(data)
    curves = [k.split('/', 1)[1] for k in arrays if k.startswith('curve/')]
    scalars = [k.split('/', 1)[1] for k in arrays if k.startswith('scalar/')]
    return {tuple(json.loads(str(key))): {'hparams': dict(zip(types.HPARAMS, arrays['hparams'][i].tolist())),
                                          'curves': {c: arrays[f'curve/{c}'][i] for c in curves},
                                          'scalars': {s: scalar(arrays[f'scalar/{s}'][i]) for s in scalars}}
            for i, key in enumerate(arrays['key'])}
  except Exception as e:  # a truncated zip, a missing or mis-shaped array: numpy and zipfile raise several types
    raise errors.WorkdirError(f'{path!r} is damaged or not a file of finished lanes ({type(e).__name__}: {e}); '
                              'delete it to recompute its lanes, or rerun with --overwrite') from e


def read_workdir(workdir: str) -> tuple[dict, list[dict]] | None:
  """(config, records) of a finished experiment's workdir, or None where it has not been run."""
  paths = [os.path.join(workdir, f) for f in ('config.json', 'results.json')]
  if not all(os.path.exists(p) for p in paths):
    return None
  return read_json(paths[0]), read_json(paths[1])['runs']


# What process 0 reads, every process gets.


def multiprocess() -> bool:
  return jax.distributed.is_initialized() and jax.process_count() > 1


def broadcast_bytes(data: bytes) -> bytes:
  """Process 0's `data` on every process (the others' argument is ignored)."""
  from jax.experimental import multihost_utils
  size = int(multihost_utils.broadcast_one_to_all(np.array([len(data)], np.int32))[0])
  buffer = np.zeros(size, np.uint8)
  if jax.process_index() == 0:
    buffer[:] = np.frombuffer(data, np.uint8)
  return multihost_utils.broadcast_one_to_all(buffer).tobytes()


def bytes_from_process_0(read: Callable[[], bytes]) -> bytes:
  """`read()` on process 0, its result returned on every process; in a single process, `read()` as it is."""
  if not multiprocess():
    return read()
  return broadcast_bytes(read() if jax.process_index() == 0 else b'')


def json_from_process_0(read: Callable[[], object]):
  """`read()` (JSON data) on process 0, its result returned on every process; a UserError it raises is raised on
  every process (so every process stops, none waits for the others)."""
  if not multiprocess():
    return read()
  payload = b''
  if jax.process_index() == 0:
    try:
      payload = json.dumps({'value': read()}).encode()
    except errors.UserError as e:
      payload = json.dumps({'error': type(e).__name__, 'message': str(e)}).encode()
  got = json.loads(broadcast_bytes(payload))
  if 'error' in got:
    raise getattr(errors, got['error'], errors.UserError)(got['message'])
  return got['value']


def arrays_from_process_0(read: Callable[[], object], like):
  """`read()` (a tree of arrays shaped as `like`, a tree of jax.ShapeDtypeStruct) on process 0, its result returned
  on every process as numpy arrays; in a single process, `read()` as it is."""
  if not multiprocess():
    return read()
  from jax.experimental import multihost_utils
  if jax.process_index() == 0:
    tree = jax.tree.map(np.asarray, read())
  else:
    tree = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), like)
  return multihost_utils.broadcast_one_to_all(tree)
