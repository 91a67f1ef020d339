"""Full-reference image metrics for paired tasks: PSNR, SSIM, MS-SSIM (NHWC).

All take images (N, H, W, C) (or (H, W, C), treated as N=1) and a `data_range`
(max - min of the value range: 2.0 for [-1, 1], 1.0 for [0, 1], 255 for uint8) and
return one value per image (N,).

- PSNR = 10 log10(data_range^2 / MSE).
- SSIM (Wang et al. 2004): with Gaussian-weighted (11x11, sigma 1.5) local means mu,
  variances s^2 and covariance s_xy, C1 = (0.01 L)^2, C2 = (0.03 L)^2,
    SSIM = mean over valid windows and channels of
           (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)).
  Only windows fully inside the image count ('valid'), as the paper.
- MS-SSIM (Wang, Simoncelli & Bovik 2003): over M=5 scales (2x2 average pooling, stride 2,
  between scales) with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
    MS-SSIM = l_M^{w_M} * prod_{j=1..M} cs_j^{w_j},
  where cs_j is the mean contrast-structure term (2 s_xy + C2)/(s_x^2 + s_y^2 + C2) at
  scale j and l_M the mean luminance term at the coarsest scale (we use the mean of the
  full SSIM map there, as common implementations do). Negative means are clipped to 0
  before the fractional powers. Needs H, W >= 11 * 2^4 = 176.
"""

import functools

import jax
import jax.numpy as jnp

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _as_batch(a, b, data_range):
  a, b = jnp.asarray(a), jnp.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f'Images must have the same shape; got {a.shape} and {b.shape}.')
  if a.ndim == 3:
    a, b = a[None], b[None]
  if a.ndim != 4:
    raise ValueError(f'Expected NHWC images (N, H, W, C) or (H, W, C); got shape {a.shape}.')
  if data_range is None or not data_range > 0:
    raise ValueError(f'data_range must be > 0 (2.0 for [-1, 1] images, 1.0 for [0, 1], 255 '
                     f'for uint8); got {data_range}.')
  return a.astype(jnp.float32), b.astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=('data_range',))
def psnr(images1, images2, *, data_range):
  """Peak signal-to-noise ratio in dB per image (N,)."""
  a, b = _as_batch(images1, images2, data_range)
  mse = jnp.mean((a - b) ** 2, axis=(1, 2, 3))
  return 10.0 * jnp.log10(data_range ** 2 / mse)


def gaussian_window(size=11, sigma=1.5):
  """Normalized 1-D Gaussian (size,)."""
  x = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
  g = jnp.exp(-0.5 * (x / sigma) ** 2)
  return g / jnp.sum(g)


def _filter_valid(x, window):
  """Separable 'valid' filtering of each channel of x (N, H, W, C) with a 1-D window."""
  c = x.shape[-1]
  size = window.shape[0]
  dn = ('NHWC', 'HWIO', 'NHWC')
  kh = jnp.tile(window.reshape(size, 1, 1, 1), (1, 1, 1, c))
  kw = jnp.tile(window.reshape(1, size, 1, 1), (1, 1, 1, c))
  conv = functools.partial(jax.lax.conv_general_dilated, window_strides=(1, 1),
                           padding='VALID', dimension_numbers=dn, feature_group_count=c,
                           precision=jax.lax.Precision.HIGHEST)
  return conv(conv(x, kh), kw)


def _ssim_terms(a, b, data_range, window):
  """Per-image means over windows and channels of the SSIM and contrast-structure maps."""
  c1 = (0.01 * data_range) ** 2
  c2 = (0.03 * data_range) ** 2
  f = lambda x: _filter_valid(x, window)
  mu_a, mu_b = f(a), f(b)
  var_a = f(a * a) - mu_a ** 2
  var_b = f(b * b) - mu_b ** 2
  cov = f(a * b) - mu_a * mu_b
  cs_map = (2 * cov + c2) / (var_a + var_b + c2)
  ssim_map = (2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1) * cs_map
  return jnp.mean(ssim_map, axis=(1, 2, 3)), jnp.mean(cs_map, axis=(1, 2, 3))


def _check_size(shape, min_size, what):
  if shape[1] < min_size or shape[2] < min_size:
    raise ValueError(f'{what} needs images of at least {min_size}x{min_size}; got '
                     f'{shape[1]}x{shape[2]}. Use a smaller win_size or larger images.')


@functools.partial(jax.jit, static_argnames=('data_range', 'win_size', 'sigma'))
def ssim(images1, images2, *, data_range, win_size=11, sigma=1.5):
  """Structural similarity (Wang et al. 2004) per image (N,), Gaussian window."""
  a, b = _as_batch(images1, images2, data_range)
  _check_size(a.shape, win_size, 'SSIM')
  return _ssim_terms(a, b, data_range, gaussian_window(win_size, sigma))[0]


def _avg_pool2(x):
  n, h, w, c = x.shape
  x = x[:, :h // 2 * 2, :w // 2 * 2]
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


@functools.partial(jax.jit, static_argnames=('data_range', 'win_size', 'sigma', 'weights'))
def ms_ssim(images1, images2, *, data_range, win_size=11, sigma=1.5,
            weights=MS_SSIM_WEIGHTS):
  """Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) per image (N,)."""
  a, b = _as_batch(images1, images2, data_range)
  _check_size(a.shape, win_size * 2 ** (len(weights) - 1), "MS-SSIM")
  window = gaussian_window(win_size, sigma)
  w = jnp.asarray(weights, jnp.float32)
  cs_values = []
  for scale in range(len(weights)):
    s, cs = _ssim_terms(a, b, data_range, window)
    cs_values.append(cs)
    if scale < len(weights) - 1:
      a, b = _avg_pool2(a), _avg_pool2(b)
  # Coarsest scale: luminance * contrast-structure, i.e. the full SSIM.
  values = jnp.stack(cs_values[:-1] + [s], axis=-1)
  return jnp.prod(jnp.maximum(values, 0.0) ** w, axis=-1)
