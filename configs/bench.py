r"""Benchmark on the Exp 1 grid (feature extraction, fine-tuning, scratch x 10 seeds x 5 target sizes).

Run (minutes on a 2-core CPU, the 2,048-lane scaling call the longest part; PyTorch row needs
`pip install -e '.[bench]'`; compiles without the persistent cache, so compile times are real):

  python -m scripts.bench --config=configs/bench.py

It writes outputs/benchmark/benchmark.json and benchmark.md (docs/results.md reads them); the figures measured on
this repository's machine are in outputs/benchmark/benchmark.md, not here: the sweep's time against a PyTorch per-run
loop and the same JAX run one lane per call, compile time, the fraction of the measured matmul peak (analytic and
XLA FLOP counts) beside what the sweep's per-lane matmuls reach on their own, bandwidth and roofline, the
profiler's split of op time, step costs, lane scaling, optional bfloat16 (bench.bf16) and peak memory.

On a GPU machine: bash scripts/bench_gpu.sh (lanes up to 8192, bfloat16 and PyTorch on; outputs/benchmark/gpu/).

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
  c.bench.lane_counts = (1, 256, 2048)  # lanes per vmapped call when measuring how cost grows with lanes; a count
  #                                        whose program XLA says would not fit one device's memory is skipped (said)
  c.bench.scaling_data_size = 1000  # target pool of those lanes (0 = the grid's largest). On CPU a lane needs ~7 MB
  #                                   at 1,000 (mostly its 2,000 test examples: 2,048 lanes ~14 GiB), ~15 MB at 10,000
  c.bench.peak_sizes = (1024, 2048)  # square matmuls whose best throughput is the measured peak (f32, and bf16)
  c.bench.bandwidth_mb = 256  # float32 array whose `x + 1` (read + write) measures the memory bandwidth
  c.bench.bf16 = False  # also time the sweep with bfloat16 matmuls (float32 parameters and optimizer): its speed
  #                       and its mean test accuracy against float32

  def smoke(c):
    c.data_sizes = (8, 32)
    c.selection.eval_every = c.steps
    c.bench.repeats = 1
    c.bench.step_lanes = 4
    c.bench.step_counts = (5, 10)
    c.bench.lane_counts = (1, 4)
    c.bench.scaling_data_size = 0
    c.bench.peak_sizes = (256,)
    c.bench.bandwidth_mb = 16

  return common.finish(c, arg, smoke=smoke)
