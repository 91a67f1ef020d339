"""Losses in gan_jax.losses against numpy references (float64; tolerance rtol 1e-5, f32)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses

RTOL = 1e-5  # float32 against float64 references.


def _logits(seed=0, n=64, scale=3.0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=n) * scale, rng.normal(size=n) * scale - 1.0


def _log_sigmoid(x):
  return -np.logaddexp(0.0, -x)


def _log_one_minus_sigmoid(x):
  return -np.logaddexp(0.0, x)


def _check(fn, d_real, d_fake, want_d, want_g):
  d_loss, g_loss, aux = fn(jnp.asarray(d_real, jnp.float32), jnp.asarray(d_fake, jnp.float32))
  chex.assert_shape([d_loss, g_loss], ())
  chex.assert_tree_all_finite((d_loss, g_loss, aux))
  np.testing.assert_allclose(d_loss, want_d, rtol=RTOL, atol=1e-6)
  np.testing.assert_allclose(g_loss, want_g, rtol=RTOL, atol=1e-6)
  return aux


@pytest.mark.parametrize('real_label', [1.0, 0.9])
def test_minimax_and_non_saturating(real_label):
  r, f = _logits()
  want_d = (-np.mean(real_label * _log_sigmoid(r) + (1 - real_label) * _log_one_minus_sigmoid(r))
            - np.mean(_log_one_minus_sigmoid(f)))
  aux = _check(losses.get_loss('minimax', real_label=real_label), r, f, want_d,
               np.mean(_log_one_minus_sigmoid(f)))  # G minimizes log(1 - D(G(z))).
  np.testing.assert_allclose(aux['d_real_prob'], np.mean(1 / (1 + np.exp(-r))), rtol=RTOL)
  np.testing.assert_allclose(aux['d_fake_prob'], np.mean(1 / (1 + np.exp(-f))), rtol=RTOL)
  _check(losses.get_loss('non_saturating', real_label=real_label), r, f, want_d,
         -np.mean(_log_sigmoid(f)))  # G minimizes -log D(G(z)).


def test_minimax_value_at_chance_is_2_log_2():
  zeros = jnp.zeros(8)
  d_loss, _, _ = losses.minimax(zeros, zeros)
  np.testing.assert_allclose(d_loss, 2 * np.log(2), rtol=RTOL)


def test_minimax_generator_saturates_non_saturating_does_not():
  """When D confidently rejects fakes (logit -10), dL_G/dlogit is ~ -sigmoid(-10) = -4.5e-5
  for minimax but ~ -(1 - sigmoid(-10)) ~ -1 for non-saturating (Goodfellow et al. 2014)."""
  d_real = jnp.full((4,), 10.0)
  d_fake = jnp.full((4,), -10.0)
  grad = lambda name: jax.grad(lambda f: losses.get_loss(name)(d_real, f)[1])(d_fake)
  sig = 1 / (1 + np.exp(10.0))
  np.testing.assert_allclose(grad('minimax'), np.full(4, -sig / 4), rtol=1e-4)
  np.testing.assert_allclose(grad('non_saturating'), np.full(4, -(1 - sig) / 4), rtol=1e-4)
  assert np.max(np.abs(grad('minimax'))) < 1e-4 < np.min(np.abs(grad('non_saturating')))


def test_wasserstein():
  r, f = _logits(1)
  aux = _check(losses.get_loss('wasserstein'), r, f, np.mean(f) - np.mean(r), -np.mean(f))
  np.testing.assert_allclose(aux['wasserstein_estimate'], np.mean(r) - np.mean(f), rtol=RTOL)


@pytest.mark.parametrize('real_label', [1.0, 0.9])
def test_least_squares(real_label):
  r, f = _logits(2)
  _check(losses.get_loss('least_squares', real_label=real_label), r, f,
         0.5 * np.mean((r - real_label) ** 2) + 0.5 * np.mean(f ** 2),
         0.5 * np.mean((f - 1) ** 2))


def test_hinge():
  r, f = _logits(3)
  _check(losses.get_loss('hinge'), r, f,
         np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)), -np.mean(f))


def test_hinge_is_zero_beyond_margin():
  d_loss, _, _ = losses.hinge(jnp.full((3,), 2.0), jnp.full((3,), -2.0))
  assert float(d_loss) == 0.0


def test_losses_jit_and_match_eager():
  r, f = (jnp.asarray(a, jnp.float32) for a in _logits(4))
  for name in losses.LOSSES:
    fn = losses.get_loss(name)
    chex.assert_trees_all_close(jax.jit(fn)(r, f), fn(r, f), rtol=1e-6)


def test_unknown_loss_lists_valid_names():
  with pytest.raises(ValueError, match='non_saturating'):
    losses.get_loss('non-saturating')


def test_label_smoothing_rejected_where_undefined():
  with pytest.raises(ValueError, match='real_label'):
    losses.get_loss('hinge', real_label=0.9)


@pytest.mark.parametrize('name,real_label,threshold', [
    ('minimax', 1.0, 0.0), ('non_saturating', 0.9, 0.0), ('hinge', 1.0, 0.0),
    ('least_squares', 1.0, 0.5), ('least_squares', 0.9, 0.45)])
def test_d_accuracy_counts_samples_on_the_right_side_of_the_threshold(name, real_label,
                                                                      threshold):
  # Hand-made outputs around the threshold: real 3 of 4 right, fake 1 of 4 right -> 0.5.
  t = threshold
  d_real = np.array([t + 0.3, t + 0.01, t + 2.0, t - 0.2])
  d_fake = np.array([t - 0.05, t + 0.1, t + 1.0, t + 0.02])
  aux = losses.get_loss(name, real_label=real_label)(jnp.asarray(d_real, jnp.float32),
                                                     jnp.asarray(d_fake, jnp.float32))[2]
  assert float(aux['d_accuracy']) == 0.5
  # Against numpy on random outputs.
  r, f = _logits(5, scale=0.5)
  aux = losses.get_loss(name, real_label=real_label)(jnp.asarray(r + t, jnp.float32),
                                                     jnp.asarray(f + t, jnp.float32))[2]
  want = 0.5 * (np.mean(r > 0) + np.mean(f < 0))
  np.testing.assert_allclose(float(aux['d_accuracy']), want, rtol=1e-6)
  assert name in losses.REPORTS_ACCURACY and 'wasserstein' not in losses.REPORTS_ACCURACY
