"""Image transforms applied inside the compiled run (pure, vmappable): the shift axis of image data."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def rotate(images: jax.Array, angle: jax.Array | float) -> jax.Array:
  """Rotates each image (n, H, W) or (n, H, W, C) by `angle` radians about its centre (bilinear, zero fill)."""
  height, width = images.shape[1:3]
  rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32),
                            indexing='ij')
  cy, cx = (height - 1) / 2, (width - 1) / 2
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  # The output pixel (r, c) reads the input at the inverse rotation of (r, c) about the centre.
  src_rows = cy + cos * (rows - cy) - sin * (cols - cx)
  src_cols = cx + sin * (rows - cy) + cos * (cols - cx)

  def one_plane(plane):
    return jax.scipy.ndimage.map_coordinates(plane, [src_rows, src_cols], order=1, mode='constant', cval=0.0)

  if images.ndim == 3:
    return jax.vmap(one_plane)(images)
  return jax.vmap(jax.vmap(one_plane, in_axes=-1, out_axes=-1))(images)
