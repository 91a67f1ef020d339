"""Sample-quality evaluation of a trained generator: `evaluate(config, networks, state, source)`.

Image data (data_shape (H, W, C)), in a feature space chosen by `config.eval.feature_extractor`:
- 'classifier' (default; MNIST-like data): the small CNN of `metrics.classifier`, trained on
  the dataset's labelled training split and cached per dataset. Features: its 128-d
  penultimate layer; logits: its class head. Images are fed at their own resolution.
- 'inception': the FID Inception-v3 (`metrics.inception`) from the local weights file
  `config.eval.inception_path` (never downloaded). Features: pool3 (2048-d); logits: the
  1008-way head. Images are resized bilinearly to 299x299 (pytorch-fid's pipeline).
Numbers (generated samples vs the reference split, all in that feature space):
  fid                Frechet distance of Gaussians fitted to the features (Heusel 2017);
  kid_mean, kid_std  unbiased MMD^2, cubic polynomial kernel, over random subsets (Binkowski 2018);
  is_mean, is_std    exp(E KL(p(y|x) || p(y))) over equal splits (Salimans 2016): the
                     Inception Score, or the 'classifier score' with the classifier;
  class_histogram_kl KL(argmax-class histogram of samples || class distribution of the
                     reference labels) (classifier only; 0 = matched label marginal);
  precision, recall  improved precision/recall with k-NN balls, k = eval.pr_k (Kynkaanniemi 2019);
  density, coverage  with k = eval.dc_k (Naeem 2020).
With dataset.eval_split (held-out images of the training distribution), also overfitting:
  d_overfit_gap, ... D's mean logit on training - held-out images (`discriminator_overfitting`);
  g_nearer_train_fraction, g_nn_ratio  G's memorization: how often a sample's nearest pixel
                     neighbour is a training image rather than a held-out one, equal-size sets
                     (~0.5 when G copies nothing), with real held-out images as the floor
                     (`generator_memorization`).
Toy 2-D data (data_shape (2,)): `metrics.modes.mode_metrics` on eval.toy_num_samples samples.
Stacked MNIST (dataset.name='stacked_mnist'): modes covered (of 1,000) and KL(mode histogram
|| uniform) of eval.stacked_num_samples samples, each channel classified by the digit
classifier trained on single grey digits (`metrics.stacked_modes`; `_stacked_evaluate`).
Image-to-image runs (sampling.translation_kind) are evaluated on the held-out split
(dataset.eval_split; CycleGAN's A also domain_a_eval_split), first num_samples examples, by
`evaluate_translation`:
  pix2pix   psnr, ssim (mean over images; metrics.image_similarity, range [-1, 1], on the
            28x28 digit of the digit datasets) of G(input) vs the target, and fid of the
            outputs vs the held-out targets in the feature space; each beside the task's
            trivial baseline (data.paired.baseline: bicubic upsampling for super-resolution,
            the input itself otherwise) as baseline_*, and <metric>_minus_baseline;
  CycleGAN  class_preservation: fraction of held-out A digits whose A->B translation the
            classifier assigns to the A digit's label, beside baseline_class_preservation
            (the classifier on the untranslated A digits); fid of the A->B translations vs
            held-out B, beside baseline_fid (untranslated A vs B); cycle_psnr, cycle_ssim of
            A->B->A vs A. On 'unpaired_digits' also the other direction:
            class_preservation_b_to_a of held-out B digits' B->A translations, read by an SVM
            trained on domain A's UCI pixels (classifier_accuracy_a on held-out A), beside
            the untranslated B digits read the same way; cycle_psnr_b, cycle_ssim_b, and
            cycle_psnr_b_projected (B->A projected onto the UCI space before A->B).
The classifier is trained on eval.classifier_split (default dataset.split), which must share
no digit with dataset.eval_split (`check_classifier_held_out`).

The settings are `config.eval` (configs/default.py). The latents and KID subsets come from
key(eval.seed), for periodic evaluation and launch/evaluate.py alike, so both give the same
numbers for the same checkpoint. The reference features are computed once and cached on
disk under `eval.cache_dir`, keyed by dataset, split, extractor weights' SHA-256, resize and
count. Every result carries a `protocol` dict recording how it was computed.
"""

import functools
import hashlib
import json
import os
import time
from typing import Callable, Optional

import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import data, metric_logging, modalities, sampling
from gan_jax.data import paired, stacked, toy, unpaired
from gan_jax.metrics import class_conditional
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import frechet
from gan_jax.metrics import image_similarity
from gan_jax.metrics import inception
from gan_jax.metrics import inception_score as inception_score_lib
from gan_jax.metrics import kid as kid_lib
from gan_jax.metrics import modes as modes_lib
from gan_jax.metrics import precision_recall as pr_lib
from gan_jax.metrics import stacked_modes
from gan_jax.objectives import base as objective_base

FEATURE_EXTRACTORS = ('classifier', 'inception')
REFERENCE_CACHE_VERSION = 1


def eval_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """config.eval, whose defaults are those of configs/default.py."""
  if 'eval' not in config:
    raise ValueError(
        'The config has no eval block (a run saved by older code?). Load the run with '
        'sampling.load_run(workdir, defaults=configs.default.get_config()), as '
        'launch/evaluate.py does, or start from configs/default.py.')
  return config.eval


def cache_dir(ecfg) -> str:
  """eval.cache_dir as an absolute path."""
  return os.path.abspath(os.path.expanduser(ecfg.cache_dir))


def fields_digest(fields: dict, length: int = 12) -> str:
  """The first `length` hex digits of the SHA-256 of `fields` as sorted JSON: the cache key
  of a classifier or reference set, changing with every field that shapes it."""
  return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:length]


def _safe(name: str) -> str:
  return ''.join(ch if ch.isalnum() or ch in '-_.' else '_' for ch in name)


# ---- data ---------------------------------------------------------------------------------

def load_split(config: ml_collections.ConfigDict, split: str, source=None, *,
               whole: bool = False):
  """The Source of `split` of config.dataset (reuses `source` when it is that split).

  dataset.examples_per_class (a small labelled training set) applies to the training split
  only: other splits, and this one with `whole`, are read whole.
  """
  limited = int(config.dataset.get('examples_per_class', 0) or 0) > 0
  if source is not None and split == config.dataset.split and not (whole and limited):
    return source
  dataset_cfg = ml_collections.ConfigDict(config.dataset.to_dict())
  if limited and (whole or split != config.dataset.split):
    dataset_cfg.examples_per_class = 0
  dataset_cfg.split = split
  return data.load_source(dataset_cfg, seed=config.seed)


def source_arrays(source, num: int = 0):
  """(images float32 (N, ...), labels int32 (N,) or None): the first `num` (0 = all)."""
  n = len(source) if not num else min(num, len(source))
  examples = source.examples
  if hasattr(examples, 'data') and hasattr(examples, 'labels'):
    return np.asarray(examples.data[:n]), np.asarray(examples.labels[:n])
  rows = [source[i] for i in range(n)]
  images = np.stack([r['image'] for r in rows]).astype(np.float32)
  labels = np.asarray([r.get('label', -1) for r in rows], np.int32)
  return images, labels


# ---- feature extractors -------------------------------------------------------------------

class FeatureExtractor:
  """features(images) -> (features (N, D), logits (N, K)) numpy; name, weights, resize."""

  def __init__(self, name: str, fn: Callable, weights_path: str, weights_sha256: str,
               resize: str, note: str = ''):
    self.name, self.fn = name, fn
    self.weights_path, self.weights_sha256 = weights_path, weights_sha256
    self.resize, self.note = resize, note

  def __call__(self, images):
    feats, logits = self.fn(images)
    return np.asarray(feats, np.float32), np.asarray(logits, np.float32)


def classifier_split(config) -> str:
  """The labelled split the evaluation classifier is trained on."""
  return eval_config(config).classifier_split or config.dataset.split


def classifier_dataset_key(config) -> str:
  """Cache name of the evaluation classifier: dataset name (+ split/resize when not default)."""
  d = config.dataset
  key = d.name
  if d.name == 'image_folder':
    key += '_' + hashlib.sha256(os.path.abspath(d.path).encode()).hexdigest()[:10]
  if classifier_split(config) != 'train':
    key += '_' + _safe(classifier_split(config))
  if d.image_size:
    key += f'_size{d.image_size}'
  if d.channels:
    key += f'_ch{d.channels}'
  return key


def get_classifier(config, train_source=None, *, log=metric_logging.log):
  """(variables, path, sha256) of the evaluation classifier; trains and caches it if missing.

  Trained on the labelled split eval.classifier_split (default: the training split
  config.dataset.split, all of it, whatever dataset.examples_per_class: it is a measuring
  instrument) for eval.classifier_steps Adam steps; cached under eval.cache_dir per dataset
  (and split, when not 'train'). For stacked_mnist it is the 10-class classifier of single grey
  digits of that split (stacked_modes.digit_classifier_config), never one of stacked images.
  """
  if config.dataset.name == stacked.NAME:
    config, train_source = stacked_modes.digit_classifier_config(config), None
  ecfg = eval_config(config)
  cache = cache_dir(ecfg)
  name = classifier_dataset_key(config)
  path = classifier_lib.classifier_cache_path(cache, name, steps=int(ecfg.classifier_steps),
                                              seed=int(ecfg.classifier_seed))
  source = load_split(config, classifier_split(config), train_source, whole=True)
  if not source.num_classes:
    raise ValueError(
        f'eval.feature_extractor=classifier needs a labelled dataset; {source.description} has '
        'no labels. Use --config.eval.feature_extractor=inception with '
        '--config.eval.inception_path=/path/to/pt_inception-2015-12-05-6726825d.pth.')
  images = labels = None
  if not os.path.exists(path):
    images, labels = source_arrays(source)
    log(f'Evaluation classifier not found at {path}: training it now '
        f'({ecfg.classifier_steps} Adam steps on {len(images)} labelled images of '
        f'{source.description}); it is cached for later runs.')
    t0 = time.time()
  variables, path, sha = classifier_lib.cached_classifier(
      cache, name, images, labels, num_classes=int(source.num_classes),
      steps=int(ecfg.classifier_steps), seed=int(ecfg.classifier_seed))
  if images is not None:
    log(f'Trained the evaluation classifier in {time.time() - t0:.1f}s -> {path}')
  return variables, path, sha


def _load_inception_variables(path):
  if not path:
    raise FileNotFoundError(
        'eval.feature_extractor=inception needs the FID Inception weights, and nothing is '
        f'downloaded: get {inception.FID_WEIGHTS_FILENAME} (released with pytorch-fid) once '
        'where there is network access and pass --config.eval.inception_path=/path/to/'
        f'{inception.FID_WEIGHTS_FILENAME} (or --inception_path for launch/evaluate.py).')
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'eval.inception_path={path!r} does not exist. Copy the FID Inception weights '
        f'{inception.FID_WEIGHTS_FILENAME} (from pytorch-fid\'s release, downloaded once '
        'elsewhere) to that path, or point --config.eval.inception_path (launch/evaluate.py: '
        '--inception_path) at it; nothing is downloaded.')
  if path.endswith('.msgpack'):
    with open(path, 'rb') as f:
      variables = jax.tree.map(jax.numpy.asarray, flax.serialization.msgpack_restore(f.read()))
    return inception.inception_apply, variables, path
  apply_fn, variables = inception.load_inception(path)
  return apply_fn, variables, path


def check_config(config) -> None:
  """Fails fast (before training) on an eval block that evaluate() would reject."""
  ecfg = eval_config(config)
  if ecfg.feature_extractor not in FEATURE_EXTRACTORS:
    raise ValueError(f'Unknown eval.feature_extractor {ecfg.feature_extractor!r}; choose one '
                     f'of {FEATURE_EXTRACTORS}.')
  if ecfg.feature_extractor == 'inception':
    path = os.path.abspath(os.path.expanduser(ecfg.inception_path)) if ecfg.inception_path else ''
    if not path or not os.path.isfile(path):
      _load_inception_variables(ecfg.inception_path)  # Raises the explanatory error.
  if sampling.translation_kind(config) is not None:
    paired.held_out_config(config.dataset)  # Raises when dataset.eval_split is empty.
    if ecfg.feature_extractor == 'classifier':
      check_classifier_held_out(config)


def build_extractor(config, train_source=None, *, log=metric_logging.log) -> FeatureExtractor:
  """The feature extractor named by config.eval.feature_extractor."""
  ecfg = eval_config(config)
  name = ecfg.feature_extractor
  if name == 'classifier':
    variables, path, sha = get_classifier(config, train_source, log=log)
    fn = lambda images: classifier_lib.classifier_features(variables, images)
    return FeatureExtractor('classifier', fn, path, sha, 'none (native resolution)',
                            note=f'SmallCNN, {ecfg.classifier_steps} Adam steps on '
                                 f'{config.dataset.name}/{classifier_split(config)}; '
                                 '128-d penultimate features')
  if name == 'inception':
    apply_fn, variables, path = _load_inception_variables(ecfg.inception_path)
    bs = int(ecfg.inception_batch_size)
    fn = lambda images: inception.inception_features(apply_fn, variables, images,
                                                     batch_size=bs)
    return FeatureExtractor('inception', fn, path, classifier_lib.file_sha256(path),
                            'bilinear to 299x299, half-pixel centres, no antialias '
                            '(pytorch-fid); grey repeated to RGB',
                            note='FID Inception-v3 (2015-12-05), pool3 2048-d features, '
                                 '1008-way logits')
  raise ValueError(f'Unknown eval.feature_extractor {name!r}; choose one of '
                   f'{FEATURE_EXTRACTORS}.')


# ---- reference statistics (cached) --------------------------------------------------------

_MEMORY_CACHE: dict = {}


def reference_features(config, extractor: FeatureExtractor, split: str, source=None, *,
                       log=metric_logging.log):
  """(features (N, D), class distribution (K,) or None, count, cache path, 'loaded'|'computed').

  Cached in eval.cache_dir/reference/ under a key of (dataset, data_dir-independent split,
  resize/channels, extractor name and weights SHA-256, count).
  """
  ecfg = eval_config(config)
  d = config.dataset
  key_fields = dict(version=REFERENCE_CACHE_VERSION, dataset=d.name,
                    path=os.path.abspath(d.path) if d.path else '', split=split,
                    image_size=int(d.image_size), channels=int(d.channels),
                    extractor=extractor.name, weights_sha256=extractor.weights_sha256,
                    resize=extractor.resize, num_reference=int(ecfg.num_reference))
  per_class = int(d.get('examples_per_class', 0) or 0)
  if per_class and split == d.split:  # Only the training split is limited (load_split).
    key_fields['examples_per_class'] = per_class
  digest = fields_digest(key_fields, 16)
  path = os.path.join(cache_dir(ecfg), 'reference',
                      f'{_safe(d.name)}_{_safe(split)}_{extractor.name}_{digest}.npz')
  if path in _MEMORY_CACHE:
    return (*_MEMORY_CACHE[path], path, 'loaded')
  if os.path.exists(path):
    with np.load(path) as f:
      feats = f['features']
      dist = f['class_distribution'] if f['class_distribution'].size else None
    status = 'loaded'
    log(f'Reference features loaded from cache {path}')
  else:
    src = load_split(config, split, source)
    images, labels = source_arrays(src, int(ecfg.num_reference))
    log(f'Computing reference features of {len(images)} images of {d.name}/{split} with '
        f'the {extractor.name} extractor (cached at {path}).')
    feats, _ = extractor(images)
    dist = None
    if src.num_classes and labels is not None and np.all(labels >= 0):
      dist = np.bincount(labels, minlength=src.num_classes).astype(np.float64) / len(labels)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}.npz'
    np.savez(tmp, features=feats,
             class_distribution=dist if dist is not None else np.zeros((0,)),
             key=json.dumps(key_fields, sort_keys=True))
    os.replace(tmp, path)
    status = 'computed'
  _MEMORY_CACHE[path] = (feats, dist, int(feats.shape[0]))
  return feats, dist, int(feats.shape[0]), path, status


# ---- metrics ------------------------------------------------------------------------------

def feature_metrics(real_features, fake_features, fake_logits, *, key, kid_subsets=100,
                    kid_subset_size=1000, is_splits=10, pr_k=3, dc_k=5,
                    class_distribution=None) -> tuple[dict, dict]:
  """(results, protocol details) of every feature-space metric for one pair of feature sets."""
  real = np.asarray(real_features, np.float32)
  fake = np.asarray(fake_features, np.float32)
  n_min = min(real.shape[0], fake.shape[0])
  subset_size = int(min(kid_subset_size, n_min))
  splits = int(max(1, min(is_splits, fake.shape[0])))
  out = {}
  out['fid'] = float(frechet.frechet_distance_from_features(real, fake))
  kid_mean, kid_std = kid_lib.kernel_inception_distance(real, fake, key, num_subsets=int(
      kid_subsets), subset_size=subset_size)
  out['kid_mean'], out['kid_std'] = float(kid_mean), float(kid_std)
  is_mean, is_std = inception_score_lib.inception_score(np.asarray(fake_logits), splits=splits)
  out['is_mean'], out['is_std'] = float(is_mean), float(is_std)
  precision, recall = pr_lib.precision_recall(real, fake, k=int(pr_k))
  out['precision'], out['recall'] = float(precision), float(recall)
  density, coverage = pr_lib.density_coverage(real, fake, k=int(dc_k))
  out['density'], out['coverage'] = float(density), float(coverage)
  if class_distribution is not None:
    logits = np.asarray(fake_logits)
    hist = np.bincount(np.argmax(logits, -1), minlength=logits.shape[-1]) / logits.shape[0]
    out['class_histogram_kl'] = float(classifier_lib.histogram_kl(hist, class_distribution))
    out['class_histogram'] = [float(h) for h in hist]
  details = dict(kid_subsets=int(kid_subsets), kid_subset_size=subset_size,
                 kid_kernel='k(x,y) = (x.y/d + 1)^3, unbiased MMD^2', is_splits=splits,
                 pr_k=int(pr_k), dc_k=int(dc_k))
  return out, details


def _toy_evaluate(config, networks, state, *, key, ema, step, num_samples, real_split, log):
  ecfg = eval_config(config)
  n = int(num_samples or ecfg.toy_num_samples)
  if real_split is not None:
    samples, _ = toy.sample_toy(jax.random.fold_in(key, 1), config.dataset.name, n)
    samples, what = np.asarray(samples), f'real: fresh draws from {config.dataset.name}'
  else:
    samples = sampling.generate(networks, state, n, key, ema=ema)
    what = 'generated'
  mode_means, std = toy.toy_modes(config.dataset.name)
  results = modes_lib.mode_metrics(samples, mode_means, std)
  log(f'Mode metrics on {n} samples: {results}')
  results['protocol'] = dict(
      kind='toy_modes', dataset=config.dataset.name, samples=what, num_samples=n,
      mode_std=std, high_quality='within 3 std of the nearest mode',
      reverse_kl='KL(mode histogram of high-quality samples || uniform)',
      generator=None if real_split is not None else ('ema' if ema else 'raw'),
      checkpoint_step=step)
  return results


STACKED_CHUNK = 5_000  # Stacked MNIST: samples generated and classified at a time (memory).


def stacked_digit_classifier(config, *, log=metric_logging.log) -> dict:
  """The digit classifier of a stacked_mnist config and its record: {'variables', 'path',
  'sha256', 'split', 'steps', 'seed', 'accuracy', 'accuracy_on'}. Accuracy is measured on the
  embedded digits outside the classifier's split when there are any, else on its own
  training digits."""
  ecfg = eval_config(config)
  variables, path, sha = get_classifier(config, log=log)
  split = classifier_split(config)
  key = ('stacked_digit_accuracy', sha, split, config.dataset.data_dir,
         int(config.dataset.image_size))
  if key not in _MEMORY_CACHE:  # Measured once per process (periodic evaluation repeats it).
    digits, labels = stacked.load_digits(config.dataset, 'train')
    trained = paired.split_indices(split, len(digits), 'eval.classifier_split')
    held = np.setdiff1d(np.arange(len(digits)), trained)
    rows, on = ((held, f'the {held.size} held-out embedded digits outside {split!r}')
                if held.size else
                (trained, f'its own {trained.size} training digits ({split!r}; none held out)'))
    predicted = stacked_modes.classify_digits(variables, digits[rows])
    _MEMORY_CACHE[key] = (float(np.mean(predicted == labels[rows])), on)
  accuracy, on = _MEMORY_CACHE[key]
  return dict(variables=variables, path=path, sha256=sha, split=split,
              steps=int(ecfg.classifier_steps), seed=int(ecfg.classifier_seed),
              accuracy=accuracy, accuracy_on=on)


def _stacked_evaluate(config, networks, state, source, *, key, ema, step, num_samples,
                      real_split, log):
  """Modes covered and KL to uniform of Stacked MNIST samples (metrics.stacked_modes).

  Chunk j of STACKED_CHUNK samples is sampling.generate(..., fold_in(key, j)). With
  real_split: the first num_samples stacked images of that split (the floor), also scored
  by their true modes (label_*) and the classifier's agreement with them (mode_accuracy).
  """
  t_start = time.time()
  ecfg = eval_config(config)
  n = int(num_samples or ecfg.stacked_num_samples)
  clf = stacked_digit_classifier(config, log=log)
  src = None
  if real_split is not None:
    src = load_split(config, real_split, source)
    if len(src) < n:
      log(f'{config.dataset.name}/{real_split} has only {len(src)} images (asked {n}).')
      n = len(src)
  t0 = time.time()
  predicted, true = [], []
  for j, start in enumerate(range(0, n, STACKED_CHUNK)):
    m = min(STACKED_CHUNK, n - start)
    if src is not None:
      images, labels = src.examples.arrays(start, start + m)
      true.append(labels)
    else:
      images = sampling.generate(networks, state, m, jax.random.fold_in(key, j), ema=ema)
    predicted.append(stacked_modes.mode_ids(stacked_modes.classify_channels(
        clf['variables'], images)))
  t_count = time.time() - t0
  predicted = np.concatenate(predicted)
  results = stacked_modes.mode_metrics(predicted)
  results['classifier_accuracy'] = clf['accuracy']
  if src is not None:
    true = np.concatenate(true)
    truth = stacked_modes.mode_metrics(true)
    results['label_modes_covered'], results['label_kl'] = truth['modes_covered'], truth['kl']
    results['mode_accuracy'] = float(np.mean(predicted == true))
  log(f'Stacked MNIST modes on {n} samples: modes_covered={results["modes_covered"]} '
      f'kl={results["kl"]:.4f}')
  if results['uniform_expected_modes'] < stacked.NUM_MODES - 0.5:
    log(f'Note: {n} samples cover only ~{results["uniform_expected_modes"]:.0f} of '
        f'{stacked.NUM_MODES} modes even from a uniform generator; the papers count '
        f'{ecfg.stacked_num_samples:,} (eval.stacked_num_samples; --num_samples overrides it).')
  results['protocol'] = dict(
      kind='stacked_modes',
      dataset=config.dataset.name,
      digit_split=config.dataset.split,
      samples=(f'real images: first {n} of {config.dataset.name}/{real_split}'
               if src is not None else f'generated ({"EMA" if ema else "raw"} generator)'),
      num_samples=int(n),
      num_modes=stacked.NUM_MODES,
      mode='100 d_R + 10 d_G + d_B, d_c = argmax of the digit classifier on channel c fed '
           'alone as a 1-channel digit image',
      modes_covered='modes with at least one sample',
      kl=stacked_modes.KL_DEFINITION,
      label_metrics=('label_modes_covered / label_kl: the same numbers from the true modes; '
                     'mode_accuracy: fraction of images whose counted mode is the true one'
                     if src is not None else None),
      classifier='SmallCNN (gan_jax/metrics/classifier.py), 10 digit classes, trained on '
                 'single grey embedded MNIST digits (not on stacked images)',
      classifier_train_split=clf['split'],
      classifier_steps=clf['steps'],
      classifier_seed=clf['seed'],
      classifier_accuracy_on=clf['accuracy_on'],
      weights_path=clf['path'],
      weights_sha256=clf['sha256'],
      chunk=f'{STACKED_CHUNK} samples at a time; generated chunk j from fold_in(sample key, j)',
      generator=None if src is not None else ('ema' if ema else 'raw'),
      checkpoint_step=None if step is None else int(step),
      wall_time_s=dict(total=round(time.time() - t_start, 2), count=round(t_count, 2)),
  )
  return results


def evaluate(config: ml_collections.ConfigDict, networks, state, source, *,
             key: Optional[jax.Array] = None, step: Optional[int] = None,
             num_samples: Optional[int] = None, ema: Optional[bool] = None,
             reference_split: Optional[str] = None, real_split: Optional[str] = None,
             log: Callable[[str], None] = metric_logging.log) -> dict:
  """Evaluates the generator in `state` (or a real split) against the reference split.

  Args:
    config: the run's config (its `eval` block sets the protocol).
    networks, state: the run's Networks and host GANState (see sampling.load_run).
    source: the run's training Source (reused as the reference set when it is that split).
    key: PRNG key for the latents and the KID subsets (default: key(eval.seed)).
    step: checkpoint step, recorded in the protocol.
    num_samples: overrides eval.num_samples (or eval.toy_num_samples for 2-D data,
      eval.stacked_num_samples for Stacked MNIST).
    ema: use the EMA generator (default: eval.ema and config.ema_decay > 0).
    reference_split: overrides eval.reference_split ('' = config.dataset.split).
    real_split: evaluate the first num_samples images of this split of the dataset in place
      of generated samples (the real-vs-real floor, e.g. 'train[50%:]' vs 'train[:50%]').
    log: progress messages.
  Returns:
    {metric: float, ..., 'protocol': {...}}.
  """
  t_start = time.time()
  ecfg = eval_config(config)
  if ema is None:
    ema = bool(ecfg.ema) and float(config.ema_decay) > 0
  seed = int(ecfg.seed) if key is None else None
  if key is None:
    key = jax.random.key(seed)
  sample_key, kid_key = jax.random.split(key)
  if sampling.translation_kind(config) is not None:
    if reference_split is not None or real_split is not None:
      raise ValueError('reference_split / real_split do not apply to an image-to-image run: it '
                       'is evaluated on its held-out split dataset.eval_split.')
    translate_fn = lambda images, direction: sampling.translate(
        config, networks, state, images, sample_key, direction=direction, ema=ema)
    results = evaluate_translation(config, translate_fn, step=step, num_samples=num_samples,
                                   generator='ema' if ema else 'raw', train_source=source,
                                   log=log)
    results['protocol'].update(seed=seed, seed_key=_seed_key(seed, 'generator dropout keys, unused'))
    return results
  modality = modalities.for_config(config)
  if modality is not None:  # Clips, voxel grids, audio: the modality's own protocol.
    if reference_split is not None:
      raise ValueError(f'reference_split does not apply to a {modalities.modality(config)} '
                       'run: its protocol names its own reference and held-out sets.')
    results = modality.evaluate(config, networks, state, source, key=sample_key, step=step,
                                num_samples=num_samples, ema=ema, real_split=real_split,
                                log=log)
    results['protocol'].setdefault('seed', seed)
    return results
  if config.dataset.name == stacked.NAME:
    if reference_split is not None:
      raise ValueError('reference_split does not apply to Stacked MNIST: its modes are compared '
                       'with the uniform distribution over the 1,000 modes.')
    results = _stacked_evaluate(config, networks, state, source, key=sample_key, ema=ema,
                                step=step, num_samples=num_samples, real_split=real_split,
                                log=log)
    results['protocol'].update(seed=seed, seed_key=_seed_key(seed, 'latents'))
    return results
  data_shape = tuple(networks.data_shape) if networks is not None else tuple(source.data_shape)
  if len(data_shape) == 1:
    if config.dataset.name not in toy.TOY_DATASETS:
      raise ValueError(f'No evaluation for vector data {config.dataset.name!r}; mode metrics '
                       f'exist for the toy sets {sorted(toy.TOY_DATASETS)}.')
    results = _toy_evaluate(config, networks, state, key=sample_key, ema=ema, step=step,
                            num_samples=num_samples, real_split=real_split, log=log)
    results['protocol'].update(seed=seed, seed_key=_seed_key(seed))
    return results
  if len(data_shape) != 3:
    raise ValueError(f'evaluate() handles images (H, W, C) and toy 2-D data; got data shape '
                     f'{data_shape}.')

  ref_split = reference_split if reference_split is not None else (
      ecfg.reference_split or config.dataset.split)
  n = int(num_samples or ecfg.num_samples)
  extractor = build_extractor(config, source, log=log)
  real_feats, class_dist, n_ref, ref_path, ref_status = reference_features(
      config, extractor, ref_split, source, log=log)

  t0 = time.time()
  if real_split is not None:
    src = load_split(config, real_split, source)
    samples, _ = source_arrays(src, n)
    what = f'real images: first {len(samples)} of {config.dataset.name}/{real_split}'
    if len(samples) < n:
      log(f'{config.dataset.name}/{real_split} has only {len(samples)} images (asked {n}).')
  else:
    labels = None
    samples = sampling.generate(networks, state, n, sample_key, ema=ema, labels=labels)
    what = f'generated ({"EMA" if ema else "raw"} generator)'
  t_gen = time.time() - t0
  t0 = time.time()
  fake_feats, fake_logits = extractor(samples)
  t_feat = time.time() - t0
  t0 = time.time()
  results, details = feature_metrics(
      real_feats, fake_feats, fake_logits, key=kid_key, kid_subsets=ecfg.kid_subsets,
      kid_subset_size=ecfg.kid_subset_size, is_splits=ecfg.is_splits, pr_k=ecfg.pr_k,
      dc_k=ecfg.dc_k,
      class_distribution=class_dist if extractor.name == 'classifier' else None)
  t_metrics = time.time() - t0
  results['protocol'] = dict(
      kind='images',
      dataset=config.dataset.name,
      reference_split=ref_split,
      num_reference=n_ref,
      reference_selection=('first num_reference images of the split' if ecfg.num_reference
                           else 'the whole split'),
      samples=what,
      num_samples=int(len(samples)),
      feature_extractor=extractor.name,
      feature_extractor_note=extractor.note,
      classifier_train_split=(classifier_split(config) if extractor.name == 'classifier'
                              else None),
      weights_path=extractor.weights_path,
      weights_sha256=extractor.weights_sha256,
      resize=extractor.resize,
      image_range='[-1, 1] (generator output / data pipeline)',
      score=('Inception Score' if extractor.name == 'inception' else
             'classifier score (Inception Score formula with the classifier softmax)'),
      **details,
      class_histogram_kl=('KL(argmax-class histogram of samples || reference label '
                          'distribution)' if 'class_histogram_kl' in results else None),
      generator=None if real_split is not None else ('ema' if ema else 'raw'),
      checkpoint_step=None if step is None else int(step),
      seed=seed,
      seed_key=_seed_key(seed),
      reference_cache=ref_path,
      reference_cache_status=ref_status,
      wall_time_s=dict(total=round(time.time() - t_start, 2), generate=round(t_gen, 2),
                       features=round(t_feat, 2), metrics=round(t_metrics, 2)),
  )
  if (real_split is None and config.dataset.get('eval_split') and state is not None
      and networks is not None and networks.condition_shape is None):
    num_overfit = int(ecfg.get('overfit_num_images', 1_000))
    gap, gap_protocol = discriminator_overfitting(config, networks, state, source, num_overfit)
    results.update(gap)
    results['protocol']['discriminator_overfitting'] = gap_protocol
    copying, copying_protocol = generator_memorization(config, samples, source, num_overfit)
    results.update(copying)
    results['protocol']['generator_memorization'] = copying_protocol
  return results


def discriminator_overfitting(config, networks, state, source, num: int) -> tuple[dict, dict]:
  """D's overfitting to its training images (Karras et al. 2020, ADA, figure 1): D's mean
  logit on the first `num` images of the training split minus that on the first `num` of the
  held-out dataset.eval_split, both in evaluation mode without augmentation, and the fraction
  of each that D calls real (logit > 0). A D that memorized its training set scores them
  higher than unseen images of the same distribution (gap > 0)."""
  chunk = 200  # Batches of 200 (and a last one of a multiple of 8): D's minibatch groups divide them.
  apply = jax.jit(lambda v, x, y: objective_base.logit(  # A D with heads returns a dict.
      networks.discriminator_apply(v, x, y, train=False)[0]))

  def logits_of(split):
    images, labels = source_arrays(load_split(config, split, source), num)
    keep = len(images) - len(images) % 8
    images, labels = images[:keep], (labels[:keep] if networks.num_classes else None)
    out = []
    for i in range(0, len(images), chunk):
      y = None if labels is None else jnp.asarray(labels[i:i + chunk])
      out.append(np.asarray(apply(state.discriminator_variables(),
                                  jnp.asarray(images[i:i + chunk]), y)).reshape(-1))
    return np.concatenate(out)

  train, held = logits_of(config.dataset.split), logits_of(config.dataset.eval_split)
  results = {'d_train_logit': float(train.mean()), 'd_heldout_logit': float(held.mean()),
             'd_overfit_gap': float(train.mean() - held.mean()),
             'd_train_real_fraction': float(np.mean(train > 0)),
             'd_heldout_real_fraction': float(np.mean(held > 0))}
  protocol = (f'D (evaluation mode, no augmentation) on the first {len(train)} images of '
              f'{config.dataset.split} (its training images) and the first {len(held)} of '
              f'{config.dataset.eval_split} (held out): d_overfit_gap = mean logit on the '
              'training images - on the held-out ones; *_real_fraction = share with logit > 0.')
  return results, protocol


def generator_memorization(config, samples, source, num: int) -> tuple[dict, str]:
  """G's memorization of its training images: for each sample, the pixel-space L2 distance
  to its nearest neighbour among M training images against that among M held-out images
  (dataset.eval_split), M = min(num, the training split's size, half the held-out split's).
  The two reference sets are the same size and drawn from one distribution, so a G that
  copies nothing is nearer a training image about half the time (g_nearer_train_fraction
  ~0.5, g_nn_ratio ~1); one that reproduces its training set is nearer them (fraction -> 1,
  ratio < 1). The same numbers for the real held-out images after the first M of eval_split
  (up to num of them) give the floor. Pixel space, not a feature space: copying is a
  pixel-level event, and it needs no network. Brute force (scipy's cdist): no index helps
  in thousands of dimensions."""
  from scipy.spatial import distance  # pylint: disable=g-import-not-at-top

  train, _ = source_arrays(load_split(config, config.dataset.split, source), num)
  held_all, _ = source_arrays(load_split(config, config.dataset.eval_split, source),
                              2 * num)
  m = min(len(train), len(held_all) // 2, num)  # Half of eval_split at least for the floor.
  if m < 1:
    return {}, (f'not measured: {config.dataset.eval_split} has {len(held_all)} image(s), '
                'fewer than the 2 it needs (M held-out images and the floor)')
  train, held, real = (a.reshape(len(a), -1).astype(np.float64) for a in
                       (train[:m], held_all[:m], held_all[m:m + num]))

  def nearest(x):
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    d_train = distance.cdist(x, train).min(axis=1)
    d_held = distance.cdist(x, held).min(axis=1)
    return (float(np.mean(d_train < d_held)),
            float(np.mean(d_train / np.maximum(d_held, 1e-12))))

  results = dict(zip(('g_nearer_train_fraction', 'g_nn_ratio'), nearest(samples)))
  if len(real):
    results.update(zip(('real_nearer_train_fraction', 'real_nn_ratio'), nearest(real)))
  protocol = (f'each of {len(samples)} samples: L2 distance in pixels ([-1, 1]) to its nearest '
              f'of the first {m} images of {config.dataset.split} (training) and of the first '
              f'{m} of {config.dataset.eval_split} (held out); g_nearer_train_fraction = share '
              'nearer a training image (~0.5 when G copies nothing, 1 when it reproduces its '
              'training set), g_nn_ratio = mean of nearest-training / nearest-held-out '
              'distance; real_*: the same for '
              f'{len(real)} real held-out images ({config.dataset.eval_split} after the first '
              f'{m}), the floor.')
  return results, protocol


# ---- image-to-image translation -----------------------------------------------------------

DATA_RANGE = 2.0  # Images in [-1, 1].


def held_out_overlap(config, split: str, field: str) -> tuple[int, Optional[int]]:
  """(how many examples `split` of config.dataset shares with dataset.eval_split, the size of
  the held-out split, or None when only names were compared). The embedded digits and the
  datasets built on them (sampling.DIGIT_DATASETS) compare digit indices; other datasets
  compare split names (distinct TFDS split names are disjoint; an equal name counts as 1).
  `field` names `split` in errors."""
  d = config.dataset
  if d.name == 'embedded_mnist' or d.name in sampling.DIGIT_DATASETS:
    from gan_jax.data import embedded_mnist  # pylint: disable=g-import-not-at-top
    n = embedded_mnist.prepare(d.data_dir).info.splits['train'].num_examples
    held = paired.split_indices(d.eval_split, n, 'dataset.eval_split')
    return int(np.intersect1d(paired.split_indices(split, n, field), held).size), int(held.size)
  return int(split == d.eval_split), None


def check_classifier_held_out(config) -> str:
  """Raises ValueError when the evaluation classifier's training split (classifier_split)
  shares examples with dataset.eval_split; returns what was checked, for the protocol."""
  d, clf = config.dataset, classifier_split(config)
  shared, held = held_out_overlap(config, clf, 'eval.classifier_split')
  what = (f'{d.name}: classifier split {clf!r} and held-out split {d.eval_split!r}'
          + ('' if held is not None else ' (by name)'))
  if shared:
    raise ValueError(f'The evaluation classifier would be trained on {shared} held-out '
                     f'examples ({what}). Set --config.eval.classifier_split to a split '
                     "disjoint from dataset.eval_split (e.g. the training split, '').")
  return f'{what} share no examples'


def digit_region(config, images: np.ndarray) -> np.ndarray:
  """The 28x28 digit of a digit dataset's padded images (N, S, S, C); other data whole."""
  d = config.dataset
  if d.name not in sampling.DIGIT_DATASETS:
    return images
  return paired.unframe(images, d.image_size)


def image_similarities(config, images, references) -> tuple[float, float]:
  """(mean PSNR, mean SSIM) over images of `images` vs `references` on digit_region."""
  a, b = digit_region(config, images), digit_region(config, references)
  return (float(np.mean(image_similarity.psnr(a, b, data_range=DATA_RANGE))),
          float(np.mean(image_similarity.ssim(a, b, data_range=DATA_RANGE))))


def translation_baseline(config, inputs: sampling.TranslationInputs) -> tuple[np.ndarray, str]:
  """(baseline outputs, what they are): the trivial restoration of the held-out inputs."""
  d = config.dataset
  if d.name == 'paired_digits':
    what = ('bicubic upsampling (PIL, Keys a = -0.5) of the low-res input'
            if d.task in paired.SR_FACTORS else 'the input (condition) itself')
    return paired.baseline({'condition': inputs.a}, d), what
  if inputs.a.shape[1:] != inputs.b.shape[1:]:
    raise ValueError(f'No trivial baseline for {d.name!r}: its inputs {inputs.a.shape[1:]} and '
                     f'targets {inputs.b.shape[1:]} differ in shape.')
  return inputs.a, 'the input (condition) itself'


def _add_differences(results: dict, names) -> None:
  """<name>_minus_baseline = <name> - baseline_<name>, for the names present."""
  for name in names:
    if name in results and f'baseline_{name}' in results:
      results[f'{name}_minus_baseline'] = results[name] - results[f'baseline_{name}']


def _paired_metrics(config, extractor, held, outputs):
  baseline, baseline_what = translation_baseline(config, held)
  out = {}
  out['psnr'], out['ssim'] = image_similarities(config, outputs, held.b)
  out['baseline_psnr'], out['baseline_ssim'] = image_similarities(config, baseline, held.b)
  target_feats, target_logits = extractor(held.b)
  out_feats, out_logits = extractor(outputs)
  base_feats, base_logits = extractor(baseline)
  out['fid'] = float(frechet.frechet_distance_from_features(target_feats, out_feats))
  out['baseline_fid'] = float(frechet.frechet_distance_from_features(target_feats, base_feats))
  if extractor.name == 'classifier':
    out['class_accuracy'] = float(classifier_lib.top1_agreement(out_logits, held.b_labels))
    out['baseline_class_accuracy'] = float(classifier_lib.top1_agreement(base_logits,
                                                                         held.b_labels))
    out['target_class_accuracy'] = float(classifier_lib.top1_agreement(target_logits,
                                                                       held.b_labels))
  _add_differences(out, ('psnr', 'ssim', 'fid', 'class_accuracy'))
  details = dict(
      task=config.dataset.task if config.dataset.name == 'paired_digits' else None,
      baseline=baseline_what,
      fid='Frechet distance of the outputs (baseline: the baseline images) to the held-out '
          'targets of the same examples, in the feature space',
      class_accuracy=('classifier argmax of the outputs vs the target digit labels; '
                      'target_class_accuracy: of the targets themselves'
                      if 'class_accuracy' in out else None))
  return out, details


# The domain-A reader of 'unpaired_digits': an RBF SVM (scikit-learn) on UCI 8x8 pixels
# (gamma 0.001 for pixels 0..16, C 1: 95.3% on the 297 held-out UCI digits).
UCI_SVM = dict(kernel='rbf', gamma=0.001, C=1.0)


@functools.lru_cache(maxsize=4)
def uci_classifier(split: str):
  """An SVM trained on the UCI digits of `split` (their 8x8 pixels, 0..16)."""
  from sklearn.svm import SVC  # pylint: disable=g-import-not-at-top
  pixels, labels = unpaired.uci_digit_pixels(split)
  return SVC(**UCI_SVM).fit(pixels.reshape(len(pixels), -1), labels)


def _b_to_a_metrics(config, held, translated_b, translate_fn):
  """CycleGAN on 'unpaired_digits', the other direction: the B->A translations of held-out
  MNIST digits read by an SVM trained on domain A's training split (through
  data.unpaired.uci_pixels), against the MNIST labels; B->A->B cycle PSNR / SSIM, and the
  PSNR when the B->A translations are first projected onto the UCI digits' space
  (data.unpaired.uci_projection): what of the cycle rides on detail no UCI digit has."""
  d = config.dataset
  svm = uci_classifier(d.domain_a_split)

  def read(images):
    return svm.predict(unpaired.uci_pixels(images).reshape(len(images), -1))

  predicted = read(translated_b['output'])
  out = {'class_preservation_b_to_a': float(np.mean(predicted == held.b_labels)),
         'baseline_class_preservation_b_to_a': float(np.mean(read(held.b) == held.b_labels)),
         'classifier_accuracy_a': float(np.mean(read(held.a) == held.a_labels))}
  out['cycle_psnr_b'], out['cycle_ssim_b'] = image_similarities(
      config, translated_b['reconstruction'], held.b)
  projected = np.asarray(unpaired.uci_projection(jnp.asarray(translated_b['output'])))
  out['cycle_psnr_b_projected'], _ = image_similarities(
      config, translate_fn(projected, 'a_to_b')['output'], held.b)
  confusion = class_conditional.confusion_counts(held.b_labels, predicted, paired.NUM_CLASSES,
                                                 paired.NUM_CLASSES)
  details = dict(
      class_preservation_b_to_a=(
          f'fraction of held-out B digits whose B->A translation an SVM ({UCI_SVM}) trained on '
          f'the UCI pixels of {d.domain_a_split} assigns to the B digit\'s label; the images '
          'are read as the 8x8 pixels whose upsampling is nearest to them '
          '(data.unpaired.uci_pixels); baseline: the untranslated B digits read the same way; '
          'classifier_accuracy_a: on held-out A'),
      class_preservation_b_to_a_confusion=confusion.tolist(),  # [B label, A class]
      cycle_b='PSNR / SSIM of B->A->B vs B; cycle_psnr_b_projected: the same with B->A '
              'projected onto the UCI digits\' space (data.unpaired.uci_projection) before '
              'A->B')
  return out, details


def _cycle_metrics(config, extractor, held, translated, translated_b=None,
                   translate_fn=None):
  fake_b, rec_a = translated['output'], translated['reconstruction']
  out = {}
  b_feats, b_logits = extractor(held.b)
  fake_feats, fake_logits = extractor(fake_b)
  a_feats, a_logits = extractor(held.a)
  if extractor.name == 'classifier':
    out['class_preservation'] = float(classifier_lib.top1_agreement(fake_logits, held.a_labels))
    out['baseline_class_preservation'] = float(classifier_lib.top1_agreement(a_logits,
                                                                             held.a_labels))
    out['classifier_accuracy_b'] = float(classifier_lib.top1_agreement(b_logits, held.b_labels))
    num_classes = int(fake_logits.shape[-1])
    predicted = np.asarray(jnp.argmax(fake_logits, -1))
    confusion = class_conditional.confusion_counts(held.a_labels, predicted, num_classes,
                                                   num_classes)
    per_class = class_conditional.requested_class_accuracy(predicted, held.a_labels,
                                                           num_classes)['per_class']
  out['fid'] = float(frechet.frechet_distance_from_features(b_feats, fake_feats))
  out['baseline_fid'] = float(frechet.frechet_distance_from_features(b_feats, a_feats))
  out['cycle_psnr'], out['cycle_ssim'] = image_similarities(config, rec_a, held.a)
  _add_differences(out, ('class_preservation', 'fid'))
  details = dict(
      num_examples_b=int(len(held.b)),
      class_preservation=('fraction of held-out A digits whose A->B translation the classifier '
                          'assigns to the A digit\'s label; baseline: the classifier on the '
                          'untranslated A digits; classifier_accuracy_b: on held-out B'
                          if 'class_preservation' in out else None),
      fid='Frechet distance of the A->B translations (baseline: the untranslated A images) '
          'to the held-out B images, in the feature space',
      cycle='PSNR / SSIM of A->B->A vs A')
  if 'class_preservation' in out:
    # Which classes the translation keeps, and into what it turns the others.
    details['class_preservation_per_class'] = [None if np.isnan(v) else round(v, 4)
                                               for v in per_class]
    details['class_preservation_confusion'] = confusion.tolist()  # [A label, B class]
  if translated_b is not None:
    b_out, b_details = _b_to_a_metrics(config, held, translated_b, translate_fn)
    out.update(b_out)
    details.update(b_details)
  return out, details


def evaluate_translation(config: ml_collections.ConfigDict, translate_fn: Callable, *,
                         step: Optional[int] = None, num_samples: Optional[int] = None,
                         generator: Optional[str] = None, train_source=None,
                         held_out: Optional[sampling.TranslationInputs] = None,
                         log: Callable[[str], None] = metric_logging.log) -> dict:
  """Evaluates an image-to-image run on its held-out split (see the module docstring).

  Args:
    config: the run's config.
    translate_fn: (images, direction) -> {'output', 'reconstruction' (CycleGAN)}, e.g.
      sampling.translate of the run's generator, or a stand-in (a baseline, for checks).
    step, generator: recorded in the protocol.
    num_samples: the first N held-out examples (default eval.num_samples; all if fewer).
    train_source: the run's training Source (reused to train the classifier).
    held_out: the held-out inputs (default sampling.held_out_inputs(config, num_samples)).
  Returns:
    {metric: float, ..., 'protocol': {...}}.
  """
  t_start = time.time()
  ecfg = eval_config(config)
  kind = sampling.translation_kind(config)
  if kind is None:
    raise ValueError(f'objective.name={config.objective.name!r} is not an image-to-image '
                     'objective; use evaluate().')
  d = config.dataset
  n = int(num_samples or ecfg.num_samples)
  held_out_check = (check_classifier_held_out(config) if ecfg.feature_extractor == 'classifier'
                    else None)
  held = held_out if held_out is not None else sampling.held_out_inputs(config, n)
  extractor = build_extractor(config, train_source, log=log)
  t0 = time.time()
  translated = translate_fn(held.a, 'a_to_b')
  # The other direction where domain A has a reader (the UCI digits' SVM).
  translated_b = (translate_fn(held.b, 'b_to_a')
                  if kind == 'cycle' and d.name == 'unpaired_digits' else None)
  t_gen = time.time() - t0
  t0 = time.time()
  if kind == 'paired':
    results, details = _paired_metrics(config, extractor, held, translated['output'])
  else:
    results, details = _cycle_metrics(config, extractor, held, translated, translated_b,
                                      translate_fn)
  t_metrics = time.time() - t0
  results['protocol'] = dict(
      kind='paired_translation' if kind == 'paired' else 'unpaired_translation',
      dataset=d.name,
      held_out_split=d.eval_split,
      held_out_split_a=d.domain_a_eval_split if kind == 'cycle' else None,
      num_examples=int(len(held.a)),
      selection='the first num_samples examples of the held-out split(s)',
      similarity=('PSNR = 10 log10(2^2 / MSE) and SSIM (Gaussian window 11, sigma 1.5, valid '
                  'windows), per image, averaged; images in [-1, 1] (data_range 2)'),
      similarity_region=('the 28x28 digit (the padding to dataset.image_size removed)'
                         if d.name in sampling.DIGIT_DATASETS else 'the whole image'),
      **details,
      feature_extractor=extractor.name,
      feature_extractor_note=extractor.note,
      feature_input='the images as the dataset frames them (dataset.image_size), as the '
                    'classifier was trained' if extractor.name == 'classifier' else
                    extractor.resize,
      classifier_train_split=(classifier_split(config) if extractor.name == 'classifier'
                              else None),
      classifier_held_out_check=held_out_check,
      weights_path=extractor.weights_path,
      weights_sha256=extractor.weights_sha256,
      generator=generator,
      checkpoint_step=None if step is None else int(step),
      wall_time_s=dict(total=round(time.time() - t_start, 2), translate=round(t_gen, 2),
                       metrics=round(t_metrics, 2)),
  )
  log(f'{results["protocol"]["kind"]} on {len(held.a)} held-out examples: '
      + ' '.join(f'{k}={v:.4g}' for k, v in results.items() if isinstance(v, float)))
  return results


def _seed_key(seed: Optional[int], uses: str = 'latents, KID subsets') -> str:
  where = 'the caller\'s key' if seed is None else f'key(eval.seed={seed})'
  return f'split({where}) -> ({uses})'


def scalars(results: dict) -> dict:
  """The scalar numbers of an evaluate() result (for metric writers)."""
  return {k: float(v) for k, v in results.items()
          if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)}


def summary(results: dict) -> str:
  """One line per number, for the console."""
  lines = []
  for k, v in results.items():
    if k == 'protocol' or isinstance(v, (list, dict)):
      continue  # Nested results (e.g. 'classes') have their own summaries.
    lines.append(f'  {k:22s} {v:.6g}' if isinstance(v, float) else f'  {k:22s} {v}')
  p = results.get('protocol', {})
  if p.get('kind') in ('paired_translation', 'unpaired_translation'):
    lines.insert(0, f'{p["kind"]} of {p["num_examples"]} held-out examples of '
                    f'{p["dataset"]}/{p["held_out_split"]} (step {p["checkpoint_step"]}):')
  if p.get('kind') == 'stacked_modes':
    lines.insert(0, f'Stacked MNIST modes of {p["samples"]} x{p["num_samples"]} '
                    f'(step {p["checkpoint_step"]}):')
  if p.get('kind') == 'images':
    lines.insert(0, f'{p["samples"]} x{p["num_samples"]} vs {p["dataset"]}/'
                    f'{p["reference_split"]} x{p["num_reference"]} in {p["feature_extractor"]} '
                    f'space (step {p["checkpoint_step"]}):')
  return '\n'.join(lines)


def write_results(results: dict, path: str) -> str:
  """Writes results as indented JSON (atomically); returns the path."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump(results, f, indent=2, sort_keys=False)
  os.replace(tmp, path)
  return path
