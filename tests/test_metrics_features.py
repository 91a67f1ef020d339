"""Feature-space metrics against independent numpy/scipy/sklearn references.

Tolerances (float32 JAX vs float64 references):
- FID: rtol 1e-3 (scipy.linalg.sqrtm-based reference computed as the reference FID code
  does); rtol 1e-9 when both run in float64 (jax.enable_x64).
- KID (MMD^2 per subset, mean, std): rtol 1e-4 (atol 1e-6).
- Inception Score: rtol 1e-5.
- Precision/recall/density/coverage: exact counts expected; we allow one sample of slack
  (1/M) for float32 round-off of points lying on a ball's boundary.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist
from sklearn.neighbors import NearestNeighbors

from gan_jax.metrics import frechet, inception_score, kid, precision_recall


def _features(seed, n, d, shift=0.0, scale=1.0):
  rng = np.random.default_rng(seed)
  mix = rng.normal(size=(d, d)) / np.sqrt(d)
  return (rng.normal(size=(n, d)) @ mix * scale + shift).astype(np.float32)


def _reference_fid(f1, f2):
  """FID as the reference implementation computes it: scipy sqrtm on sigma1 @ sigma2."""
  f1, f2 = f1.astype(np.float64), f2.astype(np.float64)
  mu1, mu2 = f1.mean(0), f2.mean(0)
  s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1.dot(s2))
  if np.iscomplexobj(covmean):
    covmean = covmean.real
  diff = mu1 - mu2
  return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


@pytest.mark.parametrize('n,d', [(500, 64), (300, 128)])
def test_fid_matches_scipy_sqrtm(n, d):
  f1 = _features(0, n, d)
  f2 = _features(1, n, d, shift=0.3, scale=1.2)
  mu, sigma = frechet.feature_statistics(jnp.asarray(f1))
  chex.assert_shape((mu, sigma), [(d,), (d, d)])
  chex.assert_trees_all_close(np.asarray(sigma), np.cov(f1, rowvar=False), rtol=1e-4, atol=1e-5)
  got = float(frechet.frechet_distance_from_features(jnp.asarray(f1), jnp.asarray(f2)))
  np.testing.assert_allclose(got, _reference_fid(f1, f2), rtol=1e-3)


def test_fid_float64_and_rank_deficient():
  # More dimensions than samples: singular covariances (sqrtm's hard case).
  f1, f2 = _features(2, 40, 64), _features(3, 40, 64, shift=0.1)
  with jax.enable_x64(True):
    got = float(frechet.frechet_distance_from_features(jnp.asarray(f1, jnp.float64),
                                                       jnp.asarray(f2, jnp.float64)))
  np.testing.assert_allclose(got, _reference_fid(f1, f2), rtol=1e-6)


def test_fid_identical_is_zero_and_errors():
  f = jnp.asarray(_features(4, 200, 16))
  assert abs(float(frechet.frechet_distance_from_features(f, f))) < 1e-3
  with pytest.raises(ValueError, match='2-D'):
    frechet.feature_statistics(jnp.zeros((3, 4, 5)))
  mu, s = frechet.feature_statistics(f)
  with pytest.raises(ValueError, match='same D'):
    frechet.frechet_distance(mu, s, mu[:3], s[:3, :3])


def _reference_mmd2(x, y):
  x, y = x.astype(np.float64), y.astype(np.float64)
  d, m = x.shape[1], x.shape[0]
  k = lambda a, b: (a @ b.T / d + 1) ** 3
  kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
  return ((kxx.sum() - np.diag(kxx).sum()) / (m * (m - 1))
          + (kyy.sum() - np.diag(kyy).sum()) / (m * (m - 1)) - 2 * kxy.mean())


def test_kid_matches_numpy():
  real, fake = _features(5, 300, 32), _features(6, 250, 32, shift=0.2)
  key = jax.random.key(0)
  mean, std = kid.kernel_inception_distance(real, fake, key, num_subsets=7, subset_size=100)
  idx_r, idx_f = kid.kid_subset_indices(key, 300, 250, 7, 100)
  idx_r, idx_f = np.asarray(idx_r), np.asarray(idx_f)
  for row in idx_r:
    assert len(set(row.tolist())) == 100  # without replacement within a subset
  ref = np.array([_reference_mmd2(real[i], fake[j]) for i, j in zip(idx_r, idx_f)])
  np.testing.assert_allclose(float(mean), ref.mean(), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(std), ref.std(), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(kid.mmd2_unbiased(jnp.asarray(real[:100]),
                                                     jnp.asarray(fake[:100]))),
                             _reference_mmd2(real[:100], fake[:100]), rtol=1e-4, atol=1e-6)
  with pytest.raises(ValueError, match='subset_size'):
    kid.kernel_inception_distance(real, fake, key, subset_size=1000)


def _reference_is(probs, splits):
  probs = probs.astype(np.float64)
  part = probs.shape[0] // splits
  scores = []
  for k in range(splits):
    p = probs[k * part:(k + 1) * part]
    py = p.mean(0, keepdims=True)
    kl = (p * (np.log(p) - np.log(py))).sum(1)
    scores.append(np.exp(kl.mean()))
  return np.mean(scores), np.std(scores)


def test_inception_score_matches_numpy():
  logits = np.random.default_rng(7).normal(size=(103, 20)).astype(np.float32) * 3
  probs = scipy.special.softmax(logits.astype(np.float64), axis=1)
  ref = _reference_is(probs, 5)
  got = inception_score.inception_score(jnp.asarray(logits), splits=5)
  chex.assert_trees_all_close(tuple(map(float, got)), ref, rtol=1e-5)
  got_p = inception_score.inception_score(jnp.asarray(probs, jnp.float32), splits=5,
                                          from_logits=False)
  chex.assert_trees_all_close(tuple(map(float, got_p)), ref, rtol=1e-5)
  # One-hot, uniform over classes: IS = number of classes.
  onehot = jnp.eye(10)[jnp.arange(100) % 10]
  np.testing.assert_allclose(float(inception_score.inception_score(
      onehot, splits=1, from_logits=False)[0]), 10.0, rtol=1e-5)
  with pytest.raises(ValueError, match='splits'):
    inception_score.inception_score(jnp.zeros((3, 4)), splits=10)


def _reference_prdc(real, fake, k):
  def radii(x):
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, k]  # column 0 is the point itself
  r_real, r_fake = radii(real), radii(fake)
  d_rf = cdist(real, fake)
  precision = (d_rf <= r_real[:, None]).any(axis=0).mean()
  recall = (d_rf <= r_fake[None, :]).any(axis=1).mean()
  density = (d_rf <= r_real[:, None]).sum() / (k * fake.shape[0])
  coverage = (d_rf.min(axis=1) < r_real).mean()
  return precision, recall, density, coverage


def test_precision_recall_density_coverage_match_sklearn():
  real = _features(8, 400, 16).astype(np.float64)
  fake = _features(9, 300, 16, shift=0.2).astype(np.float64)
  p, r, d, c = _reference_prdc(real, fake, 3)
  # batch_size 64 does not divide 400 or 300: exercises the remainder block.
  gp, gr = precision_recall.precision_recall(real.astype(np.float32), fake.astype(np.float32),
                                             k=3, batch_size=64)
  gd, gc = precision_recall.density_coverage(real.astype(np.float32), fake.astype(np.float32),
                                             k=3, batch_size=64)
  np.testing.assert_allclose(float(gp), p, atol=1 / 300 + 1e-9)
  np.testing.assert_allclose(float(gr), r, atol=1 / 400 + 1e-9)
  np.testing.assert_allclose(float(gd), d, atol=1 / (3 * 300) + 1e-9)
  np.testing.assert_allclose(float(gc), c, atol=1 / 400 + 1e-9)
  assert 0.1 < p < 0.95 and 0.1 < r < 0.95  # the data is not a degenerate case
  rk = np.asarray(precision_recall.knn_sq_radii(jnp.asarray(real, jnp.float32), k=3))
  np.testing.assert_allclose(np.sqrt(rk), NearestNeighbors(n_neighbors=4).fit(real).kneighbors(
      real)[0][:, 3], rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match='more than'):
    precision_recall.precision_recall(real[:3], fake, k=3)
