"""Differentiable data augmentation for the discriminator's inputs, chosen by name.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"): the same random, differentiable transform T is applied to real and generated
images before D, in both the D and the G updates, so D(T(x)) and D(T(G(z))) are compared and
gradients flow through T into G. Policies, matching the authors' reference code
(per-example random parameters, images NHWC in [-1, 1]):
  color:       brightness x + b, b ~ U[-0.5, 0.5);
               saturation (x - mean_c x) * s + mean_c x, s ~ U[0, 2);
               contrast   (x - mean_hwc x) * c + mean_hwc x, c ~ U[0.5, 1.5);
  translation: shift by integers t_h, t_w ~ U{-r, ..., r}, r = round(side / 8), zero fill:
               out[i, j] = x[i + t_h, j + t_w] (0 outside the image);
  cutout:      zero one square of side round(side / 2) whose centre is uniform over the
               image (clipped at the borders).
Instance noise (Sonderby et al. 2016; Arjovsky & Bottou 2017): `instance_noise(key, x, std)`
= x + std * N(0, I) on every D input, with std annealed linearly to 0 by
`instance_noise_std(step, std, anneal_steps)` (config fields instance_noise_std,
instance_noise_anneal_steps).

ADA (Karras et al. 2020): `ada_augment(key, x, p)`, its p steered by `ada_adjust`; see below.
All functions are pure: `fn(key, x) -> x'` with x' differentiable w.r.t. x.
`get_augmentation(name, **options)` returns such a function for a DiffAugment policy, or
None for 'none'.
"""

import functools
import inspect
import math
import numbers
from typing import Callable, Optional

import jax
import jax.numpy as jnp

Augmentation = Callable[[jax.Array, jax.Array], jax.Array]


def _per_example(key, x, minval, maxval):
  return jax.random.uniform(key, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype, minval, maxval)


def rand_brightness(key: jax.Array, x: jax.Array) -> jax.Array:
  return x + _per_example(key, x, -0.5, 0.5)


def rand_saturation(key: jax.Array, x: jax.Array) -> jax.Array:
  mean = jnp.mean(x, axis=-1, keepdims=True)
  return (x - mean) * _per_example(key, x, 0.0, 2.0) + mean


def rand_contrast(key: jax.Array, x: jax.Array) -> jax.Array:
  mean = jnp.mean(x, axis=tuple(range(1, x.ndim)), keepdims=True)
  return (x - mean) * _per_example(key, x, 0.5, 1.5) + mean


def _round_half_up(side: int, ratio: float) -> int:
  return int(side * ratio + 0.5)


def translate(x: jax.Array, shifts: jax.Array) -> jax.Array:
  """out[n, i, j] = x[n, i + shifts[n, 0], j + shifts[n, 1]], zero outside the image.

  Args:
    x: (N, H, W, C).
    shifts: int (N, 2), each |shift| <= the side.
  """
  n, h, w, c = x.shape
  padded = jnp.pad(x, ((0, 0), (h, h), (w, w), (0, 0)))

  def crop(image, shift):
    return jax.lax.dynamic_slice(image, (h + shift[0], w + shift[1], 0), (h, w, c))

  return jax.vmap(crop)(padded, shifts)


def rand_translation(key: jax.Array, x: jax.Array, ratio: float = 0.125) -> jax.Array:
  _check_images(x, 'translation')
  max_shift = jnp.array([_round_half_up(x.shape[1], ratio), _round_half_up(x.shape[2], ratio)])
  shifts = jax.random.randint(key, (x.shape[0], 2), -max_shift, max_shift + 1)
  return translate(x, shifts)


def cutout_mask(corners: jax.Array, image_hw: tuple[int, int],
                size: tuple[int, int]) -> jax.Array:
  """(N, H, W, 1) mask, 0 on rows [r, r + size_h) x cols [c, c + size_w), else 1."""
  rows = jnp.arange(image_hw[0])[None, :, None]
  cols = jnp.arange(image_hw[1])[None, None, :]
  r, c = corners[:, 0, None, None], corners[:, 1, None, None]
  inside = (rows >= r) & (rows < r + size[0]) & (cols >= c) & (cols < c + size[1])
  return (~inside)[..., None]


def rand_cutout(key: jax.Array, x: jax.Array, ratio: float = 0.5) -> jax.Array:
  _check_images(x, 'cutout')
  size = (_round_half_up(x.shape[1], ratio), _round_half_up(x.shape[2], ratio))
  # Centre offset in [0, side + (1 - size % 2)), as the reference code; the square starts at
  # offset - size // 2 and is clipped by the image.
  high = jnp.array([x.shape[1] + (1 - size[0] % 2), x.shape[2] + (1 - size[1] % 2)])
  offsets = jax.random.randint(key, (x.shape[0], 2), 0, high)
  corners = offsets - jnp.array([size[0] // 2, size[1] // 2])
  return x * cutout_mask(corners, x.shape[1:3], size).astype(x.dtype)


def _check_images(x: jax.Array, op: str):
  if x.ndim != 4:
    raise ValueError(f'DiffAugment {op!r} needs images (N, H, W, C); got shape {x.shape}. '
                     "Use augment.name='none' (and instance_noise_std) for vector data.")


POLICIES: dict[str, tuple[Callable, ...]] = {
    'color': (rand_brightness, rand_saturation, rand_contrast),
    'translation': (rand_translation,),
    'cutout': (rand_cutout,),
}


def parse_policy(policy: str) -> list[str]:
  """'color, cutout' -> ['color', 'cutout']; unknown names are an error listing the valid."""
  names = [p.strip() for p in policy.split(',') if p.strip()]
  unknown = [p for p in names if p not in POLICIES]
  if unknown:
    raise ValueError(f'Unknown DiffAugment policy {unknown}; use a comma-separated subset of '
                     f'{sorted(POLICIES)}.')
  return names


def diff_augment(key: jax.Array, images: jax.Array,
                 policy: str = 'color,translation,cutout', *,
                 translation_ratio: float = 0.125, cutout_ratio: float = 0.5) -> jax.Array:
  """Applies the comma-separated DiffAugment `policy` (see module doc) to NHWC `images`.

  Each operation draws from its own key split from `key`; the same key gives the same
  transform. Call once on the concatenation of real and fake images, or once on each with
  different keys (the reference code does the latter).
  """
  ops = []
  for name in parse_policy(policy):
    for op in POLICIES[name]:
      if op is rand_translation:
        op = functools.partial(rand_translation, ratio=translation_ratio)
      elif op is rand_cutout:
        op = functools.partial(rand_cutout, ratio=cutout_ratio)
      ops.append(op)
  if not ops:
    return images
  _check_images(images, policy)
  for op_key, op in zip(jax.random.split(key, len(ops)), ops):
    images = op(op_key, images)
  return images


def instance_noise(key: jax.Array, x: jax.Array, std) -> jax.Array:
  """x + std * N(0, I); `std` may be a traced scalar (e.g. `instance_noise_std`)."""
  return x + jnp.asarray(std, x.dtype) * jax.random.normal(key, x.shape, x.dtype)


def instance_noise_std(step, std: float, anneal_steps: int):
  """std * max(0, 1 - step / anneal_steps): linear annealing to 0 (anneal_steps 0: constant).

  `step` may be traced (the train step's counter).
  """
  if anneal_steps > 0:
    return std * jnp.maximum(0.0, 1.0 - step / anneal_steps)
  return std


def _diffaugment(policy: str = 'color,translation,cutout', translation_ratio: float = 0.125,
                 cutout_ratio: float = 0.5) -> Augmentation:
  parse_policy(policy)  # Validate now, not inside the step.
  return functools.partial(diff_augment, policy=policy, translation_ratio=translation_ratio,
                           cutout_ratio=cutout_ratio)


AUGMENTATIONS: dict[str, Callable[..., Augmentation]] = {
    'diffaugment': _diffaugment,
}


def get_augmentation(name: str, **options) -> Optional[Augmentation]:
  """Returns `fn(key, x) -> x` for `name` with `options` bound, or None for 'none'.

  'diffaugment' options: policy, translation_ratio, cutout_ratio. Instance noise is not an
  augmentation name: it has its own config fields (instance_noise_std, ...).
  """
  if name in ('none', '', None):
    return None
  if name == 'instance_noise':
    raise ValueError("Instance noise is not an augment.name: set instance_noise_std (and "
                     "instance_noise_anneal_steps) instead; it adds to any augmentation.")
  if name not in AUGMENTATIONS:
    raise ValueError(f"Unknown augmentation {name!r}; choose 'none' or one of "
                     f'{sorted(AUGMENTATIONS)}.')
  factory = AUGMENTATIONS[name]
  try:
    inspect.signature(factory).bind(**options)
  except TypeError as e:
    raise ValueError(f'Bad options {options} for augmentation {name!r} ({e}); valid options: '
                     f'{inspect.signature(factory)}.') from e
  return factory(**options)


# ---- ADA: adaptive discriminator augmentation ------------------------------------------------
#
# Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data". Every
# transform below is applied to each example independently with probability p (times its own
# multiplier), the identity otherwise; with p < ~0.8 the augmentations do not leak into G's
# distribution. Transforms and distributions follow the paper's 'bgc' pipeline, in its order:
#   b (pixel blitting): x-flip (applied = flip with prob 1/2), rotation by k * 90 degrees
#     (applied = k ~ U{0, 1, 2, 3}), integer translation round(t * side), t ~ U[-translate_max,
#     translate_max] per axis (on non-square images a quarter turn also mirror-fills);
#   g (general geometric): isotropic scale 2^N(0, scale_std^2) (= lognormal(0,
#     (scale_std ln 2)^2)); rotation U(-rotate_max pi, rotate_max pi) applied before and after
#     the anisotropic scale, each with probability 1 - sqrt(1 - p) so that P(either) = p;
#     anisotropic scale (2^N(0, aniso_std^2), its inverse) on (x, y); fractional translation
#     N(0, xfrac_std^2) * side per axis;
#   c (colour, on RGB about mid-grey 0 of the [-1, 1] range): brightness + N(0,
#     brightness_std^2); contrast x 2^N(0, contrast_std^2) (about 0, not about the image mean:
#     ADA's scale3d); luma flip (applied = with prob 1/2 the Householder reflection
#     I - 2 v v^T, v = (1, 1, 1) / sqrt(3), which negates the grey component and keeps the
#     chroma); hue rotation about v by U(-hue_max pi, hue_max pi); saturation: the chroma
#     (component orthogonal to v) x 2^N(0, saturation_std^2). For C=1, as ADA, the colour
#     matrix reduces to x * a + o (a: the mean row sum, o: the mean offset), so luma flip is
#     negation about 0; hue and saturation are the identity on grey and are skipped.
# The geometric transforms compose into one 3x3 matrix per example and one bilinear
# resampling (`affine_warp`); the colour ones into one 4x4 matrix (`colour_transform`).
# Differences from ADA's code: it resamples at 2x with a sym6 wavelet low-pass filter against
# aliasing, here one plain bilinear resampling (cheaper, aliases under down-scaling);
# outside the image both use whole-sample reflection (scipy mode 'mirror' = np.pad 'reflect'
# = torch's 'reflect' pad), here without ADA's cap on the padded margin. ADA's filter ('f')
# and corruption ('n': noise, cutout) groups are not implemented.

ADA_POLICIES: dict[str, tuple[str, ...]] = {
    'b': ('xflip', 'rotate90', 'xint'),
    'g': ('scale', 'rotate', 'aniso', 'xfrac'),
    'c': ('brightness', 'contrast', 'lumaflip', 'hue', 'saturation'),
}
_ADA_TRANSFORMS = tuple(name for names in ADA_POLICIES.values() for name in names)
ADA_CONTROLLER_OPTIONS = ('target', 'speed_images')
# How the controller reads overfitting (not ada_adjust arguments; the train step uses them):
# 'rt' (the paper's default) E[sign D(real)] on the training batch; 'rv' the paper's
# validation heuristic (E[D_train] - E[D_val]) / (E[D_train] - E[D_gen]) (`ada_rv`), which
# needs held-out real images of `validation_split` in every batch (the training loop adds them).
ADA_HEURISTICS = ('rt', 'rv')
ADA_HEURISTIC_OPTIONS = ('heuristic', 'validation_split')
_LUMA_AXIS = (1 / math.sqrt(3),) * 3  # ADA's grey axis in RGB (equal weights, not Rec. 601).


@jax.jit
def affine_warp(images: jax.Array, matrices: jax.Array) -> jax.Array:
  """Bilinear resampling of each image at its affinely mapped pixel grid, mirror-extended.

  out[n, y, x] = in_n(M_n @ (x - cx, y - cy, 1) + (cx, cy)), (cx, cy) = ((W-1)/2, (H-1)/2):
  M_n maps output pixel coordinates (x = column, y = row, about the image centre) to the
  input position sampled (the inverse of the motion of the content; scipy.ndimage's
  affine_transform convention). in_n is bilinear between pixels and extended by whole-sample
  reflection outside (scipy mode 'mirror', np.pad mode 'reflect': ... c b | a b c ... ).
  Examples whose M_n is exactly the identity return their input bitwise.

  Args:
    images: (N, H, W, C) float, any C, H, W >= 2.
    matrices: (N, 3, 3); the last row is ignored (affine).
  """
  _check_ada_images(images, 'affine_warp', colour=False)
  n, h, w, _ = images.shape
  if matrices.shape != (n, 3, 3):
    raise ValueError(f'affine_warp needs one 3x3 matrix per image: shape ({n}, 3, 3); got '
                     f'{matrices.shape}.')
  m = jnp.asarray(matrices, jnp.float32)[:, None, None]  # (N, 1, 1, 3, 3).
  cy, cx = (h - 1) / 2, (w - 1) / 2
  ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - cy,
                        jnp.arange(w, dtype=jnp.float32) - cx, indexing='ij')
  # Elementwise, not a matmul: a float32 matmul may run at TF32 precision on GPUs.
  src_x = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2] + cx  # (N, H, W).
  src_y = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2] + cy

  # jax.scipy.ndimage.map_coordinates does the bilinear gather and the mirror extension; one
  # (H, W) channel at a time, the coordinates shared by the channels of an image.
  def warp_channel(channel, sy, sx):
    return jax.scipy.ndimage.map_coordinates(channel, [sy, sx], order=1, mode='mirror')

  warp_image = jax.vmap(warp_channel, in_axes=(2, None, None), out_axes=2)
  warped = jax.vmap(warp_image)(images, src_y, src_x).astype(images.dtype)
  identity = jnp.all(matrices == jnp.eye(3, dtype=matrices.dtype), axis=(1, 2))
  return jnp.where(identity[:, None, None, None], images, warped)


@jax.jit
def colour_transform(images: jax.Array, matrices: jax.Array) -> jax.Array:
  """Per-example affine colour map: out = M[:3, :3] @ rgb + M[:3, 3] for each pixel (C=3).

  For C=1, as ADA: out = x * a + o, a = the mean over the three rows of M[:3, :3]'s row sums,
  o = the mean of M[:3, 3]. Examples whose M_n is exactly the identity return their input
  bitwise.

  Args:
    images: (N, H, W, C) float, C = 1 or 3.
    matrices: (N, 4, 4) homogeneous RGB matrices (last row ignored).
  """
  _check_ada_images(images, 'colour_transform')
  n, c = images.shape[0], images.shape[-1]
  if matrices.shape != (n, 4, 4):
    raise ValueError(f'colour_transform needs one 4x4 matrix per image: shape ({n}, 4, 4); '
                     f'got {matrices.shape}.')
  m = jnp.asarray(matrices, jnp.float32)
  x = images.astype(jnp.float32)
  if c == 3:
    out = jnp.einsum('nij,nhwj->nhwi', m[:, :3, :3], x, precision=jax.lax.Precision.HIGHEST)
    out = out + m[:, None, None, :3, 3]
  else:
    gain = jnp.mean(jnp.sum(m[:, :3, :3], axis=2), axis=1)
    offset = jnp.mean(m[:, :3, 3], axis=1)
    out = x * gain[:, None, None, None] + offset[:, None, None, None]
  identity = jnp.all(matrices == jnp.eye(4, dtype=matrices.dtype), axis=(1, 2))
  return jnp.where(identity[:, None, None, None], images, out.astype(images.dtype))


def _check_ada_images(images, op: str, colour: bool = True):
  if images.ndim != 4:
    raise ValueError(f'ADA {op} needs images (N, H, W, C); got shape {images.shape}. Use '
                     "augment.name='none' (and instance_noise_std) for vector data.")
  if colour and images.shape[-1] not in (1, 3):
    raise ValueError(f'ADA {op} needs images (N, H, W, C) with C = 1 (grey) or 3 (RGB), like '
                     f"ADA's colour transforms; got shape {images.shape}. Use "
                     "augment.name='diffaugment' for other channel counts.")
  if images.shape[1] < 2 or images.shape[2] < 2:
    raise ValueError(f'ADA {op} needs images of at least 2x2 pixels (the mirror extension '
                     f'reflects about the edge pixels); got shape {images.shape}.')
  if not jnp.issubdtype(images.dtype, jnp.floating):
    raise ValueError(f'ADA {op} needs float images in [-1, 1]; got dtype {images.dtype}. '
                     'Convert first, e.g. x.astype(jnp.float32) / 127.5 - 1.')


def _ada_policy_letters(policy) -> str:
  if not isinstance(policy, str):  # ValueError, as for every bad option.
    raise ValueError(  # noqa: TRY004
        f'ADA policy must be a string of letters from {"".join(ADA_POLICIES)!r} (e.g. "bgc"); '
        f'got {policy!r}.')
  unknown = sorted(set(policy) - set(ADA_POLICIES))
  if unknown:
    groups = ', '.join(f'{k!r} = {"/".join(v)}' for k, v in ADA_POLICIES.items())
    raise ValueError(f'Unknown ADA policy letter(s) {unknown} in {policy!r}; use a subset of '
                     f'{"".join(ADA_POLICIES)!r} ({groups}).')
  if not policy:
    raise ValueError(f"ADA policy '' enables no transform; use a subset of "
                     f"{''.join(ADA_POLICIES)!r}, or augment.name='none'.")
  return policy


def check_ada_options(**options) -> None:
  """Raises ValueError naming the problem for options that `ada_augment` / `ada_adjust` reject.

  Valid keys: ada_augment's keyword arguments (policy, the distribution parameters, the
  per-transform probability multipliers) and the controller's `target` (in [-1, 1]) and
  `speed_images` (> 0), so one config dict can hold both. Numbers must be plain Python /
  numpy numbers (fixed when the step is built; only p changes during training), finite and
  >= 0.
  """
  valid = _ada_option_names() + ADA_CONTROLLER_OPTIONS + ADA_HEURISTIC_OPTIONS
  unknown = sorted(set(options) - set(valid))
  if unknown:
    raise ValueError(f'Unknown ADA option(s) {unknown}; valid options: {list(valid)}.')
  heuristic = options.get('heuristic', 'rt')
  if heuristic not in ADA_HEURISTICS:
    raise ValueError(f"ADA heuristic must be one of {list(ADA_HEURISTICS)} ('rt': E[sign "
                     f"D(real)], 'rv': D on training vs held-out vs generated images); got "
                     f'{heuristic!r}.')
  split = options.get('validation_split', '')
  if not isinstance(split, str):
    raise ValueError(f'ADA validation_split must be a split name string; got {split!r}.')
  if heuristic == 'rv' and not split:
    raise ValueError("ADA heuristic='rv' compares D on training and held-out real images; set "
                     "augment.options.validation_split to a split of the training dataset "
                     "that training does not use (e.g. 'train[300:1300]' when training on "
                     "'train[:300]').")
  for name, value in options.items():
    if name == 'policy':
      _ada_policy_letters(value)
      continue
    if name in ADA_HEURISTIC_OPTIONS:
      continue
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
      raise ValueError(  # noqa: TRY004
          f'ADA option {name} must be a number fixed when the step is built (only p is '
          f'traced); got {value!r} of type {type(value).__name__}.')
    if not math.isfinite(value):
      raise ValueError(f'ADA option {name} must be finite; got {value}.')
    if name == 'target':  # r_v has no fixed range; r_t = E[sign D(real)] is in [-1, 1].
      if heuristic == 'rt' and not -1 <= value <= 1:
        raise ValueError(f'ADA target is a value of E[sign D(real)], so in [-1, 1] (the paper '
                         f'uses 0.6); got {value}.')
    elif name == 'speed_images':
      if value <= 0:
        raise ValueError(f'ADA speed_images (images for p to go from 0 to 1; the paper uses '
                         f'500k) must be > 0; got {value}.')
    elif value < 0:
      kind = 'probability multiplier' if name in _ADA_TRANSFORMS else 'standard deviation / range'
      raise ValueError(f'ADA option {name} is a {kind} and must be >= 0 (0 disables the '
                       f'transform); got {value}.')


def _ada_option_names() -> tuple[str, ...]:
  return tuple(name for name, param in inspect.signature(ada_augment).parameters.items()
               if param.kind is inspect.Parameter.KEYWORD_ONLY)


def _affine2d(m00, m01, m02, m10, m11, m12) -> jax.Array:
  """(N, 3, 3) [[m00, m01, m02], [m10, m11, m12], [0, 0, 1]] from (N,) arrays or numbers."""
  m00 = jnp.asarray(m00, jnp.float32)
  rows = jnp.broadcast_arrays(m00, m01, m02, m10, m11, m12, 0.0, 0.0, 1.0)
  return jnp.stack(rows, axis=-1).reshape(m00.shape + (3, 3)).astype(jnp.float32)


def _rotation3d(axis, theta: jax.Array) -> jax.Array:
  """(N, 4, 4) homogeneous rotation by theta (radians, right-handed) about the unit `axis`.

  Rodrigues' formula R = cos I + sin [v]x + (1 - cos) v v^T: scipy's Rotation does the same
  in the tests, but is not traceable.
  """
  v = jnp.asarray(axis, jnp.float32)
  cross = jnp.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
  cos, sin = jnp.cos(theta)[:, None, None], jnp.sin(theta)[:, None, None]
  r = cos * jnp.eye(3) + sin * cross + (1 - cos) * jnp.outer(v, v)
  return jnp.zeros(theta.shape + (4, 4), jnp.float32).at[:, :3, :3].set(r).at[:, 3, 3].set(1)


def _compose(acc, transform, on, *, right: bool):
  """acc @ transform (right) or transform @ acc where `on`, else acc: per-example selection,
  so unselected examples keep an exact identity."""
  left, right_factor = (acc, transform) if right else (transform, acc)
  # A broadcast product summed, not a matmul: a float32 matmul may run at TF32 precision on
  # GPUs (1e-3 relative error in the rotation entries).
  out = jnp.sum(left[..., :, :, None] * right_factor[..., None, :, :], axis=-2)
  return jnp.where(on[:, None, None], out, acc)


# All of ADA's random numbers come from one uniform (N, columns) draw (each threefry call
# costs ~0.3 s of XLA compilation on CPU; one per transform made compiling ADA 4 s). Each
# transform owns fixed columns, so its draws do not depend on which others are enabled.
_ADA_UNIFORM_COLUMNS = {name: i for i, name in enumerate((
    'xflip', 'rotate90', 'xint', 'scale', 'rotate_pre', 'aniso', 'rotate_post', 'xfrac',
    'brightness', 'contrast', 'lumaflip', 'hue', 'saturation',  # The gates, U[0, 1).
    'xflip_bit', 'rotate90_quarter', 'xint_x', 'xint_y', 'rotate_pre_angle',
    'rotate_post_angle', 'lumaflip_bit', 'hue_angle'))}
_ADA_NORMAL_COLUMNS = {name: i for i, name in enumerate((
    'scale', 'aniso', 'xfrac_x', 'xfrac_y', 'brightness', 'contrast', 'saturation'))}


def _ada_matrices(key, shape, p, multipliers, policy: str,
                  params: tuple) -> tuple[jax.Array | None, jax.Array | None]:
  """(geometric (N, 3, 3) or None, colour (N, 4, 4) or None) for images of `shape`.

  multipliers: (12,) in _ADA_TRANSFORMS order, may be traced (a multiplier 0 gates its
  transform off but it is still computed); policy and params ((name, value) pairs of the
  distribution options) are static.
  """
  n, h, w, c = shape
  o = dict(params)
  letters = set(policy)
  m = dict(zip(_ADA_TRANSFORMS, jnp.asarray(multipliers, jnp.float32)))
  num_uniform = len(_ADA_UNIFORM_COLUMNS)
  draws = jax.random.uniform(key, (n, num_uniform + len(_ADA_NORMAL_COLUMNS)), jnp.float32)
  uniforms = draws[:, :num_uniform]
  # Normals by the inverse normal CDF of the uniforms k 2^-23, k = 0 ... 2^23 - 1, moved to
  # the midpoints (k + 1/2) 2^-23 (exact in float32): symmetric, and finite (|z| <= 5.3).
  normals = jax.scipy.special.ndtri(draws[:, num_uniform:] + 2.0**-24)

  def u(name):
    return uniforms[:, _ADA_UNIFORM_COLUMNS[name]]

  def z(name):
    return normals[:, _ADA_NORMAL_COLUMNS[name]]

  p = jnp.asarray(p, jnp.float32)
  ones = jnp.ones((n,), jnp.float32)

  def enabled(name):
    return any(name in ADA_POLICIES[g] for g in letters)

  def applied(name):
    """Per-example Bernoulli(min(multiplier * p, 1))."""
    return u(name) < m[name] * p

  geom = None
  if letters & {'b', 'g'}:
    geom = jnp.broadcast_to(jnp.eye(3, dtype=jnp.float32), (n, 3, 3))
    # Each step appends the inverse of the content motion (ADA's G_inv): the sampled position
    # is M_1 @ M_2 @ ... @ (output pixel), so the first transform listed acts first.
    if enabled('xflip'):
      flip = applied('xflip') & (u('xflip_bit') < 0.5)
      geom = _compose(geom, _affine2d(-ones, 0, 0, 0, 1, 0), flip, right=True)
    if enabled('rotate90'):
      quarter = jnp.floor(u('rotate90_quarter') * 4).astype(jnp.int32)
      # Exact cos / sin of k * 90 degrees, so that this step moves pixels exactly.
      cos = jnp.array([1.0, 0.0, -1.0, 0.0])[quarter]
      sin = jnp.array([0.0, 1.0, 0.0, -1.0])[quarter]
      geom = _compose(geom, _affine2d(cos, -sin, 0, sin, cos, 0), applied('rotate90'),
                      right=True)
    if enabled('xint'):
      t = (jnp.stack([u('xint_x'), u('xint_y')], axis=1) * 2 - 1) * o['translate_max']
      tx, ty = jnp.round(t[:, 0] * w), jnp.round(t[:, 1] * h)
      geom = _compose(geom, _affine2d(ones, 0, -tx, 0, 1, -ty), applied('xint'), right=True)
    if enabled('scale'):
      inv = jnp.exp2(-o['scale_std'] * z('scale'))
      geom = _compose(geom, _affine2d(inv, 0, 0, 0, inv, 0), applied('scale'), right=True)
    rotations = {}
    if enabled('rotate'):
      # Pre- and post-rotation, each with probability 1 - sqrt(1 - rotate * p): P(either) =
      # rotate * p (clipped to 1).
      p_rot = 1 - jnp.sqrt(jnp.clip(1 - m['rotate'] * p, 0, 1))
      for when in ('pre', 'post'):
        theta = (u(f'rotate_{when}_angle') * 2 - 1) * (math.pi * o['rotate_max'])
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        # Content rotated by theta: sample at the rotation by -theta.
        rotations[when] = (_affine2d(cos, sin, 0, -sin, cos, 0), u(f'rotate_{when}') < p_rot)
    if 'pre' in rotations:
      geom = _compose(geom, *rotations['pre'], right=True)
    if enabled('aniso'):
      s = jnp.exp2(o['aniso_std'] * z('aniso'))
      geom = _compose(geom, _affine2d(1 / s, 0, 0, 0, s, 0), applied('aniso'), right=True)
    if 'post' in rotations:
      geom = _compose(geom, *rotations['post'], right=True)
    if enabled('xfrac'):
      tx, ty = z('xfrac_x') * (o['xfrac_std'] * w), z('xfrac_y') * (o['xfrac_std'] * h)
      geom = _compose(geom, _affine2d(ones, 0, -tx, 0, 1, -ty), applied('xfrac'), right=True)

  colour = None
  if 'c' in letters:
    eye4 = jnp.eye(4, dtype=jnp.float32)
    colour = jnp.broadcast_to(eye4, (n, 4, 4))
    v = jnp.array(_LUMA_AXIS + (0.0,), jnp.float32)
    vvt = jnp.outer(v, v)
    # Colour transforms multiply on the left: out = C_k @ ... @ C_1 @ rgb.
    if enabled('brightness'):
      b = o['brightness_std'] * z('brightness')
      shift = eye4 + b[:, None, None] * jnp.zeros((4, 4)).at[:3, 3].set(1)
      colour = _compose(colour, shift, applied('brightness'), right=False)
    if enabled('contrast'):
      s = jnp.exp2(o['contrast_std'] * z('contrast'))
      scale = eye4 * jnp.stack([s, s, s, ones], axis=-1)[:, None, :]
      colour = _compose(colour, scale, applied('contrast'), right=False)
    if enabled('lumaflip'):
      flip = applied('lumaflip') & (u('lumaflip_bit') < 0.5)
      householder = jnp.broadcast_to(eye4 - 2 * vvt, (n, 4, 4))
      colour = _compose(colour, householder, flip, right=False)
    if c == 3 and enabled('hue'):
      theta = (u('hue_angle') * 2 - 1) * (math.pi * o['hue_max'])
      colour = _compose(colour, _rotation3d(_LUMA_AXIS, theta), applied('hue'), right=False)
    if c == 3 and enabled('saturation'):
      s = jnp.exp2(o['saturation_std'] * z('saturation'))
      saturate = vvt + (eye4 - vvt) * s[:, None, None]
      colour = _compose(colour, saturate, applied('saturation'), right=False)
  return geom, colour


def ada_augment(key: jax.Array, images: jax.Array, p, *, policy: str = 'bgc',
                translate_max: float = 0.125, scale_std: float = 0.2, rotate_max: float = 1.0,
                aniso_std: float = 0.2, xfrac_std: float = 0.125, brightness_std: float = 0.2,
                contrast_std: float = 0.5, hue_max: float = 1.0, saturation_std: float = 1.0,
                xflip: float = 1.0, rotate90: float = 1.0, xint: float = 1.0, scale: float = 1.0,
                rotate: float = 1.0, aniso: float = 1.0, xfrac: float = 1.0,
                brightness: float = 1.0, contrast: float = 1.0, lumaflip: float = 1.0,
                hue: float = 1.0, saturation: float = 1.0) -> jax.Array:
  """ADA's augmentation (see the comment above ADA_POLICIES) of NHWC `images` in [-1, 1].

  Each transform of the groups in `policy` ('b' blit, 'g' geometric, 'c' colour; any subset
  of 'bgc') is applied to each example independently with probability min(multiplier * p, 1)
  (the multipliers: xflip ... saturation; 0 disables a transform), else is the identity.
  The geometric transforms form one matrix per example, applied by `affine_warp` (one
  bilinear resampling, mirror extension); blits alone (flip, k * 90 degrees, integer shift)
  move pixels exactly. The colour transforms form one matrix, applied by `colour_transform`.
  Examples with no transform applied (all of them at p = 0) are returned bitwise.

  Args:
    key: PRNG key; the same key, images and p give the same output.
    images: (N, H, W, C) float, C = 1 or 3, H, W >= 2.
    p: the augmentation probability, a scalar in [0, 1]; may be traced (one compilation
      serves every p).
    policy, ...: Python numbers fixed at trace time (see check_ada_options).

  Returns:
    Images of the input's shape and dtype; differentiable w.r.t. `images`.
  """
  options = {name: value for name, value in locals().items()
             if name not in ('key', 'images', 'p')}
  check_ada_options(**options)
  _check_ada_images(images, 'ada_augment')
  if jnp.ndim(p) != 0:
    raise ValueError(f'ADA p must be a scalar (one probability for the batch); got shape '
                     f'{jnp.shape(p)}.')
  if isinstance(p, numbers.Real) and not 0 <= p <= 1:
    raise ValueError(f'ADA p is a probability, in [0, 1]; got {p}.')
  multipliers = jnp.array([options.pop(name) for name in _ADA_TRANSFORMS], jnp.float32)
  policy = ''.join(sorted(set(options.pop('policy'))))
  return _ada_augment(key, images, p, multipliers, policy=policy,
                      params=tuple(sorted(options.items())))


# One compilation per policy, distribution parameters and shape; p and the multipliers are
# traced (inside a caller's jit this is inlined).
@functools.partial(jax.jit, static_argnames=('policy', 'params'))
def _ada_augment(key, images, p, multipliers, *, policy: str, params: tuple):
  geom, colour = _ada_matrices(key, images.shape, p, multipliers, policy, params)
  if geom is not None:
    images = affine_warp(images, geom)
  if colour is not None:
    images = colour_transform(images, colour)
  return images


def ada_adjust(p, sign_mean, *, target: float = 0.6, batch_images,
               speed_images: float = 100_000) -> jax.Array:
  """ADA's controller: p + sign(sign_mean - target) * batch_images / speed_images in [0, 1].

  Args:
    p: the current probability (traced or not).
    sign_mean: r_t = E[sign(D(real))] over the images since the last adjustment (D's output
      positive = real); above `target` D overfits, so p rises; below, p falls. Or any
      overfitting heuristic with the same sense, e.g. r_v (`ada_rv`).
    target: the heuristic's value to hold (the paper's 0.6 for both r_t and r_v).
    batch_images: real images seen since the last adjustment (> 0).
    speed_images: images over which p can go from 0 to 1 (> 0; the paper: 500k).

  Returns:
    The new p, float32 scalar.
  """
  for name, value in (('batch_images', batch_images), ('speed_images', speed_images)):
    if isinstance(value, numbers.Real) and not value > 0:
      raise ValueError(f'ada_adjust {name} must be > 0; got {value}.')
  if jnp.ndim(p) != 0 or jnp.ndim(sign_mean) != 0:
    raise ValueError(f'ada_adjust needs scalar p and sign_mean (batch means); got shapes '
                     f'{jnp.shape(p)} and {jnp.shape(sign_mean)}.')
  step = jnp.sign(jnp.asarray(sign_mean, jnp.float32) - target) * (batch_images / speed_images)
  return jnp.clip(jnp.asarray(p, jnp.float32) + step, 0.0, 1.0)


def ada_rv(train_logit, validation_logit, generated_logit) -> jax.Array:
  """ADA's validation heuristic r_v = (E[D_train] - E[D_val]) / (E[D_train] - E[D_gen]).

  0: D scores held-out real images as it scores its training images (no overfitting); 1: as
  it scores generated ones. The arguments are D's mean logits on the step's training batch,
  on held-out real images and on generated images. Where D does not score its training
  images above generated ones (E[D_train] <= E[D_gen]) there is nothing to overfit and r_v
  is 0 (p falls). `ada_adjust` moves p by sign(r_v - target), which for a positive
  denominator is sign((E[D_train] - E[D_val]) - target (E[D_train] - E[D_gen])), so a
  per-step r_v drives p by the sign of that batch-mean difference, as the paper's r_t is
  driven by the sign of a batch mean.
  """
  t, v, g = (jnp.asarray(x, jnp.float32) for x in (train_logit, validation_logit,
                                                   generated_logit))
  separation = t - g
  positive = separation > 0
  return jnp.where(positive, (t - v) / jnp.where(positive, separation, 1.0), 0.0)
