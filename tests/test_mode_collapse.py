"""The mode-collapse remedies: packing, the minibatch layers, unrolled GAN, feature matching.

Each is checked against an independent reference (numpy loops, a hand-written unrolled
optimization in a Python loop, hand-computed features) and on 1 vs 8 devices.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from configs import toy_ring
from gan_jax import models
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from gan_jax.models import minibatch
from tests import helpers

TOL = 1e-5  # float32 arithmetic in a different order.


def _toy_config(variant=None, **fields):
  """The ring recipe at smoke widths (MLP 16-16), batch 16, SGD, one device, no penalty."""
  config = toy_ring.get_config('smoke' + (f',{variant}' if variant else ''))
  config.batch_size = 16
  config.penalty.name, config.penalty.weight = 'none', 0.0
  config.parallel = 'none'
  default.set_optimizers(config, name='sgd', lr=0.1, schedule='constant')
  for path, value in fields.items():
    helpers.overrides_lib.set_field(config, path, value)
  return config


def _setup(config, seed=0):
  networks = models.build_networks(config.model, (2,))
  return networks, state_lib.create_state(config, networks, jax.random.key(seed))


def _batch(n=16, seed=1):
  return {'image': jax.random.normal(jax.random.key(seed), (n, 2))}


# ---- packing ------------------------------------------------------------------------------

def test_pack_shapes_and_order():
  x = np.arange(8 * 4 * 4 * 3, dtype=np.float32).reshape(8, 4, 4, 3)
  packed = np.asarray(minibatch.pack(jnp.asarray(x), 2))
  assert packed.shape == (4, 4, 4, 6)
  for k in range(4):
    for j in range(2):  # Pack k holds samples 2k, 2k + 1 on channels [3j, 3j + 3).
      np.testing.assert_array_equal(packed[k, ..., 3 * j:3 * j + 3], x[2 * k + j])
  v = np.arange(8 * 2, dtype=np.float32).reshape(8, 2)
  packed_v = np.asarray(minibatch.pack(jnp.asarray(v), 4))
  np.testing.assert_array_equal(packed_v, v.reshape(2, 8))
  assert minibatch.pack(v, 1) is v
  with pytest.raises(ValueError, match='multiple of 3'):
    minibatch.pack(jnp.zeros((8, 2)), 3)


class _ConstantG(nn.Module):
  @nn.compact
  def __call__(self, z, labels=None, *, train):
    del labels, train
    return jnp.zeros((z.shape[0], 2)) - 1.0 + 0.0 * self.param('b', nn.initializers.zeros, ())


class _MeanD(nn.Module):
  """D(pack) = mean of the pack's values; asserts it sees packs of 2 samples (4 features)."""

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    del labels, train
    assert x.shape[1:] == (4,), x.shape
    return jnp.mean(x, axis=-1) + self.param('b', nn.initializers.zeros, ())


def test_packed_d_sees_only_real_with_real_and_fake_with_fake():
  config = _toy_config('pack2')
  networks = models.Networks(lambda axis: _ConstantG(), lambda axis: _MeanD(), latent_dim=4,
                             data_shape=(2,), num_classes=None, pack=2)
  state = state_lib.create_state(config, networks, jax.random.key(0))
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  _, metrics = step(state, {'image': jnp.ones((16, 2))}, jax.random.key(1))
  # Real samples are all +1, generated ones all -1: a mixed pack would average in between.
  assert float(metrics['d_real_logit']) == 1.0
  assert float(metrics['d_fake_logit']) == -1.0


def test_pack_builds_a_wider_d_and_rejects_labels():
  config = _toy_config('pack4')
  networks, state = _setup(config)
  assert state.d_params['dense0']['kernel'].shape == (8, 16)  # 4 samples x 2 coordinates.
  out, _ = networks.discriminator_apply({'params': state.d_params}, jnp.zeros((16, 2)),
                                        train=False)
  assert out.shape == (4,)
  with pytest.raises(ValueError, match='unconditional D'):
    models.build_networks(config.model, (2,), num_classes=10)
  config.model.d_pack = 0
  with pytest.raises(ValueError, match='d_pack must be >= 1'):
    models.build_networks(config.model, (2,))


# ---- the minibatch layers -----------------------------------------------------------------

def _stddev_reference(x, group, channels):
  """Karras et al.'s statistic by loops (consecutive groups), appended as channels."""
  x = np.asarray(x, np.float64)
  n, c = x.shape[0], x.shape[-1]
  extra = np.zeros(x.shape[:-1] + (channels,))
  per = c // channels
  for g in range(n // group):
    members = x[g * group:(g + 1) * group]
    for f in range(channels):
      part = members[..., f * per:(f + 1) * per]
      mean = part.mean(axis=0)
      std = np.sqrt(((part - mean) ** 2).mean(axis=0) + 1e-8)
      extra[g * group:(g + 1) * group, ..., f] = std.mean()
  return np.concatenate([x, extra], axis=-1)


@pytest.mark.parametrize('shape,group,channels', [((8, 4, 4, 6), 4, 2), ((8, 5), 2, 1),
                                                  ((6, 3, 3, 4), 8, 1)])
def test_minibatch_stddev_matches_numpy(shape, group, channels):
  x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
  got = np.asarray(minibatch.minibatch_stddev(jnp.asarray(x), group, channels))
  want = _stddev_reference(x, min(group, shape[0]), channels)
  np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)


def _disc_reference(x, t, num_kernels, kernel_dim, group):
  """Salimans et al.'s o(x_i)_b by loops: sum over the other samples of the group."""
  x = np.asarray(x, np.float64)
  n = x.shape[0]
  m = (x.reshape(n, -1) @ np.asarray(t, np.float64)).reshape(n, num_kernels, kernel_dim)
  group = group or n
  o = np.zeros((n, num_kernels))
  for i in range(n):
    start = (i // group) * group
    for j in range(start, start + group):
      if j != i:
        o[i] += np.exp(-np.abs(m[i] - m[j]).sum(axis=-1))
  o = o.reshape(n, *([1] * (x.ndim - 2)), num_kernels)
  return np.concatenate([x, np.broadcast_to(o, x.shape[:-1] + (num_kernels,))], axis=-1)


@pytest.mark.parametrize('shape,group', [((8, 6), 0), ((8, 6), 4), ((4, 2, 2, 3), 0)])
def test_minibatch_discrimination_matches_numpy(shape, group):
  x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
  layer = minibatch.MinibatchDiscrimination(num_kernels=3, kernel_dim=4, group_size=group)
  params = layer.init(jax.random.key(0), jnp.asarray(x))
  t = params['params']['kernel'] * 20.0  # Distances of order 1: exp(-d) far from 0 and 1.
  got = np.asarray(layer.apply({'params': {'kernel': t}}, jnp.asarray(x)))
  np.testing.assert_allclose(got, _disc_reference(x, t, 3, 4, group), rtol=TOL, atol=TOL)


def test_minibatch_discrimination_over_the_global_batch_on_8_devices():
  x = np.random.default_rng(2).normal(size=(16, 6)).astype(np.float32)
  layer = minibatch.MinibatchDiscrimination(num_kernels=3, kernel_dim=4)
  params = layer.init(jax.random.key(0), jnp.asarray(x))
  single = layer.apply(params, jnp.asarray(x))
  per_device = minibatch.MinibatchDiscrimination(num_kernels=3, kernel_dim=4, axis_name='d')
  sharded = jax.pmap(lambda xs: per_device.apply(params, xs), axis_name='d')(
      x.reshape(8, 2, 6))
  np.testing.assert_allclose(np.asarray(sharded).reshape(16, -1), np.asarray(single),
                             rtol=TOL, atol=TOL)


def test_minibatch_options_errors():
  config = _toy_config('mbstd')
  config.batch_size = 6
  networks, state = _setup(config)
  with pytest.raises(ValueError, match='not a multiple of the group size 4'):
    networks.discriminator_apply({'params': state.d_params}, jnp.zeros((6, 2)), train=False)
  config.model.d_minibatch_discrimination.kernel_dim = 0
  with pytest.raises(ValueError, match='kernel_dim must be >= 1'):
    models.build_networks(config.model, (2,))


# ---- unrolled GAN -------------------------------------------------------------------------

def _step_latents(networks, state, key, n):
  """G's latents in one train step (n_critic 1), drawn as gan_jax/train_step.py documents:
  the step key split by purpose, the inputs' key folded with the critic index, split for z."""
  k_inputs, _, _ = jax.random.split(jax.random.fold_in(key, state.step), 3)
  return networks.sample_latents(jax.random.split(jax.random.fold_in(k_inputs, 0))[0], n)


def _manual_unrolled_g_grad(config, networks, state, batch, key, k):
  """G's gradient through k SGD updates of D, written out as a Python loop (no scan), with
  the non-saturating loss by hand, the latents drawn as the step documents."""
  z = _step_latents(networks, state, key, batch['image'].shape[0])
  lr = config.optim.d.lr

  def d(params, x):
    return networks.discriminator_apply({'params': params}, x, train=True)[0]

  def d_loss(params, fake):
    return (jnp.mean(jax.nn.softplus(-d(params, batch['image'])))
            + jnp.mean(jax.nn.softplus(d(params, fake))))

  def g_loss(g_params):
    fake = networks.generator_apply({'params': g_params}, z, train=True)[0]
    params = state.d_params
    for _ in range(k):
      grads = jax.grad(d_loss)(params, fake)
      params = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
    return jnp.mean(jax.nn.softplus(-d(params, fake)))

  return jax.jit(jax.value_and_grad(g_loss))(state.g_params)


@pytest.mark.parametrize('k', [1, pytest.param(3, marks=pytest.mark.slow)])
def test_unrolled_generator_gradient_matches_a_manual_unrolling(k):
  config = _toy_config(f'unrolled{k}', ema_decay=0.0)
  config.optim.g.lr = 1.0  # SGD with lr 1: G's update is minus its gradient.
  networks, state = _setup(config)
  batch, key = _batch(), jax.random.key(5)
  new_state, metrics = jax.jit(train_step_lib.make_train_step(config, networks))(
      state, batch, key)
  got = jax.tree_util.tree_map(lambda a, b: a - b, state.g_params, new_state.g_params)
  want_loss, want = _manual_unrolled_g_grad(config, networks, state, batch, key, k)
  assert helpers.max_abs_diff(got, want) < 1e-4
  np.testing.assert_allclose(float(metrics['g_loss']), float(want_loss), rtol=1e-5)
  # The real D took its usual single update, whatever k.
  plain_state, plain_metrics = jax.jit(train_step_lib.make_train_step(
      _toy_config(ema_decay=0.0, **{'optim.g.lr': 1.0}), networks))(state, batch, key)
  assert helpers.max_abs_diff(plain_state.d_params, new_state.d_params) == 0.0
  if k == 1:  # Same D for G's loss, so the same loss value; a different (second-order) gradient.
    np.testing.assert_allclose(float(metrics['g_loss']), float(plain_metrics['g_loss']),
                               rtol=1e-6)
    assert helpers.max_abs_diff(plain_state.g_params, new_state.g_params) > 1e-4


def test_unrolled_rejects_negative_steps():
  config = _toy_config(unrolled_d_steps=-1)
  networks, _ = _setup(config)
  with pytest.raises(ValueError, match='unrolled_d_steps must be >= 0'):
    train_step_lib.make_train_step(config, networks)


# ---- feature matching ---------------------------------------------------------------------

def _mlp_features(params, x):
  """phi of the MLP D by hand (Dense -> LeakyReLU 0.2 per hidden layer), numpy float64."""
  h = np.asarray(x, np.float64)
  for i in range(2):
    layer = params[f'dense{i}']
    h = h @ np.asarray(layer['kernel'], np.float64) + np.asarray(layer['bias'], np.float64)
    h = np.where(h > 0, h, 0.2 * h)
  return h


def test_feature_matching_loss_by_hand():
  config = _toy_config('feature_matching', ema_decay=0.0)
  networks, state = _setup(config)
  batch, key = _batch(), jax.random.key(7)
  new_state, metrics = jax.jit(train_step_lib.make_train_step(config, networks))(
      state, batch, key)
  # G's loss is taken at the updated D, on this step's generated samples.
  z = _step_latents(networks, state, key, 16)
  fake = networks.generator_apply({'params': state.g_params}, z, train=True)[0]
  f_real = _mlp_features(new_state.d_params, batch['image']).mean(axis=0)
  f_fake = _mlp_features(new_state.d_params, fake).mean(axis=0)
  want = np.mean((f_real - f_fake) ** 2)
  np.testing.assert_allclose(float(metrics['g_feature_matching']), want, rtol=1e-4)
  np.testing.assert_allclose(float(metrics['g_loss']), want, rtol=1e-4)  # Adversarial 0.
  # With both weights, G's loss is their weighted sum.
  config = _toy_config(**{'objective.feature_matching.weight': 2.0,
                          'objective.feature_matching.adversarial_weight': 0.5})
  _, m = jax.jit(train_step_lib.make_train_step(config, networks))(state, batch, key)
  np.testing.assert_allclose(float(m['g_loss']), 0.5 * float(m['g_adversarial'])
                             + 2.0 * float(m['g_feature_matching']), rtol=1e-5)


def test_feature_matching_is_refused_by_image_to_image_objectives():
  config = default.get_config()
  config.objective.name = 'pix2pix'
  config.objective.feature_matching.weight = 1.0
  from gan_jax import objectives  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='latent-variable objectives'):
    objectives.get_objective(config)


# ---- every remedy gives the same numbers on 1 and 8 devices --------------------------------

@pytest.mark.parametrize('variant', ['pack2'] + [pytest.param(v, marks=pytest.mark.slow) for v in (
    'mbstd,model.d_minibatch_stddev.group_size=2',
    'minibatch_disc,model.d_minibatch_discrimination.num_kernels=4', 'feature_matching',
    'unrolled2')])
def test_remedies_match_on_8_devices(variant):
  config = _toy_config(variant)
  networks, state0 = _setup(config)
  (s1, m1), runs = helpers.single_and_parallel(config, networks, state0, _batch(),
                                               jax.random.key(3))
  for mode, (s, m) in runs.items():
    # Reductions in another order: float32 rounding (~1e-6 of the update; minibatch
    # discrimination's |m_i - m_j| puts some gradient entries at |.|'s kink: 6.5e-5 measured).
    assert helpers.relative_update_diff(state0.g_params, s1.g_params, s.g_params) < 1e-3, mode
    assert helpers.relative_update_diff(state0.d_params, s1.d_params, s.d_params) < 1e-3, mode
    np.testing.assert_allclose(float(m['g_loss']), float(m1['g_loss']), rtol=1e-5)


def test_variants_set_the_fields():
  config = toy_ring.get_config('pack3,mbstd,minibatch_disc,unrolled5,feature_matching')
  assert config.model.d_pack == 3
  assert config.model.d_minibatch_stddev.group_size == 4
  assert config.model.d_minibatch_discrimination.num_kernels == 50
  assert config.unrolled_d_steps == 5
  assert config.objective.feature_matching.weight == 1.0
  assert config.objective.feature_matching.adversarial_weight == 0.0
  with pytest.raises(ValueError, match="'pack<m>'"):
    toy_ring.get_config('pack0')
