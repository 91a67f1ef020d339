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
Toy 2-D data (data_shape (2,)): `metrics.modes.mode_metrics` on eval.toy_num_samples samples.

The reference features are computed once and cached on disk under `eval.cache_dir`, keyed by
dataset, split, extractor weights' SHA-256, resize and count. Every result carries a
`protocol` dict recording how it was computed.
"""

import hashlib
import json
import os
import time
from typing import Callable, Optional

import jax
import ml_collections
import numpy as np

from gan_jax import data
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import frechet
from gan_jax.metrics import inception_score as inception_score_lib
from gan_jax.metrics import kid as kid_lib
from gan_jax.metrics import precision_recall as pr_lib

FEATURE_EXTRACTORS = ('classifier', 'inception')
REFERENCE_CACHE_VERSION = 1


def default_eval_config() -> ml_collections.ConfigDict:
  """The `config.eval` defaults (also used for runs saved before the block existed)."""
  return ml_collections.ConfigDict(dict(
      num_samples=5_000,          # Generated samples per evaluation.
      num_reference=0,            # Reference images (first N of the split); 0 = whole split.
      reference_split='',         # '' = config.dataset.split (the training split).
      feature_extractor='classifier',  # 'classifier' (MNIST-like) | 'inception'.
      inception_path='',          # Local pt_inception-2015-12-05-6726825d.pth (or .msgpack).
      inception_batch_size=100,
      cache_dir='~/.cache/gan_jax',
      classifier_steps=500,       # Adam steps of the evaluation classifier (batch 128).
      classifier_seed=0,
      classifier_split='',        # Labelled split the classifier trains on; '' = dataset.split.
      kid_subsets=100,
      kid_subset_size=1_000,      # Capped at min(#reference, #samples).
      is_splits=10,
      pr_k=3,                     # k of improved precision/recall.
      dc_k=5,                     # k of density/coverage.
      toy_num_samples=2_500,      # Samples for the 2-D mode metrics.
      ema=True,                   # EMA generator when the run kept one (ema_decay > 0).
      seed=0,                     # Sampling / KID-subset seed for launch/evaluate.py.
  ))


def eval_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """config.eval over the defaults (missing fields, or a missing block, take the default)."""
  merged = default_eval_config()
  given = config.get('eval', None)
  if given is not None:
    for k, v in given.items():
      merged[k] = v
  return merged


def _log_default(msg):
  from gan_jax import metric_logging  # pylint: disable=g-import-not-at-top
  metric_logging.log(msg)


def _cache_dir(ecfg):
  return os.path.abspath(os.path.expanduser(ecfg.cache_dir))


def _safe(name: str) -> str:
  return ''.join(ch if ch.isalnum() or ch in '-_.' else '_' for ch in name)


# ---- data ---------------------------------------------------------------------------------

def load_split(config: ml_collections.ConfigDict, split: str, source=None):
  """The Source of `split` of config.dataset (reuses `source` when it is that split)."""
  if source is not None and split == config.dataset.split:
    return source
  dataset_cfg = ml_collections.ConfigDict(config.dataset.to_dict())
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
  if d.get('image_size', 0):
    key += f'_size{d.image_size}'
  if d.get('channels', 0):
    key += f'_ch{d.channels}'
  return key


def get_classifier(config, train_source=None, *, log=_log_default):
  """(variables, path, sha256) of the evaluation classifier; trains and caches it if missing.

  Trained on the labelled split eval.classifier_split (default: the training split
  config.dataset.split, all of it) for eval.classifier_steps Adam steps; cached under
  eval.cache_dir per dataset (and split, when not 'train').
  """
  ecfg = eval_config(config)
  cache = _cache_dir(ecfg)
  name = classifier_dataset_key(config)
  path = classifier_lib.classifier_cache_path(cache, name, steps=int(ecfg.classifier_steps),
                                              seed=int(ecfg.classifier_seed))
  source = load_split(config, classifier_split(config), train_source)
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
  from gan_jax.metrics import inception  # pylint: disable=g-import-not-at-top
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
    import flax.serialization  # pylint: disable=g-import-not-at-top
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


def build_extractor(config, train_source=None, *, log=_log_default) -> FeatureExtractor:
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
    from gan_jax.metrics import inception  # pylint: disable=g-import-not-at-top
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
                       log=_log_default):
  """(features (N, D), class distribution (K,) or None, count, cache path, 'loaded'|'computed').

  Cached in eval.cache_dir/reference/ under a key of (dataset, data_dir-independent split,
  resize/channels, extractor name and weights SHA-256, count).
  """
  ecfg = eval_config(config)
  d = config.dataset
  key_fields = dict(version=REFERENCE_CACHE_VERSION, dataset=d.name,
                    path=os.path.abspath(d.path) if d.get('path', '') else '', split=split,
                    image_size=int(d.get('image_size', 0)), channels=int(d.get('channels', 0)),
                    extractor=extractor.name, weights_sha256=extractor.weights_sha256,
                    resize=extractor.resize, num_reference=int(ecfg.num_reference))
  digest = hashlib.sha256(json.dumps(key_fields, sort_keys=True).encode()).hexdigest()[:16]
  path = os.path.join(_cache_dir(ecfg), 'reference',
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
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  from gan_jax.data import toy  # pylint: disable=g-import-not-at-top
  from gan_jax.metrics import modes as modes_lib  # pylint: disable=g-import-not-at-top
  ecfg = eval_config(config)
  n = int(num_samples or ecfg.toy_num_samples)
  if real_split is not None:
    samples, _ = toy.sample_toy(jax.random.fold_in(key, 1), config.dataset.name, n)
    samples, what = np.asarray(samples), f'real: fresh draws from {config.dataset.name}'
  else:
    samples = train.generate(networks, state, n, key, ema=ema)
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


def evaluate(config: ml_collections.ConfigDict, networks, state, source, *, key: jax.Array,
             step: Optional[int] = None, num_samples: Optional[int] = None,
             ema: Optional[bool] = None, reference_split: Optional[str] = None,
             real_split: Optional[str] = None, log: Callable[[str], None] = _log_default
             ) -> dict:
  """Evaluates the generator in `state` (or a real split) against the reference split.

  Args:
    config: the run's config (its `eval` block, or the defaults, sets the protocol).
    networks, state: the run's Networks and host GANState (see train.load_run).
    source: the run's training Source (reused as the reference set when it is that split).
    key: PRNG key for the latents and the KID subsets.
    step: checkpoint step, recorded in the protocol.
    num_samples: overrides eval.num_samples (or eval.toy_num_samples for 2-D data).
    ema: use the EMA generator (default: eval.ema and config.ema_decay > 0).
    reference_split: overrides eval.reference_split ('' = config.dataset.split).
    real_split: evaluate the first num_samples images of this split of the dataset in place
      of generated samples (the real-vs-real floor, e.g. 'train[50%:]' vs 'train[:50%]').
    log: progress messages.
  Returns:
    {metric: float, ..., 'protocol': {...}}.
  """
  from gan_jax import train  # pylint: disable=g-import-not-at-top  (train imports us)
  t_start = time.time()
  ecfg = eval_config(config)
  if ema is None:
    ema = bool(ecfg.ema) and float(config.get('ema_decay', 0.0)) > 0
  sample_key, kid_key = jax.random.split(key)
  data_shape = tuple(networks.data_shape) if networks is not None else tuple(source.data_shape)
  if len(data_shape) == 1:
    from gan_jax.data import toy  # pylint: disable=g-import-not-at-top
    if config.dataset.name not in toy.TOY_DATASETS:
      raise ValueError(f'No evaluation for vector data {config.dataset.name!r}; mode metrics '
                       f'exist for the toy sets {sorted(toy.TOY_DATASETS)}.')
    return _toy_evaluate(config, networks, state, key=sample_key, ema=ema, step=step,
                         num_samples=num_samples, real_split=real_split, log=log)
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
    samples = train.generate(networks, state, n, sample_key, ema=ema, labels=labels)
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
      seed_key='split(key) -> (latents, KID subsets)',
      reference_cache=ref_path,
      reference_cache_status=ref_status,
      wall_time_s=dict(total=round(time.time() - t_start, 2), generate=round(t_gen, 2),
                       features=round(t_feat, 2), metrics=round(t_metrics, 2)),
  )
  return results


def scalars(results: dict) -> dict:
  """The scalar numbers of an evaluate() result (for metric writers)."""
  return {k: float(v) for k, v in results.items()
          if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)}


def summary(results: dict) -> str:
  """One line per number, for the console."""
  lines = []
  for k, v in results.items():
    if k == 'protocol' or isinstance(v, list):
      continue
    lines.append(f'  {k:22s} {v:.6g}' if isinstance(v, float) else f'  {k:22s} {v}')
  p = results.get('protocol', {})
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
