r"""Recommends a transfer strategy for a target task with a fitted advisor, and prints the evidence.

  python -m scripts.advise --config=configs/domain_shift.py --seed=0 --data_size=100 --shift=2.0 \
      [--advisor=tree|framework] [--fitted=outputs/decision/tree.json]

It measures the labelled target size and the domain distance (squared MMD between the pre-trained backbone's features
of source and target inputs) for the synthetic task of `--seed` at `--shift`, then applies an advisor fitted by
`python -m scripts.decide`: the fitted tree (default; it may recommend any strategy, scratch included) or the
study's framework with fitted thresholds. On your own data, the distance is between your held-out source inputs
and your `target_unlabeled_x` (required: the distance never reads test inputs), through seed `--seed`'s source model:

  python -m scripts.advise --config.data.name=npz --config.data.path=my.npz --config.data_sizes='(40,)' \
      --data_size=40

The committed advisors were fitted on synthetic tasks; a distance measured on other data through another backbone
is not on the same scale, so refit them on your data (`python -m scripts.decide` with the same overrides) before
trusting a split on distance.
"""

from transfer.run import xla_env  # noqa: F401  (imported before jax for its effect: one CPU device per core)

from absl import app
from absl import flags
from ml_collections import config_flags

from transfer.run import cli

_CONFIG = config_flags.DEFINE_config_file('config', 'configs/domain_shift.py', 'Config naming data, model and '
                                          'source pre-training.', lock_config=True)
_SEED = flags.DEFINE_integer('seed', 0, 'World (seed) of the target task.')
_DATA_SIZE = flags.DEFINE_integer('data_size', 100, 'Labelled target examples available.')
_SHIFT = flags.DEFINE_float('shift', 0.0, 'Domain shift of the target inputs.')
_ADVISOR = flags.DEFINE_enum('advisor', 'tree', ['framework', 'tree'],
                             "'framework': the study's decision tree with fitted thresholds; 'tree': the fitted "
                             'depth-2 tree, which may recommend any strategy (scratch included).')
_FITTED = flags.DEFINE_string('fitted', None, 'The fitted advisor: default outputs/decision/thresholds.json '
                              '(framework) or tree.json (tree).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  from transfer.studies import decision  # here: a bad flag or config is one line, before jax loads
  fitted = _FITTED.value or f'outputs/decision/{"thresholds" if _ADVISOR.value == "framework" else "tree"}.json'
  print(cli.exit_on_user_error(decision.advise, _CONFIG.value, seed=_SEED.value, data_size=_DATA_SIZE.value,
                               shift=_SHIFT.value, advisor=_ADVISOR.value, fitted_path=fitted))


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
