"""A workdir's learning curves and hyperparameters as TensorBoard event files, for
`tensorboard --logdir=<workdir>/tensorboard`.

A pure function of the workdir (config.json, curves.npz, results.json, environment.json), written by every
experiment after its results (run/experiment.py) and again by `python -m scripts.tensorboard --workdir=...` for any
finished workdir, the committed outputs included.

Layout: one run per strategy and candidate setting, `<strategy>/cand<j>`, each one event file; in it one scalar tag
per curve and grid cell, `<curve>/<cell>` (e.g. `val_accuracy/n100_shift0.5_seed3`; the cell names every axis the
strategy has: n (data size), shift, lrmult, k (layers copied), seed), at the step of each evaluation. TensorBoard
draws one chart per tag with every run that has it, so the charts are grouped by curve, each chart is one cell, and
its lines are the strategies' candidates (filter the runs to see one strategy's). A cell's chart per run, rather than
a run per lane, keeps the files few: a 5,000-lane sweep is 40 files, not 5,000.

Each run is also a session of the HParams dashboard: `strategy`, `candidate` and the candidate's settings of the
hyperparameters the strategy reads (a setting that differs between its cells, lr_mult where it is a grid axis, is
in the cell names instead), and three metrics over its cells (`METRICS`). The files are byte-identical for the same
workdir: every event is stamped with the time the workdir's lanes finished (environment.json), and the file name has
no host name.
"""

from __future__ import annotations

import datetime
import os
import struct
from collections.abc import Sequence

import numpy as np
from tensorboardX import record_writer
from tensorboardX import summary as summary_lib
from tensorboardX.proto import event_pb2
from tensorboardX.proto import summary_pb2

from transfer import io
from transfer import types

FOLDER = 'tensorboard'  # in the workdir
CURVES = ('val_accuracy', 'val_loss', 'test_accuracy', 'test_loss', 'train_loss')  # of curves.npz; all-NaN ones skipped
# A lane's other curves (domain adaptation's loss terms and label-free validators, the selection `score`) are written
# too, under their curves.npz names; `score` only where it is not the validation accuracy itself.
# The HParams metrics of a run, over its cells: the mean of the candidate's best validation accuracy in each, the mean
# of the whole test set's accuracy at its own best step in each, and the fraction of the strategy's cells whose
# selection chose this candidate (results.json).
METRICS = ('hparams/best_val_accuracy', 'hparams/test_accuracy', 'hparams/chosen')
EVENTS = 'events.out.tfevents'  # TensorBoard reads the files whose names contain 'tfevents'


def number(value) -> str:
  return f'{value:g}' if isinstance(value, float) else str(value)


def finished_time(workdir: str) -> float:
  """When the workdir's lanes finished (environment.json's end), in seconds since the epoch; 0 where unknown."""
  try:
    return datetime.datetime.fromisoformat(io.read_json(os.path.join(workdir, 'environment.json'))['end']).timestamp()
  except (OSError, ValueError, KeyError, TypeError):
    return 0.0


def records_framed(events: Sequence[event_pb2.Event]) -> bytes:
  """`events` in TensorBoard's record framing (TFRecord: length, its masked CRC-32C, the event, its masked CRC-32C),
  the checksums by tensorboardX's record writer."""
  out = []
  for event in events:
    data = event.SerializeToString()
    header = struct.pack('<Q', len(data))
    out += [header, struct.pack('<I', record_writer.masked_crc32c(header)), data,
            struct.pack('<I', record_writer.masked_crc32c(data))]
  return b''.join(out)


def best(curve) -> float | None:
  """A curve's highest finite value (None where it has none)."""
  finite = np.asarray([] if curve is None else curve, np.float64)
  finite = finite[np.isfinite(finite)]
  return float(finite.max()) if finite.size else None


def mean_finite(values) -> float | None:
  values = np.asarray([v for v in values if v is not None], np.float64)
  values = values[np.isfinite(values)]
  return float(values.mean()) if values.size else None


def curve_names(curves: dict) -> list[str]:
  """The curves of a lane to write: CURVES first, then its others by name, without a `score` that repeats the
  validation accuracy (a run with target labels selects on it)."""
  same = 'score' in curves and 'val_accuracy' in curves and np.array_equal(
      np.asarray(curves['score']), np.asarray(curves['val_accuracy']), equal_nan=True)
  rest = sorted(name for name in curves if name not in CURVES and not (name == 'score' and same))
  return [name for name in CURVES if name in curves] + rest


def run_events(cells: list[tuple[dict, dict]], *, session: dict, experiment: summary_pb2.Summary,
               chosen: float | None, eval_every: int, wall_time: float) -> list[event_pb2.Event]:
  """The events of one run: its cells' curves (cell key, lane) and its HParams session."""
  curves = {f'{name}/{types.cell_label(key)}': np.asarray(lane['curves'][name], np.float64)
            for key, lane in cells for name in curve_names(lane['curves'])}
  curves = {tag: curve for tag, curve in sorted(curves.items()) if np.isfinite(curve).any()}
  evaluations = max((len(c) for c in curves.values()), default=0)
  _, start, end = summary_lib.hparams(session, {})
  events = [event_pb2.Event(wall_time=wall_time, file_version='brain.Event:2'),
            event_pb2.Event(wall_time=wall_time, summary=experiment),
            event_pb2.Event(wall_time=wall_time, summary=start)]
  for i in range(evaluations):
    values = [summary_pb2.Summary.Value(tag=tag, simple_value=float(curve[i])) for tag, curve in curves.items()
              if i < len(curve)]
    events.append(event_pb2.Event(wall_time=wall_time, step=(i + 1) * eval_every,
                                  summary=summary_pb2.Summary(value=values)))
  metrics = (mean_finite(best(lane['curves'].get('val_accuracy')) for _, lane in cells),
             mean_finite(lane['scalars'].get('selected_test_accuracy') for _, lane in cells), chosen)
  values = [summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in zip(METRICS, metrics)
            if value is not None]
  events.append(event_pb2.Event(wall_time=wall_time, step=evaluations * eval_every,
                                summary=summary_pb2.Summary(value=values)))
  events.append(event_pb2.Event(wall_time=wall_time, step=evaluations * eval_every, summary=end))
  return events


def sessions(runs: dict[tuple[str, int], list[tuple[dict, dict]]], records: list[dict]) -> dict:
  """(strategy, candidate) -> its HParams session: the strategy, the candidate and each of its settings of the
  hyperparameters the strategy's records report (those it reads; all where it has no record) that is the same in
  every cell of the run."""
  reported = {}
  for r in records:
    reported.setdefault(r['strategy'], set()).update(r.get('selected') or {})
  out = {}
  for (name, j), members in runs.items():
    out[name, j] = {'strategy': name, 'candidate': j}
    for h in types.HPARAMS:
      values = {lane['hparams'][h] for _, lane in members}
      if (not reported.get(name) or h in reported[name]) and len(values) == 1:
        out[name, j][h] = values.pop()
  return out


def chosen_fraction(records: list[dict], name: str, j: int) -> float | None:
  """The fraction of strategy `name`'s cells whose selection chose candidate `j` (None where it has no record)."""
  cells = [r for r in records if r['strategy'] == name]
  return sum((r.get('selected') or {}).get('candidate') == j for r in cells) / len(cells) if cells else None


def write_events(workdir: str, logdir: str | None = None) -> list[str]:
  """Writes the TensorBoard event files of `workdir`'s lanes (the module's docstring has the layout) into `logdir`
  (default <workdir>/tensorboard), after deleting the event files an earlier export left there; returns their paths
  ([] where the workdir holds no lanes, and on every process but 0 of a multi-process job, which writes no file).

  Only process 0 reads, with no collective: a job's other processes may skip this call altogether."""
  lanes_path = os.path.join(workdir, 'curves.npz')
  if not io.writes() or not os.path.exists(lanes_path):
    return []
  logdir = logdir or os.path.join(workdir, FOLDER)
  with open(lanes_path, 'rb') as f:
    lanes = io.parse_lanes(f.read(), lanes_path)
  config = io.read_json(os.path.join(workdir, 'config.json'))
  eval_every = int(config.get('selection', {}).get('eval_every') or 1)  # steps; else the evaluation's number
  results = os.path.join(workdir, 'results.json')
  records = io.read_json(results)['runs'] if os.path.exists(results) else []
  wall_time = finished_time(workdir)

  runs: dict[tuple[str, int], list[tuple[dict, dict]]] = {}  # (strategy, candidate) -> its (cell key, lane)s
  for key, lane in lanes.items():
    named = dict(zip(types.LANE_KEY, key))
    runs.setdefault((named['strategy'], named['candidate']), []).append((named, lane))
  session = sessions(runs, records)
  names = ['strategy', 'candidate'] + [h for h in types.HPARAMS if any(h in s for s in session.values())]
  experiment, _, _ = summary_lib.hparams({h: '' if h == 'strategy' else 0.0 for h in names},
                                         dict.fromkeys(METRICS, 0.0))

  for root, _, files in os.walk(logdir):  # an earlier export's files (another time stamp, a strategy since dropped)
    for f in files:
      if EVENTS in f:
        io.remove(os.path.join(root, f))
  paths = []
  for (name, j), members in sorted(runs.items()):
    folder = os.path.join(logdir, name, f'cand{j}')
    paths.append(os.path.join(folder, f'{EVENTS}.{int(wall_time):010d}.transfer'))
    io.makedirs(folder)
    io.write_bytes(paths[-1], records_framed(run_events(members, session=session[name, j], experiment=experiment,
                                                        chosen=chosen_fraction(records, name, j), eval_every=eval_every,
                                                        wall_time=wall_time)))
  return paths
