"""Stacked MNIST: the dataset, the mode metrics, the digit classifier per channel, evaluate().

References: the stacked images against the embedded digits read on their own
(dataset.name='embedded_mnist', exact equality); mode ids against 100 a + 10 b + c by hand;
KL against hand values (0, log 2, log 1000; atol 1e-12) and scipy.stats.entropy(p, uniform)
(rtol 1e-12); the per-channel classification against the classifier called on each channel
alone (exact: same argmax). Fast tests use a digit classifier of 30 Adam steps (a few
seconds); the real-data floor with the 500-step classifier is marked slow (~1-2 min).
"""

import json
import os
import subprocess
import sys

import chex
import jax
import ml_collections
import numpy as np
import pytest
import scipy.stats

from configs import default
from configs import stacked_mnist as stacked_recipe
from gan_jax import data, evaluation, models
from gan_jax import state as state_lib
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import stacked_modes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _dataset(data_dir, **fields):
  cfg = default.get_config().dataset
  cfg.name, cfg.data_dir, cfg.stacked_size = 'stacked_mnist', data_dir, 1_000
  cfg.update(fields)
  return cfg


def _digits(data_dir, split='train', image_size=0):
  """The embedded digits of `split` read as dataset.name='embedded_mnist' reads them."""
  cfg = default.get_config().dataset
  cfg.data_dir, cfg.split, cfg.image_size = data_dir, split, image_size
  src = data.load_source(cfg)
  return src.examples.data, src.examples.labels


# ---- the dataset --------------------------------------------------------------------------

def test_channels_are_the_indexed_digits_and_label_is_the_mode(tfds_data_dir):
  source = data.load_source(_dataset(tfds_data_dir), seed=3)
  digits, labels = _digits(tfds_data_dir)
  assert len(source) == 1_000 and source.data_shape == (28, 28, 3)
  assert source.num_classes == 1_000 and '1,000 modes' in source.description
  idx = source.examples.indices
  chex.assert_shape(idx, (1_000, 3))
  assert idx.min() >= 0 and idx.max() < 5_000
  for i in (0, 1, 517, 999):
    ex = source[i]
    chex.assert_shape(ex['image'], (28, 28, 3))
    assert ex['image'].dtype == np.float32
    assert ex['image'].min() >= -1.0 and ex['image'].max() <= 1.0
    for c in range(3):
      np.testing.assert_array_equal(ex['image'][..., c], digits[idx[i, c], ..., 0])
    a, b, c = labels[idx[i]]
    assert ex['label'] == 100 * a + 10 * b + c
  images, modes = source.examples.arrays(10, 20)
  np.testing.assert_array_equal(images, np.stack([source[i]['image'] for i in range(10, 20)]))
  np.testing.assert_array_equal(modes, [source[i]['label'] for i in range(10, 20)])


def test_indices_are_a_function_of_the_seed(tfds_data_dir):
  cfg = _dataset(tfds_data_dir)
  a = data.load_source(cfg, seed=3).examples.indices
  np.testing.assert_array_equal(a, data.load_source(cfg, seed=3).examples.indices)
  assert np.mean(a != data.load_source(cfg, seed=4).examples.indices) > 0.99
  np.testing.assert_array_equal(
      a, np.random.default_rng(3).integers(0, 5_000, size=(1_000, 3), dtype=np.int32))


def test_split_and_image_size_are_respected(tfds_data_dir):
  source = data.load_source(_dataset(tfds_data_dir, split='train[:4000]', image_size=32))
  digits, _ = _digits(tfds_data_dir, 'train[:4000]', image_size=32)
  assert source.data_shape == (32, 32, 3) and source.examples.indices.max() < 4_000
  np.testing.assert_array_equal(source.examples.digits, digits)
  np.testing.assert_array_equal(source[5]['image'][..., 1],
                                digits[source.examples.indices[5, 1], ..., 0])


@pytest.mark.parametrize('fields,match', [
    (dict(stacked_size=0), 'stacked_size=0'),
    (dict(split='train[5000:]'), 'holds no digit'),
    (dict(split='train[:3]'), 'holds digits of only'),
    (dict(split='test'), 'not a split'),
    (dict(channels=1), 'channels=1'),
])
def test_bad_config_is_a_clear_error(tfds_data_dir, fields, match):
  with pytest.raises(ValueError, match=match):
    data.load_source(_dataset(tfds_data_dir, **fields))


# ---- mode metrics -------------------------------------------------------------------------

def test_mode_ids_by_hand_and_round_trip():
  digits = np.array([[0, 0, 0], [1, 2, 3], [9, 9, 9], [0, 5, 0]])
  np.testing.assert_array_equal(stacked_modes.mode_ids(digits), [0, 123, 999, 50])
  np.testing.assert_array_equal(stacked_modes.digits_of([0, 123, 999, 50]), digits)
  all_modes = np.arange(1_000)
  np.testing.assert_array_equal(stacked_modes.mode_ids(stacked_modes.digits_of(all_modes)),
                                all_modes)
  with pytest.raises(ValueError, match=r'\(N, 3\)'):
    stacked_modes.mode_ids(np.zeros((4, 2), int))
  with pytest.raises(ValueError, match='0..9'):
    stacked_modes.mode_ids(np.array([[1, 10, 0]]))
  with pytest.raises(ValueError, match='integers'):
    stacked_modes.mode_ids(np.zeros((1, 3)))
  with pytest.raises(ValueError, match=r'\[0, 1000\)'):
    stacked_modes.mode_metrics(np.array([1000]))
  with pytest.raises(ValueError, match='at least one'):
    stacked_modes.mode_metrics(np.zeros((0,), int))


@pytest.mark.parametrize('ids,covered,kl', [
    (np.arange(1_000), 1_000, 0.0),                        # every mode once
    (np.repeat(np.arange(1_000), 7), 1_000, 0.0),          # every mode equally
    (np.repeat(np.arange(0, 1_000, 2), 3), 500, np.log(2)),  # half the modes equally
    (np.full(26, 417), 1, np.log(1_000)),                  # one mode
])
def test_mode_metrics_by_hand(ids, covered, kl):
  m = stacked_modes.mode_metrics(ids)
  assert m['modes_covered'] == covered and m['num_modes'] == 1_000
  assert m['num_samples'] == len(ids) and sum(m['mode_histogram']) == len(ids)
  np.testing.assert_allclose(m['kl'], kl, atol=1e-12)


def test_uniform_expected_modes_by_hand_and_by_simulation():
  """The coverage of an exactly uniform generator: 1,000 (1 - 0.999^N) by hand (rtol 1e-12)
  and the mean over 200 simulated uniform draws of N mode ids (within 3 standard errors)."""
  rng = np.random.default_rng(0)
  for n, want in ((2_000, 864.8), (26_000, 1_000.0), (1, 1.0)):
    m = stacked_modes.mode_metrics(rng.integers(0, 1_000, n))
    np.testing.assert_allclose(m['uniform_expected_modes'], 1_000 * (1 - 0.999 ** n),
                               rtol=1e-12)
    np.testing.assert_allclose(m['uniform_expected_modes'], want, atol=0.05)
  sims = [np.count_nonzero(np.bincount(rng.integers(0, 1_000, 2_000), minlength=1_000))
          for _ in range(200)]
  assert abs(np.mean(sims) - 1_000 * (1 - 0.999 ** 2_000)) < 3 * np.std(sims) / np.sqrt(200)


def test_kl_matches_scipy():
  ids = np.random.default_rng(0).zipf(1.5, size=5_000) % 1_000  # skewed, many empty modes
  m = stacked_modes.mode_metrics(ids)
  counts = np.bincount(ids, minlength=1_000)
  np.testing.assert_array_equal(m['mode_histogram'], counts)
  assert m['modes_covered'] == np.count_nonzero(counts) < 1_000
  np.testing.assert_allclose(m['kl'], scipy.stats.entropy(counts, np.ones(1_000)), rtol=1e-12)


def test_real_stacked_modes_by_their_labels(tfds_data_dir):
  """26,000 real stacked images, counted by their true digits through the counting path:
  all 1,000 modes, and KL near its finite-sample value E KL ~ (M - 1) / 2N = 0.019 (a
  multinomial sample of the uniform modes; 0.0194 measured for seed 0)."""
  source = data.load_source(_dataset(tfds_data_dir, stacked_size=26_000), seed=0)
  _, modes = source.examples.arrays()
  digits = stacked_modes.digits_of(modes)
  m = stacked_modes.mode_metrics(stacked_modes.mode_ids(digits))
  assert m['modes_covered'] == 1_000
  assert 0.01 < m['kl'] < 0.03, m['kl']


# ---- the digit classifier and evaluate() ---------------------------------------------------

@pytest.fixture(scope='module')
def stacked_config(tmp_path_factory, tfds_data_dir):
  """A stacked_mnist config with a 30-step digit classifier of the first 4,000 digits (the
  last 1,000 measure its accuracy), cached in a module directory."""
  config = stacked_recipe.get_config('smoke')
  config.dataset.data_dir = tfds_data_dir
  config.dataset.stacked_size = 2_000
  config.parallel = 'none'
  config.model.g_width = config.model.d_width = 8
  config.model.latent_dim = 16
  config.eval.cache_dir = str(tmp_path_factory.mktemp('stacked_cache'))
  config.eval.classifier_steps = 30
  config.eval.classifier_split = 'train[:4000]'
  return config


def test_the_classifier_is_trained_on_single_digits(stacked_config):
  variables, path, sha = evaluation.get_classifier(stacked_config, log=lambda m: None)
  assert os.path.basename(path) == 'embedded_mnist_train__4000__small_cnn_steps30_seed0.msgpack'
  assert variables['params']['logits']['kernel'].shape[-1] == 10   # digits, not 1,000 modes
  assert variables['params']['conv1']['dense']['kernel'].shape[0] == 9  # 3x3 x 1 channel
  assert sha == classifier_lib.file_sha256(path)


def test_classify_channels_feeds_each_channel_alone(stacked_config, tfds_data_dir):
  variables, _, _ = evaluation.get_classifier(stacked_config, log=lambda m: None)
  images, _ = data.load_source(stacked_config.dataset).examples.arrays(0, 64)
  images[:8] = images[:8, ..., ::-1]  # Channels in another order must follow.
  got = stacked_modes.classify_channels(variables, images, batch_size=50)
  chex.assert_shape(got, (64, 3))
  for c in range(3):
    logits = classifier_lib.classifier_features(variables, images[..., c:c + 1])[1]
    np.testing.assert_array_equal(got[:, c], np.argmax(np.asarray(logits), -1))
  with pytest.raises(ValueError, match=r'\(N, H, W, 3\)'):
    stacked_modes.classify_channels(variables, images[..., :1])


def _tiny_networks(config):
  """A small MLP GAN for (28, 28, 3) data: evaluate() does not depend on the architecture,
  and initializing even a narrow DCGAN compiles for several seconds on 2 shared cores."""
  config = config.copy_and_resolve_references()
  config.model.name = 'mlp'
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (32,)
  networks = models.build_networks(config.model, (28, 28, 3))
  return networks, state_lib.create_state(config, networks, jax.random.key(0))


def test_evaluate_counts_generated_and_real_modes(stacked_config):
  config = stacked_config
  source = data.load_source(config.dataset, seed=config.seed)
  networks, state = _tiny_networks(config)
  quiet = dict(log=lambda m: None)
  fake = evaluation.evaluate(config, networks, state, source, step=0, num_samples=300, **quiet)
  assert 1 <= fake['modes_covered'] <= 300 and fake['num_samples'] == 300
  assert 0 <= fake['kl'] <= np.log(1_000) + 1e-9
  p = fake['protocol']
  assert p['kind'] == 'stacked_modes' and p['generator'] == 'raw' and p['seed'] == 0
  assert p['classifier_train_split'] == 'train[:4000]' and p['classifier_steps'] == 30
  assert p['weights_sha256'] and '1000 held-out' in p['classifier_accuracy_on']
  assert 0.3 < fake['classifier_accuracy'] <= 1   # 30 Adam steps: well above chance (0.1)
  assert p['checkpoint_step'] == 0 and 'log(p_m * num_modes)' in p['kl']
  again = evaluation.evaluate(config, networks, state, source, step=0, num_samples=300, **quiet)
  assert again['mode_histogram'] == fake['mode_histogram']  # key(eval.seed): reproducible
  assert 'Stacked MNIST modes' in evaluation.summary(fake)
  assert set(evaluation.scalars(fake)) >= {'modes_covered', 'kl', 'classifier_accuracy'}
  json.dumps(fake)

  real = evaluation.evaluate(config, networks, state, source, real_split='train',
                             num_samples=1_500, **quiet)
  assert real['num_samples'] == 1_500 and real['protocol']['generator'] is None
  _, labels = source.examples.arrays(0, 1_500)
  truth = stacked_modes.mode_metrics(labels)
  assert (real['label_modes_covered'], real['label_kl']) == (truth['modes_covered'],
                                                             truth['kl'])
  assert 0 <= real['mode_accuracy'] <= 1
  with pytest.raises(ValueError, match='reference_split does not apply'):
    evaluation.evaluate(config, networks, state, source, reference_split='train', **quiet)


def test_recipe_is_the_dcgan_recipe_on_stacked_mnist():
  c, smoke = stacked_recipe.get_config(), stacked_recipe.get_config('smoke,seed=3')
  networks = models.build_networks(c.model, (28, 28, 3))  # The DCGAN outputs 3 channels.
  z = jax.ShapeDtypeStruct((2, c.model.latent_dim), np.float32)
  out = jax.eval_shape(lambda k, z: networks.generator_apply(
      networks.generator_init(k), z, None, train=False)[0], jax.random.key(0), z)
  assert out.shape == (2, 28, 28, 3)
  assert c.dataset.name == 'stacked_mnist' and c.dataset.stacked_size == 128_000
  assert c.model.name == 'dcgan' and c.loss.name == 'non_saturating' and c.ema_decay == 0
  for player in (c.optim.g, c.optim.d):
    assert (player.name, player.lr, player.adam.b1) == ('adam', 2e-4, 0.5)
  assert c.eval.stacked_num_samples == 26_000 and c.num_train_steps == 20_000
  assert smoke.num_train_steps < 10 and smoke.seed == 3 and smoke.eval_every == 0
  assert stacked_recipe.get_config('smoke,eval_every=6').eval_every == 6
  assert isinstance(c.dataset, ml_collections.ConfigDict)


# ---- the real-data floor with the real classifier (slow) ----------------------------------

@pytest.mark.slow
def test_real_floor_through_the_cli(tfds_data_dir, tmp_path):
  """launch/evaluate.py --dataset=stacked_mnist --real_split=train (the 500-step classifier,
  26,000 stacked images of the training digits): every mode found, KL near the sampling
  floor (0.0196 measured, 0.0194 by the true labels), most modes read right (0.981)."""
  out = tmp_path / 'floor.json'
  subprocess.run(
      [sys.executable, os.path.join(REPO, 'launch', 'evaluate.py'), '--dataset=stacked_mnist',
       f'--data_dir={tfds_data_dir}', '--real_split=train', f'--cache_dir={tmp_path}',
       f'--out={out}'], check=True, capture_output=True, text=True,
      env=dict(os.environ, JAX_PLATFORMS='cpu'))
  with open(out) as f:
    r = json.load(f)
  assert r['num_samples'] == 26_000 and r['modes_covered'] == 1_000
  assert r['label_modes_covered'] == 1_000 and r['kl'] < 0.03 and r['label_kl'] < 0.03
  assert r['mode_accuracy'] > 0.95 and r['classifier_accuracy'] > 0.98
  assert r['protocol']['classifier_steps'] == 500 and 'evaluate.py' in r['protocol']['command']
  assert 'none held out' in r['protocol']['classifier_accuracy_on']
