"""Data: the embedded dataset, TFDS by name, image folders, batching and sharding."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import default
from gan_jax import data


def _dataset_config(**kw):
  cfg = default.get_config().dataset
  for k, v in kw.items():
    cfg[k] = v
  return cfg


def test_embedded_mnist_is_real_mnist(tfds_data_dir):
  source = data.load_source(_dataset_config(data_dir=tfds_data_dir))
  assert len(source) == 5000 and source.data_shape == (28, 28, 1)
  assert source.num_classes == 10
  images = source.examples.data
  labels = source.examples.labels
  assert images.dtype == np.float32 and images.min() == -1.0 and images.max() == 1.0
  np.testing.assert_array_equal(np.bincount(labels), np.full(10, 500))
  # Digits are mostly background: about 80% of MNIST pixels are 0 (-1 after scaling).
  assert 0.7 < np.mean(images == -1.0) < 0.9


def test_embedded_mnist_prepare_survives_a_concurrent_preparer(tfds_data_dir, tmp_path,
                                                              monkeypatch):
  """A process that loses the race to prepare a fresh data_dir (TFDS renames its temporary
  folder onto one that another process has just written) reads the other's copy."""
  from gan_jax.data import embedded_mnist  # pylint: disable=g-import-not-at-top

  def lost_the_race(self, *args, **kwargs):
    raise FileExistsError(f'Cannot rename {self.data_dir}.incomplete: destination exists.')

  monkeypatch.setattr(embedded_mnist.EmbeddedMnist, 'download_and_prepare', lost_the_race)
  builder = embedded_mnist.prepare(tfds_data_dir)   # Prepared by "the other process".
  assert builder.is_prepared() and builder.info.splits['train'].num_examples == 5000
  with pytest.raises(FileExistsError):               # Nothing there: the error is real.
    embedded_mnist.prepare(str(tmp_path))


def test_batches_are_deterministic_resumable_and_sharded(tfds_data_dir):
  source = data.load_source(_dataset_config(data_dir=tfds_data_dir))
  kw = dict(global_batch=8, n_critic=1, seed=3, num_steps=20)
  straight = list(data.batches(source, start_step=0, **kw))
  resumed = list(data.batches(source, start_step=10, **kw))
  assert len(straight) == 20 and len(resumed) == 10
  for a, b in zip(straight[10:], resumed):
    np.testing.assert_array_equal(a['image'], b['image'])
  other_seed = next(data.batches(source, start_step=0, **dict(kw, seed=4)))
  assert not np.array_equal(other_seed['image'], straight[0]['image'])
  # Two processes get disjoint halves that together are the global batch.
  halves = [data.batch_for_step(source.examples, 5, 8, 1, p, 2)['image'] for p in range(2)]
  whole = data.batch_for_step(source.examples, 5, 8, 1, 0, 1)['image']
  np.testing.assert_array_equal(np.concatenate(halves), whole)


def test_epochs_cover_the_dataset_and_reshuffle():
  src = data.Source(data.sources.ArraySource(np.arange(12, dtype=np.float32)[:, None],
                                             np.zeros(12)), (1,), None, 'range')
  batches = list(data.batches(src, global_batch=4, n_critic=1, seed=0, start_step=0,
                              num_steps=6))
  epoch1 = np.concatenate([b['image'][:, 0] for b in batches[:3]])
  epoch2 = np.concatenate([b['image'][:, 0] for b in batches[3:]])
  np.testing.assert_array_equal(np.sort(epoch1), np.arange(12))
  np.testing.assert_array_equal(np.sort(epoch2), np.arange(12))
  assert not np.array_equal(epoch1, epoch2)


def test_critic_batches_have_a_leading_axis(tfds_data_dir):
  source = data.load_source(_dataset_config(data_dir=tfds_data_dir))
  batch = data.batch_for_step(source.examples, 0, 8, 5)
  assert batch['image'].shape == (5, 8, 28, 28, 1) and batch['label'].shape == (5, 8)


def test_any_tfds_image_dataset_by_name():
  with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
    source = data.load_source(_dataset_config(name='mnist'))
  assert source.data_shape == (28, 28, 1) and len(source) == 12
  assert source.num_classes == 10


def test_resize_and_channels(tfds_data_dir):
  source = data.load_source(_dataset_config(data_dir=tfds_data_dir, image_size=32,
                                            channels=3))
  assert source.data_shape == (32, 32, 3)
  x = source[0]['image']
  assert x.min() >= -1 and x.max() <= 1


def test_missing_dataset_says_how_to_get_it(tmp_path):
  with pytest.raises(FileNotFoundError, match='download_and_prepare.*data_dir'):
    data.load_source(_dataset_config(name='cifar10', data_dir=str(tmp_path)))


def test_unknown_dataset_lists_alternatives(tmp_path):
  with pytest.raises(ValueError, match='Unknown dataset'):
    data.load_source(_dataset_config(name='no_such_dataset_xyz', data_dir=str(tmp_path)))


def test_image_folder(tmp_path):
  from PIL import Image
  rng = np.random.default_rng(0)
  for cls in ('cats', 'dogs'):
    (tmp_path / cls).mkdir()
    for i in range(3):
      Image.fromarray(rng.integers(0, 255, (20, 20, 3), np.uint8)).save(
          tmp_path / cls / f'{i}.png')
  source = data.load_source(_dataset_config(name='image_folder', path=str(tmp_path),
                                            image_size=16))
  assert len(source) == 6 and source.data_shape == (16, 16, 3) and source.num_classes == 2
  (tmp_path / 'dogs' / 'broken.png').write_bytes(b'not an image')
  with pytest.raises(ValueError, match='Cannot read image.*broken.png'):
    data.load_source(_dataset_config(name='image_folder', path=str(tmp_path), image_size=16))


def test_image_folder_missing_or_mixed_sizes(tmp_path):
  with pytest.raises(FileNotFoundError, match='dataset.path'):
    data.load_source(_dataset_config(name='image_folder', path=str(tmp_path / 'nope')))
  from PIL import Image
  Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / 'a.png')
  Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / 'b.png')
  with pytest.raises(ValueError, match='image_size'):
    data.load_source(_dataset_config(name='image_folder', path=str(tmp_path)))


def test_batch_size_checks():
  with pytest.raises(ValueError, match='multiple of 8'):
    data.check_batch_size(12, 8)
  with pytest.raises(ValueError, match='processes'):
    data.check_batch_size(9, 1, 2)
