import jax
import jax.numpy as jnp
import pytest

from transfer.train import optim
from transfer.train import models

PARAMS = models.MLP(width=4, depth=2, num_classes=3).init(jax.random.key(0), jnp.zeros((1, 5)))['params']


def test_first_matching_rule_wins():
  rules = ((r'kernel', 'kernels'), (r'^layer_', 'backbone'), (r'^head/', 'head'))
  labels = optim.assign_groups(PARAMS, rules)
  assert labels['layer_0']['kernel'] == 'kernels'
  assert labels['layer_0']['bias'] == 'backbone'
  assert labels['head']['bias'] == 'head'
  assert labels['head']['kernel'] == 'kernels'


def test_uncovered_parameter_is_an_error_naming_it():
  with pytest.raises(ValueError, match="'head/bias'"):
    optim.assign_groups(PARAMS, ((r'^layer_', 'backbone'), (r'^head/kernel', 'head')))


def test_group_names_keep_rule_order_and_describe_lists_every_parameter():
  rules = ((r'^layer_0/', 'low'), (r'^layer_1/', 'high'), (r'^head/', 'head'), (r'^layer_0/', 'low'))
  assert optim.group_names(rules) == ('low', 'high', 'head')
  text = optim.describe(PARAMS, rules)
  assert len(text.splitlines()) == len(optim.param_paths(PARAMS)) == 6
  assert 'layer_1/kernel' in text and '-> high' in text
