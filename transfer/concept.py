"""The original study's concept figure, redrawn: process, feature hierarchy, strategies."""

from __future__ import annotations

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib import patches  # pylint: disable=g-import-not-at-top

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


def draw(path: str) -> None:
  fig, axes = plt.subplots(1, 3, figsize=(15, 5))
  for ax, panel in zip(axes, (process_panel, hierarchy_panel, strategies_panel)):
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.axis('off')
    panel(ax)
  fig.suptitle('Transfer learning: concept (the original study\'s figure, redrawn; the hierarchy is its hypothesis)')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
