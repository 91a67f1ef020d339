"""InfoGAN (Chen et al. 2016): G is fed noise z and a structured code c = (c_cat, c_cont),
c_cat ~ Cat(K) uniform (one-hot), c_cont ~ U[-1, 1]^M, with K = `model.infogan.categorical`
and M = `model.infogan.continuous` (the Q head's outputs);
a Q head sharing D's trunk (`model.d_q_head`) predicts c from G(z, c). Both players add the
variational lower bound of the mutual information I(c; G(z, c)) as a loss term:

  L_I = CE(Q_cat(G(z, c)), c_cat) + continuous_weight * NLL_Gauss(c_cont | Q_mu, Q_sigma)
  D, Q:  + info_weight * L_I          G:  + info_weight * L_I

with NLL_Gauss = sum_m [ (c_m - mu_m)^2 / (2 sigma_m^2) + log sigma_m + log(2 pi) / 2 ],
averaged over the batch; sigma = 1 unless `learn_std` (then Q's 'q_continuous_log_std').
G's input is concat(z, one_hot(c_cat), c_cont) (`Networks.sample_codes` / `code_latents`, so
that sampling and evaluation draw the codes as training does): `model.latent_dim` counts all
of them (the paper's MNIST: 62 noise + 10 + 2 = 74).
"""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import optimizers
from gan_jax.metrics import classifier
from gan_jax.objectives import conditional
from gan_jax.objectives import unconditional


def gaussian_nll(x, mean, log_std):
  """Per-example negative log density of a factored Gaussian, summed over the last axis."""
  return jnp.sum(0.5 * jnp.square((x - mean) * jnp.exp(-log_std)) + log_std
                 + 0.5 * np.log(2 * np.pi), axis=-1)


class InfoGAN(unconditional.Unconditional):
  """Latent codes whose mutual information with G's output is maximized through Q."""

  name = 'infogan'

  def __init__(self, config):
    super().__init__(config)
    options, codes = config.objective.infogan, config.model.infogan
    self.categorical = int(codes.categorical)   # The Q head's codes are the objective's.
    self.continuous = int(codes.continuous)
    self.info_weight = optimizers.hyperparameter(options.info_weight)
    self.continuous_weight = optimizers.hyperparameter(options.continuous_weight)
    self.learn_std = bool(options.learn_std)
    self.noise_dim = int(config.model.latent_dim) - self.categorical - self.continuous
    if self.categorical < 1 or self.continuous < 0:
      raise ValueError('model.infogan needs categorical >= 1 and continuous >= 0; got '
                       f'{self.categorical}, {self.continuous}.')
    if self.noise_dim < 1:
      raise ValueError(
          f'model.latent_dim={config.model.latent_dim} must exceed the codes '
          f'({self.categorical} categorical + {self.continuous} continuous): it counts the noise '
          'and the codes (the paper: 62 + 10 + 2 = 74).')

  def generator_inputs(self, ctx, key, batch):
    n = batch['image'].shape[0]
    k_codes, k_y = jax.random.split(key)
    networks = ctx.networks
    if networks.latent_codes != (self.categorical, self.continuous):
      raise ValueError('InfoGAN needs the Q head and its codes: set --config.model.d_q_head=True '
                       f'(the networks have latent codes {networks.latent_codes}).')
    # The same draws as networks.sample_latents (sampling and evaluation use it).
    noise, cat, cont = ctx.draw_global(networks.sample_codes, k_codes, n)
    labels = ctx.draw_global(networks.sample_labels, k_y, n) if networks.num_classes else None
    return {'z': networks.code_latents(noise, cat, cont), 'labels': labels,
            'categorical': cat, 'continuous': cont}

  def mutual_information_terms(self, out_fake, g_inputs):
    if not isinstance(out_fake, dict) or 'q_categorical_logits' not in out_fake:
      raise ValueError('InfoGAN needs the Q head: set --config.model.d_q_head=True.')
    cat_logits = out_fake['q_categorical_logits']
    ce = conditional.cross_entropy(cat_logits, g_inputs['categorical'])
    aux = {'info_categorical_ce': ce,
           'q_categorical_accuracy': classifier.top1_agreement(cat_logits, g_inputs['categorical'])}
    value = ce
    if self.continuous:
      mean = out_fake['q_continuous_mean']
      log_std = out_fake['q_continuous_log_std'] if self.learn_std else jnp.zeros_like(mean)
      nll = jnp.mean(gaussian_nll(g_inputs['continuous'], mean, log_std))
      value = value + self.continuous_weight * nll
      aux['info_continuous_nll'] = nll
    return self.info_weight * value, aux

  def discriminator_terms(self, ctx, batch, g_inputs, out_real, out_fake):
    return self.mutual_information_terms(out_fake, g_inputs)

  def generator_terms(self, ctx, batch, g_inputs, out_fake):
    value, aux = self.mutual_information_terms(out_fake, g_inputs)
    return value, {f'g_{k}': v for k, v in aux.items()}
