"""Shapes, determinism, mutable state and option switches of every registered architecture."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import ARCHITECTURES, build_networks
from tests import helpers

CASES = [
    ('mlp', (28, 28, 1), {'mlp.g_hidden': (16, 16), 'mlp.d_hidden': (16,),
                          'mlp.g_batch_norm': True}),
    ('mlp', (2,), {'mlp.output_activation': 'linear', 'mlp.g_hidden': (16, 16),
                   'mlp.d_hidden': (16, 16), 'mlp.d_activation': 'maxout', 'd_dropout': 0.2}),
    ('resnet', (32, 32, 3), dict(g_width=8, d_width=8)),
    ('resnet', (28, 28, 1), dict(g_width=8, d_width=8)),
    ('dcgan', (28, 28, 1), dict(g_width=4, d_width=4)),
]


def _net(name, shape, **fields):
  return build_networks(helpers.model_config(name, latent_dim=6, **fields), shape)


def _sigma_count(variables):
  leaves = jax.tree_util.tree_flatten_with_path(variables.get('batch_stats', {}))[0]
  return sum(1 for path, _ in leaves if path[-1].key.endswith('/sigma'))


@pytest.mark.parametrize('name, shape, extra', CASES)
def test_shapes_determinism_and_state(name, shape, extra):
  net = _net(name, shape, **extra)
  key = jax.random.PRNGKey(0)
  g_vars, d_vars = net.generator_init(key), net.discriminator_init(key)
  chex.assert_trees_all_equal(g_vars, net.generator_init(key))  # Deterministic init.
  z = net.sample_latents(jax.random.PRNGKey(1), 3)
  rngs = {'dropout': jax.random.PRNGKey(2)}

  x, _ = net.generator_apply(g_vars, z, train=False)
  chex.assert_shape(x, (3, *shape))
  chex.assert_tree_all_finite(x)
  if extra.get('mlp.output_activation', 'tanh') == 'tanh':
    assert float(jnp.max(jnp.abs(x))) <= 1.0
  chex.assert_trees_all_equal(x, net.generator_apply(g_vars, z, train=False)[0])
  logits, _ = net.discriminator_apply(d_vars, x, train=False)
  chex.assert_shape(logits, (3,))
  chex.assert_tree_all_finite(logits)

  # train=True returns the updated mutable collections with the same structure.
  x_train, g_updates = net.generator_apply(g_vars, z, train=True, rngs=rngs)
  _, d_updates = net.discriminator_apply(d_vars, x_train, train=True, rngs=rngs)
  for variables, updates in ((g_vars, g_updates), (d_vars, d_updates)):
    if 'batch_stats' in variables:
      chex.assert_trees_all_equal_shapes(updates['batch_stats'], variables['batch_stats'])
      assert not all(np.allclose(a, b) for a, b in zip(
          jax.tree_util.tree_leaves(updates['batch_stats']),
          jax.tree_util.tree_leaves(variables['batch_stats'])))
    else:
      assert updates == {}


@pytest.mark.parametrize('name, shape, extra', [CASES[1], CASES[4]])
def test_spectral_norm_switch_keeps_param_names(name, shape, extra):
  """SN adds u/sigma to 'batch_stats' of the chosen network; params keep their names."""
  plain = _net(name, shape, **extra)
  normed = _net(name, shape, d_spectral_norm=True, g_spectral_norm=True, **extra)
  key = jax.random.PRNGKey(0)
  for init in ('generator_init', 'discriminator_init'):
    a, b = (jax.eval_shape(getattr(net, init), key) for net in (plain, normed))
    chex.assert_trees_all_equal_shapes(a['params'], b['params'])
    assert _sigma_count(a) == 0 and _sigma_count(b) == len(jax.tree_util.tree_leaves(
        jax.tree_util.tree_map(lambda p: p if p.ndim >= 2 else None, b['params'])))


def test_resnet_discriminator_spectral_norm():
  net = _net('resnet', (32, 32, 3), g_width=4, d_width=4, d_spectral_norm=True)
  d_vars = jax.eval_shape(net.discriminator_init, jax.random.PRNGKey(0))  # Shapes only.
  # 4 blocks x 2 convs + 2 shortcut convs (blocks 0, 1; 2 and 3 are identity) + dense = 11.
  assert _sigma_count(d_vars) == 11
  assert _sigma_count(jax.eval_shape(net.generator_init, jax.random.PRNGKey(0))) == 0
  off = _net('resnet', (32, 32, 3), g_width=4, d_width=4)
  assert 'batch_stats' not in jax.eval_shape(off.discriminator_init, jax.random.PRNGKey(0))


def test_dropout_is_random_in_training_only():
  net = _net('mlp', (2,), d_dropout=0.5, **{'mlp.output_activation': 'linear',
                                            'mlp.d_hidden': (32,)})
  d_vars = net.discriminator_init(jax.random.PRNGKey(0))
  x = jnp.ones((4, 2))
  run = lambda seed: net.discriminator_apply(d_vars, x, train=True,
                                             rngs={'dropout': jax.random.PRNGKey(seed)})[0]
  chex.assert_trees_all_equal(run(1), run(1))
  assert not np.allclose(run(1), run(2))
  chex.assert_trees_all_equal(net.discriminator_apply(d_vars, x, train=False)[0],
                              net.discriminator_apply(d_vars, x, train=False)[0])


def test_dcgan_defaults_unchanged():
  """No options: no spectral-norm state, no dropout; the published layer names."""
  net = _net('dcgan', (28, 28, 1), g_width=4, d_width=4)
  d_vars = jax.eval_shape(net.discriminator_init, jax.random.PRNGKey(0))
  assert sorted(d_vars['params']) == ['bn1', 'down0', 'down1', 'logit']
  assert _sigma_count(d_vars) == 0


def test_dcgan_d_bias_breaks_positive_homogeneity():
  """Without biases or normalization D(a x) = a D(x), so D(0) = 0 whatever its weights (a
  grey image scores 0); model.dcgan.d_bias adds a bias to every D layer and lifts that."""
  x = jax.random.uniform(jax.random.key(3), (3, 28, 28, 1), minval=-1.0, maxval=1.0)
  out = {}
  for bias in (False, True):
    net = _net('dcgan', (28, 28, 1), g_width=4, d_width=4, d_spectral_norm=True,
               **{'dcgan.d_normalization': 'none', 'dcgan.d_bias': bias})
    d_vars = net.discriminator_init(jax.random.key(1))
    is_bias = lambda path: jax.tree_util.keystr(path).endswith("['bias']")
    # Give the biases (zero at init) values, as training would.
    d_vars = jax.tree_util.tree_map_with_path(
        lambda p, v: v + 0.1 if is_bias(p) else v, d_vars)
    biases = [jax.tree_util.keystr(p) for p, _ in
              jax.tree_util.tree_flatten_with_path(d_vars['params'])[0] if is_bias(p)]
    assert len(biases) == (3 if bias else 0), biases  # down0, down1, logit.
    apply = lambda v: net.discriminator_apply(d_vars, v, train=False)[0]
    out[bias] = (apply(jnp.zeros_like(x)), apply(x), apply(2.0 * x))
  zero, d1, d2 = out[False]
  np.testing.assert_allclose(zero, 0.0, atol=1e-7)
  np.testing.assert_allclose(d2, 2.0 * d1, rtol=1e-5, atol=1e-6)
  zero, d1, d2 = out[True]
  assert np.all(np.abs(zero) > 1e-3), zero
  assert not np.allclose(d2, 2.0 * d1, rtol=1e-3)


def test_mlp_linear_output_is_unbounded():
  net = _net('mlp', (2,), **{'mlp.output_activation': 'linear', 'mlp.g_hidden': (8,)})
  g_vars = net.generator_init(jax.random.PRNGKey(0))
  x, _ = net.generator_apply(g_vars, 100.0 * jnp.ones((2, 6)), train=False)
  assert float(jnp.max(jnp.abs(x))) > 1.0


@pytest.mark.parametrize('name, shape, extra, match', [
    ('resnet', (30, 30, 3), {}, 'image side'),
    ('resnet', (2,), {}, 'mlp'),
    ('resnet', (32, 32, 3), dict(d_dropout=0.1), r'no dropout.*model\.d_dropout=0'),
    ('mlp', (2,), {'mlp.output_activation': 'sigmoidd'}, r'model\.mlp\.output_act.*linear'),
    ('mlp', (2,), {'mlp.g_activation': 'maxout'}, 'relu'),
    ('mlp', (2,), {'mlp.g_hidden': ()}, r'model\.mlp\.g_hidden.*positive widths'),
    ('mlp', (2,), dict(d_dropout=1.5), 'd_dropout'),
    ('mlp', (2,), dict(compute_dtype='float16'), r'model\.compute_dtype.*bfloat16'),
    ('dcgan', (28, 28, 1), dict(g_width=4, d_width=4, d_dropout=-0.1), 'd_dropout'),
    ('dcgan', (28, 28, 1), {'dcgan.conv_impl': 'fft'}, r"model\.dcgan\.conv_impl 'fft'"),
    ('dcgan', (28, 28, 1), {'dcgan.d_normalization': 'group'},
     r"model\.dcgan\.d_normalization 'group'.*layer"),
    ('resnett', (32, 32, 3), {}, 'resnet'),
])
def test_bad_config_is_a_clear_error(name, shape, extra, match):
  with pytest.raises(ValueError, match=match):
    _net(name, shape, **extra)


def test_registry_has_the_three_families():
  assert {'dcgan', 'mlp', 'resnet'} <= set(ARCHITECTURES)


@pytest.mark.parametrize('name, shape, extra', [CASES[0], CASES[3]])
def test_bfloat16_compute_keeps_float32_params(name, shape, extra):
  """compute_dtype='bfloat16': the same float32 params; every matmul/conv runs in bfloat16;
  outputs float32 and within bfloat16 rounding (8 bits: 2**-8 ~ 0.4% per op) of float32."""
  f32, bf16 = _net(name, shape, **extra), _net(name, shape, compute_dtype='bfloat16', **extra)
  key = jax.random.PRNGKey(0)
  g_vars, d_vars = f32.generator_init(key), f32.discriminator_init(key)
  chex.assert_trees_all_equal(bf16.generator_init(key), g_vars)  # Same float32 variables.
  z = f32.sample_latents(jax.random.PRNGKey(1), 3)
  for train in (False, True):
    x32, x16 = (net.generator_apply(g_vars, z, train=train)[0] for net in (f32, bf16))
    d32, d16 = (net.discriminator_apply(d_vars, x32, train=train)[0] for net in (f32, bf16))
    for a, b in ((x32, x16), (d32, d16)):
      assert b.dtype == jnp.float32 and not np.array_equal(a, b)
      np.testing.assert_allclose(b, a, atol=0.05 * float(jnp.max(jnp.abs(a))))
  for net, fn, args in ((bf16, 'generator_apply', (g_vars, z)),
                        (bf16, 'discriminator_apply', (d_vars, x32))):
    jaxpr = str(jax.make_jaxpr(lambda *a, fn=fn, net=net: getattr(net, fn)(*a, train=True))(
        *args))
    ops = [line for line in jaxpr.splitlines() if 'dot_general' in line or 'conv_general' in line]
    assert ops and all('bf16' in line for line in ops), ops
