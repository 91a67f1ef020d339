"""The PyTorch pix2pix peer (benchmarks/torch_pix2pix.py) is gan_jax's pix2pix.

- Architecture: the recipe's gan_jax variables are copied into the torch U-Net and PatchGAN;
  G images and D patch logits agree in float64 on both sides (rtol = atol = 1e-6: both nets
  cast their output to float32, so float32 rounding of the output is what is left), in train
  mode (batch statistics, the same dropout masks: read from the Flax run and applied in torch)
  and in eval mode (random running statistics, no dropout).
- Train step: one gan_jax step and one torch iteration from the same weights on the same batch
  (dropout 0, the only randomness) give the same losses and gradient norms, and the step
  after it too (so the Adam updates agree), float32, rtol 1e-4.
- The benchmark script runs end to end at tiny sizes (train_step; parts and layers: slow).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip('torch')

from benchmarks import pix2pix_throughput  # pylint: disable=g-import-not-at-top
from benchmarks import torch_pix2pix  # pylint: disable=g-import-not-at-top
from configs import pix2pix as pix2pix_config  # pylint: disable=g-import-not-at-top
from gan_jax import models  # pylint: disable=g-import-not-at-top
from gan_jax import state as state_lib  # pylint: disable=g-import-not-at-top
from gan_jax import train_step as train_step_lib  # pylint: disable=g-import-not-at-top

SHAPE = (32, 32, 1)
F64_TOL = dict(rtol=1e-6, atol=1e-6)
STEP_RTOL = 1e-4


def _setup(variant=None):
  config = pix2pix_config.get_config(variant)
  networks = models.build_networks(config.model, SHAPE, condition_shape=SHAPE)
  return config, networks


def _nchw(x, dtype=torch.float64):
  return torch.tensor(np.asarray(x)).permute(0, 3, 1, 2).to(dtype)


def _nhwc(t):
  return t.detach().permute(0, 2, 3, 1).numpy()


def _f64(tree):
  return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), tree)


def _random_like(tree, seed):
  """Random values in the shapes of `tree` (ShapeDtypeStructs), by leaf name: kernels
  ~ N(0, 0.02), biases ~ N(0, 0.1), BN scales ~ 1 + N(0, 0.1), running means ~ N(0, 0.1),
  running vars ~ U(0.5, 1.5); optimizer states and the step 0 (a fresh state). Nonzero biases
  and statistics make a wrongly mapped one visible; numpy avoids compiling Flax's init."""
  rng = np.random.default_rng(seed)

  def draw(path, x):
    name = str(getattr(path[-1], 'key', path[-1]))
    if 'opt_state' in jax.tree_util.keystr(path) or name == 'step':
      return jnp.zeros(x.shape, x.dtype)
    if name == 'var':
      return jnp.asarray(rng.uniform(0.5, 1.5, x.shape), x.dtype)
    scale = {'kernel': 0.02, 'scale': 0.1}.get(name, 0.1)
    return jnp.asarray((name == 'scale') + scale * rng.standard_normal(x.shape), x.dtype)

  return jax.tree_util.tree_map_with_path(draw, tree)


class _FixedMask(torch.nn.Module):
  """Dropout with a given (already scaled) mask: 0 or 1 / keep per element."""

  def __init__(self, mask):
    super().__init__()
    self.mask = mask

  def forward(self, x):
    return x * self.mask


def _torch_nets(config, g_vars, d_vars):
  g, d = torch_pix2pix.make_pix2pix(config.model, SHAPE, SHAPE[-1])
  g, d = g.double(), d.double()
  for net in (g, d):  # NaN everywhere first: a tensor the copy misses shows up as NaN.
    for t in list(net.parameters()) + list(net.buffers()):
      if t.is_floating_point():
        t.data.fill_(float('nan'))
  torch_pix2pix.copy_gan_jax_variables(g, jax.device_get(g_vars))
  torch_pix2pix.copy_gan_jax_variables(d, jax.device_get(d_vars))
  for net in (g, d):
    for t in list(net.parameters()) + list(net.buffers()):
      if t.is_floating_point():
        assert not torch.isnan(t).any()
  return g, d


@pytest.mark.parametrize('train', [True, False])
def test_same_architecture_float64(train):
  config, networks = _setup()
  g_vars = _random_like(jax.eval_shape(networks.generator_init, jax.random.PRNGKey(0)), 0)
  d_vars = _random_like(jax.eval_shape(networks.discriminator_init, jax.random.PRNGKey(0)), 1)
  g, d = _torch_nets(config, g_vars, d_vars)
  g.train(train)
  d.train(train)
  condition = jax.random.uniform(jax.random.PRNGKey(4), (4, *SHAPE), minval=-1, maxval=1)
  with jax.enable_x64(True):
    g_vars, d_vars, condition = _f64(g_vars), _f64(d_vars), _f64(condition)
    capture = lambda module, _: isinstance(module, (nn.Dropout, nn.BatchNorm))
    images, inter = jax.jit(lambda v, x: networks.make_generator(None).apply(
        v, x, None, train=train, rngs={'dropout': jax.random.PRNGKey(5)},
        mutable=['batch_stats', 'intermediates'], capture_intermediates=capture))(
            g_vars, condition)
    inter = inter['intermediates']
    pair = jnp.concatenate([condition, _f64(images)], axis=-1)
    logits, _ = jax.jit(lambda v, x: networks.discriminator_apply(v, x, train=train))(
        d_vars, pair)
  dropouts = sorted(name for name in inter if name.startswith('dropout'))
  assert dropouts == ['dropout2', 'dropout3', 'dropout4']  # The 3 innermost decoder layers.
  for name in dropouts:
    before = np.asarray(inter[f'up_norm{name[len("dropout"):]}']['__call__'][0])
    after = np.asarray(inter[name]['__call__'][0])
    if not train:
      np.testing.assert_array_equal(after, before)  # Inactive at test time.
      continue
    mask = np.where(after != 0, 1.0 / (1.0 - config.model.unet.dropout), 0.0)
    np.testing.assert_array_equal(after, before * mask)  # The mask read back exactly.
    assert 0.3 < np.mean(mask > 0) < 0.7
    g.layers[name] = _FixedMask(_nchw(mask))
  with torch.no_grad():
    torch_images = g(_nchw(condition))
    torch_logits = d(_nchw(pair))
  assert torch_logits.shape == (4, 6, 6)
  np.testing.assert_allclose(_nhwc(torch_images), images, **F64_TOL)
  np.testing.assert_allclose(torch_logits.numpy(), logits, **F64_TOL)
  assert np.std(np.asarray(images)) > 1e-3 and np.std(np.asarray(logits)) > 1e-3


def test_parameter_counts_match():
  config, networks = _setup()
  g, d = torch_pix2pix.make_pix2pix(config.model, SHAPE, SHAPE[-1])
  count = lambda m: sum(p.numel() for p in m.parameters())
  key = jax.random.PRNGKey(0)
  assert count(g) == models.count_params(jax.eval_shape(networks.generator_init, key))
  assert count(d) == models.count_params(jax.eval_shape(networks.discriminator_init, key))
  assert (count(g), count(d)) == (4_164_929, 167_329)  # ngf = ndf = 32, 5-level U-Net.


@pytest.mark.slow  # ~20 CPU s (compiling the step), 30-50 s wall on a loaded 2-core machine.
def test_same_train_step_float32():
  """Two steps of each from the same weights and batch: same losses and gradient norms."""
  config, networks = _setup('smoke,model.unet.dropout=0.0')
  config.batch_size = 4
  state = _random_like(jax.eval_shape(
      lambda k: state_lib.create_state(config, networks, k), jax.random.PRNGKey(0)), 0)
  state = state.replace(ema_g_params=state.g_params)
  key = jax.random.PRNGKey(1)
  k_image, k_cond = jax.random.split(jax.random.PRNGKey(2))
  batch = dict(image=jax.random.uniform(k_image, (4, *SHAPE), minval=-1, maxval=1),
               condition=jax.random.uniform(k_cond, (4, *SHAPE), minval=-1, maxval=1))
  trainer = torch_pix2pix.trainer_for_config(config, 4, SHAPE, SHAPE[-1])
  torch_pix2pix.copy_gan_jax_variables(trainer.g, jax.device_get(state.generator_variables()))
  torch_pix2pix.copy_gan_jax_variables(trainer.d,
                                       jax.device_get(state.discriminator_variables()))
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  x, y = _nchw(batch['condition'], torch.float32), _nchw(batch['image'], torch.float32)
  for _ in range(2):
    state, metrics = step(state, batch, key)
    d_loss, g_loss = trainer.step(x, y)
    norm = lambda net: torch.sqrt(sum(p.grad.square().sum() for p in net.parameters()))
    np.testing.assert_allclose(d_loss.item(), 0.5 * float(metrics['d_loss']), rtol=STEP_RTOL)
    np.testing.assert_allclose(g_loss.item(), float(metrics['g_loss']), rtol=STEP_RTOL)
    np.testing.assert_allclose(norm(trainer.d).item(), float(metrics['d_grad_norm']),
                               rtol=STEP_RTOL)
    np.testing.assert_allclose(norm(trainer.g).item(), float(metrics['g_grad_norm']),
                               rtol=STEP_RTOL)


@pytest.mark.slow  # ~8 s: compiles the pix2pix step and the peer.
def test_benchmark_smoke(capsys):
  tiny = 'smoke,model.unet.num_downs=2,model.patchgan.num_layers=1'
  rates = pix2pix_throughput.main(['--variant', tiny, '--batch_size', '4', '--steps', '1',
                                   '--repeats', '1', '--warmup', '1', '--threads', '1',
                                   '--real_data'])
  assert rates['torch'] > 0 and rates['auto'] > 0
  out = capsys.readouterr().out
  assert 'ratio jax/torch' in out and 'load average' in out


@pytest.mark.slow  # ~30 s: compiles G and D pieces and every conv's three ops.
def test_benchmark_profile_modes_smoke(capsys):
  tiny = 'smoke,model.unet.num_downs=2,model.patchgan.num_layers=1'
  common = ['--variant', tiny, '--batch_size', '4', '--repeats', '1', '--threads', '1',
            '--clock', 'cpu', '--impl', 'space_to_depth']
  pix2pix_throughput.main(['--mode', 'parts'] + common)
  pix2pix_throughput.main(['--mode', 'layers'] + common)
  out = capsys.readouterr().out
  assert 'g_fwd_bwd' in out and 'torch (1 threads)' in out
  for layer in ('G down1  conv   16x16x8 -> 8x8x16', 'G up0    conv_t 16x16x16 -> 32x32x1',
                'D conv1  conv   16x16x8 -> 15x15x16'):
    assert layer in out
