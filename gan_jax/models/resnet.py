"""SNGAN ResNet generator and discriminator (Miyato et al. 2018, appendix B.4, CIFAR-10).

Generator (32x32): z -> Dense(4*4*g_width) -> 3 x GBlock(up) -> BN -> ReLU -> Conv3x3(C)
-> tanh, where GBlock(x) = conv3(relu(bn(conv3(up(relu(bn(x))))))) + conv1(up(x)) and
`up` is 2x nearest-neighbour upsampling.
Discriminator (32x32): OptimizedDBlock(down) -> DBlock(down) -> DBlock -> DBlock -> ReLU ->
global sum pool -> Dense(1), where
  OptimizedDBlock(x) = pool(conv3(relu(conv3(x)))) + conv1(pool(x)),
  DBlock(x) = [pool](conv3(relu(conv3(relu(x))))) + [conv1 -> pool](x) (identity shortcut
  when neither the width nor the resolution changes), pool = 2x2 average pooling.
In the paper every D layer is spectrally normalized (here model.d_spectral_norm: flax
`nn.SpectralNorm`, spectral_norm_steps power iterations per call, state in 'batch_stats');
the paper's widths are g_width=256, d_width=128.
Residual-branch convs use Glorot-uniform init with gain sqrt(2), shortcuts and the dense
layers gain 1, as in the authors' code.

Other sizes: G starts at base x base with size = base * 2**stages (base in 4..7, e.g. 28 =
7 * 2**2 with two up-blocks, 64 = 4 * 2**4); D downsamples (optimized block first) while the
side is > 8 and even, then adds non-downsampling blocks up to 4 blocks in all (28: 28 ->
14 -> 7, then two blocks at 7x7).

Config fields (defaults in configs/default.py): model.g_width, d_width (the paper's 256 and
128), model.d_spectral_norm (on in the paper: configs/sngan.py sets it), g_spectral_norm,
spectral_norm_steps; model.compute_dtype ('bfloat16': convolutions and dense layers in
bfloat16, float32 params). model.d_dropout must be 0 (no dropout in this D). BatchNorm is
gan_jax.models.normalization's (scale initialized to 1, as the authors' code).
Conditioning (gan_jax.models.conditioning): model.g_conditioning 'concat' ([z, E[y]] into
`project`) or 'cbn' (the blocks' BatchNorms conditional, tables initialized to 1 and 0; the
last BN before `to_image` stays plain, as in Miyato & Koyama's code), d_conditioning
'concat' (label channels appended to the image) or 'projection', and d_class_head,
d_q_head on phi(x) = the global sum pool.
"""

import math
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.models import conditioning as cond_lib
from gan_jax.models import layers
from gan_jax.models import minibatch as minibatch_lib
from gan_jax.models import normalization as norm_lib
from gan_jax.models import options

residual_init = nn.initializers.variance_scaling(2.0, 'fan_avg', 'uniform')  # gain sqrt(2)
shortcut_init = nn.initializers.xavier_uniform()


def generator_geometry(image_size: int) -> tuple[int, int]:
  """Returns (base, number of up-blocks) with image_size = base * 2**stages."""
  for base in (4, 7, 5, 6):
    if image_size % base == 0:
      ratio = image_size // base
      if ratio >= 2 and ratio & (ratio - 1) == 0:
        return base, int(math.log2(ratio))
  raise ValueError(f'The SNGAN ResNet needs an image side of 4, 5, 6 or 7 times a power of two '
                   f'(e.g. 28, 32, 48, 64); got {image_size}. Set dataset.image_size to resize.')


def discriminator_downsamples(image_size: int) -> int:
  """Number of 2x downsampling blocks: halve while the side is > 8 and even (at least 1)."""
  size, downs = image_size, 0
  while size > 8 and size % 2 == 0:
    size //= 2
    downs += 1
  return max(downs, 1)


def _upsample(x: jax.Array) -> jax.Array:
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _avg_pool(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (2, 2), (2, 2))


class _Layers:
  """Builds convs/denses, wrapped in spectral norm when asked (update_stats=train)."""

  def __init__(self, spectral_norm: bool, n_steps: int, train: bool, dtype: Any):
    self.spectral_norm, self.n_steps, self.train = spectral_norm, n_steps, train
    self.dtype = dtype

  def __call__(self, layer: nn.Module, x: jax.Array) -> jax.Array:
    return layers.apply_layer(layer, x, spectral_norm=self.spectral_norm, n_steps=self.n_steps,
                              train=self.train)

  def conv(self, features, kernel, init, name):
    return nn.Conv(features, (kernel, kernel), padding='SAME', kernel_init=init,
                   dtype=self.dtype, name=name)

  def dense(self, features, init, name):
    return nn.Dense(features, kernel_init=init, dtype=self.dtype, name=name)


class GeneratorBlock(nn.Module):
  features: int
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  axis_name: Optional[str] = None
  dtype: Any = None
  conditioning: cond_lib.Conditioning = cond_lib.UNCONDITIONAL

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    apply = _Layers(self.spectral_norm, self.spectral_norm_steps, train, self.dtype)
    bn = lambda h, name: cond_lib.generator_batch_norm(
        h, labels, self.conditioning, train=train, axis_name=self.axis_name, name=name)
    h = _upsample(nn.relu(bn(x, 'bn0')))
    h = apply(apply.conv(self.features, 3, residual_init, 'conv0'), h)
    h = nn.relu(bn(h, 'bn1'))
    h = apply(apply.conv(self.features, 3, residual_init, 'conv1'), h)
    shortcut = apply(apply.conv(self.features, 1, shortcut_init, 'shortcut'), _upsample(x))
    return h + shortcut


class DiscriminatorBlock(nn.Module):
  features: int
  downsample: bool
  optimized: bool = False  # First block: no pre-activation, pool before the 1x1 shortcut.
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    apply = _Layers(self.spectral_norm, self.spectral_norm_steps, train, self.dtype)
    h = x if self.optimized else nn.relu(x)
    h = apply(apply.conv(self.features, 3, residual_init, 'conv0'), h)
    h = apply(apply.conv(self.features, 3, residual_init, 'conv1'), nn.relu(h))
    if self.downsample:
      h = _avg_pool(h)
    if self.optimized:
      shortcut = apply(apply.conv(self.features, 1, shortcut_init, 'shortcut'), _avg_pool(x))
    elif self.downsample or x.shape[-1] != self.features:
      shortcut = apply(apply.conv(self.features, 1, shortcut_init, 'shortcut'), x)
      shortcut = _avg_pool(shortcut) if self.downsample else shortcut
    else:
      shortcut = x
    return h + shortcut


class ResNetGenerator(nn.Module):
  image_shape: tuple[int, int, int]
  width: int = 256
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  axis_name: Optional[str] = None
  dtype: Any = None
  conditioning: cond_lib.Conditioning = cond_lib.UNCONDITIONAL

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    base, stages = generator_geometry(self.image_shape[0])
    if self.conditioning.g == 'concat':
      z = cond_lib.concat_label_embedding(z, labels, self.conditioning)
    apply = _Layers(self.spectral_norm, self.spectral_norm_steps, train, self.dtype)
    x = apply(apply.dense(base * base * self.width, shortcut_init, 'project'),
              z.astype(self.dtype or z.dtype))
    x = x.reshape(z.shape[0], base, base, self.width)
    for i in range(stages):
      x = GeneratorBlock(self.width, self.spectral_norm, self.spectral_norm_steps,
                         self.axis_name, self.dtype, self.conditioning,
                         name=f'block{i}')(x, labels, train=train)
    x = norm_lib.normalization('batch', train=train, axis_name=self.axis_name, name='bn')(x)
    x = apply(apply.conv(self.image_shape[-1], 3, shortcut_init, 'to_image'), nn.relu(x))
    return jnp.tanh(x.astype(jnp.float32))


class ResNetDiscriminator(nn.Module):
  image_shape: tuple[int, int, int]
  width: int = 128
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  num_blocks: int = 4
  dtype: Any = None
  conditioning: cond_lib.Conditioning = cond_lib.UNCONDITIONAL
  minibatch: minibatch_lib.MinibatchOptions = minibatch_lib.NO_MINIBATCH
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> Any:
    """Logits (N,), or a dict {'logit', heads...} when a head is on."""
    cond = self.conditioning
    downs = discriminator_downsamples(self.image_shape[0])
    x = x.astype(self.dtype or x.dtype)
    if cond.d == 'concat':
      x = cond_lib.concat_label_map(x, labels, cond)
    for i in range(max(self.num_blocks, downs)):
      x = DiscriminatorBlock(self.width, downsample=i < downs, optimized=i == 0,
                             spectral_norm=self.spectral_norm,
                             spectral_norm_steps=self.spectral_norm_steps, dtype=self.dtype,
                             name=f'block{i}')(x, train=train)
    features = jnp.sum(nn.relu(x).astype(jnp.float32), axis=(1, 2))  # phi: global sum pool.
    self.sow('intermediates', 'features', features)
    apply = _Layers(self.spectral_norm, self.spectral_norm_steps, train, self.dtype)
    logit = apply(apply.dense(1, shortcut_init, 'logit'),
                  minibatch_lib.apply(features, self.minibatch, self.axis_name))
    logit = logit.reshape(logit.shape[0]).astype(jnp.float32)
    return cond_lib.discriminator_output(logit, features, labels, cond, train=train,
                                         spectral_norm=self.spectral_norm,
                                         n_steps=self.spectral_norm_steps, dtype=self.dtype,
                                         axis_name=self.axis_name)


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int]):
  """Returns (make_generator, make_discriminator) for the SNGAN ResNet pair."""
  if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
    raise ValueError(f'The ResNet needs square images (H, W, C); got data shape {data_shape}. '
                     'Use model.name=mlp for vector data.')
  generator_geometry(data_shape[0])  # Fail early on unsupported sizes.
  if data_shape[0] < 8:
    raise ValueError(f'The ResNet needs images of side >= 8; got {data_shape[0]}.')
  if float(model_config.d_dropout) != 0.0:
    raise ValueError(f'The ResNet discriminator has no dropout; set model.d_dropout=0 (got '
                     f'{model_config.d_dropout}).')
  dtype = options.compute_dtype(model_config.compute_dtype)
  sn_steps = int(model_config.spectral_norm_steps)
  cond = cond_lib.from_config(model_config, num_classes, 'resnet')

  def make_generator(axis_name):
    return ResNetGenerator(data_shape, int(model_config.g_width),
                           bool(model_config.g_spectral_norm), sn_steps, axis_name, dtype,
                           conditioning=cond)

  def make_discriminator(axis_name):
    return ResNetDiscriminator(data_shape, int(model_config.d_width),
                               bool(model_config.d_spectral_norm), sn_steps, dtype=dtype,
                               conditioning=cond,
                               minibatch=minibatch_lib.from_config(model_config),
                               axis_name=axis_name)

  return make_generator, make_discriminator
