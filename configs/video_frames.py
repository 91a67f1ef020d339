"""The independent-frames baseline of the video metrics: DCGAN on single Moving MNIST frames.

An image GAN trained on the frames of Moving MNIST clips (dataset.name='moving_mnist_frames',
gan_jax/data/moving_mnist.py: frame t of clip i of split 'train') knows what a frame looks
like and nothing of motion. The video modality (gan_jax/modalities/video.py) makes a clip of
T = dataset.moving_mnist.num_frames (16) consecutive independent samples, for the sample GIFs
and for the video metrics (docs/video.md): every frame is a plausible frame, but the digits
change from frame to frame and jump around. A video model should beat it on temporal
consistency, motion smoothness and the clip-level Frechet distance, and match it on the
per-frame FID.

Frames are those of configs/video_gan.py and configs/mocogan.py: the 64-px canvas
area-averaged to 32x32 (dataset.image_size=32; smoke: 16x16 and 8 frames, as theirs). The
model is this project's DCGAN recipe (configs/dcgan.py: transposed-conv G with BatchNorm +
ReLU, strided-conv D with LeakyReLU(0.2), non-saturating loss, Adam 2e-4 with beta1 0.5,
batch 64, no EMA), built for 32x32x1 frames from the data shape (base 4, three
up/down-sampling stages). The sample grid holds 16 clips (num_sample_images = 16 T frames at
the fixed latents: samples/step_N.gif and step_N_frames.png). Evaluation every 5,000 steps
(eval.video: 500 clips, i.e. 8,000 independent frames, vs 500 held-out real clips).
`configs/video_frames.py:smoke` is a few-step run without evaluation; any 'field=value'
follows.
"""

from configs import dcgan
from configs import default

SAMPLE_CLIPS = 16  # Clips in the training GIFs.


def get_config(arg=None):
  config = dcgan.get_config()   # The DCGAN recipe: model, loss, optimizers, no EMA.
  config.dataset.name = 'moving_mnist_frames'
  config.dataset.split = 'train'
  config.dataset.eval_split = 'test'
  config.dataset.image_size = 32    # Frames area-averaged from the 64-px canvas (0 = 64).
  config.num_train_steps = 5_000
  config.sample_every = 1_000
  config.num_sample_images = SAMPLE_CLIPS * config.dataset.moving_mnist.num_frames
  config.eval_every = 2_500
  if default.has_variant(arg, 'smoke'):  # As the video recipes' smoke; no evaluation.
    config.dataset.image_size = 16
    config.dataset.moving_mnist.num_frames = 8
    config.eval_every = 0
  return default.apply_variant(config, arg)
