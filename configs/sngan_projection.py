"""SNGAN with a projection discriminator (Miyato & Koyama 2018) on the embedded digits.

G: the DCGAN generator with conditional BatchNorm (class-dependent scale and shift); D: the
SNGAN DCGAN-style discriminator (spectral norm on every layer, no BatchNorm) with the
projection head logit = psi(phi(x)) + <E[y], phi(x)>, its embedding spectrally normalized.
Hinge loss, Adam 2e-4 beta1 0.5 beta2 0.999, n_dis 1, batch 64, EMA of G 0.999 (as
configs/sngan.py).
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.objective.name = 'conditional'
  config.objective.conditional.ac_weight = 0.0
  config.dataset.conditional = True
  config.model.name = 'dcgan'
  config.model.g_conditioning = 'cbn'
  config.model.d_conditioning = 'projection'
  config.model.d_spectral_norm = True
  config.model.spectral_norm_steps = 1
  config.model.dcgan.d_normalization = 'none'
  config.loss.name = 'hinge'
  default.set_optimizers(config, name='adam', lr=2e-4, b1=0.5, b2=0.999)
  default.held_out_digits(config)
  config.num_train_steps = 5_000
  return default.apply_variant(config, arg)
