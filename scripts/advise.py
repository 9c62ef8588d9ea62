r"""Recommends a transfer strategy for a target task, following the decision framework, and prints the evidence.

  python -m scripts.advise --config=configs/domain_shift.py --seed=0 --data_size=100 --shift=2.0 \
      [--thresholds=outputs/decision/thresholds.json]

It measures the labelled target size and the domain distance (squared MMD between the pre-trained backbone's features
of source and target inputs) for the synthetic task of `--seed` at `--shift`, then applies thresholds fitted by
`python -m scripts.decide`. On your own data, the distance is between your held-out source inputs and your
`target_unlabeled_x` (else `test_x`), through seed `--seed`'s source model:

  python -m scripts.advise --config.data.name=npz --config.data.path=my.npz --config.data_sizes='(40,)' \
      --data_size=40

The committed thresholds were fitted on synthetic tasks; a distance measured on other data through another backbone
is not on the same scale, so refit them on your data (`python -m scripts.decide` with the same overrides) before
trusting the domain branch.
"""

from transfer.run import xla_env  # pylint: disable=unused-import  (before jax: one CPU device per core)

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from ml_collections import config_flags

from transfer.run import cli
from transfer.studies import decision

_CONFIG = config_flags.DEFINE_config_file('config', 'configs/domain_shift.py', 'Config naming data, model and '
                                          'source pre-training.', lock_config=True)
_SEED = flags.DEFINE_integer('seed', 0, 'World (seed) of the target task.')
_DATA_SIZE = flags.DEFINE_integer('data_size', 100, 'Labelled target examples available.')
_SHIFT = flags.DEFINE_float('shift', 0.0, 'Domain shift of the target inputs.')
_THRESHOLDS = flags.DEFINE_string('thresholds', 'outputs/decision/thresholds.json', 'Fitted thresholds.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.initialize()
  print(cli.exit_on_user_error(decision.advise, _CONFIG.value, seed=_SEED.value, data_size=_DATA_SIZE.value,
                               shift=_SHIFT.value, thresholds_path=_THRESHOLDS.value))


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
