"""Discriminator penalties and weight regularizers, pure and chosen by name.

Penalties: `penalty_fn(d_apply, d_params, real, fake, key) -> (value, aux)` where
`d_apply(params, x) -> logits (N,)` is the discriminator in training mode with everything
but its parameters bound (batch statistics, labels, dropout key). The train step adds
`weight * value` to the discriminator loss.

Regularizers: `regularizer_fn(params) -> value`, added as `weight * value`.

Input gradients are taken of sum_i D(x_i), which equals the per-example gradient
dD(x_i)/dx_i only when D treats examples independently: no BatchNorm in training mode in D
(Gulrajani et al. 2017 use layer norm or none in the critic for this reason).
"""

import functools
import inspect
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from gan_jax import augment

DApply = Callable[[Any, jax.Array], jax.Array]
PenaltyFn = Callable[[DApply, Any, jax.Array, jax.Array, jax.Array], tuple[jax.Array, dict]]


def _per_example_input_grad(d_apply: DApply, d_params, x: jax.Array) -> jax.Array:
  """Gradient of sum_i D(x_i) w.r.t. x: row i is dD(x_i)/dx_i when D is per-example."""
  return jax.grad(lambda inputs: jnp.sum(d_apply(d_params, inputs)))(x)


def _l2_norm_per_example(g: jax.Array) -> jax.Array:
  return jnp.sqrt(jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) + 1e-12)


def gradient_penalty(d_apply: DApply, d_params, real, fake, key, *, target: float = 1.0,
                     one_sided: bool = False):
  """Gulrajani et al. 2017 (WGAN-GP): E[(||grad_x D(x_hat)||_2 - target)^2] on random
  interpolates x_hat = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per example.

  one_sided=True penalizes only norms above the target, E[max(0, ||grad|| - target)^2]
  (Petzka et al. 2018, WGAN-LP). The fake batch is treated as a constant.
  """
  if real.shape != fake.shape:
    raise ValueError(f'gradient_penalty interpolates real and fake batches of the same shape; '
                     f'got {real.shape} and {fake.shape}.')
  eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
  eps = jax.random.uniform(key, eps_shape, dtype=real.dtype)
  x_hat = eps * real + (1.0 - eps) * jax.lax.stop_gradient(fake)
  norms = _l2_norm_per_example(_per_example_input_grad(d_apply, d_params, x_hat))
  excess = norms - target
  if one_sided:
    excess = jax.nn.relu(excess)
  return jnp.mean(excess ** 2), {'gp_grad_norm': jnp.mean(norms)}


def r1_penalty(d_apply: DApply, d_params, real, fake, key):
  """Mescheder et al. 2018, R1: 1/2 E_real[||grad_x D(x)||^2] (weight gamma is the
  config's penalty weight; the 1/2 follows the paper's gamma/2 convention)."""
  del fake, key
  g = _per_example_input_grad(d_apply, d_params, real)
  sq = jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1)
  return 0.5 * jnp.mean(sq), {'r1_grad_norm': jnp.mean(jnp.sqrt(sq + 1e-12))}


def r2_penalty(d_apply: DApply, d_params, real, fake, key):
  """Mescheder et al. 2018, R2: 1/2 E_fake[||grad_x D(x)||^2] on the (constant) fakes."""
  del real, key
  g = _per_example_input_grad(d_apply, d_params, jax.lax.stop_gradient(fake))
  sq = jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1)
  return 0.5 * jnp.mean(sq), {'r2_grad_norm': jnp.mean(jnp.sqrt(sq + 1e-12))}


def consistency_penalty(d_apply: DApply, d_params, real, fake, key, *,
                        policy: str = 'translation', translation_ratio: float = 0.125,
                        cutout_ratio: float = 0.5, fake_term: bool = True):
  """Consistency regularization: D should not change its output when its input is
  transformed by T, a DiffAugment `policy` drawn per example (gan_jax.augment).

  fake_term=False is CR-GAN (Zhang et al. 2020): E_real[(D(T(x)) - D(x))^2];
  fake_term=True (the default) is balanced CR (bCR, Zhao et al. 2021), which adds the same
  term on the (constant) fakes, E_fake[(D(T(G(z))) - D(G(z)))^2], with the same weight (the
  papers' lambda_real = lambda_fake = 10 is `penalty.weight`). Gradients flow through both
  D(x) and D(T(x)). The means are over all of D's outputs (a PatchGAN's whole patch map).
  T must keep what D should judge: 'translation' (the default; a shift by up to 1/8 of the
  side) keeps a digit's class, flips would not.
  """
  batches = {'real': real}
  if fake_term:
    batches['fake'] = jax.lax.stop_gradient(fake)
  total, aux = 0.0, {}
  for i, (name, x) in enumerate(batches.items()):
    moved = augment.diff_augment(jax.random.fold_in(key, i), x, policy,
                                 translation_ratio=translation_ratio, cutout_ratio=cutout_ratio)
    term = jnp.mean((d_apply(d_params, moved) - d_apply(d_params, x)) ** 2)
    aux[f'consistency_{name}'] = term
    total = total + term
  return total, aux


PENALTIES: dict[str, Callable[..., tuple]] = {
    'gradient_penalty': gradient_penalty,
    'r1': r1_penalty,
    'r2': r2_penalty,
    'consistency': consistency_penalty,
}


def get_penalty(name: str, **options) -> Optional[PenaltyFn]:
  """Returns the penalty `name` with options bound, or None for 'none'."""
  if name in ('none', '', None):
    return None
  if name not in PENALTIES:
    raise ValueError(f"Unknown penalty {name!r}; choose 'none' or one of {sorted(PENALTIES)}.")
  fn = PENALTIES[name]
  try:
    inspect.signature(fn).bind(None, None, None, None, None, **options)
  except TypeError as e:
    raise ValueError(f'Bad options {options} for penalty {name!r} ({e}); its signature is '
                     f'{name}{inspect.signature(fn)}.') from e
  return functools.partial(fn, **options) if options else fn


def l2_regularizer(params) -> jax.Array:
  """1/2 sum of squared parameters, 1/2 ||w||_2^2 (L2 weight decay as a loss term)."""
  return 0.5 * sum(jnp.sum(jnp.square(p)) for p in jax.tree_util.tree_leaves(params))


def l1_regularizer(params) -> jax.Array:
  """Sum of absolute parameters, ||w||_1."""
  return sum(jnp.sum(jnp.abs(p)) for p in jax.tree_util.tree_leaves(params))


REGULARIZERS = {'l2': l2_regularizer, 'l1': l1_regularizer}


def get_regularizer(name: str) -> Optional[Callable[[Any], jax.Array]]:
  if name in ('none', '', None):
    return None
  if name not in REGULARIZERS:
    raise ValueError(f"Unknown regularizer {name!r}; choose 'none' or one of "
                     f'{sorted(REGULARIZERS)}.')
  return REGULARIZERS[name]
