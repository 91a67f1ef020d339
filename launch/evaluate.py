r"""Evaluates a trained run: `python launch/evaluate.py --workdir=DIR [--step=N]`.

Writes DIR/eval/step_N.json (or --out) with every number and its protocol (see
gan_jax/evaluation.py and the README's "Evaluation protocol") and prints a summary.
Uses the latest checkpoint (or --step) and the EMA generator when the run kept one.

  --num_samples=5000                 generated samples (default: the run's eval.num_samples)
  --reference_split='train[:50%]'    reference set (default: the training split)
  --real_split='train[50%:]'         evaluate held-out real images instead of samples (the floor)
  --feature_extractor=inception --inception_path=/path/pt_inception-2015-12-05-6726825d.pth
  --train_classifier_only            train (or load) the cached evaluation classifier and exit
  --eval_overrides='kid_subsets=50,pr_k=5'   any other field of the run's eval block
  --seed=1                           eval.seed: the key of the latents and KID subsets (default:
                                     the run's eval.seed, as periodic evaluation uses)

Without --workdir, --dataset=NAME evaluates only real data (needs --real_split).

A class-conditional or InfoGAN run is also evaluated class by class (--classes, on by
default; gan_jax/conditional_evaluation.py): requested-class accuracy or InfoGAN's matched
categorical-code error, intra-class FID and the Classification Accuracy Score on
eval.classes.num_per_class samples per class (--num_per_class), in the JSON's "classes";
--augmentation adds the data-augmentation experiment (real training digits alone vs with the
samples, for a GAN trained on a small labelled set: --config.dataset.examples_per_class).

An image-to-image run (pix2pix, CycleGAN) is evaluated on its held-out split
(dataset.eval_split): PSNR/SSIM/FID beside the task's trivial baseline, or CycleGAN's class
preservation, FID and cycle PSNR (gan_jax/evaluation.py); --num_samples caps the held-out
examples; --reference_split and --real_split do not apply.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import

from launch import common

flags.DEFINE_string('workdir', None, 'Run directory written by launch/main.py.')
flags.DEFINE_string('dataset', None, 'Without --workdir: a dataset name (real-vs-real only).')
flags.DEFINE_string('data_dir', '', 'Without --workdir: TFDS data_dir of --dataset.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
flags.DEFINE_integer('member', None, 'Member of a population run (population.csv lists them).')
flags.DEFINE_integer('num_samples', None, 'Samples to evaluate (default: eval.num_samples).')
flags.DEFINE_string('reference_split', None, "Reference split (default: the run's training "
                    'split, or eval.reference_split).')
flags.DEFINE_string('real_split', None, 'Evaluate the first num_samples images of this split '
                    'in place of generated samples (the real-vs-real floor).')
flags.DEFINE_enum('feature_extractor', None, ['classifier', 'inception'],
                  'Feature space (default: eval.feature_extractor).')
flags.DEFINE_string('inception_path', None, 'Local FID Inception weights (.pth).')
flags.DEFINE_string('cache_dir', None, 'Classifier / reference-feature cache (default: '
                    "the run's eval.cache_dir).")
flags.DEFINE_string('eval_overrides', '', "Other eval fields, 'k=v,k2=v2' (e.g. kid_subsets=50).")
flags.DEFINE_bool('ema', True, 'Use the EMA generator when the run kept one and its '
                  'eval.ema is set; --noema for the raw generator.')
flags.DEFINE_integer('seed', None, 'Seed of the latents and KID subsets (default: '
                     "the run's eval.seed).")
flags.DEFINE_string('out', None, 'Output JSON (default DIR/eval/step_N.json, or '
                    'DIR/eval/real_<split>.json with --real_split).')
flags.DEFINE_bool('classes', True, 'Conditional / InfoGAN runs: also run the class protocol '
                  '(requested-class accuracy or code error, intra-class FID, CAS).')
flags.DEFINE_integer('num_per_class', None, 'Samples per class of the class protocol '
                     '(default: eval.classes.num_per_class).')
flags.DEFINE_bool('cas', True, 'Class protocol: the Classification Accuracy Score (trains '
                  'eval.classes.classifier_seeds classifiers on the samples).')
flags.DEFINE_bool('augmentation', False, 'Class protocol: add the data-augmentation '
                  'experiment.')
flags.DEFINE_bool('train_classifier_only', False, 'Train (or load) the evaluation classifier '
                  'for the dataset and exit.')
FLAGS = flags.FLAGS


def _apply_overrides(config):
  """Sets config.eval fields from the flags (overrides.set_field, as on the command line)."""
  from configs import default  # pylint: disable=g-import-not-at-top
  from gan_jax import overrides  # pylint: disable=g-import-not-at-top
  settings = [(name, str(FLAGS[name].value)) for name in
              ('feature_extractor', 'inception_path', 'cache_dir', 'seed')
              if FLAGS[name].value is not None]
  for part in default.split_variant(FLAGS.eval_overrides):
    name, sep, value = part.partition('=')
    if not sep:
      raise app.UsageError(f"--eval_overrides: {part!r} is not 'field=value'.")
    settings.append((name, value))
  for name, value in settings:
    try:
      overrides.set_field(config, f'eval.{name}', value)
    except (KeyError, ValueError) as e:  # KeyError's str() would add quotes.
      raise app.UsageError(f'eval.{name}={value!r}: {e.args[0] if e.args else e}') from e
  return config


def _dataset_config(dataset, data_dir):
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.dataset.name = dataset
  config.dataset.data_dir = data_dir
  return config


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  common.quiet_library_logs()
  from gan_jax import evaluation  # pylint: disable=g-import-not-at-top
  if not FLAGS.workdir and not FLAGS.dataset:
    raise app.UsageError('Pass --workdir=DIR (a run) or --dataset=NAME (real data only).')
  t0 = time.time()
  if FLAGS.workdir:
    config, source, networks, state, step = common.load_run(FLAGS.workdir, FLAGS.step, FLAGS.member)
  else:
    config = _dataset_config(FLAGS.dataset, FLAGS.data_dir)
    from gan_jax import data  # pylint: disable=g-import-not-at-top
    source = data.load_source(config.dataset, seed=config.seed)
    networks = state = step = None
  config = _apply_overrides(config)
  from gan_jax import sampling  # pylint: disable=g-import-not-at-top
  if sampling.translation_kind(config) is not None and (
      FLAGS.reference_split is not None or FLAGS.real_split is not None):
    raise app.UsageError('--reference_split / --real_split do not apply to an image-to-image '
                         'run: it is evaluated on its held-out split (dataset.eval_split).')
  if FLAGS.train_classifier_only:
    from gan_jax import modalities  # pylint: disable=g-import-not-at-top
    if modalities.modality(config) == 'audio':  # The audio metrics' spectrogram classifier.
      clf = modalities.get('audio').classifier(config, source)
      path, sha = clf['path'], clf['sha256']
    else:
      _, path, sha = evaluation.get_classifier(config, source)
    print(f'Evaluation classifier for {config.dataset.name}: {path} (sha256 {sha})')
    return
  if networks is None and FLAGS.real_split is None:
    raise app.UsageError('Without --workdir there is no generator: pass --real_split.')
  try:
    results = evaluation.evaluate(
        config, networks, state, source, step=step,
        num_samples=FLAGS.num_samples, ema=None if FLAGS.ema else False,
        reference_split=FLAGS.reference_split, real_split=FLAGS.real_split)
  except FileNotFoundError as e:  # Missing weights or data: the message names the fix.
    sys.exit(f'Error: {e}')
  results['protocol']['command'] = ' '.join(sys.argv)
  from gan_jax import conditional_evaluation  # pylint: disable=g-import-not-at-top
  if (FLAGS.classes and networks is not None and FLAGS.real_split is None
      and conditional_evaluation.class_kind(networks) is not None):
    try:
      results['classes'] = conditional_evaluation.evaluate_classes(
          config, networks, state, source, step=step, num_per_class=FLAGS.num_per_class,
          ema=None if FLAGS.ema else False, cas=FLAGS.cas, augmentation=FLAGS.augmentation)
    except ValueError as e:
      raise app.UsageError(f'Class protocol: {e}') from e
  elif FLAGS.augmentation:
    raise app.UsageError('--augmentation needs a conditional or InfoGAN run (and --classes).')
  out = FLAGS.out
  if not out:
    base = FLAGS.workdir or os.path.join('runs', 'eval_' + config.dataset.name)
    split_name = ''.join(c if c.isalnum() else '_' for c in
                         (FLAGS.real_split or '').replace('%', 'pct')).strip('_')
    name = (f'real_{split_name}.json'
            if FLAGS.real_split is not None else f'step_{step}.json')
    out = os.path.join(base, 'eval', name)
  evaluation.write_results(results, out)
  print(evaluation.summary(results))
  if 'classes' in results:
    print(conditional_evaluation.summary(results['classes']))
  print(f'Wrote {out} ({time.time() - t0:.1f}s)')


if __name__ == '__main__':
  app.run(main)
