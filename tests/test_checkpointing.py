"""Checkpoint config comparison and save/restore round trip."""

import chex
import jax

from configs import dcgan
from gan_jax import checkpointing
from tests import helpers


def test_config_differences():
  saved = dcgan.get_config().to_dict()
  current = dcgan.get_config()
  assert checkpointing.config_differences(saved, current) == ([], [])
  current.num_train_steps = 99       # Allowed: run length.
  current.optim.g.lr = 1e-3          # Not allowed: changes the experiment.
  current.new_field = 1              # A field newer code added: reported, not fatal.
  diffs, one_sided = checkpointing.config_differences(saved, current)
  assert diffs == ['optim.g.lr: checkpoint has 0.0002, config has 0.001']
  assert one_sided == ['new_field (only in the config)']


def test_save_restore_round_trip(tmp_path):
  config = helpers.tiny_dcgan_config()
  _, state = helpers.tiny_setup(config)
  mngr = checkpointing.manager(str(tmp_path), keep=2)
  for step in (1, 2, 3):
    checkpointing.save(mngr, step, state.replace(step=state.step + step), config)
  assert mngr.all_steps() == [2, 3]   # Latest `keep` kept.
  restored, saved_config, step = checkpointing.restore(mngr, state)
  assert step == 3 and saved_config['model']['name'] == 'dcgan'
  chex.assert_trees_all_equal(jax.device_get(state.replace(step=state.step + 3)), restored)
