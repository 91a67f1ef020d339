"""Checkpoint config comparison, save/restore round trip, damaged checkpoints, old configs."""

import glob
import os

import chex
import jax
import pytest

from configs import dcgan, default
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


def _saved_steps(directory, steps=(1, 2, 3), keep=3):
  """A manager holding tiny states whose step field is the checkpoint step; the base state."""
  config = helpers.tiny_dcgan_config()
  _, state = helpers.tiny_setup(config)
  mngr = checkpointing.manager(str(directory), keep=keep)
  for step in steps:
    checkpointing.save(mngr, step, state.replace(step=state.step + step), config)
  return mngr, state


def test_save_restore_round_trip(tmp_path):
  mngr, state = _saved_steps(tmp_path, keep=2)
  assert mngr.all_steps() == [2, 3]   # Latest `keep` kept.
  assert checkpointing.restore_config(mngr, 3)['model']['name'] == 'dcgan'
  restored = checkpointing.restore_state(mngr, state, 3)
  chex.assert_trees_all_equal(jax.device_get(state.replace(step=state.step + 3)), restored)


def damage(step_dir: str, part: str) -> None:
  """Truncates the saved config JSON, or every array-data file of the saved state."""
  paths = ([os.path.join(step_dir, 'config', 'metadata')] if part == 'config' else
           glob.glob(os.path.join(step_dir, 'state', 'ocdbt.process_*', 'd', '*')))
  assert paths, step_dir
  for path in paths:
    with open(path, 'r+b') as f:
      f.truncate(5)


@pytest.mark.parametrize('part', ['config', 'state'])
def test_restore_newest_skips_damaged_checkpoints_and_keeps_them(tmp_path, part):
  mngr, state = _saved_steps(tmp_path)
  damage(str(tmp_path / '3'), part)
  messages = []

  def load(step):
    checkpointing.restore_config(mngr, step)
    return checkpointing.restore_state(mngr, state, step)

  restored, step, damaged = checkpointing.restore_newest(mngr, load, messages.append)
  assert (step, damaged, int(restored.step)) == (2, [3], 2)
  assert len(messages) == 1 and 'step 3 is damaged' in messages[0]
  assert str(tmp_path / '3') in messages[0] and part in messages[0]
  assert mngr.all_steps() == [1, 2, 3] and os.path.isdir(tmp_path / '3')  # Never deleted.

  damage(str(tmp_path / '2'), part)
  damage(str(tmp_path / '1'), part)
  with pytest.raises(checkpointing.UnreadableCheckpointError,
                     match=r'No checkpoint in .* loads; each is damaged'):
    checkpointing.restore_newest(mngr, load, messages.append)
  assert mngr.all_steps() == [1, 2, 3]


def test_restore_newest_passes_other_errors_through(tmp_path):
  mngr, _ = _saved_steps(tmp_path, steps=(1,))

  def load(step):
    raise ValueError(f'config differs at {step}')  # e.g. a resume that changes the experiment.

  with pytest.raises(ValueError, match='config differs at 1'):
    checkpointing.restore_newest(mngr, load, print)


def test_set_aside_moves_damaged_steps_out_of_the_manager(tmp_path):
  mngr, state = _saved_steps(tmp_path / 'checkpoints')
  checkpointing.set_aside(mngr, [3], lambda m: None)
  assert mngr.all_steps() == [1, 2]
  assert os.path.isdir(tmp_path / 'checkpoints_unreadable' / '3' / 'state')
  checkpointing.save(mngr, 3, state, helpers.tiny_dcgan_config())  # The step is free again.
  checkpointing.set_aside(mngr, [3], lambda m: None)                # Same step: another name.
  assert sorted(os.listdir(tmp_path / 'checkpoints_unreadable')) == ['3', '3.1']


def test_fill_missing_takes_absent_fields_from_the_defaults():
  saved = default.get_config().to_dict()
  del saved['eval']
  del saved['model']['latent_dim']
  saved['model']['g_width'] = 7           # Present: kept as saved.
  saved['only_in_the_run'] = 1            # Unknown to the defaults: kept.
  config, filled = checkpointing.fill_missing(saved, default.get_config())
  assert sorted(filled) == ['eval', 'model.latent_dim']
  assert config.eval == default.get_config().eval
  assert config.model.latent_dim == default.get_config().model.latent_dim
  assert config.model.g_width == 7 and config.only_in_the_run == 1
