"""StyleGAN2's objective (Karras et al. 2020): the latent-variable GAN's adversarial terms
(non-saturating logistic loss by default, `config.loss`) with style mixing regularization,
lazy R1 and path-length regularization.

- **Generator inputs**: z ~ N(0, I); with probability `mixing_prob` per example a second
  z_mix and a crossover layer uniform in 1 .. num_ws - 1 (styles from that layer on come from
  z_mix); per-layer noise maps. All are drawn for the global batch and sliced per device, so
  the numbers do not depend on the device count.
- **Lazy R1** (D, every `r1_interval` steps): gamma / 2 * E_real ||grad_x D(x)||^2, with x
  the real batch before D's input transform (ADA / DiffAugment, differentiated through, as the
  reference computes it), weighted by the interval.
- **Path-length regularization** (G, every `pl_interval` steps): for w = mapping(z) and
  y ~ N(0, I) / sqrt(H W), a = ||J_w^T y||_2 (J the synthesis Jacobian; the squared norm
  summed over w's dimensions, averaged over the styles, then the square root); the penalty
  pl_weight * E(a - a_bar)^2 with a_bar a moving average (decay pl_decay, over the global
  batch) kept in the state (`extras['pl_mean']`), on batch / pl_batch_shrink latents,
  weighted by the interval.

Each lazy term is its own optimizer update after the player's main update (the train step's
lazy-regularization hook, gan_jax/train_step.py), and `optimizer_ratios` gives the paper's
lr / beta correction. The last computed values are kept in `extras` and logged every step
(r1, pl_penalty, pl_length, pl_mean).
"""

import math

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax import penalties
from gan_jax.models import stylegan2 as sg2
from gan_jax.objectives import base, unconditional


# The regularizers' last values, kept in the state and logged every step.
LOGGED = ('r1', 'pl_penalty', 'pl_length', 'pl_mean')


class StyleGAN2(unconditional.Unconditional):
  """z (+ style mixing, noise) -> StyleGAN2 G -> D; lazy R1 and path-length terms."""

  name = 'stylegan2'

  def __init__(self, config):
    super().__init__(config)
    if config.model.name != 'stylegan2':
      raise ValueError(f"objective.name='stylegan2' needs model.name='stylegan2' (its mapping "
                       f'and synthesis networks); got {config.model.name!r}.')
    own = config.objective.stylegan2
    self.mixing_prob = float(own.mixing_prob)
    self.r1_gamma = float(own.r1_gamma)
    self.pl_weight = float(own.pl_weight)
    self.pl_batch_shrink = int(own.pl_batch_shrink)
    self.pl_decay = float(own.pl_decay)
    if not 0.0 <= self.mixing_prob <= 1.0:
      raise ValueError(f'objective.stylegan2.mixing_prob must be in [0, 1]; got '
                       f'{self.mixing_prob}.')
    for field in ('r1_gamma', 'pl_weight'):
      if getattr(self, field) < 0:
        raise ValueError(f'objective.stylegan2.{field} must be >= 0; got {getattr(self, field)}.')
    for field in ('r1_interval', 'pl_interval', 'pl_batch_shrink'):
      if int(own[field]) < 1:
        raise ValueError(f'objective.stylegan2.{field} must be >= 1; got {own[field]}.')
    if not 0.0 < self.pl_decay <= 1.0:
      raise ValueError(f'objective.stylegan2.pl_decay must be in (0, 1]; got {self.pl_decay}.')
    self.d_regularizer_interval = int(own.r1_interval) if self.r1_gamma > 0 else 0
    self.g_regularizer_interval = int(own.pl_interval) if self.pl_weight > 0 else 0
    self.lazy_correction = bool(own.lazy_correction)

  def optimizer_ratios(self):
    if not self.lazy_correction:
      return 1.0, 1.0
    ratio = lambda k: k / (k + 1.0) if k else 1.0
    return ratio(self.g_regularizer_interval), ratio(self.d_regularizer_interval)

  def init_extras(self, networks):
    del networks
    # One array per entry: the step donates the state's buffers (no two leaves may share one).
    return {k: jnp.zeros((), jnp.float32) for k in LOGGED}

  # ---- generator inputs ------------------------------------------------------------------
  def _inputs(self, ctx, key, n):
    networks = ctx.networks
    k_z, k_mix, k_cut, k_use, k_noise = jax.random.split(key, 5)
    num_ws = sg2.num_styles(networks)
    inputs = {'z': ctx.draw_global(networks.sample_latents, k_z, n)}
    if self.mixing_prob > 0:
      inputs['z_mix'] = ctx.draw_global(networks.sample_latents, k_mix, n)

      def cutoffs(k, m):
        k1, k2 = jax.random.split(k)
        cut = jax.random.randint(k1, (m,), 1, num_ws)
        return jnp.where(jax.random.uniform(k2, (m,)) < self.mixing_prob, cut, num_ws)

      inputs['mix_cutoff'] = ctx.draw_global(cutoffs, k_cut, n)
    inputs['noise'] = ctx.draw_global(
        lambda k, m: [jax.random.normal(jax.random.fold_in(k, i), (m,) + s)
                      for i, s in enumerate(sg2.noise_for(networks))], k_noise, n)
    return inputs

  def generator_inputs(self, ctx, key, batch):
    return dict(self._inputs(ctx, key, batch['image'].shape[0]), labels=None)

  def generate(self, ctx, g_params, g_coll, g_inputs, key):
    inputs = {k: v for k, v in g_inputs.items() if k != 'labels'}
    return ctx.generator(g_params, g_coll, inputs, None, key)

  def discriminator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, extras, step):
    total, (coll, aux, cache, extras) = super().discriminator_loss(
        ctx, d_params, d_coll, batch, g_inputs, fake, key, extras, step)
    aux = dict(aux, **{k: extras[k] for k in LOGGED})
    return total, (coll, aux, cache, extras)

  # ---- lazy regularizers -----------------------------------------------------------------
  def discriminator_regularizer(self, ctx, d_params, d_coll, batch, key, extras, step):
    k_in, k_d = jax.random.split(ctx.device_key(key))

    def d_apply(p, x):
      x = ctx.discriminator_input(x, k_in, step)
      return base.logit(ctx.discriminator(p, d_coll, x, None, k_d)[0])

    value, _ = penalties.r1_penalty(d_apply, d_params, batch['image'], None, None)
    loss = self.r1_gamma * value * self.d_regularizer_interval
    return loss, dict(extras, r1=ctx.pmean(lax.stop_gradient(value)))

  def path_lengths(self, ctx, g_params, g_coll, inputs, key):
    """||J_w^T y|| per example (N,) for the synthesis network at the styles of `inputs`."""
    module = ctx.networks.make_generator(ctx.axis_name)
    variables = {'params': g_params, **g_coll}
    ws = module.apply(variables, inputs, method=lambda m, x: m.styles(x, train=False, truncate=False))
    noise = inputs['noise']
    images, vjp = jax.vjp(
        lambda w: module.apply(variables, w, noise, method=lambda m, a, b: m.synthesis(a, b)),
        ws)
    h, w = images.shape[1:3]
    y = ctx.draw_global(lambda k, m: jax.random.normal(k, (m,) + images.shape[1:]), key,
                        images.shape[0]) / math.sqrt(h * w)
    (grads,) = vjp(y.astype(images.dtype))
    return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))

  def generator_regularizer(self, ctx, g_params, g_coll, batch, key, extras, step):
    del step
    n = max(batch['image'].shape[0] // self.pl_batch_shrink, 1)
    k_in, k_y = jax.random.split(key)
    lengths = self.path_lengths(ctx, g_params, g_coll, self._inputs(ctx, k_in, n), k_y)
    batch_mean = ctx.pmean(jnp.mean(lax.stop_gradient(lengths)))
    pl_mean = extras['pl_mean'] + self.pl_decay * (batch_mean - extras['pl_mean'])
    penalty = jnp.mean(jnp.square(lengths - pl_mean))  # This device's (grads are pmean-ed).
    loss = self.pl_weight * penalty * self.g_regularizer_interval
    return loss, dict(extras, pl_mean=pl_mean, pl_length=batch_mean,
                      pl_penalty=ctx.pmean(lax.stop_gradient(penalty)))
