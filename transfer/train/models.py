"""Pure flax.linen models whose parameters fall into named layer groups, and how a config names one.

A model is any `flax.linen.Module` that follows the `Model` protocol: its top-level submodules are the parameter
groups (by default, one group per submodule, bottom first, the head last), `features(x)` is the backbone and
`classify(features)` the head, so a frozen backbone's output can be computed once. `config.model.name` picks one of
this package's (`MODELS`: the MLP and the CNN, whose backbone layers are `layer_0`, `layer_1`, ... and whose
classifier is `head`), or `config.model.module = 'package.module:Class'` names one defined anywhere, built with
`config.model.kwargs`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp

from transfer import importing


class Model(Protocol):
  """What every strategy needs of a model: a `flax.linen.Module` (a dataclass) with these members.

  The runner builds it as `Class(num_classes=..., **config.model.kwargs)`: once with the source task's classes (to
  pre-train) and once with the target's. Its parameters' top-level names are its groups: by default (an empty
  `config.groups`) each top-level submodule is one group, in the order the model creates them (which `features`
  decides: bottom first), and the head, the submodule named `config.head_group` ('head'), comes last. Domain
  adaptation reuses the pre-trained source head where the classes differ, applying it as an `nn.Dense`, so the head
  is one `nn.Dense` on the features.
  """

  num_classes: int  # outputs of the head (a dataclass field the runner sets)

  def features(self, x: jax.Array) -> jax.Array:
    """The backbone: examples (n, *input_shape) -> features (n, d), what a frozen backbone hands to the head."""

  def classify(self, features: jax.Array) -> jax.Array:
    """The head alone: features (n, d) -> logits (n, num_classes); it reads only the head's parameters."""

  def __call__(self, x: jax.Array) -> jax.Array:
    """Logits: `classify(features(x))`."""


def backbone_features(params, x: jax.Array, *, model: nn.Module) -> jax.Array:
  """The backbone's output for `x` under the model's `params`: `model.features(x)`."""
  return model.apply({'params': params}, x, method=model.features)


def source_head_logits(head: dict, features: jax.Array) -> jax.Array:
  """The pre-trained source head (a Dense layer's parameters) applied to backbone features."""
  return nn.Dense(head['bias'].shape[0]).apply({'params': head}, features)


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


class Registered(NamedTuple):
  """A model of this package that `config.model.name` names."""

  build: Callable[..., nn.Module]  # (model_config, num_classes, input_shape) -> the module
  key: Callable[..., dict]  # model_config -> the fields that determine the model (part of the source-model cache key)


def build_mlp(model_config, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
  del input_shape  # any: inputs are flattened
  return MLP(width=model_config.width, depth=model_config.depth, num_classes=num_classes)


def build_cnn(model_config, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
  if not is_image(input_shape):
    raise ValueError(f"model.name = 'cnn' needs image-shaped examples (H, W[, C]), got {input_shape}")
  return CNN(channels=tuple(model_config.channels), num_classes=num_classes)


MODELS = {
    'mlp': Registered(build_mlp, lambda m: {'name': 'mlp', 'width': m.width, 'depth': m.depth}),
    'cnn': Registered(build_cnn, lambda m: {'name': 'cnn', 'channels': list(m.channels)}),
}
MODEL_NAMES = ('auto', *MODELS)  # 'auto': the CNN for image-shaped examples, else the MLP


def module_path(model_config) -> str:
  """`config.model.module` ('' where the config has none: `name` picks the model)."""
  return model_config.get('module', '') or ''


def module_kwargs(model_config) -> dict:
  """`config.model.kwargs` as a plain dict."""
  kwargs = model_config.get('kwargs') or {}
  return kwargs.to_dict() if hasattr(kwargs, 'to_dict') else dict(kwargs)


def module_class(path: str) -> type[nn.Module]:
  """The `Model` class that `path` ('package.module:Class') names; a ValueError saying what is wrong."""
  found = importing.named(path, 'Class')
  module_name, _, attribute = path.partition(':')
  if not (isinstance(found, type) and issubclass(found, nn.Module)):
    raise ValueError(f'{module_name!r} has no flax.linen.Module class {attribute!r}')
  missing = [m for m in ('features', 'classify') if not callable(getattr(found, m, None))]
  missing += [] if 'num_classes' in {f.name for f in dataclasses.fields(found)} else ['a num_classes field']
  if missing:
    raise ValueError(f'{path} lacks {", ".join(missing)} (see transfer.train.models.Model)')
  return found


def resolved_name(model_config, input_shape: tuple[int, ...]) -> str:
  """'mlp' or 'cnn' (`model.name`, where 'auto' picks the CNN for image-shaped examples), or `model.module`'s path."""
  if module_path(model_config):
    return module_path(model_config)
  if model_config.name not in MODEL_NAMES:
    raise ValueError(f'model.name must be one of {MODEL_NAMES}, got {model_config.name!r}')
  if model_config.name == 'auto':
    return 'cnn' if is_image(input_shape) else 'mlp'
  return model_config.name


def model_key(model_config, input_shape: tuple[int, ...]) -> dict:
  """The fields that determine the built model (what keys a cache of pre-trained models): a named model's fields, or
  a module's path, keyword arguments and class source (so editing the class pre-trains its source models again)."""
  path = module_path(model_config)
  if not path:
    return MODELS[resolved_name(model_config, input_shape)].key(model_config)
  try:
    source = hashlib.sha256(inspect.getsource(module_class(path)).encode()).hexdigest()[:16]
  except (OSError, TypeError):  # no source file (defined interactively): the path and arguments alone
    source = None
  return {'module': path, 'kwargs': module_kwargs(model_config), 'source': source}


def make_model(model_config, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
  """Builds the model `model_config` names for examples of `input_shape`, with `num_classes` outputs."""
  path = module_path(model_config)
  if path:
    return module_class(path)(num_classes=num_classes, **module_kwargs(model_config))
  return MODELS[resolved_name(model_config, input_shape)].build(model_config, num_classes, input_shape)


def param_shapes(model_config, num_classes: int, input_shape: tuple[int, ...]):
  """The parameter tree's shapes (jax.ShapeDtypeStruct leaves), without computing anything; its top-level entries
  in the order the model creates them (bottom first), which the default group rules follow."""
  model = make_model(model_config, num_classes, input_shape)
  order = []

  def init(key, x):
    params = model.init(key, x)['params']
    order.extend(params)  # creation order: jax.eval_shape hands dicts back with their keys sorted
    return params

  shapes = jax.eval_shape(init, jax.random.key(0), jnp.zeros((1, *input_shape)))
  return {name: shapes[name] for name in order}
