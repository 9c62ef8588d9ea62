"""A sweep's progress as it runs: one bar over every lane to run (strategies x chunks) with the elapsed time and an
ETA, and the current step: getting the source models, compiling a strategy (apart from its chunks, so the first
chunk's time is not mistaken for the rate), or its chunks.

It is drawn with rich on stderr only when stderr is a terminal (and on process 0 of a multi-process job); log lines
then print above the bar. Elsewhere (tests, CI, a log file) nothing is drawn and the absl log lines, written either
way, are the record. `Progress` holds the counts and is told of every step by run/sweep.py and run/experiment.py.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping

from absl import logging as absl_logging
import rich.console
import rich.progress

from transfer import io


class Progress:
  """The counts of a sweep: lanes to run and done per program (named after the strategies whose lanes it runs,
  e.g. 'fine_tuning+scratch': experiment.program_groups), chunks done of each program's chunks, and the current step
  in words; `draw`, when set, is called after every change."""

  def __init__(self, lanes: Mapping[str, int], draw: Callable[[Progress], None] | None = None):
    self.lanes = dict(lanes)  # program -> lanes to run
    self.done = dict.fromkeys(self.lanes, 0)  # program -> lanes finished
    self.chunks = dict.fromkeys(self.lanes, (0, 0))  # program -> (chunks finished, chunks)
    self.step = 'starting'
    self.draw = draw

  @property
  def total(self) -> int:
    return sum(self.lanes.values())

  @property
  def completed(self) -> int:
    return sum(self.done.values())

  def doing(self, step: str) -> None:
    self.step = step
    self.changed()

  def compiling(self, name: str) -> None:
    self.doing(f'compiling {name}')

  def started(self, name: str, chunks: int) -> None:
    """`name`'s program is compiled and its `chunks` chunks start."""
    self.chunks[name] = (0, chunks)
    self.doing(f'{name}: chunk 1/{chunks}')

  def chunk_done(self, name: str, lanes: int) -> None:
    done, chunks = self.chunks[name]
    self.chunks[name] = (done + 1, chunks)
    self.done[name] = self.done.get(name, 0) + lanes
    self.doing(f'{name}: chunk {done + 2}/{chunks}' if done + 1 < chunks else f'{name}: done')

  def changed(self) -> None:
    if self.draw is not None:
      self.draw(self)


def on_terminal() -> bool:
  """Whether to draw: stderr is a terminal, and this process writes (process 0)."""
  return sys.stderr.isatty() and io.writes()


@contextlib.contextmanager
def shown(lanes: Mapping[str, int], console: rich.console.Console | None = None) -> Iterator[Progress]:
  """A `Progress` of a sweep of `lanes` (program -> lanes to run), drawn live on stderr if it is a terminal (or
  on `console`, for tests), and not drawn otherwise."""
  progress = Progress(lanes)
  if not progress.total or (console is None and not on_terminal()):
    yield progress
    return
  bar = rich.progress.Progress(
      rich.progress.TextColumn('{task.description:<36}'), rich.progress.BarColumn(),
      rich.progress.MofNCompleteColumn(), rich.progress.TextColumn('lanes'), rich.progress.TimeElapsedColumn(),
      rich.progress.TextColumn('ETA'), rich.progress.TimeRemainingColumn(),
      console=console or rich.console.Console(stderr=True), redirect_stderr=True)
  task = bar.add_task(progress.step, total=progress.total)
  progress.draw = lambda p: bar.update(task, completed=p.completed, description=p.step, refresh=True)
  with bar, logs_above_the_bar():
    yield progress


@contextlib.contextmanager
def logs_above_the_bar() -> Iterator[None]:
  """absl's log lines go through rich's stand-in for stderr while the bar is live (so they print above it); absl's
  handler holds the stderr it was made with, which would write through the bar."""
  handler = absl_logging.get_absl_handler().python_handler
  original = handler.stream
  if original is getattr(sys.stderr, 'rich_proxied_file', None):  # logging to stderr, which rich now stands in for
    handler.stream = sys.stderr
  try:
    yield
  finally:
    handler.stream = original
