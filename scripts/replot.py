r"""Redraws every committed figure from the committed results, without rerunning an experiment: each workdir's
summary.csv, table.md and plot.png/.pdf (from its config.json and results.json), the decision map (from
decision/decision.json) and the concept figure.

  python -m scripts.replot [--outputs=outputs]

The tables come out byte-identical unless results.json changed; only the figures follow the plotting code.
"""

from absl import app
from absl import flags

from transfer.report import workdir
from transfer.run import cli

_OUTPUTS = flags.DEFINE_string('outputs', 'outputs', 'Folder holding <experiment>/config.json and results.json.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  for path in workdir.redraw(_OUTPUTS.value):
    print(f'wrote {path}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
