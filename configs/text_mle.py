"""The MLE-only text generator (objective 'mle'): the baseline of the text GANs and the
pre-training of SeqGAN (Yu et al. 2017) and the Gumbel-softmax GAN.

G: SeqGAN's LSTM language model (gan_jax/models/sequence.py: embedding and hidden 32 =
model.g_width), trained by teacher forcing; Adam lr 0.01 (b1 0.9, b2 0.999: SeqGAN's
generator optimizer), batch 64, no EMA. D is built (SeqGAN's CNN; model.d_width 64 = the
paper's filter counts) but not trained (a zero D loss); an adversarial run may start from it.

Tasks (the variant; `text_task` is shared by configs/seqgan.py and configs/gumbel_gan.py):
- 'oracle' (default): SeqGAN's synthetic oracle (dataset 'text_oracle': vocabulary 5,000,
  length 20, oracle hidden 32, 10,000 training sequences); evaluation: NLL-oracle of
  eval.num_samples = 10,000 generated sequences (the paper's 10,000), beside the oracle's own
  samples and held-out real sequences. 12,500 steps = 80 epochs (the paper's pre-training).
- 'sentences': sentences of CPython's pydoc_data (dataset 'pydoc_sentences', words, at most
  32 tokens, vocabulary capped at 2,000 ids, <eos> = 0 and padding after it); evaluation:
  BLEU-2..5 against the held-out sentences and self-BLEU, beside the same for real sentences.
  3,000 steps.

Variants: ':oracle', ':sentences', ':smoke' (a few steps; vocabulary 200, length 10, 200
sequences),
any 'field=value'. The docs: docs/text.md.
"""

from configs import default

TASKS = ('oracle', 'sentences')


def text_task(config, arg):
  """The text settings every text recipe shares, for the task named in the variant string
  `arg` ('oracle' unless 'sentences' is named); returns the variant string left."""
  config.model.name = 'sequence'
  config.model.g_width = 32          # SeqGAN: embedding 32, hidden 32.
  config.model.d_width = 64          # SeqGAN's D: embedding 64, 100-200 filters per size.
  config.model.latent_dim = 2        # G's randomness: its latents' bits seed each sequence.
  config.batch_size = 64
  config.ema_decay = 0.0
  config.num_sample_images = 16      # Sentences written per sample step.
  config.eval.num_samples = 10_000
  if default.has_variant(arg, 'sentences'):
    config.dataset.name = 'pydoc_sentences'
    config.dataset.text.seq_len = 32
    config.dataset.text.vocab_size = 2_000
    config.model.sequence.pad_after_eos = True
    config.eval.num_samples = 1_000
  else:
    config.dataset.name = 'text_oracle'
    config.dataset.text.seq_len = 20
    config.dataset.text.vocab_size = 5_000
    config.model.sequence.pad_after_eos = False
  if default.has_variant(arg, 'smoke'):
    config.dataset.text.vocab_size = min(config.dataset.text.vocab_size, 200)
    config.dataset.text.seq_len = min(config.dataset.text.seq_len, 10)  # Short compiles.
    config.dataset.text.num_train = 200
    config.dataset.text.num_test = 200
    config.eval.num_samples = 64
  config.model.sequence.vocab_size = config.dataset.text.vocab_size
  return ','.join(p for p in default.split_variant(arg) if p not in TASKS)


def get_config(arg=None):
  config = default.get_config()
  rest = text_task(config, arg)
  config.objective.name = 'mle'
  default.set_optimizers(config, name='adam', lr=0.01, b1=0.9, b2=0.999)
  config.num_train_steps = 12_500
  if default.has_variant(arg, 'sentences'):
    config.num_train_steps = 3_000
  config.log_every = 100
  config.sample_every = 1_000
  config.checkpoint_every = 1_000
  config.eval_every = 2_500
  return default.apply_variant(config, rest)
