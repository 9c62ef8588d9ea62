r"""The decision framework tested: the best strategy per (target size, shift) cell against the advisor's choice.

The grid runs every strategy the framework can recommend (feature extraction, domain adaptation = DANN, gradual
unfreezing, fine-tuning) plus scratch. The advisor's thresholds are fitted on seeds 0-4 and scored on seeds 5-9.

Run (10 seeds):

  python -m scripts.decide --config=configs/decision.py

Result: outputs/decision/decision.md (agreement and regret on held-out seeds), decision_map.png, thresholds.json
(used by `python -m scripts.advise`), plus the usual table.md / plot.png of the grid.

Smoke variant for tests (seconds): --config=configs/decision.py:smoke
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None):
  c = common.base('decision')
  c.strategies = ('feature_extraction', 'dann', 'gradual_unfreezing', 'fine_tuning', 'scratch')
  c.data_sizes = (50, 200, 1000)  # little, moderate, lots (for this task)
  c.shifts = (0.0, 1.0, 2.0, 3.0)  # similar to different domains
  c.lr_mults = (0.1,)
  c.max_lanes_per_call = 64  # 120 lanes per strategy in two calls: keeps peak memory under 2 GB
  c.report.transfer = 'fine_tuning'
  c.decision = ml_collections.ConfigDict()
  c.decision.fit_seeds = 5  # thresholds are fitted on seeds 0..fit_seeds-1 and scored on the rest
  c.decision.distance_samples = 500  # source and target inputs per domain-distance estimate

  def smoke(c):
    c.seeds = 4
    c.data_sizes = (8, 32)
    c.shifts = (0.0, 3.0)
    c.decision.fit_seeds = 2
    c.decision.distance_samples = 64

  return common.finish(c, arg, smoke=smoke)
