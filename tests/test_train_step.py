"""The train step: metrics, determinism, options, and pmap / shard_map equivalence."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import toy_ring
from gan_jax import objectives as objectives_lib
from gan_jax import overrides, parallel
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

  (s1, m1), runs = helpers.single_and_parallel(config, networks, state0, batch, key)
  for mode, (s, m) in runs.items():
    assert helpers.max_abs_diff(s1.g_params, s.g_params) < PARALLEL_ATOL, mode
    assert helpers.max_abs_diff(s1.d_params, s.d_params) < PARALLEL_ATOL, mode
    # Synchronized BatchNorm: running statistics equal the single-device ones.
    assert helpers.max_abs_diff(s1.g_collections, s.g_collections) < PARALLEL_ATOL, mode
    assert helpers.max_abs_diff(s1.d_collections, s.d_collections) < PARALLEL_ATOL, mode
    np.testing.assert_allclose(float(m['d_loss']), float(m1['d_loss']), rtol=1e-5)


def _single_and_pmap(config, batch, steps):
  """(initial state, state after `steps` on one device, the same on 8 devices with pmap)."""
  networks, state0 = helpers.tiny_setup(config)
  single = jax.jit(train_step_lib.make_train_step(config, networks))
  config.parallel = 'pmap'
  trainer = parallel.build_trainer(config, networks)
  s1, s = state0, trainer.put_state(state0)
  for _ in range(steps):
    s1, _ = single(s1, batch, jax.random.key(3))
    s, _ = trainer.step(s, trainer.put_batch(jax.device_get(batch)), jax.random.key(3))
  return state0, s1, trainer.host_state(s)


def test_pmap_with_adam_matches_moments_and_momentum_sgd_matches_params():
  """Adam's first updates are ~lr * sign(g), so a parameter whose gradient is ~0 may move by
  a different +-lr on 8 devices than on one: parameters are no test of the reduction. Adam's
  moments are: they are (running means of) the pmean-ed gradients, which agree to float32
  rounding (a psum instead of a pmean would make them 8x, a missing reduction per-device).
  SGD with momentum over 3 steps checks the parameters themselves."""
  batch = helpers.random_batch(16)
  _, s1, s = _single_and_pmap(helpers.tiny_dcgan_config(), batch, steps=2)
  for name in ('g_opt_state', 'd_opt_state'):
    chex.assert_trees_all_close(getattr(s, name), getattr(s1, name), atol=1e-6, rtol=1e-4)

  config = helpers.tiny_dcgan_config()
  for player in ('g', 'd'):
    overrides.set_field(config, f'optim.{player}.name', 'sgd')
    overrides.set_field(config, f'optim.{player}.lr', 0.05)
    overrides.set_field(config, f'optim.{player}.sgd.momentum', 0.9)
  state0, s1, s = _single_and_pmap(config, batch, steps=3)
  assert helpers.max_abs_diff(s1.g_params, s.g_params) < PARALLEL_ATOL
  assert helpers.max_abs_diff(s1.d_params, s.d_params) < PARALLEL_ATOL
  assert helpers.max_abs_diff(state0.g_params, s.g_params) > 100 * PARALLEL_ATOL


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


# ---- switches, each through the train step: it changes what it should and nothing else ----

def _one_step(config, state=None, batch=None, key=0):
  networks, state0 = helpers.tiny_setup(config)
  state0 = state0 if state is None else state
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  return state0, step(state0, batch if batch is not None else helpers.random_batch(16),
                      jax.random.key(key))


def test_fresh_latents_change_only_the_generator_update():
  _, (base, _) = _one_step(_sgd(helpers.tiny_dcgan_config()))
  _, (fresh, _) = _one_step(_sgd(helpers.tiny_dcgan_config(g_step_fresh_latents=True)))
  chex.assert_trees_all_equal(base.d_params, fresh.d_params)     # D's update is the same.
  assert helpers.max_abs_diff(base.g_params, fresh.g_params) > 1e-6


@pytest.mark.slow  # 7-10 s: several compiles of the step.
def test_instance_noise_and_its_annealing():
  config = _sgd(helpers.tiny_dcgan_config())
  state0, (base, _) = _one_step(config)
  _, (noisy, _) = _one_step(_sgd(helpers.tiny_dcgan_config(instance_noise_std=0.5)))
  assert helpers.max_abs_diff(base.d_params, noisy.d_params) > 1e-6
  # Annealed linearly to 0 over 4 steps: at step 4 the step equals the noiseless one.
  at4 = state0.replace(step=jnp.asarray(4, jnp.int32))
  _, (plain4, _) = _one_step(config, state=at4)
  annealed = _sgd(helpers.tiny_dcgan_config(instance_noise_std=0.5,
                                            instance_noise_anneal_steps=4))
  _, (annealed4, _) = _one_step(annealed, state=at4)
  chex.assert_trees_all_equal(plain4.d_params, annealed4.d_params)
  _, (annealed0, _) = _one_step(annealed)                         # Full noise at step 0.
  chex.assert_trees_all_equal(noisy.d_params, annealed0.d_params)


def test_ema_start_step():
  """Before ema_start_step the average equals the parameters; from it on it lags them."""
  config = helpers.tiny_dcgan_config(ema_decay=0.9, ema_start_step=3)
  state0, (early, _) = _one_step(config)
  chex.assert_trees_all_equal(early.ema_g_params, early.g_params)
  at3 = state0.replace(step=jnp.asarray(3, jnp.int32))
  _, (late, _) = _one_step(config, state=at3)
  decay = min(0.9, 1.0 / 10.0)                                    # Warmup at t = 0.
  expected = jax.tree_util.tree_map(lambda e, p: decay * e + (1 - decay) * p,
                                    state0.ema_g_params, late.g_params)
  chex.assert_trees_all_close(late.ema_g_params, expected, atol=1e-7)


def test_d_regularizer_adds_its_gradient_to_d_only():
  """SGD: the L2 term 1/2 w ||theta||^2 adds -lr * w * theta to D's update, nothing to G's
  own gradient path except through the updated D."""
  lr, weight = 0.05, 0.1
  state0, (base, _) = _one_step(_sgd(helpers.tiny_dcgan_config()))
  config = _sgd(helpers.tiny_dcgan_config(**{'d_regularizer.name': 'l2',
                                             'd_regularizer.weight': weight}))
  _, (reg, metrics) = _one_step(config)
  expected = jax.tree_util.tree_map(lambda b, p: b - lr * weight * p, base.d_params,
                                    state0.d_params)
  chex.assert_trees_all_close(reg.d_params, expected, atol=1e-6)
  assert 'd_regularizer' in metrics


def test_lr_multiplier_zero_freezes_one_module_of_d():
  """optim.d.lr_multipliers='<D's first module>=0' inside the train step: that module's
  parameters stay, D's other modules and G move as in the plain step."""
  config = _sgd(helpers.tiny_dcgan_config())
  state0, (base, _) = _one_step(config)
  first = sorted(state0.d_params)[0]
  _, (frozen, _) = _one_step(_sgd(helpers.tiny_dcgan_config(
      **{'optim.d.lr_multipliers': f'{first}=0'})))
  chex.assert_trees_all_equal(frozen.d_params[first], state0.d_params[first])
  rest = [k for k in state0.d_params if k != first]
  assert rest and helpers.max_abs_diff(state0.d_params[rest[0]], frozen.d_params[rest[0]]) > 0
  chex.assert_trees_all_equal({k: frozen.d_params[k] for k in rest},
                              {k: base.d_params[k] for k in rest})


@pytest.mark.slow  # 7-10 s: several compiles of the step.
def test_diffaugment_changes_what_d_sees_and_is_reproducible():
  config = _sgd(helpers.tiny_dcgan_config(**{'augment.name': 'diffaugment'}))
  _, (aug, _) = _one_step(config)
  _, (aug_again, _) = _one_step(config)
  _, (base, _) = _one_step(_sgd(helpers.tiny_dcgan_config()))
  chex.assert_trees_all_equal(aug.d_params, aug_again.d_params)
  assert helpers.max_abs_diff(base.d_params, aug.d_params) > 1e-6


@pytest.mark.slow  # 7-10 s: several compiles of the step.
def test_bfloat16_compute_keeps_float32_params_and_close_numbers():
  state0, (f32, m32) = _one_step(_sgd(helpers.tiny_dcgan_config()))
  _, (bf16, m16) = _one_step(_sgd(helpers.tiny_dcgan_config(**{
      'model.compute_dtype': 'bfloat16'})))
  for leaf in jax.tree_util.tree_leaves((bf16.g_params, bf16.d_params)):
    assert leaf.dtype == jnp.float32
  assert float(m16['d_loss']) != float(m32['d_loss'])            # It did compute in bf16.
  np.testing.assert_allclose(float(m16['d_loss']), float(m32['d_loss']), rtol=0.05)
  assert helpers.max_abs_diff(f32.g_params, bf16.g_params) < 0.05 * 0.05 + 1e-3


# ---- the D-accuracy gate (3D-GAN) ---------------------------------------------------------

def _gate_config(gate=0.0):
  """The toy MLP GAN (2-D points, hidden width 16, Adam): fast to compile, four times here."""
  config = toy_ring.get_config('smoke')
  config.update(batch_size=16, parallel='none', d_accuracy_gate=gate, ema_decay=0.0)
  return config


def _gate_step(gate):
  config = _gate_config(gate)
  networks, state0 = helpers.tiny_setup(config, data_shape=(2,))
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  return state0, step(state0, helpers.random_batch(16, data_shape=(2,)), jax.random.key(0))


def test_d_accuracy_gate_keeps_d_when_d_is_too_accurate():
  # Ungated, the first step's D accuracy (before D's update) is reported by the loss.
  state0, (plain, m) = _gate_step(0.0)
  accuracy = float(m['d_accuracy'])
  assert 0.0 < accuracy < 1.0 and 'd_update_applied' not in m
  assert _gate_config().optim.d.name == 'adam'
  # A gate of 1 never closes: the same numbers as no gate.
  _, (open_, m_open) = _gate_step(1.0)
  chex.assert_trees_all_equal((plain.d_params, plain.g_params, plain.d_opt_state),
                              (open_.d_params, open_.g_params, open_.d_opt_state))
  assert float(m_open['d_update_applied']) == 1.0
  # At exactly D's accuracy the update is applied (<=); just below it, D and its optimizer
  # state stay, G is still updated (through the D it was not allowed to leave).
  _, (at, m_at) = _gate_step(accuracy)
  chex.assert_trees_all_equal(plain.d_params, at.d_params)
  assert float(m_at['d_update_applied']) == 1.0
  _, (closed, m_closed) = _gate_step(accuracy - 1e-3)
  assert float(m_closed['d_update_applied']) == 0.0
  chex.assert_trees_all_equal(state0.d_params, closed.d_params)
  chex.assert_trees_all_equal(state0.d_opt_state, closed.d_opt_state)
  assert helpers.max_abs_diff(state0.g_params, closed.g_params) > 0
  assert helpers.max_abs_diff(plain.g_params, closed.g_params) > 0
  assert int(closed.step) == 1


def test_d_accuracy_gate_errors():
  for gate in (-0.1, 1.5):
    with pytest.raises(ValueError, match='d_accuracy_gate is an accuracy'):
      _gate_step(gate)
  config = _gate_config(0.8)
  config.loss.name = 'wasserstein'
  networks, state = helpers.tiny_setup(config, data_shape=(2,))
  with pytest.raises(ValueError, match="loss.name='wasserstein' does not define"):
    train_step_lib.make_train_step(config, networks)

  class NoAccuracy(objectives_lib.get_objective(_gate_config()).__class__):
    name = 'no_accuracy'

    def discriminator_loss(self, *args):
      total, (coll, aux, cache, extras) = super().discriminator_loss(*args)
      return total, (coll, {k: v for k, v in aux.items() if k != 'd_accuracy'}, cache, extras)

  config = _gate_config(0.8)
  step = train_step_lib.make_train_step(config, networks, objective=NoAccuracy(config))
  with pytest.raises(ValueError, match="objective 'no_accuracy' does not report"):
    jax.eval_shape(step, state, helpers.random_batch(16, data_shape=(2,)), jax.random.key(0))


@pytest.mark.slow  # ~20 s: two gates, each compiled for one device, pmap and shard_map.
def test_d_accuracy_gate_decides_on_the_global_batch():
  """Every device applies or skips D's update alike, from the global batch's accuracy: on 8
  devices (2 samples each, local accuracies in steps of 0.25) the states equal one device's."""
  _, (_, m) = _one_step(_sgd(helpers.tiny_dcgan_config()))
  accuracy = float(m['d_accuracy'])
  for gate, applied in ((accuracy, 1.0), (accuracy - 1e-3, 0.0)):
    config = _sgd(helpers.tiny_dcgan_config(d_accuracy_gate=gate))
    networks, state0 = helpers.tiny_setup(config)
    (s1, m1), runs = helpers.single_and_parallel(config, networks, state0,
                                                 helpers.random_batch(16), jax.random.key(0),
                                                 steps=1)
    assert float(m1['d_update_applied']) == applied
    for mode, (s, m) in runs.items():
      assert float(m['d_update_applied']) == applied, mode
      assert helpers.max_abs_diff(s1.d_params, s.d_params) < PARALLEL_ATOL, mode
      # G's SGD step follows D's gradient, and with key 0 a few of D's first-layer outputs
      # sit within 1e-8 of LeakyReLU's kink: float32 rounding in another order flips one and
      # moves G's update by 7e-3 of its size on some CPUs (relative_update_diff's note).
      assert helpers.relative_update_diff(state0.g_params, s1.g_params, s.g_params) < 2e-2, mode
