"""What every absl entrypoint shares: flag parsing, user errors reported as one line without a traceback, and
`initialize`, the first thing each entrypoint's main does (the persistent compilation cache, the CPU compiler's
optimisation level, a multi-host job).

The compilation cache keeps XLA's compiled programs on disk, so a rerun of the same sweep (same config structure,
same devices, same jax) skips compilation. It lives in $TRANSFER_JAX_CACHE, else $XDG_CACHE_HOME/transfer/jax, else
~/.cache/transfer/jax; `--jax_cache=false` or TRANSFER_JAX_CACHE set to the empty string turns it off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from absl import flags
import jax

from transfer import compiler
from transfer.errors import UserError

CACHE_ENV = 'TRANSFER_JAX_CACHE'
# Programs that compiled faster than this are not cached. Every sweep program takes seconds; the many small ones
# (argument shuffling, reductions) are cheaper to recompile than to read back, so they stay out of the cache.
MIN_COMPILE_SECONDS = 0.1

_CACHE = flags.DEFINE_bool('jax_cache', True, f'Keep compiled programs in a persistent cache: ${CACHE_ENV}, else '
                           '$XDG_CACHE_HOME/transfer/jax, else ~/.cache/transfer/jax (see BUILD.md).')
_CPU_OPT_LEVEL = flags.DEFINE_enum(
    'cpu_opt_level', str(compiler.DEFAULT_CPU_OPT_LEVEL), ['0', '1', '2', '3'],
    "LLVM optimisation level of the sweeps compiled for CPU (transfer/compiler.py): 1 compiles 25-40% faster than "
    "XLA's default 3 and runs as fast; 3 reproduces outputs computed before level 1 was the default bit for bit.")
_DISTRIBUTED = flags.DEFINE_bool('jax_distributed', False,
                                 'Call jax.distributed.initialize() first (one process per host; see BUILD.md).')


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parser, but a misspelt `--config.field` is one line naming it, not a traceback."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
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
  use_compilation_cache(compilation_cache_dir(os.environ) if _CACHE.value else None)
  compiler.set_cpu_opt_level(int(_CPU_OPT_LEVEL.value))
  if _DISTRIBUTED.value:
    jax.distributed.initialize(**exit_on_user_error(distributed_args, os.environ))
