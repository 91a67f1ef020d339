"""ACGAN (Odena, Olah & Shlens 2017) with the DCGAN pair on the embedded digits.

G(z, y): label embedding concatenated to z; D: unconditional trunk with two heads, the
adversarial logit and an auxiliary classifier over the 10 digits. Both players add the
class log-likelihood (weight 1): D on real and generated digits, G on its own. Non-saturating
loss, Adam 2e-4 beta1 0.5, batch 64, no EMA.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.objective.name = 'conditional'
  config.objective.conditional.ac_weight = 1.0
  config.objective.conditional.ac_fake_in_d = True
  config.dataset.conditional = True
  config.model.name = 'dcgan'
  config.model.g_conditioning = 'concat'
  config.model.d_conditioning = 'none'
  config.model.d_class_head = True
  config.loss.name = 'non_saturating'
  default.set_optimizers(config, name='adam', lr=2e-4, b1=0.5, b2=0.999)
  config.ema_decay = 0.0
  default.held_out_digits(config)
  config.num_train_steps = 5_000
  return default.apply_variant(config, arg)
