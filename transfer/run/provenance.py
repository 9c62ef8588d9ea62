"""Where and how a workdir's results were computed: `environment.json`, written (by process 0, through transfer.io)
when a run computes lanes, at its start and again at its end.

It names the package versions, the devices (and the host's processor model), the git commit of the code and
whether the checkout differs from it (outputs/ aside; null outside a git checkout), the command line, the start and
end (UTC, ISO 8601), the wall seconds and each program's compile seconds (lowering and compiling it, timed apart
from running it), the wall and CPU seconds of the run's phases (`Phases`), and the lanes each strategy computed.
The entry of an earlier run that computed part of the same workdir (a killed sweep, a grown grid) moves to its
`earlier` list. A run that computes nothing leaves the file as it is.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
import time

from absl import logging
import jax

from transfer import compiler
from transfer import io

PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'numpy')
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # transfer/


def utc_now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


class Clock:
  """When a run started: its UTC time, a monotonic reference for its wall seconds, and the git checkout then (the
  code the run imported; a commit made while it runs is not its code)."""

  def __init__(self):
    self.start, self.reference, self.git = utc_now(), time.perf_counter(), git()

  def seconds(self) -> float:
    return time.perf_counter() - self.reference


class Phases:
  """The wall and CPU seconds of a run's phases, each measured by a `with phases(name):` block (a phase entered
  again adds to its totals; blocks do not nest). CPU seconds are the process's, over all of its threads (XLA's
  included), so CPU over wall seconds is how many cores the phase kept busy on average."""

  def __init__(self):
    self.totals: dict[str, list[float]] = {}

  @contextlib.contextmanager
  def __call__(self, name: str):
    wall, cpu = time.perf_counter(), time.process_time()
    try:
      yield
    finally:
      total = self.totals.setdefault(name, [0.0, 0.0])
      total[0] += time.perf_counter() - wall
      total[1] += time.process_time() - cpu

  def as_dict(self) -> dict[str, dict[str, float]]:
    return {name: {'seconds': round(wall, 2), 'cpu_seconds': round(cpu, 2)}
            for name, (wall, cpu) in self.totals.items()}


def packages() -> dict[str, str | None]:
  """Python's version and those of the packages results depend on (None for one that is not installed)."""
  out = {'python': platform.python_version()}
  for name in PACKAGES:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      out[name] = None
  return out


def host_cpu() -> str:
  """The host's processor model (/proc/cpuinfo's first 'model name', else `platform.processor()`): the CPU's device
  kind is only 'cpu', and two CPUs give a sweep different speeds and, in late digits, different results."""
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
    if names:
      return names[0]
  return platform.processor()


def devices() -> dict:
  """The devices the lanes run on: platform, kind, count (over every process), the number of processes and the
  host's processor model."""
  device = jax.devices()[0]
  return {'platform': device.platform, 'kind': device.device_kind, 'count': jax.device_count(),
          'processes': jax.process_count(), 'host_cpu': host_cpu()}


def git(package_dir: str = PACKAGE_DIR) -> dict | None:
  """{'commit', 'dirty'} of the git checkout the package runs from (dirty: a file other than under outputs/
  differs from the commit, untracked ones included), or None when it does not run from one (an installed copy) or
  git is missing."""
  root = os.path.dirname(package_dir)

  def output(*args: str) -> str:
    return subprocess.run(['git', '--no-optional-locks', '-C', root, *args], capture_output=True, text=True,
                          timeout=30, check=True).stdout.strip()

  try:
    if not os.path.samefile(output('rev-parse', '--show-toplevel'), root):
      return None  # e.g. site-packages inside some other repository
    return {'commit': output('rev-parse', 'HEAD'),
            'dirty': output('status', '--porcelain', '--', '.', ':(exclude)outputs') != ''}
  except (OSError, subprocess.SubprocessError):
    return None


def entry(clock: Clock, *, lanes: dict[str, int], compile_seconds: dict[str, float], programs: dict[str, int],
          finished: bool, phases: Phases | None = None) -> dict:
  """This run's environment.json entry (`end` and `wall_seconds` are null until it has `finished`): the lanes each
  strategy ran, the seconds each program compiled (named after the strategies whose lanes it ran, e.g.
  'fine_tuning+scratch': experiment.program_groups; `data_table`: compiling and rendering the shared data) and how
  many distinct programs each used, compiled or found compiled in this process or the persistent cache
  (`distinct_programs` their sum; pre-training's, cached apart, not counted), and the wall and CPU seconds of the
  run's `phases` (experiment.run's: `source_models`, pre-training them or reading them from the cache;
  `data_table`; each program's compilation and chunks, named as in `compile_seconds`; `report`, the records, tables,
  figures and TensorBoard files)."""
  return {'start': clock.start, 'end': utc_now() if finished else None,
          'wall_seconds': round(clock.seconds(), 1) if finished else None,
          'compile_seconds': {k: round(v, 2) for k, v in compile_seconds.items()}, 'programs': programs,
          'distinct_programs': sum(programs.values()), 'phases': phases.as_dict() if phases else {}, 'lanes': lanes,
          'argv': list(sys.argv), 'packages': packages(), 'devices': devices(),
          'compiler_options': compiler.options(), 'git': clock.git}  # the sweeps' (pre-training keeps XLA's defaults)


def record(path: str, run: dict) -> None:
  """Writes `run` (an `entry`) to `path` (a workdir's environment.json), keeping an earlier run's entry there in
  `earlier`."""
  if not io.writes():
    return
  earlier = []
  if os.path.exists(path):
    try:
      previous = io.read_json(path)
      earlier = previous.pop('earlier')
      if previous['start'] != run['start']:
        earlier.append(previous)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
      logging.warning('%s is damaged or not an environment record (%s); replacing it', path, e)
  io.write_json(path, {**run, 'earlier': earlier})
