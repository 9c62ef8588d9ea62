"""The documentation pages' embedded result tables, refreshed from the committed outputs.

A page embeds a result as

    <!-- table: outputs/domain_shift/table.md -->
    ...the file's text...
    <!-- /table -->

and `refresh` rewrites every such block with the named file's current text, so a regenerated result reaches the
README and docs/ by the same command that regenerated it (`python -m scripts.report`); tests/test_docs.py checks
that no block differs from its file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from transfer import io

BLOCK = re.compile(r'(<!-- table: (\S+) -->\n)(.*?)(<!-- /table -->)', re.S)


def refresh(page: str, read: Callable[[str], str]) -> str:
  """`page` with every embedded block's body replaced by `read(path)` of the path it names."""
  return BLOCK.sub(lambda m: m.group(1) + read(m.group(2)).strip() + '\n' + m.group(4), page)


def pages(root: str) -> list[str]:
  """The pages that may embed results: README.md, BUILD.md and docs/*.md under `root`."""
  docs = os.path.join(root, 'docs')
  found = [os.path.join(root, name) for name in ('README.md', 'BUILD.md')]
  if os.path.isdir(docs):
    found += sorted(os.path.join(docs, n) for n in os.listdir(docs) if n.endswith('.md'))
  return [p for p in found if os.path.exists(p)]


def refresh_all(root: str) -> list[str]:
  """Refreshes the embedded blocks of every page under `root` (paths in blocks are relative to `root`); returns
  the pages that changed."""

  def read(path: str) -> str:
    with open(os.path.join(root, path)) as f:
      return f.read()

  changed = []
  for path in pages(root):
    with open(path) as f:
      text = f.read()
    new = refresh(text, read)
    if new != text:
      io.write_text(path, new)
      changed.append(path)
  return changed
