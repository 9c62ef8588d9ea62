"""One generic experiment: validate the config, pre-train (cached), sweep every strategy, write the workdir."""

from __future__ import annotations

import functools
import os
import resource
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from transfer import checkpoints
from transfer import groups as groups_lib
from transfer import loop as loop_lib
from transfer import models
from transfer import optim
from transfer import pretrain as pretrain_lib
from transfer import report
from transfer import store
from transfer import strategies
from transfer import sweep
from transfer import tasks
from transfer import train
from transfer import validate

SOURCE_FIELDS = ('label_factors', 'nuisance_factors', 'input_dim', 'generator_depth', 'generator_gain', 'noise',
                 'source_classes', 'source_pool', 'target_classes', 'test_size', 'shift_angle')  # key the cache
TASK_FIELDS = SOURCE_FIELDS + ('adapt_source_pool', 'unlabeled_pool')


def task_spec(config) -> tasks.TaskSpec:
  """The static task shapes: the data config's generator fields; the target pool holds the largest data size."""
  return tasks.TaskSpec(**{f: config.data[f] for f in TASK_FIELDS}, target_pool=max(config.data_sizes))


def source_config(config) -> dict:
  """Everything that determines the pre-trained source models (and so their cache key)."""
  return {'data': {f: config.data[f] for f in SOURCE_FIELDS}, 'model': config.model.to_dict(),
          'pretrain': {k: config.pretrain[k] for k in ('steps', 'batch_size', 'lr')}, 'seeds': config.seeds}


def pretrain_all(config, task: tasks.TaskSpec):
  """Pre-trains one source model per seed in one `jit(vmap(pretrain))`; returns params and source metrics."""
  fn = functools.partial(pretrain_lib.pretrain, task=task,
                         model=models.make_model(config.model, task.source_classes),
                         adam=optim.AdamSpec(lr=config.pretrain.lr),
                         loop=loop_lib.LoopSpec(config.pretrain.steps, config.pretrain.batch_size))
  params, metrics = jax.jit(jax.vmap(fn))(jnp.arange(config.seeds))
  return params, jax.tree.map(lambda a: np.asarray(a).tolist(), metrics)


def cache_dir(config, workdir: str) -> str:
  """Where source models are cached: config.pretrain.cache_dir, or <workdir>/pretrained when it is ''."""
  return config.pretrain.cache_dir or os.path.join(workdir, 'pretrained')


def pretrained_sources(config, task: tasks.TaskSpec, cache_dir: str):
  """The per-seed source models, from `cache_dir` when a run with the same source config made them."""
  source = source_config(config)
  path = os.path.join(cache_dir, checkpoints.cache_key(source))
  if os.path.exists(path + '.msgpack'):
    logging.info('Pre-trained source models: reusing %s.msgpack', path)
    return checkpoints.load(path + '.msgpack')
  start = time.perf_counter()
  params, metrics = pretrain_all(config, task)
  os.makedirs(cache_dir, exist_ok=True)
  checkpoints.save(path + '.msgpack', params)
  report.write_json(path + '.json', {'source_config': source, 'source_test': metrics})
  logging.info('Pre-trained %d source models in %.1fs; held-out source accuracy per seed: %s', config.seeds,
               time.perf_counter() - start, np.round(metrics['accuracy'], 3).tolist())
  return params


def target_spec(config, task: tasks.TaskSpec) -> train.TargetSpec:
  """Everything structural about target training that the config fixes."""
  return train.TargetSpec(
      model=models.make_model(config.model, task.target_classes), rules=tuple(map(tuple, config.groups)),
      head_group=config.head_group, adam=optim.AdamSpec(lr=config.lr),
      loop=loop_lib.LoopSpec(config.steps, config.batch_size),
      knobs=strategies.Knobs(layer_decay=config.layer_decay, probe_fraction=config.probe_fraction,
                             l2_sp_weight=config.l2_sp_weight, align_weight=config.align_weight))


def strategy_train_fn(config, task: tasks.TaskSpec, strategy: strategies.Strategy):
  """`train` with everything structural bound: what `sweep.train_lanes` vmaps over lanes."""
  return functools.partial(train.train, task=task, strategy=strategy, spec=target_spec(config, task))


def log_groups(config, task: tasks.TaskSpec) -> None:
  groups_lib.log_assignment(models.param_shapes(config.model, task.target_classes, task.input_dim), config.groups)


def run(config, workdir: str, *, overwrite: bool = False) -> str:
  """Runs the experiment `config` describes into `workdir`; returns the result table (markdown).

  Finished runs already in `workdir` (from an interrupted run of the same config) are not recomputed.
  """
  validate.check(config, config.data.target_classes)
  task = task_spec(config)
  log_groups(config, task)
  runs = store.open_workdir(workdir, experiment=config.experiment, config_json=config.to_json(indent=1),
                            overwrite=overwrite)
  source = functools.cache(lambda: pretrained_sources(config, task, cache_dir(config, workdir)))  # if any is missing
  order = []
  for name in config.strategies:
    strategy = strategies.get(name)
    cells = sweep.config_grid(strategy, config)
    order += [store.run_key({'strategy': name, **c}) for c in cells]
    todo = runs.missing(name, cells)
    logging.info('[%s] %d of %d runs already in the workdir; running %d', name, len(cells) - len(todo),
                 len(cells), len(todo))
    if todo:
      compiled = jax.jit(functools.partial(sweep.train_lanes, train_fn=strategy_train_fn(config, task, strategy)))
      sweep.run_strategy(name, todo, source(), compiled=compiled, max_lanes_per_call=config.max_lanes_per_call,
                         on_chunk=runs.add)
  records = runs.ordered(order)
  runs.save(records)
  table = report.write_workdir(workdir, records=records, report_config=config.report)
  logging.info('Done: %d runs in %s; peak resident memory %.0f MB', len(records), workdir,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  return table
