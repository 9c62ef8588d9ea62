"""The proxy A-distance: about 0 for one distribution, about 2 for separated ones, growing with the gap between
them, deterministic given its key, and vmappable over a batch of feature sets as the sweep would run it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from transfer import compiler
from transfer.train import diagnostics


def features(key, n, dim=16, gap=0.0):
  """n Gaussian feature vectors, moved by `gap` standard deviations along the first axis."""
  return jax.random.normal(key, (n, dim)) + gap * jnp.eye(dim)[0]


def pair(seed, gap, n_source=400, n_target=400):
  source_key, target_key = jax.random.split(jax.random.key(seed))
  return features(source_key, n_source), features(target_key, n_target, gap=gap)


def test_one_distribution_gives_a_distance_near_zero():
  pads = [float(diagnostics.proxy_a_distance(*pair(seed, 0.0), jax.random.key(seed))) for seed in range(6)]
  assert max(abs(p) for p in pads) < 0.4, pads
  assert abs(np.mean(pads)) < 0.15, pads


def test_unequal_set_sizes_of_one_distribution_still_give_a_distance_near_zero():
  """The error is balanced over the two domains, so 3:1 sizes do not pass for a difference."""
  pads = [float(diagnostics.proxy_a_distance(*pair(seed, 0.0, 600, 200), jax.random.key(seed))) for seed in range(4)]
  assert abs(np.mean(pads)) < 0.2, pads


def test_separated_distributions_give_a_distance_near_two():
  assert float(diagnostics.proxy_a_distance(*pair(0, 8.0), jax.random.key(0))) > 1.95
  # separable only jointly (along a diagonal of standardised features), still linear
  source = jax.random.normal(jax.random.key(1), (300, 2))
  target = source[:, ::-1] * jnp.array([1.0, -1.0]) + 6.0 * jnp.array([1.0, -1.0]) / np.sqrt(2)
  assert float(diagnostics.proxy_a_distance(source, target, jax.random.key(2))) > 1.9


def test_the_distance_grows_with_the_gap():
  gaps = (0.0, 0.5, 1.0, 2.0, 4.0)
  pads = [float(np.mean([diagnostics.proxy_a_distance(*pair(s, g), jax.random.key(s)) for s in range(3)]))
          for g in gaps]
  assert all(a < b for a, b in zip(pads, pads[1:])), pads
  # one Gaussian moved by g standard deviations: the best error is Phi(-g/2), so PAD = 2 (1 - 2 Phi(-g/2))
  np.testing.assert_allclose(pads[2], 2 * (1 - 2 * 0.3085), atol=0.2)


def test_it_is_deterministic_given_the_key_and_the_key_picks_the_halves():
  source, target = pair(0, 1.0)
  a, b = (diagnostics.domain_error(source, target, jax.random.key(5)) for _ in range(2))
  assert float(a) == float(b)
  others = {float(diagnostics.domain_error(source, target, jax.random.key(k))) for k in range(6)}
  assert len(others) > 1


def test_it_vmaps_over_a_batch_of_feature_sets_under_jit():
  gaps = (0.0, 1.0, 8.0)
  sources, targets = (jnp.stack(x) for x in zip(*(pair(i, g) for i, g in enumerate(gaps))))
  keys = jax.random.split(jax.random.key(0), len(gaps))
  batched = compiler.jit(jax.vmap(diagnostics.proxy_a_distance))(sources, targets, keys)
  assert batched.shape == (len(gaps),)
  single = [diagnostics.proxy_a_distance(s, t, k) for s, t, k in zip(sources, targets, keys)]
  np.testing.assert_allclose(batched, single, atol=0.02)  # at most a borderline example apart
  assert float(batched[0]) < 0.4 < float(batched[1]) < 1.95 < float(batched[2])


def test_features_of_any_shape_are_flattened_and_too_few_examples_are_refused():
  source, target = pair(0, 8.0)
  images = diagnostics.proxy_a_distance(source.reshape(400, 4, 4), target.reshape(400, 2, 8), jax.random.key(0))
  assert float(images) > 1.95
  with pytest.raises(ValueError, match='>= 2 examples per domain'):
    diagnostics.proxy_a_distance(source[:1], target, jax.random.key(0))
