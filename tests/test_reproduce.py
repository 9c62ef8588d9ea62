"""scripts/reproduce.sh regenerates every committed experiment, gives each the seeds SEEDS names, and writes each
step's wall time to the table the docs embed. Run with a stand-in `python` that records its arguments, so no
experiment runs."""

import glob
import importlib
import json
import os
import shutil
import subprocess

import pytest

from transfer.report import pages

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def reproduce(tmp_path, **env):
  """Runs a copy of the script in an empty tree whose `python` only records its arguments (each NUL-terminated, a
  newline after each call); returns the tree, each call's arguments and what the script printed."""
  tree = tmp_path / 'tree'
  (tree / 'scripts').mkdir(parents=True)
  (tree / 'outputs').mkdir()
  shutil.copy(os.path.join(REPO, 'scripts', 'reproduce.sh'), tree / 'scripts')
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  calls = tmp_path / 'calls'
  stand_in = bin_dir / 'python'
  stand_in.write_text(f'#!/bin/sh\nprintf \'%s\\0\' "$@" >> {calls}\nprintf \'\\n\' >> {calls}\n')
  stand_in.chmod(0o755)
  proc = subprocess.run(['bash', str(tree / 'scripts' / 'reproduce.sh')], capture_output=True, text=True,
                        env=dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', **env), timeout=60)
  assert proc.returncode == 0, proc.stderr
  return tree, [call.split('\0') for call in calls.read_text().split('\0\n') if call], proc.stdout


def committed_experiments() -> set[str]:
  """The experiments whose workdirs are committed under outputs/ (each records its config), but the decision grid's,
  which scripts.decide makes."""
  found = set()
  for path in glob.glob(os.path.join(REPO, 'outputs', '*', 'config.json')):
    with open(path) as f:
      found.add(json.load(f)['experiment'])
  return found - {'decision'}


@pytest.mark.parametrize('seeds', ['', '10'])
def test_reproduce_runs_every_committed_experiment_with_the_seeds_asked_and_tables_its_times(tmp_path, seeds):
  tree, calls, stdout = reproduce(tmp_path, SEEDS=seeds)
  runs = [c for c in calls if c[:2] == ['-m', 'scripts.run']]
  assert runs and all('--overwrite' in c for c in runs)
  for c in runs:
    assert ([a for a in c if a.startswith('--config.seeds=')] == [f'--config.seeds={seeds}']) == bool(seeds), c
  decide = [c for c in calls if c[:2] == ['-m', 'scripts.decide']]
  assert len(decide) == 1 and not any(a.startswith('--config.seeds') for a in decide[0])  # keeps its own seeds
  made = set()  # the experiment each run's config names
  for c in runs:
    path, _, variant = next(a for a in c if a.startswith('--config=')).removeprefix('--config=').partition(':')
    module = importlib.import_module(path.removesuffix('.py').replace('/', '.'))
    made.add(module.get_config(variant or None).experiment)
  assert committed_experiments() <= made, committed_experiments() - made
  table = (tree / 'outputs' / (f'reproduce_seeds{seeds}.md' if seeds else 'reproduce.md')).read_text()
  rows = pages.markdown_tables(table)[0].splitlines()[2:]
  steps = [row.split('|')[1].strip() for row in rows]
  assert len(steps) == len(calls) + 1 and steps[-1] == 'total'
  assert all(f'{step}: ' in stdout for step in steps[:-1])
  assert (f'SEEDS={seeds} bash scripts/reproduce.sh' in table) == bool(seeds)
