"""The 2-D grid of 25 Gaussians (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).

The ring's recipe (configs/toy_ring.py) on dataset.name='grid25' (means {-4, -2, 0, 2, 4}^2,
std 0.05): the MLP GAN (G 3 x 256 ReLU, D 3 x 256 LeakyReLU, non-saturating, batch 500, Adam
1e-3 beta1 0.5 cosine-decayed to 0, EMA 0.99), the R1 penalty 0.01 on D, plus the minibatch
standard deviation in D (Karras et al. 2018; groups of 4, the ':mbstd' variant), trained
40,000 steps (twice the ring's). Evaluated by benchmarks/gan_family.py (mode_metrics on
2,500 samples).

Measured over seeds 0-2 (docs/mode_collapse.md): 25.0 +- 0.0 of 25 modes, 96.9 +- 0.5% high
quality, reverse KL 0.007 +- 0.003 (PacGAN4: 24.8, 93.6%, 0.04), 2,022 +- 24 s per seed with
two runs side by side on the 2-core CPU. The longer cosine decay is what sharpens the modes:
at 20,000 steps 92.1 +- 1.3% (25.0 modes, 0.010). Of seed 0's 25,000 samples at 40,000 steps
2.9% lie beyond 3 std: 1.9% at 3-10 std (blurred modes) and 1.1% beyond 10 std (bridges
between modes). A wider G (3 x 512) at 20,000 steps gave 95.1% on seed 0. Without the
minibatch stddev (20,000 steps) 23.0 +- 1.4 modes, 91.1 +- 0.5%, 0.323 +- 0.066 (one row or
column of 5 modes left nearly empty on each seed).

Until 2026-11-26 the grid recipe dropped R1 and added BatchNorm in G, for 10,000 steps:
18.3 +- 3.3 of 25 modes, 72.6 +- 2.4% high quality, reverse KL 1.30 +- 0.21 over 3 seeds,
most of the mass on the corners (3-6x a mode's share at 20,000 steps) and the interior
nearly empty. R1 0.01 is what spreads G over the interior (24 modes on seed 0 with or
without BatchNorm) and dropping BatchNorm is what sharpens it (high quality 70.1% with it,
91.7% without, 20,000 steps each; numbers over 3 seeds in docs/mode_collapse.md).

Variants: `configs/toy_grid.py:smoke`, and any 'field=value'.
"""

from configs import default
from configs import toy_ring


def get_config(arg=None):
  # The ':mbstd' variant (default.apply_variant) built in: every mode, evenly.
  config = default.apply_variant(toy_ring.recipe('grid25'), 'mbstd')
  config.num_train_steps = 40_000  # The ring's 20,000: 92.1% high quality over 3 seeds.
  return default.apply_variant(toy_ring.smoke_widths(config, arg), arg)
