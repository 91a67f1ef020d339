"""Penalties and regularizers against analytic / finite-difference references.

Tolerances: rtol 1e-5 for analytic float32 results; 1e-3 against float64 central
differences (step 1e-5); |mean grad norm - 1| < 0.1 for a trained WGAN-GP critic.
"""

import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import losses, penalties
from gan_jax.data import toy
from gan_jax.models import build_networks
from tests import helpers

KEY = jax.random.PRNGKey(0)


def _linear_d(params, x):
  return x.reshape(x.shape[0], -1) @ params['w'] + params['b']


def _batch(seed, shape=(6, 2, 3, 1)):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.normal(size=shape), jnp.float32)


@pytest.mark.parametrize('w_scale', [0.3, 2.0])
def test_gradient_penalty_linear_d_is_exact(w_scale):
  """D(x) = w.x + b has ||grad_x D|| = ||w|| at every point, so GP = (||w|| - 1)^2."""
  w = np.random.default_rng(0).normal(size=6) * w_scale
  params = {'w': jnp.asarray(w, jnp.float32), 'b': jnp.float32(0.5)}
  norm = np.linalg.norm(w)
  value, aux = penalties.gradient_penalty(_linear_d, params, _batch(1), _batch(2), KEY)
  np.testing.assert_allclose(value, (norm - 1) ** 2, rtol=1e-5)
  np.testing.assert_allclose(aux['gp_grad_norm'], norm, rtol=1e-5)
  one_sided, _ = penalties.get_penalty('gradient_penalty', one_sided=True)(
      _linear_d, params, _batch(1), _batch(2), KEY)
  np.testing.assert_allclose(one_sided, max(norm - 1, 0) ** 2, rtol=1e-5, atol=1e-7)
  # The penalty's gradient w.r.t. the critic's weights: d/dw (||w|| - 1)^2.
  grad = jax.grad(lambda p: penalties.gradient_penalty(_linear_d, p, _batch(1), _batch(2),
                                                       KEY)[0])(params)
  np.testing.assert_allclose(grad['w'], 2 * (norm - 1) * w / norm, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(grad['b'], 0.0, atol=1e-7)


def test_r1_r2_linear_d_is_exact():
  w = np.random.default_rng(3).normal(size=6)
  params = {'w': jnp.asarray(w, jnp.float32), 'b': jnp.float32(0.0)}
  for name in ('r1', 'r2'):
    value, _ = penalties.get_penalty(name)(_linear_d, params, _batch(1), _batch(2), KEY)
    np.testing.assert_allclose(value, 0.5 * np.sum(w ** 2), rtol=1e-5)


def _quadratic_d(params, x):
  x = x.reshape(x.shape[0], -1)
  return 0.5 * jnp.einsum('ni,ij,nj->n', x, params['a'], x)


def test_gradient_penalty_and_r1_quadratic_d():
  """D(x) = x^T A x / 2 with A symmetric: grad = A x. With real == fake every interpolate
  is the real point, whatever eps is drawn."""
  rng = np.random.default_rng(4)
  a = rng.normal(size=(6, 6))
  a = (a + a.T) / 2
  x = _batch(5)
  grads = x.reshape(6, -1) @ a
  norms = np.linalg.norm(np.asarray(grads, np.float64), axis=1)
  params = {'a': jnp.asarray(a, jnp.float32)}
  gp, _ = penalties.gradient_penalty(_quadratic_d, params, x, x, KEY)
  np.testing.assert_allclose(gp, np.mean((norms - 1) ** 2), rtol=1e-5)
  r1, aux = penalties.r1_penalty(_quadratic_d, params, x, x, KEY)
  np.testing.assert_allclose(r1, 0.5 * np.mean(norms ** 2), rtol=1e-5)
  np.testing.assert_allclose(aux['r1_grad_norm'], np.mean(norms), rtol=1e-5)


def test_r1_nonlinear_d_matches_finite_differences():
  """D(x) = v . tanh(W x + c), checked against float64 numpy central differences."""
  rng = np.random.default_rng(6)
  w, c, v = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=5)
  d_np = lambda x: np.tanh(x @ w.T + c) @ v
  x = rng.normal(size=(4, 3))
  h = 1e-5
  fd = np.stack([(d_np(x + h * e) - d_np(x - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
  want = 0.5 * np.mean(np.sum(fd ** 2, axis=1))
  params = {k: jnp.asarray(a, jnp.float32) for k, a in dict(w=w, c=c, v=v).items()}
  d_jax = lambda p, x: jnp.tanh(x @ p['w'].T + p['c']) @ p['v']
  value, _ = penalties.r1_penalty(d_jax, params, jnp.asarray(x, jnp.float32), None, KEY)
  np.testing.assert_allclose(value, want, rtol=1e-3)


def test_regularizers():
  tree = {'a': jnp.array([1.0, -2.0]), 'b': {'c': jnp.array([[3.0], [-0.5]])}}
  np.testing.assert_allclose(penalties.get_regularizer('l2')(tree),
                             0.5 * (1 + 4 + 9 + 0.25), rtol=1e-6)
  np.testing.assert_allclose(penalties.get_regularizer('l1')(tree), 1 + 2 + 3 + 0.5, rtol=1e-6)
  assert penalties.get_regularizer('none') is None


def _numpy_translate(x, shifts):
  """out[n, i, j] = x[n, i + dy, j + dx], zero outside: the shift written with numpy."""
  out = np.zeros_like(x)
  h, w = x.shape[1:3]
  for n, (dy, dx) in enumerate(shifts):
    for i in range(h):
      for j in range(w):
        if 0 <= i + dy < h and 0 <= j + dx < w:
          out[n, i, j] = x[n, i + dy, j + dx]
  return out


@pytest.mark.parametrize('fake_term', [True, False])
def test_consistency_penalty_against_numpy_shifts_of_a_linear_d(fake_term):
  """bCR (fake_term) / CR with T = 'translation' on 8x8 images (shifts of up to 1 px): for
  D(x) = w.x + b, D(T(x)) - D(x) = w.(T(x) - x); the shifts are the penalty's own draws
  (its key path), applied with numpy."""
  shape = (5, 8, 8, 1)
  real, fake = np.asarray(_batch(1, shape)), np.asarray(_batch(2, shape))
  w = np.random.default_rng(4).normal(size=64)
  params = {'w': jnp.asarray(w, jnp.float32), 'b': jnp.float32(0.3)}
  penalty = penalties.get_penalty('consistency', fake_term=fake_term)
  value, aux = penalty(_linear_d, params, jnp.asarray(real), jnp.asarray(fake), KEY)
  want, grad_w = 0.0, np.zeros(64)
  for i, x in enumerate([real, fake] if fake_term else [real]):
    draw_key = jax.random.split(jax.random.fold_in(KEY, i), 1)[0]
    shifts = np.asarray(jax.random.randint(draw_key, (5, 2), -1, 2))
    assert np.abs(shifts).max() == 1  # Shifts happen: the term is not trivially 0.
    diff = (_numpy_translate(x, shifts) - x).reshape(5, -1).astype(np.float64)
    want += np.mean((diff @ w) ** 2)
    grad_w += 2 * np.mean((diff @ w)[:, None] * diff, axis=0)
    np.testing.assert_allclose(aux['consistency_' + ('real', 'fake')[i]],
                               np.mean((diff @ w) ** 2), rtol=1e-5)
  np.testing.assert_allclose(value, want, rtol=1e-5)
  grads = jax.grad(lambda p, f: penalty(_linear_d, p, jnp.asarray(real), f, KEY)[0],
                   argnums=(0, 1))(params, jnp.asarray(fake))
  np.testing.assert_allclose(grads[0]['w'], grad_w, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(grads[0]['b'], 0.0, atol=1e-6)  # b cancels in the difference.
  np.testing.assert_array_equal(grads[1], 0.0)  # The fakes are constants.


def test_consistency_penalty_is_zero_for_a_d_that_ignores_the_shift():
  """A D that sums the pixels of an image whose content is away from the border: no shift
  of up to 1/8 of the side changes it."""
  x = np.zeros((4, 16, 16, 1), np.float32)
  x[:, 5:11, 6:10] = np.random.default_rng(0).uniform(size=(4, 6, 4, 1))
  value, _ = penalties.get_penalty('consistency')(
      lambda p, v: p * jnp.sum(v, axis=(1, 2, 3)), 2.0, jnp.asarray(x), jnp.asarray(x), KEY)
  assert float(value) == 0.0
  with pytest.raises(ValueError, match='DiffAugment policy'):
    penalties.get_penalty('consistency', policy='flip')(_linear_d, None, x, x, KEY)


def test_consistency_penalty_in_the_train_step():
  """bCR through the DCGAN step (LayerNorm D): both terms are reported and the penalty
  changes D's update."""
  from gan_jax import train_step as train_step_lib  # pylint: disable=g-import-not-at-top
  updates = {}
  for weight in (0.0, 10.0):
    config = helpers.tiny_dcgan_config(**{'penalty.name': 'consistency', 'penalty.weight': weight,
                                          'model.dcgan.d_normalization': 'layer'})
    networks, state = helpers.tiny_setup(config)
    step = jax.jit(train_step_lib.make_train_step(config, networks))
    updates[weight], metrics = step(state, helpers.random_batch(16), jax.random.key(3))
  assert float(metrics['consistency_real']) > 0 and float(metrics['consistency_fake']) > 0
  assert helpers.max_abs_diff(updates[0.0].d_params, updates[10.0].d_params) > 1e-6


def test_registry_errors():
  assert penalties.get_penalty('none') is None
  with pytest.raises(ValueError, match='gradient_penalty'):
    penalties.get_penalty('gp')
  with pytest.raises(ValueError, match='target'):
    penalties.get_penalty('gradient_penalty', targett=1.0)
  with pytest.raises(ValueError, match='l1'):
    penalties.get_regularizer('l3')
  with pytest.raises(ValueError, match='same shape'):
    penalties.gradient_penalty(_linear_d, {'w': jnp.ones(6), 'b': 0.0}, _batch(1),
                               _batch(2, (5, 2, 3, 1)), KEY)


def test_wgan_gp_trained_critic_has_unit_gradient_norm():
  """Gulrajani et al. 2017, prop. 1: the optimal critic has ||grad|| = 1 on the lines
  between coupled real and fake points. Train an MLP critic (wasserstein loss + 10 * GP)
  between ring8 and a fixed Gaussian at the origin; its interpolates' mean norm -> 1."""
  start = time.time()
  cfg = helpers.model_config('mlp', latent_dim=2, **{'mlp.d_hidden': (64, 64),
                                                     'mlp.output_activation': 'linear'})
  net = build_networks(cfg, (2,))
  params = net.discriminator_init(jax.random.PRNGKey(1))['params']
  d_apply = lambda p, x: net.discriminator_apply({'params': p}, x, train=False)[0]
  loss_fn, gp_fn = losses.get_loss('wasserstein'), penalties.get_penalty('gradient_penalty')
  opt = optax.adam(1e-3, b1=0.5, b2=0.9)
  batch = 256

  def sample(key):
    k_real, k_fake = jax.random.split(key)
    real, _ = toy.sample_toy(k_real, 'ring8', batch)
    return real, 0.3 * jax.random.normal(k_fake, (batch, 2))

  def step(carry, key):
    params, opt_state = carry
    k_data, k_gp = jax.random.split(key)
    real, fake = sample(k_data)

    def objective(p):
      d_loss = loss_fn(d_apply(p, real), d_apply(p, fake))[0]
      gp, aux = gp_fn(d_apply, p, real, fake, k_gp)
      return d_loss + 10.0 * gp, aux['gp_grad_norm']

    (_, norm), grads = jax.value_and_grad(objective, has_aux=True)(params)
    updates, opt_state = opt.update(grads, opt_state)
    return (optax.apply_updates(params, updates), opt_state), norm

  @jax.jit
  def train(params, key):
    (params, _), norms = jax.lax.scan(step, (params, opt.init(params)),
                                      jax.random.split(key, 400))
    return params, norms

  params, _ = train(params, jax.random.PRNGKey(2))
  real, fake = sample(jax.random.PRNGKey(3))
  real, fake = jnp.tile(real, (8, 1)), jnp.tile(fake, (8, 1))
  _, aux = gp_fn(d_apply, params, real, fake, jax.random.PRNGKey(4))
  chex.assert_tree_all_finite(aux)
  assert abs(float(aux['gp_grad_norm']) - 1.0) < 0.1, aux
  assert time.time() - start < 30
