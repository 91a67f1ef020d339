"""Video metrics on clips (N, T, H, W, C) in [-1, 1] (gan_jax/modalities/video.py runs them).

- Per-frame FID: the Frechet distance (Heusel 2017) of frames, in the 128-d penultimate
  features of a frame classifier (`FrameCNN`) trained on real frames to predict the clip's
  unordered digit pair 10 * min + max (100 classes, 55 of which occur).
- Clip-level Frechet distance: the same formula on clips, in the features of `ClipCNN`, a
  small 3-D network trained on real clips. It is the offline analogue of FVD (Unterthiner et
  al. 2018, Frechet distance in the features of an I3D network trained on Kinetics): a
  network of this project trained on the data's own labels replaces I3D, as the digit
  classifier replaces Inception-v3 for the digit FID.
- Temporal consistency: the fraction of clips whose every frame gets the same argmax digit
  pair from the frame classifier; and the mean over clips of the fraction of frames that
  agree with the clip's most frequent pair (a softer form of the same).
- Motion smoothness: the intensity centroid c_t (pixel coordinates, weights (x + 1) / 2) of
  each frame; mean |c_{t+1} - 2 c_t + c_{t-1}| (Euclidean norm of the second difference:
  acceleration, pixels / frame^2), mean |c_{t+1} - c_t| (speed) and the mean absolute pixel
  change |x_{t+1} - x_t| between consecutive frames. Moving MNIST digits move at constant
  velocity (acceleration 0) except where they bounce off an edge or overlap.
- Time lock: the share of the clips' pixel variance that the frame index alone explains,
  mean_pixels Var_t(mean_clips x_t) / mean_pixels Var_{clips, t}(x). Moving MNIST is
  stationary in time (frame t of a random clip is distributed alike for every t), so real
  clips score the sampling floor, about 1/N for N clips; a generator whose frame t looks
  alike across clips (it keys its frames on t, e.g. a MoCoGAN whose motion code carries a
  clock) scores up to 1. No classifier.
- Content and motion information (a MoCoGAN, whose latent splits into a content and a
  motion part): on a grid of C contents x M motions (every content with every motion), the
  mutual information, in nats, between the frame classifier's argmax pair of a frame and the
  index of its content, I(pair; content), and of its motion, I(pair; motion), beside the
  pairs' entropy H(pair) (`factor_information`). In real Moving MNIST the digits are the
  content: a generator that draws them from z_content has I(pair; content) near H(pair) and
  I(pair; motion) near 0; one that ignores its content code has I(pair; content) near 0.

Both classifiers see frames area-averaged to a smaller side (`downsample`; 32 px for the
64-px canvas by default), and both pool globally over space (and time), so a digit is
recognized wherever it is. The frame classifier's pair is factorized like the clip
classifier's below (the smaller and the larger digit class).

The clip classifier's label says what a clip shows: its digit pair and the quantized
direction of each digit's initial velocity (`direction_bins` sectors of the angle; digit a
is the one of smaller class, ties broken by the initial position). It is trained as a
*factorized* classifier: four heads give logits l_min (10), l_max (10) for the smaller and
the larger digit class, l_a (B), l_b (B), and the joint logit of class (min, max, i, j) is
l_min + l_max + l_a + l_b. The joint softmax of a sum factorizes into the product of the
heads' softmaxes, so the joint cross-entropy equals the sum of the four heads'
cross-entropies: a multi-head loss trained by metrics.classifier.train_classifier unchanged,
with 20 + 2B outputs instead of 100 B^2 free logits (1,600 classes, most of them too rare to
learn from a few thousand clips), and a digit head that learns digits, not their 55 pairs.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import frechet

NUM_DIGIT_CLASSES = 10
NUM_PAIRS = NUM_DIGIT_CLASSES ** 2  # Unordered digit pair 10 * min + max (0..99).
FEATURE_DIM = 128
# ClipCNN's widths and the pooling after each of its convolutions (time, height, width).
CLIP_WIDTHS = (8, 16, 32)
FRAME_WIDTHS = (32, 64, 64)
CLIP_POOLS = ((2, 2, 2), (2, 2, 2), (1, 2, 2))
MIN_FRAMES = 4  # ClipCNN pools time twice by 2,
MIN_SIDE = 8    # and height and width three times.


# ---- labels -------------------------------------------------------------------------------

def pair_label(classes) -> np.ndarray:
  """The unordered digit pair 10 * min + max of digit classes (..., 2) -> (...,) int32."""
  classes = np.asarray(classes)
  if classes.shape[-1:] != (2,) or not np.issubdtype(classes.dtype, np.integer):
    raise ValueError(f'Need the two digit classes as integers (..., 2); got {classes.dtype} '
                     f'{classes.shape}.')
  if classes.size and (classes.min() < 0 or classes.max() > 9):
    raise ValueError(f'Digit classes must be 0..9; got {classes.min()}..{classes.max()}.')
  return (10 * classes.min(-1) + classes.max(-1)).astype(np.int32)


def direction_bin(velocity, bins: int) -> np.ndarray:
  """Sector of the direction of velocities (..., 2) = (dy, dx) in image coordinates (y down):
  floor(angle / (2 pi / bins)) with angle = atan2(dy, dx) in [0, 2 pi); 4 bins = the
  quadrants right-down, left-down, left-up, right-up."""
  velocity = np.asarray(velocity, np.float64)
  if bins < 1 or velocity.shape[-1:] != (2,):
    raise ValueError(f'Need velocities (..., 2) and bins >= 1; got {velocity.shape}, {bins}.')
  angle = np.mod(np.arctan2(velocity[..., 0], velocity[..., 1]), 2 * np.pi)
  return np.minimum((angle / (2 * np.pi / bins)).astype(np.int64), bins - 1).astype(np.int32)


def clip_labels(classes, positions, velocities, bins: int) -> np.ndarray:
  """The clip classifier's class (N,) = (pair * bins + direction_a) * bins + direction_b.

  classes (N, 2) ints, positions (N, 2, 2) and velocities (N, 2, 2): both digits' position
  and velocity (dy, dx) at frame 0. Digit a is the one of smaller class (equal classes: the
  smaller initial position (y, x), so the label is a function of what the clip shows)."""
  classes = np.asarray(classes)
  positions, velocities = np.asarray(positions, np.float64), np.asarray(velocities, np.float64)
  n = classes.shape[0]
  if classes.shape != (n, 2) or positions.shape != (n, 2, 2) or velocities.shape != (n, 2, 2):
    raise ValueError(f'Need classes (N, 2), positions (N, 2, 2), velocities (N, 2, 2); got '
                     f'{classes.shape}, {positions.shape}, {velocities.shape}.')
  key0 = (classes[:, 0], positions[:, 0, 0], positions[:, 0, 1])
  key1 = (classes[:, 1], positions[:, 1, 0], positions[:, 1, 1])
  swap = (key1[0] < key0[0]) | ((key1[0] == key0[0]) & (
      (key1[1] < key0[1]) | ((key1[1] == key0[1]) & (key1[2] < key0[2]))))
  first = np.where(swap, 1, 0)
  rows = np.arange(n)
  directions = direction_bin(velocities, bins)  # (N, 2)
  dir_a, dir_b = directions[rows, first], directions[rows, 1 - first]
  return ((pair_label(classes) * bins + dir_a) * bins + dir_b).astype(np.int32)


def decode_clip_labels(labels, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(pair, direction_a, direction_b) of clip classes (clip_labels' inverse)."""
  labels = np.asarray(labels, np.int64)
  return ((labels // (bins * bins)).astype(np.int32), ((labels // bins) % bins).astype(np.int32),
          (labels % bins).astype(np.int32))


# ---- the clip classifier ------------------------------------------------------------------

class PatchConv3x3x3(nn.Module):
  """3x3x3 'SAME' convolution of (N, T, H, W, C) written as patch extraction + one matmul.

  Written by hand for the reason of metrics.classifier.PatchConv3x3: XLA on CPU compiles the
  weight gradient of nn.Conv to a very slow kernel; shifted slices + a Dense compute the same
  function (nn.Conv's kernel (3, 3, 3, C, F) is this Dense's kernel reshaped (27 C, F)).
  """
  features: int

  @nn.compact
  def __call__(self, x):
    t, h, w = x.shape[1:4]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (1, 1), (0, 0)))
    patches = jnp.concatenate([xp[:, a:a + t, b:b + h, c:c + w, :] for a in range(3)
                               for b in range(3) for c in range(3)], axis=-1)
    return nn.Dense(self.features, name='dense')(patches)


def factorized_logits(head_logits) -> jax.Array:
  """Joint logits (N, K1 * K2 * ...) = sum of one logit per head, class index in row-major
  order of (k1, k2, ...): log-softmax of the joint = sum of the heads' log-softmaxes."""
  joint = head_logits[0]
  for logits in head_logits[1:]:
    joint = (joint[:, :, None] + logits[:, None, :]).reshape(joint.shape[0], -1)
  return joint


def _pooled_features(x, feature_dim: int):
  """Global max and mean over every axis but the batch and channels -> Dense(feature_dim),
  ReLU: features that do not depend on where (and when) a digit is."""
  axes = tuple(range(1, x.ndim - 1))
  pooled = jnp.concatenate([jnp.max(x, axis=axes), jnp.mean(x, axis=axes)], axis=-1)
  return nn.relu(nn.Dense(feature_dim, name='features')(pooled))


def _pair_heads(features):
  """Logits of the smaller and of the larger digit class (10 each)."""
  return [nn.Dense(NUM_DIGIT_CLASSES, name='smaller_digit')(features),
          nn.Dense(NUM_DIGIT_CLASSES, name='larger_digit')(features)]


class FrameCNN(nn.Module):
  """The frame classifier: 3 x [3x3 conv (FRAME_WIDTHS; metrics.classifier.PatchConv3x3),
  ReLU], average pool 2 after the first two -> global max and mean pool -> Dense(feature_dim),
  ReLU (the features) -> heads: smaller digit (10), larger digit (10), summed by
  factorized_logits into the 100 logits of the pair 10 min + max. (features, logits).

  Not metrics.classifier.SmallCNN: SmallCNN flattens its last map into a position-specific
  Dense, fine for centred digits; Moving MNIST digits are anywhere on the canvas, and
  SmallCNN's 100-way pair head reached 43% held-out accuracy after 1,500 Adam steps
  (32-px frames), too few for a frame label that is meant to be the same in every frame.
  """
  feature_dim: int = FEATURE_DIM

  @nn.compact
  def __call__(self, frames):
    if frames.ndim != 4:
      raise ValueError(f'FrameCNN needs frames (N, H, W, C); got {frames.shape}.')
    x = frames
    for i, width in enumerate(FRAME_WIDTHS):
      x = nn.relu(classifier_lib.PatchConv3x3(width, name=f'conv{i + 1}')(x))
      if i < len(FRAME_WIDTHS) - 1:
        x = nn.avg_pool(x, (2, 2), (2, 2))
    features = _pooled_features(x, self.feature_dim)
    return features, factorized_logits(_pair_heads(features))


class ClipCNN(nn.Module):
  """The clip classifier: 3 x [3x3x3 conv (CLIP_WIDTHS), ReLU, average pool (CLIP_POOLS)] ->
  global max and mean pool -> Dense(feature_dim), ReLU (the features) -> heads: the smaller
  digit class (10), the larger (10), the direction sector of digit a (bins), of digit b
  (bins), summed by factorized_logits into (features, joint logits (N, 100 bins^2)); joint
  class ((10 min + max) bins + a) bins + b = clip_labels'."""
  direction_bins: int
  feature_dim: int = FEATURE_DIM

  @nn.compact
  def __call__(self, clips):
    if clips.ndim != 5 or clips.shape[1] < MIN_FRAMES or min(clips.shape[2:4]) < MIN_SIDE:
      raise ValueError(f'ClipCNN needs clips (N, T, H, W, C) with T >= {MIN_FRAMES} and H, W >= '
                       f'{MIN_SIDE}; got {clips.shape}.')
    x = clips
    for i, (width, pool) in enumerate(zip(CLIP_WIDTHS, CLIP_POOLS)):
      x = nn.relu(PatchConv3x3x3(width, name=f'conv{i + 1}')(x))
      x = nn.avg_pool(x, pool, pool)
    features = _pooled_features(x, self.feature_dim)
    heads = _pair_heads(features) + [
        nn.Dense(self.direction_bins, name='direction_a')(features),
        nn.Dense(self.direction_bins, name='direction_b')(features)]
    return features, factorized_logits(heads)


def downsample(clips, factor: int) -> np.ndarray:
  """Average pooling of the frames of clips (N, T, H, W, C) by factor x factor (the clip
  classifier's input); factor 1 returns the clips. H and W must be multiples of factor."""
  clips = np.asarray(clips, np.float32)
  if factor < 1 or clips.ndim != 5 or clips.shape[2] % factor or clips.shape[3] % factor:
    raise ValueError(f'Cannot downsample clips {clips.shape} by {factor}: need clips '
                     '(N, T, H, W, C) with H and W multiples of eval.video.clip_downsample.')
  if factor == 1:
    return clips
  n, t, h, w, c = clips.shape
  return clips.reshape(n, t, h // factor, factor, w // factor, factor, c).mean(axis=(3, 5))


def head_accuracies(logits, labels, bins: int) -> dict:
  """Accuracy of each head of the clip classifier's joint logits (N, 100 B^2) on clip
  classes (N,): 'pair', 'direction_a', 'direction_b', and 'joint' (all three right)."""
  predicted = decode_clip_labels(np.argmax(np.asarray(logits), -1), bins)
  truth = decode_clip_labels(labels, bins)
  right = [p == t for p, t in zip(predicted, truth)]
  return dict(pair=float(np.mean(right[0])), direction_a=float(np.mean(right[1])),
              direction_b=float(np.mean(right[2])),
              joint=float(np.mean(right[0] & right[1] & right[2])))


# ---- frames and temporal consistency ------------------------------------------------------

def frames_of(clips) -> np.ndarray:
  """The frames of clips (N, T, H, W, C), clip by clip: (N * T, H, W, C)."""
  clips = np.asarray(clips)
  if clips.ndim != 5:
    raise ValueError(f'Expected clips (N, T, H, W, C); got shape {clips.shape}.')
  return clips.reshape(-1, *clips.shape[2:])


def frame_predictions(frame_logits, num_frames: int) -> np.ndarray:
  """Argmax classes (N, T) of per-frame logits (N * T, K) of N clips of num_frames frames."""
  frame_logits = np.asarray(frame_logits)
  if frame_logits.ndim != 2 or frame_logits.shape[0] % num_frames:
    raise ValueError(f'Need frame logits (N * T, K) with T = {num_frames}; got '
                     f'{frame_logits.shape}.')
  return np.argmax(frame_logits, -1).reshape(-1, num_frames)


def temporal_consistency(predictions) -> float:
  """Fraction of clips (rows of predictions (N, T)) whose T frame classes are all equal."""
  predictions = np.asarray(predictions)
  return float(np.mean(np.all(predictions == predictions[:, :1], axis=1)))


def label_agreement(predictions) -> float:
  """Mean over clips of the fraction of frames of the clip's most frequent class."""
  predictions = np.asarray(predictions)
  counts = [np.bincount(row).max() for row in predictions]
  return float(np.mean(counts) / predictions.shape[1])


# ---- motion -------------------------------------------------------------------------------

def intensity_centroids(clips) -> np.ndarray:
  """(N, T, 2) float64: each frame's intensity centroid (y, x) in pixels, weights (x + 1) / 2
  clipped to [0, 1] and averaged over channels; a frame of zero weight: the frame centre."""
  clips = np.asarray(clips, np.float64)
  if clips.ndim != 5:
    raise ValueError(f'Expected clips (N, T, H, W, C); got shape {clips.shape}.')
  weights = np.clip((clips + 1.0) / 2.0, 0.0, 1.0).mean(-1)  # (N, T, H, W)
  h, w = weights.shape[2:]
  mass = weights.sum(axis=(2, 3))
  ys = np.einsum('nthw,h->nt', weights, np.arange(h, dtype=np.float64))
  xs = np.einsum('nthw,w->nt', weights, np.arange(w, dtype=np.float64))
  empty = mass <= 0
  safe = np.where(empty, 1.0, mass)
  return np.stack([np.where(empty, (h - 1) / 2, ys / safe),
                   np.where(empty, (w - 1) / 2, xs / safe)], axis=-1)


def clip_motion(clips) -> dict:
  """Per clip (N,): 'acceleration' mean_t |c_{t+1} - 2 c_t + c_{t-1}|, 'speed' mean_t
  |c_{t+1} - c_t| (intensity centroids c, Euclidean norm, pixels per frame (squared)), and
  'frame_difference' mean |x_{t+1} - x_t| over pixels and t (data range [-1, 1]).
  Needs T >= 3."""
  clips = np.asarray(clips, np.float64)
  if clips.ndim != 5 or clips.shape[1] < 3:
    raise ValueError(f'Need clips (N, T, H, W, C) with T >= 3 frames; got {clips.shape}.')
  c = intensity_centroids(clips)
  velocity = np.diff(c, axis=1)
  accel = np.diff(velocity, axis=1)
  return dict(acceleration=np.linalg.norm(accel, axis=-1).mean(1),
              speed=np.linalg.norm(velocity, axis=-1).mean(1),
              frame_difference=np.abs(np.diff(clips, axis=1)).mean(axis=(1, 2, 3, 4)))


def motion_statistics(clips) -> dict:
  """clip_motion averaged over clips: {'acceleration', 'speed', 'frame_difference'} floats."""
  return {k: float(np.mean(v)) for k, v in clip_motion(clips).items()}


def time_lock(clips) -> float:
  """Share of the pixel variance of clips (N, T, H, W, C) explained by the frame index:
  mean over pixels of Var_t(mean over clips of x_t), over the mean over pixels of the
  variance over clips and t. 0 when every frame index has the same mean frame, 1 when frame
  t is the same in every clip; a stationary distribution gives about 1/N. 0 for constant
  clips. Needs N >= 2."""
  clips = np.asarray(clips, np.float64)
  if clips.ndim != 5 or clips.shape[0] < 2:
    raise ValueError(f'Need clips (N, T, H, W, C) with N >= 2; got shape {clips.shape}.')
  total = clips.var(axis=(0, 1)).mean()
  return float(clips.mean(axis=0).var(axis=0).mean() / total) if total > 0 else 0.0


def factor_information(predictions, num_contents: int, num_motions: int) -> dict:
  """{'pair_entropy': H(pair), 'content_information': I(pair; content),
  'motion_information': I(pair; motion)} in nats, of the argmax pairs (C * M, T) of the
  frames of a content x motion grid whose row c * M + m has content c and motion m
  (gan_jax.models.mocogan.LatentLayout.grid's order). Plug-in estimates over the C * M * T
  frames (scikit-learn's mutual_info_score); they read about (K - 1)(G - 1) / (2 C M T)
  nats high for K pairs in use and G groups, when pair and group are independent."""
  import sklearn.metrics  # pylint: disable=g-import-not-at-top
  predictions = np.asarray(predictions)
  c, m = int(num_contents), int(num_motions)
  if predictions.ndim != 2 or predictions.shape[0] != c * m or min(c, m) < 2:
    raise ValueError(f'Need argmax pairs (C * M, T) of a grid of C x M >= 2 x 2 clips; got '
                     f'shape {predictions.shape} for {c} x {m}.')
  t = predictions.shape[1]
  pairs = predictions.reshape(c, m, t)
  content = np.broadcast_to(np.arange(c)[:, None, None], pairs.shape).ravel()
  motion = np.broadcast_to(np.arange(m)[None, :, None], pairs.shape).ravel()
  pairs = pairs.ravel()
  return dict(pair_entropy=float(sklearn.metrics.mutual_info_score(pairs, pairs)),
              content_information=float(sklearn.metrics.mutual_info_score(content, pairs)),
              motion_information=float(sklearn.metrics.mutual_info_score(motion, pairs)))


def code_information(predictions, codes) -> float:
  """Mean over codes i of I(pair; code_i) in nats: `predictions` the argmax pairs (N, T) of
  the frames of N clips drawn with independent latents, `codes` their categorical content
  codes (N, m) (gan_jax.models.mocogan.LatentLayout.codes). Plug-in estimates over the N * T
  frames (scikit-learn's mutual_info_score); about (K - 1)(P - 1) / (2 N T) high for K code
  values and P pairs in use when pair and code are independent."""
  import sklearn.metrics  # pylint: disable=g-import-not-at-top
  predictions, codes = np.asarray(predictions), np.asarray(codes)
  if predictions.ndim != 2 or codes.ndim != 2 or codes.shape[0] != predictions.shape[0] or \
      not codes.shape[1]:
    raise ValueError(f'Need argmax pairs (N, T) and codes (N, m >= 1) of the same clips; got '
                     f'shapes {predictions.shape} and {codes.shape}.')
  t = predictions.shape[1]
  pairs = predictions.ravel()
  return float(np.mean([sklearn.metrics.mutual_info_score(np.repeat(code, t), pairs)
                        for code in codes.T]))


# ---- the numbers of one set of clips ------------------------------------------------------

def frame_features(variables, clips, *, downsample_factor: int, batch_size: int = 1000):
  """(features (N * T, 128), logits (N * T, 100)) of the frames of clips (frame classifier,
  FrameCNN), frames area-averaged by downsample_factor first."""
  feats, logits = classifier_lib.classifier_features(
      variables, frames_of(downsample(clips, downsample_factor)), batch_size=batch_size,
      module=FrameCNN())
  return np.asarray(feats, np.float32), np.asarray(logits, np.float32)


def clip_features(variables, clips, *, direction_bins: int, downsample_factor: int,
                  batch_size: int = 100):
  """(features (N, 128), joint logits (N, 100 B^2)) of clips, clip classifier (ClipCNN)."""
  feats, logits = classifier_lib.classifier_features(
      variables, downsample(clips, downsample_factor), batch_size=batch_size,
      module=ClipCNN(direction_bins))
  return np.asarray(feats, np.float32), np.asarray(logits, np.float32)


def frechet_distance(features_a, features_b) -> float:
  """The Frechet distance of Gaussians fitted to two feature sets (as the image FID)."""
  return float(frechet.frechet_distance_from_features(np.asarray(features_a, np.float32),
                                                      np.asarray(features_b, np.float32)))
