"""What a config's 'package.module:name' path names: a data source's function (config.data.module) or a model's
class (config.model.module), imported where the config names it."""

from __future__ import annotations

import importlib


def named(path: str, kind: str) -> object:
  """The object `path` ('package.module:name', the name dotted for a nested attribute) names, or None where the
  module has no such attribute; a ValueError saying what is wrong with the path (`kind` names what it should name,
  as in 'function' or 'Class')."""
  module_name, colon, attribute = path.partition(':')
  if not (module_name and colon and attribute):
    raise ValueError(f"not of the form 'package.module:{kind}'")
  try:
    found = importlib.import_module(module_name)
  except Exception as e:  # anything the import raises is the user's module's problem, said in one line
    raise ValueError(f'cannot import {module_name!r} ({type(e).__name__}: {e})') from e
  for part in attribute.split('.'):
    found = getattr(found, part, None)
  return found
