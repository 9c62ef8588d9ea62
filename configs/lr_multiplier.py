r"""Experiment 2 of the original study: the backbone's learning rate when fine-tuning.

Run (30 seeds):

  python -m scripts.run --config=configs/lr_multiplier.py

Result: outputs/lr_multiplier/table.md (fine-tuning accuracy per backbone LR multiplier at 100 and 1000 target
examples, at shift 0 and 1; feature extraction and scratch as references, repeated on every row; the head's LR and
the rest searched per multiplier): at shift 0 with 100 examples the lowest multipliers (x0 and x0.01) do best and
accuracy falls as the multiplier rises; with a shifted target and 1,000 examples a frozen or nearly frozen backbone
(x0, x0.01) is below scratch and every multiplier from 0.1 up is above it. Whether an interior optimum exists is
judged in outputs/REPORT.md on held-out seeds.

Smoke variant for tests (seconds): --config=configs/lr_multiplier.py:smoke
"""

from configs import common


def get_config(arg: str | None = None):
  c = common.base('lr_multiplier')
  c.seeds = 30  # the claims' paired tests need about 30 seeds for 80% power at their effects (REPORT.md)
  c.strategies = ('fine_tuning', 'feature_extraction', 'scratch')
  c.lr_mults = (0.0, 0.01, 0.1, 0.5, 1.0, 3.0)  # the study's 0.01-1.0, plus 0 (= frozen) and 3 (above the head)
  c.data_sizes = (100, 1000)  # little and moderate target data
  c.shifts = (0.0, 1.0)  # the same domain, and a moderate shift where the backbone has something to adapt
  c.search.over = ('lr', 'weight_decay')  # the backbone multiplier is this experiment's axis: swept, never selected
  c.report.axis = 'lr_mult'
  c.report.axis_label = 'Feature LR Multiplier'
  c.report.log_x = True  # symlog: 0 stays on the axis

  def smoke(c):
    c.lr_mults = (0.0, 0.1, 1.0)
    c.data_sizes = (32,)
    c.shifts = (0.0,)

  return common.finish(c, arg, smoke=smoke)
