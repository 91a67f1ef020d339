"""sampling.load_run: the newest checkpoint that loads, and old configs filled from defaults."""

import chex
import jax
import numpy as np
import pytest

from configs import default
from gan_jax import checkpointing, sampling
from tests import helpers
from tests.test_checkpointing import damage


def _workdir(tmp_path, data_dir, steps=(1, 2), drop=()):
  """A workdir whose checkpoints hold distinct tiny states; `drop`: fields left out of the
  saved config (as a run written by older code)."""
  config = helpers.tiny_dcgan_config(**{'dataset.data_dir': data_dir})
  _, state = helpers.tiny_setup(config)
  mngr = checkpointing.manager(str(tmp_path / 'checkpoints'))
  saved = config.copy_and_resolve_references()
  for name in drop:
    del saved[name]
  states = {}
  for step in steps:
    states[step] = state.replace(step=state.step + step, g_params=jax.tree_util.tree_map(
        lambda x, s=step: x + s, state.g_params))
    checkpointing.save(mngr, step, states[step], saved)
  mngr.close()
  return str(tmp_path), states


def test_load_run_falls_back_past_a_damaged_checkpoint(tmp_path, tfds_data_dir):
  workdir, states = _workdir(tmp_path, tfds_data_dir)
  damage(str(tmp_path / 'checkpoints' / '2'), 'state')
  messages = []
  config, _, networks, state, step = sampling.load_run(workdir, log=messages.append)
  assert step == 1 and networks.data_shape == (28, 28, 1)
  chex.assert_trees_all_equal(jax.device_get(states[1]), state)
  assert any('step 2 is damaged' in m and 'checkpoints/2' in m for m in messages), messages
  assert (tmp_path / 'checkpoints' / '2' / 'state').is_dir()   # Kept where it was.
  with pytest.raises(checkpointing.UnreadableCheckpointError, match='checkpoints/2: its state'):
    sampling.load_run(workdir, step=2)                        # Asked for: no fallback.
  damage(str(tmp_path / 'checkpoints' / '1'), 'config')
  with pytest.raises(checkpointing.UnreadableCheckpointError, match='No checkpoint in'):
    sampling.load_run(workdir)


def test_load_run_fills_an_old_config_from_the_defaults(tmp_path, tfds_data_dir):
  workdir, _ = _workdir(tmp_path, tfds_data_dir, steps=(1,), drop=('eval',))
  config = sampling.load_run(workdir, log=print)[0]
  assert 'eval' not in config
  messages = []
  config = sampling.load_run(workdir, defaults=default.get_config(), log=messages.append)[0]
  assert config.eval == default.get_config().eval
  assert config.model.latent_dim == 16                         # The run's own value.
  assert any('lacks eval' in m for m in messages), messages


def test_generate_draws_per_batch_keys_in_the_data_range():
  config = helpers.tiny_dcgan_config()
  networks, state = helpers.tiny_setup(config)
  key = jax.random.key(3)
  a = sampling.generate(networks, state, 7, key, batch_size=4)
  assert a.shape == (7, 28, 28, 1) and a.dtype == np.float32
  assert -1 <= a.min() and a.max() <= 1
  # Batch i uses fold_in(key, i): the first batch is the sampler at those latents.
  z = networks.sample_latents(jax.random.split(jax.random.fold_in(key, 0))[0], 4)
  np.testing.assert_allclose(
      a[:4], sampling.make_sampler(networks)(state.generator_variables(ema=True), z, None),
      atol=1e-6)
  assert not np.allclose(a[:3], a[4:7])                        # Batches differ.
