import jax
import jax.numpy as jnp
import numpy as np

from transfer.data import synthetic

SPEC = synthetic.SyntheticTask(source_pool=256, target_pool=64, test_size=64, source_classes=10)


def test_world_is_a_function_of_the_key():
  a, b = synthetic.make_world(jax.random.key(3), SPEC), synthetic.make_world(jax.random.key(3), SPEC)
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_shift_moves_inputs_but_not_labels():
  world = synthetic.make_world(jax.random.key(0), SPEC)
  key = jax.random.key(1)
  base = synthetic.sample(world, key, 64, which='target', shift=0.0, task=SPEC)
  shifted = synthetic.sample(world, key, 64, which='target', shift=3.0, task=SPEC)
  np.testing.assert_array_equal(base.y, shifted.y)
  assert float(jnp.abs(base.x - shifted.x).mean()) > 0.1


def test_zero_shift_renders_with_the_source_generator():
  """Shift 0 is the unrotated generator: its layers applied as they are, written out here."""
  world = synthetic.make_world(jax.random.key(0), SPEC)
  z = jax.random.normal(jax.random.key(2), (8, SPEC.latent_dim))
  noise = jax.random.key(4)
  h = z
  for w in world.generator:
    h = jnp.tanh(SPEC.generator_gain * (h @ w) / np.sqrt(w.shape[0]))
  by_hand = h + SPEC.noise * jax.random.normal(noise, h.shape)
  np.testing.assert_allclose(synthetic.render(world, z, noise, shift=jnp.float32(0.0), task=SPEC), by_hand,
                             atol=1e-6, rtol=0)
  assert not np.allclose(synthetic.render(world, z, noise, shift=0.5, task=SPEC),
                         synthetic.render(world, z, noise, shift=0.0, task=SPEC))


def test_source_and_target_use_their_own_classes():
  world = synthetic.make_world(jax.random.key(0), SPEC)
  source = synthetic.sample(world, jax.random.key(1), 256, which='source', shift=0.0, task=SPEC)
  target = synthetic.sample(world, jax.random.key(1), 256, which='target', shift=0.0, task=SPEC)
  assert set(np.unique(source.y)) <= set(range(SPEC.source_classes))
  assert set(np.unique(target.y)) <= set(range(SPEC.target_classes))
  assert len(np.unique(source.y)) > SPEC.target_classes  # many classes actually occur
  assert source.x.shape == (256, SPEC.input_dim) and source.x.dtype == jnp.float32
