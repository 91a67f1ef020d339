"""3-D convolutional video GAN (VGAN, Vondrick et al. 2016; TGAN family) on Moving MNIST.

Data (gan_jax/data/moving_mnist.py, docs/video.md): clips of two embedded MNIST digits
bouncing on a 64x64 canvas (Srivastava et al. 2015), generated on the fly: split 'train' has
100,000 clips of the digits [0, 4000), 'test' (held out, eval_split) 10,000 of [4000, 5000).
16 frames, area-averaged to 32x32 (dataset.image_size=32).
Model (gan_jax/models/conv3d.py, model.name='video_gan'): one 3-D stream; G = Dense ->
(2, 4, 4, 128) -> BN, ReLU, ConvTranspose3D x 3 -> tanh (16 x 32 x 32 x 1); D = Conv3D x 3
(BN, LeakyReLU 0.2) -> Dense -> logit; widths g_width = d_width = 32. Non-saturating loss,
Adam 2e-4 (b1 0.5), batch 16 clips, no EMA (as configs/dcgan.py and the papers); 5,000 steps,
evaluated every 2,500 (the video metrics of gan_jax/modalities/video.py, eval.video).

Speed, measured on this machine's 2 CPU cores with other jobs beside it (load average 5-8;
the compiled train step after compilation, one device, batch 16; docs/video.md): this recipe
(16 x 32 x 32, widths 32) 0.63 steps/s, so 5,000 steps take about 2 h 10 min; the full size
(16 x 64 x 64, widths 64: ':full') 0.049 steps/s, 20 s per step, too slow here (a GPU
setting; the 3-D convolutions then use XLA's, model.conv3d.conv_impl='auto').

Variants (compose, then any 'field=value'): ':smoke' a 6-step run at 8 frames of 16x16;
':full' the 64-px canvas with widths 64; ':tfds' TFDS moving_mnist (the paper's 10,000 test
clips, 20 frames, unlabelled; needs TensorFlow and its prepared data in dataset.data_dir):
'test[:9000]' to train, 'test[9000:]' held out.
"""

from configs import default


def moving_mnist(config, arg):
  """The Moving MNIST data, batch and run length of both video recipes (video_gan, mocogan),
  with their 'smoke', 'full' and 'tfds' variants; returns the variant parts left."""
  parts = default.split_variant(arg)
  config.dataset.name = 'moving_mnist'
  config.dataset.split = 'train'
  config.dataset.eval_split = 'test'
  config.dataset.image_size = 32    # Frames area-averaged from the 64-px canvas (0 = 64).
  config.model.g_width = config.model.d_width = 32
  config.batch_size = 16
  config.num_sample_images = 16     # Clips in the sample GIFs.
  config.num_train_steps = 5_000
  config.eval_every = 2_500
  config.ema_decay = 0.0            # As configs/dcgan.py: EMA with BatchNorm did worse there.
  if 'full' in parts:
    parts.remove('full')
    config.dataset.image_size = 0
    config.model.g_width = config.model.d_width = 64
  if 'tfds' in parts:
    parts.remove('tfds')
    config.dataset.name = 'tfds_moving_mnist'
    config.dataset.split = 'test[:9000]'
    config.dataset.eval_split = 'test[9000:]'
  if 'smoke' in parts:  # 8 frames of 16x16 compile in seconds; no evaluation.
    config.dataset.image_size = 16
    config.dataset.moving_mnist.num_frames = 8
    config.eval_every = 0
  return parts


def get_config(arg=None):
  config = default.get_config()
  parts = moving_mnist(config, arg)
  config.model.name = 'video_gan'
  config.model.latent_dim = 100
  config.loss.name = 'non_saturating'
  return default.apply_variant(config, ','.join(parts))
