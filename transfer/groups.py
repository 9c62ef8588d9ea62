"""Parameter groups: parameter paths -> group names by ordered `(regex, group)` rules, first match wins.

Groups are config data (big_vision style): a parameter that no rule covers is an error, never a silent default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from absl import logging
import flax.traverse_util
import jax

Rules = Sequence[tuple[str, str]]


def param_paths(params) -> list[str]:
  """The '/'-joined path of every leaf of a (nested-dict) parameter tree, in tree order."""
  return ['/'.join(map(str, path)) for path in flax.traverse_util.flatten_dict(params)]


def group_of(path: str, rules: Rules) -> str:
  """The group of the first rule whose regex matches `path` (re.search); an error if none does."""
  for pattern, group in rules:
    if re.search(pattern, path):
      return group
  raise ValueError(f'parameter {path!r} is covered by no group rule; rules are {list(rules)}')


def assign_groups(params, rules: Rules):
  """A tree shaped like `params` whose leaves are group names."""
  flat = flax.traverse_util.flatten_dict(params)
  labels = {path: group_of('/'.join(map(str, path)), rules) for path in flat}
  return flax.traverse_util.unflatten_dict(labels)


def group_names(rules: Rules) -> tuple[str, ...]:
  """Distinct group names in rule order (bottom of the network first, by convention)."""
  return tuple(dict.fromkeys(group for _, group in rules))


def backbone_groups(rules: Rules, head_group: str) -> tuple[str, ...]:
  """The groups below the head, bottom first (what layer-wise strategies count from)."""
  return tuple(g for g in group_names(rules) if g != head_group)


def describe(params, rules: Rules) -> str:
  """One line per parameter: path, shape and group; for logging the assignment once."""
  flat = flax.traverse_util.flatten_dict(params)
  lines = []
  for path, leaf in flat.items():
    name = '/'.join(map(str, path))
    lines.append(f'  {name:<24} {str(jax.numpy.shape(leaf)):<14} -> {group_of(name, rules)}')
  return '\n'.join(lines)


def log_assignment(params, rules: Rules) -> None:
  logging.info('Parameter groups:\n%s', describe(params, rules))
