"""orbax checkpoints of the whole GANState plus the resolved config.

Each checkpoint step directory holds two items: 'state' (the GANState pytree) and 'config'
(the resolved config as JSON), written atomically by orbax (a temporary directory renamed
on completion), so an interrupted save never replaces the last good checkpoint. The
latest `keep` checkpoints are kept.
"""

from typing import Any, Optional

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

# Fields that may change between a run and its resumption; any other difference is an error
# unless config.resume_allow_changes is set.
RESUMABLE_CHANGES = ('num_train_steps', 'log_every', 'sample_every', 'checkpoint_every',
                     'keep_checkpoints', 'eval_every', 'num_sample_images', 'parallel',
                     'resume_allow_changes', 'dataset.num_threads', 'dataset.prefetch',
                     'dataset.data_dir', 'eval')


def manager(directory: str, keep: int = 3) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(directory, options=options, item_names=('state', 'config'))


def save(mngr: ocp.CheckpointManager, step: int, state: Any,
         config: ml_collections.ConfigDict, force: bool = False) -> None:
  """Saves `state` (a host-local, unreplicated pytree) and the config at `step`."""
  state = jax.tree_util.tree_map(np.asarray, jax.device_get(state))
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      config=ocp.args.JsonSave(config.to_dict())), force=force)
  mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, target: Any,
            step: Optional[int] = None) -> tuple[Any, dict, int]:
  """Restores (state shaped like `target`, saved config dict, step) of `step` or the latest."""
  step = mngr.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f'No checkpoint in {mngr.directory}.')
  abstract = jax.tree_util.tree_map(
      lambda x: np.zeros(np.shape(x), np.asarray(x).dtype) if hasattr(x, 'shape') else x,
      jax.device_get(target))
  restored = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract), config=ocp.args.JsonRestore()))
  return restored['state'], restored['config'], step


def _flatten(d: dict, prefix: str = '') -> dict:
  out = {}
  for k, v in d.items():
    key = f'{prefix}{k}'
    if isinstance(v, dict):
      out.update(_flatten(v, key + '.'))
    else:
      out[key] = v
  return out


def config_differences(saved: dict, current: ml_collections.ConfigDict
                       ) -> tuple[list[str], list[str]]:
  """Compares a saved config with the current one.

  Returns (differences, one_sided): fields whose values differ (outside
  RESUMABLE_CHANGES), and fields present on one side only (added or removed by a newer
  version of the code; reported, not fatal).
  """
  a, b = _flatten(saved), _flatten(current.to_dict())
  diffs, one_sided = [], []
  for key in sorted(set(a) | set(b)):
    if any(key == f or key.startswith(f + '.') for f in RESUMABLE_CHANGES):
      continue
    if key not in a or key not in b:
      one_sided.append(f'{key} (only in the {"config" if key in b else "checkpoint"})')
      continue
    va, vb = a[key], b[key]
    if isinstance(va, tuple):
      va = list(va)
    if isinstance(vb, tuple):
      vb = list(vb)
    if va != vb:
      diffs.append(f'{key}: checkpoint has {va!r}, config has {vb!r}')
  return diffs, one_sided
