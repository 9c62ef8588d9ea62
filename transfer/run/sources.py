"""The source models a sweep transfers from, obtained one way: a user's checkpoint (`config.pretrained.checkpoint`),
or models pre-trained here, the missing seeds in one `jit(vmap(pretrain))`, and cached one file per seed.

Cached source models are keyed by everything that determines them but the number of seeds:
`<cache_dir>/<key>.seed<i>.msgpack` holds seed i's parameters, and `<key>.json` the source config and every cached
seed's held-out source metrics for provenance (written only when its content changes, keys sorted, so a rerun leaves
a committed file byte-identical). A sweep that grows its seeds pre-trains only the new ones. A user's checkpoint is
checked against the model parameter by parameter (`load_backbone`) before anything compiles.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence

from absl import logging
import flax.traverse_util
import jax
import numpy as np

from transfer import checkpoints
from transfer import compiler
from transfer import io
from transfer.data.source import Dataset
from transfer.errors import CheckpointError
from transfer.run import sweep
from transfer.train import loop as loop_lib
from transfer.train import models
from transfer.train import optim
from transfer.train import pretrain as pretrain_lib


def cache_key(source_config: dict) -> str:
  """A short stable hash of the JSON-serialised source config."""
  blob = json.dumps(source_config, sort_keys=True).encode()
  return hashlib.sha256(blob).hexdigest()[:16]


def source_config(config, dataset: Dataset) -> dict:
  """Everything that determines a seed's pre-trained source model, the seed aside (and so the cache key of every
  seed's model): not the number of seeds, so a sweep that adds seeds reuses the models it has."""
  return {'data': dataset.key, 'model': models.model_key(config.model, dataset.data.input_shape),
          'pretrain': {k: config.pretrain[k] for k in ('steps', 'batch_size', 'lr')}, **compiler.pretrain_key()}


def seed_file(cache: str, key: str, seed: int) -> str:
  """Where seed `seed`'s cached source model lives."""
  return os.path.join(cache, f'{key}.seed{seed}.msgpack')


def pretrain_fn(config, dataset: Dataset):
  """`pretrain.pretrain` with everything structural bound: (seed, arrays) -> (params, source metrics)."""
  data = dataset.data
  return functools.partial(pretrain_lib.pretrain, data=data,
                           model=models.make_model(config.model, data.source_classes, data.input_shape),
                           lr=config.pretrain.lr, adam=optim.Adam(),
                           loop=loop_lib.Loop(config.pretrain.steps, config.pretrain.batch_size))


@functools.lru_cache(maxsize=8)
def pretrain_program(cpu_opt_level: int, **structure) -> Callable:
  """`jit(vmap(pretrain))` with `structure` (pretrain_fn's keywords) bound, made once per process for each structure
  and level: a later pre-training of the same structure in the process finds it traced and compiled. The level is
  `compiler.pretrain_cpu_opt_level()`: XLA's default, not the sweeps' faster-compiling one (transfer/compiler.py)."""
  return compiler.jit(jax.vmap(functools.partial(pretrain_lib.pretrain, **structure), in_axes=(0, None)),
                      cpu_opt_level=cpu_opt_level)


def pretrain_all(config, dataset: Dataset, seeds: Sequence[int] | None = None):
  """Pre-trains one source model per seed of `seeds` (every seed of the config by default) in one
  `jit(vmap(pretrain))`; returns the params stacked over those seeds and their source metrics (one list each)."""
  seeds = list(range(config.seeds) if seeds is None else seeds)
  fn = pretrain_program(compiler.pretrain_cpu_opt_level(), **pretrain_fn(config, dataset).keywords)
  # The seeds split over this process's devices (one per core on CPU), as a sweep's lanes are, padded by repeating
  # the last (in a multi-process job process 0 alone pre-trains: see `pretrained`).
  mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ('lanes',))
  width = sweep.chunk_width(len(seeds), 0, mesh.size)
  padded = np.asarray(seeds + seeds[-1:] * (width - len(seeds)), np.int32)
  split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('lanes'))
  whole = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  params, metrics = fn(jax.device_put(padded, split), jax.device_put(dataset.arrays, whole))
  params, metrics = jax.tree.map(lambda a: np.asarray(a)[:len(seeds)], (params, metrics))
  return params, jax.tree.map(lambda a: a.tolist(), metrics)


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
  """`pretrained` in one process: every seed's cached model, the missing seeds pre-trained (together) and cached."""
  source = source_config(config, dataset)
  key = cache_key(source)
  record = os.path.join(cache, f'{key}.json')
  metrics = source_metrics(record)
  seeds = range(config.seeds)
  cached = [s for s in seeds if os.path.exists(seed_file(cache, key, s)) and
            metrics and all(s < len(v) and v[s] is not None for v in metrics.values())]
  found = {s: io.load_msgpack(seed_file(cache, key, s)) for s in cached}
  if cached:
    logging.info('Pre-trained source models: reusing seeds %s from %s.seed*.msgpack', ranges(cached),
                 os.path.join(cache, key))
  missing = [s for s in seeds if s not in found]
  if missing:
    start = time.perf_counter()
    params, new = pretrain_all(config, dataset, missing)
    io.makedirs(cache)
    for i, seed in enumerate(missing):
      found[seed] = jax.tree.map(lambda a, i=i: np.asarray(a[i]), params)
      io.save_msgpack(seed_file(cache, key, seed), found[seed])
    for name, values in new.items():
      column = metrics.setdefault(name, [])
      column.extend([None] * (max(missing) + 1 - len(column)))
      for seed, value in zip(missing, values):
        column[seed] = value
    io.write_json_if_changed(record, {'source_config': source, 'source_test': metrics})
    logging.info('Pre-trained the source models of seeds %s in %.1fs; held-out source accuracy: %s', ranges(missing),
                 time.perf_counter() - start, np.round(new['accuracy'], 3).tolist())
  return jax.tree.map(lambda *per_seed: np.stack(per_seed), *(found[s] for s in seeds))


def source_metrics(path: str) -> dict[str, list]:
  """The held-out source metrics of every cached seed (name -> one value per seed, None where unknown) in a
  provenance file ({} where there is none)."""
  if not os.path.exists(path):
    return {}
  try:
    metrics = io.read_json(path)['source_test']
    if not all(isinstance(v, list) for v in metrics.values()):
      raise TypeError('source_test holds no list per metric')
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    raise CheckpointError(f'{path!r} is damaged or not a source-model provenance file ({type(e).__name__}: {e}); '
                          'delete it to pre-train its source models again') from e
  return metrics


def ranges(seeds: Sequence[int]) -> str:
  """Seeds as '0-4, 7' for a log line."""
  out, start = [], None
  for i, seed in enumerate(seeds):
    start = seed if start is None else start
    if i + 1 == len(seeds) or seeds[i + 1] != seed + 1:
      out.append(f'{start}' if start == seed else f'{start}-{seed}')
      start = None
  return ', '.join(out)


def source_models(config, dataset: Dataset, cache: str):
  """The per-seed backbones to transfer from: the user's checkpoint (config.pretrained.checkpoint), or source
  models pre-trained here (cached in `cache`)."""
  if config.pretrained.checkpoint:
    return load_checkpoint(config, dataset)
  return pretrained(config, dataset, cache)


def target_param_shapes(config, dataset: Dataset):
  """The target model's parameter tree (shapes only)."""
  return models.param_shapes(config.model, dataset.data.target_classes, dataset.data.input_shape)


def group_rules(config, dataset: Dataset) -> optim.Rules:
  """The parameter-group rules in force: config.groups, or where it is empty one group per top-level module of the
  model, bottom first, the head group last (optim.default_rules)."""
  return optim.resolve_rules(config.groups, target_param_shapes(config, dataset), head_group=config.head_group)


def load_checkpoint(config, dataset: Dataset):
  """config.pretrained.checkpoint checked against the target model: every parameter but the head group's and
  those config.pretrained.skip names, per seed."""
  shapes = target_param_shapes(config, dataset)
  wanted = loaded_shapes(shapes, group_rules(config, dataset), head_group=config.head_group,
                         skip=config.pretrained.skip)
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
  """A user's checkpoint (a tree of parameters: flax msgpack, an orbax checkpoint directory or a flat npz of named
  arrays; see checkpoints.py) as per-seed base networks for `seeds` seeds.

  Every parameter in `wanted` (path -> shape) must be in the file, with that shape (one model, used by every
  seed) or with a leading seed axis of at least `seeds` (one model per seed, as in a workdir's
  source_models.msgpack). Parameters of the file that are not wanted (the head, those the skip pattern names)
  are ignored; one the model does not have (`known` holds its paths) is an error unless `skip` matches it. A
  missing, unknown or mis-shaped parameter raises one CheckpointError naming it.
  """
  if not os.path.exists(path):
    raise CheckpointError(f'config.pretrained.checkpoint = {path!r}: no such file or directory')
  flat = {'/'.join(p): np.asarray(v) for p, v in flax.traverse_util.flatten_dict(checkpoints.read(path)).items()}
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
