"""Pure flax.linen models whose parameters fall into named layer groups.

Every backbone layer is a top-level submodule `layer_{i}` and the classifier is `head`, so parameter paths read
`layer_0/kernel`, ..., `head/bias`: the names the group rules in a config match against. Every model offers
`features(x)` (the backbone) and `classify(features)` (the head), so a frozen backbone's output can be computed once.
"""

from __future__ import annotations

import flax.linen as nn
import jax


class MLP(nn.Module):
  """ReLU MLP: `depth` hidden layers of `width` units (`layer_0 .. layer_{depth-1}`), then a linear `head`."""

  width: int
  depth: int
  num_classes: int

  def setup(self):
    for i in range(self.depth):
      setattr(self, f'layer_{i}', nn.Dense(self.width))
    self.head = nn.Dense(self.num_classes)

  def features(self, x: jax.Array) -> jax.Array:
    """The backbone's output: what a frozen backbone hands to the head."""
    for i in range(self.depth):
      x = nn.relu(getattr(self, f'layer_{i}')(x))
    return x

  def classify(self, features: jax.Array) -> jax.Array:
    """The head alone, on backbone outputs (for training a head on precomputed features)."""
    return self.head(features)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.classify(self.features(x))


class DomainDiscriminator(nn.Module):
  """Source-vs-target classifier on backbone features, for DANN: one hidden ReLU layer, one logit."""

  width: int = 64

  @nn.compact
  def __call__(self, features: jax.Array) -> jax.Array:
    return nn.Dense(1)(nn.relu(nn.Dense(self.width)(features)))[..., 0]


def param_shapes(model_config, num_classes: int, input_dim: int):
  """The parameter tree's shapes (jax.ShapeDtypeStruct leaves), without computing anything."""
  model = make_model(model_config, num_classes)
  return jax.eval_shape(model.init, jax.random.key(0), jax.numpy.zeros((1, input_dim)))['params']


def make_model(model_config, num_classes: int) -> nn.Module:
  """Builds the model named by `model_config.name` with `num_classes` outputs."""
  if model_config.name != 'mlp':
    raise ValueError(f"model.name must be 'mlp', got {model_config.name!r}")
  return MLP(width=model_config.width, depth=model_config.depth, num_classes=num_classes)
