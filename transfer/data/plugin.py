"""A data source defined outside the package, named by `config.data.module = 'package.module:function'`.

The function is called with `config.data.kwargs` as keyword arguments (its own config namespace: its defaults are
its signature's) and returns the data in one of two forms:

- a dict of named arrays, the names and rules of a user's npz (docs/data.md: `source_x`, `source_y`, `target_x`,
  `target_y`, `test_x`, `test_y`, optionally `target_unlabeled_x`): data that exist as arrays, checked like an npz
  and used as given (no shift axis); or
- a `source.DataSource` (a frozen dataclass with the protocol's fields and pure methods, as `moons.py` is): data
  generated inside the compiled run from each lane's seed and shift.

What identifies it (the pre-trained source models' cache key) is the function's path, its keyword arguments and the
source code of the module that defines it (so editing the generator pre-trains again), and for arrays their content.
Everything here runs before anything compiles; a problem is one ConfigError or DataError naming the field or array.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from transfer import importing
from transfer.data import arrays as arrays_lib
from transfer.data import npz
from transfer.data import source
from transfer.errors import ConfigError
from transfer.errors import DataError
from transfer.types import Lane

PROTOCOL = ('name', 'input_shape', 'source_classes', 'target_classes', 'has_shift', 'has_unlabeled', 'same_classes',
            'source_splits', 'target_splits', 'adapt_data', 'source_validation', 'domain_samples')


def path_of(data_config) -> str:
  """`config.data.module` ('' where the config has none: `data.name` picks a source of the package)."""
  return data_config.get('module', '') or ''


def kwargs_of(data_config) -> dict:
  """`config.data.kwargs` as a plain dict."""
  kwargs = data_config.get('kwargs') or {}
  return kwargs.to_dict() if hasattr(kwargs, 'to_dict') else dict(kwargs)


def function(path: str) -> Callable:
  """The function `path` ('package.module:function') names."""
  fn = importing.named(path, 'function')
  if not callable(fn):
    module_name, _, attribute = path.partition(':')
    raise ValueError(f'{module_name!r} has no function {attribute!r}')
  return fn


def check_kwargs(fn: Callable, kwargs: dict) -> None:
  """Every keyword argument is one `fn` takes (any, where it takes **kwargs)."""
  params = inspect.signature(fn).parameters
  if any(p.kind == p.VAR_KEYWORD for p in params.values()):
    return
  names = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
  for key in kwargs:
    if key not in names:
      raise ValueError(f'{key!r} is not an argument of it: one of {names}')


def source_hash(fn: Callable) -> str:
  """sha256 of the source of the module that defines `fn` ('' where it has none, e.g. a built-in)."""
  try:
    text = inspect.getsource(inspect.getmodule(fn))
  except (OSError, TypeError):
    return ''
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def missing_members(data) -> list[str]:
  """The members of the DataSource protocol that `data` lacks."""
  return [m for m in PROTOCOL if not hasattr(data, m)]


def dataset(config) -> source.Dataset:
  """The data `config.data.module`'s function returns for `config.data.kwargs`: named arrays, checked like an npz,
  or a DataSource whose target pool must hold the largest data size."""
  path, kwargs = path_of(config.data), kwargs_of(config.data)
  where = f'config.data.module = {path!r}'
  try:
    fn = function(path)
  except ValueError as e:
    raise ConfigError(f'{where}: {e}') from e
  made = fn(**kwargs)
  if isinstance(made, Mapping):
    arrays = npz.checked({k: np.asarray(v) for k, v in made.items()}, where, same_classes=config.data.same_classes)
    return arrays_lib.dataset(config, arrays, name=path.partition(':')[2],
                              key={'module': path, 'arrays': arrays_lib.fingerprint(arrays)})
  missing = missing_members(made)
  if missing:
    raise DataError(f'{where} returned a {type(made).__name__}: neither a dict of named arrays nor a DataSource '
                    f'(it lacks {", ".join(missing)})')
  try:
    hash(made)
  except TypeError as e:
    raise DataError(f'{where} returned an unhashable {type(made).__name__}: a DataSource is bound into the compiled '
                    'run as a static value (make it a frozen dataclass)') from e
  lane = Lane(seed=jnp.int32(0), data_size=jnp.int32(0), shift=jnp.float32(0), lr_mult=jnp.float32(1),
              layers_copied=jnp.int32(-1))
  pool = jax.eval_shape(lambda: made.target_splits((), lane)[0].y).shape[0]
  if max(config.data_sizes) > pool:
    raise ConfigError(f'config.data_sizes = {tuple(config.data_sizes)} is not allowed: {where} makes target pools '
                      f'of {pool} examples, so every data size must be <= {pool}')
  return source.Dataset(made, (), {'module': path, 'kwargs': kwargs, 'source': source_hash(fn)})

