"""Moving MNIST (Srivastava et al. 2015), generated on the fly from the embedded digits.

Datasets (`load(cfg, seed)`, options in `dataset.moving_mnist`):
- 'moving_mnist': clips {'image': (T, S, S, 1) float32 in [-1, 1], 'label': int32};
- 'moving_mnist_frames': the single frames of the same clips, {'image': (S, S, 1)}, frame t
  of clip i at index i * T + t (an image GAN on them is the independent-frames baseline);
- 'tfds_moving_mnist': TFDS `moving_mnist` (the paper's 10,000 test clips of 20 frames,
  feature 'image_sequence'), read where it is prepared locally (its Video feature needs
  TensorFlow); the first T frames of each, unlabelled (label 0).

Definition (the paper's generator): a clip of T = num_frames frames on a canvas_size (64)
square canvas holds num_digits (2) 28x28 digits of the embedded MNIST digits
(gan_jax/data/embedded_mnist.py, in the order of its TFDS split 'train'). Digit k starts at a
top-left position p_0 drawn uniformly from [0, L]^2, L = canvas_size - 28 (fully inside),
and moves in a direction theta ~ U[0, 2 pi) at constant speed v = step_length * L pixels per
frame (the original: step_length 0.1, 3.6 px on 64 px), velocity (v sin theta, v cos theta)
in (y, x). Bounces are exact reflections off the walls: when a coordinate would leave
[0, L], it is mirrored back inside (q -> -q below 0, q -> 2L - q above L) and that
velocity component changes sign (`bounce`). Positions are real-valued; a digit is drawn at
the nearest integer position (`render`), and digits combine by the pixel-wise maximum (in
[-1, 1], background -1, the same as the max of [0, 1] intensities).

Clip i of a split is a pure function of (dataset.moving_mnist.seed, the split's digit range,
i) (`trajectory`): nothing is stored, any clip can be regenerated, and every run and every
evaluation sees the same clips whatever config.seed is (the run's seed only shuffles their
order, as for every dataset). Split 'train' has train_clips clips of the embedded digits
train_digits ([0, 4000) by default), 'test' test_clips clips of test_digits ([4000, 5000)):
held-out clips never show a training digit.

The example label is the unordered pair of digit classes, 10 * min(a, b) + max(a, b)
(num_classes 100, of which the 55 codes with min <= max occur). The ordered classes, the
digit indices and the motion of each clip are `MovingMnistClips.trajectory(i)`.

`dataset.moving_mnist.swap_clips` adds to each clip example its identity-swapped twin
(key SWAPPED_KEY, `identity_swap`): from a random frame s in [1, T - 1] on, one of its
digits is replaced by a digit of another class moving along the same path. Real motion,
real frames, but a digit that changes identity mid-clip: the negatives MoCoGAN's video
discriminator can be shown (objective.mocogan.swap_weight, gan_jax/objectives/mocogan.py).
`dataset.moving_mnist.slow_clips` adds its motion-slowed twin (key SLOWED_KEY, `slow_down`):
from a random frame s on, each digit goes on along its own path at a fraction f_k of its
speed (f_k uniform in slow_factors, drawn per digit; 0 stops it). Real frames, real
identities, but motion that stalls: the negatives of objective.mocogan.slow_weight.
`dataset.moving_mnist.shuffle_clips` adds its frame-shuffled twin (key SHUFFLED_KEY,
`frame_shuffle`): from a random frame s on, the clip's own frames in another order. Real
frames, real identities, real positions, but motion that jumps: the negatives of
objective.mocogan.shuffle_weight.

`dataset.image_size` (0 = canvas_size) downsamples frames by area averaging (the mean of
each (canvas_size / image_size)^2 block; canvas_size must be a multiple of image_size).
"""

import dataclasses
import importlib
from typing import Optional, Sequence

import ml_collections
import numpy as np

from gan_jax.data import sources

DIGIT_SIZE = 28
NUM_DIGIT_CLASSES = 10
NUM_CLASSES = NUM_DIGIT_CLASSES ** 2  # Label 10 * min + max of the two classes.
NUM_EMBEDDED_DIGITS = 5_000
SPLITS = ('train', 'test')
TFDS_NAME = 'moving_mnist'
TFDS_FRAMES = 20
TFDS_FEATURE = 'image_sequence'
BACKGROUND = -1.0
# With dataset.moving_mnist.swap_clips, each clip example also holds its identity-swapped
# twin under this key (`identity_swap`): the negatives of objective.mocogan.swap_weight.
SWAPPED_KEY = 'swapped_image'
# With dataset.moving_mnist.slow_clips, its motion-slowed twin (`slow_down`): the negatives
# of objective.mocogan.slow_weight.
SLOWED_KEY = 'slowed_image'
# With dataset.moving_mnist.shuffle_clips, its frame-shuffled twin (`frame_shuffle`): the
# negatives of objective.mocogan.shuffle_weight.
SHUFFLED_KEY = 'shuffled_image'


@dataclasses.dataclass(frozen=True)
class TwinKind:
  """One kind of training twin: the dataset.moving_mnist flag that adds it, its example
  key, what tells it from the clip, and the stream of its draws (separate from the
  trajectory's; objective.mocogan folds it into the step's key for the twin's D pass)."""

  flag: str
  key: str
  what: str
  stream: int


# name -> kind; objective.mocogan.<name>_weight is its share of D_V's fake term.
TWINS = {'swap': TwinKind('swap_clips', SWAPPED_KEY, 'identity-swapped', 0x5A4B),
         'slow': TwinKind('slow_clips', SLOWED_KEY, 'motion-slowed', 0x510E),
         'shuffle': TwinKind('shuffle_clips', SHUFFLED_KEY, 'frame-shuffled', 0x5F1E)}
# The fields that only add training twins to the examples: the clips (and the video
# metrics' classifiers and cache keys) do not depend on them.
TWIN_FLAGS = tuple(kind.flag for kind in TWINS.values())
TWIN_FIELDS = TWIN_FLAGS + ('slow_factors',)


# ---- the definition ------------------------------------------------------------------------

def bounce(start, velocity, num_frames: int, limit: float) -> tuple[np.ndarray, np.ndarray]:
  """Positions and velocities of points moving in the box [0, limit] with elastic bounces.

  start, velocity: (..., D) float arrays; |velocity| <= limit per component (at most one
  bounce per frame and axis). Returns (positions, velocities), each (num_frames, ..., D)
  float64: positions[0] = start, velocities[t] the velocity leaving frame t, and
  positions[t + 1] = reflect(positions[t] + velocities[t]) where reflect mirrors a
  coordinate q < 0 to -q and q > limit to 2 limit - q, flipping that velocity component.
  """
  p = np.array(start, np.float64)
  v = np.array(velocity, np.float64)
  if p.shape != v.shape:
    raise ValueError(f'start {p.shape} and velocity {v.shape} must have the same shape.')
  if np.any(p < 0) or np.any(p > limit):
    raise ValueError(f'start positions must lie in [0, {limit}]; got {p.min()}..{p.max()}.')
  if np.any(np.abs(v) > limit):
    raise ValueError(f'|velocity| must be <= the box size {limit} (one bounce per frame); got '
                     f'{np.abs(v).max()}.')
  positions = np.empty((num_frames, *p.shape))
  velocities = np.empty((num_frames, *p.shape))
  for t in range(num_frames):
    positions[t], velocities[t] = p, v
    p = p + v
    low, high = p < 0, p > limit
    p = np.where(low, -p, np.where(high, 2 * limit - p, p))
    v = np.where(low | high, -v, v)
  return positions, velocities


def pair_label(digit_labels) -> np.ndarray:
  """The example label of digit classes (..., 2): 10 * min + max (the unordered pair)."""
  digit_labels = np.asarray(digit_labels)
  return (NUM_DIGIT_CLASSES * digit_labels.min(-1) + digit_labels.max(-1)).astype(np.int32)


def trajectory(seed: int, index: int, digit_labels: np.ndarray, *,
               digit_range: tuple[int, int] = (0, 4000), num_frames: int = 16,
               num_digits: int = 2, canvas_size: int = 64, step_length: float = 0.1) -> dict:
  """Clip `index` of the split whose digits are the embedded digits [digit_range): a pure
  function of (seed, digit_range, index) and the sizes.

  `digit_labels` (5000,): the classes of the embedded digits (to report the clip's). Returns
  digit_indices (num_digits,) int64 into the embedded digits, digit_labels (num_digits,)
  int32 (ordered, digit k's class), positions (T, num_digits, 2) float64 top-left (y, x) in
  canvas pixels, velocities (T, num_digits, 2) float64 px/frame (leaving frame t; `bounce`).
  """
  first, stop = (int(a) for a in digit_range)
  if not 0 <= first < stop <= len(digit_labels):
    raise ValueError(f'digit range [{first}, {stop}) is not a non-empty range of the '
                     f'{len(digit_labels)} embedded digits.')
  limit = _free_side(canvas_size)
  rng = np.random.default_rng((int(seed), first, stop, int(index)))
  digit_indices = rng.integers(first, stop, size=num_digits)
  start = rng.uniform(0.0, limit, size=(num_digits, 2))
  theta = rng.uniform(0.0, 2 * np.pi, size=num_digits)
  speed = float(step_length) * limit
  velocity = speed * np.stack([np.sin(theta), np.cos(theta)], axis=-1)
  positions, velocities = bounce(start, velocity, num_frames, limit)
  return {'digit_indices': digit_indices,
          'digit_labels': np.asarray(digit_labels)[digit_indices].astype(np.int32),
          'positions': positions, 'velocities': velocities}


def render(digits: np.ndarray, traj: dict, canvas_size: int = 64) -> np.ndarray:
  """The clip of a trajectory: (T, canvas_size, canvas_size, 1) float32 in [-1, 1].

  digits: the embedded digits (N, 28, 28, 1) in [-1, 1] (traj['digit_indices'] index them).
  Frame t is the pixel-wise max of a background -1 canvas and each digit placed with its
  top-left corner at round(traj['positions'][t, k]).
  """
  corners = np.rint(traj['positions']).astype(np.int64)  # (T, K, 2)
  limit = canvas_size - DIGIT_SIZE
  if corners.min() < 0 or corners.max() > limit:
    raise ValueError(f'Digit positions {corners.min()}..{corners.max()} leave the '
                     f'{canvas_size}-px canvas; was the trajectory made for canvas_size='
                     f'{canvas_size}?')
  frames = np.full((corners.shape[0], canvas_size, canvas_size, 1), BACKGROUND, np.float32)
  for k, index in enumerate(traj['digit_indices']):
    digit = digits[index]
    for t, (y, x) in enumerate(corners[:, k]):
      window = frames[t, y:y + DIGIT_SIZE, x:x + DIGIT_SIZE]
      np.maximum(window, digit, out=window)
  return frames


def identity_swap(seed: int, index: int, traj: dict, digit_labels: np.ndarray, *,
                  digit_range: tuple[int, int]) -> dict:
  """The identity swap of clip `index`: one of its digits becomes another digit of another
  class from a frame on, along the same path. A pure function of (seed, digit_range, index)
  and the trajectory; its draws are their own stream, so the clip itself is unchanged.

  Draws digit k uniformly, the swap frame s uniformly in [1, T - 1] and a new digit index
  uniformly in digit_range among the digits whose class differs from digit k's. Returns
  {'frame': s, 'digit': k, 'digit_index': the new digit, 'trajectory': traj with digit k's
  index replaced} (render frames [0, s) from traj, [s, T) from 'trajectory': `twin`).
  """
  num_frames, num_digits = traj['positions'].shape[:2]
  if num_frames < 2:
    raise ValueError('dataset.moving_mnist.swap_clips needs clips of at least 2 frames (the '
                     f'swap happens at a frame in [1, T - 1]); got num_frames={num_frames}.')
  first, stop = (int(a) for a in digit_range)
  rng = np.random.default_rng((int(seed), first, stop, int(index), TWINS['swap'].stream))
  k = int(rng.integers(num_digits))
  frame = int(rng.integers(1, num_frames))
  old_class = int(digit_labels[traj['digit_indices'][k]])
  others = np.flatnonzero(np.asarray(digit_labels[first:stop]) != old_class)
  if not len(others):
    raise ValueError(f'The digits [{first}, {stop}) are all of class {old_class}: an identity '
                     'swap needs a digit of another class (dataset.moving_mnist.swap_clips).')
  new_index = first + int(others[rng.integers(len(others))])
  indices = np.array(traj['digit_indices'])
  indices[k] = new_index
  return {'frame': frame, 'digit': k, 'digit_index': new_index,
          'trajectory': dict(traj, digit_indices=indices)}


def slow_down(seed: int, index: int, traj: dict, *, digit_range: tuple[int, int],
              canvas_size: int = 64, factors: tuple[float, float] = (0.0, 0.5)) -> dict:
  """The motion-slowed twin of clip `index`: from a frame on, each digit goes on along its
  own path (same direction, same bounces) at a fraction of its speed. A pure function of
  (seed, digit_range, index) and the trajectory, on a stream of its own.

  Draws the frame s uniformly in [1, T - 1] and each digit's factor f_k uniformly in
  [factors[0], factors[1]] (0 stops the digit where it was at frame s - 1). Returns
  {'frame': s, 'factors': (num_digits,) f_k, 'trajectory': traj with positions [s, T) and
  velocities [s - 1, T) those of `bounce` from positions[s - 1] at f_k velocities[s - 1]}
  (render it as `twin` does).
  """
  num_frames, num_digits = traj['positions'].shape[:2]
  if num_frames < 2:
    raise ValueError('dataset.moving_mnist.slow_clips needs clips of at least 2 frames (the '
                     f'slow-down starts at a frame in [1, T - 1]); got num_frames={num_frames}.')
  low, high = _slow_factors(factors)
  first, stop = (int(a) for a in digit_range)
  rng = np.random.default_rng((int(seed), first, stop, int(index), TWINS['slow'].stream))
  frame = int(rng.integers(1, num_frames))
  factor = rng.uniform(low, high, size=num_digits)
  positions, velocities = bounce(traj['positions'][frame - 1],
                                 factor[:, None] * traj['velocities'][frame - 1],
                                 num_frames - frame + 1, _free_side(canvas_size))
  return {'frame': frame, 'factors': factor, 'trajectory': dict(
      traj, positions=np.concatenate([traj['positions'][:frame], positions[1:]]),
      velocities=np.concatenate([traj['velocities'][:frame - 1], velocities]))}


def frame_shuffle(seed: int, index: int, num_frames: int, *,
                  digit_range: tuple[int, int]) -> dict:
  """The frame order of clip `index`'s shuffled twin: frames [0, s) in place, frames [s, T)
  in another order. A pure function of (seed, digit_range, index), on a stream of its own.

  Draws s uniformly in [1, T - 2] and a uniform permutation of [s, T) other than the
  identity. Returns {'frame': s, 'order': (T,) int64 with order[:s] = 0..s-1}: the twin's
  frame t is the clip's frame order[t].
  """
  num_frames = int(num_frames)
  if num_frames < 3:
    raise ValueError('dataset.moving_mnist.shuffle_clips needs clips of at least 3 frames (a '
                     'frame s in [1, T - 2] on, the rest reordered); got '
                     f'num_frames={num_frames}.')
  first, stop = (int(a) for a in digit_range)
  rng = np.random.default_rng((int(seed), first, stop, int(index), TWINS['shuffle'].stream))
  frame = int(rng.integers(1, num_frames - 1))
  tail = np.arange(frame, num_frames)
  order = rng.permutation(tail)
  while np.array_equal(order, tail):  # At least two frames, so another order exists.
    order = rng.permutation(tail)
  return {'frame': frame, 'order': np.concatenate([np.arange(frame), order])}


def twin(digits: np.ndarray, frames: np.ndarray, change: dict,
         canvas_size: int = 64) -> np.ndarray:
  """A clip's twin: frames [0, s) of the clip's rendered `frames` (T, S, S, 1), frames
  [s, T) rendered (as `render` does) from the change's trajectory (`identity_swap`: the same
  positions, digit k replaced; `slow_down`: the same digits, slowed); only those frames are
  rendered."""
  s, traj = change['frame'], change['trajectory']
  tail = render(digits, dict(traj, positions=traj['positions'][s:]), canvas_size)
  return np.concatenate([frames[:s], tail], axis=0)


def downsample(frames: np.ndarray, image_size: int) -> np.ndarray:
  """Area averaging of (..., S, S, C) frames to (..., image_size, image_size, C): the mean of
  every (S / image_size)^2 block; 0 or S keep the frames."""
  side = frames.shape[-2]
  if not image_size or image_size == side:
    return frames
  if image_size > side or side % image_size:
    raise ValueError(f'dataset.image_size={image_size} must divide the {side}-px frames '
                     f'(area averaging of whole blocks), e.g. {side // 2} or {side // 4}; 0 '
                     'keeps them.')
  f = side // image_size
  blocks = frames.reshape(*frames.shape[:-3], image_size, f, image_size, f, frames.shape[-1])
  return blocks.mean(axis=(-4, -2), dtype=np.float32).astype(np.float32)


def _slow_factors(factors) -> tuple[float, float]:
  factors = tuple(float(f) for f in factors)
  if len(factors) != 2 or not 0 <= factors[0] <= factors[1] < 1:
    raise ValueError(f'dataset.moving_mnist.slow_factors={factors} must be (low, high) with '
                     '0 <= low <= high < 1: the fractions of its speed a digit keeps (0 stops '
                     'it; 1 would be the clip itself), e.g. (0.0, 0.5).')
  return factors


def _free_side(canvas_size: int) -> int:
  limit = int(canvas_size) - DIGIT_SIZE
  if limit <= 0:
    raise ValueError(f'dataset.moving_mnist.canvas_size={canvas_size} must exceed the '
                     f'{DIGIT_SIZE}-px digits (the original: 64).')
  return limit


# ---- the dataset ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ClipSpec:
  """What defines the clips of one split (from dataset.moving_mnist and dataset.split)."""

  seed: int
  digit_range: tuple[int, int]
  num_clips: int
  num_frames: int = 16
  num_digits: int = 2
  canvas_size: int = 64
  step_length: float = 0.1
  image_size: int = 0
  swap_clips: bool = False
  slow_clips: bool = False
  slow_factors: tuple[float, float] = (0.0, 0.5)
  shuffle_clips: bool = False


def clip_spec(cfg: ml_collections.ConfigDict, split: Optional[str] = None) -> ClipSpec:
  """The ClipSpec of `split` ('train' | 'test'; None = cfg.split) of a dataset config,
  checking every field."""
  mm = cfg.moving_mnist
  split = cfg.split if split is None else split
  if split not in SPLITS:
    raise ValueError(f"Moving MNIST has splits {SPLITS} (digits dataset.moving_mnist."
                     f"train_digits / test_digits); got split {split!r}. Use "
                     "--config.dataset.split=train (or test for held-out clips).")
  ranges = {s: tuple(int(a) for a in mm[f'{s}_digits']) for s in SPLITS}
  for s, bounds in ranges.items():
    if len(bounds) != 2 or not 0 <= bounds[0] < bounds[1] <= NUM_EMBEDDED_DIGITS:
      raise ValueError(f'dataset.moving_mnist.{s}_digits={bounds} must be a range (a, b) '
                       f'with 0 <= a < b <= {NUM_EMBEDDED_DIGITS} of the embedded digits.')
  (a0, b0), (a1, b1) = ranges['train'], ranges['test']
  if a0 < b1 and a1 < b0:
    raise ValueError(f'dataset.moving_mnist.train_digits {ranges["train"]} and test_digits '
                     f'{ranges["test"]} overlap; held-out clips must not show training '
                     'digits. Use disjoint ranges, e.g. (0, 4000) and (4000, 5000).')
  num_clips = int(mm[f'{split}_clips'])
  num_frames, num_digits = int(mm.num_frames), int(mm.num_digits)
  step_length = float(mm.step_length)
  for name, value in (('train_clips' if split == 'train' else 'test_clips', num_clips),
                      ('num_frames', num_frames), ('num_digits', num_digits)):
    if value < 1:
      raise ValueError(f'dataset.moving_mnist.{name}={value} must be >= 1.')
  if not 0 <= step_length <= 1:
    raise ValueError(f'dataset.moving_mnist.step_length={step_length} must be in [0, 1] (a '
                     'fraction of canvas_size - 28 per frame; the original: 0.1).')
  _free_side(mm.canvas_size)
  if cfg.channels not in (0, 1):
    raise ValueError(f'dataset.channels={cfg.channels}: Moving MNIST frames are grey; use 0 '
                     'or 1.')
  return ClipSpec(seed=int(mm.seed), digit_range=ranges[split], num_clips=num_clips,
                  num_frames=num_frames, num_digits=num_digits,
                  canvas_size=int(mm.canvas_size), step_length=step_length,
                  image_size=int(cfg.image_size),
                  swap_clips=bool(mm.get('swap_clips', False)),
                  slow_clips=bool(mm.get('slow_clips', False)),
                  slow_factors=_slow_factors(mm.get('slow_factors', (0.0, 0.5))),
                  shuffle_clips=bool(mm.get('shuffle_clips', False)))


class MovingMnistClips(Sequence):
  """Clip i = {'image': (T, S, S, 1) float32, 'label': pair_label} of a ClipSpec, rendered
  on access from the embedded `digits` (5000, 28, 28, 1) and their `labels` (5000,)."""

  def __init__(self, digits: np.ndarray, labels: np.ndarray, spec: ClipSpec):
    if digits.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE, 1) or labels.shape != digits.shape[:1]:
      raise ValueError(f'Need digits (N, 28, 28, 1) and one label each; got {digits.shape} '
                       f'and {labels.shape}.')
    self.digits, self.labels, self.spec = digits, labels, spec
    side = spec.image_size or spec.canvas_size
    downsample(np.zeros((1, spec.canvas_size, spec.canvas_size, 1), np.float32), side)  # Checks.
    self.frame_shape = (side, side, 1)

  def __len__(self):
    return self.spec.num_clips

  def _index(self, i) -> int:
    i = int(i)
    if not -len(self) <= i < len(self):
      raise IndexError(f'clip {i} of {len(self)}')
    return i % len(self)

  def trajectory(self, i: int) -> dict:
    """Clip i's digits and motion (see `trajectory`): digit_indices, digit_labels (ordered),
    positions, velocities in canvas pixels."""
    s = self.spec
    return trajectory(s.seed, self._index(i), self.labels, digit_range=s.digit_range,
                      num_frames=s.num_frames, num_digits=s.num_digits,
                      canvas_size=s.canvas_size, step_length=s.step_length)

  def clip(self, traj: dict) -> np.ndarray:
    """The frames of a trajectory at the dataset's image size."""
    return downsample(render(self.digits, traj, self.spec.canvas_size), self.spec.image_size)

  def swap(self, i: int, traj: Optional[dict] = None) -> dict:
    """Clip i's identity swap (see `identity_swap`); traj: clip i's trajectory, if at hand."""
    s = self.spec
    traj = self.trajectory(i) if traj is None else traj
    return identity_swap(s.seed, self._index(i), traj, self.labels, digit_range=s.digit_range)

  def slow(self, i: int, traj: Optional[dict] = None) -> dict:
    """Clip i's slow-down (see `slow_down`); traj: clip i's trajectory, if at hand."""
    s = self.spec
    traj = self.trajectory(i) if traj is None else traj
    return slow_down(s.seed, self._index(i), traj, digit_range=s.digit_range,
                     canvas_size=s.canvas_size, factors=s.slow_factors)

  def shuffle(self, i: int) -> dict:
    """Clip i's frame order for its shuffled twin (see `frame_shuffle`)."""
    s = self.spec
    return frame_shuffle(s.seed, self._index(i), s.num_frames, digit_range=s.digit_range)

  def __getitem__(self, i):
    traj, spec = self.trajectory(i), self.spec
    frames = render(self.digits, traj, spec.canvas_size)
    example = {'image': downsample(frames, spec.image_size),
               'label': pair_label(traj['digit_labels'])}
    if spec.swap_clips:  # Its identity-swapped twin (objective.mocogan.swap_weight).
      swapped = twin(self.digits, frames, self.swap(i, traj), spec.canvas_size)
      example[SWAPPED_KEY] = downsample(swapped, spec.image_size)
    if spec.slow_clips:  # Its motion-slowed twin (objective.mocogan.slow_weight).
      slowed = twin(self.digits, frames, self.slow(i, traj), spec.canvas_size)
      example[SLOWED_KEY] = downsample(slowed, spec.image_size)
    if spec.shuffle_clips:  # Its frame-shuffled twin (objective.mocogan.shuffle_weight).
      example[SHUFFLED_KEY] = example['image'][self.shuffle(i)['order']]
    return example

  def arrays(self, start: int = 0, stop: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """(clips (M, T, S, S, 1) float32, labels (M,) int32) of clips start..stop-1."""
    examples = [self[i] for i in range(start, len(self) if stop is None else stop)]
    return (np.stack([e['image'] for e in examples]),
            np.asarray([e['label'] for e in examples], np.int32))


class MovingMnistFrames(Sequence):
  """Frame t of clip i at index i * T + t: {'image': (S, S, 1), 'label': the clip's}."""

  def __init__(self, clips: MovingMnistClips):
    self.clips = clips
    self.num_frames = clips.spec.num_frames

  def __len__(self):
    return len(self.clips) * self.num_frames

  def __getitem__(self, i):
    i = int(i)
    if not -len(self) <= i < len(self):
      raise IndexError(f'frame {i} of {len(self)}')
    clip, t = divmod(i % len(self), self.num_frames)
    traj = self.clips.trajectory(clip)
    one = dict(traj, positions=traj['positions'][t:t + 1])
    return {'image': self.clips.clip(one)[0], 'label': pair_label(traj['digit_labels'])}


def clips(cfg: ml_collections.ConfigDict, split: Optional[str] = None) -> MovingMnistClips:
  """The generated clips of `split` ('train' | 'test'; None = cfg.split) of a dataset config
  (e.g. held-out reference clips and their trajectories for the video metrics)."""
  from gan_jax.data import paired  # pylint: disable=g-import-not-at-top
  spec = clip_spec(cfg, split)
  digits, labels = paired.embedded_digits(cfg)
  if len(digits) < spec.digit_range[1]:
    raise ValueError(f'The embedded dataset has {len(digits)} digits; digit range '
                     f'{spec.digit_range} needs {spec.digit_range[1]}.')
  return MovingMnistClips(digits, labels, spec)


def _describe(spec: ClipSpec, split: str, what: str) -> str:
  side = spec.image_size or spec.canvas_size
  size = f'{side} px' + (f' (area-averaged from {spec.canvas_size})' if side != spec.canvas_size
                         else '')
  return (f'moving_mnist{what}/{split}: {spec.num_clips} clips of {spec.num_frames} frames, '
          f'{size}, {spec.num_digits} embedded digits of [{spec.digit_range[0]}, '
          f'{spec.digit_range[1]}) bouncing at {spec.step_length} x {spec.canvas_size - 28} '
          f'px/frame (seed {spec.seed}); label 10 min + max of the digit classes (100)'
          + ''.join(f'; each with its {kind.what} twin' for kind in TWINS.values()
                    if getattr(spec, kind.flag)))


# ---- TFDS moving_mnist ---------------------------------------------------------------------

class TfdsClips(Sequence):
  """Clips of a TFDS moving_mnist data source: the first `num_frames` frames of
  'image_sequence' (20, 64, 64, 1) uint8, as float32 in [-1, 1], area-averaged to
  image_size; label 0 (the TFDS clips carry no digit classes)."""

  def __init__(self, source, num_frames: int, image_size: int):
    if not 1 <= num_frames <= TFDS_FRAMES:
      raise ValueError(f'dataset.moving_mnist.num_frames={num_frames}: TFDS moving_mnist clips '
                       f'have {TFDS_FRAMES} frames; use 1..{TFDS_FRAMES}.')
    self.source, self.num_frames, self.image_size = source, num_frames, image_size

  def __len__(self):
    return len(self.source)

  def __getitem__(self, i):
    sequence = np.asarray(self.source[i][TFDS_FEATURE])
    if sequence.ndim == 3:
      sequence = sequence[..., None]
    frames = sequence[:self.num_frames].astype(np.float32) / 127.5 - 1.0
    return {'image': downsample(frames, self.image_size), 'label': np.int32(0)}


def _tfds_source(cfg: ml_collections.ConfigDict):
  """The random-access TFDS moving_mnist split cfg.split, or a clear error."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  prepare = (f"python -c \"import tensorflow_datasets as tfds; tfds.builder('{TFDS_NAME}', "
             "data_dir='DIR', file_format='array_record').download_and_prepare()\"")
  where = (f'Where there is network, prepare it once with: {prepare} (needs `pip install '
           'tensorflow`), or copy a prepared copy to DIR; then pass '
           f"--config.dataset.data_dir=DIR and a split of its 10,000 'test' clips, e.g. "
           "--config.dataset.split='test[:9000]'.")
  try:
    # Registers the builder (TFDS registers its video datasets only where TensorFlow is).
    importlib.import_module('tensorflow_datasets.video.moving_mnist')
    builder = tfds.builder(TFDS_NAME, data_dir=cfg.data_dir or None)
  except ImportError as e:  # The Video feature imports TensorFlow.
    raise ImportError(f'TFDS {TFDS_NAME!r} (dataset.name=tfds_moving_mnist) needs TensorFlow '
                      f'to read its Video feature ({e}): pip install tensorflow. {where} '
                      "Without them, dataset.name='moving_mnist' generates the clips "
                      'offline.') from e
  try:
    return builder.as_data_source(cfg.split)
  except Exception as e:  # TFDS raises NotImplementedError/ValueError/OSError variants.
    if not builder.is_prepared():
      raise FileNotFoundError(f'TFDS dataset {TFDS_NAME!r} is not prepared in '
                              f'{builder.data_dir} (dataset.data_dir={cfg.data_dir!r}). '
                              f'{where}') from e
    raise ValueError(f'TFDS {TFDS_NAME!r} in {builder.data_path} cannot be read with random '
                     f'access for split {cfg.split!r} ({e}). It must be prepared as '
                     f'array_record: {prepare}; its only split is test.') from e


# ---- load ----------------------------------------------------------------------------------

def load(cfg: ml_collections.ConfigDict, seed: int = 0) -> sources.Source:
  """The dataset cfg.name of split cfg.split. `seed` (the run's) is not used: clips are a
  function of dataset.moving_mnist.seed, so every run sees the same data."""
  del seed
  if cfg.name == 'tfds_moving_mnist':
    source = _tfds_source(cfg)
    examples = TfdsClips(source, int(cfg.moving_mnist.num_frames), int(cfg.image_size))
    return sources.Source(examples, tuple(examples[0]['image'].shape), None,
                          f'tfds:{TFDS_NAME}/{cfg.split} ({len(source)} clips, first '
                          f'{examples.num_frames} frames; unlabelled)')
  if cfg.name not in ('moving_mnist', 'moving_mnist_frames'):
    raise ValueError(f"gan_jax.data.moving_mnist has 'moving_mnist', 'moving_mnist_frames' and "
                     f"'tfds_moving_mnist', not dataset.name={cfg.name!r}.")
  generated = clips(cfg)
  split = cfg.split
  if cfg.name == 'moving_mnist_frames':
    return sources.Source(MovingMnistFrames(generated), generated.frame_shape, NUM_CLASSES,
                          _describe(generated.spec, split, '_frames') + '; one frame each')
  return sources.Source(generated, (generated.spec.num_frames, *generated.frame_shape),
                        NUM_CLASSES, _describe(generated.spec, split, ''))
