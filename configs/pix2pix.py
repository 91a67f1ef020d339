"""pix2pix (Isola et al. 2017) on paired digit tasks made from the embedded MNIST digits.

G: U-Net with skip connections, dropout 0.5 in its first decoder layers as the noise source,
BatchNorm; D: PatchGAN on (condition, image) pairs (2 stride-2 layers, a 34 px receptive
field on the 32 px digits); BCE adversarial loss + 100 * L1; D's objective halved; Adam 2e-4,
beta1 0.5; no EMA (G has BatchNorm and dropout). Digits padded to 32x32; trained on
'train[:4500]', evaluated on the held-out 'train[4500:]'.

The task is a variant or `dataset.task`:
  configs/pix2pix.py                       super-resolution 7x7 -> 28x28 (default)
  configs/pix2pix.py:super_resolution_14   14x14 -> 28x28
  configs/pix2pix.py:inpainting            a random 8-16 px box masked
  configs/pix2pix.py:gaussian_noise        denoising, sigma 0.5 (of the [-1, 1] range)
  configs/pix2pix.py:salt_and_pepper       denoising, 20% of pixels set to -1 or +1
  configs/pix2pix.py:edges                 Sobel edge map -> digit
Variants compose with `smoke` and 'field=value'.
"""

from configs import default

TASKS = ('super_resolution_7', 'super_resolution_14', 'inpainting', 'gaussian_noise',
         'salt_and_pepper', 'edges')


def get_config(arg=None):
  config = default.get_config()
  parts = default.split_variant(arg)
  config.objective.name = 'pix2pix'
  config.model.name = 'pix2pix'
  config.dataset.name = 'paired_digits'
  config.dataset.task = 'super_resolution_7'
  config.dataset.image_size = 32
  config.dataset.split = 'train[:4500]'
  config.dataset.eval_split = 'train[4500:]'
  config.loss.name = 'non_saturating'
  config.objective.pix2pix.l1_weight = 100.0
  config.objective.pix2pix.d_loss_scale = 0.5
  default.set_optimizers(config, name='adam', lr=2e-4, b1=0.5, b2=0.999)
  config.ema_decay = 0.0
  config.batch_size = 32
  config.num_train_steps = 3_000
  config.sample_every = 500
  config.num_sample_images = 16
  for task in TASKS:
    if task in parts:
      parts.remove(task)
      config.dataset.task = task
  if 'smoke' in parts:
    config.model.unet.ngf = 8
    config.model.patchgan.ndf = 8
  return default.apply_variant(config, ','.join(parts))
