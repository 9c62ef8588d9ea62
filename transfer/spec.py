"""What one target run is given: its per-lane values (`Lane`) and the structure every lane shares (`TargetSpec`)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import flax.linen as nn
import jax

from transfer import groups as groups_lib
from transfer import loop as loop_lib
from transfer import optim
from transfer import strategies


class Lane(NamedTuple):
  """The per-run values of one grid cell; each field is a scalar (or a batch of them under vmap)."""

  seed: jax.Array  # int32: picks the world, data, initialisation and minibatch order
  data_size: jax.Array  # int32: labelled target examples the run may see (a prefix of the pool)
  shift: jax.Array  # float32: domain shift of the target inputs
  lr_mult: jax.Array  # float32: backbone LR multiplier (ignored by strategies that do not use it)
  layers_copied: jax.Array  # int32: backbone groups copied from the base network (layer-transfer strategies only)


@dataclasses.dataclass(frozen=True)
class TargetSpec:
  """Everything structural about target training, shared by every lane of a sweep."""

  model: nn.Module
  rules: groups_lib.Rules
  head_group: str
  adam: optim.AdamSpec
  loop: loop_lib.LoopSpec
  knobs: strategies.Knobs = strategies.Knobs()
  skip: str = ''  # regex: parameters never loaded from the base network (start fresh), besides the head group
