"""ADA (augment.ada_augment / ada_adjust): identity at p = 0, exact blits, the resampling
against numpy / scipy.ndimage, each transform's probability and distribution, gradients.

Statistical checks use fixed keys and bounds of 3 standard errors (SE) or, for a standard
deviation estimated from n draws, 5% (3 SE of sigma / sqrt(2 n) at n = 4,000 is 3.4%).
"""

import functools
import inspect
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from scipy.spatial.transform import Rotation

from gan_jax import augment

KEY = jax.random.PRNGKey(0)
N_STATS = 4000  # Examples for the statistical checks.
OFF = {name: 0.0 for name in augment._ADA_TRANSFORMS}  # pylint: disable=protected-access


def _images(n, h, w, c, seed=0):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, h, w, c)), jnp.float32)


def _only(*names, **options):
  """Options enabling only the transforms `names` (their groups' letters as the policy)."""
  letters = ''.join(k for k, v in augment.ADA_POLICIES.items() if set(v) & set(names))
  return {'policy': letters, **OFF, **{name: 1.0 for name in names}, **options}


def _run(x, p, key=KEY, **options):
  """ada_augment with p traced (its jit compiles once per policy, distribution parameters
  and shape; the multipliers are traced)."""
  return np.asarray(augment.ada_augment(key, jnp.asarray(x), jnp.float32(p), **options))


TRACES = []


@jax.jit
def _augment_and_vjp(x, p, w):
  TRACES.append(x.shape)
  out, vjp = jax.vjp(lambda images: augment.ada_augment(KEY, images, p), x)
  return out, vjp(w)[0]


def _within_3se(count, n, q):
  assert abs(count / n - q) <= 3 * math.sqrt(q * (1 - q) / n), (count, n, q)


# ---- p = 0, gradients, one compilation ---------------------------------------------------------

def test_p0_returns_the_input_bitwise_and_its_gradient_is_the_identity():
  # -0.0: the identity must select the input, not resample it (1 * -0.0 + 0 * y = +0.0).
  x = _images(8, 16, 16, 3).at[:, 3, 5, 1].set(-0.0)
  w = _images(8, 16, 16, 3, seed=1)
  out, grad = _augment_and_vjp(x, jnp.float32(0.0), w)
  assert np.asarray(out).tobytes() == np.asarray(x).tobytes()
  np.testing.assert_array_equal(grad, w)
  assert not np.allclose(_augment_and_vjp(x, jnp.float32(1.0), w)[0], x)  # p = 1 changes x.
  grey = _images(8, 16, 16, 1).at[:, 3, 5, 0].set(-0.0)  # C = 1: forward only.
  assert _run(grey, 0.0).tobytes() == np.asarray(grey).tobytes()
  assert not np.allclose(_run(grey, 1.0), grey)


def test_gradients_are_the_adjoint_under_jit_with_a_traced_p_compiled_once():
  x, w, d = (_images(8, 16, 16, 3, seed=s) for s in range(3))
  for p in (0.25, 0.6, 1.0):
    out, grad = _augment_and_vjp(x, jnp.float32(p), w)
    chex.assert_tree_all_finite(grad)
    assert float(jnp.sum(jnp.abs(grad))) > 0
    assert float(jnp.sum(jnp.abs(grad - w))) > 1.0  # Not the identity's gradient.
    # For a fixed key and p the map is affine in x (matrices do not depend on x), so
    # <w, f(x + d) - f(x)> = <grad, d> up to float32 rounding (sums of 6,144 terms: 1e-4).
    shifted, _ = _augment_and_vjp(x + d, jnp.float32(p), w)
    np.testing.assert_allclose(jnp.vdot(w, shifted - out), jnp.vdot(grad, d), rtol=1e-4)
  # One trace for every p, this test's and the p = 0 test's (if it ran first).
  assert TRACES.count(x.shape) == 1


# ---- blits: exact pixel moves --------------------------------------------------------------

# The blit tests share one shape (one compilation of policy 'b').
BLIT_IMAGES = np.asarray(_images(N_STATS, 16, 16, 3))
SQUARE_IMAGES = np.asarray(_images(4, 10, 10, 3, seed=4))  # For affine_warp: one shape.


def test_xflip_flips_about_half_at_p1_and_a_quarter_of_p_fraction():
  """An applied x-flip flips with probability 1/2 (ADA), so P(flipped) = p / 2."""
  x = BLIT_IMAGES
  options = _only('xflip')
  for p in (1.0, 0.3):
    y = _run(x, p, **options)
    same = np.all(y == x, axis=(1, 2, 3))
    flipped = np.all(y == x[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same ^ flipped)  # Each output is exactly its input or its flip, not both.
    _within_3se(flipped.sum(), N_STATS, p / 2)


def _reflect_shift(image, ty, tx, r):
  """image moved by (ty, tx) (out[y, x] = in[y - ty, x - tx]), np.pad mode 'reflect'."""
  padded = np.pad(image, ((r, r), (r, r), (0, 0)), mode='reflect')
  h, w = image.shape[:2]
  return padded[r - ty:r - ty + h, r - tx:r - tx + w]


def test_integer_translation_is_an_exact_reflect_padded_shift():
  x = BLIT_IMAGES
  y = _run(x, 1.0, **_only('xint'))
  r = 2  # round(0.125 * 16).
  seen = set()
  for n in range(32):
    matches = [(ty, tx) for ty in range(-r, r + 1) for tx in range(-r, r + 1)
               if np.array_equal(y[n], _reflect_shift(x[n], ty, tx, r))]
    assert len(matches) == 1, (n, matches)
    seen.add(matches[0])
  assert len(seen) >= 10  # 25 possible shifts (edge ones half as likely), 32 draws.
  # Larger known shifts through affine_warp: sample at out - t.
  x = SQUARE_IMAGES
  t = np.array([[5, -3], [-7, 6], [0, 9], [-9, -1]])  # (tx, ty) per example.
  m = np.tile(np.eye(3, dtype=np.float32), (4, 1, 1))
  m[:, :2, 2] = -t
  warped = augment.affine_warp(jnp.asarray(x), jnp.asarray(m))
  for n, (tx, ty) in enumerate(t):
    np.testing.assert_array_equal(warped[n], _reflect_shift(x[n], ty, tx, 9))


def test_rotate90_is_an_exact_np_rot90():
  x = BLIT_IMAGES
  y = _run(x, 1.0, **_only('rotate90'))
  seen = set()
  for n in range(32):
    matches = [k for k in range(4) if np.array_equal(y[n], np.rot90(x[n], k))]
    assert len(matches) == 1, (n, matches)
    seen.add(matches[0])
  assert seen == {0, 1, 2, 3}


# ---- the resampling against numpy / scipy.ndimage ----------------------------------------------

def test_affine_warp_matches_rot90_scipy_shift_and_affine_transform():
  """Bilinear with whole-sample reflection = scipy order=1, mode='mirror'; atol 1e-5 covers
  float32 coordinates (|coordinate| < 40: rounding 4e-6 px, images of slope <= 2 per px)."""
  x = np.asarray(_images(4, 9, 12, 3))
  cy, cx = 4.0, 5.5

  # 90 degrees through cos / sin (not exact in float32): np.rot90 turns counterclockwise.
  theta = np.pi / 2
  rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0],
                  [0, 0, 1]], np.float32)
  rotated = augment.affine_warp(jnp.asarray(SQUARE_IMAGES), jnp.asarray(np.stack([rot] * 4)))
  np.testing.assert_allclose(rotated, np.rot90(SQUARE_IMAGES, axes=(1, 2)), atol=1e-5)

  # Fractional shifts: scipy.ndimage.shift moves content by +shift (out[i] = in[i - shift]).
  shifts = np.array([[0.3, -1.7], [-2.25, 0.5], [4.6, 3.1], [-0.01, 0.0]])  # (ty, tx).
  m = np.tile(np.eye(3, dtype=np.float32), (4, 1, 1))
  m[:, 0, 2], m[:, 1, 2] = -shifts[:, 1], -shifts[:, 0]
  y = np.asarray(augment.affine_warp(jnp.asarray(x), jnp.asarray(m)))
  for n in range(4):
    for c in range(3):
      want = scipy.ndimage.shift(x[n, :, :, c].astype(np.float64), shifts[n], order=1,
                                 mode='mirror')
      np.testing.assert_allclose(y[n, :, :, c], want, atol=1e-5)

  # General affine maps (rotation, anisotropic scale, shear, translation), sampling well
  # outside the image: scipy's (row, col) form of the same map.
  rng = np.random.default_rng(3)
  m = np.tile(np.eye(3, dtype=np.float32), (4, 1, 1))
  m[:, :2, :2] = rng.normal(0, 1.2, (4, 2, 2))
  m[:, :2, 2] = rng.normal(0, 6, (4, 2))
  y = np.asarray(augment.affine_warp(jnp.asarray(x), jnp.asarray(m)))
  for n in range(4):
    (m00, m01, m02), (m10, m11, m12) = m[n, :2].astype(np.float64)
    matrix = np.array([[m11, m10], [m01, m00]])
    offset = np.array([m12 + cy - m11 * cy - m10 * cx, m02 + cx - m01 * cy - m00 * cx])
    for c in range(3):
      want = scipy.ndimage.affine_transform(x[n, :, :, c].astype(np.float64), matrix, offset,
                                            order=1, mode='mirror')
      np.testing.assert_allclose(y[n, :, :, c], want, atol=1e-5)


# ---- general geometric transforms: probabilities and distributions -----------------------------

@jax.jit
def _jit_matrices(p, multipliers):
  params = tuple((name, param.default)
                 for name, param in inspect.signature(augment.ada_augment).parameters.items()
                 if param.kind is inspect.Parameter.KEYWORD_ONLY
                 and name not in OFF and name != 'policy')
  return augment._ada_matrices(  # pylint: disable=protected-access
      KEY, (N_STATS, 16, 8, 3), p, multipliers, 'bgc', params)


def _matrices(p, *names):
  """ada_augment's (geometric, colour) matrices for N_STATS images of 16 x 8 x 3 with only
  the transforms `names` on (policy 'bgc', default distribution parameters)."""
  multipliers = jnp.array([float(name in names) for name in OFF])
  return jax.tree_util.tree_map(np.asarray, _jit_matrices(jnp.float32(p), multipliers))


def test_geometric_distributions_and_order():
  """p = 1, h = 16, w = 8. Integer translation t_i, scale s, anisotropic scale a and
  fractional translation t_f act in this order, so the sampling matrix is
  M = T(-t_i) S(1/s) A(1/a, a) T(-t_f * side): t_i, s, a and t_f come back from M's entries.
  t_i = round(U(-1, 1) * 0.125 * side), log2 s, log2 a ~ N(0, 0.2^2), t_f ~ N(0, 0.125^2)."""
  geom, _ = _matrices(1.0, 'xint', 'scale', 'aniso', 'xfrac')
  np.testing.assert_array_equal(geom[:, [0, 1, 2, 2, 2], [1, 0, 0, 1, 2]],
                                np.tile([0, 0, 0, 0, 1], (N_STATS, 1)))
  log2_s = -0.5 * np.log2(geom[:, 0, 0] * geom[:, 1, 1])
  log2_a = 0.5 * np.log2(geom[:, 1, 1] / geom[:, 0, 0])
  geom_f, _ = _matrices(1.0, 'scale', 'aniso', 'xfrac')  # The same draws without t_i.
  t_i = geom_f[:, :2, 2] - geom[:, :2, 2]  # (x, y).
  np.testing.assert_allclose(t_i, np.round(t_i), atol=1e-5)  # Blits act first: whole pixels.
  for axis, side in enumerate((8, 16)):
    assert set(np.round(t_i[:, axis]).astype(int)) == set(range(-side // 8, side // 8 + 1))
  t_x = -geom_f[:, 0, 2] / geom_f[:, 0, 0] / 8
  t_y = -geom_f[:, 1, 2] / geom_f[:, 1, 1] / 16
  for values, std in ((log2_s, 0.2), (log2_a, 0.2), (t_x, 0.125), (t_y, 0.125)):
    np.testing.assert_allclose(values.std(), std, rtol=0.05)
    assert abs(values.mean()) < 3 * std / math.sqrt(N_STATS)


def test_colour_order_brightness_then_contrast():
  """C = diag(c) T(b): out = c (x + b), so C[:3, 3] / c = b ~ N(0, 0.2^2) (c b: 12% wider)."""
  _, colour = _matrices(1.0, 'brightness', 'contrast')
  c = colour[:, 0, 0]
  np.testing.assert_allclose(colour[:, :3, :3], c[:, None, None] * np.eye(3), atol=1e-7)
  b = colour[:, :3, 3] / c[:, None]
  np.testing.assert_allclose(b, np.broadcast_to(b[:, :1], b.shape), atol=1e-6)
  np.testing.assert_allclose(b[:, 0].std(), 0.2, rtol=0.05)


def test_rotation_probability_is_p_and_matrices_are_rotations():
  """Pre- and post-rotation each with 1 - sqrt(1 - p): P(any rotation) = p."""
  geom, _ = _matrices(0.3, 'rotate')
  r = geom[:, :2, :2]
  np.testing.assert_allclose(r @ r.transpose(0, 2, 1), np.tile(np.eye(2), (N_STATS, 1, 1)),
                             atol=1e-6)
  np.testing.assert_allclose(np.linalg.det(r), 1, atol=1e-6)
  np.testing.assert_array_equal(geom[:, :, 2], np.tile([0, 0, 1], (N_STATS, 1)))
  rotated = ~np.all(geom == np.eye(3), axis=(1, 2))
  _within_3se(rotated.sum(), N_STATS, 0.3)


# ---- colour ----------------------------------------------------------------------------------

def test_brightness_adds_a_per_example_constant_of_std_brightness_std_with_probability_p():
  x = np.asarray(_images(N_STATS, 4, 4, 3))
  d = _run(x, 1.0, **_only('brightness')) - x
  np.testing.assert_allclose(d, np.broadcast_to(d[:, :1, :1, :1], d.shape), atol=1e-6)
  np.testing.assert_allclose(d[:, 0, 0, 0].std(), 0.2, rtol=0.05)
  assert abs(d[:, 0, 0, 0].mean()) < 3 * 0.2 / math.sqrt(N_STATS)
  changed = np.any(_run(x, 0.3, **_only('brightness')) != x, axis=(1, 2, 3))
  _within_3se(changed.sum(), N_STATS, 0.3)


def test_contrast_scales_about_mid_grey_zero_by_a_lognormal():
  """ADA's contrast is scale3d(c): out = c x about 0 (the [-1, 1] mid-grey), so the image
  mean scales by c too (it is not kept, unlike DiffAugment's contrast about the mean)."""
  x = np.asarray(_images(N_STATS, 4, 4, 3))
  y = _run(x, 1.0, **_only('contrast'))
  c = np.sum(y * x, axis=(1, 2, 3)) / np.sum(x * x, axis=(1, 2, 3))  # Least squares y = c x.
  np.testing.assert_allclose(y, c[:, None, None, None] * x, atol=1e-5)
  np.testing.assert_allclose(np.log2(c).std(), 0.5, rtol=0.05)
  assert abs(np.log2(c).mean()) < 3 * 0.5 / math.sqrt(N_STATS)


def test_luma_flip_negates_the_grey_component_for_half_of_the_applied():
  for channels in (1, 3):
    x = np.asarray(_images(N_STATS, 4, 4, channels))
    y = _run(x, 1.0, **_only('lumaflip'))
    # Householder reflection about the grey axis: x - 2 mean_c(x) (C = 1: -x).
    flip = x - 2 * x.mean(axis=-1, keepdims=True)
    same = np.all(np.abs(y - x) < 1e-6, axis=(1, 2, 3))
    flipped = np.all(np.abs(y - flip) < 1e-5, axis=(1, 2, 3))
    assert np.all(same ^ flipped)
    _within_3se(flipped.sum(), N_STATS, 0.5)


def _chroma(x):
  """(grey = channel mean, chroma as complex numbers in an orthonormal basis of the plane
  orthogonal to (1, 1, 1))."""
  e1 = np.array([1, -1, 0]) / np.sqrt(2)
  e2 = np.array([1, 1, -2]) / np.sqrt(6)
  return x.mean(axis=-1), x @ e1 + 1j * (x @ e2)


def test_hue_rotates_and_saturation_scales_the_chroma_keeping_the_grey():
  """Hue then saturation act on the chroma plane as z -> s e^{i theta} z per example, with
  theta ~ U(-pi, pi) and log2 s ~ N(0, 1); the grey component (channel mean) is kept. Grey
  images (C = 1) are unchanged."""
  x = np.asarray(_images(N_STATS, 4, 4, 3))
  y = _run(x, 1.0, **_only('hue', 'saturation'))
  (grey_x, z_x), (grey_y, z_y) = _chroma(x), _chroma(y)
  np.testing.assert_allclose(grey_y, grey_x, atol=1e-5)
  gain = np.sum(z_y * np.conj(z_x), axis=(1, 2)) / np.sum(np.abs(z_x) ** 2, axis=(1, 2))
  np.testing.assert_allclose(z_y, gain[:, None, None] * z_x, atol=1e-5)
  np.testing.assert_allclose(np.log2(np.abs(gain)).std(), 1.0, rtol=0.05)
  angle = np.angle(gain)  # Uniform on (-pi, pi): std pi / sqrt(3).
  np.testing.assert_allclose(angle.std(), np.pi / np.sqrt(3), rtol=0.05)
  grey = np.asarray(_images(N_STATS, 4, 4, 1))  # The luma flip test's shape.
  np.testing.assert_array_equal(_run(grey, 1.0, **_only('hue', 'saturation')), grey)


def test_hue_rotation_matrix_matches_scipy_rotation():
  theta = np.array([-3.0, -0.4, 0.0, 1.3, np.pi], np.float32)
  axis = np.ones(3) / np.sqrt(3)
  rotation3d = jax.jit(augment._rotation3d, static_argnums=0)  # pylint: disable=protected-access
  got = np.asarray(rotation3d(tuple(axis), jnp.asarray(theta)))
  for n, t in enumerate(theta):
    np.testing.assert_allclose(got[n, :3, :3], Rotation.from_rotvec(axis * t).as_matrix(),
                               atol=1e-6)
    np.testing.assert_array_equal(got[n, 3], [0, 0, 0, 1])
    np.testing.assert_array_equal(got[n, :3, 3], [0, 0, 0])


# ---- the controller ------------------------------------------------------------------------

def test_ada_adjust_steps_by_batch_over_speed_towards_the_target_and_clips():
  adjust = jax.jit(functools.partial(augment.ada_adjust, batch_images=64,
                                     speed_images=100_000))
  np.testing.assert_allclose(adjust(0.5, 0.8), 0.5 + 64 / 100_000, rtol=1e-6)  # Overfits: up.
  np.testing.assert_allclose(adjust(0.5, 0.2), 0.5 - 64 / 100_000, rtol=1e-6)  # Down.
  np.testing.assert_allclose(adjust(0.5, 0.6), 0.5)  # At the target: unchanged.
  assert float(adjust(0.0, -1.0)) == 0.0 and float(adjust(1.0, 1.0)) == 1.0  # Clipped.
  np.testing.assert_allclose(augment.ada_adjust(0.2, 0.5, target=0.4, batch_images=64,
                                                speed_images=100_000), 0.2 + 64e-5, rtol=1e-6)
  # 0 -> 1 in speed_images images: 4 adjustments of 2,500 images at speed 10,000.
  p = 0.0
  for _ in range(4):
    assert float(p) < 1.0
    p = augment.ada_adjust(p, 0.9, batch_images=2500, speed_images=10_000)
  assert float(p) == 1.0
  with pytest.raises(ValueError, match='batch_images'):
    augment.ada_adjust(0.5, 0.7, batch_images=0)
  with pytest.raises(ValueError, match='scalar'):
    augment.ada_adjust(0.5, jnp.ones(3), batch_images=8)


def test_ada_rv_is_the_papers_validation_heuristic():
  """r_v = (E[D_train] - E[D_val]) / (E[D_train] - E[D_gen]), numpy on the same numbers; 0
  where D does not score its training images above generated ones."""
  rng = np.random.default_rng(3)
  t, v, g = rng.normal(size=(3, 50))
  got = np.asarray(jax.jit(jax.vmap(augment.ada_rv))(t, v, g))
  want = np.where(t > g, (t - v) / np.where(t > g, t - g, 1.0), 0.0)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert float(augment.ada_rv(0.2, 0.2, -0.2)) == 0.0  # Held-out scored like training: 0.
  assert float(augment.ada_rv(0.2, -0.2, -0.2)) == pytest.approx(1.0)  # Like generated: 1.
  assert float(augment.ada_rv(0.2, 0.0, -0.2)) == pytest.approx(0.5)
  assert float(augment.ada_rv(-0.1, -0.5, 0.3)) == 0.0  # No separation: nothing to overfit.
  # p rises above the target and falls below it, as with r_t.
  up = augment.ada_adjust(0.5, augment.ada_rv(0.2, -0.1, -0.2), batch_images=32,
                          speed_images=1000)
  down = augment.ada_adjust(0.5, augment.ada_rv(0.2, 0.1, -0.2), batch_images=32,
                            speed_images=1000)
  np.testing.assert_allclose([up, down], [0.532, 0.468], rtol=1e-6)


# ---- errors ----------------------------------------------------------------------------------

def test_check_ada_options_and_bad_inputs():
  augment.check_ada_options(policy='bg', scale_std=0.0, target=0.6, speed_images=500_000,
                            xflip=0.5)  # Valid: augment and controller options in one dict.
  with pytest.raises(ValueError, match='saturation_std'):  # Lists the valid options.
    augment.check_ada_options(saturation_sd=1.0)
  with pytest.raises(ValueError, match="'bgc'"):
    augment.check_ada_options(policy='bgx')
  with pytest.raises(ValueError, match='enables no transform'):
    augment.check_ada_options(policy='')
  with pytest.raises(ValueError, match='scale_std.*>= 0'):
    augment.check_ada_options(scale_std=-0.1)
  with pytest.raises(ValueError, match='xflip.*probability multiplier'):
    augment.check_ada_options(xflip=-1)
  with pytest.raises(ValueError, match=r'target.*\[-1, 1\]'):
    augment.check_ada_options(target=1.5)
  with pytest.raises(ValueError, match='speed_images'):
    augment.check_ada_options(speed_images=0)
  augment.check_ada_options(heuristic='rv', validation_split='train[300:]', target=1.5)
  augment.check_ada_options(heuristic='rv', validation_split='train[300:]', target=-0.5)
  with pytest.raises(ValueError, match=r"heuristic.*\['rt', 'rv'\]"):
    augment.check_ada_options(heuristic='r_v')
  with pytest.raises(ValueError, match='validation_split'):  # 'rv' needs held-out images.
    augment.check_ada_options(heuristic='rv')
  with pytest.raises(ValueError, match='split name string'):
    augment.check_ada_options(validation_split=3)
  with pytest.raises(ValueError, match='number'):
    augment.check_ada_options(hue_max='1')
  with pytest.raises(ValueError, match="'bgc'"):  # ada_augment checks its options too.
    augment.ada_augment(KEY, _images(2, 4, 4, 3), 0.5, policy='bgf')
  with pytest.raises(ValueError, match='C = 1 .* or 3'):
    augment.ada_augment(KEY, _images(2, 4, 4, 2), 0.5)
  with pytest.raises(ValueError, match='N, H, W, C'):
    augment.ada_augment(KEY, jnp.zeros((4, 4, 3)), 0.5)
  with pytest.raises(ValueError, match='2x2'):
    augment.ada_augment(KEY, jnp.zeros((2, 1, 4, 3)), 0.5)
  with pytest.raises(ValueError, match='scalar'):
    augment.ada_augment(KEY, _images(2, 4, 4, 3), jnp.full((2,), 0.5))
  with pytest.raises(ValueError, match=r'\[0, 1\]'):
    augment.ada_augment(KEY, _images(2, 4, 4, 3), 1.5)
  with pytest.raises(ValueError, match=r'\(2, 3, 3\)'):
    augment.affine_warp(_images(2, 4, 4, 3), jnp.zeros((2, 2, 3)))
