r"""Layer transferability (Yosinski et al. 2014): how much of a network can be copied, frozen or fine-tuned.

For k = 0 .. (backbone groups), the bottom k layer groups are copied from a base network and the rest start fresh;
the head is always new. Four variants: AnB (base = the pre-trained source model, copied layers frozen), AnB+ (same,
everything fine-tuned at the full LR), BnB (base = a network trained from scratch on the same target data, with its
own initialisation, copied layers frozen) and BnB+ (same, everything trained). k = 0 is training from scratch in
every variant. Gains are paired against BnB: AnB - BnB measures how specific to the source the first k layers are.

Run (10 seeds; synthetic, MLP with 3 backbone groups; at shift 0 and at shift 3, where the target's inputs are
rendered by an orthogonal first generator layer):

  python -m scripts.run --config=configs/layer_transfer.py

On scikit-learn's digits (source 0-4, target 5-9, CNN with 3 conv groups; needs the [digits] extra):

  python -m scripts.run --config=configs/layer_transfer.py:digits

Results: outputs/layer_transfer/ and outputs/layer_transfer_digits/ (table.md; plot.png shows accuracy vs k for
the four variants with 95% CI bands). Synthetic: at shift 0 copying frozen source layers helps, the more so the more
are copied; at shift 3 they are specific to the source, and fine-tuning them (AnB+) recovers scratch's accuracy but
not more. outputs/REPORT.md reads it per layer group, with the numbers.

Smoke variant for tests (seconds): --config=configs/layer_transfer.py:smoke (or :digits,smoke)
"""

from configs import common


def get_config(arg: str | None = None):
  c = common.base('layer_transfer')
  c.strategies = ('anb', 'anb_plus', 'bnb', 'bnb_plus')  # Yosinski's four variants (transfer/train/strategies.py)
  c.layers_copied = (0, 1, 2, 3)  # k: every split point of the 3 backbone groups
  c.data_sizes = (100, 1000)  # little and plenty of labelled target data
  c.shifts = (0.0, 3.0)  # same domain (Yosinski's A/B split) and the target's inputs rendered orthogonally
  c.report.axis = 'layers_copied'
  c.report.axis_label = 'Layers copied (k)'
  c.report.transfer = 'anb'  # the verdict column: AnB against BnB
  c.report.baseline = 'bnb'

  def digits(c):
    c.data_sizes = (50, 400)  # of the 496 labelled target images
    c.shifts = (0.0,)  # unrotated target images

  def smoke(c):
    c.data_sizes = (32,)
    c.layers_copied = (0, 3)

  return common.finish(c, arg, smoke=smoke, digits=digits)
