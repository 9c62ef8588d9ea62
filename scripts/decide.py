r"""Runs the decision grid, fits the advisor's thresholds on some seeds and scores them on the others.

  python -m scripts.decide --config=configs/decision.py [--workdir=outputs/decision] [--overwrite]
"""

from transfer.run import xla_env  # noqa: F401  (imported before jax for its effect: one CPU device per core)

from absl import app
from absl import flags
from ml_collections import config_flags

from transfer.run import cli

_CONFIG = config_flags.DEFINE_config_file('config', 'configs/decision.py', 'Decision config (path[:variant]).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory; default outputs/<config.experiment>.')
_OVERWRITE = flags.DEFINE_bool('overwrite', False, 'Replace results in --workdir that a different config made.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  from transfer.studies import decision  # here: a bad flag or config is one line, before jax loads
  config = _CONFIG.value
  workdir = _WORKDIR.value or f'outputs/{config.experiment}'
  print(cli.exit_on_user_error(decision.run, config, workdir, overwrite=_OVERWRITE.value))


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
