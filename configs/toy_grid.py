"""The 2-D grid of 25 Gaussians (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).

The MLP GAN of configs/toy_ring.py (G 3 x 256 ReLU, D 3 x 256 LeakyReLU, non-saturating,
batch 500, Adam 1e-3 beta1 0.5 cosine-decayed, EMA 0.99), without the ring's R1 penalty
(R1 0.1 at 5,000 steps gave 12.7% high quality here, vs 49.4% without), with BatchNorm in
G (as PacGAN's 2-D generator; it helped here) and 10,000 steps, on dataset.name='grid25' (means
{-4, -2, 0, 2, 4}^2, std 0.05). Evaluated by benchmarks/gan_family.py (mode_metrics on
2,500 samples).

Variants: `configs/toy_grid.py:smoke`, and any 'field=value'.
"""

from configs import toy_ring


def get_config(arg=None):
  config = toy_ring.toy_config('grid25')
  config.model.mlp.g_batch_norm = True
  config.num_train_steps = 10_000
  config.sample_every = config.checkpoint_every = 5_000
  return toy_ring.default.apply_variant(toy_ring.smoke_widths(config, arg), arg)
