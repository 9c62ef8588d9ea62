"""Shared smoke-sized fixtures: a config, its loaded dataset and per-seed pre-trained source models."""

import functools
import os
import tempfile

# Identical programs compiled by several tests (and by the scripts they start) are compiled once per session, in a
# cache of the session's own: the scripts' default cache (transfer/run/cli.py, ~/.cache/transfer/jax) is the user's.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', tempfile.mkdtemp(prefix='transfer-jax-cache-'))
os.environ['TRANSFER_JAX_CACHE'] = os.environ['JAX_COMPILATION_CACHE_DIR']
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')

from transfer.run import xla_env  # pylint: disable=g-import-not-at-top,unused-import  (as the scripts do)

import pytest  # pylint: disable=g-import-not-at-top

from configs import domain_shift
from transfer.data import dataset as dataset_lib
from transfer.run import experiment
from transfer.run import sources


def smoke_config(**overrides):
  """The domain-shift smoke config, unlocked, with `overrides` applied (dotted names allowed via nested dicts)."""
  config = domain_shift.get_config('smoke')
  with config.unlocked():
    for key, value in overrides.items():
      config[key] = value
  return config


@pytest.fixture(scope='session')
def config():
  return smoke_config()


@pytest.fixture(scope='session')
def dataset(config):
  return dataset_lib.load(config)


@pytest.fixture(scope='session')
def source_params(config, dataset):
  params, _ = sources.pretrain_all(config, dataset)
  return params


@pytest.fixture(scope='session')
def smoke_run(tmp_path_factory):
  """One uninterrupted smoke experiment: (workdir, config, table)."""
  workdir = str(tmp_path_factory.mktemp('smoke'))
  config = smoke_config()
  return workdir, config, experiment.run(config, workdir).table


@pytest.fixture(scope='session')
def train_fn_for(config, dataset):
  """strategy name -> `train` with the smoke config's structure bound."""
  from transfer.train import strategies  # pylint: disable=g-import-not-at-top
  return functools.lru_cache(None)(
      lambda name: experiment.strategy_train_fn(config, dataset, strategies.get(name)))
