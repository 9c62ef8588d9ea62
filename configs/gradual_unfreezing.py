r"""Gradual unfreezing and discriminative learning rates (ULMFiT) against feature extraction and fine-tuning.

Ablation in the style of Howard & Ruder (2018): fine-tuning, + discriminative LRs, + gradual unfreezing, + both
(`ulmfit`), with feature extraction and scratch as references, at moderate amounts of target data.

Run (30 seeds):

  python -m scripts.run --config=configs/gradual_unfreezing.py

Result: outputs/gradual_unfreezing/table.md: at 200, 500 and 1,000 examples every variant beats scratch, and the
variants' and feature extraction's mean accuracies lie well within the equivalence margin of each other
(outputs/REPORT.md: paired tests of accuracy and forgetting).

Adam's moments while a group waits for its unfreezing stage: the group is still differentiated and its moments
keep accumulating (its LR multiplier is 0, so it does not move). At unfreezing it takes a bias-corrected,
warmed-up Adam step instead of starting from zero moments. Groups frozen for a whole stage (feature extraction,
LP-FT's probe) are not differentiated at all.

Smoke variant for tests (seconds): --config=configs/gradual_unfreezing.py:smoke
"""

from configs import common


def get_config(arg: str | None = None):
  c = common.base('gradual_unfreezing')
  c.seeds = 30  # the claims' paired tests need about 30 seeds for 80% power at their effects (REPORT.md)
  c.strategies = ('gradual_unfreezing', 'fine_tuning', 'discriminative', 'ulmfit', 'feature_extraction', 'scratch')
  c.data_sizes = (200, 500, 1000)  # moderate target data, the study's regime for gradual unfreezing
  c.shifts = (0.0,)
  c.lr_mults = (0.1,)  # backbone LR for fine_tuning and gradual_unfreezing (discriminative uses layer_decay)
  c.report.axis = 'data_size'
  c.report.axis_label = 'Target Data Size'
  c.report.transfer = 'gradual_unfreezing'
  c.report.log_x = True

  def smoke(c):
    c.data_sizes = (32,)

  return common.finish(c, arg, smoke=smoke)
