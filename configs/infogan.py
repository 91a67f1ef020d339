"""InfoGAN (Chen et al. 2016) on the embedded digits, the paper's MNIST setting.

G is fed 62 noise dimensions, a 10-way categorical code (one-hot) and 2 continuous codes
U[-1, 1] (latent_dim 74); D's trunk (DCGAN) carries the adversarial logit and the Q head
(FC 128 -> categorical logits and Gaussian means of the continuous codes, sigma fixed at 1).
Both players add the mutual-information bound, weight 1 (continuous part 0.1). Adam, D lr
2e-4, G lr 1e-3, beta1 0.5 (the paper's); batch 64; no EMA. No labels are used.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.objective.name = 'infogan'
  config.objective.infogan.update(info_weight=1.0, continuous_weight=0.1, learn_std=False)
  config.model.name = 'dcgan'
  config.model.latent_dim = 74
  config.model.d_q_head = True
  config.model.infogan.categorical = 10
  config.model.infogan.continuous = 2
  config.loss.name = 'non_saturating'
  default.set_optimizers(config, name='adam', lr=2e-4, b1=0.5, b2=0.999)
  config.optim.g.lr = 1e-3
  config.ema_decay = 0.0
  default.held_out_digits(config)
  config.num_train_steps = 5_000
  return default.apply_variant(config, arg)
