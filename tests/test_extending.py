"""docs/extending.md's worked examples hold: a strategy that combines existing modes is one table entry, and a new
strategy setting (a knob) needs no edit beyond its field, its config field and the code that uses it."""

import dataclasses
import inspect
import math
import pathlib
import re

import jax
import numpy as np
import pytest

from tests.conftest import same_arithmetic_atol
from tests.conftest import smoke_config
from transfer import compiler
from transfer import errors
from transfer import types
from transfer.report import plots
from transfer.run import experiment
from transfer.run import validate
from transfer.train import losses
from transfer.train import strategies

GUIDE = pathlib.Path(__file__).resolve().parent.parent / 'docs' / 'extending.md'


def guide_strategy() -> strategies.Strategy:
  """The strategy entry exactly as the guide writes it."""
  (code,) = re.findall(r'<!-- example: strategy -->\n```python\n(.*?)```', GUIDE.read_text(), re.S)
  return eval(code, {'Strategy': strategies.Strategy})


@pytest.fixture
def registered(monkeypatch):
  strategy = guide_strategy()
  monkeypatch.setitem(strategies.STRATEGIES, strategy.name, strategy)
  return strategy


def test_the_guide_strategy_runs_through_the_whole_runner(registered, tmp_path):
  config = smoke_config(strategies=(registered.name, 'scratch'), data_sizes=(32,), shifts=(0.0,))
  with config.unlocked():
    config.report.transfer = registered.name
  records = experiment.run(config, str(tmp_path)).records
  assert {r['strategy'] for r in records} == {registered.name, 'scratch'}
  assert all('lr_mult' in r['selected'] for r in records if r['strategy'] == registered.name)  # it reads lr_mult


def test_the_guide_strategy_needs_no_entry_but_its_own(registered):
  """Registered in STRATEGIES alone, it passes the style check every strategy does (tests/test_plots.py): a look of
  its own, derived from its name, in every figure."""
  assert registered.name not in plots.STYLES
  styles = [plots.style(name) for name in {**plots.STYLES, **strategies.STRATEGIES}]
  assert len({(s.colour, s.marker, s.linestyle) for s in styles}) == len(styles)


def test_the_guide_strategy_combines_lp_ft_and_l2_sp(registered, config, dataset, source_params):
  """At l2_sp_weight = 0 the combination is LP-FT (to float precision: the traced weight keeps a zero term in the
  program); at a large weight it differs."""
  source = jax.tree.map(lambda a: a[1], source_params)
  fns = {name: compiler.jit(experiment.strategy_train_fn(config, dataset, strategies.get(name)))
         for name in (registered.name, 'lp_ft')}

  def run(name, weight):  # the weight is the lane's own (traced): one program per strategy serves both weights
    lane = jax.tree.map(lambda a: a[0], types.stack_lanes(
        [dict(seed=1, data_size=32, shift=0.0, lr_mult=0.5, layers_copied=None, l2_sp_weight=weight)]))
    return fns[name](lane, source, dataset.arrays)['test_loss'].tolist()  # every evaluation

  np.testing.assert_allclose(run(registered.name, 0.0), run('lp_ft', 0.0), atol=same_arithmetic_atol(1e-5), rtol=0)
  assert run(registered.name, 100.0) != run('lp_ft', 100.0)


def test_every_knob_has_a_commented_config_field_of_its_name():
  text = (GUIDE.parent.parent / 'configs' / 'common.py').read_text()
  for knob in dataclasses.fields(strategies.Knobs):
    assert re.search(rf'^  c\.{knob.name} = .*#', text, re.M), knob.name


def test_every_knob_reaches_the_target_spec_from_the_config(config, dataset):
  values = {k.name: 0.123 * (i + 1) for i, k in enumerate(dataclasses.fields(strategies.Knobs))}
  changed = config.copy_and_resolve_references()
  with changed.unlocked():
    for name, value in values.items():
      changed[name] = value
  assert dataclasses.asdict(experiment.target_spec(changed, dataset).knobs) == values


@pytest.mark.parametrize('knob', [k.name for k in dataclasses.fields(strategies.Knobs)])
def test_every_knob_is_validated_naming_it(knob):
  with pytest.raises(errors.ConfigError, match=f'config.{knob} = nan'):
    validate.check_fields(smoke_config(**{knob: math.nan}))


def test_every_loss_receives_the_knobs():
  for fn in (losses.target_loss, losses.adapt_loss):
    assert 'knobs' in inspect.signature(fn).parameters, fn.__name__
