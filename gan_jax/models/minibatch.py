"""What D sees of the minibatch beside each sample: packing and the two minibatch layers.

**Packing** (PacGAN, Lin et al. 2018): D scores m samples at once, concatenated along the
feature axis (channels for images, features for vectors): samples k*m .. k*m + m - 1 of a
batch form pack k, so D's input (N, ..., C) becomes (N/m, ..., m*C) and its output has N/m
rows. `Networks` packs every D input (`pack`), so D is called on real packs and generated packs
separately and a pack never mixes real and generated samples. N must be a multiple of m.

A collapsed G makes samples that look alike; a D that sees one sample at a time cannot tell.
Both layers give D a statistic of the samples beside each one, appended to D's last feature
map (vector (N, F) or image (N, H, W, C) features alike) before the logit layer:

* **Minibatch standard deviation** (Karras et al. 2018, "Progressive Growing of GANs", 3;
  `num_channels` as in StyleGAN2): split the batch into groups of `group_size` consecutive
  samples and the C features into `num_channels` slices; per group and slice, the standard
  deviation over the group of every feature (population std, + 1e-8 under the square root),
  averaged over the slice's features (and positions) -> one scalar per (group, slice),
  appended as `num_channels` constant channels. No parameters.
  (Karras's code forms group g of samples g, g + N/G, g + 2N/G, ...; consecutive samples are
  used here so a group never spans two devices and the numbers do not depend on the device
  count. The batch is i.i.d., so both choices define the same statistic.)
* **Minibatch discrimination** (Salimans et al. 2016, "Improved Techniques for Training
  GANs", 3.2): M = f T, f the flattened features (N, A), T a learned (A, B * C) tensor ->
  M (N, B, C); c_b(i, j) = exp(-||M_{i,b} - M_{j,b}||_1); o(i)_b = sum over the other samples
  j != i of the group of c_b(i, j) -> (N, B), appended (broadcast over positions for image
  features). `group_size` 0 compares each sample with the whole *global* batch (all-gathered
  over the device axis, so the numbers do not depend on the device count); > 0 with groups of
  that many consecutive samples. The self term exp(0) = 1 is left out (it is the same
  constant for every sample).

D calls each layer on the real and the generated batch separately, so the statistics are
always within real or within generated samples. `group_size` must divide the per-device
batch (a clear error says so); a group is min(group_size, N) samples, as in Karras's code.
"""

import dataclasses
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from jax import lax


@dataclasses.dataclass(frozen=True)
class MinibatchOptions:
  stddev_group: int = 0         # 0 = no minibatch-stddev layer.
  stddev_channels: int = 1
  disc_kernels: int = 0         # B; 0 = no minibatch discrimination.
  disc_kernel_dim: int = 5      # C.
  disc_group: int = 0           # 0 = the whole global batch.

  @property
  def enabled(self) -> bool:
    return self.stddev_group > 0 or self.disc_kernels > 0


NO_MINIBATCH = MinibatchOptions()


def from_config(model_config: ml_collections.ConfigDict) -> MinibatchOptions:
  """MinibatchOptions from model.d_minibatch_stddev and model.d_minibatch_discrimination."""
  std = model_config.d_minibatch_stddev
  disc = model_config.d_minibatch_discrimination
  opts = MinibatchOptions(int(std.group_size), int(std.num_channels), int(disc.num_kernels),
                          int(disc.kernel_dim), int(disc.group_size))
  for field, value, low in (('d_minibatch_stddev.group_size', opts.stddev_group, 0),
                            ('d_minibatch_stddev.num_channels', opts.stddev_channels, 1),
                            ('d_minibatch_discrimination.num_kernels', opts.disc_kernels, 0),
                            ('d_minibatch_discrimination.kernel_dim', opts.disc_kernel_dim, 1),
                            ('d_minibatch_discrimination.group_size', opts.disc_group, 0)):
    if value < low:
      raise ValueError(f'model.{field} must be >= {low}; got {value}.')
  return opts


def pack(tree, m: int):
  """Packs every leaf (N, *s) of a D input pytree into (N/m, *s[:-1], m * s[-1]) (see the
  module doc); m = 1 returns `tree` unchanged."""
  if m == 1:
    return tree

  def one(x):
    n = x.shape[0]
    if n % m:
      raise ValueError(f'model.d_pack={m}: D got a per-device batch of {n}, not a multiple of '
                       f'{m}; use a (per-device) batch size that is a multiple of d_pack.')
    y = x.reshape(n // m, m, *x.shape[1:])
    y = jnp.moveaxis(y, 1, -2)                           # (N/m, *s[:-1], m, C)
    return y.reshape(n // m, *x.shape[1:-1], m * x.shape[-1])

  return jax.tree_util.tree_map(one, tree)


def _groups(n: int, group: int, what: str) -> int:
  if n % group:
    raise ValueError(f'{what}: the per-device batch {n} is not a multiple of the group size '
                     f'{group}; choose a group size that divides it (or a batch that is a '
                     'multiple of it).')
  return n // group


def minibatch_stddev(x: jax.Array, group_size: int, num_channels: int = 1) -> jax.Array:
  """x (N, ..., C) -> (N, ..., C + num_channels): the minibatch-stddev layer (module doc)."""
  n, c = x.shape[0], x.shape[-1]
  group = min(group_size, n)
  num_groups = _groups(n, group, 'model.d_minibatch_stddev.group_size')
  if c % num_channels:
    raise ValueError(f'model.d_minibatch_stddev.num_channels={num_channels} must divide the '
                     f'feature count {c} of the layer it is applied to.')
  spatial = x.shape[1:-1]
  y = x.astype(jnp.float32).reshape(num_groups, group, *spatial, num_channels,
                                    c // num_channels)
  std = jnp.sqrt(jnp.var(y, axis=1) + 1e-8)            # (groups, *spatial, F, C/F)
  stat = jnp.mean(std, axis=tuple(range(1, std.ndim - 2)) + (std.ndim - 1,))  # (groups, F)
  stat = jnp.repeat(stat, group, axis=0)               # (N, F)
  stat = stat.reshape(n, *([1] * len(spatial)), num_channels)
  stat = jnp.broadcast_to(stat, (n, *spatial, num_channels)).astype(x.dtype)
  return jnp.concatenate([x, stat], axis=-1)


def minibatch_closeness(m: jax.Array, others: jax.Array) -> jax.Array:
  """o(i)_b = sum_j exp(-||m_{i,b} - others_{j,b}||_1) for m (N, B, C), others (K, B, C)."""
  l1 = jnp.sum(jnp.abs(m[:, None] - others[None]), axis=-1)   # (N, K, B)
  return jnp.sum(jnp.exp(-l1), axis=1)


class MinibatchDiscrimination(nn.Module):
  """Salimans et al.'s layer: (N, ..., C) -> (N, ..., C + num_kernels) (module doc)."""

  num_kernels: int
  kernel_dim: int = 5
  group_size: int = 0
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    n = x.shape[0]
    flat = x.reshape(n, -1).astype(jnp.float32)
    t = self.param('kernel', nn.initializers.normal(0.02),
                   (flat.shape[-1], self.num_kernels * self.kernel_dim), jnp.float32)
    m = (flat @ t).reshape(n, self.num_kernels, self.kernel_dim)
    if self.group_size > 0:
      group = min(self.group_size, n)
      num_groups = _groups(n, group, 'model.d_minibatch_discrimination.group_size')
      g = m.reshape(num_groups, group, self.num_kernels, self.kernel_dim)
      o = jax.vmap(minibatch_closeness)(g, g).reshape(n, self.num_kernels)
    else:
      others = (lax.all_gather(m, self.axis_name, axis=0, tiled=True)
                if self.axis_name else m)
      o = minibatch_closeness(m, others)
    o = o - 1.0  # The self term exp(-0) (the sample is in its own group).
    spatial = x.shape[1:-1]
    o = jnp.broadcast_to(o.reshape(n, *([1] * len(spatial)), self.num_kernels),
                         (n, *spatial, self.num_kernels)).astype(x.dtype)
    return jnp.concatenate([x, o], axis=-1)


def apply(x: jax.Array, opts: MinibatchOptions, axis_name: Optional[str]) -> jax.Array:
  """Both layers as configured (discrimination first, then stddev), called inside a D's
  `nn.compact` __call__ (the discrimination layer's parameters are 'minibatch_disc')."""
  if opts.disc_kernels > 0:
    x = MinibatchDiscrimination(opts.disc_kernels, opts.disc_kernel_dim, opts.disc_group,
                                axis_name, name='minibatch_disc')(x)
  if opts.stddev_group > 0:
    x = minibatch_stddev(x, opts.stddev_group, opts.stddev_channels)
  return x
