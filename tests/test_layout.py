"""The package's layout is its architecture: layers import only downward, matplotlib lives in one module, and the
grid axes are defined once."""

import ast
import os
import pathlib
import re
import subprocess
import sys

import pytest

from transfer import types

REPO = pathlib.Path(__file__).resolve().parent.parent
LAYERS = {'errors': 0, 'types': 0, 'keys': 0, 'io': 0, 'compiler': 0, 'checkpoints': 0, 'importing': 0, 'data': 1,
          'train': 2, 'report': 3, 'run': 4, 'studies': 5}


def modules():
  """module name -> its source file, for every module of the package."""
  out = {}
  for path in sorted((REPO / 'transfer').rglob('*.py')):
    parts = path.relative_to(REPO).with_suffix('').parts
    out['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
  return out


def imports(path) -> set[str]:
  """The project modules `path` imports (from transfer.x import y counts as transfer.x.y when that is a module)."""
  known, found = modules(), set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('transfer'):
      for alias in node.names:
        name = f'{node.module}.{alias.name}'
        found.add(name if name in known else node.module)
    elif isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name.startswith('transfer')}
  return found


def layer(module: str) -> int | None:
  parts = module.split('.')
  return LAYERS[parts[1]] if len(parts) > 1 else None


def test_every_module_belongs_to_a_layer():
  assert all(layer(m) is not None for m in modules() if m != 'transfer')


def test_nothing_imports_upward():
  upward = [(m, i) for m, path in modules().items() for i in imports(path)
            if layer(m) is not None and layer(i) is not None and layer(i) > layer(m)]
  assert not upward, upward


def test_there_are_no_import_cycles():
  graph = {m: {i for i in imports(p) if i in modules()} for m, p in modules().items()}
  state = {}

  def visit(m, stack):
    state[m] = 'open'
    for n in graph[m]:
      if state.get(n) == 'open':
        pytest.fail(f'import cycle: {" -> ".join(stack + [m, n])}')
      if n not in state:
        visit(n, stack + [m])
    state[m] = 'done'

  for m in graph:
    if m not in state:
      visit(m, [])


def test_matplotlib_is_configured_in_exactly_one_module():
  # The project's own folders only: a virtual environment inside the clone (CI makes one) is not the project.
  sources = [p for folder in ('transfer', 'scripts', 'configs', 'tests') for p in (REPO / folder).rglob('*.py')]
  users = sorted(str(p.relative_to(REPO)) for p in sources
                 if 'matplotlib.use(' in p.read_text() and p.name != 'test_layout.py')
  assert users == ['transfer/report/plots.py']


def test_the_package_compiles_through_compiler_jit_only():
  """transfer/compiler.py holds the compiler options every program needs; a bare jax.jit elsewhere would skip them."""
  bare = sorted(str(p.relative_to(REPO)) for p in (REPO / 'transfer').rglob('*.py')
                if 'jax.jit(' in p.read_text() and p.name != 'compiler.py')
  assert not bare, bare


@pytest.mark.parametrize('module', ['transfer.io', 'transfer.run.store', 'transfer.data.dataset',
                                    'transfer.train.target', 'transfer.run.xla_env'])
def test_low_layers_load_without_matplotlib(module):
  code = f'import sys, {module}; assert "matplotlib" not in sys.modules, "{module} imports matplotlib"'
  if module == 'transfer.run.xla_env':  # must be importable before jax
    code = f'import sys, {module}; assert "jax" not in sys.modules'
  proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                        env=dict(os.environ, XLA_FLAGS=''))
  assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_grid_axes_are_defined_once():
  """Lane stacking, store keys, summaries and comparisons read `types.AXES`; no module spells them out again."""
  from transfer.report import workdir
  assert types.RUN_KEY == ('strategy',) + types.AXES and types.LANE_KEY == types.RUN_KEY + ('candidate',)
  assert workdir.SUMMARY_KEYS == ('strategy',) + types.COMPARED_AXES
  assert types.stack_lanes([dict(seed=1, data_size=8, shift=0.5, lr_mult=None, layers_copied=None)])._fields[
      :len(types.AXES)] == types.AXES
  spelled = [str(p.relative_to(REPO)) for p in (REPO / 'transfer').rglob('*.py')
             if "'data_size', 'shift', 'lr_mult'" in p.read_text()]
  assert not spelled, spelled


def test_the_report_writer_takes_its_numbers_from_outputs_not_from_library_constants():
  """REPORT.md's writer (report/study.py) imports nothing from the data or train layers: every number it prints
  comes from a workdir's files."""
  source = (REPO / 'transfer' / 'report' / 'study.py').read_text()
  assert not re.findall(r'^from transfer\.(data|train)|^import transfer\.(data|train)', source, re.M)
