"""The README and docs/ show committed results, never hand-edited numbers, and link only inside the repository."""

import json
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


def table_rows(text: str) -> list[dict[str, str]]:
  """Every row of every markdown table in `text`, as a dict keyed by its table's header."""
  rows, header = [], None
  for line in text.splitlines():
    if not line.startswith('|'):
      header = None
      continue
    cells = [c.strip() for c in line.strip().strip('|').split('|')]
    if header is None:
      header = cells
    elif not set(''.join(cells)) <= set('-:'):
      rows.append(dict(zip(header, cells)))
  return rows


def section(path: str, name: str) -> str:
  text = (REPO / path).read_text()
  return text.split(f'## {name}\n', 1)[1].split('\n## ', 1)[0]


def layer_cell(name: str, n: int, shift: float, k: int, column: str) -> str:
  (row,) = [r for r in table_rows(section('outputs/findings.md', name))
            if (r['n'], r['shift'], r['k']) == (str(n), f'{shift:g}', str(k))]
  return row[column]


def mean(cell: str) -> float:
  return float(cell.split()[0])


def interval(cell: str) -> tuple[float, float]:
  lo, hi = cell.split('[')[1].rstrip(']').split(',')
  return float(lo), float(hi)


def digits_row(size: int) -> dict[str, str]:
  (row,) = [r for r in table_rows((REPO / 'outputs/strategies_digits/table.md').read_text())
            if r.get('Target Data Size') == str(size)]
  return row


def largest_within(name: str, ns: tuple[int, ...], ks: tuple[int, ...], column: str) -> float:
  return max(abs(mean(layer_cell(name, n, 0.0, k, column))) for n in ns for k in ks)


# Numbers docs/results.md writes in its sentences, each with the committed number it rounds: (the sentence's words,
# the number as the committed outputs give it, formatted as the page prints it).
QUOTED = [
    ('lower layers transfer**, more so with little data (AnB - BnB = {} at k = 3',
     lambda: f"{mean(layer_cell('layer-transfer', 100, 0.0, 3, 'AnB - BnB')):+.2f}"),
    ('specific to the source** (AnB - BnB = {} at k = 3, n = 1000',
     lambda: f"{mean(layer_cell('layer-transfer', 1000, 3.0, 3, 'AnB - BnB')):+.2f}"),
    ('BnB(k) is slightly *above* BnB(0) ({} at k = 1)',
     lambda: f"{mean(layer_cell('layer-transfer', 100, 3.0, 1, 'BnB(k) - BnB(0)')):+.3f}"),
    ('(AnB - BnB within ±{}, CIs spanning 0, at n = 50 and 400)',
     lambda: f"{largest_within('layer-transfer-digits', (50, 400), (1, 2), 'AnB - BnB'):.3f}"),
    ('freezing the third as well puts AnB - BnB at {} at n = 400',
     lambda: layer_cell('layer-transfer-digits', 400, 0.0, 3, 'AnB - BnB')),
    ('BnB(k) stays within ±{} of BnB(0)',
     lambda: f"{max(largest_within('layer-transfer', (1000,), (1, 2, 3), 'BnB(k) - BnB(0)'), largest_within('layer-transfer-digits', (50, 400), (1, 2, 3), 'BnB(k) - BnB(0)')):.3f}"),  # noqa: E501
    ('Scratch already reaches {} from 25 examples', lambda: f"{mean(digits_row(25)['Scratch Acc (scratch)']):.2f}"),
    ("fine-tuning's gain CI spans 0 at every size (at 25 examples from\n{})",
     lambda: '{:+.2f} to {:+.2f}'.format(*interval(digits_row(25)['Transfer Gain']))),
]




def bench(*path):
  """A figure of the committed benchmark (outputs/benchmark/benchmark.json), by its keys."""
  value = json.loads((REPO / 'outputs/benchmark/benchmark.json').read_text())
  for key in path:
    value = value[key]
  return value


QUOTED += [
    ("What runs\n  once per run (initialisation and the final evaluations) is {} of the sweep's op time",
     lambda: f"{1 - bench('profile', 'sweep', 'per_step_share'):.0%}"),
    ('so the sweep compiles\n  {} distinct programs', lambda: str(bench('sweep_programs'))),
    ('**Compilation: {} the sweep** ({} s; goal at most 0.5x)',
     lambda: (f"{bench('compile_over_sweep'):.2f}x", f"{bench('compile_seconds'):.2f}")),
    ("**{}% of the measured matmul peak** by the analytic count, {}% by XLA's",
     lambda: (f"{100 * bench('fraction_of_peak'):.1f}", f"{100 * bench('xla_fraction_of_peak'):.1f}")),
    ('**the per-lane matmuls reach {}% of the peak**, and the sweep runs at {}% of their speed',
     lambda: (f"{100 * bench('lane_matmul_fraction_of_peak'):.1f}", f"{100 * bench('sweep_over_lane_matmul'):.1f}")),
    ("for the sweep's widest call of {} lanes", lambda: str(bench('lane_matmul_lanes'))),
    ('The profiler puts {} of\n  the op time in matmuls',
     lambda: f"{bench('profile', 'sweep', 'share', 'matmul'):.0%}"),
    ("and {} in XLA's generated code", lambda: f"{bench('profile', 'sweep', 'share', 'fused'):.0%}"),
    ('a fine-tuning step costs {}x a feature-extraction step', lambda: f"{bench('ft_over_fe_step'):.1f}"),
    ('**Lanes**: {} µs per lane-step for 1 lane, {} for 256, {} for 2,048',
     lambda: tuple(f"{bench('lane_scaling', n, 'us_per_lane_step'):.0f}" for n in ('1', '256', '2048'))),
]


@pytest.mark.parametrize('words, committed', QUOTED, ids=[w[:40] for w, _ in QUOTED])
def test_a_number_results_md_writes_in_a_sentence_is_the_committed_one_it_rounds(words, committed):
  text = ' '.join((REPO / 'docs' / 'results.md').read_text().split())
  value = committed()
  expected = ' '.join(words.format(*(value if isinstance(value, tuple) else (value,))).split())
  assert expected in text, f'docs/results.md should say: {expected}'
