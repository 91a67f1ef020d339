"""WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs") on MNIST.

Algorithm 1 of the paper: Wasserstein loss plus the gradient penalty
lambda * E[(||grad D(x_hat)||_2 - 1)^2] on random real/fake interpolates, lambda = 10;
n_critic = 5; Adam lr 1e-4, beta1 0, beta2 0.9 for both players; batch 64. Architecture:
the DCGAN pair with the critic's BatchNorm replaced by layer normalization
(`model.dcgan.d_normalization='layer'`, the paper's section 4 recommendation: BatchNorm makes
the critic's outputs depend on the whole batch, which invalidates the per-example
penalty); `'none'` is the other valid choice. No EMA of G (the paper had none).

Variants: `configs/wgan_gp.py:smoke`, and any 'field=value'.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.num_train_steps = 20_000
  config.batch_size = 64
  config.model.name = 'dcgan'
  config.model.dcgan.d_normalization = 'layer'
  config.loss.name = 'wasserstein'
  config.penalty.name = 'gradient_penalty'
  config.penalty.weight = 10.0
  config.d_steps_per_g_step = 5
  default.set_optimizers(config, name='adam', lr=1e-4, b1=0.0, b2=0.9)
  config.ema_decay = 0.0
  if default.has_variant(arg, 'smoke'):
    config.d_steps_per_g_step = 2
  return default.apply_variant(config, arg)
