"""Two interleaving half-moons in 2-D, the toy problem of domain adaptation (Ganin et al. 2016, section 5.1): the
source is the labelled moons, the target the same moons rotated about their centre, with the same two classes.

The moons are scikit-learn's `make_moons` (class 0: the upper arc (cos t, sin t); class 1: the lower arc
(1 - cos t, 1/2 - sin t); t uniform in [0, pi]), translated so that their centre (1/2, 1/4), which is also their
mean, is the origin, plus Gaussian noise of std `noise` on each coordinate. Example i has label i % 2, so every
prefix of a pool (every data size) is balanced. `shift` rotates the target's inputs counter-clockwise about the
centre by `shift * shift_angle` radians (pi/6 per unit: 1 = 30 degrees, 3 = 90 degrees, the rotation digits use
too); the labels do not change, so shift 0 is the source distribution itself and a shift moves only the inputs.

Like the synthetic family, every split is generated inside the compiled run from the lane's seed and shift (this
source passes no arrays), with the seed's keys (transfer/keys.py), so every strategy sees the same data per seed.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from transfer import keys as keys_lib
from transfer.data import source
from transfer.types import AdaptData
from transfer.types import Lane
from transfer.types import Split

CENTRE = (0.5, 0.25)  # the moons' centre (and mean) in make_moons' coordinates: the origin here


def moons(key: jax.Array, n: int, *, noise: float) -> Split:
  """`n` labelled points of the centred moons, unrotated; example i has label i % 2. Drawn as arrays of `n`, so a
  smaller `n` from the same key gives the first examples of a larger one (JAX's partitionable threefry)."""
  t_key, noise_key = jax.random.split(key)
  t = jax.random.uniform(t_key, (n,), maxval=math.pi)
  y = (jnp.arange(n) % 2).astype(jnp.int32)
  upper = jnp.stack([jnp.cos(t), jnp.sin(t)], axis=-1)
  lower = jnp.stack([1.0 - jnp.cos(t), 0.5 - jnp.sin(t)], axis=-1)
  x = jnp.where((y == 0)[:, None], upper, lower) - jnp.array(CENTRE)
  return Split(x + noise * jax.random.normal(noise_key, (n, 2)), y)


def rotate(x: jax.Array, angle: jax.Array | float) -> jax.Array:
  """Points (n, 2) rotated counter-clockwise about the origin by `angle` radians (elementwise, so a GPU's TF32
  matmuls cannot round it)."""
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  return jnp.stack([cos * x[:, 0] - sin * x[:, 1], sin * x[:, 0] + cos * x[:, 1]], axis=-1)


@dataclasses.dataclass(frozen=True)
class MoonsData:
  """Static sizes and scales of the moons (hashable: safe as a jit static); the target pool holds the largest
  data size."""

  source_pool: int = 2000  # labelled source examples for pre-training
  test_size: int = 1000  # target test examples per seed (and held-out source examples)
  target_pool: int = 1000  # labelled target examples per lane: the largest data size
  adapt_source_pool: int = 2000  # labelled source examples a domain-adaptation run trains on (the source pool's
  #                                first ones, drawn with its key)
  unlabeled_pool: int = 1000  # unlabelled target inputs (at the run's shift) for domain adaptation
  noise: float = 0.1  # std of the Gaussian noise on each coordinate
  shift_angle: float = math.pi / 6  # radians of rotation per unit of shift
  name: str = 'moons'
  input_shape: tuple[int, ...] = (2,)
  source_classes: int = 2
  target_classes: int = 2
  has_shift: bool = True  # the shift rotates the target's inputs
  has_unlabeled: bool = True  # unlabelled target inputs are generated like the rest
  same_classes: bool = True  # the target's two classes are the source's two moons

  def sample(self, key: jax.Array, n: int, shift: jax.Array | float) -> Split:
    """`n` labelled examples rotated by `shift * shift_angle` (shift 0: exactly `moons(key, n)`)."""
    split = moons(key, n, noise=self.noise)
    return Split(rotate(split.x, shift * self.shift_angle), split.y)

  def source_splits(self, arrays: tuple, seed: jax.Array) -> tuple[Split, Split]:
    """The seed's source pool (pre-training) and held-out source test set, unrotated."""
    del arrays
    keys = keys_lib.seed_keys(seed)
    test_key, _ = jax.random.split(keys.source_test)
    return moons(keys.source_pool, self.source_pool, noise=self.noise), moons(test_key, self.test_size,
                                                                               noise=self.noise)

  def target_splits(self, arrays: tuple, lane: Lane) -> tuple[Split, Split]:
    """The lane's labelled target pool and its test set, rotated by the lane's shift."""
    del arrays
    keys = keys_lib.seed_keys(lane.seed)
    pool_key, _ = jax.random.split(keys.target_pool)
    test_key, _ = jax.random.split(keys.target_test)
    return self.sample(pool_key, self.target_pool, lane.shift), self.sample(test_key, self.test_size, lane.shift)

  def source_validation(self, arrays: tuple, seed: jax.Array, n: int) -> Split:
    """`n` labelled source examples (unrotated) that neither pre-training nor adaptation trains on: an independent
    draw (fold_in 3 of the source test key, which the test set and domain_samples only split)."""
    del arrays
    return moons(jax.random.fold_in(keys_lib.seed_keys(seed).source_test, 3), n, noise=self.noise)

  def adapt_data(self, arrays: tuple, lane: Lane) -> AdaptData:
    """Labelled source examples (unrotated) and unlabelled target inputs at the lane's shift, drawn apart from the
    labelled target pool."""
    del arrays
    keys = keys_lib.seed_keys(lane.seed)
    _, unlabeled_key = jax.random.split(keys.target_pool)
    source = moons(keys.source_pool, self.adapt_source_pool, noise=self.noise)
    return AdaptData(source, self.sample(unlabeled_key, self.unlabeled_pool, lane.shift).x)

  def domain_samples(self, arrays: tuple, seed: jax.Array, shift: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """`n` source and target inputs (target at `shift`) that no training run sees: for the advisor."""
    del arrays
    keys = keys_lib.seed_keys(seed)
    _, source_key = jax.random.split(keys.source_test)
    _, target_key = jax.random.split(keys.target_test)
    return moons(source_key, n, noise=self.noise).x, self.sample(target_key, n, shift).x


SOURCE_FIELDS = ('noise', 'source_pool', 'test_size')  # config.data's fields the source models depend on (the key)
FIELDS = SOURCE_FIELDS + ('shift_angle', 'adapt_source_pool', 'unlabeled_pool')


def moons_data(config) -> MoonsData:
  """The moons' static sizes: the data config's fields; the target pool holds the largest data size."""
  return MoonsData(**{f: config.data[f] for f in FIELDS}, target_pool=source.pool_size(config))


def dataset(config) -> source.Dataset:
  return source.Dataset(moons_data(config), (), {'name': 'moons', **{f: config.data[f] for f in SOURCE_FIELDS}})


check = source.check_generated

