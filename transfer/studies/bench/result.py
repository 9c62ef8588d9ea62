"""The benchmark's result, typed: what `bench.run` measured, and its JSON form (benchmark.json).

Every figure is a field of a frozen dataclass; the ratios between them are properties, each computed in one place.
`BenchResult.to_json` writes benchmark.json's keys, in their order, and `BenchResult.from_json` reads them back, so
the markdown is rendered the same from a run or from a file written before (see `render.markdown`). Figures that
a file written by an older benchmark lacks are None (and left out again by `to_json`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Grid:
  """The grid the sweep runs: strategies x seeds x data sizes x shifts, and each run's shape."""

  strategies: tuple[str, ...]
  seeds: int
  data_sizes: tuple[int, ...]
  shifts: tuple[float, ...]
  lanes: int
  steps: int
  batch_size: int
  width: int
  depth: int

  def to_json(self) -> dict:
    return {'strategies': list(self.strategies), 'seeds': self.seeds, 'data_sizes': list(self.data_sizes),
            'shifts': list(self.shifts), 'lanes': self.lanes, 'steps': self.steps, 'batch_size': self.batch_size,
            'width': self.width, 'depth': self.depth}

  @classmethod
  def from_json(cls, d: Mapping) -> Grid:
    return cls(tuple(d['strategies']), d['seeds'], tuple(d['data_sizes']), tuple(d['shifts']), d['lanes'],
               d['steps'], d['batch_size'], d['width'], d['depth'])


@dataclasses.dataclass(frozen=True)
class Machine:
  """Where the benchmark ran."""

  cpu: str
  cores: int | None
  platform: str
  jax: str
  backend: str
  devices: tuple[str, ...]
  device_kind: str

  def to_json(self) -> dict:
    return {'cpu': self.cpu, 'cores': self.cores, 'platform': self.platform, 'jax': self.jax,
            'backend': self.backend, 'devices': list(self.devices), 'device_kind': self.device_kind}

  @classmethod
  def from_json(cls, d: Mapping) -> Machine:
    return cls(d['cpu'], d['cores'], d['platform'], d['jax'], d['backend'], tuple(d['devices']), d['device_kind'])


@dataclasses.dataclass(frozen=True)
class TorchGpu:
  """The PyTorch per-run loop on a CUDA device."""

  device: str
  seconds: float
  speedup: float  # its time / the vmapped sweep's
  mean_test_accuracy: float

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Bf16:
  """The vmapped sweep with bfloat16 matmuls (float32 parameters and optimizer)."""

  vmap_seconds: float
  speedup: float  # float32 sweep time / bfloat16 sweep time
  mean_test_accuracy: float
  accuracy_change: float  # bfloat16 minus float32
  compile_seconds: float
  peak_gflops: float  # a bfloat16 matmul's, measured in the same run

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class StrategyCost:
  """One strategy's sweep program: its analytic matmul GFLOP, and XLA's GFLOP and GB accessed (None: unreported)."""

  analytic_gflop: float
  xla_gflop: float | None
  xla_gbytes: float | None

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Cost:
  """The sweep's work: XLA's cost analysis of each strategy's program (every loop iteration counted where
  `loops_scaled`) beside the analytic matmul count; XLA's figures None where the backend reports none."""

  source: str  # 'xla', or why the analytic count stands in
  xla_gflop: float | None
  analytic_gflop: float
  gbytes: float | None
  loops_scaled: bool
  loops_uncorrected: int | None  # loops XLA counted once that could not be scaled (while loops, loops in a cond)
  per_strategy: dict[str, StrategyCost]

  def to_json(self) -> dict:
    return {'source': self.source, 'xla_gflop': self.xla_gflop, 'analytic_gflop': self.analytic_gflop,
            'gbytes': self.gbytes, 'loops_scaled': self.loops_scaled, 'loops_uncorrected': self.loops_uncorrected,
            'per_strategy': {name: c.to_json() for name, c in self.per_strategy.items()}}

  @classmethod
  def from_json(cls, d: Mapping) -> Cost:
    return cls(d['source'], d['xla_gflop'], d['analytic_gflop'], d['gbytes'], d['loops_scaled'],
               d['loops_uncorrected'], {name: StrategyCost(**c) for name, c in d['per_strategy'].items()})


@dataclasses.dataclass(frozen=True)
class Roofline:
  """The least time some work can take: the larger of FLOPs / peak and bytes / bandwidth, and which that is."""

  compute_seconds: float
  memory_seconds: float | None  # None where the bytes are unknown
  seconds: float
  bound: str  # 'compute' or 'memory'

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Shares:
  """Fractions of a program's device time by kind of op (`profile.op_kind`)."""

  matmul: float
  copy: float
  fused: float

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class OpProfile:
  """Where a program's device time goes (jax.profiler): its op seconds, their shares by kind and the share of ops
  run at least once per optimizer step; `ops` (distinct ops) is None for the sweep's whole, a weighted mean."""

  op_seconds: float
  share: Shares
  per_step_share: float
  ops: int | None = None

  def to_json(self) -> dict:
    out = {'op_seconds': self.op_seconds, 'share': self.share.to_json(), 'per_step_share': self.per_step_share}
    return out if self.ops is None else out | {'ops': self.ops}

  @classmethod
  def from_json(cls, d: Mapping | None) -> OpProfile | None:
    return None if d is None else cls(d['op_seconds'], Shares(**d['share']), d['per_step_share'], d.get('ops'))


@dataclasses.dataclass(frozen=True)
class Profile:
  """Each strategy's program's OpProfile and the sweep's (each None where the trace had no per-op events; the
  sweep's also where a strategy's had none)."""

  per_strategy: dict[str, OpProfile | None]
  sweep: OpProfile | None

  def to_json(self) -> dict:
    return {'per_strategy': {name: None if r is None else r.to_json() for name, r in self.per_strategy.items()},
            'sweep': None if self.sweep is None else self.sweep.to_json()}

  @classmethod
  def from_json(cls, d: Mapping) -> Profile:
    return cls({name: OpProfile.from_json(r) for name, r in d['per_strategy'].items()}, OpProfile.from_json(d['sweep']))


@dataclasses.dataclass(frozen=True)
class ScalingCall:
  """One vmapped fine-tuning call of some lanes on one device: its time, or why it was skipped."""

  seconds: float | None = None
  us_per_lane_step: float | None = None
  skipped: str | None = None

  def to_json(self) -> dict:
    if self.skipped is not None:
      return {'skipped': self.skipped}
    return {'seconds': self.seconds, 'us_per_lane_step': self.us_per_lane_step}

  @classmethod
  def from_json(cls, d: Mapping) -> ScalingCall:
    return cls(d.get('seconds'), d.get('us_per_lane_step'), d.get('skipped'))


@dataclasses.dataclass(frozen=True)
class BenchResult:
  """Every figure of one benchmark run (seconds, GFLOP, GB, GFLOP/s, GB/s, MB as named)."""

  grid: Grid
  vmap_seconds: float  # the vmapped sweep: one call per strategy and the data table they share, best of repeats
  sequential_seconds: float  # the same JAX training, one lane per call
  torch_seconds: float | None  # the PyTorch per-run loop on CPU; None where skipped (`torch_skipped` says why)
  torch_skipped: str | None
  torch_gpu: TorchGpu | None
  compile_seconds: float  # the sweep's programs'
  table_first_call_seconds: float | None  # the data table's compilation and first run
  sweep_programs: int | None  # one per group of strategies sharing one (strategies.program), and the data table's
  single_compile_seconds: float  # the one-lane programs' (the baseline's)
  compiler_options: dict
  cost: Cost
  peak_gflops: float  # a large f32 matmul's, measured in the same run
  lane_matmul_gflops: float | None  # the sweep's per-lane matmuls alone (cost.lane_matmul_gflops); None: not measured
  lane_matmul_lanes: int | None  # the lanes they ran in (the sweep's widest call)
  bandwidth_gbs: float  # `x + 1` on `bandwidth_mb` MB, measured in the same run
  bandwidth_mb: float
  roofline: Roofline
  bf16: Bf16 | None
  profile: Profile | None
  fe_step_seconds: float  # one optimizer step of `step_lanes` lanes, feature extraction
  ft_step_seconds: float  # and fine-tuning
  step_lanes: int
  lane_scaling: dict[str, ScalingCall]  # by lane count, as a string
  lane_scaling_data_size: int
  jax_accuracy: float  # mean test accuracy over every lane of the sweep
  torch_accuracy: float | None  # and of the PyTorch loop on CPU
  peak_rss_mb: float  # before the lane-scaling calls
  lane_scaling_peak_rss_mb: float  # including them
  devices: int
  machine: Machine
  limit: str  # what limits the sweep (`render.limit_sentence`)

  @property
  def model_gflop(self) -> float:
    """The analytic count of the model's matmuls."""
    return self.cost.analytic_gflop

  @property
  def xla_gflop(self) -> float | None:
    return self.cost.xla_gflop

  @property
  def gbytes_accessed(self) -> float | None:
    return self.cost.gbytes

  @property
  def work_gflop(self) -> float:
    """The sweep's work: XLA's count where the backend reports one, else the analytic count."""
    return self.model_gflop if self.xla_gflop is None else self.xla_gflop

  @property
  def compile_over_sweep(self) -> float:
    return self.compile_seconds / self.vmap_seconds

  @property
  def speedup_vs_sequential(self) -> float:
    return self.sequential_seconds / self.vmap_seconds

  @property
  def speedup_vs_torch(self) -> float | None:
    return None if self.torch_seconds is None else self.torch_seconds / self.vmap_seconds

  @property
  def achieved_gflops(self) -> float:
    return self.model_gflop / self.vmap_seconds

  @property
  def fraction_of_peak(self) -> float:
    return self.model_gflop / self.vmap_seconds / self.peak_gflops

  @property
  def xla_fraction_of_peak(self) -> float:
    return self.work_gflop / self.vmap_seconds / self.peak_gflops

  @property
  def lane_matmul_fraction_of_peak(self) -> float | None:
    """What the per-lane matmuls reach alone, as a fraction of the peak: the most the sweep could reach."""
    return None if self.lane_matmul_gflops is None else self.lane_matmul_gflops / self.peak_gflops

  @property
  def sweep_over_lane_matmul(self) -> float | None:
    """The sweep's speed (analytic count) as a fraction of its per-lane matmuls' alone."""
    return None if self.lane_matmul_gflops is None else self.achieved_gflops / self.lane_matmul_gflops

  @property
  def fraction_of_roofline(self) -> float:
    return self.roofline.seconds / self.vmap_seconds

  @property
  def ft_over_fe_step(self) -> float:
    return self.ft_step_seconds / self.fe_step_seconds

  def to_json(self) -> dict:
    """benchmark.json: every figure and ratio, under the keys (and in the order) readers of the file know."""
    added_later = {'table_first_call_seconds': self.table_first_call_seconds, 'sweep_programs': self.sweep_programs}
    out = {
        'grid': self.grid.to_json(),
        'vmap_seconds': self.vmap_seconds, 'sequential_seconds': self.sequential_seconds,
        'torch_seconds': self.torch_seconds, 'torch_skipped': self.torch_skipped,
        'torch_gpu': None if self.torch_gpu is None else self.torch_gpu.to_json(),
        'compile_seconds': self.compile_seconds,
        **{k: v for k, v in added_later.items() if v is not None},
        'single_compile_seconds': self.single_compile_seconds,
        'compile_over_sweep': self.compile_over_sweep,
        'compiler_options': dict(self.compiler_options),
        'speedup_vs_sequential': self.speedup_vs_sequential,
        'speedup_vs_torch': self.speedup_vs_torch,
        'model_gflop': self.model_gflop, 'xla_gflop': self.xla_gflop, 'gbytes_accessed': self.gbytes_accessed,
        'cost': self.cost.to_json(),
        'peak_gflops': self.peak_gflops, 'achieved_gflops': self.achieved_gflops,
        'fraction_of_peak': self.fraction_of_peak, 'xla_fraction_of_peak': self.xla_fraction_of_peak,
        **({} if self.lane_matmul_gflops is None else {
            'lane_matmul_gflops': self.lane_matmul_gflops, 'lane_matmul_lanes': self.lane_matmul_lanes,
            'lane_matmul_fraction_of_peak': self.lane_matmul_fraction_of_peak,
            'sweep_over_lane_matmul': self.sweep_over_lane_matmul}),
        'bandwidth_gbs': self.bandwidth_gbs, 'bandwidth_mb': self.bandwidth_mb,
        'roofline': self.roofline.to_json(), 'fraction_of_roofline': self.fraction_of_roofline,
        'bf16': None if self.bf16 is None else self.bf16.to_json(),
        **({} if self.profile is None else {'profile': self.profile.to_json()}),
        'fe_step_seconds': self.fe_step_seconds, 'ft_step_seconds': self.ft_step_seconds,
        'ft_over_fe_step': self.ft_over_fe_step, 'step_lanes': self.step_lanes,
        'lane_scaling': {n: r.to_json() for n, r in self.lane_scaling.items()},
        'lane_scaling_seconds': {n: r.seconds for n, r in self.lane_scaling.items()},
        'lane_scaling_data_size': self.lane_scaling_data_size,
        'mean_test_accuracy': {'jax': self.jax_accuracy, 'torch': self.torch_accuracy},
        'peak_rss_mb': self.peak_rss_mb, 'lane_scaling_peak_rss_mb': self.lane_scaling_peak_rss_mb,
        'devices': self.devices, 'machine': self.machine.to_json(),
        'limit': self.limit,
    }
    return out

  @classmethod
  def from_json(cls, d: Mapping) -> BenchResult:
    """A result read back from benchmark.json (the ratios are recomputed from the figures, as `run` computes them)."""
    return cls(
        grid=Grid.from_json(d['grid']), vmap_seconds=d['vmap_seconds'], sequential_seconds=d['sequential_seconds'],
        torch_seconds=d['torch_seconds'], torch_skipped=d.get('torch_skipped'),
        torch_gpu=None if d['torch_gpu'] is None else TorchGpu(**d['torch_gpu']),
        compile_seconds=d['compile_seconds'], table_first_call_seconds=d.get('table_first_call_seconds'),
        sweep_programs=d.get('sweep_programs'), single_compile_seconds=d['single_compile_seconds'],
        compiler_options=d['compiler_options'], cost=Cost.from_json(d['cost']), peak_gflops=d['peak_gflops'],
        lane_matmul_gflops=d.get('lane_matmul_gflops'), lane_matmul_lanes=d.get('lane_matmul_lanes'),
        bandwidth_gbs=d['bandwidth_gbs'], bandwidth_mb=d['bandwidth_mb'], roofline=Roofline(**d['roofline']),
        bf16=None if d['bf16'] is None else Bf16(**d['bf16']),
        profile=None if d.get('profile') is None else Profile.from_json(d['profile']),
        fe_step_seconds=d['fe_step_seconds'], ft_step_seconds=d['ft_step_seconds'], step_lanes=d['step_lanes'],
        lane_scaling={n: ScalingCall.from_json(r) for n, r in d['lane_scaling'].items()},
        lane_scaling_data_size=d['lane_scaling_data_size'], jax_accuracy=d['mean_test_accuracy']['jax'],
        torch_accuracy=d['mean_test_accuracy']['torch'], peak_rss_mb=d['peak_rss_mb'],
        lane_scaling_peak_rss_mb=d['lane_scaling_peak_rss_mb'], devices=d['devices'],
        machine=Machine.from_json(d['machine']), limit=d['limit'])
