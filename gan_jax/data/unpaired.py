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

from typing import Sequence

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


def uci_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
  """UCI 8x8 digits of `split`, upsampled and framed as MNIST: (N, 28, 28, 1) in [-1, 1]."""
  try:
    from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("'unpaired_digits' needs scikit-learn: "
                      "pip install 'scikit-learn>=1.3'.") from e
  digits = load_digits()
  indices = paired.split_indices(split, len(digits.images), 'dataset.domain_a_split')
  small = digits.images[indices].astype(np.float32)[..., None] / 16.0
  up = np.clip(paired.resize_bicubic(small, UCI_UPSAMPLED), 0.0, 1.0)
  lo = (paired.DIGIT_SIDE - UCI_UPSAMPLED) // 2
  canvas = np.zeros((len(indices), paired.DIGIT_SIDE, paired.DIGIT_SIDE, 1), np.float32)
  canvas[:, lo:lo + UCI_UPSAMPLED, lo:lo + UCI_UPSAMPLED] = up
  return canvas * 2.0 - 1.0, digits.target[indices].astype(np.int32)


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
