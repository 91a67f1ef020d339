"""WaveGAN (Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis") for waveforms (L, 1).

Generator: z -> Dense(L0 * width * 2**(n-1)) -> reshape (L0, width * 2**(n-1)) -> ReLU ->
n-1 x [ConvTranspose1D(kernel k, stride 4), halving the channels, ReLU] ->
ConvTranspose1D(k, 4) to 1 channel -> tanh, with L = L0 * 4**n.
Discriminator, mirrored: n x [Conv1D(k, 4) to width * 2**i channels, LeakyReLU(0.2), phase
shuffle (all but the last)] -> flatten (L0 * width * 2**(n-1)) -> Dense -> logit.
With L = 16384 (n = 5, L0 = 16), k = 25 and width d = 64 this is the paper's WaveGAN: G's
dense layer to (16, 1024), D's last map (16, 1024). Shorter clips use fewer layers: n is the
largest number of stride-4 stages with L0 = L / 4**n >= 16 an integer (4096: n = 4, L0 = 16;
8192: n = 4, L0 = 32), or `model.wavegan.num_layers`. No normalization (the paper's WGAN-GP
setting), biases everywhere, weights Glorot-uniform (TensorFlow's default, the original's).

Convolutions have 'same' geometry: Conv1D maps L to L / s, ConvTranspose1D L to s * L, with
PyTorch's padding p = (k - s + 1) // 2 (11 for k = 25, s = 4) and output padding
s + 2p - k (1), as the PyTorch ports of WaveGAN; the TensorFlow original pads 'SAME', one
sample to the other side (a shift, not another model).

Phase shuffle (the paper's section 3.3): after each D layer but the last, each example's
feature map is shifted in time by its own integer phase drawn uniformly from [-n, n],
filling the ends by reflection (out[t] = x[reflect(t - phase)]), so D cannot rely on the
periodic artifacts of transposed convolutions. Drawn from the 'dropout' rng stream the train
step passes, in training mode only (identity at evaluation). The TensorFlow original draws
one phase per layer for the whole batch; here every example has its own, as the paper words
it. The step's D keys differ per device (like dropout), so with phase shuffle on a run on 8
devices matches one device in distribution, not bit for bit.

Implementations (model.wavegan.conv_impl; every choice is the same function of the same
parameters, so switching never changes a checkpoint):
  'xla': XLA's convolution (lax.conv_general_dilated; transposed: the lhs-dilated form).
    Fast on GPU/TPU; on XLA:CPU its kernel gradients are slow.
  'matmul': the strided convolution in space-to-depth space (the input reshaped to
    (L / s, s * C), ceil(k / s) contiguous shifted copies, one matmul) and the transposed one
    in its polyphase (sub-pixel) form (one stride-1 correlation of the un-dilated input to
    s * C_out channels with a gathered kernel, then depth-to-space; Shi et al. 2016). Plain
    slices, reshapes and matmuls: every derivative order (the gradient penalty's) and
    forward mode work, and XLA:CPU runs their gradients as matmuls.
  'auto': 'matmul' where jax.default_backend() is 'cpu', else 'xla'.

Config fields (configs/default.py; block model.wavegan): kernel_size, stride, phase_shuffle,
num_layers, conv_impl; widths model.g_width / model.d_width (the paper's d = 64);
model.compute_dtype ('bfloat16' computes in bfloat16, float32 params).
"""

import functools
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax import lax

from gan_jax.models import conv_kernels
from gan_jax.models import layers
from gan_jax.models import options

CONV_IMPLEMENTATIONS = ('auto', 'xla', 'matmul')
MIN_BASE_LENGTH = 16  # The paper's L0: G's dense layer reshapes to (16, 16 d).
_DIMENSION_NUMBERS = ('NWC', 'WIO', 'NWC')
weight_init = nn.initializers.xavier_uniform()  # TensorFlow's glorot_uniform (fan over k * C).


def same_padding(kernel_size: int, stride: int) -> tuple[int, int]:
  """(padding p, output padding) of 'same' layers: Conv1D maps L -> L / stride and
  ConvTranspose1D L -> stride * L (PyTorch semantics; 11 and 1 for k = 25, s = 4)."""
  p = (kernel_size - stride + 1) // 2
  out_pad = stride + 2 * p - kernel_size
  if p < 0 or not 0 <= out_pad < stride:
    raise ValueError(f'No same-length padding for kernel_size={kernel_size}, stride={stride}: '
                     'use a kernel at least as long as the stride (the paper: 25 and 4).')
  return p, out_pad


def geometry(length: int, num_layers: int = 0, stride: int = 4) -> tuple[int, int]:
  """(n, L0) with length = L0 * stride**n: n stride-`stride` stages down to L0 samples.
  num_layers 0 = the most stages that leave L0 >= MIN_BASE_LENGTH (16384 -> (5, 16))."""
  if num_layers < 0:
    raise ValueError(f'model.wavegan.num_layers must be >= 0 (0 = from the length); got '
                     f'{num_layers}.')
  if num_layers == 0:
    while length % stride ** (num_layers + 1) == 0 and \
        length // stride ** (num_layers + 1) >= MIN_BASE_LENGTH:
      num_layers += 1
  if num_layers == 0 or length % stride ** num_layers:
    raise ValueError(
        f'WaveGAN needs clips of L0 * {stride}**n samples (n >= 1 stride-{stride} layers, '
        f'L0 >= {MIN_BASE_LENGTH} without num_layers); got length {length} with '
        f'model.wavegan.num_layers={num_layers}. Use e.g. 16384 (the paper), 8192 or 4096 '
        '(dataset.audio.length).')
  return num_layers, length // stride ** num_layers


# ---- the convolutions --------------------------------------------------------------------

def conv1d_xla(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
  """y[m] = sum_j xpad[s m + j] kernel[j], xpad = x zero-padded by p a side; kernel
  (k, C_in, C_out); output length (L + 2p - k) // s + 1."""
  return lax.conv_general_dilated(x, kernel, (stride,), ((padding, padding),),
                                  dimension_numbers=_DIMENSION_NUMBERS)


def conv1d_matmul(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
  """conv1d_xla in space-to-depth space: xpad reshaped to (L' / s, s * C_in); output m reads
  rows m .. m + T - 1 (T = ceil(k / s)) against the kernel zero-padded to T * s taps."""
  n, length, cin = x.shape
  k, _, cout = kernel.shape
  s = stride
  out = conv_kernels.conv_output_size(length, k, s, padding)
  taps = -(-k // s)
  rows = out + taps - 1
  right = rows * s - length - padding  # Zero-pad to rows * s samples (>= what is read).
  xp = jnp.pad(x, ((0, 0), (padding, max(right, 0)), (0, 0)))[:, :rows * s]
  xs = xp.reshape(n, rows, s * cin)
  patches = jnp.concatenate([xs[:, t:t + out] for t in range(taps)], axis=-1)
  w = jnp.pad(kernel, ((0, taps * s - k), (0, 0), (0, 0))).reshape(taps * s * cin, cout)
  return patches @ w


def conv1d_transpose_xla(x: jax.Array, kernel: jax.Array, stride: int, padding: int,
                         output_padding: int = 0) -> jax.Array:
  """PyTorch's ConvTranspose1d: y[s i + j - p] += x[i] kernel[j] (kernel (k, C_in, C_out));
  output length (L - 1) s - 2p + k + output_padding. As the lhs-dilated convolution."""
  k = kernel.shape[0]
  pad = k - 1 - padding
  return lax.conv_general_dilated(x, jnp.flip(kernel, 0), (1,), ((pad, pad + output_padding),),
                                  lhs_dilation=(stride,), dimension_numbers=_DIMENSION_NUMBERS)


@functools.lru_cache(maxsize=None)
def _polyphase_geometry(k: int, s: int, p: int):
  """For y[s m + r] = sum_d x[m - d] kernel[s d + r + p]: (taps, d_min, d_max), where
  taps[i, r] (int, (D, s)) is the kernel row of offset d = d_min + i and phase r, or k (a
  zero row appended to the kernel) where that phase has no tap."""
  # Phase r has taps s d + r + p in [0, k): d from ceil(-(r + p) / s) to (k - 1 - r - p) // s.
  d_min = min(-((r + p) // s) for r in range(s))
  d_max = max((k - 1 - r - p) // s for r in range(s))
  taps = np.full((d_max - d_min + 1, s), k, np.int32)
  for i, d in enumerate(range(d_min, d_max + 1)):
    for r in range(s):
      j = s * d + r + p
      if 0 <= j < k:
        taps[i, r] = j
  return taps, d_min, d_max


def conv1d_transpose_matmul(x: jax.Array, kernel: jax.Array, stride: int, padding: int,
                            output_padding: int = 0) -> jax.Array:
  """conv1d_transpose_xla in polyphase form: output phase r of position m is
  sum_d x[m - d] kernel[s d + r + p], one correlation over the D offsets d for all phases
  (C_in * D -> s * C_out channels, zeros where a phase has no tap), then depth-to-space."""
  n, length, cin = x.shape
  k, _, cout = kernel.shape
  s = stride
  out = (length - 1) * s - 2 * padding + k + output_padding
  taps, d_min, d_max = _polyphase_geometry(k, s, padding)
  positions = -(-out // s)
  # x[m - d] for m in [0, positions), d in [d_min, d_max]: pad d_max left, and on the right
  # up to index positions - 1 - d_min.
  right = max(positions - 1 - d_min - (length - 1), 0)
  xp = jnp.pad(x, ((0, 0), (d_max, right), (0, 0)))
  # Offset d reads xp[m + d_max - d]; order the patches by d = d_min .. d_max.
  patches = jnp.concatenate([xp[:, d_max - d:d_max - d + positions]
                             for d in range(d_min, d_max + 1)], axis=-1)
  padded = jnp.concatenate([kernel, jnp.zeros((1, cin, cout), kernel.dtype)])
  w = padded[taps]  # (D, s, C_in, C_out)
  w = w.transpose(0, 2, 1, 3).reshape(taps.shape[0] * cin, s * cout)
  y = (patches @ w).reshape(n, positions * s, cout)
  return y[:, :out]


CONV = {'xla': conv1d_xla, 'matmul': conv1d_matmul}
CONV_TRANSPOSE = {'xla': conv1d_transpose_xla, 'matmul': conv1d_transpose_matmul}


def resolve_implementation(name: str, backend: Optional[str] = None) -> str:
  """'auto' -> 'matmul' on the CPU backend, 'xla' elsewhere; other names unchanged."""
  options.check_choice(name, CONV_IMPLEMENTATIONS, 'model.wavegan.conv_impl')
  return layers.resolve_implementation(name, backend, cpu='matmul')


class Conv1D(nn.Module):
  """'Same' strided 1-D convolution L -> L / stride: 'kernel' (k, C_in, C_out), 'bias'."""
  features: int
  kernel_size: int = 25
  stride: int = 4
  implementation: str = 'auto'
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', weight_init, (self.kernel_size, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    dtype = self.dtype or x.dtype
    p, _ = same_padding(self.kernel_size, self.stride)
    fn = CONV[resolve_implementation(self.implementation)]
    return fn(x.astype(dtype), kernel.astype(dtype), self.stride, p) + bias.astype(dtype)


class ConvTranspose1D(nn.Module):
  """'Same' transposed 1-D convolution L -> stride * L (PyTorch semantics, padding and
  output padding of same_padding): 'kernel' (k, C_in, C_out), 'bias'."""
  features: int
  kernel_size: int = 25
  stride: int = 4
  implementation: str = 'auto'
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', weight_init, (self.kernel_size, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    dtype = self.dtype or x.dtype
    p, out_pad = same_padding(self.kernel_size, self.stride)
    fn = CONV_TRANSPOSE[resolve_implementation(self.implementation)]
    return fn(x.astype(dtype), kernel.astype(dtype), self.stride, p, out_pad) + \
        bias.astype(dtype)


# ---- phase shuffle -----------------------------------------------------------------------

def phase_shuffle(x: jax.Array, phases: jax.Array, radius: int) -> jax.Array:
  """out[b, t] = x[b, reflect(t - phases[b])] for x (N, L, C) and integer phases (N,) in
  [-radius, radius]; reflect mirrors about the end samples (numpy's / TF's 'reflect')."""
  length = x.shape[1]
  if radius >= length:
    raise ValueError(f'Phase shuffle of radius {radius} needs feature maps longer than it; got '
                     f'length {length}. Lower model.wavegan.phase_shuffle.')
  xp = jnp.pad(x, ((0, 0), (radius, radius), (0, 0)), mode='reflect')
  starts = radius - jnp.asarray(phases, jnp.int32)
  return jax.vmap(lambda row, start: lax.dynamic_slice_in_dim(row, start, length, axis=0))(
      xp, starts)


class PhaseShuffle(nn.Module):
  """Phase shuffle of radius n in training (phases ~ U{-n..n} per example from the 'dropout'
  rng); the identity at evaluation or with n = 0."""
  radius: int

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    if not train or self.radius == 0:
      return x
    phases = jax.random.randint(self.make_rng('dropout'), (x.shape[0],), -self.radius,
                                self.radius + 1)
    return phase_shuffle(x, phases, self.radius)


# ---- the networks ------------------------------------------------------------------------

class WaveGANGenerator(nn.Module):
  """z (N, latent_dim) -> waveforms (N, L, 1) in [-1, 1] (see the module docstring)."""
  length: int
  channels: int = 1
  width: int = 64
  kernel_size: int = 25
  stride: int = 4
  num_layers: int = 0
  conv_impl: str = 'auto'
  dtype: Any = None

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    del labels, train  # Unconditional; no normalization or dropout.
    n, base = geometry(self.length, self.num_layers, self.stride)
    features = self.width * 2 ** (n - 1)
    x = nn.Dense(base * features, kernel_init=weight_init, dtype=self.dtype, name='project')(z)
    x = nn.relu(x.reshape(z.shape[0], base, features))
    for i in range(n):
      last = i == n - 1
      features = self.channels if last else features // 2
      x = ConvTranspose1D(features, self.kernel_size, self.stride, self.conv_impl, self.dtype,
                          name=f'up{i}')(x)
      x = x if last else nn.relu(x)
    return jnp.tanh(x.astype(jnp.float32))


class WaveGANDiscriminator(nn.Module):
  """Waveforms (N, L, C) -> logits (N,) (see the module docstring); sows phi, the flattened
  last feature map, as 'intermediates'/'features'."""
  length: int
  width: int = 64
  kernel_size: int = 25
  stride: int = 4
  num_layers: int = 0
  phase_shuffle: int = 2
  conv_impl: str = 'auto'
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    del labels
    n, _ = geometry(self.length, self.num_layers, self.stride)
    x = x.astype(self.dtype or x.dtype)
    for i in range(n):
      x = Conv1D(self.width * 2 ** i, self.kernel_size, self.stride, self.conv_impl,
                 self.dtype, name=f'down{i}')(x)
      x = nn.leaky_relu(x, 0.2)
      if i < n - 1:
        x = PhaseShuffle(self.phase_shuffle, name=f'phase_shuffle{i}')(x, train=train)
    features = x.reshape(x.shape[0], -1)
    self.sow('intermediates', 'features', features)
    logit = nn.Dense(1, kernel_init=weight_init, dtype=self.dtype, name='logit')(features)
    return logit[:, 0].astype(jnp.float32)


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int]):
  """(make_generator, make_discriminator) for waveforms of data_shape (L, C)."""
  if len(data_shape) != 2:
    raise ValueError(f'WaveGAN generates waveforms (L, channels); got data shape {data_shape}. '
                     "Use an audio dataset (dataset.name='synthetic_notes', 'spoken_digits').")
  if num_classes:
    raise ValueError('WaveGAN is unconditional (the paper\'s); set '
                     '--config.dataset.conditional=False.')
  own = model_config.wavegan
  length = int(data_shape[0])
  kernel_size, stride = int(own.kernel_size), int(own.stride)
  if stride < 2:
    raise ValueError(f'model.wavegan.stride must be >= 2 (the paper: 4); got {stride}.')
  same_padding(kernel_size, stride)
  geometry(length, int(own.num_layers), stride)
  resolve_implementation(own.conv_impl)
  radius = int(own.phase_shuffle)
  if radius < 0:
    raise ValueError(f'model.wavegan.phase_shuffle is a radius >= 0 (0 = off, the paper: 2); '
                     f'got {radius}.')
  dtype = options.compute_dtype(model_config.compute_dtype)
  common = dict(kernel_size=kernel_size, stride=stride, num_layers=int(own.num_layers),
                conv_impl=own.conv_impl, dtype=dtype)

  def make_generator(axis_name):
    del axis_name  # No BatchNorm.
    return WaveGANGenerator(length, int(data_shape[1]), int(model_config.g_width), **common)

  def make_discriminator(axis_name):
    del axis_name
    return WaveGANDiscriminator(length, int(model_config.d_width), phase_shuffle=radius,
                                **common)

  return make_generator, make_discriminator
