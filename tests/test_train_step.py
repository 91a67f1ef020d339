"""The train step: metrics, determinism, options, and pmap / shard_map equivalence."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P

from gan_jax import parallel
from gan_jax import train_step as train_step_lib
from tests import helpers

# Gradients on 8 devices are means of per-device means, summed in another order than on one
# device; in float32 they agree to ~1e-6 relative. With SGD the parameters then agree to:
PARALLEL_ATOL = 1e-5


def _run(config, steps=2, seed=0, batch=None):
  networks, state = helpers.tiny_setup(config, seed=seed)
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  batch = batch if batch is not None else helpers.random_batch(config.batch_size)
  for _ in range(steps):
    state, metrics = step(state, batch, jax.random.key(7))
  return state, metrics


def test_step_updates_everything_and_reports_metrics():
  config = helpers.tiny_dcgan_config()
  networks, state0 = helpers.tiny_setup(config)
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  state1, metrics = step(state0, helpers.random_batch(16), jax.random.key(0))
  assert int(state1.step) == 1
  for name in ('d_loss', 'g_loss', 'd_real_prob', 'd_fake_prob', 'd_real_logit',
               'd_fake_logit', 'd_grad_norm', 'g_grad_norm', 'g_param_norm', 'd_param_norm'):
    assert name in metrics, name
    chex.assert_shape(metrics[name], ())
  chex.assert_tree_all_finite(state1)
  assert helpers.max_abs_diff(state0.g_params, state1.g_params) > 0
  assert helpers.max_abs_diff(state0.d_params, state1.d_params) > 0
  # BatchNorm running statistics moved in both networks.
  assert helpers.max_abs_diff(state0.g_collections, state1.g_collections) > 0
  assert helpers.max_abs_diff(state0.d_collections, state1.d_collections) > 0
  # 0 < D(x) < 1 and the non-saturating loss at init is near log 2 + log 2.
  assert 0 < float(metrics['d_real_prob']) < 1
  assert abs(float(metrics['d_loss']) - 2 * np.log(2)) < 0.5


def test_same_seed_gives_bitwise_identical_params():
  config = helpers.tiny_dcgan_config()
  a, _ = _run(config)
  b, _ = _run(config)
  chex.assert_trees_all_equal(a, b)
  c, _ = _run(config, seed=1)
  assert helpers.max_abs_diff(a.g_params, c.g_params) > 0


def _sgd(config):
  for player in ('g', 'd'):
    config.optim[player].name = 'sgd'
    config.optim[player].lr = 0.05
  return config


@pytest.mark.parametrize('n_critic', [1, 2])
def test_pmap_and_shard_map_match_single_device(n_critic):
  assert jax.device_count() == 8, 'conftest sets 8 fake CPU devices'
  config = _sgd(helpers.tiny_dcgan_config(d_steps_per_g_step=n_critic))
  networks, state0 = helpers.tiny_setup(config)
  batch = helpers.random_batch(16, n_critic=n_critic)
  key = jax.random.key(3)

  single = jax.jit(train_step_lib.make_train_step(config, networks))
  s1 = state0
  for _ in range(2):
    s1, m1 = single(s1, batch, key)

  for mode in ('pmap', 'shard_map'):
    config.parallel = mode
    trainer = parallel.build_trainer(config, networks)
    assert trainer.num_devices == 8
    s = trainer.put_state(state0)
    for _ in range(2):
      s, m = trainer.step(s, trainer.put_batch(jax.device_get(batch)), key)
    s = trainer.host_state(s)
    assert helpers.max_abs_diff(s1.g_params, s.g_params) < PARALLEL_ATOL, mode
    assert helpers.max_abs_diff(s1.d_params, s.d_params) < PARALLEL_ATOL, mode
    # Synchronized BatchNorm: running statistics equal the single-device ones.
    assert helpers.max_abs_diff(s1.g_collections, s.g_collections) < PARALLEL_ATOL, mode
    assert helpers.max_abs_diff(s1.d_collections, s.d_collections) < PARALLEL_ATOL, mode
    m = trainer.host_metrics(m)
    np.testing.assert_allclose(float(m['d_loss']), float(m1['d_loss']), rtol=1e-5)


def test_pmap_with_adam_stays_close():
  """Adam divides by sqrt(v): first-step updates are ~lr * sign(g), so parameters whose
  gradient is ~0 can differ by up to 2 * lr per step between device counts."""
  config = helpers.tiny_dcgan_config()
  networks, state0 = helpers.tiny_setup(config)
  batch = helpers.random_batch(16)
  single = jax.jit(train_step_lib.make_train_step(config, networks))
  s1, _ = single(state0, batch, jax.random.key(3))
  config.parallel = 'pmap'
  trainer = parallel.build_trainer(config, networks)
  s, _ = trainer.step(trainer.put_state(state0), trainer.put_batch(jax.device_get(batch)),
                      jax.random.key(3))
  assert helpers.max_abs_diff(s1.g_params, trainer.host_state(s).g_params) <= 2 * 2e-4 + 1e-7


def test_batch_not_divisible_by_devices_is_a_clear_error():
  config = helpers.tiny_dcgan_config(batch_size=12, parallel='pmap')
  networks, _ = helpers.tiny_setup(config)
  with pytest.raises(ValueError, match='not divisible by the 8 devices.*multiple of 8'):
    parallel.build_trainer(config, networks)


def test_n_critic_needs_leading_axis():
  config = helpers.tiny_dcgan_config(d_steps_per_g_step=3)
  networks, state = helpers.tiny_setup(config)
  step = train_step_lib.make_train_step(config, networks)
  with pytest.raises(ValueError, match='leading axis of 3'):
    step(state, helpers.random_batch(16), jax.random.key(0))


@pytest.mark.parametrize('warmup,decay', [(False, 0.5), (True, 0.1)])
def test_weight_clipping_and_ema(warmup, decay):
  """EMA after one step: decay 0.5, or with warmup min(0.5, (1 + 0) / (10 + 0)) = 0.1."""
  config = helpers.tiny_dcgan_config(d_weight_clip=0.01, ema_decay=0.5, ema_warmup=warmup)
  networks, state0 = helpers.tiny_setup(config)
  state1, _ = jax.jit(train_step_lib.make_train_step(config, networks))(
      state0, helpers.random_batch(16), jax.random.key(0))
  for p in jax.tree_util.tree_leaves(state1.d_params):
    assert float(jnp.max(jnp.abs(p))) <= 0.01 + 1e-7
  expected = jax.tree_util.tree_map(lambda e, p: decay * e + (1 - decay) * p,
                                    state0.ema_g_params, state1.g_params)
  chex.assert_trees_all_close(state1.ema_g_params, expected, atol=1e-7)


def test_nonfinite_updates_are_flagged_and_can_be_skipped():
  batch = helpers.random_batch(16)
  batch['image'] = batch['image'].at[0, 0, 0, 0].set(jnp.nan)
  config = helpers.tiny_dcgan_config()
  _, metrics = _run(config, steps=1, batch=batch)
  assert float(metrics['finite']) == 0.0
  config = helpers.tiny_dcgan_config(skip_nonfinite_updates=True)
  networks, state0 = helpers.tiny_setup(config)
  state1, metrics = jax.jit(train_step_lib.make_train_step(config, networks))(
      state0, batch, jax.random.key(0))
  assert float(metrics['finite']) == 0.0 and int(state1.step) == 1
  chex.assert_trees_all_equal(state0.g_params, state1.g_params)
  chex.assert_trees_all_equal(state0.d_params, state1.d_params)


@pytest.mark.parametrize('loss', ['minimax', 'non_saturating', 'wasserstein', 'least_squares',
                                  'hinge'])
def test_every_loss_trains_one_step(loss):
  config = helpers.tiny_dcgan_config(**{'loss.name': loss})
  state, metrics = _run(config, steps=1)
  chex.assert_tree_all_finite(state)
  assert np.isfinite(float(metrics['g_loss']))
