"""The one way this package compiles a program: `jit`, which is `jax.jit` with the compiler options of the backend
the program runs on (tests/test_layout.py keeps `jax.jit` out of every other module).

On CPU, XLA's LLVM backend optimises at level 1 (`set_cpu_opt_level`) unless `$TRANSFER_CPU_OPT_LEVEL` or an
entrypoint's `--cpu_opt_level` says otherwise (3 is XLA's own default; the test suite sets the variable to 0). The
sweeps' programs compile faster at level 1 and run as fast, since their time goes to matmul kernels compiled ahead of
time, not to the code LLVM emits; level 0 compiles faster still but runs more slowly (BUILD.md has the timings).

From the same source model, target training gives the same accuracies at levels 1 and 3 (tests/test_compiler.py on
an MLP, DANN and a CNN); an evaluation loss may differ in its last bit, as it does from one CPU to another
(docs/determinism.md). Pre-training keeps XLA's default level (`pretrain_cpu_opt_level`): its models are cached and
shared by every experiment, so they must not depend on the sweeps' level. A process set to level 0 (the fastest
compile, for programs that are nearly all compilation: the test suite's) pre-trains at 0 too, and its models are
cached under a key of their own (`pretrain_key`). `--cpu_opt_level=3` restores XLA's default for every program.
Accelerators keep their defaults: the option also sets the LLVM level of GPU kernels, which nothing here has
measured.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax

LEVELS = (0, 1, 2, 3)  # LLVM's optimisation levels
DEFAULT_CPU_OPT_LEVEL = 1
XLA_DEFAULT_OPT_LEVEL = 3
# Level 0 is for programs that are nearly all compilation (the test suite's): besides LLVM's level 0, XLA:CPU then
# emits its fused elementwise kernels with its older LLVM IR emitters instead of its MLIR fusion emitters, whose
# per-kernel pass pipelines are most of a small program's compile time at that level (BUILD.md has the timings).
FASTEST_COMPILE = {'xla_cpu_use_fusion_emitters': False}
LEVEL_ENV = 'TRANSFER_CPU_OPT_LEVEL'  # replaces the default level where set (the test suite sets 0 for itself and
#                                       the scripts it starts); an entrypoint's --cpu_opt_level still wins


def initial_cpu_opt_level() -> int:
  """The level every process starts with: $TRANSFER_CPU_OPT_LEVEL where set, else DEFAULT_CPU_OPT_LEVEL."""
  value = os.environ.get(LEVEL_ENV, '')
  return int(value) if value in [str(level) for level in LEVELS] else DEFAULT_CPU_OPT_LEVEL


_cpu_opt_level = initial_cpu_opt_level()


def set_cpu_opt_level(level: int) -> None:
  """The LLVM optimisation level of every program compiled for CPU from now on (0-3)."""
  global _cpu_opt_level
  if level not in LEVELS:
    raise ValueError(f'the CPU optimisation level is 0, 1, 2 or 3, not {level!r}')
  _cpu_opt_level = level


def options(backend: str | None = None, cpu_opt_level: int | None = None) -> dict:
  """The compiler options for `backend` (the default backend when None): on CPU the LLVM level (`cpu_opt_level`,
  else the one `set_cpu_opt_level` set) where it is not XLA's default; none elsewhere."""
  level = _cpu_opt_level if cpu_opt_level is None else cpu_opt_level
  if (backend or jax.default_backend()) != 'cpu' or level == XLA_DEFAULT_OPT_LEVEL:
    return {}
  return {'xla_backend_optimization_level': level, **(FASTEST_COMPILE if level == 0 else {})}


def pretrain_cpu_opt_level() -> int:
  """The level pre-training compiles at: XLA's default, or 0 in a process set to 0 (pre-training's compilation is
  most of a smoke run's; 6.1 s at XLA's default against 2.1 s at 0 for the domain-shift smoke config's)."""
  return 0 if _cpu_opt_level == 0 else XLA_DEFAULT_OPT_LEVEL


def pretrain_key() -> dict:
  """What the compiler adds to the cache key of pre-trained models: {} at XLA's default or off CPU (every cache made
  before level 0 could pre-train keeps its key), else the CPU level the models were compiled at."""
  level = pretrain_cpu_opt_level()
  return {'cpu_opt_level': level} if options(cpu_opt_level=level) else {}


def jit(fn: Callable, *, cpu_opt_level: int | None = None, **kwargs) -> Callable:
  """`jax.jit(fn, **kwargs)` compiled with `options(cpu_opt_level=cpu_opt_level)` (`.lower(...).compile()` uses
  them too)."""
  return jax.jit(fn, compiler_options=options(cpu_opt_level=cpu_opt_level) or None, **kwargs)
