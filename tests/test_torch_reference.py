"""The MLP and ResNet architectures against float64 PyTorch copies with the same weights.

The references below are written from the architectures' definitions (the module docstrings
of gan_jax/models/mlp.py and resnet.py: Goodfellow et al. 2014; Miyato et al. 2018, appendix
B.4) with torch.nn.functional in float64, NCHW. gan_jax's float32 variables are copied in
(Dense kernel (in, out) -> weight.T; Conv kernel (kh, kw, in, out) -> (out, in, kh, kw)).
Compared: G(z) and D(x) in eval mode (random running statistics) and in train mode (batch
statistics), and the updated running statistics. PyTorch's BatchNorm updates the running
variance with the unbiased batch variance, Flax with the biased one: the reference converts.
Spectral norm: one power iteration from the stored u on every call, W / sigma (flax's
`nn.SpectralNorm`, which iterates in eval mode too; u is stored only in train mode).

Tolerance: float32 against float64, |jax - torch| <= 1e-5 * (1 + |torch|) (measured worst:
2e-6 relative, the ResNet G in train mode: BatchNorm over a batch of 4).
"""

import math

import jax
import numpy as np
import pytest

from gan_jax import models
from gan_jax.models import resnet as resnet_lib
from tests import helpers

torch = pytest.importorskip('torch')
F = torch.nn.functional

TOL = 1e-5
BATCH = 4
EPS = 1e-5           # BatchNorm epsilon (PyTorch's).
MOMENTUM = 0.1       # PyTorch convention: new = (1 - m) * old + m * batch statistic.


def _t(x):
  return torch.tensor(np.asarray(x, np.float64))


def _close(got, want, what):
  got, want = np.asarray(got, np.float64), want.detach().numpy()
  np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, err_msg=what)


class Reference:
  """float64 torch forward passes over a gan_jax variable dict (NHWC data in, NHWC out)."""

  def __init__(self, variables, train, spectral_norm=False):
    self.params = jax.tree_util.tree_map(_t, variables['params'])
    self.stats = jax.tree_util.tree_map(_t, dict(variables.get('batch_stats', {})))
    self.train = train
    self.spectral_norm = spectral_norm
    self.new_stats = {}   # Flattened path -> the value gan_jax should have stored.

  def kernel(self, path):
    """The layer's kernel as used: W / sigma after one power iteration when SN is on."""
    w = self._lookup(self.params, path)['kernel']
    if not self.spectral_norm:
      return w
    key = f'{path[-1]}/kernel'
    scope = self._lookup(self.stats, path[:-1])  # flax keeps u in its SpectralNorm_i scope.
    (name,) = [n for n, v in scope.items() if n.startswith('SpectralNorm_') and
               f'{key}/u' in v]
    stats = scope[name]
    matrix = w.reshape(-1, w.shape[-1])
    normalize = lambda v: v / torch.sqrt((v * v).sum() + 1e-12)
    u = stats[f'{key}/u']
    v = normalize(u @ matrix.T)
    u = normalize(v @ matrix)
    sigma = (v @ matrix @ u.T)[0, 0]
    if self.train:
      self.new_stats[(*path[:-1], name, f'{key}/u')] = u
      self.new_stats[(*path[:-1], name, f'{key}/sigma')] = sigma
    return w / sigma

  def dense(self, x, path):
    return x @ self.kernel(path) + self._lookup(self.params, path)['bias']

  def conv(self, x, path):
    kernel = self.kernel(path)
    pad = (kernel.shape[0] - 1) // 2  # 'SAME', stride 1, odd kernels.
    return F.conv2d(x, kernel.permute(3, 2, 0, 1), self._lookup(self.params, path)['bias'],
                    padding=pad)

  def batch_norm(self, x, path):
    p, s = self._lookup(self.params, path), self._lookup(self.stats, path)
    mean, var = s['mean'].clone(), s['var'].clone()
    out = F.batch_norm(x, mean, var, p['scale'], p['bias'], training=self.train,
                       momentum=MOMENTUM, eps=EPS)
    if self.train:
      n = x.numel() // x.shape[1]
      batch_var_unbiased = (var - (1 - MOMENTUM) * s['var']) / MOMENTUM
      self.new_stats[(*path, 'mean')] = mean
      self.new_stats[(*path, 'var')] = ((1 - MOMENTUM) * s['var']
                                        + MOMENTUM * batch_var_unbiased * (n - 1) / n)
    return out

  @staticmethod
  def _lookup(tree, path):
    for key in path:
      tree = tree[key]
    return tree


def _activation(name):
  return {'relu': torch.relu, 'leaky_relu': lambda x: F.leaky_relu(x, 0.2), 'elu': F.elu,
          'tanh': torch.tanh, 'linear': lambda x: x}[name]


def mlp_generator(ref, z, cfg, data_shape):
  x = z
  for i in range(len(cfg.g_hidden)):
    x = ref.dense(x, (f'dense{i}',))
    if cfg.g_batch_norm:
      x = ref.batch_norm(x, (f'bn{i}',))
    x = _activation(cfg.g_activation)(x)
  x = _activation(cfg.output_activation)(ref.dense(x, ('output',)))
  return x.reshape(x.shape[0], *data_shape)


def mlp_discriminator(ref, x, cfg):
  x = x.reshape(x.shape[0], -1)
  for i, width in enumerate(cfg.d_hidden):
    x = ref.dense(x, (f'dense{i}',))
    if cfg.d_activation == 'maxout':  # Unit j = max over its pieces, columns j*k ... j*k+k-1.
      x = x.reshape(x.shape[0], width, cfg.d_maxout_pieces).amax(-1)
    else:
      x = _activation(cfg.d_activation)(x)
  return ref.dense(x, ('logit',)).reshape(-1)


def resnet_generator(ref, z, width, image_shape):
  side = image_shape[0]
  base = next(b for b in (4, 7, 5, 6) if side % b == 0 and
              (side // b) & (side // b - 1) == 0 and side // b >= 2)
  up = lambda t: F.interpolate(t, scale_factor=2, mode='nearest')
  x = ref.dense(z, ('project',)).reshape(z.shape[0], base, base, width).permute(0, 3, 1, 2)
  for i in range(int(math.log2(side // base))):
    b = f'block{i}'
    h = ref.conv(up(torch.relu(ref.batch_norm(x, (b, 'bn0')))), (b, 'conv0'))
    h = ref.conv(torch.relu(ref.batch_norm(h, (b, 'bn1'))), (b, 'conv1'))
    x = h + ref.conv(up(x), (b, 'shortcut'))
  x = ref.conv(torch.relu(ref.batch_norm(x, ('bn',))), ('to_image',))
  return torch.tanh(x).permute(0, 2, 3, 1)


def resnet_discriminator(ref, x, width, num_blocks=4):
  x = x.permute(0, 3, 1, 2)
  side, downs = x.shape[-1], 0
  while side > 8 and side % 2 == 0:
    side, downs = side // 2, downs + 1
  downs = max(downs, 1)
  pool = lambda t: F.avg_pool2d(t, 2)
  for i in range(max(num_blocks, downs)):
    b, down = f'block{i}', i < downs
    h = x if i == 0 else torch.relu(x)
    h = ref.conv(torch.relu(ref.conv(h, (b, 'conv0'))), (b, 'conv1'))
    h = pool(h) if down else h
    if i == 0:        # Optimized block: pool, then the 1x1 shortcut.
      shortcut = ref.conv(pool(x), (b, 'shortcut'))
    elif down or x.shape[1] != width:
      shortcut = ref.conv(x, (b, 'shortcut'))
      shortcut = pool(shortcut) if down else shortcut
    else:
      shortcut = x
    x = h + shortcut
  return ref.dense(torch.relu(x).sum(dim=(2, 3)), ('logit',)).reshape(-1)


def _randomize_running_stats(variables, key):
  """Running means ~ N(0, 0.1), variances ~ U(0.5, 1.5); spectral-norm state unchanged."""
  if 'batch_stats' not in variables:
    return variables
  flat, treedef = jax.tree_util.tree_flatten_with_path(variables['batch_stats'])
  keys = jax.random.split(key, len(flat))
  new = []
  for k, (path, leaf) in zip(keys, flat):
    name = path[-1].key
    if name == 'mean':
      leaf = 0.1 * jax.random.normal(k, leaf.shape)
    elif name == 'var':
      leaf = jax.random.uniform(k, leaf.shape, minval=0.5, maxval=1.5)
    new.append(leaf)
  return {**variables, 'batch_stats': jax.tree_util.tree_unflatten(treedef, new)}


def _check(networks, reference, variables, inputs, *, generator, train, spectral_norm=False):
  """Runs gan_jax and the reference on the same variables; compares outputs and stats."""
  if not train:
    variables = _randomize_running_stats(variables, jax.random.key(7))
  apply = networks.generator_apply if generator else networks.discriminator_apply
  out, updates = apply(variables, inputs, train=train)
  ref = Reference(jax.device_get(variables), train, spectral_norm)
  with torch.no_grad():
    want = reference(ref, _t(inputs))
  what = f"{'G' if generator else 'D'} train={train}"
  _close(out, want, what)
  if train:
    flat = {tuple(p.key for p in path): v for path, v in
            jax.tree_util.tree_flatten_with_path(updates.get('batch_stats', {}))[0]}
    assert set(flat) == set(ref.new_stats), (sorted(flat), sorted(ref.new_stats))
    for path, value in ref.new_stats.items():
      _close(flat[path], value, f'{what} {"/".join(path)}')
  return out


MLP_CASES = [
    # MNIST-shaped, G with BatchNorm and tanh output, maxout D.
    ((28, 28, 1), {'mlp.g_hidden': (32, 16), 'mlp.g_batch_norm': True,
                   'mlp.d_hidden': (16, 8), 'mlp.d_activation': 'maxout',
                   'mlp.d_maxout_pieces': 3}),
    # 2-D toy data: linear output, ELU G with BatchNorm, LeakyReLU D.
    ((2,), {'mlp.g_hidden': (16, 16), 'mlp.g_activation': 'elu', 'mlp.g_batch_norm': True,
            'mlp.output_activation': 'linear', 'mlp.d_hidden': (16, 16)}),
    # tanh hidden units on both sides, no BatchNorm.
    ((2,), {'mlp.g_hidden': (8,), 'mlp.g_activation': 'tanh',
            'mlp.output_activation': 'linear', 'mlp.d_hidden': (8, 8),
            'mlp.d_activation': 'tanh'}),
]


@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('shape, fields', MLP_CASES)
def test_mlp_matches_torch(shape, fields, train):
  config = helpers.model_config('mlp', latent_dim=5, **fields)
  networks = models.build_networks(config, shape)
  z = networks.sample_latents(jax.random.key(1), BATCH)
  x = jax.random.uniform(jax.random.key(2), (BATCH, *shape), minval=-1.0, maxval=1.0)
  _check(networks, lambda ref, t: mlp_generator(ref, t, config.mlp, shape),
         networks.generator_init(jax.random.key(3)), z, generator=True, train=train)
  _check(networks, lambda ref, t: mlp_discriminator(ref, t, config.mlp),
         networks.discriminator_init(jax.random.key(4)), x, generator=False, train=train)


@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('shape', [(32, 32, 3), (28, 28, 1)])
def test_resnet_matches_torch(shape, train):
  config = helpers.model_config('resnet', latent_dim=5, g_width=8, d_width=8)
  networks = models.build_networks(config, shape)
  z = networks.sample_latents(jax.random.key(1), BATCH)
  x = jax.random.uniform(jax.random.key(2), (BATCH, *shape), minval=-1.0, maxval=1.0)
  _check(networks, lambda ref, t: resnet_generator(ref, t, 8, shape),
         networks.generator_init(jax.random.key(3)), z, generator=True, train=train)
  _check(networks, lambda ref, t: resnet_discriminator(ref, t, 8),
         networks.discriminator_init(jax.random.key(4)), x, generator=False, train=train)


@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('name, shape, fields', [
    ('resnet', (32, 32, 3), dict(d_width=8)),
    ('mlp', (2,), {'mlp.d_hidden': (16, 16), 'mlp.output_activation': 'linear'}),
])
def test_spectrally_normalized_discriminators_match_torch(name, shape, fields, train):
  config = helpers.model_config(name, latent_dim=5, d_spectral_norm=True, **fields)
  networks = models.build_networks(config, shape)
  variables = networks.discriminator_init(jax.random.key(4))
  # flax stores the kernels divided by their first sigma estimate at init; rescale them so
  # the power iteration's sigma is far from 1 and wrong handling would show.
  variables['params'] = jax.tree_util.tree_map(lambda p: 3.0 * p, variables['params'])
  x = jax.random.uniform(jax.random.key(2), (BATCH, *shape), minval=-1.0, maxval=1.0)
  reference = (lambda ref, t: resnet_discriminator(ref, t, 8)) if name == 'resnet' else (
      lambda ref, t: mlp_discriminator(ref, t, config.mlp))
  _check(networks, reference, variables, x, generator=False, train=train, spectral_norm=True)


def test_reference_geometry_is_the_documented_one():
  """The reference's D block count and G stages agree with the module's helpers."""
  assert resnet_lib.generator_geometry(32) == (4, 3)
  assert resnet_lib.generator_geometry(28) == (7, 2)
  assert resnet_lib.discriminator_downsamples(32) == 2
  assert resnet_lib.discriminator_downsamples(28) == 2
