r"""Benchmark on the Exp 1 grid (feature extraction, fine-tuning, scratch x 10 seeds x 5 target sizes).

Run (a few minutes on a 2-core CPU; PyTorch row needs `pip install -e '.[bench]'`):

  python -m scripts.bench --config=configs/bench.py

Result: outputs/benchmark/benchmark.json and benchmark.md (vmapped sweep vs one lane per call vs PyTorch loop,
GFLOP/s vs the measured matmul peak, feature-extraction vs fine-tuning step cost, peak memory).

Smoke variant for tests (seconds): --config=configs/bench.py:smoke
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None):
  c = common.base('benchmark')
  c.strategies = ('fine_tuning', 'feature_extraction', 'scratch')  # those the PyTorch reference implements
  c.data_sizes = (50, 100, 500, 1000, 10_000)  # the Exp 1 grid
  c.shifts = (0.0,)
  c.selection.mode = 'fixed'  # one setting per run: the same job the PyTorch reference runs
  c.steps = 500  # target steps of every run
  c.selection.eval_every = c.steps  # evaluate once, at the end, as the reference does
  c.bench = ml_collections.ConfigDict()
  c.bench.repeats = 3  # the sweep's time is the best of this many calls
  c.bench.torch = True  # time the PyTorch reference when torch is installed
  c.bench.step_lanes = 64  # lanes vmapped when timing one optimizer step
  c.bench.step_counts = (100, 300)  # step cost = time difference between these run lengths / their difference
  c.bench.lane_counts = (1, 256)  # lanes per vmapped call when measuring how cost grows with lanes

  def smoke(c):
    c.data_sizes = (8, 32)
    c.selection.eval_every = c.steps
    c.bench.repeats = 1
    c.bench.step_lanes = 4
    c.bench.step_counts = (5, 10)
    c.bench.lane_counts = (1, 4)

  return common.finish(c, arg, smoke=smoke)
