"""DCGAN on Stacked MNIST: the 1,000-mode collapse benchmark (Metz et al. 2017, Unrolled GAN;
Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).

Data (dataset.name='stacked_mnist', gan_jax/data/stacked.py): 128,000 images 28x28x3 whose
R, G and B channels are three embedded MNIST digits drawn uniformly (the 5,000 digits of
'train'); mode = 100 d_R + 10 d_G + d_B, 1,000 modes. The model is this project's DCGAN
recipe (configs/dcgan.py: transposed-conv G with BatchNorm + ReLU, strided-conv D with
LeakyReLU(0.2), non-saturating loss, Adam 2e-4 with beta1 0.5, batch 64, no EMA), built for
3 output channels from the data shape, with an R1 penalty (gamma 1) on D, whose BatchNorm
is LayerNorm (the penalty needs each example's score to depend on that example only). At
its 20,000 steps it scored 1,000 modes and KL 0.084 and 0.086 (seeds 0 and 1; the plain
DCGAN 0.191), and at 10,000 steps 0.192 and 0.221, against 0.242-0.290 for three runs of the
plain DCGAN (docs/mode_collapse.md); `penalty.name=none,model.dcgan.d_normalization=batch`
gives the plain DCGAN back. Evaluation (gan_jax/evaluation.py, also every
eval_every steps): 26,000 samples, each channel classified by the digit classifier trained
on single embedded digits; modes covered (of 1,000) and KL(mode histogram || uniform).

Paper numbers (modes of 1,000 / KL), 28x28 Stacked MNIST of the 70,000 MNIST digits, 26,000
samples; PacGAN's table numbers as in the figures of its authors' code (fjxmlzn/PacGAN,
stacked_MNIST_experiments/results):
  VEEGAN setting (PacGAN Table 2; the first four rows are VEEGAN's Table 2):
    DCGAN 99.0 / 3.40, ALI 16.0 / 5.40, Unrolled GAN 48.7 / 4.32, VEEGAN 150.0 / 2.95;
    PacGAN's own DCGAN 78.9 +- 6.46 / 4.50 +- 0.127, PacDCGAN2 1000.0 / 0.06 +- 0.003,
    PacDCGAN3 1000.0 / 0.06 +- 0.003, PacDCGAN4 1000.0 / 0.07 +- 0.005 (10 trials; their
    DCGAN trains 50 epochs of the 128,000 images at batch 64, i.e. 100,000 steps).
  Unrolled-GAN setting, smaller D (PacGAN Table 3; DCGAN and Unrolled rows from Metz 2017):
    D 1/4 of G: DCGAN 30.6 +- 20.73 / 5.99 +- 0.42, Unrolled 10 steps 327.2 +- 74.67 /
    4.66 +- 0.46, PacGAN's DCGAN 78.5 +- 17.56 / 5.21 +- 0.19, PacDCGAN2 484.5 +- 32.99 /
    2.61 +- 0.22; D 1/2 of G: DCGAN 628.0 +- 140.9 / 2.58 +- 0.75, Unrolled 10 steps
    817.4 +- 37.91 / 1.43 +- 0.12, PacDCGAN3 866.6 +- 12.10 / 0.90 +- 0.04.
The real-data floor here (26,000 real stacked images through the same classifier): see
docs/mode_collapse.md; KL is not 0 even there (a finite sample of the uniform modes).

Budget: 20,000 steps (10 epochs of the 128,000 images at batch 64), a fifth of the papers'
100,000 (10,000 until 2026-11-28). Measured on 2 CPU cores: the plain DCGAN 6.1-11.2 steps/s
shared with other work (9-10 alone), with R1 4.0-7.7 steps/s alone (machines differ), so
training takes 45-85 min; each evaluation (26,000
samples, 78,000 digit classifications) 30-55 s, every 2,500 steps. The classifier (500 Adam
steps on the 5,000 single digits, ~40 s) is trained once and cached in eval.cache_dir.
`configs/stacked_mnist.py:smoke` is a few-step run without periodic evaluation (and 1,000
samples when evaluated; ':smoke,eval_every=6' evaluates its last step); any 'field=value'
follows.
"""

from configs import dcgan
from configs import default


def get_config(arg=None):
  config = dcgan.get_config()   # The DCGAN recipe: model, loss, optimizers, no EMA.
  config.dataset.name = 'stacked_mnist'
  config.dataset.stacked_size = 128_000
  config.num_train_steps = 20_000
  config.eval_every = 2_500
  config.eval.stacked_num_samples = 26_000
  config.penalty.name = 'r1'
  config.penalty.weight = 1.0
  config.model.dcgan.d_normalization = 'layer'
  if default.has_variant(arg, 'smoke'):  # No evaluation at the last step; by hand, a quick one.
    config.eval_every = 0
    config.eval.stacked_num_samples = 1_000
  return default.apply_variant(config, arg)
