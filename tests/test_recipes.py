"""The GAN family recipes in configs/: each loads (plain and ':smoke') and trains.

Fast: every config loads; every recipe's smoke variant runs 2 real steps through
`train.train_and_evaluate` (narrow widths, one device). Slow (-m slow): the toy ring recipe
captures >= 6 of 8 modes in a short run.
"""

import glob
import importlib
import inspect
import json
import os

import numpy as np
import pytest

from configs import default

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'configs')
CONFIG_NAMES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(CONFIG_DIR,
                                                                              '*.py'))
                      if not os.path.basename(p).startswith('_'))
RECIPES = [n for n in CONFIG_NAMES if n != 'default']
# (recipe, variant) pairs trained for 2 steps.
# Compile-heavy smoke runs (7-25 s each on 2 cores), trained in the slow suite; lsgan, wgan
# and stacked_mnist are the dcgan smoke run with another loss / 3 channels (their settings
# are checked by test_recipe_settings, their losses and data by their own tests).
SLOW_SMOKE = ('cyclegan', 'pix2pix', 'acgan', 'sngan_projection', 'lsgan', 'wgan',
              'stacked_mnist', 'video_gan', 'mocogan', 'video_frames', 'gan3d', 'wavegan',
              'stylegan2', 'text_mle', 'seqgan', 'gumbel_gan', 'dcgan_pbt')
SMOKE_RUNS = [(n, 'smoke') for n in RECIPES if n not in SLOW_SMOKE] + [
    pytest.param(n, 'smoke', marks=pytest.mark.slow) for n in SLOW_SMOKE] + [
    pytest.param('sngan', 'resnet,smoke', marks=pytest.mark.slow)]

EXPECTED = {  # The settings each recipe's docstring promises.
    'gan_mlp': dict(loss='non_saturating', model='mlp'),
    'wgan': dict(loss='wasserstein', model='dcgan', clip=0.01, n_critic=5, opt='rmsprop',
                 lr=5e-5),
    'wgan_gp': dict(loss='wasserstein', model='dcgan', penalty=('gradient_penalty', 10.0),
                    n_critic=5, opt='adam', lr=1e-4, betas=(0.0, 0.9), d_norm='layer'),
    'lsgan': dict(loss='least_squares', model='dcgan'),
    'sngan': dict(loss='hinge', model='dcgan', d_sn=True, d_norm='none'),
    # D without biases and normalization scores a grey image 0 whatever it learns (the
    # recipe's failure until it set d_bias); the projection reads a hidden Dense layer.
    'sngan_projection': dict(loss='hinge', model='dcgan', d_sn=True, d_norm='none',
                             d_bias=True, d_fc_width=512, conditioning=('cbn', 'projection')),
    # D dropout: the code error under 5% on 3 seeds (docs/conditional.md).
    'infogan': dict(loss='non_saturating', model='dcgan', d_fc_width=1024, d_dropout=0.3),
    # R1 on a LayerNorm D: KL 0.192 at 10,000 steps against 0.242-0.290 without it.
    'stacked_mnist': dict(loss='non_saturating', model='dcgan', penalty=('r1', 1.0),
                          d_norm='layer'),
    'toy_ring': dict(loss='non_saturating', model='mlp', data='ring8'),
    'toy_grid': dict(loss='non_saturating', model='mlp', data='grid25'),
    'stylegan2': dict(loss='non_saturating', model='stylegan2', opt='adam', lr=0.0025,
                      betas=(0.0, 0.99)),
    'text_mle': dict(loss='non_saturating', model='sequence', opt='adam', lr=0.01,
                     betas=(0.9, 0.999)),
    'gumbel_gan': dict(loss='non_saturating', model='sequence', opt='adam', lr=1e-4,
                       betas=(0.5, 0.999)),
    # The paper's REINFORCE without a baseline (docs/text.md#results: the leave-one-out
    # baseline lost to MLE on NLL-oracle and NLL-test alike on the oracle).
    'seqgan': dict(loss='non_saturating', model='sequence', rollouts=16, baseline='none',
                   n_critic=5),
}


def _module(name):
  return importlib.import_module(f'configs.{name}')


def load(name, variant=None):
  module = _module(name)
  if 'arg' in inspect.signature(module.get_config).parameters:
    return module.get_config(variant)
  config = module.get_config()
  return default.apply_variant(config, variant)


def test_the_family_is_there():
  assert set(EXPECTED) <= set(RECIPES), sorted(set(EXPECTED) - set(RECIPES))


@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_config_loads_plain_and_smoke(name):
  plain, smoke = load(name), load(name, 'smoke')
  assert plain.num_train_steps > smoke.num_train_steps
  assert smoke.batch_size <= 16
  # The smoke variant shrinks every width the recipe's architecture reads.
  widths = {key: (smoke.model[key],) for key in ('g_width', 'd_width')}
  if smoke.model.name == 'mlp':
    widths.update(g_hidden=smoke.model.mlp.g_hidden, d_hidden=smoke.model.mlp.d_hidden)
  for key, value in widths.items():
    assert max(value) <= 16, (key, value)
  json.dumps(plain.to_dict())  # Serializable: saved into the workdir and checkpoint.
  # Field overrides after 'smoke' still apply.
  assert load(name, 'smoke,seed=7').seed == 7


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_recipe_settings(name):
  c, want = load(name), EXPECTED[name]
  assert c.loss.name == want['loss'] and c.model.name == want['model']
  if 'clip' in want:
    assert c.d_weight_clip == want['clip']
  if 'n_critic' in want:
    assert c.d_steps_per_g_step == want['n_critic']
  if 'penalty' in want:
    assert (c.penalty.name, c.penalty.weight) == want['penalty']
  for player in (c.optim.g, c.optim.d):
    if 'opt' in want:
      assert player.name == want['opt'] and player.lr == want['lr']
    if 'betas' in want:
      assert (player.adam.b1, player.adam.b2) == want['betas']
  if 'd_norm' in want:
    assert c.model.dcgan.d_normalization == want['d_norm']
  if 'd_sn' in want:
    assert c.model.d_spectral_norm
  for field in ('d_bias', 'd_fc_width'):
    if field in want:
      assert c.model.dcgan[field] == want[field], field
  if 'conditioning' in want:
    assert (c.model.g_conditioning, c.model.d_conditioning) == want['conditioning']
  if 'd_dropout' in want:
    assert c.model.d_dropout == want['d_dropout']
  if 'data' in want:
    assert c.dataset.name == want['data'] and c.model.mlp.output_activation == 'linear'
  if 'baseline' in want:
    own = c.objective.seqgan
    assert (own.num_rollouts, own.baseline) == (want['rollouts'], want['baseline'])


def test_sngan_resnet_variant():
  c = load('sngan', 'resnet')
  assert c.model.name == 'resnet' and c.d_steps_per_g_step == 5
  assert (c.optim.d.adam.b1, c.optim.d.adam.b2) == (0.0, 0.9)


def test_stylegan2_r1_and_ada_switch():
  """R1 gamma 30 (at 0.01 the recipe collapsed, docs/stylegan2.md); ADA off by default and
  switched on by `:augment.name=ada` with the recorded options, which the step accepts."""
  from gan_jax import train_step  # pylint: disable=g-import-not-at-top
  c = load('stylegan2')
  assert c.objective.stylegan2.r1_gamma == 30.0 and c.objective.stylegan2.r1_interval == 16
  assert train_step.ada_settings(c) is None
  c = load('stylegan2', 'augment.name=ada')
  assert train_step.ada_settings(c) is not None  # Checks the options (check_ada_options).
  assert dict(c.augment.options) == dict(policy='bgc', target=0.6, speed_images=100_000,
                                         heuristic='rt', validation_split='')


@pytest.mark.parametrize('name', ['wgan_gp', 'sngan', 'stacked_mnist'])
def test_penalized_critics_treat_examples_independently(name):
  """d D(x_i) / d x_j = 0 for i != j: no BatchNorm in these critics (with it, it is not)."""
  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  for norm, mixes in ((load(name).model.dcgan.d_normalization, False), ('batch', True)):
    config = load(name, 'smoke')
    config.model.d_width = 4
    config.model.dcgan.d_normalization = norm
    networks = models.build_networks(config.model, (28, 28, 1))
    variables = networks.discriminator_init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (3, 28, 28, 1))
    # Row 0 of the Jacobian: d D(x_0) / d x, one backward pass; rows 1, 2 must be zero.
    grad0 = jax.grad(lambda x: networks.discriminator_apply(variables, x, train=True)[0][0])(x)
    cross = float(abs(grad0[1:]).max())
    assert (cross > 1e-6) == mixes, (norm, cross)


def _tiny(config):
  """Narrower still, one device, 2 steps: compile time dominates these tests."""
  config.num_train_steps = 2
  config.parallel = 'none'
  config.batch_size = 8
  config.num_sample_images = 8
  config.log_every = config.sample_every = config.checkpoint_every = 2
  m = config.model
  # The CPU-fast layers (same numbers as 'xla' to float tolerance; see
  # gan_jax/models/layers.py): the 'xla' kernel gradient alone takes seconds to compile.
  m.dcgan.conv_transpose_impl = m.dcgan.conv_impl = 'space_to_depth'
  # InfoGAN's latent_dim also counts its codes (10 + 2): keep 8 noise dimensions at most.
  codes = m.infogan.categorical + m.infogan.continuous if config.objective.name == 'infogan' else 0
  if m.name != 'mocogan':  # MoCoGAN's latent_dim is content + T x motion noise, derived.
    m.latent_dim = min(m.latent_dim, 8 + codes)
  m.g_width, m.d_width = min(m.g_width, 8), min(m.d_width, 8)
  m.mlp.g_hidden = tuple(min(w, 8) for w in m.mlp.g_hidden)
  m.mlp.d_hidden = tuple(min(w, 8) for w in m.mlp.d_hidden)
  return config


@pytest.mark.parametrize('name,variant', SMOKE_RUNS)
def test_smoke_variant_trains_two_steps(name, variant, tfds_data_dir, tmp_path):
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  config = _tiny(load(name, variant))
  config.dataset.data_dir = tfds_data_dir
  workdir = str(tmp_path / name)
  row = train.train_and_evaluate(config, workdir)
  assert row['step'] == 2
  assert np.isfinite(row['d_loss']) and np.isfinite(row['g_loss'])
  assert os.path.exists(os.path.join(workdir, 'config.json'))
  samples = os.listdir(os.path.join(workdir, 'samples'))
  assert any(f.endswith(('.png', '.txt')) for f in samples)  # Text runs write sentences.


@pytest.mark.slow
def test_toy_ring_recipe_captures_modes(tmp_path):
  """configs/toy_ring.py shortened to 5,000 steps (seed 0, R1 0.01, the cosine decay over the
  5,000; ~4-6 min on 2 CPU cores; the recipe's 20,000 would take 4x that): >= 6 of 8 modes
  and most samples near a mode (measured by benchmarks/gan_family.py at 5,000 steps: 8/8,
  82.8% HQ on seed 0; 8/8, 85.3 +- 2.3% over 3 seeds; at 20,000: 97.0 +- 0.5%)."""
  from gan_jax import sampling, train  # pylint: disable=g-import-not-at-top
  from gan_jax.data import toy  # pylint: disable=g-import-not-at-top
  from gan_jax.metrics.modes import mode_metrics  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  config = load('toy_ring')
  config.num_train_steps = 5_000
  config.parallel = 'none'  # Batch 500 does not split over the 8 fake test devices.
  train.train_and_evaluate(config, str(tmp_path))
  _, _, networks, state, _ = sampling.load_run(str(tmp_path))
  samples = sampling.generate(networks, state, 2_500, jax.random.key(0), ema=True)
  modes, std = toy.toy_modes('ring8')
  m = mode_metrics(samples, modes, std)
  assert m['modes_captured'] >= 6, m
  assert m['high_quality_fraction'] >= 0.5, m
