"""3-D convolutions, and the 3-D convolutional GANs of clips (VGAN / TGAN) and voxel grids
(3D-GAN).

Layers (NDHWC maps, per-axis kernel / stride / padding, e.g. strides (1, 2, 2) or (2, 2, 2)):
* `Conv3D`: strided convolution with symmetric padding; the parameters ('kernel'
  (kd, kh, kw, C_in, C_out), 'bias') and function of `nn.Conv(features, (kd, kh, kw),
  strides, padding=((pd, pd), (ph, ph), (pw, pw)))`.
* `ConvTranspose3D`: transposed convolution with PyTorch's (kernel, stride, padding)
  semantics, output (n - 1) * s - 2 * p + k per axis, `kernel[a, b, c, i, o]` equal to
  PyTorch's `ConvTranspose3d.weight[i, o, a, b, c]` (weights move between the two unflipped).
Each computes its function with an implementation chosen by name (IMPLEMENTATIONS); every
implementation is the same function of the same parameters, so switching never changes a
checkpoint, only the speed:
* 'xla': XLA's convolutions (`lax.conv_general_dilated`; the transposed one lhs-dilated).
  Fast on GPU/TPU. On XLA:CPU the 3-D convolutions and their gradients are slow (3D-GAN's
  parameter gradients of G and D at 32^3, batch 16, widths 16: 9.1 s and 8.8 s, against
  0.25 s and 0.19 s with 'matmul', measured on 2 busy cores).
* 'matmul': written as copies + one matmul, in space-to-depth space (every s_d x s_h x s_w
  block of voxels one position of s_d s_h s_w C channels, the kernel's taps zero-padded to
  J = ceil(k / s) blocks per axis): the strided convolution is a stride-1 J x J x J one
  there (`conv3d_matmul`), the transposed one its adjoint (`conv_transpose3d_matmul`), so
  nothing is multiplied by an inserted zero (for k = 4, s = 2 the window is exactly 2 x 2 x
  2; the 2-D 'space_to_depth' form of gan_jax.models.conv_kernels, without its custom
  VJPs). Gradients are plain autodiff of slices, pads, reshapes and a dot, so every mode
  works (jvp, grad of grad). Written by hand because no library has these forms.
* 'auto' (the default): 'matmul' where `jax.default_backend()` is 'cpu', else 'xla'.

Architectures (registered in gan_jax.models.ARCHITECTURES):
* `build_video` ('video_gan'), clips (T, H, W, C), the VGAN (Vondrick et al. 2016) / TGAN
  family with one 3-D stream: z -> Dense -> (T0, H0, W0, width * 2**(n-1)) -> n x [BN, ReLU,
  ConvTranspose3D] doubling H, W every stage and T in the last n_t stages (kernel 4, stride
  2, padding 1; a stride-1 axis has kernel 3, padding 1) -> tanh. H = H0 * 2**n with H0 in
  (4, 7, 3, 5, 6) as DCGAN; T0 is the fewest frames >= 2 that T halves to in at most n
  stages (16 x 64 x 64: 2 x 4 x 4, three temporal stages of four; VGAN: 2 x 4 x 4 for 32
  frames). Upsampling time last makes the large late layers cheaper (8 taps per output
  voxel instead of 12). D mirrors it (`VideoDiscriminator`).
* `build_voxels` ('gan3d'), voxel grids (S, S, S, 1), 3D-GAN (Wu et al. 2016): the same G
  and D on cubes, every stage stride (2, 2, 2) from 4^3 (32^3: 4 -> 8 -> 16 -> 32; the
  paper's 64^3 has one more stage), tanh output for occupancy in [-1, 1] (the paper: a
  sigmoid for [0, 1]), widths width * 2**(n-1-i) (the paper: 512, 256, 128, 64 = width 64).
  The paper's first layer is a transposed convolution from 1^3 to 4^3, which is a Dense.

Discriminator (both): n x [Conv3D(kernel 4, stride 2, padding 1; stride-1 axes kernel 3),
normalization (not after the first: 'batch' | 'layer' | 'none'), LeakyReLU(0.2), dropout]
-> phi (the flattened last map, sown as 'intermediates'/'features') -> Dense(1) -> logit (N,).
'layer' is LayerNorm over (T, H, W, C) of each example with a per-channel scale and bias (the
WGAN-GP critic's); gradient penalties need 'layer' or 'none'. Weights ~ N(0, 0.02), BN scales
~ N(1, 0.02), as DCGAN.

Config (configs/default.py, block model.conv3d, read by both builders): kernel_size, conv_impl,
d_normalization; model.g_width / d_width (G's last / D's first hidden width, doubling per
stage), latent_dim, g/d_spectral_norm, d_dropout, compute_dtype, and class conditioning
(g_conditioning 'concat' | 'cbn', d_conditioning 'projection', d_class_head, d_q_head: see
gan_jax.models.conditioning; D's 'concat' is for images only).
"""

from typing import Any, Callable, Optional, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax import lax

from gan_jax.models import conditioning as cond_lib
from gan_jax.models import layers
from gan_jax.models import normalization as norm_lib
from gan_jax.models import options

Triple = tuple[int, int, int]
IntOrTriple = Union[int, Sequence[int]]

_DIMENSION_NUMBERS = ('NDHWC', 'DHWIO', 'NDHWC')
AUTO = layers.AUTO
weight_init = nn.initializers.normal(stddev=0.02)
D_NORMALIZATIONS = ('batch', 'layer', 'none')
BASE_SIDES = (4, 7, 3, 5, 6)  # G's first map side, as DCGAN's geometry.
MIN_BASE_FRAMES = 2  # video_gan: G's first map keeps at least this many frames (VGAN's 2).


def as_triple(value: IntOrTriple, field: str = 'value') -> Triple:
  """An int (the same on every axis) or three ints -> (d, h, w)."""
  values = (int(value),) * 3 if np.ndim(value) == 0 else tuple(int(v) for v in value)
  if len(values) != 3:
    raise ValueError(f'{field} must be an int or three ints (depth/time, height, width); '
                     f'got {value!r}.')
  return values


# ---- functions --------------------------------------------------------------------------

def conv3d_xla(x: jax.Array, kernel: jax.Array, strides: IntOrTriple,
               padding: IntOrTriple) -> jax.Array:
  """y = conv(x, kernel): x (N, D, H, W, C_in), kernel (kd, kh, kw, C_in, C_out) as flax's
  nn.Conv, symmetric padding per axis; out (n + 2p - k) // s + 1 per axis."""
  pads = [(p, p) for p in as_triple(padding, 'padding')]
  return lax.conv_general_dilated(x, kernel, as_triple(strides, 'strides'), pads,
                                  dimension_numbers=_DIMENSION_NUMBERS)


def conv_transpose3d_xla(x: jax.Array, kernel: jax.Array, strides: IntOrTriple,
                         padding: IntOrTriple) -> jax.Array:
  """Transposed convolution as XLA's lhs-dilated convolution (the textbook form): kernel
  (kd, kh, kw, C_in, C_out) in PyTorch's orientation, PyTorch padding 0 <= p <= k - 1;
  out (n - 1) * s - 2p + k per axis."""
  pads = [(k - 1 - p, k - 1 - p) for k, p in zip(kernel.shape[:3], as_triple(padding, 'padding'))]
  return lax.conv_general_dilated(x, jnp.flip(kernel, axis=(0, 1, 2)), (1, 1, 1), pads,
                                  lhs_dilation=as_triple(strides, 'strides'),
                                  dimension_numbers=_DIMENSION_NUMBERS)


def _kernel_blocks(kernel, s, k, j):
  """(k.., C_in, C_out) -> (J_d, s_d, J_h, s_h, J_w, s_w, C_in, C_out): taps zero-padded to
  J * s per axis, tap a = s m + r at (m, r)."""
  pads = [(0, jj * st - kk) for jj, st, kk in zip(j, s, k)]
  kp = jnp.pad(kernel, (*pads, (0, 0), (0, 0)))
  return kp.reshape(j[0], s[0], j[1], s[1], j[2], s[2], *kernel.shape[3:])


def conv3d_matmul(x: jax.Array, kernel: jax.Array, strides: IntOrTriple,
                  padding: IntOrTriple) -> jax.Array:
  """`conv3d_xla` in space-to-depth form: per axis, the kernel is zero-padded to J * s taps
  (J = ceil(k / s)) and the input padded (or cropped) to (out + J - 1) * s entries; every
  s_d x s_h x s_w block of the input becomes one position of s_d * s_h * s_w * C_in channels,
  and the strided convolution is a stride-1 J_d x J_h x J_w one there: J_d * J_h * J_w
  contiguous slices concatenated on the channel axis, times the rearranged kernel as one
  matrix (for k = 4, s = 2: 8 slices, no padded tap; measured ~4x faster than k^3 strided
  slices (im2col) for 3D-GAN's D on CPU, where a 1-channel input makes those slices thin)."""
  s, p = as_triple(strides, 'strides'), as_triple(padding, 'padding')
  k = kernel.shape[:3]
  cin, cout = kernel.shape[3:]
  n = x.shape[0]
  out = [(size + 2 * q - kk) // st + 1 for size, q, kk, st in zip(x.shape[1:4], p, k, s)]
  if min(out) <= 0:
    raise ValueError(f'Conv3D of a {x.shape[1:4]} map with kernel {k}, strides {s}, padding '
                     f'{p} is empty.')
  j = [-(-kk // st) for kk, st in zip(k, s)]
  blocks = [o + jj - 1 for o, jj in zip(out, j)]  # Positions per axis in space-to-depth space.
  xp = lax.pad(x, jnp.zeros((), x.dtype),  # A negative high pad crops unread entries.
               ((0, 0, 0), *((q, b * st - size - q, 0)
                             for q, b, st, size in zip(p, blocks, s, x.shape[1:4])), (0, 0, 0)))
  xs = xp.reshape(n, blocks[0], s[0], blocks[1], s[1], blocks[2], s[2], cin)
  xs = xs.transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(n, *blocks, s[0] * s[1] * s[2] * cin)
  kp = _kernel_blocks(kernel, s, k, j).transpose(0, 2, 4, 1, 3, 5, 6, 7)
  patches = jnp.concatenate([xs[:, a:a + out[0], b:b + out[1], c:c + out[2]]
                             for a in range(j[0]) for b in range(j[1]) for c in range(j[2])],
                            axis=-1)
  return jnp.dot(patches, kp.reshape(-1, cout))


def _transpose_geometry(x_shape, kernel_shape, strides, padding):
  """Per axis of a transposed conv: (s, p, k, out, J, blocks L = n + J - 1)."""
  s, p = as_triple(strides, 'strides'), as_triple(padding, 'padding')
  k = tuple(kernel_shape[:3])
  out = [(n - 1) * st - 2 * q + kk for n, st, q, kk in zip(x_shape[1:4], s, p, k)]
  if min(out) <= 0:
    raise ValueError(f'ConvTranspose3D of a {tuple(x_shape[1:4])} map with kernel {k}, strides '
                     f'{s}, padding {p} is empty.')
  j = [-(-kk // st) for kk, st in zip(k, s)]
  return s, p, k, out, j, [n + jj - 1 for n, jj in zip(x_shape[1:4], j)]


def _depth_to_space_crop(y, s, p, out, blocks, cout):
  """(N, L_d, L_h, L_w, s_d * s_h * s_w * C) -> the full output (N, L_d s_d, ..., C) with p
  cropped from the start of each axis, `out` entries kept."""
  n = y.shape[0]
  y = y.reshape(n, *blocks, *s, cout).transpose(0, 1, 4, 2, 5, 3, 6, 7)
  y = y.reshape(n, blocks[0] * s[0], blocks[1] * s[1], blocks[2] * s[2], cout)
  return lax.slice(y, (0, *p, 0), (n, *(q + o for q, o in zip(p, out)), cout))


def conv_transpose3d_matmul(x: jax.Array, kernel: jax.Array, strides: IntOrTriple,
                            padding: IntOrTriple) -> jax.Array:
  """`conv_transpose3d_xla` in space-to-depth form: output block b (s_d x s_h x s_w voxels,
  before cropping p) is sum over block offsets m in [0, J)^3 of x[b - m] times the taps
  s m + r of every phase r, computed as whichever of two matmuls moves less data:
  * patches (C_in <= s_d s_h s_w C_out): the J^3 shifted copies of the padded input
    concatenated on the channel axis (J^3 C_in per block) times one (J^3 C_in,
    s^3 C_out) matrix (for k = 4, s = 2: 8 copies, no padded tap; the sub-pixel /
    phase decomposition of Shi et al. 2016 with the exact 2 x 2 x 2 window);
  * scatter (C_in > s_d s_h s_w C_out, e.g. G's last layer to 1 channel): one product
    x @ (C_in, J^3 s^3 C_out), then the J^3 slices of it shifted into place and added
    (col2im): (J^3 s^3 C_out) numbers per input voxel instead of J^3 C_in.
  Then depth-to-space and the crop of p. (G's last 16^3 x 32 -> 32^3 x 1 layer at batch 32:
  forward 62 ms scattered, 410 ms as patches, 1,045 ms with the union-window phase form.)"""
  s, p, k, out, j, blocks = _transpose_geometry(x.shape, kernel.shape, strides, padding)
  cin, cout = kernel.shape[3:]
  phases = s[0] * s[1] * s[2] * cout
  offsets = [(a, b, c) for a in range(j[0]) for b in range(j[1]) for c in range(j[2])]
  kb = _kernel_blocks(kernel, s, k, j)
  if cin <= phases:
    # Block b reads x[b - m]: with x padded by J - 1, offset (J - 1 - m) -> flip the m axes.
    kb = jnp.flip(kb, (0, 2, 4)).transpose(0, 2, 4, 6, 1, 3, 5, 7)
    xp = jnp.pad(x, ((0, 0), *((jj - 1, jj - 1) for jj in j), (0, 0)))
    patches = jnp.concatenate([xp[:, a:a + blocks[0], b:b + blocks[1], c:c + blocks[2]]
                               for a, b, c in offsets], axis=-1)
    y = jnp.dot(patches, kb.reshape(len(offsets) * cin, phases))
  else:
    kb = kb.transpose(6, 0, 2, 4, 1, 3, 5, 7).reshape(cin, len(offsets) * phases)
    product = jnp.dot(x, kb)  # (N, n_d, n_h, n_w, J^3 * s^3 * C_out), offset-major.
    y = sum(jnp.pad(product[..., i * phases:(i + 1) * phases],
                    ((0, 0), (a, j[0] - 1 - a), (b, j[1] - 1 - b), (c, j[2] - 1 - c), (0, 0)))
            for i, (a, b, c) in enumerate(offsets))
  return _depth_to_space_crop(y, s, p, out, blocks, cout)


def resolve_implementation(name: str, backend: Optional[str] = None) -> str:
  """'auto' -> 'matmul' on the CPU backend, 'xla' on any other (layers.resolve_implementation)."""
  return layers.resolve_implementation(name, backend, cpu='matmul')


CONV_IMPLEMENTATIONS: dict[str, Callable[..., jax.Array]] = {
    'xla': conv3d_xla, 'matmul': conv3d_matmul}
CONV_TRANSPOSE_IMPLEMENTATIONS: dict[str, Callable[..., jax.Array]] = {
    'xla': conv_transpose3d_xla, 'matmul': conv_transpose3d_matmul}
IMPLEMENTATIONS = (AUTO, 'xla', 'matmul')


# ---- layers -----------------------------------------------------------------------------

class _Conv3DBase(nn.Module):
  """A 'kernel' (kd, kh, kw, C_in, C_out) and optional 'bias'; the function from the
  subclass's FUNCTIONS by `implementation`."""

  FUNCTIONS = {}
  features: int
  kernel_size: IntOrTriple = 4
  strides: IntOrTriple = 2
  padding: IntOrTriple = 1
  use_bias: bool = True
  implementation: str = AUTO
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim != 5:
      raise ValueError(f'{type(self).__name__} needs (N, D, H, W, C) inputs; got shape '
                       f'{x.shape}.')
    options.check_choice(self.implementation, IMPLEMENTATIONS,
                         f'{type(self).__name__} implementation')
    k = as_triple(self.kernel_size, 'kernel_size')
    kernel = self.param('kernel', self.kernel_init, (*k, x.shape[-1], self.features))
    dtype = self.dtype or x.dtype
    fn = self.FUNCTIONS[resolve_implementation(self.implementation)]
    y = fn(x.astype(dtype), kernel.astype(dtype), self.strides, self.padding)
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,)).astype(dtype)
    return y


class Conv3D(_Conv3DBase):
  """Strided 3-D convolution, symmetric padding per axis; = nn.Conv(features, kernel_size,
  strides, padding=((p, p),) * 3) with the same parameters. Attributes: features,
  kernel_size, strides, padding (ints or triples), use_bias, implementation (IMPLEMENTATIONS),
  kernel_init, bias_init, dtype (compute dtype)."""

  FUNCTIONS = CONV_IMPLEMENTATIONS


class ConvTranspose3D(_Conv3DBase):
  """Transposed 3-D convolution, PyTorch semantics (module docstring); the same attributes
  as Conv3D, `padding` cropped from each side of the full output."""

  FUNCTIONS = CONV_TRANSPOSE_IMPLEMENTATIONS


# ---- geometry ---------------------------------------------------------------------------

def _spatial_geometry(side: int) -> tuple[int, int]:
  """(base, stages) with side = base * 2**stages, stages >= 1, base in BASE_SIDES."""
  for base in BASE_SIDES:
    size, stages = side, 0
    while size > base and size % 2 == 0:
      size //= 2
      stages += 1
    if size == base and stages >= 1:
      return base, stages
  raise ValueError(f'The 3-D GANs need a side of 4, 7, 3, 5 or 6 times a power of two (e.g. '
                   f'32, 64); got {side}.')


def video_geometry(clip_shape: Sequence[int]) -> tuple[Triple, tuple[Triple, ...]]:
  """(G's first map (T0, H0, W0), G's per-stage strides) for clips (T, H, W, C): H, W halve
  in every stage, T in the last n_t (as many as keep T0 >= MIN_BASE_FRAMES; see the module
  docstring). D uses the strides in reverse order."""
  if len(clip_shape) != 4:
    raise ValueError(f'video_gan needs clips (T, H, W, C); got data shape {tuple(clip_shape)}.')
  t, h, w, _ = clip_shape
  if h != w:
    raise ValueError(f'video_gan needs square frames; got {h} x {w}.')
  base, stages = _spatial_geometry(h)
  temporal = 0
  while temporal < stages and t % 2 ** (temporal + 1) == 0 and \
      t // 2 ** (temporal + 1) >= MIN_BASE_FRAMES:
    temporal += 1
  strides = tuple((2 if i >= stages - temporal else 1, 2, 2) for i in range(stages))
  return (t // 2 ** temporal, base, base), strides


def voxel_geometry(grid_shape: Sequence[int]) -> tuple[Triple, tuple[Triple, ...]]:
  """(G's first map (s0, s0, s0), strides ((2, 2, 2),) * stages) for grids (S, S, S, 1)."""
  if len(grid_shape) != 4 or not grid_shape[0] == grid_shape[1] == grid_shape[2]:
    raise ValueError(f'gan3d needs cubic voxel grids (S, S, S, C); got data shape '
                     f'{tuple(grid_shape)}.')
  base, stages = _spatial_geometry(grid_shape[0])
  return (base,) * 3, ((2, 2, 2),) * stages


def stage_kernel(strides: Triple, kernel_size: int) -> tuple[Triple, Triple]:
  """(kernel, padding) of one stage that scales each axis by its stride exactly: kernel_size
  taps, padding (kernel_size - 2) / 2 on stride-2 axes; kernel_size - 1 taps, the same
  padding on stride-1 axes."""
  if kernel_size < 2 or kernel_size % 2:
    raise ValueError(f'model.conv3d.kernel_size must be even and >= 2 (4 = DCGAN / 3D-GAN); '
                     f'got {kernel_size}.')
  pad = (kernel_size - 2) // 2
  kernel = tuple(kernel_size if s == 2 else kernel_size - 1 for s in strides)
  return kernel, (pad, pad, pad)


# ---- networks ---------------------------------------------------------------------------

class Generator3D(nn.Module):
  """z -> Dense -> (*base, width * 2**(n-1)) -> n x [BN, ReLU, ConvTranspose3D(strides[i])]
  -> tanh, channels halving per stage, the last to out_shape[-1] (see the module docstring).

  Attributes:
    out_shape: (D or T, H, W, C) of one sample.
    base: G's first map (D0, H0, W0); stage i multiplies each axis by strides[i].
    strides: per-stage strides, each axis 1 or 2.
    width: channels of the last hidden map (model.g_width).
  """

  out_shape: tuple[int, int, int, int]
  base: Triple
  strides: tuple[Triple, ...]
  width: int = 64
  kernel_size: int = 4
  axis_name: Optional[str] = None
  conv_impl: str = AUTO
  dtype: Any = None
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  conditioning: cond_lib.Conditioning = cond_lib.UNCONDITIONAL

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    cond = self.conditioning
    if cond.g == 'concat':
      z = cond_lib.concat_label_embedding(z, labels, cond)
    stages = len(self.strides)
    features = self.width * 2 ** (stages - 1)
    sn = dict(spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps, train=train)
    project = nn.Dense(int(np.prod(self.base)) * features, use_bias=False,
                       kernel_init=weight_init, dtype=self.dtype, name='project')
    x = layers.apply_layer(project, z.astype(self.dtype or z.dtype), **sn)
    x = x.reshape(z.shape[0], *self.base, features)
    for i, strides in enumerate(self.strides):
      x = cond_lib.generator_batch_norm(x, labels, cond, train=train, axis_name=self.axis_name,
                                        scale_init=norm_lib.bn_scale_init, name=f'bn{i}')
      x = nn.relu(x)
      features = self.out_shape[-1] if i == stages - 1 else features // 2
      kernel, padding = stage_kernel(strides, self.kernel_size)
      up = ConvTranspose3D(features, kernel, strides, padding, use_bias=False,
                           implementation=self.conv_impl, kernel_init=weight_init,
                           dtype=self.dtype, name=f'up{i}')
      x = layers.apply_layer(up, x, **sn)
    if x.shape[1:] != tuple(self.out_shape):
      raise ValueError(f'Generator3D made {x.shape[1:]} from base {self.base} and strides '
                       f'{self.strides}, not {tuple(self.out_shape)}.')
    return jnp.tanh(x.astype(jnp.float32))


class VideoDiscriminator(nn.Module):
  """3-D convolutional discriminator: clips (or voxel grids) (N, T, H, W, C) -> logits (N,).

  n x [Conv3D(strides[i]) -> normalization (not after the first) -> LeakyReLU(0.2) ->
  dropout] -> phi = the flattened last map, sown as 'intermediates'/'features' (feature
  matching) -> Dense(1) -> logit. Call it `d(x, labels=None, train=...)`; with heads on
  (conditioning) it returns {'logit': (N,), ...} as gan_jax.models.conditioning does.

  Attributes:
    strides: per-stage strides (t, h, w), each axis 1 or 2; for clips shaped like a
      video_gan G's, `video_geometry(clip_shape)[1][::-1]` (H, W halve every stage, T in
      the first n_t); for any clip, stages of (1, 2, 2) or (2, 2, 2) while the map allows.
    width: channels of the first conv (model.d_width), doubling per stage.
    kernel_size: taps of stride-2 axes (stride-1 axes: kernel_size - 1), even.
    normalization: 'batch' | 'layer' (per example over T, H, W, C) | 'none'.
    axis_name: BatchNorm's device axis (None: one device).
    conv_impl: IMPLEMENTATIONS key ('auto': 'matmul' on CPU, 'xla' elsewhere).
    dtype: compute dtype (None: the input's); the logit is float32.
    spectral_norm, spectral_norm_steps: nn.SpectralNorm on every conv and the logit layer.
    dropout: rate after each LeakyReLU (rng 'dropout').
    conditioning: gan_jax.models.conditioning (d: 'none' | 'projection'; heads).
  """

  strides: tuple[Triple, ...]
  width: int = 64
  kernel_size: int = 4
  normalization: str = 'batch'
  axis_name: Optional[str] = None
  conv_impl: str = AUTO
  dtype: Any = None
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  dropout: float = 0.0
  conditioning: cond_lib.Conditioning = cond_lib.UNCONDITIONAL

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> Any:
    options.check_choice(self.normalization, D_NORMALIZATIONS, 'model.conv3d.d_normalization')
    if x.ndim != 5:
      raise ValueError(f'VideoDiscriminator needs (N, T, H, W, C) inputs; got {x.shape}.')
    x = x.astype(self.dtype or x.dtype)
    sn = dict(spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps, train=train)
    for i, strides in enumerate(self.strides):
      kernel, padding = stage_kernel(strides, self.kernel_size)
      conv = Conv3D(self.width * 2 ** i, kernel, strides, padding, use_bias=False,
                    implementation=self.conv_impl, kernel_init=weight_init, dtype=self.dtype,
                    name=f'down{i}')
      x = layers.apply_layer(conv, x, **sn)
      if i > 0 and self.normalization == 'batch':
        x = norm_lib.normalization('batch', train=train, axis_name=self.axis_name,
                                   scale_init=norm_lib.bn_scale_init, name=f'bn{i}')(x)
      elif i > 0 and self.normalization == 'layer':
        x = nn.LayerNorm(epsilon=1e-5, reduction_axes=(-4, -3, -2, -1), feature_axes=-1,
                         use_fast_variance=False, name=f'ln{i}')(x)
      x = nn.leaky_relu(x, 0.2)
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, name=f'dropout{i}')(x, deterministic=not train)
    features = x.reshape(x.shape[0], -1)
    self.sow('intermediates', 'features', features)
    logit = nn.Dense(1, use_bias=False, kernel_init=weight_init, dtype=self.dtype, name='logit')
    logit = layers.apply_layer(logit, features, **sn)[:, 0].astype(jnp.float32)
    return cond_lib.discriminator_output(
        logit, features, labels, self.conditioning, train=train,
        spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps, dtype=self.dtype,
        projection_features=jnp.sum(x, axis=(1, 2, 3)), axis_name=self.axis_name)


def _build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
           num_classes: Optional[int], geometry: Callable, architecture: str):
  base, strides = geometry(data_shape)
  own = model_config.conv3d
  options.check_choice(own.conv_impl, IMPLEMENTATIONS, 'model.conv3d.conv_impl')
  options.check_choice(own.d_normalization, D_NORMALIZATIONS, 'model.conv3d.d_normalization')
  kernel_size = int(own.kernel_size)
  stage_kernel(strides[0], kernel_size)  # Checks kernel_size.
  dtype = options.compute_dtype(model_config.compute_dtype)
  dropout = options.check_rate(model_config.d_dropout, 'model.d_dropout')
  sn_steps = int(model_config.spectral_norm_steps)
  cond = cond_lib.from_config(model_config, num_classes, architecture,
                              d_choices=('none', 'projection'))

  def make_generator(axis_name):
    return Generator3D(tuple(data_shape), base, strides, int(model_config.g_width),
                       kernel_size, axis_name, own.conv_impl, dtype,
                       spectral_norm=bool(model_config.g_spectral_norm),
                       spectral_norm_steps=sn_steps, conditioning=cond)

  def make_discriminator(axis_name):
    return VideoDiscriminator(strides[::-1], int(model_config.d_width), kernel_size,
                              own.d_normalization, axis_name, own.conv_impl, dtype,
                              spectral_norm=bool(model_config.d_spectral_norm),
                              spectral_norm_steps=sn_steps, dropout=dropout, conditioning=cond)

  return make_generator, make_discriminator


def build_video(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
                num_classes: Optional[int]):
  """'video_gan': G and D of clips (T, H, W, C) (module docstring)."""
  return _build(model_config, data_shape, num_classes, video_geometry, 'video_gan')


def build_voxels(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
                 num_classes: Optional[int]):
  """'gan3d': 3D-GAN's G and D of voxel grids (S, S, S, 1) (module docstring)."""
  return _build(model_config, data_shape, num_classes, voxel_geometry, 'gan3d')
