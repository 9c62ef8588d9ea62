r"""Writes the models a finished experiment selected as one orbax checkpoint: every grid cell's chosen candidate,
retrained to the step its selection picked (transfer/run/export.py; needs the `orbax` extra).

  python -m scripts.export_models --config=configs/domain_shift.py --workdir=outputs/domain_shift --out=/tmp/models

`--config` (with any `--config.<field>` overrides) must be the config the workdir was run with. The checkpoint holds
{strategy: {cell: params}}; <out>.json lists each cell's candidate, hyperparameters, step and test accuracy.
"""

from transfer.run import xla_env  # noqa: F401  (imported before jax for its effect: one CPU device per core)

from absl import app
from absl import flags
from ml_collections import config_flags

from transfer.run import cli

_CONFIG = config_flags.DEFINE_config_file('config', None, 'The experiment\'s config file (path[:variant]).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'The finished experiment\'s workdir; default outputs/<experiment>.')
_OUT = flags.DEFINE_string('out', None, 'The checkpoint directory to write (replaced if it exists).')
flags.mark_flags_as_required(['config', 'out'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  from transfer.run import export  # here: a bad flag or config is one line, before jax loads
  config = _CONFIG.value
  workdir = _WORKDIR.value or f'outputs/{config.experiment}'
  written = cli.exit_on_user_error(export.export, config, workdir, _OUT.value)
  print(f'wrote {written} selected models to {_OUT.value} (manifest: {_OUT.value.rstrip("/")}.json)')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
