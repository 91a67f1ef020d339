"""SNGAN (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks")
on MNIST.

Default (the paper's "standard CNN" family, sized for 28x28): the DCGAN generator and a
DCGAN-style discriminator with every convolution spectrally normalized (one power iteration
per update, u kept in 'batch_stats') and no BatchNorm in D (`model.dcgan.d_normalization='none'`,
as Miyato's discriminators); hinge loss (Lim & Ye 2017, the loss of the paper's best
results); Adam lr 2e-4, beta1 0.5, beta2 0.999, n_dis = 1 (Table 1, setting C, the
setting that works best for the standard CNN); batch 64; EMA of G 0.999.

Variant `configs/sngan.py:resnet`: the paper's ResNet pair (appendix B.4; G width 64 and
D width 64 here instead of 256/128, to fit a CPU), Adam lr 2e-4, beta1 0, beta2 0.9,
n_dis = 5 (the paper's ResNet setting).

Variants compose: `configs/sngan.py:resnet,smoke`, plus any 'field=value'.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  parts = default.split_variant(arg)
  config.num_train_steps = 10_000
  config.batch_size = 64
  config.model.name = 'dcgan'
  config.model.d_spectral_norm = True
  config.model.spectral_norm_steps = 1
  config.model.dcgan.d_normalization = 'none'
  config.loss.name = 'hinge'
  default.set_optimizers(config, name='adam', lr=2e-4, b1=0.5, b2=0.999)
  if 'resnet' in parts:
    parts.remove('resnet')
    config.model.name = 'resnet'
    config.model.g_width = 64
    config.model.d_width = 64
    config.d_steps_per_g_step = 5
    default.set_optimizers(config, b1=0.0, b2=0.9)
  if 'smoke' in parts:
    config.d_steps_per_g_step = min(config.d_steps_per_g_step, 2)
  return default.apply_variant(config, ','.join(parts))
