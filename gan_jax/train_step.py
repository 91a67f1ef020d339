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
n_critic loop, optax updates, gradient `pmean`, weight clipping and the D regularizer, the
D-accuracy gate, EMA of G, the non-finite guard and the metrics (the objective's aux values,
`g_loss`, gradient and parameter norms, `finite`).

With `unrolled_d_steps` = k > 0 (Unrolled GAN, Metz et al. 2017) the generator loss is taken
at D's parameters after k updates from D *before* the last critic update, on that update's
batch, generator outputs and key, as a `lax.scan` of optax updates differentiated through (G's
gradient includes how D would respond); the real D gets its usual single update, numerically
the first unrolled one (k = 1 gives the usual loss value and a different G gradient).

Lazy regularization (StyleGAN2): an objective with a positive `d_regularizer_interval` /
`g_regularizer_interval` k gets one more optimizer update of that player, with the gradient
of its `discriminator_regularizer` / `generator_regularizer`, after the player's main update
on the steps with step % k == 0 (`lax.cond`, or a select of an update computed every step:
`lazy_regularization_branch`). ADA (`augment.name='ada'`): the augmentation probability p is
kept in `state.extras['ada_p']`, carried to D's input transform by the context, and moved
after every D update from E[sign D(real)] of the global batch (`augment.ada_adjust`), or with
`augment.options.heuristic='rv'` from r_v (`augment.ada_rv`) of D's global-batch mean logits on
the training images, on held-out ones (the batch's `ada_validation_image`) and on generated ones.

With `d_accuracy_gate` = a > 0 (3D-GAN, Wu et al. 2016: a = 0.8) each critic update is kept
only when D's accuracy on that update's batch before it (the loss's `d_accuracy`, the mean
over the device axis, so every device decides alike) is <= a; otherwise D's parameters and
optimizer state stay as they were (its BatchNorm statistics still move, as in any forward
pass), and the metric `d_update_applied` is 0. Lazy regularizer updates and the unrolled
look-ahead are not gated.

G's forward pass of the last critic update is taken under `jax.vjp` and reused for the
generator update (as the reference DCGAN reuses `fake`), so each step runs G forward and
backward once, like the PyTorch reference; `g_step_fresh_latents=True` draws new generator
inputs for the generator update instead.
"""

import dataclasses
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


def ada_settings(config: ml_collections.ConfigDict) -> Optional[tuple[dict, dict]]:
  """(ada_augment's options, the controller's {target, speed_images}) when
  augment.name='ada', else None."""
  if config.augment.name != 'ada':
    return None
  options = dict(config.augment.options)
  augment.check_ada_options(**options)
  controller = {k: options.pop(k) for k in augment.ADA_CONTROLLER_OPTIONS if k in options}
  for k in augment.ADA_HEURISTIC_OPTIONS:
    options.pop(k, None)
  return options, controller


def ada_validation_split(config: ml_collections.ConfigDict) -> Optional[str]:
  """The split whose images (and labels) the step needs in its batch under the keys
  `base.ADA_VALIDATION_PREFIX` + image / label, when ADA reads overfitting with heuristic
  'rv'; else None."""
  if config.augment.name != 'ada' or config.augment.options.get('heuristic', 'rt') != 'rv':
    return None
  augment.check_ada_options(**dict(config.augment.options))
  return str(config.augment.options.validation_split)


def make_context(config: ml_collections.ConfigDict, networks: models.Networks,
                 axis_name: Optional[str] = None) -> base.StepContext:
  """The objective's view of the step: networks, loss, penalty, D-input transforms, axis."""
  ada = ada_settings(config)
  augment_fn = None if ada else augment.get_augmentation(config.augment.name,
                                                         **dict(config.augment.options))
  return base.StepContext(
      ada_options=ada[0] if ada else None,
      config=config, networks=networks, axis_name=axis_name,
      loss_fn=losses.get_loss(config.loss.name, real_label=config.loss.real_label),
      penalty_fn=penalties.get_penalty(config.penalty.name, **dict(config.penalty.options)),
      penalty_weight=optimizers.hyperparameter(config.penalty.weight), augment_fn=augment_fn,
      instance_noise_std=float(config.instance_noise_std),
      instance_noise_anneal_steps=int(config.instance_noise_anneal_steps))


def tree_where(cond, new, old):
  """`new` where the scalar `cond` holds, else `old`, leaf by leaf: a select (both computed),
  not a branch. The step's skipped updates (gate, non-finite guard, lazy 'select') use it."""
  return jax.tree_util.tree_map(lambda n, o: jnp.where(cond, n, o), new, old)


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


def ema_decay_at(config: ml_collections.ConfigDict, step):
  """The EMA decay of the update after `step` completed steps: config.ema_decay, or with
  ema_half_life_images = h > 0, 0.5 ** (B / h_t), B the global batch and
  h_t = min(h, ema_rampup * images seen) when ema_rampup > 0 (Karras et al.)."""
  half_life = float(config.get('ema_half_life_images', 0))
  if half_life <= 0:
    return optimizers.hyperparameter(config.ema_decay)
  batch = float(config.batch_size)
  rampup = float(config.get('ema_rampup', 0.0))
  if rampup > 0:
    seen = (jnp.asarray(step, jnp.float32) + 1.0) * batch
    half_life = jnp.minimum(half_life, rampup * seen)
  return 0.5 ** (batch / jnp.maximum(half_life, 1e-8))


LAZY_BRANCHES = ('auto', 'cond', 'select')


def lazy_regularization_branch(name: str, backend: Optional[str] = None) -> str:
  """How a lazy regularizer's scheduled update is switched on inside the compiled step:
  'cond' (lax.cond: runs only on the scheduled steps) or 'select' (computed every step, kept
  on the scheduled ones: the same numbers). 'auto' is 'select' on XLA:CPU, whose conditional
  branches run the path-length update ~25x slower than the same ops outside one (measured:
  StyleGAN2 32x32, batch 32: 1.49 s per step with 'cond', 0.55 s with 'select' computing it
  every step), else 'cond'."""
  if name not in LAZY_BRANCHES:
    raise ValueError(f'lazy_regularization_branch must be one of {LAZY_BRANCHES}; got {name!r}.')
  if name != 'auto':
    return name
  return 'select' if (backend or jax.default_backend()) == 'cpu' else 'cond'


def ada_state(extras, enabled: bool):
  """(objective extras, ADA's p or None) of the state's extras: with ADA on, the step keeps
  {'objective': ..., 'ada_p': p} (gan_jax.state.create_state)."""
  return (extras['objective'], extras['ada_p']) if enabled else (extras, None)


def make_train_step(config: ml_collections.ConfigDict, networks: models.Networks, *,
                    axis_name: Optional[str] = None,
                    objective: Optional[objectives.Objective] = None) -> TrainStep:
  """Builds the per-device train step described in the module docstring."""
  objective = objective or objectives.get_objective(config)
  ctx = make_context(config, networks, axis_name)
  regularizer = penalties.get_regularizer(config.d_regularizer.name)
  regularizer_weight = optimizers.hyperparameter(config.d_regularizer.weight)
  g_tx, d_tx = optimizers.build_optimizers(config)
  n_critic = int(config.d_steps_per_g_step)
  if n_critic < 1:
    raise ValueError(f'd_steps_per_g_step must be >= 1; got {n_critic}.')
  weight_clip = float(config.d_weight_clip)
  ema_decay = optimizers.hyperparameter(config.ema_decay)
  # A population member's traced decay is on (gan_jax.population checks its values).
  ema_on = isinstance(ema_decay, jax.Array) or ema_decay > 0
  if float(config.get('ema_half_life_images', 0)) > 0 and not ema_on:
    raise ValueError('ema_half_life_images > 0 sets the EMA\'s decay, but ema_decay=0 switches '
                     'the EMA off; set --config.ema_decay to any value in (0, 1).')
  accuracy_gate = float(config.get('d_accuracy_gate', 0.0))
  if not 0.0 <= accuracy_gate <= 1.0:
    raise ValueError(f'd_accuracy_gate is an accuracy in [0, 1] (0 = off; 3D-GAN: 0.8); got '
                     f'{accuracy_gate}.')
  if accuracy_gate and config.loss.name not in losses.REPORTS_ACCURACY:
    raise ValueError(f'd_accuracy_gate={accuracy_gate} reads D\'s accuracy, which '
                     f'loss.name={config.loss.name!r} does not define (a critic has no '
                     f'real/fake threshold); use one of {losses.REPORTS_ACCURACY} or set '
                     '--config.d_accuracy_gate=0.')
  fresh_inputs = bool(config.g_step_fresh_latents)
  skip_nonfinite = bool(config.skip_nonfinite_updates)
  data_rank = len(networks.data_shape) + 1
  ada = ada_settings(config)
  rv_heuristic = ada_validation_split(config) is not None
  if ada is not None and not objective.supports_ada:
    raise ValueError(f"augment.name='ada' needs an objective that reports E[sign D(real)] "
                     f"(the latent-variable ones); objective.name={objective.name!r} does not. "
                     "Use augment.name='diffaugment' or 'none'.")
  d_reg_every = int(objective.d_regularizer_interval)
  g_reg_every = int(objective.g_regularizer_interval)
  lazy_branch = lazy_regularization_branch(config.get('lazy_regularization_branch', 'auto'))

  unrolled_steps = int(config.get('unrolled_d_steps', 0))
  if unrolled_steps < 0:
    raise ValueError(f'unrolled_d_steps must be >= 0 (0 = no unrolling); got {unrolled_steps}.')
  scan_unroll = config.get('unrolled_scan_unroll', True)

  def with_p(p):
    """The context whose D-input transform uses ADA's current p."""
    return ctx if p is None else dataclasses.replace(ctx, augment_p=p)

  def d_gradients(c, d_params, d_coll, batch, g_inputs, fake, extras, key, step):
    """Gradients of D's loss (+ regularizer) on `batch` and the generator outputs `fake`,
    reduced over the device axis -> (grads, (collections, aux, cache, extras))."""
    def loss(params):
      total, (coll, aux, cache, new_extras) = objective.discriminator_loss(
          c, params, d_coll, batch, g_inputs, fake, key, extras, step)
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

  def d_update(d_params, d_opt_state, d_coll, batch, g_inputs, fake, extras, p, key, step):
    """One discriminator update on `batch` and the (gradient-stopped) generator outputs;
    with ADA, p then moves toward the target from E[sign D(real)] of the global batch."""
    grads, (coll, aux, cache, extras) = d_gradients(with_p(p), d_params, d_coll, batch,
                                                    g_inputs, fake, extras, key, step)
    new_params, new_opt_state = d_apply_gradients(d_params, d_opt_state, grads)
    if accuracy_gate:
      if 'd_accuracy' not in aux:
        raise ValueError(f'd_accuracy_gate needs D\'s accuracy, which objective '
                         f'{objective.name!r} does not report; set --config.d_accuracy_gate=0.')
      applied = ctx.pmean(aux['d_accuracy']) <= accuracy_gate  # The same on every device.
      new_params, new_opt_state = tree_where(applied, (new_params, new_opt_state),
                                             (d_params, d_opt_state))
      aux['d_update_applied'] = applied.astype(jnp.float32)
    d_params, d_opt_state = new_params, new_opt_state
    aux['d_grad_norm'] = optax.global_norm(grads)
    if p is not None:
      aux['ada_p'] = p
      if rv_heuristic:
        if 'd_validation_logit' not in aux:
          raise ValueError(
              "ADA heuristic 'rv' needs the batch's held-out images (keys "
              f"{base.ADA_VALIDATION_PREFIX}image/label, added by the training loop from "
              'augment.options.validation_split) and an objective that scores them; '
              f'objective {objective.name!r} reported no d_validation_logit.')
        aux['ada_rv'] = augment.ada_rv(*(ctx.pmean(aux[k]) for k in (
            'd_real_logit', 'd_validation_logit', 'd_fake_logit')))
        heuristic = aux['ada_rv']
      else:
        heuristic = ctx.pmean(aux['d_real_sign'])
      p = augment.ada_adjust(p, heuristic, batch_images=int(config.batch_size), **ada[1])
    return d_params, d_opt_state, coll, aux, cache, extras, p

  def unrolled_discriminator(d_params, d_opt_state, d_coll, batch, g_inputs, fake, extras, p,
                             key, step):
    """Unrolled GAN: D's parameters after `unrolled_d_steps` updates (D's optimizer, the same
    batch, outputs and key as D's own update) as a differentiable function of the generator
    outputs `fake` (the real D is not touched), and D's cache for the generator loss."""
    def one_update(carry, _):
      params, opt_state = carry
      grads, _ = d_gradients(with_p(p), params, d_coll, batch, g_inputs, fake, extras, key,
                             step)
      return d_apply_gradients(params, opt_state, grads), None

    (params, _), _ = lax.scan(one_update, (d_params, d_opt_state), None,
                              length=unrolled_steps, unroll=scan_unroll)
    _, (_, _, cache, _) = objective.discriminator_loss(with_p(p), params, d_coll, batch,
                                                       g_inputs, fake, key, extras, step)
    return params, cache

  def lazy_update(every, step, regularizer_fn, tx, params, opt_state, extras):
    """Lazy regularization: on steps with step % every == 0, one more optimizer update of the
    player with the gradient of `regularizer_fn(params, extras) -> (loss, extras)`."""
    def run(operands):
      params, opt_state, extras = operands
      grads, extras = jax.grad(lambda q: regularizer_fn(q, extras), has_aux=True)(params)
      updates, opt_state = tx.update(ctx.pmean(grads), opt_state, params)
      return optax.apply_updates(params, updates), opt_state, extras

    operands = (params, opt_state, extras)
    if lazy_branch == 'cond':
      return lax.cond(step % every == 0, run, lambda ops: ops, operands)
    # 'select': computed every step, kept on the scheduled ones (the same numbers).
    return tree_where(step % every == 0, run(operands), operands)

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
    extras, ada_p = ada_state(state.extras, ada is not None)

    def critic_update(carry, i):
      d_params, d_opt_state, d_coll, g_coll, extras, p = carry
      real = per_critic(batch, i)
      g_inputs = objective.generator_inputs(ctx, jax.random.fold_in(k_inputs, i), real)
      fake, g_coll = objective.generate(ctx, state.g_params, g_coll, g_inputs,
                                        jax.random.fold_in(k_gen, i))
      d_params, d_opt_state, d_coll, aux, _, extras, p = d_update(
          d_params, d_opt_state, d_coll, real, g_inputs, lax.stop_gradient(fake), extras, p,
          jax.random.fold_in(k_disc, i), state.step)
      return (d_params, d_opt_state, d_coll, g_coll, extras, p), aux

    carry = (state.d_params, state.d_opt_state, state.d_collections, state.g_collections,
             extras, ada_p)
    if n_critic > 1:
      # Unrolled: n_critic is static and small, and a rolled scan runs 8-15x slower on XLA:CPU
      # (measured at DCGAN width 32, batch 64: 1.6-2.6 s vs 178 ms for 5 critic updates).
      carry, _ = lax.scan(critic_update, carry, jnp.arange(n_critic - 1), unroll=True)
    d_params, d_opt_state, d_coll, g_coll, extras, ada_p = carry

    # Last critic update: G's forward pass is kept (vjp) for the generator update.
    last = n_critic - 1
    d_before = (d_params, d_opt_state, d_coll, extras, ada_p)  # The unrolled D starts here.
    real = per_critic(batch, last)
    g_inputs = objective.generator_inputs(ctx, jax.random.fold_in(k_inputs, last), real)
    fake, g_vjp, g_coll_new = jax.vjp(
        lambda p: objective.generate(ctx, p, g_coll, g_inputs, jax.random.fold_in(k_gen, last)),
        state.g_params, has_aux=True)
    d_params, d_opt_state, d_coll, d_aux, cache, extras, ada_p = d_update(
        d_params, d_opt_state, d_coll, real, g_inputs, lax.stop_gradient(fake), extras, ada_p,
        jax.random.fold_in(k_disc, last), state.step)
    if d_reg_every:  # Lazy D regularization (R1): its own update on the scheduled steps.
      d_params, d_opt_state, extras = lazy_update(
          d_reg_every, state.step,
          lambda q, extras: objective.discriminator_regularizer(
              with_p(ada_p), q, d_coll, real, jax.random.fold_in(k_disc, n_critic), extras,
              state.step),
          d_tx, d_params, d_opt_state, extras)
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
        p0, opt0, coll0, extras0, ada0 = d_before
        d_for_g, cache_for_g = unrolled_discriminator(
            p0, opt0, coll0, real, g_inputs, outputs, extras0, ada0,
            jax.random.fold_in(k_disc, last), state.step)
      return objective.generator_loss(with_p(ada_p), d_for_g, d_coll, real, g_inputs, outputs,
                                      jax.random.fold_in(k_gen, n_critic + 1), cache_for_g,
                                      state.step)

    (g_loss, (d_coll, g_aux)), output_grads = jax.value_and_grad(
        g_loss_of_outputs, has_aux=True)(fake)
    (g_grads,) = g_vjp(output_grads)
    g_grads = ctx.pmean(g_grads)
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)
    if g_reg_every:  # Lazy G regularization (path length): its own update when scheduled.
      g_params, g_opt_state, extras = lazy_update(
          g_reg_every, state.step,
          lambda q, extras: objective.generator_regularizer(
              ctx, q, g_coll_new, real, jax.random.fold_in(k_gen, n_critic + 2), extras,
              state.step),
          g_tx, g_params, g_opt_state, extras)
    if ema_on:
      ema = ema_update(state.ema_g_params, g_params, state.step,
                       decay=ema_decay_at(config, state.step),
                       start_step=int(config.ema_start_step), warmup=bool(config.ema_warmup))
    else:
      ema = g_params

    metrics = dict(d_aux, **g_aux, g_loss=g_loss, g_grad_norm=optax.global_norm(g_grads),
                   g_param_norm=optax.global_norm(g_params),
                   d_param_norm=optax.global_norm(d_params))
    metrics = ctx.pmean(metrics)
    finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in jax.tree_util.tree_leaves(metrics)]))
    if ada is not None:
      extras = {'objective': extras, 'ada_p': ada_p}
    new_state = state.replace(
        step=state.step + 1, g_params=g_params, d_params=d_params, g_opt_state=g_opt_state,
        d_opt_state=d_opt_state, g_collections=g_coll_new, d_collections=d_coll,
        ema_g_params=ema, extras=extras)
    if skip_nonfinite:
      keep = state.replace(step=state.step + 1)
      new_state = tree_where(finite, new_state, keep)
    metrics['finite'] = finite.astype(jnp.float32)
    return new_state, metrics

  return train_step
