"""Invariants of one training run: freezing, LR multipliers, vmapped lanes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.conftest import run_data
from tests.conftest import same_arithmetic_atol
from transfer import compiler
from transfer.run import experiment
from transfer.train import losses
from transfer.train import strategies
from transfer.run import sweep
from transfer import types
from transfer.train import target


def lane(seed=0, data_size=32, shift=0.0, lr_mult=0.1, layers_copied=-1):
  return types.Lane(jnp.int32(seed), jnp.int32(data_size), jnp.float32(shift), jnp.float32(lr_mult),
                    jnp.int32(layers_copied))


def seed_params(source_params, seed):
  return jax.tree.map(lambda a: a[seed], source_params)


def fit(config, dataset, source_params, name, run_lane):
  """Final target params of one run of strategy `name`."""
  run = run_data(config, dataset, run_lane)
  fn = compiler.jit(functools.partial(target.fit, strategy=strategies.get(name),
                                      spec=experiment.target_spec(config, dataset)))
  params = fn(run_lane, seed_params(source_params, run_lane.seed), run).params
  return params


def backbone(params):
  return {k: v for k, v in params.items() if k != 'head'}


def test_feature_extraction_leaves_the_backbone_bit_identical(config, dataset, source_params):
  params = fit(config, dataset, source_params, 'feature_extraction', lane())
  jax.tree.map(np.testing.assert_array_equal, backbone(params), backbone(seed_params(source_params, 0)))
  fresh = fit(config, dataset, source_params, 'feature_extraction', lane(seed=1))
  assert not np.array_equal(params['head']['kernel'], fresh['head']['kernel'])


def test_fine_tuning_moves_the_backbone(config, dataset, source_params):
  params = fit(config, dataset, source_params, 'fine_tuning', lane(lr_mult=0.5))
  assert not np.array_equal(params['layer_0']['kernel'], seed_params(source_params, 0)['layer_0']['kernel'])


def test_lr_mult_zero_equals_freezing(config, dataset, source_params):
  frozen = fit(config, dataset, source_params, 'feature_extraction', lane())
  zero = fit(config, dataset, source_params, 'fine_tuning', lane(lr_mult=0.0))
  jax.tree.map(np.testing.assert_array_equal, backbone(zero), backbone(frozen))  # both the source's, exactly
  jax.tree.map(functools.partial(np.testing.assert_allclose, atol=same_arithmetic_atol(), rtol=0), zero['head'],
               frozen['head'])


def count_dots(fn, *args) -> int:
  return str(jax.make_jaxpr(fn)(*args)).count('dot_general')


@pytest.mark.parametrize('frozen_backbone, backward_dots', [(True, 1), (False, 2 * 3 + 1)])
def test_frozen_backbone_is_not_differentiated(config, dataset, source_params, frozen_backbone, backward_dots):
  """Backward matmuls: the head's weight gradient only, vs every layer's weight and input gradients."""
  model = experiment.target_spec(config, dataset).model
  pool, _ = dataset.data.target_splits(dataset.arrays, lane())
  params = model.init(jax.random.key(0), pool.x[:1])['params']
  frozen = {k: {'kernel': frozen_backbone and k != 'head', 'bias': frozen_backbone and k != 'head'} for k in params}
  loss = functools.partial(losses.target_loss, frozen=frozen, apply_fn=model.apply, knobs=strategies.Knobs())
  forward = count_dots(loss, params, pool)
  assert forward == config.model.depth + 1
  assert count_dots(jax.grad(loss, has_aux=True), params, pool) == forward + backward_dots


def test_a_vmapped_lane_on_the_shared_data_table_equals_the_same_run_alone(config, dataset, source_params):
  """A sweep's lane reads its (seed, shift)'s row of the table rendered once; alone, a run renders its own data."""
  strategy = strategies.get('fine_tuning')
  shared = experiment.strategy_train_fn(config, dataset, strategy, shared=True)
  alone_fn = compiler.jit(experiment.strategy_train_fn(config, dataset, strategy))
  cells = [dict(seed=s, data_size=n, shift=sh, lr_mult=m)
           for s, n, sh, m in ((0, 8, 0.0, 0.1), (1, 32, 3.0, 0.5), (1, 8, 3.0, 1.0))]
  lanes = types.stack_lanes(cells)
  table = experiment.data_table(config, dataset)
  batched = compiler.jit(functools.partial(sweep.train_lanes, train_fn=shared))(lanes, source_params, table)
  for i, cell in enumerate(cells):
    alone = alone_fn(jax.tree.map(lambda a: a[i], lanes), seed_params(source_params, cell['seed']), dataset.arrays)
    assert set(alone) == set(batched)
    for key, value in alone.items():
      np.testing.assert_allclose(batched[key][i], value, atol=same_arithmetic_atol(1e-5), rtol=0, err_msg=key)


def test_the_data_table_holds_each_seed_and_shift_once(config, dataset):
  table = experiment.data_table(config, dataset)
  rows = config.seeds * len(config.shifts)
  assert all(leaf.shape[0] == rows for leaf in jax.tree.leaves(table.rows))
  assert table.rows.adapt is None  # no strategy of the config adapts
  for seed in range(config.seeds):
    for j, shift in enumerate(config.shifts):
      row = table.row(lane(seed=seed, shift=shift))
      pool, test = dataset.data.target_splits(dataset.arrays, lane(seed=seed, shift=shift))
      # (the table's program renders every row in one vmap, so its inputs may differ from a lone render in the last
      # bit; labels are exact)
      close = functools.partial(np.testing.assert_allclose, atol=1e-5, rtol=0)
      close(row.pool.x, pool.x)
      np.testing.assert_array_equal(row.pool.y, pool.y)
      np.testing.assert_array_equal(row.test.y, test.y)
      close(row.ood.x[j], test.x[:row.ood.x.shape[1]])  # its own shift among the tested


def test_a_sweeps_training_program_renders_no_data(config, dataset, source_params):
  """The synthetic generator's tanh layers appear in a run that renders its own data, never in a sweep's program
  (the MLP itself is ReLU)."""
  strategy = strategies.get('fine_tuning')
  lanes = types.stack_lanes([dict(seed=0, data_size=8, shift=0.0, lr_mult=0.1)])
  def program(shared, data):
    fn = experiment.strategy_train_fn(config, dataset, strategy, shared=shared)
    return str(jax.make_jaxpr(functools.partial(sweep.train_lanes, train_fn=fn))(lanes, source_params, data))
  assert 'tanh' in program(False, dataset.arrays)
  assert 'tanh' not in program(True, experiment.data_table(config, dataset))
