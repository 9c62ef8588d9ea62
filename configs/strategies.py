r"""Experiment 1 of the original study: which strategy wins at which amount of target data.

Run (30 seeds):

  python -m scripts.run --config=configs/strategies.py

Result: outputs/strategies/table.md (accuracy and paired gain over scratch per target size, shift 0; every
strategy at its validation-selected setting): every pre-trained strategy beats scratch from 50 to 1,000 examples,
most at 50-100 and less from there on; at 10,000 every gain is within the equivalence margin of zero (frozen
features' CI just below zero). outputs/REPORT.md judges each claim (which strategy wins where) with its paired tests.

On scikit-learn's digits (source 0-4, target 5-9, CNN backbone; 10 seeds; needs the [digits] extra):

  python -m scripts.run --config=configs/strategies.py:digits

Result: outputs/strategies_digits/table.md.

Smoke variant for tests (seconds): --config=configs/strategies.py:smoke (or :digits,smoke)
"""

from configs import common


def get_config(arg: str | None = None):
  c = common.base('strategies')
  c.seeds = 30  # the claims' paired tests need about 30 seeds for 80% power at their effects (REPORT.md)
  c.strategies = ('fine_tuning', 'feature_extraction', 'lp_ft', 'l2_sp', 'scratch')
  c.data_sizes = (50, 100, 500, 1000, 10_000)  # the study's sizes plus one where scratch catches up
  c.shifts = (0.0,)  # same domain: the study's setting
  c.lr_mults = (0.1,)  # backbone LR / head LR for fine_tuning, lp_ft and l2_sp
  c.ood_shifts = (0.0, 1.0, 2.0, 3.0)  # trained at shift 0, every model is also tested at these (LP-FT's claim)
  c.report.axis = 'data_size'
  c.report.axis_label = 'Target Data Size'
  c.report.log_x = True

  def digits(c):
    c.seeds = 10  # the CNN's runs cost about ten times the MLP's: digits stays at 10 seeds (its claims say so)
    c.data_sizes = (25, 50, 100, 250)  # of the 496 labelled images of 5-9; from 21 one validation image is certain

  def smoke(c):
    c.data_sizes = (8, 32)

  return common.finish(c, arg, smoke=smoke, digits=digits)
