"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"),
sized for small images (4x4 up to the data's side, a power of two >= 8).

Generator = mapping network + synthesis network:
- **Mapping**: z normalized to the unit second moment (z / sqrt(mean z^2), i.e. onto the
  sphere of radius sqrt(dim)), then `mapping_layers` fully connected layers with leaky ReLU and
  learning-rate multiplier `mapping_lr_mul` (0.01), giving w. The average w is tracked in
  'batch_stats'/'w_avg' (moving average with decay `w_avg_decay`, over the global batch); the
  truncation trick is w' = w_avg + psi (w - w_avg).
- **Synthesis**: a learned constant 4x4 input, then per resolution two 3x3 *modulated
  convolutions* (the first of a block after 2x upsampling), each followed by a per-pixel noise
  input scaled by a learned per-layer strength, a bias and leaky ReLU; and a modulated 1x1
  toRGB (no demodulation) whose output is added to the upsampled image so far (the skip
  generator). `num_ws = 2 log2(side) - 2` styles: conv k reads w_k, the toRGB of a block the
  index of the next block's first conv, as in the reference layout.
- **Modulated convolution** with weight demodulation: style s = A(w) (an affine layer, bias
  initialized to 1); w'_{ijk} = s_i w_{ijk}; w''_{ijk} = w'_{ijk} / sqrt(sum_{i,k} w'^2 + 1e-8).
  Computed in the equivalent "non-fused" form: x * s, a shared-weight convolution, then * the
  demodulation coefficient per (example, output channel), so one ordinary convolution serves the
  whole batch (the grouped-convolution form is the same function).
- **Equalized learning rate** for every weight: parameters are stored N(0, 1) / lr_mul and
  scaled at run time by lr_mul / sqrt(fan_in) (biases by lr_mul).

Discriminator: the residual architecture: fromRGB (1x1) at full side; per resolution two 3x3
convolutions (the second after 2x downsampling) plus a 1x1 skip of the downsampled input,
summed and scaled by sqrt(1/2); at 4x4 the minibatch standard-deviation layer
(gan_jax.models.minibatch.minibatch_stddev), a 3x3 convolution, a fully connected layer and the
logit. Leaky ReLU (0.2) outputs are scaled by sqrt(2) (the reference's activation gain).

Resampling uses the reference's [1, 3, 3, 1] binomial filter: upsampling is zero insertion +
that filter (gain 4), downsampling that filter then decimation. Here the resampling comes
*before* each 3x3 convolution (which then runs at stride 1 on the new side), where the
reference fuses it into a transposed / strided convolution; the layers compute the same kind
of function (a low-pass resampling and a 3x3 kernel) and avoid XLA:CPU's slow gradients of
strided and transposed convolutions (docs/performance.md).

Generator inputs: z (N, latent_dim), or a dict with 'z' and optionally 'z_mix' (N, latent_dim)
and 'mix_cutoff' (N,) int (style mixing: w_k comes from z_mix for k >= cutoff; cutoff =
num_ws means no mixing), 'noise' (a list of (N, h, w, 1) arrays, `noise_shapes`; default: a
fixed noise map per layer, the reference's 'const' mode) and 'psi' (truncation; default
`model.stylegan2.truncation_psi`).
"""

import math
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax import lax

from gan_jax.models import layers
from gan_jax.models import minibatch
from gan_jax.models import options

SQRT2 = math.sqrt(2.0)
# The reference's resampling filter (a binomial low-pass, normalized per axis).
_FIR = (1.0, 3.0, 3.0, 1.0)


def lrelu(x: jax.Array) -> jax.Array:
  """Leaky ReLU (0.2) times sqrt(2), StyleGAN's activation with its gain."""
  return jax.nn.leaky_relu(x, 0.2) * SQRT2


def _up_axis(x: jax.Array, axis: int) -> jax.Array:
  """2x along `axis` by zero insertion + [1, 3, 3, 1] / 4 x 2 (gain 2 per axis), zero padded:
  out[2i] = (x[i-1] + 3 x[i]) / 4, out[2i+1] = (3 x[i] + x[i+1]) / 4."""
  n = x.shape[axis]
  pad = [(0, 0)] * x.ndim
  pad[axis] = (1, 1)
  xp = jnp.pad(x, pad)
  prev = lax.slice_in_dim(xp, 0, n, axis=axis)
  nxt = lax.slice_in_dim(xp, 2, n + 2, axis=axis)
  even = 0.25 * prev + 0.75 * x
  odd = 0.75 * x + 0.25 * nxt
  out = jnp.stack([even, odd], axis=axis + 1)
  shape = list(x.shape)
  shape[axis] = 2 * n
  return out.reshape(shape)


def _down_axis(x: jax.Array, axis: int) -> jax.Array:
  """1/2 along `axis`: [1, 3, 3, 1] / 8, zero padded by 1, every other sample:
  out[i] = (x[2i-1] + 3 x[2i] + 3 x[2i+1] + x[2i+2]) / 8."""
  n = x.shape[axis]
  if n % 2:
    raise ValueError(f'Downsampling needs an even side; got {n}.')
  pad = [(0, 0)] * x.ndim
  pad[axis] = (1, 1)
  xp = jnp.pad(x, pad)
  m = n // 2
  taps = [lax.slice_in_dim(xp, t, t + 2 * m - 1, stride=2, axis=axis) for t in range(4)]
  return sum(c * tap for c, tap in zip(_FIR, taps)) / 8.0


def upsample2x(x: jax.Array) -> jax.Array:
  """(N, H, W, C) -> (N, 2H, 2W, C) with the [1, 3, 3, 1] filter (upfirdn, up=2, gain 4)."""
  return _up_axis(_up_axis(x, 1), 2)


def downsample2x(x: jax.Array) -> jax.Array:
  """(N, H, W, C) -> (N, H/2, W/2, C) with the [1, 3, 3, 1] filter (upfirdn, down=2)."""
  return _down_axis(_down_axis(x, 1), 2)


def conv2d(x: jax.Array, kernel: jax.Array, impl: str) -> jax.Array:
  """'SAME' stride-1 convolution (odd square kernel) in the implementation `impl`
  (gan_jax.models.layers: 'auto' = the custom-VJP space-to-depth form on CPU, whose kernel
  gradient is several times faster than XLA:CPU's and which allows R1's and the path-length
  term's second-order gradients; XLA's elsewhere). 1x1 kernels are a matmul."""
  if kernel.shape[0] == 1:
    return jnp.einsum('nhwi,io->nhwo', x, kernel[0, 0])
  return layers.CONV_IMPLEMENTATIONS[impl](x, kernel, 1, kernel.shape[0] // 2)


def _normal(scale: float):
  return lambda key, shape: jax.random.normal(key, shape) * scale


class EqualDense(nn.Module):
  """Fully connected layer with equalized learning rate: y = x (W lr_mul / sqrt(fan_in)) +
  b lr_mul, W stored N(0, 1) / lr_mul, b stored = bias_init (the reference's convention)."""

  features: int
  lr_mul: float = 1.0
  bias_init: float = 0.0
  activation: bool = False

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    kernel = self.param('kernel', _normal(1.0 / self.lr_mul), (fan_in, self.features))
    bias = self.param('bias', lambda k, s: jnp.full(s, self.bias_init, jnp.float32),
                      (self.features,))
    y = x @ (kernel * (self.lr_mul / math.sqrt(fan_in))) + bias * self.lr_mul
    return lrelu(y) if self.activation else y


class EqualConv(nn.Module):
  """k x k convolution (stride 1, 'SAME') with equalized learning rate."""

  features: int
  kernel_size: int = 3
  use_bias: bool = True
  activation: bool = True
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x):
    cin, k = x.shape[-1], self.kernel_size
    kernel = self.param('kernel', _normal(1.0), (k, k, cin, self.features))
    y = conv2d(x, kernel / math.sqrt(cin * k * k), self.conv_impl)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return lrelu(y) if self.activation else y


def demodulation(styles: jax.Array, weight: jax.Array, eps: float = 1e-8) -> jax.Array:
  """1 / sqrt(sum_{k, i} (s_i w_{k,i,o})^2 + eps) per (example, output channel): styles (N, I),
  weight (kh, kw, I, O) (already scaled) -> (N, O)."""
  return lax.rsqrt(jnp.square(styles) @ jnp.sum(jnp.square(weight), axis=(0, 1)) + eps)


def modulated_conv(x: jax.Array, weight: jax.Array, styles: jax.Array, *,
                   demodulate: bool, impl: str = 'auto') -> jax.Array:
  """Modulated ('SAME', stride 1) convolution of x (N, H, W, I) with weight (kh, kw, I, O)
  scaled per example by styles (N, I), demodulated when `demodulate`."""
  y = conv2d(x * styles[:, None, None, :].astype(x.dtype), weight, impl)
  if demodulate:
    y = y * demodulation(styles, weight)[:, None, None, :].astype(y.dtype)
  return y


class ModulatedConv(nn.Module):
  """A(w) -> styles; modulated (and demodulated) k x k convolution, equalized learning rate."""

  features: int
  kernel_size: int = 3
  demodulate: bool = True
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x, w):
    cin, k = x.shape[-1], self.kernel_size
    styles = EqualDense(cin, bias_init=1.0, name='affine')(w)
    kernel = self.param('kernel', _normal(1.0), (k, k, cin, self.features))
    return modulated_conv(x, kernel / math.sqrt(cin * k * k), styles, demodulate=self.demodulate,
                          impl=self.conv_impl)


class SynthesisLayer(nn.Module):
  """(upsample) -> modulated 3x3 conv -> + noise x strength -> + bias -> lrelu."""

  features: int
  up: bool = False
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x, w, noise):
    if self.up:
      x = upsample2x(x)
    x = ModulatedConv(self.features, 3, conv_impl=self.conv_impl, name='conv')(x, w)
    strength = self.param('noise_strength', nn.initializers.zeros, ())
    x = x + noise.astype(x.dtype) * strength
    x = x + self.param('bias', nn.initializers.zeros, (self.features,))
    return lrelu(x)


def _check_side(side: int) -> int:
  log2 = int(round(math.log2(side))) if side > 0 else 0
  if side < 8 or 2 ** log2 != side:
    raise ValueError(f'StyleGAN2 needs square images whose side is a power of two >= 8; got '
                     f'side {side}. Set --config.dataset.image_size=32 (or 8, 16, 64, ...).')
  return log2


def resolutions(side: int) -> list[int]:
  """[4, 8, ..., side]."""
  return [2 ** i for i in range(2, _check_side(side) + 1)]


def num_ws(side: int) -> int:
  """Styles per image: one per conv layer, the last toRGB's too."""
  return 2 * _check_side(side) - 2


def noise_shapes(side: int) -> list[tuple[int, int, int]]:
  """Per-pixel noise maps of the synthesis layers, in order: 4x4 once, then two per side."""
  shapes = [(4, 4, 1)]
  for res in resolutions(side)[1:]:
    shapes += [(res, res, 1)] * 2
  return shapes


def const_noise(side: int) -> list[jax.Array]:
  """The fixed noise map of each layer (the reference's noise_mode='const'), (1, h, w, 1)."""
  return [jax.random.normal(jax.random.key(1000 + i), (1,) + s)
          for i, s in enumerate(noise_shapes(side))]


def channels_at(res: int, base: int, maximum: int) -> int:
  return max(min(base // res, maximum), 1)


class MappingNetwork(nn.Module):
  """z -> w: z / sqrt(mean(z^2) + 1e-8), then `num_layers` lrelu layers (lr multiplier)."""

  w_dim: int
  num_layers: int
  lr_mul: float

  @nn.compact
  def __call__(self, z):
    x = z * lax.rsqrt(jnp.mean(jnp.square(z), axis=-1, keepdims=True) + 1e-8)
    for i in range(self.num_layers):
      x = EqualDense(self.w_dim, lr_mul=self.lr_mul, activation=True, name=f'fc{i}')(x)
    return x


class SynthesisNetwork(nn.Module):
  """ws (N, num_ws, w_dim) and noise maps -> images (N, side, side, channels)."""

  side: int
  channels: int
  channel_base: int
  channel_max: int
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, ws, noise: Sequence[jax.Array]):
    res_list = resolutions(self.side)
    ch = lambda r: channels_at(r, self.channel_base, self.channel_max)
    const = self.param('const', _normal(1.0), (4, 4, ch(4)))
    x = jnp.broadcast_to(const, (ws.shape[0], 4, 4, ch(4)))
    impl = self.conv_impl
    x = SynthesisLayer(ch(4), conv_impl=impl, name='b4_conv1')(x, ws[:, 0], noise[0])
    img = ModulatedConv(self.channels, 1, demodulate=False, name='b4_torgb')(x, ws[:, 1])
    img = img + self.param('b4_torgb_bias', nn.initializers.zeros, (self.channels,))
    w_idx, n_idx = 1, 1
    for res in res_list[1:]:
      x = SynthesisLayer(ch(res), up=True, conv_impl=impl, name=f'b{res}_conv0')(
          x, ws[:, w_idx], noise[n_idx])
      x = SynthesisLayer(ch(res), conv_impl=impl, name=f'b{res}_conv1')(
          x, ws[:, w_idx + 1], noise[n_idx + 1])
      y = ModulatedConv(self.channels, 1, demodulate=False, name=f'b{res}_torgb')(
          x, ws[:, w_idx + 2])
      y = y + self.param(f'b{res}_torgb_bias', nn.initializers.zeros, (self.channels,))
      img = upsample2x(img) + y
      w_idx, n_idx = w_idx + 2, n_idx + 2
    return img


class StyleGAN2Generator(nn.Module):
  """Mapping + synthesis (see the module docstring for the inputs)."""

  data_shape: tuple[int, ...]
  latent_dim: int
  w_dim: int
  mapping_layers: int
  mapping_lr_mul: float
  channel_base: int
  channel_max: int
  w_avg_decay: float
  truncation_psi: float
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'

  def setup(self):
    self.mapping_net = MappingNetwork(self.w_dim, self.mapping_layers, self.mapping_lr_mul)
    self.synthesis_net = SynthesisNetwork(self.data_shape[0], self.data_shape[-1],
                                          self.channel_base, self.channel_max, self.conv_impl)
    self.w_avg = self.variable('batch_stats', 'w_avg', jnp.zeros, (self.w_dim,), jnp.float32)

  @property
  def num_ws(self) -> int:
    return num_ws(self.data_shape[0])

  def mapping(self, z, *, update_w_avg: bool = False, psi=None):
    """w (N, w_dim) of z; updates the tracked average w (over the global batch) when asked;
    truncated toward it by psi when psi is given."""
    w = self.mapping_net(z)
    if update_w_avg and not self.is_initializing():
      mean = jnp.mean(lax.stop_gradient(w).astype(jnp.float32), axis=0)
      if self.axis_name is not None:
        mean = lax.pmean(mean, self.axis_name)
      self.w_avg.value = self.w_avg_decay * self.w_avg.value + (1 - self.w_avg_decay) * mean
    if psi is not None:
      avg = self.w_avg.value.astype(w.dtype)
      w = avg + jnp.asarray(psi, w.dtype).reshape(-1, 1) * (w - avg)
    return w

  def styles(self, inputs, *, train: bool, truncate: bool = True):
    """ws (N, num_ws, w_dim) of the generator inputs, style mixing applied; truncated by
    inputs['psi'] (or, outside training, model.stylegan2.truncation_psi) when `truncate`.
    Training updates the tracked average w."""
    if not isinstance(inputs, dict):
      inputs = {'z': inputs}
    psi = inputs.get('psi') if truncate else None
    if psi is None and truncate and not train and self.truncation_psi != 1.0:
      psi = self.truncation_psi
    w = self.mapping(inputs['z'], update_w_avg=train, psi=psi)
    ws = jnp.repeat(w[:, None], self.num_ws, axis=1)
    if inputs.get('z_mix') is not None:
      w_mix = self.mapping(inputs['z_mix'], psi=psi)
      layer = jnp.arange(self.num_ws)[None, :, None]
      cutoff = jnp.asarray(inputs['mix_cutoff']).reshape(-1, 1, 1)
      ws = jnp.where(layer < cutoff, ws, w_mix[:, None])
    return ws

  def synthesis(self, ws, noise=None):
    if noise is None:
      noise = const_noise(self.data_shape[0])
    return self.synthesis_net(ws, noise)

  def __call__(self, inputs, labels=None, train: bool = False):
    del labels
    noise = inputs.get('noise') if isinstance(inputs, dict) else None
    return self.synthesis(self.styles(inputs, train=train), noise)


class DiscriminatorBlock(nn.Module):
  """conv3x3 -> downsample -> conv3x3, plus a downsampled 1x1 skip; sum x sqrt(1/2)."""

  tmp_channels: int
  out_channels: int
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x):
    skip = EqualConv(self.out_channels, 1, use_bias=False, activation=False,
                     name='skip')(downsample2x(x))
    x = EqualConv(self.tmp_channels, 3, conv_impl=self.conv_impl, name='conv0')(x)
    x = EqualConv(self.out_channels, 3, conv_impl=self.conv_impl, name='conv1')(downsample2x(x))
    return (skip + x) * math.sqrt(0.5)


class StyleGAN2Discriminator(nn.Module):
  """Residual D with minibatch stddev at 4x4 (see the module docstring)."""

  data_shape: tuple[int, ...]
  channel_base: int
  channel_max: int
  mbstd_group: int
  mbstd_channels: int
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    del labels, train
    ch = lambda r: channels_at(r, self.channel_base, self.channel_max)
    side = self.data_shape[0]
    x = EqualConv(ch(side), 1, name='fromrgb')(x)
    for res in resolutions(side)[:0:-1]:
      x = DiscriminatorBlock(ch(res), ch(res // 2), self.conv_impl, name=f'b{res}')(x)
    if self.mbstd_group > 0:
      x = minibatch.minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
    x = EqualConv(ch(4), 3, conv_impl=self.conv_impl, name='b4_conv')(x)
    x = EqualDense(ch(4), activation=True, name='b4_fc')(x.reshape(x.shape[0], -1))
    return EqualDense(1, name='b4_out')(x)[:, 0]


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int]):
  if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
    raise ValueError(f'StyleGAN2 needs square images (H, W, C); got data shape {data_shape}.')
  _check_side(data_shape[0])
  if num_classes:
    raise ValueError('This StyleGAN2 is unconditional; set --config.dataset.conditional=False.')
  if model_config.compute_dtype != 'float32':
    raise ValueError(f'model.name=stylegan2 computes in float32; got model.compute_dtype='
                     f'{model_config.compute_dtype!r}.')
  own = model_config.stylegan2
  options.check_choice(own.conv_impl, layers.CONV_IMPLEMENTATIONS, 'model.stylegan2.conv_impl')
  if not 0.0 <= float(own.w_avg_decay) < 1.0:
    raise ValueError(f'model.stylegan2.w_avg_decay must be in [0, 1); got {own.w_avg_decay}.')
  if int(own.mapping_layers) < 1:
    raise ValueError(f'model.stylegan2.mapping_layers must be >= 1; got {own.mapping_layers}.')
  base_g = int(own.channel_base) * int(model_config.g_width) // 64
  base_d = int(own.channel_base) * int(model_config.d_width) // 64
  max_g = max(int(own.channel_max) * int(model_config.g_width) // 64, 1)
  max_d = max(int(own.channel_max) * int(model_config.d_width) // 64, 1)

  def make_generator(axis_name):
    return StyleGAN2Generator(
        tuple(data_shape), int(model_config.latent_dim), int(own.w_dim), int(own.mapping_layers),
        float(own.mapping_lr_mul), base_g, max_g, float(own.w_avg_decay),
        float(own.truncation_psi), axis_name, own.conv_impl)

  def make_discriminator(axis_name):
    del axis_name
    return StyleGAN2Discriminator(tuple(data_shape), base_d, max_d, int(own.mbstd_group),
                                  int(own.mbstd_channels), own.conv_impl)

  return make_generator, make_discriminator


def generator_module(networks) -> StyleGAN2Generator:
  """The StyleGAN2 generator module of `networks` (for its mapping / synthesis methods)."""
  module = networks.make_generator(None)
  if not isinstance(module, StyleGAN2Generator):
    raise ValueError(f'This needs a StyleGAN2 generator (model.name=stylegan2); the run\'s is '
                     f'{type(module).__name__}.')
  return module


def num_styles(networks) -> int:
  return num_ws(networks.data_shape[0])


def noise_for(networks) -> list[tuple[int, int, int]]:
  return noise_shapes(networks.data_shape[0])

