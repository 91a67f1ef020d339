"""Class-conditional and InfoGAN sampling and evaluation.

Fast: the metrics against independent references (brute-force matching, numpy loops),
InfoGAN's code latents and traversals, the labelled .npz and examples_per_class data paths,
the held-out checks, the per-class / per-code grids of untrained tiny models, weighted
classifier minibatches.
Slow: a short ACGAN run whose samples the evaluation classifier assigns to the requested
class clearly above chance, the class protocol (CAS, augmentation) on it, and
launch/sample.py --per_class / --label / .npz on it, read back by the data loading.
"""

import itertools
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import helpers
from configs import acgan
from configs import default
from gan_jax import conditional_evaluation, data, evaluation, models, overrides, sampling, train
from gan_jax.data import sources
from gan_jax.metrics import class_conditional
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import frechet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from launch import sample  # pylint: disable=g-import-not-at-top,wrong-import-position


# ---- metrics --------------------------------------------------------------------------------

def test_requested_class_accuracy_by_hand():
  requested = np.array([0, 0, 1, 1, 1, 2])
  predicted = np.array([0, 1, 1, 1, 0, 0])
  r = class_conditional.requested_class_accuracy(predicted, requested, 4)
  assert r['overall'] == pytest.approx(3 / 6)
  assert r['per_class'][:3] == pytest.approx([1 / 2, 2 / 3, 0.0])
  assert np.isnan(r['per_class'][3])  # Never requested.
  with pytest.raises(ValueError, match=r'\[0, 2\)'):
    class_conditional.requested_class_accuracy(predicted, requested, 2)


@pytest.mark.parametrize('codes,classes', [(4, 4), (5, 4), (3, 5)])
def test_matched_code_error_is_the_best_permutation(codes, classes):
  """Hungarian matching == brute force over every one-to-one assignment."""
  rng = np.random.default_rng(codes * 10 + classes)
  code = rng.integers(0, codes, 400)
  predicted = np.where(rng.random(400) < 0.7, (code * 3 + 1) % classes,
                       rng.integers(0, classes, 400))
  counts = class_conditional.confusion_counts(code, predicted, codes, classes)
  loop = np.zeros((codes, classes), int)
  for c, p in zip(code, predicted):
    loop[c, p] += 1
  np.testing.assert_array_equal(counts, loop)
  error, mapping = class_conditional.matched_code_error(counts)
  best = 0
  m = min(codes, classes)
  for rows in itertools.permutations(range(codes), m):
    for cols in itertools.permutations(range(classes), m):
      best = max(best, sum(counts[r, c] for r, c in zip(rows, cols)))
  assert error == pytest.approx(1 - best / 400)
  matched = [c for c in mapping if c >= 0]
  assert len(matched) == m and len(set(matched)) == m  # One to one.
  assert sum(counts[i, c] for i, c in enumerate(mapping) if c >= 0) == best


def test_intra_class_fid_is_the_per_class_frechet_distance():
  rng = np.random.default_rng(0)
  real, real_y = rng.normal(size=(60, 3)), np.repeat([0, 1, 2], 20)
  fake, fake_y = rng.normal(size=(40, 3)) + 1, np.repeat([0, 1], 20)  # Class 2 missing.
  r = conditional_evaluation.intra_class_fid(real, real_y, fake, fake_y, 3)
  for c in (0, 1):
    assert r['per_class'][c] == pytest.approx(float(frechet.frechet_distance_from_features(
        real[real_y == c], fake[fake_y == c])), rel=1e-5)
  assert np.isnan(r['per_class'][2])
  assert r['mean'] == pytest.approx(np.mean(r['per_class'][:2]))


def test_weighted_minibatches_draw_only_weighted_examples():
  """All weight on class-0 examples: the classifier never sees another label."""
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (40, 8, 8, 1)).astype(np.float32)
  labels = np.repeat([0, 1], 20)
  weights = (labels == 0).astype(float)
  variables = classifier_lib.train_classifier(images, labels, num_classes=2, steps=30,
                                              batch_size=16, sampling_weights=weights)
  logits = classifier_lib.classifier_features(variables, images)[1]
  assert np.all(np.argmax(logits, -1) == 0)
  with pytest.raises(ValueError, match='sampling_weights'):
    classifier_lib.train_classifier(images, labels, num_classes=2, steps=1,
                                    sampling_weights=np.zeros(40))


def test_filter_keeps_exactly_the_samples_the_classifier_agrees_with():
  """eval.classes.filter_generated's selection: a sample stays iff the classifier's argmax is
  its label; the shares kept per class against a numpy count."""
  rng = np.random.default_rng(1)
  images = rng.uniform(-1, 1, (60, 8, 8, 1)).astype(np.float32)
  variables = classifier_lib.train_classifier(images, np.arange(60) % 3, num_classes=3,
                                              steps=1, batch_size=16)
  predicted = np.argmax(classifier_lib.classifier_features(variables, images)[1], -1)
  agree = rng.uniform(size=60) < 0.6
  labels = np.where(agree, predicted, (predicted + 1) % 3)
  kept_images, kept_labels, kept = conditional_evaluation.filter_by_classifier(
      variables, images, labels, 3)
  np.testing.assert_array_equal(kept_images, images[agree])
  np.testing.assert_array_equal(kept_labels, labels[agree])
  assert kept['overall'] == pytest.approx(agree.mean())
  expected = [agree[labels == c].mean() if np.any(labels == c) else np.nan for c in range(3)]
  np.testing.assert_allclose(kept['per_class'], expected)  # nan (no sample) == nan
  with pytest.raises(ValueError, match='filter_generated kept no sample'):
    conditional_evaluation.filter_by_classifier(variables, images, (predicted + 1) % 3, 3)


# ---- latents, grids -------------------------------------------------------------------------

def _infogan_networks(categorical=3, continuous=2):
  cfg = helpers.model_config('dcgan', g_width=8, d_width=8, latent_dim=4 + categorical + continuous,
                             d_q_head=True, **{'infogan.categorical': categorical,
                                               'infogan.continuous': continuous,
                                               'infogan.hidden': 8})
  return models.build_networks(cfg, (28, 28, 1))


def test_infogan_latents_hold_the_codes_training_draws():
  networks = _infogan_networks()
  z = np.asarray(networks.sample_latents(jax.random.key(3), 500))
  noise, cat, cont = (np.asarray(a) for a in networks.sample_codes(jax.random.key(3), 500))
  np.testing.assert_array_equal(z[:, :4], noise)
  np.testing.assert_array_equal(z[:, 4:7], np.eye(3)[cat])
  np.testing.assert_array_equal(z[:, 7:], cont)
  assert set(cat) == {0, 1, 2} and np.all(np.abs(cont) <= 1)
  # The InfoGAN objective feeds G exactly these latents (so sampling matches training).
  config = default.get_config()
  config.objective.name = 'infogan'
  config.model.latent_dim = 9
  overrides.set_field(config, 'model.infogan.categorical', 3)
  from gan_jax import objectives, train_step  # pylint: disable=g-import-not-at-top
  objective = objectives.get_objective(config)
  ctx = train_step.make_context(config, networks, None)
  key = jax.random.key(5)
  g_inputs = objective.generator_inputs(ctx, key, {'image': np.zeros((6, 28, 28, 1))})
  np.testing.assert_array_equal(
      g_inputs['z'], networks.sample_latents(jax.random.split(key)[0], 6))
  np.testing.assert_array_equal(g_inputs['categorical'], np.argmax(g_inputs['z'][:, 4:7], -1))


def test_code_latents_and_traversals():
  networks = _infogan_networks()
  z = sampling.code_latents(networks, jax.random.key(0), 4, categorical=[2, 2, 0, 1],
                            continuous=np.full((4, 2), 0.5))
  np.testing.assert_array_equal(np.argmax(z[:, 4:7], -1), [2, 2, 0, 1])
  np.testing.assert_array_equal(z[:, 7:], 0.5)
  with pytest.raises(ValueError, match=r'\[0, 3\)'):
    sampling.code_latents(networks, jax.random.key(0), 2, categorical=[0, 3])
  values = np.linspace(-2, 2, 5)
  t = sampling.traversal_latents(networks, jax.random.key(1), 1, values).reshape(3, 5, -1)
  for k in range(3):
    np.testing.assert_array_equal(np.argmax(t[k, :, 4:7], -1), k)  # Row k: code value k.
    np.testing.assert_array_equal(t[k, :, :4], np.repeat(t[k, :1, :4], 5, 0))  # One noise.
    np.testing.assert_allclose(t[k, :, 8], values)  # c_1 sweeps -2 .. 2,
    np.testing.assert_array_equal(t[k, :, 7], 0.0)  # c_0 held at 0.
  with pytest.raises(ValueError, match='out of range'):
    sampling.traversal_latents(networks, jax.random.key(1), 2, values)


def test_per_class_and_per_code_grids(tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  networks = _infogan_networks()
  variables = networks.generator_init(jax.random.key(0))
  paths = sample.write_per_class(networks, variables, 5, jax.random.key(0), str(tmp_path / 'i'))
  assert [os.path.basename(p) for p in paths] == ['i_per_code.png', 'i_traversal_c0.png',
                                                  'i_traversal_c1.png']
  for p in paths:  # 3 code rows x 5 columns of 28 px (+2 px padding), upscaled 2x.
    with Image.open(p) as im:
      assert im.size == (2 * (5 * 30 + 2), 2 * (3 * 30 + 2))
  cond = models.build_networks(helpers.model_config('dcgan', g_width=8, d_width=8,
                                                    latent_dim=8, g_conditioning='cbn'),
                               (28, 28, 1), num_classes=4)
  z, labels, rows = sampling.class_grid_inputs(cond, jax.random.key(0), 3)
  assert rows == 4 and z.shape == (12, 8)
  np.testing.assert_array_equal(labels, np.repeat(np.arange(4), 3))
  z, labels, codes, cont = sample.requested(cond, 6, jax.random.key(0), label=3)
  assert z is None and cont is None and np.all(labels == 3) and np.all(codes == 3)
  with pytest.raises(ValueError, match='out of range'):
    sample.requested(cond, 6, jax.random.key(0), label=4)


# ---- data -----------------------------------------------------------------------------------

def test_labelled_npz_round_trip_and_errors(tmp_path):
  images = np.random.default_rng(0).uniform(-1, 1, (7, 28, 28, 1)).astype(np.float32)
  labels = np.array([0, 1, 2, 3, 4, 5, 9])
  path = sources.save_labelled_npz(str(tmp_path / 'g.npz'), images, labels, num_classes=10,
                                   step=12)
  config = default.get_config()
  config.dataset.update(name='npz', path=path)
  source = data.load_source(config.dataset)
  assert source.num_classes == 10 and source.data_shape == (28, 28, 1) and len(source) == 7
  np.testing.assert_array_equal(source.examples.data, images)
  np.testing.assert_array_equal(source.examples.labels, labels)
  config.dataset.image_size = 32  # Resized like any other dataset.
  assert data.load_source(config.dataset).data_shape == (32, 32, 1)
  config.dataset.path = str(tmp_path / 'missing.npz')
  with pytest.raises(FileNotFoundError, match='launch/sample.py'):
    data.load_source(config.dataset)
  np.savez(str(tmp_path / 'bad.npz'), x=images)
  config.dataset.path = str(tmp_path / 'bad.npz')
  with pytest.raises(ValueError, match='no array "images"'):
    data.load_source(config.dataset)


def test_examples_per_class_and_whole_splits(tfds_data_dir):
  config = default.held_out_digits(default.get_config())
  config.dataset.update(data_dir=tfds_data_dir, examples_per_class=20)
  full = evaluation.load_split(config, 'train[:4000]', whole=True)
  small = data.load_source(config.dataset)
  assert len(full) == 4000 and len(small) == 200
  np.testing.assert_array_equal(np.bincount(small.examples.labels), np.full(10, 20))
  for c in range(10):  # The first 20 of each class, in the split's order.
    np.testing.assert_array_equal(small.examples.data[small.examples.labels == c],
                                  full.examples.data[full.examples.labels == c][:20])
  assert evaluation.load_split(config, config.dataset.split, small) is small
  assert len(evaluation.load_split(config, config.dataset.eval_split)) == 1000  # Whole.
  config.dataset.examples_per_class = 500
  with pytest.raises(ValueError, match='only'):
    data.load_source(config.dataset)


def test_held_out_split_must_be_unseen(tfds_data_dir):
  config = default.held_out_digits(acgan.get_config())
  config.dataset.data_dir = tfds_data_dir
  assert 'shares no digit' in conditional_evaluation.check_disjoint(config)
  config.dataset.eval_split = 'train[3900:]'
  with pytest.raises(ValueError, match='shares 100 digits with dataset.split'):
    conditional_evaluation.check_disjoint(config)
  config.dataset.eval_split = 'train[4000:]'
  config.eval.classifier_split = 'train'
  with pytest.raises(ValueError, match='eval.classifier_split'):
    conditional_evaluation.check_disjoint(config)


# ---- a short trained run (slow) -------------------------------------------------------------

@pytest.fixture(scope='module')
def acgan_run(tmp_path_factory, tfds_data_dir):
  """A 200-step narrow ACGAN on the 4,000 training digits (about 40 s on 2 cores)."""
  root = tmp_path_factory.mktemp('acgan')
  config = acgan.get_config()
  for k, v in {'model.g_width': 16, 'model.d_width': 16, 'batch_size': 32,
               'num_train_steps': 200, 'parallel': 'none', 'log_every': 100,
               'sample_every': 200, 'checkpoint_every': 200, 'dataset.data_dir': tfds_data_dir,
               'eval.cache_dir': str(root / 'cache'), 'eval.classifier_steps': 100,
               'eval.classes.classifier_seeds': 1}.items():
    overrides.set_field(config, k, v)
  workdir = str(root / 'run')
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.mark.slow
def test_short_conditional_run_samples_the_requested_class(acgan_run):
  config, source, networks, state, _ = sampling.load_run(acgan_run)
  r = conditional_evaluation.evaluate_classes(config, networks, state, source, num_per_class=30,
                                              augmentation=True)
  # Chance is 0.1; 200 steps of ACGAN give about 0.5.
  assert r['requested_class_accuracy']['overall'] > 0.3, r['requested_class_accuracy']
  assert r['classifier_held_out_accuracy'] > 0.8
  assert 0 < r['cas']['ratio'] < 1.2 and r['cas']['real']['accuracy'] > 0.8
  assert np.isfinite(r['intra_class_fid']['mean'])
  aug = r['augmentation']
  assert aug['gain'] == pytest.approx(aug['real_plus_generated']['accuracy']
                                      - aug['real_only']['accuracy'])
  assert "held-out 'train[4000:]' (1000 digits)" in r['protocol']['held_out_check']
  assert 'ratio' in conditional_evaluation.summary(r)
  config.eval.classes.filter_generated = True
  f = conditional_evaluation.evaluate_classes(config, networks, state, source, num_per_class=30,
                                              cas=False, augmentation=True)
  kept = f['augmentation']['kept']['overall']
  assert 0 < kept <= 1 and f'of {30 * 10}: those the real-only' in f['protocol']['augmentation']
  assert f'{kept:.1%} of the samples kept' in conditional_evaluation.summary(f)


@pytest.mark.slow
def test_sample_cli_per_class_label_and_npz(acgan_run, tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  script = os.path.join(REPO, 'launch', 'sample.py')
  run = lambda *a: subprocess.run([sys.executable, script, f'--workdir={acgan_run}', *a],
                                  capture_output=True, text=True, check=True,
                                  env=dict(os.environ, JAX_PLATFORMS='cpu'))
  run(f'--out={tmp_path}/s.png', '--per_class', '--per_row=6', '--num=4')
  with Image.open(tmp_path / 's_per_class.png') as im:  # 10 classes x 6, 2x upscaled.
    assert im.size == (2 * (6 * 30 + 2), 2 * (10 * 30 + 2))
  run(f'--out={tmp_path}/seven.npy', '--label=7', '--num=5')
  assert np.load(tmp_path / 'seven.npy').shape == (5, 28, 28, 1)
  np.testing.assert_array_equal(np.load(tmp_path / 'seven_labels.npy'), 7)
  out = run(f'--out={tmp_path}/gen.npz', '--num=30')
  assert 'gen.npz' in out.stdout
  config = default.get_config()
  config.dataset.update(name='npz', path=str(tmp_path / 'gen.npz'))
  source = data.load_source(config.dataset)
  np.testing.assert_array_equal(source.examples.labels, np.arange(30) % 10)
  assert source.num_classes == 10 and np.abs(source.examples.data).max() <= 1
  with np.load(tmp_path / 'gen.npz') as f:
    assert int(f['step']) == 200 and str(f['workdir']) == acgan_run
  failed = subprocess.run([sys.executable, script, f'--workdir={acgan_run}', '--label=10',
                           f'--out={tmp_path}/x.png'], capture_output=True, text=True)
  assert failed.returncode != 0 and 'out of range' in failed.stderr


def test_conditional_recipes_hold_out_digits_and_diffaugment_variant():
  from configs import cgan, infogan, sngan_projection  # pylint: disable=g-import-not-at-top
  for module in (cgan, acgan, sngan_projection, infogan):
    config = module.get_config()
    assert (config.dataset.split, config.dataset.eval_split) == ('train[:4000]', 'train[4000:]')
  config = cgan.get_config('diffaugment,augment.options.policy=translation')
  assert config.augment.name == 'diffaugment'
  assert config.augment.options.to_dict() == {'policy': 'translation'}
  assert default.get_config().augment.name == 'none'
  with pytest.raises(ValueError, match="'diffaugment'"):
    cgan.get_config('diffaugmented')
