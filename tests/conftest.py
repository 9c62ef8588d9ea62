"""Shared smoke-sized fixtures: a config, its task and per-seed pre-trained source models."""

import functools

import pytest

from configs import domain_shift
from transfer import experiment


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
def task(config):
  return experiment.task_spec(config)


@pytest.fixture(scope='session')
def source_params(config, task):
  params, _ = experiment.pretrain_all(config, task)
  return params


@pytest.fixture(scope='session')
def train_fn_for(config, task):
  """strategy name -> `train` with the smoke config's structure bound."""
  from transfer import strategies  # pylint: disable=g-import-not-at-top
  return functools.lru_cache(None)(
      lambda name: experiment.strategy_train_fn(config, task, strategies.get(name)))
