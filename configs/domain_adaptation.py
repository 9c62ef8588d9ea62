r"""Domain adaptation (DANN, Deep CORAL, MMD) against plain fine-tuning across the original study's shifts.

Each DA run trains on the few labelled target examples, on labelled source examples (through the pre-trained source
head) and on an unlabelled target pool at the run's shift, aligning backbone features of source and unlabelled
target (`align_weight` = 1). Gains are paired against fine-tuning with the same backbone LR.

Run (10 seeds):

  python -m scripts.run --config=configs/domain_adaptation.py

Result: outputs/domain_adaptation/table.md.

Smoke variant for tests (seconds): --config=configs/domain_adaptation.py:smoke
"""

from configs import common


def get_config(arg: str | None = None):
  c = common.base('domain_adaptation')
  c.strategies = ('dann', 'coral', 'mmd', 'fine_tuning', 'scratch')
  c.shifts = (0.0, 0.5, 1.0, 2.0, 3.0)  # the original study's shift axis
  c.data_sizes = (100,)  # little labelled target data, as in configs/domain_shift.py
  c.lr_mults = (0.1,)
  c.report.transfer = 'dann'  # the verdict column: DANN against the baseline
  c.report.baseline = 'fine_tuning'  # gains are paired differences to plain fine-tuning

  def smoke(c):
    c.shifts = (0.0, 2.0)
    c.data_sizes = (32,)

  return common.finish(c, arg, smoke=smoke)
