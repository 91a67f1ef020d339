"""Population-based training (Jaderberg et al. 2017) of the DCGAN recipe on the embedded digits.

Eight members of configs/dcgan.py (same networks, batch, loss) in one vmapped step, each with
its own seed and hyperparameters drawn log-uniform from the run's seed: both players'
learning rates in [2e-5, 2e-3] and Adam beta1 in [0, 0.9] (1 - beta1 log-uniform). Every
500 steps each member is evaluated (classifier FID, 2,000 samples) and the worst quarter copy
the whole state of a member of the best quarter and perturb its hyperparameters by x0.8 or
x1.25 (docs/populations.md). Measured there, with the commands.

Variants:
- ':fixed': the same population with PBT off (its members keep the hyperparameters they
  were drawn with): the baseline of the same budget.
- ':smoke': a few steps of 4 members (a PBT round at step 2).
and any 'field=value'.
"""

from configs import dcgan
from configs import default


def get_config(arg=None):
  config = dcgan.get_config()
  config.population.size = 8
  config.population.ranges = ('optim.g.lr=2e-5..2e-3 optim.d.lr=2e-5..2e-3 '
                              'optim.g.adam.b1=0.0..0.9 optim.d.adam.b1=0.0..0.9')
  config.pbt.interval = 500
  config.pbt.metric = 'eval/fid'
  config.pbt.fraction = 0.25
  config.eval_every = 500  # Both arms are evaluated at the PBT rounds (the same cost).
  config.eval.num_samples = 2_000
  config.eval.kid_subsets = 10
  config.log_every = 100
  config.sample_every = 1_000
  config.checkpoint_every = 500
  config.population.grid_images = 10
  if default.has_variant(arg, 'fixed'):
    config.pbt.interval = 0
    config.population.sort_by = 'eval/fid'
  if default.has_variant(arg, 'smoke'):
    config.population.size = 4
    config.pbt.interval = 0 if default.has_variant(arg, 'fixed') else 2
    config.eval_every = 2
    config.eval.num_samples = 200
  return default.apply_variant(
      config, ','.join(p for p in default.split_variant(arg) if p != 'fixed'))
