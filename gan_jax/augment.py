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

All functions are pure: `fn(key, x) -> x'` with x' differentiable w.r.t. x.
`get_augmentation(name, **options)` returns such a function for a DiffAugment policy, or
None for 'none'.
"""

import functools
import inspect
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
