"""PatchGAN discriminator (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks", sec. 3.2.2; the `NLayerDiscriminator` of the authors' code).

`num_layers` x [Conv(4, 2, 1) to ndf * min(2**i, 8) channels] (no normalization on the
first), Conv(4, 1, 1) to ndf * min(2**num_layers, 8) channels, each followed by the
normalization and LeakyReLU(0.2), then Conv(4, 1, 1) to one logit per patch. Weights
~ N(0, 0.02), normalization scales ~ N(1, 0.02); convolutions before a BatchNorm have no
bias. num_layers=3, ndf=64 is the paper's 70x70 PatchGAN (C64-C128-C256-C512).

Output: patch logits (N, h, w) with h = H / 2**num_layers - 2. Receptive field of one logit
(pixels per axis): r = 1 + sum_l (k_l - 1) * prod_{m<l} s_m = 9 * 2**num_layers - 2:
num_layers 1, 2, 3 -> 16, 34, 70 px; at 32 px they give 14x14, 6x6, 2x2 patch grids.
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import layers
from gan_jax.models import normalization as norm_lib

weight_init = nn.initializers.normal(stddev=0.02)


def receptive_field(num_layers: int) -> int:
  """Side of the input square that reaches one patch logit: 9 * 2**num_layers - 2."""
  return 9 * 2**num_layers - 2


def output_side(side: int, num_layers: int) -> int:
  """Side of the patch grid for an input side `side` (k=4, p=1 convolutions)."""
  for _ in range(num_layers):
    side = (side + 2 - 4) // 2 + 1
  return side - 2


def check_geometry(side: int, num_layers: int, field: str = 'model.patchgan.num_layers'):
  if num_layers < 0:
    raise ValueError(f'{field} must be >= 0; got {num_layers}.')
  if output_side(side, num_layers) < 1:
    raise ValueError(f'A PatchGAN with {field}={num_layers} has no output on {side}x{side} '
                     f'images; use fewer layers (at most {max_layers(side)}).')


def max_layers(side: int) -> int:
  n = 0
  while output_side(side, n + 1) >= 1:
    n += 1
  return n


class PatchGAN(nn.Module):
  """Patch discriminator: `d(x, labels, train=...)` -> logits (N, h, w); labels ignored."""

  ndf: int = 64
  num_layers: int = 3
  normalization: str = 'batch'
  axis_name: Optional[str] = None
  conv_impl: str = layers.DEFAULT_CONV_IMPLEMENTATION
  dtype: Any = None  # Compute dtype (None: float32); params stay float32.

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    del labels
    x = x.astype(self.dtype or x.dtype)
    use_bias = self.normalization != 'batch'
    for i in range(self.num_layers + 1):
      stride = 2 if i < self.num_layers else 1
      x = layers.Conv2D(self.ndf * min(2**i, 8), 4, stride, 1, use_bias=use_bias or i == 0,
                        implementation=self.conv_impl, kernel_init=weight_init,
                        dtype=self.dtype, name=f'conv{i}')(x)
      if i > 0:
        x = norm_lib.normalization(self.normalization, train=train, axis_name=self.axis_name,
                                   scale_init=norm_lib.bn_scale_init, dtype=self.dtype,
                                   name=f'norm{i}')(x)
      x = nn.leaky_relu(x, 0.2)
    x = layers.Conv2D(1, 4, 1, 1, use_bias=True, implementation=self.conv_impl,
                      kernel_init=weight_init, dtype=self.dtype, name='logits')(x)
    return x[..., 0].astype(jnp.float32)
