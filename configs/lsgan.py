"""LSGAN (Mao et al. 2017, "Least Squares Generative Adversarial Networks") on MNIST.

Least-squares loss with the paper's 0-1 coding (a = 0, b = c = 1, eq. 9):
D minimizes 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2], G minimizes 1/2 E[(D(G(z)) - 1)^2], on
D's raw (linear) output. Adam lr 2e-4, beta1 0.5 (the paper's setting), batch 64. The
architecture is the DCGAN pair at 28x28 (the paper's own LSUN nets are larger; for MNIST-
sized data it follows DCGAN). EMA of G with decay 0.999 for the sample grids.

Variants: `configs/lsgan.py:smoke`, and any 'field=value'.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.num_train_steps = 5_000
  config.batch_size = 64
  config.model.name = 'dcgan'
  config.loss.name = 'least_squares'
  default.set_optimizers(config, name='adam', lr=2e-4, b1=0.5, b2=0.999)
  return default.apply_variant(config, arg)
