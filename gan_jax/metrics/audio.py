"""Spectrogram features and the spectrogram classifier of the audio metrics.

`log_spectrogram(waveforms, frame_length, frame_step, num_bins)`: log(|STFT| + LOG_FLOOR) of
(N, L) or (N, L, 1) waveforms, in jnp (inside the classifier, so generated clips are scored
on device): frames t * frame_step .. + frame_length (no padding; floor((L - frame_length) /
frame_step) + 1 frames), a periodic Hann window, the one-sided DFT scaled by 1 / sum(window)
(scipy.signal.stft's 'spectrum' scaling: a full-scale sine peaks at 0.5), the first num_bins
frequency bins. Output (N, frames, num_bins).

`SpectrogramClassifier`: waveform -> log spectrogram (frames, bins, 1) -> 3 x [3x3 conv
(width, 2 width, 4 width), ReLU, 2x2 average pool] -> flatten -> Dense(feature_dim), ReLU
(the features) -> Dense(num_classes) (the logits). The flatten keeps where energy lies in
frequency (pitch), which a global pool would lose. A `(features, logits)` module, so the
classifier metrics (gan_jax/metrics/classifier.py: train_classifier, classifier_features,
Frechet distance, score, histogram) take it as `module=`.
"""

from typing import Optional

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.metrics import classifier as classifier_lib

LOG_FLOOR = 1e-3


def num_frames(length: int, frame_length: int, frame_step: int) -> int:
  if frame_length < 2 or frame_step < 1 or frame_length > length:
    raise ValueError(f'Spectrogram frames of {frame_length} samples every {frame_step} need '
                     f'2 <= frame_length <= the clip length ({length}) and frame_step >= 1; '
                     'set eval.audio.frame_length / frame_step.')
  return (length - frame_length) // frame_step + 1


def num_bins(frame_length: int, sample_rate: int, max_frequency: float) -> int:
  """Frequency bins of the one-sided DFT up to max_frequency Hz (0 = all, to Nyquist)."""
  total = frame_length // 2 + 1
  if not max_frequency:
    return total
  return int(min(total, np.floor(max_frequency * frame_length / sample_rate) + 1))


def hann(frame_length: int) -> np.ndarray:
  """Periodic Hann window (scipy.signal.get_window('hann', n), the STFT's)."""
  return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_length) / frame_length)


def log_spectrogram(waveforms, frame_length: int, frame_step: int,
                    bins: Optional[int] = None) -> jnp.ndarray:
  """log(|STFT| + LOG_FLOOR) (N, frames, bins) of waveforms (N, L) or (N, L, 1)."""
  x = jnp.asarray(waveforms, jnp.float32)
  if x.ndim == 3:
    if x.shape[-1] != 1:
      raise ValueError(f'Expected mono waveforms (N, L, 1); got shape {x.shape}.')
    x = x[..., 0]
  if x.ndim != 2:
    raise ValueError(f'Expected waveforms (N, L) or (N, L, 1); got shape {x.shape}.')
  frames = num_frames(x.shape[1], frame_length, frame_step)
  index = (np.arange(frames)[:, None] * frame_step + np.arange(frame_length)[None, :])
  window = hann(frame_length)
  spectrum = jnp.fft.rfft(x[:, index] * jnp.asarray(window / window.sum(), jnp.float32), axis=-1)
  bins = bins or frame_length // 2 + 1
  return jnp.log(jnp.abs(spectrum[..., :bins]) + LOG_FLOOR)


class SpectrogramClassifier(nn.Module):
  """Waveforms (N, L, 1) -> (features (N, feature_dim), logits (N, num_classes))."""
  num_classes: int
  frame_length: int = 512
  frame_step: int = 256
  bins: int = 257
  width: int = 16
  feature_dim: int = 128

  @nn.compact
  def __call__(self, x):
    s = log_spectrogram(x, self.frame_length, self.frame_step, self.bins)[..., None]
    for i in range(3):
      s = nn.relu(classifier_lib.PatchConv3x3(self.width * 2 ** i, name=f'conv{i}')(s))
      s = nn.avg_pool(s, (2, 2), (2, 2))
    features = nn.relu(nn.Dense(self.feature_dim, name='features')(s.reshape(s.shape[0], -1)))
    return features, nn.Dense(self.num_classes, name='logits')(features)


def classifier_module(config: ml_collections.ConfigDict, num_classes: int,
                      length: int) -> SpectrogramClassifier:
  """The classifier of a run's eval.audio fields, for clips of `length` samples."""
  acfg = config.eval.audio
  frame_length, frame_step = int(acfg.frame_length), int(acfg.frame_step)
  frames = num_frames(length, frame_length, frame_step)
  bins = num_bins(frame_length, int(config.dataset.audio.sample_rate),
                  float(acfg.max_frequency))
  if frames < 8 or bins < 8:
    raise ValueError(f'The spectrogram ({frames} frames x {bins} bins) is too small for the '
                     'classifier (>= 8 x 8): shorten eval.audio.frame_step / frame_length or '
                     'raise eval.audio.max_frequency.')
  return SpectrogramClassifier(num_classes, frame_length, frame_step, bins,
                               int(acfg.classifier_width), int(acfg.feature_dim))

