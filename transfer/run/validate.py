"""Checks a config before anything compiles or is written: one clear error naming the field and what is allowed."""

from __future__ import annotations

import dataclasses
import math
import re

from transfer import types
from transfer.data import dataset as dataset_lib
from transfer.errors import ConfigError
from transfer.train import models
from transfer.train import optim
from transfer.train import strategies


def require(ok: bool, field: str, value, allowed: str) -> None:
  if not ok:
    raise ConfigError(f'config.{field} = {value!r} is not allowed: {allowed}')


def is_number(x) -> bool:
  return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_grid(config) -> None:
  require(isinstance(config.seeds, int) and config.seeds >= 1, 'seeds', config.seeds, 'an integer >= 1')
  names = tuple(config.strategies)
  require(len(names) > 0 and len(set(names)) == len(names), 'strategies', names, 'a non-empty tuple, no repeats')
  for name in names:
    require(name in strategies.STRATEGIES, 'strategies', name, f'one of {sorted(strategies.STRATEGIES)}')
  require(len(config.data_sizes) > 0 and all(isinstance(n, int) and n >= 1 for n in config.data_sizes),
          'data_sizes', config.data_sizes, 'a non-empty tuple of integers >= 1')
  require(len(config.shifts) > 0 and all(is_number(s) and s >= 0 for s in config.shifts), 'shifts',
          config.shifts, 'a non-empty tuple of finite numbers >= 0')
  require(len(config.lr_mults) > 0 and all(is_number(m) and m >= 0 for m in config.lr_mults), 'lr_mults',
          config.lr_mults, 'a non-empty tuple of finite numbers >= 0')
  require(is_number(config.lr) and config.lr > 0, 'lr', config.lr, 'a finite number > 0')
  counts = (('steps', config.steps), ('batch_size', config.batch_size), ('pretrain.steps', config.pretrain.steps),
            ('pretrain.batch_size', config.pretrain.batch_size))
  for field, value in counts:
    require(isinstance(value, int) and value >= 1, field, value, 'an integer >= 1')
  require(is_number(config.pretrain.lr) and config.pretrain.lr > 0, 'pretrain.lr', config.pretrain.lr,
          'a finite number > 0')
  require(isinstance(config.max_lanes_per_call, int) and config.max_lanes_per_call >= 0, 'max_lanes_per_call',
          config.max_lanes_per_call, 'an integer >= 0 (0 = every lane in one call)')
  for knob in dataclasses.fields(strategies.Knobs):  # every strategy setting, a new one included
    require(is_number(config[knob.name]) and config[knob.name] >= 0, knob.name, config[knob.name],
            'a finite number >= 0')
  require(config.layer_decay > 0, 'layer_decay', config.layer_decay, 'a finite number > 0')
  require(config.probe_fraction <= 1, 'probe_fraction', config.probe_fraction, 'a number in [0, 1]')
  require(isinstance(config.layers_copied, tuple) and
          all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in config.layers_copied),
          'layers_copied', config.layers_copied, 'a tuple of integers >= 0')
  if any(strategies.get(n).uses_layers_copied for n in names):
    require(len(config.layers_copied) > 0, 'layers_copied', config.layers_copied,
            f'a non-empty tuple: {[n for n in names if strategies.get(n).uses_layers_copied]} copy the first k groups')


def check_data(config) -> None:
  require(config.data.name in dataset_lib.NAMES, 'data.name', config.data.name, f'one of {dataset_lib.NAMES}')
  if config.data.name == 'npz':
    require(isinstance(config.data.path, str) and config.data.path != '', 'data.path', config.data.path,
            "the path of an .npz file (config.data.name = 'npz')")
  require(is_number(config.data.shift_angle), 'data.shift_angle', config.data.shift_angle, 'a finite number')
  require(isinstance(config.data.same_classes, bool), 'data.same_classes', config.data.same_classes,
          "True (the target's labels are the source's classes) or False")
  if config.data.name in dataset_lib.GENERATED:
    for field in ('source_pool', 'test_size', 'adapt_source_pool', 'unlabeled_pool'):
      value = config.data[field]
      require(isinstance(value, int) and not isinstance(value, bool) and value >= 1, f'data.{field}', value,
              f'an integer >= 1 ({config.data.name} data are generated in these numbers)')
    require(is_number(config.data.noise) and config.data.noise >= 0, 'data.noise', config.data.noise,
            'a finite number >= 0 (the std of the input noise)')
  require(config.model.name in models.MODEL_NAMES, 'model.name', config.model.name, f'one of {models.MODEL_NAMES}')
  require(len(config.model.channels) > 0 and all(isinstance(c, int) and c >= 1 for c in config.model.channels),
          'model.channels', config.model.channels, 'a non-empty tuple of integers >= 1')
  checkpoint, skip = config.pretrained.checkpoint, config.pretrained.skip
  require(isinstance(checkpoint, str), 'pretrained.checkpoint', checkpoint, "a file path, or '' to pre-train here")
  try:
    re.compile(skip)
  except (re.error, TypeError) as e:
    raise ConfigError(f'config.pretrained.skip = {skip!r} is not a valid regex: {e}') from e
  aligned = [n for n in config.strategies if strategies.get(n).align != 'none']
  require(not (checkpoint and aligned), 'pretrained.checkpoint', checkpoint,
          f"'' with the domain-adaptation strategies {aligned}: they train through the source model's own head, "
          'which a checkpoint of a backbone does not provide')


def check_report(config) -> None:
  rc = config.report
  require(rc.axis in types.COMPARED_AXES, 'report.axis', rc.axis, f'one of {types.COMPARED_AXES}')
  for field in ('transfer', 'baseline'):
    require(rc[field] in config.strategies, f'report.{field}', rc[field],
            f'one of the strategies run: {tuple(config.strategies)}')
  require(rc.transfer != rc.baseline, 'report.transfer', rc.transfer, 'a strategy other than report.baseline')


def check_groups(config, shapes) -> None:
  """Every rule is a valid regex, the head group exists, and the rules cover every parameter in `shapes`."""
  for pattern, group in config.groups:
    try:
      re.compile(pattern)
    except re.error as e:
      raise ConfigError(f'config.groups: {pattern!r} (for group {group!r}) is not a valid regex: {e}') from e
  require(config.head_group in optim.group_names(config.groups), 'head_group', config.head_group,
          f'one of the groups the rules name: {optim.group_names(config.groups)}')
  try:
    optim.assign_groups(shapes, config.groups)
  except ValueError as e:
    raise ConfigError(f'config.groups: {e}') from e


def check_fields(config) -> None:
  """Everything that can be checked from the config alone; raises ConfigError on the first problem."""
  check_grid(config)
  check_report(config)
  check_data(config)


def check_model(config, shapes, data) -> None:
  """What needs the loaded data: the group rules against the model's parameter `shapes`, the layers that can be
  copied, and the unlabelled data domain adaptation needs."""
  check_groups(config, shapes)
  backbone = list(optim.backbone_groups(config.groups, config.head_group))
  require(all(k <= len(backbone) for k in config.layers_copied), 'layers_copied', config.layers_copied,
          f'integers from 0 to {len(backbone)} (the backbone groups: {backbone})')
  aligned = [n for n in config.strategies if strategies.get(n).align != 'none']
  require(not aligned or data.has_unlabeled, 'strategies', aligned,
          f'strategies without domain adaptation: {data.name} data has no unlabelled target examples '
          '(add target_unlabeled_x to the .npz)')

