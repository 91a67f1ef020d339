"""MoCoGAN (Tulyakov et al. 2018) on Moving MNIST.

Data, batch, budget and variants (':smoke', ':full', ':tfds'): as configs/video_gan.py
(16 frames of 32x32, batch 16 clips, 5,000 steps, evaluated every 2,500).
Model (gan_jax/models/mocogan.py, model.name='mocogan'): G's latent is [z_content (50) |
eps_1 .. eps_16 (10 each)] (latent_dim 210, kept equal to content_dim + T x
motion_noise_dim when those fields change; + motion_dim for h_0 with
model.mocogan.random_initial_state=True, which removes the clock of the 5,000-step run but
not its collapse: docs/video.md#results); a GRU (10 units, from h_0 = 0) turns eps_t into
the motion code z_m(t); the DCGAN image generator (width 32, BN + ReLU, tanh) maps
[z_content, z_m(t)] to frame t. D: video_gan's 3-D D on the clip ('logit') and the DCGAN
image D on one random frame per clip ('image_logit', model.mocogan.image_frames = 1, as the
paper's image D sees single frames). Objective 'mocogan' (gan_jax/objectives/mocogan.py)
adds the image D's terms with weight 1 (objective.mocogan.image_weight; the paper's).
objective.mocogan.content_weight (0 here) with model.mocogan.content_head adds an InfoGAN
term that reads z_content back from single frames: 10 with 128 gave the steadiest clip FD
measured (14.1 at 5,000 steps, the recipe 23.2; one run, and not with random_initial_state)
but not digits that follow z_content (docs/video.md#results). Categorical content codes
(model.mocogan.content_codes, objective.mocogan.code_weight; anchored on the real digits
with sorted_codes / code_real_weight / codes_on_fakes) and minibatch stddev in D_I
(model.d_minibatch_stddev) were measured off too: G hides the codes as well.
Identity-swapped real clips as extra fakes for D_V (dataset.moving_mnist.swap_clips,
objective.mocogan.swap_weight=0.5) end that content collapse (content information 1.0-1.7
nats, before 0.13-0.46) but G's digits then nearly stand still (speed 0.22-0.43 px/frame,
real 1.21; swap_weight=0.2 only delays that: speed 0.98 at 2,500 steps, 0.59 at 4,000),
so they stay off here too (docs/video.md#results). Motion-slowed real twins beside them
(dataset.moving_mnist.slow_clips, objective.mocogan.slow_weight) make G's digits move to
4,000 steps, but by jumps (acceleration 2.9-4.9, real 0.59), and still clips return by
5,000; with frame-shuffled twins as well (shuffle_clips, shuffle_weight) they are still by
2,500. D_V wins outright (mean logit on G's clips -16 at 5,000; 3D-GAN's accuracy gate
freezes D and G collapses onto one clip); off here too. Holding D_V back continuously
beside the twins (R1 on D_V, penalty.weight=10, or optim.d.lr_multipliers='video=0.25')
halves its lead, and G's clips then jump (speed 3.6-4.3, acceleration 6-7; content collapse
back): neither end of D_V's strength gives smooth motion (docs/video.md#results).
Non-saturating loss, Adam 2e-4 (b1 0.5) for G and both D's, no EMA: the original code's Adam
settings (lr 2e-4, betas (0.5, 0.999); it adds an L2 weight decay of 1e-5, not used here).

Measured as configs/video_gan.py's (2 CPU cores, load average 5-8): 0.72 steps/s at
16 x 32 x 32, widths 32 (0.56-0.76 in a 400-step launch/main.py run writing GIFs every 100
steps); 0.050 steps/s (20 s per step) at the full 16 x 64 x 64, widths 64 (':full').
"""

from configs import default
from configs import video_gan


def get_config(arg=None):
  config = default.get_config()
  parts = video_gan.moving_mnist(config, arg)
  config.model.name = 'mocogan'
  config.objective.name = 'mocogan'
  config.loss.name = 'non_saturating'
  own = config.model.mocogan
  # G's latent [z_content | codes | h_0 | eps_1..eps_T] follows content_dim, the codes,
  # random_initial_state, motion_dim, motion_noise_dim and the clip length when they are
  # overridden (a lazy ml_collections reference).
  config.model.latent_dim = own.get_ref('content_dim') + \
      own.get_ref('content_codes') * own.get_ref('content_code_classes') + \
      own.get_ref('random_initial_state').to_int() * own.get_ref('motion_dim') + \
      own.get_ref('motion_noise_dim') * config.dataset.moving_mnist.get_ref('num_frames')
  return default.apply_variant(config, ','.join(parts))
