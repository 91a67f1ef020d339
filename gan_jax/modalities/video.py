"""Video: clips (T, H, W, C) in [-1, 1] — GIF grids, frame strips, and the video metrics.

Two kinds of run are video runs (gan_jax/modalities/__init__.py):
- a clip model (video_gan, mocogan; networks.data_shape (T, H, W, C)): a sample is a clip;
- a frames run (an image GAN on 'moving_mnist_frames'; data_shape (H, W, C)): T =
  dataset.moving_mnist.num_frames consecutive independent samples form one clip
  (`as_clips`). It is the independent-frames baseline of the video metrics: every frame is a
  plausible frame, nothing ties a frame to the one before.

Files: `write_samples` (training, at the fixed latents): samples/step_N.gif (a grid, one clip
per cell, GIF frame t = frame t of every clip), samples/step_N_frames.png (the first
STRIP_CLIPS clips, one per row, frames left to right) and samples/latest.gif, a link to the
newest GIF. `write_outputs` (launch/sample.py): BASE.gif, BASE_frames.png, BASE.npy (clips
(N, T, H, W, C) float32) and BASE_labels.npy when there are labels.

`evaluate` computes the numbers of gan_jax/metrics/video.py (per-frame FID, clip-level
Frechet distance, temporal consistency, motion smoothness) for generated clips (or real clips
of `real_split`: the floor) against held-out real Moving MNIST clips, with the same
classifiers and references for every kind of run, so video_gan, mocogan and the frames
baseline are comparable number for number. Its protocol dict records every choice.
"""

import json
import os
import time
from typing import Optional

import jax
import ml_collections
import numpy as np

from gan_jax import evaluation, metric_logging, sampling, visualize
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import video as video_metrics
from gan_jax.models import mocogan

GIF_FRAME_MS = 100  # 10 frames per second.
STRIP_CLIPS = 16    # Clips (rows) of a frame strip.
# Clips per generator call at evaluation (a frames run: this many x T frames); the latents of
# call i come from fold_in(key, i) (sampling.generate), so the samples depend on it.
GENERATE_CLIPS = 50
# A MoCoGAN's content x motion grid for the content and motion information (16 x 16 clips,
# latents from fold_in(key, FACTOR_KEY), so the other numbers' draws are unchanged).
FACTOR_GRID = 16
FACTOR_KEY = 0xFAC7
FRAME_CLASSIFIER_BATCH = 128
CLIP_CLASSIFIER_BATCH = 64
CLASSIFIER_LEARNING_RATE = 1e-3
REAL_DATASET = 'moving_mnist'
VIDEO_DATASETS = ('moving_mnist', 'moving_mnist_frames', 'tfds_moving_mnist')


# ---- clips of a run -----------------------------------------------------------------------

def num_frames(config: ml_collections.ConfigDict) -> int:
  """T: the frames of a clip (dataset.moving_mnist.num_frames)."""
  return int(config.dataset.moving_mnist.num_frames)


def frames_to_clips(frames: np.ndarray, frames_per_clip: int) -> np.ndarray:
  """Consecutive samples (N, H, W, C) -> clips (N // T, T, H, W, C): clip j is samples
  jT .. jT + T - 1; the last N mod T samples are dropped. Raises when N < T."""
  frames = np.asarray(frames)
  if frames.ndim != 4:
    raise ValueError(f'Expected frames (N, H, W, C); got shape {frames.shape}.')
  if frames_per_clip < 1 or len(frames) < frames_per_clip:
    raise ValueError(f'{len(frames)} frames cannot make a clip of {frames_per_clip} frames '
                     '(dataset.moving_mnist.num_frames); sample at least that many (a frames '
                     'run: num_sample_images a multiple of num_frames).')
  count = len(frames) // frames_per_clip
  return frames[:count * frames_per_clip].reshape(count, frames_per_clip, *frames.shape[1:])


def as_clips(config: ml_collections.ConfigDict, samples: np.ndarray) -> np.ndarray:
  """A run's samples as clips (N, T, H, W, C): clips as they are, a frames run's samples
  (N, H, W, C) stacked num_frames at a time (frames_to_clips)."""
  samples = np.asarray(samples)
  if samples.ndim == 5:
    return samples
  if samples.ndim == 4:
    return frames_to_clips(samples, num_frames(config))
  raise ValueError(f'Video samples are clips (N, T, H, W, C) or frames (N, H, W, C); got shape '
                   f'{samples.shape}.')


def is_frames_run(networks) -> bool:
  """Whether the generator makes single frames (H, W, C) (the independent-frames baseline)."""
  return len(networks.data_shape) == 3


def samples_per_clip(config: ml_collections.ConfigDict, networks) -> int:
  """Generator samples per clip: T for a frames run, 1 for a clip model."""
  return num_frames(config) if is_frames_run(networks) else 1


def upscale_for(clips: np.ndarray) -> int:
  """Pixel repetition of the GIFs and strips: 2 for frames of side <= 32, else 1."""
  return 2 if clips.shape[2] <= 32 else 1


def _write_files(clips: np.ndarray, gif: str, strip: str) -> list[str]:
  up = upscale_for(clips)
  return [visualize.save_clip_gif(clips, gif, upscale=up, frame_ms=GIF_FRAME_MS),
          visualize.save_frame_strip(clips[:STRIP_CLIPS], strip, upscale=up)]


def write_samples(config: ml_collections.ConfigDict, samples: np.ndarray, directory: str,
                  step: int) -> list[str]:
  """directory/step_N.gif, step_N_frames.png and the link latest.gif -> step_N.gif."""
  clips = as_clips(config, samples)
  base = os.path.join(directory, f'step_{step:07d}')
  paths = _write_files(clips, base + '.gif', base + '_frames.png')
  latest = os.path.join(directory, 'latest.gif')
  if os.path.lexists(latest):
    os.remove(latest)
  os.symlink(os.path.basename(paths[0]), latest)
  return paths


def write_outputs(config: ml_collections.ConfigDict, samples: np.ndarray,
                  labels: Optional[np.ndarray], base: str) -> list[str]:
  """BASE.gif, BASE_frames.png, BASE.npy (clips (N, T, H, W, C) float32) and, with labels,
  BASE_labels.npy (one per clip; a frames run's (N, T), one per frame)."""
  clips = as_clips(config, samples).astype(np.float32)
  os.makedirs(os.path.dirname(os.path.abspath(base)), exist_ok=True)
  paths = _write_files(clips, base + '.gif', base + '_frames.png')
  np.save(base + '.npy', clips)
  paths.append(base + '.npy')
  if labels is not None:
    labels = np.asarray(labels, np.int32)
    if np.asarray(samples).ndim == 4:
      labels = labels[:clips.shape[0] * clips.shape[1]].reshape(clips.shape[:2])
    np.save(base + '_labels.npy', labels)
    paths.append(base + '_labels.npy')
  return paths


# ---- real clips ---------------------------------------------------------------------------

def real_dataset_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The dataset config of the real clips the metrics use: 'moving_mnist' with the run's
  Moving MNIST fields (frames and TFDS runs alike: the TFDS clips carry no digit labels)."""
  name = config.dataset.name
  if name not in VIDEO_DATASETS:
    raise ValueError(
        f'The video metrics are defined on Moving MNIST (their classifiers learn its digit pairs '
        f'and motions); dataset.name={name!r} is not one of {VIDEO_DATASETS}.')
  from gan_jax.data import moving_mnist  # pylint: disable=g-import-not-at-top
  cfg = ml_collections.ConfigDict(config.dataset.to_dict())
  cfg.name = REAL_DATASET
  for field in moving_mnist.TWIN_FLAGS:  # The clips alone: no training twins.
    if field in cfg.moving_mnist:
      cfg.moving_mnist[field] = False
  return cfg


def _clip_set(cfg, split: str):
  from gan_jax.data import moving_mnist  # pylint: disable=g-import-not-at-top
  return moving_mnist.clips(cfg, split)


def real_clips(cfg, split: str, start: int, count: int, *, side: int = 0):
  """Clips start .. start + count - 1 of `split`: (clips (count, T, H, W, 1) float32, motion)
  with motion = {'classes' (count, 2), 'positions' and 'velocities' (count, 2, 2) of both
  digits at frame 0}. `side` > 0 area-averages each clip's frames to side x side as it is
  rendered (full-size clips are never all held)."""
  clip_set = _clip_set(cfg, split)
  if start + count > len(clip_set):
    raise ValueError(f'{REAL_DATASET}/{split} has {len(clip_set)} clips; clips {start}..'
                     f'{start + count - 1} were asked. Raise dataset.moving_mnist.{split}_clips '
                     'or lower the eval.video counts.')
  out, classes, positions, velocities = [], [], [], []
  for i in range(start, start + count):
    traj = clip_set.trajectory(i)
    clip = clip_set.clip(traj)
    out.append(video_metrics.downsample(clip[None], clip.shape[1] // side)[0] if side else clip)
    classes.append(traj['digit_labels'])
    positions.append(traj['positions'][0])
    velocities.append(traj['velocities'][0])
  return np.stack(out), dict(classes=np.stack(classes), positions=np.stack(positions),
                             velocities=np.stack(velocities))


def real_frames(cfg, split: str, count: int, *, side: int = 0):
  """(frames (count, H, W, 1), pair labels (count,)): frame i mod T of clip i, i < count;
  `side` > 0 area-averages them to side x side."""
  clip_set = _clip_set(cfg, split)
  if count > len(clip_set):
    raise ValueError(f'{REAL_DATASET}/{split} has {len(clip_set)} clips; '
                     f'eval.video.frame_classifier_frames={count} takes one frame of each of '
                     f'{count}. Lower it or raise dataset.moving_mnist.{split}_clips.')
  t_count = clip_set.spec.num_frames
  frames, labels = [], []
  for i in range(count):
    traj = clip_set.trajectory(i)
    t = i % t_count
    frame = clip_set.clip(dict(traj, positions=traj['positions'][t:t + 1]))
    frames.append(video_metrics.downsample(frame[None], frame.shape[1] // side)[0, 0] if side
                  else frame[0])
    labels.append(video_metrics.pair_label(traj['digit_labels']))
  return np.stack(frames), np.asarray(labels, np.int32)


def digit_ranges(cfg, *splits: str) -> dict:
  """{split: (a, b)}: the embedded digits [a, b) each split's clips show."""
  from gan_jax.data import moving_mnist  # pylint: disable=g-import-not-at-top
  return {s: tuple(moving_mnist.clip_spec(cfg, s).digit_range) for s in splits}


def check_disjoint(cfg, classifier_split: str, held_out_split: str) -> str:
  """Raises ValueError when the classifiers' split shares digits with the held-out split;
  returns what was checked (for the protocol)."""
  ranges = digit_ranges(cfg, classifier_split, held_out_split)
  (a0, b0), (a1, b1) = ranges[classifier_split], ranges[held_out_split]
  if a0 < b1 and a1 < b0:
    raise ValueError(
        f'The video classifiers train on {REAL_DATASET}/{classifier_split} (digits [{a0}, '
        f'{b0})), which shares digits with the held-out reference {held_out_split} (digits '
        f'[{a1}, {b1})). Set --config.eval.video.classifier_split / reference_split to splits '
        'of disjoint digit ranges (dataset.moving_mnist.train_digits / test_digits).')
  return (f'classifier split {classifier_split!r} digits [{a0}, {b0}) and reference split '
          f'{held_out_split!r} digits [{a1}, {b1}) are disjoint')


def _spec_record(cfg, split: str) -> dict:
  from gan_jax.data import moving_mnist  # pylint: disable=g-import-not-at-top
  spec = moving_mnist.clip_spec(cfg, split)
  # The clips' definition: their count and the training-only twins leave the cache keys.
  record = {k: v for k, v in vars(spec).items()
            if k != 'num_clips' and k not in moving_mnist.TWIN_FIELDS}
  record['digit_range'] = list(spec.digit_range)
  return dict(record, split=split, data_dir=os.path.abspath(cfg.data_dir) if cfg.data_dir else '')


# ---- classifiers --------------------------------------------------------------------------

def classifier_key(record: dict) -> str:
  """Cache name of a classifier trained on the clips of a split (spec record + counts)."""
  return f'{REAL_DATASET}_{record["split"]}_{evaluation.fields_digest(record)}'


def frame_classifier(config, cfg, split: str, side: int, *, log=metric_logging.log) -> dict:
  """The frame classifier (FrameCNN: the digit pair, 100 classes) and its record."""
  vcfg = config.eval.video
  count, steps, seed = (int(vcfg.frame_classifier_frames), int(vcfg.frame_classifier_steps),
                        int(vcfg.classifier_seed))
  record = dict(_spec_record(cfg, split), frames=count, side=side,
                batch=FRAME_CLASSIFIER_BATCH, lr=CLASSIFIER_LEARNING_RATE)
  cache = evaluation.cache_dir(config.eval)
  name = classifier_key(record)
  path = classifier_lib.classifier_cache_path(cache, name, steps=steps, seed=seed,
                                              architecture='video_frame_cnn')
  frames = labels = None
  t0 = time.time()
  if not os.path.exists(path):
    frames, labels = real_frames(cfg, split, count, side=side)
    log(f'Training the video frame classifier ({steps} Adam steps on {count} frames of '
        f'{REAL_DATASET}/{split} at {side} px); cached at {path}.')
  variables, path, sha = classifier_lib.cached_classifier(
      cache, name, frames, labels, num_classes=video_metrics.NUM_PAIRS, steps=steps, seed=seed,
      batch_size=FRAME_CLASSIFIER_BATCH, module=video_metrics.FrameCNN(),
      architecture='video_frame_cnn')
  if frames is not None:
    log(f'Trained the video frame classifier in {time.time() - t0:.1f}s.')
  return dict(variables=variables, path=path, sha256=sha, split=split, steps=steps, seed=seed,
              training_frames=count, batch_size=FRAME_CLASSIFIER_BATCH,
              learning_rate=CLASSIFIER_LEARNING_RATE, side=side,
              architecture=('FrameCNN (metrics.video): 3 x [3x3 conv (32, 64, 64), ReLU] with '
                            'average pool 2 after the first two, global max + mean pool, '
                            'dense(128) features; heads smaller / larger digit (10 each) summed '
                            'into the 100 pair logits'),
              label="the clip's unordered digit pair 10 min + max (100 classes)",
              training_set=(f'frame i mod T of clip i, clips 0..{count - 1} of {split}, '
                            f'area-averaged to {side} px'))


def clip_classifier(config, cfg, split: str, side: int, *, log=metric_logging.log) -> dict:
  """The clip classifier (ClipCNN: digit pair x direction of each digit) and its record."""
  vcfg = config.eval.video
  count, steps, seed = (int(vcfg.clip_classifier_clips), int(vcfg.clip_classifier_steps),
                        int(vcfg.classifier_seed))
  bins = int(vcfg.direction_bins)
  record = dict(_spec_record(cfg, split), clips=count, side=side, bins=bins,
                batch=CLIP_CLASSIFIER_BATCH, lr=CLASSIFIER_LEARNING_RATE)
  cache = evaluation.cache_dir(config.eval)
  name = classifier_key(record)
  path = classifier_lib.classifier_cache_path(cache, name, steps=steps, seed=seed,
                                              architecture='video_clip_cnn3d')
  clips = labels = None
  t0 = time.time()
  if not os.path.exists(path):
    clips, motion = real_clips(cfg, split, 0, count, side=side)
    labels = video_metrics.clip_labels(motion['classes'], motion['positions'],
                                       motion['velocities'], bins)
    log(f'Training the video clip classifier ({steps} Adam steps on {count} clips of '
        f'{REAL_DATASET}/{split} at {side} px); cached at {path}.')
  variables, path, sha = classifier_lib.cached_classifier(
      cache, name, clips, labels, num_classes=video_metrics.NUM_PAIRS * bins * bins,
      steps=steps, seed=seed, batch_size=CLIP_CLASSIFIER_BATCH,
      module=video_metrics.ClipCNN(bins), architecture='video_clip_cnn3d')
  if clips is not None:
    log(f'Trained the video clip classifier in {time.time() - t0:.1f}s.')
  return dict(variables=variables, path=path, sha256=sha, split=split, steps=steps, seed=seed,
              training_clips=count, batch_size=CLIP_CLASSIFIER_BATCH,
              learning_rate=CLASSIFIER_LEARNING_RATE, side=side, direction_bins=bins,
              architecture=(f'ClipCNN (metrics.video): 3 x [3x3x3 conv '
                            f'{video_metrics.CLIP_WIDTHS}, ReLU, average pool (2,2,2), (2,2,2), '
                            '(1,2,2)], global max + mean pool, dense(128) features; heads '
                            f'smaller / larger digit (10 each), direction a, b ({bins} each) '
                            f'summed into {100 * bins * bins} joint logits'),
              label=('(digit pair, direction sector of digit a, of digit b) with a the digit of '
                     'smaller class (equal classes: smaller initial (y, x)); direction = the '
                     f'initial velocity\'s angle atan2(dy, dx) in {bins} equal sectors from 0'),
              training_set=f'clips 0..{count - 1} of {split}, frames area-averaged to {side} px')


def classifier_split(config) -> str:
  """The split the classifiers train on: eval.video.classifier_split, '' = dataset.split
  (a TFDS run's split names TFDS clips: then 'train' of the generated clips)."""
  if config.eval.video.classifier_split:
    return config.eval.video.classifier_split
  return 'train' if config.dataset.name == 'tfds_moving_mnist' else config.dataset.split


def classifier_side(config, frame_side: int) -> int:
  """The side both classifiers see frames at: eval.video.classifier_side (which must divide
  the frame side), or the frame side itself when that is smaller."""
  side = int(config.eval.video.classifier_side)
  if side >= frame_side:
    return frame_side
  if side < 1 or frame_side % side:
    raise ValueError(f'eval.video.classifier_side={side} must divide the {frame_side}-px frames '
                     f'(area averaging of whole blocks), e.g. {frame_side // 2}.')
  return side


# ---- evaluation ---------------------------------------------------------------------------

def _generated_clips(config, networks, state, n: int, key, ema: bool) -> np.ndarray:
  per_clip = samples_per_clip(config, networks)
  samples = sampling.generate(networks, state, n * per_clip, key, ema=ema,
                              batch_size=GENERATE_CLIPS * per_clip)
  return as_clips(config, samples)


def _factor_information(config, networks, state, frame_clf, side: int, key, ema: bool) -> dict:
  """A MoCoGAN's content and motion information (metrics.video.factor_information) on a
  FACTOR_GRID x FACTOR_GRID grid of its latents; with categorical content codes also their
  code information (metrics.video.code_information) on FACTOR_GRID^2 clips of independent
  latents (LatentLayout.sample with fold_in(key, 1))."""
  t = num_frames(config)
  layout = mocogan.latent_layout(config.model, t)

  def predictions(z):
    clips = sampling.generate(networks, state, z.shape[0], key, ema=ema,
                              latents=np.asarray(z), batch_size=GENERATE_CLIPS)
    _, logits = video_metrics.frame_features(frame_clf['variables'], clips,
                                             downsample_factor=clips.shape[2] // side)
    return video_metrics.frame_predictions(logits, t)

  results = video_metrics.factor_information(
      predictions(layout.grid(key, FACTOR_GRID, FACTOR_GRID)), FACTOR_GRID, FACTOR_GRID)
  if layout.num_codes:
    z = layout.sample(jax.random.fold_in(key, 1), FACTOR_GRID * FACTOR_GRID)
    results['code_information'] = video_metrics.code_information(predictions(z),
                                                                 layout.codes(z))
  return results


def _statistics(frame_clf, clip_clf, clips, side: int, bins: int) -> dict:
  """Features and the per-set numbers of clips (N, T, H, W, C)."""
  t, factor = clips.shape[1], clips.shape[2] // side
  f_feats, f_logits = video_metrics.frame_features(frame_clf['variables'], clips,
                                                   downsample_factor=factor)
  c_feats, c_logits = video_metrics.clip_features(
      clip_clf['variables'], clips, direction_bins=bins, downsample_factor=factor)
  predictions = video_metrics.frame_predictions(f_logits, t)
  return dict(frame_features=f_feats, frame_logits=f_logits, clip_features=c_feats,
              clip_logits=c_logits, predictions=predictions,
              temporal_consistency=video_metrics.temporal_consistency(predictions),
              frame_label_agreement=video_metrics.label_agreement(predictions),
              time_lock=video_metrics.time_lock(clips),
              **video_metrics.motion_statistics(clips))


SET_NUMBERS = ('temporal_consistency', 'frame_label_agreement', 'acceleration', 'speed',
               'frame_difference', 'time_lock')

DEFINITIONS = dict(
    frame_fid='Frechet distance of Gaussians fitted to the frame classifier\'s 128-d features '
              'of every frame of the evaluated clips vs every frame of the reference clips',
    clip_fd='Frechet distance in the clip classifier\'s 128-d features, evaluated clips vs '
            'reference clips: the offline analogue of FVD (Unterthiner et al. 2018), with a '
            '3-D network trained here on real Moving MNIST clips in place of the Kinetics I3D',
    temporal_consistency='fraction of clips whose every frame gets the same argmax digit pair '
                         'from the frame classifier',
    frame_label_agreement='mean over clips of the fraction of frames whose argmax pair is the '
                          'clip\'s most frequent one',
    acceleration='mean over clips and t of |c_{t+1} - 2 c_t + c_{t-1}| (Euclidean, pixels / '
                 'frame^2), c_t the intensity centroid of frame t (weights (x + 1) / 2, a frame '
                 'of zero weight at the frame centre); real Moving MNIST: 0 but at bounces '
                 'and overlaps',
    speed='mean over clips and t of |c_{t+1} - c_t| (pixels / frame)',
    frame_difference='mean over clips, t and pixels of |x_{t+1} - x_t| (pixel range [-1, 1])',
    time_lock='share of the pixel variance explained by the frame index: mean over pixels of '
              'Var_t(mean over clips of frame t) / mean over pixels of Var over clips and t; '
              'about 1 / (number of clips) for a distribution stationary in time (real '
              'Moving MNIST), 1 when frame t is the same in every clip',
    content_information='MoCoGAN runs: I(frame classifier\'s argmax pair of a frame; index '
                        'of its content code), nats, over the frames of a grid of 16 contents '
                        'x 16 motions (LatentLayout.grid, raw or EMA G as the other numbers); '
                        'near pair_entropy when the content code decides the digits, near 0 '
                        'when G ignores it',
    motion_information='the same with the index of the motion (h_0 and eps_1..T)',
    code_information='MoCoGAN runs with categorical content codes: mean over the codes of '
                     'I(frame classifier\'s argmax pair of a frame; the clip\'s value of the '
                     'code), nats, over the frames of 256 clips of independent latents; near '
                     '0 when G ignores the codes, up to log(code values)',
    pair_entropy='H(argmax pair) over the frames of that grid, nats',
    **{'real_*': 'the same number of the reference (held-out real) clips'},
    frame_classifier_accuracy='argmax digit pair of the frame classifier vs the true pair, on '
                              'every frame of the reference clips (held out)',
    clip_classifier_pair_accuracy='the clip classifier\'s pair head on the reference clips',
    clip_classifier_direction_accuracy='its direction heads (mean of digit a and b) on the '
                                       'reference clips',
)

_MEMORY_CACHE: dict = {}


def evaluate(config: ml_collections.ConfigDict, networks, state, source, *, key: jax.Array,
             step: Optional[int], num_samples: Optional[int], ema: bool,
             real_split: Optional[str], log=metric_logging.log) -> dict:
  """The video metrics of a run (gan_jax/metrics/video.py); see the module docstring.

  Evaluated clips: num_samples (default eval.video.num_clips) generated clips (a frames run:
  num_samples x T independent samples, T at a time), or with `real_split` the real clips of
  that split (the real-vs-real floor; from the reference split, the clips after the
  reference ones). Reference: the first eval.video.num_reference clips of
  eval.video.reference_split. The frame and clip classifiers train on
  eval.video.classifier_split ('' = dataset.split), whose digits must be disjoint from the
  reference's, and are cached in eval.cache_dir.
  """
  del source  # The real clips are regenerated from the config (they are a function of it).
  t_start = time.time()
  vcfg = config.eval.video
  cfg = real_dataset_config(config)
  t_count = num_frames(config)
  train_split = classifier_split(config)
  ref_split = vcfg.reference_split
  n_ref = int(vcfg.num_reference)
  n = int(num_samples or vcfg.num_clips)
  bins = int(vcfg.direction_bins)
  if n < 2 or n_ref < 2:
    raise ValueError(f'The Frechet distances need >= 2 clips on each side; got {n} evaluated '
                     f'and eval.video.num_reference={n_ref}.')
  if networks is not None and not is_frames_run(networks) and networks.data_shape[0] != t_count:
    raise ValueError(f'The generator makes clips of {networks.data_shape[0]} frames but '
                     f'dataset.moving_mnist.num_frames={t_count}; evaluate with the run\'s own '
                     'config.')
  disjoint = check_disjoint(cfg, train_split, ref_split)
  ref_key = ('reference', json.dumps(_spec_record(cfg, ref_split), sort_keys=True), n_ref)
  if ref_key not in _MEMORY_CACHE:
    _MEMORY_CACHE[ref_key] = real_clips(cfg, ref_split, 0, n_ref)
  ref_clips, ref_motion = _MEMORY_CACHE[ref_key]
  side = classifier_side(config, ref_clips.shape[2])
  frame_clf = frame_classifier(config, cfg, train_split, side, log=log)
  clip_clf = clip_classifier(config, cfg, train_split, side, log=log)

  t0 = time.time()
  if real_split is not None:
    start = n_ref if real_split == ref_split else 0
    clips, _ = real_clips(cfg, real_split, start, n)
    what = (f'real clips {start}..{start + n - 1} of {REAL_DATASET}/{real_split}'
            + (' (after the reference clips)' if start else ''))
    if real_split == train_split:
      what += ' (the classifiers\' training split)'
    run_kind = 'real'
  else:
    if networks is None:
      raise ValueError('No generator: pass real_split to evaluate real clips.')
    clips = _generated_clips(config, networks, state, n, key, ema)
    frames_run = is_frames_run(networks)
    run_kind = 'frames_baseline' if frames_run else 'clip_model'
    what = (f'generated ({"EMA" if ema else "raw"} generator): '
            + (f'{n * t_count} independent frames of an image GAN, T = {t_count} consecutive '
               'samples per clip' if frames_run else f'{n} clips'))
  if clips.shape[1:] != ref_clips.shape[1:]:
    raise ValueError(f'The evaluated clips have shape {clips.shape[1:]}, the reference clips '
                     f'{ref_clips.shape[1:]}; the run must generate the dataset\'s frames.')
  t_gen = time.time() - t0

  t0 = time.time()
  stats_key = ('reference_stats', ref_key, frame_clf['sha256'], clip_clf['sha256'], side)
  if stats_key not in _MEMORY_CACHE:
    _MEMORY_CACHE[stats_key] = _statistics(frame_clf, clip_clf, ref_clips, side, bins)
  ref = _MEMORY_CACHE[stats_key]
  ev = _statistics(frame_clf, clip_clf, clips, side, bins)
  t_feat = time.time() - t0

  ref_pairs = video_metrics.pair_label(ref_motion['classes'])
  ref_labels = video_metrics.clip_labels(ref_motion['classes'], ref_motion['positions'],
                                         ref_motion['velocities'], bins)
  heads = video_metrics.head_accuracies(ref['clip_logits'], ref_labels, bins)
  results = dict(
      frame_fid=video_metrics.frechet_distance(ref['frame_features'], ev['frame_features']),
      clip_fd=video_metrics.frechet_distance(ref['clip_features'], ev['clip_features']),
      **{name: ev[name] for name in SET_NUMBERS},
      **{f'real_{name}': ref[name] for name in SET_NUMBERS},
      frame_classifier_accuracy=float(np.mean(ref['predictions'] == ref_pairs[:, None])),
      clip_classifier_pair_accuracy=heads['pair'],
      clip_classifier_direction_accuracy=(heads['direction_a'] + heads['direction_b']) / 2)

  if real_split is None and config.model.name == 'mocogan':
    results.update(_factor_information(config, networks, state, frame_clf, side,
                                       jax.random.fold_in(key, FACTOR_KEY), ema))

  def classifier_record(clf):
    return {k: v for k, v in clf.items() if k != 'variables'}

  results['protocol'] = dict(
      kind='video',
      dataset=config.dataset.name,
      run_kind=run_kind,
      run_kind_note=('frames_baseline: an image GAN on single frames, T consecutive '
                     'independent samples stacked into a clip; clip_model: a video generator; '
                     'real: real clips (the real-vs-real floor)'),
      samples=what,
      num_clips=int(clips.shape[0]),
      num_frames=t_count,
      frame_shape=list(ref_clips.shape[2:]),
      real_clips=f'{REAL_DATASET} (gan_jax/data/moving_mnist.py), regenerated from the config',
      reference=f'clips 0..{n_ref - 1} of {REAL_DATASET}/{ref_split} (held-out digits)',
      reference_split=ref_split,
      num_reference=n_ref,
      real_split=real_split,
      classifier_split=train_split,
      held_out_check=disjoint,
      digit_ranges={k: list(v) for k, v in digit_ranges(
          cfg, *sorted({train_split, ref_split} | ({real_split} if real_split else set())))
                    .items()},
      frame_classifier=dict(classifier_record(frame_clf), feature_dim=video_metrics.FEATURE_DIM,
                            held_out_accuracy=results['frame_classifier_accuracy']),
      clip_classifier=dict(classifier_record(clip_clf), feature_dim=video_metrics.FEATURE_DIM,
                           held_out_accuracy=heads),
      definitions=DEFINITIONS,
      frechet='d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), float32 '
              '(metrics.frechet), unbiased covariances',
      generate_batch=(None if real_split is not None else
                      f'{GENERATE_CLIPS} clips per generator call, latents of call i from '
                      'fold_in(key, i)'),
      generator=None if real_split is not None else ('ema' if ema else 'raw'),
      checkpoint_step=None if step is None else int(step),
      seed_key='split(key(eval.seed)) -> (latents, KID subsets): the first part, latents',
      wall_time_s=dict(total=round(time.time() - t_start, 2), generate=round(t_gen, 2),
                       features=round(t_feat, 2)),
  )
  log(f'video metrics ({run_kind}, {clips.shape[0]} clips): '
      + ' '.join(f'{k}={v:.4g}' for k, v in results.items() if isinstance(v, float)))
  return results
