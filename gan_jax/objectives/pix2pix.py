"""pix2pix (Isola et al. 2017): G translates a condition image x into y; D scores
(condition, image) pairs; G adds an L1 term to its adversarial loss.

  D:  min  d_loss_scale * L_D(D(x, y), D(x, G(x)))        (the paper halves D's objective)
  G:  min  L_G(D(x, G(x))) + l1_weight * E|y - G(x)|_1     (l1_weight = lambda = 100)

with L the adversarial loss named by `loss.name` (the paper's is the BCE `non_saturating`).
G's noise is dropout in its decoder (the U-Net's), as in the paper; there is no latent z.
The batch holds 'condition' (x) and 'image' (y); D sees x and y concatenated on channels.
Options: `objective.pix2pix.l1_weight`, `objective.pix2pix.d_loss_scale`.
"""

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax import optimizers
from gan_jax.objectives import base


def pair(condition: jax.Array, image: jax.Array) -> jax.Array:
  """D's input: the condition and the (real or generated) image, concatenated on channels."""
  return jnp.concatenate([condition, image], axis=-1)


def l1_loss(output: jax.Array, target: jax.Array) -> jax.Array:
  """Mean absolute error over every element (PyTorch's L1Loss)."""
  return jnp.mean(jnp.abs(output - target))


class Pix2Pix(base.Objective):
  """Paired image-to-image translation: condition image -> G -> image; D on pairs."""

  name = 'pix2pix'

  def __init__(self, config):
    super().__init__(config)
    options = config.objective.pix2pix
    self.l1_weight = optimizers.hyperparameter(options.l1_weight)
    self.d_loss_scale = float(options.d_loss_scale)

  def generator_inputs(self, ctx, key, batch):
    del ctx, key
    return batch['condition']

  def discriminator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, extras, step):
    k_real, k_fake, k_pen, k_in_real, k_in_fake = jax.random.split(ctx.device_key(key), 5)
    real_in = ctx.discriminator_input(pair(g_inputs, batch['image']), k_in_real, step)
    fake_in = ctx.discriminator_input(pair(g_inputs, fake), k_in_fake, step)
    d_real, coll = ctx.discriminator(d_params, d_coll, real_in, None, k_real)
    d_fake, coll = ctx.discriminator(d_params, coll, fake_in, None, k_fake)
    d_loss, _, aux = ctx.loss_fn(d_real, d_fake)
    aux = dict(aux, d_loss=d_loss, d_real_logit=jnp.mean(d_real), d_fake_logit=jnp.mean(d_fake))
    penalty, penalty_aux = ctx.penalty(
        lambda p, x: ctx.discriminator(p, coll, x, None, k_pen)[0], d_params, real_in, fake_in,
        k_pen)
    aux.update(penalty_aux)
    return self.d_loss_scale * d_loss + penalty, (coll, aux, d_real, extras)

  def generator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, cache, step):
    k_disc, k_in = jax.random.split(ctx.device_key(key))
    d_fake, coll = ctx.discriminator(
        d_params, d_coll, ctx.discriminator_input(pair(g_inputs, fake), k_in, step), None,
        k_disc)
    _, g_adv, _ = ctx.loss_fn(lax.stop_gradient(cache), d_fake)
    g_l1 = l1_loss(fake, batch['image'])
    return g_adv + self.l1_weight * g_l1, (coll, {'g_adversarial': g_adv, 'g_l1': g_l1})
