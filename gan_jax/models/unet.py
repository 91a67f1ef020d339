"""pix2pix: U-Net generator + PatchGAN discriminator (Isola et al. 2017, "Image-to-Image
Translation with Conditional Adversarial Networks", appendix 6.1.1; the authors'
`UnetGenerator`).

U-Net with D = num_downs levels on a condition image x (N, H, W, C_c), widths
w_i = ngf * min(2**i, 8):
  encoder  e_0 = Conv(4, 2, 1)(x);  e_i = norm(Conv(4, 2, 1)(LeakyReLU_0.2(e_{i-1})))
           (no normalization on e_0 nor on the innermost e_{D-1}, as the authors' code);
  decoder  u_{D-1} = norm(ConvT(4, 2, 1)(ReLU(e_{D-1})));
           u_i = norm(ConvT(4, 2, 1)(ReLU(concat[e_i, u_{i+1}]))) with w_{i-1} channels;
           output = tanh(ConvT(4, 2, 1)(ReLU(concat[e_0, u_1]))) with C_image channels.
Dropout(p) after the first `dropout_layers` decoder layers (innermost first; the paper's
CD512 layers) is G's only noise (rng 'dropout'), active in training, and at test time too
when `dropout_at_test` (as the paper samples). Weights ~ N(0, 0.02); convolutions before a
BatchNorm have no bias. num_downs = 0 takes the most levels the side allows (down to 1x1
for 32 px: 32 -> 16 -> 8 -> 4 -> 2 -> 1; 28 px allows 2: 28 -> 14 -> 7).

`build` is the 'pix2pix' architecture: G = U-Net on the condition; D = PatchGAN on
concat[condition, image] along channels (the objective concatenates).
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.models import layers
from gan_jax.models import normalization as norm_lib
from gan_jax.models import options
from gan_jax.models import patchgan

weight_init = nn.initializers.normal(stddev=0.02)


def max_downs(side: int) -> int:
  """The most stride-2 levels for an image side: halvings while the side is even."""
  n = 0
  while side % 2 == 0 and side > 1:
    side //= 2
    n += 1
  return n


def resolve_downs(side: int, num_downs: int) -> int:
  """`num_downs`, or the most levels the side allows when 0; errors when it does not fit."""
  most = max_downs(side)
  if num_downs == 0:
    if most == 0:
      raise ValueError(f'The U-Net needs an even image side; got {side}. Set '
                       'dataset.image_size=32 (the digit datasets pad 28 -> 32).')
    return most
  if num_downs < 0 or num_downs > most:
    raise ValueError(f'model.unet.num_downs={num_downs} does not fit {side}x{side} images: the '
                     f'side must be divisible by 2**num_downs (at most {most} levels here). '
                     'Set model.unet.num_downs=0 (as many as fit) or dataset.image_size=32.')
  return num_downs


class UNet(nn.Module):
  """U-Net generator: `g(condition, labels, train=...)` -> image in [-1, 1]; labels ignored."""

  out_channels: int
  ngf: int = 64
  num_downs: int = 5
  normalization: str = 'batch'
  dropout: float = 0.5
  dropout_layers: int = 3
  dropout_at_test: bool = False
  axis_name: Optional[str] = None
  conv_impl: str = layers.DEFAULT_CONV_IMPLEMENTATION
  conv_transpose_impl: str = layers.DEFAULT_CONV_TRANSPOSE_IMPLEMENTATION
  dtype: Any = None  # Compute dtype (None: float32); params stay float32.

  def _norm(self, train: bool, name: str) -> nn.Module:
    return norm_lib.normalization(self.normalization, train=train, axis_name=self.axis_name,
                                  scale_init=norm_lib.bn_scale_init, dtype=self.dtype,
                                  name=name)

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    del labels
    depth = self.num_downs
    widths = [self.ngf * min(2**i, 8) for i in range(depth)]
    use_bias = self.normalization != 'batch'
    skips = []
    h = x.astype(self.dtype or x.dtype)
    for i in range(depth):
      if i > 0:
        h = nn.leaky_relu(h, 0.2)
      h = layers.Conv2D(widths[i], 4, 2, 1, use_bias=use_bias, implementation=self.conv_impl,
                        kernel_init=weight_init, dtype=self.dtype, name=f'down{i}')(h)
      if 0 < i < depth - 1:
        h = self._norm(train, f'down_norm{i}')(h)
      skips.append(h)
    deterministic = not (train or self.dropout_at_test)
    for i in reversed(range(depth)):
      if i < depth - 1:
        h = jnp.concatenate([skips[i], h], axis=-1)
      h = nn.relu(h)
      outermost = i == 0
      h = layers.ConvTranspose2D(self.out_channels if outermost else widths[i - 1], 4, 2, 1,
                                 use_bias=use_bias or outermost,
                                 implementation=self.conv_transpose_impl,
                                 kernel_init=weight_init, dtype=self.dtype, name=f'up{i}')(h)
      if outermost:
        break
      h = self._norm(train, f'up_norm{i}')(h)
      if depth - 1 - i < self.dropout_layers and self.dropout > 0:
        h = nn.Dropout(self.dropout, name=f'dropout{i}')(h, deterministic=deterministic)
    return jnp.tanh(h.astype(jnp.float32))


def check_condition(name: str, data_shape, condition_shape):
  if condition_shape is None:
    raise ValueError(f"model.name='{name}' translates a condition image: use a dataset with "
                     "one (dataset.name='paired_digits' or 'unpaired_digits').")
  if len(data_shape) != 3 or tuple(condition_shape[:2]) != tuple(data_shape[:2]):
    raise ValueError(f"model.name='{name}' needs images (H, W, C) with the condition's H, W; "
                     f'got data shape {data_shape} and condition shape {condition_shape}.')


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int], condition_shape: Optional[tuple[int, ...]]):
  """The 'pix2pix' architecture -> (make_generator, make_discriminator, io)."""
  del num_classes
  check_condition('pix2pix', data_shape, condition_shape)
  data_shape, condition_shape = tuple(data_shape), tuple(condition_shape)
  u, p = model_config.unet, model_config.patchgan
  norm_lib.check_normalization(u.normalization, 'model.unet.normalization')
  norm_lib.check_normalization(p.normalization, 'model.patchgan.normalization')
  options.check_rate(u.dropout, 'model.unet.dropout')
  depth = resolve_downs(data_shape[0], u.num_downs)
  patchgan.check_geometry(data_shape[0], p.num_layers)
  dtype = options.compute_dtype(model_config.compute_dtype)

  def make_generator(axis_name):
    return UNet(out_channels=data_shape[-1], ngf=u.ngf, num_downs=depth,
                normalization=u.normalization, dropout=u.dropout,
                dropout_layers=u.dropout_layers, dropout_at_test=u.dropout_at_test,
                axis_name=axis_name, dtype=dtype)

  def make_discriminator(axis_name):
    return patchgan.PatchGAN(ndf=p.ndf, num_layers=p.num_layers, normalization=p.normalization,
                             axis_name=axis_name, dtype=dtype)

  io = {'generator_input': condition_shape,
        'discriminator_input': (*data_shape[:2], condition_shape[-1] + data_shape[-1])}
  return make_generator, make_discriminator, io
