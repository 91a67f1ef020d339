r"""Samples a trained run: `python launch/sample.py --workdir=DIR --num=N --out=PATH`.

`--out` ending in .png writes a grid (images) or a scatter plot (2-D data); .npy writes the
raw samples as float32 in the data's own range (NHWC images in [-1, 1], or (N, D) vectors);
.npz writes a labelled dataset that training and evaluation read back with
--config.dataset.name=npz --config.dataset.path=PATH: 'images', 'labels' (a conditional
model's requested classes, balanced: sample i asks for class i mod K; InfoGAN's categorical
code values, with 'continuous' codes beside them; none for an unconditional model),
'num_classes' and where they came from ('workdir', 'step', 'ema').
A conditional model's .npy comes with BASE_labels.npy (InfoGAN: the categorical codes).
Uses the latest checkpoint (or --step) and the EMA generator when the run kept one.

Extras (image models), written next to --out (PATH without its extension = BASE):
  --interpolate=K   BASE_interpolation.png: K rows, each a spherical interpolation (slerp;
                    linear for uniform latents) between a random pair of latents in
                    --interpolation_steps (10) steps; and BASE_interpolation.gif, one frame per
                    step showing the K rows' images side by side (a bar at the bottom marks
                    the step).
  --per_class       BASE_per_class.png: one row of --per_row samples per class (conditional
                    models). InfoGAN: BASE_per_code.png, one row per categorical code value,
                    and BASE_traversal_c<j>.png for each continuous code j: row k has code
                    value k and one noise draw, c_j sweeps -2 .. 2 along it (--per_row
                    steps), the other continuous codes 0. Unconditional: a usage error.
  --label=K         every sample asks for class K (conditional) or categorical code K
                    (InfoGAN), in the .png / .npy / .npz of --out.
  --style_mixing=K  StyleGAN2: BASE_style_mixing.png, the paper's figure: K row sources
                    give the coarse styles (w_0 .. w_{c-1}, c = --mix_cutoff, default half),
                    --per_row column sources the fine ones; the sources in row 0 / column 0.
  --truncation=K    StyleGAN2: BASE_truncation.png, K latents (rows) at --truncation_steps (9)
                    values of psi from 1 to 0 (w' = w_avg + psi (w - w_avg)).
  --truncation_psi  StyleGAN2: truncate the samples of --out by psi.

Image-to-image runs (pix2pix, CycleGAN) translate images instead of sampling latents:
  default           the first --num held-out examples (dataset.eval_split): .png rows
                    input | output | target (CycleGAN: A | A->B | A->B->A | B | B->A | B->A->B,
                    A and B unpaired), as the training grids; .npy the outputs of --direction.
  --inputs=PATH     translate your images: a folder of images (.png, .jpg, ...; sorted by path)
                    or a .npy (N, H, W[, C]) (uint8 0..255, or float in [-1, 1]). They are
                    brought to the run's input format as the dataset makes its images
                    (gan_jax.sampling.prepare_inputs): the digit datasets pad a 28x28 digit with
                    the background to the input side (a low-res 7x7 / 14x14 digit of a
                    super-resolution run is first upsampled nearest-neighbour, an 8x8 UCI digit
                    of a CycleGAN digits run as the UCI domain is, any other size bicubic to
                    28x28); other datasets are bicubic-resized to the input side; grey <-> RGB
                    as the run needs. .png rows input | output (| reconstruction, CycleGAN);
                    .npy the outputs (N, H, W, C) float32 in [-1, 1].
  --direction       a_to_b (default; pix2pix's only) or b_to_a (CycleGAN's g_ba).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import
import numpy as np

from launch import common

flags.DEFINE_string('workdir', None, 'Run directory written by launch/main.py.')
flags.DEFINE_integer('num', 64, 'Number of samples.')
flags.DEFINE_string('out', None, 'Output path: .png (grid) or .npy (raw samples). Video, '
                    'voxel and audio runs: the path without extension that their files '
                    '(.gif, .png, .npy, .wav) start with.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
flags.DEFINE_integer('member', None, 'Member of a population run (population.csv lists them).')
flags.DEFINE_integer('seed', 0, 'Sampling seed.')
flags.DEFINE_bool('ema', True, 'Use the EMA generator weights when the run has them.')
flags.DEFINE_integer('interpolate', 0, 'K > 0: write a K-row latent interpolation PNG and GIF.')
flags.DEFINE_integer('interpolation_steps', 10, 'Steps (columns / GIF frames) per row.')
flags.DEFINE_integer('gif_ms', 150, 'Duration of one GIF frame in milliseconds.')
flags.DEFINE_bool('per_class', False, 'One row per class (conditional models) or per '
                  'categorical code with continuous-code traversals (InfoGAN).')
flags.DEFINE_integer('per_row', 10, 'Samples per row of --per_class grids and traversals.')
flags.DEFINE_integer('label', None, 'Sample only class K (conditional) or categorical code K '
                     '(InfoGAN).')
flags.DEFINE_string('inputs', None, 'Image-to-image runs: a folder of images or a .npy '
                    '(N, H, W[, C]) to translate (default: held-out examples).')
flags.DEFINE_enum('direction', 'a_to_b', ['a_to_b', 'b_to_a'],
                  'Image-to-image runs: translate A -> B (the condition into the image) or, '
                  "for CycleGAN, B -> A.")
flags.DEFINE_integer('style_mixing', 0, 'StyleGAN2: K > 0 writes BASE_style_mixing.png, K row '
                     'sources (coarse styles) x --per_row column sources (fine styles).')
flags.DEFINE_integer('mix_cutoff', None, 'StyleGAN2 style mixing: the first style taken from '
                     'the column source (default: half of the styles).')
flags.DEFINE_integer('truncation', 0, 'StyleGAN2: K > 0 writes BASE_truncation.png, K latents '
                     'at --truncation_steps values of psi from 1 to 0.')
flags.DEFINE_integer('truncation_steps', 9, 'psi values of the truncation sweep.')
flags.DEFINE_float('truncation_psi', None, 'StyleGAN2: psi of the samples in --out (default: '
                   'the run\'s model.stylegan2.truncation_psi, 1 = none).')
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
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from gan_jax import sampling, visualize  # pylint: disable=g-import-not-at-top
  if len(networks.data_shape) != 3:
    raise ValueError(f'--interpolate needs an image model; data shape is {networks.data_shape}.')
  z = interpolation_latents(networks, key, rows, steps)
  y = None
  if networks.num_classes:
    y = np.repeat(np.asarray(labels if labels is not None else np.arange(rows) %
                             networks.num_classes), steps)
  images = np.asarray(sampling.make_sampler(networks)(variables, z.reshape(rows * steps, -1), y))
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


def write_per_class(networks, variables, per_row: int, key, base: str) -> list[str]:
  """BASE_per_class.png (one row per class) or, for InfoGAN, BASE_per_code.png (one row per
  categorical value) and BASE_traversal_c<j>.png per continuous code; returns the paths."""
  from gan_jax import sampling, visualize  # pylint: disable=g-import-not-at-top
  if len(networks.data_shape) != 3:
    raise ValueError(f'--per_class writes image grids; data shape is {networks.data_shape}.')
  sampler = sampling.make_sampler(networks)
  upscale = 2 if networks.data_shape[0] <= 32 else 1
  z, labels, _ = sampling.class_grid_inputs(networks, key, per_row)
  name = 'per_class' if networks.num_classes else 'per_code'
  paths = [visualize.save_image_grid(np.asarray(sampler(variables, z, labels)),
                                     f'{base}_{name}.png', ncols=per_row, upscale=upscale)]
  if networks.latent_codes is not None:
    values = np.linspace(-2.0, 2.0, per_row)
    labels = None
    if networks.num_classes:  # An InfoGAN that is also class-conditional: class 0.
      labels = np.zeros((networks.latent_codes[0] * per_row,), np.int32)
    for j in range(networks.latent_codes[1]):
      z = sampling.traversal_latents(networks, key, j, values)
      paths.append(visualize.save_image_grid(np.asarray(sampler(variables, z, labels)),
                                             f'{base}_traversal_c{j}.png', ncols=per_row,
                                             upscale=upscale))
  return paths


def requested(networks, num: int, key, label=None):
  """(latents or None, labels or None, code labels or None, continuous codes or None) of
  `num` samples: a conditional model asks for class i mod K (or `label`), InfoGAN draws its
  codes (categorical fixed to `label` when given)."""
  if label is not None:
    k = networks.num_classes or (networks.latent_codes or (0,))[0]
    if not k:
      raise ValueError('--label needs a conditional model (trained with '
                       '--config.dataset.conditional=True) or InfoGAN codes; this run is '
                       'unconditional.')
    if not 0 <= label < k:
      raise ValueError(f'--label={label} is out of range: the run has {k} classes / codes.')
  labels = None
  if networks.num_classes:
    labels = (np.full((num,), label, np.int32) if label is not None and
              networks.latent_codes is None else np.arange(num, dtype=np.int32) %
              networks.num_classes)
  if networks.latent_codes is None:
    return None, labels, labels, None
  noise, cat, cont = networks.sample_codes(key, num)
  cat = np.full((num,), label, np.int32) if label is not None else np.asarray(cat)
  z = np.asarray(networks.code_latents(noise, cat, cont))
  return z, labels, cat, np.asarray(cont)


def read_images(path: str):
  """A .npy (N, H, W[, C]) array, or the images of a folder (sorted by path) as uint8 arrays
  (grey stays grey, anything else becomes RGB)."""
  from PIL import Image, UnidentifiedImageError  # pylint: disable=g-import-not-at-top
  from gan_jax.data import sources  # pylint: disable=g-import-not-at-top
  if path.endswith('.npy'):
    images = np.load(path)
    if images.ndim not in (3, 4):
      raise ValueError(f'{path} holds an array of shape {images.shape}; --inputs=.npy needs '
                       'images (N, H, W) or (N, H, W, C).')
    return images
  if not os.path.isdir(path):
    raise FileNotFoundError(f'--inputs={path!r} is neither a .npy file nor a folder of images.')
  files = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs
                 if f.lower().endswith(sources.IMAGE_EXTENSIONS))
  if not files:
    raise FileNotFoundError(f'No images ({", ".join(sources.IMAGE_EXTENSIONS)}) under {path}.')
  images = []
  for f in files:
    try:
      with Image.open(f) as im:
        images.append(np.asarray(im.convert('L' if im.mode in ('L', '1') else 'RGB')))
    except (UnidentifiedImageError, OSError) as e:
      raise ValueError(f'Cannot read image {f}: {e}. Remove or fix the file.') from e
  return images


def write_translations(config, networks, state, out: str, key, *, num: int, ema: bool,
                       inputs: str = None, direction: str = 'a_to_b') -> int:
  """Translates held-out examples (or the images at `inputs`) and writes `out`: a .png grid
  or a .npy of the outputs. Returns the number of images translated."""
  from gan_jax import sampling, visualize  # pylint: disable=g-import-not-at-top
  sampling.check_direction(sampling.translation_kind(config), direction)
  variables = state.generator_variables(ema=ema)
  translator = sampling.make_translator(config, networks)
  held = None if inputs else sampling.held_out_inputs(config, num)
  if inputs:
    images = sampling.prepare_inputs(config, networks, read_images(inputs), direction)
  else:
    images = held.a if direction == 'a_to_b' else held.b
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  if held is not None and out.endswith('.png'):  # The training grid's rows.
    grid, per_row = sampling.translation_grid(config, translator, variables, held, key)
  else:
    result = sampling.translate_with(translator, variables, images, key, direction=direction)
    if out.endswith('.npy'):
      np.save(out, result['output'].astype(np.float32))
      return len(images)
    columns = [images, result['output'], *([result['reconstruction']]
                                           if 'reconstruction' in result else [])]
    grid, per_row = sampling.grid_rows(columns), len(columns)
  visualize.save_image_grid(grid, out, ncols=per_row,
                            upscale=2 if networks.data_shape[0] <= 32 else 1)
  return len(grid) // per_row


def main(argv):
  del argv
  common.quiet_library_logs()
  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import sampling, visualize  # pylint: disable=g-import-not-at-top
  from gan_jax import modalities  # pylint: disable=g-import-not-at-top
  out = FLAGS.out or os.path.join(FLAGS.workdir, 'samples', 'sampled.png')
  config, source, networks, state, step = common.load_run(FLAGS.workdir, FLAGS.step, FLAGS.member)
  ema = FLAGS.ema and config.ema_decay > 0
  if FLAGS.style_mixing or FLAGS.truncation or FLAGS.truncation_psi is not None:
    if config.model.name != 'stylegan2':
      raise app.UsageError('--style_mixing, --truncation and --truncation_psi need a StyleGAN2 '
                           f'run (model.name=stylegan2); this run is {config.model.name!r}.')
    if min(FLAGS.style_mixing, FLAGS.truncation) < 0 or FLAGS.truncation_steps < 2:
      raise app.UsageError('--style_mixing and --truncation must be >= 0 and '
                           '--truncation_steps >= 2.')
  if FLAGS.truncation_psi is not None:  # The samples' generator truncates by this psi.
    from gan_jax import models  # pylint: disable=g-import-not-at-top
    config.model.stylegan2.truncation_psi = FLAGS.truncation_psi
    networks = models.build_networks(config.model, networks.data_shape, networks.num_classes)
  modality = modalities.for_config(config)
  if modality is not None:  # Clips, voxel grids, waveforms: the modality's own files.
    if FLAGS.per_class or FLAGS.interpolate or FLAGS.inputs:
      raise app.UsageError('--per_class, --interpolate and --inputs are for image runs; a '
                           f'{modalities.modality(config)} run writes its samples with --num, '
                           '--label and --seed.')
    key = jax.random.key(FLAGS.seed)
    num = FLAGS.num
    if modalities.modality(config) == 'video':  # A frames run: --num clips of T samples each.
      num *= modality.samples_per_clip(config, networks)
    try:
      z, labels, out_labels, _ = requested(networks, num, key, FLAGS.label)
    except ValueError as e:
      raise app.UsageError(str(e)) from e
    samples = sampling.generate(networks, state, num, key, ema=ema, labels=labels,
                                latents=z)
    paths = modality.write_outputs(config, np.asarray(samples), out_labels,
                                   os.path.splitext(out)[0])
    print(f'Wrote {FLAGS.num} {modalities.modality(config)} samples from step {step}: '
          + ', '.join(paths))
    return
  if not out.endswith(('.png', '.npy', '.npz')):
    raise app.UsageError(f'--out must end in .png, .npy or .npz; got {out!r}.')
  if sampling.translation_kind(config) is not None:
    if FLAGS.per_class or FLAGS.interpolate or FLAGS.label is not None:
      raise app.UsageError('--per_class, --label and --interpolate sample latents; this is an '
                           'image-to-image run: use --inputs=PATH or the held-out default.')
    try:
      n = write_translations(config, networks, state, out, jax.random.key(FLAGS.seed),
                             num=FLAGS.num, ema=ema, inputs=FLAGS.inputs,
                             direction=FLAGS.direction)
    except (FileNotFoundError, ValueError) as e:
      raise app.UsageError(str(e)) from e
    what = f'{FLAGS.inputs or "held-out examples"}, {FLAGS.direction}'
    if not FLAGS.inputs and out.endswith('.png'):
      what = 'held-out examples: ' + ' | '.join(
          sampling.GRID_COLUMNS[sampling.translation_kind(config)])
    print(f'Wrote {n} translations ({what}) from step {step} to {out}')
    return
  if FLAGS.inputs:
    raise app.UsageError('--inputs translates images: it needs an image-to-image run (pix2pix, '
                         'CycleGAN); this run samples latents.')
  if FLAGS.interpolate and len(networks.data_shape) != 3:
    raise app.UsageError(f'--interpolate needs an image model; data shape is '
                         f'{networks.data_shape}.')
  if FLAGS.interpolate < 0 or FLAGS.interpolation_steps < 2:
    raise app.UsageError('--interpolate must be >= 0 and --interpolation_steps >= 2.')
  if FLAGS.per_class and FLAGS.per_row < 1:
    raise app.UsageError('--per_row must be >= 1.')
  key = jax.random.key(FLAGS.seed)
  try:
    z, labels, out_labels, continuous = requested(networks, FLAGS.num, key, FLAGS.label)
    if FLAGS.per_class and not (networks.num_classes or networks.latent_codes):
      raise ValueError('--per_class needs a conditional model (trained with '
                       '--config.dataset.conditional=True) or InfoGAN codes; this run is '
                       'unconditional.')
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  samples = sampling.generate(networks, state, FLAGS.num, key, ema=ema, labels=labels,
                              latents=z)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  base = os.path.splitext(out)[0]
  if out.endswith('.npz'):
    from gan_jax.data import sources  # pylint: disable=g-import-not-at-top
    extra = {} if continuous is None else {'continuous': continuous}
    if out_labels is not None:
      extra['num_classes'] = networks.num_classes or networks.latent_codes[0]
    sources.save_labelled_npz(out, samples, out_labels, workdir=os.path.abspath(FLAGS.workdir),
                              step=step, ema=ema, **extra)
  elif out.endswith('.npy'):
    np.save(out, samples.astype(np.float32))
    if out_labels is not None:
      np.save(base + '_labels.npy', out_labels)
  elif samples.ndim == 4:
    visualize.save_image_grid(samples, out)
  else:
    from gan_jax import plots  # pylint: disable=g-import-not-at-top
    real = np.stack([source[i]['image'] for i in range(min(len(source), FLAGS.num))])
    plots.scatter_real_vs_fake(real, samples, out, title=f'step {step}')
  what = '' if FLAGS.label is None else f' of {"code" if z is not None else "class"} {FLAGS.label}'
  print(f'Wrote {FLAGS.num} samples{what} from step {step} to {out}'
        + (f' (labels in {base}_labels.npy)' if out.endswith('.npy') and out_labels is not None
           else ''))
  if FLAGS.interpolate:
    png, gif = write_interpolation(
        networks, state.generator_variables(ema=ema), jax.random.fold_in(key, 1),
        FLAGS.interpolate, FLAGS.interpolation_steps, base, frame_ms=FLAGS.gif_ms)
    print(f'Wrote {FLAGS.interpolate} x {FLAGS.interpolation_steps} interpolation to {png} '
          f'and {gif}')
  if FLAGS.per_class:
    paths = write_per_class(networks, state.generator_variables(ema=ema), FLAGS.per_row,
                            jax.random.fold_in(key, 2), base)
    print('Wrote ' + ', '.join(paths))
  if FLAGS.style_mixing or FLAGS.truncation:
    for path in write_style_figures(networks, state.generator_variables(ema=ema),
                                    jax.random.fold_in(key, 3), base):
      print(f'Wrote {path}')


def write_style_figures(networks, variables, key, base: str) -> list[str]:
  """StyleGAN2 runs: BASE_style_mixing.png (--style_mixing rows x --per_row columns) and
  BASE_truncation.png (--truncation rows x --truncation_steps psi values, 1 -> 0)."""
  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import sampling, visualize  # pylint: disable=g-import-not-at-top
  upscale = 2 if networks.data_shape[0] <= 32 else 1
  paths = []
  k_mix, k_trunc = jax.random.split(key)
  if FLAGS.style_mixing:
    grid, ncols = sampling.style_mixing_grid(
        networks, variables, k_mix, rows=FLAGS.style_mixing, cols=FLAGS.per_row,
        cutoff=FLAGS.mix_cutoff)
    paths.append(visualize.save_image_grid(grid, f'{base}_style_mixing.png', ncols=ncols,
                                           upscale=upscale))
  if FLAGS.truncation:
    images, _, ncols = sampling.truncation_sweep(networks, variables, k_trunc,
                                                 rows=FLAGS.truncation,
                                                 steps=FLAGS.truncation_steps)
    paths.append(visualize.save_image_grid(images, f'{base}_truncation.png', ncols=ncols,
                                           upscale=upscale))
  return paths


if __name__ == '__main__':
  flags.mark_flag_as_required('workdir')
  app.run(main)
