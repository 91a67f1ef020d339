"""CycleGAN networks (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", appendix 7.2; the authors' `ResnetGenerator`).

ResNet translation generator: c7s1-k, d2k, d4k, R4k x num_blocks, u2k, uk, c7s1-C, where
c7s1-k = reflection pad 3, Conv(7, 1) to k channels, norm, ReLU; dk = Conv(3, 2, 1), norm,
ReLU; Rk = x + norm(Conv3(pad(ReLU(norm(Conv3(pad(x))))))) with reflection padding 1;
uk = ConvTranspose(3, 2, padding 1, output_padding 1), norm, ReLU; the last c7s1 has no
norm and ends in tanh. The paper uses 6 blocks at 128 px and 9 at 256 px; weights
~ N(0, 0.02); convolutions before a BatchNorm have no bias. At ngf=64, 9 blocks it has the
authors' 11.378 M parameters. On CPU three layers take forms with faster gradients (same
function, same parameters): `reflect_pad`, `UpConv`, `ValidConv`.

The players: `CycleGenerators` holds g_ab (A -> B) and g_ba (B -> A) and returns
  {'fake_b': g_ab(a), 'rec_a': g_ba(g_ab(a)), 'fake_a': g_ba(b), 'rec_b': g_ab(g_ba(b)),
   'idt_a': g_ba(a), 'idt_b': g_ab(b)}
for the domains present in its input dict (identity outputs only when `identity`). Two
options (model.cycle_resnet) change what the cycle sees: `cycle_noise_std` adds Gaussian
noise to fake_b / fake_a before they are translated back, in training (Bashkirova et al.
2019, against information hidden in the translations); `domain_a_space` names a projection
(DOMAIN_A_SPACES) that every g_ba output goes through, so fake_a, rec_a and idt_a lie in
domain A's image space.
`CycleDiscriminators` holds two PatchGANs d_a, d_b and returns {'a': d_a(x_a), 'b': d_b(x_b)}.
"""

import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.data import unpaired
from gan_jax.models import layers
from gan_jax.models import normalization as norm_lib
from gan_jax.models import options
from gan_jax.models import patchgan
from gan_jax.models import unet

weight_init = nn.initializers.normal(stddev=0.02)
DOMAINS = ('a', 'b')
# model.cycle_resnet.domain_a_space: '' = g_ba draws any image; else the name of a projection
# onto domain A's image space that every g_ba output goes through, so that a translation into
# A can hold no more than a real A image does.
DOMAIN_A_SPACES = {'': None, 'uci_digits': unpaired.uci_projection}


def reflect_pad(x: jax.Array, p: int) -> jax.Array:
  """`jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode='reflect')` (PyTorch's
  ReflectionPad2d) as concatenated reversed slices, whose gradient XLA:CPU runs ~4x faster."""
  if p == 0:
    return x
  for axis in (1, 2):
    n = x.shape[axis]
    if p >= n:
      raise ValueError(f'Reflection padding {p} needs a side > {p}; got {n}.')
    top = jax.lax.rev(jax.lax.slice_in_dim(x, 1, p + 1, axis=axis), (axis,))
    bottom = jax.lax.rev(jax.lax.slice_in_dim(x, n - p - 1, n - 1, axis=axis), (axis,))
    x = jnp.concatenate([top, x, bottom], axis=axis)
  return x


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _shifted_sum(y: jax.Array, k: int) -> jax.Array:
  """(N, H, W, k, k, C) -> (N, H-k+1, W-k+1, C): sum_{a,b} y[:, a:a+H-k+1, b:b+W-k+1, a, b]."""
  ho, wo = y.shape[1] - k + 1, y.shape[2] - k + 1
  return sum(y[:, a:a + ho, b:b + wo, a, b] for a in range(k) for b in range(k))


def _shifted_sum_fwd(y, k):
  return _shifted_sum(y, k), None


def _shifted_sum_bwd(k, _, g):
  # The adjoint places g at every tap offset; one stack (XLA:CPU's own gradient of the sum
  # of slices, a chain of pads, runs ~25x slower).
  taps = [jnp.pad(g, ((0, 0), (a, k - 1 - a), (b, k - 1 - b), (0, 0)))
          for a in range(k) for b in range(k)]
  n, h, w, c = taps[0].shape
  return (jnp.stack(taps, axis=3).reshape(n, h, w, k, k, c),)


_shifted_sum.defvjp(_shifted_sum_fwd, _shifted_sum_bwd)


def conv_valid_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-1 VALID convolution y[n,i,j,o] = sum_{a,b,c} x[n,i+a,j+b,c] kernel[a,b,c,o] as
  one matmul to k*k*C_out channels and the sum of their k*k shifted slices. For few output
  channels (CycleGAN's last 7x7 layer) XLA:CPU's convolution runs at ~1 GFLOP/s; this form
  and its gradients are matmuls. Reverse mode only (a custom VJP)."""
  k, _, cin, cout = kernel.shape
  n, h, w, _ = x.shape
  y = x @ kernel.transpose(2, 0, 1, 3).reshape(cin, k * k * cout)
  return _shifted_sum(y.reshape(n, h, w, k, k, cout), k)


MATMUL_CONV_MIN_IN_CHANNELS = 32


class ValidConv(nn.Module):
  """Stride-1 VALID k x k convolution with the parameters of `nn.Conv` ('kernel' (k, k,
  C_in, C_out), 'bias'): `conv_valid_matmul` when C_out < C_in, C_in >= 32 and
  `implementation` does not resolve to 'xla' (i.e. on CPU), else XLA's convolution.

  Gradient times of a 7x7 layer on 16 x 38 x 38 inputs on the 2-core CPU (best of 15,
  matmul form vs XLA): 16->1 33 vs 8 ms, 32->1 19 vs 114 ms, 64->1 42 vs 258 ms,
  16->3 117 vs 26 ms, 32->3 129 vs 160 ms, 64->3 81 vs 200 ms.
  """

  features: int
  kernel_size: int
  use_bias: bool = True
  implementation: str = layers.DEFAULT_CONV_IMPLEMENTATION
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    dtype = self.dtype or x.dtype
    k = self.kernel_size
    kernel = self.param('kernel', weight_init, (k, k, x.shape[-1], self.features)).astype(dtype)
    x = x.astype(dtype)
    cin = x.shape[-1]
    if (MATMUL_CONV_MIN_IN_CHANNELS <= cin and self.features < cin
        and layers.resolve_implementation(self.implementation) != 'xla'):
      y = conv_valid_matmul(x, kernel)
    else:
      y = jax.lax.conv_general_dilated(x, kernel, (1, 1), 'VALID',
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(dtype)
    return y


class UpConv(nn.Module):
  """PyTorch's ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1): (H, W) -> (2H, 2W).

  The same function as a k=4, s=2, p=1 transposed convolution whose last tap row/column is
  zero (output o = 2 i + a - 1 for tap a either way), which is how it is computed, so it
  runs through `layers.ConvTranspose2D`'s fast implementations. The parameter is the 3x3
  kernel, kernel[a, b, i, o] = PyTorch weight[i, o, a, b].
  """

  features: int
  use_bias: bool = True
  implementation: str = layers.DEFAULT_CONV_TRANSPOSE_IMPLEMENTATION
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    dtype = self.dtype or x.dtype
    kernel = self.param('kernel', weight_init, (3, 3, x.shape[-1], self.features))
    kernel4 = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
    impl = layers.CONV_TRANSPOSE_IMPLEMENTATIONS[self.implementation]  # 'auto': per shape.
    y = impl(x.astype(dtype), kernel4.astype(dtype), 2, 1)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(dtype)
    return y


class ResnetGenerator(nn.Module):
  """`g(x, labels, train=...)` -> translated image in [-1, 1] (same H, W); labels ignored."""

  out_channels: int
  ngf: int = 64
  num_blocks: int = 9
  normalization: str = 'instance'
  axis_name: Optional[str] = None
  conv_impl: str = layers.DEFAULT_CONV_IMPLEMENTATION
  conv_transpose_impl: str = layers.DEFAULT_CONV_TRANSPOSE_IMPLEMENTATION
  dtype: Any = None  # Compute dtype (None: float32); params stay float32.

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    del labels
    x = x.astype(self.dtype or x.dtype)
    use_bias = self.normalization != 'batch'

    def conv(features, k, stride, pad, name):
      return layers.Conv2D(features, k, stride, pad, use_bias=use_bias,
                           implementation=self.conv_impl, kernel_init=weight_init,
                           dtype=self.dtype, name=name)

    def norm(name):
      return norm_lib.normalization(self.normalization, train=train, axis_name=self.axis_name,
                                    scale_init=norm_lib.bn_scale_init, dtype=self.dtype,
                                    name=name)

    h = ValidConv(self.ngf, 7, use_bias=use_bias, implementation=self.conv_impl,
                  dtype=self.dtype, name='conv_in')(reflect_pad(x, 3))
    h = nn.relu(norm('norm_in')(h))
    for i in range(2):
      h = conv(self.ngf * 2**(i + 1), 3, 2, 1, f'down{i}')(h)
      h = nn.relu(norm(f'down_norm{i}')(h))
    width = self.ngf * 4
    for b in range(self.num_blocks):
      r = conv(width, 3, 1, 0, f'block{b}_conv0')(reflect_pad(h, 1))
      r = nn.relu(norm(f'block{b}_norm0')(r))
      r = conv(width, 3, 1, 0, f'block{b}_conv1')(reflect_pad(r, 1))
      h = h + norm(f'block{b}_norm1')(r)
    for i in range(2):
      h = UpConv(self.ngf * 2**(1 - i), use_bias=use_bias,
                 implementation=self.conv_transpose_impl, dtype=self.dtype, name=f'up{i}')(h)
      h = nn.relu(norm(f'up_norm{i}')(h))
    h = ValidConv(self.out_channels, 7, use_bias=True, implementation=self.conv_impl,
                  dtype=self.dtype, name='conv_out')(reflect_pad(h, 3))
    return jnp.tanh(h.astype(jnp.float32))


def _check_domains(inputs: Any, who: str):
  if not isinstance(inputs, dict) or not inputs or set(inputs) - set(DOMAINS):
    raise ValueError(f"{who} takes a dict with keys among {DOMAINS} (images of domains A, B); "
                     f'got {type(inputs).__name__} '
                     f'{sorted(inputs) if isinstance(inputs, dict) else ""}.')


class CycleGenerators(nn.Module):
  """The generator player: g_ab (A -> B) and g_ba (B -> A); see the module docstring."""

  g_ab: nn.Module
  g_ba: nn.Module
  identity: bool = False
  cycle_noise_std: float = 0.0
  # Maps g_ba's outputs onto domain A's image space (model.cycle_resnet.domain_a_space).
  a_projection: Optional[Callable[[jax.Array], jax.Array]] = None

  def _noisy(self, x: jax.Array, train: bool) -> jax.Array:
    """x + N(0, cycle_noise_std^2) in training, else x. Drawn from the 'dropout' stream, so,
    like dropout, per device: reproducible for a device count, not across counts."""
    if not train or self.cycle_noise_std <= 0:
      return x
    noise = jax.random.normal(self.make_rng('dropout'), x.shape, jnp.float32)
    return x + self.cycle_noise_std * noise.astype(x.dtype)

  def _g_ba(self, x: jax.Array, train: bool) -> jax.Array:
    y = self.g_ba(x, train=train)
    return y if self.a_projection is None else self.a_projection(y)

  def __call__(self, inputs: dict, labels: Optional[jax.Array] = None, *,
               train: bool) -> dict:
    del labels
    _check_domains(inputs, 'CycleGenerators')
    out = {}
    if 'a' in inputs:
      out['fake_b'] = self.g_ab(inputs['a'], train=train)
      out['rec_a'] = self._g_ba(self._noisy(out['fake_b'], train), train)
      if self.identity:
        out['idt_a'] = self._g_ba(inputs['a'], train)
    if 'b' in inputs:
      out['fake_a'] = self._g_ba(inputs['b'], train)
      out['rec_b'] = self.g_ab(self._noisy(out['fake_a'], train), train=train)
      if self.identity:
        out['idt_b'] = self.g_ab(inputs['b'], train=train)
    return out


class CycleDiscriminators(nn.Module):
  """The discriminator player: d_a (real vs fake A), d_b (real vs fake B) -> {'a', 'b'}."""

  d_a: nn.Module
  d_b: nn.Module

  def __call__(self, inputs: dict, labels: Optional[jax.Array] = None, *,
               train: bool) -> dict:
    del labels
    _check_domains(inputs, 'CycleDiscriminators')
    nets = {'a': self.d_a, 'b': self.d_b}
    return {k: nets[k](x, train=train) for k, x in inputs.items()}


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int], condition_shape: Optional[tuple[int, ...]]):
  """The 'cyclegan' architecture: domain A = the condition, B = the data.

  Returns (make_generator, make_discriminator, io).
  """
  del num_classes
  unet.check_condition('cyclegan', data_shape, condition_shape)
  shape_a, shape_b = tuple(condition_shape), tuple(data_shape)
  g, p = model_config.cycle_resnet, model_config.patchgan
  norm_lib.check_normalization(g.normalization, 'model.cycle_resnet.normalization')
  norm_lib.check_normalization(p.normalization, 'model.patchgan.normalization')
  if shape_a[0] % 4 or shape_a[1] % 4:
    raise ValueError(f'The CycleGAN ResNet generator downsamples twice: the image side must be '
                     f'divisible by 4; got {shape_a[:2]}. Set dataset.image_size=32.')
  if g.num_blocks < 0:
    raise ValueError(f'model.cycle_resnet.num_blocks must be >= 0; got {g.num_blocks}.')
  cycle_noise_std = float(g.get('cycle_noise_std', 0.0))
  if not cycle_noise_std >= 0:
    raise ValueError(f'model.cycle_resnet.cycle_noise_std must be >= 0 (the std of the noise '
                     f'added to a translation before it is translated back); got '
                     f'{g.cycle_noise_std}.')
  if g.identity_outputs and shape_a[-1] != shape_b[-1]:
    raise ValueError(f'Identity outputs (g_ba(a), g_ab(b)) need domains with the same channels; '
                     f'got A {shape_a[-1]} and B {shape_b[-1]}. Set '
                     'model.cycle_resnet.identity_outputs=False or dataset.channels.')
  patchgan.check_geometry(shape_a[0], p.num_layers)
  space = g.get('domain_a_space', '')
  if space not in DOMAIN_A_SPACES:
    raise ValueError(f'model.cycle_resnet.domain_a_space={space!r} is not one of '
                     f'{sorted(DOMAIN_A_SPACES)}.')
  a_projection = DOMAIN_A_SPACES[space]
  if a_projection is not None:  # The projection's own shape check, on domain A's shape.
    try:
      jax.eval_shape(a_projection, jax.ShapeDtypeStruct((1, *shape_a), jnp.float32))
    except ValueError as e:
      raise ValueError(f'model.cycle_resnet.domain_a_space={space!r} does not fit domain A '
                       f"{shape_a}: {e} Use domain_a_space=''.") from e
  dtype = options.compute_dtype(model_config.compute_dtype)

  def generator(out_channels, axis_name):
    return ResnetGenerator(out_channels=out_channels, ngf=g.ngf, num_blocks=g.num_blocks,
                           normalization=g.normalization, axis_name=axis_name, dtype=dtype)

  def discriminator(axis_name):
    return patchgan.PatchGAN(ndf=p.ndf, num_layers=p.num_layers, normalization=p.normalization,
                             axis_name=axis_name, dtype=dtype)

  def make_generator(axis_name):
    return CycleGenerators(g_ab=generator(shape_b[-1], axis_name),
                           g_ba=generator(shape_a[-1], axis_name),
                           identity=bool(g.identity_outputs),
                           cycle_noise_std=cycle_noise_std,
                           a_projection=a_projection)

  def make_discriminator(axis_name):
    return CycleDiscriminators(d_a=discriminator(axis_name), d_b=discriminator(axis_name))

  io = {'generator_input': {'a': shape_a, 'b': shape_b},
        'discriminator_input': {'a': shape_a, 'b': shape_b}}
  return make_generator, make_discriminator, io
