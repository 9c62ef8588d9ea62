"""transfer.compiler: the sweeps' CPU optimisation level changes compile time, not results. From the same source
models, target training at level 1 and at XLA's default 3 gives the same accuracies and curves, bit for bit (an MLP's
every output); a loss (an evaluation's log-softmax and mean) may round differently in its last bit, as from one CPU to
another (docs/determinism.md). Pre-training, whose models are cached and shared, keeps XLA's default level, except in
a process set to 0 (the suite), whose models are cached under keys of their own."""

import functools

import jax
import numpy as np
import pytest

from configs import domain_adaptation
from configs import domain_shift
from configs import strategies as strategies_config
from transfer import compiler
from transfer import types
from transfer.data import dataset as dataset_lib
from transfer.run import experiment
from transfer.run import sources
from transfer.run import sweep
from transfer.train import strategies
from transfer.train import validators

cpu_only = pytest.mark.skipif(jax.default_backend() != 'cpu',
                              reason='the level applies on CPU only; elsewhere compiler.jit is jax.jit')


def test_the_level_applies_on_cpu_only_and_3_is_xlas_default():
  assert compiler.DEFAULT_CPU_OPT_LEVEL == 1
  assert compiler.options('cpu', cpu_opt_level=1) == {'xla_backend_optimization_level': 1}
  assert compiler.options('gpu') == compiler.options('tpu') == {}
  assert compiler.options('cpu', cpu_opt_level=compiler.XLA_DEFAULT_OPT_LEVEL) == {}
  before = compiler.options('cpu')
  try:
    compiler.set_cpu_opt_level(3)
    assert compiler.options('cpu') == {}
  finally:
    compiler.set_cpu_opt_level(before.get('xla_backend_optimization_level', 3))
  assert compiler.options('cpu') == before
  with pytest.raises(ValueError, match='0, 1, 2 or 3'):
    compiler.set_cpu_opt_level(4)


def test_the_environment_sets_the_starting_level_and_the_suite_compiles_at_0(monkeypatch):
  assert compiler.options('cpu') == {'xla_backend_optimization_level': 0,  # tests/conftest.py
                                     'xla_cpu_use_fusion_emitters': False}
  monkeypatch.setenv(compiler.LEVEL_ENV, '2')
  assert compiler.initial_cpu_opt_level() == 2
  for unset_or_bad in ('', 'fast'):
    monkeypatch.setenv(compiler.LEVEL_ENV, unset_or_bad)
    assert compiler.initial_cpu_opt_level() == compiler.DEFAULT_CPU_OPT_LEVEL


# Continuous values that, like losses, may move in their last bits between compiler settings: the label-free
# validators' scores (and the selection score, which is one of them for an unsupervised lane).
CONTINUOUS = {*validators.NAMES, 'score'} - {'source_val_accuracy'}


def assert_same(a, b, *, loss_rtol: float = 0.0):
  """Every leaf of `a` equals `b`'s bit for bit, except, with `loss_rtol`, those under a key ending in 'loss' or
  naming a continuous validator (CONTINUOUS)."""
  leaves_a, leaves_b = jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b) > 0
  for (path, x), y in zip(leaves_a, leaves_b):
    assert x.shape == y.shape
    key = str(getattr(path[0], 'key', ''))
    if loss_rtol and (key.endswith('loss') or key in CONTINUOUS):
      np.testing.assert_allclose(x, y, rtol=loss_rtol, atol=0, err_msg=jax.tree_util.keystr(path))
    else:
      assert np.array_equal(x, y, equal_nan=True), jax.tree_util.keystr(path)


@pytest.mark.parametrize('level', [0, 1])
def test_pre_training_compiles_at_xlas_default_unless_the_process_is_at_0(monkeypatch, config, dataset, level):
  """The scripts' level 1 pre-trains at 3, under the cache keys models always had; the suite's 0 pre-trains at 0,
  under keys that say so, so that neither is ever served the other's models."""
  monkeypatch.setattr(compiler, '_cpu_opt_level', level)
  assert compiler.pretrain_cpu_opt_level() == (0 if level == 0 else compiler.XLA_DEFAULT_OPT_LEVEL)
  source = sources.source_config(config, dataset)
  assert source.get('cpu_opt_level') == (0 if level == 0 and jax.default_backend() == 'cpu' else None)
  assert set(source) - {'cpu_opt_level'} == {'data', 'model', 'pretrain'}


@pytest.mark.parametrize('level', [0, 1])
def test_a_seed_pre_trained_alone_equals_it_pre_trained_beside_others(monkeypatch, config, dataset, level):
  """What keeping XLA's default level for pre-training protects (the scripts' level 1 pre-trains at 3; the suite's
  0 at 0): a cached seed's model does not depend on which seeds were pre-trained with it (nor on how they were
  split over the devices), so a sweep that grows its seeds reuses models that equal fresh ones."""
  monkeypatch.setattr(compiler, '_cpu_opt_level', level)
  beside, _ = sources.pretrain_all(config, dataset, seeds=(0, 1))
  alone, _ = sources.pretrain_all(config, dataset, seeds=(1,))
  jax.tree.map(np.testing.assert_array_equal, jax.tree.map(lambda a: a[1], beside),
               jax.tree.map(lambda a: a[0], alone))


@cpu_only
@pytest.mark.parametrize('config_module, variant, names, exact', [
    (domain_shift, 'smoke', ('fine_tuning',), True),  # an MLP (a staged strategy adds masks, not operations)
    (domain_adaptation, 'smoke', ('dann',), False),  # the alignment losses and the gradient reversal
    (strategies_config, 'digits,smoke', ('fine_tuning',), False),  # a CNN: convolutions
])
def test_the_cpu_level_changes_no_accuracy(config_module, variant, names, exact):
  config = config_module.get_config(variant)
  dataset = dataset_lib.load(config)
  source_params, _ = sources.pretrain_all(config, dataset, seeds=(0, 1))
  table = experiment.data_table(config, dataset)
  for name in names:
    strategy = strategies.get(name)
    cells = sweep.config_grid(strategy, config)[:2]
    lanes = types.stack_lanes([{**cell, 'seed': i, 'lr_mult': cell['lr_mult'] or 0.1} for i, cell in enumerate(cells)])
    fn = functools.partial(sweep.train_lanes,  # the program a sweep compiles: it reads each lane's row of the table
                           train_fn=experiment.strategy_train_fn(config, dataset, strategy, shared=True))
    lowered = jax.jit(fn).lower(lanes, source_params, table)  # compiled twice: XLA's default, the scripts' level
    default, level = (jax.tree.map(np.asarray, lowered.compile(compiler_options=options)(lanes, source_params, table))
                      for options in (None, compiler.options(cpu_opt_level=compiler.DEFAULT_CPU_OPT_LEVEL)))
    assert_same(default, level, loss_rtol=0.0 if exact else 1e-6)
