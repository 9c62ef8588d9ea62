r"""Experiment 3 of the original study: how domain shift changes the value of transfer.

Run (30 seeds x 8 candidate settings per strategy: several minutes on a 2-core CPU; `--config.seeds=10` for the
speed benchmark's figure):

  python -m scripts.run --config=configs/domain_shift.py

Result: outputs/domain_shift/table.md, in words outputs/findings.md (its domain-shift section, which the README
embeds); each cell's setting and step chosen on validation data. At 100 labelled target examples fine-tuning beats
scratch at shifts 0 to 1, by less the larger the shift; at shifts 2 and 3 it is significantly below scratch
(negative transfer), and frozen features further below. The fixed protocol (`:fixed`, outputs/domain_shift_fixed/)
reads the same way in every cell. outputs/REPORT.md judges the study's claims on it.

Smoke variant for tests (seconds): --config=configs/domain_shift.py:smoke
"""

from configs import common


def get_config(arg: str | None = None):
  c = common.base('domain_shift')
  c.seeds = 30  # the claims' paired tests need about 30 seeds for 80% power at their effects (REPORT.md)
  c.shifts = (0.0, 0.5, 1.0, 2.0, 3.0)  # the original study's shift axis
  c.data_sizes = (100,)  # little labelled target data: where the choice of strategy matters most
  c.lr_mults = (0.1,)  # backbone at a tenth of the head's LR (see configs/lr_multiplier.py for the sweep)

  def smoke(c):
    c.shifts = (0.0, 3.0)
    c.data_sizes = (8, 32)
    c.max_lanes_per_call = 3  # 8 lanes per strategy -> 3 chunks, the last one padded

  return common.finish(c, arg, smoke=smoke)
