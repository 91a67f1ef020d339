"""Class conditioning of G and D and D's heads (gan_jax/models/conditioning.py).

References: numpy BatchNorm (batch mean, biased variance, eps 1e-5) for conditional BN;
psi(phi) + <V[y], phi> and the heads recomputed in numpy from the captured phi(x) and the
parameters, spectral norms from numpy's SVD. Tolerances are written at each check.
"""

import chex
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import build_networks
from gan_jax.models import conditioning
from tests import helpers

K = 5  # Classes.
N = 4
LABELS = jnp.array([0, 1, 2, 3], jnp.int32)  # Class 4 unused: its table rows get no gradient.
OTHER_LABELS = jnp.array([1, 2, 3, 0], jnp.int32)
# Small nets; 'xla' convolutions (no per-shape kernel choice to trace).
ARCHS = {
    'dcgan': ((16, 16, 1), {'g_width': 4, 'd_width': 4, 'dcgan.conv_impl': 'xla',
                            'dcgan.conv_transpose_impl': 'xla'}),
    'resnet': ((16, 16, 1), {'g_width': 4, 'd_width': 4}),
}


def _net(name, num_classes=K, **fields):
  shape, extra = ARCHS[name]
  return build_networks(helpers.model_config(name, latent_dim=6, **extra, **fields), shape,
                        num_classes)


def _flat(tree):
  return flax.traverse_util.flatten_dict(flax.core.unfreeze(tree))


def _table_paths(params, leaf_name):
  """Paths of the (K, C) class tables called `leaf_name` (e.g. cBN's 'scale')."""
  return [p for p, v in _flat(params).items() if p[-1] == leaf_name and v.shape[0] == K]


def _perturb_cbn_tables(params, key):
  """Class-dependent cBN scales and shifts (at init the ResNet's are all equal)."""
  flat = _flat(params)
  for i, path in enumerate(_table_paths(params, 'scale') + _table_paths(params, 'bias')):
    flat[path] = flat[path] + 0.3 * jax.random.normal(jax.random.fold_in(key, i),
                                                      flat[path].shape)
  return flax.traverse_util.unflatten_dict(flat)


def _assert_rows_used_only(grad_table, unused_row_free=True):
  """Rows of the labels in LABELS get gradient; the unused class's row gets none (except
  through a spectral norm's sigma, which every row enters)."""
  grad_table = np.asarray(grad_table)
  assert np.all(np.abs(grad_table[np.asarray(LABELS)]).sum(axis=-1) > 0)
  if unused_row_free:
    np.testing.assert_array_equal(grad_table[K - 1], 0.0)


# ---- generator ---------------------------------------------------------------------------

@pytest.mark.parametrize('name', sorted(ARCHS))
@pytest.mark.parametrize('g_conditioning', ['concat', 'cbn'])
def test_generator_conditioning_shapes_gradients_and_labels(name, g_conditioning):
  net = _net(name, g_conditioning=g_conditioning)
  variables = net.generator_init(jax.random.key(0))
  z = net.sample_latents(jax.random.key(1), N)
  if g_conditioning == 'cbn':
    variables = {**variables, 'params': _perturb_cbn_tables(variables['params'],
                                                            jax.random.key(2))}

  @jax.jit
  def run(params):
    def loss(p):
      x, _ = net.generator_apply({**variables, 'params': p}, z, LABELS, train=True)
      return jnp.sum(x * jnp.linspace(-1.0, 1.0, x.size).reshape(x.shape)), x
    (_, x), grads = jax.value_and_grad(loss, has_aux=True)(params)
    both, _ = net.generator_apply({**variables, 'params': params}, jnp.concatenate([z, z]),
                                  jnp.concatenate([LABELS, OTHER_LABELS]), train=False)
    return x, grads, (both[:N], both[N:])

  x, grads, (x_eval, x_other) = run(variables['params'])
  chex.assert_shape([x, x_eval, x_other], (N, *ARCHS[name][0]))
  chex.assert_tree_all_finite(grads)
  # The same z with other labels gives other samples, every one (eval mode: no batch mixing).
  assert np.all(np.abs(np.asarray(x_eval - x_other)).reshape(N, -1).max(axis=1) > 1e-4)
  if g_conditioning == 'concat':
    _assert_rows_used_only(grads['label_embedding']['embedding'])
  else:
    paths = _table_paths(grads, 'scale')
    assert len(paths) == {'dcgan': 2, 'resnet': 4}[name]  # resnet: the blocks' BNs only.
    flat = _flat(grads)
    for path in paths + _table_paths(grads, 'bias'):
      _assert_rows_used_only(flat[path])


def _plain_to_cbn(plain, cbn_template):
  """cBN variables equal to the plain net's: each (C,) BN scale/bias tiled to (K, C), each
  BN's statistics moved under its 'bn' child."""
  plain_flat, out = _flat(plain), {}
  for path, template in _flat(cbn_template).items():
    source = path
    if len(path) >= 3 and path[-2] == 'bn' and path[-3].startswith('bn'):
      source = path[:-2] + path[-1:]  # ('block0', 'bn0', 'bn', 'mean') -> (..., 'bn0', 'mean')
    value = plain_flat[source]
    out[path] = jnp.broadcast_to(value, template.shape) if value.shape != template.shape \
        else value
  return flax.traverse_util.unflatten_dict(out)


@pytest.mark.parametrize('name', sorted(ARCHS))
def test_cbn_with_equal_class_tables_is_plain_batch_norm(name):
  """Every class's (scale, shift) = the plain BN's (at init: 1, 0 for the ResNet): the cBN
  generator is the plain one, in training (batch statistics) and eval (running averages)."""
  plain, cbn = _net(name), _net(name, g_conditioning='cbn')
  plain_vars = plain.generator_init(jax.random.key(0))
  cbn_vars = _plain_to_cbn(plain_vars, jax.eval_shape(cbn.generator_init, jax.random.key(0)))
  if name == 'resnet':  # Its init already is scale 1, shift 0 for every class.
    chex.assert_trees_all_equal(cbn.generator_init(jax.random.key(0)), cbn_vars)
  z = plain.sample_latents(jax.random.key(1), N)
  for train in (True, False):
    want, want_stats = plain.generator_apply(plain_vars, z, train=train)
    got, got_stats = cbn.generator_apply(cbn_vars, z, LABELS, train=train)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if train:  # The same running statistics, now under each cBN's 'bn' (float32 rounding:
      # cBN computes x_hat * scale[y] + bias[y], flax's BN (x - mean) * (scale / std) + bias).
      chex.assert_trees_all_close(got_stats, _plain_to_cbn(want_stats, got_stats), rtol=1e-5,
                                  atol=1e-7)


def _numpy_batch_norm(x, scale, bias):
  mean = x.mean(axis=(0, 1, 2))
  var = ((x - mean) ** 2).mean(axis=(0, 1, 2))  # Biased, as BN normalizes.
  return scale * (x - mean) / np.sqrt(var + 1e-5) + bias, mean, var


def test_conditional_batch_norm_matches_numpy():
  """gamma[y] (x - mu) / sqrt(var + eps) + beta[y] with batch statistics; running averages
  0.9 * old + 0.1 * batch; eval mode uses them. rtol 1e-5 (float32)."""
  rng = np.random.default_rng(0)
  x = rng.normal(2.0, 3.0, (6, 3, 3, 4)).astype(np.float32)
  labels = np.array([0, 2, 2, 1, 0, 2])
  layer = conditioning.ConditionalBatchNorm(3)
  variables = layer.init(jax.random.key(0), x, labels, train=False)
  # At init (scale 1, shift 0): plain BatchNorm.
  got, stats = layer.apply(variables, x, labels, train=True, mutable=['batch_stats'])
  want, mean, var = _numpy_batch_norm(x, 1.0, 0.0)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(stats['batch_stats']['bn']['mean'], 0.1 * mean, rtol=1e-5)
  np.testing.assert_allclose(stats['batch_stats']['bn']['var'], 0.9 + 0.1 * var, rtol=1e-5)
  # Class tables: per-example scale and shift.
  scale = rng.normal(1.0, 0.5, (3, 4)).astype(np.float32)
  bias = rng.normal(0.0, 0.5, (3, 4)).astype(np.float32)
  params = {'params': {'scale': scale, 'bias': bias}}
  got, _ = layer.apply({**variables, **params}, x, labels, train=True, mutable=['batch_stats'])
  want, _, _ = _numpy_batch_norm(x, scale[labels][:, None, None, :],
                                 bias[labels][:, None, None, :])
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  got = layer.apply({**stats, **params}, x, labels, train=False)
  mu, v = 0.1 * mean, 0.9 + 0.1 * var
  want = scale[labels][:, None, None, :] * (x - mu) / np.sqrt(v + 1e-5) + \
      bias[labels][:, None, None, :]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conditional_batch_norm_statistics_sync_over_axis_name():
  """Two shards under vmap(axis_name) normalize with the statistics of the whole batch."""
  rng = np.random.default_rng(1)
  x = rng.normal(0.0, 2.0, (8, 2, 2, 3)).astype(np.float32)
  labels = np.array([0, 1, 1, 0, 1, 0, 0, 1])
  layer = conditioning.ConditionalBatchNorm(2, axis_name='devices')
  variables = conditioning.ConditionalBatchNorm(2).init(jax.random.key(0), x, labels,
                                                        train=False)
  whole = conditioning.ConditionalBatchNorm(2).apply(variables, x, labels, train=True,
                                                     mutable=['batch_stats'])[0]
  sharded = jax.vmap(lambda xs, ys: layer.apply(variables, xs, ys, train=True,
                                                mutable=['batch_stats'])[0],
                     axis_name='devices')(x.reshape(2, 4, 2, 2, 3), labels.reshape(2, 4))
  np.testing.assert_allclose(sharded.reshape(x.shape), whole, rtol=1e-5, atol=1e-5)
  unsynced = conditioning.ConditionalBatchNorm(2).apply(variables, x[:4], labels[:4],
                                                        train=True, mutable=['batch_stats'])[0]
  assert not np.allclose(unsynced, whole[:4], atol=1e-3)


# ---- discriminator -----------------------------------------------------------------------

@pytest.mark.parametrize('name', sorted(ARCHS))
@pytest.mark.parametrize('d_conditioning, spectral_norm', [
    ('concat', False), ('projection', False), ('projection', True)])
def test_discriminator_conditioning_shapes_gradients_and_labels(name, d_conditioning,
                                                                spectral_norm):
  net = _net(name, d_conditioning=d_conditioning, d_spectral_norm=spectral_norm)
  variables = net.discriminator_init(jax.random.key(0))
  x = jax.random.uniform(jax.random.key(1), (N, *ARCHS[name][0]), minval=-1.0, maxval=1.0)

  @jax.jit
  def run(params):
    def loss(p):
      logits, _ = net.discriminator_apply({**variables, 'params': p}, x, LABELS, train=True)
      return jnp.sum(logits * jnp.arange(1.0, N + 1.0)), logits
    (_, logits), grads = jax.value_and_grad(loss, has_aux=True)(params)
    both, _ = net.discriminator_apply({**variables, 'params': params}, jnp.concatenate([x, x]),
                                      jnp.concatenate([LABELS, OTHER_LABELS]), train=False)
    return logits, grads, (both[:N], both[N:])

  logits, grads, (d_eval, d_other) = run(variables['params'])
  chex.assert_shape([logits, d_eval, d_other], (N,))
  chex.assert_tree_all_finite(grads)
  assert np.all(np.abs(np.asarray(d_eval - d_other)) > 1e-6)  # The label enters, per example.
  table = {'concat': 'label_embedding', 'projection': 'projection'}[d_conditioning]
  _assert_rows_used_only(grads[table]['embedding'], unused_row_free=not spectral_norm)
  sigmas = [k for k in _flat(variables.get('batch_stats', {}))
            if k[-1] == 'projection/embedding/sigma']
  assert len(sigmas) == (d_conditioning == 'projection' and spectral_norm)


def _top_singular_value(w):
  return float(np.linalg.svd(np.asarray(w, np.float64).reshape(-1, w.shape[-1]),
                             compute_uv=False)[0])


@pytest.mark.parametrize('name', sorted(ARCHS))
@pytest.mark.parametrize('spectral_norm', [False, True])
def test_projection_logit_by_hand(name, spectral_norm):
  """logit = psi(phi(x)) + <V[y], phi(x)> from the captured phi(x) and the parameters in
  numpy (float64): psi is resnet's Dense(1) on the sum pool, dcgan's base x base logit conv
  as a Dense on the flattened map; the projection reads phi (resnet) or the spatial sum of
  dcgan's map (phi reshaped to (N, base, base, C), summed). With spectral norm both psi's kernel and V are divided by
  their top singular value (numpy SVD; 100 power iterations converge). rtol 1e-4."""
  net = _net(name, d_conditioning='projection', d_spectral_norm=spectral_norm,
             spectral_norm_steps=100)
  variables = net.discriminator_init(jax.random.key(0))
  x = jax.random.uniform(jax.random.key(1), (N, *ARCHS[name][0]), minval=-1.0, maxval=1.0)
  logits, captured = net.make_discriminator(None).apply(
      variables, x, LABELS, train=False, mutable=['intermediates'])
  phi = np.asarray(captured['intermediates']['features'][0], np.float64)
  params = variables['params']
  w = np.asarray(params['logit']['kernel'], np.float64)
  v = np.asarray(params['projection']['embedding'], np.float64)
  if spectral_norm:
    w, v = w / _top_singular_value(w), v / _top_singular_value(v)
  psi = phi @ w.reshape(-1)
  if name == 'resnet':
    psi = psi + float(params['logit']['bias'][0])
  pooled = phi if name == 'resnet' else phi.reshape(N, 4 * 4, 8).sum(1)
  want = psi + np.sum(v[np.asarray(LABELS)] * pooled, axis=-1)
  assert phi.shape == (N, {'dcgan': 4 * 4 * 8, 'resnet': 4}[name])
  assert v.shape == (K, {'dcgan': 8, 'resnet': 4}[name])
  np.testing.assert_allclose(logits, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name', sorted(ARCHS))
def test_heads_share_the_trunk_and_match_by_hand(name):
  """Heads on: a dict of the documented shapes; 'logit' is the headless D's logit with the
  same trunk params; class_logits = Dense(K)(phi) and Q = Dense(LeakyReLU(Dense(phi)))
  recomputed in numpy (rtol 1e-4)."""
  plain = _net(name)
  heads = _net(name, d_class_head=True, d_q_head=True,
               **{'infogan.categorical': 3, 'infogan.continuous': 2, 'infogan.hidden': 8})
  variables = heads.discriminator_init(jax.random.key(0))
  x = jax.random.uniform(jax.random.key(1), (N, *ARCHS[name][0]), minval=-1.0, maxval=1.0)
  out, captured = heads.make_discriminator(None).apply(variables, x, LABELS, train=False,
                                                       mutable=['intermediates'])
  chex.assert_shape([out['logit'], out['class_logits'], out['q_categorical_logits'],
                     out['q_continuous_mean'], out['q_continuous_log_std']],
                    [(N,), (N, K), (N, 3), (N, 2), (N, 2)])
  assert sorted(out) == ['class_logits', 'logit', 'q_categorical_logits',
                         'q_continuous_log_std', 'q_continuous_mean']
  trunk = {k: v for k, v in variables['params'].items() if k not in ('class_head', 'q_head')}
  plain_logit, _ = plain.discriminator_apply({**variables, 'params': trunk}, x, train=False)
  np.testing.assert_array_equal(out['logit'], plain_logit)

  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), variables['params'])
  phi = np.asarray(captured['intermediates']['features'][0], np.float64)
  dense = lambda layer, h: h @ layer['kernel'] + layer['bias']
  np.testing.assert_allclose(out['class_logits'], dense(p['class_head'], phi), rtol=1e-4,
                             atol=1e-5)
  h = dense(p['q_head']['hidden'], phi)
  q = dense(p['q_head']['output'], np.where(h > 0, h, 0.2 * h))
  for key, cols in (('q_categorical_logits', slice(0, 3)), ('q_continuous_mean', slice(3, 5)),
                    ('q_continuous_log_std', slice(5, 7))):
    np.testing.assert_allclose(out[key], q[:, cols], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name', sorted(ARCHS))
def test_q_head_alone_needs_no_labels(name):
  net = _net(name, num_classes=None, d_q_head=True)
  out = jax.eval_shape(lambda: net.discriminator_apply(
      net.discriminator_init(jax.random.key(0)), jnp.zeros((N, *ARCHS[name][0])),
      train=False)[0])
  assert sorted(out) == ['logit', 'q_categorical_logits', 'q_continuous_log_std',
                         'q_continuous_mean']
  assert out['q_categorical_logits'].shape == (N, 10) and out['q_continuous_mean'].shape == (N, 2)


@pytest.mark.parametrize('name', sorted(ARCHS))
def test_everything_off_is_the_unconditional_network(name):
  """Labels given but every option off: the same variables (paths, shapes, values) and the
  same outputs as without labels; D returns the plain (N,) logits."""
  with_labels, without = _net(name), _net(name, num_classes=None)
  key = jax.random.key(0)
  for init in ('generator_init', 'discriminator_init'):
    chex.assert_trees_all_equal(getattr(with_labels, init)(key), getattr(without, init)(key))
  g_vars, d_vars = without.generator_init(key), without.discriminator_init(key)
  z = without.sample_latents(jax.random.key(1), N)
  x, _ = without.generator_apply(g_vars, z, train=False)
  chex.assert_trees_all_equal(with_labels.generator_apply(g_vars, z, LABELS, train=False)[0], x)
  logits, _ = with_labels.discriminator_apply(d_vars, x, LABELS, train=False)
  assert isinstance(logits, jax.Array) and logits.shape == (N,)
  chex.assert_trees_all_equal(logits, without.discriminator_apply(d_vars, x, train=False)[0])


@pytest.mark.parametrize('name', sorted(ARCHS))
@pytest.mark.parametrize('g_conditioning, d_conditioning', [('concat', 'concat'),
                                                            ('cbn', 'projection')])
def test_bfloat16_compute_gives_float32_outputs(name, g_conditioning, d_conditioning):
  net = _net(name, g_conditioning=g_conditioning, d_conditioning=d_conditioning,
             d_class_head=True, d_q_head=True, compute_dtype='bfloat16')

  def forward():
    z = net.sample_latents(jax.random.key(1), N)
    x, _ = net.generator_apply(net.generator_init(jax.random.key(0)), z, LABELS, train=True)
    return x, net.discriminator_apply(net.discriminator_init(jax.random.key(0)), x, LABELS,
                                      train=True)[0]

  x, out = jax.eval_shape(forward)  # Traces both nets; compiles nothing.
  assert x.dtype == jnp.float32 and x.shape == (N, *ARCHS[name][0])
  assert {k: (v.shape, v.dtype) for k, v in out.items()} == {
      'logit': ((N,), jnp.float32), 'class_logits': ((N, K), jnp.float32),
      'q_categorical_logits': ((N, 10), jnp.float32), 'q_continuous_mean': ((N, 2), jnp.float32),
      'q_continuous_log_std': ((N, 2), jnp.float32)}


def test_mlp_concat_conditioning():
  config = helpers.model_config('mlp', latent_dim=6, g_conditioning='concat',
                                d_conditioning='concat', label_embedding_dim=3,
                                **{'mlp.g_hidden': (8,), 'mlp.d_hidden': (8,)})
  net = build_networks(config, (2,), K)
  g_vars, d_vars = net.generator_init(jax.random.key(0)), net.discriminator_init(
      jax.random.key(1))
  assert g_vars['params']['dense0']['kernel'].shape == (6 + 3, 8)
  assert d_vars['params']['dense0']['kernel'].shape == (2 + 3, 8)
  z = net.sample_latents(jax.random.key(2), N)
  x, _ = net.generator_apply(g_vars, z, LABELS, train=False)
  x_other, _ = net.generator_apply(g_vars, z, OTHER_LABELS, train=False)
  assert np.all(np.abs(np.asarray(x - x_other)).max(axis=1) > 1e-6)
  d, _ = net.discriminator_apply(d_vars, x, LABELS, train=False)
  d_other, _ = net.discriminator_apply(d_vars, x, OTHER_LABELS, train=False)
  chex.assert_shape(d, (N,))
  assert np.all(np.abs(np.asarray(d - d_other)) > 1e-6)


# ---- errors ------------------------------------------------------------------------------

@pytest.mark.parametrize('name, fields, num_classes, match', [
    ('dcgan', dict(g_conditioning='cbn'), None,
     r"g_conditioning='cbn' needs class labels.*--config\.dataset\.conditional=True"),
    ('resnet', dict(d_conditioning='projection'), None, r'dataset\.conditional=True'),
    ('resnet', dict(d_class_head=True), None, r'd_class_head=True needs class labels'),
    ('dcgan', dict(g_conditioning='film'), K,
     r"model\.g_conditioning 'film'.*\['cbn', 'concat', 'none'\]"),
    ('dcgan', dict(d_conditioning='cbn'), K,
     r"model\.d_conditioning 'cbn'.*\['concat', 'none', 'projection'\]"),
    ('mlp', dict(g_conditioning='cbn'), K, r"'mlp' supports model\.g_conditioning in"),
    ('mlp', dict(d_conditioning='projection'), K, r"'mlp' supports model\.d_conditioning"),
    ('mlp', dict(d_q_head=True), K, r'no discriminator heads'),
    ('resnet', {'d_q_head': True, 'infogan.categorical': 0, 'infogan.continuous': 0}, None,
     r'model\.infogan\.categorical'),
    ('dcgan', dict(g_conditioning='concat', label_embedding_dim=0), K, 'label_embedding_dim'),
])
def test_bad_conditioning_is_a_clear_error(name, fields, num_classes, match):
  extra = ARCHS[name][1] if name in ARCHS else {}
  shape = ARCHS[name][0] if name in ARCHS else (2,)
  with pytest.raises(ValueError, match=match):
    build_networks(helpers.model_config(name, **extra, **fields), shape, num_classes)


def test_missing_labels_at_call_time_is_a_clear_error():
  net = _net('dcgan', g_conditioning='cbn')
  g_vars = net.generator_init(jax.random.key(0))
  with pytest.raises(ValueError, match=r"g_conditioning='cbn' needs labels.*got None"):
    net.generator_apply(g_vars, jnp.zeros((2, 6)), None, train=False)


@pytest.mark.parametrize('d_normalization', ['batch', 'layer', 'none'])
def test_dcgan_hidden_dense_layers_by_hand(d_normalization):
  """model.dcgan.{g,d}_fc_width (InfoGAN's nets): G gains Dense -> BN -> ReLU before the
  projection; D's phi(x) is LeakyReLU(norm(Dense(flattened last map))), read by a Dense
  logit and by the Q head (numpy, rtol 1e-4); width 0 is the plain DCGAN."""
  net = _net('dcgan', num_classes=None, d_q_head=True,
             **{'dcgan.g_fc_width': 8, 'dcgan.d_fc_width': 6,
                'dcgan.d_normalization': d_normalization,
                'infogan.categorical': 3, 'infogan.continuous': 1, 'infogan.hidden': 5})
  g_vars = net.generator_init(jax.random.key(0))
  assert g_vars['params']['fc']['kernel'].shape == (6, 8)
  assert g_vars['params']['project']['kernel'].size == 4 * 4 * 8 * 8  # From 8 units, not z.
  x, _ = net.generator_apply(g_vars, net.sample_latents(jax.random.key(1), N), train=True)
  chex.assert_shape(x, (N, 16, 16, 1))
  d_vars = net.discriminator_init(jax.random.key(2))
  images = jax.random.uniform(jax.random.key(3), (N, 16, 16, 1), minval=-1.0, maxval=1.0)
  out, captured = net.make_discriminator(None).apply(d_vars, images, train=False,
                                                     mutable=['intermediates'])
  phi = np.asarray(captured['intermediates']['features'][0], np.float64)
  assert phi.shape == (N, 6)
  # Recompute phi from the last conv map: the plain DCGAN trunk without the fc layers.
  trunk = _net('dcgan', num_classes=None, **{'dcgan.d_normalization': d_normalization})
  trunk_vars = {c: {k: v for k, v in tree.items() if k.startswith(('down', 'bn', 'ln'))}
                for c, tree in d_vars.items()}
  _, trunk_captured = trunk.make_discriminator(None).apply(
      {c: {**t, 'logit': {'kernel': jnp.zeros((4, 4, 8, 1))}} if c == 'params' else t
       for c, t in trunk_vars.items()}, images, train=False, mutable=['intermediates'])
  flat = np.asarray(trunk_captured['intermediates']['features'][0], np.float64)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), d_vars['params'])
  h = flat @ p['fc']['kernel']
  if d_normalization == 'batch':  # Running statistics at init: mean 0, variance 1.
    h = h / np.sqrt(1 + 1e-5) * p['fc_norm']['scale'] + p['fc_norm']['bias']
  elif d_normalization == 'layer':
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-5)
    h = h * p['fc_norm']['scale'] + p['fc_norm']['bias']
  h = np.where(h > 0, h, 0.2 * h)
  np.testing.assert_allclose(phi, h, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(out['logit'], (h @ p['logit']['kernel'])[:, 0], rtol=1e-4,
                             atol=1e-6)
  q_hidden = phi @ p['q_head']['hidden']['kernel'] + p['q_head']['hidden']['bias']
  assert p['q_head']['hidden']['kernel'].shape == (6, 5)
  q = np.where(q_hidden > 0, q_hidden, 0.2 * q_hidden) @ p['q_head']['output']['kernel']
  np.testing.assert_allclose(out['q_categorical_logits'],
                             q[:, :3] + p['q_head']['output']['bias'][:3], rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match='g_fc_width must be >= 0'):
    _net('dcgan', **{'dcgan.g_fc_width': -1})


def test_q_head_batchnorm_matches_numpy_and_syncs_over_axis_name():
  """model.infogan.batchnorm: Q = Dense -> BatchNorm -> LeakyReLU -> Dense (the paper's Q).
  In train mode BN uses the batch mean and biased variance (eps 1e-5; numpy, rtol 1e-4); two
  shards under vmap(axis_name) normalize with the whole batch's statistics; D built with it
  keeps the running statistics under q_head/bn; off, the head has no BatchNorm."""
  rng = np.random.default_rng(0)
  feats = rng.normal(1.0, 3.0, (8, 6)).astype(np.float32)
  head = conditioning.QHead(3, 1, 5, batchnorm=True)
  variables = head.init(jax.random.key(0), feats, train=False)
  out, updates = head.apply(variables, feats, train=True, mutable=['batch_stats'])
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), variables['params'])
  h = feats.astype(np.float64) @ p['hidden']['kernel'] + p['hidden']['bias']
  mu, var = h.mean(0), h.var(0)
  hn = (h - mu) / np.sqrt(var + 1e-5) * p['bn']['scale'] + p['bn']['bias']
  q = np.where(hn > 0, hn, 0.2 * hn) @ p['output']['kernel'] + p['output']['bias']
  np.testing.assert_allclose(out['q_categorical_logits'], q[:, :3], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out['q_continuous_mean'], q[:, 3:4], rtol=1e-4, atol=1e-5)
  assert not np.allclose(updates['batch_stats']['bn']['mean'], 0.0)  # Running stats move.
  synced = conditioning.QHead(3, 1, 5, batchnorm=True, axis_name='devices')
  sharded = jax.vmap(lambda f: synced.apply(variables, f, train=True,
                                            mutable=['batch_stats'])[0]['q_categorical_logits'],
                     axis_name='devices')(feats.reshape(2, 4, 6))
  np.testing.assert_allclose(sharded.reshape(8, 3), out['q_categorical_logits'], rtol=1e-4,
                             atol=1e-5)
  fields = {'dcgan.d_fc_width': 6, 'infogan.categorical': 3, 'infogan.continuous': 1,
            'infogan.hidden': 5}
  with_bn = _net('dcgan', num_classes=None, d_q_head=True, **fields, **{'infogan.batchnorm': True})
  d_vars = with_bn.discriminator_init(jax.random.key(2))
  assert set(d_vars['batch_stats']['q_head']['bn']) == {'mean', 'var'}
  plain = _net('dcgan', num_classes=None, d_q_head=True, **fields)
  assert 'bn' not in plain.discriminator_init(jax.random.key(2))['params']['q_head']
