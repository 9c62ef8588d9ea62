"""Figures: one colour per strategy in every panel, readable labels, ticks at the data values, PNG and PDF."""

from __future__ import annotations

import glob
import json
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

from transfer.report import concept
from transfer.report import plots
from transfer.report import stats
from transfer.report import workdir
from transfer.run import store
from transfer.train import strategies

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, 'configs', '*.py'))
                 if not os.path.basename(p).startswith(('_', 'common')))


def records(names, axis, values, fixed, baseline='scratch', seeds=4):
  """Fake runs: per seed and axis value, `baseline` near 0.5 and every other strategy a little above."""
  out = []
  for seed in range(seeds):
    for v in values:
      for i, name in enumerate(names):
        acc = 0.5 + 0.01 * seed + (0 if name == baseline else 0.02 * (i + 1))
        keys = dict(data_size=100, shift=0.0, lr_mult=None, layers_copied=None) | fixed | {axis: v}
        out.append(dict(keys, strategy=name, seed=seed, diverged=False, test_accuracy=acc))
  return out


def figure(names, axis='data_size', values=(50, 100, 500, 1000, 10000), log_x=True, fixed_shifts=(0.0,),
           baseline='scratch'):
  runs = [r for shift in fixed_shifts for r in records(names, axis, values, {'shift': shift}, baseline)]
  found = stats.panels(runs, axis=axis, strategies=names, baseline=baseline, anchor=names[0])
  fig = plots.comparison_figure(found, title='my_experiment', axis_label='Target Data Size', baseline=baseline,
                                log_x=log_x)
  fig.canvas.draw()
  return fig


def strategy_lines(ax) -> dict[str, str]:
  """strategy -> colour of its data line in `ax` (errorbar's line carries the strategy as its gid)."""
  return {line.get_gid(): line.get_color() for line in ax.get_lines() if line.get_gid()}


def test_every_strategy_has_its_own_style():
  """A strategy needs no STYLES entry (one without gets a style derived from its name), but no two look alike."""
  styles = [plots.style(name) for name in {**plots.STYLES, **strategies.STRATEGIES}]
  looks = [(s.colour, s.marker, s.linestyle) for s in styles]
  assert len(set(looks)) == len(looks)
  assert len({s.label for s in styles}) == len(styles)
  assert plots.label('lp_ft') == 'LP-FT' and plots.label('coral') == 'Deep CORAL'


@pytest.mark.parametrize('name', CONFIGS)
def test_strategies_shown_together_have_different_colours(name):
  names = importlib.import_module(f'configs.{name}').get_config().strategies
  colours = [plots.style(s).colour for s in names]
  assert len(set(colours)) == len(colours), dict(zip(names, colours))


def test_an_unknown_strategy_gets_the_same_style_in_every_process():
  code = 'from transfer.report import plots; print(plots.style("my_new_strategy"))'
  seen = {subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONHASHSEED=seed)).stdout for seed in ('1', '2')}
  assert len(seen) == 1
  assert plots.style('my_new_strategy').label == 'my new strategy'
  assert plots.style('my_new_strategy').linestyle not in {s.linestyle for s in plots.STYLES.values()}


def test_a_strategy_has_the_same_colour_in_every_panel():
  # The baseline comes first, so it is missing from the gain panels: a colour cycle per panel would shift there.
  names = ['scratch', 'fine_tuning', 'feature_extraction', 'lp_ft', 'l2_sp']
  fig = figure(names, fixed_shifts=(0.0, 1.0))
  assert len(fig.axes) == 4  # two panels: accuracy and gain each
  for ax in fig.axes:
    drawn = strategy_lines(ax)
    assert set(drawn) >= set(names) - {'scratch'}, drawn
    assert drawn == {s: plots.style(s).colour for s in drawn}
  legend = fig.legends[0]
  assert [t.get_text() for t in legend.get_texts()] == [plots.label(s) for s in names]


def test_panels_of_one_metric_share_their_y_axis():
  fig = figure(['fine_tuning', 'scratch'], fixed_shifts=(0.0, 1.0, 2.0))
  acc, gain = fig.axes[:3], fig.axes[3:]
  assert len({ax.get_ylim() for ax in acc}) == 1 and len({ax.get_ylim() for ax in gain}) == 1
  assert acc[0].get_ylim() != gain[0].get_ylim()
  assert gain[0].get_ylabel() == 'gain over training from scratch'


def tick_labels(ax) -> list[str]:
  return [t.get_text() for t in ax.get_xticklabels()]


def test_log_ticks_are_the_data_values_plainly_labelled():
  fig = figure(['fine_tuning', 'scratch'])
  for ax in fig.axes:
    assert ax.get_xscale() == 'log'
    np.testing.assert_array_equal(ax.get_xticks(), [50, 100, 500, 1000, 10000])
    assert tick_labels(ax) == ['50', '100', '500', '1000', '10000']
    assert len(ax.xaxis.get_minorticklocs()) == 0


def test_a_multiplier_axis_with_0_is_symlog_without_negative_ticks_or_clipping():
  mults = (0.0, 0.01, 0.1, 0.5, 1.0, 3.0)
  fig = figure(['fine_tuning', 'feature_extraction', 'scratch'], axis='lr_mult', values=mults)
  for ax in fig.axes:
    assert ax.get_xscale() == 'symlog'
    np.testing.assert_array_equal(ax.get_xticks(), mults)
    labels = tick_labels(ax)
    assert labels == ['0', '0.01', '0.1', '0.5', '1', '3']
    assert not any(t.startswith(('-', '\N{MINUS SIGN}')) for t in labels)
    assert len(ax.xaxis.get_minorticklocs()) == 0
    left, right = ax.get_xlim()
    xs = np.concatenate([line.get_xdata() for line in ax.get_lines() if line.get_gid()])
    assert left < xs.min() and xs.max() < right  # every (dodged) point inside the axes


def test_a_linear_axis_ticks_the_data_values():
  fig = figure(['anb', 'bnb'], axis='layers_copied', values=(0, 1, 2, 3), log_x=False, baseline='bnb')
  assert fig.axes[0].get_xscale() == 'linear'
  assert tick_labels(fig.axes[0]) == ['0', '1', '2', '3']


def test_readable_titles():
  assert plots.readable_title('lr_multiplier') == 'LR multiplier'
  assert plots.fixed_title({'data_size': 100, 'shift': 0.0, 'lr_mult': 0.1, 'layers_copied': None}) == \
      'n = 100, shift 0, feature LR \N{MULTIPLICATION SIGN}0.1'


def assert_png_and_pdf(paths, png):
  assert paths == [str(png), str(png.with_suffix('.pdf'))]
  with open(paths[0], 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  with open(paths[1], 'rb') as f:
    assert f.read(5) == b'%PDF-'


def test_every_figure_is_written_as_png_and_pdf(tmp_path):
  names = ['fine_tuning', 'scratch']
  found = stats.panels(records(names, 'shift', (0.0, 1.0), {}), axis='shift', strategies=names, baseline='scratch',
                       anchor='fine_tuning')
  assert_png_and_pdf(plots.comparison_plot(found, str(tmp_path / 'plot.png'), title='t', axis_label='x',
                                           baseline='scratch'), tmp_path / 'plot.png')
  cells = [(50, 0.0, 'feature_extraction', 'fine_tuning'), (50, 1.0, 'dann', 'dann')]
  assert_png_and_pdf(plots.decision_map(cells, str(tmp_path / 'map.png')), tmp_path / 'map.png')
  assert_png_and_pdf(concept.figure(str(tmp_path / 'concept.png')), tmp_path / 'concept.png')
  with pytest.raises(ValueError, match='.png'):
    plots.figure_paths(str(tmp_path / 'plot.svg'))


def test_the_pdf_of_an_unchanged_figure_is_an_unchanged_file(tmp_path):
  first = open(concept.figure(str(tmp_path / 'a.png'))[1], 'rb').read()
  second = open(concept.figure(str(tmp_path / 'a.png'))[1], 'rb').read()
  assert first == second


def test_overwrite_removes_every_file_a_workdir_report_writes(tmp_path):
  names = ['fine_tuning', 'scratch']
  report = dict(title='t', axis='shift', axis_label='x', transfer='fine_tuning', baseline='scratch', log_x=False)
  workdir.write_workdir(str(tmp_path), records=records(names, 'shift', (0.0, 1.0), {}),
                        report_config=type('Report', (), report))
  assert set(os.listdir(tmp_path)) <= set(store.DERIVED)
  assert {'plot.png', 'plot.pdf'} <= set(os.listdir(tmp_path))


def test_redraw_rebuilds_every_figure_and_leaves_the_tables_byte_identical(tmp_path):
  names = ['fine_tuning', 'scratch']
  runs = records(names, 'shift', (0.0, 1.0), {})
  report = dict(title='t', axis='shift', axis_label='x', transfer='fine_tuning', baseline='scratch', log_x=False)
  exp = tmp_path / 'exp'
  exp.mkdir()
  (exp / 'config.json').write_text(json.dumps({'report': report}))
  (exp / 'results.json').write_text(json.dumps({'experiment': 'exp', 'runs': runs}))
  workdir.write_workdir(str(exp), records=runs, report_config=type('Report', (), report))
  tables = {f: (exp / f).read_bytes() for f in ('table.md', 'summary.csv')}
  os.remove(exp / 'plot.png')
  (tmp_path / 'decision').mkdir()
  (tmp_path / 'decision' / 'decision.json').write_text(json.dumps({'cells': [
      {'data_size': 50, 'shift': 0.0, 'best': 'scratch', 'advisor': 'fine_tuning'}]}))
  written = workdir.redraw(str(tmp_path))
  assert {os.path.relpath(p, tmp_path) for p in written} == {
      'exp/summary.csv', 'exp/table.md', 'exp/plot.png', 'exp/plot.pdf', 'decision/decision_map.png',
      'decision/decision_map.pdf', 'concept.png', 'concept.pdf'}
  assert all(os.path.getsize(p) > 0 for p in written)
  assert {f: (exp / f).read_bytes() for f in tables} == tables
