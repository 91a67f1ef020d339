"""orbax checkpoints of the whole GANState plus the resolved config.

Each checkpoint step directory holds two items: 'state' (the GANState pytree) and 'config'
(the resolved config as JSON), written atomically by orbax (a temporary directory renamed
on completion), so an interrupted save never replaces the last good checkpoint. The
latest `keep` checkpoints are kept.

A committed checkpoint can still be damaged afterwards (a truncated or overwritten file).
`restore_newest` then falls back to the newest checkpoint that loads and names the
unreadable ones; nothing here deletes a checkpoint.
"""

import dataclasses
import os
from typing import Any, Callable, TypeVar

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

T = TypeVar('T')

# Fields that may change between a run and its resumption; any other difference is an error
# unless config.resume_allow_changes is set.
RESUMABLE_CHANGES = ('num_train_steps', 'log_every', 'sample_every', 'checkpoint_every',
                     'keep_checkpoints', 'eval_every', 'num_sample_images', 'parallel',
                     'resume_allow_changes', 'dataset.num_threads', 'dataset.prefetch',
                     'dataset.data_dir', 'eval', 'init_from', 'population.sort_by',
                     'population.grid_images')

# What orbax / tensorstore raise on a damaged file: JSONDecodeError (a ValueError) for the
# config or the state's _METADATA, ValueError (DATA_LOSS, OUT_OF_RANGE) for array data,
# KeyError for a missing item, OSError for a missing or unreadable file.
READ_ERRORS = (ValueError, KeyError, OSError)


class UnreadableCheckpointError(RuntimeError):
  """A committed checkpoint whose files do not load."""


def manager(directory: str, keep: int = 3) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(directory, options=options, item_names=('state', 'config'))


def step_directory(mngr: ocp.CheckpointManager, step: int) -> str:
  return os.path.join(str(mngr.directory), str(step))


def save(mngr: ocp.CheckpointManager, step: int, state: Any,
         config: ml_collections.ConfigDict, force: bool = False) -> None:
  """Saves `state` (a host-local, unreplicated pytree) and the config at `step`."""
  state = jax.tree_util.tree_map(np.asarray, jax.device_get(state))
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      config=ocp.args.JsonSave(config.to_dict())), force=force)
  mngr.wait_until_finished()


def _read(mngr: ocp.CheckpointManager, step: int, item: str, restore_args) -> Any:
  try:
    return mngr.restore(step, args=ocp.args.Composite(**{item: restore_args}))[item]
  except READ_ERRORS as e:
    first_line = (str(e).splitlines() or [''])[0][:300]
    raise UnreadableCheckpointError(
        f'{step_directory(mngr, step)}: its {item} does not load '
        f'({type(e).__name__}: {first_line})') from e


def restore_config(mngr: ocp.CheckpointManager, step: int) -> dict:
  """The config saved with checkpoint `step`, as a dict (UnreadableCheckpointError if damaged)."""
  return _read(mngr, step, 'config', ocp.args.JsonRestore())


def restore_state(mngr: ocp.CheckpointManager, target: Any, step: int) -> Any:
  """The state of checkpoint `step` as numpy arrays shaped like `target` (arrays or
  jax.ShapeDtypeStruct); UnreadableCheckpointError if damaged."""
  abstract = jax.tree_util.tree_map(
      lambda x: np.zeros(x.shape, x.dtype) if hasattr(x, 'shape') else x, target)
  try:
    return _read(mngr, step, 'state', ocp.args.StandardRestore(abstract))
  except UnreadableCheckpointError as e:
    # A checkpoint written before a state field was added (GANState.member): fields whose
    # value here is empty are restored as that empty value.
    names = [f.name for f in dataclasses.fields(abstract)] if dataclasses.is_dataclass(
        abstract) else []
    if not any(getattr(abstract, n) == {} for n in names) or 'MISSING' not in str(e.__cause__):
      raise
    on_disk = _read(mngr, step, 'state', ocp.args.StandardRestore())
    missing = [n for n in names if n not in on_disk and getattr(abstract, n) == {}]
    if not missing:
      raise
    item = {n: getattr(abstract, n) for n in names if n not in missing}
    restored = _read(mngr, step, 'state', ocp.args.StandardRestore(item))
    return type(abstract)(**dict(restored), **{n: {} for n in missing})


# GANState fields each player owns, copied by `init_from`.
PLAYER_FIELDS = {'g': ('g_params', 'g_collections', 'ema_g_params'),
                 'd': ('d_params', 'd_collections')}


def init_from(state: Any, workdir: str, players: str, log: Callable[[str], None]) -> Any:
  """`state` with the fields of `players` ('g', 'd' or 'gd': PLAYER_FIELDS) taken from the
  newest loadable checkpoint of the run in `workdir`; everything else (optimizer states,
  step, extras) as in `state`. The networks must match: a different layout is an error
  naming the first mismatching variable."""
  if not players or set(players) - set(PLAYER_FIELDS):
    raise ValueError(f"init_from.players={players!r}: use 'g', 'd' or 'gd'.")
  directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'init_from.workdir={workdir!r} has no checkpoints/ directory; '
                            'point it at the workdir of a run that saved a checkpoint.')
  fields = [f for p in players for f in PLAYER_FIELDS[p]]
  mngr = manager(directory)
  try:
    saved, step, _ = restore_newest(
        mngr, lambda s: _read(mngr, s, 'state', ocp.args.StandardRestore()), log)
  finally:
    mngr.close()
  replaced = {}
  for name in fields:
    have = {jax.tree_util.keystr(p): v
            for p, v in jax.tree_util.tree_flatten_with_path(saved.get(name, {}))[0]}

    def take(path, leaf, name=name, have=have):
      key = jax.tree_util.keystr(path)
      if key not in have or np.shape(have[key]) != np.shape(leaf):
        got = np.shape(have[key]) if key in have else 'missing'
        raise ValueError(f'init_from: {name}{key} of {workdir} is {got}, this run needs '
                         f'{np.shape(leaf)}; both runs must build the same networks.')
      return np.asarray(have[key], np.asarray(leaf).dtype)
    replaced[name] = jax.tree_util.tree_map_with_path(take, getattr(state, name))
  log(f'Initialized {", ".join(fields)} from {workdir} (step {step}).')
  return state.replace(**replaced)


def restore_newest(mngr: ocp.CheckpointManager, load: Callable[[int], T],
                   log: Callable[[str], None]) -> tuple[T, int, list[int]]:
  """`load(step)` of the newest checkpoint it loads: (result, step, unreadable newer steps).

  `load` raises UnreadableCheckpointError (from restore_config / restore_state) for a
  damaged checkpoint; the one before it is tried next, with a warning naming the damaged
  one, which is left where it is. Any other error of `load` propagates.
  """
  steps = sorted(mngr.all_steps(), reverse=True)
  if not steps:
    raise FileNotFoundError(f'No checkpoint in {mngr.directory}.')
  failures = []
  for step in steps:
    try:
      result = load(step)
    except UnreadableCheckpointError as e:
      failures.append((step, e))
      log(f'Warning: checkpoint step {step} is damaged; trying the one before it. {e}')
      continue
    return result, step, [s for s, _ in failures]
  raise UnreadableCheckpointError(
      f'No checkpoint in {mngr.directory} loads; each is damaged:\n  '
      + '\n  '.join(str(e) for _, e in failures)
      + '\nThey are left in place. Restore them from a copy, or move the directory aside to '
      'start over.')


def set_aside(mngr: ocp.CheckpointManager, steps: list[int],
              log: Callable[[str], None]) -> None:
  """Moves the damaged checkpoints `steps` to <checkpoints>_unreadable/ (kept, not deleted).

  A run resumed from an older checkpoint reaches these steps again; they must leave the
  manager's directory for the new checkpoints to be written and the old ones rotated.
  Process 0 moves them; every process then reloads the manager's step list.
  """
  if not steps:
    return
  aside = str(mngr.directory) + '_unreadable'
  if jax.process_index() == 0:
    os.makedirs(aside, exist_ok=True)
    for step in steps:
      dest, n = os.path.join(aside, str(step)), 1
      while os.path.exists(dest):
        dest, n = os.path.join(aside, f'{step}.{n}'), n + 1
      os.rename(step_directory(mngr, step), dest)
      log(f'Moved the damaged checkpoint {step_directory(mngr, step)} to {dest}; training '
          f'writes step {step} again.')
  if jax.process_count() > 1:
    ocp.multihost.sync_global_processes('gan_jax_set_aside_damaged_checkpoints')
  mngr.reload()


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


def fill_missing(saved: dict, defaults: ml_collections.ConfigDict
                 ) -> tuple[ml_collections.ConfigDict, list[str]]:
  """A saved config with the fields it lacks (older code) taken from `defaults`.

  Returns (config, the dotted names of the filled fields or blocks).
  """
  filled = []

  def merge(have: dict, want: dict, prefix: str) -> dict:
    out = dict(have)
    for k, v in want.items():
      if k not in out:
        out[k] = v
        filled.append(prefix + k)
      elif isinstance(out[k], dict) and isinstance(v, dict):
        out[k] = merge(out[k], v, f'{prefix}{k}.')
    return out

  return ml_collections.ConfigDict(merge(saved, defaults.to_dict(), '')), filled
