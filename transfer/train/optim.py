"""Parameter groups and the optimizer: one mechanism end to end.

Parameter paths ('layer_0/kernel', ..., 'head/bias') fall into groups by ordered `(regex, group)` rules, first match
wins; the rules are config data (big_vision style), and a parameter no rule covers is an error, never a silent
default. Where a config gives no rules, each of the model's top-level modules is one group (`default_rules`). A
strategy gives each group an LR-multiplier schedule (transfer/train/strategies.py); each group then gets Adam scaled
by its schedule, or `set_to_zero` when frozen, in one `optax.partition` optimizer.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

from absl import logging
import flax.traverse_util
import jax
import optax

from transfer.train import strategies

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


def default_rules(params, head_group: str) -> tuple[tuple[str, str], ...]:
  """One group per top-level entry of `params`, named after it, in the tree's order (the order the model creates
  them, bottom first: see models.param_shapes), the head group last. For this package's models:
  (('^layer_0/', 'layer_0'), ..., ('^head/', 'head'))."""
  names = [n for n in params if n != head_group] + [n for n in params if n == head_group]
  return tuple((f'^{re.escape(n)}/' if isinstance(params[n], Mapping) else f'^{re.escape(n)}$', n) for n in names)


def resolve_rules(rules: Rules, params, *, head_group: str) -> tuple[tuple[str, str], ...]:
  """The rules in force: `rules` (config.groups) where given, else `default_rules` of the model's `params`."""
  return tuple(map(tuple, rules)) if len(rules) else default_rules(params, head_group)


def describe(params, rules: Rules) -> str:
  """One line per parameter: path, shape and group; for logging the assignment once."""
  flat = flax.traverse_util.flatten_dict(params)
  lines = []
  for path, leaf in flat.items():
    name = '/'.join(map(str, path))
    lines.append(f'  {name:<24} {str(jax.numpy.shape(leaf)):<14} -> {group_of(name, rules)}')
  return '\n'.join(lines)


def log_assignment(params, rules: Rules) -> None:
  logging.info('Parameter groups by the rules %s:\n%s', list(rules), describe(params, rules))


@dataclasses.dataclass(frozen=True)
class Adam:
  """Adam's static settings; the learning rate and weight decay are lane hyperparameters (traced)."""

  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8


def group_transform(schedule: strategies.Schedule | None, adam: Adam, *, lr, weight_decay) -> \
    optax.GradientTransformation:
  """AdamW scaled by `lr * schedule(step)` (decoupled weight decay, so it shrinks with the group's multiplier and is
  0 while the group waits frozen), or `set_to_zero` for a group frozen for the whole stage (no optimizer state).
  `lr` and `weight_decay` may be traced."""
  if schedule is None:
    return optax.set_to_zero()
  return optax.chain(
      optax.scale_by_adam(b1=adam.b1, b2=adam.b2, eps=adam.eps),
      optax.add_decayed_weights(weight_decay),
      optax.scale_by_schedule(lambda count: -lr * schedule(count)),
  )


def make_optimizer(labels, schedules: Mapping[str, strategies.Schedule | None], adam: Adam, *, lr,
                   weight_decay) -> optax.GradientTransformation:
  """One optimizer over the whole tree: each group (a leaf label in `labels`) gets its own transform."""
  return optax.partition({g: group_transform(s, adam, lr=lr, weight_decay=weight_decay)
                          for g, s in schedules.items()}, labels)


def group_plan(params, strategy: strategies.Strategy, *, rules, head_group: str, lr_mult, steps: int,
               knobs: strategies.Knobs, layers_copied=-1):
  """For one stage: each leaf's group, each group's LR-multiplier schedule, and each leaf's frozen flag."""
  labels = assign_groups(params, rules)
  schedules = strategies.group_schedules(strategy, group_names(rules), head_group=head_group,
                                         lr_mult=lr_mult, steps=steps, knobs=knobs, layers_copied=layers_copied)
  return labels, schedules, jax.tree.map(lambda g: schedules[g] is None, labels)
