"""The GAN train step: `d_steps_per_g_step` discriminator updates and one generator update,
as one pure function, compiled once.

`make_train_step(config, networks, axis_name=None)` returns
`train_step(state, batch, key) -> (state, metrics)`:
- `batch['image']`: real data, (B, *data_shape), or (n_critic, B, *data_shape) so each
  critic update sees fresh real data (required when d_steps_per_g_step > 1);
  `batch['label']`: int labels, same leading dims (used by conditional models).
- `key`: the run's base PRNG key. The step folds in `state.step`, then splits by purpose:
  latents, discriminator (dropout, penalty, augmentation) and generator.
- With `axis_name` set, the function runs per device under `jax.pmap` or `shard_map`:
  gradients and metrics are `pmean`-ed and BatchNorm statistics are synchronized over the
  axis. Latents and penalty interpolation weights are drawn for the *global* batch from
  the same key on every device and sliced, so a global batch gives the same numbers on any
  number of devices. Other randomness (dropout, augmentation, instance noise, penalty
  interpolation weights) uses a per-device key (`device_key`), so it is reproducible for a
  given device count but differs between device counts.

The generator's forward pass of the last critic update is taken under `jax.vjp` and
reused for the generator update (as the reference DCGAN reuses `fake`), so each step runs
G forward and backward once, like the PyTorch reference; `g_step_fresh_latents=True` draws
new latents for the generator update instead.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax

from gan_jax import losses, models, optimizers, penalties
from gan_jax.state import GANState

TrainStep = Callable[[GANState, dict, jax.Array], tuple[GANState, dict]]


def _instance_noise_std(config, step):
  std = float(config.get('instance_noise_std', 0.0))
  anneal = int(config.get('instance_noise_anneal_steps', 0))
  if anneal > 0:
    return std * jnp.maximum(0.0, 1.0 - step / anneal)
  return std


def make_train_step(config: ml_collections.ConfigDict, networks: models.Networks, *,
                    axis_name: Optional[str] = None) -> TrainStep:
  """Builds the per-device train step described in the module docstring."""
  loss_fn = losses.get_loss(config.loss.name, real_label=config.loss.get('real_label', 1.0))
  penalty_fn = penalties.get_penalty(config.penalty.name,
                                     **dict(config.penalty.get('options', {})))
  penalty_weight = float(config.penalty.get('weight', 0.0))
  regularizer = penalties.get_regularizer(config.d_regularizer.name)
  regularizer_weight = float(config.d_regularizer.get('weight', 0.0))
  augment_fn = None
  if config.augment.name not in ('none', '', None):
    from gan_jax import augment  # pylint: disable=g-import-not-at-top
    augment_fn = augment.get_augmentation(config.augment.name,
                                          **dict(config.augment.get('options', {})))
  g_tx, d_tx = optimizers.build_optimizers(config)
  n_critic = int(config.d_steps_per_g_step)
  if n_critic < 1:
    raise ValueError(f'd_steps_per_g_step must be >= 1; got {n_critic}.')
  weight_clip = float(config.get('d_weight_clip', 0.0))
  ema_decay = float(config.get('ema_decay', 0.0))
  ema_start = int(config.get('ema_start_step', 0))
  ema_warmup = bool(config.get('ema_warmup', True))
  fresh_latents = bool(config.get('g_step_fresh_latents', False))
  skip_nonfinite = bool(config.get('skip_nonfinite_updates', False))
  conditional = bool(networks.num_classes)
  instance_noise = float(config.get('instance_noise_std', 0.0)) > 0

  gen = networks.generator_apply
  disc = networks.discriminator_apply

  def pmean(tree):
    return lax.pmean(tree, axis_name) if axis_name else tree

  def draw_global(draw: Callable[[jax.Array, int], Any], key: jax.Array, local_n: int):
    """`draw(key, n)` for the global batch, this device's slice of it."""
    if axis_name is None:
      return draw(key, local_n)
    full = draw(key, local_n * lax.axis_size(axis_name))
    start = lax.axis_index(axis_name) * local_n
    return jax.tree_util.tree_map(lambda a: lax.dynamic_slice_in_dim(a, start, local_n), full)

  def device_key(key):
    return jax.random.fold_in(key, lax.axis_index(axis_name)) if axis_name else key

  def discriminator_input(x, key, step):
    """DiffAugment / instance noise applied to every D input (real and fake alike)."""
    k_aug, k_noise = jax.random.split(key)
    if augment_fn is not None:
      x = augment_fn(k_aug, x)
    if instance_noise:
      x = x + _instance_noise_std(config, step) * jax.random.normal(k_noise, x.shape, x.dtype)
    return x

  def d_update(d_params, d_opt_state, d_coll, real, real_labels, fake, fake_labels, key,
               step):
    k_real, k_fake, k_pen, k_in_real, k_in_fake = jax.random.split(device_key(key), 5)
    real_in = discriminator_input(real, k_in_real, step)
    fake_in = discriminator_input(fake, k_in_fake, step)

    def loss(params):
      d_real, coll = disc({'params': params, **d_coll}, real_in, real_labels, train=True,
                          axis_name=axis_name, rngs={'dropout': k_real})
      d_fake, coll = disc({'params': params, **coll}, fake_in, fake_labels, train=True,
                          axis_name=axis_name, rngs={'dropout': k_fake})
      d_loss, _, aux = loss_fn(d_real, d_fake)
      aux = dict(aux, d_loss=d_loss, d_real_logit=jnp.mean(d_real),
                 d_fake_logit=jnp.mean(d_fake))
      total = d_loss
      if penalty_fn is not None:
        def d_apply(p, x):
          return disc({'params': p, **coll}, x, real_labels, train=True, axis_name=axis_name,
                      rngs={'dropout': k_pen})[0]
        value, penalty_aux = penalty_fn(d_apply, params, real_in, fake_in, k_pen)
        total = total + penalty_weight * value
        aux.update(penalty_aux, penalty=value)
      if regularizer is not None:
        reg = regularizer(params)
        total = total + regularizer_weight * reg
        aux['d_regularizer'] = reg
      return total, (coll, aux, d_real)

    (_, (coll, aux, d_real)), grads = jax.value_and_grad(loss, has_aux=True)(d_params)
    grads = pmean(grads)
    updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    if weight_clip > 0:
      d_params = jax.tree_util.tree_map(lambda p: jnp.clip(p, -weight_clip, weight_clip),
                                        d_params)
    aux['d_grad_norm'] = optax.global_norm(grads)
    return d_params, d_opt_state, coll, aux, d_real

  def latents_and_labels(key, n):
    k_z, k_y = jax.random.split(key)
    z = draw_global(networks.sample_latents, k_z, n)
    y = draw_global(networks.sample_labels, k_y, n) if conditional else None
    return z, y

  def generator_forward(g_params, g_coll, z, labels, key):
    out, mutated = gen({'params': g_params, **g_coll}, z, labels, train=True,
                       axis_name=axis_name, rngs={'dropout': device_key(key)})
    return out, {**g_coll, **mutated}

  def train_step(state: GANState, batch: dict, key: jax.Array):
    step_key = jax.random.fold_in(key, state.step)
    k_latent, k_disc, k_gen = jax.random.split(step_key, 3)
    real = batch['image']
    labels = batch.get('label') if conditional else None
    if real.ndim == len(networks.data_shape) + 1:
      if n_critic > 1:
        raise ValueError(
            f'd_steps_per_g_step={n_critic} needs a batch with a leading axis of '
            f'{n_critic} (fresh real data per critic update); got image shape {real.shape}.')
      real = real[None]
      labels = None if labels is None else labels[None]
    if real.shape[0] != n_critic:
      raise ValueError(f'batch leading axis {real.shape[0]} != d_steps_per_g_step={n_critic}.')
    n = real.shape[1]

    def critic_update(carry, i):
      d_params, d_opt_state, d_coll, g_coll = carry
      z, fake_labels = latents_and_labels(jax.random.fold_in(k_latent, i), n)
      fake, g_coll = generator_forward(state.g_params, g_coll, z, fake_labels,
                                       jax.random.fold_in(k_gen, i))
      d_params, d_opt_state, d_coll, aux, _ = d_update(
          d_params, d_opt_state, d_coll, real[i], None if labels is None else labels[i],
          lax.stop_gradient(fake), fake_labels, jax.random.fold_in(k_disc, i), state.step)
      return (d_params, d_opt_state, d_coll, g_coll), aux

    carry = (state.d_params, state.d_opt_state, state.d_collections, state.g_collections)
    if n_critic > 1:
      # Unrolled: n_critic is static and small, and a rolled scan runs 8-15x slower on XLA:CPU
      # (measured at DCGAN width 32, batch 64: 1.6-2.6 s vs 178 ms for 5 critic updates).
      carry, _ = lax.scan(critic_update, carry, jnp.arange(n_critic - 1), unroll=True)
    d_params, d_opt_state, d_coll, g_coll = carry

    # Last critic update: G's forward pass is kept (vjp) for the generator update.
    last = n_critic - 1
    z, fake_labels = latents_and_labels(jax.random.fold_in(k_latent, last), n)
    g_fwd = lambda p, z_, y_, k_: generator_forward(p, g_coll, z_, y_, k_)
    fake, g_vjp, g_coll_new = jax.vjp(
        lambda p: g_fwd(p, z, fake_labels, jax.random.fold_in(k_gen, last)),
        state.g_params, has_aux=True)
    d_params, d_opt_state, d_coll, d_aux, d_real = d_update(
        d_params, d_opt_state, d_coll, real[last], None if labels is None else labels[last],
        lax.stop_gradient(fake), fake_labels, jax.random.fold_in(k_disc, last), state.step)
    if fresh_latents:
      z, fake_labels = latents_and_labels(jax.random.fold_in(k_latent, n_critic), n)
      fake, g_vjp, g_coll_new = jax.vjp(
          lambda p: generator_forward(p, g_coll_new, z, fake_labels,
                                      jax.random.fold_in(k_gen, n_critic)),
          state.g_params, has_aux=True)

    # Generator update through the freshly updated discriminator.
    k_g_disc, k_g_in = jax.random.split(device_key(jax.random.fold_in(k_gen, n_critic + 1)))

    def g_loss_of_samples(samples):
      d_fake, coll = disc({'params': d_params, **d_coll},
                          discriminator_input(samples, k_g_in, state.step), fake_labels,
                          train=True, axis_name=axis_name, rngs={'dropout': k_g_disc})
      _, g_loss, _ = loss_fn(lax.stop_gradient(d_real), d_fake)
      return g_loss, coll

    (g_loss, d_coll), sample_grads = jax.value_and_grad(g_loss_of_samples, has_aux=True)(fake)
    (g_grads,) = g_vjp(sample_grads)
    g_grads = pmean(g_grads)
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)
    if ema_decay > 0:
      # Warmup min(decay, (1 + t) / (10 + t)) keeps the early average from being dominated
      # by the initial weights (as TF's ExponentialMovingAverage with num_updates).
      t = (state.step - ema_start).astype(jnp.float32)
      decay = jnp.minimum(ema_decay, (1.0 + t) / (10.0 + t)) if ema_warmup else ema_decay
      decay = jnp.where(state.step < ema_start, 0.0, decay)
      ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p,
                                   state.ema_g_params, g_params)
    else:
      ema = g_params

    metrics = dict(d_aux, g_loss=g_loss, g_grad_norm=optax.global_norm(g_grads),
                   g_param_norm=optax.global_norm(g_params),
                   d_param_norm=optax.global_norm(d_params))
    metrics = pmean(metrics)
    finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in jax.tree_util.tree_leaves(metrics)]))
    new_state = state.replace(
        step=state.step + 1, g_params=g_params, d_params=d_params, g_opt_state=g_opt_state,
        d_opt_state=d_opt_state, g_collections=g_coll_new, d_collections=d_coll,
        ema_g_params=ema)
    if skip_nonfinite:
      keep = state.replace(step=state.step + 1)
      new_state = jax.tree_util.tree_map(lambda new, old: jnp.where(finite, new, old),
                                         new_state, keep)
    metrics['finite'] = finite.astype(jnp.float32)
    return new_state, metrics

  return train_step

