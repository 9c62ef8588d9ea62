"""Transfer strategies as data: where the backbone starts and how each parameter group learns, step by step.

A strategy never brings code paths of its own. It picks the backbone's initial weights (pre-trained or fresh), an
LR-multiplier schedule per group (`None` = frozen for the whole stage: `set_to_zero` in the optimizer and
`stop_gradient` in the loss, so the group is not even differentiated), optionally a linear-probe stage first
(LP-FT) and optionally the L2-SP penalty. Schedules read traced arrays (`lr_mult`), so one compiled program
serves every value of a sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import optax

Schedule = Callable[[object], object]

BACKBONE_MODES = ('frozen', 'lr_mult', 'full', 'layer_decay', 'copied_frozen')
UNFREEZE_MODES = ('always', 'gradual')
ALIGN_MODES = ('none', 'source', 'dann', 'coral', 'mmd')  # 'none' aside, each has its term in losses.ALIGNMENTS
COPY_MODES = ('all', 'first_k')
BASE_MODES = ('source', 'target')


@dataclasses.dataclass(frozen=True)
class Strategy:
  """How one transfer strategy initialises and trains the model.

  Attributes:
    name: the name configs use.
    pretrained: whether the backbone groups start from the base network (the head is always new).
    backbone: the LR multiplier of every non-head group: 'frozen' (never updated, never differentiated),
      'lr_mult' (the swept `lr_mult`), 'full' (1), 'layer_decay' (ULMFiT's discriminative fine-tuning:
      `layer_decay ** -d` for the group `d` levels below the head) or 'copied_frozen' (0 for the groups copied
      from the base network, 1 for the others; a traced multiplier, so one program serves every `layers_copied`).
    unfreeze: 'always', or 'gradual' (ULMFiT: the run is split into one stage per backbone group plus one; the
      first trains the head only and each later stage unfreezes the next group from the top).
    probe_first: LP-FT: train the head alone on the frozen backbone for `probe_fraction` of the steps, then run
      the rest as this strategy from the probe's parameters with a fresh optimizer.
    l2_sp: add `l2_sp_weight / 2 * ||w - w_pretrained||^2` over the backbone to the loss (Li et al. 2018); the
      weight is the lane's hyperparameter.
    align: domain adaptation: train on labelled source examples too (through the model's head where the source's
      classes are the target's, else the pre-trained source head) and align backbone features of source and
      unlabelled target examples: 'dann' (a domain discriminator through gradient reversal), 'coral' or 'mmd',
      weighted by the lane's `align_weight`; 'source' trains the same way without an alignment term (the baseline
      `source_only`); 'none': no domain-adaptation stage.
    copy: which backbone groups start from the base network: 'all', or 'first_k' (the bottom `layers_copied`
      groups, a swept grid axis; the others start fresh), as in Yosinski et al. (2014).
    base: the network copied from: 'source' (the pre-trained source model) or 'target' (a network trained from
      scratch on the lane's own target data, with its own initialisation and minibatch order: Yosinski's BnB).
    description: one line for tables and logs.
  """

  name: str
  pretrained: bool
  backbone: str
  unfreeze: str = 'always'
  probe_first: bool = False
  l2_sp: bool = False
  align: str = 'none'
  copy: str = 'all'
  base: str = 'source'
  description: str = ''

  def __post_init__(self):
    if self.backbone not in BACKBONE_MODES:
      raise ValueError(f'backbone must be one of {BACKBONE_MODES}, got {self.backbone!r}')
    if self.unfreeze not in UNFREEZE_MODES:
      raise ValueError(f'unfreeze must be one of {UNFREEZE_MODES}, got {self.unfreeze!r}')
    if self.align not in ALIGN_MODES:
      raise ValueError(f'align must be one of {ALIGN_MODES}, got {self.align!r}')
    if self.copy not in COPY_MODES:
      raise ValueError(f'copy must be one of {COPY_MODES}, got {self.copy!r}')
    if self.base not in BASE_MODES:
      raise ValueError(f'base must be one of {BASE_MODES}, got {self.base!r}')

  @property
  def uses_lr_mult(self) -> bool:
    return self.backbone == 'lr_mult'

  @property
  def uses_layers_copied(self) -> bool:
    return self.copy == 'first_k'

  @property
  def adapts(self) -> bool:
    """Whether the run is a domain-adaptation stage (trains on source examples too)."""
    return self.align != 'none'

  @property
  def aligns(self) -> bool:
    """Whether the loss has a feature-alignment term (and so an alignment weight)."""
    return self.align not in ('none', 'source')

  @property
  def hyperparameters(self) -> tuple[str, ...]:
    """The lane hyperparameters (types.HPARAMS) this strategy's runs read, so the ones a search varies for it."""
    return (('lr',) + (('lr_mult',) if self.uses_lr_mult else ()) + ('weight_decay',) +
            (('l2_sp_weight',) if self.l2_sp else ()) + (('align_weight',) if self.aligns else ()))


@dataclasses.dataclass(frozen=True)
class Knobs:
  """Numeric settings of the strategies that have them, static (bound at compile time: two values are two
  programs). Settings a search varies are lane hyperparameters instead (types.HPARAMS)."""

  layer_decay: float = 2.6  # ULMFiT: each group's LR is the one above it divided by this
  probe_fraction: float = 0.5  # LP-FT: share of the steps spent on the linear probe


STRATEGIES = {s.name: s for s in (
    Strategy('feature_extraction', pretrained=True, backbone='frozen',
             description='pre-trained backbone frozen; new head trained'),
    Strategy('fine_tuning', pretrained=True, backbone='lr_mult',
             description="pre-trained backbone at lr_mult x the head's LR; new head"),
    Strategy('scratch', pretrained=False, backbone='full',
             description='fresh initialisation; every group at the full LR'),
    Strategy('lp_ft', pretrained=True, backbone='lr_mult', probe_first=True,
             description='linear probe on the frozen backbone, then fine-tuning from the probe (Kumar et al. 2022)'),
    Strategy('l2_sp', pretrained=True, backbone='lr_mult', l2_sp=True,
             description='fine-tuning with a penalty pulling the backbone to its pre-trained weights (Li et al. 2018)'),
    Strategy('gradual_unfreezing', pretrained=True, backbone='lr_mult', unfreeze='gradual',
             description='head first, then one more group from the top per stage, at lr_mult (Howard & Ruder 2018)'),
    Strategy('discriminative', pretrained=True, backbone='layer_decay',
             description='every group at once, LR divided by layer_decay per group below the head (ULMFiT)'),
    Strategy('ulmfit', pretrained=True, backbone='layer_decay', unfreeze='gradual',
             description='gradual unfreezing with discriminative LRs (both ULMFiT ingredients)'),
    Strategy('source_only', pretrained=True, backbone='lr_mult', align='source',
             description="domain adaptation's baseline: the same training on source labels, without alignment"),
    Strategy('dann', pretrained=True, backbone='lr_mult', align='dann',
             description='fine-tuning + source labels + a domain discriminator through gradient reversal (Ganin 2016)'),
    Strategy('coral', pretrained=True, backbone='lr_mult', align='coral',
             description='fine-tuning + source labels + Deep CORAL feature alignment (Sun & Saenko 2016)'),
    Strategy('mmd', pretrained=True, backbone='lr_mult', align='mmd',
             description='fine-tuning + source labels + multi-kernel MMD feature alignment (Long et al. 2015)'),
    Strategy('anb', pretrained=True, backbone='copied_frozen', copy='first_k',
             description='first k groups copied from the source model and frozen; the rest trained fresh (Yosinski)'),
    Strategy('anb_plus', pretrained=True, backbone='full', copy='first_k',
             description='first k groups copied from the source model; everything trained at the full LR'),
    Strategy('bnb', pretrained=True, backbone='copied_frozen', copy='first_k', base='target',
             description='first k groups copied from a network trained on the target data, frozen; rest fresh'),
    Strategy('bnb_plus', pretrained=True, backbone='full', copy='first_k', base='target',
             description='first k groups copied from a network trained on the target data; all trained'),
)}


def get(name: str) -> Strategy:
  if name not in STRATEGIES:
    raise ValueError(f'unknown strategy {name!r}; known strategies: {sorted(STRATEGIES)}')
  return STRATEGIES[name]


def program(strategy: Strategy) -> Strategy:
  """The strategy whose compiled program runs `strategy`'s lanes, each lane's `pretrained` field set to
  `strategy.pretrained` (types.Lane).

  A strategy that starts fresh and trains every group at the full LR runs in the program of the same training started
  pre-trained, at the lane's `lr_mult`: there a lane whose `pretrained` is False keeps its fresh initialisation
  (target.initial_params), trains its backbone at multiplier 1 (stages.lane_lr_mult) and measures no source task, the
  arithmetic of its own program. So scratch shares fine-tuning's program (tests/test_strategies.py: bit-identical
  records on CPU). Every other strategy's program is its own.
  """
  if strategy.pretrained or strategy.backbone != 'full':
    return strategy
  return dataclasses.replace(strategy, pretrained=True, backbone='lr_mult', copy='all', base='source')


def same_program(a: Strategy, b: Strategy) -> bool:
  """Whether `a`'s and `b`'s lanes run in one compiled program (`program`): they differ in nothing else."""
  strip = lambda s: dataclasses.replace(program(s), name='', description='')
  return strip(a) == strip(b)


def by_program(chosen: Sequence[Strategy]) -> list[list[Strategy]]:
  """`chosen` grouped by the program their lanes run in (`same_program`), in the order of each group's first."""
  groups: list[list[Strategy]] = []
  for strategy in chosen:
    group = next((g for g in groups if same_program(g[0], strategy)), None)
    if group is None:
      groups.append([strategy])
    else:
      group.append(strategy)
  return groups


def gated(base, start: int) -> Schedule:
  """`base` from step `start` on, exactly 0 before it."""
  return lambda count: jnp.where(count >= start, base, 0.0)


def group_schedules(strategy: Strategy, groups: Sequence[str], *, head_group: str, lr_mult, steps: int,
                    knobs: Knobs, layers_copied=-1) -> dict[str, Schedule | None]:
  """LR-multiplier schedule (step -> multiplier) per group; `None` = frozen for the whole stage.

  `groups` is bottom-first (rule order), so the group just below the head is the last backbone group.
  `layers_copied` (traced) is read by 'copied_frozen' only.
  """
  backbone = [g for g in groups if g != head_group]
  stage = steps // (len(backbone) + 1)
  out = {head_group: optax.constant_schedule(1.0)}
  for i, group in enumerate(backbone):
    depth = len(backbone) - i  # 1 = just below the head
    if strategy.backbone == 'frozen':
      out[group] = None
      continue
    if strategy.backbone == 'copied_frozen':
      out[group] = optax.constant_schedule(jnp.where(i < layers_copied, 0.0, 1.0))
      continue
    base = {'lr_mult': lr_mult, 'full': 1.0, 'layer_decay': knobs.layer_decay ** -depth}[strategy.backbone]
    out[group] = gated(base, depth * stage) if strategy.unfreeze == 'gradual' else optax.constant_schedule(base)
  return out


def stages(strategy: Strategy, steps: int, knobs: Knobs) -> list[tuple[Strategy, int]]:
  """The (strategy, steps) stages of a run: one, or LP-FT's probe then the strategy itself."""
  if not strategy.probe_first:
    return [(strategy, steps)]
  probe_steps = round(knobs.probe_fraction * steps)
  probe = Strategy(f'{strategy.name}/probe', pretrained=True, backbone='frozen')
  rest = dataclasses.replace(strategy, probe_first=False)
  return [(s, n) for s, n in ((probe, probe_steps), (rest, steps - probe_steps)) if n > 0]
