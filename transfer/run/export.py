"""The models a finished experiment selected, as checkpoints: each grid cell's chosen candidate retrained to the
step its selection picked, and written as one orbax checkpoint.

A sweep keeps no target model (it would hold every candidate's parameters of every lane); the records say which
candidate and step each cell chose, and a lane is a deterministic function of its values, so rerunning only the
chosen lanes gives those models back: one compiled program per strategy over one lane per cell, an eighth of the
sweep's lanes at the default search. Each retrained model's whole-test-set accuracy is compared with the one the
workdir recorded: they must agree (to float tolerance where the backend's programs may differ), else the export
stops: the workdir holds results of other code, config or source models (source models pre-trained on another CPU
differ in late digits, and so does what is trained from them).

The checkpoint is the tree {strategy: {cell: params}} (cells named by types.cell_label, e.g. 'n100_shift0.5_seed3'),
restorable with `orbax.checkpoint.StandardCheckpointer().restore(path)`, and `<out>.json` says for each cell the
candidate, its hyperparameters, the step and both accuracies.
"""

from __future__ import annotations

import functools
import json
import os
from typing import NamedTuple

from absl import logging
import jax
import numpy as np

from transfer import checkpoints
from transfer import compiler
from transfer import io
from transfer import types
from transfer.data.source import Dataset
from transfer.errors import WorkdirError
from transfer.run import experiment
from transfer.run import search
from transfer.run import sources
from transfer.run import store
from transfer.run import sweep
from transfer.train import strategies
from transfer.train import target

TOLERANCE = 1e-5  # largest difference of a retrained and a recorded accuracy that counts as the same (other backends)


def chosen_lanes(config, records: list[dict], name: str) -> tuple[list[dict], list[dict]]:
  """The records of strategy `name` whose selection chose a candidate (not diverged), and the lane of each."""
  strategy = strategies.get(name)
  candidates = search.candidates(config, strategy)
  chosen = [r for r in records if r['strategy'] == name and r.get('selected')]
  return chosen, [search.lane_values({a: r[a] for a in types.AXES}, candidates[r['selected']['candidate']])
                  for r in chosen]


class Finished(NamedTuple):
  """A finished experiment ready to rerun some of its lanes: its data, records, source models and data table."""

  dataset: Dataset
  records: list[dict]
  source_params: object
  table: object  # lane_data.DataTable


def finished(config, workdir: str) -> Finished:
  """The experiment `config` ran into `workdir`, ready to rerun lanes of; a workdir of another config, or one
  without results, is a WorkdirError."""
  loaded = io.read_workdir(workdir)
  if loaded is None:
    raise WorkdirError(f'{workdir!r} holds no finished experiment (config.json and results.json); run it first')
  dataset = experiment.prepare(config)
  recorded = experiment.recorded_config(config, dataset).to_json()
  store.check_config(workdir, loaded[0], json.loads(recorded), log=False)
  return Finished(dataset, loaded[1], sources.source_models(config, dataset, sources.cache_dir(config, workdir)),
                  experiment.data_table(config, dataset))


def rerun(name: str, lanes: list[dict], done: Finished, train_fn, *, max_lanes_per_call: int,
          per_lane: tuple[np.ndarray, ...] = ()) -> dict:
  """`train_fn` (target.train_on's signature, then one argument per `per_lane` array) over `lanes` of `done`, as a
  sweep runs them; the outputs of every lane, concatenated."""
  outs = []
  sweep.run_lanes(name, lanes, done.source_params, done.table,
                  compiled=compiler.jit(functools.partial(sweep.train_lanes, train_fn=train_fn)),
                  max_lanes_per_call=max_lanes_per_call, on_chunk=lambda lo, hi, out: outs.append(out),
                  per_lane=per_lane)
  return jax.tree.map(lambda *a: np.concatenate(a), *outs)


def selected_models(config, workdir: str) -> tuple[dict, list[dict]]:
  """Every cell's selected model of the finished experiment `config` ran into `workdir`: ({strategy: {cell:
  params}}, one manifest row per cell). A workdir of another config, or one without results, is a WorkdirError."""
  done = finished(config, workdir)
  models, manifest = {}, []
  for name in config.strategies:
    chosen, lanes = chosen_lanes(config, done.records, name)
    if not chosen:
      continue
    train_fn = functools.partial(target.selected_model, data=done.dataset.data, strategy=strategies.get(name),
                                 spec=experiment.target_spec(config, done.dataset))
    out = rerun(f'{name} (selected)', lanes, done, train_fn, max_lanes_per_call=config.max_lanes_per_call)
    models[name] = {}
    for i, record in enumerate(chosen):
      label = types.cell_label(record)
      models[name][label] = jax.tree.map(lambda a, i=i: a[i], out['params'])
      retrained = float(out['test_accuracy'][i])
      if abs(retrained - record['test_accuracy']) > TOLERANCE:
        raise WorkdirError(f'{workdir!r}: the retrained {name} model of {label} has test accuracy {retrained:.6f}, '
                           f'the workdir recorded {record["test_accuracy"]:.6f}: its results were computed by other '
                           'code, config or source models (models pre-trained on another CPU differ in late digits, '
                           'docs/determinism.md); rerun the experiment here with --overwrite, then export')
      manifest.append({'strategy': name, 'cell': label, **{a: record[a] for a in types.AXES},
                       'selected': record['selected'], 'test_accuracy': record['test_accuracy'],
                       'retrained_test_accuracy': retrained})
    logging.info('[%s] %d selected models retrained; every test accuracy is the recorded one', name, len(chosen))
  return models, manifest


def export(config, workdir: str, out: str) -> int:
  """Writes every cell's selected model of `workdir` as the orbax checkpoint `out` and its manifest `out`.json;
  returns how many models it wrote."""
  checkpoints.orbax_checkpoint()  # fails now, before anything is computed, where orbax is not installed
  models, manifest = selected_models(config, workdir)
  checkpoints.save_orbax(out, models)
  io.write_json(f'{out.rstrip(os.sep)}.json', {'workdir': workdir, 'experiment': config.experiment,
                                               'models': manifest})
  return len(manifest)
