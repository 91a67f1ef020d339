"""Frechet distance between Gaussians fitted to features (FID; Heusel et al. 2017).

  d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}).

tr((S1 S2)^{1/2}) is the sum of the square roots of the eigenvalues of S1 S2, which
equal those of the symmetric PSD matrix S1^{1/2} S2 S1^{1/2}; two symmetric `eigh`
calls therefore give it without a general (non-symmetric) matrix square root, which
JAX lacks on accelerators. Tiny negative eigenvalues from round-off are clipped to 0.
Computed in the inputs' dtype: float32 by default, float64 under `jax.enable_x64`.
"""

import jax
import jax.numpy as jnp


def _check_features(features, name='features'):
  if features.ndim != 2:
    raise ValueError(f'{name} must be a 2-D array (num_samples, feature_dim); got shape '
                     f'{features.shape}. Flatten or pool the features first.')
  if features.shape[0] < 2:
    raise ValueError(f'{name} needs at least 2 samples to estimate a covariance; got '
                     f'{features.shape[0]}. Pass more samples (FID is usually computed on '
                     f'10k-50k).')


@jax.jit
def feature_statistics(features):
  """Mean (D,) and unbiased covariance (D, D) of features (N, D), as np.cov(rowvar=False)."""
  _check_features(features)
  features = jnp.asarray(features)
  if not jnp.issubdtype(features.dtype, jnp.floating):
    features = features.astype(jnp.float32)
  mu = jnp.mean(features, axis=0)
  centered = features - mu
  sigma = centered.T @ centered / (features.shape[0] - 1)
  return mu, sigma


def _psd_sqrt(matrix):
  """Square root of a symmetric PSD matrix via eigh (negative round-off clipped to 0)."""
  w, v = jnp.linalg.eigh(matrix)
  return (v * jnp.sqrt(jnp.clip(w, 0.0))) @ v.T


@jax.jit
def trace_sqrt_product(sigma1, sigma2):
  """tr((S1 S2)^{1/2}) for symmetric PSD S1, S2, via eig(S1^{1/2} S2 S1^{1/2})."""
  sqrt1 = _psd_sqrt(sigma1)
  m = sqrt1 @ sigma2 @ sqrt1
  m = 0.5 * (m + m.T)
  return jnp.sum(jnp.sqrt(jnp.clip(jnp.linalg.eigvalsh(m), 0.0)))


@jax.jit
def frechet_distance(mu1, sigma1, mu2, sigma2):
  """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel 2017)."""
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or mu1.ndim != 1 or (
      sigma1.shape != (mu1.shape[0], mu1.shape[0])):
    raise ValueError(f'Expected mu (D,) and sigma (D, D) of the same D for both; got '
                     f'mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, sigma2 '
                     f'{sigma2.shape}. Compute both with feature_statistics on features '
                     f'from the same extractor.')
  diff = mu1 - mu2
  return (diff @ diff + jnp.trace(sigma1) + jnp.trace(sigma2)
          - 2.0 * trace_sqrt_product(sigma1, sigma2))


def frechet_distance_from_features(features1, features2):
  """FID between two feature sets (N1, D) and (N2, D)."""
  _check_features(features1, 'features1')
  _check_features(features2, 'features2')
  return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))
