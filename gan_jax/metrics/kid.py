"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs").

Unbiased estimate of the squared MMD with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, for subsets X, Y of m samples each:

  MMD^2 = sum_{i != j} k(x_i, x_j) / (m(m-1)) + sum_{i != j} k(y_i, y_j) / (m(m-1))
          - 2 sum_{i, j} k(x_i, y_j) / m^2,

averaged over `num_subsets` random subsets (drawn without replacement within a subset).
Returns the mean and the standard deviation (ddof=0) over subsets.
"""

import functools

import jax
import jax.numpy as jnp


def polynomial_kernel(x, y):
  """k(x, y) = (x.y / d + 1)^3 for all rows of x (n, d) and y (m, d) -> (n, m)."""
  return (x @ y.T / x.shape[-1] + 1.0) ** 3


@jax.jit
def mmd2_unbiased(x, y):
  """Unbiased MMD^2 between equal-size samples x (m, d), y (m, d), polynomial kernel."""
  m = x.shape[0]
  k_xx = polynomial_kernel(x, x)
  k_yy = polynomial_kernel(y, y)
  k_xy = polynomial_kernel(x, y)
  off_diag = lambda k: (jnp.sum(k) - jnp.trace(k)) / (m * (m - 1))
  return off_diag(k_xx) + off_diag(k_yy) - 2.0 * jnp.mean(k_xy)


def kid_subset_indices(key, num_real, num_fake, num_subsets, subset_size):
  """Index arrays (num_subsets, subset_size) into the real and fake features.

  Each subset is drawn without replacement; subsets are independent.
  """
  key_real, key_fake = jax.random.split(key)
  draw = lambda k, n: jax.vmap(
      lambda kk: jax.random.permutation(kk, n)[:subset_size])(jax.random.split(k, num_subsets))
  return draw(key_real, num_real), draw(key_fake, num_fake)


@functools.partial(jax.jit, static_argnames=('num_subsets', 'subset_size'))
def _kid(real, fake, key, num_subsets, subset_size):
  idx_real, idx_fake = kid_subset_indices(key, real.shape[0], fake.shape[0], num_subsets,
                                          subset_size)
  mmds = jax.lax.map(lambda ij: mmd2_unbiased(real[ij[0]], fake[ij[1]]), (idx_real, idx_fake))
  return jnp.mean(mmds), jnp.std(mmds)


def kernel_inception_distance(real_features, fake_features, key, *, num_subsets=100,
                              subset_size=1000):
  """KID: (mean, std) of the unbiased polynomial-kernel MMD^2 over random subsets.

  Args:
    real_features: (N_real, D) features (e.g. Inception pool3).
    fake_features: (N_fake, D) features from the same extractor.
    key: PRNG key choosing the subsets.
    num_subsets: number of subsets averaged (100 as Binkowski et al.).
    subset_size: samples per subset (1000 as Binkowski et al.); at most min(N_real, N_fake).
  """
  if real_features.ndim != 2 or fake_features.ndim != 2 or (
      real_features.shape[1] != fake_features.shape[1]):
    raise ValueError(f'Expected features (N, D) with the same D; got {real_features.shape} '
                     f'and {fake_features.shape}.')
  n = min(real_features.shape[0], fake_features.shape[0])
  if not 2 <= subset_size <= n:
    raise ValueError(f'subset_size={subset_size} must be in [2, min(N_real, N_fake)={n}]. '
                     f'Pass a smaller subset_size or more samples.')
  if num_subsets < 1:
    raise ValueError(f'num_subsets must be >= 1; got {num_subsets}.')
  return _kid(jnp.asarray(real_features), jnp.asarray(fake_features), key, num_subsets,
              subset_size)
