"""A small CNN classifier as the feature extractor for MNIST-like data, and the metrics
computed with it (Inception-v3 is trained on ImageNet photos and is not meaningful on
28x28 digits, so GAN papers on MNIST use a domain classifier instead).

- Frechet distance in its penultimate (feature_dim) space (the FID formula, Heusel 2017).
- Classifier score: the Inception Score formula (Salimans 2016) with its softmax.
- Class histogram of samples (argmax predictions, normalized) and
  KL(sample class histogram || data class distribution) = sum_c p_c log(p_c / q_c),
  0 for a generator matching the label marginal, large under mode dropping.

Images are NHWC (or NHW, a channel axis is added) in the range the classifier was trained
on; the project's data pipeline and generators use [-1, 1]. Training is one compiled
`lax.scan` over steps (optax Adam, minibatches drawn with replacement from a seed), so
`train_classifier` is a pure function of its arguments. Weights are saved with
`flax.serialization` (msgpack) and cached per dataset name under a cache directory.

Every function takes an optional `module`: any Flax module mapping a batch to (features,
logits), e.g. the 3-D clip, voxel and spectrogram classifiers of the video, 3-D and audio
metrics; None is SmallCNN on images (N, H, W[, C]). Its inputs are passed as they are.
"""

import functools
import hashlib
import os

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.metrics import frechet
from gan_jax.metrics import inception_score as inception_score_lib


class PatchConv3x3(nn.Module):
  """3x3 'SAME' convolution written as patch extraction + one matmul (nn.Dense).

  Written by hand because XLA on CPU compiles the weight gradient of nn.Conv to a very slow
  kernel (seconds per step for this small network); shifted slices + matmul train ~100x
  faster and compute the same function.
  """
  features: int

  @nn.compact
  def __call__(self, x):
    h, w = x.shape[1], x.shape[2]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    patches = jnp.concatenate(
        [xp[:, a:a + h, b:b + w, :] for a in range(3) for b in range(3)], axis=-1)
    return nn.Dense(self.features, name='dense')(patches)


class SmallCNN(nn.Module):
  """conv3x3(32)-relu-avgpool2 -> conv3x3(64)-relu-avgpool2 -> dense(feature_dim)-relu
  (features) -> dense(num_classes) (logits)."""
  num_classes: int
  feature_dim: int = 128

  @nn.compact
  def __call__(self, x):
    x = nn.relu(PatchConv3x3(32, name='conv1')(x))
    x = nn.avg_pool(x, (2, 2), (2, 2))
    x = nn.relu(PatchConv3x3(64, name='conv2')(x))
    x = nn.avg_pool(x, (2, 2), (2, 2))
    features = nn.relu(nn.Dense(self.feature_dim, name='features')(x.reshape(x.shape[0], -1)))
    return features, nn.Dense(self.num_classes, name='logits')(features)


def _as_nhwc(images):
  images = jnp.asarray(images, jnp.float32)
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4:
    raise ValueError(f'Expected images (N, H, W, C) or (N, H, W); got shape {images.shape}. '
                     f'Reshape flat vectors, e.g. x.reshape(-1, 28, 28).')
  return images


def _module(variables, module=None):
  if module is not None:
    return module
  kernel = variables['params']['logits']['kernel']
  return SmallCNN(num_classes=kernel.shape[1], feature_dim=kernel.shape[0])


def _inputs(images, module):
  return _as_nhwc(images) if module is None else jnp.asarray(images, jnp.float32)


@functools.partial(jax.jit, static_argnames=('num_classes', 'steps', 'batch_size',
                                             'learning_rate', 'module'))
def _train(images, labels, key, num_classes, steps, batch_size, learning_rate, probs=None,
           module=None):
  model = SmallCNN(num_classes) if module is None else module
  init_key, data_key = jax.random.split(key)
  variables = model.init(init_key, images[:1])
  tx = optax.adam(learning_rate)

  def loss_fn(params, x, y):
    logits = model.apply({'params': params}, x)[1]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  def step(carry, step_key):
    params, opt_state = carry
    if probs is None:
      idx = jax.random.randint(step_key, (batch_size,), 0, images.shape[0])
    else:
      idx = jax.random.choice(step_key, images.shape[0], (batch_size,), p=probs)
    grads = jax.grad(loss_fn)(params, images[idx], labels[idx])
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  params = variables['params']
  (params, _), _ = jax.lax.scan(step, (params, tx.init(params)),
                                jax.random.split(data_key, steps))
  return {'params': params}


def train_classifier(images, labels, *, num_classes, steps=500, seed=0, batch_size=128,
                     learning_rate=1e-3, sampling_weights=None, module=None):
  """Trains SmallCNN (or `module`, whose logits must have num_classes entries) with Adam on
  (images, integer labels) -> variables {'params': ...}.

  Minibatches are drawn with replacement, uniformly, or with probability proportional to
  `sampling_weights` (N,) (e.g. half of each batch from a real and half from a generated
  set: weights 0.5 / n_real and 0.5 / n_generated).
  """
  images = _inputs(images, module)
  labels = jnp.asarray(labels, jnp.int32)
  if labels.shape != images.shape[:1]:
    raise ValueError(f'Need one label per image; got {labels.shape[0] if labels.ndim else 0} '
                     f'labels for {images.shape[0]} images.')
  if steps < 1 or batch_size < 1 or num_classes < 2:
    raise ValueError(f'steps, batch_size must be >= 1 and num_classes >= 2; got {steps}, '
                     f'{batch_size}, {num_classes}.')
  probs = None
  if sampling_weights is not None:
    w = np.asarray(sampling_weights, np.float64)
    if w.shape != labels.shape or np.any(w < 0) or not w.sum() > 0:
      raise ValueError(f'sampling_weights must be {labels.shape[0]} non-negative numbers, not '
                       f'all 0; got shape {w.shape}.')
    probs = jnp.asarray(w / w.sum(), jnp.float32)
  return _train(images, labels, jax.random.key(seed), num_classes, steps, batch_size,
                learning_rate, probs, module=module)


@functools.partial(jax.jit, static_argnames=('module',))
def _apply(variables, images, module=None):
  return _module(variables, module).apply(variables, images)


def classifier_features(variables, images, *, batch_size=1000, module=None):
  """(features (N, feature_dim), logits (N, num_classes)), computed in batches."""
  images = _inputs(images, module)
  feats, logits = [], []
  for start in range(0, images.shape[0], batch_size):
    f, l = _apply(variables, images[start:start + batch_size], module=module)
    feats.append(f)
    logits.append(l)
  return jnp.concatenate(feats), jnp.concatenate(logits)


def top1_agreement(logits, labels):
  """Fraction of rows of logits (N, K) whose argmax equals the label (N,): accuracy, or class
  preservation when the labels are the classes of a translation's source images."""
  logits, labels = jnp.asarray(logits), jnp.asarray(labels)
  if logits.ndim != 2 or labels.shape != logits.shape[:1]:
    raise ValueError(f'Need logits (N, K) and one label per row; got {logits.shape} and '
                     f'{labels.shape}.')
  return jnp.mean(jnp.argmax(logits, -1) == labels)


def classifier_accuracy(variables, images, labels, *, module=None):
  """Fraction of images whose argmax prediction equals the label."""
  return top1_agreement(classifier_features(variables, images, module=module)[1], labels)


def classifier_frechet_distance(variables, real_images, fake_images, *, module=None):
  """Frechet distance between Gaussians fitted to the classifier's features."""
  return frechet.frechet_distance_from_features(
      classifier_features(variables, real_images, module=module)[0],
      classifier_features(variables, fake_images, module=module)[0])


def classifier_score(variables, images, *, splits=10, module=None):
  """(mean, std) over splits of exp(E KL(p(y|x) || p(y))) with the classifier's softmax."""
  return inception_score_lib.inception_score(
      classifier_features(variables, images, module=module)[1], splits=splits)


def class_histogram(variables, images, *, module=None):
  """Normalized histogram (num_classes,) of the classifier's argmax predictions."""
  logits = classifier_features(variables, images, module=module)[1]
  counts = jnp.bincount(jnp.argmax(logits, -1), length=logits.shape[-1])
  return counts / logits.shape[0]


def label_distribution(labels, num_classes):
  """Normalized class frequencies (num_classes,) of integer labels (the data distribution)."""
  return jnp.bincount(jnp.asarray(labels, jnp.int32), length=num_classes) / len(labels)


@jax.jit
def histogram_kl(p, q):
  """KL(p || q) = sum_c p_c log(p_c / q_c), with 0 log 0 = 0 (inf where q_c = 0 < p_c)."""
  p, q = jnp.asarray(p, jnp.float32), jnp.asarray(q, jnp.float32)
  safe_q = jnp.where(p > 0, q, 1.0)
  return jnp.sum(jnp.where(p > 0, p * (jnp.log(p) - jnp.log(safe_q)), 0.0))


def class_histogram_kl(variables, images, data_distribution, *, module=None):
  """KL(class histogram of images || data_distribution), e.g. label_distribution(labels)."""
  return histogram_kl(class_histogram(variables, images, module=module), data_distribution)


def save_classifier(path, variables):
  """Writes variables as msgpack (flax.serialization), atomically (tmp file + rename)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, variables)))
  os.replace(tmp, path)


def load_classifier(path):
  """Reads variables written by save_classifier."""
  with open(path, 'rb') as f:
    variables = flax.serialization.msgpack_restore(f.read())
  if 'params' not in variables:
    raise ValueError(f'{path!r} does not hold classifier variables; delete it to retrain.')
  return jax.tree.map(jnp.asarray, variables)


def file_sha256(path):
  """Hex SHA-256 of a file, for recording which weights produced a metric."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def classifier_cache_path(cache_dir, dataset_name, *, steps, seed, architecture='small_cnn'):
  return os.path.join(cache_dir,
                      f'{dataset_name}_{architecture}_steps{steps}_seed{seed}.msgpack')


def cached_classifier(cache_dir, dataset_name, images, labels, *, num_classes, steps=500,
                      seed=0, batch_size=128, module=None, architecture='small_cnn'):
  """Loads the classifier cached for dataset_name, or trains and caches it. A `module` other
  than SmallCNN needs its own `architecture` name (part of the cache file name).

  Returns (variables, path, sha256 of the weights file).
  """
  if module is not None and architecture == 'small_cnn':
    raise ValueError('cached_classifier with a module needs architecture=<its name>, so its '
                     'weights are not cached under SmallCNN\'s file name.')
  path = classifier_cache_path(cache_dir, dataset_name, steps=steps, seed=seed,
                               architecture=architecture)
  if os.path.exists(path):
    variables = load_classifier(path)
  else:
    variables = train_classifier(images, labels, num_classes=num_classes, steps=steps,
                                 seed=seed, batch_size=batch_size, module=module)
    save_classifier(path, variables)
  return variables, path, file_sha256(path)
