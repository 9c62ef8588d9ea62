"""Sweeps sharded over several (faked) CPU devices give the one-device results, spread over every device."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS = ('test_accuracy', 'test_loss', 'train_loss')


@pytest.fixture(scope='module')
def four_devices(tmp_path_factory):
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=4')
  proc = subprocess.run([sys.executable, '-m', 'tests.multidevice_smoke', str(tmp_path_factory.mktemp('four'))],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def by_key(runs):
  return {(r['strategy'], r['seed'], r['data_size'], r['shift'], r['lr_mult']): r for r in runs}


def assert_close(runs, reference):
  for key, run in by_key(runs).items():
    for metric in METRICS:
      np.testing.assert_allclose(run[metric], reference[key][metric], atol=1e-5, err_msg=f'{key} {metric}')


def test_lanes_are_spread_over_every_device(four_devices):
  assert four_devices['devices'] == 4
  assert four_devices['width'] == 8  # 6 lanes padded to a multiple of 4
  assert four_devices['output_devices'] == 4
  assert four_devices['rows_per_device'] == [2, 2, 2, 2]


def test_sharded_results_equal_one_device_results(four_devices, smoke_run):
  workdir, _, _ = smoke_run
  with open(os.path.join(workdir, 'results.json')) as f:
    reference = by_key(json.load(f)['runs'])
  assert len(four_devices['runs']) == len(reference)
  assert_close(four_devices['runs'], reference)


def test_a_lane_count_not_divisible_by_the_devices_drops_the_padding(four_devices, smoke_run):
  workdir, _, _ = smoke_run
  curves = np.load(os.path.join(workdir, 'curves.npz'))
  row = {tuple(json.loads(str(k))): i for i, k in enumerate(curves['key'])}
  keys = [tuple(k) for k in four_devices['odd_keys']]
  assert len(keys) == 6 and all(len(v) == 6 for v in four_devices['odd_curves'].values())
  for name, values in four_devices['odd_curves'].items():
    reference = [curves[f'curve/{name}'][row[k]] for k in keys]
    np.testing.assert_allclose(values, reference, atol=1e-5, err_msg=name)
