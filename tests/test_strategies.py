"""Invariants of the strategies beyond freeze / fine-tune / scratch (schedules, LP-FT, L2-SP), and which of them share
one compiled program."""

import functools
import glob
import importlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.conftest import REPO
from tests.conftest import run_data
from tests.conftest import same_arithmetic_atol
from transfer import compiler
from transfer.data import dataset as dataset_lib
from transfer import io
from transfer.run import experiment
from transfer.run import search
from transfer.run import store
from transfer.run import sweep
from transfer import keys
from transfer.train import losses
from transfer.train import optim
from transfer.train import stages
from transfer.train import strategies
from transfer import types
from transfer.train import target

GROUPS = ('layer_0', 'layer_1', 'layer_2', 'head')  # bottom first
KNOBS = strategies.Knobs(layer_decay=2.6)


def toy_params():
  return {g: {'w': jnp.ones((3,), jnp.float32)} for g in GROUPS}


def run_optimizer(name, steps, lr_mult=0.5):
  """Every step's params under `name`'s schedules and random gradients, through the real optimizer."""
  schedules = strategies.group_schedules(strategies.get(name), GROUPS, head_group='head', lr_mult=lr_mult,
                                         steps=steps, knobs=KNOBS)
  labels = {g: {'w': g} for g in GROUPS}
  opt = optim.make_optimizer(labels, schedules, optim.Adam(), lr=0.1, weight_decay=0.0)
  params, state, history = toy_params(), None, []
  state = opt.init(params)
  for t in range(steps):
    grads = jax.tree.map(lambda p, t=t: jax.random.normal(jax.random.key(t), p.shape), params)
    updates, state = opt.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    history.append(params)
  return history


def test_gradual_unfreezing_keeps_each_group_bit_identical_until_its_stage():
  steps = 12  # 4 stages of 3 steps: head; + layer_2; + layer_1; + layer_0
  history = run_optimizer('gradual_unfreezing', steps)
  start = {'head': 0, 'layer_2': 3, 'layer_1': 6, 'layer_0': 9}
  for group, first in start.items():
    for t, params in enumerate(history):
      unchanged = np.array_equal(params[group]['w'], np.ones(3))
      assert unchanged == (t < first), (group, t)  # frozen through step first-1, moves from step `first` on


def test_discriminative_lrs_stand_in_the_layer_decay_ratio():
  """Adam's first update is lr * multiplier * sign(g), so update sizes expose the multipliers exactly."""
  (first,) = run_optimizer('discriminative', 1)
  step = {g: float(np.abs(first[g]['w'] - 1).mean()) for g in GROUPS}
  for upper, lower in zip(GROUPS[::-1], GROUPS[::-1][1:]):
    assert step[upper] / step[lower] == pytest.approx(2.6, rel=1e-4), (upper, lower)


def test_ulmfit_combines_both_schedules():
  schedules = strategies.group_schedules(strategies.get('ulmfit'), GROUPS, head_group='head', lr_mult=1.0,
                                         steps=8, knobs=KNOBS)
  assert float(schedules['layer_1'](3)) == 0.0  # layer_1 unfreezes at stage 2 = step 4
  assert float(schedules['layer_1'](4)) == pytest.approx(2.6 ** -2)


def test_l2_sp_penalty_is_zero_at_the_anchor_and_matches_its_formula():
  anchor = {'layer_0': {'kernel': jnp.arange(6.0).reshape(2, 3)}, 'head': {'kernel': jnp.ones((3, 2))}}
  mask = {'layer_0': {'kernel': True}, 'head': {'kernel': False}}
  assert float(losses.l2_sp_penalty(anchor, anchor, mask, weight=0.3)) == 0.0
  moved = jax.tree.map(lambda a: a + 0.5, anchor)
  moved['head']['kernel'] = moved['head']['kernel'] + 10.0  # the head is not penalised
  assert float(losses.l2_sp_penalty(moved, anchor, mask, weight=0.3)) == pytest.approx(0.5 * 0.3 * 6 * 0.25)


def test_lp_ft_fine_tunes_from_the_probe(config, dataset, source_params):
  spec = experiment.target_spec(config, dataset)
  lane = types.Lane(jnp.int32(1), jnp.int32(32), jnp.float32(0.0), jnp.float32(0.5), jnp.int32(-1))
  source = jax.tree.map(lambda a: a[1], source_params)
  run = run_data(config, dataset, lane)
  fit = compiler.jit(functools.partial(target.fit, strategy=strategies.get('lp_ft'), spec=spec))
  lp_ft = fit(lane, source, run).params

  probe_steps = round(config.probe_fraction * config.steps)
  assert 0 < probe_steps < config.steps
  step_keys = keys.step_keys(keys.seed_keys(lane.seed).target_batches, config.steps)
  start = target.initial_params(lane, source, run.pool, strategy=strategies.get('lp_ft'), spec=spec,
                               init_key=keys.seed_keys(lane.seed).target_init)
  stage = functools.partial(stages.run_stage, lane=lane, run=run, anchor=start, spec=spec)
  probe, _, _, _ = stage(start, step_keys[:probe_steps], strategy=strategies.get('feature_extraction'))
  assert not np.array_equal(probe['head']['kernel'], start['head']['kernel'])  # the probe trained the head
  jax.tree.map(np.testing.assert_array_equal, {k: v for k, v in probe.items() if k != 'head'},
               {k: v for k, v in start.items() if k != 'head'})
  tuned, _, _, _ = stage(probe, step_keys[probe_steps:], strategy=strategies.get('fine_tuning'))
  jax.tree.map(functools.partial(np.testing.assert_allclose, atol=same_arithmetic_atol(1e-6), rtol=0), lp_ft, tuned)


def test_every_strategy_is_trained_end_to_end_by_some_configs_smoke_run():
  """tests/test_configs.py runs every experiment config's smoke variant through the whole runner (and checks its
  table): a registered strategy that no config runs would be trained by no test."""
  names = set()
  for path in glob.glob(os.path.join(REPO, 'configs', '*.py')):
    module = os.path.basename(path)[:-3]
    if module.startswith(('_', 'common', 'bench')):
      continue
    names.update(importlib.import_module(f'configs.{module}').get_config('smoke').strategies)
  assert set(strategies.STRATEGIES) <= names, sorted(set(strategies.STRATEGIES) - names)



def test_only_scratch_and_fine_tuning_share_a_program():
  """Strategies whose training differs only in traced lane values share one compiled program (strategies.program):
  scratch runs in fine-tuning's; every pre-trained strategy runs in its own."""
  names = sorted(strategies.STRATEGIES)
  shared = {(a, b) for a in names for b in names
            if a < b and strategies.same_program(strategies.get(a), strategies.get(b))}
  assert shared == {('fine_tuning', 'scratch')}
  assert all(strategies.program(s) is s for s in strategies.STRATEGIES.values() if s.pretrained)


def test_scratchs_lanes_in_fine_tunings_program_are_scratchs_own_runs(smoke_run, dataset):
  """The smoke run's scratch lanes ran in fine-tuning's program (marked `pretrained = False`); scratch's own program,
  run in chunks of the same width, gives every one of their curves and scalars, bit for bit on CPU, and no source-task
  accuracy. (At another width XLA may sum the losses in another order: their last bit can differ.)"""
  workdir, config, _ = smoke_run
  scratch = strategies.get('scratch')
  with open(os.path.join(workdir, 'environment.json')) as f:
    assert 'scratch' not in json.load(f)['programs']  # it ran in a shared program
  cells = sweep.config_grid(scratch, config, dataset_lib.shifts(config, dataset.data))
  keys = [store.run_key({'strategy': 'scratch', **cell}) + (j,) for cell in cells
          for j in range(len(search.candidates(config, scratch)))]
  lanes = [search.lane_values(cell, candidate) for cell in cells for candidate in search.candidates(config, scratch)]
  own = compiler.jit(functools.partial(sweep.train_lanes,
                                       train_fn=experiment.strategy_train_fn(config, dataset, scratch, shared=True)))
  out = {}
  sweep.run_lanes('scratch', lanes, io.load_msgpack(os.path.join(workdir, experiment.SOURCE_MODELS)),
                  experiment.data_table(config, dataset), compiled=own, max_lanes_per_call=config.max_lanes_per_call,
                  on_chunk=lambda lo, hi, o: out.update({i: jax.tree.map(lambda a, i=i: a[i - lo], o)
                                                         for i in range(lo, hi)}))
  recorded = store.LaneStore(os.path.join(workdir, 'curves.npz')).get(keys)
  assert len(out) == len(recorded) == len(lanes) > 0
  for i, lane in enumerate(recorded):
    for name, value in {**lane['curves'], **lane['scalars']}.items():
      np.testing.assert_allclose(value, out[i][name], atol=same_arithmetic_atol(), rtol=0, err_msg=name)
    assert np.isnan(lane['scalars']['source_accuracy']) and np.isnan(lane['scalars']['source_accuracy_before'])
