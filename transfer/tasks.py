"""Synthetic task family in which transfer actually matters.

A *world* (one per seed) is a deep, high-gain random tanh network that renders latent factors into inputs, plus
random class projections. Latents are `label` factors (which decide the class) and `nuisance` factors (which
only move the input). Source and target tasks share the generator and the label factors but use independent
class projections, so features that recover the label factors from the input transfer, while the classes do not.

`shift` rotates the generator's first layer toward an independent one by the angle `shift * shift_angle`
(0 = the source's generator, `pi/2` = an unrelated first layer), so the target's inputs move away from the
source's while its labels keep the same meaning.

Everything here is pure and shape-static: it runs inside the compiled training run, vmapped over seeds and shifts.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class TaskSpec:
  """Static shape and scale parameters of the synthetic task family (hashable: safe as a jit static)."""

  label_factors: int = 8
  nuisance_factors: int = 8
  input_dim: int = 64
  generator_depth: int = 3
  generator_gain: float = 2.5
  noise: float = 0.1
  source_classes: int = 50
  source_pool: int = 30_000
  target_classes: int = 5
  target_pool: int = 1000
  test_size: int = 2000
  shift_angle: float = math.pi / 6
  adapt_source_pool: int = 5000  # labelled source examples a domain-adaptation run trains on
  unlabeled_pool: int = 2000  # unlabelled target examples (at the run's shift) for domain adaptation

  @property
  def latent_dim(self) -> int:
    return self.label_factors + self.nuisance_factors


class World(NamedTuple):
  """Random parameters of one world: the generator and both tasks' class projections."""

  generator: tuple[jax.Array, ...]  # generator_depth weight matrices, first one (latent_dim, input_dim)
  shifted_first_layer: jax.Array  # independent first layer the shift rotates toward
  source_projection: jax.Array  # (label_factors, source_classes)
  target_projection: jax.Array  # (label_factors, target_classes)


class Split(NamedTuple):
  """Labelled examples: inputs (n, input_dim) float32 and integer labels (n,)."""

  x: jax.Array
  y: jax.Array


def make_world(key: jax.Array, spec: TaskSpec) -> World:
  """Draws one world's generator and class projections from `key`."""
  keys = jax.random.split(key, spec.generator_depth + 3)
  dims = [spec.latent_dim] + [spec.input_dim] * spec.generator_depth
  generator = tuple(
      jax.random.normal(k, (d_in, d_out)) for k, d_in, d_out in zip(keys, dims[:-1], dims[1:]))
  shifted = jax.random.normal(keys[-3], (spec.latent_dim, spec.input_dim))
  source = jax.random.normal(keys[-2], (spec.label_factors, spec.source_classes))
  target = jax.random.normal(keys[-1], (spec.label_factors, spec.target_classes))
  return World(generator, shifted, source, target)


def render(world: World, z: jax.Array, noise_key: jax.Array, *, shift: jax.Array | float,
           spec: TaskSpec) -> jax.Array:
  """Maps latents (n, latent_dim) to inputs (n, input_dim) through the (possibly shifted) generator."""
  angle = shift * spec.shift_angle
  first = jnp.cos(angle) * world.generator[0] + jnp.sin(angle) * world.shifted_first_layer
  h = z
  for w in (first,) + world.generator[1:]:
    h = jnp.tanh(spec.generator_gain * (h @ w) / math.sqrt(w.shape[0]))
  return h + spec.noise * jax.random.normal(noise_key, h.shape)


def sample(world: World, key: jax.Array, n: int, *, task: str, shift: jax.Array | float,
           spec: TaskSpec) -> Split:
  """Draws `n` labelled examples of `task` ('source' or 'target') rendered at `shift`."""
  if task not in ('source', 'target'):
    raise ValueError(f"task must be 'source' or 'target', got {task!r}")
  projection = world.source_projection if task == 'source' else world.target_projection
  z_key, noise_key = jax.random.split(key)
  z = jax.random.normal(z_key, (n, spec.latent_dim))
  y = jnp.argmax(z[:, :spec.label_factors] @ projection, axis=-1).astype(jnp.int32)
  return Split(render(world, z, noise_key, shift=shift, spec=spec), y)
