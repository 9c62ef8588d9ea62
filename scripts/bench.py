r"""Benchmarks the vmapped sweep against one lane per call and a PyTorch loop; writes benchmark.json/.md.

  python -m scripts.bench --config=configs/bench.py [--out=outputs/benchmark]
"""

from transfer.run import xla_env  # noqa: F401  (imported before jax for its effect: one CPU device per core)

from absl import app
from absl import flags
from ml_collections import config_flags

from transfer.run import cli

_CONFIG = config_flags.DEFINE_config_file('config', 'configs/bench.py', 'Benchmark config (path[:variant]).',
                                          lock_config=True)
_OUT = flags.DEFINE_string('out', 'outputs/benchmark', 'Folder for benchmark.json and benchmark.md.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  from transfer.studies import bench  # here: a bad flag or config is one line, before jax loads
  cli.use_compilation_cache(None)  # the benchmark times compilation itself: never a program read back from disk
  print(cli.exit_on_user_error(bench.run_and_write, _CONFIG.value, _OUT.value))


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
