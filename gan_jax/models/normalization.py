"""Normalization layers shared by every architecture, chosen by name.

`normalization(kind, train=..., axis_name=..., name=...)` returns a Flax module (or the
identity for 'none'):
- 'batch': BatchNorm with PyTorch's momentum (0.1, i.e. Flax 0.9) and eps 1e-5, the
  *two-pass* variance (mean of squared deviations; E[x^2]-E[x]^2 cancels badly in float32 on
  small activations and then depends on the device summation order), statistics synchronized
  over `axis_name` in training, running averages in 'batch_stats'.
- 'instance': per example and channel over the spatial axes (Ulyanov et al. 2016), as
  pix2pix/CycleGAN use it: affine off by default (PyTorch's `InstanceNorm2d` default).
- 'layer': per example over every non-batch axis with a per-channel scale and bias (the
  WGAN-GP critic's Layernorm([1, 2, 3])).
- 'none': the identity.
"""

from typing import Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

NORMALIZATIONS = ('batch', 'instance', 'layer', 'none')


def bn_scale_init(key, shape, dtype=jnp.float32):
  """N(1, 0.02): the DCGAN initialization of normalization scales."""
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


class Identity(nn.Module):

  @nn.compact
  def __call__(self, x):
    return x


def check_normalization(kind: str, field: str = 'normalization') -> str:
  if kind not in NORMALIZATIONS:
    raise ValueError(f'Unknown {field} {kind!r}; choose one of {NORMALIZATIONS}.')
  return kind


def normalization(kind: str, *, train: bool, axis_name: Optional[str] = None,
                  name: Optional[str] = None,
                  scale_init: Callable = nn.initializers.ones,
                  affine: Optional[bool] = None, dtype=None) -> nn.Module:
  """The normalization module `kind` (see the module docstring)."""
  check_normalization(kind)
  if kind == 'batch':
    affine = True if affine is None else affine  # False: conditional BN brings its own.
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        use_fast_variance=False, axis_name=axis_name if train else None,
                        use_scale=affine, use_bias=affine, scale_init=scale_init,
                        dtype=dtype, name=name)
  if kind == 'instance':
    affine = False if affine is None else affine
    return nn.InstanceNorm(epsilon=1e-5, use_scale=affine, use_bias=affine,
                           use_fast_variance=False, scale_init=scale_init, dtype=dtype,
                           name=name)
  if kind == 'layer':
    return nn.LayerNorm(epsilon=1e-5, reduction_axes=(-3, -2, -1), feature_axes=-1,
                        use_fast_variance=False, scale_init=scale_init, dtype=dtype,
                        name=name)
  return Identity(name=name)
