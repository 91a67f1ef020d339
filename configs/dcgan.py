"""DCGAN (Radford et al. 2015) on the embedded MNIST digits.

Transposed-conv G with BatchNorm + ReLU, strided-conv D with LeakyReLU(0.2), Adam 2e-4
(beta1 0.5), non-saturating loss. `configs/dcgan.py:smoke` is a few-step run.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.num_train_steps = 5_000
  config.model.name = 'dcgan'
  config.loss.name = 'non_saturating'
  return default.apply_variant(config, arg)
