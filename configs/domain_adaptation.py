r"""Domain adaptation where it is known to work: unsupervised, same classes, target inputs rotated or re-rendered.

The unsupervised protocol (Ganin et al. 2016): source and target share their classes; no target label is seen.
Every strategy starts from the pre-trained source model (its head predicts the target's classes too) and trains on
labelled source examples and unlabelled target inputs; `source_only` does exactly that without an alignment term,
`dann`, `coral` and `mmd` add theirs (align_weight searched). Selection reads no target label: the label-free
validator `selection.validator` (SND, soft neighbourhood density, by default: chosen on the moons control, see
docs/domain-adaptation.md) scores every candidate and evaluation from held-out source examples and unlabelled target
inputs held out from adaptation; `oracle_test_accuracy` shows what selection on target labels would have reached.
The whole network adapts (fixed setting: backbone LR = head LR).

Run (10 seeds; synthetic family with the source's 50 classes as the target's, target re-rendered by the shift):

  python -m scripts.run --config=configs/domain_adaptation.py

Variants (same protocol): `:moons` (the DANN paper's two moons, target rotated 30 degrees per unit of shift),
`:digits` (scikit-learn's digits, the same ten classes, target images rotated 30 degrees per unit), and `:semi`,
the semi-supervised setting (100 labelled target examples of 5 new classes, 2,000 unlabelled; fine-tuning and
scratch as references; gains against fine-tuning). Each also with `:fixed` (the papers' settings, last step).

Results: outputs/domain_adaptation/, outputs/domain_adaptation_moons/, ..._digits/, ..._semi/ (table.md, plot.png,
curves.png, validators.md: every validator judged against the target labels; each DA record carries its proxy
A-distance before and after, and DANN's discriminator accuracy). docs/domain-adaptation.md embeds them and says
what they show: the positive control (`:moons,fixed`) and what each validator selects.

Smoke variant for tests (seconds): --config=configs/domain_adaptation.py:smoke (or :moons,smoke, :semi,smoke)
"""

from configs import common


def get_config(arg: str | None = None):
  c = common.base('domain_adaptation')
  c.strategies = ('dann', 'coral', 'mmd', 'source_only')  # source_only: the same training without alignment
  c.data_sizes = (0,)  # no labelled target example: the unsupervised protocol
  c.data.same_classes = True  # the target's classes are the source's
  c.shifts = (0.0, 1.0, 2.0, 3.0)  # 0: the source distribution itself (a check: nothing to adapt to)
  c.lr_mults = (1.0,)  # the whole network adapts, as in the DANN paper
  c.steps = 300  # every lane: 300 steps of 64 source, 64 unlabelled target examples (early stopping picks)
  c.report.transfer = 'dann'  # the verdict column: DANN against the baseline
  c.report.baseline = 'source_only'  # gains are paired differences to training without alignment
  c.selection.validator = 'snd'  # no target label: soft neighbourhood density of held-out target inputs selects

  def moons(c):
    common.use_moons(c)
    c.shifts = (0.0, 1.0, 2.0)  # 0, 30 and 60 degrees

  def digits(c):
    c.shifts = (0.0, 1.0, 2.0)  # 0, 30 and 60 degrees

  def semi(c):
    c.experiment = f'{c.experiment}_semi'
    c.report.title = f'{c.report.title} (semi-supervised)'
    c.strategies = ('dann', 'coral', 'mmd', 'source_only', 'fine_tuning', 'scratch')
    c.data_sizes = (100,)  # little labelled target data, as in configs/domain_shift.py
    c.data.same_classes = False  # 5 new target classes: the source examples train through the source's own head
    c.shifts = (0.0, 1.0, 2.0, 3.0)
    c.lr_mults = (0.1,)  # fine-tuning's setting, for every pre-trained strategy
    c.steps = 0  # common.budget
    c.report.baseline = 'fine_tuning'

  def smoke(c):
    c.shifts = (0.0, 2.0)

  return common.finish(c, arg, smoke=smoke, digits=digits, extra={'moons': moons, 'semi': semi})
