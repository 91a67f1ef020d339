"""Small shared builders for the tests."""

import jax
import jax.numpy as jnp
import optax

from configs import dcgan
from configs import default
from gan_jax import models
from gan_jax import overrides as overrides_lib
from gan_jax import parallel
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib


def tiny_dcgan_config(**overrides):
  """DCGAN-28 config with narrow networks (fast to compile), SGD unless overridden."""
  config = dcgan.get_config('smoke')
  config.model.g_width = 8
  config.model.d_width = 8
  config.model.latent_dim = 16
  config.batch_size = 16
  config.parallel = 'none'
  for path, value in overrides.items():
    overrides_lib.set_field(config, path, value)
  return config


def model_config(name, **fields):
  """configs/default.py's model block for architecture `name`, with dotted `fields` set
  (e.g. **{'mlp.g_hidden': (16,), 'd_width': 8})."""
  config = default.get_config().model
  config.name = name
  for path, value in fields.items():
    overrides_lib.set_field(config, path, value)
  return config


def tiny_setup(config, data_shape=(28, 28, 1), seed=0):
  networks = models.build_networks(config.model, data_shape)
  state = state_lib.create_state(config, networks, jax.random.key(seed))
  return networks, state


def random_batch(n, data_shape=(28, 28, 1), seed=1, n_critic=1):
  lead = (n_critic, n) if n_critic > 1 else (n,)
  key = jax.random.key(seed)
  return {'image': jax.random.uniform(key, (*lead, *data_shape), minval=-1.0, maxval=1.0),
          'label': jnp.zeros(lead, jnp.int32)}


def max_abs_diff(a, b) -> float:
  diffs = jax.tree_util.tree_map(lambda x, y: jnp.max(jnp.abs(x - y)), a, b)
  return float(max(jax.tree_util.tree_leaves(diffs)))


def relative_update_diff(start, reference, other) -> float:
  """||other - reference|| / ||reference - start|| over whole pytrees: how far `other` ends from
  `reference`, as a fraction of the update that led `reference` away from `start`.

  A wrong cross-device reduction (a psum for a pmean, a missing one) moves the whole update by
  O(1); float32 reductions in another order move it by ~1e-6, except where a pre-activation sits
  within rounding of a kink (|.|, leaky ReLU) and one unit switches sides, which moves it by up
  to ~1e-2 in the tiny test networks (whose first D layer's outputs are ~1e-3)."""
  sub = lambda a, b: jax.tree_util.tree_map(jnp.subtract, a, b)
  return float(optax.global_norm(sub(other, reference)) / optax.global_norm(sub(reference, start)))


def single_and_parallel(config, networks, state0, batch, key, steps=2):
  """`steps` train steps on one device (jit), then with each of pmap and shard_map over the 8
  fake devices, from state0 on the same batch and key: (single (state, metrics),
  {mode: (host state, host metrics)}). Leaves config.parallel at the last mode."""
  single = jax.jit(train_step_lib.make_train_step(config, networks))
  s1 = state0
  for _ in range(steps):
    s1, m1 = single(s1, batch, key)
  out = {}
  for mode in ('pmap', 'shard_map'):
    config.parallel = mode
    trainer = parallel.build_trainer(config, networks)
    assert trainer.num_devices == 8
    s = trainer.put_state(state0)
    for _ in range(steps):
      s, m = trainer.step(s, trainer.put_batch(jax.device_get(batch)), key)
    out[mode] = (trainer.host_state(s), trainer.host_metrics(m))
  return (s1, m1), out
