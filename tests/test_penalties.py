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
