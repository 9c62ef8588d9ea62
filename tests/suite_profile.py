"""Where the suite's time goes, as a pytest plugin: `python -m pytest -q -p tests.suite_profile`.

Every test process (each xdist worker, or the one process under `-n 0`) adds up, per test file, the seconds of
jax's tracing to a jaxpr, lowering to MLIR and XLA compilation (jax.monitoring's compile events, each named by the
function it compiles), of the scripts the tests start (`subprocess.run`) and of matplotlib writing figures; the
process that runs pytest merges them and prints a table after the test summary: the categories against the tests'
own time (both workers' together, the sum that `--durations=0` lists), the test files that took longest with the
same categories in each, then the programs that took longest to compile (with how many of their compilations were
read from the session's persistent cache, i.e. a program another process had compiled). Nothing is printed or
written unless the plugin is loaded; BUILD.md quotes its output.
"""

from __future__ import annotations

import collections
import functools
import glob
import json
import os
import tempfile
import time

OUT_ENV = 'TRANSFER_SUITE_PROFILE_DIR'  # where each test process writes its record (set by the pytest process)
EVENTS = {'/jax/core/compile/jaxpr_trace_duration': 'trace',
          '/jax/core/compile/jaxpr_to_mlir_module_duration': 'lower',
          '/jax/core/compile/backend_compile_duration': 'xla compile'}
CATEGORIES = ('trace', 'lower', 'xla compile', 'subprocess', 'figures')
CACHE_HIT = '/jax/compilation_cache/cache_hits'  # a program read from the persistent cache instead of compiled

_seconds: collections.Counter = collections.Counter()  # (category, test file) -> seconds
_programs: dict[str, list] = {}  # program name -> [XLA compile seconds, compilations, of them read from the cache]
_cache_hit = [False]  # the compilation being timed was read from the persistent cache (jax says so before timing it)
_tests: collections.Counter = collections.Counter()  # test file -> seconds of its tests (setup, call, teardown)


def current_file() -> str:
  return os.environ.get('PYTEST_CURRENT_TEST', '(outside a test)').split('::')[0]


def add(category: str, seconds: float) -> None:
  _seconds[category, current_file()] += seconds


def timed(fn, category: str):
  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    start = time.perf_counter()
    try:
      return fn(*args, **kwargs)
    finally:
      add(category, time.perf_counter() - start)
  return wrapper


def on_event(event: str, seconds: float, fun_name: str = '?', **_) -> None:
  if event in EVENTS:
    add(EVENTS[event], seconds)
    if EVENTS[event] == 'xla compile':
      add_program(_programs, fun_name, seconds, 1, int(_cache_hit[0]))
      _cache_hit[0] = False


def on_cache_hit(event: str, **_) -> None:
  if event == CACHE_HIT:
    _cache_hit[0] = True


def add_program(programs: dict[str, list], name: str, seconds: float, compilations: int, cached: int) -> None:
  total = programs.setdefault(name, [0.0, 0, 0])
  total[0] += seconds
  total[1] += compilations
  total[2] += cached


def pytest_configure(config):
  if not os.environ.get(OUT_ENV):  # the pytest process: its workers inherit the folder
    os.environ[OUT_ENV] = tempfile.mkdtemp(prefix='transfer-suite-profile-')
  import subprocess

  import jax
  import matplotlib.figure
  jax.monitoring.register_event_duration_secs_listener(on_event)
  jax.monitoring.register_event_listener(on_cache_hit)
  subprocess.run = timed(subprocess.run, 'subprocess')
  matplotlib.figure.Figure.savefig = timed(matplotlib.figure.Figure.savefig, 'figures')


def pytest_runtest_logreport(report):
  if not hasattr(report, 'node'):  # in the process that ran the test (xdist forwards reports to the pytest process)
    _tests[report.nodeid.split('::')[0]] += report.duration


def write_record() -> None:
  name = os.environ.get('PYTEST_XDIST_WORKER', 'main')
  with open(os.path.join(os.environ[OUT_ENV], f'{name}.json'), 'w') as f:
    json.dump({'seconds': [[c, t, s] for (c, t), s in _seconds.items()], 'tests': dict(_tests),
               'programs': _programs}, f)


def pytest_unconfigure(config):
  if os.environ.get('PYTEST_XDIST_WORKER'):  # the pytest process writes its own in pytest_terminal_summary
    write_record()


def merged(records: list[dict]) -> tuple[collections.Counter, collections.Counter, dict, collections.Counter]:
  """Per-process records -> (category -> seconds, test file -> seconds, program -> [compile seconds, compilations,
  of them read from the persistent cache], (category, test file) -> seconds)."""
  categories, tests, programs, by_file = collections.Counter(), collections.Counter(), {}, collections.Counter()
  for record in records:
    for category, test_file, seconds in record['seconds']:
      categories[category] += seconds
      by_file[category, test_file] += seconds
    tests.update(record['tests'])
    for name, (seconds, count, cached) in record['programs'].items():
      add_program(programs, name, seconds, count, cached)
  return categories, tests, programs, by_file


def table(records: list[dict], top: int = 8) -> list[str]:
  """The profile as markdown lines: each category's seconds and share of the tests' time, the `top` test files by
  their tests' time with each category's seconds in them, then the `top` programs by XLA compile time."""
  categories, tests, programs, by_file = merged(records)
  total = sum(tests.values())
  processes = sum(1 for record in records if record['tests'])
  lines = [f'Suite profile: {total:.0f} s of test time in {processes} process(es)', '',
           '| where | seconds | share of test time |', '|---|---|---|']
  for category in CATEGORIES:
    share = f'{categories[category] / total:.0%}' if total else '-'
    lines.append(f'| {category} | {categories[category]:.0f} | {share} |')
  lines += ['', f'| test file | seconds | {" | ".join(CATEGORIES)} |', '|---|---|' + '---|' * len(CATEGORIES)]
  for test_file, seconds in tests.most_common(top):
    lines.append(f'| {test_file} | {seconds:.0f} | ' + ' | '.join(f'{by_file[c, test_file]:.0f}' for c in CATEGORIES)
                 + ' |')
  lines += ['', '| program (XLA compile) | seconds | compilations | of them read from the cache |', '|---|---|---|---|']
  for name, (seconds, count, cached) in sorted(programs.items(), key=lambda item: -item[1][0])[:top]:
    lines.append(f'| {name} | {seconds:.1f} | {count} | {cached} |')
  return lines


def pytest_terminal_summary(terminalreporter):
  if os.environ.get('PYTEST_XDIST_WORKER'):
    return
  write_record()  # this process's own (the tests it ran itself under -n 0); the workers' are written by now
  records = []
  for path in sorted(glob.glob(os.path.join(os.environ[OUT_ENV], '*.json'))):
    with open(path) as f:
      records.append(json.load(f))
  for line in table(records):
    terminalreporter.write_line(line)
