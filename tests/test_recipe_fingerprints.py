"""The recipes build the same networks and optimizers as when their numbers were recorded.

tests/recipe_fingerprints.json was written by the code of commit 3aa59cc, before the config
fields were regrouped (model.dcgan / model.mlp blocks, one block per optimizer rule). For
each recipe and variant it holds: the parameter counts of G and D; a hash of every
variable's path and shape (params and 'batch_stats', i.e. checkpoint layout); sums, sums of
|x| and sums of squares of G(z) and D(x) on fixed inputs, eval and train mode; and, for
each player's optimizer, its first three updates of fixed toy parameters and its learning
rate at 4 points of the run (rule, hyperparameters and schedule).

Recorded since, on purpose: toy_ring's learning rates at the 4 points, when the recipe went
from 5,000 to 20,000 steps (2026-11-26; the same cosine schedule over a longer run).
The toy_grid entries, when the grid recipe became the ring's (R1 0.01, no BatchNorm in G,
20,000 steps) plus the minibatch stddev in D (2026-11-26): G and the optimizers equal
toy_ring's; D's numbers were recorded then (one more input feature). toy_grid's optimizer
numbers again when it went from 20,000 to 40,000 steps (2026-11-27; the same cosine schedule
over a longer run, so its learning rates and later updates differ).

Tolerances: layouts and counts exact; forward sums rtol 1e-5 (atol 1e-5 * sum |x|): the
ResNet and MLP BatchNorms moved to the two-pass variance afterwards, which changed G's
train-mode outputs by ~1e-6 relative (DCGAN's numbers stayed bit-identical); optimizer
numbers rtol 1e-6. Forward passes of the big variants take ~1 min: marked slow.
"""

import hashlib
import importlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import models, optimizers

RECORD = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     'recipe_fingerprints.json')))
FAST_FORWARD = ('toy_grid:smoke', 'toy_ring:smoke')


def _config(key):
  name, _, variant = key.partition(':')
  return importlib.import_module(f'configs.{name}').get_config(variant or None)


def _data_shape(config):
  return (2,) if config.dataset.name in ('ring8', 'grid25') else (28, 28, 1)


def _stats(x):
  x = np.asarray(x, np.float64)
  return [float(x.sum()), float(np.abs(x).sum()), float((x * x).sum())]


def _layout(tree):
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return [(jax.tree_util.keystr(p), list(np.shape(v))) for p, v in flat]


@pytest.mark.parametrize('key', sorted(RECORD))
def test_layout_and_parameter_counts(key):
  config, want = _config(key), RECORD[key]['nets']
  networks = models.build_networks(config.model, _data_shape(config))
  g = jax.eval_shape(networks.generator_init, jax.random.key(0))
  d = jax.eval_shape(networks.discriminator_init, jax.random.key(1))
  assert (models.count_params(g), models.count_params(d)) == (want['g_params'],
                                                              want['d_params'])
  layout = json.dumps([_layout(g), _layout(d)])
  assert hashlib.sha256(layout.encode()).hexdigest()[:16] == want['structure_sha'], layout


@pytest.mark.parametrize('key', sorted(RECORD))
def test_optimizers(key):
  config, want = _config(key), RECORD[key]['optim']
  g_tx, d_tx = optimizers.build_optimizers(config)
  updates_per_run = {'g': config.num_train_steps,
                     'd': config.num_train_steps * config.d_steps_per_g_step}
  for player, tx in (('g', g_tx), ('d', d_tx)):
    params = {'w': jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), 'b': jnp.full((3,), 0.5)}
    state = tx.init(params)
    got = []
    for i in range(3):
      grads = jax.tree_util.tree_map(lambda p: jnp.cos(7.0 * p + i) * 10.0 ** (i - 1), params)
      updates, state = tx.update(grads, state, params)
      params = jax.tree_util.tree_map(jnp.add, params, updates)
      got.append(_stats(jnp.concatenate([updates['w'].ravel(), updates['b'].ravel()])))
    np.testing.assert_allclose(got, want[player]['updates'], rtol=1e-6, atol=1e-12,
                               err_msg=f'{key} {player} updates')
    n = updates_per_run[player]
    schedule = optimizers.build_schedule(config.optim[player], n)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, n // 3, n // 2, n - 1)],
                               want[player]['lr'], rtol=1e-6, atol=1e-12,
                               err_msg=f'{key} {player} learning rate')


@pytest.mark.parametrize('key', [k if k in FAST_FORWARD else pytest.param(
    k, marks=pytest.mark.slow) for k in sorted(RECORD)])
def test_forward_outputs(key):
  config, want = _config(key), RECORD[key]['nets']
  shape = _data_shape(config)
  networks = models.build_networks(config.model, shape)
  g = networks.generator_init(jax.random.key(0))
  d = networks.discriminator_init(jax.random.key(1))
  z = networks.sample_latents(jax.random.key(2), 4)
  x = jax.random.uniform(jax.random.key(3), (4, *shape), minval=-1.0, maxval=1.0)
  rngs = {'dropout': jax.random.key(4)}
  got = {'g_eval': networks.generator_apply(g, z, train=False)[0],
         'g_train': networks.generator_apply(g, z, train=True, rngs=rngs)[0],
         'd_eval': networks.discriminator_apply(d, x, train=False)[0],
         'd_train': networks.discriminator_apply(d, x, train=True, rngs=rngs)[0]}
  for name, value in got.items():
    np.testing.assert_allclose(_stats(value), want[name], rtol=1e-5,
                               atol=1e-5 * want[name][1], err_msg=f'{key} {name}')
