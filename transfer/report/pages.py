"""The documentation pages' embedded result tables, refreshed from the committed outputs.

A page embeds a result as

    <!-- table: outputs/domain_shift/table.md -->
    ...the file's text...
    <!-- /table -->

and `refresh` rewrites every such block with the named file's first markdown table (`PATH#k`: its k-th), so a
regenerated result reaches the README and docs/ by the same command that regenerated it (`python -m scripts.report`);
tests/test_docs.py checks that no block differs from its file. Results in words are embedded the same way, as

    <!-- text: outputs/findings.md#domain-shift -->
    ...the section's text...
    <!-- /text -->

which copies the body of the file's section `## domain-shift` (up to its next `## ` heading).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from transfer import io

BLOCK = re.compile(r'(<!-- table: (\S+) -->\n)(.*?)(<!-- /table -->)', re.S)
TEXT = re.compile(r'(<!-- text: (\S+) -->\n)(.*?)(<!-- /text -->)', re.S)


def markdown_tables(text: str) -> list[str]:
  """The markdown tables in `text`: each run of consecutive lines that start with '|'."""
  found, current = [], []
  for line in text.splitlines() + ['']:
    if line.startswith('|'):
      current.append(line)
    elif current:
      found.append('\n'.join(current))
      current = []
  return found


def embedded(target: str, read: Callable[[str], str]) -> str:
  """The table a block names: `path` (its first table) or `path#k` (its k-th, from 1)."""
  path, _, k = target.partition('#')
  found = markdown_tables(read(path))
  index = int(k or 1) - 1
  if not 0 <= index < len(found):
    raise ValueError(f'{path} has {len(found)} markdown table(s); a page asks for table {index + 1}')
  return found[index]


def section(target: str, read: Callable[[str], str]) -> str:
  """The body of the section `path#name` names: the lines after its `## name` heading, up to the next `## `."""
  path, _, name = target.partition('#')
  lines = read(path).splitlines()
  heading = f'## {name}'
  if heading not in lines:
    raise ValueError(f'{path} has no section {heading!r}; a page asks for it')
  body = []
  for line in lines[lines.index(heading) + 1:]:
    if line.startswith('## '):
      break
    body.append(line)
  return '\n'.join(body).strip('\n')


def refresh(page: str, read: Callable[[str], str]) -> str:
  """`page` with every embedded block's body replaced by the table or section it names, read from its file by
  `read`."""
  page = BLOCK.sub(lambda m: m.group(1) + embedded(m.group(2), read) + '\n' + m.group(4), page)
  return TEXT.sub(lambda m: m.group(1) + section(m.group(2), read) + '\n' + m.group(4), page)


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
