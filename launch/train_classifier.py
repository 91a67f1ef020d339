r"""Trains (or loads) the evaluation classifier of a dataset and caches it.

  python launch/train_classifier.py --dataset=embedded_mnist [--steps=500] [--cache_dir=DIR]

The weights go to <cache_dir>/<dataset>_small_cnn_steps<S>_seed<K>.msgpack (default cache
~/.cache/gan_jax), which launch/evaluate.py and periodic evaluation read; they train it on
first use when it is missing. Prints the path, the SHA-256 recorded in every eval result, and
the accuracy on the dataset's labelled images (--holdout_split gives a held-out check).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import

from launch import common

flags.DEFINE_string('dataset', 'embedded_mnist', 'Labelled dataset (TFDS name or embedded).')
flags.DEFINE_string('split', 'train', 'Split the classifier is trained on.')
flags.DEFINE_string('data_dir', '', 'TFDS data_dir (default: the TFDS default).')
flags.DEFINE_integer('steps', None, 'Adam steps (default: eval.classifier_steps of '
                     'configs/default.py).')
flags.DEFINE_integer('seed', None, 'Seed (default: eval.classifier_seed of configs/default.py).')
flags.DEFINE_string('cache_dir', None, 'Cache folder (default: eval.cache_dir of '
                    'configs/default.py).')
flags.DEFINE_string('holdout_split', None, "Also report accuracy on this split, e.g. 'test'.")
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  common.quiet_library_logs()
  from configs import default  # pylint: disable=g-import-not-at-top
  from gan_jax import evaluation  # pylint: disable=g-import-not-at-top
  from gan_jax.metrics import classifier  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.dataset.name = FLAGS.dataset
  config.dataset.split = FLAGS.split
  config.dataset.data_dir = FLAGS.data_dir
  if FLAGS.steps is not None:
    config.eval.classifier_steps = FLAGS.steps
  if FLAGS.seed is not None:
    config.eval.classifier_seed = FLAGS.seed
  if FLAGS.cache_dir is not None:
    config.eval.cache_dir = FLAGS.cache_dir
  t0 = time.time()
  source = evaluation.load_split(config, FLAGS.split)
  variables, path, sha = evaluation.get_classifier(config, source)
  images, labels = evaluation.source_arrays(source)
  print(f'Classifier for {FLAGS.dataset}/{FLAGS.split}: {path}\n  sha256 {sha}\n  accuracy on '
        f'its training split: {float(classifier.classifier_accuracy(variables, images, labels)):.4f}')
  if FLAGS.holdout_split:
    images, labels = evaluation.source_arrays(evaluation.load_split(config, FLAGS.holdout_split))
    print(f'  accuracy on {FLAGS.holdout_split}: '
          f'{float(classifier.classifier_accuracy(variables, images, labels)):.4f}')
  print(f'({time.time() - t0:.1f}s)')


if __name__ == '__main__':
  app.run(main)
