"""Evaluation of class-conditional generators and InfoGAN, with the project's classifier.

`evaluate_classes(config, networks, state, source)` draws eval.classes.num_per_class samples
of every class (a conditional G asked for class k) or of every categorical code value
(InfoGAN) and measures, with the evaluation classifier (gan_jax/metrics/classifier.py, the
one FID uses):

- requested-class accuracy: the fraction of samples classified as the class they were
  generated for, overall and per class (conditional G);
- InfoGAN's categorical-code error: 1 - (samples whose class matches their code's class) /
  all, after the best one-to-one matching of code values to classes (Hungarian algorithm;
  gan_jax/metrics/class_conditional.py);
- intra-class FID: per class, the Frechet distance in the classifier's feature space between
  the samples of that class (InfoGAN: of the code matched to it) and the real training
  digits of that class (the whole training split), and the mean over classes;
- Classification Accuracy Score (Ravuri & Vinyals 2019): SmallCNN trained only on the
  samples (labels = requested classes; InfoGAN: matched classes) vs the same network trained
  on the real training split, both tested on the held-out split dataset.eval_split that
  neither the GAN nor the evaluation classifier saw; CAS = accuracy and the ratio of the two;
- with `augmentation=True`, the data-augmentation experiment: the same network trained on
  the run's real training set alone (dataset.split, limited by dataset.examples_per_class:
  the small labelled set the GAN was trained on) vs on that set plus the samples (each
  minibatch eval.classes.real_fraction real), tested on the held-out split; with
  eval.classes.filter_generated, only the samples that the real-only SmallCNN (seed 0: the
  same small labelled set, no other labels) assigns to their requested class join.

Classifier-training arms use eval.classifier_steps Adam steps (batch 128) and average over
eval.classes.classifier_seeds seeds (reported per seed too). Everything is a function of the
run, the config and eval.seed.
"""

import functools
import time
from typing import Callable, Optional

import jax
import ml_collections
import numpy as np

from gan_jax import evaluation, metric_logging, sampling
from gan_jax.metrics import class_conditional
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import frechet

KEY_SALT = 0xC1A55  # fold_in salt of eval.seed for the class protocol's samples.


def class_kind(networks) -> Optional[str]:
  """'conditional' (G takes labels), 'infogan' (G has a categorical code), or None."""
  if networks.num_classes:
    return 'conditional'
  if networks.latent_codes is not None:
    return 'infogan'
  return None


def held_out_arrays(config: ml_collections.ConfigDict):
  """(images, labels) of the whole held-out split dataset.eval_split."""
  held = evaluation.load_split(config, config.dataset.eval_split)
  images, labels = evaluation.source_arrays(held)
  if not held.num_classes or labels is None or np.any(labels < 0):
    raise ValueError(f'The held-out split {config.dataset.eval_split!r} has no labels.')
  return images, labels


def check_disjoint(config: ml_collections.ConfigDict) -> str:
  """Raises ValueError when the held-out split overlaps the training or classifier split
  (evaluation.held_out_overlap: the embedded digits by index, TFDS splits by name); returns
  what was checked."""
  d = config.dataset
  clf = evaluation.classifier_split(config)
  for field, split in (('dataset.split', d.split), ('eval.classifier_split', clf)):
    shared, held = evaluation.held_out_overlap(config, split, field)
    if shared:
      raise ValueError(f'dataset.eval_split={d.eval_split!r} shares {shared} '
                       f'{"digits" if held is not None else "examples (by name)"} with '
                       f'{field}={split!r}: the held-out examples must be unseen. Use e.g. '
                       "--config.dataset.split='train[:4000]' "
                       "--config.dataset.eval_split='train[4000:]'.")
  if held is None:
    return f'{d.name}: splits {d.split!r} / {clf!r} / {d.eval_split!r} differ by name'
  return (f'{d.name}: held-out {d.eval_split!r} ({held} digits) shares no digit with the GAN '
          f'split {d.split!r} or the classifier split {clf!r}')


def classifier_arm(images, labels, test_images, test_labels, *, num_classes, steps, seeds,
                   sampling_weights=None, train: Optional[Callable] = None) -> dict:
  """Trains SmallCNN on (images, labels) once per seed and tests it: {'accuracy': mean,
  'std', 'per_seed': [...]}. `train(seed)`, when given, returns the variables instead."""
  accs = []
  for seed in seeds:
    variables = train(seed) if train is not None else classifier_lib.train_classifier(
        images, labels, num_classes=num_classes, steps=steps, seed=seed,
        sampling_weights=sampling_weights)
    accs.append(float(classifier_lib.classifier_accuracy(variables, test_images, test_labels)))
  return {'accuracy': float(np.mean(accs)), 'std': float(np.std(accs)), 'per_seed': accs}


def _cached_trainer(config, images, labels, num_classes: int, steps: int, *,
                    per_class: int = 0) -> Callable:
  """seed -> SmallCNN trained on (images, labels), the real digits of the training split
  (limited to per_class per class when > 0), cached under eval.cache_dir."""
  real_cfg = ml_collections.ConfigDict(config.to_dict())
  real_cfg.eval.classifier_split = config.dataset.split
  name = evaluation.classifier_dataset_key(real_cfg)
  if per_class:
    name += f'_first{per_class}'
  cache = evaluation.cache_dir(config.eval)
  return lambda seed: classifier_lib.cached_classifier(
      cache, name, images, labels, num_classes=num_classes, steps=steps, seed=seed)[0]


def filter_by_classifier(variables, images, labels, num_classes: int):
  """(images, labels, kept) with only the samples that the classifier `variables` assigns to
  their label; kept = {'overall': share kept, 'per_class': [K]}: that classifier's
  requested-class accuracy on them."""
  predicted = np.asarray(np.argmax(classifier_lib.classifier_features(variables, images)[1], -1))
  keep = predicted == labels
  if not keep.any():
    raise ValueError('eval.classes.filter_generated kept no sample: the small-set classifier '
                     'assigns none to its requested class; turn the filter off.')
  kept = class_conditional.requested_class_accuracy(predicted, labels, num_classes)
  return images[keep], labels[keep], kept


def generate_per_class(networks, state, per_class: int, key, *, ema: bool):
  """(images, requested labels or codes (K * per_class,), K): per_class samples of each class
  (conditional G) or categorical code value (InfoGAN)."""
  kind = class_kind(networks)
  if kind is None:
    raise ValueError('The class protocol needs a conditional model (dataset.conditional=True) '
                     'or InfoGAN codes (model.d_q_head=True); this run has neither.')
  k = networks.num_classes or networks.latent_codes[0]
  requested = sampling.balanced_labels(k, per_class)
  if kind == 'conditional':
    images = sampling.generate(networks, state, len(requested), key, ema=ema, labels=requested)
  else:
    z = sampling.code_latents(networks, key, len(requested), categorical=requested)
    images = sampling.generate(networks, state, len(requested), key, ema=ema, latents=z)
  return images, requested, k


def intra_class_fid(real_features, real_labels, fake_features, fake_classes,
                    num_classes: int) -> dict:
  """{'per_class': [K], 'mean': float}: FD between real and fake features of each class
  (nan, excluded from the mean, for a class without samples)."""
  per_class = []
  for c in range(num_classes):
    real, fake = real_features[real_labels == c], fake_features[fake_classes == c]
    if len(real) < 2 or len(fake) < 2:
      per_class.append(float('nan'))
      continue
    per_class.append(float(frechet.frechet_distance_from_features(real, fake)))
  finite = [v for v in per_class if np.isfinite(v)]
  return {'per_class': per_class, 'mean': float(np.mean(finite)) if finite else float('nan')}


def evaluate_classes(config: ml_collections.ConfigDict, networks, state, source, *,
                     step: Optional[int] = None, num_per_class: Optional[int] = None,
                     ema: Optional[bool] = None, cas: bool = True, augmentation: bool = False,
                     log: Callable[[str], None] = metric_logging.log) -> dict:
  """The class protocol of the module docstring -> {metric: ..., 'protocol': {...}}."""
  t_start = time.time()
  ecfg = evaluation.eval_config(config)
  ccfg = ecfg.classes
  if ema is None:
    ema = bool(ecfg.ema)
  ema = bool(ema) and float(config.ema_decay) > 0
  per_class = int(num_per_class or ccfg.num_per_class)
  seeds = list(range(int(ccfg.classifier_seeds)))
  steps = int(ecfg.classifier_steps)
  kind = class_kind(networks)
  if len(networks.data_shape) != 3:
    raise ValueError(f'The class protocol evaluates images; data shape {networks.data_shape}.')
  if (cas or augmentation) and not config.dataset.eval_split:
    raise ValueError('The Classification Accuracy Score and the augmentation experiment test on '
                     'real digits nobody trained on: set --config.dataset.eval_split (the '
                     "conditional recipes use split 'train[:4000]', eval_split "
                     "'train[4000:]').")
  disjoint = check_disjoint(config) if config.dataset.eval_split else None

  judge, judge_path, judge_sha = evaluation.get_classifier(config, source, log=log)
  t0 = time.time()
  images, requested, k = generate_per_class(
      networks, state, per_class,
      jax.random.fold_in(jax.random.key(int(ecfg.seed)), KEY_SALT), ema=ema)
  t_gen = time.time() - t0
  feats, logits = classifier_lib.classifier_features(judge, images)
  feats, predicted = np.asarray(feats), np.asarray(np.argmax(logits, -1))
  num_classes = int(logits.shape[-1])
  results = {}
  if kind == 'conditional':
    results['requested_class_accuracy'] = class_conditional.requested_class_accuracy(
        predicted, requested, k)
    classes = requested
  else:
    counts = class_conditional.confusion_counts(requested, predicted, k, num_classes)
    error, mapping = class_conditional.matched_code_error(counts)
    results['infogan_code_error'] = {'error': error, 'code_to_class': mapping.tolist(),
                                     'confusion': counts.tolist()}
    classes = mapping[requested]  # -1 for codes without a class (more codes than classes).

  real_source = evaluation.load_split(config, config.dataset.split, source, whole=True)
  real_images, real_labels = evaluation.source_arrays(real_source)
  real_feats = np.asarray(classifier_lib.classifier_features(judge, real_images)[0])
  results['intra_class_fid'] = intra_class_fid(real_feats, real_labels, feats, classes,
                                               num_classes)

  protocol = dict(
      kind=kind, dataset=config.dataset.name, train_split=config.dataset.split,
      examples_per_class=int(config.dataset.get('examples_per_class', 0) or 0),
      held_out_split=config.dataset.eval_split or None, held_out_check=disjoint,
      num_per_class=per_class, num_samples=int(len(images)),
      sampling=('each class asked for num_per_class times' if kind == 'conditional' else
                'each categorical code value num_per_class times, noise and continuous '
                'codes drawn as in training'),
      classifier='SmallCNN (gan_jax/metrics/classifier.py), argmax of its logits',
      classifier_train_split=evaluation.classifier_split(config),
      classifier_path=judge_path, classifier_sha256=judge_sha,
      intra_class_fid_reference=(f'the whole training split {config.dataset.split!r} '
                                 f'({len(real_images)} digits), per class; features of the '
                                 'evaluation classifier'),
      generator='ema' if ema else 'raw', checkpoint_step=None if step is None else int(step),
      seed=int(ecfg.seed), seed_key=f'fold_in(key(eval.seed), {KEY_SALT:#x})')

  if cas or augmentation:
    test_images, test_labels = held_out_arrays(config)
    results['classifier_held_out_accuracy'] = float(
        classifier_lib.classifier_accuracy(judge, test_images, test_labels))
    keep = classes >= 0
    gen_images, gen_labels = images[keep], classes[keep]
    arm = lambda x, y, **kw: classifier_arm(x, y, test_images, test_labels,
                                            num_classes=num_classes, steps=steps, seeds=seeds,
                                            **kw)
    protocol.update(held_out_examples=int(len(test_images)), classifier_steps=steps,
                    classifier_seeds=seeds, classifier_batch_size=128)
  if cas:
    t0 = time.time()
    # The real arm is the evaluation classifier's recipe on the training split: cached per seed
    # (seed eval.classifier_seed is the evaluation classifier itself when it trains there).
    cached = _cached_trainer(config, real_images, real_labels, num_classes, steps)
    real_arm = arm(real_images, real_labels, train=cached)
    gen_arm = arm(gen_images, gen_labels)
    results['cas'] = {'generated': gen_arm, 'real': real_arm,
                      'ratio': gen_arm['accuracy'] / real_arm['accuracy']}
    labels_are = ('requested classes' if kind == 'conditional' else
                  'classes matched to their codes')
    protocol['cas'] = (f'SmallCNN trained on the {len(gen_images)} samples (labels: the '
                       f'{labels_are}) vs on the {len(real_images)} real training digits; both tested on '
                       f'the {len(test_images)} held-out digits; ratio = generated / real; '
                       f'{time.time() - t0:.0f} s')
  if augmentation:
    t0 = time.time()
    small_images, small_labels = evaluation.source_arrays(source)
    fraction = float(ccfg.real_fraction)
    if not 0 < fraction < 1:
      raise ValueError(f'eval.classes.real_fraction must be in (0, 1); got {fraction}.')
    # The small set is the first examples_per_class of each class whatever the GAN's seed, so
    # this arm is cached too (the same for every seed of a GAN trained on it).
    # Memoized: the filter reads the seed-0 classifier that the real-only arm reads again.
    small_trainer = functools.cache(_cached_trainer(
        config, small_images, small_labels, num_classes, steps,
        per_class=int(config.dataset.get('examples_per_class', 0) or 0)))
    aug_images, aug_labels, kept = gen_images, gen_labels, None
    if ccfg.get('filter_generated', False):
      aug_images, aug_labels, kept = filter_by_classifier(small_trainer(seeds[0]), gen_images,
                                                          gen_labels, num_classes)
    both_images = np.concatenate([small_images, aug_images])
    both_labels = np.concatenate([small_labels, aug_labels])
    weights = np.concatenate([np.full(len(small_images), fraction / len(small_images)),
                              np.full(len(aug_images), (1 - fraction) / len(aug_images))])
    real_only = arm(small_images, small_labels, train=small_trainer)
    mixed = arm(both_images, both_labels, sampling_weights=weights)
    results['augmentation'] = {'real_only': real_only, 'real_plus_generated': mixed,
                               'gain': mixed['accuracy'] - real_only['accuracy']}
    if kept is not None:
      results['augmentation']['kept'] = kept
    protocol['augmentation'] = (
        f'SmallCNN trained on the run\'s {len(small_images)} real training digits '
        f'({source.description}) alone vs with the {len(aug_images)} samples '
        + (f'(of {len(gen_images)}: those the real-only SmallCNN of seed {seeds[0]} assigns to '
           'their requested class) ' if kept is not None else '')
        + f'(minibatches {fraction:.0%} real); tested on the {len(test_images)} held-out digits; '
        f'{time.time() - t0:.0f} s')
  protocol['wall_time_s'] = dict(total=round(time.time() - t_start, 2), generate=round(t_gen, 2))
  results['protocol'] = protocol
  return results


def summary(results: dict) -> str:
  """One line per headline number."""
  lines = []
  if 'requested_class_accuracy' in results:
    r = results['requested_class_accuracy']
    lines.append(f"requested-class accuracy {r['overall']:.4f} (per class "
                 f"{' '.join(f'{v:.3f}' for v in r['per_class'])})")
  if 'infogan_code_error' in results:
    r = results['infogan_code_error']
    lines.append(f"InfoGAN categorical-code error {r['error']:.4f} (code -> class "
                 f"{r['code_to_class']})")
  fid = results['intra_class_fid']
  lines.append(f"intra-class FID mean {fid['mean']:.2f} (per class "
               f"{' '.join(f'{v:.1f}' for v in fid['per_class'])})")
  arm = lambda r: f"{r['accuracy']:.4f} +- {r['std']:.4f}"
  if 'cas' in results:
    c = results['cas']
    lines.append(f"CAS {arm(c['generated'])} vs real {arm(c['real'])}: ratio {c['ratio']:.3f}")
  if 'augmentation' in results:
    a = results['augmentation']
    lines.append(f"augmentation: real only {arm(a['real_only'])}, real + generated "
                 f"{arm(a['real_plus_generated'])} (gain {a['gain']:+.4f})"
                 + (f"; {a['kept']['overall']:.1%} of the samples kept by the filter"
                    if 'kept' in a else ''))
  return '\n'.join(lines)
