"""Transfer strategies as data: where the backbone starts and how each parameter group learns.

A strategy never touches code paths of its own: it only picks the backbone's initial weights (pre-trained or
fresh) and one learning-rate multiplier schedule per group. `None` marks a group frozen for the whole run, which
the optimizer turns into `set_to_zero` and the loss into `stop_gradient` (so it is not even differentiated).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import optax

Schedule = Callable[[object], object]

BACKBONE_MODES = ('frozen', 'lr_mult', 'full')


@dataclasses.dataclass(frozen=True)
class Strategy:
  """How one transfer strategy initialises and trains the model.

  Attributes:
    name: the name configs use.
    pretrained: whether the backbone groups start from the source model (the head is always new).
    backbone: how every non-head group learns: 'frozen' (never updated, never differentiated), 'lr_mult' (at
      `lr_mult` times the head's LR, one of the swept hyperparameters) or 'full' (at the head's LR).
    description: one line for tables and logs.
  """

  name: str
  pretrained: bool
  backbone: str
  description: str

  def __post_init__(self):
    if self.backbone not in BACKBONE_MODES:
      raise ValueError(f'backbone must be one of {BACKBONE_MODES}, got {self.backbone!r}')

  @property
  def uses_lr_mult(self) -> bool:
    return self.backbone == 'lr_mult'


STRATEGIES = {s.name: s for s in (
    Strategy('feature_extraction', pretrained=True, backbone='frozen',
             description='pre-trained backbone frozen; new head trained'),
    Strategy('fine_tuning', pretrained=True, backbone='lr_mult',
             description="pre-trained backbone at lr_mult x the head's LR; new head"),
    Strategy('scratch', pretrained=False, backbone='full',
             description='fresh initialisation; every group at the full LR'),
)}


def get(name: str) -> Strategy:
  if name not in STRATEGIES:
    raise ValueError(f'unknown strategy {name!r}; known strategies: {sorted(STRATEGIES)}')
  return STRATEGIES[name]


def group_schedules(strategy: Strategy, groups: Sequence[str], *, head_group: str,
                    lr_mult) -> dict[str, Schedule | None]:
  """LR-multiplier schedule (step -> multiplier) per group; `None` = frozen for the whole run.

  `lr_mult` may be a traced array, so one compiled program serves every multiplier of a sweep.
  """
  backbone = {'frozen': None, 'lr_mult': optax.constant_schedule(lr_mult),
              'full': optax.constant_schedule(1.0)}[strategy.backbone]
  return {g: optax.constant_schedule(1.0) if g == head_group else backbone for g in groups}
