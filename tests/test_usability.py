"""Using a sweep: sweeps that grow (only the new lanes run, only the new seeds pre-train), committed provenance left
alone, damaged workdir files reported, chunks sized to the device's memory and an out-of-memory explained, and a
progress bar on terminals only."""

import contextlib
import functools
import io as std_io
import json
import logging
import os
import pathlib
import re
import shutil
import sys

import jax
import numpy as np
import pytest
import rich.console

from configs import domain_shift
from tests.conftest import same_arithmetic_atol
from tests.conftest import smoke_config
from transfer import compiler
from transfer import errors
from transfer import io
from transfer.data import dataset as dataset_lib
from transfer.run import experiment
from transfer.run import provenance
from transfer.run import store
from transfer.run import progress as progress_lib
from transfer.run import sources
from transfer.run import sweep
from transfer.train import strategies

REPO = pathlib.Path(__file__).resolve().parent.parent


def counting_pretrain(monkeypatch) -> list[list[int]]:
  """Wraps sources.pretrain_all; returns the list of the seeds each call pre-trained."""
  calls, real = [], sources.pretrain_all

  def pretrain_all(config, dataset, seeds=None):
    calls.append(list(range(config.seeds) if seeds is None else seeds))
    return real(config, dataset, seeds)

  monkeypatch.setattr(sources, 'pretrain_all', pretrain_all)
  return calls


def test_source_models_are_cached_per_seed_and_more_seeds_pre_train_only_the_new_ones(dataset, source_params,
                                                                                       tmp_path, monkeypatch):
  calls, cache = counting_pretrain(monkeypatch), str(tmp_path / 'cache')
  sources.pretrained(smoke_config(seeds=1), dataset, cache)
  grown = sources.pretrained(smoke_config(seeds=2), dataset, cache)
  assert calls == [[0], [1]]
  key = sources.cache_key(sources.source_config(smoke_config(), dataset))
  assert sorted(os.listdir(cache)) == [f'{key}.json', f'{key}.seed0.msgpack', f'{key}.seed1.msgpack']
  with open(os.path.join(cache, f'{key}.json')) as f:
    assert [len(v) for v in json.load(f)['source_test'].values()] == [2, 2]
  # on CPU a seed pre-trained alone is the seed pre-trained with the others, bit for bit (docs/determinism.md)
  if jax.default_backend() == 'cpu':
    jax.tree.map(np.testing.assert_array_equal, grown, jax.tree.map(np.asarray, source_params))
  sources.pretrained(smoke_config(seeds=2), dataset, cache)
  assert calls == [[0], [1]]  # all cached


def test_pre_training_again_leaves_the_provenance_file_untouched(config, dataset, tmp_path):
  cache = str(tmp_path / 'cache')
  sources.pretrained(config, dataset, cache)
  (record,) = [os.path.join(cache, f) for f in os.listdir(cache) if f.endswith('.json')]
  before = os.stat(record)
  for name in os.listdir(cache):  # the .msgpack files are not committed: a fresh clone has only the .json
    if name.endswith('.msgpack'):
      os.remove(os.path.join(cache, name))
  sources.pretrained(config, dataset, cache)
  after = os.stat(record)
  assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not even rewritten


def test_the_main_job_pre_training_again_leaves_the_committed_provenance_files_byte_identical(tmp_path, monkeypatch):
  """The committed outputs/pretrained/*.json are in the writer's own form (sorted keys), and the main job, were
  its gitignored .msgpack files missing, would pre-train and leave them as they are (its pre-training is replaced
  here by the committed metrics, so the test takes no time)."""
  committed = REPO / 'outputs' / 'pretrained'
  for path in committed.glob('*.json'):
    text = path.read_text()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + '\n', path.name
  cache = tmp_path / 'pretrained'
  shutil.copytree(committed, cache, ignore=shutil.ignore_patterns('*.msgpack'))
  monkeypatch.setattr(compiler, '_cpu_opt_level', compiler.DEFAULT_CPU_OPT_LEVEL)  # the main job's, not the suite's
  config = domain_shift.get_config(None)
  dataset = dataset_lib.load(config)
  key = sources.cache_key(sources.source_config(config, dataset))
  with open(cache / f'{key}.json') as f:
    metrics = json.load(f)['source_test']

  def pretrain_all(config, dataset, seeds):
    shapes = sources.source_shapes(config, dataset)
    params = jax.tree.map(lambda s: np.zeros((len(seeds), *s.shape[1:]), s.dtype), shapes)
    return params, {name: [values[s] for s in seeds] for name, values in metrics.items()}

  monkeypatch.setattr(sources, 'pretrain_all', pretrain_all)
  sources.pretrained(config, dataset, str(cache))
  assert len(list(cache.glob(f'{key}.seed*.msgpack'))) == config.seeds
  assert {p.name: p.read_bytes() for p in cache.glob('*.json')} == {
      p.name: p.read_bytes() for p in committed.glob('*.json')}


def a_finished_looking_workdir(folder) -> str:
  """A workdir holding the smoke config's config.json, a results.json and a curves.npz of one lane (no compute)."""
  workdir = str(folder / 'workdir')
  os.makedirs(workdir)
  config = smoke_config()
  io.write_text(os.path.join(workdir, 'config.json'),
                experiment.recorded_config(config, dataset_lib.load(config)).to_json(indent=1))
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
  grown = smoke_config(seeds=3)  # config.json would be rewritten were the files readable
  with pytest.raises(errors.WorkdirError, match=f"{name}' is damaged.*delete it"):
    experiment.run(grown, workdir)
  assert {f: open(os.path.join(workdir, f), 'rb').read() for f in os.listdir(workdir)} == before


def load_runs(workdir):
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)['runs']


def test_a_run_records_its_environment(smoke_run):
  with open(os.path.join(smoke_run[0], 'environment.json')) as f:
    env = json.load(f)
  assert set(env) == {'start', 'end', 'wall_seconds', 'compile_seconds', 'programs', 'distinct_programs', 'phases',
                      'lanes', 'argv', 'packages', 'devices', 'compiler_options', 'git', 'earlier'}
  assert env['compiler_options'] == compiler.options()
  assert set(env['packages']) == {'python', 'jax', 'jaxlib', 'flax', 'optax', 'numpy'}
  assert env['packages']['jax'] == jax.__version__
  assert env['devices'] == {'platform': jax.devices()[0].platform, 'kind': jax.devices()[0].device_kind,
                            'count': jax.device_count(), 'processes': 1, 'host_cpu': provenance.host_cpu()}
  assert env['devices']['host_cpu']  # the processor's model: the CPU device's kind is only 'cpu'
  assert re.fullmatch('[0-9a-f]{40}', env['git']['commit']) and isinstance(env['git']['dirty'], bool)  # a checkout
  assert env['start'] <= env['end'] and env['start'].endswith('+00:00') and env['wall_seconds'] > 0
  assert set(env['lanes']) == set(smoke_config().strategies) == {'fine_tuning', 'feature_extraction', 'scratch'}
  # one program per group of strategies that share one (scratch runs in fine-tuning's: strategies.program), compiled
  # once for all their chunks, and one that renders the shared data
  assert set(env['compile_seconds']) == set(env['programs']) == {'fine_tuning+scratch', 'feature_extraction',
                                                                 'data_table'}
  assert all(s > 0 for s in env['compile_seconds'].values()) and env['earlier'] == []
  assert env['programs'] == {name: 1 for name in env['compile_seconds']} and env['distinct_programs'] == 3
  # where the wall time went, and how busy the cores were: phases that do not overlap, each program's holding its
  # compilation
  phases = env['phases']
  assert set(phases) == {'source_models', 'data_table', 'fine_tuning+scratch', 'feature_extraction', 'report'}
  assert all(p['seconds'] > 0 and p['cpu_seconds'] >= 0 for p in phases.values())
  assert sum(p['seconds'] for p in phases.values()) <= env['wall_seconds'] + 0.1
  assert all(phases[name]['seconds'] >= env['compile_seconds'][name] - 0.01 for name in env['compile_seconds'])


def test_a_second_run_of_the_same_structure_in_a_process_compiles_nothing(tmp_path):
  """A run whose programs this process has made already (same structure and compiler options: a resumed or grown
  sweep, the Python API's runs of configs that differ only in traced values) neither lowers nor compiles them again,
  pre-training's included; it gives the same records."""
  experiment.run(smoke_config(), str(tmp_path / 'first'), tensorboard=False)
  events = []
  listen = lambda name, seconds, **_: events.append(name)
  jax.monitoring.register_event_duration_secs_listener(listen)
  try:
    experiment.run(smoke_config(), str(tmp_path / 'second'), tensorboard=False)
  finally:
    jax.monitoring.unregister_event_duration_listener(listen)
  assert not [e for e in events if e.endswith(('backend_compile_duration', 'jaxpr_to_mlir_module_duration'))], events
  assert load_runs(str(tmp_path / 'second')) == load_runs(str(tmp_path / 'first'))


def test_a_change_no_result_depends_on_is_accepted_and_recomputes_nothing(smoke_run, tmp_path, monkeypatch):
  workdir = str(tmp_path / 'copy')
  shutil.copytree(smoke_run[0], workdir)
  environment = open(os.path.join(workdir, 'environment.json'), 'rb').read()
  monkeypatch.setattr(sources, 'pretrained', lambda *_: pytest.fail('pre-trained'))
  monkeypatch.setattr(experiment.sweep, 'run_lanes', lambda *_, **__: pytest.fail('trained'))
  changed = smoke_config(max_lanes_per_call=5)
  with changed.unlocked():
    changed.report.title = 'renamed'
  table = experiment.run(changed, workdir).table
  assert 'renamed' in table
  with open(os.path.join(workdir, 'config.json')) as f:
    assert f.read() == experiment.recorded_config(changed, experiment.prepare(changed)).to_json(indent=1)  # rewritten
  assert load_runs(workdir) == load_runs(smoke_run[0])
  assert open(os.path.join(workdir, 'environment.json'), 'rb').read() == environment  # nothing computed


def test_a_grown_sweep_computes_only_the_new_seed_and_matches_a_fresh_run(smoke_run, tmp_path, monkeypatch):
  """Adding a seed runs exactly its lanes and pre-trains only its source model; the grown workdir's results equal
  those of the whole grid run at once (bit for bit on CPU)."""
  workdir = str(tmp_path / 'grown')
  experiment.run(smoke_config(seeds=1), workdir)
  pretrained, ran, real = counting_pretrain(monkeypatch), [], experiment.sweep.run_lanes

  def run_lanes(name, lanes, *args, **kwargs):
    ran.extend(lane['seed'] for lane in lanes)
    return real(name, lanes, *args, **kwargs)

  shown, real_shown = [], progress_lib.shown

  @contextlib.contextmanager
  def recorded(lanes, console=None):
    with real_shown(lanes, console) as progress:
      shown.append(progress)
      yield progress

  monkeypatch.setattr(experiment.sweep, 'run_lanes', run_lanes)
  monkeypatch.setattr(progress_lib, 'shown', recorded)
  experiment.run(smoke_config(), workdir)
  assert pretrained == [[1]]
  (progress,) = shown
  assert progress.total == progress.completed == len(ran)
  assert set(progress.lanes) == {'fine_tuning+scratch', 'feature_extraction'}  # the programs: strategies.program
  assert ran and set(ran) == {1}
  assert len(ran) == len(np.load(os.path.join(smoke_run[0], 'curves.npz'))['key']) // 2  # every lane of seed 1
  ours, reference = load_runs(workdir), load_runs(smoke_run[0])
  assert [(r['strategy'], r['seed'], r['data_size'], r['shift']) for r in ours] == [
      (r['strategy'], r['seed'], r['data_size'], r['shift']) for r in reference]
  if jax.default_backend() == 'cpu':
    assert ours == reference
  # curves.npz lists the lanes in the grid's order, as the fresh run's, not in the order they ran
  assert [str(k) for k in np.load(os.path.join(workdir, 'curves.npz'))['key']] == [
      str(k) for k in np.load(os.path.join(smoke_run[0], 'curves.npz'))['key']]
  with open(os.path.join(workdir, 'environment.json')) as f:
    env = json.load(f)
  assert sum(env['lanes'].values()) == len(ran) and len(env['earlier']) == 1  # the 1-seed run's entry
  assert sum(env['earlier'][0]['lanes'].values()) == len(ran)


@pytest.mark.parametrize('change, named', [
    (dict(steps=30), 'steps'),
    (dict(seeds=1), 'seeds (2 -> 1 does not only grow)'),
    (dict(data_sizes=(8, 16)), 'data_sizes ([8, 32] -> [8, 16] does not only grow)'),
    (dict(shifts=(0.0, 1.0, 3.0)), 'shifts'),  # every run measures its accuracy at every shift of the experiment
])
def test_a_changed_field_that_results_depend_on_is_refused_naming_it(tmp_path, change, named):
  workdir = a_finished_looking_workdir(tmp_path)
  before = {f: open(os.path.join(workdir, f), 'rb').read() for f in os.listdir(workdir)}
  config = smoke_config(**change)
  with config.unlocked():
    config.report.title = 'renamed'  # allowed, and not named
  with pytest.raises(errors.WorkdirError, match=re.escape(f'fields that differ: {named}); rerun with --overwrite')):
    experiment.run(config, workdir)
  assert {f: open(os.path.join(workdir, f), 'rb').read() for f in os.listdir(workdir)} == before


@pytest.mark.parametrize('budget, width', [(1e9, 8), (1000 + 4 * 100, 8), (1000 + 3 * 100, 6), (1000 + 100, 2),
                                           (10, 2)])
def test_the_default_width_is_the_widest_that_fits_the_memory_budget(budget, width):
  memory = sweep.Memory(fixed=1000, per_lane=100)  # bytes per device
  assert sweep.fitting_width(8, 2, memory, budget) == width  # 8 lanes on 2 devices; never below 1 lane per device


def fine_tuning_lanes(count=4):
  return sweep.grid(strategies.get('fine_tuning'), seeds=2, data_sizes=(8, 32), shifts=(0.0, 1.0, 2.0, 3.0),
                    lr_mults=(0.1,))[:count]


def test_a_program_too_large_for_the_device_runs_in_narrower_chunks_with_the_same_results(
    source_params, train_fn_for, monkeypatch, caplog):
  lanes, rows = fine_tuning_lanes(), {}

  def run(**kwargs):
    compiled = compiler.jit(functools.partial(sweep.train_lanes, train_fn=train_fn_for('fine_tuning')))
    return sweep.run_lanes('fine_tuning', lanes, source_params, compiled=compiled, max_lanes_per_call=0,
                           on_chunk=lambda lo, hi, out: rows.update({lo + i: out['test_loss'][i] for i in
                                                                     range(hi - lo)}), **kwargs)

  whole = run()
  reference, rows = [rows[i] for i in range(len(lanes))], {}
  monkeypatch.setattr(sweep, 'device_memory', lambda: (1.0, 'a test budget'))
  with caplog.at_level(logging.INFO):
    narrow = run()
  assert whole.width == sweep.chunk_width(len(lanes), 0, jax.device_count()) and whole.programs == 1
  assert narrow.width == jax.device_count() < len(lanes) and narrow.programs == 2
  assert f'{narrow.width} lanes per call (of {len(lanes)})' in caplog.text and 'a test budget' in caplog.text
  np.testing.assert_allclose([rows[i] for i in range(len(lanes))], reference, atol=same_arithmetic_atol(1e-5))


def out_of_memory(*_):
  raise jax.errors.JaxRuntimeError('RESOURCE_EXHAUSTED: Out of memory while trying to allocate 7.50GiB.')


@pytest.mark.parametrize('max_lanes', [0, 2])
def test_a_device_out_of_memory_is_one_error_naming_max_lanes_per_call(source_params, max_lanes):
  devices, lanes = jax.device_count(), fine_tuning_lanes(4 * jax.device_count())
  width = sweep.chunk_width(len(lanes), max_lanes, devices)
  with pytest.raises(errors.OutOfMemoryError, match=re.escape(
      f'running {width} lanes per call (config.max_lanes_per_call = {max_lanes}')) as raised:
    sweep.run_lanes('fine_tuning', lanes, source_params, compiled=out_of_memory, max_lanes_per_call=max_lanes,
                    on_chunk=lambda *_: pytest.fail('no chunk finished'))
  if width > devices:
    assert f'rerun with --config.max_lanes_per_call={width // 2}' in str(raised.value)
  else:
    assert 'even one lane per device does not fit' in str(raised.value)
  assert 'XLA said: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 7.50GiB.' in str(raised.value)


def test_an_out_of_memory_in_a_sweep_names_max_lanes_per_call_and_half_the_chunk(tmp_path, monkeypatch):
  monkeypatch.setattr(sweep, 'compile_for', lambda *_: (out_of_memory, None))
  config = smoke_config(max_lanes_per_call=0)
  assert config.strategies[0] == 'fine_tuning'  # the first program, which scratch's lanes share, as wide as either
  lanes = config.seeds * len(config.data_sizes) * len(config.shifts) * config.search.num_samples
  with pytest.raises(errors.OutOfMemoryError, match=re.escape(
      f"[fine_tuning+scratch] the device ran out of memory running {lanes} lanes per call (config.max_lanes_per_call"
      f" = 0, chosen from the estimate of device memory): rerun with --config.max_lanes_per_call={lanes // 2}")):
    experiment.run(config, str(tmp_path / 'workdir'))


def test_the_progress_counts_lanes_and_chunks_and_says_the_step():
  progress = progress_lib.Progress({'fine_tuning': 5, 'scratch': 3})
  assert (progress.total, progress.completed, progress.step) == (8, 0, 'starting')
  progress.compiling('fine_tuning')
  assert progress.step == 'compiling fine_tuning' and progress.completed == 0
  progress.started('fine_tuning', 3)
  assert progress.step == 'fine_tuning: chunk 1/3'
  for lanes, step in ((2, 'fine_tuning: chunk 2/3'), (2, 'fine_tuning: chunk 3/3'), (1, 'fine_tuning: done')):
    progress.chunk_done('fine_tuning', lanes)
    assert progress.step == step
  assert (progress.completed, progress.chunks['fine_tuning'], progress.chunks['scratch']) == (5, (3, 3), (0, 0))


def fake_sweep(lanes, source_params, arrays):
  """Stands in for a compiled sweep without compiling anything: one output per lane."""
  del source_params, arrays
  return {'test_loss': lanes.lr * 2}


def run_fake_sweep(lanes, source_params, progress):
  return sweep.run_lanes('fine_tuning', lanes, source_params, compiled=fake_sweep, max_lanes_per_call=2,
                         on_chunk=lambda *_: None, progress=progress)


def test_off_a_terminal_no_bar_is_drawn_and_the_log_lines_are_those_without_one(source_params, monkeypatch,
                                                                                 caplog):
  monkeypatch.setattr(sys, 'stderr', std_io.StringIO())  # not a terminal, as under CI or a redirect
  lanes = fine_tuning_lanes()

  def logged(progress):
    caplog.clear()
    with caplog.at_level(logging.INFO):
      run_fake_sweep(lanes, source_params, progress)
    return [re.sub(r'[0-9.]+s\b', 'Ts', m) for m in caplog.messages]

  with progress_lib.shown({'fine_tuning': len(lanes)}) as progress:
    assert progress.draw is None
    with_progress = logged(progress)
  assert with_progress == logged(None) and any('chunk 2/2' in m for m in with_progress)
  assert sys.stderr.getvalue() == ''
  assert (progress.completed, progress.chunks['fine_tuning'], progress.step) == (len(lanes), (2, 2),
                                                                                 'fine_tuning: done')


def test_on_a_terminal_the_bar_shows_compiling_apart_then_every_chunk(source_params):
  screen = std_io.StringIO()
  lanes = fine_tuning_lanes()
  with progress_lib.shown({'fine_tuning': len(lanes)},
                          console=rich.console.Console(file=screen, force_terminal=True, width=120)) as progress:
    run_fake_sweep(lanes, source_params, progress)
  text = re.sub(r'\x1b\[[0-9;?]*[A-Za-z]', '', screen.getvalue())
  for step in ('compiling fine_tuning', 'fine_tuning: chunk 1/2', 'fine_tuning: chunk 2/2', 'fine_tuning: done',
               f'{len(lanes)}/{len(lanes)} lanes', 'ETA'):
    assert step in text, step


def test_a_workdir_written_before_a_field_existed_reads_as_having_its_old_value():
  old = {'seeds': 3, 'model': {'width': 8}, 'selection': {'mode': 'search'}}  # no model.module, selection.validator
  new = {'seeds': 3, 'model': {'width': 8, 'module': '', 'kwargs': {}}, 'data': {'module': '', 'kwargs': {}},
         'selection': {'mode': 'search', 'validator': 'source_val_accuracy', 'source_floor': 0.0}}
  assert store.config_changes(old, new) == ([], [], [])
  refused, _, _ = store.config_changes(old, {**new, 'selection': {**new['selection'], 'validator': 'snd'}})
  assert refused == ['selection.validator']
