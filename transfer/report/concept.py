"""The original study's concept figure, redrawn: the process, the feature hierarchy it hypothesises, and the
strategies with the markers and colours of the result figures (report/plots.py, which configures matplotlib)."""

from __future__ import annotations

from transfer.report import plots  # first: it configures matplotlib

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import patches  # noqa: E402

# Its own pastel colours: they mean layer states, not strategies.

PASTEL_BLUE, PASTEL_YELLOW, CORAL, GREY, LEAF, PALE = '#8fb8de', '#f4d35e', '#f28f7a', '#c8c8c8', '#6cc070', '#c7ebc4'
HIERARCHY = (  # bottom to top: layer, what it learns, what transfer does with it, colour
    ('Layer 1', 'edges', 'TRANSFER', LEAF), ('Layer 2', 'textures', 'TRANSFER', LEAF),
    ('Layer 3', 'parts', 'ADAPT', PASTEL_YELLOW), ('Layer 4', 'objects', 'ADAPT', PASTEL_YELLOW),
    ('Output', 'classes', 'REPLACE', CORAL))
CONCEPT_STRATEGIES = (  # name, the strategy drawn with its marker (STYLES), when, per-layer state bottom..output
    ('Feature extraction', 'feature_extraction', 'little data', 'fffft'),  # f = frozen, s = small LR,
    ('Fine-tuning', 'fine_tuning', 'more data', 'sssst'),  # t = trained, a = aligned
    ('Gradual unfreezing', 'gradual_unfreezing', 'moderate data', 'fffst'),
    ('Domain adaptation', 'dann', 'domain shift; here DANN', 'aaaat'))
STATE_COLOUR = {'f': GREY, 's': PALE, 't': LEAF, 'a': PASTEL_BLUE}


def box(ax, x, y, w, h, text, colour, **kw):
  ax.add_patch(patches.FancyBboxPatch((x, y), w, h, boxstyle='round,pad=0.02', fc=colour, ec='black', lw=1))
  ax.text(x + w / 2, y + h / 2, text, ha='center', va='center', **kw)


def arrow(ax, x0, y0, x1, y1):
  ax.annotate('', xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle='->', lw=2))


def process_panel(ax):
  box(ax, 0.05, 0.70, 0.9, 0.2, 'Source task\n(large: 1M images / here 30k, 50 classes)', PASTEL_BLUE, fontsize=9)
  box(ax, 0.05, 0.40, 0.9, 0.2, 'Pre-trained model\n(extracted knowledge)', PASTEL_YELLOW, fontsize=9)
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
  """Each strategy with its marker and colour from the result figures, and its layers' states."""
  for i, (name, strategy, when, states) in enumerate(CONCEPT_STRATEGIES):
    y = 0.78 - i * 0.23
    s = plots.style(strategy)
    ax.plot([0.0, 0.06], [y + 0.115] * 2, color=s.colour, linestyle=s.linestyle, linewidth=1.5)
    ax.plot(0.03, y + 0.115, marker=s.marker, color=s.colour, markersize=7)
    ax.text(0.08, y + 0.1, name, fontsize=10, weight='bold')
    ax.text(0.08, y + 0.03, f'({when})', fontsize=8)
    for j, state in enumerate(states):
      box(ax, 0.5 + j * 0.095, y, 0.065, 0.14, '', STATE_COLOUR[state])
  legend = [patches.Patch(fc=c, ec='black', label=name) for c, name in
            ((GREY, 'frozen'), (PALE, 'small LR'), (LEAF, 'trained'), (PASTEL_BLUE, 'aligned across domains'))]
  ax.legend(handles=legend, loc='lower center', fontsize=7, ncol=2, bbox_to_anchor=(0.5, -0.12))
  ax.set_title('Strategies (layers bottom -> output)')


def figure(path: str) -> list[str]:
  """The original study's concept figure, redrawn (process, feature hierarchy, strategies), to `path` (a PNG) and
  the PDF beside it."""
  with plt.rc_context({'pdf.fonttype': plots.RC['pdf.fonttype']}):
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    for ax, panel in zip(axes, (process_panel, hierarchy_panel, strategies_panel)):
      ax.set(xlim=(0, 1), ylim=(0, 1))
      ax.axis('off')
      panel(ax)
    fig.suptitle("Transfer learning: concept (the original study's figure, redrawn; the hierarchy is its hypothesis)")
    fig.tight_layout()
    return plots.save(fig, path)
