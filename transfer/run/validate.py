"""Checks a config before anything compiles or is written: one clear error naming the field and what is allowed."""

from __future__ import annotations

import dataclasses
import math
import re

from transfer import types
from transfer.data import dataset as dataset_lib
from transfer.data import plugin
from transfer.data.source import require
from transfer.errors import ConfigError
from transfer.train import models
from transfer.train import optim
from transfer.train import strategies
from transfer.train import validators


SELECTION_MODES = ('search', 'fixed')
SEARCH_METHODS = ('random', 'grid')


def is_number(x) -> bool:
  return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_grid(config) -> None:
  require(isinstance(config.seeds, int) and config.seeds >= 1, 'seeds', config.seeds, 'an integer >= 1')
  names = tuple(config.strategies)
  require(len(names) > 0 and len(set(names)) == len(names), 'strategies', names, 'a non-empty tuple, no repeats')
  for name in names:
    require(name in strategies.STRATEGIES, 'strategies', name, f'one of {sorted(strategies.STRATEGIES)}')
  require(len(config.data_sizes) > 0 and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                              for n in config.data_sizes),
          'data_sizes', config.data_sizes, 'a non-empty tuple of integers >= 0 (0: no labelled target examples)')
  require(len(config.shifts) > 0 and all(is_number(s) and s >= 0 for s in config.shifts), 'shifts',
          config.shifts, 'a non-empty tuple of finite numbers >= 0')
  require(isinstance(config.ood_shifts, tuple) and all(is_number(s) and s >= 0 for s in config.ood_shifts),
          'ood_shifts', config.ood_shifts, "a tuple of finite numbers >= 0 (() = the grid's shifts)")
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
          config.max_lanes_per_call, 'an integer >= 0 (0 = as many lanes per call as fit the device)')
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


def check_hyperparameters(config) -> None:
  """The fixed setting, the selection protocol and the search space."""
  for name in types.HPARAMS:
    if name not in ('lr', 'lr_mult'):  # checked with the grid
      require(is_number(config[name]) and config[name] >= 0, name, config[name], 'a finite number >= 0')
  sel = config.selection
  require(sel.mode in SELECTION_MODES, 'selection.mode', sel.mode, f'one of {SELECTION_MODES}')
  require(is_number(sel.val_fraction) and 0 < sel.val_fraction <= 0.5, 'selection.val_fraction', sel.val_fraction,
          'a number in (0, 0.5]')
  require(isinstance(sel.eval_every, int) and sel.eval_every >= 1 and config.steps % sel.eval_every == 0,
          'selection.eval_every', sel.eval_every, f'an integer >= 1 that divides config.steps = {config.steps}')
  if any(strategies.get(n).probe_first for n in config.strategies):
    probe = round(config.probe_fraction * config.steps)
    require(probe % sel.eval_every == 0, 'selection.eval_every', sel.eval_every,
            f'an integer that also divides the linear probe\'s {probe} steps (probe_fraction x steps)')
  require(sel.validator in validators.NAMES, 'selection.validator', sel.validator, f'one of {validators.NAMES}')
  require(is_number(sel.source_floor) and 0 <= sel.source_floor <= 1, 'selection.source_floor', sel.source_floor,
          'a fraction in [0, 1] (0 = no floor)')
  s = config.search
  require(s.method in SEARCH_METHODS, 'search.method', s.method, f'one of {SEARCH_METHODS}')
  require(isinstance(s.num_samples, int) and s.num_samples >= 1, 'search.num_samples', s.num_samples,
          'an integer >= 1 (the fixed setting counts as one)')
  require(isinstance(s.grid_points, int) and s.grid_points >= 1, 'search.grid_points', s.grid_points,
          'an integer >= 1')
  require(isinstance(s.seed, int), 'search.seed', s.seed, 'an integer')
  for name in s.over:
    require(name in types.HPARAMS, 'search.over', name, f'one of the hyperparameters {types.HPARAMS}')
  for name, bounds in s.space.items():
    require(name in types.HPARAMS, f'search.space.{name}', bounds, f'a range of one of {types.HPARAMS}')
    require(isinstance(bounds, tuple) and len(bounds) == 2 and all(is_number(b) and b > 0 for b in bounds) and
            bounds[0] <= bounds[1], f'search.space.{name}', bounds, '(low, high) with 0 < low <= high')
  for name in s.over:
    require(name in s.space, 'search.over', name, 'a hyperparameter with a range in search.space')
  if sel.mode == 'search' and 'lr_mult' in s.over:
    require(len(config.lr_mults) == 1, 'lr_mults', config.lr_mults,
            "one value (the fixed setting) while 'lr_mult' is in search.over; to sweep it as the experiment's axis, "
            "leave it out of search.over")


def check_data(config) -> None:
  check_data_module(config.data)
  if not plugin.path_of(config.data):
    check_data_name(config)
  require(is_number(config.data.shift_angle), 'data.shift_angle', config.data.shift_angle, 'a finite number')
  require(isinstance(config.data.same_classes, bool), 'data.same_classes', config.data.same_classes,
          "True (the target's labels are the source's classes) or False")
  require(config.model.name in models.MODEL_NAMES, 'model.name', config.model.name, f'one of {models.MODEL_NAMES}')
  check_module(config.model)
  require(len(config.model.channels) > 0 and all(isinstance(c, int) and c >= 1 for c in config.model.channels),
          'model.channels', config.model.channels, 'a non-empty tuple of integers >= 1')
  checkpoint, skip = config.pretrained.checkpoint, config.pretrained.skip
  require(isinstance(checkpoint, str), 'pretrained.checkpoint', checkpoint, "a file path, or '' to pre-train here")
  try:
    re.compile(skip)
  except (re.error, TypeError) as e:
    raise ConfigError(f'config.pretrained.skip = {skip!r} is not a valid regex: {e}') from e
  aligned = [n for n in config.strategies if strategies.get(n).adapts]
  require(not (checkpoint and aligned), 'pretrained.checkpoint', checkpoint,
          f"'' with the domain-adaptation strategies {aligned}: they train through the source model's own head, "
          'which a checkpoint of a backbone does not provide')


def check_data_name(config) -> None:
  """`data.name` is a source of the package, with the fields it reads (its own `check`)."""
  require(config.data.name in dataset_lib.NAMES, 'data.name', config.data.name, f'one of {dataset_lib.NAMES}')
  dataset_lib.SOURCES[config.data.name].check(config)


def check_data_module(data_config) -> None:
  """`data.module`, where set, names an importable function that takes `data.kwargs` (data/plugin.py)."""
  path = plugin.path_of(data_config)
  require(isinstance(path, str), 'data.module', path, "'package.module:function', or '' for data.name's source")
  if not path:
    return
  kwargs = data_config.get('kwargs') or {}
  require(hasattr(kwargs, 'keys'), 'data.kwargs', kwargs, f'a dict of keyword arguments of {path}')
  try:
    fn = plugin.function(path)
  except ValueError as e:
    raise ConfigError(f'config.data.module = {path!r}: {e}') from e
  try:
    plugin.check_kwargs(fn, plugin.kwargs_of(data_config))
  except ValueError as e:
    raise ConfigError(f'config.data.kwargs: {e} ({path})') from e


def check_module(model_config) -> None:
  """`model.module`, where set, names an importable `models.Model` class that takes `model.kwargs`."""
  path = models.module_path(model_config)
  require(isinstance(path, str), 'model.module', path, "'package.module:Class', or '' for model.name's model")
  if not path:
    return
  try:
    cls = models.module_class(path)
  except ValueError as e:
    raise ConfigError(f'config.model.module = {path!r}: {e}') from e
  kwargs = model_config.get('kwargs') or {}
  require(hasattr(kwargs, 'keys'), 'model.kwargs', kwargs, f'a dict of keyword arguments of {path}')
  fields = {f.name for f in dataclasses.fields(cls) if f.init} - {'num_classes', 'parent', 'name'}
  for key in kwargs.keys():
    require(key in fields, 'model.kwargs', key, f'a field of {path}: one of {sorted(fields)} (num_classes is set '
            'by the runner)')


def check_report(config) -> None:
  rc = config.report
  require(rc.axis in types.COMPARED_AXES, 'report.axis', rc.axis, f'one of {types.COMPARED_AXES}')
  for field in ('transfer', 'baseline'):
    require(rc[field] in config.strategies, f'report.{field}', rc[field],
            f'one of the strategies run: {tuple(config.strategies)}')
  require(rc.transfer != rc.baseline, 'report.transfer', rc.transfer, 'a strategy other than report.baseline')


def check_groups(config, shapes) -> optim.Rules:
  """Every rule is a valid regex, the head group exists, and the rules cover every parameter in `shapes`; returns
  the rules in force (config.groups, or the model's default ones where it is empty)."""
  for pattern, group in config.groups:
    try:
      re.compile(pattern)
    except re.error as e:
      raise ConfigError(f'config.groups: {pattern!r} (for group {group!r}) is not a valid regex: {e}') from e
  rules = optim.resolve_rules(config.groups, shapes, head_group=config.head_group)
  require(config.head_group in optim.group_names(rules), 'head_group', config.head_group,
          f'one of the groups the rules name: {optim.group_names(rules)}')
  try:
    optim.assign_groups(shapes, rules)
  except ValueError as e:
    raise ConfigError(f'config.groups: {e}') from e
  return rules


def check_fields(config) -> None:
  """Everything that can be checked from the config alone; raises ConfigError on the first problem."""
  check_grid(config)
  check_hyperparameters(config)
  check_report(config)
  check_data(config)


def check_model(config, shapes, data) -> None:
  """What needs the loaded data: the group rules against the model's parameter `shapes`, the layers that can be
  copied, and the unlabelled data domain adaptation needs."""
  rules = check_groups(config, shapes)
  backbone = list(optim.backbone_groups(rules, config.head_group))
  require(all(k <= len(backbone) for k in config.layers_copied), 'layers_copied', config.layers_copied,
          f'integers from 0 to {len(backbone)} (the backbone groups: {backbone})')
  labelled = [n for n in config.data_sizes if n > 0]
  if 0 in config.data_sizes:  # the unsupervised protocol of domain adaptation
    needy = [n for n in config.strategies if not strategies.get(n).adapts]
    require(not needy, 'data_sizes', config.data_sizes,
            f'sizes >= 1: {needy} need labelled target examples (a size of 0 is the unsupervised protocol of the '
            'domain-adaptation strategies source_only, dann, coral and mmd)')
    require(data.same_classes, 'data_sizes', config.data_sizes,
            f'sizes >= 1: with no target labels the model predicts the target with the source\'s head, but '
            f'{data.name} data\'s target classes are not the source\'s (set config.data.same_classes, or use moons)')
  if config.selection.mode == 'search' and labelled:
    every = round(1 / config.selection.val_fraction)
    least = (every - 1) * data.target_classes + 1  # then some class has `every` examples: one validates
    require(min(labelled) >= least, 'data_sizes', config.data_sizes,
            f'sizes >= {least} under selection.mode = \'search\': every {every}th example of a class validates, and '
            f'only from {least} examples of {data.target_classes} classes is one certain to; use larger sizes, a '
            'larger selection.val_fraction, or selection.mode = \'fixed\'')
  aligned = [n for n in config.strategies if strategies.get(n).adapts]
  source_side = tuple(v for v in validators.NAMES if v not in validators.TARGET_SIDE)
  require(not aligned or data.has_unlabeled or config.selection.validator in source_side, 'selection.validator',
          config.selection.validator, f'one of {source_side}: {data.name} data has no unlabelled target inputs for '
          'the target-side validators')
  require(not aligned or data.has_unlabeled, 'strategies', aligned,
          f'strategies without domain adaptation: {data.name} data has no unlabelled target examples '
          '(add target_unlabeled_x to the .npz)')

