"""3-D convolutions, the 3-D GANs (video_gan, gan3d), voxel shapes, their metrics and outputs.

Fast: the 3-D (transposed) convolutions of every implementation against scipy (float64,
atol 1e-4 on O(1) values: float32 sums of <= 200 products), the layers against flax's
nn.Conv, gradients of 'matmul' against 'xla'; the architectures' shapes (jax.eval_shape, no
compile); voxel shape generation (volumes against the analytic volume, determinism, splits,
labels); the connected-component metric on hand-made grids; a rendering PNG.
Slow (-m slow): gradients of both architectures, pmap == one device for the gan3d recipe, a
short training run of the recipe that writes its samples, evaluate() on a tiny budget.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from gan_jax.models import conv3d

TOL = dict(rtol=1e-5, atol=1e-4)
# (input shape (N, D, H, W, C), kernel (kd, kh, kw), strides, padding, C_out): 3D-GAN's
# stage, a video stage (time stride 1, kernel 3), an odd geometry (per-axis everything, a
# crop of the padded input), and a many-to-one-channel stage (the transposed conv's
# scattered form: C_in > s_d s_h s_w C_out).
GEOMETRIES = [((2, 3, 4, 5, 2), (4, 4, 4), (2, 2, 2), (1, 1, 1), 3),
              ((1, 4, 4, 4, 3), (3, 4, 4), (1, 2, 2), (1, 1, 1), 2),
              ((1, 5, 5, 4, 2), (3, 3, 2), (2, 1, 3), (0, 1, 1), 2),
              ((1, 3, 4, 3, 9), (4, 3, 4), (2, 1, 2), (1, 1, 1), 1)]


def _random(shape, seed):
  return np.random.default_rng(seed).normal(size=shape)


def _reference_conv(x, w, strides, padding):
  """sum_i correlate(x_pad[n, ..., i], w[..., i, o], 'valid') subsampled by the strides."""
  xp = np.pad(x, ((0, 0), *((p, p) for p in padding), (0, 0)))
  n, cout = x.shape[0], w.shape[-1]
  out = [[sum(signal.correlate(xp[b, ..., i], w[..., i, o], mode='valid')
              for i in range(x.shape[-1]))[::strides[0], ::strides[1], ::strides[2]]
          for o in range(cout)] for b in range(n)]
  return np.moveaxis(np.asarray(out), 1, -1)


def _reference_conv_transpose(x, w, strides, padding):
  """PyTorch's transposed convolution: the input dilated by the strides, 'full' convolution
  with w[..., i, o], summed over i, `padding` cropped from each side."""
  n, d, h, wd, cin = x.shape
  dil = np.zeros((n, (d - 1) * strides[0] + 1, (h - 1) * strides[1] + 1,
                  (wd - 1) * strides[2] + 1, cin))
  dil[:, ::strides[0], ::strides[1], ::strides[2]] = x
  out = np.asarray([[sum(signal.convolve(dil[b, ..., i], w[..., i, o], mode='full')
                         for i in range(cin)) for o in range(w.shape[-1])] for b in range(n)])
  out = np.moveaxis(out, 1, -1)
  pd, ph, pw = padding
  return out[:, pd:out.shape[1] - pd, ph:out.shape[2] - ph, pw:out.shape[3] - pw]


@pytest.mark.parametrize('geometry', GEOMETRIES)
@pytest.mark.parametrize('impl', ['xla', 'matmul'])
def test_conv3d_matches_scipy(impl, geometry):
  shape, kernel, strides, padding, cout = geometry
  x, w = _random(shape, 0), _random((*kernel, shape[-1], cout), 1)
  fn = jax.jit(conv3d.CONV_IMPLEMENTATIONS[impl], static_argnums=(2, 3))
  got = fn(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32), strides, padding)
  np.testing.assert_allclose(got, _reference_conv(x, w, strides, padding), **TOL)


@pytest.mark.parametrize('geometry', GEOMETRIES)
@pytest.mark.parametrize('impl', ['xla', 'matmul'])
def test_conv_transpose3d_matches_scipy(impl, geometry):
  shape, kernel, strides, padding, cout = geometry
  x, w = _random(shape, 2), _random((*kernel, shape[-1], cout), 3)
  fn = jax.jit(conv3d.CONV_TRANSPOSE_IMPLEMENTATIONS[impl], static_argnums=(2, 3))
  got = fn(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32), strides, padding)
  want = _reference_conv_transpose(x, w, strides, padding)
  expected = [(n - 1) * s - 2 * p + k for n, s, p, k in zip(shape[1:4], strides, padding,
                                                             kernel)]
  assert got.shape == (shape[0], *expected, cout) == want.shape
  np.testing.assert_allclose(got, want, **TOL)


def test_conv3d_layer_is_flax_conv():
  """Conv3D has nn.Conv's parameters and function (both implementations)."""
  x = jnp.asarray(_random((2, 4, 6, 6, 3), 4), jnp.float32)
  variables = {'params': {'kernel': jnp.asarray(_random((3, 4, 4, 3, 5), 5), jnp.float32),
                          'bias': jnp.asarray(_random((5,), 6), jnp.float32)}}
  want = nn.Conv(5, (3, 4, 4), (1, 2, 2), padding=((1, 1),) * 3).apply(variables, x)
  for impl in ('xla', 'matmul'):
    layer = conv3d.Conv3D(5, (3, 4, 4), (1, 2, 2), 1, implementation=impl)
    np.testing.assert_allclose(jax.jit(layer.apply)(variables, x), want, **TOL)


@pytest.mark.slow
@pytest.mark.parametrize('transpose', [False, True])
def test_implementations_have_equal_gradients(transpose):
  """Input and kernel gradients and a jvp (plain autodiff: every mode) of both layers agree
  between 'matmul' and 'xla' (atol 1e-4)."""
  layer = conv3d.ConvTranspose3D if transpose else conv3d.Conv3D
  x = jnp.asarray(_random((2, 4, 6, 6, 3), 4), jnp.float32)
  modules = {impl: layer(5, (3, 4, 4), (1, 2, 2), 1, implementation=impl)
             for impl in ('xla', 'matmul')}
  variables = jax.jit(modules['xla'].init)(jax.random.key(0), x)
  cotangent = jnp.asarray(_random(modules['xla'].apply(variables, x).shape, 5), jnp.float32)
  grads = {impl: jax.jit(jax.grad(lambda v, x_, m=m: jnp.sum(m.apply(v, x_) * cotangent),
                                  (0, 1)))(variables, x) for impl, m in modules.items()}
  close = lambda a, b: np.testing.assert_allclose(a, b, **TOL)
  jax.tree.map(close, grads['matmul'], grads['xla'])
  tangent = jnp.ones_like(x)
  close(*[jax.jit(lambda x_, t, m=m: jax.jvp(lambda y: m.apply(variables, y), (x_,), (t,))[1])(
      x, tangent) for m in modules.values()])


def test_bad_layer_inputs_are_clear_errors():
  with pytest.raises(ValueError, match=r'\(N, D, H, W, C\)'):
    conv3d.Conv3D(2).init(jax.random.key(0), jnp.zeros((1, 4, 4, 1)))
  with pytest.raises(ValueError, match='implementation'):
    conv3d.Conv3D(2, implementation='cudnn').init(jax.random.key(0), jnp.zeros((1, 4, 4, 4, 1)))
  with pytest.raises(ValueError, match='three ints'):
    conv3d.as_triple((2, 2), 'strides')
  with pytest.raises(ValueError, match='even'):
    conv3d.stage_kernel((2, 2, 2), 3)


# ---- architectures ----------------------------------------------------------------------

def _model_config(name, **fields):
  from tests import helpers  # pylint: disable=g-import-not-at-top
  return helpers.model_config(name, **fields)


@pytest.mark.parametrize('name,shape,base,strides', [
    ('gan3d', (32, 32, 32, 1), (4, 4, 4), ((2, 2, 2),) * 3),
    ('gan3d', (64, 64, 64, 1), (4, 4, 4), ((2, 2, 2),) * 4),
    ('video_gan', (16, 64, 64, 3), (2, 4, 4), ((1, 2, 2),) + ((2, 2, 2),) * 3),
    ('video_gan', (32, 64, 64, 1), (2, 4, 4), ((2, 2, 2),) * 4),
    ('video_gan', (8, 28, 28, 1), (2, 7, 7), ((2, 2, 2),) * 2),
    ('video_gan', (5, 32, 32, 1), (5, 4, 4), ((1, 2, 2),) * 3),
])
def test_architecture_geometry_and_shapes(name, shape, base, strides):
  """G's first map and strides (time halves in the last stages, keeping >= 2 frames), and G
  / D output shapes for every geometry (jax.eval_shape: traced, not compiled)."""
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  geometry = conv3d.voxel_geometry if name == 'gan3d' else conv3d.video_geometry
  assert geometry(shape) == (base, strides)
  networks = models.build_networks(_model_config(name, g_width=4, d_width=4), shape)
  g_vars = jax.eval_shape(networks.generator_init, jax.random.key(0))
  d_vars = jax.eval_shape(networks.discriminator_init, jax.random.key(1))
  z = jax.ShapeDtypeStruct((3, networks.latent_dim), jnp.float32)
  x = jax.ShapeDtypeStruct((3, *shape), jnp.float32)
  fake = jax.eval_shape(lambda v, z_: networks.generator_apply(v, z_, train=True)[0],
                        g_vars, z)
  logits = jax.eval_shape(lambda v, x_: networks.discriminator_apply(v, x_, train=True)[0],
                          d_vars, x)
  assert fake.shape == (3, *shape) and logits.shape == (3,)
  # Widths: G's last hidden map is g_width, D's first conv d_width, doubling per stage.
  assert g_vars['params'][f'up{len(strides) - 1}']['kernel'].shape[-2:] == (4, shape[-1])
  assert d_vars['params']['down0']['kernel'].shape[-1] == 4
  assert d_vars['params'][f'down{len(strides) - 1}']['kernel'].shape[-1] == 4 * 2 ** (
      len(strides) - 1)


def test_architectures_refuse_bad_shapes_and_fields():
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='cubic'):
    models.build_networks(_model_config('gan3d'), (32, 32, 16, 1))
  with pytest.raises(ValueError, match='clips'):
    models.build_networks(_model_config('video_gan'), (64, 64, 1))
  with pytest.raises(ValueError, match='side'):
    models.build_networks(_model_config('video_gan'), (16, 36, 36, 1))
  with pytest.raises(ValueError, match='conv3d.conv_impl'):
    models.build_networks(_model_config('gan3d', **{'conv3d.conv_impl': 'fast'}), (32,) * 3 + (1,))
  with pytest.raises(ValueError, match='d_conditioning'):
    models.build_networks(_model_config('gan3d', d_conditioning='concat'), (32,) * 3 + (1,), 5)


# ---- voxel shapes -----------------------------------------------------------------------

def _dataset(split='train', **voxel_fields):
  from configs import default  # pylint: disable=g-import-not-at-top
  cfg = default.get_config().dataset
  cfg.name, cfg.split = 'voxel_shapes', split
  for name, value in voxel_fields.items():
    cfg.voxels[name] = value
  return cfg


def test_voxel_volumes_match_the_analytic_volumes():
  """Occupied voxels x voxel volume vs the solid's analytic volume, 10 shapes per kind at
  32^3: each within 5% (surface voxels: measured <= 2.9% over 500 shapes), the mean error
  per kind within 1% (measured <= 0.14%: the errors cancel)."""
  from gan_jax.data import voxels  # pylint: disable=g-import-not-at-top
  examples = voxels.load(_dataset()).examples
  errors = {k: [] for k in range(voxels.NUM_CLASSES)}
  for i in range(50):
    params = examples.parameters(i)
    grid = examples[i]['image']
    measured = np.sum(grid > 0) * (2.0 / 32) ** 3
    errors[params.kind].append(measured / voxels.analytic_volume(params) - 1)
  for kind, errs in errors.items():
    assert len(errs) == 10, kind
    assert np.max(np.abs(errs)) < 0.05, (voxels.KINDS[kind], errs)
    assert abs(np.mean(errs)) < 0.01, (voxels.KINDS[kind], errs)


def test_voxel_shapes_fit_their_bounding_sphere_inside_the_grid():
  """Every occupied voxel centre lies within the bounding radius of the centre, and that
  ball lies inside [-1, 1]^3; the grid holds only +1 / -1."""
  from gan_jax.data import voxels  # pylint: disable=g-import-not-at-top
  examples = voxels.load(_dataset(size=16)).examples
  centres = voxels.voxel_centres(16)
  for i in range(25):
    params, grid = examples.parameters(i), examples[i]['image']
    assert grid.shape == (16, 16, 16, 1) and grid.dtype == np.float32
    assert set(np.unique(grid)) <= {-1.0, 1.0} and np.any(grid > 0)
    occupied = centres[grid.reshape(-1) > 0]
    assert np.linalg.norm(occupied - params.centre, axis=1).max() <= params.radius + 1e-9
    assert np.all(np.abs(params.centre) + params.radius <= 1 + 1e-9)
    np.testing.assert_allclose(params.rotation @ params.rotation.T, np.eye(3), atol=1e-12)


def test_voxel_shapes_are_a_function_of_seed_and_index():
  from gan_jax.data import voxels  # pylint: disable=g-import-not-at-top
  a = voxels.load(_dataset(size=16), seed=0).examples
  b = voxels.load(_dataset(size=16), seed=7).examples  # The run's seed is not used.
  for i in (0, 3, 49_999):
    np.testing.assert_array_equal(a[i]['image'], b[i]['image'])
  other = voxels.load(_dataset(size=16, seed=1)).examples
  assert not np.array_equal(a[0]['image'], other[0]['image'])
  # A slice holds the same shapes at the same global indices.
  part = voxels.load(_dataset('train[10:20]', size=16)).examples
  np.testing.assert_array_equal(part[3]['image'], a[13]['image'])


def test_voxel_splits_are_disjoint_and_labels_are_the_kinds():
  from gan_jax.data import voxels  # pylint: disable=g-import-not-at-top
  train = voxels.split_indices('train', 100, 20)
  test = voxels.split_indices('test', 100, 20)
  np.testing.assert_array_equal(train, np.arange(100))
  np.testing.assert_array_equal(test, np.arange(100, 120))
  np.testing.assert_array_equal(voxels.split_indices('train[-5:]+test[:2]', 100, 20),
                                [95, 96, 97, 98, 99, 100, 101])
  source = voxels.load(_dataset('test[:10]', size=16, num_train=100, num_test=20))
  assert source.num_classes == 5 and source.data_shape == (16, 16, 16, 1) and len(source) == 10
  grids, labels = source.examples.arrays()
  np.testing.assert_array_equal(labels, np.arange(100, 110) % 5)
  assert grids.shape == (10, 16, 16, 16, 1)
  with pytest.raises(ValueError, match="'train', 'test'"):
    voxels.load(_dataset('valid'))
  with pytest.raises(ValueError, match='no voxel shape'):
    voxels.load(_dataset('train[5:5]'))
  with pytest.raises(ValueError, match='scale_min'):
    voxels.load(_dataset(scale_max=1.5))


# ---- metrics and files ------------------------------------------------------------------

def test_largest_component_fraction_on_hand_made_grids():
  from gan_jax.metrics import voxels as voxel_metrics  # pylint: disable=g-import-not-at-top
  grids = -np.ones((5, 8, 8, 8, 1), np.float32)
  grids[0, 1:4, 1:4, 1:4] = 1.0             # A 27-voxel cube and one voxel apart: 27 / 28.
  grids[0, 6, 6, 6] = 1.0
  grids[1, 2, 2, 2] = grids[1, 3, 3, 2] = 1.0  # Edge neighbours only: not 6-connected, 1/2.
  grids[2, 2, 2, 2] = grids[2, 3, 2, 2] = 1.0  # Face neighbours: one component.
  grids[3, 0, 0, :5] = 0.5                   # A rod of 5 (values > 0) and a lone voxel.
  grids[3, 7, 7, 7] = 0.1
  grids[3, 5, 5, 5] = 0.0                    # 0 is not occupied.
  # grids[4] is empty: fraction 0.
  np.testing.assert_allclose(voxel_metrics.largest_component_fraction(grids),
                             [27 / 28, 0.5, 1.0, 5 / 6, 0.0])
  stats = voxel_metrics.component_statistics(grids)
  np.testing.assert_allclose(stats['component_fraction'], (27 / 28 + 0.5 + 1 + 5 / 6) / 5)
  assert stats['empty_fraction'] == 0.2
  np.testing.assert_allclose(stats['occupancy'], (28 + 2 + 2 + 6) / (5 * 512))


def test_renderings_and_npy_are_written(tmp_path):
  """BASE.png holds each shape's three max-projections; BASE.npy the grids."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from gan_jax.modalities import voxels as voxel_files  # pylint: disable=g-import-not-at-top
  grids = -np.ones((2, 8, 8, 8, 1), np.float32)
  grids[0, 1, 2, 3] = 1.0
  views = voxel_files.projections(grids)
  assert views.shape == (2, 8, 26, 1)
  lit = np.argwhere(views[0, ..., 0] > 0)  # Along D: (H, W) = (2, 3); H: (1, 3); W: (1, 2).
  np.testing.assert_array_equal(lit, [[1, 9 + 3], [1, 18 + 2], [2, 3]])
  base = str(tmp_path / 'shapes')
  paths = voxel_files.write_outputs(None, grids, np.array([0, 4]), base)
  assert paths[0] == base + '.png' and base + '.npy' in paths and base + '_labels.npy' in paths
  with Image.open(base + '.png') as png:
    assert png.size[0] > 2 * 26 and png.size[1] >= 2 * 8
  np.testing.assert_array_equal(np.load(base + '.npy'), grids)


# ---- slow: gradients, devices, a run -----------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize('name,shape,fields', [
    ('video_gan', (4, 16, 16, 3), {'conv3d.d_normalization': 'layer'}),
    ('gan3d', (16, 16, 16, 1), {'g_conditioning': 'cbn', 'd_conditioning': 'projection',
                                'd_class_head': True}),
])
def test_architecture_gradients(name, shape, fields):
  """G's samples lie in [-1, 1]; every parameter of G and D gets a finite, non-zero gradient;
  D with 'layer' normalization scores each example alone (gradient penalties need it)."""
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  conditional = 'g_conditioning' in fields
  networks = models.build_networks(_model_config(name, g_width=4, d_width=4, **fields), shape,
                                   5 if conditional else None)
  g_vars = jax.jit(networks.generator_init)(jax.random.key(0))
  d_vars = jax.jit(networks.discriminator_init)(jax.random.key(1))
  z = jax.random.normal(jax.random.key(2), (4, networks.latent_dim))
  labels = jnp.arange(4) % 5 if conditional else None

  def g_loss(g_params):
    fake, _ = networks.generator_apply({**g_vars, 'params': g_params}, z, labels, train=True)
    out, _ = networks.discriminator_apply(d_vars, fake, labels, train=True)
    logit = out['logit'] if isinstance(out, dict) else out
    return jnp.sum(logit), fake

  def d_loss(d_params, x):
    out, _ = networks.discriminator_apply({**d_vars, 'params': d_params}, x, labels, train=True)
    return jnp.sum(out['logit'] if isinstance(out, dict) else out) + (
        jnp.sum(out['class_logits'][:, 0]) if isinstance(out, dict) else 0.0)

  (_, fake), g_grads = jax.jit(jax.value_and_grad(g_loss, has_aux=True))(g_vars['params'])
  assert fake.shape == (4, *shape) and float(jnp.max(jnp.abs(fake))) <= 1.0
  d_grads, x_grads = jax.jit(jax.grad(d_loss, (0, 1)))(d_vars['params'], fake)
  for path, grad in jax.tree_util.tree_leaves_with_path({'g': g_grads, 'd': d_grads}):
    assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.max(jnp.abs(grad))) > 0, path
  if fields.get('conv3d.d_normalization') == 'layer':
    # d logit_0 / d x_1 = 0: no mixing across the batch.
    cross = jax.grad(lambda x: networks.discriminator_apply(d_vars, x, train=True)[0][0])(fake)
    assert float(jnp.max(jnp.abs(cross[1:]))) == 0.0
    assert float(jnp.max(jnp.abs(x_grads))) > 0


def _recipe(variant='smoke', **fields):
  from configs import gan3d  # pylint: disable=g-import-not-at-top
  from gan_jax import overrides  # pylint: disable=g-import-not-at-top
  config = gan3d.get_config(variant)
  for path, value in fields.items():
    overrides.set_field(config, path, value)
  return config


@pytest.mark.slow
def test_gan3d_recipe_pmap_and_shard_map_match_one_device():
  """Two steps of the gan3d recipe (smoke: 16^3, widths 4 here) on one device and on 8 fake
  devices (BatchNorm synchronized): the same parameters up to float32 reduction order."""
  from gan_jax import models, state as state_lib  # pylint: disable=g-import-not-at-top
  from gan_jax.data import voxels  # pylint: disable=g-import-not-at-top
  from tests import helpers  # pylint: disable=g-import-not-at-top
  config = _recipe(**{'model.g_width': 4, 'model.d_width': 4, 'model.latent_dim': 16})
  source = voxels.load(config.dataset)
  networks = models.build_networks(config.model, source.data_shape)
  state0 = state_lib.create_state(config, networks, jax.random.key(0))
  grids, labels = source.examples.arrays(0, config.batch_size)
  batch = {'image': jnp.asarray(grids), 'label': jnp.asarray(labels)}
  (s1, m1), runs = helpers.single_and_parallel(config, networks, state0, batch,
                                               jax.random.key(3))
  for mode, (s, m) in runs.items():
    # Adam's first steps move each weight by ~lr whatever the gradient's scale: 1e-5 is a
    # small fraction of lr 2e-4; the loss agrees to float32 reduction order.
    assert helpers.max_abs_diff(s1.g_params, s.g_params) < 1e-5, mode
    assert helpers.max_abs_diff(s1.d_params, s.d_params) < 1e-5, mode
    assert helpers.max_abs_diff(s1.g_collections, s.g_collections) < 1e-4, mode
    assert helpers.max_abs_diff(s1.d_collections, s.d_collections) < 1e-4, mode
    np.testing.assert_allclose(float(m['g_loss']), float(m1['g_loss']), rtol=1e-4)


@pytest.mark.slow
def test_gan3d_recipe_trains_writes_samples_and_evaluates(tmp_path):
  """The smoke recipe through train_and_evaluate: samples (projection PNG, isosurface PNG,
  .npy) at every sample step and the voxel protocol at the last step, its numbers beside
  the real floor; then the floor itself (real_split) through evaluate()."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from gan_jax import evaluation, sampling, train  # pylint: disable=g-import-not-at-top
  config = _recipe('smoke,eval_every=6', **{'eval.cache_dir': str(tmp_path / 'cache'),
                                            'model.g_width': 8, 'model.d_width': 8})
  config.parallel = 'none'
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  files = set(os.listdir(os.path.join(workdir, 'samples')))
  for step in (3, 6):
    assert {f'step_{step:07d}.png', f'step_{step:07d}.npy'} <= files
  assert 'latest.png' in files
  grids = np.load(os.path.join(workdir, 'samples', 'step_0000006.npy'))
  assert grids.shape == (16, 16, 16, 16, 1) and np.abs(grids).max() <= 1
  with open(os.path.join(workdir, 'eval', 'step_6.json')) as f:
    results = json.load(f)
  p = results['protocol']
  assert p['kind'] == 'voxels' and p['num_samples'] == 50 and p['num_reference'] == 50
  assert p['checkpoint_step'] == 6 and os.path.exists(p['weights_path'])
  assert len(results['class_histogram']) == 5
  np.testing.assert_allclose(sum(results['class_histogram']), 1.0, rtol=1e-6)
  for name in ('fid', 'floor_fid', 'component_fraction', 'floor_component_fraction',
               'class_histogram_kl_uniform', 'classifier_accuracy'):
    assert np.isfinite(results[name]), name
  assert 0 <= results['component_fraction'] <= 1
  # Real solids are one piece, up to a thin tip or tube touching by an edge at 16^3.
  assert results['floor_component_fraction'] > 0.99
  config, source, networks, state, _ = sampling.load_run(workdir)
  floor = evaluation.evaluate(config, networks, state, source, real_split='train[1000:]')
  assert floor['protocol']['samples'].startswith('real shapes')
  assert floor['floor_fid'] == results['floor_fid']  # The same cached floor.
  with pytest.raises(ValueError, match='share'):
    evaluation.evaluate(config, networks, state, source, real_split='test')
