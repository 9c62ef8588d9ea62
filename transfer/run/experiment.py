"""One generic experiment: validate the config and data, get the source models, sweep every strategy, write the
workdir."""

from __future__ import annotations

import dataclasses
import functools
import os
import resource
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from absl import logging
import jax
import numpy as np

from transfer import compiler
from transfer import io
from transfer import types
from transfer.data import dataset as dataset_lib
from transfer.data.source import Dataset
from transfer.report import workdir as workdir_report
from transfer.run import progress as progress_lib
from transfer.run import provenance
from transfer.run import records as records_lib
from transfer.run import search
from transfer.run import sources
from transfer.run import store
from transfer.run import sweep
from transfer.run import validate
from transfer.train import loop as loop_lib
from transfer.train import models
from transfer.train import optim
from transfer.train import strategies
from transfer.train import lane_data
from transfer.train import target

SOURCE_MODELS = 'source_models.msgpack'  # in the workdir: the per-seed source models this experiment used


class Outcome(NamedTuple):
  """What `run` returns: the result table, every run's record, the data it ran on and its source models."""

  table: str  # markdown, as in <workdir>/table.md
  records: list[dict]  # results.json's runs, in grid order
  dataset: Dataset
  source_params: Callable[[], object]  # the per-seed source models (loaded or pre-trained on the first call)


def prepare(config) -> Dataset:
  """Checks the config, loads and checks its data and (if named) the checkpoint: every user error is raised here,
  before anything compiles or is written."""
  validate.check_fields(config)
  dataset = dataset_lib.load(config)
  shapes = sources.target_param_shapes(config, dataset)
  validate.check_model(config, shapes, dataset.data)
  optim.log_assignment(shapes, optim.resolve_rules(config.groups, shapes, head_group=config.head_group))
  if config.pretrained.checkpoint:
    sources.load_checkpoint(config, dataset)
  return dataset


def target_spec(config, dataset: Dataset) -> target.TargetSpec:
  """Everything structural about target training that the config fixes."""
  data = dataset.data
  return target.TargetSpec(
      model=models.make_model(config.model, data.target_classes, data.input_shape),
      rules=sources.group_rules(config, dataset), head_group=config.head_group, adam=optim.Adam(),
      loop=loop_lib.Loop(config.steps, config.batch_size),
      knobs=strategies.Knobs(**{f.name: config[f.name] for f in dataclasses.fields(strategies.Knobs)}),
      skip=config.pretrained.skip, holdout_every=holdout_every(config), eval_every=config.selection.eval_every,
      same_classes=data.same_classes and not config.pretrained.checkpoint,
      labelled_target=max(config.data_sizes) > 0, ood_shifts=dataset_lib.ood_shifts(config, data),
      keep_best=config.selection.mode == 'search', validator=config.selection.validator,
      source_floor=float(config.selection.source_floor))


def recorded_config(config, dataset: Dataset):
  """`config` as the workdir's config.json records it: `groups` holds the rules in force (the model's default ones
  where the config leaves it empty), so the file says how the run grouped its parameters."""
  recorded = config.copy_and_resolve_references()
  recorded.groups = sources.group_rules(config, dataset)
  return recorded


def holdout_every(config) -> int:
  """Every how many examples of a class one validates: round(1 / val_fraction) under search, 0 (none) if fixed."""
  return round(1 / config.selection.val_fraction) if config.selection.mode == 'search' else 0


def strategy_train_fn(config, dataset: Dataset, strategy: strategies.Strategy, *, shared: bool = False):
  """`target.train` with everything structural bound: one lane alone, its data rendered from the dataset's arrays;
  with `shared`, `target.train_on`, which reads the lane's row of a `data_table` (what a sweep vmaps)."""
  return bound_train_fn(dataset.data, strategy, target_spec(config, dataset), shared=shared)


def bound_train_fn(data, strategy: strategies.Strategy, spec: target.TargetSpec, *, shared: bool):
  """`strategy_train_fn` for a structure already resolved (what a sweep's program binds)."""
  return functools.partial(target.train_on if shared else target.train, data=data, strategy=strategy, spec=spec)


def sweep_program(data, strategy: strategies.Strategy, spec: target.TargetSpec) -> Callable:
  """`jit(sweep.train_lanes)` of `target.train_on` with this structure bound, made once per process for each
  structure and compiler options: a later run of the same structure in the process (a resumed or grown sweep, the
  Python API's runs of configs that differ only in traced values, the test suite's smoke runs) finds its traced,
  lowered and compiled program in jax's caches instead of tracing and lowering it again."""
  return cached_sweep_program(data, strategy, spec, tuple(sorted((compiler.options() or {}).items())))


@functools.lru_cache(maxsize=16)
def cached_sweep_program(data, strategy: strategies.Strategy, spec: target.TargetSpec, options: tuple) -> Callable:
  del options  # a key only: compiler.jit reads the same options
  return compiler.jit(functools.partial(sweep.train_lanes,
                                       train_fn=bound_train_fn(data, strategy, spec, shared=True)))


def data_table(config, dataset: Dataset, seeds: int | None = None) -> lane_data.DataTable:
  """Every (seed, shift)'s data of the experiment's grid, rendered once by one small program and shared by every
  lane of every strategy (the adaptation data only where some strategy adapts)."""
  data, shifts = dataset.data, dataset_lib.shifts(config, dataset.data)
  seed_rows, shift_rows = lane_data.table_rows(config.seeds if seeds is None else seeds, shifts)
  adapts = any(strategies.get(name).adapts for name in config.strategies)
  return make_table()(dataset.arrays, seed_rows, shift_rows, np.asarray(shifts, np.float32), data=data,
                      ood_shifts=dataset_lib.ood_shifts(config, data), adapts=adapts)


@functools.cache
def make_table():
  """lane_data.make_table compiled (once per data source, ood_shifts and table shape)."""
  return compiler.jit(lane_data.make_table, static_argnames=('data', 'ood_shifts', 'adapts'))


class Plan(NamedTuple):
  """One strategy's part of a sweep: its grid cells, their run keys, its candidate settings and the lanes to run."""

  strategy: strategies.Strategy
  cells: list[dict]
  keys: list[tuple]  # store.run_key of each cell
  candidates: list[dict]
  todo: list[tuple[tuple, dict]]  # (lane key, lane values) of every lane not yet in the workdir


def plan(config, name: str, shifts: tuple[float, ...], runs: store.RunStore) -> Plan:
  """The lanes of strategy `name` and which of them `runs` does not hold yet."""
  strategy = strategies.get(name)
  cells = sweep.config_grid(strategy, config, shifts, lr_mult_axis='lr_mult' not in search.searched(config, strategy))
  candidates = search.candidates(config, strategy)
  keys = [store.run_key({'strategy': name, **cell}) for cell in cells]
  lanes = [(key + (j,), search.lane_values(cell, candidate)) for key, cell in zip(keys, cells)
           for j, candidate in enumerate(candidates)]
  missing = set(runs.lanes.missing(k for k, _ in lanes))
  return Plan(strategy, cells, keys, candidates, [(k, v) for k, v in lanes if k in missing])


class ProgramGroup(NamedTuple):
  """The plans of the strategies whose lanes run in one compiled program (strategies.program), and their lanes to
  run, each marked with its strategy's `pretrained`."""

  name: str  # the strategies' names joined by '+' (logs, progress, environment.json)
  program: strategies.Strategy  # the strategy the program is compiled for
  plans: list[Plan]
  todo: list[tuple[tuple, dict]]


def program_groups(plans: Sequence[Plan]) -> list[ProgramGroup]:
  """`plans` grouped by the program their lanes run in (strategies.same_program), in the order of each group's first
  strategy; the group's program is compiled once for all of their lanes (scratch's run in fine-tuning's)."""
  by_name = {p.strategy.name: p for p in plans}
  grouped = [[by_name[s.name] for s in g] for g in strategies.by_program([p.strategy for p in plans])]
  return [ProgramGroup('+'.join(p.strategy.name for p in g), strategies.program(g[0].strategy), g,
                       [(k, {**v, 'pretrained': p.strategy.pretrained}) for p in g for k, v in p.todo])
          for g in grouped]


def run(config, workdir: str, *, overwrite: bool = False, tensorboard: bool = True) -> Outcome:
  """Runs the experiment `config` describes into `workdir`.

  Finished runs already in `workdir` (from an interrupted run of the same config, or of a config with a smaller
  grid) are not recomputed, and the source models are obtained only if some run is missing (or a caller asks for
  them through the outcome). A run that computes lanes records its environment in <workdir>/environment.json.
  With `tensorboard`, the curves and hyperparameters are then written as TensorBoard event files into
  <workdir>/tensorboard (report/tensorboard.py).
  """
  clock = provenance.Clock()
  dataset = prepare(config)
  runs = store.open_workdir(workdir, experiment=config.experiment,
                            config_json=recorded_config(config, dataset).to_json(indent=1), overwrite=overwrite)

  phases = provenance.Phases()

  @functools.cache
  def source_params():
    with phases('source_models'):
      params = sources.source_models(config, dataset, sources.cache_dir(config, workdir))
      io.save_msgpack(os.path.join(workdir, SOURCE_MODELS), params)  # usable as config.pretrained.checkpoint
    return params

  compile_seconds, programs = {}, {}

  @functools.cache
  def table():
    start = time.perf_counter()
    with phases('data_table'):
      rows = jax.block_until_ready(data_table(config, dataset))
    compile_seconds['data_table'], programs['data_table'] = time.perf_counter() - start, 1  # compiling and rendering
    logging.info('Data of %d (seed, shift) rows rendered once for every strategy in %.1fs', rows.shifts.shape[0] *
                 config.seeds, compile_seconds['data_table'])
    return rows

  shifts, ood_shifts = dataset_lib.shifts(config, dataset.data), dataset_lib.ood_shifts(config, dataset.data)
  plans = [plan(config, name, shifts, runs) for name in config.strategies]
  lanes = {p.strategy.name: len(p.todo) for p in plans if p.todo}
  if lanes:
    runs.lanes.require(records_lib.CURVES, records_lib.SCALARS)
  environment = os.path.join(workdir, store.ENVIRONMENT)
  if lanes:
    provenance.record(environment, provenance.entry(clock, lanes=lanes, compile_seconds={}, programs={},
                                                    finished=False))
  groups, spec = program_groups(plans), target_spec(config, dataset)
  with progress_lib.shown({g.name: len(g.todo) for g in groups if g.todo}) as progress:
    for p in plans:
      logging.info('[%s] %d cells x %d candidates: %d of %d lanes already in the workdir; running %d',
                   p.strategy.name, len(p.cells), len(p.candidates),
                   len(p.cells) * len(p.candidates) - len(p.todo), len(p.cells) * len(p.candidates), len(p.todo))
    for group in groups:
      if group.todo:
        compiled = sweep_program(dataset.data, group.program, spec)

        def persist(lo, hi, out, todo=group.todo):
          done = todo[lo:hi]
          runs.lanes.add([k for k, _ in done], [{h: v[h] for h in types.HPARAMS} for _, v in done],
                         {c: out[c] for c in records_lib.CURVES}, {s: out[s] for s in records_lib.SCALARS})

        if not source_params.cache_info().currsize:
          progress.doing('source models')
        params, rows = source_params(), table()
        with phases(group.name):
          timing = sweep.run_lanes(group.name, [v for _, v in group.todo], params, rows, compiled=compiled,
                                   max_lanes_per_call=config.max_lanes_per_call, on_chunk=persist, progress=progress,
                                   widest=max(len(p.todo) for p in group.plans))
        compile_seconds[group.name], programs[group.name] = timing.compile_seconds, timing.programs
      runs.add(records_lib.cell_record(p.strategy, cell, runs.lanes.get([key + (j,) for j in range(len(p.candidates))]),
                                       mode=config.selection.mode, eval_every=config.selection.eval_every,
                                       ood_shifts=ood_shifts, validator=config.selection.validator)
               for p in group.plans for key, cell in zip(p.keys, p.cells))
  order = [key for p in plans for key in p.keys]
  with phases('report'):
    if lanes:
      runs.lanes.arrange([key + (j,) for p in plans for key in p.keys for j in range(len(p.candidates))])
    records = runs.ordered(order)
    runs.save(records)
    table = workdir_report.write_workdir(workdir, records=records, report_config=config.report,
                                         eval_every=config.selection.eval_every)
    if tensorboard:  # from the files just written; imported here: tensorboardX imports torch where that is installed
      from transfer.report import tensorboard as tensorboard_lib
      tensorboard_lib.write_events(workdir)
  if lanes:
    provenance.record(environment, provenance.entry(clock, lanes=lanes, compile_seconds=compile_seconds,
                                                    programs=programs, finished=True, phases=phases))
  logging.info('Done: %d runs in %s; peak resident memory %.0f MB', len(records), workdir,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  return Outcome(table, records, dataset, source_params)
