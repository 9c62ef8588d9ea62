r"""Draws the concept figure (process, feature hierarchy, strategies) into outputs/concept.png and concept.pdf.

  python -m scripts.concept [--out=outputs/concept.png]
"""

from absl import app
from absl import flags

from transfer.report import concept
from transfer.run import cli

_OUT = flags.DEFINE_string('out', 'outputs/concept.png', 'PNG file to write; the PDF goes beside it.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  for path in concept.figure(_OUT.value):
    print(f'wrote {path}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
