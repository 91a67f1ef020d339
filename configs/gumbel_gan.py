"""A Gumbel-softmax text GAN (Kusner & Hernandez-Lobato 2016): objective 'gumbel'
(gan_jax/objectives/gumbel.py), model 'sequence'.

G: the LSTM of configs/text_mle.py (hidden and embedding 32) emitting Gumbel-softmax relaxed
one-hot vectors, fed back through its embedding; temperature tau = max(0.1, exp(-1e-3 n)) after
n G updates (annealed from 1 to 0.1 over ~2,300 steps). D: SeqGAN's CNN (model.d_width 64:
the paper's filter counts), reading the relaxed vectors through its embedding matrix. Loss
non-saturating, Adam lr 1e-4 (b1 0.5) for both players, one D update per G update, batch 64,
3,000 steps. Start G from an MLE run with `--config.init_from.workdir=RUN/mle
--config.init_from.players=g` (the recipe's runs in docs/text.md do); without it, from scratch.

Tasks as configs/text_mle.py: ':oracle' (default) or ':sentences'. Variants: ':smoke', any
'field=value'.
"""

from configs import default
from configs import text_mle


def get_config(arg=None):
  config = default.get_config()
  rest = text_mle.text_task(config, arg)
  config.objective.name = 'gumbel'
  config.objective.gumbel.tau_start = 1.0
  config.objective.gumbel.tau_min = 0.1
  config.objective.gumbel.anneal_rate = 1e-3
  config.objective.gumbel.straight_through = False
  config.loss.name = 'non_saturating'
  default.set_optimizers(config, name='adam', lr=1e-4, b1=0.5, b2=0.999)
  config.init_from.players = 'g'
  config.num_train_steps = 3_000
  config.log_every = 50
  config.sample_every = 500
  config.checkpoint_every = 500
  config.eval_every = 1_000
  return default.apply_variant(config, rest)
