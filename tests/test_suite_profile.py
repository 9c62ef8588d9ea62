"""tests/suite_profile.py: its table adds up every test process's record."""

from tests import suite_profile


def test_the_profile_adds_up_every_process_and_ranks_programs_by_compile_time():
  worker = lambda compile_s, program: {  # noqa: E731
      'seconds': [['xla compile', 'tests/test_a.py', compile_s], ['figures', 'tests/test_a.py', 1.0]],
      'tests': {'tests/test_a.py': 10.0}, 'programs': {program: [compile_s, 2, 1]}}
  idle = {'seconds': [], 'tests': {}, 'programs': {}}  # the pytest process under xdist runs no test itself
  lines = suite_profile.table([worker(3.0, 'jit_train_lanes'), worker(1.0, 'jit_pretrain'), idle], top=1)
  assert lines[0] == 'Suite profile: 20 s of test time in 2 process(es)'
  assert '| xla compile | 4 | 20% |' in lines and '| figures | 2 | 10% |' in lines and '| trace | 0 | 0% |' in lines
  assert '| tests/test_a.py | 20 | 0 | 0 | 4 | 0 | 2 |' in lines  # the file's time and its categories' in order
  assert lines[-1] == '| jit_train_lanes | 3.0 | 2 | 1 |' and '| jit_pretrain | 1.0 | 2 | 1 |' not in lines
