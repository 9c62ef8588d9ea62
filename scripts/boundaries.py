r"""Draws the two moons' decision boundaries of source-only and DANN (the DANN paper's toy figure) from a finished
domain-adaptation experiment on moons, retraining one seed's models as the workdir recorded them.

  python -m scripts.boundaries --config=configs/domain_adaptation.py:moons,fixed --shift=1 \
      [--workdir=outputs/domain_adaptation_moons_fixed] [--seed=0 (default: the seed of the median gain)]

Writes boundaries.png and boundaries.pdf into the workdir.
"""

from transfer.run import xla_env  # noqa: F401  (imported before jax for its effect: one CPU device per core)

from absl import app
from absl import flags
from ml_collections import config_flags

from transfer.run import cli

_CONFIG = config_flags.DEFINE_config_file('config', 'configs/domain_adaptation.py:moons,fixed',
                                          'Domain-adaptation config on moons (path[:variant]).', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Its finished workdir; default outputs/<config.experiment>.')
_SHIFT = flags.DEFINE_float('shift', 1.0, 'The shift (x 30 degrees of rotation) to draw.')
_SEED = flags.DEFINE_integer('seed', None, 'The seed to draw; default: the seed of the median DANN - source_only gain '
                             'at that shift.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  from transfer.studies import boundaries  # here: a bad flag or config is one line, before jax loads
  config = _CONFIG.value
  workdir = _WORKDIR.value or f'outputs/{config.experiment}'
  for path in cli.exit_on_user_error(boundaries.run, config, workdir, shift=_SHIFT.value, seed=_SEED.value):
    print(f'wrote {path}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
