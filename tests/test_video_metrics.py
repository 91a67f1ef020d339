"""Video outputs (GIF grids, frame strips, sample files) and the video metrics.

References: the GIF and the strip read back with Pillow against the clips' pixels (exact:
grey GIFs are lossless); the intensity centroids, motion statistics and consistency numbers
against numpy computations written here from their definitions on synthetic clips (a
moving square: its centroid is its centre, so the acceleration is 0 but at bounces;
atol 1e-9 px); PatchConv3x3x3 against a numpy sliding-window correlation (rtol 1e-5, float32);
the factorized cross-entropy against scipy.special.log_softmax per head (atol 1e-5).
Slow (-m slow): evaluate() with tiny classifiers for a clip model and a frames run (protocol
keys, the real-vs-real floor below a random generator), and the video_frames recipe's short
run writing its GIFs.
"""

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from PIL import Image

from configs import default
from gan_jax import visualize
from gan_jax.metrics import video as video_metrics
from gan_jax.modalities import video


def _distinct_clips(n=3, t=5, h=6, w=7, c=1, seed=0):
  """Clips whose consecutive grid frames all differ (Pillow merges identical GIF frames)."""
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, size=(n, t, h, w, c))
  return (pixels / 127.5 - 1.0).astype(np.float32), pixels.astype(np.uint8)


def _read_gif(path):
  with Image.open(path) as im:
    frames, durations = [], []
    for k in range(im.n_frames):
      im.seek(k)
      frames.append(np.asarray(im.convert('L')))
      durations.append(im.info.get('duration'))
    return np.stack(frames), durations, im.info.get('loop')


# ---- GIFs and strips ----------------------------------------------------------------------

def test_gif_grid_holds_frame_t_of_every_clip(tmp_path):
  clips, pixels = _distinct_clips()
  path = visualize.save_clip_gif(clips, str(tmp_path / 'a' / 'g.gif'), ncols=2, upscale=3,
                                 frame_ms=70)
  frames, durations, loop = _read_gif(path)
  n, t, h, w, _ = clips.shape
  pad = 2
  grid_h, grid_w = 2 * (h + pad) + pad, 2 * (w + pad) + pad  # 3 clips in 2 rows of 2.
  assert frames.shape == (t, 3 * grid_h, 3 * grid_w)
  assert durations == [70] * t and loop == 0
  for k in range(t):
    small = frames[k, ::3, ::3]
    np.testing.assert_array_equal(frames[k], np.repeat(np.repeat(small, 3, 0), 3, 1))
    for i in range(n):
      r, col = divmod(i, 2)
      y, x = pad + r * (h + pad), pad + col * (w + pad)
      np.testing.assert_array_equal(small[y:y + h, x:x + w], pixels[i, k, ..., 0])
    np.testing.assert_array_equal(small[grid_h - pad - h:, grid_w - pad - w:], 255)  # Empty cell.


def test_gif_of_rgb_clips_has_every_frame(tmp_path):
  clips, _ = _distinct_clips(n=4, t=3, c=3)
  path = visualize.save_clip_gif(clips, str(tmp_path / 'rgb.gif'))
  with Image.open(path) as im:
    assert im.n_frames == 3 and im.size == (2 * 9 + 2, 2 * 8 + 2)


def test_frame_strip_rows_are_clips_columns_frames(tmp_path):
  clips, pixels = _distinct_clips(n=2, t=4)
  path = visualize.save_frame_strip(clips, str(tmp_path / 's.png'), upscale=2)
  strip = np.asarray(Image.open(path))[::2, ::2]
  assert strip.shape == (2 * 8 + 2, 4 * 9 + 2)
  for i in range(2):
    for k in range(4):
      y, x = 2 + i * 8, 2 + k * 9
      np.testing.assert_array_equal(strip[y:y + 6, x:x + 7], pixels[i, k, ..., 0])


@pytest.mark.parametrize('bad', [np.zeros((2, 3, 4, 4)), np.zeros((3, 4, 4, 1))])
def test_writers_name_the_clip_shape(tmp_path, bad):
  with pytest.raises(ValueError, match=r'\(N, T, H, W, C\)'):
    visualize.save_clip_gif(bad, str(tmp_path / 'x.gif'))
  with pytest.raises(ValueError, match=r'\(N, T, H, W, C\)'):
    visualize.save_frame_strip(bad, str(tmp_path / 'x.png'))


# ---- clips of a run and the modality's files ----------------------------------------------

def _video_config(name='moving_mnist', num_frames=4):
  config = default.get_config()
  config.dataset.name = name
  config.dataset.moving_mnist.num_frames = num_frames
  return config


def test_frames_run_makes_clips_of_consecutive_samples():
  frames = np.arange(11)[:, None, None, None] * np.ones((1, 2, 3, 1))
  clips = video.as_clips(_video_config('moving_mnist_frames', 4), frames)
  assert clips.shape == (2, 4, 2, 3, 1)  # The 3 samples left over are dropped.
  np.testing.assert_array_equal(clips[:, :, 0, 0, 0], [[0, 1, 2, 3], [4, 5, 6, 7]])
  five = np.zeros((3, 4, 2, 3, 1))
  assert video.as_clips(_video_config(), five) is five
  with pytest.raises(ValueError, match='cannot make a clip of 4 frames'):
    video.as_clips(_video_config('moving_mnist_frames', 4), frames[:3])
  with pytest.raises(ValueError, match=r'\(N, T, H, W, C\) or frames'):
    video.as_clips(_video_config(), np.zeros((2, 3)))


def test_write_samples_and_outputs(tmp_path):
  config = _video_config('moving_mnist_frames', 3)
  frames, _ = _distinct_clips(n=1, t=7, h=8, w=8)
  frames = frames[0]  # 7 frames -> 2 clips of 3.
  paths = video.write_samples(config, frames, str(tmp_path), 40)
  assert [os.path.basename(p) for p in paths] == ['step_0000040.gif', 'step_0000040_frames.png']
  assert os.readlink(tmp_path / 'latest.gif') == 'step_0000040.gif'
  video.write_samples(config, frames, str(tmp_path), 50)
  assert os.readlink(tmp_path / 'latest.gif') == 'step_0000050.gif'
  with Image.open(tmp_path / 'latest.gif') as im:  # Frames of side <= 32 are shown twice as big.
    assert im.n_frames == 3 and im.size == (2 * (2 * 10 + 2), 2 * (10 + 2))
  base = str(tmp_path / 'out' / 'sampled')
  paths = video.write_outputs(config, frames, np.arange(7), base)
  assert [os.path.basename(p) for p in paths] == [
      'sampled.gif', 'sampled_frames.png', 'sampled.npy', 'sampled_labels.npy']
  np.testing.assert_array_equal(np.load(base + '.npy'), frames[:6].reshape(2, 3, 8, 8, 1))
  np.testing.assert_array_equal(np.load(base + '_labels.npy'), [[0, 1, 2], [3, 4, 5]])
  clips = frames[:6].reshape(2, 3, 8, 8, 1)
  paths = video.write_outputs(_video_config(), clips, None, base + '2')
  assert len(paths) == 3 and np.load(base + '2.npy').dtype == np.float32


# ---- labels -------------------------------------------------------------------------------

def test_direction_bins_by_hand():
  # (dy, dx), y down: right-down quadrant 0, left-down 1, left-up 2, right-up 3.
  v = np.array([[1.0, 2.0], [1.0, -2.0], [-1.0, -2.0], [-1.0, 2.0], [0.0, 1.0], [1e-9, -1.0]])
  np.testing.assert_array_equal(video_metrics.direction_bin(v, 4), [0, 1, 2, 3, 0, 1])
  np.testing.assert_array_equal(video_metrics.direction_bin(v, 2), [0, 0, 1, 1, 0, 0])
  np.testing.assert_array_equal(video_metrics.direction_bin(v, 1), 0)


def test_clip_labels_order_digits_and_round_trip():
  classes = np.array([[3, 7], [7, 3], [5, 5], [5, 5]])
  positions = np.array([[[0, 0], [9, 9]], [[0, 0], [9, 9]], [[4, 1], [2, 8]], [[2, 8], [4, 1]]],
                       np.float64)
  right, left = [0.0, 1.0], [0.0, -1.0]  # Angles 0 and pi: sectors 0 and 2 (of 4).
  velocities = np.array([[right, left]] * 4)
  labels = video_metrics.clip_labels(classes, positions, velocities, 4)
  # a = the smaller class; equal classes: the smaller (y, x) start.
  np.testing.assert_array_equal(labels, [(37 * 4 + 0) * 4 + 2, (37 * 4 + 2) * 4 + 0,
                                         (55 * 4 + 2) * 4 + 0, (55 * 4 + 0) * 4 + 2])
  pair, a, b = video_metrics.decode_clip_labels(labels, 4)
  np.testing.assert_array_equal(pair, [37, 37, 55, 55])
  np.testing.assert_array_equal(a, [0, 2, 2, 0])
  np.testing.assert_array_equal(b, [2, 0, 0, 2])
  with pytest.raises(ValueError, match=r'velocities \(N, 2, 2\)'):
    video_metrics.clip_labels(classes, positions, velocities[:, :1], 4)
  with pytest.raises(ValueError, match='0..9'):
    video_metrics.pair_label(np.array([[3, 10]]))


def test_factorized_logits_give_the_sum_of_the_heads_cross_entropies():
  rng = np.random.default_rng(1)
  heads = [rng.normal(size=(6, k)).astype(np.float32) for k in (10, 10, 4, 4)]
  labels = rng.integers(0, 1600, size=6)
  joint = np.asarray(video_metrics.factorized_logits([jnp.asarray(h) for h in heads]))
  assert joint.shape == (6, 1600)
  parts = np.stack([labels // 160, (labels // 16) % 10, (labels // 4) % 4, labels % 4], 1)
  want = sum(scipy.special.log_softmax(h.astype(np.float64), axis=1)[np.arange(6), parts[:, k]]
             for k, h in enumerate(heads))
  got = scipy.special.log_softmax(joint.astype(np.float64), axis=1)[np.arange(6), labels]
  np.testing.assert_allclose(got, want, atol=1e-5)


# ---- the clip classifier's layers ---------------------------------------------------------

def test_patch_conv3d_matches_a_numpy_correlation():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(2, 4, 5, 6, 3)).astype(np.float32)
  layer = video_metrics.PatchConv3x3x3(features=5)
  variables = layer.init(jax.random.key(0), x)
  kernel = np.asarray(variables['params']['dense']['kernel']).reshape(3, 3, 3, 3, 5)
  bias = np.asarray(variables['params']['dense']['bias'])
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (1, 1), (0, 0))).astype(np.float64)
  windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3, 3), axis=(1, 2, 3))
  want = np.einsum('nthwcabd,abdcf->nthwf', windows, kernel) + bias
  np.testing.assert_allclose(np.asarray(layer.apply(variables, x)), want, rtol=1e-5, atol=1e-5)


def test_clip_cnn_shapes_and_downsample():
  clips = np.random.default_rng(3).uniform(-1, 1, size=(2, 4, 16, 16, 1)).astype(np.float32)
  small = video_metrics.downsample(clips, 2)
  np.testing.assert_allclose(small, clips.reshape(2, 4, 8, 2, 8, 2, 1).mean(axis=(3, 5)),
                             rtol=1e-6)
  from gan_jax.data import moving_mnist  # The dataset's own area averaging agrees.
  np.testing.assert_allclose(small, moving_mnist.downsample(clips, 8), rtol=1e-6)
  module = video_metrics.ClipCNN(direction_bins=3)  # Shapes only (traced, not run).
  variables = jax.eval_shape(module.init, jax.random.key(0), small)
  features, logits = jax.eval_shape(module.apply, variables, small)
  assert features.shape == (2, video_metrics.FEATURE_DIM) and logits.shape == (2, 900)
  for bad in (small[:, :3], small[:, :, :4, :4]):
    with pytest.raises(ValueError, match='T >= 4 and H, W >= 8'):
      jax.eval_shape(module.apply, variables, bad)
  frame_features, frame_logits = jax.eval_shape(
      video_metrics.FrameCNN().apply,
      jax.eval_shape(video_metrics.FrameCNN().init, jax.random.key(0), small[:, 0]), small[:, 0])
  assert frame_features.shape == (2, 128) and frame_logits.shape == (2, 100)
  with pytest.raises(ValueError, match='clip_downsample'):
    video_metrics.downsample(clips, 3)


# ---- temporal consistency and motion ------------------------------------------------------

def _moving_square(num_frames=12, side=16, size=3, start=(2, 5), velocity=(1, 2)):
  """A size x size square (+1 on -1) moving by `velocity` px per frame, bouncing (reflected)
  off the walls of [0, side - size]; returns (clip (T, side, side, 1), top-left corners)."""
  limit = side - size
  pos, vel = np.array(start), np.array(velocity)
  clip = np.full((num_frames, side, side, 1), -1.0)
  corners = []
  for t in range(num_frames):
    corners.append(pos.copy())
    clip[t, pos[0]:pos[0] + size, pos[1]:pos[1] + size] = 1.0
    pos = pos + vel
    for k in range(2):
      if pos[k] < 0 or pos[k] > limit:
        pos[k] = -pos[k] if pos[k] < 0 else 2 * limit - pos[k]
        vel[k] = -vel[k]
  return clip, np.array(corners, np.float64)


def test_moving_square_has_zero_acceleration_except_at_bounces():
  clip, corners = _moving_square()
  centres = corners + 1.0  # Centre of a 3-px square.
  np.testing.assert_allclose(video_metrics.intensity_centroids(clip[None])[0], centres,
                             atol=1e-9)
  second = centres[2:] - 2 * centres[1:-1] + centres[:-2]
  bounce = np.any(second != 0, axis=1)
  assert 0 < bounce.sum() < len(second)  # It bounces, and moves straight in between.
  motion = video_metrics.clip_motion(clip[None])
  np.testing.assert_allclose(motion['acceleration'],
                             [np.linalg.norm(second, axis=1).mean()], atol=1e-9)
  np.testing.assert_allclose(motion['speed'],
                             [np.linalg.norm(np.diff(centres, axis=0), axis=1).mean()], atol=1e-9)
  np.testing.assert_allclose(motion['frame_difference'],
                             [np.abs(np.diff(clip, axis=0)).mean()], atol=1e-12)
  straight, _ = _moving_square(num_frames=4, start=(1, 1), velocity=(1, 1))
  assert video_metrics.clip_motion(straight[None])['acceleration'][0] == pytest.approx(0, abs=1e-9)
  # The same frames in a random order move erratically.
  shuffled = clip[np.random.default_rng(0).permutation(len(clip))]
  stats = video_metrics.motion_statistics(np.stack([clip, shuffled]))
  assert video_metrics.clip_motion(shuffled[None])['acceleration'][0] > 3 * motion[
      'acceleration'][0]
  assert stats['acceleration'] == pytest.approx(np.mean(
      [motion['acceleration'][0],
       video_metrics.clip_motion(shuffled[None])['acceleration'][0]]))


def test_centroid_of_an_empty_frame_is_the_centre():
  clip = np.full((1, 3, 5, 4, 1), -1.0)
  clip[0, 1, 0, 0] = 1.0
  np.testing.assert_allclose(video_metrics.intensity_centroids(clip)[0],
                             [[2.0, 1.5], [0.0, 0.0], [2.0, 1.5]])


def test_temporal_consistency_and_agreement_by_hand():
  predictions = np.array([[4, 4, 4, 4], [4, 4, 9, 4], [1, 2, 3, 4], [7, 7, 7, 7]])
  assert video_metrics.temporal_consistency(predictions) == 0.5
  assert video_metrics.label_agreement(predictions) == pytest.approx((4 + 3 + 1 + 4) / 16)
  # A clip of independent frames is inconsistent: 16 frames of 55 equally likely pairs.
  rng = np.random.default_rng(0)
  independent = rng.integers(0, 55, size=(1000, 16))
  assert video_metrics.temporal_consistency(independent) == 0.0
  logits = np.eye(100)[predictions.reshape(-1)]
  np.testing.assert_array_equal(video_metrics.frame_predictions(logits, 4), predictions)
  with pytest.raises(ValueError, match='T = 3'):
    video_metrics.frame_predictions(logits, 3)


def test_classifiers_must_not_see_the_held_out_digits():
  cfg = video.real_dataset_config(_video_config())
  assert 'disjoint' in video.check_disjoint(cfg, 'train', 'test')
  with pytest.raises(ValueError, match='shares digits with the held-out'):
    video.check_disjoint(cfg, 'test', 'test')
  with pytest.raises(ValueError, match='defined on Moving MNIST'):
    video.real_dataset_config(default.get_config())
  config = _video_config()
  config.eval.video.classifier_side = 24
  with pytest.raises(ValueError, match='must divide the 64-px frames'):
    video.classifier_side(config, 64)
  assert video.classifier_side(config, 16) == 16


# ---- slow: evaluate() and the baseline recipe ---------------------------------------------

class _LinearGenerator(nn.Module):
  """A random stand-in generator: tanh(Dense(z)) shaped as the data (clips or frames)."""
  data_shape: tuple

  @nn.compact
  def __call__(self, z, labels=None, *, train):
    del labels, train
    x = nn.Dense(int(np.prod(self.data_shape)))(z)
    return jnp.tanh(x).reshape((z.shape[0], *self.data_shape))


class _LinearCritic(nn.Module):
  @nn.compact
  def __call__(self, x, labels=None, *, train):
    del labels, train
    return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0]


@pytest.fixture(scope='module')
def video_cache(tmp_path_factory):
  """One classifier cache for the module: the clip model and the frames run share them."""
  return str(tmp_path_factory.mktemp('video_cache'))


def _tiny_eval_config(cache_dir, data_dir, name):
  """16-px frames (the 64-px canvas area-averaged), T = 4, tiny classifiers and counts."""
  config = _video_config(name, 4)
  config.dataset.data_dir = data_dir
  config.dataset.image_size = 16
  config.eval.cache_dir = cache_dir
  config.eval.video.update(dict(
      num_clips=48, num_reference=48, frame_classifier_frames=600, frame_classifier_steps=60,
      clip_classifier_clips=120, clip_classifier_steps=30, classifier_side=16))
  return config


def test_time_lock_against_a_direct_sum():
  """time_lock: the between-t variance of the mean frame over the total variance, written as
  explicit sums; 1 for clips that all show frame t alike, ~1/N for clips stationary in
  time, 0 when the frame index changes nothing."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(5, 3, 2, 2, 1))
  n, t = x.shape[:2]
  mean_t = x.sum(axis=0) / n  # (T, H, W, C)
  between = ((mean_t - mean_t.sum(axis=0) / t) ** 2).sum(axis=0) / t
  grand = x.sum(axis=(0, 1)) / (n * t)
  total = ((x - grand) ** 2).sum(axis=(0, 1)) / (n * t)
  assert video_metrics.time_lock(x) == pytest.approx(between.mean() / total.mean(), rel=1e-12)
  locked = np.broadcast_to(rng.normal(size=(1, 16, 8, 8, 1)), (50, 16, 8, 8, 1))
  assert video_metrics.time_lock(locked) == pytest.approx(1.0)
  stationary = rng.normal(size=(400, 16, 8, 8, 1))
  # E Var_t(mean of N iid frames) = (1 - 1/T) / N of the variance; 960 degrees of freedom.
  assert video_metrics.time_lock(stationary) == pytest.approx((1 - 1 / 16) / 400, rel=0.15)
  constant_in_t = np.repeat(rng.normal(size=(50, 1, 8, 8, 1)), 16, axis=1)
  assert video_metrics.time_lock(constant_in_t) == pytest.approx(0.0, abs=1e-12)
  assert video_metrics.time_lock(np.zeros((4, 3, 2, 2, 1))) == 0.0
  with pytest.raises(ValueError, match='N >= 2'):
    video_metrics.time_lock(x[:1])


def _plug_in_information(a, b):
  """I(a; b) in nats from the joint counts, written out (the reference of the test below)."""
  n, info = len(a), 0.0
  for x in set(a):
    for y in set(b):
      joint = np.sum((a == x) & (b == y)) / n
      if joint:
        info += joint * np.log(joint / (np.mean(a == x) * np.mean(b == y)))
  return info


def test_factor_information_against_joint_counts():
  """I(pair; content) and I(pair; motion) over a C x M grid's frames against the plug-in sum;
  H(pair) when the content decides the pair, 0 for the motion; grid order c * M + m."""
  rng = np.random.default_rng(0)
  c, m, t = 3, 4, 5
  pairs = rng.integers(0, 6, size=(c * m, t))
  out = video_metrics.factor_information(pairs, c, m)
  content = np.repeat(np.arange(c), m * t)
  motion = np.tile(np.repeat(np.arange(m), t), c)
  flat = pairs.ravel()
  assert out['content_information'] == pytest.approx(_plug_in_information(content, flat),
                                                     rel=1e-10)
  assert out['motion_information'] == pytest.approx(_plug_in_information(motion, flat),
                                                    rel=1e-10)
  assert out['pair_entropy'] == pytest.approx(_plug_in_information(flat, flat), rel=1e-10)
  by_content = np.repeat(np.arange(c) * 7, m * t).reshape(c * m, t)  # Pair = f(content).
  out = video_metrics.factor_information(by_content, c, m)
  assert out['content_information'] == pytest.approx(np.log(c))
  assert out['pair_entropy'] == pytest.approx(np.log(c))
  assert out['motion_information'] == pytest.approx(0.0, abs=1e-12)
  with pytest.raises(ValueError, match='grid of C x M'):
    video_metrics.factor_information(pairs, 4, 4)


def test_code_information_against_joint_counts():
  """The mean over codes of I(pair; code_i) over the clips' frames against the plug-in sum;
  log K when code 0 decides the pair (K values used) and code 1 does not enter."""
  rng = np.random.default_rng(1)
  n, t = 30, 4
  pairs = rng.integers(0, 5, size=(n, t))
  codes = rng.integers(0, 3, size=(n, 2))
  expected = np.mean([_plug_in_information(np.repeat(codes[:, i], t), pairs.ravel())
                      for i in range(2)])
  assert video_metrics.code_information(pairs, codes) == pytest.approx(expected, rel=1e-10)
  codes = np.stack([np.arange(n) % 3, np.zeros(n, int)], axis=1)
  decided = np.repeat(codes[:, :1] * 11, t, axis=1)  # Pair = f(code 0).
  assert video_metrics.code_information(decided, codes) == pytest.approx(np.log(3) / 2)
  with pytest.raises(ValueError, match='same clips'):
    video_metrics.code_information(pairs, codes[:5])


@pytest.mark.slow
def test_evaluate_mocogan_adds_content_and_motion_information(video_cache, tfds_data_dir):
  """A MoCoGAN run's evaluation has the grid's numbers, finite, within [0, H(pair)], with
  their definitions; its other numbers do not depend on them (their own key)."""
  from gan_jax import evaluation, models  # pylint: disable=g-import-not-at-top
  from gan_jax import state as state_lib  # pylint: disable=g-import-not-at-top
  config = _tiny_eval_config(video_cache, tfds_data_dir, 'moving_mnist')
  config.model.name = config.objective.name = 'mocogan'
  config.model.g_width = config.model.d_width = 4
  config.model.latent_dim = 50 + 4 * 10
  networks = models.build_networks(config.model, (4, 16, 16, 1))
  state = state_lib.create_state(config, networks, jax.random.key(0))
  results = evaluation.evaluate(config, networks, state, None, step=1)
  names = ('content_information', 'motion_information', 'pair_entropy')
  assert all(np.isfinite(results[k]) for k in names)
  for k in names[:2]:
    assert -1e-9 <= results[k] <= results['pair_entropy'] + 1e-9
  assert set(names) <= set(results['protocol']['definitions'])
  config.model.name = 'video_gan_like'  # The same run without the grid: the same numbers.
  others = evaluation.evaluate(config, networks, state, None, step=1)
  assert not set(names) & set(others)
  for k in ('frame_fid', 'clip_fd', 'time_lock'):
    assert others[k] == results[k]
  assert 'code_information' not in results
  # Categorical content codes: their information as well, in [0, log 10].
  config.model.name = 'mocogan'
  config.model.mocogan.content_codes, config.model.mocogan.content_head = 2, 8
  config.model.latent_dim = 50 + 2 * 10 + 4 * 10
  networks = models.build_networks(config.model, (4, 16, 16, 1))
  state = state_lib.create_state(config, networks, jax.random.key(0))
  results = evaluation.evaluate(config, networks, state, None, step=1)
  assert -1e-9 <= results['code_information'] <= np.log(10) + 1e-9
  assert 'code_information' in results['protocol']['definitions']


def _random_run(config, data_shape):
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  from gan_jax import state as state_lib  # pylint: disable=g-import-not-at-top
  networks = models.Networks(
      make_generator=lambda axis_name: _LinearGenerator(tuple(data_shape)),
      make_discriminator=lambda axis_name: _LinearCritic(), latent_dim=8,
      data_shape=tuple(data_shape), num_classes=None)
  return networks, state_lib.create_state(config, networks, jax.random.key(0))


PROTOCOL_KEYS = ('run_kind', 'samples', 'num_clips', 'num_frames', 'reference_split',
                 'classifier_split', 'held_out_check', 'digit_ranges', 'frame_classifier',
                 'clip_classifier', 'definitions', 'checkpoint_step', 'seed')
NUMBERS = ('frame_fid', 'clip_fd', 'temporal_consistency', 'frame_label_agreement',
           'acceleration', 'speed', 'frame_difference', 'time_lock', 'real_time_lock',
           'real_temporal_consistency',
           'real_acceleration', 'frame_classifier_accuracy', 'clip_classifier_pair_accuracy',
           'clip_classifier_direction_accuracy')


@pytest.mark.slow
@pytest.mark.parametrize('name,data_shape', [('moving_mnist', (4, 16, 16, 1)),
                                             ('moving_mnist_frames', (16, 16, 1))])
def test_evaluate_generated_and_real_clips(video_cache, tfds_data_dir, name, data_shape):
  from gan_jax import evaluation  # pylint: disable=g-import-not-at-top
  config = _tiny_eval_config(video_cache, tfds_data_dir, name)
  networks, state = _random_run(config, data_shape)
  random = evaluation.evaluate(config, networks, state, None, step=7)
  floor = evaluation.evaluate(config, None, None, None, real_split='test')
  for results in (random, floor):
    assert set(NUMBERS) <= set(results) and all(np.isfinite(results[k]) for k in NUMBERS)
    assert set(PROTOCOL_KEYS) <= set(results['protocol'])
    json.dumps(results)
  p = random['protocol']
  assert p['run_kind'] == ('frames_baseline' if name.endswith('frames') else 'clip_model')
  assert p['num_clips'] == 48 and p['num_frames'] == 4 and p['checkpoint_step'] == 7
  assert p['digit_ranges'] == {'test': [4000, 5000], 'train': [0, 4000]}
  for clf in ('frame_classifier', 'clip_classifier'):
    record = p[clf]
    assert record['split'] == 'train' and record['feature_dim'] == 128
    from gan_jax.metrics import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
    assert classifier_lib.file_sha256(record['path']) == record['sha256']
    assert floor['protocol'][clf]['sha256'] == record['sha256']  # Trained once, then cached.
  assert floor['protocol']['run_kind'] == 'real'
  assert 'after the reference clips' in floor['protocol']['samples']
  # The same reference numbers for both; the real floor beats a random generator.
  assert floor['real_acceleration'] == random['real_acceleration']
  assert floor['frame_fid'] < random['frame_fid'] and floor['clip_fd'] < random['clip_fd']
  assert floor['acceleration'] < random['acceleration']
  assert floor['frame_difference'] < random['frame_difference']


@pytest.mark.slow
def test_video_frames_recipe_writes_gifs_and_samples(tmp_path, tfds_data_dir):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from configs import video_frames  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  config = video_frames.get_config('smoke,num_train_steps=3,sample_every=3,parallel=none,'
                                   'dataset.moving_mnist.num_frames=4')
  config.dataset.data_dir = tfds_data_dir
  assert config.dataset.name == 'moving_mnist_frames' and config.model.name == 'dcgan'
  workdir = tmp_path / 'run'
  train.train_and_evaluate(config, str(workdir))
  samples = workdir / 'samples'
  assert os.readlink(samples / 'latest.gif') == 'step_0000003.gif'
  # 16 frames of 16x16 -> 4 clips of 4 frames, shown twice as big.
  with Image.open(samples / 'step_0000003.gif') as im:
    assert im.n_frames == 4 and im.size == (2 * (2 * 18 + 2), 2 * (2 * 18 + 2))
  with Image.open(samples / 'step_0000003_frames.png') as im:
    assert im.size == (2 * (4 * 18 + 2), 2 * (4 * 18 + 2))
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = tmp_path / 'sampled'
  subprocess.run([sys.executable, os.path.join(repo, 'launch', 'sample.py'),
                  f'--workdir={workdir}', '--num=3', f'--out={out}.gif'], check=True,
                 cwd=repo, env=dict(os.environ, JAX_PLATFORMS='cpu'))
  clips = np.load(f'{out}.npy')
  assert clips.shape == (3, 4, 16, 16, 1) and clips.dtype == np.float32
  with Image.open(f'{out}.gif') as im:
    assert im.n_frames == 4
