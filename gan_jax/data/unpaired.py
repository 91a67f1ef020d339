"""Two unpaired image domains for CycleGAN: domain A is G's 'condition', domain B the 'image'.

* 'unpaired_digits' (offline): A = the 1,797 UCI 8x8 handwritten digits shipped with
  scikit-learn (`sklearn.datasets.load_digits`, values 0..16; Alpaydin & Kaynak 1998),
  split by dataset.domain_a_split (a TFDS-style slice of 'train', e.g. 'train[:1500]'),
  scaled to [0, 1], upsampled to 20x20 (PIL bicubic, clipped) and centred on a black 28x28
  canvas like MNIST's 20x20-in-28x28 framing; B = the embedded MNIST digits of
  dataset.split. Both are then padded with -1 to dataset.image_size (digits unscaled).
* 'cycle_gan/<name>' (TFDS, e.g. cycle_gan/horse2zebra, prepared as array_record): A =
  split dataset.domain_a_split ('trainA', 'testA'), B = dataset.split ('trainB', 'testB'),
  read, resized (dataset.image_size) and reported missing as every TFDS dataset is
  (gan_jax.data.sources). Its labels are the domain labels (A = 0, B = 1).

Example i = {'image': B[i % len_B], 'label', 'condition': A[perm(i) % len_A],
'condition_label'}, perm a permutation of range(max(len_A, len_B)) drawn with the load
seed, so A and B are shuffled independently; len = max(len_A, len_B). Class labels are kept
on both sides (training never reads them; evaluation checks class preservation). The two
domains on their own: `source.examples.domain_a`, `.domain_b` (each a sequence of
{'image', 'label'}). Held-out data: `paired.held_out_config(dataset_config)`.
"""

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.data import paired
from gan_jax.data import sources

UNPAIRED_TFDS_PREFIX = 'cycle_gan/'
UCI_SIDE, UCI_UPSAMPLED = 8, 20


def is_unpaired(name: str) -> bool:
  return name == 'unpaired_digits' or name.startswith(UNPAIRED_TFDS_PREFIX)


class UnpairedExamples(Sequence):
  """Example i pairs domain B's example i % len_B with domain A's perm[i] % len_A."""

  def __init__(self, domain_a: Sequence, domain_b: Sequence, seed: int):
    if not len(domain_a) or not len(domain_b):
      raise ValueError(f'An unpaired dataset needs both domains; got {len(domain_a)} A and '
                       f'{len(domain_b)} B examples.')
    self.domain_a, self.domain_b = domain_a, domain_b
    self.length = max(len(domain_a), len(domain_b))
    self.perm = np.random.default_rng(seed).permutation(self.length)

  def __len__(self):
    return self.length

  def __getitem__(self, i):
    a = self.domain_a[int(self.perm[i]) % len(self.domain_a)]
    b = self.domain_b[int(i) % len(self.domain_b)]
    return {'image': b['image'], 'label': np.int32(b['label']), 'condition': a['image'],
            'condition_label': np.int32(a['label'])}


def uci_digit_pixels(split: str) -> tuple[np.ndarray, np.ndarray]:
  """UCI 8x8 digits of `split` as scikit-learn has them: (N, 8, 8) floats 0..16, labels."""
  try:
    from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("'unpaired_digits' needs scikit-learn: "
                      "pip install 'scikit-learn>=1.3'.") from e
  digits = load_digits()
  indices = paired.split_indices(split, len(digits.images), 'dataset.domain_a_split')
  return digits.images[indices].astype(np.float32), digits.target[indices].astype(np.int32)


def uci_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
  """UCI 8x8 digits of `split`, upsampled and framed as MNIST: (N, 28, 28, 1) in [-1, 1]."""
  pixels, labels = uci_digit_pixels(split)
  up = np.clip(paired.resize_bicubic(pixels[..., None] / 16.0, UCI_UPSAMPLED), 0.0, 1.0)
  lo = (paired.DIGIT_SIDE - UCI_UPSAMPLED) // 2
  canvas = np.zeros((len(pixels), paired.DIGIT_SIDE, paired.DIGIT_SIDE, 1), np.float32)
  canvas[:, lo:lo + UCI_UPSAMPLED, lo:lo + UCI_UPSAMPLED] = up
  return canvas * 2.0 - 1.0, labels


@functools.lru_cache(maxsize=None)
def uci_upsampling_matrix() -> np.ndarray:
  """(20, 8) U with resize_bicubic(X, 20) = U X U^T for an 8x8 X (`uci_digits`' resize, which
  is separable): column j is the resize of the image whose column j is 1 and the rest 0,
  read along a row."""
  units = np.zeros((UCI_SIDE, UCI_SIDE, UCI_SIDE, 1), np.float32)
  for j in range(UCI_SIDE):
    units[j, :, j] = 1.0
  up = paired.resize_bicubic(units, UCI_UPSAMPLED)  # (8, 20, 20, 1)
  return up[:, UCI_UPSAMPLED // 2, :, 0].T


def _uci_box(images) -> tuple[int, int]:
  """Rows / columns [lo, hi) of the 20x20 UCI box in square digit frames of side >= 28."""
  side = images.shape[-2]
  if images.shape[-3] != side or side < paired.DIGIT_SIDE:
    raise ValueError(f'The UCI digit space is defined on square digit frames of side >= '
                     f'{paired.DIGIT_SIDE}; got images of shape {images.shape}.')
  lo = (side - paired.DIGIT_SIDE) // 2 + (paired.DIGIT_SIDE - UCI_UPSAMPLED) // 2
  return lo, lo + UCI_UPSAMPLED


def uci_pixels(images: np.ndarray) -> np.ndarray:
  """The 8x8 pixels (0..16, scikit-learn's scale) whose upsampling is nearest to each framed
  image (N, S, S, C) in [-1, 1] (channels averaged: the digits' RGB is grey copied):
  U^+ B U^+T on the 20x20 box B in [0, 1], times 16. For a UCI digit of `uci_digits` it
  returns its own pixels up to the clipping of the upsampling; for any other image (a
  translation into domain A, an MNIST digit), the UCI digit it looks like, for a classifier
  trained on UCI pixels."""
  images = np.asarray(images, np.float32)
  if images.ndim != 4:
    raise ValueError(f'uci_pixels takes images (N, S, S, C); got {images.shape}.')
  lo, hi = _uci_box(images)
  inverse = np.linalg.pinv(uci_upsampling_matrix())
  box = (images[:, lo:hi, lo:hi].mean(-1) + 1.0) / 2.0
  return 16.0 * np.einsum('ij,njk,lk->nil', inverse, box, inverse)


def uci_projection(images: jax.Array) -> jax.Array:
  """The nearest image of the UCI digits' space (domain A of 'unpaired_digits'), per channel.

  A UCI digit is 8x8 pixels upsampled to 20x20 (U X U^T, `uci_upsampling_matrix`), clipped,
  centred in MNIST's 28x28 frame and padded with -1 (`uci_digits`, `paired.frame`): 64
  numbers drawn at 32 px. This maps (N, S, S, C) images in [-1, 1] (S >= 28) onto that space:
  the 20x20 box through the orthogonal projection P = U U^+ onto U's range (P B P^T on the
  box in [0, 1]), clipped to [0, 1], and -1 outside it. Real UCI digits come back within
  0.12 of themselves (42 dB over the 28x28 frame; the difference is their clipping), and
  whatever an image holds beyond those 64 numbers is gone. Linear up to the clip, so
  gradients pass. model.cycle_resnet.domain_a_space='uci_digits' puts g_ba's outputs
  through it (gan_jax/models/cyclegan.py).
  """
  lo, hi = _uci_box(images)
  up = uci_upsampling_matrix()
  proj = jnp.asarray(up @ np.linalg.pinv(up), images.dtype)
  box = (images[..., lo:hi, lo:hi, :] + 1.0) / 2.0
  box = jnp.einsum('ij,...jkc,lk->...ilc', proj, box, proj)
  box = jnp.clip(box, 0.0, 1.0) * 2.0 - 1.0
  return jnp.full_like(images, -1.0).at[..., lo:hi, lo:hi, :].set(box)


def _load_digits(cfg: ml_collections.ConfigDict, seed: int) -> sources.Source:
  a_images, a_labels = uci_digits(cfg.domain_a_split)
  digits, labels = paired.embedded_digits(cfg)
  b_indices = paired.split_indices(cfg.split, len(digits))
  domain_a = sources.ArraySource(paired.frame(a_images, cfg), a_labels)
  domain_b = sources.ArraySource(paired.frame(digits[b_indices], cfg), labels[b_indices])
  examples = UnpairedExamples(domain_a, domain_b, seed)
  return sources.Source(
      examples, tuple(domain_b.data.shape[1:]), paired.NUM_CLASSES,
      f'unpaired_digits: A = UCI digits/{cfg.domain_a_split} ({len(domain_a)}), '
      f'B = embedded MNIST/{cfg.split} ({len(domain_b)})',
      condition_shape=tuple(domain_a.data.shape[1:]))


def _load_tfds_domains(cfg: ml_collections.ConfigDict, seed: int) -> sources.Source:
  domains = []
  for split in (cfg.domain_a_split, cfg.split):
    domain_cfg = ml_collections.ConfigDict(cfg.to_dict())
    domain_cfg.split = split
    domains.append(sources._load_tfds(domain_cfg))  # pylint: disable=protected-access
  a, b = domains
  if a.data_shape[:2] != b.data_shape[:2]:
    raise ValueError(f'The domains of {cfg.name} have image sizes {a.data_shape[:2]} (A) and '
                     f'{b.data_shape[:2]} (B); set --config.dataset.image_size to one size.')
  return sources.Source(UnpairedExamples(a.examples, b.examples, seed), b.data_shape,
                        b.num_classes, f'unpaired {cfg.name}: A = {a.description}, '
                        f'B = {b.description}', condition_shape=a.data_shape)


def load(cfg: ml_collections.ConfigDict, seed: int = 0) -> sources.Source:
  """The unpaired two-domain dataset named by `cfg.name` (see the module docstring)."""
  if cfg.name == 'unpaired_digits':
    return _load_digits(cfg, seed)
  if cfg.name.startswith(UNPAIRED_TFDS_PREFIX):
    return _load_tfds_domains(cfg, seed)
  raise ValueError(f"Unknown unpaired dataset {cfg.name!r}; use 'unpaired_digits' or a TFDS "
                   f"'{UNPAIRED_TFDS_PREFIX}<name>' dataset (e.g. cycle_gan/horse2zebra).")
