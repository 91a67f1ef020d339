"""DCGAN (Radford, Metz & Chintala 2015) for square images of side base * 2**k.

Generator: z -> ConvTranspose(k=base, s=1, p=0) to a base x base map with
width * 2**(k-1) channels -> k-1 x [BN, ReLU, ConvTranspose(4, 2, 1), halving channels]
-> BN, ReLU, ConvTranspose(4, 2, 1) to the image channels -> tanh.
Discriminator, mirrored: k x [Conv(4, 2, 1), (BN except first), LeakyReLU(0.2)] ->
Conv(k=base, s=1, p=0) to one logit. Weights ~ N(0, 0.02), BN scale ~ N(1, 0.02).

With base 4 and 64x64x3 this is exactly the PyTorch examples' DCGAN (ngf = ndf = 64);
28x28 uses base 7 (two up/down-sampling stages), 32x32 base 4 (three stages).

Config fields (configs/default.py holds the defaults; the defaults give the network above):
  model.dcgan.conv_transpose_impl / conv_impl: how G's transposed and D's strided
    convolutions are computed (gan_jax.models.layers); every choice is the same function of
    the same parameters, only the speed of the gradients differs.
  model.dcgan.d_normalization: normalization after each D convolution but the first:
    'batch' (BatchNorm, as DCGAN), 'layer' (LayerNorm over H, W, C of each example with a
    per-channel scale and bias, as the WGAN-GP critic of Gulrajani et al. 2017) or 'none'.
    Gradient penalties need 'layer' or 'none': BatchNorm in D mixes the examples of a batch,
    so grad_x sum_i D(x_i) is no longer the per-example input gradient.
  model.dcgan.g_fc_width / d_fc_width (0: none): a hidden fully connected layer, as in
    InfoGAN's MNIST nets (1,024 each): G's z -> Dense -> BN -> ReLU before the projection;
    D's flattened last map -> Dense -> d_normalization -> LeakyReLU(0.2) = phi(x), which
    a Dense logit and the heads (Q, class, projection) read.
  model.d_spectral_norm, g_spectral_norm: wrap every (transposed) convolution of D / G in
    flax's `nn.SpectralNorm` (Miyato et al. 2018; kernel reshaped to (k*k*C_in, C_out),
    `spectral_norm_steps` power iterations per call, u and sigma in 'batch_stats', updated
    only when train=True). BatchNorm layers are kept.
  model.dcgan.d_bias: a bias in every D convolution and Dense (default off: DCGAN's D has
    none, BatchNorm follows). Without biases or normalization ('none') D is positively
    homogeneous, D(a x) = a D(x) for a > 0: an all-zero (grey) image scores exactly 0, so
    under the hinge loss G can hold D's fake logit at 0 by drawing grey (the failure of
    configs/sngan_projection.py before it set d_bias).
  model.d_dropout: dropout rate after each LeakyReLU of D (rng name 'dropout').
  model.compute_dtype: 'bfloat16' computes convolutions in bfloat16 (float32 params).
  model.g_conditioning ('concat': [z, E[y]] into the first layer; 'cbn': every BN of G
    conditional, tables initialized N(1, 0.02) like the plain scales), d_conditioning
    ('concat': label channels appended to the image; 'projection'), d_class_head, d_q_head:
    gan_jax.models.conditioning, with phi(x) = the flattened last feature map of D (the
    projection reads its spatial sum).
BatchNorm is gan_jax.models.normalization's (two-pass variance, PyTorch's momentum and eps).
"""

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

dcgan_weight_init = nn.initializers.normal(stddev=0.02)

D_NORMALIZATIONS = ('batch', 'layer', 'none')


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
  conditioning: cond_lib.Conditioning = cond_lib.UNCONDITIONAL
  fc_width: int = 0  # > 0: Dense(fc_width) -> BN -> ReLU before the projection (InfoGAN's).

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    cond = self.conditioning
    base, stages = _geometry(self.image_shape[0])
    if cond.g == 'concat':
      z = cond_lib.concat_label_embedding(z, labels, cond)
    x = z.reshape(z.shape[0], 1, 1, z.shape[-1]).astype(self.dtype or z.dtype)
    features = self.width * 2 ** (stages - 1)
    sn = dict(spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps, train=train)
    if self.fc_width:
      fc = nn.Dense(self.fc_width, use_bias=False, kernel_init=dcgan_weight_init,
                    dtype=self.dtype, name='fc')
      x = layers.apply_layer(fc, x, **sn)
      x = cond_lib.generator_batch_norm(x, labels, cond, train=train, axis_name=self.axis_name,
                                        scale_init=norm_lib.bn_scale_init, name='fc_bn')
      x = nn.relu(x)
    project = layers.ConvTranspose2D(features, base, 1, 0, use_bias=False,
                                     implementation=self.conv_transpose_impl,
                                     kernel_init=dcgan_weight_init, dtype=self.dtype,
                                     name='project')
    x = layers.apply_layer(project, x, **sn)
    for i in range(stages):
      x = cond_lib.generator_batch_norm(x, labels, cond, train=train, axis_name=self.axis_name,
                                        scale_init=norm_lib.bn_scale_init, name=f'bn{i}')
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
  conditioning: cond_lib.Conditioning = cond_lib.UNCONDITIONAL
  minibatch: minibatch_lib.MinibatchOptions = minibatch_lib.NO_MINIBATCH
  fc_width: int = 0  # > 0: Dense(fc_width) -> norm -> LeakyReLU = phi(x) (InfoGAN's).
  use_bias: bool = False  # Biases in every conv / Dense (model.dcgan.d_bias).

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> Any:
    """Logits (N,), or a dict {'logit', heads...} when a head is on."""
    cond = self.conditioning
    base, stages = _geometry(self.image_shape[0])
    x = x.astype(self.dtype or x.dtype)
    if cond.d == 'concat':
      x = cond_lib.concat_label_map(x, labels, cond)
    sn = dict(spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps, train=train)
    for i in range(stages):
      conv = layers.Conv2D(self.width * 2 ** i, 4, 2, 1, use_bias=self.use_bias,
                           implementation=self.conv_impl, kernel_init=dcgan_weight_init,
                           dtype=self.dtype, name=f'down{i}')
      x = layers.apply_layer(conv, x, **sn)
      if i > 0 and self.normalization == 'batch':
        x = norm_lib.normalization('batch', train=train, axis_name=self.axis_name,
                                   scale_init=norm_lib.bn_scale_init, name=f'bn{i}')(x)
      elif i > 0 and self.normalization == 'layer':
        x = norm_lib.normalization('layer', train=train, name=f'ln{i}')(x)
      x = nn.leaky_relu(x, 0.2)
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, name=f'dropout{i}')(x, deterministic=not train)
    if self.fc_width:
      fc = nn.Dense(self.fc_width, use_bias=self.use_bias, kernel_init=dcgan_weight_init,
                    dtype=self.dtype, name='fc')
      h = minibatch_lib.apply(x, self.minibatch, self.axis_name)
      h = layers.apply_layer(fc, h.reshape(x.shape[0], -1), **sn)
      if self.normalization != 'none':  # On (N, 1, 1, F): LayerNorm then spans the F units.
        h = norm_lib.normalization(self.normalization, train=train, axis_name=self.axis_name,
                                   scale_init=norm_lib.bn_scale_init,
                                   name='fc_norm')(h[:, None, None, :])[:, 0, 0, :]
      features = nn.leaky_relu(h, 0.2)  # phi(x), shared by the logit and the heads.
      logit = nn.Dense(1, use_bias=self.use_bias, kernel_init=dcgan_weight_init,
                       dtype=self.dtype, name='logit')
      logit = layers.apply_layer(logit, features, **sn)
      projection_features = features
    else:
      features = x.reshape(x.shape[0], -1)  # phi(x): the logit conv is a Dense on it.
      logit = nn.Conv(1, (base, base), padding='VALID', use_bias=self.use_bias,
                      kernel_init=dcgan_weight_init, dtype=self.dtype, name='logit')
      logit = layers.apply_layer(logit, minibatch_lib.apply(x, self.minibatch, self.axis_name),
                                 **sn)
      projection_features = jnp.sum(x, axis=(1, 2))
    self.sow('intermediates', 'features', features)
    logit = logit.reshape(x.shape[0]).astype(jnp.float32)
    return cond_lib.discriminator_output(logit, features, labels, cond, train=train,
                                         spectral_norm=self.spectral_norm,
                                         n_steps=self.spectral_norm_steps, dtype=self.dtype,
                                         projection_features=projection_features,
                                         axis_name=self.axis_name)


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int]):
  if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
    raise ValueError(f'DCGAN needs square images (H, W, C); got data shape {data_shape}. '
                     'Use model.name=mlp for vector data.')
  dtype = options.compute_dtype(model_config.compute_dtype)
  own = model_config.dcgan
  for name, choices in (('conv_transpose_impl', layers.CONV_TRANSPOSE_IMPLEMENTATIONS),
                        ('conv_impl', layers.CONV_IMPLEMENTATIONS)):
    options.check_choice(own[name], choices, f'model.dcgan.{name}')
  dropout = options.check_rate(model_config.d_dropout, 'model.d_dropout')
  options.check_choice(own.d_normalization, D_NORMALIZATIONS, 'model.dcgan.d_normalization')
  sn_steps = int(model_config.spectral_norm_steps)
  cond = cond_lib.from_config(model_config, num_classes, 'dcgan')
  fc_widths = tuple(int(own.get(f'{p}_fc_width', 0)) for p in ('g', 'd'))
  for p, width in zip('gd', fc_widths):
    if width < 0:
      raise ValueError(f'model.dcgan.{p}_fc_width must be >= 0 (0: no hidden Dense layer); '
                       f'got {width}.')

  def make_generator(axis_name):
    return DCGANGenerator(data_shape, model_config.g_width, axis_name, own.conv_transpose_impl,
                          dtype, spectral_norm=bool(model_config.g_spectral_norm),
                          spectral_norm_steps=sn_steps, conditioning=cond,
                          fc_width=fc_widths[0])

  def make_discriminator(axis_name):
    return DCGANDiscriminator(data_shape, model_config.d_width, axis_name, dtype,
                              spectral_norm=bool(model_config.d_spectral_norm),
                              spectral_norm_steps=sn_steps, dropout=dropout,
                              normalization=own.d_normalization, conv_impl=own.conv_impl,
                              conditioning=cond,
                              minibatch=minibatch_lib.from_config(model_config),
                              fc_width=fc_widths[1], use_bias=bool(own.get('d_bias', False)))

  return make_generator, make_discriminator
