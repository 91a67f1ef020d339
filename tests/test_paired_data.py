"""Image-to-image data: paired digit tasks, unpaired digit domains, TFDS two-domain sets."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import default
from gan_jax.data import paired
from gan_jax.data import pipeline
from gan_jax.data import sources
from gan_jax.data import unpaired

SIDE, PAD = 32, 2  # 28x28 digits padded 2 px a side.


def dataset_config(data_dir, **fields):
  config = default.get_config().dataset
  config.data_dir = data_dir
  config.name = 'paired_digits'
  config.image_size = SIDE
  config.split = 'train[:300]'
  for path, value in fields.items():
    node = config
    *parents, leaf = path.split('__')
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def arrays(source, key):
  return np.stack([source[i][key] for i in range(len(source))])


def digit_region(x):
  return x[:, PAD:PAD + 28, PAD:PAD + 28, 0]


def check_frame(source):
  assert source.data_shape == source.condition_shape == (SIDE, SIDE, 1)
  for key in ('image', 'condition'):
    x = arrays(source, key)
    assert x.dtype == np.float32 and x.shape[1:] == (SIDE, SIDE, 1)
    assert x.min() >= -1 and x.max() <= 1
    border = np.ones((SIDE, SIDE), bool)
    border[PAD:PAD + 28, PAD:PAD + 28] = False
    assert (x[:, border] == -1).all()  # Background padding; the digit is not scaled.


@pytest.mark.parametrize('task,factor', [('super_resolution_7', 4), ('super_resolution_14', 2)])
def test_super_resolution_condition_is_the_area_downsampled_digit(tfds_data_dir, task, factor):
  from skimage.transform import downscale_local_mean  # pylint: disable=g-import-not-at-top
  config = dataset_config(tfds_data_dir, task=task)
  source = sources.load_source(config)
  check_frame(source)
  image, cond = digit_region(arrays(source, 'image')), digit_region(arrays(source, 'condition'))
  low = np.stack([downscale_local_mean(x, (factor, factor)) for x in image])
  assert low.shape[1:] == (28 // factor, 28 // factor)
  np.testing.assert_allclose(cond[:, ::factor, ::factor], low, atol=1e-6)  # float32 means.
  # Nearest-neighbour upsampling: every low-res pixel fills its block.
  np.testing.assert_array_equal(cond, low.repeat(factor, 1).repeat(factor, 2).astype(np.float32))
  # The bicubic baseline is read from the example alone, keeps the frame, and restores the
  # digit better (in squared error; PSNR 15.6 vs 15.0 dB for 7x7 and 21.0 vs 19.0 dB for
  # 14x14 on 1,000 digits) than the blocky condition does.
  base = paired.baseline({'condition': arrays(source, 'condition')}, config)
  assert base.shape == (len(source), SIDE, SIDE, 1) and (base[:, 0] == -1).all()
  np.testing.assert_array_equal(base[3], paired.baseline(source[3], config))
  assert np.square(digit_region(base) - image).mean() < np.square(cond - image).mean()


def test_inpainting_masks_one_box_of_the_configured_size(tfds_data_dir):
  config = dataset_config(tfds_data_dir, task='inpainting', corruption__box_min=6,
                          corruption__box_max=12)
  source = sources.load_source(config)
  check_frame(source)
  image, cond = digit_region(arrays(source, 'image')), digit_region(arrays(source, 'condition'))
  assert not (image == 0).any()  # uint8 / 127.5 - 1 is never 0: 0 marks the box exactly.
  heights, widths = [], []
  for x, c in zip(image, cond):
    rows, cols = np.nonzero((c == 0).any(1))[0], np.nonzero((c == 0).any(0))[0]
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert (c[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] == 0).all()  # One full box ...
    assert (c == 0).sum() == h * w                                     # ... and only it.
    np.testing.assert_array_equal(c[c != 0], x[c != 0])
    heights.append(h)
    widths.append(w)
  sizes = set(heights) | set(widths)
  assert min(sizes) == 6 and max(sizes) == 12  # Uniform on [6, 12] over 300 draws.
  np.testing.assert_array_equal(paired.baseline(source[0], config), source[0]['condition'])


def test_gaussian_noise_statistics(tfds_data_dir):
  std = 0.3
  source = sources.load_source(dataset_config(tfds_data_dir, task='gaussian_noise',
                                              corruption__noise_std=std))
  check_frame(source)
  image, cond = digit_region(arrays(source, 'image')), digit_region(arrays(source, 'condition'))
  # On the background (-1) the clipped noise is max(std * n, 0): zero half the time, else
  # half-normal with E[r^2 | r > 0] = std^2 (clipping at +1 is 6.7 sigma away).
  r = (cond - image)[image == -1]
  assert r.size > 100_000
  assert abs((r == 0).mean() - 0.5) < 0.01
  assert abs(np.sqrt(np.mean(r[r > 0] ** 2)) / std - 1) < 0.01
  # Mid-grey pixels are hardly clipped: the noise there has mean 0 and std `std`.
  mid = np.abs(image) < 0.3
  np.testing.assert_allclose([np.mean(cond[mid] - image[mid]), np.std(cond[mid] - image[mid])],
                             [0.0, std], atol=0.02)


def test_salt_and_pepper_statistics(tfds_data_dir):
  rate = 0.2
  source = sources.load_source(dataset_config(tfds_data_dir, task='salt_and_pepper',
                                              corruption__salt_pepper_rate=rate))
  image, cond = digit_region(arrays(source, 'image')), digit_region(arrays(source, 'condition'))
  assert set(np.unique(cond[cond != image])) <= {-1.0, 1.0}
  grey = np.abs(image) < 1  # Neither value of the noise: every hit shows.
  hit = cond[grey] != image[grey]
  assert abs(hit.mean() - rate) < 0.01
  assert abs((cond[grey][hit] == 1).mean() - 0.5) < 0.03
  assert abs((cond[image == -1] == 1).mean() - rate / 2) < 0.005  # Salt on the background.


def test_edges_match_an_independent_sobel(tfds_data_dir):
  from skimage import filters  # pylint: disable=g-import-not-at-top
  threshold = 0.5
  config = dataset_config(tfds_data_dir, task='edges', corruption__edge_threshold=threshold)
  source = sources.load_source(config)
  check_frame(source)
  image, cond = digit_region(arrays(source, 'image')), digit_region(arrays(source, 'condition'))
  assert set(np.unique(cond)) == {-1.0, 1.0}
  # skimage's Sobel magnitude is scipy's up to a constant factor, which the division by the
  # image maximum removes; pixels within float rounding of the threshold may differ.
  magnitude = np.stack([filters.sobel((x + 1) / 2) for x in image])
  want = magnitude / magnitude.max(axis=(1, 2), keepdims=True) > threshold
  assert ((cond == 1) == want).mean() > 0.999
  np.testing.assert_array_equal(paired.baseline(source[0], config), source[0]['condition'])


def test_corruption_depends_on_seed_and_digit_only(tfds_data_dir):
  first = sources.load_source(dataset_config(tfds_data_dir, task='gaussian_noise',
                                             split='train[:100]'))
  again = sources.load_source(dataset_config(tfds_data_dir, task='gaussian_noise',
                                             split='train[:100]'))
  np.testing.assert_array_equal(arrays(first, 'condition'), arrays(again, 'condition'))
  shifted = sources.load_source(dataset_config(tfds_data_dir, task='gaussian_noise',
                                               split='train[50:150]'))
  # Digits 50..99 are in both splits, at different positions: same corruption.
  np.testing.assert_array_equal(arrays(first, 'condition')[50:], arrays(shifted, 'condition')[:50])
  other_seed = sources.load_source(dataset_config(tfds_data_dir, task='gaussian_noise',
                                                  split='train[:100]', corruption__seed=1))
  np.testing.assert_array_equal(arrays(first, 'image'), arrays(other_seed, 'image'))
  assert not np.array_equal(arrays(first, 'condition'), arrays(other_seed, 'condition'))


def test_train_and_held_out_splits_never_overlap(tfds_data_dir):
  config = dataset_config(tfds_data_dir, split='train[:4500]', eval_split='train[4500:]')
  train = sources.load_source(config)
  held_out = sources.load_source(paired.held_out_config(config))
  assert (len(train), len(held_out)) == (4500, 500)
  assert not set(train.examples.indices) & set(held_out.examples.indices)
  assert set(train.examples.indices) | set(held_out.examples.indices) == set(range(5000))
  train_bytes = {x.tobytes() for x in arrays(train, 'image')}
  assert not any(x.tobytes() in train_bytes for x in arrays(held_out, 'image'))
  labels = arrays(held_out, 'label')
  assert labels.dtype == np.int32 and (labels == arrays(held_out, 'condition_label')).all()
  assert held_out.num_classes == 10 and set(labels) == set(range(10))


def test_bad_paired_configs_are_clear_errors(tfds_data_dir):
  with pytest.raises(ValueError, match='dataset.task'):
    sources.load_source(dataset_config(tfds_data_dir, task='colorize'))
  with pytest.raises(ValueError, match="'train\\[:4500\\]'"):
    sources.load_source(dataset_config(tfds_data_dir, split='test'))
  with pytest.raises(ValueError, match='pad, never scale'):
    sources.load_source(dataset_config(tfds_data_dir, image_size=20))
  with pytest.raises(ValueError, match='box_min'):
    sources.load_source(dataset_config(tfds_data_dir, task='inpainting', corruption__box_min=0))
  with pytest.raises(ValueError, match='eval_split'):
    paired.held_out_config(dataset_config(tfds_data_dir))


def test_28px_keeps_the_digits(tfds_data_dir):
  source = sources.load_source(dataset_config(tfds_data_dir, image_size=0, split='train[:5]'))
  assert source.data_shape == source.condition_shape == (28, 28, 1)
  rgb = sources.load_source(dataset_config(tfds_data_dir, channels=3, split='train[:5]'))
  assert rgb.data_shape == rgb.condition_shape == (SIDE, SIDE, 3)


# ---- unpaired ---------------------------------------------------------------------------------
def test_unpaired_digits_domains(tfds_data_dir):
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  uci = load_digits()
  config = dataset_config(tfds_data_dir, name='unpaired_digits', split='train[:4500]',
                          eval_split='train[4500:]')
  source = sources.load_source(config, seed=0)
  held_out = sources.load_source(paired.held_out_config(config), seed=0)
  check_frame(source)
  assert isinstance(source.examples, unpaired.UnpairedExamples)
  assert len(source) == 4500 and len(held_out) == 500  # max(len A, len B).
  a_train, a_held = source.examples.domain_a, held_out.examples.domain_a
  assert (len(a_train), len(a_held)) == (1500, 297)
  # Domain A holds UCI digits 0..1499 and 1500..1796 in order, labels kept.
  np.testing.assert_array_equal(a_train.labels, uci.target[:1500])
  np.testing.assert_array_equal(a_held.labels, uci.target[1500:])
  # Every A digit appears, independently of the B digit it is paired with.
  perm = source.examples.perm
  np.testing.assert_array_equal(arrays(source, 'condition_label'), uci.target[perm % 1500])
  assert len(set(perm % 1500)) == 1500
  b_labels = arrays(source, 'label')
  assert b_labels.dtype == np.int32 and set(b_labels) == set(range(10))
  # Framed like MNIST: 20x20 digit centred on a 28x28 black canvas (4 px margins).
  a = digit_region(a_train.data)
  assert (a[:, :4] == -1).all() and (a[:, -4:] == -1).all()
  assert (a[:, :, :4] == -1).all() and (a[:, :, -4:] == -1).all()
  ink = a + 1
  rows = (ink.sum(2) * np.arange(28)).sum(1) / ink.sum((1, 2))
  assert abs(rows.mean() - 13.5) < 1.0  # Centre of mass near the canvas centre.
  # Upsampled, not copied blocks: a 8x8 digit scaled 2.5x by bicubic has many grey levels.
  assert len(np.unique(a[0])) > 30


def test_uci_projection_keeps_uci_digits_and_removes_what_they_cannot_hold():
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  up = unpaired.uci_upsampling_matrix()
  assert up.shape == (20, 8)
  x = np.random.default_rng(0).random((8, 8)).astype(np.float32)
  pil = np.asarray(Image.fromarray(x).resize((20, 20), Image.BICUBIC))
  np.testing.assert_allclose(up @ x @ up.T, pil, atol=1e-5)  # PIL itself is the reference.
  digits, _ = unpaired.uci_digits('train[:200]')
  framed = np.pad(digits, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)  # 32 px.
  projected = np.asarray(unpaired.uci_projection(jnp.asarray(framed)))
  assert np.abs(projected - framed).max() < 0.25  # The clipped over/undershoots of bicubic.
  assert np.abs(projected - framed).mean() < 0.01
  outside = np.ones((32, 32), bool)
  outside[6:26, 6:26] = False
  assert (projected[:, outside] == -1).all()
  # An unclipped image of the space comes back exactly; a checkerboard (no 8x8 image upsamples
  # to it) and anything outside the 20x20 box are removed.
  inside = 0.3 + 0.4 * (up @ x @ up.T)  # In [0.3, 0.7]: no clipping.
  clean = np.full((1, 32, 32, 1), -1.0, np.float32)
  clean[0, 6:26, 6:26, 0] = inside * 2 - 1
  np.testing.assert_allclose(unpaired.uci_projection(jnp.asarray(clean)), clean, atol=1e-5)
  checker = 0.1 * (-1.0) ** np.add.outer(np.arange(32), np.arange(32))[None, :, :, None]
  np.testing.assert_allclose(unpaired.uci_projection(jnp.asarray(clean + checker)), clean,
                             atol=0.02)
  with pytest.raises(ValueError, match='side >= 28'):
    unpaired.uci_projection(jnp.zeros((1, 16, 16, 1)))
  # Read back as 8x8 pixels (0..16): a UCI digit's own, up to the clipping of the upsampling.
  pixels, _ = unpaired.uci_digit_pixels('train[:200]')
  read = unpaired.uci_pixels(framed)
  assert read.shape == (200, 8, 8)
  assert np.abs(read - pixels).mean() < 0.2 and np.abs(read - pixels).max() < 1.5
  np.testing.assert_allclose(unpaired.uci_pixels(clean)[0], 16 * (0.3 + 0.4 * x), atol=1e-3)
  np.testing.assert_allclose(unpaired.uci_pixels(np.repeat(framed[:3], 3, -1)), read[:3],
                             atol=1e-5)  # dataset.channels=3: grey copied.


def test_unpaired_tfds_missing_and_mocked(tmp_path):
  config = dataset_config(str(tmp_path), name='cycle_gan/horse2zebra', split='trainB',
                          domain_a_split='trainA')
  with pytest.raises(FileNotFoundError, match='download_and_prepare'):
    sources.load_source(config)
  with tfds.testing.mock_data(num_examples=5, policy=tfds.testing.MockPolicy.USE_CODE):
    source = sources.load_source(config)
  assert source.data_shape == source.condition_shape == (SIDE, SIDE, 3)
  example = source[4]
  assert set(example) == {'image', 'label', 'condition', 'condition_label'}
  assert example['condition'].shape == (SIDE, SIDE, 3)


def test_pipeline_stacks_every_key(tfds_data_dir):
  source = sources.load_source(dataset_config(tfds_data_dir, task='inpainting'))
  batch = pipeline.batch_for_step(source, 3, global_batch=8, n_critic=2)
  assert set(batch) == {'image', 'label', 'condition', 'condition_label'}
  assert batch['condition'].shape == (2, 8, SIDE, SIDE, 1)
  assert batch['condition_label'].shape == (2, 8)
  first = source[3 * 16]
  np.testing.assert_array_equal(batch['condition'][0, 0], first['condition'])
  np.testing.assert_array_equal(batch['image'][0, 0], first['image'])
  described = sources.describe(source)
  assert described['condition_shape'] == [SIDE, SIDE, 1]
