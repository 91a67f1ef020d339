"""CycleGAN (Zhu et al. 2017): unpaired translation from the 8x8 UCI handwritten digits
(scikit-learn's, upsampled to MNIST's framing; domain A) to the embedded MNIST digits (B).

Two ResNet-block generators (instance norm, ngf 16 and 4 residual blocks at 1/4 side: the
paper's ngf 64 and 6 blocks at 128 px, cut for 32 px digits on a CPU), two PatchGAN discriminators (instance norm, 34 px
receptive field), least-squares loss, cycle loss
lambda 10, identity loss 0.5 * lambda, image pools of 50 translations, Adam 2e-4 beta1 0.5,
the learning rate constant for the first half of the run and linearly decayed to 0 over the
second (the paper's schedule); batch 8 (the paper's is 1); no EMA. Digits padded to 32x32. Class labels exist on both
sides and are never used in training (evaluation measures class preservation with them).
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  parts = default.split_variant(arg)
  config.objective.name = 'cyclegan'
  config.model.name = 'cyclegan'
  config.model.cycle_resnet.normalization = 'instance'
  config.model.cycle_resnet.identity_outputs = True
  config.model.patchgan.normalization = 'instance'
  config.dataset.name = 'unpaired_digits'
  config.dataset.image_size = 32
  config.dataset.split = 'train[:4500]'
  config.dataset.eval_split = 'train[4500:]'
  config.dataset.domain_a_split = 'train[:1500]'
  config.dataset.domain_a_eval_split = 'train[1500:]'
  config.loss.name = 'least_squares'
  config.objective.cyclegan.cycle_weight = 10.0
  config.objective.cyclegan.identity_weight = 0.5
  config.objective.cyclegan.pool_size = 50
  config.num_train_steps = 2_000
  config.model.cycle_resnet.num_blocks = 4
  config.model.cycle_resnet.ngf = 16
  default.set_optimizers(config, name='adam', lr=2e-4, b1=0.5, b2=0.999, schedule='linear',
                         decay_begin_fraction=0.5)
  config.ema_decay = 0.0
  config.batch_size = 8
  config.sample_every = 500
  config.num_sample_images = 16
  if 'smoke' in parts:
    config.model.cycle_resnet.ngf = 8
    config.model.cycle_resnet.num_blocks = 1
    config.model.patchgan.ndf = 8
  return default.apply_variant(config, ','.join(parts))
