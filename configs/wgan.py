"""WGAN (Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN") on MNIST.

Algorithm 1 of the paper: Wasserstein loss (critic maximizes E[f(x)] - E[f(G(z))]), the
critic's weights clipped to [-0.01, 0.01] after every update, RMSProp with lr 5e-5 for both
players, n_critic = 5 critic updates per generator update, batch 64. Architecture: the DCGAN
pair (the paper's DCGAN experiments keep BatchNorm in the critic; weight clipping, unlike a
gradient penalty, does not need per-example gradients). No EMA of G.

Variants: `configs/wgan.py:smoke`, and any 'field=value'.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.num_train_steps = 20_000
  config.batch_size = 64
  config.model.name = 'dcgan'
  config.loss.name = 'wasserstein'
  config.d_weight_clip = 0.01
  config.d_steps_per_g_step = 5
  # decay 0.99: the usual RMSProp smoothing (PyTorch's default, the authors' setting).
  default.set_optimizers(config, name='rmsprop', lr=5e-5, decay=0.99, eps=1e-8)
  config.ema_decay = 0.0
  if default.has_variant(arg, 'smoke'):
    config.d_steps_per_g_step = 2
  return default.apply_variant(config, arg)
