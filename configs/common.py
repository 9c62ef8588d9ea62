"""Defaults every experiment config starts from; each field is commented where it is set.

An experiment file calls `base()`, changes what it studies, and locks the result. Every field can be overridden
on the command line, e.g. `--config.seeds=3 --config.data_sizes='(50,100)'`.
"""

import math
from collections.abc import Callable

import ml_collections

from transfer.errors import ConfigError


def base(experiment: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.experiment = experiment  # name in results.json; default workdir outputs/<experiment>

  # The grid: every strategy runs seeds x data_sizes x shifts (x lr_mults if it uses a backbone multiplier).
  c.seeds = 10  # seeds 0..seeds-1; one world, target pool, test set and pre-trained model each
  c.strategies = ('fine_tuning', 'feature_extraction', 'scratch')  # names from transfer/train/strategies.py
  c.data_sizes = (100,)  # labelled target examples a run may see (prefixes of one pool per seed)
  c.shifts = (0.0,)  # domain shift of the target inputs (0 = the source's generator)
  c.lr_mults = (0.1,)  # backbone LR / head LR (backbone='lr_mult'): a grid axis, or, with one value and 'lr_mult'
  #                     in search.over, the fixed setting of a searched hyperparameter
  c.layers_copied = (0,)  # k for layer-transfer strategies (anb, bnb, ...): the bottom k groups are copied
  c.ood_shifts = ()  # every model is also tested at these shifts (out of distribution); () = the grid's shifts

  # Target training (one compiled run per lane).
  c.steps = 0  # the budget of target steps (selection may stop earlier); 0 = budget(): 200-1,500, see below
  c.batch_size = 64  # minibatch drawn with replacement from the lane's training examples
  c.max_lanes_per_call = 0  # lanes per compiled call (0 = the largest strategy's grid, or as many lanes as fit the
  #                           device's free memory by XLA's estimate of the program; logged); no result depends on it

  # Hyperparameters: the fixed setting. It is every run's under selection.mode = 'fixed' and candidate 0 of a search;
  # each lane carries its own values (traced), so a search over them compiles once per strategy.
  c.lr = 1e-3  # Adam LR of the head; backbone groups get lr * their multiplier
  c.weight_decay = 0.0  # decoupled weight decay (AdamW) of every trained group, scaled like its LR
  c.l2_sp_weight = 0.01  # l2_sp: alpha in alpha/2 * ||w - w_pretrained||^2 over the backbone (Li et al. 2018)
  c.align_weight = 1.0  # dann / coral / mmd: weight of the feature-alignment term

  # Model selection (transfer/run/selection.py): how each grid cell's result is chosen. Nothing reads the test set.
  c.selection = ml_collections.ConfigDict()
  c.selection.mode = 'search'  # 'search': the candidate and step with the best validation accuracy; 'fixed': the
  #                              fixed setting at the last step, every labelled example trains (the original protocol)
  c.selection.val_fraction = 0.2  # search: every round(1/val_fraction)-th example of each class validates
  c.selection.eval_every = 0  # steps between evaluations inside the run (validation, test, training loss); 0 = a
  #                             tenth of the budget (10 evaluations per run)
  c.selection.validator = 'source_val_accuracy'  # what selects a domain-adaptation run with no target label
  #   (transfer/train/validators.py): source_val_accuracy, source_val_loss (held-out source examples), entropy,
  #   info_max, bnm, snd, dev (unlabelled target inputs held out from adaptation); runs with target labels always
  #   select on their held-out target examples
  c.selection.source_floor = 0.0  # such a run's evaluation counts only where its held-out source accuracy is at least
  #                                 this fraction of the source model's (Musgrave et al.'s floor; 0 = off)

  # The search space (transfer/run/search.py): candidate 0 is the fixed setting, the others vary the
  # hyperparameters each strategy reads (of those `over` names) within `space`, log-uniformly.
  c.search = ml_collections.ConfigDict()
  c.search.method = 'random'  # 'random' (num_samples - 1 draws, DomainBed's protocol) or 'grid'
  c.search.num_samples = 8  # random: candidates per strategy, the fixed setting included
  c.search.grid_points = 3  # grid: log-spaced values per searched hyperparameter, every combination
  c.search.seed = 0  # random: seeds the draws (the same candidates for every strategy, seed and cell)
  c.search.over = ('lr', 'lr_mult', 'weight_decay', 'l2_sp_weight', 'align_weight')  # hyperparameters varied
  c.search.space = ml_collections.ConfigDict()  # (low, high) of each, log-uniform
  c.search.space.lr = (1e-4, 1e-2)  # a decade either side of Adam's usual 1e-3 for small MLPs and CNNs
  c.search.space.lr_mult = (1e-2, 1.0)  # backbone LR from 1% of the head's (the study's 0.01) to equal
  c.search.space.weight_decay = (1e-6, 1e-2)  # DomainBed's 10^U(-6, -2)
  c.search.space.l2_sp_weight = (1e-4, 1.0)  # around Li et al.'s 0.01-0.1, reaching both inert and binding
  c.search.space.align_weight = (1e-2, 10.0)  # DANN/CORAL/MMD weights used in their papers lie within 0.1-10

  # Settings of the strategies that have them (transfer/train/strategies.py: Knobs; static, bound at compile time).
  c.layer_decay = 2.6  # discriminative / ulmfit: LR divided by this per group below the head (ULMFiT's 2.6)
  c.probe_fraction = 0.5  # lp_ft: share of the steps spent training the head on the frozen backbone

  # Data (transfer/data/dataset.py, docs/data.md): 'synthetic' (transfer/data/synthetic.py), 'moons' (two half-moons
  # in 2-D, the target rotated; transfer/data/moons.py), 'digits' (scikit-learn's 8x8 digits: source 0-4, target 5-9;
  # needs the [digits] extra) or 'npz' (your file at data.path; see docs/data.md).
  c.data = ml_collections.ConfigDict()
  c.data.name = 'synthetic'  # which data source
  c.data.path = ''  # the .npz file when data.name = 'npz' (unused otherwise)
  c.data.module = ''  # or a data source of your own, 'package.module:function' (docs/extending.md; name is then
  #                     unused): it returns named arrays (an npz's) or a DataSource
  c.data.kwargs = ml_collections.ConfigDict()  # module: its keyword arguments (the source's own settings)
  c.data.same_classes = False  # True: the target's labels are the source's classes (unsupervised domain adaptation
  #   needs it): synthetic's target task is the source task (target_classes unused), digits splits every digit 0-9
  #   in half (source / target), an npz declares it (checked); moons always shares its two classes
  # Synthetic data (digits and npz ignore these; moons reads the sizes and noise):
  c.data.label_factors = 8  # latent factors that decide the class (shared by source and target)
  c.data.nuisance_factors = 8  # latent factors that only move the input
  c.data.input_dim = 64  # input width (and the generator's hidden width)
  c.data.generator_depth = 3  # tanh layers of the random generator
  c.data.generator_gain = 2.5  # pre-activation gain of each generator layer (higher = more non-linear)
  c.data.noise = 0.1  # std of Gaussian input noise (moons: on each coordinate of moons of radius 1)
  c.data.source_classes = 50  # source task classes (random projections of the label factors)
  c.data.source_pool = 30_000  # labelled source examples for pre-training
  c.data.target_classes = 5  # target task classes (other projections of the same factors)
  c.data.test_size = 2000  # target test examples per seed (and held-out source examples)
  c.data.shift_angle = math.pi / 6  # radians per unit of shift: synthetic rotates the generator's first layer
  #                                   (3 -> orthogonal), digits and moons rotate the target inputs (3 -> 90 degrees)
  c.data.adapt_source_pool = 5000  # labelled source examples a domain-adaptation run trains on
  c.data.unlabeled_pool = 2000  # unlabelled target examples (at the run's shift) for domain adaptation

  # Model.
  c.model = ml_collections.ConfigDict()
  c.model.name = 'auto'  # transfer/train/models.py: 'mlp', 'cnn', or 'auto' (the CNN for image-shaped examples)
  c.model.module = ''  # or any flax module following models.Model, as 'package.module:Class' (name is then unused)
  c.model.kwargs = ml_collections.ConfigDict()  # module: its keyword arguments (num_classes aside)
  c.model.width = 128  # mlp: units per backbone layer
  c.model.depth = 3  # mlp: backbone layers layer_0 .. layer_{depth-1}
  c.model.channels = (16, 32, 32)  # cnn: filters of the 3x3 conv layers layer_0 .. (stride 1, then 2)

  # Parameter groups: ordered (regex on 'layer_0/kernel'-style paths, group); first match wins; every parameter
  # must match a rule. Bottom group first: strategies read the order as depth.
  c.groups = ()  # () = one group per top-level module of the model, in the order it creates them, head_group last:
  #               (('^layer_0/', 'layer_0'), ..., ('^head/', 'head')) for the MLP and the CNN
  c.head_group = 'head'  # the group that is always re-initialised for the target classes

  # Pre-training on the source task, once per seed, cached by everything that determines it.
  c.pretrain = ml_collections.ConfigDict()
  c.pretrain.steps = 2000  # Adam steps on the source pool
  c.pretrain.batch_size = 256  # source minibatch size
  c.pretrain.lr = 1e-3  # source Adam LR
  c.pretrain.cache_dir = 'outputs/pretrained'  # shared by every experiment ('' = <workdir>/pretrained)

  # Or your own pre-trained backbone instead of pre-training here (README "Bring your own checkpoint").
  c.pretrained = ml_collections.ConfigDict()
  c.pretrained.checkpoint = ''  # parameters: msgpack file, orbax directory or flat npz ('' = pre-train here)
  c.pretrained.skip = '^head/'  # regex: parameters not loaded from it (start fresh); the head group never is

  # Report: which comparison table.md and plot.png show.
  c.report = ml_collections.ConfigDict()
  c.report.title = experiment  # heading of table.md and plot.png
  c.report.axis = 'shift'  # grid key along the table's rows: data_size, shift, lr_mult or layers_copied
  c.report.axis_label = 'Domain Shift'  # its column header
  c.report.transfer = 'fine_tuning'  # the strategy whose gain decides the verdict column
  c.report.baseline = 'scratch'  # gains are paired differences against this strategy
  c.report.log_x = False  # log-scale x axis in plot.png
  c.report.margin = 0.02  # claims: an accuracy difference within +-margin counts as equivalent (two one-sided tests)
  return c


def shrink_for_smoke(c: ml_collections.ConfigDict) -> None:
  """Makes `c` run in seconds for tests: 2 seeds, a tiny world, model and step counts."""
  c.seeds = 2
  c.steps = 20
  c.batch_size = 16
  c.data.source_pool = 512
  c.data.test_size = 128
  c.data.source_classes = 10
  c.data.adapt_source_pool = 256
  c.data.unlabeled_pool = 128
  c.model.width = 16
  c.model.channels = (4, 8, 8)
  c.pretrain.steps = 20
  c.pretrain.batch_size = 32
  c.pretrain.cache_dir = ''  # inside the (temporary) workdir
  c.selection.eval_every = 10
  c.selection.val_fraction = 0.5  # every 2nd example of a class validates: smoke sizes from 8 hold some
  c.search.num_samples = 3


def use_digits(c: ml_collections.ConfigDict) -> None:
  """Switches `c` to scikit-learn's digits (CNN backbone), in its own workdir outputs/<experiment>_digits."""
  c.experiment = f'{c.experiment}_digits'
  c.report.title = f'{c.report.title} (digits)'
  c.data.name = 'digits'
  c.model.name = 'cnn'


def use_moons(c: ml_collections.ConfigDict) -> None:
  """Switches `c` to the two moons (an MLP on 2-D inputs) with sizes that suit them, in its own workdir
  outputs/<experiment>_moons: 2,000 source examples (all of them for domain adaptation), 1,000 unlabelled target
  inputs and 1,000 test examples per seed."""
  c.experiment = f'{c.experiment}_moons'
  c.report.title = f'{c.report.title} (moons)'
  c.data.name = 'moons'
  c.data.source_pool = 2000
  c.data.adapt_source_pool = 2000
  c.data.unlabeled_pool = 1000
  c.data.test_size = 1000


Variant = Callable[[ml_collections.ConfigDict], None]


def budget(c: ml_collections.ConfigDict, epochs: int = 20, least: int = 200, most: int = 1500) -> int:
  """Target steps that pass `epochs` times over the training examples of the largest data size (four fifths of it
  under the search's validation split), between `least` and `most`, in whole hundreds (so a tenth of it, the default
  evaluation interval, divides it and LP-FT's half-way probe). Every lane of a program runs as long; early stopping
  picks the step, so small sizes are not overtrained, and the cap bounds the cost of the largest."""
  kept = 1 - c.selection.val_fraction if c.selection.mode == 'search' else 1
  steps = epochs * max(c.data_sizes) * kept / c.batch_size
  return int(min(most, max(least, -(-steps // 100) * 100)))


def use_fixed(c: ml_collections.ConfigDict) -> None:
  """Switches `c` to the fixed protocol the project used before model selection (one setting, 500 steps, every
  labelled example trains, the last step counts), in outputs/<experiment>_fixed."""
  c.experiment = f'{c.experiment}_fixed'
  c.report.title = f'{c.report.title} (fixed setting)'
  c.selection.mode = 'fixed'
  c.steps = 500


def finish(c: ml_collections.ConfigDict, arg: str | None, *, smoke: Variant | None = None,
           digits: Variant | None = None, extra: dict[str, Variant] | None = None) -> ml_collections.ConfigDict:
  """Applies the variants named in `arg` and locks `c`: the one variant syntax of every config.

  `arg` is what follows the config path's colon, comma-separated in any order ('smoke', 'digits,fixed', or None).
  'digits' (offered where the config passes a `digits` hook) switches to scikit-learn's digits and then applies the
  config's own changes for them; a config's `extra` variants (name -> its changes) come next; 'fixed' (always
  offered) runs the fixed protocol instead of the search, in its own workdir; 'smoke' (always offered) shrinks
  everything to seconds for tests and then applies the config's own `smoke` changes. An unknown variant is a
  ConfigError naming the ones offered.
  """
  extra = extra or {}
  offered = (('digits',) if digits else ()) + tuple(extra) + ('fixed', 'smoke')
  chosen = {v for v in (arg or '').split(',') if v}
  unknown = chosen - set(offered)
  if unknown:
    raise ConfigError(f'unknown variant {sorted(unknown)[0]!r}; use any of {offered}, comma-separated, or none')
  if 'digits' in chosen:
    use_digits(c)
    digits(c)
  for name, variant in extra.items():
    if name in chosen:
      variant(c)
  if 'fixed' in chosen:
    use_fixed(c)
  if c.steps == 0:
    c.steps = budget(c)
  if c.selection.eval_every == 0:
    c.selection.eval_every = c.steps // 10
  if 'smoke' in chosen:
    shrink_for_smoke(c)
    if smoke:
      smoke(c)
  c.lock()
  return c
