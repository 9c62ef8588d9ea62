"""The README shows committed results, never hand-edited numbers."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r'<!-- table: (\S+) -->\n(.*?)<!-- /table -->', re.S)


def test_readme_tables_are_copied_from_committed_outputs():
  with open(os.path.join(REPO, 'README.md')) as f:
    blocks = BLOCK.findall(f.read())
  assert blocks, 'README embeds no result table'
  for path, table in blocks:
    with open(os.path.join(REPO, path)) as f:
      assert table.strip() in f.read(), f'README table differs from {path}; copy it from there'
