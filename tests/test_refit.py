"""Refit (retraining the chosen setting on every labelled example, stopped at the selected step): a stopped run is
its first steps exactly, refit at the whole budget is the fixed protocol's run, the step comes from validation
alone, and the comparison page is made from a finished workdir."""

import functools
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tests.conftest import smoke_config
from transfer import types
from transfer.run import experiment
from transfer.studies import refit
from transfer.train import loop
from transfer.train import strategies
from transfer.train import target

REPO = pathlib.Path(__file__).resolve().parent.parent


def test_a_run_stopped_after_k_steps_is_its_first_k_steps():
  """Later steps leave parameters and optimizer state exactly as step k left them."""
  w = {'w': jnp.ones((3,))}
  keys = jax.random.split(jax.random.key(0), 12)

  def loss_fn(params, batch):
    return jnp.sum((params['w'] - batch) ** 2), {}

  draw = lambda key, step: jax.random.normal(key, (3,))
  run = functools.partial(loop.run_steps, loss_fn=loss_fn, optimizer=optax.adam(0.1), draw=draw)
  for k in (0, 5, 12):
    stopped, losses, _, _ = run(w, keys, stop=jnp.int32(k))
    alone, _, _, _ = run(w, keys[:k]) if k else (w, None, None, None)
    np.testing.assert_array_equal(stopped['w'], alone['w'])
    assert losses.shape == (12,)
  assert not np.array_equal(run(w, keys, stop=jnp.int32(5))[0]['w'], run(w, keys)[0]['w'])


def test_refit_at_the_whole_budget_is_the_fixed_protocols_run(dataset, source_params):
  """No validation split, no selection, every step: exactly what the fixed protocol trains."""
  config = smoke_config(data_sizes=(32,))
  fixed = smoke_config(data_sizes=(32,))
  fixed.selection.mode = 'fixed'
  lane = jax.tree.map(lambda a: a[0], types.stack_lanes([dict(seed=1, data_size=32, shift=0.0, lr_mult=0.1)]))
  strategy = strategies.get('fine_tuning')
  data = target.render(dataset.arrays, lane, data=dataset.data, strategy=strategy,
                       spec=experiment.target_spec(config, dataset))
  source = jax.tree.map(lambda a: a[1], source_params)
  spec = experiment.target_spec(config, dataset)
  refit_run = target.refit_model(lane, source, data, jnp.int32(spec.loop.steps), data=dataset.data,
                                 strategy=strategy, spec=spec)
  fixed_spec = experiment.target_spec(fixed, dataset)
  assert fixed_spec.loop.steps == spec.loop.steps
  fixed_run = target.train_on(lane, source, data, data=dataset.data, strategy=strategy, spec=fixed_spec)
  assert float(refit_run['test_accuracy']) == float(fixed_run['selected_test_accuracy'])


def test_the_selected_step_is_the_first_best_validation_score():
  score = np.array([[0.2, 0.5, 0.5, 0.1], [np.nan, 0.3, np.nan, 0.4], [np.nan] * 4, [-np.inf] * 4])
  assert refit.selected_steps(score, 10).tolist() == [20, 40, 0, 0]


def test_the_page_compares_every_labelled_cell_of_a_workdir(smoke_run):
  workdir, config, _ = smoke_run
  rows = refit.compare(config, workdir)
  cells = {(r['strategy'], r['data_size'], r['shift'], r['seed']) for r in rows}
  assert len(cells) == len(rows) == len(config.strategies) * config.seeds * len(config.data_sizes) * len(
      config.shifts)
  assert all(r['as_recorded'] for r in rows)  # the selection recomputed here is the workdir's own
  assert all(0 < r['step'] <= experiment.target_spec(config, experiment.prepare(config)).loop.steps for r in rows)
  page = refit.markdown(rows, experiment_name=config.experiment, margin=config.report.margin)
  cells, gains = page.split('## Gains over scratch')
  assert cells.count('\n| ') == 1 + len({(r['strategy'], r['data_size'], r['shift']) for r in rows})
  assert gains.count('\n| ') == 1 + len({(r['strategy'], r['data_size'], r['shift']) for r in rows
                                          if r['strategy'] != 'scratch'})
  assert 'Readings that change with refit:' in gains
  assert f'equals the workdir\'s record in {len(rows)} of them' in page


def test_what_the_readme_says_of_refit_is_what_the_committed_page_measured():
  """README.md: refit is within the margin in every cell and changes none of the gains' readings."""
  readme = (REPO / 'README.md').read_text()
  assert 'within the equivalence margin in every\ncell, and changes none of the readings' in readme
  page = (REPO / 'outputs' / 'strategies' / 'refit.md').read_text()
  rows = int(re.search(r'above 0 in \d+ of (\d+) rows', page).group(1))
  assert f'inside +-0.02 in {rows}.' in page
  assert re.search(r'Readings that change with refit: 0 of \d+\.', page)
