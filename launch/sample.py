r"""Samples a trained run: `python launch/sample.py --workdir=DIR --num=N --out=PATH`.

`--out` ending in .png writes a grid (images) or a scatter plot (2-D data); .npy writes the
raw samples as float32 in the data's own range (NHWC images in [-1, 1], or (N, D) vectors).
Uses the latest checkpoint (or --step) and the EMA generator when the run kept one.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import

from launch import common

flags.DEFINE_string('workdir', None, 'Run directory written by launch/main.py.')
flags.DEFINE_integer('num', 64, 'Number of samples.')
flags.DEFINE_string('out', None, 'Output path: .png (grid) or .npy (raw samples).')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
flags.DEFINE_integer('seed', 0, 'Sampling seed.')
flags.DEFINE_bool('ema', True, 'Use the EMA generator weights when the run has them.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  common.quiet_library_logs()
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from gan_jax import train, visualize  # pylint: disable=g-import-not-at-top
  out = FLAGS.out or os.path.join(FLAGS.workdir, 'samples', 'sampled.png')
  if not out.endswith(('.png', '.npy')):
    raise app.UsageError(f'--out must end in .png or .npy; got {out!r}.')
  config, source, networks, state, step = train.load_run(FLAGS.workdir, FLAGS.step)
  samples = train.generate(networks, state, FLAGS.num, jax.random.key(FLAGS.seed),
                           ema=FLAGS.ema and config.ema_decay > 0)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  if out.endswith('.npy'):
    np.save(out, samples.astype(np.float32))
  elif samples.ndim == 4:
    visualize.save_image_grid(samples, out)
  else:
    from gan_jax import plots  # pylint: disable=g-import-not-at-top
    real = np.stack([source[i]['image'] for i in range(min(len(source), FLAGS.num))])
    plots.scatter_real_vs_fake(real, samples, out, title=f'step {step}')
  print(f'Wrote {FLAGS.num} samples from step {step} to {out}')


if __name__ == '__main__':
  flags.mark_flag_as_required('workdir')
  app.run(main)
