"""Strategy schedules + parameter groups -> one `optax.partition` optimizer."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import optax

from transfer import groups as groups_lib
from transfer import strategies


@dataclasses.dataclass(frozen=True)
class AdamSpec:
  """Adam hyperparameters; `lr` is the base (head) learning rate that group multipliers scale."""

  lr: float = 1e-3
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8


def group_transform(schedule: strategies.Schedule | None, spec: AdamSpec) -> optax.GradientTransformation:
  """Adam scaled by `-lr * schedule(step)`, or `set_to_zero` for a frozen group (no optimizer state)."""
  if schedule is None:
    return optax.set_to_zero()
  return optax.chain(
      optax.scale_by_adam(b1=spec.b1, b2=spec.b2, eps=spec.eps),
      optax.scale_by_schedule(lambda count: -spec.lr * schedule(count)),
  )


def make_optimizer(labels, schedules: Mapping[str, strategies.Schedule | None],
                   spec: AdamSpec) -> optax.GradientTransformation:
  """One optimizer over the whole tree: each group (a leaf label in `labels`) gets its own transform."""
  return optax.partition({g: group_transform(s, spec) for g, s in schedules.items()}, labels)


def group_plan(params, strategy: strategies.Strategy, *, rules, head_group: str, lr_mult, steps: int,
               knobs: strategies.Knobs, layers_copied=-1):
  """For one stage: each leaf's group, each group's LR-multiplier schedule, and each leaf's frozen flag."""
  labels = groups_lib.assign_groups(params, rules)
  schedules = strategies.group_schedules(strategy, groups_lib.group_names(rules), head_group=head_group,
                                         lr_mult=lr_mult, steps=steps, knobs=knobs, layers_copied=layers_copied)
  return labels, schedules, jax.tree.map(lambda g: schedules[g] is None, labels)
