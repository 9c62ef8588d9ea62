r"""Writes a finished workdir's learning curves and hyperparameters as TensorBoard event files (every run of
scripts/run.py already does, into <workdir>/tensorboard; this re-exports any workdir, the committed outputs included).

  python -m scripts.tensorboard --workdir=outputs/domain_shift [--logdir=/tmp/tb/domain_shift]
  tensorboard --logdir=/tmp/tb

Layout (transfer/report/tensorboard.py): one run per strategy and candidate, `<strategy>/cand<j>`, with a tag per
curve and grid cell, `<curve>/<cell>`, and each run a session of the HParams dashboard.
"""

import os

from absl import app
from absl import flags

from transfer.errors import WorkdirError
from transfer.report import tensorboard
from transfer.run import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'A finished workdir (config.json, curves.npz, results.json).')
_LOGDIR = flags.DEFINE_string('logdir', None, 'Where to write the event files; default <workdir>/tensorboard. '
                              'Its earlier event files are replaced.')
flags.mark_flags_as_required(['workdir'])


def export(workdir: str, logdir: str) -> list[str]:
  if not os.path.exists(os.path.join(workdir, 'curves.npz')):
    raise WorkdirError(f'{workdir!r} holds no curves.npz: not a workdir of scripts/run.py with finished lanes')
  return tensorboard.write_events(workdir, logdir)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  logdir = _LOGDIR.value or os.path.join(_WORKDIR.value, tensorboard.FOLDER)
  paths = cli.exit_on_user_error(export, _WORKDIR.value, logdir)
  print(f'wrote {len(paths)} event files; view them with: tensorboard --logdir={logdir}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
