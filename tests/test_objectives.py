"""Objectives on the generic train step: the old recipes' numbers, loss terms by hand, the
CycleGAN image pool against a numpy reference."""

import json
import os

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import cyclegan, dcgan, default, pix2pix, toy_ring, wgan_gp
from gan_jax import models, objectives, overrides, parallel
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from gan_jax.objectives import cyclegan as cyclegan_lib
from tests import helpers

REFERENCE = os.path.join(os.path.dirname(__file__), 'data', 'train_step_reference.json')


# ---- the generic step reproduces the step it replaced --------------------------------------

def _fingerprint(state):
  out = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(state):
    a = np.asarray(leaf, np.float64)
    out[jax.tree_util.keystr(path)] = [float(a.sum()), float(np.abs(a).sum()),
                                       float((a * a).sum())]
  return out


def _run(config, data_shape, n_critic=1, steps=3):
  networks = models.build_networks(config.model, data_shape)
  state = state_lib.create_state(config, networks, jax.random.key(0))
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  for s in range(steps):
    lead = (n_critic, 16) if n_critic > 1 else (16,)
    batch = {'image': jax.random.uniform(jax.random.key(100 + s), (*lead, *data_shape),
                                         minval=-1, maxval=1),
             'label': jnp.zeros(lead, jnp.int32)}
    state, metrics = step(state, batch, jax.random.key(7))
  return _fingerprint(state), {k: float(v) for k, v in metrics.items()}


def _xla_convs(config):
  # The reference was recorded with XLA's own convolutions (the others differ in rounding).
  overrides.set_field(config, 'model.dcgan.conv_impl', 'xla')
  overrides.set_field(config, 'model.dcgan.conv_transpose_impl', 'xla')
  config.batch_size, config.parallel = 16, 'none'
  return config


def _reference_cases():
  c1 = _xla_convs(dcgan.get_config('smoke'))
  c2 = _xla_convs(dcgan.get_config('smoke'))
  c2.ema_decay, c2.g_step_fresh_latents = 0.99, True
  c3 = _xla_convs(wgan_gp.get_config('smoke'))
  c4 = toy_ring.get_config('smoke')
  c4.batch_size, c4.parallel = 16, 'none'
  return {'dcgan': (c1, (28, 28, 1), 1), 'dcgan_ema_fresh': (c2, (28, 28, 1), 1),
          'wgan_gp': (c3, (28, 28, 1), c3.d_steps_per_g_step), 'toy_ring': (c4, (2,), 1)}


# Relative tolerance per case (of sum|x| per leaf; of each metric). The match was bitwise when
# recorded, and float32 rounding changes elsewhere (layer or normalization refactors, another
# CPU's vector width) stay below 1e-7 for the three cases with one D step per G step. WGAN-GP
# runs 15 critic updates with double backprop through the convolutions, and Adam turns
# rounding-level gradients (biases before LayerNorm) into full-size updates: on an AVX-512
# machine its leaves differ from the recording by up to 6e-3 of sum|x| and its metrics by up to
# 3e-3 (measured 2026-11-27), so its tolerance is 3e-2. That still fails a real change: a 10%
# lower penalty weight moves leaves by 0.19, no penalty or 4 critic steps instead of 5 by ~1.
_RTOL = {'dcgan': (1e-6, 1e-5), 'dcgan_ema_fresh': (1e-6, 1e-5), 'wgan_gp': (3e-2, 3e-2),
         'toy_ring': (1e-6, 1e-5)}  # (state, metrics)


@pytest.mark.parametrize('case', ['dcgan', 'dcgan_ema_fresh', 'wgan_gp', 'toy_ring'])
def test_generic_step_reproduces_the_old_step(case):
  """Parameters, optimizer states, BatchNorm statistics and EMA after 3 steps equal those the
  step had before it was made generic over objectives (recorded by the old code, 2026-11-25).
  Per leaf, sum(x), sum|x| and sum(x^2) agree to _RTOL[case][0] of sum|x| (of sum(x^2) for
  the last); a changed key split, loss term or update order moves them by 1e-1 or more."""
  expected_state, expected_metrics = json.load(open(REFERENCE))[case]
  config, data_shape, n_critic = _reference_cases()[case]
  state, metrics = _run(config, data_shape, n_critic)
  assert sorted(state) == sorted(expected_state)
  rtol, metric_rtol = _RTOL[case]
  for leaf, (total, abs_total, squares) in expected_state.items():
    scale = rtol * max(abs_total, 1e-30)
    np.testing.assert_allclose(state[leaf][:2], [total, abs_total], rtol=0, atol=scale,
                               err_msg=leaf)
    np.testing.assert_allclose(state[leaf][2], squares, rtol=rtol, err_msg=leaf)
  for name, value in expected_metrics.items():
    np.testing.assert_allclose(metrics[name], value, rtol=metric_rtol, atol=1e-7,
                               err_msg=name)


def test_unknown_objective_lists_the_valid_ones():
  config = dcgan.get_config()
  config.objective.name = 'pix2piks'
  with pytest.raises(ValueError, match='pix2pix'):
    objectives.get_objective(config)


# ---- the CycleGAN image pool ---------------------------------------------------------------

def _numpy_pool(stored, count, images, u, j):
  """The reference history buffer, one image at a time, with given random draws."""
  stored, out = stored.copy(), []
  size = len(stored)
  for image, u_i, j_i in zip(images, u, j):
    if count < size:
      stored[count] = image
      count += 1
      out.append(image)
    elif u_i > 0.5:
      out.append(stored[j_i].copy())
      stored[j_i] = image
    else:
      out.append(image)
  return stored, count, np.stack(out)


def test_image_pool_matches_numpy_reference():
  size, shape = 5, (2, 2, 1)
  pool = cyclegan_lib.init_pool(size, shape)
  ref_stored, ref_count = np.zeros((size, *shape), np.float32), 0
  rng = np.random.default_rng(0)
  swapped = 0
  for t in range(6):                       # Fills (5 of the first 8), then swaps.
    images = rng.normal(size=(4, *shape)).astype(np.float32)
    key = jax.random.key(t)
    pool, out = cyclegan_lib.query_pool(pool, jnp.asarray(images), key)
    u, j = (np.asarray(a) for a in cyclegan_lib.pool_draws(key, 4, size))
    ref_stored, ref_count, ref_out = _numpy_pool(ref_stored, ref_count, images, u, j)
    np.testing.assert_array_equal(np.asarray(out), ref_out)
    np.testing.assert_array_equal(np.asarray(pool['images']), ref_stored)
    assert int(pool['count']) == ref_count
    swapped += int(np.sum(np.any(ref_out != images, axis=(1, 2, 3))))
  assert ref_count == size and swapped > 0   # Both branches were exercised.


def test_image_pool_of_size_zero_passes_images_through():
  pool = cyclegan_lib.init_pool(0, (2, 2, 1))
  images = jnp.ones((3, 2, 2, 1))
  _, out = cyclegan_lib.query_pool(pool, images, jax.random.key(0))
  chex.assert_trees_all_equal(out, images)


# ---- loss terms against hand computation --------------------------------------------------

class _MeanD(nn.Module):
  """A one-parameter discriminator: logit = w * mean(x) per example (or per domain)."""

  @nn.compact
  def __call__(self, x, labels, *, train):
    w = self.param('w', nn.initializers.constant(2.0), ())
    score = lambda v: w * jnp.mean(v, axis=tuple(range(1, v.ndim)))
    return {k: score(v) for k, v in x.items()} if isinstance(x, dict) else score(x)


class _Identity(nn.Module):

  @nn.compact
  def __call__(self, x, labels, *, train):
    return x


def _context(config, data_shape=(2, 2, 1)):
  networks = models.Networks(make_generator=lambda a: _Identity(),
                             make_discriminator=lambda a: _MeanD(), latent_dim=1,
                             data_shape=data_shape, num_classes=None,
                             condition_shape=data_shape)
  return train_step_lib.make_context(config, networks), networks


def test_pix2pix_loss_terms_by_hand():
  config = default.get_config()
  config.objective.name = 'pix2pix'
  config.loss.name = 'least_squares'
  config.objective.pix2pix.l1_weight = 3.0
  config.objective.pix2pix.d_loss_scale = 0.5
  ctx, _ = _context(config)
  obj = objectives.get_objective(config)
  cond = jnp.full((2, 2, 2, 1), 0.5)
  real = jnp.full((2, 2, 2, 1), 1.0)
  fake = jnp.full((2, 2, 2, 1), -1.0)
  batch = {'condition': cond, 'image': real}
  d_params = {'w': jnp.asarray(2.0)}
  d_loss, (_, aux, cache, _) = obj.discriminator_loss(
      ctx, d_params, {}, batch, cond, fake, jax.random.key(0), {}, 0)
  # D(x, y) = 2 * mean(concat) : real pair mean 0.75 -> 1.5; fake pair mean -0.25 -> -0.5.
  d_real, d_fake = 1.5, -0.5
  expected_d = 0.5 * (0.5 * (d_real - 1) ** 2 + 0.5 * d_fake ** 2)
  np.testing.assert_allclose(d_loss, expected_d, rtol=1e-6)
  np.testing.assert_allclose(aux['d_loss'], expected_d / 0.5, rtol=1e-6)
  g_loss, (_, g_aux) = obj.generator_loss(ctx, d_params, {}, batch, cond, fake,
                                          jax.random.key(1), cache, 0)
  expected_adv = 0.5 * (d_fake - 1) ** 2
  expected_l1 = 2.0                         # |(-1) - 1|.
  np.testing.assert_allclose(g_aux['g_adversarial'], expected_adv, rtol=1e-6)
  np.testing.assert_allclose(g_aux['g_l1'], expected_l1, rtol=1e-6)
  np.testing.assert_allclose(g_loss, expected_adv + 3.0 * expected_l1, rtol=1e-6)


def test_cyclegan_loss_terms_by_hand():
  config = default.get_config()
  config.objective.name = 'cyclegan'
  config.loss.name = 'least_squares'
  config.objective.cyclegan.update(cycle_weight=10.0, identity_weight=0.5,
                                   adversarial_weight=2.0, pool_size=0)
  ctx, networks = _context(config)
  obj = objectives.get_objective(config)
  a, b = jnp.full((2, 2, 2, 1), 0.2), jnp.full((2, 2, 2, 1), -0.4)
  fake = {'fake_b': jnp.full_like(b, 0.1), 'fake_a': jnp.full_like(a, -0.3),
          'rec_a': jnp.full_like(a, 0.0), 'rec_b': jnp.full_like(b, -0.1),
          'idt_a': jnp.full_like(a, 0.3), 'idt_b': jnp.full_like(b, -0.2)}
  batch = {'condition': a, 'image': b}
  g_inputs = obj.generator_inputs(ctx, jax.random.key(0), batch)
  extras = obj.init_extras(networks)
  d_params = {'w': jnp.asarray(2.0)}
  d_loss, (_, aux, cache, extras) = obj.discriminator_loss(
      ctx, d_params, {}, batch, g_inputs, fake, jax.random.key(0), extras, 0)
  ls_d = lambda r, f: 0.5 * (r - 1) ** 2 + 0.5 * f ** 2
  expected_d = ls_d(2 * 0.2, 2 * -0.3) + ls_d(2 * -0.4, 2 * 0.1)   # D_a + D_b.
  np.testing.assert_allclose(d_loss, expected_d, rtol=1e-6)
  g_loss, (_, g_aux) = obj.generator_loss(ctx, d_params, {}, batch, g_inputs, fake,
                                          jax.random.key(1), cache, 0)
  adv = 0.5 * (2 * -0.3 - 1) ** 2 + 0.5 * (2 * 0.1 - 1) ** 2
  cycle = abs(0.0 - 0.2) + abs(-0.1 - -0.4)
  identity = abs(0.3 - 0.2) + abs(-0.2 - -0.4)
  np.testing.assert_allclose(g_aux['g_cycle'], cycle, rtol=1e-6)
  np.testing.assert_allclose(g_aux['g_identity'], identity, rtol=1e-6)
  np.testing.assert_allclose(g_loss, 2.0 * adv + 10.0 * cycle + 5.0 * identity, rtol=1e-6)


# ---- every objective gives the same numbers on 1 and 8 devices ----------------------------

def _i2i_config(module, **fields):
  config = module.get_config('smoke')
  for player in ('g', 'd'):
    overrides.set_field(config, f'optim.{player}.name', 'sgd')
    overrides.set_field(config, f'optim.{player}.lr', 1e-3)
  for key, value in fields.items():
    overrides.set_field(config, key, value)
  return config


def _i2i_batch(n, seed=0):
  k1, k2 = jax.random.split(jax.random.key(seed))
  shape = (n, 32, 32, 1)
  return {'image': jax.random.uniform(k1, shape, minval=-1, maxval=1),
          'condition': jax.random.uniform(k2, shape, minval=-1, maxval=1),
          'label': jnp.zeros((n,), jnp.int32), 'condition_label': jnp.zeros((n,), jnp.int32)}


@pytest.mark.slow  # 35-55 s each on 2 cores: compiles the step 3 times.
@pytest.mark.parametrize('recipe', ['pix2pix', 'cyclegan'])
def test_image_to_image_objectives_match_on_8_devices(recipe):
  """pmap and shard_map on 8 devices == one device (atol 1e-5, as the DCGAN test). U-Net
  dropout is off here: dropout masks use per-device keys, reproducible for a device count but
  not across counts (as for every model). CycleGAN's image pools (size 4, so the first step's
  16 translations fill them and then swap) are global: they must match too. CycleGAN runs
  one step: its smoke nets (instance norm on 8-channel maps of near-constant channels)
  amplify the 1e-9 rounding differences of the gradient all-reduce to ~1e-5 in the next
  step, as they do between two summation orders on one device."""
  if recipe == 'pix2pix':
    config = _i2i_config(pix2pix, **{'model.unet.dropout': 0.0})
  else:
    config = _i2i_config(cyclegan, **{'objective.cyclegan.pool_size': 4})
  config.batch_size, config.parallel = 16, 'none'
  shape = (32, 32, 1)
  networks = models.build_networks(config.model, shape, condition_shape=shape)
  state0 = state_lib.create_state(config, networks, jax.random.key(0))
  batch = _i2i_batch(16)
  single = jax.jit(train_step_lib.make_train_step(config, networks))
  steps = 2 if recipe == 'pix2pix' else 1
  s1 = state0
  for _ in range(steps):
    s1, m1 = single(s1, batch, jax.random.key(3))
  for mode in ('pmap', 'shard_map'):
    config.parallel = mode
    trainer = parallel.build_trainer(config, networks)
    s = trainer.put_state(state0)
    for _ in range(steps):
      s, m = trainer.step(s, trainer.put_batch(jax.device_get(batch)), jax.random.key(3))
    s = trainer.host_state(s)
    chex.assert_trees_all_close(s.g_params, s1.g_params, atol=1e-5)
    chex.assert_trees_all_close(s.d_params, s1.d_params, atol=1e-5)
    chex.assert_trees_all_close(s.g_collections, s1.g_collections, atol=1e-5)
    chex.assert_trees_all_close(s.extras, s1.extras, atol=1e-5)
    np.testing.assert_allclose(float(trainer.host_metrics(m)['g_loss']), float(m1['g_loss']),
                               rtol=1e-5)
  assert helpers.max_abs_diff(state0.g_params, s1.g_params) > 1e-4
  if recipe == 'cyclegan':
    assert int(s1.extras['pool_a']['count']) == 4


class _HeadsD(nn.Module):
  """logit = w * m, class and Q categorical logits = m * (0, 1, .., K-1), Q mean = m, with
  m = mean(x) per example: simple enough to compute every loss term by hand."""
  classes: int = 3
  continuous: int = 2

  @nn.compact
  def __call__(self, x, labels, *, train):
    w = self.param('w', nn.initializers.constant(2.0), ())
    m = jnp.mean(x, axis=tuple(range(1, x.ndim)))
    ramp = m[:, None] * jnp.arange(self.classes, dtype=jnp.float32)
    return {'logit': w * m, 'class_logits': ramp, 'q_categorical_logits': ramp,
            'q_continuous_mean': jnp.repeat(m[:, None], self.continuous, axis=1),
            'q_continuous_log_std': jnp.zeros((x.shape[0], self.continuous))}


def _log_softmax_ramp(m, k, classes=3):
  logits = m * np.arange(classes)
  return logits[k] - np.log(np.sum(np.exp(logits)))


def _heads_context(config, latent_codes=None):
  networks = models.Networks(make_generator=lambda a: _Identity(),
                             make_discriminator=lambda a: _HeadsD(), latent_dim=7,
                             data_shape=(2, 2, 1), num_classes=3, latent_codes=latent_codes)
  return train_step_lib.make_context(config, networks)


def test_acgan_terms_by_hand():
  config = default.get_config()
  config.dataset.conditional = True
  config.objective.name = 'conditional'
  config.objective.conditional.ac_weight = 0.5
  ctx = _heads_context(config)
  obj = objectives.get_objective(config)
  real = jnp.stack([jnp.full((2, 2, 1), 0.5), jnp.full((2, 2, 1), -0.5)])
  fake = jnp.stack([jnp.full((2, 2, 1), 1.0), jnp.full((2, 2, 1), 0.0)])
  batch = {'image': real, 'label': jnp.asarray([2, 0])}
  g_inputs = {'z': None, 'labels': jnp.asarray([2, 2])}
  d_params = {'w': jnp.asarray(2.0)}
  d_loss, (_, aux, cache, _) = obj.discriminator_loss(ctx, d_params, {}, batch, g_inputs, fake,
                                                     jax.random.key(0), {}, 0)
  bce = lambda logits, t: np.mean([np.log1p(np.exp(-l)) if t else np.log1p(np.exp(l))
                                   for l in logits])
  adversarial = bce([1.0, -1.0], 1) + bce([2.0, 0.0], 0)
  ce_real = -np.mean([_log_softmax_ramp(0.5, 2), _log_softmax_ramp(-0.5, 0)])
  ce_fake = -np.mean([_log_softmax_ramp(1.0, 2), _log_softmax_ramp(0.0, 2)])
  np.testing.assert_allclose(aux['d_class_loss_real'], ce_real, rtol=1e-6)
  np.testing.assert_allclose(d_loss, adversarial + 0.5 * (ce_real + ce_fake), rtol=1e-6)
  g_loss, (_, g_aux) = obj.generator_loss(ctx, d_params, {}, batch, g_inputs, fake,
                                          jax.random.key(1), cache, 0)
  np.testing.assert_allclose(g_loss, bce([2.0, 0.0], 1) + 0.5 * ce_fake, rtol=1e-6)
  assert float(g_aux['g_class_accuracy']) == 0.5   # argmax: 2 (right), 0 (a tie; wrong).


def test_infogan_terms_by_hand():
  config = default.get_config()
  config.objective.name = 'infogan'
  config.model.latent_dim = 7
  overrides.set_field(config, 'model.infogan.categorical', 3)
  overrides.set_field(config, 'model.infogan.continuous', 2)
  overrides.set_field(config, 'objective.infogan.continuous_weight', 0.1)
  overrides.set_field(config, 'objective.infogan.info_weight', 2.0)
  ctx = _heads_context(config, latent_codes=(3, 2))
  obj = objectives.get_objective(config)
  g_inputs = obj.generator_inputs(ctx, jax.random.key(0), {'image': jnp.zeros((4, 2, 2, 1))})
  chex.assert_shape(g_inputs['z'], (4, 7))                # 2 noise + 3 one-hot + 2 codes.
  np.testing.assert_array_equal(g_inputs['z'][:, 2:5],
                                jax.nn.one_hot(g_inputs['categorical'], 3))
  np.testing.assert_array_equal(g_inputs['z'][:, 5:], g_inputs['continuous'])
  fake = jnp.stack([jnp.full((2, 2, 1), v) for v in (0.4, -0.2, 0.0, 1.0)])
  value, aux = obj.mutual_information_terms(_HeadsD().apply({'params': {'w': 2.0}}, fake, None,
                                                            train=True), g_inputs)
  cat, cont = np.asarray(g_inputs['categorical']), np.asarray(g_inputs['continuous'])
  m = np.array([0.4, -0.2, 0.0, 1.0])
  ce = -np.mean([_log_softmax_ramp(m[i], cat[i]) for i in range(4)])
  nll = np.mean(np.sum(0.5 * (cont - m[:, None]) ** 2 + 0.5 * np.log(2 * np.pi), axis=1))
  np.testing.assert_allclose(aux['info_categorical_ce'], ce, rtol=1e-6)
  np.testing.assert_allclose(aux['info_continuous_nll'], nll, rtol=1e-6)
  np.testing.assert_allclose(value, 2.0 * (ce + 0.1 * nll), rtol=1e-6)
