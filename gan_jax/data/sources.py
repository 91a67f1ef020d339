"""Random-access data sources: TFDS datasets by name, a folder of images, toy 2-D data.

Also a labelled .npz (`npz`: generated data written by launch/sample.py, `save_labelled_npz`).
`load_source(dataset_config, seed)` returns a `Source`: a sequence of examples
{'image': float32 array in [-1, 1] (or raw 2-D points for toy data), 'label': int32}, with
the data shape and number of classes. Small datasets are held in memory. Image-to-image
sources (gan_jax/data/paired.py, unpaired.py) add 'condition' (G's input image) and
'condition_label' to each example and set `Source.condition_shape`.
"""

import dataclasses
import os
from typing import Any, Optional, Sequence

import ml_collections
import numpy as np

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp')
IN_MEMORY_LIMIT_BYTES = 512 * 2**20
TOY_DATASETS = ('ring8', 'grid25')
TOY_POOL_SIZE = 200_000


@dataclasses.dataclass
class Source:
  """A random-access dataset of preprocessed examples."""

  examples: Sequence[dict]
  data_shape: tuple[int, ...]
  num_classes: Optional[int]
  description: str
  condition_shape: Optional[tuple[int, ...]] = None  # Shape of 'condition' (image-to-image).

  def __len__(self):
    return len(self.examples)

  def __getitem__(self, index):
    return self.examples[index]


class ArraySource(Sequence):
  """Examples held as numpy arrays in memory."""

  def __init__(self, data: np.ndarray, labels: np.ndarray):
    self.data, self.labels = data, labels.astype(np.int32)

  def __len__(self):
    return len(self.data)

  def __getitem__(self, i):
    return {'image': self.data[i], 'label': self.labels[i]}


def _to_float_image(image: np.ndarray, image_size: int, channels: int) -> np.ndarray:
  """uint8 HWC (or HW) -> float32 in [-1, 1], optionally resized / channel-converted."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3:
    raise ValueError(f'Expected an image (H, W, C); got shape {image.shape}.')
  if channels and image.shape[-1] != channels:
    if channels == 3 and image.shape[-1] == 1:
      image = np.repeat(image, 3, axis=-1)
    elif channels == 1 and image.shape[-1] in (3, 4):
      image = np.asarray(Image.fromarray(image[..., :3]).convert('L'))[..., None]
    elif channels == 3 and image.shape[-1] == 4:
      image = image[..., :3]
    else:
      raise ValueError(f'Cannot convert {image.shape[-1]} channels to {channels}.')
  if image_size and image.shape[:2] != (image_size, image_size):
    mode = 'L' if image.shape[-1] == 1 else 'RGB'
    pil = Image.fromarray(image[..., 0] if mode == 'L' else image, mode)
    pil = pil.resize((image_size, image_size), Image.BICUBIC)
    image = np.asarray(pil).reshape(image_size, image_size, -1)
  return image.astype(np.float32) / 127.5 - 1.0


class _MappedSource(Sequence):
  """Lazily preprocesses examples of a TFDS data source (for datasets too big for memory)."""

  def __init__(self, source, image_key, label_key, image_size, channels):
    self.source, self.image_key, self.label_key = source, image_key, label_key
    self.image_size, self.channels = image_size, channels

  def __len__(self):
    return len(self.source)

  def __getitem__(self, i):
    ex = self.source[i]
    label = ex.get(self.label_key, 0) if self.label_key else 0
    return {'image': _to_float_image(ex[self.image_key], self.image_size, self.channels),
            'label': np.int32(label)}


def _tfds_builder(name: str, data_dir: str):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if name == 'embedded_mnist':
    from gan_jax.data import embedded_mnist  # pylint: disable=g-import-not-at-top
    return embedded_mnist.prepare(data_dir)
  try:
    builder = tfds.builder(name, data_dir=data_dir or None)
  except Exception as e:  # tfds raises several types for unknown names.
    raise ValueError(f'Unknown dataset {name!r}: {e}. Use a TFDS name (e.g. mnist, cifar10), '
                     f"'embedded_mnist', 'image_folder', 'npz', 'paired_digits', 'unpaired_digits', "
                     f"'stacked_mnist' or one of {TOY_DATASETS}.") from e
  return builder


def _load_tfds(cfg: ml_collections.ConfigDict) -> Source:
  builder = _tfds_builder(cfg.name, cfg.data_dir)
  prepare = (f"python -c \"import tensorflow_datasets as tfds; tfds.builder('{cfg.name}', "
             f"data_dir='DIR', file_format='array_record').download_and_prepare()\"")
  try:
    source = builder.as_data_source(cfg.split)
  except Exception as e:  # TFDS raises NotImplementedError/ValueError/OSError variants.
    if not os.path.exists(builder.data_path):
      raise FileNotFoundError(
          f'TFDS dataset {cfg.name!r} is not prepared in {builder.data_dir}. Where there is '
          f'network, prepare it once with: {prepare} (needs the `tfds` extra: '
          'pip install -e ".[tfds]"); otherwise copy a prepared copy to DIR and pass '
          '--config.dataset.data_dir=DIR.') from e
    raise ValueError(
        f'TFDS dataset {cfg.name!r} in {builder.data_path} cannot be read with random access '
        f'({e}). It must be prepared as array_record: {prepare}') from e
  features = builder.info.features
  if cfg.image_key not in features:
    raise ValueError(f'Dataset {cfg.name!r} has no feature {cfg.image_key!r}; features: '
                     f'{list(features)}. Set --config.dataset.image_key.')
  label_key = cfg.label_key if cfg.label_key in features else ''
  num_classes = None
  if label_key:
    num_classes = getattr(features[label_key], 'num_classes', None)
    if num_classes is None and cfg.name == 'embedded_mnist':
      num_classes = 10
  mapped = _MappedSource(source, cfg.image_key, label_key, cfg.image_size, cfg.channels)
  first = mapped[0]['image']
  if len(source) * first.nbytes <= IN_MEMORY_LIMIT_BYTES:
    images = np.stack([mapped[i]['image'] for i in range(len(mapped))])
    labels = np.asarray([mapped[i]['label'] for i in range(len(mapped))])
    examples = ArraySource(images, labels)
  else:
    examples = mapped
  return Source(examples, tuple(first.shape), num_classes,
                f'tfds:{cfg.name}/{cfg.split} ({len(source)} examples)')


def _load_image_folder(cfg: ml_collections.ConfigDict) -> Source:
  """Images under `cfg.path`; sub-folder names, if any, are the class labels."""
  from PIL import Image, UnidentifiedImageError  # pylint: disable=g-import-not-at-top
  root = cfg.path
  if not root or not os.path.isdir(root):
    raise FileNotFoundError(f'dataset.path={root!r} is not a folder; pass '
                            '--config.dataset.path=/path/to/images for image_folder.')
  files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                 if f.lower().endswith(IMAGE_EXTENSIONS))
  if not files:
    raise FileNotFoundError(f'No images ({", ".join(IMAGE_EXTENSIONS)}) under {root}.')
  classes = sorted({os.path.relpath(os.path.dirname(f), root) for f in files})
  class_index = {c: i for i, c in enumerate(classes)}
  images, labels = [], []
  for f in files:
    try:
      with Image.open(f) as im:
        arr = np.asarray(im.convert('L' if cfg.channels == 1 else 'RGB'))
    except (UnidentifiedImageError, OSError) as e:
      raise ValueError(f'Cannot read image {f}: {e}. Remove or fix the file.') from e
    size = cfg.image_size or arr.shape[0]
    images.append(_to_float_image(arr, size, 0))
    labels.append(class_index[os.path.relpath(os.path.dirname(f), root)])
  shapes = {im.shape for im in images}
  if len(shapes) > 1:
    raise ValueError(f'Images under {root} have different shapes {sorted(shapes)[:4]}; set '
                     '--config.dataset.image_size=N to resize them all to N x N.')
  num_classes = len(classes) if len(classes) > 1 else None
  return Source(ArraySource(np.stack(images), np.asarray(labels)), images[0].shape,
                num_classes, f'image_folder:{root} ({len(files)} images)')


def _load_toy(cfg: ml_collections.ConfigDict, seed: int) -> Source:
  from gan_jax.data import toy  # pylint: disable=g-import-not-at-top
  points, modes = toy.sample_toy(seed, cfg.name, TOY_POOL_SIZE)
  return Source(ArraySource(np.asarray(points, np.float32), np.asarray(modes)), (2,), None,
                f'toy:{cfg.name} (pool of {TOY_POOL_SIZE} samples)')


def save_labelled_npz(path: str, images: np.ndarray, labels: Optional[np.ndarray],
                      **metadata) -> str:
  """Writes an image set that `dataset.name='npz'` reads back: `images` (N, H, W, C) float32
  in [-1, 1], `labels` (N,) int32 (None: unlabelled), and any array/scalar/str `metadata`
  (e.g. num_classes, the run and step that generated them). Atomic (tmp file + rename)."""
  images = np.asarray(images, np.float32)
  if labels is not None:
    labels = np.asarray(labels, np.int32)
  if images.ndim != 4 or (labels is not None and labels.shape != images.shape[:1]):
    raise ValueError(f'Need images (N, H, W, C) and one label per image; got {images.shape} '
                     f'and {None if labels is None else labels.shape}.')
  arrays = {k: np.asarray(v) for k, v in metadata.items()}
  if labels is not None:
    arrays['labels'] = labels
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f'{path}.tmp{os.getpid()}.npz'
  np.savez(tmp, images=images, **arrays)
  os.replace(tmp, path)
  return path


def _load_npz(cfg: ml_collections.ConfigDict) -> Source:
  """A labelled .npz at `cfg.path` (save_labelled_npz; launch/sample.py --out=X.npz):
  'images' (N, H, W, C) float in [-1, 1] or uint8, 'labels' (N,) ints (optional)."""
  path = cfg.path
  if not path or not os.path.isfile(path):
    raise FileNotFoundError(f"dataset.path={path!r} is not a file; dataset.name='npz' needs "
                            '--config.dataset.path=/path/to/samples.npz (written by '
                            'launch/sample.py --out=X.npz).')
  with np.load(path) as f:
    if 'images' not in f:
      raise ValueError(f'{path} has no array "images" (it has {sorted(f.files)}); write it '
                       'with gan_jax.data.sources.save_labelled_npz or launch/sample.py.')
    images = np.asarray(f['images'])
    has_labels = 'labels' in f
    labels = np.asarray(f['labels']) if has_labels else np.zeros(len(images), np.int64)
    num_classes = int(f['num_classes']) if 'num_classes' in f else None
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or labels.shape != images.shape[:1]:
    raise ValueError(f'{path}: need images (N, H, W[, C]) and labels (N,); got '
                     f'{images.shape} and {labels.shape}.')
  if images.dtype == np.uint8 or cfg.image_size or cfg.channels:
    if images.dtype != np.uint8:
      images = np.round((np.clip(images, -1, 1) + 1) * 127.5).astype(np.uint8)
    size = cfg.image_size or images.shape[1]
    images = np.stack([_to_float_image(im, size, cfg.channels) for im in images])
  images = images.astype(np.float32)
  if has_labels and num_classes is None:
    num_classes = int(labels.max()) + 1 if len(labels) else None
  return Source(ArraySource(images, labels), images.shape[1:], num_classes,
                f'npz:{path} ({len(images)} examples)')


def limit_per_class(source: Source, per_class: int) -> Source:
  """The first `per_class` examples of each class, in the source's order (a small labelled
  training set, e.g. 50 digits per class; the embedded digits' order is the one TFDS shuffled
  them into once, at preparation). Raises when a class has fewer."""
  if not source.num_classes:
    raise ValueError(f'dataset.examples_per_class={per_class} needs a labelled dataset; '
                     f'{source.description} has no classes.')
  if not isinstance(source.examples, ArraySource):
    raise ValueError('dataset.examples_per_class needs a dataset held in memory; '
                     f'{source.description} is read lazily.')
  labels = source.examples.labels
  keep = []
  for c in range(source.num_classes):
    idx = np.flatnonzero(labels == c)[:per_class]
    if len(idx) < per_class:
      raise ValueError(f'dataset.examples_per_class={per_class}, but class {c} has only '
                       f'{len(idx)} examples in {source.description}.')
    keep.append(idx)
  keep = np.sort(np.concatenate(keep))
  return dataclasses.replace(
      source, examples=ArraySource(source.examples.data[keep], labels[keep]),
      description=f'{source.description}, first {per_class} per class ({len(keep)} examples)')


def load_source(cfg: ml_collections.ConfigDict, seed: int = 0) -> Source:
  """Loads the dataset named by `cfg.name` (see module docstring); with
  `cfg.examples_per_class` > 0, only the first that many examples of each class."""
  source = _load_any(cfg, seed)
  per_class = int(cfg.get('examples_per_class', 0) or 0)
  return limit_per_class(source, per_class) if per_class > 0 else source


# Datasets of other modules (gan_jax/modalities: video, voxels, audio): dataset.name -> the
# module whose `load(cfg, seed) -> Source` builds it (imported on first use).
DATASET_MODULES: dict[str, str] = {
    'moving_mnist': 'gan_jax.data.moving_mnist',
    'moving_mnist_frames': 'gan_jax.data.moving_mnist',
    'tfds_moving_mnist': 'gan_jax.data.moving_mnist',
    'voxel_shapes': 'gan_jax.data.voxels',
    'synthetic_notes': 'gan_jax.data.audio',
    'spoken_digits': 'gan_jax.data.audio',
    'speech_commands': 'gan_jax.data.audio',
    'nsynth': 'gan_jax.data.audio',
    'text_oracle': 'gan_jax.data.text',
    'pydoc_sentences': 'gan_jax.data.text',
    'tfds_text': 'gan_jax.data.text',
}


def _load_any(cfg: ml_collections.ConfigDict, seed: int) -> Source:
  if cfg.name in DATASET_MODULES:
    import importlib  # pylint: disable=g-import-not-at-top
    return importlib.import_module(DATASET_MODULES[cfg.name]).load(cfg, seed)
  if cfg.name in TOY_DATASETS:
    return _load_toy(cfg, seed)
  if cfg.name == 'image_folder':
    return _load_image_folder(cfg)
  if cfg.name == 'npz':
    return _load_npz(cfg)
  if cfg.name == 'paired_digits':
    from gan_jax.data import paired  # pylint: disable=g-import-not-at-top
    return paired.load(cfg)
  if cfg.name == 'stacked_mnist':
    from gan_jax.data import stacked  # pylint: disable=g-import-not-at-top
    return stacked.load(cfg, seed)
  from gan_jax.data import unpaired  # pylint: disable=g-import-not-at-top
  if unpaired.is_unpaired(cfg.name):
    return unpaired.load(cfg, seed)
  return _load_tfds(cfg)


def describe(source: Source) -> dict[str, Any]:
  return {'description': source.description, 'data_shape': list(source.data_shape),
          'num_classes': source.num_classes, 'num_examples': len(source),
          'condition_shape': list(source.condition_shape) if source.condition_shape else None}
