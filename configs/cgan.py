"""Conditional GAN (Mirza & Osindero 2014) with the DCGAN pair on the embedded digits.

G(z, y): a learned label embedding (50-d) concatenated to z; D(x, y): the label embedding
broadcast to extra input channels. Non-saturating loss, Adam 2e-4 beta1 0.5, batch 64, no
EMA (as the DCGAN recipe). Labels are drawn uniformly for generated samples.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.objective.name = 'conditional'
  config.objective.conditional.ac_weight = 0.0
  config.dataset.conditional = True
  config.model.name = 'dcgan'
  config.model.g_conditioning = 'concat'
  config.model.d_conditioning = 'concat'
  config.loss.name = 'non_saturating'
  default.set_optimizers(config, name='adam', lr=2e-4, b1=0.5, b2=0.999)
  config.ema_decay = 0.0
  default.held_out_digits(config)
  config.num_train_steps = 5_000
  return default.apply_variant(config, arg)
