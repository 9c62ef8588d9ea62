r"""Compares refitting each cell's chosen setting on every labelled example with the selected run itself, on a
finished search's workdir, and writes <workdir>/refit.md (transfer/studies/refit.py).

  python -m scripts.refit --config=configs/strategies.py [--workdir=outputs/strategies] [--out=PATH]

`--config` (with any `--config.<field>` overrides) must be the config the workdir was run with.
"""

from transfer.run import xla_env  # noqa: F401  (imported before jax for its effect: one CPU device per core)

from absl import app
from absl import flags
from ml_collections import config_flags

from transfer.run import cli

_CONFIG = config_flags.DEFINE_config_file('config', None, 'The experiment\'s config file (path[:variant]).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'The finished search\'s workdir; default outputs/<experiment>.')
_OUT = flags.DEFINE_string('out', None, 'Where to write the page; default <workdir>/refit.md.')
flags.mark_flags_as_required(['config'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  from transfer.studies import refit  # here: a bad flag or config is one line, before jax loads
  config = _CONFIG.value
  workdir = _WORKDIR.value or f'outputs/{config.experiment}'
  print(f'wrote {cli.exit_on_user_error(refit.write, config, workdir, _OUT.value)}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
