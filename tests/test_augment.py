"""DiffAugment and instance noise: shapes, keys, gradients, and each op against numpy."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import augment

KEY = jax.random.PRNGKey(0)


def _images(n=8, h=16, w=16, c=3, seed=0):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, h, w, c)), jnp.float32)


@pytest.mark.parametrize('policy', ['color', 'translation', 'cutout', 'color,translation,cutout'])
def test_shape_determinism_and_gradient(policy):
  x = _images()
  y = augment.diff_augment(KEY, x, policy)
  chex.assert_equal_shape([x, y])
  chex.assert_type(y, jnp.float32)
  chex.assert_trees_all_equal(y, augment.diff_augment(KEY, x, policy))
  assert not np.allclose(y, augment.diff_augment(jax.random.PRNGKey(1), x, policy))
  grad = jax.grad(lambda im: jnp.sum(augment.diff_augment(KEY, im, policy) ** 2))(x)
  chex.assert_tree_all_finite(grad)
  assert float(jnp.sum(jnp.abs(grad))) > 0


def _translate_np(x, dh, dw):
  out = np.zeros_like(x)
  h, w = x.shape[:2]
  for i in range(h):
    for j in range(w):
      if 0 <= i + dh < h and 0 <= j + dw < w:
        out[i, j] = x[i + dh, j + dw]
  return out


def test_translate_matches_numpy():
  x = np.asarray(_images(3, 8, 8, 2))
  shifts = np.array([[1, -2], [0, 0], [-1, 1]])
  y = augment.translate(jnp.asarray(x), jnp.asarray(shifts))
  for n, (dh, dw) in enumerate(shifts):
    np.testing.assert_array_equal(y[n], _translate_np(x[n], dh, dw))


def test_rand_translation_is_a_zero_filled_shift_within_one_eighth():
  x = np.asarray(_images(16, 16, 16, 1)) + 2.0  # Strictly positive: zeros come from padding.
  y = np.asarray(augment.diff_augment(KEY, jnp.asarray(x), 'translation'))
  r = 2  # round(16 / 8).
  found_nonzero_shift = False
  for n in range(x.shape[0]):
    matches = [(dh, dw) for dh in range(-r, r + 1) for dw in range(-r, r + 1)
               if np.array_equal(y[n], _translate_np(x[n], dh, dw))]
    assert len(matches) == 1, n
    found_nonzero_shift |= matches[0] != (0, 0)
  assert found_nonzero_shift


def test_cutout_zeroes_one_square_of_half_the_side():
  x = jnp.ones((64, 16, 16, 2))
  y = np.asarray(augment.diff_augment(KEY, x, 'cutout'))
  size = 8  # round(16 / 2).
  full_squares = 0
  for n in range(64):
    zero = y[n, :, :, 0] == 0
    np.testing.assert_array_equal(zero, y[n, :, :, 1] == 0)  # Same mask on all channels.
    rows, cols = np.nonzero(zero)
    assert rows.size > 0
    # The zeros form one axis-aligned rectangle no larger than size x size (clipped).
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert rows.size == height * width and height <= size and width <= size
    full_squares += (height, width) == (size, size)
  assert full_squares > 0
  np.testing.assert_array_equal(np.unique(y), [0.0, 1.0])


def test_cutout_mask_exact():
  mask = augment.cutout_mask(jnp.array([[1, 2], [-2, 5]]), (6, 7), (3, 4))
  want = np.ones((2, 6, 7, 1), bool)
  want[0, 1:4, 2:6] = False
  want[1, 0:1, 5:7] = False
  np.testing.assert_array_equal(mask, want)


def test_color_ops_ranges():
  x = _images(32, 4, 4, 3)
  keys = jax.random.split(KEY, 3)
  b = augment.rand_brightness(keys[0], x) - x  # Per-example constant in [-0.5, 0.5).
  np.testing.assert_allclose(b, b[:, :1, :1, :1] * jnp.ones_like(b), atol=1e-6)
  assert -0.5 <= float(b.min()) and float(b.max()) < 0.5
  gray = jnp.repeat(x[..., :1], 3, axis=-1)  # Saturation leaves gray images unchanged.
  np.testing.assert_allclose(augment.rand_saturation(keys[1], gray), gray, atol=1e-6)
  mean_c = jnp.mean(x, axis=-1, keepdims=True)
  s = (augment.rand_saturation(keys[1], x) - mean_c) / (x - mean_c)
  assert 0.0 <= float(s.min()) and float(s.max()) < 2.0 + 1e-4
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  c = (augment.rand_contrast(keys[2], x) - mean) / (x - mean)
  assert 0.5 - 1e-4 <= float(c.min()) and float(c.max()) < 1.5 + 1e-4


def test_instance_noise():
  x = jnp.zeros((4000, 2))
  y = augment.instance_noise(KEY, x, 0.3)
  np.testing.assert_allclose(np.std(np.asarray(y)), 0.3, rtol=0.05)  # 5%: 8,000 draws.
  chex.assert_trees_all_equal(augment.instance_noise(KEY, x, 0.0), x)
  traced = jax.jit(augment.instance_noise)(KEY, x, jnp.float32(0.3))  # std may be traced.
  np.testing.assert_allclose(traced, y, rtol=1e-6)
  # The same key gives the same noise: y - x is std times the key's standard normal draw.
  np.testing.assert_allclose(y - x, 0.3 * np.asarray(jax.random.normal(KEY, x.shape)),
                             rtol=1e-6)


def test_instance_noise_std_anneals_linearly_to_zero():
  """std * max(0, 1 - t / T), written out for t = 0, T/4, T/2, T, 2T; T = 0: constant."""
  want = [0.2, 0.15, 0.1, 0.0, 0.0]
  for step, expected in zip([0, 25, 50, 100, 200], want):
    np.testing.assert_allclose(augment.instance_noise_std(step, 0.2, 100), expected, atol=1e-7)
  steps = jnp.array([0, 25, 50, 100, 200])  # Traced inside the step: array steps work.
  np.testing.assert_allclose(jax.jit(lambda s: augment.instance_noise_std(s, 0.2, 100))(steps),
                             want, atol=1e-7)
  assert augment.instance_noise_std(10_000, 0.2, 0) == 0.2


def test_registry():
  assert augment.get_augmentation('none') is None
  fn = augment.get_augmentation('diffaugment', policy='translation')
  chex.assert_trees_all_equal(fn(KEY, _images()),
                              augment.diff_augment(KEY, _images(), 'translation'))
  with pytest.raises(ValueError, match='diffaugment'):
    augment.get_augmentation('diff_augment')
  with pytest.raises(ValueError, match='cutout'):
    augment.get_augmentation('diffaugment', policy='color,cutoff')
  with pytest.raises(ValueError, match='translation_ratio'):
    augment.get_augmentation('diffaugment', ratio=0.1)
  with pytest.raises(ValueError, match='instance_noise_std'):  # Its own config fields.
    augment.get_augmentation('instance_noise', std=0.1)
  with pytest.raises(ValueError, match='instance_noise'):
    augment.diff_augment(KEY, jnp.zeros((4, 2)), 'translation')
