"""Plots of a comparison: accuracy vs the axis with CI bands, and the paired gain over the baseline."""

from __future__ import annotations

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from transfer import compare
from transfer import tables


def band(ax, x, intervals, label: str, **style) -> None:
  mean, lo, hi = (np.array(v, dtype=float) for v in zip(*intervals))
  line, = ax.plot(x, mean, marker='o', label=label, **style)
  ax.fill_between(x, lo, hi, alpha=0.2, color=line.get_color())


def comparison_plot(panels: list[compare.Panel], path: str, *, title: str, axis_label: str, baseline: str,
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
    fixed = ', '.join(f'{k}={tables.fmt_value(v)}' for k, v in panel.fixed.items() if v is not None)
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
