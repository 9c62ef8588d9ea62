"""Using a sweep: damaged workdir files are reported, not overwritten."""

import os

import numpy as np
import pytest

from tests.conftest import smoke_config
from transfer import errors
from transfer import io
from transfer.run import experiment


def a_finished_looking_workdir(folder) -> str:
  """A workdir holding the smoke config's config.json, a results.json and a curves.npz of one lane (no compute)."""
  workdir = str(folder / 'workdir')
  os.makedirs(workdir)
  io.write_text(os.path.join(workdir, 'config.json'), smoke_config().to_json(indent=1))
  io.write_json(os.path.join(workdir, 'results.json'), {'experiment': 'domain_shift', 'runs': []})
  io.write_lanes(os.path.join(workdir, 'curves.npz'), {('scratch', 0, 8, 0.0, None, None, 0): {
      'hparams': {'lr': 1e-3, 'lr_mult': 0.1, 'weight_decay': 0.0, 'l2_sp_weight': 0.01, 'align_weight': 1.0},
      'curves': {'test_accuracy': np.zeros(2)}, 'scalars': {'diverged': False}}})
  return workdir


@pytest.mark.parametrize('name', ['results.json', 'curves.npz'])
def test_a_truncated_results_file_is_one_clear_error_and_nothing_is_overwritten(tmp_path, name):
  workdir = a_finished_looking_workdir(tmp_path)
  path = os.path.join(workdir, name)
  with open(path, 'r+b') as f:
    f.truncate(os.path.getsize(path) // 2)
  before = {f: open(os.path.join(workdir, f), 'rb').read() for f in os.listdir(workdir)}
  with pytest.raises(errors.WorkdirError, match=f"{name}' is damaged.*delete it"):
    experiment.run(smoke_config(), workdir)
  assert {f: open(os.path.join(workdir, f), 'rb').read() for f in os.listdir(workdir)} == before
