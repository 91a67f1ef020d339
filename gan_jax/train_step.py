"""The GAN train step: `d_steps_per_g_step` discriminator updates and one generator update,
as one pure function, compiled once, for every objective (gan_jax.objectives).

`make_train_step(config, networks, axis_name=None)` returns
`train_step(state, batch, key) -> (state, metrics)`:
- `batch`: a dict of arrays with a leading batch axis, or (n_critic, B, ...) so each critic
  update sees fresh real data (required when d_steps_per_g_step > 1): 'image' (real data),
  'label', and whatever else the objective reads ('condition' for image-to-image).
- `key`: the run's base PRNG key. The step folds in `state.step`, then splits by purpose:
  generator inputs (latents), discriminator (dropout, penalty, augmentation) and generator.
- With `axis_name` set, the function runs per device under `jax.pmap` or `shard_map`:
  gradients and metrics are `pmean`-ed and BatchNorm statistics are synchronized over the
  axis. Latents are drawn for the *global* batch from the same key on every device and sliced,
  so a global batch gives the same numbers on any number of devices. Other randomness
  (dropout, augmentation, instance noise, penalty interpolation weights) uses a per-device key
  (`StepContext.device_key`): reproducible for a given device count, different between counts.

What the step does not know is the objective's: what G is fed, what D sees, the loss terms,
and the objective's extra state (`GANState.extras`). The machinery here is shared: the
n_critic loop, optax updates, gradient `pmean`, weight clipping and the D regularizer, EMA of
G, the non-finite guard and the metrics (the objective's aux values, `g_loss`, gradient and
parameter norms, `finite`).

With `unrolled_d_steps` = k > 0 (Unrolled GAN, Metz et al. 2017) the generator loss is taken
at D's parameters after k updates from D *before* the last critic update, on that update's
batch, generator outputs and key, as a `lax.scan` of optax updates differentiated through (G's
gradient includes how D would respond); the real D gets its usual single update, numerically
the first unrolled one (k = 1 gives the usual loss value and a different G gradient).

G's forward pass of the last critic update is taken under `jax.vjp` and reused for the
generator update (as the reference DCGAN reuses `fake`), so each step runs G forward and
backward once, like the PyTorch reference; `g_step_fresh_latents=True` draws new generator
inputs for the generator update instead.
"""

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax

from gan_jax import augment, losses, models, objectives, optimizers, penalties
from gan_jax.objectives import base
from gan_jax.state import GANState

TrainStep = Callable[[GANState, dict, jax.Array], tuple[GANState, dict]]


def make_context(config: ml_collections.ConfigDict, networks: models.Networks,
                 axis_name: Optional[str] = None) -> base.StepContext:
  """The objective's view of the step: networks, loss, penalty, D-input transforms, axis."""
  augment_fn = augment.get_augmentation(config.augment.name, **dict(config.augment.options))
  return base.StepContext(
      config=config, networks=networks, axis_name=axis_name,
      loss_fn=losses.get_loss(config.loss.name, real_label=config.loss.real_label),
      penalty_fn=penalties.get_penalty(config.penalty.name, **dict(config.penalty.options)),
      penalty_weight=float(config.penalty.weight), augment_fn=augment_fn,
      instance_noise_std=float(config.instance_noise_std),
      instance_noise_anneal_steps=int(config.instance_noise_anneal_steps))


def ema_update(ema, params, step, *, decay: float, start_step: int, warmup: bool):
  """EMA of the generator's parameters.

  Warmup min(decay, (1 + t) / (10 + t)) keeps the early average from being dominated by the
  initial weights (as TF's ExponentialMovingAverage with num_updates); before `start_step`
  the average follows the parameters.
  """
  t = (step - start_step).astype(jnp.float32)
  d = jnp.minimum(decay, (1.0 + t) / (10.0 + t)) if warmup else decay
  d = jnp.where(step < start_step, 0.0, d)
  return jax.tree_util.tree_map(lambda e, p: d * e + (1.0 - d) * p, ema, params)


def make_train_step(config: ml_collections.ConfigDict, networks: models.Networks, *,
                    axis_name: Optional[str] = None,
                    objective: Optional[objectives.Objective] = None) -> TrainStep:
  """Builds the per-device train step described in the module docstring."""
  objective = objective or objectives.get_objective(config)
  ctx = make_context(config, networks, axis_name)
  regularizer = penalties.get_regularizer(config.d_regularizer.name)
  regularizer_weight = float(config.d_regularizer.weight)
  g_tx, d_tx = optimizers.build_optimizers(config)
  n_critic = int(config.d_steps_per_g_step)
  if n_critic < 1:
    raise ValueError(f'd_steps_per_g_step must be >= 1; got {n_critic}.')
  weight_clip = float(config.d_weight_clip)
  ema_decay = float(config.ema_decay)
  fresh_inputs = bool(config.g_step_fresh_latents)
  skip_nonfinite = bool(config.skip_nonfinite_updates)
  data_rank = len(networks.data_shape) + 1

  unrolled_steps = int(config.get('unrolled_d_steps', 0))
  if unrolled_steps < 0:
    raise ValueError(f'unrolled_d_steps must be >= 0 (0 = no unrolling); got {unrolled_steps}.')
  scan_unroll = config.get('unrolled_scan_unroll', True)

  def d_gradients(d_params, d_coll, batch, g_inputs, fake, extras, key, step):
    """Gradients of D's loss (+ regularizer) on `batch` and the generator outputs `fake`,
    reduced over the device axis -> (grads, (collections, aux, cache, extras))."""
    def loss(params):
      total, (coll, aux, cache, new_extras) = objective.discriminator_loss(
          ctx, params, d_coll, batch, g_inputs, fake, key, extras, step)
      if regularizer is not None:
        reg = regularizer(params)
        total = total + regularizer_weight * reg
        aux = dict(aux, d_regularizer=reg)
      return total, (coll, aux, cache, new_extras)

    grads, out = jax.grad(loss, has_aux=True)(d_params)
    return ctx.pmean(grads), out

  def d_apply_gradients(d_params, d_opt_state, grads):
    updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    if weight_clip > 0:
      d_params = jax.tree_util.tree_map(lambda p: jnp.clip(p, -weight_clip, weight_clip),
                                        d_params)
    return d_params, d_opt_state

  def d_update(d_params, d_opt_state, d_coll, batch, g_inputs, fake, extras, key, step):
    """One discriminator update on `batch` and the (gradient-stopped) generator outputs."""
    grads, (coll, aux, cache, extras) = d_gradients(d_params, d_coll, batch, g_inputs, fake,
                                                    extras, key, step)
    d_params, d_opt_state = d_apply_gradients(d_params, d_opt_state, grads)
    aux['d_grad_norm'] = optax.global_norm(grads)
    return d_params, d_opt_state, coll, aux, cache, extras

  def unrolled_discriminator(d_params, d_opt_state, d_coll, batch, g_inputs, fake, extras, key,
                             step):
    """Unrolled GAN: D's parameters after `unrolled_d_steps` updates (D's optimizer, the same
    batch, outputs and key as D's own update) as a differentiable function of the generator
    outputs `fake` (the real D is not touched), and D's cache for the generator loss."""
    def one_update(carry, _):
      params, opt_state = carry
      grads, _ = d_gradients(params, d_coll, batch, g_inputs, fake, extras, key, step)
      return d_apply_gradients(params, opt_state, grads), None

    (params, _), _ = lax.scan(one_update, (d_params, d_opt_state), None,
                              length=unrolled_steps, unroll=scan_unroll)
    _, (_, _, cache, _) = objective.discriminator_loss(ctx, params, d_coll, batch, g_inputs,
                                                       fake, key, extras, step)
    return params, cache

  def per_critic(batch: dict, i: int) -> dict:
    return jax.tree_util.tree_map(lambda x: x[i], batch)

  def train_step(state: GANState, batch: dict, key: jax.Array):
    step_key = jax.random.fold_in(key, state.step)
    k_inputs, k_disc, k_gen = jax.random.split(step_key, 3)
    batch = {k: v for k, v in batch.items() if v is not None}
    if batch['image'].ndim == data_rank:
      if n_critic > 1:
        raise ValueError(
            f'd_steps_per_g_step={n_critic} needs a batch with a leading axis of '
            f'{n_critic} (fresh real data per critic update); got image shape '
            f'{batch["image"].shape}.')
      batch = jax.tree_util.tree_map(lambda x: x[None], batch)
    if batch['image'].shape[0] != n_critic:
      raise ValueError(f'batch leading axis {batch["image"].shape[0]} != '
                       f'd_steps_per_g_step={n_critic}.')

    def critic_update(carry, i):
      d_params, d_opt_state, d_coll, g_coll, extras = carry
      real = per_critic(batch, i)
      g_inputs = objective.generator_inputs(ctx, jax.random.fold_in(k_inputs, i), real)
      fake, g_coll = objective.generate(ctx, state.g_params, g_coll, g_inputs,
                                        jax.random.fold_in(k_gen, i))
      d_params, d_opt_state, d_coll, aux, _, extras = d_update(
          d_params, d_opt_state, d_coll, real, g_inputs, lax.stop_gradient(fake), extras,
          jax.random.fold_in(k_disc, i), state.step)
      return (d_params, d_opt_state, d_coll, g_coll, extras), aux

    carry = (state.d_params, state.d_opt_state, state.d_collections, state.g_collections,
             state.extras)
    if n_critic > 1:
      # Unrolled: n_critic is static and small, and a rolled scan runs 8-15x slower on XLA:CPU
      # (measured at DCGAN width 32, batch 64: 1.6-2.6 s vs 178 ms for 5 critic updates).
      carry, _ = lax.scan(critic_update, carry, jnp.arange(n_critic - 1), unroll=True)
    d_params, d_opt_state, d_coll, g_coll, extras = carry

    # Last critic update: G's forward pass is kept (vjp) for the generator update.
    last = n_critic - 1
    d_before = (d_params, d_opt_state, d_coll, extras)  # The unrolled D starts here.
    real = per_critic(batch, last)
    g_inputs = objective.generator_inputs(ctx, jax.random.fold_in(k_inputs, last), real)
    fake, g_vjp, g_coll_new = jax.vjp(
        lambda p: objective.generate(ctx, p, g_coll, g_inputs, jax.random.fold_in(k_gen, last)),
        state.g_params, has_aux=True)
    d_params, d_opt_state, d_coll, d_aux, cache, extras = d_update(
        d_params, d_opt_state, d_coll, real, g_inputs, lax.stop_gradient(fake), extras,
        jax.random.fold_in(k_disc, last), state.step)
    if fresh_inputs:
      g_inputs = objective.generator_inputs(ctx, jax.random.fold_in(k_inputs, n_critic), real)
      fake, g_vjp, g_coll_new = jax.vjp(
          lambda p: objective.generate(ctx, p, g_coll_new, g_inputs,
                                       jax.random.fold_in(k_gen, n_critic)),
          state.g_params, has_aux=True)

    # Generator update through the freshly updated discriminator.
    def g_loss_of_outputs(outputs):
      d_for_g, cache_for_g = d_params, cache
      if unrolled_steps:
        p0, opt0, coll0, extras0 = d_before
        d_for_g, cache_for_g = unrolled_discriminator(
            p0, opt0, coll0, real, g_inputs, outputs, extras0,
            jax.random.fold_in(k_disc, last), state.step)
      return objective.generator_loss(ctx, d_for_g, d_coll, real, g_inputs, outputs,
                                      jax.random.fold_in(k_gen, n_critic + 1), cache_for_g,
                                      state.step)

    (g_loss, (d_coll, g_aux)), output_grads = jax.value_and_grad(
        g_loss_of_outputs, has_aux=True)(fake)
    (g_grads,) = g_vjp(output_grads)
    g_grads = ctx.pmean(g_grads)
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)
    if ema_decay > 0:
      ema = ema_update(state.ema_g_params, g_params, state.step, decay=ema_decay,
                       start_step=int(config.ema_start_step), warmup=bool(config.ema_warmup))
    else:
      ema = g_params

    metrics = dict(d_aux, **g_aux, g_loss=g_loss, g_grad_norm=optax.global_norm(g_grads),
                   g_param_norm=optax.global_norm(g_params),
                   d_param_norm=optax.global_norm(d_params))
    metrics = ctx.pmean(metrics)
    finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in jax.tree_util.tree_leaves(metrics)]))
    new_state = state.replace(
        step=state.step + 1, g_params=g_params, d_params=d_params, g_opt_state=g_opt_state,
        d_opt_state=d_opt_state, g_collections=g_coll_new, d_collections=d_coll,
        ema_g_params=ema, extras=extras)
    if skip_nonfinite:
      keep = state.replace(step=state.step + 1)
      new_state = jax.tree_util.tree_map(lambda new, old: jnp.where(finite, new, old),
                                         new_state, keep)
    metrics['finite'] = finite.astype(jnp.float32)
    return new_state, metrics

  return train_step
