"""2-D toy benchmarks, mode-coverage metrics and PNG plots."""

import itertools
import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import plots
from gan_jax.data import toy
from gan_jax.metrics.modes import mode_metrics


def test_modes_are_the_published_ones():
  modes, std = toy.toy_modes('ring8')
  angles = 2 * np.pi * np.arange(8) / 8
  np.testing.assert_allclose(modes, np.stack([np.cos(angles), np.sin(angles)], 1), atol=1e-7)
  assert std == 0.01
  modes, std = toy.toy_modes('grid25')
  want = sorted(itertools.product([-4, -2, 0, 2, 4], repeat=2))
  assert sorted(map(tuple, modes.tolist())) == want
  assert std == 0.05
  with pytest.raises(ValueError, match='grid25'):
    toy.toy_modes('grid5x5')


@pytest.mark.parametrize('name', ['ring8', 'grid25'])
def test_sample_toy(name):
  points, index = toy.sample_toy(0, name, 20000)
  chex.assert_shape([points, index], [(20000, 2), (20000,)])
  chex.assert_type([points, index], [jnp.float32, jnp.int32])
  chex.assert_trees_all_equal((points, index), toy.sample_toy(jax.random.PRNGKey(0), name, 20000))
  jitted = jax.jit(toy.sample_toy, static_argnums=(1, 2))(jax.random.PRNGKey(0), name, 20000)
  chex.assert_trees_all_equal(index, jitted[1])
  chex.assert_trees_all_close(points, jitted[0], atol=1e-6)  # jit may fuse (1 ulp).
  modes, std = toy.toy_modes(name)
  residual = np.asarray(points) - modes[np.asarray(index)]
  np.testing.assert_allclose(residual.std(axis=0), [std, std], rtol=0.03)  # 20,000 draws.
  counts = np.bincount(np.asarray(index), minlength=len(modes))
  expected = 20000 / len(modes)
  # Each count ~ Binomial: within 5 standard deviations of uniform.
  assert np.all(np.abs(counts - expected) < 5 * math.sqrt(expected))


@pytest.mark.parametrize('name', ['ring8', 'grid25'])
def test_metrics_on_real_samples(name):
  modes, std = toy.toy_modes(name)
  points, _ = toy.sample_toy(1, name, 2500)
  m = mode_metrics(points, modes, std)
  assert m['modes_captured'] == m['num_modes'] == len(modes)
  # P(chi_2 <= 9) = 1 - exp(-4.5) = 98.9% of real samples lie within 3 std in 2-D.
  assert m['high_quality_fraction'] > 0.975
  assert 0 <= m['reverse_kl'] < 0.03  # Sampling noise: E[KL] ~ (M - 1) / (2 N) <= 0.005.


def test_metrics_on_half_the_modes():
  modes, std = toy.toy_modes('ring8')
  rng = np.random.default_rng(0)
  samples = np.repeat(modes[:4], 625, axis=0) + std * rng.normal(size=(2500, 2)).clip(-2, 2)
  m = mode_metrics(samples, modes, std)
  assert m['modes_captured'] == 4
  assert m['high_quality_fraction'] == 1.0
  np.testing.assert_allclose(m['reverse_kl'], math.log(2), rtol=1e-9)


def test_reverse_kl_hand_example():
  modes = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
  samples = np.array([[0.0, 0.0]] * 3 + [[10.0, 0.0]] + [[5.0, 5.0]])  # Last: low quality.
  m = mode_metrics(samples, modes, 0.1)
  # p = (3/4, 1/4, 0, 0): KL = 3/4 log(3/4 * 4) + 1/4 log(1/4 * 4) = 3/4 log 3.
  np.testing.assert_allclose(m['reverse_kl'], 0.75 * math.log(3), rtol=1e-12)
  assert m['modes_captured'] == 2 and m['high_quality_fraction'] == 0.8


def test_metrics_on_far_samples():
  modes, std = toy.toy_modes('grid25')
  m = mode_metrics(np.full((2500, 2), 100.0), modes, std)
  assert m['modes_captured'] == 0 and m['high_quality_fraction'] == 0.0
  assert math.isnan(m['reverse_kl'])
  with pytest.raises(ValueError, match='same D'):
    mode_metrics(np.zeros((3, 3)), modes, std)


def _check_png(path, min_bytes=5000):
  assert path.stat().st_size > min_bytes
  with Image.open(path) as image:
    image.verify()
  with Image.open(path) as image:
    assert image.format == 'PNG' and min(image.size) >= 200


def test_scatter_png(tmp_path):
  real, _ = toy.sample_toy(0, 'grid25', 1000)
  fake = np.random.default_rng(0).normal(size=(1000, 2)) * 2
  path = tmp_path / 'sub' / 'scatter.png'
  plots.scatter_real_vs_fake(real, fake, str(path), title='grid25',
                             modes=toy.toy_modes('grid25')[0])
  _check_png(path)
  with pytest.raises(ValueError, match=r'\(N, 2\)'):
    plots.scatter_real_vs_fake(np.zeros((3, 3)), fake, str(path))


def test_training_curves_png(tmp_path):
  metrics = tmp_path / 'metrics.jsonl'
  with open(metrics, 'w') as f:
    for step in range(0, 200, 10):
      f.write(json.dumps({'step': step, 'd_loss': 1.0 / (1 + step), 'g_loss': math.sin(step),
                          'note': 'text is skipped'}) + '\n')
    f.write('\n')
    f.write(json.dumps({'step': 200, 'fid': 30.0}) + '\n')
  out = tmp_path / 'curves.png'
  plots.plot_training_curves(str(metrics), str(out), keys=('d_loss', 'g_loss', 'fid'))
  _check_png(out)
  plots.plot_training_curves(str(metrics), str(out))  # All scalar keys.
  _check_png(out)
  with pytest.raises(ValueError, match='available'):
    plots.plot_training_curves(str(metrics), str(out), keys=('lossd',))
  with pytest.raises(FileNotFoundError):
    plots.plot_training_curves(str(tmp_path / 'nope.jsonl'), str(out))
