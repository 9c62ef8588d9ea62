"""The workdir as a durable store of finished lanes and runs, so a killed sweep resumes instead of starting over.

`config.json` is written before the first lane and ties the workdir to one config. Every finished lane (one
candidate setting of one grid cell) is kept in `curves.npz`: its key, hyperparameters, the curves of its
evaluations and its scalars, rewritten atomically after every chunk. `results.json` holds one run per grid cell
(the candidate and step its selection chose, see run/records.py), rewritten when a strategy's lanes are done. A
rerun with the same config computes only the lanes that are missing; so does a config that grows the grid (more
seeds, sizes, strategies, candidates, ...; `GROWABLE`) or changes only what no result depends on (`PRESENTATION`),
and config.json is then rewritten. Any other difference is refused unless `--overwrite`.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Sequence

from absl import logging
import numpy as np

from transfer import io
from transfer import types
from transfer.errors import WorkdirError

ENVIRONMENT = 'environment.json'  # where and how the results were computed (run/provenance.py)
DERIVED = ('results.json', 'curves.npz', 'summary.csv', 'table.md', 'plot.png', 'plot.pdf', 'curves.png',
           'curves.pdf', 'source_models.msgpack', ENVIRONMENT, 'refit.md', 'refit.json')
# Config fields that change no result: how lanes are batched into calls, where the source-model cache lives (its
# files are keyed by their content), and what the report shows. A workdir's config.json may differ from the config
# in them; it is then rewritten.
PRESENTATION = ('max_lanes_per_call', 'pretrain.cache_dir', 'report')
# The grid fields a workdir's config may grow: the new value holds the old one (seeds, search.num_samples: at least as
# many), so every finished lane keeps its key in curves.npz and only the new lanes run (candidate j of a random search
# is the same draw whatever num_samples is). `shifts` cannot grow: every run measures its test accuracy at every
# shift of its experiment (ood_accuracy), so a new shift changes every finished run. Every other field, `experiment`
# included, must match.
GROWABLE = ('seeds', 'data_sizes', 'lr_mults', 'layers_copied', 'strategies', 'search.num_samples')


def run_key(record: dict) -> tuple:
  return tuple(record.get(k) for k in types.RUN_KEY)


def flat_items(obj, prefix: str = '') -> dict:
  if isinstance(obj, dict):
    return {k: v for key, value in obj.items() for k, v in flat_items(value, f'{prefix}{key}.').items()}
  return {prefix.rstrip('.'): obj}


def differing_fields(old: dict, new: dict) -> list[str]:
  """The dotted names of the fields whose values differ between two configs (as parsed config.json)."""
  old, new = flat_items(old), flat_items(new)
  return sorted(k for k in set(old) | set(new) if old.get(k, '<absent>') != new.get(k, '<absent>'))


def is_in(name: str, fields: Sequence[str]) -> bool:
  """Whether the dotted field `name` is one of `fields` or inside one of them ('report.title' is in 'report')."""
  return any(name == f or name.startswith(f'{f}.') for f in fields)


def grows(old, new) -> bool:
  """Whether a grid field's `new` value holds its `old` one: a count at least as large, a superset of values."""
  if isinstance(old, int) and isinstance(new, int) and not isinstance(old, bool):
    return new >= old
  return isinstance(old, list) and isinstance(new, list) and set(old) <= set(new)


# Fields added to the config after workdirs were written, with the value every earlier run had in effect: an old
# config.json that lacks one reads as having it (a run of that version could not have set anything else; its lanes
# are read as they were stored, see records.lane_curve).
ADDED = {'model.module': '', 'model.kwargs': {}, 'data.module': '', 'data.kwargs': {},
         'selection.validator': 'source_val_accuracy', 'selection.source_floor': 0.0}


def config_changes(old: dict, new: dict) -> tuple[list[str], list[str], list[str]]:
  """How config `new` differs from the config `old` a workdir holds: (fields that forbid reusing its results, each
  with why; grid fields that grew; fields that change no result). Configs are parsed config.json; a field of `ADDED`
  that `old` lacks reads as its value there."""
  refused, grown, free = [], [], []
  old_flat, new_flat = flat_items(old), flat_items(new)
  absent = {k: v for k, v in ADDED.items() if not any(is_in(key, (k,)) for key in old_flat)}
  old_flat = {**flat_items(absent), **old_flat}
  for name in differing_fields(old_flat, new_flat):
    before, after = old_flat.get(name), new_flat.get(name)
    if is_in(name, PRESENTATION):
      free.append(name)
    elif name in GROWABLE and grows(before, after):
      grown.append(name)
    elif name in GROWABLE:
      refused.append(f'{name} ({json.dumps(before)} -> {json.dumps(after)} does not only grow)')
    else:
      refused.append(name)
  return refused, grown, free


class LaneStore:
  """Finished lanes, persisted as curves.npz (io.write_lanes): one row per lane, in the order they finished until
  `arrange` puts them in the grid's. A lane is a dict: 'hparams' (types.HPARAMS -> value), 'curves' (name ->
  (evaluations,) array), 'scalars' (name -> value)."""

  def __init__(self, path: str):
    self.path, self.lanes = path, io.read_lanes(path)

  def missing(self, keys: Iterable[tuple]) -> list[tuple]:
    return [k for k in keys if k not in self.lanes]

  def require(self, curves: Sequence[str], scalars: Sequence[str]) -> None:
    """Refuses to add lanes with these curves and scalars to a file whose lanes hold others (one written by an
    earlier version of the package): its lanes can still be read, but one file holds one kind of lane."""
    if not self.lanes:
      return
    first = next(iter(self.lanes.values()))
    if set(first['curves']) != set(curves) or set(first['scalars']) != set(scalars):
      raise WorkdirError(f'{self.path!r} holds lanes of an earlier version of this package (curves '
                         f'{sorted(first["curves"])}), so new lanes cannot be added to it; rerun with --overwrite to '
                         'recompute every lane, or choose another --workdir')

  def add(self, keys: Sequence[tuple], hparams: Sequence[dict], curves: dict, scalars: dict) -> None:
    """Adds finished lanes (curves and scalars indexed by lane along their first axis) and rewrites curves.npz."""
    for i, key in enumerate(keys):
      self.lanes[key] = {'hparams': hparams[i], 'curves': {c: np.asarray(v[i]) for c, v in curves.items()},
                         'scalars': {s: io.scalar(v[i]) for s, v in scalars.items()}}
    io.write_lanes(self.path, self.lanes)

  def arrange(self, keys: Sequence[tuple]) -> None:
    """Puts the lanes of `keys` first, in that order (the grid's, whatever order they ran in: several strategies'
    lanes share a program, a sweep resumed or grown), and rewrites curves.npz if that moved any."""
    wanted = [k for k in keys if k in self.lanes]
    ordered = {**{k: self.lanes[k] for k in wanted}, **self.lanes}
    if list(ordered) != list(self.lanes):
      self.lanes = ordered
      io.write_lanes(self.path, self.lanes)

  def get(self, keys: Sequence[tuple]) -> list[dict]:
    return [self.lanes[k] for k in keys]


class RunStore:
  """Finished lanes and runs of one experiment in one workdir."""

  def __init__(self, workdir: str, experiment: str, runs: Iterable[dict] = ()):
    self.workdir, self.experiment = workdir, experiment
    self.runs = {run_key(r): r for r in runs}
    self.lanes = LaneStore(os.path.join(workdir, 'curves.npz'))

  def add(self, records: Iterable[dict]) -> None:
    """Adds finished runs and rewrites results.json at once (temporary file + rename)."""
    self.runs.update((run_key(r), r) for r in records)
    self.save(list(self.runs.values()))

  def save(self, records: list[dict]) -> None:
    io.write_json(os.path.join(self.workdir, 'results.json'), {'experiment': self.experiment, 'runs': records})

  def ordered(self, keys: Iterable[tuple]) -> list[dict]:
    """The stored runs in the order of `keys` (the grid's order), so results never depend on resumption."""
    return [self.runs[k] for k in keys]


def open_workdir(workdir: str, *, experiment: str, config_json: str, overwrite: bool) -> RunStore:
  """Ties `workdir` to this config, or refuses; returns the lanes and runs it already holds.

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
  if overwrite:
    for name in DERIVED:
      io.remove(os.path.join(workdir, name))
  elif os.path.exists(config_path):
    check_config(workdir, read_config(config_path), json.loads(config_json))
  runs = read_runs(os.path.join(workdir, 'results.json'))
  lanes_path = os.path.join(workdir, 'curves.npz')
  if os.path.exists(lanes_path):  # a damaged file is an error now, before config.json is touched
    with open(lanes_path, 'rb') as f:
      io.parse_lanes(f.read(), lanes_path)
  io.makedirs(workdir)
  io.write_text(config_path, config_json)
  return runs


def check_config(workdir: str, old: dict, new: dict, *, log: bool = True) -> None:
  """Refuses `new` for a workdir made by `old` unless it changes no result or only grows the grid (logged, with
  `log`: a rerun into the workdir will then keep its runs and compute the new ones)."""
  refused, grown, free = config_changes(old, new)
  if refused:
    raise WorkdirError(
        f'{workdir!r} holds results of a different config (fields that differ: {", ".join(refused)}); rerun with '
        '--overwrite to replace them, or choose another --workdir (a workdir takes a config that grows '
        f'{", ".join(GROWABLE)} or changes {", ".join(PRESENTATION)}, nothing else)')
  if log and (grown or free):
    logging.info('%s: %s; its finished runs are kept and only the new ones run', workdir, '; '.join(
        ([f'the grid grew ({", ".join(grown)})'] if grown else []) +
        ([f'{", ".join(free)} changed (no result depends on them)'] if free else [])))


def read_config(path: str) -> dict:
  """A workdir's config.json, parsed; a damaged one is one WorkdirError naming it."""
  try:
    config = io.read_json(path)
    if not isinstance(config, dict):
      raise TypeError(f'it holds a {type(config).__name__}, not a config')
  except (ValueError, TypeError) as e:
    raise WorkdirError(f'{path!r} is damaged or not a config ({type(e).__name__}: {e}); restore it, or rerun with '
                       '--overwrite to recompute everything') from e
  return config


def read_runs(path: str) -> list[dict]:
  """The runs of a results.json ([] where there is none); a damaged one is one WorkdirError naming it."""
  if not os.path.exists(path):
    return []
  try:
    runs = io.read_json(path)['runs']
    if not isinstance(runs, list):
      raise TypeError(f"'runs' is a {type(runs).__name__}, not a list")
  except (ValueError, KeyError, TypeError) as e:  # truncated or not JSON (ValueError), or not a results file
    raise WorkdirError(f'{path!r} is damaged or not a results file ({type(e).__name__}: {e}); delete it (it is '
                       'rebuilt from curves.npz), or rerun with --overwrite to recompute everything') from e
  return runs
