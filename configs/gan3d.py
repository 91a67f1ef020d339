"""3D-GAN (Wu, Zhang, Xue, Freeman & Tenenbaum 2016) on generated voxel shapes.

Data (dataset.name='voxel_shapes', gan_jax/data/voxels.py): 32^3 occupancy grids (+1 in, -1
out) of spheres, boxes, cylinders, cones and tori of random size, rotation and position,
50,000 training shapes, 5,000 held out ('test'). Model (model.name='gan3d',
gan_jax/models/conv3d.py): z (200-d, the paper's) -> Dense to 4^3 x 64 -> 3 x [BN, ReLU, 3-D
transposed conv 4/2/1] (64 -> 32 -> 16 -> 1 channels) -> 32^3 -> tanh; D mirrors it with
strided 3-D convs (16, 32, 64 channels), BN and LeakyReLU(0.2) -> Dense -> logit. Widths 16,
a quarter of the paper's 64 (512, 256, 128, 64 at 64^3), and batch 16 (the paper: 100) so
that 2,000 steps take about 25 minutes on two CPU cores (1.37 steps/s measured alone; with
three other runs beside it, 40 minutes reached step 1,556: docs/gan3d.md). Non-saturating
loss, EMA of G (decay 0.999).

Optimizers: the paper uses Adam (b1 0.5) with G lr 0.0025, D lr 1e-5, batch 100, and updates
D only when its accuracy on the last batch was below 80% (`--config.d_accuracy_gate=0.8`,
the shared step's gate). This recipe uses DCGAN's Adam 2e-4, b1 0.5 for both players and no
gate: at batch 16 the paper's rates with the gate left D fooled by step 50 (D(G(z)) ~1,
G's loss ~0), and the gate with these rates gave the same blobs at 2,000 steps (KL 0.46,
FID 2,996 against the recipe's 0.49 and 3,034; docs/gan3d.md).

Evaluation (eval.voxels, gan_jax/modalities/voxels.py) every eval_every (1,000) steps and
by launch/evaluate.py: a 3-D CNN trained on 4,000 real shapes (83.5% held-out accuracy);
FID of 2,000 generated shapes to 2,000 held-out shapes in its features beside the real
floor, the kind histogram and its KL to uniform, the largest-connected-component fraction. `:smoke` is 6 steps on 16^3 grids
(no periodic evaluation; a tiny evaluation budget when evaluated, e.g. ':smoke,eval_every=6');
any 'field=value' follows.
"""

from configs import default


def get_config(arg=None):
  config = default.get_config()
  config.dataset.name = 'voxel_shapes'
  config.dataset.split = 'train'
  config.model.name = 'gan3d'
  config.model.latent_dim = 200
  config.model.g_width = 16
  config.model.d_width = 16
  config.loss.name = 'non_saturating'
  default.set_optimizers(config, name='adam', lr=2e-4, b1=0.5)
  config.batch_size = 16
  config.num_train_steps = 2_000
  config.log_every = 50
  config.sample_every = 500
  config.checkpoint_every = 500
  config.eval_every = 1_000
  config.num_sample_images = 27
  config.ema_decay = 0.999
  if default.has_variant(arg, 'smoke'):
    config.eval_every = 0
    config.dataset.voxels.size = 16   # 4^3 -> 16^3: two stages, fast to compile.
    config.eval.voxels.num_samples = 50
    config.eval.voxels.num_reference = 50
    config.eval.voxels.classifier_split = 'train[-200:]'
    config.eval.voxels.classifier_steps = 20
  return default.apply_variant(config, arg)
