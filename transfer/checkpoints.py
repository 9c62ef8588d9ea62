"""Parameter trees on disk in the three forms JAX code ships them: flax msgpack (this package's own), orbax
checkpoints (most JAX code's) and a flat npz of named arrays (big_vision's), told apart by the path alone.

- a directory is an orbax checkpoint (`orbax.checkpoint.StandardCheckpointer`'s layout; the optional `orbax` extra);
- a file ending in `.npz` holds one array per parameter, named by its '/'-joined path ('layer_0/kernel');
- any other file is flax msgpack (`io.save_msgpack`).

`read` returns a nested dict of numpy arrays whatever the form; a file that is not what its path says is one
CheckpointError naming it. Writing orbax checkpoints (`save_orbax`) is for one process: it refuses to run in a
multi-process job, where this package's rule is that only process 0 writes (io.py).
"""

from __future__ import annotations

import os
import zipfile

import flax.traverse_util
import jax
import numpy as np

from transfer import errors
from transfer import io


def orbax_checkpoint():
  """`orbax.checkpoint`, or a CheckpointError saying how to install it."""
  try:
    import orbax.checkpoint as ocp  # optional: imported where an orbax checkpoint is read or written
  except ImportError as e:
    raise errors.CheckpointError("orbax checkpoints need orbax-checkpoint: pip install -e '.[orbax]'") from e
  return ocp


def form(path: str) -> str:
  """'orbax', 'npz' or 'msgpack': how `read` reads `path`."""
  if os.path.isdir(path):
    return 'orbax'
  return 'npz' if path.endswith('.npz') else 'msgpack'


def read(path: str) -> dict:
  """The parameter tree stored at `path` (see the module docstring), as a nested dict of numpy arrays."""
  if not os.path.exists(path):
    raise errors.CheckpointError(f'checkpoint {path!r}: no such file or directory')
  kind = form(path)
  if kind == 'msgpack':
    return io.load_msgpack(path)
  if kind == 'npz':
    return read_npz(path)
  try:
    tree = orbax_checkpoint().StandardCheckpointer().restore(os.path.abspath(path))
  except errors.CheckpointError:
    raise
  except Exception as e:  # orbax raises many types for a directory that is not one of its checkpoints
    raise errors.CheckpointError(f'checkpoint {path!r} is a directory but not a readable orbax checkpoint '
                                 f'({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""})') from e
  return jax.tree.map(np.asarray, tree)


def read_npz(path: str) -> dict:
  """A flat npz of named arrays ('layer_0/kernel' -> array) as a nested dict."""
  if not zipfile.is_zipfile(path):
    raise errors.CheckpointError(f'checkpoint {path!r}: not an .npz file (a zip of .npy arrays, as np.savez writes)')
  try:
    with np.load(path, allow_pickle=False) as f:
      flat = {tuple(name.split('/')): f[name] for name in f.files}
  except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
    raise errors.CheckpointError(f'checkpoint {path!r}: not a readable .npz of plain arrays ({e})') from e
  return flax.traverse_util.unflatten_dict(flat)


def save_npz(path: str, params) -> None:
  """Writes `params` as a flat npz of named arrays ('/'-joined paths), as `read_npz` reads it."""
  flat = flax.traverse_util.flatten_dict(jax.tree.map(np.asarray, params))
  io.save_npz(path, {'/'.join(p): a for p, a in flat.items()})


def save_orbax(path: str, params) -> None:
  """Writes `params` as an orbax checkpoint directory at `path` (replacing one that is there); one process only."""
  if jax.process_count() > 1:
    raise errors.UserError('orbax checkpoints are written by a single process here; run this without '
                           '--jax_distributed')
  checkpointer = orbax_checkpoint().StandardCheckpointer()
  checkpointer.save(os.path.abspath(path), jax.tree.map(np.asarray, params), force=True)
  checkpointer.wait_until_finished()
