"""The convolutions behind `layers.Conv2D` and `layers.ConvTranspose2D`, and their gradients.

Every function here computes the same function of the same kernel as XLA's own convolution
(`conv_xla`, `conv_transpose_xla`); they differ only in how the forward pass and the two
gradients are written, which decides their speed on XLA:CPU. Kernels are
(k, k, C_in, C_out); `conv_transpose_*` kernels are in PyTorch's orientation:
`kernel[a, b, i, o]` is `ConvTranspose2d.weight[i, o, a, b]`.

Transposed convolution (k, stride s, PyTorch padding p; output (H - 1) * s - 2 * p + k):

* `conv_transpose_xla`: the textbook lhs-dilated convolution. Its kernel gradient compiles to
  a very slow kernel on XLA:CPU (a dilated-input convolution; ~10x slower than a matmul).
* `conv_transpose_phase`: sub-pixel (phase) decomposition (Shi et al. 2016, "Real-time single
  image and video super-resolution ..."; Dumoulin & Visin 2016, sec. 4): s*s stride-1
  convolutions of the un-dilated input, one per output phase, written as one J x J
  convolution to s*s*C_out channels with a gathered kernel, then depth-to-space.
* `conv_transpose_phase_matmul`: the same with the convolution as im2col + one matmul.
* `conv_transpose_xla_matmul_grad`: XLA's forward and input gradient; a `jax.custom_vjp`
  kernel gradient as k*k strided slices of the cotangent and one matmul.
* `conv_transpose_col2im`: one matmul of the input with the kernel as a
  (C_in, J*J*s*s*C_out) matrix, the J*J block offsets shifted into place and added (col2im),
  depth-to-space. `conv_im2col` is the strided convolution as im2col + one matmul. Plain
  autodiff; the fastest on small maps.
* `conv_transpose_space_to_depth`: the adjoint of a strided convolution, computed as a
  stride-1 J x J convolution in space-to-depth space (no zeros multiplied); see
  "Space-to-depth forms" below. `conv_space_to_depth` is the strided convolution of the
  same custom-VJP pair.

The custom-VJP forms support reverse mode to any order (grad of grad) but not forward mode
(`jax.jvp`, `jax.jacfwd`): use XLA's or the phase forms there. In all transposed forms but
'xla', a 1x1 input (the DCGAN projection from z) is one dense matmul; in all strided forms but
'xla', so is a 1x1 output (a U-Net's innermost layer).

Kernel gradient of the space-to-depth pair, chosen per layer shape. Three forms compute
dL/dW of `conv_xla(x, ., s, p)` for a cotangent g (KERNEL_GRADS): 'im2col' (k*k strided
slices of x, one matmul), 'shifted' (J*J shifted copies of g in space-to-depth space, one
matmul) and 'xla' (XLA's own transpose of the convolution). Which is fastest depends on the
shape and the machine, so `choose_kernel_grad` times the three once per shape, the first
time a gradient of that shape is traced (as convolution autotuners do): small jitted
functions of the concrete shapes, run with `jax.ensure_compile_time_eval` outside the
surrounding trace, compiled, then the best of `AUTOTUNE_ROUNDS` interleaved runs (~1 s per
shape on 2 cores, mostly the three compiles).
The choice is kept in-process and in a JSON file,
`$XDG_CACHE_HOME/gan_jax/conv_autotune.json` (default ~/.cache), keyed by shape, dtype, jax
version, backend, CPU model and core count. The forms round differently (~1e-7 relative), so
bitwise-reproducible runs need the same choices: a run is deterministic given that file.
Timings on a busy machine are noisy and the first ones stay: delete the file to re-time.
Timing stops after AUTOTUNE_BUDGET_S seconds in a process; later shapes then use the cost
model. `GAN_JAX_CONV_AUTOTUNE=0` switches timing off: the choice is then a fixed cost model,
`bytes / 8e9 + FLOPs / 2.5e11` seconds between 'im2col' and 'shifted' (fitted on one 2-core
machine), deterministic everywhere; the tests run this way.
"""

import functools
import json
import logging
import math
import os
import platform
import tempfile
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

logger = logging.getLogger(__name__)

_DIMENSION_NUMBERS = ('NHWC', 'HWIO', 'NHWC')


def conv_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
  """Output length of a strided convolution along an axis of `size` (symmetric padding)."""
  return (size + 2 * padding - kernel_size) // stride + 1


def conv_transpose_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
  """Output length of a transposed convolution (PyTorch padding) along an axis of `size`."""
  return (size - 1) * stride - 2 * padding + kernel_size


def conv_xla(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
  """y = conv(x, kernel), kernel (k, k, C_in, C_out) as flax nn.Conv, symmetric padding."""
  return lax.conv_general_dilated(x, kernel, (stride, stride), ((padding, padding),) * 2,
                                  dimension_numbers=_DIMENSION_NUMBERS)


def conv_transpose_xla(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
  """Transposed convolution as XLA's lhs-dilated convolution (the textbook formulation).

  Args:
    x: (N, H, W, C_in).
    kernel: (k, k, C_in, C_out), PyTorch orientation (see module docstring).
    stride: upsampling factor.
    padding: PyTorch `padding`, 0 <= padding <= k - 1.
  Returns:
    (N, (H - 1) * stride - 2 * padding + k, ..., C_out).
  """
  k = kernel.shape[0]
  pad = k - 1 - padding
  return lax.conv_general_dilated(
      x,
      jnp.flip(kernel, axis=(0, 1)),
      window_strides=(1, 1),
      padding=((pad, pad), (pad, pad)),
      lhs_dilation=(stride, stride),
      dimension_numbers=_DIMENSION_NUMBERS,
  )


# ---------------------------------------------------------------------------------------
# Phase (sub-pixel) decomposition.
#
# One spatial axis, full (uncropped) output index t = i * s + a (input i, kernel tap a),
# PyTorch output o = t - p. Write o = s * q + r with phase r in [0, s). With
# c_r = (r + p) % s and d_r = (r + p) // s, the taps that reach phase r are a = s * m + c_r
# and they read input i = q + d_r - m. So output phase r at q is a stride-1 correlation of x
# over offsets j = d_r - m with sub-kernel w[s * (d_r - j) + c_r]. Taking the union window
# [j_min, j_max] over phases (J = j_max - j_min + 1 taps), with zeros where a phase has no
# tap, gives one convolution for all phases.
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _phase_geometry(size: int, k: int, s: int, p: int):
  """Static tap table for one axis: (taps (J, s) with k meaning 'zero', J, Q, out, pads)."""
  out = conv_transpose_output_size(size, k, s, p)
  if out <= 0:
    raise ValueError(f'Transposed conv of size {size} with k={k}, s={s}, p={p} is empty.')
  offsets = {}
  for r in range(s):
    c, d = (r + p) % s, (r + p) // s
    for m in range(-(-(k - c) // s)):  # ceil((k - c) / s) taps with a = s*m + c < k.
      offsets[(r, d - m)] = s * m + c
  js = [j for (_, j) in offsets]
  j_min, j_max = min(js), max(js)
  window = j_max - j_min + 1
  taps = np.full((window, s), k, dtype=np.int32)  # index k -> the zero row appended below.
  for (r, j), a in offsets.items():
    taps[j - j_min, r] = a
  q = -(-out // s)  # Positions per phase (ceil); the last partial block is cropped.
  pad_lo = -j_min
  pad_hi = (q - 1 + j_max) - (size - 1)
  return taps, window, q, out, pad_lo, pad_hi


def phase_kernel(kernel: jax.Array, stride: int, padding: int, in_h: int, in_w: int):
  """Gathers the (J_y, J_x, C_in, s*s*C_out) stride-1 kernel of all output phases."""
  k, _, cin, cout = kernel.shape
  s = stride
  ty, jy, *_ = _phase_geometry(in_h, k, s, padding)
  tx, jx, *_ = _phase_geometry(in_w, k, s, padding)
  padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # Row/col k are zeros.
  # (J_y, J_x, s, s, C_in, C_out): [jy, jx, ry, rx] -> kernel[ty[jy, ry], tx[jx, rx]].
  gathered = padded[ty[:, None, :, None], tx[None, :, None, :]]
  gathered = gathered.transpose(0, 1, 4, 2, 3, 5)
  return gathered.reshape(jy, jx, cin, s * s * cout)


def _depth_to_space(y: jax.Array, s: int, out_h: int, out_w: int) -> jax.Array:
  n, qh, qw, c = y.shape
  cout = c // (s * s)
  y = y.reshape(n, qh, qw, s, s, cout).transpose(0, 1, 3, 2, 4, 5)
  y = y.reshape(n, qh * s, qw * s, cout)
  if qh * s != out_h or qw * s != out_w:
    y = y[:, :out_h, :out_w]
  return y


def _dense_from_1x1(x: jax.Array, kernel: jax.Array, padding: int) -> jax.Array:
  """A 1x1 input: every output pixel sees exactly one tap, so it is one matmul."""
  k, _, cin, cout = kernel.shape
  w = kernel[padding:k - padding, padding:k - padding]
  out = w.shape[0]
  w = w.transpose(2, 0, 1, 3).reshape(cin, out * out * cout)
  y = jnp.dot(x.reshape(x.shape[0], cin), w)
  return y.reshape(x.shape[0], out, out, cout)


def _dense_to_1x1(x: jax.Array, kernel: jax.Array, padding: int) -> jax.Array:
  """A strided convolution whose output is 1x1 (a U-Net's innermost layer: 2x2 -> 1x1): its
  one output pixel reads input pixel (i, j) through tap (i + p, j + p), so it is one matmul
  of the flattened input with those taps. Any stride; plain autodiff (every order, forward
  mode too) gives matmul gradients."""
  k, _, cin, cout = kernel.shape
  n, h, w, _ = x.shape
  hv, wv = min(h, k - padding), min(w, k - padding)
  taps = kernel[padding:padding + hv, padding:padding + wv].reshape(hv * wv * cin, cout)
  y = jnp.dot(x[:, :hv, :wv].reshape(n, hv * wv * cin), taps)
  return y.reshape(n, 1, 1, cout)


def _output_is_1x1(x: jax.Array, kernel_size: int, stride: int, padding: int) -> bool:
  return all(conv_output_size(size, kernel_size, stride, padding) == 1 for size in x.shape[1:3])


def _phase_common(x, kernel, stride, padding):
  _, h, w, _ = x.shape
  k = kernel.shape[0]
  _, _, qh, oh, ply, phy = _phase_geometry(h, k, stride, padding)
  _, _, qw, ow, plx, phx = _phase_geometry(w, k, stride, padding)
  # lax.pad accepts negative padding (crops), which some (k, s, p) combinations need.
  xp = lax.pad(x, jnp.zeros((), x.dtype),
               ((0, 0, 0), (ply, phy, 0), (plx, phx, 0), (0, 0, 0)))
  return xp, phase_kernel(kernel, stride, padding, h, w), (qh, qw, oh, ow)


def conv_transpose_phase(x: jax.Array, kernel: jax.Array, stride: int,
                         padding: int) -> jax.Array:
  """Sub-pixel decomposition: one stride-1 convolution to s*s*C_out, then depth-to-space."""
  if x.shape[1] == 1 and x.shape[2] == 1:
    return _dense_from_1x1(x, kernel, padding)
  xp, kp, (_, _, oh, ow) = _phase_common(x, kernel, stride, padding)
  y = lax.conv_general_dilated(xp, kp, (1, 1), 'VALID', dimension_numbers=_DIMENSION_NUMBERS)
  return _depth_to_space(y, stride, oh, ow)


def conv_transpose_phase_matmul(x: jax.Array, kernel: jax.Array, stride: int,
                                padding: int) -> jax.Array:
  """Sub-pixel decomposition with the stride-1 convolution as im2col + one matmul."""
  if x.shape[1] == 1 and x.shape[2] == 1:
    return _dense_from_1x1(x, kernel, padding)
  xp, kp, (qh, qw, oh, ow) = _phase_common(x, kernel, stride, padding)
  jy, jx, cin, cphase = kp.shape
  patches = jnp.concatenate(
      [xp[:, a:a + qh, b:b + qw, :] for a in range(jy) for b in range(jx)], axis=-1)
  y = jnp.dot(patches, kp.reshape(jy * jx * cin, cphase))
  return _depth_to_space(y, stride, oh, ow)


# ---------------------------------------------------------------------------------------
# XLA's forward and input gradient (both fast), custom kernel gradient.
#
# Transposed conv: dL/dW[a, b, i, o] = sum_{n, y, x} x[n, y, x, i] g[n, s*y + a - p,
# s*x + b - p, o]: padding g by p, each tap (a, b) reads the strided slice g_pad[:, a::s, b::s]
# of the same spatial size as x. Concatenating the k*k slices along channels makes it one
# matmul (C_in, N*H*W) @ (N*H*W, k*k*C_out), with no wasted multiply-adds. The strided conv's
# kernel gradient is the same with the roles of the two maps exchanged (im2col of x).
# ---------------------------------------------------------------------------------------


def conv_transpose_kernel_grad(x: jax.Array, g: jax.Array, kernel_size: int, stride: int,
                               padding: int) -> jax.Array:
  """Kernel gradient of `conv_transpose_xla` for cotangent g, as strided slices + matmul."""
  n, h, w, cin = x.shape
  k, s, p = kernel_size, stride, padding
  cout = g.shape[-1]
  gp = jnp.pad(g, ((0, 0), (p, p), (p, p), (0, 0)))
  slices = [lax.slice(gp, (0, a, b, 0), (n, a + s * (h - 1) + 1, b + s * (w - 1) + 1, cout),
                      (1, s, s, 1)) for a in range(k) for b in range(k)]
  patches = jnp.concatenate(slices, axis=-1).reshape(n * h * w, k * k * cout)
  dw = jnp.dot(x.reshape(n * h * w, cin).T, patches)  # (C_in, k*k*C_out)
  return dw.reshape(cin, k, k, cout).transpose(1, 2, 0, 3)


def _im2col(x: jax.Array, k: int, s: int, p: int) -> jax.Array:
  """(N, H_o, W_o, k*k*C): the k*k strided slices of x padded by p, tap-major on channels."""
  n, h, w, cin = x.shape
  ho, wo = (conv_output_size(size, k, s, p) for size in (h, w))
  xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  return jnp.concatenate(
      [lax.slice(xp, (0, a, b, 0), (n, a + s * (ho - 1) + 1, b + s * (wo - 1) + 1, cin),
                 (1, s, s, 1)) for a in range(k) for b in range(k)], axis=-1)


def conv_kernel_grad_im2col(x: jax.Array, g: jax.Array, kernel_size: int, stride: int,
                            padding: int) -> jax.Array:
  """Kernel gradient of `conv_xla` for cotangent g: im2col of x, then one matmul."""
  cin, (n, ho, wo, cout), k = x.shape[-1], g.shape, kernel_size
  patches = _im2col(x, k, stride, padding).reshape(n * ho * wo, k * k * cin)
  return jnp.dot(patches.T, g.reshape(n * ho * wo, cout)).reshape(k, k, cin, cout)


def _with_kernel_grad(forward: Callable[..., jax.Array],
                      kernel_grad: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
  """`forward(x, kernel, stride, padding)` with its own forward pass and input gradient
  (XLA's) and the kernel gradient `kernel_grad(x, g, k, stride, padding)`, as a
  `jax.custom_vjp` (reverse mode only)."""

  @functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
  def fn(x, kernel, stride, padding):
    return forward(x, kernel, stride, padding)

  def fn_fwd(x, kernel, stride, padding):
    return forward(x, kernel, stride, padding), (x, kernel)

  def fn_bwd(stride, padding, residuals, g):
    x, kernel = residuals
    _, vjp_x = jax.vjp(lambda x_: forward(x_, kernel, stride, padding), x)
    (dx,) = vjp_x(g)
    return dx, kernel_grad(x, g, kernel.shape[0], stride, padding).astype(kernel.dtype)

  fn.defvjp(fn_fwd, fn_bwd)
  return fn


_conv_transpose_xla_matmul_grad = _with_kernel_grad(conv_transpose_xla,
                                                    conv_transpose_kernel_grad)


def conv_transpose_xla_matmul_grad(x: jax.Array, kernel: jax.Array, stride: int,
                                   padding: int) -> jax.Array:
  """XLA forward and input gradient; kernel gradient as strided slices + one matmul."""
  if x.shape[1] == 1 and x.shape[2] == 1:
    return _dense_from_1x1(x, kernel, padding)
  return _conv_transpose_xla_matmul_grad(x, kernel, stride, padding)


_conv_xla_matmul_grad = _with_kernel_grad(conv_xla, conv_kernel_grad_im2col)


def conv_xla_matmul_grad(x: jax.Array, kernel: jax.Array, stride: int,
                         padding: int) -> jax.Array:
  """`conv_xla` whose kernel gradient is im2col + matmul (forward mode unsupported); a 1x1
  output is one dense matmul."""
  if _output_is_1x1(x, kernel.shape[0], stride, padding):
    return _dense_to_1x1(x, kernel, padding)
  return _conv_xla_matmul_grad(x, kernel, stride, padding)


# ---------------------------------------------------------------------------------------
# Matmul forms for small maps (a U-Net's inner layers): the strided convolution as im2col
# (k*k strided slices of the padded input on the channel axis) times the kernel as one
# (k*k*C_in, C_out) matrix; the transposed convolution as one product of the input with the
# kernel as a (C_in, J*J*s*s*C_out) matrix, whose J*J block offsets are then shifted into
# place and added (col2im), depth-to-space, before the padding is cropped (taps zero-padded
# to J*s per axis, J = ceil(k / s): a sum of J*J maps, not k*k, since each carries all s*s
# output phases). Both read the kernel with its output
# channels innermost, so preparing it moves whole rows, and both are plain autodiff of
# slices, pads, reshapes and one dot: every mode works (jvp, grad of grad) and the gradients
# are matmuls too.
# ---------------------------------------------------------------------------------------


def conv_im2col(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
  """`conv_xla` as im2col + one matmul."""
  if _output_is_1x1(x, kernel.shape[0], stride, padding):
    return _dense_to_1x1(x, kernel, padding)
  k, _, cin, cout = kernel.shape
  return jnp.dot(_im2col(x, k, stride, padding), kernel.reshape(k * k * cin, cout))


def conv_transpose_col2im(x: jax.Array, kernel: jax.Array, stride: int,
                          padding: int) -> jax.Array:
  """`conv_transpose_xla` as one matmul + col2im. With the taps zero-padded to J*s per axis
  (J = ceil(k / s)), tap a = s*m + r of input pixel i lands in output pixel s*(i + m) + r:
  one product of x with the kernel as a (C_in, J*J*s*s*C_out) matrix, then its J*J block
  offsets m shifted into place and added (s*s*C_out channels each), depth-to-space, and the
  padding cropped."""
  if x.shape[1] == 1 and x.shape[2] == 1:
    return _dense_from_1x1(x, kernel, padding)
  n, h, w, cin = x.shape
  k, _, _, cout = kernel.shape
  s, p = stride, padding
  j = -(-k // s)
  kb = jnp.pad(kernel, ((0, j * s - k), (0, j * s - k), (0, 0), (0, 0)))
  kb = kb.reshape(j, s, j, s, cin, cout).transpose(4, 0, 2, 1, 3, 5)
  phases = s * s * cout
  product = jnp.dot(x, kb.reshape(cin, j * j * phases))  # (N, H, W, J*J*s*s*C_out)
  y = sum(jnp.pad(product[..., (a * j + b) * phases:(a * j + b + 1) * phases],
                  ((0, 0), (a, j - 1 - a), (b, j - 1 - b), (0, 0)))
          for a in range(j) for b in range(j))
  out_h, out_w = (conv_transpose_output_size(size, k, s, p) for size in (h, w))
  y = _depth_to_space(y, s, y.shape[1] * s, y.shape[2] * s)
  return y[:, p:p + out_h, p:p + out_w]


# ---------------------------------------------------------------------------------------
# Space-to-depth forms: a stride-s convolution whose kernel is padded to J*s taps
# (J = ceil(k / s)) is a stride-1 J x J convolution of the space-to-depth rearranged, padded
# input S (N, H_s, W_s, s*s*C): every s x s block of pixels becomes one pixel of s*s*C
# channels. Its transpose (the input gradient of the strided convolution, and the forward
# pass of the transposed convolution) is then a stride-1 "full" J x J convolution followed by
# depth-to-space: no dilated inputs, no multiplications by inserted zeros (for k=4, s=2, p=1
# the window is exactly 2 x 2). The kernel gradient is one matmul, either
#   dW'[a, b] = S_flat^T @ shift_{a,b}(g)_flat   for all (a, b) at once ('shifted'),
# with the J*J shifted copies of the (small) cotangent concatenated along channels, so the
# large input is read in place, or im2col of the input, or XLA's own: `conv_kernel_grad_fast`
# uses whichever `choose_kernel_grad` picks. The strided forward direction stays XLA's direct
# convolution.
#
# A "conv" below maps a big map x (N, H, W, C_x) to a small one y (N, H_o, W_o, C_y) with a
# kernel w (k, k, C_x, C_y), stride s, symmetric padding p, like `conv_xla`.
# ---------------------------------------------------------------------------------------


def _conv_geometry(size: int, k: int, s: int, p: int):
  """For one axis of a conv input of `size`: (out, J, pad_lo, pad_hi) such that the padded
  input has exactly (out + J - 1) * s entries (pad_hi may be negative: a crop)."""
  out = conv_output_size(size, k, s, p)
  if out <= 0:
    raise ValueError(f'Convolution of size {size} with k={k}, s={s}, p={p} is empty.')
  j = -(-k // s)
  return out, j, p, (out + j - 1) * s - size - p


def _space_to_depth(x: jax.Array, s: int) -> jax.Array:
  if s == 1:
    return x
  n, h, w, c = x.shape
  x = x.reshape(n, h // s, s, w // s, s, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h // s, w // s, s * s * c)


def _kernel_to_s2d(w: jax.Array, s: int) -> jax.Array:
  """(k, k, C, C_o) -> (J, J, s*s*C, C_o), taps zero-padded to J*s; matches _space_to_depth."""
  k, _, c, co = w.shape
  j = -(-k // s)
  w = jnp.pad(w, ((0, j * s - k), (0, j * s - k), (0, 0), (0, 0)))
  return w.reshape(j, s, j, s, c, co).transpose(0, 2, 1, 3, 4, 5).reshape(j, j, s * s * c, co)


def _kernel_from_s2d(w: jax.Array, s: int, k: int) -> jax.Array:
  """Inverse of `_kernel_to_s2d` (drops the zero-padded taps)."""
  j, _, ssc, co = w.shape
  c = ssc // (s * s)
  w = w.reshape(j, j, s, s, c, co).transpose(0, 2, 1, 3, 4, 5).reshape(j * s, j * s, c, co)
  return w[:k, :k]


def _pad_spatial(x: jax.Array, hw: tuple[int, int], k: int, s: int, p: int,
                 sign: int = 1) -> jax.Array:
  """Pads (sign=1) a conv input of spatial size hw to (out + J - 1) * s per axis, or crops
  (sign=-1) such a padded map back to hw."""
  (_, _, lo, hi_h), (_, _, _, hi_w) = (_conv_geometry(size, k, s, p) for size in hw)
  return lax.pad(x, jnp.zeros((), x.dtype),
                 ((0, 0, 0), (sign * lo, sign * hi_h, 0), (sign * lo, sign * hi_w, 0),
                  (0, 0, 0)))


def _padded_s2d(x: jax.Array, k: int, s: int, p: int) -> jax.Array:
  """S: x padded (or cropped) to (out + J - 1) * s per axis, then space-to-depth."""
  return _space_to_depth(_pad_spatial(x, x.shape[1:3], k, s, p), s)


def conv_adjoint_s2d(y: jax.Array, w: jax.Array, stride: int, padding: int,
                     in_hw: tuple[int, int]) -> jax.Array:
  """The transpose of `conv_xla(., w, stride, padding)` applied to y, for an input of spatial
  size `in_hw`: a stride-1 full J x J convolution in space-to-depth space, depth-to-space,
  then the padding is cropped off."""
  s = stride
  ws = jnp.flip(_kernel_to_s2d(w, s), (0, 1)).transpose(0, 1, 3, 2)  # (J, J, C_y, s*s*C_x)
  j = ws.shape[0]
  xs = lax.conv_general_dilated(y, ws, (1, 1), ((j - 1, j - 1), (j - 1, j - 1)),
                                dimension_numbers=_DIMENSION_NUMBERS)
  xp = _depth_to_space(xs, s, xs.shape[1] * s, xs.shape[2] * s)
  return _pad_spatial(xp, in_hw, w.shape[0], s, padding, sign=-1)


def conv_kernel_grad_shifted(x: jax.Array, g: jax.Array, kernel_size: int, stride: int,
                             padding: int) -> jax.Array:
  """Kernel gradient of `conv_xla` for cotangent g, as one matmul in space-to-depth space
  against J*J shifted copies of g."""
  k, s = kernel_size, stride
  sx = _padded_s2d(x, k, s, padding)  # (N, H_o + J - 1, W_o + J - 1, s*s*C_x)
  n, hs, ws_, cs = sx.shape
  _, ho, wo, cy = g.shape
  j = hs - ho + 1
  shifted = [jnp.pad(g, ((0, 0), (a, j - 1 - a), (b, j - 1 - b), (0, 0)))
             for a in range(j) for b in range(j)]
  gcat = jnp.concatenate(shifted, axis=-1).reshape(n * hs * ws_, j * j * cy)
  dws = jnp.dot(sx.reshape(n * hs * ws_, cs).T, gcat)  # (s*s*C_x, J*J*C_y)
  dws = dws.reshape(cs, j, j, cy).transpose(1, 2, 0, 3)
  return _kernel_from_s2d(dws, s, k)


def conv_kernel_grad_xla(x: jax.Array, g: jax.Array, kernel_size: int, stride: int,
                         padding: int) -> jax.Array:
  """Kernel gradient of `conv_xla` for cotangent g as XLA writes it (the transpose of the
  convolution, linear in the kernel)."""
  k = kernel_size
  kernel = jax.ShapeDtypeStruct((k, k, x.shape[-1], g.shape[-1]), x.dtype)
  (dw,) = jax.linear_transpose(lambda w: conv_xla(x, w, stride, padding), kernel)(g)
  return dw


# The three forms of the same kernel gradient, in the order ties are broken.
KERNEL_GRADS: dict[str, Callable[..., jax.Array]] = {
    'im2col': conv_kernel_grad_im2col,
    'shifted': conv_kernel_grad_shifted,
    'xla': conv_kernel_grad_xla,
}


def kernel_grad_cost_model(x_shape: tuple[int, ...], g_shape: tuple[int, ...],
                           kernel_size: int, stride: int) -> str:
  """'im2col' or 'shifted', whichever `bytes / 8e9 + flops / 2.5e11` says is cheaper: both
  materialize one matrix and do one matmul; on the 2-core machine this was fitted on the copy
  is paid in memory bandwidth (~8 GB/s) and the matmul at ~250 GFLOP/s. im2col wins when C_x
  is small against C_y (a first layer) or the map is small."""
  n, _, _, cx = x_shape
  _, ho, wo, cy = g_shape
  k, s = kernel_size, stride
  j = -(-k // s)
  hs, ws_ = ho + j - 1, wo + j - 1
  im2col = 8 * k * k * cx * n * ho * wo / 8e9 + 2 * k * k * cx * cy * n * ho * wo / 2.5e11
  shifted = (8 * j * j * cy * n * hs * ws_ / 8e9
             + 2 * j * j * s * s * cx * cy * n * hs * ws_ / 2.5e11)
  return 'im2col' if im2col <= shifted else 'shifted'


# ---------------------------------------------------------------------------------------
# Autotuning of the kernel-gradient form (see the module docstring).
# ---------------------------------------------------------------------------------------

AUTOTUNE_ENV = 'GAN_JAX_CONV_AUTOTUNE'
AUTOTUNE_ROUNDS = 3  # Timed runs per candidate (the first doubles as warm-up); the minimum.
AUTOTUNE_BUDGET_S = 10.0  # Most seconds of timing (compiles included) per process.

_tuned: dict[str, tuple[str, str]] = {}  # Cache key -> (form, how chosen), this process.
_tuning_seconds = [0.0]  # Spent so far in this process.
_made: dict[tuple, str] = {}  # (x shape, g shape, k, s, p, dtype, how chosen) -> form.


def autotune_seconds() -> float:
  """Seconds this process has spent timing kernel-gradient forms (compiles included)."""
  return _tuning_seconds[0]


def choices_made() -> dict[tuple, str]:
  """Every choice `choose_kernel_grad` made in this process: (x_shape, g_shape, kernel_size,
  stride, padding, dtype name, how) -> form, `how` one of 'timed', 'cache file',
  'cost model' (autotuning off) or 'cost model (budget spent)'."""
  return dict(_made)


def autotune_enabled() -> bool:
  """Whether `choose_kernel_grad` times the candidates (GAN_JAX_CONV_AUTOTUNE, default 1)."""
  value = os.environ.get(AUTOTUNE_ENV, '1')
  if value not in ('0', '1'):
    raise ValueError(f'{AUTOTUNE_ENV}={value!r}: set it to 1 (time the conv kernel-gradient '
                     'forms per layer shape) or 0 (use the fixed cost model).')
  return value == '1'


def autotune_cache_path() -> str:
  """The JSON file that keeps the choices between processes."""
  root = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(root, 'gan_jax', 'conv_autotune.json')


@functools.lru_cache(maxsize=None)
def _machine() -> str:
  """jax version, backend, device kind, CPU model and usable cores: what a timing holds for."""
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      cpu = next((line.split(':', 1)[1].strip() for line in f
                  if line.startswith('model name')), cpu)
  except OSError:
    pass
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  device = jax.devices()[0]
  return f'jax {jax.__version__}|{device.platform} {device.device_kind}|{cpu}|{cores} cores'


def _cache_key(x_shape, g_shape, k, s, p, dtype) -> str:
  shape = lambda t: 'x'.join(map(str, t))
  return (f'{_machine()}|{jnp.dtype(dtype).name}|x {shape(x_shape)}|g {shape(g_shape)}|'
          f'k{k} s{s} p{p}')


def _read_cache_file() -> dict:
  path = autotune_cache_path()
  try:
    with open(path, encoding='utf-8') as f:
      entries = json.load(f)
    return entries if isinstance(entries, dict) else {}
  except FileNotFoundError:
    return {}
  except (OSError, ValueError) as e:
    logger.warning('Ignoring unreadable conv autotune cache %s (%s); it will be rewritten.',
                   path, e)
    return {}


def _write_cache_entry(key: str, entry: dict) -> None:
  """Adds one entry to the JSON file (read, merge, atomic replace)."""
  path = autotune_cache_path()
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    entries = _read_cache_file()
    entries[key] = entry
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
    try:
      with os.fdopen(fd, 'w', encoding='utf-8') as f:
        json.dump(entries, f, indent=1, sort_keys=True)
      os.replace(tmp, path)
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)
  except OSError as e:
    logger.warning('Could not write the conv autotune cache %s (%s); choices are kept for '
                   'this process only.', path, e)


def time_kernel_grads(x_shape, g_shape, kernel_size, stride, padding, dtype,
                      rounds: int = AUTOTUNE_ROUNDS) -> dict[str, float]:
  """Seconds per call of each KERNEL_GRADS form at these concrete shapes: each compiled
  alone, then the minimum of `rounds` interleaved runs. Runs eagerly even when called while
  a jitted function is being traced."""
  with jax.ensure_compile_time_eval():
    x = jnp.ones(x_shape, dtype)
    g = jnp.ones(g_shape, dtype)
    compiled = {}
    for name, fn in KERNEL_GRADS.items():
      f = functools.partial(fn, kernel_size=kernel_size, stride=stride, padding=padding)
      compiled[name] = jax.jit(f).lower(x, g).compile()
    seconds = {name: math.inf for name in compiled}
    for _ in range(rounds):
      for name, f in compiled.items():
        start = time.perf_counter()
        jax.block_until_ready(f(x, g))
        seconds[name] = min(seconds[name], time.perf_counter() - start)
  return seconds


def choose_kernel_grad(x_shape: tuple[int, ...], g_shape: tuple[int, ...], kernel_size: int,
                       stride: int, padding: int, dtype) -> str:
  """The KERNEL_GRADS form for a conv from x_shape to g_shape: timed once per shape and
  cached (in-process and on disk) when autotuning is on, else the cost model."""
  x_shape, g_shape = tuple(x_shape), tuple(g_shape)
  choice, how = _choose(x_shape, g_shape, kernel_size, stride, padding, dtype)
  _made[(x_shape, g_shape, kernel_size, stride, padding, jnp.dtype(dtype).name, how)] = choice
  return choice


def _choose(x_shape, g_shape, kernel_size, stride, padding, dtype) -> tuple[str, str]:
  """(form, how it was chosen)."""
  if not autotune_enabled():
    return kernel_grad_cost_model(x_shape, g_shape, kernel_size, stride), 'cost model'
  key = _cache_key(x_shape, g_shape, kernel_size, stride, padding, dtype)
  if key in _tuned:
    return _tuned[key]
  entry = _read_cache_file().get(key)
  if isinstance(entry, dict) and entry.get('choice') in KERNEL_GRADS:
    _tuned[key] = (entry['choice'], 'cache file')
    return _tuned[key]
  if _tuning_seconds[0] >= AUTOTUNE_BUDGET_S:
    choice = kernel_grad_cost_model(x_shape, g_shape, kernel_size, stride)
    logger.info('Conv autotune budget (%.0f s) spent: %s uses the cost model (%s).',
                AUTOTUNE_BUDGET_S, key, choice)
    _tuned[key] = (choice, 'cost model (budget spent)')  # A later process may time it.
    return _tuned[key]
  start = time.perf_counter()
  seconds = time_kernel_grads(x_shape, g_shape, kernel_size, stride, padding, dtype)
  _tuning_seconds[0] += time.perf_counter() - start
  choice = min(seconds, key=seconds.get)  # First of equals in KERNEL_GRADS order.
  logger.info('Conv kernel gradient %s: %s -> %s (%.1f s of timing).', key,
              ', '.join(f'{n} {t * 1e3:.2f} ms' for n, t in seconds.items()), choice,
              time.perf_counter() - start)
  _write_cache_entry(key, dict(choice=choice,
                               ms={n: round(t * 1e3, 3) for n, t in seconds.items()}))
  _tuned[key] = (choice, 'timed')
  return _tuned[key]


def conv_kernel_grad_fast(x: jax.Array, g: jax.Array, kernel_size: int, stride: int,
                          padding: int) -> jax.Array:
  """Kernel gradient of `conv_xla` in the form `choose_kernel_grad` picks for its shape."""
  name = choose_kernel_grad(x.shape, g.shape, kernel_size, stride, padding, x.dtype)
  return KERNEL_GRADS[name](x, g, kernel_size, stride, padding)


# The strided convolution and its transpose as a pair of custom VJPs that refer to each
# other, so gradients of any order (e.g. gradient penalties) stay in the fast forms.


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_s2d(x, w, stride, padding):
  return conv_xla(x, w, stride, padding)


def _conv_s2d_fwd(x, w, stride, padding):
  return conv_xla(x, w, stride, padding), (x, w)


def _conv_s2d_bwd(stride, padding, residuals, g):
  x, w = residuals
  dx = _conv_adjoint(g, w, stride, padding, x.shape[1:3])
  dw = conv_kernel_grad_fast(x, g, w.shape[0], stride, padding).astype(w.dtype)
  return dx.astype(x.dtype), dw


_conv_s2d.defvjp(_conv_s2d_fwd, _conv_s2d_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_adjoint(y, w, stride, padding, in_hw):
  return conv_adjoint_s2d(y, w, stride, padding, in_hw)


def _conv_adjoint_fwd(y, w, stride, padding, in_hw):
  return conv_adjoint_s2d(y, w, stride, padding, in_hw), (y, w)


def _conv_adjoint_bwd(stride, padding, in_hw, residuals, h):
  # <adjoint(y, w), h> = <y, conv(h, w)>: the cotangent of y is conv(h, w), and the kernel
  # gradient is the conv kernel gradient with h as the input and y as the cotangent.
  y, w = residuals
  dy = _conv_s2d(h, w, stride, padding)
  dw = conv_kernel_grad_fast(h, y, w.shape[0], stride, padding).astype(w.dtype)
  return dy.astype(y.dtype), dw


_conv_adjoint.defvjp(_conv_adjoint_fwd, _conv_adjoint_bwd)


def conv_space_to_depth(x: jax.Array, kernel: jax.Array, stride: int,
                        padding: int) -> jax.Array:
  """`conv_xla` with the input gradient and kernel gradient in space-to-depth form; a 1x1
  output is one dense matmul."""
  if _output_is_1x1(x, kernel.shape[0], stride, padding):
    return _dense_to_1x1(x, kernel, padding)
  if stride == 1:
    return conv_xla(x, kernel, stride, padding)  # Nothing to gain: XLA's forms are direct.
  return _conv_s2d(x, kernel, stride, padding)


def conv_transpose_space_to_depth(x: jax.Array, kernel: jax.Array, stride: int,
                                  padding: int) -> jax.Array:
  """`conv_transpose_xla` as the adjoint of a strided convolution in space-to-depth form;
  its input gradient is XLA's strided convolution."""
  if x.shape[1] == 1 and x.shape[2] == 1:
    return _dense_from_1x1(x, kernel, padding)
  if stride == 1:
    return conv_transpose_xla(x, kernel, stride, padding)
  k = kernel.shape[0]
  out_hw = tuple(conv_transpose_output_size(size, k, stride, padding) for size in x.shape[1:3])
  # The transposed conv C_in -> C_out is the adjoint of the conv C_out -> C_in whose kernel
  # is this one with the channel axes swapped.
  return _conv_adjoint(x, kernel.transpose(0, 1, 3, 2), stride, padding, out_hw)
