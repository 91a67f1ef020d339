"""Inception-v3 feature extractor for FID / IS / KID: the FID variant of the
2015-12-05 TensorFlow graph (Szegedy et al. 2016 architecture; FID by Heusel et al. 2017).

Outputs 'pool3' (N, 2048), the global average pool used for FID and KID, and 'logits'
(N, 1008), the 1008-way classifier used for the Inception Score. The FID variant differs
from the ImageNet Inception-v3 of most libraries: BatchNorm eps 1e-3, average pools in
the Mixed_5*/6*/7b blocks exclude the zero padding from their count (as TensorFlow), and
the last block (Mixed_7c) pools its branch with a 3x3 *max* pool. Use the standard FID
weights `pt_inception-2015-12-05-6726825d.pth` (a PyTorch state_dict of that graph),
loaded from a local path; this module never downloads anything.

Input pipeline, as the reference FID code: images NHWC in [-1, 1] (or [0, 1], see
`input_range`) -> [0, 1] -> bilinear resize to 299x299 (half-pixel centres, no
antialiasing, like torch `F.interpolate(mode='bilinear', align_corners=False)`) -> 2x - 1.
Grayscale (C=1) images are repeated to 3 channels.

Pure API: `apply_fn, variables = load_inception(path)`;
`out = apply_fn(variables, images)` -> {'pool3': (N, 2048), 'logits': (N, 1008)}.
"""

import functools
import os
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

INCEPTION_SIZE = 299
NUM_LOGITS = 1008
FID_WEIGHTS_FILENAME = 'pt_inception-2015-12-05-6726825d.pth'


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


class BasicConv2d(nn.Module):
  """Conv (no bias) -> BatchNorm (eps 1e-3, inference statistics) -> ReLU."""
  features: int
  kernel_size: Any
  strides: Any = 1
  padding: Any = 0

  @nn.compact
  def __call__(self, x):
    ph, pw = _pair(self.padding)
    x = nn.Conv(self.features, _pair(self.kernel_size), strides=_pair(self.strides),
                padding=((ph, ph), (pw, pw)), use_bias=False, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool_3x3_same(x):
  # TF's 'SAME' average pool: the zero padding is not counted.
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), (2, 2), padding='VALID')


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(64, 1, name='branch1x1')(x)
    b5 = BasicConv2d(48, 1, name='branch5x5_1')(x)
    b5 = BasicConv2d(64, 5, padding=2, name='branch5x5_2')(b5)
    b3 = BasicConv2d(64, 1, name='branch3x3dbl_1')(x)
    b3 = BasicConv2d(96, 3, padding=1, name='branch3x3dbl_2')(b3)
    b3 = BasicConv2d(96, 3, padding=1, name='branch3x3dbl_3')(b3)
    bp = BasicConv2d(self.pool_features, 1, name='branch_pool')(_avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(384, 3, strides=2, name='branch3x3')(x)
    bd = BasicConv2d(64, 1, name='branch3x3dbl_1')(x)
    bd = BasicConv2d(96, 3, padding=1, name='branch3x3dbl_2')(bd)
    bd = BasicConv2d(96, 3, strides=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv2d(192, 1, name='branch1x1')(x)
    b7 = BasicConv2d(c7, 1, name='branch7x7_1')(x)
    b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = BasicConv2d(c7, 1, name='branch7x7dbl_1')(x)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = BasicConv2d(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = BasicConv2d(192, 1, name='branch_pool')(_avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(192, 1, name='branch3x3_1')(x)
    b3 = BasicConv2d(320, 3, strides=2, name='branch3x3_2')(b3)
    b7 = BasicConv2d(192, 1, name='branch7x7x3_1')(x)
    b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = BasicConv2d(192, 3, strides=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  """`max_pool_branch=True` is the FID graph's last block (3x3 max pool branch)."""
  max_pool_branch: bool = False

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(320, 1, name='branch1x1')(x)
    b3 = BasicConv2d(384, 1, name='branch3x3_1')(x)
    b3 = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
        BasicConv2d(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], axis=-1)
    bd = BasicConv2d(448, 1, name='branch3x3dbl_1')(x)
    bd = BasicConv2d(384, 3, padding=1, name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
        BasicConv2d(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)], axis=-1)
    if self.max_pool_branch:
      pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_3x3_same(x)
    bp = BasicConv2d(192, 1, name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """The FID Inception-v3 on preprocessed (N, 299, 299, 3) inputs in [-1, 1]."""
  num_logits: int = NUM_LOGITS

  @nn.compact
  def __call__(self, x):
    x = BasicConv2d(32, 3, strides=2, name='Conv2d_1a_3x3')(x)
    x = BasicConv2d(32, 3, name='Conv2d_2a_3x3')(x)
    x = BasicConv2d(64, 3, padding=1, name='Conv2d_2b_3x3')(x)
    x = _max_pool_3x3_s2(x)
    x = BasicConv2d(80, 1, name='Conv2d_3b_1x1')(x)
    x = BasicConv2d(192, 3, name='Conv2d_4a_3x3')(x)
    x = _max_pool_3x3_s2(x)
    x = InceptionA(32, name='Mixed_5b')(x)
    x = InceptionA(64, name='Mixed_5c')(x)
    x = InceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    x = InceptionC(128, name='Mixed_6b')(x)
    x = InceptionC(160, name='Mixed_6c')(x)
    x = InceptionC(160, name='Mixed_6d')(x)
    x = InceptionC(192, name='Mixed_6e')(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE(name='Mixed_7b')(x)
    x = InceptionE(max_pool_branch=True, name='Mixed_7c')(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_logits, name='fc')(pool3)
    return {'pool3': pool3, 'logits': logits}


def preprocess_images(images, *, input_range=(-1.0, 1.0)):
  """NHWC images in `input_range` -> (N, 299, 299, 3) in [-1, 1], as the reference FID code."""
  images = jnp.asarray(images)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'Expected NHWC images with 1 or 3 channels; got shape {images.shape}. '
                     f'Transpose NCHW inputs with images.transpose(0, 2, 3, 1).')
  low, high = input_range
  if not high > low:
    raise ValueError(f'input_range must be (low, high) with high > low; got {input_range}. '
                     f'Use (-1, 1) for tanh outputs, (0, 1) for [0, 1] images, (0, 255) '
                     f'for uint8.')
  x = (images.astype(jnp.float32) - low) / (high - low)  # -> [0, 1]
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  if x.shape[1:3] != (INCEPTION_SIZE, INCEPTION_SIZE):
    x = jax.image.resize(x, (x.shape[0], INCEPTION_SIZE, INCEPTION_SIZE, 3), 'bilinear',
                         antialias=False)
  return 2.0 * x - 1.0


@functools.partial(jax.jit, static_argnames=('input_range',))
def inception_apply(variables, images, *, input_range=(-1.0, 1.0)):
  """{'pool3': (N, 2048), 'logits': (N, 1008)} for NHWC images in `input_range`."""
  return FIDInceptionV3().apply(variables, preprocess_images(images, input_range=input_range))


def init_inception(key):
  """Random variables for the FID Inception (for tests; use load_inception for FID)."""
  return FIDInceptionV3().init(key, jnp.zeros((1, INCEPTION_SIZE, INCEPTION_SIZE, 3)))


def convert_torch_state_dict(state_dict: Mapping[str, Any]):
  """A PyTorch state_dict of the FID Inception (name -> array-like) -> Flax variables.

  Conv weights (O, I, kh, kw) become kernels (kh, kw, I, O); the fc weight (out, in)
  becomes a Dense kernel (in, out); BatchNorm weight/bias/running_mean/running_var
  become params scale/bias and batch_stats mean/var. `num_batches_tracked` is ignored.
  Missing or unexpected entries are an error.
  """
  template = jax.eval_shape(init_inception, jax.random.key(0))
  params, stats = {}, {}
  seen = set()

  def put(tree, path, value):
    for p in path[:-1]:
      tree = tree.setdefault(p, {})
    tree[path[-1]] = value

  for name, value in state_dict.items():
    value = np.asarray(value.detach().cpu().numpy() if hasattr(value, 'detach') else value)
    *path, leaf = name.split('.')
    if leaf == 'num_batches_tracked':
      continue
    parent = path[-1] if path else ''
    if parent == 'conv' and leaf == 'weight':
      put(params, path + ['kernel'], value.transpose(2, 3, 1, 0))
    elif parent == 'bn' and leaf in ('weight', 'bias'):
      put(params, path + ['scale' if leaf == 'weight' else 'bias'], value)
    elif parent == 'bn' and leaf in ('running_mean', 'running_var'):
      put(stats, path + ['mean' if leaf == 'running_mean' else 'var'], value)
    elif parent == 'fc' and leaf == 'weight':
      put(params, path + ['kernel'], value.T)
    elif parent == 'fc' and leaf == 'bias':
      put(params, path + ['bias'], value)
    else:
      raise ValueError(f'Unexpected entry {name!r} {value.shape} in the Inception state_dict; '
                       f'expected the FID Inception weights {FID_WEIGHTS_FILENAME} (the '
                       f'ImageNet Inception-v3 of torchvision is a different network).')
    seen.add(name)
  variables = {'params': params, 'batch_stats': stats}
  flat_t = {'/'.join(k.key for k in kp): v for kp, v in
            jax.tree_util.tree_flatten_with_path(template)[0]}
  flat_v = {'/'.join(k.key for k in kp): v for kp, v in
            jax.tree_util.tree_flatten_with_path(variables)[0]}
  missing = sorted(set(flat_t) - set(flat_v))
  extra = sorted(set(flat_v) - set(flat_t))
  wrong = [(k, flat_v[k].shape, flat_t[k].shape) for k in flat_t
           if k in flat_v and flat_v[k].shape != flat_t[k].shape]
  if missing or extra or wrong:
    raise ValueError(f'The state_dict does not match the FID Inception: missing '
                     f'{missing[:5]}, unexpected {extra[:5]}, wrong shapes '
                     f'(name, got, expected) {wrong[:5]}. Pass the FID weights '
                     f'{FID_WEIGHTS_FILENAME}.')
  return jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), variables)


def load_torch_state_dict(path):
  """Reads a PyTorch .pth state_dict (needs torch) -> {name: numpy array}."""
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'No Inception weights at {path!r}. Download {FID_WEIGHTS_FILENAME} (the FID '
        f'Inception weights released with the pytorch-fid package) once on a machine with '
        f'network access and pass its local path.')
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        f'Reading {path!r} needs PyTorch (a .pth file is pickled torch tensors). Install a CPU '
        f'build (`pip install torch --index-url https://download.pytorch.org/whl/cpu`), or '
        f'convert once elsewhere with convert_torch_state_dict and save the Flax variables '
        f'with flax.serialization.') from e
  state_dict = torch.load(path, map_location='cpu', weights_only=True)
  return {k: v.detach().cpu().numpy() for k, v in state_dict.items()}


def load_inception(path):
  """(apply_fn, variables) for the FID Inception weights at a local .pth path.

  apply_fn(variables, images, *, input_range=(-1., 1.)) -> {'pool3', 'logits'}.
  """
  return inception_apply, convert_torch_state_dict(load_torch_state_dict(path))


def inception_features(apply_fn, variables, images, *, batch_size=100,
                       input_range=(-1.0, 1.0)):
  """Runs apply_fn over images in batches -> (pool3 (N, 2048), logits (N, 1008)) numpy.

  The last batch is zero-padded to batch_size (and the padding dropped) so one compiled
  program serves every batch.
  """
  n = images.shape[0]
  pools, logits = [], []
  for start in range(0, n, batch_size):
    batch = np.asarray(images[start:start + batch_size])
    pad = batch_size - batch.shape[0]
    if pad and n > batch_size:
      batch = np.concatenate([batch, np.zeros((pad,) + batch.shape[1:], batch.dtype)])
    out = apply_fn(variables, batch, input_range=input_range)
    keep = min(batch_size, n - start)
    pools.append(np.asarray(out['pool3'])[:keep])
    logits.append(np.asarray(out['logits'])[:keep])
  return np.concatenate(pools), np.concatenate(logits)
