"""Mode counting on Stacked MNIST (Metz et al. 2017, Unrolled GAN; Srivastava et al. 2017,
VEEGAN; Lin et al. 2018, PacGAN).

A Stacked MNIST image (H, W, 3) holds one digit per channel; its mode is
100 d_R + 10 d_G + d_B (1,000 modes), d_c the class a digit classifier assigns to channel c
fed on its own as a one-channel digit image. Over N generated samples with mode histogram
n_m (p_m = n_m / N):
  modes_covered = #{m : n_m >= 1};
  kl            = KL(p || uniform over the M = 1,000 modes) = sum_m p_m log(p_m M), with
                  0 log 0 = 0 (the definition of the VEEGAN and PacGAN code): 0 when every
                  mode is equally frequent, log(M / k) for k modes equally, log M for one.
Even an exact sampler of the uniform modes scores kl > 0 on a finite sample (about
(M - 1) / (2N) = 0.019 for N = 26,000): the real-data floor measures it.

`mode_ids`, `mode_histogram` and `mode_metrics` are host-side numpy; `classify_channels` (and
`classify_digits`) run the project's digit classifier (gan_jax/metrics/classifier.py); `digit_classifier_config`
says which classifier that is: one trained on single grey digits of the embedded MNIST split
eval.classifier_split (default dataset.split), never on stacked images.
"""

import ml_collections
import numpy as np

from gan_jax.data import stacked
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import modes as modes_lib

NUM_MODES = stacked.NUM_MODES
KL_DEFINITION = ('KL(p_gen || uniform) = sum_m p_m log(p_m * num_modes) over the mode '
                 'histogram of the samples, 0 log 0 = 0 (VEEGAN / PacGAN)')


def mode_ids(digits) -> np.ndarray:
  """(N,) mode ids 100 d_R + 10 d_G + d_B of per-channel digit classes (N, 3) in 0..9."""
  digits = np.asarray(digits)
  if digits.ndim != 2 or digits.shape[1] != stacked.NUM_CHANNELS:
    raise ValueError(f'Need one digit class per channel, (N, 3); got shape {digits.shape}.')
  if not np.issubdtype(digits.dtype, np.integer):
    raise ValueError(f'Digit classes must be integers; got dtype {digits.dtype}.')
  if digits.size and (digits.min() < 0 or digits.max() >= stacked.NUM_DIGITS):
    raise ValueError(f'Digit classes must be in 0..9; got values in '
                     f'[{digits.min()}, {digits.max()}].')
  return stacked.mode_of(digits)


def digits_of(mode_ids_) -> np.ndarray:
  """(N, 3) digit classes (d_R, d_G, d_B) of mode ids (N,) in 0..999 (inverse of mode_ids)."""
  m = np.asarray(mode_ids_, np.int64)
  return np.stack([m // 100, m // 10 % 10, m % 10], axis=-1).astype(np.int32)


def mode_histogram(mode_ids_, num_modes: int = NUM_MODES) -> np.ndarray:
  """(num_modes,) int64 sample count of each mode."""
  m = np.asarray(mode_ids_)
  if m.ndim != 1 or not np.issubdtype(m.dtype, np.integer):
    raise ValueError(f'Need integer mode ids (N,); got shape {m.shape}, dtype {m.dtype}.')
  if m.size and (m.min() < 0 or m.max() >= num_modes):
    raise ValueError(f'Mode ids must be in [0, {num_modes}); got values in '
                     f'[{m.min()}, {m.max()}].')
  return np.bincount(m, minlength=num_modes).astype(np.int64)


def mode_metrics(mode_ids_, num_modes: int = NUM_MODES) -> dict:
  """{'modes_covered': int, 'kl': float, 'num_modes': int, 'num_samples': int,
  'uniform_expected_modes': float, 'mode_histogram': list of num_modes ints} of mode ids
  (N,), N >= 1 (module docstring). uniform_expected_modes is what an exactly uniform
  generator covers on average with the same N samples, num_modes (1 - (1 - 1/num_modes)^N):
  865 of 1,000 at N = 2,000, 1,000.0 at the papers' 26,000, so a count from few samples
  reads against it, not against num_modes."""
  counts = mode_histogram(mode_ids_, num_modes)
  n = int(counts.sum())
  if n == 0:
    raise ValueError('mode_metrics needs at least one sample.')
  return {'modes_covered': int(np.count_nonzero(counts)),
          'kl': modes_lib.kl_to_uniform(counts),
          'num_modes': int(num_modes),
          'num_samples': n,
          'uniform_expected_modes': float(num_modes * -np.expm1(n * np.log1p(-1 / num_modes))),
          'mode_histogram': [int(c) for c in counts]}


def classify_digits(variables, digits, *, batch_size: int = 1000) -> np.ndarray:
  """(N,) int32 argmax classes of grey digit images (N, H, W, 1) in [-1, 1]. The images are
  padded to whole batches of batch_size, so every call runs one compiled shape."""
  digits = np.asarray(digits, np.float32)
  if digits.ndim != 4 or digits.shape[-1] != 1:
    raise ValueError(f'Need grey digit images (N, H, W, 1); got shape {digits.shape}.')
  n = digits.shape[0]
  padded = np.concatenate([digits, np.zeros(((-n) % batch_size, *digits.shape[1:]),
                                            np.float32)])
  logits = np.asarray(classifier_lib.classifier_features(variables, padded,
                                                         batch_size=batch_size)[1])
  if logits.shape[-1] != stacked.NUM_DIGITS:
    raise ValueError(f'The classifier has {logits.shape[-1]} classes; counting Stacked MNIST '
                     'modes needs a 10-class digit classifier (digit_classifier_config).')
  return np.argmax(logits[:n], -1).astype(np.int32)


def classify_channels(variables, images, *, batch_size: int = 1000) -> np.ndarray:
  """(N, 3) int32 digit classes of images (N, H, W, 3) in [-1, 1]: the classifier's argmax
  on each channel fed as a one-channel (H, W, 1) digit image."""
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] != stacked.NUM_CHANNELS:
    raise ValueError(f'Need Stacked MNIST images (N, H, W, 3); got shape {images.shape}.')
  n, h, w, _ = images.shape
  channels = np.moveaxis(images, -1, 1).reshape(n * stacked.NUM_CHANNELS, h, w, 1)
  return classify_digits(variables, channels, batch_size=batch_size).reshape(
      n, stacked.NUM_CHANNELS)


def digit_classifier_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of a stacked_mnist run's config whose dataset is the single grey embedded MNIST
  digits of the classifier split (eval.classifier_split, default dataset.split), at the run's
  image_size: `evaluation.get_classifier` of it trains (or loads the cached) 10-class digit
  classifier, the same one an embedded_mnist run of that split uses."""
  if config.dataset.name != stacked.NAME:
    raise ValueError(f'digit_classifier_config is for dataset.name={stacked.NAME!r}; got '
                     f'{config.dataset.name!r}.')
  out = ml_collections.ConfigDict(config.to_dict())
  split = config.eval.classifier_split or config.dataset.split
  out.dataset.update(stacked.digit_config(config.dataset, split))
  out.dataset.conditional = False
  out.eval.classifier_split = ''
  return out
