"""SeqGAN (Yu et al. 2017, "SeqGAN: Sequence Generative Adversarial Nets with Policy
Gradient"): objective 'seqgan' (gan_jax/objectives/seqgan.py), model 'sequence'.

G: the LSTM of configs/text_mle.py (hidden and embedding 32), started from an MLE run's G
through config.init_from (`--config.init_from.workdir=RUN --config.init_from.players=g`);
REINFORCE with D's reward of num_rollouts = 16 Monte Carlo completions of every prefix (the
paper's), no baseline (the paper's; 'batch_mean', the leave-one-out baseline, is the
lower-variance option: on the oracle it lost to MLE on both NLL-oracle and NLL-test, where
the paper's setting trades NLL-test for NLL-oracle; docs/text.md#results), Adam lr 0.01
(b1 0.9: the paper's G).
D: SeqGAN's CNN (filter sizes 1..10, 15, 20 with 100-200 filters at model.d_width 64,
highway, dropout 0.25), Adam lr 1e-4, d_steps_per_g_step = 5 D updates (fresh real and
generated batches) per G update (the paper trains D far more: 5 x 3 epochs on 10,000
generated sequences per G update), batch 64.

The paper's three phases are three runs chained by init_from:
  1. MLE: `python launch/main.py --config=configs/text_mle.py --workdir=RUN/mle`;
  2. D pre-training (`:pretrain_d`: G held fixed, no rollouts), from the MLE G:
     `--config=configs/seqgan.py:pretrain_d --config.init_from.workdir=RUN/mle
     --config.init_from.players=g --workdir=RUN/d`;
  3. adversarial training, from both: `--config=configs/seqgan.py
     --config.init_from.workdir=RUN/d --config.init_from.players=gd --workdir=RUN/seqgan`.
Without init_from, G and D start from scratch (the smoke runs do).

Budget: at d_width 64 one adversarial step takes ~15 s on the shared 2-core CPU (D scores
19,456 rollout completions); the measured runs used --config.model.d_width=16 and D lr 1e-3
for pre-training and adversarial training alike (~6 s / step; docs/text.md#results).

`--config.objective.seqgan.mle_weight=W` adds W x MLE's teacher-forcing loss on the real batch
to G's loss (0, the paper's pure REINFORCE, by default; docs/text.md).

Tasks as configs/text_mle.py: ':oracle' (default; NLL-oracle) or ':sentences' (BLEU and
self-BLEU). Variants: ':pretrain_d' (phase 2: 1,000 D steps), ':smoke', any 'field=value'.
"""

from configs import default
from configs import text_mle


def get_config(arg=None):
  config = default.get_config()
  rest = text_mle.text_task(config, arg)
  config.objective.name = 'seqgan'
  config.objective.seqgan.num_rollouts = 16
  config.objective.seqgan.baseline = 'none'      # The paper's.
  config.optim.g.name = config.optim.d.name = 'adam'
  config.optim.g.lr, config.optim.g.adam.b1, config.optim.g.adam.b2 = 0.01, 0.9, 0.999
  config.optim.d.lr, config.optim.d.adam.b1, config.optim.d.adam.b2 = 1e-4, 0.9, 0.999
  config.d_steps_per_g_step = 5
  config.init_from.players = 'g'
  # 50 G updates: on the oracle SeqGAN is below MLE's temperature curve at 25 and 50 steps
  # on 3 seeds and above it by 200, the paper's count (docs/text.md#results).
  config.num_train_steps = 50
  config.log_every = 10
  config.sample_every = 25
  config.checkpoint_every = 25
  config.eval_every = 25
  if default.has_variant(arg, 'pretrain_d'):
    config.objective.seqgan.pretrain_discriminator = True
    config.d_steps_per_g_step = 1
    config.num_train_steps = 1_000
    config.eval_every = 0
    config.sample_every = config.checkpoint_every = 500
  if default.has_variant(arg, 'smoke'):
    config.objective.seqgan.num_rollouts = 2
    config.d_steps_per_g_step = 2
  rest = ','.join(p for p in default.split_variant(rest) if p != 'pretrain_d')
  return default.apply_variant(config, rest)
