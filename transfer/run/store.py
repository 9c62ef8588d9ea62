"""The workdir as a durable store of finished runs, so a killed sweep resumes instead of starting over.

`config.json` is written before the first run and ties the workdir to one config; `results.json` is rewritten
atomically after every finished chunk. A rerun with the same config computes only the runs that are missing.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable

from transfer import io
from transfer import types
from transfer.errors import WorkdirError

RUN_KEY = ('strategy',) + types.AXES
DERIVED = ('results.json', 'summary.csv', 'table.md', 'plot.png', 'plot.pdf', 'source_models.msgpack')


def run_key(record: dict) -> tuple:
  return tuple(record.get(k) for k in RUN_KEY)


def flat_items(obj, prefix: str = '') -> dict:
  if isinstance(obj, dict):
    return {k: v for key, value in obj.items() for k, v in flat_items(value, f'{prefix}{key}.').items()}
  return {prefix.rstrip('.'): obj}


def differing_fields(old_json: str, new_json: str) -> list[str]:
  old, new = flat_items(json.loads(old_json)), flat_items(json.loads(new_json))
  return sorted(k for k in set(old) | set(new) if old.get(k, '<absent>') != new.get(k, '<absent>'))


class RunStore:
  """Finished runs of one experiment in one workdir."""

  def __init__(self, workdir: str, experiment: str, runs: Iterable[dict] = ()):
    self.workdir, self.experiment = workdir, experiment
    self.runs = {run_key(r): r for r in runs}

  def add(self, records: Iterable[dict]) -> None:
    """Adds finished runs and rewrites results.json at once (temporary file + rename)."""
    self.runs.update((run_key(r), r) for r in records)
    self.save(list(self.runs.values()))

  def save(self, records: list[dict]) -> None:
    io.write_json(os.path.join(self.workdir, 'results.json'), {'experiment': self.experiment, 'runs': records})

  def missing(self, strategy: str, cells: Iterable[dict]) -> list[dict]:
    return [c for c in cells if run_key({'strategy': strategy, **c}) not in self.runs]

  def ordered(self, keys: Iterable[tuple]) -> list[dict]:
    """The stored runs in the order of `keys` (the grid's order), so results never depend on resumption."""
    return [self.runs[k] for k in keys]


def open_workdir(workdir: str, *, experiment: str, config_json: str, overwrite: bool) -> RunStore:
  """Ties `workdir` to this config, or refuses; returns the runs it already holds.

  A workdir made by a different config is an error unless `overwrite`, which deletes its results (not the
  cached source models, which are keyed by their own config). In a multi-process job process 0 alone looks at (and
  writes) its workdir, and every process gets the same runs (or the same error) from it.
  """
  runs = io.json_from_process_0(functools.partial(claim_workdir, workdir, config_json=config_json,
                                                  overwrite=overwrite))
  return RunStore(workdir, experiment, runs)


def claim_workdir(workdir: str, *, config_json: str, overwrite: bool) -> list[dict]:
  """`open_workdir` on the disk: checks and writes config.json, deletes stale results; returns the finished runs."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirError(f'{workdir!r} is a file, not a folder; choose another --workdir')
  config_path = os.path.join(workdir, 'config.json')
  if os.path.exists(config_path):
    with open(config_path) as f:
      old = f.read()
    if old != config_json and not overwrite:
      fields = ', '.join(differing_fields(old, config_json)) or 'formatting only'
      raise WorkdirError(f'{workdir!r} holds results of a different config (fields that differ: {fields}); '
                         'rerun with --overwrite to replace them, or choose another --workdir')
    if old != config_json or overwrite:
      for name in DERIVED:
        io.remove(os.path.join(workdir, name))
  io.makedirs(workdir)
  io.write_text(config_path, config_json)
  results_path = os.path.join(workdir, 'results.json')
  if os.path.exists(results_path):
    return io.read_json(results_path)['runs']
  return []
