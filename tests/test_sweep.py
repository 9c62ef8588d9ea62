import functools

import chex

import jax
import numpy as np
import pytest

from tests.conftest import same_arithmetic_atol
from transfer import compiler
from transfer.train import strategies
from transfer.run import sweep


def test_grid_skips_the_lr_mult_axis_for_strategies_without_it():
  kwargs = dict(seeds=2, data_sizes=(8, 32), shifts=(0.0, 1.0, 3.0), lr_mults=(0.1, 1.0))
  assert len(sweep.grid(strategies.get('fine_tuning'), **kwargs)) == 2 * 2 * 3 * 2
  cells = sweep.grid(strategies.get('scratch'), **kwargs)
  assert len(cells) == 2 * 2 * 3 and all(c['lr_mult'] is None for c in cells)


def test_chunks_cover_every_lane_once():
  assert sweep.chunks(5, 2) == [(0, 2), (2, 4), (4, 5)]
  assert sweep.chunks(5, 8) == [(0, 5)]


@pytest.mark.parametrize('n, max_lanes, devices, width', [
    (5, 0, 1, 5), (5, 0, 4, 8), (10, 3, 1, 3), (10, 6, 4, 4), (10, 3, 4, 4), (3, 8, 4, 4),
    (320, 312, 2, 160), (10, 8, 1, 5), (9, 4, 2, 4)])
def test_chunk_width_is_a_multiple_of_the_device_count(n, max_lanes, devices, width):
  """...and spreads the lanes evenly over the fewest calls the cap allows (each call costs its full width)."""
  assert sweep.chunk_width(n, max_lanes, devices) == width


def test_a_chunked_grid_compiles_once_and_matches_one_call(source_params, train_fn_for):
  @chex.assert_max_traces(n=1)  # raises on a second trace
  def counted(lane, params, arrays):
    return train_fn_for('fine_tuning')(lane, params, arrays)

  compiled = compiler.jit(functools.partial(sweep.train_lanes, train_fn=counted))
  cells = sweep.grid(strategies.get('fine_tuning'), seeds=2, data_sizes=(8, 32), shifts=(0.0,), lr_mults=(0.1,))

  def collect(max_lanes, fn):
    rows = {}
    timing = sweep.run_lanes(
        'fine_tuning', cells, source_params, compiled=fn, max_lanes_per_call=max_lanes,
        on_chunk=lambda lo, hi, out: rows.update({lo + i: out['test_loss'][i] for i in range(hi - lo)}))
    return [rows[i] for i in range(len(cells))], timing

  chunked, timing = collect(3, compiled)
  assert timing.programs == 1  # 4 lanes in chunks of 3 (of 2 on two devices), the last padded: one compilation
  assert timing.width == sweep.chunk_width(len(cells), 3, jax.device_count()) < len(cells)
  assert timing.compile_seconds > 0 and timing.run_seconds > 0
  whole, _ = collect(0, compiler.jit(functools.partial(sweep.train_lanes, train_fn=train_fn_for('fine_tuning'))))
  for a, b in zip(chunked, whole):
    np.testing.assert_allclose(a, b, atol=same_arithmetic_atol(1e-5))


def test_a_per_lane_argument_reaches_its_own_lane_through_chunks_and_padding():
  """What a program takes per lane besides the lane (refit's stop step) is split, padded and sharded as the lanes
  are: lane i sees row i, whatever the chunking."""
  def echo(lane, params, arrays, value):
    del params, arrays
    return {'value': value, 'seed': lane.seed}

  cells = [{'seed': s, 'data_size': 8, 'shift': 0.0, 'lr_mult': None, 'layers_copied': None} for s in range(5)]
  values = np.arange(5, dtype=np.float32) * 10 + 1
  for max_lanes in (0, 3):
    rows = {}
    sweep.run_lanes('echo', cells, {'w': np.zeros((5, 1))}, compiled=compiler.jit(
        functools.partial(sweep.train_lanes, train_fn=echo)), max_lanes_per_call=max_lanes,
        on_chunk=lambda lo, hi, out: rows.update({lo + i: (out['value'][i], out['seed'][i]) for i in range(hi - lo)}),
        per_lane=(values,))
    assert [rows[i] for i in range(5)] == [(values[i], i) for i in range(5)]


@pytest.mark.parametrize('widest', [0, 5])
def test_a_shared_programs_calls_are_no_wider_than_its_widest_strategy(widest):
  """Two strategies of 5 lanes each sharing one program (strategies.program): with max_lanes_per_call = 0 their calls
  are as wide as one strategy's alone would be (`widest`), never all 10 lanes at once; without `widest`, one call."""
  lanes = [{'seed': i, 'data_size': 8, 'shift': 0.0} for i in range(10)]
  widths, seen = [], []

  def program(lane, source_params, arrays):  # not jitted: run_lanes calls it as it is
    widths.append(lane.seed.shape[0])
    return {'seed': lane.seed}

  sweep.run_lanes('a+b', lanes, {}, compiled=program, max_lanes_per_call=0, widest=widest,
                  on_chunk=lambda lo, hi, out: seen.extend(out['seed'].tolist()))
  devices = jax.device_count()
  assert widths == ([sweep.chunk_width(5, 0, devices)] * 2 if widest else [sweep.chunk_width(10, 0, devices)])
  assert seen == list(range(10))
