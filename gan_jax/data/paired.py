"""Paired image-to-image tasks on the embedded MNIST digits (dataset.name='paired_digits').

Every example is {'image': the clean digit, 'label': its class, 'condition': the corrupted
digit (G's input), 'condition_label': the same class}, float32 HWC in [-1, 1]. The
corruption (dataset.task) is made on the 28x28 digit x, then both images are padded with
the background value -1 to dataset.image_size (digits unscaled; 0 keeps 28, 32 suits the
U-Net):
  super_resolution_7 / _14: the low-res digit is the mean over 4x4 / 2x2 blocks (area
    downsampling to 7x7 / 14x14); the condition is its nearest-neighbour upsampling back to
    28x28 (every low-res pixel a block, so the low-res digit is read back exactly).
  inpainting: a box of h x w pixels, h and w uniform in [box_min, box_max], placed
    uniformly inside the 28x28 digit, is set to 0 (grey, neither background -1 nor ink 1).
  gaussian_noise: clip(x + noise_std * n, -1, 1), n ~ N(0, 1) per pixel.
  salt_and_pepper: each pixel with probability salt_pepper_rate becomes -1 or +1 (equally).
  edges: the Sobel gradient magnitude of x (scipy.ndimage.sobel), divided by its image
    maximum; pixels above edge_threshold are +1 (white outline), the rest -1.
The corruption of digit j of the embedded set is a function of (corruption.seed, j) only
(`np.random.default_rng((seed, j))`), whatever the split, so held-out data is reproducible.
Splits are TFDS split strings of the 5,000 embedded digits (`train[:4500]`,
`train[4500:]`): disjoint strings give disjoint digits.

`baseline(example, dataset_config)`: the trivial restoration that evaluation compares
against: bicubic upsampling (PIL, Keys a = -0.5) of the low-res digit for super-resolution;
the condition itself for the other tasks (masked input, noisy input, and for edges the edge
map read as a digit image).
"""

import functools
from typing import Sequence

import ml_collections
import numpy as np
from PIL import Image
from scipy import ndimage

from gan_jax.data import sources

TASKS = ('super_resolution_7', 'super_resolution_14', 'inpainting', 'gaussian_noise',
         'salt_and_pepper', 'edges')
SR_FACTORS = {'super_resolution_7': 4, 'super_resolution_14': 2}
DIGIT_SIDE = 28
NUM_CLASSES = 10


# ---- shared with gan_jax.data.unpaired ----------------------------------------------------
def split_indices(split: str, num_examples: int, what: str = 'dataset.split') -> np.ndarray:
  """Indices of a TFDS split string ('train', 'train[:4500]', 'train[90%:]', a+b) of a
  single split 'train' of `num_examples` examples, parsed by TFDS."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  infos = {'train': tfds.core.SplitInfo(name='train', shard_lengths=[num_examples], num_bytes=0,
                                        filename_template=None)}
  try:
    instructions = tfds.core.ReadInstruction.from_spec(split).to_absolute(infos)
  except (ValueError, AssertionError) as e:
    raise ValueError(f"{what}={split!r} is not a split of this dataset ({e}); use a slice of "
                     "'train', e.g. 'train[:4500]'.") from e
  return np.concatenate([np.arange(num_examples)[ins.from_:ins.to] for ins in instructions])


def embedded_digits(cfg: ml_collections.ConfigDict) -> tuple[np.ndarray, np.ndarray]:
  """All 5,000 embedded MNIST digits, (5000, 28, 28, 1) float32 in [-1, 1], and labels,
  in the order of the TFDS split 'train' (through gan_jax.data.sources); read-only arrays,
  read once per process and data_dir."""
  return _embedded_digits(cfg.data_dir)


@functools.lru_cache(maxsize=2)
def _embedded_digits(data_dir: str) -> tuple[np.ndarray, np.ndarray]:
  embedded = ml_collections.ConfigDict(dict(
      name='embedded_mnist', split='train', data_dir=data_dir, image_size=0, channels=0,
      image_key='image', label_key='label'))
  examples = sources._load_tfds(embedded).examples  # pylint: disable=protected-access
  for array in (examples.data, examples.labels):
    array.flags.writeable = False
  return examples.data, examples.labels


def frame(images: np.ndarray, cfg: ml_collections.ConfigDict) -> np.ndarray:
  """Pads 28x28 digits (..., 28, 28, C) with -1 to dataset.image_size and sets the channels."""
  size = cfg.image_size or DIGIT_SIDE
  if size < DIGIT_SIDE:
    raise ValueError(f'dataset.image_size={size} is smaller than the 28x28 digits; the digit '
                     'datasets pad, never scale: use 0 (28), 28 or more (32 suits the U-Net).')
  lo = (size - DIGIT_SIDE) // 2
  pad = [(0, 0)] * (images.ndim - 3) + [(lo, size - DIGIT_SIDE - lo)] * 2 + [(0, 0)]
  images = np.pad(images, pad, constant_values=-1.0)
  if cfg.channels not in (0, 1, 3):
    raise ValueError(f'dataset.channels={cfg.channels}: the digits are grey; use 0 or 1 (keep) '
                     'or 3 (grey copied to RGB).')
  if cfg.channels == 3:
    images = np.repeat(images, 3, axis=-1)
  return images.astype(np.float32)


def unframe(images: np.ndarray, image_size: int) -> np.ndarray:
  """The 28x28 digit region of framed images (..., S, S, C)."""
  lo = ((image_size or DIGIT_SIDE) - DIGIT_SIDE) // 2
  return images[..., lo:lo + DIGIT_SIDE, lo:lo + DIGIT_SIDE, :]


def resize_bicubic(images: np.ndarray, side: int) -> np.ndarray:
  """(..., H, W, C) float -> (..., side, side, C): PIL bicubic (Keys a = -0.5) per image."""
  images = np.asarray(images, np.float32)
  flat = np.moveaxis(images.reshape(-1, *images.shape[-3:]), -1, 1)  # (M, C, H, W)
  out = np.stack([[np.asarray(Image.fromarray(np.ascontiguousarray(plane)).resize(
      (side, side), Image.BICUBIC)) for plane in image] for image in flat])
  return np.moveaxis(out, 1, -1).reshape(*images.shape[:-3], side, side, images.shape[-1])


class TranslationExamples(Sequence):
  """In-memory examples {'image', 'label', 'condition', 'condition_label'}; `indices` are the
  source indices of the digits (for checking that splits do not overlap)."""

  def __init__(self, image, label, condition, condition_label, indices):
    self.image, self.condition = image, condition
    self.label = np.asarray(label, np.int32)
    self.condition_label = np.asarray(condition_label, np.int32)
    self.indices = indices

  def __len__(self):
    return len(self.image)

  def __getitem__(self, i):
    return {'image': self.image[i], 'label': self.label[i], 'condition': self.condition[i],
            'condition_label': self.condition_label[i]}


# ---- the corruptions ----------------------------------------------------------------------
def _check(cfg: ml_collections.ConfigDict):
  if cfg.task not in TASKS:
    raise ValueError(f'Unknown dataset.task {cfg.task!r}; choose one of {TASKS}.')
  c = cfg.corruption
  if not 1 <= c.box_min <= c.box_max <= DIGIT_SIDE:
    raise ValueError(f'dataset.corruption.box_min={c.box_min}, box_max={c.box_max}: need '
                     f'1 <= box_min <= box_max <= {DIGIT_SIDE}.')
  if c.noise_std < 0 or not 0 <= c.salt_pepper_rate <= 1 or not 0 <= c.edge_threshold < 1:
    raise ValueError('dataset.corruption needs noise_std >= 0, salt_pepper_rate in [0, 1] and '
                     f'edge_threshold in [0, 1); got {c.noise_std}, {c.salt_pepper_rate}, '
                     f'{c.edge_threshold}.')


def corrupt(digits: np.ndarray, indices: np.ndarray, cfg: ml_collections.ConfigDict) -> np.ndarray:
  """The conditions of 28x28 digits (N, 28, 28, 1) in [-1, 1] with source indices `indices`
  for dataset.task (see the module docstring)."""
  _check(cfg)
  c, task = cfg.corruption, cfg.task
  x = np.asarray(digits, np.float32)[..., 0]
  n = len(x)
  if task in SR_FACTORS:
    f = SR_FACTORS[task]
    low = x.reshape(n, DIGIT_SIDE // f, f, DIGIT_SIDE // f, f).mean(axis=(2, 4))
    cond = low.repeat(f, axis=1).repeat(f, axis=2)
  elif task == 'edges':
    cond = np.empty_like(x)
    for i, image in enumerate((x + 1) / 2):
      magnitude = np.hypot(ndimage.sobel(image, axis=0), ndimage.sobel(image, axis=1))
      magnitude /= max(magnitude.max(), 1e-12)
      cond[i] = np.where(magnitude > c.edge_threshold, 1.0, -1.0)
  else:
    cond = x.copy()
    for i, j in enumerate(indices):
      rng = np.random.default_rng((c.seed, int(j)))
      if task == 'inpainting':
        h, w = rng.integers(c.box_min, c.box_max + 1, size=2)
        top = rng.integers(0, DIGIT_SIDE - h + 1)
        left = rng.integers(0, DIGIT_SIDE - w + 1)
        cond[i, top:top + h, left:left + w] = 0.0
      elif task == 'gaussian_noise':
        cond[i] = np.clip(x[i] + c.noise_std * rng.standard_normal(x[i].shape), -1.0, 1.0)
      else:  # salt_and_pepper
        hit = rng.random(x[i].shape) < c.salt_pepper_rate
        salt = rng.random(x[i].shape) < 0.5
        cond[i] = np.where(hit, np.where(salt, 1.0, -1.0), x[i])
  return cond[..., None].astype(np.float32)


def baseline(example: dict, cfg: ml_collections.ConfigDict) -> np.ndarray:
  """The trivial restoration of `example['condition']` (one example or a batch, framed as
  the source gives it): bicubic upsampling of the low-res digit for super-resolution, the
  condition itself otherwise (see the module docstring)."""
  condition = np.asarray(example['condition'], np.float32)
  if cfg.task not in SR_FACTORS:
    return condition
  f = SR_FACTORS[cfg.task]
  low = unframe(condition, cfg.image_size)[..., ::f, ::f, :]
  up = np.clip(resize_bicubic(low, DIGIT_SIDE), -1.0, 1.0)
  lo = ((cfg.image_size or DIGIT_SIDE) - DIGIT_SIDE) // 2
  out = np.full_like(condition, -1.0)
  out[..., lo:lo + DIGIT_SIDE, lo:lo + DIGIT_SIDE, :] = up
  return out


def held_out_config(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """dataset config of the held-out data: split <- eval_split (and domain A's likewise)."""
  if not cfg.eval_split:
    raise ValueError(f'dataset.eval_split is empty: set the held-out split of {cfg.name!r}, '
                     "e.g. --config.dataset.split='train[:4500]' "
                     "--config.dataset.eval_split='train[4500:]'.")
  held_out = ml_collections.ConfigDict(cfg.to_dict())
  held_out.split = cfg.eval_split
  held_out.domain_a_split = cfg.domain_a_eval_split
  return held_out


def load(cfg: ml_collections.ConfigDict) -> sources.Source:
  """The paired digits of `cfg.split` for `cfg.task` (see the module docstring)."""
  _check(cfg)
  digits, labels = embedded_digits(cfg)
  indices = split_indices(cfg.split, len(digits))
  target = digits[indices]
  condition = corrupt(target, indices, cfg)
  image, condition = frame(target, cfg), frame(condition, cfg)
  examples = TranslationExamples(image, labels[indices], condition, labels[indices], indices)
  return sources.Source(
      examples, tuple(image.shape[1:]), NUM_CLASSES,
      f'paired_digits:{cfg.task}/{cfg.split} ({len(indices)} examples, embedded MNIST)',
      condition_shape=tuple(condition.shape[1:]))
