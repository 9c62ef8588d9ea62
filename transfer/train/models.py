"""Pure flax.linen models whose parameters fall into named layer groups.

Every backbone layer is a top-level submodule `layer_{i}` and the classifier is `head`, so parameter paths read
`layer_0/kernel`, ..., `head/bias`: the names the group rules in a config match against. Every model offers
`features(x)` (the backbone) and `classify(features)` (the head), so a frozen backbone's output can be computed once.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

MODEL_NAMES = ('auto', 'mlp', 'cnn')


class MLP(nn.Module):
  """ReLU MLP: `depth` hidden layers of `width` units (`layer_0 .. layer_{depth-1}`), then a linear `head`.

  Inputs of any trailing shape are flattened, so image data runs through it too. With `dtype` (e.g. jnp.bfloat16)
  every layer computes in it (inputs and parameters cast for the matmul) while the parameters stay float32, and the
  logits come back in float32 for the loss; None (the default) is the unchanged float32 model.
  """

  width: int
  depth: int
  num_classes: int
  dtype: Any = None  # computation dtype of every layer (None: that of the inputs and float32 parameters)

  def setup(self):
    for i in range(self.depth):
      setattr(self, f'layer_{i}', nn.Dense(self.width, dtype=self.dtype))
    self.head = nn.Dense(self.num_classes, dtype=self.dtype)

  def features(self, x: jax.Array) -> jax.Array:
    """The backbone's output: what a frozen backbone hands to the head."""
    x = x.reshape(x.shape[0], -1)
    for i in range(self.depth):
      x = nn.relu(getattr(self, f'layer_{i}')(x))
    return x

  def classify(self, features: jax.Array) -> jax.Array:
    """The head alone, on backbone outputs (for training a head on precomputed features)."""
    logits = self.head(features)
    return logits if self.dtype is None else logits.astype(jnp.float32)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.classify(self.features(x))


class Conv3x3(nn.Module):
  """3x3 convolution, zero padding 1, as one matmul over the 9 shifted copies of the input (im2col by slicing).

  Under `vmap` over lanes, `nn.Conv` becomes a grouped convolution, which XLA's CPU backend ran several times slower
  than this batched matmul during development. Parameters are shaped like `nn.Conv`'s (3, 3, in, out).
  """

  features: int
  stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    height, width, channels = x.shape[-3:]
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (3, 3, channels, self.features))
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    s = self.stride
    patches = jnp.concatenate([padded[:, i:i + height:s, j:j + width:s, :] for i in range(3) for j in range(3)],
                              axis=-1)
    return patches @ kernel.reshape(9 * channels, self.features) + bias


class CNN(nn.Module):
  """Small ReLU CNN for images (n, H, W) or (n, H, W, C): conv `layer_i` with `channels[i]` filters (stride 1
  first, then stride 2 each), flattened, then a linear `head`."""

  channels: tuple[int, ...]
  num_classes: int

  def setup(self):
    for i, c in enumerate(self.channels):
      setattr(self, f'layer_{i}', Conv3x3(c, stride=1 if i == 0 else 2))
    self.head = nn.Dense(self.num_classes)

  def features(self, x: jax.Array) -> jax.Array:
    if x.ndim == 3:
      x = x[..., None]
    for i in range(len(self.channels)):
      x = nn.relu(getattr(self, f'layer_{i}')(x))
    return x.reshape(x.shape[0], -1)

  def classify(self, features: jax.Array) -> jax.Array:
    return self.head(features)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.classify(self.features(x))


class DomainDiscriminator(nn.Module):
  """Source-vs-target classifier on backbone features, for DANN: one hidden ReLU layer, one logit."""

  width: int = 64

  @nn.compact
  def __call__(self, features: jax.Array) -> jax.Array:
    return nn.Dense(1)(nn.relu(nn.Dense(self.width)(features)))[..., 0]


def is_image(input_shape: tuple[int, ...]) -> bool:
  """Whether one example of this shape is an image: (H, W) or (H, W, C)."""
  return len(input_shape) in (2, 3)


def resolved_name(model_config, input_shape: tuple[int, ...]) -> str:
  """'mlp' or 'cnn': `model.name`, where 'auto' picks the CNN for image-shaped examples."""
  if model_config.name not in MODEL_NAMES:
    raise ValueError(f'model.name must be one of {MODEL_NAMES}, got {model_config.name!r}')
  if model_config.name == 'auto':
    return 'cnn' if is_image(input_shape) else 'mlp'
  return model_config.name


def model_key(model_config, input_shape: tuple[int, ...]) -> dict:
  """The fields that determine the built model (what keys a cache of pre-trained models)."""
  name = resolved_name(model_config, input_shape)
  if name == 'cnn':
    return {'name': 'cnn', 'channels': list(model_config.channels)}
  return {'name': 'mlp', 'width': model_config.width, 'depth': model_config.depth}


def make_model(model_config, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
  """Builds the model `model_config` names for examples of `input_shape`, with `num_classes` outputs."""
  if resolved_name(model_config, input_shape) == 'cnn':
    if not is_image(input_shape):
      raise ValueError(f"model.name = 'cnn' needs image-shaped examples (H, W[, C]), got {input_shape}")
    return CNN(channels=tuple(model_config.channels), num_classes=num_classes)
  return MLP(width=model_config.width, depth=model_config.depth, num_classes=num_classes)


def param_shapes(model_config, num_classes: int, input_shape: tuple[int, ...]):
  """The parameter tree's shapes (jax.ShapeDtypeStruct leaves), without computing anything."""
  model = make_model(model_config, num_classes, input_shape)
  return jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *input_shape)))['params']
