"""What every absl entrypoint shares: flag parsing and user errors reported as one line, without a traceback."""

from __future__ import annotations

import sys

from absl import flags
import jax

from transfer.errors import UserError


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


_DISTRIBUTED = flags.DEFINE_bool('jax_distributed', False,
                                 'Call jax.distributed.initialize() first (one process per host; see BUILD.md).')


def initialize() -> None:
  """Joins a multi-host job when --jax_distributed is given; a no-op otherwise."""
  if _DISTRIBUTED.value:
    jax.distributed.initialize()
