"""Every figure, and the one place matplotlib lives (`matplotlib.use('Agg')` here and nowhere else): a comparison's
accuracy and paired gain with CI bands, the decision map, and the original study's concept figure redrawn."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib import patches  # pylint: disable=g-import-not-at-top
import numpy as np

from transfer.report import stats
from transfer.report import tables


def band(ax, x, intervals, label: str, **style) -> None:
  mean, lo, hi = (np.array(v, dtype=float) for v in zip(*intervals))
  line, = ax.plot(x, mean, marker='o', label=label, **style)
  ax.fill_between(x, lo, hi, alpha=0.2, color=line.get_color())


def comparison_plot(panels: list[stats.Panel], path: str, *, title: str, axis_label: str, baseline: str,
                    log_x: bool = False) -> None:
  """Writes a PNG with one row per panel: accuracy per strategy (left) and gain over `baseline` (right)."""
  fig, axes = plt.subplots(len(panels), 2, figsize=(11, 4 * len(panels)), squeeze=False)
  for (acc_ax, gain_ax), panel in zip(axes, panels):
    x = np.array(panel.values, dtype=float)
    for strategy, intervals in panel.accuracy.items():
      band(acc_ax, x, intervals, strategy)
    for strategy, intervals in panel.gain.items():
      band(gain_ax, x, intervals, f'{strategy} - {baseline}')
    gain_ax.axhline(0.0, color='black', lw=0.8)
    fixed = tables.fixed_label(panel, sep='=')
    acc_ax.set(xlabel=axis_label, ylabel='test accuracy', title=f'accuracy ({fixed})')
    gain_ax.set(xlabel=axis_label, ylabel='paired gain', title=f'gain over {baseline} ({fixed})')
    for ax in (acc_ax, gain_ax):
      if panel.axis == 'layers_copied':  # a count: one tick per value
        ax.set_xticks(x)
      ax.grid(alpha=0.3)
      ax.legend(fontsize=8)
      if log_x:  # symlog keeps an axis value of 0 (e.g. lr_mult 0 = frozen) on the plot
        positive = x[x > 0]
        ax.set_xscale('log') if x.min() > 0 else ax.set_xscale('symlog', linthresh=positive.min())
  fig.suptitle(f'{title}: mean and 95% CI over seeds')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def decision_map(cells: Sequence[tuple[int, float, str, str]], path: str) -> None:
  """Size x shift grid coloured by the measured best strategy, with the advisor's choice written in each cell and
  an X where it disagrees. `cells` holds (data size, shift, best strategy, advisor's strategy) per cell."""
  sizes = sorted({c[0] for c in cells})
  shifts = sorted({c[1] for c in cells})
  names = sorted({c[2] for c in cells} | {c[3] for c in cells})
  colours = plt.get_cmap('tab10')
  fig, ax = plt.subplots(figsize=(2 + 1.6 * len(sizes), 1.5 + 0.9 * len(shifts)))
  for size, shift, best, recommended in cells:
    x, y = sizes.index(size), shifts.index(shift)
    ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), 1, 1, color=colours(names.index(best))))
    ax.text(x, y + 0.15, best, ha='center', fontsize=7)
    ax.text(x, y - 0.2, f'advisor: {recommended}', ha='center', fontsize=6)
    if best != recommended:
      ax.plot(x, y, 'kx', markersize=22, alpha=0.5)
  ax.set(xlim=(-0.5, len(sizes) - 0.5), ylim=(-0.5, len(shifts) - 0.5), xticks=range(len(sizes)),
         yticks=range(len(shifts)), xticklabels=sizes, yticklabels=[f'{s:g}' for s in shifts],
         xlabel='labelled target examples', ylabel='domain shift',
         title='Best strategy on held-out seeds (X: the advisor disagrees)')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


# The concept figure.

BLUE, YELLOW, CORAL, GREY, GREEN, PALE = '#8fb8de', '#f4d35e', '#f28f7a', '#c8c8c8', '#6cc070', '#c7ebc4'
HIERARCHY = (  # bottom to top: layer, what it learns, what transfer does with it, colour
    ('Layer 1', 'edges', 'TRANSFER', GREEN), ('Layer 2', 'textures', 'TRANSFER', GREEN),
    ('Layer 3', 'parts', 'ADAPT', YELLOW), ('Layer 4', 'objects', 'ADAPT', YELLOW),
    ('Output', 'classes', 'REPLACE', CORAL))
STRATEGIES = (  # name, when, per-layer state bottom..output (f = frozen, s = small LR, t = trained, a = aligned)
    ('Feature extraction', 'little data', 'fffft'), ('Fine-tuning', 'more data', 'sssst'),
    ('Gradual unfreezing', 'moderate data', 'fffst'), ('Domain adaptation', 'domain shift', 'aaaat'))
STATE_COLOUR = {'f': GREY, 's': PALE, 't': GREEN, 'a': BLUE}


def box(ax, x, y, w, h, text, colour, **kw):
  ax.add_patch(patches.FancyBboxPatch((x, y), w, h, boxstyle='round,pad=0.02', fc=colour, ec='black', lw=1))
  ax.text(x + w / 2, y + h / 2, text, ha='center', va='center', **kw)


def arrow(ax, x0, y0, x1, y1):
  ax.annotate('', xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle='->', lw=2))


def process_panel(ax):
  box(ax, 0.05, 0.70, 0.9, 0.2, 'Source task\n(large: 1M images / here 30k, 50 classes)', BLUE, fontsize=9)
  box(ax, 0.05, 0.40, 0.9, 0.2, 'Pre-trained model\n(extracted knowledge)', YELLOW, fontsize=9)
  box(ax, 0.05, 0.10, 0.9, 0.2, 'Target task\n(small: ~1k images / here 50-10k, 5 classes)', CORAL, fontsize=9)
  arrow(ax, 0.5, 0.70, 0.5, 0.61)
  arrow(ax, 0.5, 0.40, 0.5, 0.31)
  ax.set_title('The process')


def hierarchy_panel(ax):
  for i, (layer, learns, role, colour) in enumerate(HIERARCHY):
    box(ax, 0.05, 0.06 + i * 0.18, 0.55, 0.14, f'{layer}: {learns}', '#eeeeee', fontsize=9)
    box(ax, 0.66, 0.06 + i * 0.18, 0.3, 0.14, role, colour, fontsize=9, weight='bold')
  ax.set_title('Why it works: feature hierarchy\n(general at the bottom, task-specific on top)')


def strategies_panel(ax):
  for i, (name, when, states) in enumerate(STRATEGIES):
    y = 0.78 - i * 0.23
    ax.text(0.02, y + 0.1, f'{name}', fontsize=10, weight='bold')
    ax.text(0.02, y + 0.03, f'({when})', fontsize=8)
    for j, state in enumerate(states):
      box(ax, 0.5 + j * 0.095, y, 0.065, 0.14, '', STATE_COLOUR[state])
  legend = [patches.Patch(fc=c, ec='black', label=l) for c, l in
            ((GREY, 'frozen'), (PALE, 'small LR'), (GREEN, 'trained'), (BLUE, 'aligned across domains'))]
  ax.legend(handles=legend, loc='lower center', fontsize=7, ncol=2, bbox_to_anchor=(0.5, -0.12))
  ax.set_title('Strategies (layers bottom -> output)')


def concept_figure(path: str) -> None:
  """The original study's concept figure, redrawn: process, feature hierarchy, strategies."""
  fig, axes = plt.subplots(1, 3, figsize=(15, 5))
  for ax, panel in zip(axes, (process_panel, hierarchy_panel, strategies_panel)):
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.axis('off')
    panel(ax)
  fig.suptitle('Transfer learning: concept (the original study\'s figure, redrawn; the hierarchy is its hypothesis)')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
