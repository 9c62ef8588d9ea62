"""The README and docs/ show committed results, never hand-edited numbers, and link only inside the repository."""

import os
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
BLOCK = re.compile(r'<!-- table: (\S+) -->\n(.*?)<!-- /table -->', re.S)
LINK = re.compile(r'\]\(([^)\s]+)\)')
PAGES = [REPO / 'README.md', REPO / 'BUILD.md'] + sorted((REPO / 'docs').glob('*.md'))


def test_readme_embeds_the_main_result():
  assert BLOCK.findall((REPO / 'README.md').read_text()), 'README embeds no result table'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_embedded_tables_and_texts_are_copied_from_committed_outputs(page):
  from transfer.report import pages
  for target, table in BLOCK.findall(page.read_text()):
    path = target.partition('#')[0]
    assert table.strip() in (REPO / path).read_text(), (f'{page.name}: table differs from {path}; run python -m '
                                                        'scripts.report to copy it from there')
  text = page.read_text()
  assert pages.refresh(text, lambda path: (REPO / path).read_text()) == text, (
      f'{page.name}: an embedded block differs from its file; run python -m scripts.report')


CI = re.compile(r'[+-]?\d+\.\d+ \[[+-]?\d+\.\d+, [+-]?\d+\.\d+\]')


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_every_interval_quoted_in_prose_is_in_a_committed_output(page):
  """A 'mean [low, high]' written in a page's prose (outside embedded blocks) is copied from a committed output:
  the same digits appear in some outputs/**/*.md file."""
  from transfer.report import pages
  prose = pages.TEXT.sub('', pages.BLOCK.sub('', page.read_text()))
  outputs = '\n'.join(p.read_text() for p in (REPO / 'outputs').rglob('*.md'))
  missing = [q for q in CI.findall(prose) if q not in outputs and q.replace('+', '') not in outputs.replace('+', '')]
  assert not missing, f'{page.name} quotes intervals no committed output holds: {missing}'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_every_link_resolves_inside_the_repository(page):
  for target in LINK.findall(page.read_text()):
    if re.match(r'[a-z]+://', target) or target.startswith('#'):
      continue
    path = target.split('#')[0]
    assert not path.startswith('/'), f'{page.name}: {target} is absolute; link relative to the page'
    resolved = pathlib.Path(os.path.normpath(page.parent / path))
    assert resolved.is_relative_to(REPO), f'{page.name}: {target} points outside the repository'
    assert resolved.exists(), f'{page.name}: {target} does not exist'


def test_report_md_is_a_pure_function_of_the_committed_results_and_configs():
  """outputs/REPORT.md and claims.md are exactly what `python -m scripts.report` renders from the committed
  config.json and results.json files: no cell of them is written by hand."""
  from transfer.report import study
  for name, text in study.texts(str(REPO / 'outputs')).items():
    assert (REPO / 'outputs' / name).read_text() == text, f'outputs/{name} differs; run python -m scripts.report'


def test_refreshing_a_page_copies_each_block_from_its_file_and_nothing_else():
  from transfer.report import pages
  files = {'a.md': '# a\n\ntext\n\n| new |\n|---|\n\nmore\n', 'b.md': '| b1 |\n\n| b2 |\n|---|\n'}
  page = ('intro\n<!-- table: a.md -->\n| old |\n|---|\n<!-- /table -->\nmiddle\n'
          '<!-- table: b.md#2 -->\n| b |\n<!-- /table -->\nend\n')
  refreshed = pages.refresh(page, files.__getitem__)
  assert refreshed == ('intro\n<!-- table: a.md -->\n| new |\n|---|\n<!-- /table -->\nmiddle\n'
                       '<!-- table: b.md#2 -->\n| b2 |\n|---|\n<!-- /table -->\nend\n')
  assert pages.refresh(refreshed, files.__getitem__) == refreshed
  text = {'f.md': '# f\n\n## one\n\n- first\n\n## two\n- second\n'}
  assert pages.refresh('a\n<!-- text: f.md#one -->\nold\n<!-- /text -->\nb\n', text.__getitem__) == (
      'a\n<!-- text: f.md#one -->\n- first\n<!-- /text -->\nb\n')
  with pytest.raises(ValueError, match="no section '## three'"):
    pages.refresh('<!-- text: f.md#three -->\n<!-- /text -->\n', text.__getitem__)
  with pytest.raises(ValueError, match='b.md has 2 markdown table'):
    pages.refresh('<!-- table: b.md#3 -->\n<!-- /table -->\n', files.__getitem__)
