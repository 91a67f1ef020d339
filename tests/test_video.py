"""Moving MNIST (gan_jax/data/moving_mnist.py), MoCoGAN and the video recipes.

References and tolerances:
- bounce: a trajectory computed by hand (exact); every generated trajectory against the
  closed form of elastic bouncing, the triangle wave p(t) = L - |L - ((p0 + t v) mod 2L)|
  (atol 1e-9 px);
- render: the pixel-wise max of each digit padded into its own canvas with np.pad (exact);
- downsample: skimage.measure.block_reduce(np.mean) (atol 1e-6);
- the mocogan objective's losses: the non-saturating loss written in numpy on fixed D outputs
  (rtol 1e-5).
Fast tests use the embedded digits and numpy only; MoCoGAN's networks, the train step and the
recipes are in the slow suite (-m slow).
"""

import importlib
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import skimage.measure

from configs import default
from gan_jax import data, losses, models, objectives, sampling
from gan_jax import overrides as overrides_lib
from gan_jax import state as state_lib
from gan_jax.data import moving_mnist as mm
from gan_jax.models import mocogan as mocogan_model
from gan_jax.objectives import mocogan as mocogan_objective
from tests import helpers

L = 64 - 28  # Free side of the default canvas.


def _dataset(data_dir, name='moving_mnist', **fields):
  cfg = default.get_config().dataset
  cfg.name, cfg.data_dir = name, data_dir
  for key, value in fields.items():
    if key in cfg.moving_mnist:
      cfg.moving_mnist[key] = value
    else:
      cfg[key] = value
  return cfg


# ---- the definition ------------------------------------------------------------------------

def test_bounce_matches_a_hand_computed_trajectory():
  # Box [0, 10]; y from 1 moving -3 hits 0 at once (-2 -> 2), x from 9 moving +2 hits 10
  # (11 -> 9); later y 8 + 3 = 11 -> 9 bounces off the far wall.
  positions, velocities = mm.bounce([1.0, 9.0], [-3.0, 2.0], 5, 10.0)
  np.testing.assert_array_equal(positions, [[1, 9], [2, 9], [5, 7], [8, 5], [9, 3]])
  np.testing.assert_array_equal(velocities, [[-3, 2], [3, -2], [3, -2], [3, -2], [-3, -2]])
  with pytest.raises(ValueError, match='one bounce per frame'):
    mm.bounce([1.0], [11.0], 3, 10.0)
  with pytest.raises(ValueError, match=r'lie in \[0, 10'):
    mm.bounce([-1.0], [1.0], 3, 10.0)


def test_trajectories_stay_inside_bounce_elastically_at_constant_speed(tfds_data_dir):
  clips = mm.clips(_dataset(tfds_data_dir, num_frames=40))
  speed = 0.1 * L
  bounced = 0
  for i in range(200):
    traj = clips.trajectory(i)
    p, v = traj['positions'], traj['velocities']
    assert p.shape == v.shape == (40, 2, 2)
    assert p.min() >= 0 and p.max() <= L  # Digits fully inside the canvas every frame.
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), speed, rtol=1e-12)
    # Independent reference: elastic bouncing in [0, L] is the triangle wave of free motion.
    free = p[0] + np.arange(40)[:, None, None] * v[0]
    np.testing.assert_allclose(p, L - np.abs(L - np.mod(free, 2 * L)), atol=1e-9)
    # A velocity component flips exactly when that coordinate bounced.
    flips = np.sign(v[1:]) != np.sign(v[:-1])
    through = (p[:-1] + v[:-1] < 0) | (p[:-1] + v[:-1] > L)
    np.testing.assert_array_equal(flips, through)
    bounced += flips.sum()
  assert bounced > 100  # The test saw many bounces.


def test_clips_are_a_function_of_seed_and_index(tfds_data_dir):
  cfg = _dataset(tfds_data_dir)
  a, b = mm.clips(cfg), mm.clips(cfg)
  for i in (0, 7, 99_999):
    ta, tb = a.trajectory(i), b.trajectory(i)
    for key in ta:
      np.testing.assert_array_equal(ta[key], tb[key])
    np.testing.assert_array_equal(a[i]['image'], b[i]['image'])
  assert not np.array_equal(a[0]['image'], a[1]['image'])
  starts = np.stack([a.trajectory(i)['positions'][0] for i in range(50)])
  assert len(np.unique(starts.round(6))) == starts.size  # Every clip starts elsewhere.
  other = mm.clips(_dataset(tfds_data_dir, seed=1))
  assert not np.array_equal(a.trajectory(0)['positions'], other.trajectory(0)['positions'])
  # The run's seed does not change the clips (only their order, in the pipeline).
  np.testing.assert_array_equal(data.load_source(cfg, seed=5)[3]['image'], a[3]['image'])
  with pytest.raises(IndexError):
    a[100_000]  # pylint: disable=pointless-statement


def test_train_and_test_clips_draw_from_disjoint_digits(tfds_data_dir):
  cfg = _dataset(tfds_data_dir)
  train, test = mm.clips(cfg, 'train'), mm.clips(cfg, 'test')
  assert len(train) == 100_000 and len(test) == 10_000
  train_digits = np.concatenate([train.trajectory(i)['digit_indices'] for i in range(500)])
  test_digits = np.concatenate([test.trajectory(i)['digit_indices'] for i in range(500)])
  assert train_digits.min() >= 0 and train_digits.max() < 4000
  assert test_digits.min() >= 4000 and test_digits.max() < 5000
  assert len(np.unique(train_digits)) > 600 and len(np.unique(test_digits)) > 500
  with pytest.raises(ValueError, match='overlap'):
    mm.clips(_dataset(tfds_data_dir, test_digits=(3000, 5000)))
  with pytest.raises(ValueError, match="split 'validation'"):
    mm.clips(_dataset(tfds_data_dir, split='validation'))


def test_render_is_the_pixelwise_max_of_the_placed_digits(tfds_data_dir):
  cfg = _dataset(tfds_data_dir)
  source = data.load_source(cfg)
  assert source.data_shape == (16, 64, 64, 1) and source.num_classes == 100
  digits = data.load_source(_dataset(tfds_data_dir, name='embedded_mnist')).examples.data
  clips = source.examples
  for i in (0, 1, 2, 31):
    traj = clips.trajectory(i)
    example = source[i]
    clip = example['image']
    assert clip.dtype == np.float32 and clip.min() >= -1 and clip.max() <= 1
    canvases = []
    for k, index in enumerate(traj['digit_indices']):
      per_frame = []
      for y, x in np.rint(traj['positions'][:, k]).astype(int):
        per_frame.append(np.pad(digits[index, ..., 0], ((y, L - y), (x, L - x)),
                                constant_values=-1.0))
      canvases.append(np.stack(per_frame))
    np.testing.assert_array_equal(clip[..., 0], np.max(canvases, axis=0))
    a, b = clips.labels[traj['digit_indices']]
    np.testing.assert_array_equal(traj['digit_labels'], [a, b])
    assert example['label'] == 10 * min(a, b) + max(a, b)
  images, pair_labels = clips.arrays(5, 9)
  assert images.shape == (4, 16, 64, 64, 1)
  np.testing.assert_array_equal(pair_labels, [source[i]['label'] for i in range(5, 9)])


def test_identity_swaps_change_one_digit_to_another_class_from_a_frame_on(tfds_data_dir):
  """dataset.moving_mnist.swap_clips: each clip's twin equals it before the swap frame s and,
  from s on, is the clip with one digit replaced by a digit of another class of the split's
  range on the same path; a pure function of (seed, index); off, examples are unchanged."""
  cfg = _dataset(tfds_data_dir, swap_clips=True, num_frames=8)
  clips, again = mm.clips(cfg), mm.clips(cfg)
  plain = mm.clips(_dataset(tfds_data_dir, num_frames=8))
  assert set(plain[0]) == {'image', 'label'}
  frames, digits = [], []
  for i in range(300):
    example, swap = clips[i], clips.swap(i)
    np.testing.assert_array_equal(example['image'], plain[i]['image'])  # The clip unchanged.
    np.testing.assert_array_equal(example[mm.SWAPPED_KEY], again[i][mm.SWAPPED_KEY])
    traj, s, k = clips.trajectory(i), swap['frame'], swap['digit']
    assert 1 <= s <= 7 and swap['trajectory']['digit_indices'][k] == swap['digit_index']
    assert 0 <= swap['digit_index'] < 4000
    assert clips.labels[swap['digit_index']] != traj['digit_labels'][k]
    np.testing.assert_array_equal(np.delete(swap['trajectory']['digit_indices'], k),
                                  np.delete(traj['digit_indices'], k))
    twin = example[mm.SWAPPED_KEY]
    np.testing.assert_array_equal(twin[:s], example['image'][:s])
    np.testing.assert_array_equal(twin[s:], mm.render(clips.digits, swap['trajectory'])[s:])
    assert not np.array_equal(twin[s:], example['image'][s:])
    frames.append(s)
    digits.append(k)
  assert set(frames) == set(range(1, 8)) and set(digits) == {0, 1}
  test = mm.clips(_dataset(tfds_data_dir, swap_clips=True, split='test'))
  assert all(4000 <= test.swap(i)['digit_index'] < 5000 for i in range(50))
  # The metrics' real clips and classifier cache keys are those of the clips alone.
  from gan_jax.modalities import video  # pylint: disable=g-import-not-at-top
  run_config = default.get_config()
  run_config.dataset = cfg
  assert not video.real_dataset_config(run_config).moving_mnist.swap_clips
  plain_cfg = _dataset(tfds_data_dir, num_frames=8)
  record = video._spec_record  # pylint: disable=protected-access
  assert record(cfg, 'train') == record(plain_cfg, 'train')
  one_frame = mm.clips(_dataset(tfds_data_dir, swap_clips=True, num_frames=1))
  with pytest.raises(ValueError, match='at least 2 frames'):
    one_frame.swap(0)


def test_slowed_twins_go_on_along_the_same_path_at_a_fraction_of_the_speed(tfds_data_dir):
  """dataset.moving_mnist.slow_clips: each clip's twin equals it before the frame s and,
  from s on, shows the same digits on the same bouncing paths at f_k of their speed, checked
  against the closed form of a bounce in [0, L] (the triangle wave of the unfolded line, not
  the iterated reflections of `bounce`); f = 0 freezes the frame; deterministic; the clip
  and the metrics' config and cache keys unchanged; clear errors."""
  def fold(u):  # Position in [0, L] of a point at u on the unfolded line (period 2 L).
    u = np.mod(u, 2 * L)
    return np.where(u > L, 2 * L - u, u)

  cfg = _dataset(tfds_data_dir, slow_clips=True, num_frames=8)
  clips, again = mm.clips(cfg), mm.clips(cfg)
  plain = mm.clips(_dataset(tfds_data_dir, num_frames=8))
  frames, factors = [], []
  for i in range(200):
    example, slow = clips[i], clips.slow(i)
    np.testing.assert_array_equal(example['image'], plain[i]['image'])  # The clip unchanged.
    np.testing.assert_array_equal(example[mm.SLOWED_KEY], again[i][mm.SLOWED_KEY])
    traj, s, f = clips.trajectory(i), slow['frame'], slow['factors']
    assert 1 <= s <= 7 and f.shape == (2,) and np.all((0 <= f) & (f <= 0.5))
    p0, v0 = traj['positions'][0], traj['velocities'][0]  # (K, 2) start, unfolded velocity.
    t = np.arange(8)[:, None, None]
    np.testing.assert_allclose(traj['positions'], fold(p0 + v0 * t), atol=1e-9)
    tau = np.where(t < s, t, s - 1 + f[None, :, None] * (t - s + 1))  # The twin's clock.
    np.testing.assert_allclose(slow['trajectory']['positions'], fold(p0 + v0 * tau), atol=1e-9)
    np.testing.assert_array_equal(slow['trajectory']['digit_indices'], traj['digit_indices'])
    twin = example[mm.SLOWED_KEY]
    np.testing.assert_array_equal(twin[:s], example['image'][:s])
    np.testing.assert_array_equal(twin[s:], mm.render(clips.digits, slow['trajectory'])[s:])
    frames.append(s)
    factors.extend(f)
  assert set(frames) == set(range(1, 8)) and min(factors) < 0.05 and max(factors) > 0.45
  frozen = mm.clips(_dataset(tfds_data_dir, slow_clips=True, slow_factors=(0.0, 0.0)))
  for i in range(5):
    s, twin = frozen.slow(i)['frame'], frozen[i][mm.SLOWED_KEY]
    assert np.all(twin[s - 1:] == twin[s - 1])
  both = mm.clips(_dataset(tfds_data_dir, slow_clips=True, swap_clips=True, num_frames=8))
  assert set(both[3]) == {'image', 'label', mm.SWAPPED_KEY, mm.SLOWED_KEY}
  np.testing.assert_array_equal(both[3][mm.SLOWED_KEY], clips[3][mm.SLOWED_KEY])
  from gan_jax.modalities import video  # pylint: disable=g-import-not-at-top
  run_config = default.get_config()
  run_config.dataset = _dataset(tfds_data_dir, slow_clips=True, slow_factors=(0.1, 0.2))
  assert not video.real_dataset_config(run_config).moving_mnist.slow_clips
  record = video._spec_record  # pylint: disable=protected-access
  assert record(run_config.dataset, 'train') == record(_dataset(tfds_data_dir), 'train')
  for factors in ((0.5, 0.2), (0.0, 1.0), (-0.1, 0.3)):
    with pytest.raises(ValueError, match='slow_factors'):
      mm.clips(_dataset(tfds_data_dir, slow_clips=True, slow_factors=factors))
  with pytest.raises(ValueError, match='at least 2 frames'):
    mm.clips(_dataset(tfds_data_dir, slow_clips=True, num_frames=1)).slow(0)


def test_shuffled_twins_reorder_the_clips_own_frames_from_a_frame_on(tfds_data_dir):
  """dataset.moving_mnist.shuffle_clips: each clip's twin shows its frames [0, s) in place
  and its frames [s, T) in another order (never the clip itself), every s in [1, T - 2];
  deterministic; the clip unchanged; the metrics' real clips ignore the field."""
  cfg = _dataset(tfds_data_dir, shuffle_clips=True, num_frames=6, image_size=32)
  clips, again = mm.clips(cfg), mm.clips(cfg)
  plain = mm.clips(_dataset(tfds_data_dir, num_frames=6, image_size=32))
  starts, orders = set(), set()
  for i in range(200):
    example, s = clips[i], clips.shuffle(i)['frame']
    order = clips.shuffle(i)['order']
    np.testing.assert_array_equal(example['image'], plain[i]['image'])
    np.testing.assert_array_equal(example[mm.SHUFFLED_KEY], again[i][mm.SHUFFLED_KEY])
    assert 1 <= s <= 4
    np.testing.assert_array_equal(order[:s], np.arange(s))
    np.testing.assert_array_equal(np.sort(order[s:]), np.arange(s, 6))
    assert np.any(order[s:] != np.arange(s, 6))
    np.testing.assert_array_equal(example[mm.SHUFFLED_KEY], example['image'][order])
    starts.add(s)
    orders.add(tuple(order))
  assert starts == {1, 2, 3, 4} and len(orders) > 40  # Of the 148 possible.
  from gan_jax.modalities import video  # pylint: disable=g-import-not-at-top
  run_config = default.get_config()
  run_config.dataset = cfg
  assert not video.real_dataset_config(run_config).moving_mnist.shuffle_clips
  record = video._spec_record  # pylint: disable=protected-access
  plain_cfg = _dataset(tfds_data_dir, num_frames=6, image_size=32)
  assert record(cfg, 'train') == record(plain_cfg, 'train')
  with pytest.raises(ValueError, match='at least 3 frames'):
    mm.clips(_dataset(tfds_data_dir, shuffle_clips=True, num_frames=2)).shuffle(0)


def test_frames_downsampling_and_twenty_frames(tfds_data_dir):
  clips = data.load_source(_dataset(tfds_data_dir, image_size=32, num_frames=20))
  full = mm.clips(_dataset(tfds_data_dir, num_frames=20))
  assert clips.data_shape == (20, 32, 32, 1)
  reference = skimage.measure.block_reduce(full[4]['image'], (1, 2, 2, 1), np.mean)
  np.testing.assert_allclose(clips[4]['image'], reference, atol=1e-6)
  frames = data.load_source(_dataset(tfds_data_dir, name='moving_mnist_frames',
                                     image_size=32, num_frames=20))
  assert frames.data_shape == (32, 32, 1) and len(frames) == 20 * len(clips)
  for t in (0, 13, 19):
    np.testing.assert_array_equal(frames[4 * 20 + t]['image'], clips[4]['image'][t])
    assert frames[4 * 20 + t]['label'] == clips[4]['label']
  with pytest.raises(ValueError, match='must divide'):
    data.load_source(_dataset(tfds_data_dir, image_size=48))


def test_tfds_moving_mnist_is_a_clear_error_without_its_data(tmp_path):
  cfg = _dataset(str(tmp_path), name='tfds_moving_mnist', split='test')
  with pytest.raises((ImportError, FileNotFoundError)) as error:
    data.load_source(cfg)
  message = str(error.value)
  assert 'download_and_prepare' in message and 'dataset.data_dir' in message


def test_tfds_clips_take_the_first_frames_in_range():
  rng = np.random.default_rng(0)
  stored = [{'image_sequence': rng.integers(0, 256, (20, 64, 64, 1), dtype=np.uint8)}
            for _ in range(2)]
  clips = mm.TfdsClips(stored, num_frames=16, image_size=32)
  example = clips[1]
  expected = stored[1]['image_sequence'][:16].astype(np.float64) / 127.5 - 1
  expected = skimage.measure.block_reduce(expected, (1, 2, 2, 1), np.mean)
  np.testing.assert_allclose(example['image'], expected, atol=1e-6)
  assert example['image'].dtype == np.float32 and example['label'] == 0
  with pytest.raises(ValueError, match='20 frames'):
    mm.TfdsClips(stored, num_frames=21, image_size=0)


# ---- MoCoGAN's latent layout and objective (fast: no network) -------------------------------

def test_latent_layout_splits_joins_and_grids():
  layout = mocogan_model.LatentLayout(content_dim=3, motion_noise_dim=2, num_frames=4)
  assert layout.latent_dim == 3 + 4 * 2
  z = np.arange(2 * 11, dtype=np.float32).reshape(2, 11)
  content, initial, eps = layout.split(jnp.asarray(z))
  np.testing.assert_array_equal(content, z[:, :3])
  assert initial.shape == (2, 0)  # h_0 = 0: no entries in the latent.
  np.testing.assert_array_equal(eps[1, 2], z[1, 3 + 2 * 2:3 + 3 * 2])  # eps_3 of clip 1.
  np.testing.assert_array_equal(layout.join(content, initial, eps), z)
  # With a random initial state, h_0 (here 5 wide) sits between the content and eps_1.
  with_h0 = mocogan_model.LatentLayout(3, 2, 4, initial_state_dim=5)
  assert with_h0.latent_dim == 3 + 5 + 4 * 2
  z = np.arange(2 * 16, dtype=np.float32).reshape(2, 16)
  content, initial, eps = with_h0.split(jnp.asarray(z))
  np.testing.assert_array_equal(initial, z[:, 3:8])
  np.testing.assert_array_equal(eps[1, 0], z[1, 8:10])
  np.testing.assert_array_equal(with_h0.join(content, initial, eps), z)
  for lay in (layout, with_h0):
    grid = np.asarray(lay.grid(jax.random.key(0), num_contents=2, num_motions=3))
    assert grid.shape == (6, lay.latent_dim)
    content, initial, eps = (np.asarray(a) for a in lay.split(jnp.asarray(grid)))
    for i in range(2):
      for j in range(3):
        np.testing.assert_array_equal(content[i * 3 + j], content[i * 3])  # Row: one content.
        np.testing.assert_array_equal(eps[i * 3 + j], eps[j])  # Column: one motion,
        np.testing.assert_array_equal(initial[i * 3 + j], initial[j])  # h_0 included.
    assert not np.array_equal(content[0], content[3]) and not np.array_equal(eps[0], eps[1])
  assert not np.array_equal(initial[0], initial[1])
  with pytest.raises(ValueError, match='11 entries'):
    layout.split(jnp.zeros((2, 10)))


def test_latent_layout_categorical_codes():
  """Codes sit after z_content as one-hots, uniform over their values; codes() reads them
  back; the grid keeps them per row. Without codes the grid is the plain N(0, 1) draw it
  was (the recipe's latents unchanged)."""
  layout = mocogan_model.LatentLayout(3, 2, 4, num_codes=2, code_classes=5)
  assert (layout.code_dim, layout.clip_content_dim, layout.latent_dim) == (10, 13, 21)
  z = np.asarray(layout.sample(jax.random.key(0), 20000))
  assert z.shape == (20000, 21)
  one_hot = z[:, 3:13].reshape(20000, 2, 5)
  np.testing.assert_array_equal(one_hot.sum(-1), 1.0)
  assert set(np.unique(one_hot)) == {0.0, 1.0}
  codes = np.asarray(layout.codes(jnp.asarray(z)))
  np.testing.assert_array_equal(codes, one_hot.argmax(-1))
  for i in range(2):  # Uniform: 4,000 expected per value, 5 sigma = 5 x 57.
    np.testing.assert_allclose(np.bincount(codes[:, i], minlength=5), 4000, atol=290)
  gauss = np.concatenate([z[:, :3], z[:, 13:]], axis=1)
  np.testing.assert_allclose(gauss.mean(0), 0.0, atol=0.04)
  np.testing.assert_allclose(gauss.std(0), 1.0, atol=0.03)
  content, _, eps = layout.split(jnp.asarray(z[:2]))
  assert content.shape == (2, 13) and eps.shape == (2, 4, 2)
  grid = np.asarray(layout.grid(jax.random.key(1), num_contents=4, num_motions=3))
  grid_codes = np.asarray(layout.codes(jnp.asarray(grid))).reshape(4, 3, 2)
  assert (grid_codes == grid_codes[:, :1]).all()
  np.testing.assert_array_equal(grid[:, 3:13].reshape(12, 2, 5).sum(-1), 1.0)
  plain = mocogan_model.LatentLayout(3, 2, 4)
  k_content, k_motion = jax.random.split(jax.random.key(1))
  expected = np.concatenate([np.repeat(jax.random.normal(k_content, (4, 3)), 3, axis=0),
                             np.tile(jax.random.normal(k_motion, (3, 8)), (4, 1))], axis=1)
  np.testing.assert_array_equal(plain.grid(jax.random.key(1), 4, 3), expected)


def _objective(loss='non_saturating', weight=0.5):
  config = default.get_config()
  config.model.name = config.objective.name = 'mocogan'
  config.loss.name = loss
  config.objective.mocogan.image_weight = weight
  return objectives.get_objective(config)


class _Context:
  loss_fn = staticmethod(losses.non_saturating)


def test_mocogan_objective_adds_the_image_terms_by_hand():
  """The image terms on fixed D outputs against the non-saturating loss written in numpy."""
  objective = _objective(weight=0.5)
  assert isinstance(objective, mocogan_objective.MoCoGAN)
  real = {'logit': jnp.asarray([0.1, 0.2]), 'image_logit': jnp.asarray([[1.0, -0.5], [2.0, 0.3]])}
  fake = {'logit': jnp.asarray([0.0, 0.0]), 'image_logit': jnp.asarray([[-1.5, 0.4], [0.2, -3.0]])}
  softplus = lambda x: np.log1p(np.exp(x))  # pylint: disable=unnecessary-lambda-assignment
  r, f = np.asarray(real['image_logit'], np.float64), np.asarray(fake['image_logit'], np.float64)
  d_image = np.mean(softplus(-r)) + np.mean(softplus(f))  # -log D(x) - log(1 - D(G(z))).
  g_image = np.mean(softplus(-f))                          # -log D(G(z)).
  value, aux = objective.discriminator_terms(_Context(), {}, {}, real, fake)
  np.testing.assert_allclose(float(value), 0.5 * d_image, rtol=1e-5)
  np.testing.assert_allclose(float(aux['d_image_loss']), d_image, rtol=1e-5)
  value, aux = objective.generator_terms(_Context(), {}, {}, fake)
  np.testing.assert_allclose(float(value), 0.5 * g_image, rtol=1e-5)
  np.testing.assert_allclose(float(aux['g_image_loss']), g_image, rtol=1e-5)
  with pytest.raises(ValueError, match='image head'):
    objective.generator_terms(_Context(), {}, {}, fake['logit'])
  with pytest.raises(ValueError, match='image_weight must be >= 0'):
    _objective(weight=-1.0)


def test_mocogan_content_term_by_hand():
  """L_c = mean (z_content - Q_c(frame))^2 over clips, scored frames and dims, weighted, in
  both players' losses; off (weight 0) it adds nothing; clear errors without the head."""
  config = default.get_config()
  config.model.name = config.objective.name = 'mocogan'
  config.model.mocogan.content_dim = 3
  config.model.mocogan.content_head = 8
  config.objective.mocogan.content_weight = 0.25
  objective = objectives.get_objective(config)
  rng = np.random.default_rng(0)
  z = rng.normal(size=(2, 3 + 4 * 10)).astype(np.float32)   # [z_content | eps_1..4].
  mean = rng.normal(size=(2, 2, 3)).astype(np.float32)      # 2 clips x 2 frames x 3 dims.
  expected = np.mean([(z[n, d] - mean[n, j, d]) ** 2
                      for n in range(2) for j in range(2) for d in range(3)])
  logits = {'logit': jnp.zeros(2), 'image_logit': jnp.zeros((2, 2))}
  fake = dict(logits, content_mean=jnp.asarray(mean))
  g_inputs = {'z': jnp.asarray(z), 'labels': None}
  base_value, _ = _objective(weight=1.0).discriminator_terms(_Context(), {}, g_inputs, logits,
                                                             logits)
  value, aux = objective.discriminator_terms(_Context(), {}, g_inputs, logits, fake)
  np.testing.assert_allclose(float(value - base_value), 0.25 * expected, rtol=1e-5)
  np.testing.assert_allclose(float(aux['content_explained']), 1 - expected, rtol=1e-5)
  g_base, _ = _objective(weight=1.0).generator_terms(_Context(), {}, g_inputs, logits)
  value, aux = objective.generator_terms(_Context(), {}, g_inputs, fake)
  np.testing.assert_allclose(float(value - g_base), 0.25 * expected, rtol=1e-5)
  np.testing.assert_allclose(float(aux['g_content_error']), expected, rtol=1e-5)
  # A perfect Q_c: no term.
  perfect = dict(logits, content_mean=jnp.broadcast_to(jnp.asarray(z[:, None, :3]), (2, 2, 3)))
  value, aux = objective.generator_terms(_Context(), {}, g_inputs, perfect)
  np.testing.assert_allclose(float(value - g_base), 0.0, atol=1e-7)
  with pytest.raises(ValueError, match='content head'):
    objective.generator_terms(_Context(), {}, g_inputs, logits)
  config.model.mocogan.content_head = 0
  with pytest.raises(ValueError, match='content_head=128'):
    objectives.get_objective(config)
  config.objective.mocogan.content_weight = -1.0
  with pytest.raises(ValueError, match='content_weight must be >= 0'):
    objectives.get_objective(config)


def test_mocogan_code_term_by_hand():
  """L_code = mean over clips, scored frames and codes of -log softmax(Q_c logits)[code],
  weighted, in both players' losses, beside the content term; clear errors."""
  config = default.get_config()
  config.model.name = config.objective.name = 'mocogan'
  config.model.mocogan.content_dim = 3
  config.model.mocogan.content_head = 8
  config.model.mocogan.content_codes = 2
  config.model.mocogan.content_code_classes = 4
  config.objective.mocogan.code_weight = 0.5
  objective = objectives.get_objective(config)
  rng = np.random.default_rng(1)
  codes = np.array([[1, 3], [0, 0]])
  one_hot = np.eye(4, dtype=np.float32)[codes].reshape(2, 8)
  z = np.concatenate([rng.normal(size=(2, 3)), one_hot, rng.normal(size=(2, 40))],
                     axis=1).astype(np.float32)   # [z_content | codes | eps_1..4].
  logits = rng.normal(size=(2, 3, 2, 4)).astype(np.float64)  # 2 clips x 3 frames.
  log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  expected = -np.mean([log_p[n, j, i, codes[n, i]]
                       for n in range(2) for j in range(3) for i in range(2)])
  accuracy = np.mean(logits.argmax(-1) == codes[:, None, :])
  base = {'logit': jnp.zeros(2), 'image_logit': jnp.zeros((2, 3))}
  fake = dict(base, code_logits=jnp.asarray(logits, jnp.float32))
  g_inputs = {'z': jnp.asarray(z), 'labels': None}
  d_base, _ = _objective(weight=1.0).discriminator_terms(_Context(), {}, g_inputs, base, base)
  value, aux = objective.discriminator_terms(_Context(), {}, g_inputs, base, fake)
  np.testing.assert_allclose(float(value - d_base), 0.5 * expected, rtol=1e-5)
  np.testing.assert_allclose(float(aux['code_ce']), expected, rtol=1e-5)
  np.testing.assert_allclose(float(aux['code_accuracy']), accuracy, rtol=1e-6)
  assert 'content_error' not in aux
  g_base, _ = _objective(weight=1.0).generator_terms(_Context(), {}, g_inputs, base)
  value, aux = objective.generator_terms(_Context(), {}, g_inputs, fake)
  np.testing.assert_allclose(float(value - g_base), 0.5 * expected, rtol=1e-5)
  np.testing.assert_allclose(float(aux['g_code_ce']), expected, rtol=1e-5)
  # With the content term as well: the two add.
  config.objective.mocogan.content_weight = 2.0
  mean = rng.normal(size=(2, 3, 3)).astype(np.float32)
  both = dict(fake, content_mean=jnp.asarray(mean))
  content = np.mean((z[:, None, :3] - mean) ** 2)
  value, _ = objectives.get_objective(config).generator_terms(_Context(), {}, g_inputs, both)
  np.testing.assert_allclose(float(value - g_base), 0.5 * expected + 2.0 * content, rtol=1e-5)
  with pytest.raises(ValueError, match='code_logits'):
    objective.generator_terms(_Context(), {}, g_inputs, base)
  config.model.mocogan.content_codes = 0
  with pytest.raises(ValueError, match='content_codes=2'):
    objectives.get_objective(config)
  config.objective.mocogan.code_weight = -1.0
  with pytest.raises(ValueError, match='code_weight must be >= 0'):
    objectives.get_objective(config)


def test_mocogan_content_head_leaves_the_discriminator_unchanged():
  """model.mocogan.content_head adds only Q_c's parameters under D_I; with the same weights
  D's logits are the model's without it, and Q_c reads z_content's size per scored frame."""
  config = _tiny_video_config('mocogan', **{'model.mocogan.image_frames': 2})
  base = _networks(config)
  config.model.mocogan.content_head = 16
  with_head = _networks(config)
  clips = jax.random.uniform(jax.random.key(1), (3, 4, 16, 16, 1), minval=-1, maxval=1)

  @jax.jit
  def run(key):
    d_vars = with_head.discriminator_init(key)
    params = dict(d_vars['params'])
    image = dict(params['image'])
    head = image.pop('q_head')
    base_vars = {**d_vars, 'params': {**params, 'image': image}}
    chex.assert_trees_all_equal_shapes(base_vars, base.discriminator_init(key))
    out = with_head.discriminator_apply(d_vars, clips, train=False)[0]
    return out, base.discriminator_apply(base_vars, clips, train=False)[0], head

  out, base_out, head = run(jax.random.key(0))
  assert set(head) == {'hidden', 'output'}
  chex.assert_shape(out['content_mean'], (3, 2, 50))
  np.testing.assert_array_equal(out['logit'], base_out['logit'])
  np.testing.assert_array_equal(out['image_logit'], base_out['image_logit'])
  assert 'content_mean' not in base_out
  config.model.mocogan.content_head = -1
  with pytest.raises(ValueError, match='content_head=-1 must be >= 0'):
    _networks(config)


def test_sorted_codes_are_the_order_statistics():
  """sorted_codes: (min, max) of two uniform digits, as real Moving MNIST's pair labels:
  P(a, a) = 1/100, P(a < b) = 2/100."""
  layout = mocogan_model.LatentLayout(3, 2, 4, num_codes=2, code_classes=10, sorted_codes=True)
  codes = np.asarray(layout.codes(layout.sample(jax.random.key(0), 40000)))
  assert (codes[:, 0] <= codes[:, 1]).all()
  counts = np.bincount(codes[:, 0] * 10 + codes[:, 1], minlength=100).reshape(10, 10)
  expected = np.triu(np.full((10, 10), 800.0), 1) + np.diag(np.full(10, 400.0))
  np.testing.assert_allclose(counts, expected, atol=5 * np.sqrt(800))  # 5 sigma.


def test_mocogan_real_code_term_by_hand():
  """L_real = mean over clips, scored real frames and the two codes of Q_c's cross-entropy
  against (label // 10, label % 10), in D's loss only; clear errors."""
  config = default.get_config()
  config.model.name = config.objective.name = 'mocogan'
  config.dataset.name = 'moving_mnist'
  config.model.mocogan.update(content_dim=3, content_head=8, content_codes=2, sorted_codes=True)
  config.objective.mocogan.code_real_weight = 0.5
  objective = objectives.get_objective(config)
  labels = np.array([37, 0])  # Digits (3, 7) and (0, 0).
  targets = np.array([[3, 7], [0, 0]])
  logits = np.random.default_rng(2).normal(size=(2, 3, 2, 10))
  log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  expected = -np.mean([log_p[n, j, i, targets[n, i]]
                       for n in range(2) for j in range(3) for i in range(2)])
  base = {'logit': jnp.zeros(2), 'image_logit': jnp.zeros((2, 3))}
  real = dict(base, code_logits=jnp.asarray(logits, jnp.float32))
  batch = {'label': jnp.asarray(labels)}
  d_base, _ = _objective(weight=1.0).discriminator_terms(_Context(), batch, {}, base, base)
  value, aux = objective.discriminator_terms(_Context(), batch, {}, real, base)
  np.testing.assert_allclose(float(value - d_base), 0.5 * expected, rtol=1e-5)
  np.testing.assert_allclose(float(aux['code_real_accuracy']),
                             np.mean(logits.argmax(-1) == targets[:, None]), rtol=1e-6)
  g_value, g_aux = objective.generator_terms(_Context(), batch, {}, base)
  assert float(g_value) == float(_objective(weight=1.0).generator_terms(
      _Context(), batch, {}, base)[0]) and 'g_code_real_ce' not in g_aux
  # codes_on_fakes=False: D's side has no code term on generated frames, G's keeps it.
  config.objective.mocogan.code_weight = 2.0
  g_inputs = {'z': jnp.asarray(np.concatenate(
      [np.zeros((2, 3)), np.eye(10)[targets].reshape(2, 20), np.zeros((2, 160))], axis=1),
      jnp.float32), 'labels': None}
  fake = dict(base, code_logits=jnp.asarray(logits, jnp.float32))
  with_fakes = objectives.get_objective(config)
  config.objective.mocogan.codes_on_fakes = False
  real_only = objectives.get_objective(config)
  d_value, d_aux = real_only.discriminator_terms(_Context(), batch, g_inputs, real, fake)
  np.testing.assert_allclose(float(d_value - d_base), 0.5 * expected, rtol=1e-5)
  assert 'code_ce' not in d_aux and 'code_real_ce' in d_aux
  d_both, _ = with_fakes.discriminator_terms(_Context(), batch, g_inputs, real, fake)
  np.testing.assert_allclose(float(d_both - d_base), 2.5 * expected, rtol=1e-5)  # Same CE.
  g_base, _ = _objective(weight=1.0).generator_terms(_Context(), batch, g_inputs, base)
  value, aux = real_only.generator_terms(_Context(), batch, g_inputs, fake)
  np.testing.assert_allclose(float(value - g_base), 2.0 * expected, rtol=1e-5)
  config.objective.mocogan.code_real_weight = 0.0
  with pytest.raises(ValueError, match='codes_on_fakes=False leaves Q_c nothing'):
    objectives.get_objective(config)
  config.objective.mocogan.code_real_weight = 0.5
  config.dataset.name = 'moving_mnist_frames'
  with pytest.raises(ValueError, match='labels that are the content codes'):
    objectives.get_objective(config)
  config.model.mocogan.sorted_codes = False
  with pytest.raises(ValueError, match='sorted_codes=True'):
    objectives.get_objective(config)
  config.objective.mocogan.code_real_weight = -1.0
  with pytest.raises(ValueError, match='code_real_weight must be >= 0'):
    objectives.get_objective(config)


def test_mocogan_twin_terms_are_the_matching_aware_mix_by_hand():
  """objective.mocogan.swap_weight w, slow_weight v, shuffle_weight u: D's loss = the loss
  without them + w (l_D(D_V(x), D_V(x_s)) - l_D(D_V(x), D_V(G(z)))) + v (l_D(D_V(x),
  D_V(x_m)) - ...) + u (...x_o...), i.e. (1 - w - v - u) x G's clips + w x the swapped
  + v x the slowed + u x the shuffled clips in D_V's fake term,
  with D_V's logits (training mode: batch statistics of each batch) computed here directly;
  D's collections unchanged; clear errors."""
  from gan_jax import train_step  # pylint: disable=g-import-not-at-top
  fields = {'model.mocogan.image_frames': 2, 'dataset.moving_mnist.swap_clips': True,
            'dataset.moving_mnist.slow_clips': True, 'dataset.moving_mnist.shuffle_clips': True}
  config = _tiny_video_config('mocogan', **fields)
  networks = _networks(config)
  batch = data.batch_for_step(data.load_source(config.dataset), 0, 4, 1)
  batch = jax.tree_util.tree_map(jnp.asarray, batch)
  d_vars = jax.jit(networks.discriminator_init)(jax.random.key(0))
  d_params = d_vars['params']
  d_coll = {k: v for k, v in d_vars.items() if k != 'params'}
  fake = jax.random.uniform(jax.random.key(1), batch['image'].shape, minval=-1, maxval=1)
  g_inputs = {'z': jnp.zeros((4, config.model.latent_dim)), 'labels': None}

  def loss(swap, slow, shuffle=0.0, the_batch=batch):
    config.objective.mocogan.swap_weight = swap
    config.objective.mocogan.slow_weight = slow
    config.objective.mocogan.shuffle_weight = shuffle
    objective = objectives.get_objective(config)
    ctx = train_step.make_context(config, networks)
    return objective.discriminator_loss(ctx, d_params, d_coll, the_batch, g_inputs, fake,
                                        jax.random.key(2), None, 0)

  (base, (coll0, aux0, _, _)), (swapped, (coll1, aux1, _, _)) = loss(0, 0), loss(0.25, 0)
  both, (coll2, aux2, _, _) = loss(0.25, 0.2)
  three, (coll3, aux3, _, _) = loss(0.25, 0.2, 0.15)

  def v_logit(x):  # D_V's logits in training mode (BN: the batch's statistics).
    out, _ = networks.discriminator_apply(d_vars, x, train=True,
                                          rngs={'dropout': jax.random.key(5)})
    return np.asarray(out['logit'], np.float64)

  def l_d(r, f):  # The non-saturating D loss: -log sigmoid(r) - log(1 - sigmoid(f)).
    return np.mean(np.log1p(np.exp(-r))) + np.mean(np.log1p(np.exp(f)))

  r, f, s, m, o = (v_logit(x) for x in (batch['image'], fake, batch[mm.SWAPPED_KEY],
                                         batch[mm.SLOWED_KEY], batch[mm.SHUFFLED_KEY]))
  assert not (np.allclose(s, m) or np.allclose(m, o))  # Different kinds of twin.
  np.testing.assert_allclose(float(swapped - base), 0.25 * (l_d(r, s) - l_d(r, f)),
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(both - base), 0.25 * (l_d(r, s) - l_d(r, f))
                             + 0.2 * (l_d(r, m) - l_d(r, f)), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(three - both), 0.15 * (l_d(r, o) - l_d(r, f)), rtol=1e-4,
                             atol=1e-6)
  np.testing.assert_allclose(float(aux3['d_shuffle_loss']), l_d(r, o), rtol=1e-5)
  np.testing.assert_allclose(float(aux1['d_swap_loss']), l_d(r, s), rtol=1e-5)
  np.testing.assert_allclose(float(aux1['d_swap_logit']), np.mean(s), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(float(aux2['d_slow_loss']), l_d(r, m), rtol=1e-5)
  np.testing.assert_allclose(float(aux2['d_slow_logit']), np.mean(m), rtol=1e-5, atol=1e-6)
  assert float(aux1['d_loss']) == float(aux0['d_loss']) == float(aux2['d_loss'])
  assert 'd_swap_loss' not in aux0 and 'd_slow_loss' not in aux1
  chex.assert_trees_all_equal(coll0, coll1, coll2, coll3)
  plain = {k: batch[k] for k in ('image', 'label')}
  with pytest.raises(ValueError, match='needs the batch\'s identity-swapped clips'):
    loss(0.25, 0, 0, plain)
  with pytest.raises(ValueError, match='needs the batch\'s motion-slowed clips'):
    loss(0, 0.25, 0, plain)
  with pytest.raises(ValueError, match='needs the batch\'s frame-shuffled clips'):
    loss(0, 0, 0.25, plain)
  for swap, slow in ((1.0, 0), (0, -0.1)):
    with pytest.raises(ValueError, match='must be in \\[0, 1\\)'):
      loss(swap, slow)
  with pytest.raises(ValueError, match='must be < 1'):
    loss(0.5, 0.3, 0.2)
  config.dataset.moving_mnist.shuffle_clips = False
  with pytest.raises(ValueError, match='shuffle_clips=True'):
    loss(0, 0, 0.5)
  config.dataset.moving_mnist.swap_clips = False
  with pytest.raises(ValueError, match='swap_clips=True'):
    loss(0.5, 0)
  config.dataset.moving_mnist.slow_clips = False
  with pytest.raises(ValueError, match='slow_clips=True'):
    loss(0, 0.5)


def test_mocogan_minibatch_stddev_acts_in_the_image_discriminator():
  """model.d_minibatch_stddev reaches D_I: a clip's image logits then depend on the other
  clips' frames (without it they do not); D_V is unchanged."""
  outs = {}
  for group in (0, 2):
    config = _tiny_video_config('mocogan', **{'model.mocogan.image_frames': 4,
                                              'model.d_minibatch_stddev.group_size': group})
    networks = _networks(config)
    clips = jax.random.uniform(jax.random.key(1), (4, 4, 16, 16, 1), minval=-1, maxval=1)
    other = clips.at[1].set(-clips[1])  # Only clip 1 changes.

    @jax.jit
    def run(key, networks=networks, clips=clips, other=other):
      d_vars = networks.discriminator_init(key)
      return [networks.discriminator_apply(d_vars, x, train=False)[0] for x in (clips, other)]

    outs[group] = run(jax.random.key(0))
  (a, b), (c, d) = outs[0], outs[2]
  keep = np.array([0, 2, 3])
  np.testing.assert_array_equal(a['image_logit'][keep], b['image_logit'][keep])
  assert not np.allclose(c['image_logit'][keep], d['image_logit'][keep])
  np.testing.assert_array_equal(c['logit'][keep], d['logit'][keep])  # D_V: clip by clip.
  config = _tiny_video_config('video_gan', **{'model.d_minibatch_stddev.group_size': 2})
  with pytest.raises(ValueError, match="MoCoGAN's image D"):
    _networks(config)


def test_mocogan_codes_reach_the_latents_and_the_head():
  """model.mocogan.content_codes: every latent draw has valid one-hot codes (Networks'
  latent_sampler), Q_c adds their logits per scored frame; clear errors."""
  config = _tiny_video_config('mocogan', **{'model.mocogan.image_frames': 2,
                                            'model.mocogan.content_head': 16,
                                            'model.mocogan.content_codes': 2})
  assert config.model.latent_dim == 50 + 2 * 10 + 4 * 10  # The recipe's lazy latent_dim.
  networks = _networks(config)
  z = np.asarray(networks.sample_latents(jax.random.key(0), 6))
  np.testing.assert_array_equal(z[:, 50:70].reshape(6, 2, 10).sum(-1), 1.0)
  clips = jax.random.uniform(jax.random.key(1), (3, 4, 16, 16, 1), minval=-1, maxval=1)
  out = jax.jit(lambda key: networks.discriminator_apply(
      networks.discriminator_init(key), clips, train=False)[0])(jax.random.key(2))
  chex.assert_shape(out['code_logits'], (3, 2, 2, 10))
  chex.assert_shape(out['content_mean'], (3, 2, 50))
  config.model.mocogan.content_head = 0
  with pytest.raises(ValueError, match='needs the content head'):
    _networks(config)
  config.model.mocogan.content_codes = -1
  with pytest.raises(ValueError, match='content_codes=-1 must be >= 0'):
    _networks(config)


# ---- slow: MoCoGAN's networks, the train step on 1 and 8 devices, the recipes ---------------

def _tiny_video_config(name, **fields):
  """A recipe's smoke config at 4 frames of 16x16, widths 4, one device, SGD (parallel tests)."""
  config = importlib.import_module(f'configs.{name}').get_config('smoke')
  config.dataset.moving_mnist.num_frames = 4
  config.dataset.image_size = 16
  config.model.g_width = config.model.d_width = 4
  config.model.conv3d.conv_impl = 'matmul'
  config.parallel = 'none'
  for player in ('g', 'd'):
    config.optim[player].name = 'sgd'
    config.optim[player].lr = 0.05
  for path, value in fields.items():
    overrides_lib.set_field(config, path, value)
  return config


def _networks(config, data_shape=(4, 16, 16, 1)):
  return models.build_networks(config.model, data_shape)


@pytest.mark.slow
def test_mocogan_shapes_gradients_and_motion():
  config = _tiny_video_config('mocogan', **{'model.mocogan.image_frames': 2})
  assert config.model.latent_dim == 50 + 4 * 10  # Tied to the layout by the recipe.
  networks = _networks(config)
  layout = mocogan_model.latent_layout(config.model, 4)
  # Content fixed, motion varying: 2 contents x 2 motions, and the same latents with the
  # motion noise of frames 3 and 4 redrawn.
  grid = layout.grid(jax.random.key(4), num_contents=2, num_motions=2)
  content, initial, eps = layout.split(grid)
  eps_later = eps.at[:, 2:].set(jax.random.normal(jax.random.key(5), eps[:, 2:].shape))
  later = layout.join(content, initial, eps_later)

  @jax.jit  # One compilation for all of it (eager init and gradients compile op by op).
  def run(key):
    k_g, k_d, k_drop = jax.random.split(key, 3)
    g_vars = networks.generator_init(k_g)
    d_vars = networks.discriminator_init(k_d)
    rngs = {'dropout': k_drop}
    clips, _ = networks.generator_apply(g_vars, grid, train=True)
    out, _ = networks.discriminator_apply(d_vars, clips, train=True, rngs=rngs)

    def g_objective(params):
      fake, _ = networks.generator_apply({**g_vars, 'params': params}, grid, train=True)
      d_out, _ = networks.discriminator_apply(d_vars, fake, train=True, rngs=rngs)
      return jnp.sum(d_out['logit']) + jnp.sum(d_out['image_logit'])

    def d_head(params, head):
      d_out, _ = networks.discriminator_apply({**d_vars, 'params': params}, clips, train=True,
                                              rngs=rngs)
      return jnp.sum(d_out[head])

    d_grads = {h: jax.grad(d_head)(d_vars['params'], h) for h in ('logit', 'image_logit')}
    evaluated = [networks.generator_apply(g_vars, z, train=False)[0] for z in (grid, later)]
    return clips, out, jax.grad(g_objective)(g_vars['params']), d_grads, evaluated

  clips, out, g_grads, d_grads, (a, b) = run(jax.random.key(0))
  chex.assert_shape(clips, (4, 4, 16, 16, 1))
  assert float(jnp.max(jnp.abs(clips))) <= 1.0
  chex.assert_shape(out['logit'], (4,))
  chex.assert_shape(out['image_logit'], (4, 2))
  # Every parameter of G gets a gradient, the GRU's included.
  assert {'motion', 'image_generator'} <= set(g_grads)
  for path, leaf in jax.tree_util.tree_leaves_with_path(g_grads):
    assert np.all(np.isfinite(leaf)) and np.any(leaf != 0), jax.tree_util.keystr(path)
  for head, own in (('logit', 'video'), ('image_logit', 'image')):
    # Each head trains only its own discriminator.
    norms = {k: float(optax.global_norm(v)) for k, v in d_grads[head].items()}
    assert norms[own] > 0 and all(v == 0 for k, v in norms.items() if k != own), (head, norms)
  # Frame t depends on eps_1..eps_t only (the GRU is causal; BatchNorm in evaluation mode is
  # per frame), and one content with another motion is another clip.
  scale = float(jnp.max(jnp.abs(a)))  # Small at initialization (weights ~ N(0, 0.02)).
  np.testing.assert_allclose(a[:, :2], b[:, :2], atol=1e-4 * scale)
  assert float(jnp.max(jnp.abs(a[:, 2:] - b[:, 2:]))) > 0.05 * scale
  assert float(jnp.max(jnp.abs(a[0] - a[1]))) > 0.05 * scale

  # Evaluation mode: fixed, evenly spaced frames; training mode: distinct frames per clip,
  # a function of the 'dropout' key.
  np.testing.assert_array_equal(mocogan_model.frame_indices(4, 2, None, 3), [[0, 3]] * 3)
  drawn = np.asarray(mocogan_model.frame_indices(16, 5, jax.random.key(0), 200))
  assert all(len(set(row)) == 5 for row in drawn) and np.all(np.diff(drawn, axis=1) > 0)
  assert len({tuple(r) for r in drawn}) > 150
  counts = np.bincount(drawn.ravel(), minlength=16)
  assert counts.min() > 0.5 * counts.mean()  # Every frame is drawn, roughly uniformly.
  with pytest.raises(ValueError, match='model.latent_dim=91'):
    _networks(_tiny_video_config('mocogan', **{'model.latent_dim': 91}))


def test_mocogan_random_initial_state_starts_the_gru_from_the_latent():
  """random_initial_state=True adds h_0 (motion_dim entries) to the latent; h_0 = 0 gives the
  default model's clips with the same weights (the default's numbers are unchanged), and
  another h_0 changes every frame, the first included."""
  config = _tiny_video_config('mocogan')
  base, base_layout = _networks(config), mocogan_model.latent_layout(config.model, 4)
  config.model.mocogan.random_initial_state = True
  assert config.model.latent_dim == 50 + 10 + 4 * 10  # Tied to the layout by the recipe.
  random_h0 = _networks(config)
  layout = mocogan_model.latent_layout(config.model, 4)
  assert layout.initial_state_dim == 10
  content, initial, eps = layout.split(layout.grid(jax.random.key(2), 2, 2))

  @jax.jit
  def run(key):
    g_vars = base.generator_init(key)
    chex.assert_trees_all_equal_shapes(g_vars, random_h0.generator_init(key))
    z0 = base_layout.join(content, initial[:, :0], eps)
    clips = [base.generator_apply(g_vars, z0, train=False)[0]]
    for h0 in (jnp.zeros_like(initial), initial):
      z = layout.join(content, h0, eps)
      clips.append(random_h0.generator_apply(g_vars, z, train=False)[0])
    return clips

  zero_state, zero_h0, drawn_h0 = run(jax.random.key(0))
  np.testing.assert_allclose(zero_h0, zero_state, rtol=0, atol=1e-6)
  scale = float(jnp.max(jnp.abs(zero_state)))
  diff = jnp.max(jnp.abs(drawn_h0 - zero_state), axis=(0, 2, 3, 4))  # Per frame.
  assert float(jnp.min(diff)) > 0.05 * scale, diff


@pytest.mark.slow
@pytest.mark.parametrize('name,fields', [
    ('video_gan', {}),
    # image_frames = T: D_I scores every frame in order. Frames drawn per clip (k < T) use
    # the per-device 'dropout' key, like dropout: the same on every wrapper for a device
    # count, not between device counts (docs/training.md).
    ('mocogan', {'model.mocogan.image_frames': 4}),
    # The content term: Q_c's targets are each device's share of the global latents.
    ('mocogan', {'model.mocogan.image_frames': 4, 'model.mocogan.content_head': 8,
                 'objective.mocogan.content_weight': 1.0}),
    # Categorical content codes: drawn globally by the layout, each device's share read back;
    # anchored on each device's real clips' digits.
    ('mocogan', {'model.mocogan.image_frames': 4, 'model.mocogan.content_head': 8,
                 'model.mocogan.content_codes': 2, 'objective.mocogan.code_weight': 1.0,
                 'model.mocogan.sorted_codes': True, 'objective.mocogan.code_real_weight': 1.0}),
    # Identity-swapped and motion-slowed real clips in D_V's fake term: each device's share
    # of the batch's twins.
    ('mocogan', {'model.mocogan.image_frames': 4, 'dataset.moving_mnist.swap_clips': True,
                 'objective.mocogan.swap_weight': 0.4, 'dataset.moving_mnist.slow_clips': True,
                 'objective.mocogan.slow_weight': 0.2, 'dataset.moving_mnist.shuffle_clips': True,
                 'objective.mocogan.shuffle_weight': 0.2}),
])
def test_recipes_match_on_8_devices(name, fields, tfds_data_dir):
  config = _tiny_video_config(name, **fields)
  config.dataset.data_dir = tfds_data_dir
  networks = _networks(config)
  state0 = state_lib.create_state(config, networks, jax.random.key(0))
  batch = data.batch_for_step(data.load_source(config.dataset), 0, 16, 1)
  (s1, m1), runs = helpers.single_and_parallel(config, networks, state0, batch,
                                               jax.random.key(3))
  if name == 'mocogan':
    assert 'd_image_loss' in m1 and 'g_image_loss' in m1
    assert ('content_error' in m1) == ('objective.mocogan.content_weight' in fields)
    assert ('code_ce' in m1) == ('objective.mocogan.code_weight' in fields)
    assert ('code_real_ce' in m1) == ('objective.mocogan.code_real_weight' in fields)
    assert ('d_swap_loss' in m1) == ('objective.mocogan.swap_weight' in fields)
    assert ('d_slow_loss' in m1) == ('objective.mocogan.slow_weight' in fields)
    assert ('d_shuffle_loss' in m1) == ('objective.mocogan.shuffle_weight' in fields)
  for mode, (s, m) in runs.items():
    # Reductions in another order: float32 rounding through 2 SGD steps.
    for field in ('g_params', 'd_params', 'g_collections', 'd_collections'):
      assert helpers.max_abs_diff(getattr(s1, field), getattr(s, field)) < 1e-5, (mode, field)
    np.testing.assert_allclose(float(m['d_loss']), float(m1['d_loss']), rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['video_gan', 'mocogan'])
def test_recipe_trains_and_checkpoints(name, tfds_data_dir, tmp_path):
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  config = _tiny_video_config(name, **{'optim.g.name': 'adam', 'optim.d.name': 'adam'})
  config.dataset.data_dir = tfds_data_dir
  config.num_train_steps = 4
  config.checkpoint_every = config.sample_every = 2
  workdir = str(tmp_path)
  row = train.train_and_evaluate(config, workdir)
  assert row['step'] == 4 and np.isfinite(row['d_loss']) and np.isfinite(row['g_loss'])
  if name == 'mocogan':
    assert np.isfinite(row['d_image_loss']) and np.isfinite(row['g_image_loss'])
  checkpoints = os.listdir(os.path.join(workdir, 'checkpoints'))
  assert {'2', '4'} <= set(checkpoints), checkpoints
  saved, _, networks, state, _ = sampling.load_run(workdir)
  latents = None
  if name == 'mocogan':  # Clips of one content with three motions, from the saved run.
    latents = mocogan_model.latent_layout(saved.model, networks.data_shape[0]).grid(
        jax.random.key(1), num_contents=1, num_motions=3)
  clips = sampling.generate(networks, state, 3, jax.random.key(0), latents=latents)
  chex.assert_shape(clips, (3, *networks.data_shape))
  assert networks.data_shape == (config.dataset.moving_mnist.num_frames,
                                 config.dataset.image_size, config.dataset.image_size, 1)
