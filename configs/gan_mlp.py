"""The original GAN (Goodfellow et al. 2014, "Generative Adversarial Nets") on MNIST.

Fully connected networks as in the paper's MNIST model: G = 2 x Dense(1200) + ReLU from a
100-d uniform latent, tanh output (the paper used a sigmoid on [0, 1] pixels; our data are
in [-1, 1]); D = 2 maxout layers of 240 units x 5 pieces with dropout 0.5 (the paper's
pylearn2 model). Loss: non-saturating (the paper's practical G objective, section 3); the
minimax objective of eq. 1 is `--config.loss.name=minimax`. Optimizer: Adam 2e-4, beta1 0.5
for both players (the paper used SGD with momentum; `--config.optim.g.name=sgd
--config.optim.g.lr=0.1 --config.optim.g.sgd.momentum=0.5` and the same for `d` restore it),
batch 100, no EMA of G (the paper had none).

Variants: `configs/gan_mlp.py:smoke` (tiny widths, a few steps), and any 'field=value'.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.num_train_steps = 10_000
  config.batch_size = 100
  config.model.name = 'mlp'
  config.model.latent_dim = 100
  config.model.latent_distribution = 'uniform'
  mlp = config.model.mlp
  mlp.g_hidden = (1200, 1200)
  mlp.g_activation = 'relu'
  mlp.output_activation = 'tanh'
  mlp.d_hidden = (240, 240)
  mlp.d_activation = 'maxout'
  mlp.d_maxout_pieces = 5
  config.model.d_dropout = 0.5
  config.loss.name = 'non_saturating'
  config.ema_decay = 0.0
  if default.has_variant(arg, 'smoke'):
    mlp.g_hidden = (16, 16)
    mlp.d_hidden = (16, 16)
    mlp.d_maxout_pieces = 2
    config.model.latent_dim = 16
  return default.apply_variant(config, arg)
