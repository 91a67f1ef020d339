"""Population-based training (Jaderberg et al. 2017) of the DCGAN recipe on the embedded digits.

Eight members of configs/dcgan.py (same networks, batch, loss) in one vmapped step, each with
its own seed and hyperparameters drawn log-uniform from the run's seed: both players'
learning rates in [2e-5, 2e-3] and Adam beta1 in [0, 0.9] (1 - beta1 log-uniform). Every
member is evaluated every 250 steps (classifier FID, 2,000 samples); every 500 steps the
members are ranked by the mean of their last three FIDs since they were last copied
(pbt.smoothing=3: one FID of a DCGAN member swings by a median 14% between evaluations) and
the worst quarter copy the whole state of a member of the best quarter and perturb its
hyperparameters by x0.8 or x1.25 (docs/populations.md). Measured there, with the commands:
over 6 seeds at 2,000 steps its best member beats the ':fixed' population's on every seed
by the mean of the last two evaluations (41.5 against 46.6), on 4 of 6 by the last alone.

Variants:
- ':fixed': the same population with PBT off (its members keep the hyperparameters they
  were drawn with): the baseline of the same budget. A '--config.pbt.interval' on the command
  line overrides the variant's 0 and switches PBT back on.
- ':smoke': a few steps of 4 members (a PBT round at step 2).
and any 'field=value'.
"""

from configs import dcgan
from configs import default


def get_config(arg=None):
  config = dcgan.get_config()
  config.population.size = 8
  config.num_train_steps = 2_000  # The budget of the measured comparison.
  config.population.ranges = ('optim.g.lr=2e-5..2e-3 optim.d.lr=2e-5..2e-3 '
                              'optim.g.adam.b1=0.0..0.9 optim.d.adam.b1=0.0..0.9')
  config.pbt.interval = 500
  config.pbt.metric = 'eval/fid'
  config.pbt.fraction = 0.25
  config.pbt.smoothing = 3
  config.eval_every = 250  # Both arms are evaluated twice per PBT round (the same cost).
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
