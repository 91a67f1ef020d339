"""WaveGAN (Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis") on synthesized notes.

The paper's training: WGAN-GP (Gulrajani et al. 2017: Wasserstein loss, gradient penalty
weight 10, 5 critic updates per generator update), Adam lr 1e-4, beta1 0.5, beta2 0.9,
batch 64, z ~ U[-1, 1]^100, no EMA; D with phase shuffle n = 2 (gan_jax/models/wavegan.py).
Data: 'synthetic_notes' (gan_jax/data/audio.py), 8 pitches (the C major scale C4 .. C5, the
label) x 4 timbres with random envelopes, detune and noise, 10,000 training and 2,000
held-out clips.

Budget. The paper's size (`:full`: 16 kHz, 16,384 samples, d = 64, batch 64) ran at 0.0054-
0.006 steps/s (about 3 min a step) on the 2-core CPU shared with other work. This recipe is
the CPU budget: 0.512 s clips at 8 kHz (4,096 samples, so 4 stride-4 layers instead of 5),
widths d = 16, batch 32, 10,000 steps: 1.9-2.1 steps/s on the idle 2-core CPU (about 85 min;
0.44 steps/s when shared with four other jobs), 27.5 steps/s on one H200 (about 6 min). The
pitch histogram of G's notes reaches KL < 0.1 to uniform between 8,000 and 9,000 steps (0.16
at 6,000, the length before). Results per step count: docs/audio.md#results.

Evaluation (gan_jax/modalities/audio.py): a spectrogram CNN trained on the training clips
(labels: pitch) scores 2,000 generated clips against the held-out clips: classifier-space
FID beside the real-vs-real floor, classifier score, class histogram and its KL to uniform,
the classifier's held-out accuracy.

Variants: `:smoke` (a few steps), `:full` (the paper's size: 16 kHz, 16,384 samples, d = 64,
batch 64; for a GPU), `:spoken_digits` ("zero" .. "nine" spoken by espeak-ng, the SC09
analogue, 4,000 + 1,000 clips of 1.024 s (8,192 samples at 8 kHz; with `:full` 16,384 at
16 kHz); needs `apt-get install espeak-ng`), any 'field=value'.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.dataset.name = 'synthetic_notes'
  config.dataset.audio.sample_rate = 8_000
  config.dataset.audio.length = 4_096
  config.model.name = 'wavegan'
  config.model.latent_dim = 100
  config.model.latent_distribution = 'uniform'
  config.model.g_width = 16
  config.model.d_width = 16
  config.model.wavegan.phase_shuffle = 2
  config.loss.name = 'wasserstein'
  config.penalty.name = 'gradient_penalty'
  config.penalty.weight = 10.0
  config.d_steps_per_g_step = 5
  default.set_optimizers(config, name='adam', lr=1e-4, b1=0.5, b2=0.9)
  config.ema_decay = 0.0
  config.batch_size = 32
  config.num_train_steps = 10_000
  config.log_every = 50
  config.sample_every = 500
  config.checkpoint_every = 500
  config.num_sample_images = 16
  config.eval.num_samples = 2_000
  config.eval.classifier_steps = 1_000
  config.eval.audio.frame_length = 512
  config.eval.audio.frame_step = 256
  if default.has_variant(arg, 'full'):
    config.dataset.audio.sample_rate = 16_000
    config.dataset.audio.length = 16_384
    config.model.g_width = config.model.d_width = 64
    config.batch_size = 64
    config.eval.audio.frame_length = 1_024
    config.eval.audio.frame_step = 512
  if default.has_variant(arg, 'spoken_digits'):
    config.dataset.name = 'spoken_digits'
    if not default.has_variant(arg, 'full'):  # 1.024 s at 8 kHz: every word fits (SC09: 1 s).
      config.dataset.audio.length = 8_192
    config.dataset.audio.train_size = 4_000
    config.dataset.audio.test_size = 1_000
  if default.has_variant(arg, 'smoke'):
    config.d_steps_per_g_step = 2
    config.dataset.audio.train_size = 64
    config.dataset.audio.test_size = 32
    config.eval.num_samples = 64
    config.eval.classifier_steps = 20
  rest = ','.join(p for p in default.split_variant(arg) if p not in ('full', 'spoken_digits'))
  return default.apply_variant(config, rest)
