"""Stacked MNIST (dataset.name='stacked_mnist'): three embedded MNIST digits as R, G and B.

The mode-collapse benchmark of the Unrolled GAN (Metz et al. 2017), VEEGAN (Srivastava et
al. 2017) and PacGAN (Lin et al. 2018) papers: example i is an (H, W, 3) image in [-1, 1]
whose channel c is digit image k_ic of the embedded MNIST digits of dataset.split (the 5,000
digits of `gan_jax/data/embedded_mnist.py`, read and resized to dataset.image_size exactly as
`dataset.name='embedded_mnist'` reads them). The index triples k_i = (k_iR, k_iG, k_iB) are
drawn independently and uniformly from that split with `np.random.default_rng(seed)`
(`seed` = load_source's, the run's config.seed), `dataset.stacked_size` of them (PacGAN and
VEEGAN used 128,000). Only the digits (N, H, W, 1) and the index array (stacked_size, 3) are
held; images are composed in `__getitem__`.

The label of example i is its mode, 100 d_R + 10 d_G + d_B with d_c the MNIST class of
channel c's digit: 1,000 modes (num_classes 1000). Unconditional training never reads it;
evaluation counts the modes of generated images with a digit classifier per channel
(`gan_jax/metrics/stacked_modes.py`).
"""

from typing import Sequence

import ml_collections
import numpy as np

from gan_jax.data import sources

NAME = 'stacked_mnist'
NUM_DIGITS = 10
NUM_CHANNELS = 3
NUM_MODES = NUM_DIGITS ** NUM_CHANNELS  # 1,000.


def mode_of(digits) -> np.ndarray:
  """Mode ids 100 d_R + 10 d_G + d_B of digit classes (..., 3) (ints in 0..9)."""
  digits = np.asarray(digits)
  return (100 * digits[..., 0] + 10 * digits[..., 1] + digits[..., 2]).astype(np.int32)


class StackedExamples(Sequence):
  """Example i = {'image': concat(digits[indices[i, 0]], digits[indices[i, 1]],
  digits[indices[i, 2]]) on the channel axis, 'label': mode_of(digit_labels[indices[i]])}.

  `digits` (N, H, W, 1) float32 in [-1, 1] and `digit_labels` (N,) are the split's digits;
  `indices` (length, 3) are positions in them.
  """

  def __init__(self, digits: np.ndarray, digit_labels: np.ndarray, indices: np.ndarray):
    if digits.ndim != 4 or digits.shape[-1] != 1 or digit_labels.shape != digits.shape[:1]:
      raise ValueError(f'Need digits (N, H, W, 1) and one label each; got {digits.shape} and '
                       f'{digit_labels.shape}.')
    if indices.ndim != 2 or indices.shape[1] != NUM_CHANNELS:
      raise ValueError(f'Need index triples (length, 3); got {indices.shape}.')
    self.digits, self.digit_labels, self.indices = digits, digit_labels, indices

  def __len__(self):
    return len(self.indices)

  def __getitem__(self, i):
    k = self.indices[i]
    return {'image': self.digits[k, ..., 0].transpose(1, 2, 0),
            'label': np.int32(mode_of(self.digit_labels[k]))}

  def arrays(self, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images (M, H, W, 3) float32, labels (M,) int32) of examples start..stop-1 at once."""
    k = self.indices[start:stop]  # (M, 3)
    images = np.moveaxis(self.digits[k, ..., 0], 1, -1)  # (M, 3, H, W) -> (M, H, W, 3)
    return images, mode_of(self.digit_labels[k])


def digit_config(cfg: ml_collections.ConfigDict, split: str) -> ml_collections.ConfigDict:
  """The dataset config that reads `split` of the embedded digits as one grey channel, at
  cfg's image_size and data_dir (what each channel of a stacked image is made of)."""
  return ml_collections.ConfigDict(dict(
      name='embedded_mnist', split=split, data_dir=cfg.data_dir, path='',
      examples_per_class=0, image_size=int(cfg.image_size), channels=0, image_key='image',
      label_key='label'))


def load_digits(cfg: ml_collections.ConfigDict, split: str,
                what: str = 'dataset.split') -> tuple[np.ndarray, np.ndarray]:
  """(digits (N, H, W, 1) float32 in [-1, 1], labels (N,) int32) of `split` of the embedded
  MNIST digits, read through gan_jax.data.sources as dataset.name='embedded_mnist' reads them.
  Raises ValueError when `split` holds no digit (`what` names the field to fix)."""
  from gan_jax.data import embedded_mnist  # pylint: disable=g-import-not-at-top
  from gan_jax.data import paired  # pylint: disable=g-import-not-at-top
  total = embedded_mnist.prepare(cfg.data_dir).info.splits['train'].num_examples
  if not paired.split_indices(split, total, what).size:
    raise ValueError(f'{what}={split!r} holds no digit of the {total} embedded MNIST digits; '
                     "use a non-empty slice of 'train', e.g. 'train' or 'train[:4000]'.")
  examples = sources._load_tfds(digit_config(cfg, split)).examples  # pylint: disable=protected-access
  return np.asarray(examples.data, np.float32), np.asarray(examples.labels, np.int32)


def load(cfg: ml_collections.ConfigDict, seed: int = 0) -> sources.Source:
  """Stacked MNIST of cfg.split, cfg.stacked_size examples, index triples from `seed`."""
  size = int(cfg.stacked_size)
  if size <= 0:
    raise ValueError(f'dataset.stacked_size={size}: Stacked MNIST needs a positive number of '
                     'stacked images; set --config.dataset.stacked_size (PacGAN/VEEGAN: 128000).')
  if cfg.channels not in (0, NUM_CHANNELS):
    raise ValueError(f'dataset.channels={cfg.channels}: Stacked MNIST images have 3 channels '
                     '(one digit each); use 0 or 3.')
  digits, labels = load_digits(cfg, cfg.split)
  present = np.unique(labels)
  if present.size != NUM_DIGITS:
    raise ValueError(f'dataset.split={cfg.split!r} holds digits of only {present.size} classes '
                     f'({present.tolist()}); Stacked MNIST needs all 10 for its 1,000 modes. '
                     "Use a larger slice of 'train'.")
  indices = np.random.default_rng(seed).integers(0, len(digits), size=(size, NUM_CHANNELS),
                                                 dtype=np.int32)
  examples = StackedExamples(digits, labels, indices)
  return sources.Source(
      examples, (*digits.shape[1:3], NUM_CHANNELS), NUM_MODES,
      f'stacked_mnist: {size} images, channels R, G, B = 3 embedded MNIST digits of '
      f'{cfg.split} ({len(digits)} digits) drawn uniformly (seed {seed}); label = mode '
      f'100 d_R + 10 d_G + d_B (1,000 modes)')
