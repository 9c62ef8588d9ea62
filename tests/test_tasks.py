import jax
import jax.numpy as jnp
import numpy as np

from transfer import tasks

SPEC = tasks.TaskSpec(source_pool=256, target_pool=64, test_size=64, source_classes=10)


def test_world_is_a_function_of_the_key():
  a, b = tasks.make_world(jax.random.key(3), SPEC), tasks.make_world(jax.random.key(3), SPEC)
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_shift_moves_inputs_but_not_labels():
  world = tasks.make_world(jax.random.key(0), SPEC)
  key = jax.random.key(1)
  base = tasks.sample(world, key, 64, task='target', shift=0.0, spec=SPEC)
  shifted = tasks.sample(world, key, 64, task='target', shift=3.0, spec=SPEC)
  np.testing.assert_array_equal(base.y, shifted.y)
  assert float(jnp.abs(base.x - shifted.x).mean()) > 0.1


def test_zero_shift_renders_with_the_source_generator():
  world = tasks.make_world(jax.random.key(0), SPEC)
  z = jax.random.normal(jax.random.key(2), (8, SPEC.latent_dim))
  noise = jax.random.key(4)
  np.testing.assert_array_equal(tasks.render(world, z, noise, shift=0.0, spec=SPEC),
                                tasks.render(world, z, noise, shift=jnp.float32(0.0), spec=SPEC))
  assert not np.allclose(tasks.render(world, z, noise, shift=0.5, spec=SPEC),
                         tasks.render(world, z, noise, shift=0.0, spec=SPEC))


def test_source_and_target_use_their_own_classes():
  world = tasks.make_world(jax.random.key(0), SPEC)
  source = tasks.sample(world, jax.random.key(1), 256, task='source', shift=0.0, spec=SPEC)
  target = tasks.sample(world, jax.random.key(1), 256, task='target', shift=0.0, spec=SPEC)
  assert set(np.unique(source.y)) <= set(range(SPEC.source_classes))
  assert set(np.unique(target.y)) <= set(range(SPEC.target_classes))
  assert len(np.unique(source.y)) > SPEC.target_classes  # many classes actually occur
  assert source.x.shape == (256, SPEC.input_dim) and source.x.dtype == jnp.float32
