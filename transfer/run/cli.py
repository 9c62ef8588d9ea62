"""What every absl entrypoint shares: flag parsing (config files included), user errors reported as one line without
a traceback, and `initialize`, the first thing each entrypoint's main does (the persistent compilation cache, the
CPU compiler's optimisation level, a multi-host job).

The compilation cache keeps XLA's compiled programs on disk, so a rerun of the same sweep (same config structure,
same devices, same jax) skips compilation. It lives in $TRANSFER_JAX_CACHE, else $XDG_CACHE_HOME/transfer/jax, else
~/.cache/transfer/jax; `--jax_cache=false` or TRANSFER_JAX_CACHE set to the empty string turns it off.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import pathlib
import sys
import traceback
from collections.abc import Mapping

from absl import flags
from ml_collections.config_flags import config_flags  # the module: its package exports only the DEFINE_ functions

from transfer.errors import ConfigError
from transfer.errors import UserError

CACHE_ENV = 'TRANSFER_JAX_CACHE'
CONFIGS = 'configs'  # the experiment configs' folder, as --config names it from the repository's root
# Programs that compiled faster than this are not cached. Every sweep program takes seconds; the many small ones
# (argument shuffling, reductions) are cheaper to recompile than to read back, so they stay out of the cache.
MIN_COMPILE_SECONDS = 0.1

_CACHE = flags.DEFINE_bool('jax_cache', True, f'Keep compiled programs in a persistent cache: ${CACHE_ENV}, else '
                           '$XDG_CACHE_HOME/transfer/jax, else ~/.cache/transfer/jax (see BUILD.md).')
# The levels and the variable are compiler.LEVELS and compiler.LEVEL_ENV, spelt out: importing compiler imports jax.
_CPU_OPT_LEVEL = flags.DEFINE_enum(
    'cpu_opt_level', None, ['0', '1', '2', '3'],
    'LLVM optimisation level of the sweeps compiled for CPU (transfer/compiler.py; default 1, or '
    "$TRANSFER_CPU_OPT_LEVEL where set): 1 compiles faster than XLA's default 3 and runs as fast; 3 reproduces "
    'outputs computed before level 1 was the default bit for bit.')
_DISTRIBUTED = flags.DEFINE_bool('jax_distributed', False,
                                 'Call jax.distributed.initialize() first (one process per host; see BUILD.md).')


def config_files(folder: str) -> list[str]:
  """The config files in `folder`: its .py files that define get_config (none where it is not a folder)."""
  if not os.path.isdir(folder):
    return []
  paths = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith('.py'))
  return [p for p in paths if 'def get_config(' in pathlib.Path(p).read_text()]


def failure(error: Exception, path: str) -> str:
  """`error` in one line: its type, the first line of its message and the line of `path` that raised it."""
  first = (str(error).strip().splitlines() or [''])[0]
  lines = [f.lineno for f in traceback.extract_tb(error.__traceback__)
           if os.path.abspath(f.filename) == os.path.abspath(path)]
  return f'{type(error).__name__}: {first}' + (f' (line {lines[-1]})' if lines else '')


class ConfigFileParser(config_flags.ConfigFileFlagParser):
  """ml_collections' parser of a config file flag (`path[:variant]`), but a file that is missing, does not load or
  whose get_config raises (an unknown variant) is one ConfigError naming the file, raised while flags are parsed."""

  def parse(self, path):
    file, *variant = path.split(':', 1)
    if not os.path.isfile(file):
      folder = os.path.dirname(file) if os.path.isdir(os.path.dirname(file)) else CONFIGS
      choices = config_files(folder)
      raise ConfigError(f'no config file {file!r}; ' + (f'use one of {", ".join(choices)}' if choices else
                                                          f'{folder}/ holds none'))
    loader = importlib.machinery.SourceFileLoader(f'{self.name}_config', file)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    sys.modules[loader.name] = module  # as ml_collections does: dataclasses in the file look their module up
    try:
      loader.exec_module(module)
      config = module.get_config(*variant)
    except UserError as e:
      raise ConfigError(f'{file}: {e}') from e
    except Exception as e:  # whatever a user's file raises is reported in one line
      raise ConfigError(f'config file {file!r} does not load: {failure(e, file)}') from e
    if self._lock_config and callable(getattr(config, 'lock', None)):
      config.lock()
    return config


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parser, but a config file that is missing, does not load or rejects its variant, and a misspelt
  `--config.field`, are one line naming it, not a traceback."""
  for name in flags.FLAGS:
    flag = flags.FLAGS[name]
    if type(flag.parser) is config_flags.ConfigFileFlagParser:
      flag.parser = ConfigFileParser(flag.parser.name, flag.parser._lock_config)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    if isinstance(e.__context__, UserError):  # raised by ConfigFileParser; absl re-raises it as a flag error
      sys.exit(f'{type(e.__context__).__name__}: {e.__context__}')
    sys.exit(f'Flag error: {e}\nPass --helpshort to see the flags.')
  except (AttributeError, KeyError) as e:  # raised by a locked ConfigDict for an unknown field
    bad = ' '.join(a for a in argv[1:] if a.startswith('--config.'))
    reason = str(e).strip('\'"').replace('\\n', ' ').replace("\\'", "'")
    sys.exit(f'Config error: unknown config field in {bad}: {reason}')


def exit_on_user_error(fn, *args, **kwargs):
  """Calls `fn`; a UserError exits with status 1 and its message on stderr."""
  try:
    return fn(*args, **kwargs)
  except UserError as e:
    sys.exit(f'{type(e).__name__}: {e}')


def compilation_cache_dir(environ: Mapping[str, str]) -> str | None:
  """The persistent compilation cache's folder: $TRANSFER_JAX_CACHE (None, i.e. off, when it is empty), else
  $XDG_CACHE_HOME/transfer/jax, else ~/.cache/transfer/jax."""
  if CACHE_ENV in environ:
    return environ[CACHE_ENV] or None
  base = environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'transfer', 'jax')


def use_compilation_cache(path: str | None) -> None:
  """Caches compiled programs in `path` (created by jax on the first write); None turns the cache off, also one
  that JAX_COMPILATION_CACHE_DIR would have turned on."""
  import jax  # here, not at the top: a script's bad flag or config file is reported before jax loads (~1.5 s)
  if path is None:
    jax.config.update('jax_enable_compilation_cache', False)
    return
  jax.config.update('jax_enable_compilation_cache', True)
  jax.config.update('jax_compilation_cache_dir', os.path.expanduser(path))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', MIN_COMPILE_SECONDS)


def distributed_args(environ: Mapping[str, str]) -> dict[str, int]:
  """jax.distributed.initialize's num_processes and process_id from JAX_NUM_PROCESSES and JAX_PROCESS_ID where set
  (jax itself reads only JAX_COORDINATOR_ADDRESS; on Cloud TPU, SLURM and Open MPI it detects all three)."""
  args = {}
  for name, arg in (('JAX_NUM_PROCESSES', 'num_processes'), ('JAX_PROCESS_ID', 'process_id')):
    if environ.get(name):
      try:
        args[arg] = int(environ[name])
      except ValueError:
        raise UserError(f'{name}={environ[name]!r} is not an integer') from None
  return args


def initialize() -> None:
  """What every entrypoint's main does first, before any JAX computation: the compilation cache (--jax_cache), the
  CPU compiler's optimisation level (--cpu_opt_level) and, with --jax_distributed, joining a multi-host job (after
  which only process 0 writes files: transfer/io.py)."""
  import jax
  from transfer import compiler
  use_compilation_cache(compilation_cache_dir(os.environ) if _CACHE.value else None)
  if _CPU_OPT_LEVEL.value is not None:  # else compiler's own default: 1, or $TRANSFER_CPU_OPT_LEVEL
    compiler.set_cpu_opt_level(int(_CPU_OPT_LEVEL.value))
  if _DISTRIBUTED.value:
    jax.distributed.initialize(**exit_on_user_error(distributed_args, os.environ))
