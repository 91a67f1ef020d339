"""A Gumbel-softmax text GAN (Kusner & Hernandez-Lobato 2016, "GANS for Sequences of Discrete
Elements with the Gumbel-softmax Distribution"; Jang et al. 2017), objective.name='gumbel',
model.name='sequence'.

Sampling tokens is not differentiable; its continuous relaxation is. G emits, at every
position, y_t = softmax((logits_t + g_t) / tau) with g_t ~ Gumbel(0, 1)^V, and feeds y_t @ E
(the expected embedding) back into its LSTM (`SequenceGenerator.relaxed_sample`). As tau -> 0
y_t tends to one_hot(argmax(logits_t + g_t)), a sample of softmax(logits_t) (the Gumbel-max
trick). D reads the relaxed vectors (N, L, V) through its embedding matrix (y @ E_D; for the
one-hot real data that is E_D[id]), so the adversarial loss (loss.name, as the latent-variable
GANs) differentiates through D into G.

The temperature is annealed: tau = max(tau_min, tau_start * exp(-anneal_rate * n)) with n G's
relaxed training forward passes so far, kept as G's mutable 'relaxed_steps' counter (one per
train step, d_steps_per_g_step per step when D takes several updates). `generate` returns
{'relaxed': y, 'tau': tau}; tau is logged as 'gumbel_tau'. With
objective.gumbel.straight_through the forward values are one-hot (argmax) and the gradient is
the relaxed one's. Samples, evaluation and launch/sample.py draw hard tokens (eval mode).
"""

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.models import sequence
from gan_jax.objectives import base
from gan_jax.objectives import mle


def temperature(relaxed_steps, tau_start: float, tau_min: float, anneal_rate: float):
  """tau = max(tau_min, tau_start * exp(-anneal_rate * relaxed_steps))."""
  n = jnp.asarray(relaxed_steps, jnp.float32)
  return jnp.maximum(tau_min, tau_start * jnp.exp(-anneal_rate * n))


class GumbelGAN(base.Objective):
  """D on Gumbel-softmax relaxed one-hot sequences (see the module docstring)."""

  name = 'gumbel'

  def __init__(self, config):
    super().__init__(config)
    mle.check_text_config(config, self.name)
    own = config.objective.gumbel
    self.tau_start, self.tau_min = float(own.tau_start), float(own.tau_min)
    self.anneal_rate = float(own.anneal_rate)
    self.straight_through = bool(own.straight_through)
    if not 0 < self.tau_min <= self.tau_start or self.anneal_rate < 0:
      raise ValueError(f'objective.gumbel needs 0 < tau_min <= tau_start and anneal_rate >= 0; '
                       f'got tau_min={self.tau_min}, tau_start={self.tau_start}, '
                       f'anneal_rate={self.anneal_rate}.')

  def generator_inputs(self, ctx, key, batch):
    n = batch['image'].shape[0]
    return {'z': ctx.draw_global(ctx.networks.sample_latents, key, n)}

  def generate(self, ctx, g_params, g_coll, g_inputs, key):
    del key  # Every sequence's Gumbel noise comes from its latent row.
    variables = mle.generator_variables(g_params, g_coll)
    steps = g_coll['batch_stats']['relaxed_steps']
    tau = temperature(steps, self.tau_start, self.tau_min, self.anneal_rate)
    relaxed, mutated = sequence.generator_method(
        ctx.networks, variables, 'relaxed_sample', sequence.latent_keys(g_inputs['z']), tau,
        self.straight_through, mutable=['batch_stats'])
    return {'relaxed': relaxed, 'tau': lax.stop_gradient(tau)}, {**g_coll, **mutated}

  def discriminator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, extras,
                         step):
    del g_inputs, step
    d_loss, coll, aux, d_real = mle.discriminator_terms(ctx, d_params, d_coll, batch['image'],
                                                        fake['relaxed'], key)
    return d_loss, (coll, aux, d_real, extras)

  def generator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, cache, step):
    del batch, g_inputs, step
    k_disc, _ = jax.random.split(ctx.device_key(key))
    out_fake, coll = ctx.discriminator(d_params, d_coll, fake['relaxed'], None, k_disc)
    _, g_loss, _ = ctx.loss_fn(lax.stop_gradient(cache), base.logit(out_fake))
    return g_loss, (coll, {'gumbel_tau': fake['tau']})
