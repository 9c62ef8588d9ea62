r"""Writes how far the regenerated results in outputs/ moved from those committed at a git revision: per experiment
the cells compared, those identical seed for seed, those whose mean moved beyond their seed noise, and each such cell.

  python -m scripts.drift --revision=HEAD [--outputs=outputs] [--out=outputs/drift.md]

Run after regenerating (scripts/reproduce.sh), before committing: HEAD then holds the previous results.
"""

from absl import app
from absl import flags

from transfer import io
from transfer.report import drift
from transfer.run import cli

_REVISION = flags.DEFINE_string('revision', 'HEAD', 'The git revision whose committed results are the old ones.')
_OUTPUTS = flags.DEFINE_string('outputs', 'outputs', 'Folder holding <experiment>/results.json.')
_OUT = flags.DEFINE_string('out', 'outputs/drift.md', 'Where the markdown report goes.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  io.write_text(_OUT.value, drift.markdown(_REVISION.value, _OUTPUTS.value, repo='.'))
  print(f'wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
