"""Mode-coverage metrics for the 2-D mixture benchmarks (VEEGAN, Srivastava et al. 2017;
PacGAN, Lin et al. 2018).

With modes mu_1..mu_M of std sigma and N generated samples (2,500 in those papers):
  high-quality sample: one within 3 sigma (Euclidean) of its nearest mode;
  modes captured:      modes with at least one sample within 3 sigma;
  high_quality_fraction = #high-quality / N;
  reverse_kl = KL(p_gen || uniform) = sum_m p_m log(p_m M), where p_m is the fraction of the
    high-quality samples whose nearest mode is m. Empty bins contribute 0 (0 log 0 = 0), so a
    generator covering k of M modes evenly scores log(M / k); with no high-quality sample
    p_gen is undefined and reverse_kl is NaN.
Host-side numpy (evaluation, not the train step).
"""

import numpy as np


def kl_to_uniform(counts) -> float:
  """KL(p || uniform) = sum_m p_m log(p_m M) of a histogram of counts (M,) with a positive
  total, p = counts / total, 0 log 0 = 0 (float64; also Stacked MNIST's mode KL)."""
  counts = np.asarray(counts, np.float64)
  p = counts[counts > 0] / counts.sum()
  return float(np.sum(p * np.log(p * counts.shape[0])))


def mode_metrics(samples, modes, std: float) -> dict:
  """Returns modes_captured (int), num_modes, high_quality_fraction, reverse_kl (floats)."""
  samples = np.asarray(samples, np.float64)
  modes = np.asarray(modes, np.float64)
  if samples.ndim != 2 or modes.ndim != 2 or samples.shape[1] != modes.shape[1]:
    raise ValueError(f'mode_metrics needs samples (N, D) and modes (M, D) with the same D; '
                     f'got {samples.shape} and {modes.shape}.')
  if not std > 0:
    raise ValueError(f'std must be positive; got {std}.')
  distances = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=-1)  # (N, M)
  within = distances <= 3.0 * std
  nearest = np.argmin(distances, axis=1)
  high_quality = within[np.arange(samples.shape[0]), nearest]
  counts = np.bincount(nearest[high_quality], minlength=modes.shape[0])
  reverse_kl = kl_to_uniform(counts) if counts.sum() > 0 else float('nan')
  return {
      'modes_captured': int(np.sum(np.any(within, axis=0))),
      'num_modes': int(modes.shape[0]),
      'high_quality_fraction': float(np.mean(high_quality)) if len(samples) else 0.0,
      'reverse_kl': reverse_kl,
  }
