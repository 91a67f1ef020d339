"""DCGAN (Radford, Metz & Chintala 2015) for square images of side base * 2**k.

Generator: z -> ConvTranspose(k=base, s=1, p=0) to a base x base map with
width * 2**(k-1) channels -> k-1 x [BN, ReLU, ConvTranspose(4, 2, 1), halving channels]
-> BN, ReLU, ConvTranspose(4, 2, 1) to the image channels -> tanh.
Discriminator, mirrored: k x [Conv(4, 2, 1), (BN except first), LeakyReLU(0.2)] ->
Conv(k=base, s=1, p=0) to one logit. Weights ~ N(0, 0.02), BN scale ~ N(1, 0.02).

With base 4 and 64x64x3 this is exactly the PyTorch examples' DCGAN (ngf = ndf = 64);
28x28 uses base 7 (two up/down-sampling stages), 32x32 base 4 (three stages).

Options (model_config.get, default; the defaults give the network above):
  conv_transpose_impl / conv_impl ('space_to_depth'): how G's transposed and D's strided
    convolutions are computed (gan_jax.models.layers); every choice is the same function of
    the same parameters, only the speed of the gradients differs.
  d_spectral_norm (False), g_spectral_norm (False): wrap every (transposed) convolution of
    D / G in flax's `nn.SpectralNorm` (Miyato et al. 2018; kernel reshaped to
    (k*k*C_in, C_out), `spectral_norm_steps` (1) power iterations per call, u and sigma in
    'batch_stats', updated only when train=True). BatchNorm layers are kept.
  d_dropout (0.0): dropout rate after each LeakyReLU of D (rng name 'dropout').
  d_normalization ('batch'): normalization after each D convolution but the first:
    'batch' (BatchNorm, as DCGAN), 'layer' (LayerNorm over H, W, C of each example with a
    per-channel scale and bias, as the WGAN-GP critic of Gulrajani et al. 2017) or 'none'.
    Gradient penalties need 'layer' or 'none': BatchNorm in D mixes the examples of a batch,
    so grad_x sum_i D(x_i) is no longer the per-example input gradient.
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.models import layers

dcgan_weight_init = nn.initializers.normal(stddev=0.02)


def _bn_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _batch_norm(train: bool, axis_name: Optional[str], name: str) -> nn.BatchNorm:
  # momentum 0.9 == PyTorch's momentum 0.1; eps as PyTorch.
  # Two-pass variance (mean of squared deviations): E[x^2]-E[x]^2 cancels badly in float32
  # for DCGAN's small initial activations, and then depends on the device summation order.
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      use_fast_variance=False,
                      axis_name=axis_name if train else None, scale_init=_bn_scale_init,
                      name=name)


D_NORMALIZATIONS = ('batch', 'layer', 'none')


def _layer_norm(name: str) -> nn.LayerNorm:
  # Per example over (H, W, C), per-channel scale/bias: Gulrajani et al.'s Layernorm([1,2,3]).
  return nn.LayerNorm(epsilon=1e-5, reduction_axes=(-3, -2, -1), feature_axes=-1,
                      use_fast_variance=False, name=name)


def _geometry(image_size: int) -> tuple[int, int]:
  """Returns (base, number of stride-2 stages) with image_size = base * 2**stages."""
  for base in (4, 7, 3, 5, 6):
    size, stages = image_size, 0
    while size > base and size % 2 == 0:
      size //= 2
      stages += 1
    if size == base and stages >= 1:
      return base, stages
  raise ValueError(f'DCGAN needs an image side of 4, 7, 3, 5 or 6 times a power of two '
                   f'(e.g. 28, 32, 64); got {image_size}. Set dataset.image_size to resize.')


class DCGANGenerator(nn.Module):
  image_shape: tuple[int, int, int]
  width: int = 64
  axis_name: Optional[str] = None
  conv_transpose_impl: str = layers.DEFAULT_CONV_TRANSPOSE_IMPLEMENTATION
  dtype: Any = None
  spectral_norm: bool = False
  spectral_norm_steps: int = 1

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    del labels  # Unconditional.
    base, stages = _geometry(self.image_shape[0])
    x = z.reshape(z.shape[0], 1, 1, z.shape[-1]).astype(self.dtype or z.dtype)
    features = self.width * 2 ** (stages - 1)
    sn = dict(spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps, train=train)
    project = layers.ConvTranspose2D(features, base, 1, 0, use_bias=False,
                                     implementation=self.conv_transpose_impl,
                                     kernel_init=dcgan_weight_init, dtype=self.dtype,
                                     name='project')
    x = layers.apply_layer(project, x, **sn)
    for i in range(stages):
      x = _batch_norm(train, self.axis_name, f'bn{i}')(x)
      x = nn.relu(x)
      last = i == stages - 1
      features = self.image_shape[-1] if last else features // 2
      up = layers.ConvTranspose2D(features, 4, 2, 1, use_bias=False,
                                  implementation=self.conv_transpose_impl,
                                  kernel_init=dcgan_weight_init, dtype=self.dtype, name=f'up{i}')
      x = layers.apply_layer(up, x, **sn)
    return jnp.tanh(x.astype(jnp.float32))


class DCGANDiscriminator(nn.Module):
  image_shape: tuple[int, int, int]
  width: int = 64
  axis_name: Optional[str] = None
  dtype: Any = None
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  dropout: float = 0.0
  normalization: str = 'batch'
  conv_impl: str = layers.DEFAULT_CONV_IMPLEMENTATION

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    del labels
    base, stages = _geometry(self.image_shape[0])
    x = x.astype(self.dtype or x.dtype)
    sn = dict(spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps, train=train)
    for i in range(stages):
      conv = layers.Conv2D(self.width * 2 ** i, 4, 2, 1, use_bias=False,
                           implementation=self.conv_impl, kernel_init=dcgan_weight_init,
                           dtype=self.dtype, name=f'down{i}')
      x = layers.apply_layer(conv, x, **sn)
      if i > 0 and self.normalization == 'batch':
        x = _batch_norm(train, self.axis_name, f'bn{i}')(x)
      elif i > 0 and self.normalization == 'layer':
        x = _layer_norm(f'ln{i}')(x)
      x = nn.leaky_relu(x, 0.2)
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, name=f'dropout{i}')(x, deterministic=not train)
    logit = nn.Conv(1, (base, base), padding='VALID', use_bias=False,
                    kernel_init=dcgan_weight_init, dtype=self.dtype, name='logit')
    x = layers.apply_layer(logit, x, **sn)
    return x.reshape(x.shape[0]).astype(jnp.float32)


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int]):
  del num_classes
  if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
    raise ValueError(f'DCGAN needs square images (H, W, C); got data shape {data_shape}. '
                     'Use model.name=mlp for vector data.')
  dtype = jnp.bfloat16 if model_config.get('compute_dtype', 'float32') == 'bfloat16' else None
  impl = model_config.get('conv_transpose_impl', layers.DEFAULT_CONV_TRANSPOSE_IMPLEMENTATION)
  conv_impl = model_config.get('conv_impl', layers.DEFAULT_CONV_IMPLEMENTATION)
  for name, value, choices in (('conv_transpose_impl', impl, layers.CONV_TRANSPOSE_IMPLEMENTATIONS),
                               ('conv_impl', conv_impl, layers.CONV_IMPLEMENTATIONS)):
    if value not in choices:
      raise ValueError(f'Unknown model.{name} {value!r}; choose one of {sorted(choices)}.')
  sn_steps = int(model_config.get('spectral_norm_steps', 1))
  g_sn = bool(model_config.get('g_spectral_norm', False))
  d_sn = bool(model_config.get('d_spectral_norm', False))
  dropout = float(model_config.get('d_dropout', 0.0))
  if not 0.0 <= dropout < 1.0:
    raise ValueError(f'model.d_dropout is a rate in [0, 1); got {dropout}.')
  d_norm = model_config.get('d_normalization', 'batch')
  if d_norm not in D_NORMALIZATIONS:
    raise ValueError(f'Unknown model.d_normalization {d_norm!r}; choose one of '
                     f'{D_NORMALIZATIONS}.')

  def make_generator(axis_name):
    return DCGANGenerator(data_shape, model_config.g_width, axis_name, impl, dtype,
                          spectral_norm=g_sn, spectral_norm_steps=sn_steps)

  def make_discriminator(axis_name):
    return DCGANDiscriminator(data_shape, model_config.d_width, axis_name, dtype,
                              spectral_norm=d_sn, spectral_norm_steps=sn_steps,
                              dropout=dropout, normalization=d_norm, conv_impl=conv_impl)

  return make_generator, make_discriminator
