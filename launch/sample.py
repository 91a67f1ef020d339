r"""Samples a trained run: `python launch/sample.py --workdir=DIR --num=N --out=PATH`.

`--out` ending in .png writes a grid (images) or a scatter plot (2-D data); .npy writes the
raw samples as float32 in the data's own range (NHWC images in [-1, 1], or (N, D) vectors).
Uses the latest checkpoint (or --step) and the EMA generator when the run kept one.

Extras (image models), written next to --out (PATH without its extension = BASE):
  --interpolate=K   BASE_interpolation.png: K rows, each a spherical interpolation (slerp;
                    linear for uniform latents) between a random pair of latents in
                    --interpolation_steps (10) steps; and BASE_interpolation.gif, one frame per
                    step showing the K rows' images side by side (a bar at the bottom marks
                    the step).
  --per_class       BASE_class<c>.png: one grid of --num samples per class (conditional
                    models only; an unconditional model is a usage error).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import
import numpy as np

from launch import common

flags.DEFINE_string('workdir', None, 'Run directory written by launch/main.py.')
flags.DEFINE_integer('num', 64, 'Number of samples (per class with --per_class).')
flags.DEFINE_string('out', None, 'Output path: .png (grid) or .npy (raw samples).')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
flags.DEFINE_integer('seed', 0, 'Sampling seed.')
flags.DEFINE_bool('ema', True, 'Use the EMA generator weights when the run has them.')
flags.DEFINE_integer('interpolate', 0, 'K > 0: write a K-row latent interpolation PNG and GIF.')
flags.DEFINE_integer('interpolation_steps', 10, 'Steps (columns / GIF frames) per row.')
flags.DEFINE_integer('gif_ms', 150, 'Duration of one GIF frame in milliseconds.')
flags.DEFINE_bool('per_class', False, 'One grid per class (conditional models).')
FLAGS = flags.FLAGS


def slerp(z0, z1, t):
  """Spherical interpolation between latents z0, z1 (..., D) at fractions t (T,) -> (..., T, D).

  slerp = sin((1-t) w) / sin w * z0 + sin(t w) / sin w * z1 with w the angle between them
  (White 2016, "Sampling Generative Networks"); linear where w ~ 0.
  """
  z0, z1 = np.asarray(z0, np.float64)[..., None, :], np.asarray(z1, np.float64)[..., None, :]
  t = np.asarray(t, np.float64)[:, None]
  cos = np.sum(z0 * z1, -1, keepdims=True) / np.maximum(
      np.linalg.norm(z0, axis=-1, keepdims=True) * np.linalg.norm(z1, axis=-1, keepdims=True),
      1e-12)
  omega = np.arccos(np.clip(cos, -1.0, 1.0))
  sin = np.sin(omega)
  small = sin < 1e-6
  safe = np.where(small, 1.0, sin)
  spherical = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / safe
  return np.where(small, (1 - t) * z0 + t * z1, spherical).astype(np.float32)


def interpolation_latents(networks, key, rows: int, steps: int) -> np.ndarray:
  """(rows, steps, latent_dim): slerp (lerp for uniform latents) between random pairs."""
  import jax  # pylint: disable=g-import-not-at-top
  k0, k1 = jax.random.split(key)
  z0 = np.asarray(networks.sample_latents(k0, rows))
  z1 = np.asarray(networks.sample_latents(k1, rows))
  t = np.linspace(0.0, 1.0, steps)
  if networks.latent_distribution == 'uniform':  # Stay inside the [-1, 1] cube.
    return ((1 - t)[None, :, None] * z0[:, None] + t[None, :, None] * z1[:, None]).astype(
        np.float32)
  return slerp(z0, z1, t)


def write_interpolation(networks, variables, key, rows: int, steps: int, base: str, *,
                        labels=None, frame_ms: int = 150) -> tuple[str, str]:
  """Writes BASE_interpolation.png (rows x steps grid) and .gif (steps frames)."""
  import jax  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from gan_jax import visualize  # pylint: disable=g-import-not-at-top
  if len(networks.data_shape) != 3:
    raise ValueError(f'--interpolate needs an image model; data shape is {networks.data_shape}.')
  z = interpolation_latents(networks, key, rows, steps)
  y = None
  if networks.num_classes:
    y = np.repeat(np.asarray(labels if labels is not None else np.arange(rows) %
                             networks.num_classes), steps)
  images = np.asarray(jax.jit(lambda v, zz, yy: networks.generator_apply(
      v, zz, yy, train=False)[0])(variables, z.reshape(rows * steps, -1), y))
  images = images.reshape(rows, steps, *images.shape[1:])
  upscale = 4 if networks.data_shape[0] <= 32 else (2 if networks.data_shape[0] <= 64 else 1)
  png = visualize.save_image_grid(images.reshape(rows * steps, *images.shape[2:]),
                                  f'{base}_interpolation.png', ncols=steps, upscale=upscale)
  frames = []
  for s in range(steps):
    grid = visualize.image_grid(images[:, s], ncols=rows)
    bar = np.full((3, grid.shape[1], grid.shape[2]), 255, np.uint8)
    bar[:, :max(1, round(grid.shape[1] * (s + 1) / steps))] = 0  # Progress bar: frame s.
    frame = np.concatenate([grid, bar], axis=0)
    pil = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
    if upscale > 1:
      pil = pil.resize((pil.width * upscale, pil.height * upscale), Image.NEAREST)
    frames.append(pil)
  gif = f'{base}_interpolation.gif'
  frames[0].save(gif, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
  return png, gif


def write_per_class(networks, state, num: int, key, base: str, *, ema: bool) -> list[str]:
  """Writes BASE_class<c>.png, num samples of class c, for every class."""
  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import train, visualize  # pylint: disable=g-import-not-at-top
  if not networks.num_classes:
    raise ValueError('--per_class needs a conditional model (trained with '
                     '--config.dataset.conditional=True); this one is unconditional.')
  if len(networks.data_shape) != 3:
    raise ValueError(f'--per_class writes image grids; data shape is {networks.data_shape}.')
  paths = []
  for c in range(networks.num_classes):
    samples = train.generate(networks, state, num, jax.random.fold_in(key, c), ema=ema,
                             labels=np.full((num,), c, np.int32))
    paths.append(visualize.save_image_grid(samples, f'{base}_class{c}.png'))
  return paths


def main(argv):
  del argv
  common.quiet_library_logs()
  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import train, visualize  # pylint: disable=g-import-not-at-top
  out = FLAGS.out or os.path.join(FLAGS.workdir, 'samples', 'sampled.png')
  if not out.endswith(('.png', '.npy')):
    raise app.UsageError(f'--out must end in .png or .npy; got {out!r}.')
  config, source, networks, state, step = train.load_run(FLAGS.workdir, FLAGS.step)
  if FLAGS.per_class and not networks.num_classes:
    raise app.UsageError('--per_class needs a conditional model (trained with '
                         '--config.dataset.conditional=True); this run is unconditional.')
  if FLAGS.interpolate and len(networks.data_shape) != 3:
    raise app.UsageError(f'--interpolate needs an image model; data shape is '
                         f'{networks.data_shape}.')
  if FLAGS.interpolate < 0 or FLAGS.interpolation_steps < 2:
    raise app.UsageError('--interpolate must be >= 0 and --interpolation_steps >= 2.')
  ema = FLAGS.ema and config.ema_decay > 0
  key = jax.random.key(FLAGS.seed)
  samples = train.generate(networks, state, FLAGS.num, key, ema=ema)
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
  base = os.path.splitext(out)[0]
  if FLAGS.interpolate:
    png, gif = write_interpolation(
        networks, state.generator_variables(ema=ema), jax.random.fold_in(key, 1),
        FLAGS.interpolate, FLAGS.interpolation_steps, base, frame_ms=FLAGS.gif_ms)
    print(f'Wrote {FLAGS.interpolate} x {FLAGS.interpolation_steps} interpolation to {png} '
          f'and {gif}')
  if FLAGS.per_class:
    paths = write_per_class(networks, state, FLAGS.num, jax.random.fold_in(key, 2), base,
                            ema=ema)
    print(f'Wrote {len(paths)} per-class grids: {paths[0]} .. {paths[-1]}')


if __name__ == '__main__':
  flags.mark_flag_as_required('workdir')
  app.run(main)
