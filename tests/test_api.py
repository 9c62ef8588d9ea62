"""The Python API (transfer/run/api.py) and the TensorBoard export (transfer/report/tensorboard.py): README.md's
"From Python" example runs as written from another directory; configs load and take overrides from anywhere; the
event files a run writes read back with TensorBoard's framing and protocol buffers, tags, steps and HParams."""

import contextlib
import json
import io as std_io
import os
import pathlib
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
from tensorboardX import record_writer
from tensorboardX.proto import event_pb2
from tensorboardX.proto import plugin_hparams_pb2

import transfer
from transfer import checkpoints
from transfer import errors
from transfer import io
from transfer.report import tensorboard as tensorboard_lib

REPO = pathlib.Path(__file__).resolve().parent.parent
README_WORKDIR = '/tmp/smoke'  # the workdir README.md's example names; the test runs it into its own


def readme_example() -> str:
  """The code block of README.md's "From Python" section, exactly as written."""
  section = (REPO / 'README.md').read_text().split('## From Python\n', 1)[1].split('\n## ', 1)[0]
  (code,) = re.findall(r'```python\n(.*?)```', section, re.S)
  return code


def read_events(path: str) -> list[event_pb2.Event]:
  """The events of a file in TensorBoard's record framing, each record's two checksums checked."""
  data, events, at = pathlib.Path(path).read_bytes(), [], 0
  while at < len(data):
    header = data[at:at + 8]
    (length,) = struct.unpack('<Q', header)
    assert struct.unpack('<I', data[at + 8:at + 12])[0] == record_writer.masked_crc32c(header)
    body = data[at + 12:at + 12 + length]
    assert struct.unpack('<I', data[at + 12 + length:at + 16 + length])[0] == record_writer.masked_crc32c(body)
    events.append(event_pb2.Event.FromString(body))
    at += 16 + length
  return events


def event_files(logdir) -> dict[str, str]:
  """run (folder relative to `logdir`) -> its one event file."""
  runs = {}
  for root, _, files in os.walk(logdir):
    for f in files:
      assert f.startswith('events.out.tfevents'), f
      assert os.path.relpath(root, logdir) not in runs, f'two event files in {root}'
      runs[os.path.relpath(root, logdir)] = os.path.join(root, f)
  return runs


def scalars(events) -> dict[str, list[tuple[int, float]]]:
  out = {}
  for event in events:
    for value in event.summary.value:
      if value.HasField('simple_value'):
        out.setdefault(value.tag, []).append((event.step, value.simple_value))
  return out


def hparams_plugin_data(events) -> dict[str, plugin_hparams_pb2.HParamsPluginData]:
  return {v.tag: plugin_hparams_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content)
          for e in events for v in e.summary.value if v.metadata.plugin_data.plugin_name == 'hparams'}


def session_hparams(data: plugin_hparams_pb2.HParamsPluginData) -> dict:
  return {k: v.string_value if v.HasField('string_value') else v.number_value
          for k, v in data.session_start_info.hparams.items()}


@pytest.fixture(scope='module')
def readme_run(tmp_path_factory):
  """README.md's example, run from another directory into a workdir of its own: (workdir, what it printed)."""
  workdir, elsewhere = tmp_path_factory.mktemp('readme'), tmp_path_factory.mktemp('elsewhere')
  code = readme_example()
  assert README_WORKDIR in code
  out = std_io.StringIO()
  with pytest.MonkeyPatch.context() as m, contextlib.redirect_stdout(out):
    m.chdir(elsewhere)
    exec(code.replace(README_WORKDIR, str(workdir)), {})
  return str(workdir), out.getvalue()


def test_the_readme_example_runs_from_another_directory_and_prints_the_table(readme_run):
  workdir, printed = readme_run
  assert printed == pathlib.Path(workdir, 'table.md').read_text() + '\n'
  assert '| Domain Shift |' in printed
  assert [line for line in (REPO / 'README.md').read_text().splitlines()
          if line.startswith(('import transfer', 'from transfer'))]


def test_the_readme_runs_models_are_exported_from_python(readme_run, tmp_path, monkeypatch):
  """transfer.export_models, as README.md's sentence gives it, from another directory: one model per cell."""
  workdir, _ = readme_run
  monkeypatch.chdir(tmp_path)
  written = transfer.export_models('configs/domain_shift.py:smoke', workdir, tmp_path / 'models',
                                   overrides={'seeds': 2})
  runs = json.loads(pathlib.Path(workdir, 'results.json').read_text())['runs']
  assert written == sum(1 for r in runs if r['selected'])
  assert set(checkpoints.read(str(tmp_path / 'models'))) == {r['strategy'] for r in runs}


def test_a_run_writes_tensorboard_events_per_strategy_and_candidate(readme_run):
  workdir, _ = readme_run
  config = transfer.load_config('configs/domain_shift.py:smoke')
  runs = event_files(os.path.join(workdir, 'tensorboard'))
  assert sorted(runs) == sorted(f'{s}/cand{j}' for s in config.strategies for j in range(config.search.num_samples))
  cells = [f'n{n}_shift{s:g}_seed{seed}' for n in config.data_sizes for s in config.shifts
           for seed in range(config.seeds)]
  steps = [(i + 1) * config.selection.eval_every for i in range(config.steps // config.selection.eval_every)]
  records = io.read_json(os.path.join(workdir, 'results.json'))['runs']
  for run, path in runs.items():
    strategy, candidate = run.split('/')
    events = read_events(path)
    assert events[0].file_version == 'brain.Event:2'
    curves = scalars(events)
    assert set(curves) == {f'{c}/{cell}' for c in tensorboard_lib.CURVES for cell in cells} | set(
        tensorboard_lib.METRICS), run
    for cell in cells:
      assert [s for s, _ in curves[f'val_accuracy/{cell}']] == steps
    (lane,) = [lane for key, lane in io.read_lanes(os.path.join(workdir, 'curves.npz')).items()
               if (key[0], key[1], key[2], key[3], key[-1]) == (strategy, 1, 32, 3.0, int(candidate[4:]))]
    np.testing.assert_allclose([v for _, v in curves['test_loss/n32_shift3_seed1']], lane['curves']['test_loss'],
                               rtol=1e-6)
    chosen = np.mean([r['selected']['candidate'] == int(candidate[4:]) for r in records if r['strategy'] == strategy])
    assert curves['hparams/chosen'][0][1] == pytest.approx(chosen)
    plugin = hparams_plugin_data(events)
    assert set(plugin) == {'_hparams_/experiment', '_hparams_/session_start_info', '_hparams_/session_end_info'}
    hparams = session_hparams(plugin['_hparams_/session_start_info'])
    assert hparams['strategy'] == strategy and hparams['candidate'] == int(candidate[4:])
    assert hparams['lr'] == pytest.approx(lane['hparams']['lr'])
    assert {m.name.tag for m in plugin['_hparams_/experiment'].experiment.metric_infos} == set(tensorboard_lib.METRICS)


def test_tensorboard_itself_reads_the_events(readme_run):
  """Where TensorBoard is installed (it is not a dependency), its own reader finds the scalars and the session."""
  event_accumulator = pytest.importorskip('tensorboard.backend.event_processing.event_accumulator')
  workdir, _ = readme_run
  accumulator = event_accumulator.EventAccumulator(os.path.join(workdir, 'tensorboard', 'scratch', 'cand0'))
  accumulator.Reload()
  assert 'val_accuracy/n8_shift0_seed0' in accumulator.Tags()['scalars']
  assert '_hparams_/session_start_info' in accumulator.PluginTagToContent('hparams')


def fake_workdir(path, *, nan_curve: str = 'val_loss') -> None:
  """A workdir of 2 strategies x 2 candidates x 2 cells, `nan_curve` all NaN for 'b' (it never validated)."""
  lanes = {}
  for name in ('a', 'b'):
    for seed in (0, 1):
      for j in (0, 1):
        curves = {c: np.arange(3, dtype=np.float32) + seed + 10 * j for c in tensorboard_lib.CURVES}
        if name == 'b':
          curves[nan_curve] = np.full(3, np.nan, np.float32)
        lanes[(name, seed, 8, 0.5, 0.1 * (seed + 1), None, j)] = {
            'hparams': {'lr': 0.1 * (j + 1), 'lr_mult': 0.1 * (seed + 1), 'weight_decay': 0.0, 'l2_sp_weight': 0.01,
                        'align_weight': 1.0},
            'curves': curves, 'scalars': {'selected_test_accuracy': 0.5 + 0.25 * j}}
  os.makedirs(path, exist_ok=True)
  io.write_lanes(os.path.join(path, 'curves.npz'), lanes)
  io.write_json(os.path.join(path, 'config.json'), {'selection': {'eval_every': 5}})
  io.write_json(os.path.join(path, 'environment.json'), {'end': '2026-01-02T03:04:05+00:00'})
  records = [{'strategy': name, 'seed': seed, 'selected': {'candidate': int(seed == 1 and name == 'a'), 'lr': 0.1,
                                                           'lr_mult': 0.1, 'step': 5}}
             for name in ('a', 'b') for seed in (0, 1)]
  io.write_json(os.path.join(path, 'results.json'), {'experiment': 'fake', 'runs': records})


def test_the_export_is_a_pure_function_of_the_workdir(tmp_path):
  fake_workdir(tmp_path)
  stale = tmp_path / 'tensorboard' / 'gone' / 'cand0' / 'events.out.tfevents.1.host'
  stale.parent.mkdir(parents=True)
  stale.write_bytes(b'')
  paths = tensorboard_lib.write_events(str(tmp_path))
  assert not stale.exists()  # an earlier export's file: replaced, never read twice by TensorBoard
  runs = event_files(tmp_path / 'tensorboard')
  assert sorted(runs) == ['a/cand0', 'a/cand1', 'b/cand0', 'b/cand1']
  assert all(os.path.basename(p) == 'events.out.tfevents.1767323045.transfer' for p in paths)
  first = {p: pathlib.Path(p).read_bytes() for p in paths}
  assert tensorboard_lib.write_events(str(tmp_path)) == paths
  assert {p: pathlib.Path(p).read_bytes() for p in paths} == first  # byte-identical: no clock, no host name

  a1, b0 = read_events(runs['a/cand1']), read_events(runs['b/cand0'])
  curves = scalars(a1)
  assert curves['train_loss/n8_shift0.5_lrmult0.2_seed1'] == [(5, 11.0), (10, 12.0), (15, 13.0)]
  assert all(event.wall_time == 1767323045.0 for event in a1)
  assert not any(tag.startswith('val_loss/') for tag in scalars(b0))  # all NaN: left out
  assert curves['hparams/chosen'] == [(15, 0.5)]  # seed 1 of 'a' chose candidate 1
  assert curves['hparams/test_accuracy'] == [(15, 0.75)]
  assert curves['hparams/best_val_accuracy'] == [(15, pytest.approx(12.5))]  # the mean over cells of each best
  # lr_mult differs between the run's cells (a grid axis): it is in the cell names, not the session
  assert session_hparams(hparams_plugin_data(a1)['_hparams_/session_start_info']) == {
      'strategy': 'a', 'candidate': 1.0, 'lr': pytest.approx(0.2)}


def test_load_config_from_another_directory_with_overrides(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  overrides = {'seeds': 3, 'data_sizes': (50, 100), 'model.width': 8, 'selection': {'val_fraction': 0.25}}
  config = transfer.load_config('configs/domain_shift.py:smoke', overrides)
  assert (config.seeds, config.data_sizes, config.model.width) == (3, (50, 100), 8)
  assert config.selection.val_fraction == 0.25
  assert config.is_locked
  again = transfer.load_config(config, {'seeds': 4})
  assert (again.seeds, config.seeds) == (4, 3)  # a ConfigDict is copied, not changed
  assert transfer.load_config(str(REPO / 'configs' / 'domain_shift.py')).experiment == 'domain_shift'


@pytest.mark.parametrize('config, overrides, message', [
    ('configs/domain_shift.py:smoke', {'seedz': 3}, "unknown config field 'seedz' in overrides; the config has "),
    ('configs/domain_shift.py:smoke', {'model.widht': 3}, "unknown config field 'model.widht' in overrides; model "
                                                          'has channels, depth'),
    ('configs/domain_shift.py:smoke', {'seeds': 'three'}, "override seeds='three': Could not override field 'seeds'"),
    ('configs/domain_shift.py:smokey', None, "configs/domain_shift.py: unknown variant 'smokey'"),
    ('configs/no_such.py', None, "no config file 'configs/no_such.py' in "),
])
def test_load_config_errors_are_one_line(config, overrides, message, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(errors.ConfigError) as e:
    transfer.load_config(config, overrides)
  assert message in str(e.value) and '\n' not in str(e.value)


def test_importing_transfer_leaves_jax_alone_and_a_run_gets_a_cpu_device_per_core(tmp_path):
  """`import transfer` and its API import no jax; where jax was imported but has made no device yet, the API still
  gives it one CPU device per core. A config file of one's own, outside the repository and run from elsewhere, still
  imports `configs.common`."""
  (tmp_path / 'mine.py').write_text('from configs import common\n\n\ndef get_config(arg=None):\n'
                                    '  return common.finish(common.base("mine"), arg)\n')
  code = ('import sys, os, transfer; transfer.run_experiment; assert "jax" not in sys.modules\n'
          'import jax; from transfer.run import api; api.one_cpu_device_per_core()\n'
          'print(jax.local_device_count(), len(os.sched_getaffinity(0)))\n'
          'print(transfer.load_config("mine.py:smoke").experiment, sys.modules["configs"].__file__)\n')
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  proc = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=dict(env, JAX_PLATFORMS='cpu'),
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  devices, cores, experiment, configs = proc.stdout.split()
  assert devices == cores
  assert (experiment, configs) == ('mine', str(REPO / 'configs' / '__init__.py'))


def test_a_lanes_validator_and_loss_term_curves_are_written_and_a_score_that_repeats_validation_is_not():
  val = np.array([0.5, 0.6], np.float32)
  labelled = {'val_accuracy': val, 'score': val.copy(), 'train_loss': val}
  unsupervised = {'val_accuracy': val, 'score': np.array([-1.0, -0.5], np.float32), 'snd': val, 'source_loss': val}
  assert tensorboard_lib.curve_names(labelled) == ['val_accuracy', 'train_loss']
  assert tensorboard_lib.curve_names(unsupervised) == ['val_accuracy', 'score', 'snd', 'source_loss']
