"""The Python API, `transfer.run_experiment` and `transfer.load_config`: what `python -m scripts.run` does, from a
script or a notebook.

  import transfer
  outcome = transfer.run_experiment('configs/domain_shift.py:smoke', '/tmp/smoke', overrides={'seeds': 3})
  print(outcome.table)

As the script does, a run uses one CPU device per core (transfer/run/xla_env.py, which acts only until jax has made
its devices, so call it before any jax computation; a warning says when that was too late), the persistent
compilation cache (transfer/run/cli.py) and absl's log at INFO on stderr, which is the progress off a terminal (a line
per chunk; on a terminal a progress bar is drawn, run/progress.py). User errors (a config file that is missing or
does not load, an unknown or mistyped override, a workdir of another config) are raised as `transfer.errors.UserError`,
one line each, where the script prints that line and exits.

Nothing here imports jax at module level: `import transfer` stays light, and the device count is still open.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Mapping

from absl import logging

from transfer.errors import ConfigError

CONFIGS = 'configs'  # the repository's folder of experiment configs (also the package their files import `common` from)


def repository_root() -> str | None:
  """The folder that holds the `transfer` package and `configs/`: the repository, for a checkout (an editable
  install); None for a plain install, which has no configs."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  return root if os.path.isdir(os.path.join(root, CONFIGS)) else None


def resolve(path: str) -> str:
  """A config file's path: as given (absolute, or relative to the current directory) where that exists, else
  relative to the repository root (so 'configs/domain_shift.py' works from any directory)."""
  path = os.path.expanduser(path)
  root = repository_root()
  if os.path.exists(path) or os.path.isabs(path) or root is None or not os.path.exists(os.path.join(root, path)):
    return os.path.abspath(path)
  return os.path.join(root, path)


def configs_package(path: str) -> None:
  """Makes `configs` importable for the config file at `path` (experiment files say `from configs import common`)
  where nothing on sys.path provides it: the file's own folder if it is a `configs` package, else the repository's."""
  if CONFIGS in sys.modules:
    return
  folder = os.path.dirname(path)
  if not (os.path.basename(folder) == CONFIGS and os.path.isfile(os.path.join(folder, '__init__.py'))):
    if importlib.util.find_spec(CONFIGS) is not None:
      return
    root = repository_root()
    if root is None:
      return
    folder = os.path.join(root, CONFIGS)
  spec = importlib.util.spec_from_file_location(CONFIGS, os.path.join(folder, '__init__.py'),
                                                submodule_search_locations=[folder])
  module = importlib.util.module_from_spec(spec)
  sys.modules[CONFIGS] = module
  spec.loader.exec_module(module)


def flat(overrides: Mapping, prefix: str = '') -> dict:
  """Overrides with nested mappings flattened to dotted names: {'model': {'width': 8}} -> {'model.width': 8}."""
  out = {}
  for key, value in overrides.items():
    if isinstance(value, Mapping):
      out.update(flat(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def override(config, overrides: Mapping | None):
  """`config` with `overrides` (field -> value; dotted names such as 'model.width', or nested mappings) set, as
  `--config.<field>=` sets them: only existing fields, each keeping its type. An unknown field or a value of the wrong
  type is one ConfigError."""
  for name, value in flat(overrides or {}).items():
    *parents, field = name.split('.')
    node, known = config, ''
    for part in parents:
      if not (hasattr(node, 'keys') and part in node and hasattr(node[part], 'keys')):
        break
      node, known = node[part], f'{known}{part}.'
    if known != ''.join(f'{p}.' for p in parents) or field not in node:
      raise ConfigError(f'unknown config field {name!r} in overrides; {known.rstrip(".") or "the config"} has '
                        f'{", ".join(sorted(node.keys()))}')
    try:
      node[field] = value
    except (TypeError, ValueError) as e:
      raise ConfigError(f'override {name}={value!r}: {(str(e).splitlines() or [""])[0]}') from None
  return config


def load_config(config, overrides: Mapping | None = None):
  """An experiment config: `config` as 'path[:variant]' (e.g. 'configs/domain_shift.py:smoke'; the path as given,
  else relative to the repository root) loaded as `--config=` loads it and locked, or a ConfigDict (copied); then
  `overrides` set (see `override`). A missing file, a file that does not load or an unknown variant is one
  ConfigError, as on the command line."""
  import copy
  from transfer.run import cli  # imports jax: after the device count is set
  if isinstance(config, (str, os.PathLike)):
    path, colon, variant = os.fspath(config).partition(':')
    path = resolve(path)
    if not os.path.isfile(path):
      root = repository_root()
      choices = [os.path.relpath(p, root) for p in cli.config_files(os.path.join(root, CONFIGS))] if root else []
      given = os.fspath(config).partition(':')[0]
      where = '' if os.path.isabs(given) else f' in {os.getcwd()}' + (f' or {root}' if root else '')
      raise ConfigError(f'no config file {given!r}{where}' + (f'; use one of {", ".join(choices)}' if choices else ''))
    configs_package(path)
    config = cli.ConfigFileParser('config', lock_config=True).parse(path + colon + variant)
  else:
    config = copy.deepcopy(config)
  return override(config, overrides)


def one_cpu_device_per_core() -> bool:
  """Applies transfer/run/xla_env.py where it was not (scripts and tests import it first); returns whether jax had
  been imported before, in which case its CPU devices may already be made (`warn_if_too_late`)."""
  if 'transfer.run.xla_env' in sys.modules:
    return False
  jax = sys.modules.pop('jax', None)  # xla_env refuses once jax is imported; its flag still acts until jax makes its
  try:  #                               devices, which warn_if_too_late checks
    importlib.import_module('transfer.run.xla_env')
  finally:
    if jax is not None:
      sys.modules['jax'] = jax
  return jax is not None


def warn_if_too_late() -> None:
  """One warning line where jax made its CPU devices before xla_env's flag was set, so the sweep runs on fewer."""
  import jax
  from transfer.run import xla_env
  wanted = re.search(rf'{xla_env.FLAG}=(\d+)', os.environ.get('XLA_FLAGS', ''))
  if jax.default_backend() == 'cpu' and wanted and jax.local_device_count() < int(wanted.group(1)):
    logging.warning('jax made its CPU devices before transfer.run_experiment was called, so this sweep runs on %d '
                    'device(s), not one per core (%s): call it before any jax computation, in a fresh process',
                    jax.local_device_count(), wanted.group(1))


def log_to_stderr() -> None:
  """absl's log lines at INFO (and above) on stderr, as the scripts print them; a lower threshold is kept."""
  logging.use_absl_handler()
  if logging.get_verbosity() < logging.INFO:
    logging.set_verbosity(logging.INFO)


def set_up(config, overrides: Mapping | None, *, jax_cache: bool):
  """What every API call does first, as the scripts do: one CPU device per core (before anything imports jax), the
  log on stderr, the compilation cache; returns the config loaded with its overrides."""
  jax_was_imported = one_cpu_device_per_core()
  log_to_stderr()
  config = load_config(config, overrides)
  from transfer.run import cli
  cli.use_compilation_cache(cli.compilation_cache_dir(os.environ) if jax_cache else None)
  if jax_was_imported:
    warn_if_too_late()
  return config


def run_experiment(config, workdir: str | os.PathLike | None = None, *, overrides: Mapping | None = None,
                   overwrite: bool = False, jax_cache: bool = True, tensorboard: bool = True):
  """Runs an experiment into `workdir` as `python -m scripts.run` does; returns its `experiment.Outcome` (the result
  `table` in markdown, every run's `records`, the dataset and the source models).

  Args:
    config: 'path[:variant]' of a config file (e.g. 'configs/domain_shift.py:smoke': as given, else relative to the
      repository root, so from any directory) or a ConfigDict (`load_config`).
    workdir: the output folder; default outputs/<config.experiment> (relative to the current directory). A rerun
      into it computes only the runs that are missing.
    overrides: config fields to set, e.g. {'seeds': 3, 'data_sizes': (50, 100), 'model.width': 64}.
    overwrite: replace results in `workdir` that a different config made (`--overwrite`).
    jax_cache: keep compiled programs in the persistent compilation cache (`--jax_cache`; transfer/run/cli.py).
    tensorboard: also write the curves and hyperparameters as TensorBoard event files into <workdir>/tensorboard
      (transfer/report/tensorboard.py).
  """
  config = set_up(config, overrides, jax_cache=jax_cache)
  from transfer.run import experiment
  workdir = os.fspath(workdir) if workdir is not None else os.path.join('outputs', config.experiment)
  return experiment.run(config, workdir, overwrite=overwrite, tensorboard=tensorboard)


def export_models(config, workdir: str | os.PathLike, out: str | os.PathLike, *, overrides: Mapping | None = None,
                  jax_cache: bool = True) -> int:
  """Writes every grid cell's selected model of the finished experiment in `workdir` as one orbax checkpoint `out`
  (and its manifest `out`.json), as `python -m scripts.export_models` does (transfer/run/export.py); returns how many.
  `config` and `overrides` as for `run_experiment`: they must give the config the workdir was run with."""
  config = set_up(config, overrides, jax_cache=jax_cache)
  from transfer.run import export
  return export.export(config, os.fspath(workdir), os.fspath(out))
