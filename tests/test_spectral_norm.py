"""flax `nn.SpectralNorm` as used by the architectures, against numpy's SVD.

flax reshapes a kernel of shape (..., out) to (prod(...), out) and estimates its largest
singular value by power iteration, storing u and sigma in 'batch_stats' when
update_stats=True. After enough iterations sigma equals numpy's largest singular value of the
reshaped kernel (rtol 1e-4, float32), and the kernel the layer uses, W / sigma, has spectral
norm 1 (rtol 1e-4). Note: at init flax stores the kernel already divided by its first sigma
estimate, so initial kernels have spectral norm ~1 (the function computed is unchanged).
"""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import build_networks
from tests import helpers

RTOL = 1e-4


def _top_singular_value(kernel) -> float:
  kernel = np.asarray(kernel, np.float64)
  return float(np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0])


class _OneLayer(nn.Module):
  layer: nn.Module

  @nn.compact
  def __call__(self, x, train):
    return nn.SpectralNorm(self.layer.clone(), n_steps=1)(x, update_stats=train)


@pytest.mark.parametrize('layer, x_shape', [
    (nn.Dense(12, use_bias=False), (1, 20)),
    (nn.Conv(8, (3, 3), use_bias=False), (1, 5, 5, 4)),
])
def test_power_iteration_converges_to_top_singular_value(layer, x_shape):
  model = _OneLayer(layer)
  variables = model.init(jax.random.PRNGKey(0), jnp.zeros(x_shape), train=False)
  # Scale the kernel so that sigma is far from the initial value 1.
  params = jax.tree_util.tree_map(lambda p: 3.0 * p, variables['params'])
  stats = variables['batch_stats']
  step = jax.jit(lambda s: model.apply({'params': params, 'batch_stats': s},
                                       jnp.zeros(x_shape), train=True,
                                       mutable=['batch_stats'])[1]['batch_stats'])
  for _ in range(300):
    stats = step(stats)
  (kernel,) = jax.tree_util.tree_leaves(params)  # The only parameter (no bias).
  (sigma,) = [v for k, v in stats['SpectralNorm_0'].items() if k.endswith('sigma')]
  np.testing.assert_allclose(sigma, _top_singular_value(kernel), rtol=RTOL)

  # The layer computes with W / sigma: recover that matrix by probing with a basis.
  if isinstance(layer, nn.Dense):
    normalized = model.apply({'params': params, 'batch_stats': stats}, jnp.eye(20),
                             train=False)
  else:  # One-hot 3x3xC patches: a VALID-like probe on the centre pixel of a 3x3 window.
    eye = jnp.eye(3 * 3 * 4).reshape(-1, 3, 3, 4)
    out = model.apply({'params': params, 'batch_stats': stats}, eye, train=False)
    normalized = out[:, 1, 1, :]
  chex.assert_tree_all_finite(normalized)
  np.testing.assert_allclose(_top_singular_value(normalized), 1.0, rtol=RTOL)


def _sigma_entries(batch_stats):
  """Yields (path to the kernel in params, stored sigma) for every spectral-norm entry."""
  flat = jax.tree_util.tree_flatten_with_path(batch_stats)[0]
  for path, value in flat:
    keys = [p.key for p in path]
    if keys[-1].endswith('/sigma'):
      layer_path = [k for k in keys[:-1] if not k.startswith('SpectralNorm_')]
      yield tuple(layer_path + keys[-1].split('/')[:-1]), value


def _lookup(tree, path):
  for k in path:
    tree = tree[k]
  return tree


@pytest.mark.parametrize('name, shape, extra', [
    ('mlp', (2,), {'mlp.output_activation': 'linear', 'mlp.d_hidden': (16, 16)}),
    ('dcgan', (28, 28, 1), dict(g_width=4, d_width=4)),
    ('resnet', (32, 32, 3), dict(g_width=4, d_width=4)),
])
def test_discriminator_sigmas_match_svd(name, shape, extra):
  """Every spectrally normalized kernel of D: after iterating, stored sigma == SVD."""
  cfg = helpers.model_config(name, latent_dim=4, d_spectral_norm=True, spectral_norm_steps=10,
                             **extra)
  net = build_networks(cfg, shape)
  variables = net.discriminator_init(jax.random.PRNGKey(0))
  x = jnp.zeros((2, *shape))
  step = jax.jit(lambda v: {**v, **net.discriminator_apply(v, x, train=True)[1]})
  for _ in range(30):  # 300 power iterations.
    variables = step(variables)
  entries = list(_sigma_entries(variables['batch_stats']))
  assert entries, 'no spectral-norm state found'
  for path, sigma in entries:
    kernel = _lookup(variables['params'], path)
    np.testing.assert_allclose(sigma, _top_singular_value(kernel), rtol=RTOL, err_msg=path)


def test_eval_mode_leaves_stats_unchanged():
  cfg = helpers.model_config('mlp', latent_dim=4, d_spectral_norm=True,
                             **{'mlp.output_activation': 'linear'})
  net = build_networks(cfg, (2,))
  variables = net.discriminator_init(jax.random.PRNGKey(0))
  _, updates = net.discriminator_apply(variables, jnp.ones((3, 2)), train=False)
  assert updates == {}
  # flax stores the kernel divided by its first sigma estimate at init; scale it away from 1.
  variables['params'] = jax.tree_util.tree_map(lambda p: 3.0 * p, variables['params'])
  _, updates = net.discriminator_apply(variables, jnp.ones((3, 2)), train=True)
  before = variables['batch_stats']['SpectralNorm_0']['dense0/kernel/sigma']
  after = updates['batch_stats']['SpectralNorm_0']['dense0/kernel/sigma']
  np.testing.assert_allclose(before, 1.0)
  assert float(after) > 2.0
