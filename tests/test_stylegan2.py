"""StyleGAN2: layers against numpy / scipy references, the regularizers against finite
differences, style mixing and truncation, and (slow) the lazy schedule, ADA in the step and
pmap / shard_map == one device."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import signal

from configs import stylegan2 as recipe
from gan_jax import optimizers, penalties, sampling, train_step as train_step_lib
from gan_jax.models import minibatch
from gan_jax.models import stylegan2 as sg2
from gan_jax.objectives import base
from tests import helpers


def tiny_config(side=8, **overrides):
  """The recipe at side 8 with narrow networks (fast to compile)."""
  config = recipe.get_config('augment.name=none')
  config.dataset.image_size = side
  config.model.latent_dim = 8
  config.model.stylegan2.w_dim = 8
  config.model.stylegan2.mapping_layers = 2
  config.model.stylegan2.channel_base = 32
  config.model.stylegan2.channel_max = 8
  config.batch_size = 32
  config.parallel = 'none'
  for path, value in overrides.items():
    helpers.overrides_lib.set_field(config, path, value)
  return config


def tiny_networks(config, side=8):
  return helpers.tiny_setup(config, (side, side, 1))


# ---- layers -------------------------------------------------------------------------------

def numpy_modulated_conv(x, weight, styles, demodulate):
  """Per-example weights w'_{k,i,o} = s_i w_{k,i,o} (/ ||w'_{:,:,o}||), 'SAME' correlation."""
  n, h, w, _ = x.shape
  kh = weight.shape[0]
  out = np.zeros((n, h, w, weight.shape[-1]))
  xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kh // 2, kh // 2), (0, 0)))
  for b in range(n):
    wb = weight * styles[b][None, None, :, None]
    if demodulate:
      wb = wb / np.sqrt(np.sum(wb ** 2, axis=(0, 1, 2), keepdims=True) + 1e-8)
    for a in range(kh):
      for c in range(kh):
        out[b] += np.einsum('hwi,io->hwo', xp[b, a:a + h, c:c + w], wb[a, c])
  return out


@pytest.mark.parametrize('demodulate', [True, False])
@pytest.mark.parametrize('impl', ['xla', 'space_to_depth'])
def test_modulated_conv_matches_numpy(demodulate, impl):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(3, 6, 6, 4)).astype(np.float32)
  weight = rng.normal(size=(3, 3, 4, 5)).astype(np.float32) / 6
  styles = rng.normal(size=(3, 4)).astype(np.float32)
  got = sg2.modulated_conv(jnp.asarray(x), jnp.asarray(weight), jnp.asarray(styles),
                           demodulate=demodulate, impl=impl)
  want = numpy_modulated_conv(x.astype(np.float64), weight.astype(np.float64),
                              styles.astype(np.float64), demodulate)
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)


def test_demodulated_output_has_unit_variance_for_unit_variance_input():
  """sum_{k,i} w''^2 = 1 per output channel, so i.i.d. N(0, 1) inputs give unit variance (away
  from the zero-padded border), whatever the styles' scale."""
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(4, 64, 64, 16)), jnp.float32)
  weight = jnp.asarray(rng.normal(size=(3, 3, 16, 8)), jnp.float32)
  styles = jnp.asarray(rng.uniform(0.1, 5.0, size=(4, 16)), jnp.float32)
  y = np.asarray(sg2.modulated_conv(x, weight, styles, demodulate=True, impl='xla'))
  var = y[:, 1:-1, 1:-1].var(axis=(1, 2))  # (N, O): ~1 for each example and channel.
  np.testing.assert_allclose(var, 1.0, atol=0.08)
  coeffs = np.asarray(sg2.demodulation(styles, weight))
  norms = np.sum((np.asarray(weight)[None] * np.asarray(styles)[:, None, None, :, None]) ** 2,
                 axis=(1, 2, 3)) * coeffs ** 2
  np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


def test_equalized_learning_rate_scaling():
  """Stored weights N(0, 1) / lr_mul, used as W lr_mul / sqrt(fan_in); the gradient w.r.t. the
  stored weight is lr_mul / sqrt(fan_in) times that w.r.t. the used one."""
  lr_mul, fan_in = 0.01, 64
  layer = sg2.EqualDense(32, lr_mul=lr_mul, bias_init=0.5)
  x = jax.random.normal(jax.random.key(0), (5, fan_in))
  params = layer.init(jax.random.key(1), x)['params']
  stored = np.asarray(params['kernel'])
  assert abs(stored.std() * lr_mul - 1.0) < 0.05  # N(0, 1) / lr_mul.
  np.testing.assert_allclose(np.asarray(params['bias']), 0.5)
  used = stored * lr_mul / math.sqrt(fan_in)
  y = layer.apply({'params': params}, x)
  np.testing.assert_allclose(np.asarray(y), np.asarray(x) @ used + 0.5 * lr_mul, rtol=1e-4,
                             atol=1e-5)
  g = jax.grad(lambda p: jnp.sum(layer.apply({'params': p}, x)))(params)['kernel']
  g_used = np.asarray(x).T @ np.ones((5, 32))
  np.testing.assert_allclose(np.asarray(g), g_used * lr_mul / math.sqrt(fan_in), rtol=1e-4)
  conv = sg2.EqualConv(4, 3, activation=False, conv_impl='xla')
  xc = jax.random.normal(jax.random.key(2), (2, 5, 5, 3))
  pc = conv.init(jax.random.key(3), xc)['params']
  want = numpy_modulated_conv(np.asarray(xc, np.float64),
                              np.asarray(pc['kernel'], np.float64) / math.sqrt(27),
                              np.ones((2, 3)), False)
  np.testing.assert_allclose(np.asarray(conv.apply({'params': pc}, xc)), want, rtol=1e-4,
                             atol=1e-5)


def test_resampling_matches_scipy_upfirdn():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
  fir = np.array([1.0, 3.0, 3.0, 1.0])
  # Upsampling: zero insertion, the filter x 2 / 8 per axis; output m is the full
  # convolution's m + 1 (the centred crop of 2n samples).
  up = signal.upfirdn(fir / 4.0, x.astype(np.float64), up=2, axis=1)[:, 1:13]
  up = signal.upfirdn(fir / 4.0, up, up=2, axis=2)[:, :, 1:13]
  np.testing.assert_allclose(np.asarray(sg2.upsample2x(jnp.asarray(x))), up, atol=1e-5)
  # Downsampling: the filter / 8 per axis on the 1-padded signal, every other sample.
  down = signal.upfirdn(fir / 8.0, np.pad(x.astype(np.float64), ((0, 0), (1, 1), (0, 0),
                                                                   (0, 0))), axis=1)[:, 3:9:2]
  down = signal.upfirdn(fir / 8.0, np.pad(down, ((0, 0), (0, 0), (1, 1), (0, 0))),
                        axis=2)[:, :, 3:9:2]
  np.testing.assert_allclose(np.asarray(sg2.downsample2x(jnp.asarray(x))), down, atol=1e-5)


def test_minibatch_stddev_matches_numpy():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(8, 4, 4, 6)).astype(np.float32)
  got = np.asarray(minibatch.minibatch_stddev(jnp.asarray(x), 4, 2))
  want = np.zeros((8, 4, 4, 2))
  for g in range(2):
    group = x[4 * g:4 * g + 4].astype(np.float64)
    std = np.sqrt(group.var(axis=0) + 1e-8)  # (4, 4, 6)
    for f in range(2):
      want[4 * g:4 * g + 4, :, :, f] = std[..., 3 * f:3 * f + 3].mean()
  np.testing.assert_allclose(got[..., :6], x)
  np.testing.assert_allclose(got[..., 6:], want, rtol=1e-5)


@pytest.mark.slow  # Builds the networks (tens of seconds on 2 cores).
def test_architecture_shapes_styles_and_errors():
  config = tiny_config()
  networks, state = tiny_networks(config)
  assert sg2.num_ws(8) == 4 and sg2.num_ws(16) == 6 and sg2.num_ws(32) == 8
  assert sg2.noise_shapes(16) == [(4, 4, 1), (8, 8, 1), (8, 8, 1), (16, 16, 1), (16, 16, 1)]
  chex.assert_shape(state.g_collections['batch_stats']['w_avg'], (8,))
  z = jax.random.normal(jax.random.key(0), (3, 8))
  images, _ = networks.generator_apply(state.generator_variables(), z, train=False)
  chex.assert_shape(images, (3, 8, 8, 1))
  logits, _ = networks.discriminator_apply(state.discriminator_variables(), images,
                                           train=False)
  chex.assert_shape(logits, (3,))
  with pytest.raises(ValueError, match='power of two'):
    helpers.tiny_setup(tiny_config(side=12), (12, 12, 1))
  with pytest.raises(ValueError, match='unconditional'):
    sg2.build(config.model, (8, 8, 1), 10)


# ---- style mixing, truncation -------------------------------------------------------------

@pytest.mark.slow  # Builds the networks (tens of seconds on 2 cores).
def test_style_mixing_crossover_and_truncation_to_the_average_w():
  config = tiny_config()
  networks, state = tiny_networks(config)
  module = networks.make_generator(None)
  w_avg = jnp.linspace(-1.0, 1.0, 8)
  variables = {'params': state.g_params, 'batch_stats': {'w_avg': w_avg}}
  k1, k2 = jax.random.split(jax.random.key(0))
  z, z_mix = jax.random.normal(k1, (4, 8)), jax.random.normal(k2, (4, 8))
  cutoff = jnp.array([1, 2, 3, 4])  # 4 = num_ws: no mixing.
  styles = lambda inputs, **kw: module.apply(
      variables, inputs, method=lambda m, x: m.styles(x, train=False, **kw))
  ws = np.asarray(styles({'z': z, 'z_mix': z_mix, 'mix_cutoff': cutoff}))
  w = np.asarray(module.apply(variables, z, method=lambda m, x: m.mapping(x)))
  w2 = np.asarray(module.apply(variables, z_mix, method=lambda m, x: m.mapping(x)))
  for i, c in enumerate([1, 2, 3, 4]):
    np.testing.assert_allclose(ws[i, :c], np.broadcast_to(w[i], (c, 8)), rtol=1e-6)
    np.testing.assert_allclose(ws[i, c:], np.broadcast_to(w2[i], (4 - c, 8)), rtol=1e-6)
  # psi = 0: every style is the tracked average; psi = 0.5: halfway.
  ws0 = np.asarray(styles({'z': z, 'psi': 0.0}))
  np.testing.assert_allclose(ws0, np.broadcast_to(np.asarray(w_avg), ws0.shape), atol=1e-6)
  ws_half = np.asarray(styles({'z': z, 'psi': 0.5}))
  np.testing.assert_allclose(ws_half[:, 0], 0.5 * (w + np.asarray(w_avg)), rtol=1e-5,
                             atol=1e-6)
  images, psis, ncols = sampling.truncation_sweep(networks, variables, jax.random.key(1),
                                                  rows=3, steps=5)
  np.testing.assert_allclose(psis, [1.0, 0.75, 0.5, 0.25, 0.0])
  last = images.reshape(3, 5, 8, 8, 1)[:, -1]  # psi = 0: the same image in every row.
  np.testing.assert_allclose(last, np.broadcast_to(last[:1], last.shape), atol=1e-5)
  grid, ncols = sampling.style_mixing_grid(networks, variables, jax.random.key(2), rows=2,
                                           cols=3, cutoff=2)
  assert ncols == 4 and grid.shape == (12, 8, 8, 1)
  with pytest.raises(ValueError, match='crossover'):
    sampling.style_mixing_grid(networks, variables, jax.random.key(2), rows=2, cols=3,
                               cutoff=4)


@pytest.mark.slow  # Builds the networks (tens of seconds on 2 cores).
def test_w_avg_tracks_the_mean_w_in_training_only():
  config = tiny_config()
  networks, state = tiny_networks(config)
  z = jax.random.normal(jax.random.key(0), (16, 8))
  _, mutated = networks.generator_apply(state.generator_variables(ema=False), z, train=True)
  module = networks.make_generator(None)
  w = module.apply(state.generator_variables(ema=False), z, method=lambda m, x: m.mapping(x))
  np.testing.assert_allclose(np.asarray(mutated['batch_stats']['w_avg']),
                             (1 - 0.995) * np.asarray(w).mean(0), rtol=1e-4, atol=1e-7)
  _, none = networks.generator_apply(state.generator_variables(ema=False), z, train=False)
  assert none == {}


# ---- regularizers against finite differences ----------------------------------------------

def test_r1_matches_finite_differences():
  rng = np.random.default_rng(4)
  w = jnp.asarray(rng.normal(size=(12,)), jnp.float32)
  d_apply = lambda p, x: jnp.tanh(x.reshape(x.shape[0], -1) @ p) + jnp.sum(
      x.reshape(x.shape[0], -1) ** 2, axis=1) * 0.1
  real = jnp.asarray(rng.normal(size=(3, 2, 2, 3)), jnp.float32)
  value, _ = penalties.r1_penalty(d_apply, w, real, None, None)
  x = np.asarray(real, np.float64).reshape(3, -1)
  fd = np.zeros_like(x)
  f = lambda xx: np.tanh(xx @ np.asarray(w, np.float64)) + 0.1 * np.sum(xx ** 2, axis=1)
  for j in range(x.shape[1]):
    e = np.zeros_like(x)
    e[:, j] = 1e-5
    fd[:, j] = (f(x + e) - f(x - e)) / 2e-5
  np.testing.assert_allclose(float(value), 0.5 * np.mean(np.sum(fd ** 2, axis=1)), rtol=1e-3)


@pytest.mark.slow  # Builds the networks (tens of seconds on 2 cores).
def test_path_length_matches_finite_differences():
  """||J_w^T y|| of the synthesis network at ws: (J^T y)_k = d <y, G(ws)> / d ws_k, by central
  differences in float32 (step 1e-2; tolerance 2%)."""
  config = tiny_config()
  networks, state = tiny_networks(config)
  objective = sg2_objective(config)
  ctx = train_step_lib.make_context(config, networks)
  inputs = objective._inputs(ctx, jax.random.key(0), 2)  # pylint: disable=protected-access
  k_y = jax.random.key(1)
  lengths = np.asarray(objective.path_lengths(ctx, state.g_params, state.g_collections, inputs,
                                              k_y))
  module = networks.make_generator(None)
  variables = state.generator_variables(ema=False)
  ws = module.apply(variables, inputs, method=lambda m, x: m.styles(x, train=False))
  y = jax.random.normal(k_y, (2, 8, 8, 1)) / 8.0
  f = jax.jit(lambda w: jnp.sum(module.apply(
      variables, w, inputs['noise'], method=lambda m, a, b: m.synthesis(a, b)) * y, axis=(1, 2, 3)))
  ws = np.asarray(ws)
  grads = np.zeros_like(ws)
  for s in range(ws.shape[1]):
    for k in range(ws.shape[2]):
      e = np.zeros_like(ws)
      e[:, s, k] = 1e-2
      grads[:, s, k] = (np.asarray(f(ws + e)) - np.asarray(f(ws - e))) / 2e-2
  want = np.sqrt(np.mean(np.sum(grads ** 2, axis=2), axis=1))
  np.testing.assert_allclose(lengths, want, rtol=2e-2)


def sg2_objective(config):
  from gan_jax import objectives  # pylint: disable=g-import-not-at-top
  return objectives.get_objective(config)


# ---- optimizer correction, EMA, config errors ---------------------------------------------

def test_lazy_correction_of_the_optimizers_and_the_ema_half_life():
  config = tiny_config()
  objective = sg2_objective(config)
  assert objective.optimizer_ratios() == (4 / 5, 16 / 17)
  corrected = optimizers.lazy_corrected(config.optim.d, 16 / 17)
  assert corrected.lr == pytest.approx(0.0025 * 16 / 17)
  assert corrected.adam.b2 == pytest.approx(0.99 ** (16 / 17))
  assert corrected.adam.b1 == 0.0 and config.optim.d.lr == 0.0025  # The config is untouched.
  config.objective.stylegan2.lazy_correction = False
  assert sg2_objective(config).optimizer_ratios() == (1.0, 1.0)
  # EMA: 0.5 ** (B / min(h, rampup * images seen)).
  config.batch_size, config.ema_half_life_images, config.ema_rampup = 32, 10_000, 0.05
  assert float(train_step_lib.ema_decay_at(config, 0)) == pytest.approx(0.5 ** (32 / 1.6))
  assert float(train_step_lib.ema_decay_at(config, 99_999)) == pytest.approx(
      0.5 ** (32 / 10_000))
  config.ema_rampup = 0.0
  assert float(train_step_lib.ema_decay_at(config, 0)) == pytest.approx(0.5 ** (32 / 10_000))
  assert train_step_lib.lazy_regularization_branch('auto', 'cpu') == 'select'
  assert train_step_lib.lazy_regularization_branch('auto', 'gpu') == 'cond'
  with pytest.raises(ValueError, match='lazy_regularization_branch'):
    train_step_lib.lazy_regularization_branch('sometimes')
  config.model.name = 'dcgan'
  with pytest.raises(ValueError, match="model.name='stylegan2'"):
    sg2_objective(config)


# ---- the step (slow: compiles it) ---------------------------------------------------------

def _adam_count(opt_state) -> int:
  return int(next(s.count for s in jax.tree_util.tree_leaves(
      opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState))
                  if isinstance(s, optax.ScaleByAdamState)))


@pytest.mark.slow
@pytest.mark.parametrize('branch', ['cond', 'select'])
def test_lazy_regularizers_run_exactly_on_their_steps(branch):
  """R1 every 2 steps, path length every 3: an extra optimizer update (Adam's count) and a
  new value in the state on exactly those steps; 'cond' and 'select' give the same numbers."""
  config = tiny_config(**{'objective.stylegan2.r1_interval': 2,
                          'objective.stylegan2.pl_interval': 3,
                          'lazy_regularization_branch': branch})
  networks, state = tiny_networks(config)
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  batch = helpers.random_batch(32, (8, 8, 1))
  key = jax.random.key(0)
  history = []
  for t in range(7):
    d0, g0, extras0 = (_adam_count(state.d_opt_state), _adam_count(state.g_opt_state),
                       jax.device_get(state.extras))
    state, metrics = step(state, batch, key)
    assert float(metrics['finite']) == 1.0
    d_updates = _adam_count(state.d_opt_state) - d0
    g_updates = _adam_count(state.g_opt_state) - g0
    assert d_updates == (2 if t % 2 == 0 else 1), t
    assert g_updates == (2 if t % 3 == 0 else 1), t
    assert (float(state.extras['r1']) != float(extras0['r1'])) == (t % 2 == 0), t
    assert (float(state.extras['pl_mean']) != float(extras0['pl_mean'])) == (t % 3 == 0), t
    history.append(jax.device_get(state.d_params))
  test_lazy_regularizers_run_exactly_on_their_steps.results[branch] = history
  other = {'cond': 'select', 'select': 'cond'}[branch]
  if other in test_lazy_regularizers_run_exactly_on_their_steps.results:
    for a, b in zip(history, test_lazy_regularizers_run_exactly_on_their_steps.results[other]):
      chex.assert_trees_all_close(a, b, rtol=1e-5, atol=1e-6)


test_lazy_regularizers_run_exactly_on_their_steps.results = {}


@pytest.mark.slow
def test_ada_probability_follows_the_sign_of_d_on_real_data():
  """ADA's p starts at 0 and moves by batch / speed_images per D update toward
  E[sign D(real)] = target; the step is the same compiled function for every p."""
  config = tiny_config(**{'augment.name': 'ada'})
  config.augment.options = dict(policy='bgc', target=0.6, speed_images=320)
  networks, state = tiny_networks(config)
  assert float(state.extras['ada_p']) == 0.0
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  batch = helpers.random_batch(32, (8, 8, 1))
  p = 0.0
  for _ in range(4):
    state, metrics = step(state, batch, jax.random.key(0))
    sign = float(metrics['d_real_sign'])
    assert float(metrics['ada_p']) == pytest.approx(p)
    p = min(max(p + np.sign(sign - 0.6) * 32 / 320, 0.0), 1.0)
    assert float(state.extras['ada_p']) == pytest.approx(p, abs=1e-6)
  with pytest.raises(ValueError, match="augment.name='ada'"):
    train_step_lib.make_train_step(config, networks,
                                   objective=_PixObjective(config))


@pytest.mark.slow
def test_ada_rv_reads_d_on_held_out_images_and_leaves_the_updates_alone():
  """Heuristic 'rv': D also scores the batch's held-out images (no gradient, keys of their
  own), metrics['ada_rv'] is r_v of the step's mean logits and p moves by sign(r_v - target);
  D's update is that of heuristic 'rt' on the same batch, and a batch without the held-out
  images is a clear error."""
  config = tiny_config(**{'augment.name': 'ada'})
  # Target -0.5: this untrained D's r_v lands on both sides of it (and its r_t elsewhere), so
  # p moves both ways and a p driven by r_t would differ.
  options = dict(policy='bgc', target=-0.5, speed_images=320)
  config.augment.options = dict(options, heuristic='rv', validation_split='train[300:]')
  config_rt = tiny_config(**{'augment.name': 'ada'})
  config_rt.augment.options = options
  networks, state = tiny_networks(config)
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  step_rt = jax.jit(train_step_lib.make_train_step(config_rt, networks))
  batch = helpers.random_batch(32, (8, 8, 1))
  held_out = {base.ADA_VALIDATION_IMAGE: helpers.random_batch(32, (8, 8, 1), seed=2)['image']}
  key = jax.random.key(0)
  # At step 1 R1 does not run, so D's update does not read the p just moved (G's update, as
  # with r_t, does: it sees D's input transform at the new p).
  at_1 = state.replace(step=state.step + 1)
  new_rt, _ = step_rt(at_1, batch, key)
  new, _ = step(at_1, {**batch, **held_out}, key)
  for name in ('d_params', 'd_opt_state'):
    chex.assert_trees_all_close(getattr(new, name), getattr(new_rt, name), rtol=1e-5,
                                atol=1e-7)
  new, metrics = step(state, {**batch, **held_out}, key)
  p, path = 0.0, []
  for _ in range(3):
    t, v, g = (float(metrics[k]) for k in ('d_real_logit', 'd_validation_logit',
                                           'd_fake_logit'))
    rv = (t - v) / (t - g) if t > g else 0.0
    assert float(metrics['ada_rv']) == pytest.approx(rv, rel=1e-4, abs=1e-6)
    assert float(metrics['ada_p']) == pytest.approx(p)
    p = min(max(p + np.sign(rv + 0.5) * 32 / 320, 0.0), 1.0)
    assert float(new.extras['ada_p']) == pytest.approx(p, abs=1e-6)
    path.append(p)
    new, metrics = step(new, {**batch, **held_out}, key)
  assert max(path) > 0  # p did move (else the checks above would hold for any heuristic).
  with pytest.raises(ValueError, match='ada_validation_image/label'):
    step(state, batch, key)


class _PixObjective(base.Objective):
  name = 'pix2pix'


@pytest.mark.slow
def test_pmap_and_shard_map_match_one_device():
  """Latents, style mixing and noise are drawn for the global batch and the minibatch-stddev
  groups (4 consecutive samples) stay on one device: 8 devices give one device's numbers,
  with R1 and path length on their steps (0, 2)."""
  config = tiny_config(**{'objective.stylegan2.r1_interval': 2,
                          'objective.stylegan2.pl_interval': 2})
  networks, state = tiny_networks(config)
  batch = helpers.random_batch(32, (8, 8, 1))
  (s1, m1), parallel = helpers.single_and_parallel(config, networks, state, batch,
                                                   jax.random.key(0), steps=3)
  for mode, (sp, mp) in parallel.items():
    chex.assert_trees_all_close(sp.g_params, s1.g_params, rtol=2e-4, atol=2e-5)
    chex.assert_trees_all_close(sp.d_params, s1.d_params, rtol=2e-4, atol=2e-5)
    chex.assert_trees_all_close(sp.extras, s1.extras, rtol=2e-4, atol=2e-5)
    chex.assert_trees_all_close(sp.g_collections, s1.g_collections, rtol=2e-4, atol=2e-6)
    for k in ('d_loss', 'g_loss', 'r1', 'pl_length'):
      assert float(mp[k]) == pytest.approx(float(m1[k]), rel=2e-4, abs=1e-6), (mode, k)


@pytest.mark.slow  # Builds a D (a few seconds).
@pytest.mark.parametrize('q_head', [False, True])
def test_discriminator_overfitting_compares_training_and_held_out_images(monkeypatch, q_head):
  """d_overfit_gap = D's mean logit (evaluation mode) on the training images - on the
  held-out ones, each the first N of its split (a multiple of 8, in chunks of 200); a D with
  heads (InfoGAN's Q: a dict) is read at its 'logit'."""
  from gan_jax import evaluation  # pylint: disable=g-import-not-at-top
  from gan_jax.data import sources  # pylint: disable=g-import-not-at-top
  config = helpers.tiny_dcgan_config(**{'model.dcgan.d_normalization': 'none',
                                        'model.d_q_head': q_head})
  config.dataset.split, config.dataset.eval_split = 'train[:300]', 'train[300:]'
  networks, state = helpers.tiny_setup(config)
  rng = np.random.default_rng(5)
  splits = {s: rng.uniform(-1, 1, size=(n, 28, 28, 1)).astype(np.float32) + shift
            for s, n, shift in (('train[:300]', 300, 0.3), ('train[300:]', 100, -0.3))}
  monkeypatch.setattr(evaluation, 'load_split', lambda cfg, split, source=None: sources.Source(
      sources.ArraySource(splits[split], np.zeros(len(splits[split]), np.int64)),
      (28, 28, 1), None, split))
  results, protocol = evaluation.discriminator_overfitting(config, networks, state, None, 250)
  def d(x):
    out = networks.discriminator_apply(state.discriminator_variables(), jnp.asarray(x),
                                       train=False)[0]
    assert isinstance(out, dict) == q_head
    return np.asarray(out['logit'] if q_head else out)
  train, held = d(splits['train[:300]'][:248]), d(splits['train[300:]'][:96])
  assert results['d_train_logit'] == pytest.approx(float(train.mean()), rel=1e-5, abs=1e-6)
  assert results['d_heldout_logit'] == pytest.approx(float(held.mean()), rel=1e-5, abs=1e-6)
  assert results['d_overfit_gap'] == pytest.approx(float(train.mean() - held.mean()),
                                                   rel=1e-5, abs=1e-6)
  assert results['d_heldout_real_fraction'] == pytest.approx(float(np.mean(held > 0)))
  assert 'first 248 images of train[:300]' in protocol and 'first 96 of train[300:]' in protocol
