r"""Runs one experiment config end to end and prints its result table.

  python -m scripts.run --config=configs/domain_shift.py [--workdir=outputs/domain_shift]
  python -m scripts.run --config=configs/domain_shift.py:smoke --workdir=/tmp/smoke --config.seeds=3
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from transfer import experiment
from transfer import validate

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file (path[:variant]).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory; default outputs/<config.experiment>.')
flags.mark_flags_as_required(['config'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  try:
    print(experiment.run(config, _WORKDIR.value or f'outputs/{config.experiment}'))
  except validate.ConfigError as e:
    raise SystemExit(f'Config error: {e}') from None


if __name__ == '__main__':
  app.run(main)
