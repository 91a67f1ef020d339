"""The PyTorch peer (benchmarks/torch_dcgan.py) is the same network as gan_jax's DCGAN.

gan_jax variables are copied into the torch modules; G images and D logits must agree in
train mode (batch statistics) and in eval mode (random running statistics), float32 both
sides, to rtol = atol = 1e-4 (BatchNorm over a batch of 4 amplifies rounding ~10x).
"""

import numpy as np
import pytest

import jax

torch = pytest.importorskip('torch')

from benchmarks import torch_dcgan  # pylint: disable=g-import-not-at-top
from gan_jax import models  # pylint: disable=g-import-not-at-top
from tests import helpers  # pylint: disable=g-import-not-at-top

TOL = dict(rtol=1e-4, atol=1e-4)


def _randomize_batch_stats(variables, key):
  stats = variables.get('batch_stats', {})
  leaves, treedef = jax.tree_util.tree_flatten(stats)
  keys = jax.random.split(key, max(len(leaves), 1))
  new = [0.1 * jax.random.normal(k, x.shape) if i % 2 == 0 else
         jax.random.uniform(k, x.shape, minval=0.5, maxval=1.5)
         for i, (k, x) in enumerate(zip(keys, leaves))]
  # Leaves are ordered (mean, var) per BatchNorm: mean ~ N(0, 0.1), var ~ U(0.5, 1.5).
  return {**variables, 'batch_stats': jax.tree_util.tree_unflatten(treedef, new)}


@pytest.mark.parametrize('image_shape', [(28, 28, 1), (64, 64, 3)])
@pytest.mark.parametrize('train', [True, False])
def test_same_outputs_as_gan_jax(image_shape, train):
  size, _, channels = image_shape
  config = helpers.model_config('dcgan', latent_dim=100, g_width=64, d_width=64,
                                **{'dcgan.conv_transpose_impl': 'xla'})
  networks = models.build_networks(config, image_shape)
  g_vars = networks.generator_init(jax.random.PRNGKey(0))
  d_vars = networks.discriminator_init(jax.random.PRNGKey(1))
  if not train:
    g_vars = _randomize_batch_stats(g_vars, jax.random.PRNGKey(2))
    d_vars = _randomize_batch_stats(d_vars, jax.random.PRNGKey(3))
  z = jax.random.normal(jax.random.PRNGKey(4), (4, 100))
  images, _ = networks.generator_apply(g_vars, z, train=train)
  logits, _ = networks.discriminator_apply(d_vars, images, train=train)

  g, d = torch_dcgan.make_dcgan(size, channels)
  torch_dcgan.copy_gan_jax_params(g, d, jax.device_get(g_vars), jax.device_get(d_vars))
  g.train(train)
  d.train(train)
  with torch.no_grad():
    torch_images = g(torch.tensor(np.asarray(z)).reshape(4, 100, 1, 1))
    torch_logits = d(torch.tensor(np.asarray(images)).permute(0, 3, 1, 2))
  np.testing.assert_allclose(torch_images.permute(0, 2, 3, 1).numpy(), images, **TOL)
  np.testing.assert_allclose(torch_logits.numpy(), logits, **TOL)


def test_parameter_counts_match():
  config = helpers.model_config('dcgan', latent_dim=100, g_width=64, d_width=64)
  networks = models.build_networks(config, (64, 64, 3))
  g, d = torch_dcgan.make_dcgan(64, 3)
  count = lambda m: sum(p.numel() for p in m.parameters())
  assert count(g) == models.count_params(networks.generator_init(jax.random.PRNGKey(0)))
  assert count(d) == models.count_params(networks.discriminator_init(jax.random.PRNGKey(0)))
  assert count(g) == 3_576_704 and count(d) == 2_765_568  # pytorch/examples dcgan figures.


def test_throughput_smoke():
  result = torch_dcgan.torch_train_step_throughput(28, 1, batch_size=4, steps=1, warmup=1,
                                                   threads=1)
  assert result['img_per_sec'] > 0 and result['device'] == 'cpu'


def test_ops_benchmark_covers_every_stride2_layer(capsys):
  from benchmarks import dcgan_throughput  # pylint: disable=g-import-not-at-top
  dcgan_throughput.main(['--mode', 'ops', '--image_size', '28', '--batch_size', '2',
                         '--repeats', '1', '--impl', 'space_to_depth'])
  out = capsys.readouterr().out
  for layer in ('D conv 28x28x1 -> 14x14x64', 'D conv 14x14x64 -> 7x7x128',
                'G conv_t 7x7x128 -> 14x14x64', 'G conv_t 14x14x64 -> 28x28x1'):
    assert layer in out, out
  assert out.count('space_to_depth') == 5 and out.count('torch') >= 4, out
  assert 'sum of the three ops over all layers: space_to_depth' in out
