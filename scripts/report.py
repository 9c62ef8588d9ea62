r"""Writes outputs/REPORT.md (the original study's tables beside ours, a verdict on each claim), claims.md and
findings.md (results in generated sentences), then copies every result table and text the README and docs/ embed
(`<!-- table: PATH -->` and `<!-- text: PATH#section -->` blocks) afresh from its file.

  python -m scripts.report [--outputs=outputs] [--pages=.]

Reads the experiments' results.json files; run the experiments first (scripts/reproduce.sh runs everything).
"""

from absl import app
from absl import flags

from transfer.report import pages
from transfer.report import study
from transfer.run import cli

_OUTPUTS = flags.DEFINE_string('outputs', 'outputs', 'Folder holding <experiment>/results.json.')
_PAGES = flags.DEFINE_string('pages', '.', 'Repository root whose README.md, BUILD.md and docs/*.md embedded tables '
                             'are refreshed from their files (empty: none).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  for path in study.write(_OUTPUTS.value):
    print(f'wrote {path}')
  for path in pages.refresh_all(_PAGES.value) if _PAGES.value else ():
    print(f'refreshed the tables of {path}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
