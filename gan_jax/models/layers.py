"""Convolution layers shared by the architectures, and `apply_layer`.

`Conv2D` is a square-kernel convolution with symmetric padding, the same parameters
('kernel' (k, k, C_in, C_out), 'bias') and function as `nn.Conv`. `ConvTranspose2D` is a
transposed convolution with PyTorch's (kernel, stride, padding) semantics: output size
(H - 1) * stride - 2 * padding + kernel, `kernel[a, b, i, o]` equal to PyTorch's
`ConvTranspose2d.weight[i, o, a, b]`, so weights move between the two without flips.

Both compute their function with an implementation picked by name
(CONV_IMPLEMENTATIONS, CONV_TRANSPOSE_IMPLEMENTATIONS; the functions live in
`gan_jax.models.conv_kernels`). Every implementation is the same function of the same
parameters, so switching never changes a checkpoint; only the speed of the gradients and
the autodiff modes differ:

* 'xla': XLA's own convolution. Fast on GPU/TPU; supports forward mode (`jax.jvp`). On
  XLA:CPU the transposed convolution's kernel gradient is ~10x slower than a matmul.
* 'space_to_depth': the fastest on CPU: stride-1 convolutions in space-to-depth space as a
  custom-VJP pair, with a kernel gradient timed per layer shape (see conv_kernels).
  Reverse mode of any order, no forward mode.
* 'matmul': im2col + one matmul (strided), one matmul + col2im (transposed); plain autodiff,
  every mode. The fastest on CPU for small maps (a U-Net's inner layers) and for a
  transposed convolution to few channels.
* 'phase', 'phase_matmul' (transposed only), 'xla_matmul_grad': earlier CPU forms.
* 'auto' (DEFAULT_CONV_IMPLEMENTATION, DEFAULT_CONV_TRANSPOSE_IMPLEMENTATION): 'xla' where
  `jax.default_backend()` is not 'cpu' (GPU, TPU); on the CPU the form for the layer's
  shapes, `auto_form`: 'matmul' for a small map (side <= MATMUL_MAX_SIDE) or a transposed
  convolution with C_in > s*s*C_out, else 'space_to_depth'. Resolved when the layer is
  traced (`init` / `apply`, i.e. when the network function is built).
  `resolve_implementation('auto')` names the backend's family form ('space_to_depth' on CPU).
"""

from typing import Any, Callable, ClassVar, Optional

import flax.linen as nn
import jax

from gan_jax.models import conv_kernels

Initializer = Any

AUTO = 'auto'
DEFAULT_CONV_IMPLEMENTATION = AUTO
DEFAULT_CONV_TRANSPOSE_IMPLEMENTATION = AUTO


def resolve_implementation(name: str, backend: Optional[str] = None,
                           cpu: str = 'space_to_depth') -> str:
  """'auto' -> `cpu` (a layer family's fast CPU form: 'space_to_depth' for these 2-D layers,
  'matmul' for the 3-D and 1-D ones) on the CPU backend, 'xla' on any other (GPU, TPU); other
  names unchanged. `backend` defaults to `jax.default_backend()`."""
  if name != AUTO:
    return name
  backend = backend or jax.default_backend()
  return cpu if backend == 'cpu' else 'xla'


# On the CPU, 'auto' computes a layer whose small map (a strided convolution's output, a
# transposed convolution's input) has a side of at most this many pixels in the 'matmul'
# form, and every other layer in 'space_to_depth'. A U-Net's innermost layers are such
# layers: the space-to-depth window there covers mostly padding (a 2x2 input's transposed
# convolution computes a 3x3 block map for 2x2 outputs per block) and its kernel relayout
# dominates; the matmul forms multiply only real taps. Measured on the 2-core CPU, one thread,
# batch 32 (benchmarks/pix2pix_throughput.py --mode layers): U-Net 2x2x512 -> 4x4x128
# forward 4.2 ms against 8.7, 4x4x128 -> 2x2x256 input gradient 2.5 against 5.3; at 4x4
# and larger the two trade places layer by layer, and space-to-depth's gradients win.
MATMUL_MAX_SIDE = 2


def auto_form(x_shape: tuple[int, ...], kernel_size: int, stride: int, padding: int,
              out_channels: int, transposed: bool, backend: Optional[str] = None) -> str:
  """The implementation 'auto' computes a layer of these shapes in: 'xla' off the CPU; on
  it 'matmul' for a small map with a side <= MATMUL_MAX_SIDE or a transposed convolution
  with C_in > s*s*C_out, else 'space_to_depth'."""
  form = resolve_implementation(AUTO, backend)
  if form == 'xla':
    return form
  if transposed:
    side = min(x_shape[1:3])
    if x_shape[-1] > stride * stride * out_channels:
      # Few output channels (an image layer): one product and J*J shifted adds of s*s*C_out
      # channels each (16x16x64 -> 32x32x1, fwd + both grads: 2.6 ms against 4.2).
      return 'matmul'
  else:
    side = min(conv_kernels.conv_output_size(size, kernel_size, stride, padding)
               for size in x_shape[1:3])
  return 'matmul' if side <= MATMUL_MAX_SIDE else form


def conv_auto(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
  """`conv_kernels.conv_xla` in the form `auto_form` picks for its shapes."""
  form = auto_form(x.shape, kernel.shape[0], stride, padding, kernel.shape[-1],
                   transposed=False)
  return CONV_IMPLEMENTATIONS[form](x, kernel, stride, padding)


def conv_transpose_auto(x: jax.Array, kernel: jax.Array, stride: int,
                        padding: int) -> jax.Array:
  """`conv_kernels.conv_transpose_xla` in the form `auto_form` picks for its shapes."""
  form = auto_form(x.shape, kernel.shape[0], stride, padding, kernel.shape[-1],
                   transposed=True)
  return CONV_TRANSPOSE_IMPLEMENTATIONS[form](x, kernel, stride, padding)


CONV_IMPLEMENTATIONS: dict[str, Callable[..., jax.Array]] = {
    AUTO: conv_auto,
    'xla': conv_kernels.conv_xla,
    'xla_matmul_grad': conv_kernels.conv_xla_matmul_grad,
    'space_to_depth': conv_kernels.conv_space_to_depth,
    'matmul': conv_kernels.conv_im2col,
}
CONV_TRANSPOSE_IMPLEMENTATIONS: dict[str, Callable[..., jax.Array]] = {
    AUTO: conv_transpose_auto,
    'xla': conv_kernels.conv_transpose_xla,
    'phase': conv_kernels.conv_transpose_phase,
    'phase_matmul': conv_kernels.conv_transpose_phase_matmul,
    'xla_matmul_grad': conv_kernels.conv_transpose_xla_matmul_grad,
    'space_to_depth': conv_kernels.conv_transpose_space_to_depth,
    'matmul': conv_kernels.conv_transpose_col2im,
}


def apply_layer(layer: nn.Module, x: jax.Array, *, spectral_norm: bool, n_steps: int,
                train: bool) -> jax.Array:
  """Applies `layer`, wrapped in flax's `nn.SpectralNorm` when asked (Miyato et al. 2018;
  `n_steps` power iterations, its u/sigma statistics updated only when `train`)."""
  if spectral_norm:
    return nn.SpectralNorm(layer, n_steps=n_steps)(x, update_stats=train)
  return layer(x)


class _SquareKernelConv(nn.Module):
  """Shared body of the convolution layers: a 'kernel' (k, k, C_in, C_out) and an optional
  'bias' parameter, and a function chosen by name from the subclass's IMPLEMENTATIONS."""

  IMPLEMENTATIONS: ClassVar[dict[str, Callable[..., jax.Array]]] = {}
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  use_bias: bool = True
  implementation: str = AUTO
  kernel_init: Initializer = nn.initializers.lecun_normal()
  bias_init: Initializer = nn.initializers.zeros
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.implementation not in self.IMPLEMENTATIONS:
      raise ValueError(f'Unknown {type(self).__name__} implementation '
                       f'{self.implementation!r}; choose one of {sorted(self.IMPLEMENTATIONS)}.')
    k = self.kernel_size
    kernel = self.param('kernel', self.kernel_init, (k, k, x.shape[-1], self.features))
    dtype = self.dtype or x.dtype
    fn = self.IMPLEMENTATIONS[self.implementation]  # 'auto' picks its form per shape.
    y = fn(x.astype(dtype), kernel.astype(dtype), self.stride, self.padding)
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,)).astype(dtype)
    return y


class ConvTranspose2D(_SquareKernelConv):
  """Transposed 2-D convolution, PyTorch semantics, selectable implementation.

  Attributes:
    features: output channels.
    kernel_size: square kernel side.
    stride: upsampling factor.
    padding: PyTorch-style padding (cropped from each side of the full output).
    use_bias: add a bias.
    implementation: key of CONV_TRANSPOSE_IMPLEMENTATIONS; all give the same function.
  """

  IMPLEMENTATIONS: ClassVar[dict[str, Callable[..., jax.Array]]] = CONV_TRANSPOSE_IMPLEMENTATIONS


class Conv2D(_SquareKernelConv):
  """Square-kernel 2-D convolution with symmetric padding, selectable implementation.

  Same parameters ('kernel' (k, k, C_in, C_out), 'bias') and function as
  `nn.Conv(features, (k, k), (s, s), padding=((p, p), (p, p)))`, so it can replace it
  without changing checkpoints. `implementation` is a key of CONV_IMPLEMENTATIONS.
  """

  IMPLEMENTATIONS: ClassVar[dict[str, Callable[..., jax.Array]]] = CONV_IMPLEMENTATIONS
