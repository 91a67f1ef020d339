"""PSNR / SSIM against scikit-image; MS-SSIM against a numpy implementation of the paper.

Tolerances (float32 JAX vs float64 references): PSNR rtol 1e-5; SSIM atol 1e-4;
MS-SSIM rtol 1e-4.
"""

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.metrics import image_similarity as sim

skimage_metrics = pytest.importorskip('skimage.metrics')


def _pair(seed, shape, low=-1.0, high=1.0, noise=0.3):
  rng = np.random.default_rng(seed)
  # Smooth-ish images so SSIM is far from 0 and 1.
  base = rng.uniform(low, high, size=shape)
  base = (base + np.roll(base, 1, axis=-2) + np.roll(base, 1, axis=-3)) / 3
  other = np.clip(base + noise * rng.normal(size=shape), low, high)
  return base.astype(np.float32), other.astype(np.float32)


def test_psnr_matches_skimage():
  a, b = _pair(0, (3, 32, 24, 3))
  got = sim.psnr(a, b, data_range=2.0)
  chex.assert_shape(got, (3,))
  ref = [skimage_metrics.peak_signal_noise_ratio(x.astype(np.float64), y.astype(np.float64),
                                                 data_range=2.0) for x, y in zip(a, b)]
  np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-5)


@pytest.mark.parametrize('shape,data_range', [((2, 40, 33, 3), 2.0), ((2, 28, 28, 1), 2.0)])
def test_ssim_matches_skimage(shape, data_range):
  a, b = _pair(1, shape)
  got = sim.ssim(a, b, data_range=data_range)
  ref = [skimage_metrics.structural_similarity(
      x.astype(np.float64), y.astype(np.float64), data_range=data_range, channel_axis=-1,
      gaussian_weights=True, sigma=1.5, use_sample_covariance=False) for x, y in zip(a, b)]
  assert 0.1 < min(ref) < max(ref) < 0.95
  np.testing.assert_allclose(np.asarray(got), ref, atol=1e-4)
  # SSIM is invariant to scaling the images and data_range together.
  np.testing.assert_allclose(np.asarray(sim.ssim(a * 127.5, b * 127.5,
                                                 data_range=255.0)), ref, atol=1e-4)


def _np_ms_ssim(x, y, data_range):
  """MS-SSIM from Wang, Simoncelli & Bovik (2003), written directly in numpy (float64)."""
  weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
  g = np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2)
  win = np.outer(g, g) / np.outer(g, g).sum()
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

  def filt(img):  # 'valid' 2-D correlation of each channel with the 11x11 window
    h, w = img.shape[0] - 10, img.shape[1] - 10
    out = np.zeros((h, w, img.shape[2]))
    for i in range(11):
      for j in range(11):
        out += win[i, j] * img[i:i + h, j:j + w]
    return out

  x, y = x.astype(np.float64), y.astype(np.float64)
  result = 1.0
  for scale, wgt in enumerate(weights):
    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx ** 2, filt(y * y) - my ** 2, filt(x * y) - mx * my
    cs = ((2 * sxy + c2) / (sxx + syy + c2))
    if scale < 4:
      result *= max(cs.mean(), 0) ** wgt
      h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
      down = lambda im: im[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))
      x, y = down(x), down(y)
    else:
      lum = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)
      result *= max((lum * cs).mean(), 0) ** wgt
  return result


def test_ms_ssim_matches_numpy_reference():
  a, b = _pair(2, (2, 180, 177, 3), noise=0.2)
  got = sim.ms_ssim(a, b, data_range=2.0)
  chex.assert_shape(got, (2,))
  ref = [_np_ms_ssim(x, y, 2.0) for x, y in zip(a, b)]
  assert 0.05 < min(ref) < max(ref) < 0.99
  np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(sim.ms_ssim(a, a, data_range=2.0)), 1.0, rtol=1e-5)


def test_errors_name_the_fix():
  a = jnp.zeros((1, 64, 64, 3))
  with pytest.raises(ValueError, match='at least 176'):
    sim.ms_ssim(a, a, data_range=2.0)
  with pytest.raises(ValueError, match='same shape'):
    sim.ssim(a, a[:, :32], data_range=2.0)
  with pytest.raises(ValueError, match='data_range'):
    sim.psnr(a, a, data_range=0.0)
