"""The latent-variable GAN: G maps latents (and labels, when the data is conditional) to
samples; one D scores real and generated samples; the adversarial loss is chosen by name.

This is the objective of every recipe from the original GAN to SNGAN: D minimizes the loss's
D term plus the configured penalty on (real, fake); G minimizes the loss's G term on D's
output for its samples, through the discriminator just updated.
"""

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.objectives import base


class Unconditional(base.Objective):
  """z ~ p(z) (and y ~ U{0..K-1} when conditional) -> G -> D."""

  name = 'unconditional'
  supports_feature_matching = True
  supports_ada = True

  def __init__(self, config):
    super().__init__(config)
    fm = config.objective.get('feature_matching')
    self.fm_weight = float(fm.weight) if fm is not None else 0.0
    self.adversarial_weight = float(fm.adversarial_weight) if fm is not None else 1.0
    if self.fm_weight < 0 or self.adversarial_weight < 0:
      raise ValueError('objective.feature_matching.weight and .adversarial_weight must be >= 0; '
                       f'got {self.fm_weight} and {self.adversarial_weight}.')

  def generator_inputs(self, ctx: base.StepContext, key, batch):
    n = batch['image'].shape[0]
    k_z, k_y = jax.random.split(key)
    networks = ctx.networks
    z = ctx.draw_global(networks.sample_latents, k_z, n)
    labels = ctx.draw_global(networks.sample_labels, k_y, n) if networks.num_classes else None
    return {'z': z, 'labels': labels}

  def generate(self, ctx, g_params, g_coll, g_inputs, key):
    return ctx.generator(g_params, g_coll, g_inputs['z'], g_inputs['labels'], key)

  def discriminator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, extras, step):
    k_real, k_fake, k_pen, k_in_real, k_in_fake = jax.random.split(ctx.device_key(key), 5)
    real_labels = batch['label'] if ctx.networks.num_classes else None
    real_in = ctx.discriminator_input(batch['image'], k_in_real, step)
    fake_in = ctx.discriminator_input(fake, k_in_fake, step)
    out_real, coll = ctx.discriminator(d_params, d_coll, real_in, real_labels, k_real)
    out_fake, coll = ctx.discriminator(d_params, coll, fake_in, g_inputs['labels'], k_fake)
    d_real, d_fake = base.logit(out_real), base.logit(out_fake)
    d_loss, _, aux = ctx.loss_fn(d_real, d_fake)
    aux = dict(aux, d_loss=d_loss, d_real_logit=jnp.mean(d_real), d_fake_logit=jnp.mean(d_fake))
    if ctx.ada_options is not None:  # ADA's overfitting heuristic r_t = E[sign D(real)].
      aux['d_real_sign'] = jnp.mean(jnp.sign(d_real.astype(jnp.float32)))
      if base.ADA_VALIDATION_IMAGE in batch:  # Heuristic r_v: D on held-out images, read only.
        aux['d_validation_logit'] = self._validation_logit(ctx, d_params, coll, batch, key, step)

    def d_apply(p, x):
      return base.logit(ctx.discriminator(p, coll, x, real_labels, k_pen)[0])

    penalty, penalty_aux = ctx.penalty(d_apply, d_params, real_in, fake_in, k_pen)
    aux.update(penalty_aux)
    total = d_loss + penalty
    extra, extra_aux = self.discriminator_terms(ctx, batch, g_inputs, out_real, out_fake)
    if extra_aux:
      total = total + extra
      aux.update(extra_aux)
    return total, (coll, aux, d_real, extras)

  @staticmethod
  def extra_logits(ctx, d_params, d_coll, images, labels, key, step, stream: int):
    """D's logits on extra images beside the step's real and generated ones (held-out images,
    negatives), through the same input transform; D's updated collections are dropped. Keys
    of their own (`key` folded with `stream`), so the other draws are unchanged."""
    k_in, k_drop = jax.random.split(jax.random.fold_in(ctx.device_key(key), stream))
    x = ctx.discriminator_input(images, k_in, step)
    out, _ = ctx.discriminator(d_params, d_coll, x, labels, k_drop)
    return base.logit(out)

  def _validation_logit(self, ctx, d_params, d_coll, batch, key, step):
    """D's mean logit on the batch's held-out real images (`extra_logits`), no gradient."""
    labels = batch.get(base.ADA_VALIDATION_LABEL) if ctx.networks.num_classes else None
    logits = self.extra_logits(ctx, d_params, d_coll, batch[base.ADA_VALIDATION_IMAGE], labels,
                               key, step, stream=0x0ADA)
    return lax.stop_gradient(jnp.mean(logits.astype(jnp.float32)))

  def discriminator_terms(self, ctx, batch, g_inputs, out_real, out_fake):
    """Extra D loss terms on D's outputs for real and generated data: (value, aux); none here
    (subclasses: ACGAN's classifier, InfoGAN's mutual information)."""
    del ctx, batch, g_inputs, out_real, out_fake
    return 0.0, {}

  def generator_terms(self, ctx, batch, g_inputs, out_fake):
    """Extra G loss terms on D's outputs for generated data: (value, aux); none here."""
    del ctx, batch, g_inputs, out_fake
    return 0.0, {}

  def generator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, cache, step):
    k_disc, k_in = jax.random.split(ctx.device_key(key))
    fake_in = ctx.discriminator_input(fake, k_in, step)
    if self.fm_weight > 0:
      out_fake, fm_loss, coll = self.feature_matching(ctx, d_params, d_coll, batch, g_inputs,
                                                      fake_in, key, step)
    else:
      out_fake, coll = ctx.discriminator(d_params, d_coll, fake_in, g_inputs['labels'], k_disc)
    _, g_loss, _ = ctx.loss_fn(lax.stop_gradient(cache), base.logit(out_fake))
    extra, aux = self.generator_terms(ctx, batch, g_inputs, out_fake)
    if self.fm_weight > 0:
      extra = extra + self.fm_weight * fm_loss + (self.adversarial_weight - 1.0) * g_loss
      aux = dict(aux, g_feature_matching=fm_loss)
    if aux:
      aux = dict(aux, g_adversarial=g_loss)
      g_loss = g_loss + extra
    return g_loss, (coll, aux)

  def feature_matching(self, ctx, d_params, d_coll, batch, g_inputs, fake_in, key, step):
    """(D's output for fake_in, mean_k (E_real f_k - E_fake f_k)^2, collections): f = phi,
    D's features before its logit layer, averaged over the global batch (real features held
    fixed), both batches seen by the current D in training mode."""
    k_disc, _ = jax.random.split(ctx.device_key(key))
    k_real, k_in_real = jax.random.split(jax.random.fold_in(ctx.device_key(key), 1))
    out_fake, f_fake, coll = ctx.discriminator_features(d_params, d_coll, fake_in,
                                                        g_inputs['labels'], k_disc)
    real_labels = batch['label'] if ctx.networks.num_classes else None
    real_in = ctx.discriminator_input(batch['image'], k_in_real, step)
    _, f_real, coll = ctx.discriminator_features(d_params, coll, real_in, real_labels, k_real)
    mean_real = ctx.pmean(jnp.mean(lax.stop_gradient(f_real).astype(jnp.float32), axis=0))
    mean_fake = ctx.pmean(jnp.mean(f_fake.astype(jnp.float32), axis=0))
    return out_fake, jnp.mean(jnp.square(mean_real - mean_fake)), coll
