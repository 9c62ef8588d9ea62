"""The source models a sweep transfers from, obtained one way: a user's checkpoint (`config.pretrained.checkpoint`),
or models pre-trained here, one per seed in one `jit(vmap(pretrain))`, and cached.

Cached source models are keyed by everything that determines them: `<cache_dir>/<key>.msgpack` holds the
parameters stacked over seeds, and `<key>.json` the source config and the held-out source metrics for provenance.
A user's checkpoint is checked against the model parameter by parameter (`load_backbone`) before anything compiles.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time

from absl import logging
import flax.traverse_util
import jax
import jax.numpy as jnp
import numpy as np

from transfer import io
from transfer.data.dataset import Dataset
from transfer.errors import CheckpointError
from transfer.train import loop as loop_lib
from transfer.train import models
from transfer.train import optim
from transfer.train import pretrain as pretrain_lib


def cache_key(source_config: dict) -> str:
  """A short stable hash of the JSON-serialised source config."""
  blob = json.dumps(source_config, sort_keys=True).encode()
  return hashlib.sha256(blob).hexdigest()[:16]


def source_config(config, dataset: Dataset) -> dict:
  """Everything that determines the pre-trained source models (and so their cache key)."""
  return {'data': dataset.key, 'model': models.model_key(config.model, dataset.data.input_shape),
          'pretrain': {k: config.pretrain[k] for k in ('steps', 'batch_size', 'lr')}, 'seeds': config.seeds}


def pretrain_all(config, dataset: Dataset):
  """Pre-trains one source model per seed in one `jit(vmap(pretrain))`; returns params and source metrics."""
  data = dataset.data
  fn = functools.partial(pretrain_lib.pretrain, data=data,
                         model=models.make_model(config.model, data.source_classes, data.input_shape),
                         lr=config.pretrain.lr, adam=optim.Adam(),
                         loop=loop_lib.Loop(config.pretrain.steps, config.pretrain.batch_size))
  params, metrics = jax.jit(jax.vmap(fn, in_axes=(0, None)))(jnp.arange(config.seeds), dataset.arrays)
  return params, jax.tree.map(lambda a: np.asarray(a).tolist(), metrics)


def cache_dir(config, workdir: str) -> str:
  """Where source models are cached: config.pretrain.cache_dir, or <workdir>/pretrained when it is ''."""
  return config.pretrain.cache_dir or os.path.join(workdir, 'pretrained')


def source_shapes(config, dataset: Dataset):
  """The pre-trained source models' parameter tree, stacked over seeds (jax.ShapeDtypeStruct leaves)."""
  shapes = models.param_shapes(config.model, dataset.data.source_classes, dataset.data.input_shape)
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct((config.seeds, *s.shape), s.dtype), shapes)


def pretrained(config, dataset: Dataset, cache: str):
  """The per-seed source models pre-trained here, from `cache` when a run with the same source config made them.

  In a multi-process job process 0 alone reads the cache (or pre-trains and writes it), and every process gets its
  models: they are identical everywhere, and only process 0's disk needs the cache.
  """
  return io.arrays_from_process_0(functools.partial(cached_or_pretrained, config, dataset, cache),
                                  like=source_shapes(config, dataset))


def cached_or_pretrained(config, dataset: Dataset, cache: str):
  """`pretrained` in one process: the cached models, or pre-trained and cached."""
  source = source_config(config, dataset)
  path = os.path.join(cache, cache_key(source))
  if os.path.exists(path + '.msgpack'):
    logging.info('Pre-trained source models: reusing %s.msgpack', path)
    return io.load_msgpack(path + '.msgpack')
  start = time.perf_counter()
  params, metrics = pretrain_all(config, dataset)
  io.makedirs(cache)
  io.save_msgpack(path + '.msgpack', params)
  io.write_json(path + '.json', {'source_config': source, 'source_test': metrics})
  logging.info('Pre-trained %d source models in %.1fs; held-out source accuracy per seed: %s', config.seeds,
               time.perf_counter() - start, np.round(metrics['accuracy'], 3).tolist())
  return params


def source_models(config, dataset: Dataset, cache: str):
  """The per-seed backbones to transfer from: the user's checkpoint (config.pretrained.checkpoint), or source
  models pre-trained here (cached in `cache`)."""
  if config.pretrained.checkpoint:
    return load_checkpoint(config, dataset)
  return pretrained(config, dataset, cache)


def target_param_shapes(config, dataset: Dataset):
  """The target model's parameter tree (shapes only)."""
  return models.param_shapes(config.model, dataset.data.target_classes, dataset.data.input_shape)


def load_checkpoint(config, dataset: Dataset):
  """config.pretrained.checkpoint checked against the target model: every parameter but the head group's and
  those config.pretrained.skip names, per seed."""
  shapes = target_param_shapes(config, dataset)
  wanted = loaded_shapes(shapes, config.groups, head_group=config.head_group, skip=config.pretrained.skip)
  return load_backbone(config.pretrained.checkpoint, wanted, known=set(optim.param_paths(shapes)),
                       skip=config.pretrained.skip, seeds=config.seeds)


def loaded_shapes(model_shapes, rules, *, head_group: str, skip: str) -> dict[str, tuple]:
  """'/'-joined path -> shape of each model parameter a base network provides: all but the head group's and
  those whose path matches the regex `skip`."""
  out = {}
  for path, leaf in flax.traverse_util.flatten_dict(model_shapes).items():
    name = '/'.join(path)
    if optim.group_of(name, rules) != head_group and not (skip and re.search(skip, name)):
      out[name] = tuple(leaf.shape)
  return out


def load_backbone(path: str, wanted: dict[str, tuple], *, known: set[str], skip: str, seeds: int):
  """A user's checkpoint (a flax msgpack tree of parameters) as per-seed base networks for `seeds` seeds.

  Every parameter in `wanted` (path -> shape) must be in the file, with that shape (one model, used by every
  seed) or with a leading seed axis of at least `seeds` (one model per seed, as in a workdir's
  source_models.msgpack). Parameters of the file that are not wanted (the head, those the skip pattern names)
  are ignored; one the model does not have (`known` holds its paths) is an error unless `skip` matches it. A
  missing, unknown or mis-shaped parameter raises one CheckpointError naming it.
  """
  if not os.path.isfile(path):
    raise CheckpointError(f'config.pretrained.checkpoint = {path!r}: no such file')
  flat = {'/'.join(p): np.asarray(v) for p, v in flax.traverse_util.flatten_dict(io.load_msgpack(path)).items()}
  for name in flat:
    if name not in known and not (skip and re.search(skip, name)):
      raise CheckpointError(f'checkpoint {path!r} has parameter {name!r}, which the model does not have (the '
                            f'model has {", ".join(sorted(known))}); name it in config.pretrained.skip to ignore it')
  stacked = None
  out = {}
  for name, shape in wanted.items():
    if name not in flat:
      raise CheckpointError(f'checkpoint {path!r} lacks parameter {name!r} (shape {shape}); add it to '
                            'config.pretrained.skip to start it fresh instead')
    got = flat[name].shape
    per_seed = len(got) == len(shape) + 1 and got[1:] == shape and got[0] >= seeds
    if got != shape and not per_seed:
      raise CheckpointError(f'checkpoint {path!r}: parameter {name!r} has shape {got}; the model wants {shape} '
                            f'(or ({seeds}+, {", ".join(map(str, shape))}) for one model per seed)')
    if stacked is not None and stacked != per_seed:
      raise CheckpointError(f'checkpoint {path!r}: parameter {name!r} is {"" if per_seed else "not "}stacked per '
                            'seed while earlier ones are the other way; use one layout throughout')
    stacked = per_seed
    value = flat[name][:seeds] if per_seed else np.broadcast_to(flat[name], (seeds, *shape))
    out[tuple(name.split('/'))] = np.array(value, np.float32)
  return flax.traverse_util.unflatten_dict(out)
