"""Every figure, and the one place matplotlib lives (`matplotlib.use('Agg')` here and nowhere else): a comparison's
accuracy and paired gain with 95% CIs, the decision map, and the original study's concept figure redrawn.

Every strategy has one fixed colour, marker and display name (`STYLES`), the same in every figure, from the
Okabe-Ito palette, which stays distinguishable under the common colour-vision deficiencies. x axes carry ticks at
the grid's own values, labelled plainly (50, 100, 10000; 0, 0.01, 3).
"""

from __future__ import annotations

import dataclasses
import io as std_io
import logging
import math
import os
import zlib
from collections.abc import Sequence

import matplotlib

matplotlib.use('Agg')
# Saving a PDF subsets its fonts with fontTools, which logs every table at INFO; absl shows INFO, so those dozens of
# lines per figure would bury the run's own log.
logging.getLogger('fontTools').setLevel(logging.WARNING)
import matplotlib.pyplot as plt
from matplotlib import colors
from matplotlib import lines
from matplotlib import patches
from matplotlib import ticker
from matplotlib import transforms
import numpy as np

from transfer import io
from transfer.report import stats

# Okabe & Ito (2008), "Color Universal Design": eight colours distinguishable with every common form of colour
# blindness. Yellow is left to fills: as a thin line on white it is hard to see.
BLACK, ORANGE, SKY_BLUE, GREEN, YELLOW, BLUE, VERMILLION, PURPLE = (
    '#000000', '#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7')


@dataclasses.dataclass(frozen=True)
class Style:
  """How one strategy looks in every figure."""

  label: str  # display name
  colour: str
  marker: str
  linestyle: str = '-'


# The study's strategies (transfer/train/strategies.py); a strategy without an entry gets a style derived from its
# name (`style`), so a new strategy needs none. Eight colours cannot separate sixteen strategies, so a colour repeats
# only between strategies that no experiment shows together, and the marker differs; within every experiment config
# the colours differ (tests/test_plots.py checks both).
STYLES = {
    'fine_tuning': Style('fine-tuning', BLUE, 'o'),
    'feature_extraction': Style('feature extraction', ORANGE, 's'),
    'scratch': Style('from scratch', BLACK, 'v'),
    'lp_ft': Style('LP-FT', GREEN, '^'),
    'l2_sp': Style('L2-SP', PURPLE, 'D'),
    'gradual_unfreezing': Style('gradual unfreezing', VERMILLION, '^'),
    'discriminative': Style('discriminative LRs', SKY_BLUE, 'D'),
    'ulmfit': Style('ULMFiT (both)', GREEN, 'P'),
    'source_only': Style('source only', ORANGE, 'h'),
    'dann': Style('DANN', PURPLE, 'P'),
    'coral': Style('Deep CORAL', GREEN, 'X'),
    'mmd': Style('MMD', SKY_BLUE, '*'),
    'anb': Style('AnB', VERMILLION, '>'),
    'anb_plus': Style('AnB+', ORANGE, '>', '--'),
    'bnb': Style('BnB', BLUE, '<'),
    'bnb_plus': Style('BnB+', SKY_BLUE, '<', '--'),
}
FALLBACK_COLOURS = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY_BLUE, BLACK)
FALLBACK_MARKERS = ('o', 's', '^', 'v', 'D', 'P', 'X', 'h')
BASELINE_PHRASE = {'scratch': 'training from scratch'}  # 'gain over training from scratch', not '... over from scratch'
TITLE_WORDS = {'lr': 'LR'}  # words of a config's snake_case title that are written otherwise
FIXED_FORMAT = {'data_size': 'n = {}', 'shift': 'shift {}', 'lr_mult': 'feature LR \N{MULTIPLICATION SIGN}{}',
                'layers_copied': 'k = {}'}
RC = {'font.size': 8.5, 'axes.titlesize': 9, 'axes.labelsize': 8.5, 'legend.fontsize': 8, 'xtick.labelsize': 7.5,
      'ytick.labelsize': 7.5, 'axes.spines.top': False, 'axes.spines.right': False,
      'pdf.fonttype': 42}  # TrueType in the PDF (journals refuse Type 3 fonts)
DPI = 180
DODGE = 0.012  # horizontal offset between strategies' markers, as a fraction of the x range: CIs stay apart


def style(strategy: str) -> Style:
  """The strategy's style; a strategy without an entry gets one derived from its name (crc32, the same in every
  process), dash-dotted so that it is not mistaken for a styled one."""
  if strategy in STYLES:
    return STYLES[strategy]
  h = zlib.crc32(strategy.encode())
  return Style(strategy.replace('_', ' '), FALLBACK_COLOURS[h % len(FALLBACK_COLOURS)],
               FALLBACK_MARKERS[h // len(FALLBACK_COLOURS) % len(FALLBACK_MARKERS)], '-.')


def label(strategy: str) -> str:
  return style(strategy).label


def gain_label(baseline: str) -> str:
  """'gain over fine-tuning', 'gain over training from scratch'."""
  return f'gain over {BASELINE_PHRASE.get(baseline, label(baseline))}'


def readable_title(title: str) -> str:
  """A config's report title for a figure: 'lr_multiplier' -> 'LR multiplier', 'domain_shift' -> 'Domain shift'."""
  text = ' '.join(TITLE_WORDS.get(w, w) for w in title.replace('_', ' ').split(' '))
  return text[:1].upper() + text[1:]


def tick_text(value: float) -> str:
  """A plain tick label: 10000 (not 1e+04 or 10^4), 0.01, 3."""
  return f'{value:.0f}' if float(value).is_integer() else f'{value:g}'


def fixed_title(fixed: dict) -> str:
  """A panel's fixed grid keys for a reader: 'n = 100, shift 0, feature LR x0.1' (x: a multiplication sign)."""
  return ', '.join(FIXED_FORMAT.get(k, k + ' = {}').format(tick_text(v)) for k, v in fixed.items() if v is not None)


def n_seeds(panels: Sequence[stats.Panel]) -> int:
  return max(max(n) for p in panels for n in p.n_seeds.values())


# Axes.


def data_ticks(axis, values: Sequence[float]) -> None:
  """Major ticks exactly at `values`, plainly labelled; no minor ticks."""
  axis.set_major_locator(ticker.FixedLocator(list(values)))
  axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: tick_text(v)))
  axis.set_minor_locator(ticker.NullLocator())


def set_x_scale(ax, values: Sequence[float], log_x: bool) -> None:
  """Log x when asked; when 0 is among the values (lr_mult 0 = frozen), symlog whose linear part ends at half the
  smallest positive value, so 0 sits about one decade left of it and every positive value is on the log part."""
  positive = [v for v in values if v > 0]
  if not log_x or not positive:
    return
  if len(positive) == len(values):
    ax.set_xscale('log')
  else:
    ax.set_xscale('symlog', linthresh=min(positive) / 2, linscale=0.5)


def scaled(ax, values) -> np.ndarray:
  return ax.xaxis.get_transform().transform(np.asarray(values, float).reshape(-1, 1)).ravel()


def unscaled(ax, values) -> np.ndarray:
  return ax.xaxis.get_transform().inverted().transform(np.asarray(values, float).reshape(-1, 1)).ravel()


def pad_x(ax, values: Sequence[float], fraction: float = 0.08) -> None:
  """x limits `fraction` of the plotted range beyond the first and last value, measured on the axis's own scale,
  so no marker or error bar is clipped whatever the scale."""
  lo, hi = scaled(ax, [min(values), max(values)])
  pad = fraction * (hi - lo) if hi > lo else 1.0
  ax.set_xlim(*unscaled(ax, [lo - pad, hi + pad]))


def mark_break(ax, values: Sequence[float]) -> None:
  """On a symlog axis, '//' on the x axis between 0 and the smallest positive value: the scale is not one log
  scale across that gap."""
  positive = [v for v in values if v > 0]
  if ax.get_xscale() != 'symlog' or not positive:
    return
  middle = unscaled(ax, [scaled(ax, [min(positive)])[0] / 2])[0]
  ax.text(middle, 0, '//', transform=transforms.blended_transform_factory(ax.transData, ax.transAxes),
          ha='center', va='center', fontsize=8, clip_on=False,
          bbox=dict(boxstyle='square,pad=0.05', fc='white', ec='none'))


def x_axis(ax, values: Sequence[float]) -> None:
  """Ticks at the data values, margins, the break mark; after `set_x_scale` and after plotting."""
  data_ticks(ax.xaxis, values)
  pad_x(ax, values)
  mark_break(ax, values)


# The comparison figure.


def dodge(strategies: Sequence[str]) -> dict[str, float]:
  """strategy -> horizontal offset as a fraction of the x axis's plotted range, centred on the true x."""
  middle = (len(strategies) - 1) / 2
  return {s: (i - middle) * DODGE for i, s in enumerate(strategies)}


def dodged(ax, x, offset: float) -> np.ndarray:
  """`x` moved by `offset` of the data's range, measured on the axis's own scale (log, symlog or linear)."""
  at = scaled(ax, x)
  span = at.max() - at.min() if at.max() > at.min() else 1.0
  return unscaled(ax, at + offset * span)


def series(ax, x, intervals: Sequence[stats.Interval], strategy: str, offset: float) -> None:
  """One strategy's means joined by a thin line, with its 95% CIs as error bars, dodged sideways by `offset`."""
  s = style(strategy)
  mean, lo, hi = (np.array(v, dtype=float) for v in zip(*intervals))
  ax.errorbar(dodged(ax, x, offset), mean, yerr=[mean - lo, hi - mean], color=s.colour, marker=s.marker,
              linestyle=s.linestyle, label=s.label, gid=strategy, linewidth=1.2, markersize=4.5, elinewidth=0.9,
              capsize=1.8, capthick=0.9)


def legend_handles(strategies: Sequence[str]) -> list:
  return [lines.Line2D([], [], color=style(s).colour, marker=style(s).marker, linestyle=style(s).linestyle,
                       linewidth=1.2, markersize=4.5, label=label(s)) for s in strategies]


def legend_columns(labels: Sequence[str], width_in: float) -> int:
  """Entries per legend row: all in one row when they fit the figure's width, else as few rows as balance them."""
  needed = sum(0.5 + 0.065 * len(text) for text in labels)  # inches per entry at legend.fontsize 8, roughly
  rows = max(1, math.ceil(needed / (0.9 * width_in)))
  return math.ceil(len(labels) / rows)


def comparison_axes(count: int):
  """(figure, accuracy axes, gain axes): one panel side by side; several as columns, accuracy on the top row and
  gain below, each row sharing its y axis and each column its x axis."""
  if count == 1:
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.2), sharex=True, layout='constrained')
    return fig, [axes[0]], [axes[1]]
  fig, axes = plt.subplots(2, count, figsize=(1.0 + 2.6 * count, 5.2), sharex='col', sharey='row', squeeze=False,
                           layout='constrained')
  return fig, list(axes[0]), list(axes[1])


def comparison_figure(panels: list[stats.Panel], *, title: str, axis_label: str, baseline: str,
                      log_x: bool = False):
  """The figure: accuracy per strategy and paired gain over `baseline` per panel (its fixed grid keys)."""
  fig, acc_axes, gain_axes = comparison_axes(len(panels))
  names = list(panels[0].accuracy)
  offsets = dodge(names)
  for acc_ax, gain_ax, panel in zip(acc_axes, gain_axes, panels):
    x = np.array(panel.values, dtype=float)
    for ax in (acc_ax, gain_ax):
      set_x_scale(ax, panel.values, log_x)  # first: the dodge is measured on the axis's scale
    for strategy, intervals in panel.accuracy.items():
      series(acc_ax, x, intervals, strategy, offsets[strategy])
    for strategy, intervals in panel.gain.items():
      series(gain_ax, x, intervals, strategy, offsets[strategy])
    gain_ax.axhline(0.0, color='0.35', linewidth=0.8, zorder=0)
    for ax in (acc_ax, gain_ax):
      x_axis(ax, panel.values)
      ax.grid(alpha=0.25, linewidth=0.6)
    if len(panels) > 1:
      acc_ax.set_title(fixed_title(panel.fixed))
  acc_axes[0].set_ylabel('test accuracy')
  gain_axes[0].set_ylabel(gain_label(baseline))
  for ax in gain_axes + (acc_axes if len(panels) == 1 else []):
    ax.set_xlabel(axis_label)
  heading = readable_title(title) + (f': {fixed_title(panels[0].fixed)}' if len(panels) == 1 else '')
  fig.suptitle(f'{heading}\nmean and 95% CI over {n_seeds(panels)} seeds; gains paired per seed', fontsize=9)
  fig.legend(handles=legend_handles(names), loc='outside lower center', frameon=False,
             ncol=legend_columns([label(s) for s in names], fig.get_figwidth()))
  return fig


def figure_paths(png_path: str) -> list[str]:
  """The files a figure is written to: the PNG and a PDF beside it."""
  stem, ext = os.path.splitext(png_path)
  if ext != '.png':
    raise ValueError(f'figure paths end in .png (a PDF is written beside it), got {png_path!r}')
  return [png_path, f'{stem}.pdf']


def save(fig, png_path: str) -> list[str]:
  """Writes `fig` as PNG and PDF (each atomically through transfer.io, so on process 0 only; the PDF without a
  creation date so that an unchanged figure is an unchanged file), closes it and returns both paths."""
  paths = figure_paths(png_path)
  for path, fmt, metadata in zip(paths, ('png', 'pdf'), ({}, {'CreationDate': None})):
    buffer = std_io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    io.write_bytes(path, buffer.getvalue())
  plt.close(fig)
  return paths


def comparison_plot(panels: list[stats.Panel], path: str, *, title: str, axis_label: str, baseline: str,
                    log_x: bool = False) -> list[str]:
  """Writes the comparison figure to `path` (a PNG) and the PDF beside it; returns both paths."""
  with plt.rc_context(RC):
    return save(comparison_figure(panels, title=title, axis_label=axis_label, baseline=baseline, log_x=log_x),
                path)


CURVE_COLUMNS = 3  # learning-curve panels per row: about 7 inches wide, a two-column paper's full width


def curves_figure(panels: Sequence[tuple[dict, Sequence[tuple[float, dict[str, dict[str, np.ndarray]]]]]], *,
                  title: str, axis: str):
  """Accuracy against training step as a grid: for each setting of the other grid keys the table reports (`panels`:
  its fixed keys and its columns), one panel per value of the report axis, at most CURVE_COLUMNS to a row; one
  colour per strategy, test accuracy solid and validation accuracy dashed (each the mean over seeds of the selected
  candidate's curve), the mean selected step marked on the test curve."""
  cells = [(fixed, value, by_strategy) for fixed, columns in panels for value, by_strategy in columns]
  per_panel = max(len(columns) for _, columns in panels)
  ncols = min(CURVE_COLUMNS, per_panel)
  rows_per_panel = -(-per_panel // ncols)
  nrows = rows_per_panel * len(panels)
  fig, axes = plt.subplots(nrows, ncols, figsize=(0.5 + 2.3 * ncols, 0.9 + 2.0 * nrows), sharey=True, squeeze=False,
                           layout='constrained')
  for ax in axes.flat:
    ax.set_visible(False)
  names = list(dict.fromkeys(name for *_, by_strategy in cells for name in by_strategy))
  for p, (fixed, columns) in enumerate(panels):
    for k, (value, by_strategy) in enumerate(columns):
      ax = axes[p * rows_per_panel + k // ncols][k % ncols]
      ax.set_visible(True)
      for name, c in by_strategy.items():
        st = style(name)
        ax.plot(c['step'], c['test_accuracy'], color=st.colour, lw=1.4, linestyle='-')
        if np.isfinite(c['val_accuracy']).any():
          ax.plot(c['step'], c['val_accuracy'], color=st.colour, lw=1.0, linestyle='--', alpha=0.8)
        chosen = np.interp(c['selected_step'], c['step'], c['test_accuracy'])
        ax.plot(c['selected_step'], chosen, marker=st.marker, color=st.colour, markersize=6,
                markeredgecolor='white', markeredgewidth=0.6, linestyle='none')
      ax.set_title(fixed_title({**{key: v for key, v in fixed.items() if v is not None}, axis: value}), fontsize=8)
      ax.set_xlabel('training step', fontsize=8)
      ax.grid(alpha=0.25)
      if k % ncols == 0:
        ax.set_ylabel('accuracy')
  handles = legend_handles(names) + [
      lines.Line2D([], [], color='0.3', lw=1.4, linestyle='-', label='test'),
      lines.Line2D([], [], color='0.3', lw=1.0, linestyle='--', label='validation'),
      lines.Line2D([], [], color='0.3', marker='o', linestyle='none', label='mean selected step')]
  width = 0.5 + 2.3 * ncols
  fig.legend(handles=handles, loc='outside lower center', ncols=legend_columns([h.get_label() for h in handles],
                                                                              width), frameon=False)
  fig.suptitle(f'{readable_title(title)}: learning curves of the selected candidates, mean over seeds')
  return fig


def curves_plot(panels, path: str, *, title: str, axis: str) -> list[str]:
  """Writes the learning-curves figure to `path` (a PNG) and the PDF beside it; returns both paths."""
  with plt.rc_context(RC):
    return save(curves_figure(panels, title=title, axis=axis), path)


def boundaries_figure(panels: Sequence[dict], *, title: str):
  """One panel per strategy: its predicted probability of class 1 over the plane (the 0.5 contour drawn), the
  labelled source examples (two colours) and the unlabelled target inputs (grey crosses)."""
  fig, axes = plt.subplots(1, len(panels), figsize=(0.4 + 3.6 * len(panels), 3.9), squeeze=False,
                           layout='constrained')
  for ax, p in zip(axes[0], panels):
    axis = p['axis']
    ax.contourf(axis, axis, p['probability'], levels=np.linspace(0, 1, 11), cmap='RdBu_r', alpha=0.35)
    ax.contour(axis, axis, p['probability'], levels=[0.5], colors='black', linewidths=1.2)
    x, y = p['source']
    for cls, colour in ((0, BLUE), (1, VERMILLION)):
      ax.scatter(*x[y == cls].T, s=7, color=colour, label=f'source, class {cls}')
    ax.scatter(*p['target'].T, s=9, marker='x', color='0.25', linewidths=0.7, label='target (unlabelled)')
    ax.set(title=f'{label(p["strategy"])}: target accuracy {p["accuracy"]:.2f}\n{p["note"]}',
           xlim=(axis[0], axis[-1]), ylim=(axis[0], axis[-1]), aspect='equal', xticks=[], yticks=[])
  handles, labels = axes[0][0].get_legend_handles_labels()
  fig.legend(handles, labels, loc='outside lower center', ncols=3, frameon=False)
  fig.suptitle(title)
  return fig


def boundaries_plot(panels: Sequence[dict], path: str, *, title: str) -> list[str]:
  """Writes the decision-boundaries figure to `path` (a PNG) and the PDF beside it; returns both paths."""
  with plt.rc_context(RC):
    return save(boundaries_figure(panels, title=title), path)


def tint(colour: str, amount: float) -> tuple[float, float, float]:
  """`colour` mixed with white: `amount` of the colour (1 = the colour itself)."""
  return tuple(amount * c + (1 - amount) for c in colors.to_rgb(colour))


def decision_figure(cells: Sequence[tuple[int, float, str, str]]):
  """Size x shift grid, each cell tinted with the measured best strategy's colour, with its marker and name, and
  below it 'advisor agrees' or, in italics, the advisor's other choice."""
  sizes = sorted({c[0] for c in cells})
  shifts = sorted({c[1] for c in cells})
  fig, ax = plt.subplots(figsize=(1.3 + 1.75 * len(sizes), 1.0 + 0.8 * len(shifts)), layout='constrained')
  for size, shift, best, recommended in cells:
    x, y = sizes.index(size), shifts.index(shift)
    ax.add_patch(patches.Rectangle((x - 0.5, y - 0.5), 1, 1, fc=tint(style(best).colour, 0.4), ec='white', lw=2))
    ax.plot(x - 0.36, y + 0.14, marker=style(best).marker, color=style(best).colour, markersize=7,
            markeredgecolor='white', markeredgewidth=0.6)
    ax.text(x - 0.26, y + 0.14, label(best), ha='left', va='center', fontsize=8.5, weight='bold')
    agrees = best == recommended
    ax.text(x, y - 0.2, 'advisor agrees' if agrees else f'advisor: {label(recommended)}', ha='center',
            va='center', fontsize=7.5, style='normal' if agrees else 'italic')
  ax.set(xlim=(-0.5, len(sizes) - 0.5), ylim=(-0.5, len(shifts) - 0.5), xticks=range(len(sizes)),
         yticks=range(len(shifts)), xticklabels=[tick_text(s) for s in sizes],
         yticklabels=[tick_text(s) for s in shifts], xlabel='labelled target examples', ylabel='domain shift',
         title="Best strategy on held-out seeds, and the advisor's choice")
  ax.tick_params(length=0)
  for spine in ax.spines.values():
    spine.set_visible(False)
  return fig


def decision_map(cells: Sequence[tuple[int, float, str, str]], path: str) -> list[str]:
  """Writes the decision map to `path` (a PNG) and the PDF beside it. `cells` holds (data size, shift, best
  strategy, advisor's strategy) per cell."""
  with plt.rc_context(RC):
    return save(decision_figure(cells), path)
