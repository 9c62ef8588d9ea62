"""Models: the CNN's layer groups, 'auto' picking the backbone by the data's shape, the CNN's convolution."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import common
from transfer.train import optim
from transfer.train import models


def model_config(name='auto'):
  return ml_collections.ConfigDict({'name': name, 'width': 8, 'depth': 3, 'channels': (4, 8, 8)})


def test_the_default_group_rules_cover_the_cnn_one_group_per_conv_layer():
  shapes = models.param_shapes(model_config('cnn'), 5, (8, 8))
  rules = optim.resolve_rules(common.base('x').groups, shapes, head_group='head')
  assert rules == tuple((f'^layer_{i}/', f'layer_{i}') for i in range(3)) + (('^head/', 'head'),)
  labels = optim.assign_groups(shapes, rules)
  assert labels == {f'layer_{i}': {'kernel': f'layer_{i}', 'bias': f'layer_{i}'} for i in range(3)} | {
      'head': {'kernel': 'head', 'bias': 'head'}}
  assert shapes['layer_1']['kernel'].shape == (3, 3, 4, 8)
  assert shapes['head']['kernel'].shape == (2 * 2 * 8, 5)  # 8x8 -> 8x8 -> 4x4 -> 2x2


@pytest.mark.parametrize('depth', [3, 4, 12])
def test_the_default_groups_are_the_top_level_modules_bottom_first_head_last(depth):
  """One group per layer in the order the model creates them (layer_10 after layer_9, not after layer_1): for
  depth 3, exactly the rules configs spelt out before groups defaulted to ()."""
  config = model_config('mlp')
  config.depth = depth
  shapes = models.param_shapes(config, 5, (6,))
  rules = optim.resolve_rules((), shapes, head_group='head')
  assert rules == tuple((f'^layer_{i}/', f'layer_{i}') for i in range(depth)) + (('^head/', 'head'),)
  explicit = (('^layer_', 'backbone'), ('^head/', 'head'))
  assert optim.resolve_rules(explicit, shapes, head_group='head') == explicit  # explicit rules win


def test_the_named_models_keep_their_cache_key_fields():
  assert models.model_key(model_config('mlp'), (6,)) == {'name': 'mlp', 'width': 8, 'depth': 3}
  assert models.model_key(model_config(), (8, 8)) == {'name': 'cnn', 'channels': [4, 8, 8]}


def test_a_module_path_names_a_model_class_or_says_what_is_wrong():
  assert models.module_class('transfer.train.models:MLP') is models.MLP
  for path, message in [('transfer.train.models.MLP', 'package.module:Class'), ('no_such_package:Net', 'import'),
                        ('transfer.train.models:Nope', 'no flax.linen.Module'),
                        ('transfer.train.models:DomainDiscriminator', 'features, classify, a num_classes field')]:
    with pytest.raises(ValueError, match=message):
      models.module_class(path)


def test_auto_picks_the_cnn_for_images_and_the_mlp_for_vectors():
  assert isinstance(models.make_model(model_config(), 5, (8, 8)), models.CNN)
  assert isinstance(models.make_model(model_config(), 5, (8, 8, 3)), models.CNN)
  assert isinstance(models.make_model(model_config(), 5, (64,)), models.MLP)
  mlp = models.make_model(model_config('mlp'), 5, (8, 8))  # an MLP on images flattens them
  assert models.param_shapes(model_config('mlp'), 5, (8, 8))['layer_0']['kernel'].shape == (64, 8)
  assert isinstance(mlp, models.MLP)


def test_the_conv_layer_is_a_zero_padded_3x3_convolution():
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  layer = models.Conv3x3(5, stride=1)
  params = layer.init(jax.random.key(1), x)
  reference = nn.Conv(5, (3, 3), padding=((1, 1), (1, 1)))
  # Both sides in full float32: on a GPU, XLA's default precision lets f32 matmuls and cuDNN convolutions round their
  # inputs to TF32 (10-bit mantissa, ~1e-3 relative), and differently for the im2col matmul and the convolution. The
  # check is of the layer's arithmetic, so it is compared at 'highest' everywhere; on CPU that is the default anyway.
  with jax.default_matmul_precision('highest'):
    ours, theirs = layer.apply(params, x), reference.apply(params, x)
    strided = models.Conv3x3(5, stride=2).apply(params, x)
    expected = nn.Conv(5, (3, 3), strides=2, padding=((1, 1), (1, 1))).apply(params, x)
  np.testing.assert_allclose(ours, theirs, atol=1e-5)
  assert strided.shape == (2, 4, 4, 5)
  np.testing.assert_allclose(strided, expected, atol=1e-5)
  assert jnp.all(jnp.isfinite(strided))
