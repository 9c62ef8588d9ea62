"""A model defined outside the package (here, in this file) serves every strategy by `config.model.module` alone (each
strategy's program builds on it; the runner runs some end to end), with the default parameter groups (its top-level
modules); and a deeper MLP needs nothing but `--config.model.depth`."""

import functools
import pathlib
import re
import sys
import types

import flax.linen as nn
import jax
import ml_collections
import pytest

from configs import domain_adaptation
from configs import strategies as strategies_config
from tests.conftest import smoke_config
from transfer import errors
from transfer import types as transfer_types
from transfer.data import dataset as dataset_lib
from transfer.run import experiment
from transfer.run import records
from transfer.run import sources
from transfer.run import sweep
from transfer.run import validate
from transfer.train import strategies

MODULE = 'tests.test_outside_model:ResidualNet'


class ResidualNet(nn.Module):
  """A `transfer.train.models.Model` the package does not know: an embedding, a residual block, a linear head."""

  num_classes: int
  hidden: int = 16

  def setup(self):
    self.embed = nn.Dense(self.hidden)  # created first: the bottom group, although 'block' sorts before it
    self.block = nn.Dense(self.hidden)
    self.head = nn.Dense(self.num_classes)

  def features(self, x: jax.Array) -> jax.Array:
    h = nn.gelu(self.embed(x.reshape(x.shape[0], -1)))
    return h + nn.gelu(self.block(h))

  def classify(self, features: jax.Array) -> jax.Array:
    return self.head(features)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.classify(self.features(x))


def with_module(config, **kwargs):
  config = config.copy_and_resolve_references()
  config.model.module = MODULE
  config.model.kwargs = ml_collections.ConfigDict(kwargs)
  return config


def test_its_default_groups_are_its_modules_in_the_order_it_creates_them():
  config = with_module(smoke_config(), hidden=8)
  dataset = dataset_lib.load(config)
  assert sources.group_rules(config, dataset) == (('^embed/', 'embed'), ('^block/', 'block'), ('^head/', 'head'))
  assert sources.target_param_shapes(config, dataset)['block']['kernel'].shape == (8, 8)
  assert sources.source_config(config, dataset)['model']['kwargs'] == {'hidden': 8}


def test_the_guide_model_is_a_model_with_the_groups_it_says(monkeypatch):
  guide = (pathlib.Path(__file__).resolve().parent.parent / 'docs' / 'extending.md').read_text()
  (code,) = [c for c in re.findall(r'```python\n(.*?)```', guide, re.S) if 'class ResidualNet' in c]
  module = types.ModuleType('my_models')
  exec(code, module.__dict__)
  monkeypatch.setitem(sys.modules, 'my_models', module)
  config = smoke_config()
  config.model.module = 'my_models:ResidualNet'
  config.model.kwargs = ml_collections.ConfigDict({'hidden': 128})
  validate.check_fields(config)
  assert sources.group_rules(config, dataset_lib.load(config)) == (
      ('^embed/', 'embed'), ('^block/', 'block'), ('^head/', 'head'))


@pytest.mark.parametrize('module, kwargs, message', [
    ('tests.test_outside_model:Missing', {}, "config.model.module = 'tests.test_outside_model:Missing'"),
    ('tests.test_outside_model.ResidualNet', {}, 'package.module:Class'),
    (MODULE, {'width': 8}, "config.model.kwargs = 'width'"),
    (MODULE, {'num_classes': 3}, "config.model.kwargs = 'num_classes'"),
])
def test_a_wrong_module_or_argument_is_one_config_error(module, kwargs, message):
  config = with_module(smoke_config(), **kwargs)
  config.model.module = module
  with pytest.raises(errors.ConfigError, match=message):
    validate.check_fields(config)


def every_strategy_config():
  """The strategies smoke config on the outside model, with every strategy and labelled target data."""
  config = with_module(strategies_config.get_config('smoke'))
  with config.unlocked():
    config.strategies = tuple(strategies.STRATEGIES)
    config.data_sizes = (32,)
    config.ood_shifts = ()
    config.layers_copied = (0, 2)
    config.search.num_samples = 1
  return config


def test_every_strategy_builds_its_training_program_on_it():
  """Every strategy's whole training program traces on the outside model: its features, classify and default groups
  are all a strategy asks of a model (the domain-adaptation ones train the source examples through the pre-trained
  source head, since the target's classes are new). Traced, not compiled: a model that lacks what a strategy needs
  fails here; what the programs compute is the built-in models' tests' concern."""
  config = every_strategy_config()
  dataset = dataset_lib.load(config)
  source_params = sources.source_shapes(config, dataset)
  for name, strategy in strategies.STRATEGIES.items():
    cells = sweep.config_grid(strategy, config)
    fn = functools.partial(sweep.train_lanes, train_fn=experiment.strategy_train_fn(config, dataset, strategy))
    out = jax.eval_shape(fn, transfer_types.stack_lanes(cells), source_params, dataset.arrays)
    assert set(records.CURVES) | set(records.SCALARS) <= set(out), name
    assert {a.shape[0] for a in jax.tree.leaves(out)} == {len(cells)}, name


def test_the_runner_runs_strategies_on_it_end_to_end(tmp_path):
  """The runner on the outside model: its pre-trained backbone fine-tuned, and its own fresh initialisation."""
  config = every_strategy_config()
  with config.unlocked():
    config.strategies = ('fine_tuning', 'scratch')
  records = experiment.run(config, str(tmp_path)).records
  assert {r['strategy'] for r in records} == {'fine_tuning', 'scratch'}
  assert all(0 <= r['test_accuracy'] <= 1 for r in records)


def test_domain_adaptation_without_target_labels_runs_on_it(tmp_path):
  """The unsupervised protocol: the source's classes, the model's own head, a target-side validator."""
  config = with_module(domain_adaptation.get_config('smoke'))
  with config.unlocked():
    config.strategies = ('dann', 'source_only')
    config.search.num_samples = 1
  records = experiment.run(config, str(tmp_path)).records
  assert {r['strategy'] for r in records} == {'dann', 'source_only'}


def test_a_deeper_mlp_needs_only_its_depth(tmp_path):
  config = smoke_config(strategies=('fine_tuning', 'scratch'), data_sizes=(32,))
  config.model.depth = 4
  config.search.num_samples = 1
  records = experiment.run(config, str(tmp_path)).records
  assert {r['strategy'] for r in records} == {'fine_tuning', 'scratch'}
  assert experiment.recorded_config(config, dataset_lib.load(config)).groups[-2:] == (
      ('^layer_3/', 'layer_3'), ('^head/', 'head'))
