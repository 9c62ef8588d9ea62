"""One generic experiment: validate the config and data, get the source models, sweep every strategy, write the
workdir."""

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
from transfer import data as data_lib
from transfer import groups as groups_lib
from transfer import loop as loop_lib
from transfer import models
from transfer import optim
from transfer import pretrain as pretrain_lib
from transfer import report
from transfer import store
from transfer import strategies
from transfer import sweep
from transfer import train
from transfer import validate

SOURCE_MODELS = 'source_models.msgpack'  # in the workdir: the per-seed source models this experiment used


def source_config(config, data: data_lib.Loaded) -> dict:
  """Everything that determines the pre-trained source models (and so their cache key)."""
  return {'data': data.key, 'model': models.model_key(config.model, data.source.input_shape),
          'pretrain': {k: config.pretrain[k] for k in ('steps', 'batch_size', 'lr')}, 'seeds': config.seeds}


def pretrain_all(config, data: data_lib.Loaded):
  """Pre-trains one source model per seed in one `jit(vmap(pretrain))`; returns params and source metrics."""
  source = data.source
  fn = functools.partial(pretrain_lib.pretrain, data=source,
                         model=models.make_model(config.model, source.source_classes, source.input_shape),
                         adam=optim.AdamSpec(lr=config.pretrain.lr),
                         loop=loop_lib.LoopSpec(config.pretrain.steps, config.pretrain.batch_size))
  params, metrics = jax.jit(jax.vmap(fn, in_axes=(0, None)))(jnp.arange(config.seeds), data.arrays)
  return params, jax.tree.map(lambda a: np.asarray(a).tolist(), metrics)


def cache_dir(config, workdir: str) -> str:
  """Where source models are cached: config.pretrain.cache_dir, or <workdir>/pretrained when it is ''."""
  return config.pretrain.cache_dir or os.path.join(workdir, 'pretrained')


def pretrained_sources(config, data: data_lib.Loaded, cache_dir: str):
  """The per-seed source models, from `cache_dir` when a run with the same source config made them."""
  source = source_config(config, data)
  path = os.path.join(cache_dir, checkpoints.cache_key(source))
  if os.path.exists(path + '.msgpack'):
    logging.info('Pre-trained source models: reusing %s.msgpack', path)
    return checkpoints.load(path + '.msgpack')
  start = time.perf_counter()
  params, metrics = pretrain_all(config, data)
  os.makedirs(cache_dir, exist_ok=True)
  checkpoints.save(path + '.msgpack', params)
  report.write_json(path + '.json', {'source_config': source, 'source_test': metrics})
  logging.info('Pre-trained %d source models in %.1fs; held-out source accuracy per seed: %s', config.seeds,
               time.perf_counter() - start, np.round(metrics['accuracy'], 3).tolist())
  return params


def base_models(config, data: data_lib.Loaded, cache: str):
  """The per-seed backbones to transfer: the user's checkpoint (config.pretrained.checkpoint), or source models
  pre-trained here (cached in `cache`)."""
  if config.pretrained.checkpoint:
    return load_checkpoint(config, data)
  return pretrained_sources(config, data, cache)


def source_models(config, data: data_lib.Loaded, workdir: str):
  """`base_models`, also saved to <workdir>/source_models.msgpack (usable as config.pretrained.checkpoint)."""
  params = base_models(config, data, cache_dir(config, workdir))
  checkpoints.save(os.path.join(workdir, SOURCE_MODELS), params)
  return params


def load_checkpoint(config, data: data_lib.Loaded):
  """config.pretrained.checkpoint checked against the target model: every parameter but the head group's and
  those config.pretrained.skip names, per seed."""
  shapes = target_param_shapes(config, data)
  wanted = checkpoints.loaded_shapes(shapes, config.groups, head_group=config.head_group,
                                     skip=config.pretrained.skip)
  return checkpoints.load_backbone(config.pretrained.checkpoint, wanted, known=set(groups_lib.param_paths(shapes)),
                                   skip=config.pretrained.skip, seeds=config.seeds)


def target_param_shapes(config, data: data_lib.Loaded):
  return models.param_shapes(config.model, data.source.target_classes, data.source.input_shape)


def target_spec(config, data: data_lib.Loaded) -> train.TargetSpec:
  """Everything structural about target training that the config fixes."""
  source = data.source
  return train.TargetSpec(
      model=models.make_model(config.model, source.target_classes, source.input_shape),
      rules=tuple(map(tuple, config.groups)), head_group=config.head_group, adam=optim.AdamSpec(lr=config.lr),
      loop=loop_lib.LoopSpec(config.steps, config.batch_size),
      knobs=strategies.Knobs(layer_decay=config.layer_decay, probe_fraction=config.probe_fraction,
                             l2_sp_weight=config.l2_sp_weight, align_weight=config.align_weight),
      skip=config.pretrained.skip)


def strategy_train_fn(config, data: data_lib.Loaded, strategy: strategies.Strategy):
  """`train` with everything structural bound: what `sweep.train_lanes` vmaps over lanes."""
  return functools.partial(train.train, data=data.source, strategy=strategy, spec=target_spec(config, data))


def prepare(config) -> data_lib.Loaded:
  """Checks the config, loads and checks its data and (if named) the checkpoint: every user error is raised here,
  before anything compiles or is written."""
  validate.check_fields(config)
  data = data_lib.load(config)
  validate.check_model(config, target_param_shapes(config, data), data.source)
  groups_lib.log_assignment(target_param_shapes(config, data), config.groups)
  if config.pretrained.checkpoint:
    load_checkpoint(config, data)
  return data


def run(config, workdir: str, *, overwrite: bool = False) -> str:
  """Runs the experiment `config` describes into `workdir`; returns the result table (markdown).

  Finished runs already in `workdir` (from an interrupted run of the same config) are not recomputed.
  """
  data = prepare(config)
  runs = store.open_workdir(workdir, experiment=config.experiment, config_json=config.to_json(indent=1),
                            overwrite=overwrite)
  source = functools.cache(lambda: source_models(config, data, workdir))  # only if some run is missing
  shifts, order = data_lib.shifts(config, data.source), []
  for name in config.strategies:
    strategy = strategies.get(name)
    cells = sweep.config_grid(strategy, config, shifts)
    order += [store.run_key({'strategy': name, **c}) for c in cells]
    todo = runs.missing(name, cells)
    logging.info('[%s] %d of %d runs already in the workdir; running %d', name, len(cells) - len(todo),
                 len(cells), len(todo))
    if todo:
      compiled = jax.jit(functools.partial(sweep.train_lanes, train_fn=strategy_train_fn(config, data, strategy)))
      sweep.run_strategy(name, todo, source(), data.arrays, compiled=compiled,
                         max_lanes_per_call=config.max_lanes_per_call, on_chunk=runs.add)
  records = runs.ordered(order)
  runs.save(records)
  table = report.write_workdir(workdir, records=records, report_config=config.report)
  logging.info('Done: %d runs in %s; peak resident memory %.0f MB', len(records), workdir,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  return table
