r"""Runs one experiment config end to end and prints its result table.

  python -m scripts.run --config=configs/domain_shift.py [--workdir=outputs/domain_shift] [--overwrite]
  python -m scripts.run --config=configs/domain_shift.py:smoke --workdir=/tmp/smoke --config.seeds=3

A rerun into the same workdir computes only the runs that are missing (e.g. after the process was killed).
"""

from transfer.run import xla_env  # noqa: F401  (imported before jax for its effect: one CPU device per core)

from absl import app
from absl import flags
from ml_collections import config_flags

from transfer.run import cli

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file (path[:variant]).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory; default outputs/<config.experiment>.')
_OVERWRITE = flags.DEFINE_bool('overwrite', False, 'Replace results in --workdir that a different config made.')
flags.mark_flags_as_required(['config'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  from transfer.run import experiment  # here: a bad flag or config is one line, before jax loads
  config = _CONFIG.value
  workdir = _WORKDIR.value or f'outputs/{config.experiment}'
  print(cli.exit_on_user_error(experiment.run, config, workdir, overwrite=_OVERWRITE.value).table)


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
