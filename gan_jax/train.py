"""Training loop: `train_and_evaluate(config, workdir)`, callable without flags.

The workdir holds config.json and dataset.json (the resolved config, the data),
checkpoints/ (orbax, latest N kept), metrics.jsonl and tensorboard/ (metrics), samples/
(grids at fixed latents), training_curves.png and eval/ (periodic evaluation). Running it
again on the same workdir resumes from the newest checkpoint that loads.

The loop runs the compiled step and, at the steps where something is due, the actions
below (`log_metrics`, `write_samples`, `run_evaluation`, `save_checkpoint`), which share
one `Run`.

A population (config.population.size = K > 1, gan_jax.population) runs through the same loop:
the state has a leading member axis, each member draws its own batches, and the actions write
per member under members/member_i/ (metrics.jsonl, tensorboard/, samples/, eval/) besides the
population's own files: metrics.jsonl (means over the active members), samples/step_N.png
(every member's images side by side, one row each), population.csv (members, hyperparameters,
last metrics), and with PBT (config.pbt) lineage.jsonl and lineage.png.
"""

import contextlib
import csv
import dataclasses
import json
import os
import signal
import time
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from gan_jax import checkpointing, data, evaluation, metric_logging, modalities, models, parallel
from gan_jax import plots, population
from gan_jax import sampling, sweep, visualize
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from gan_jax.objectives import base as objectives_base

# hook(step, host_state, networks), run by process 0 at every log step. The state's buffers
# may be donated to the next step: copy what you keep (jax.device_get).
Hook = Callable[[int, state_lib.GANState, models.Networks], None]

# Scalars drawn in training_curves.png when logged (eval/<name> for the evaluation ones).
CURVE_KEYS = ('d_loss', 'g_loss', 'd_real_prob', 'd_fake_prob', 'd_accuracy', 'd_update_applied',
              'wasserstein_estimate', 'penalty', 'd_grad_norm', 'g_grad_norm', 'steps_per_sec')
EVAL_CURVE_KEYS = ('fid', 'kid_mean', 'is_mean', 'precision', 'recall', 'modes_captured',
                   'high_quality_fraction', 'reverse_kl', 'psnr', 'ssim', 'class_preservation',
                   'cycle_psnr')

# (field, smallest valid value, what it counts) of the run's counts and intervals.
COUNT_FIELDS = (
    ('num_train_steps', 1, 'generator steps of the run'),
    ('batch_size', 1, 'global batch size'),
    ('log_every', 1, 'steps between metric rows'),
    ('sample_every', 1, 'steps between sample grids'),
    ('checkpoint_every', 1, 'steps between checkpoints'),
    ('keep_checkpoints', 1, 'checkpoints kept'),
    ('eval_every', 0, 'steps between evaluations, 0 for none'),
    ('d_steps_per_g_step', 1, 'discriminator updates per generator update'),
    ('num_sample_images', 1, 'images per sample grid'),
)


class NonFiniteLossError(FloatingPointError):
  """Raised when a training step produces a non-finite loss or gradient."""


class ConfigError(ValueError):
  """A config that cannot be trained (a bad value, or a resume that changes the experiment)."""


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming every count or interval field out of range."""
  errors = []
  for field, minimum, what in COUNT_FIELDS:
    value = config[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
      errors.append(f'config.{field}={value!r} is invalid ({what}): it must be an integer '
                    f'>= {minimum}; pass --config.{field}=N with N >= {minimum}.')
  if errors:
    raise ConfigError('\n'.join(errors))


@dataclasses.dataclass
class Run:
  """What the actions at the boundaries of one run share."""

  config: ml_collections.ConfigDict
  workdir: str
  source: data.Source
  networks: models.Networks
  trainer: parallel.ParallelTrainer
  mngr: Any                # orbax CheckpointManager of workdir/checkpoints.
  writer: metric_logging.MetricWriter
  sampler: Callable        # (variables, *grid_inputs) -> (images, images per row or None).
  grid_inputs: tuple       # The sample grids' fixed inputs (sampling.fixed_grid_inputs).
  is_main: bool            # Process 0: the one that writes.
  members: Optional['Members'] = None  # A population's per-member bookkeeping.


@dataclasses.dataclass
class Members:
  """What a population run keeps per member (gan_jax.population)."""

  configs: list            # Each member's single-run config (seed, initial hyperparameters).
  writers: list            # metric_logging.MetricWriter of members/member_i.
  active: np.ndarray       # (K,) bool, as in the state; False once frozen.
  last: list = dataclasses.field(default_factory=list)  # Each member's last logged values.
  # PBT: each member's {step: value of pbt.metric} since it was last copied (process 0).
  history: list = dataclasses.field(default_factory=list)
  exploit: Optional[Callable] = None  # The jitted PBT round, compiled at the first one.

  def directory(self, workdir: str, i: int) -> str:
    return os.path.join(workdir, 'members', f'member_{i}')


@dataclasses.dataclass
class Window:
  """Host metrics of the steps since the last log row, and when they started."""

  first_step: int
  start_time: float = dataclasses.field(default_factory=time.time)
  rows: list = dataclasses.field(default_factory=list)


class Due(NamedTuple):
  """Which actions run after a step (a checkpoint is also due on SIGTERM)."""

  log: bool
  sample: bool
  evaluate: bool
  checkpoint: bool


def due_at(config: ml_collections.ConfigDict, step: int) -> Due:
  """Each action is due every its-interval steps and at the last step."""
  def every(interval):
    return interval > 0 and (step % interval == 0 or step == config.num_train_steps)
  return Due(log=every(config.log_every), sample=every(config.sample_every),
             evaluate=every(config.eval_every), checkpoint=every(config.checkpoint_every))


def start_run(config: ml_collections.ConfigDict, workdir: str) -> Run:
  is_main = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)
  source, networks = sampling.build(config)
  members = None
  if population.enabled(config):
    configs = population.member_configs(config)
    writers = [metric_logging.MetricWriter(os.path.join(workdir, 'members', f'member_{i}'),
                                           enabled=is_main) for i in range(len(configs))]
    members = Members(configs=configs, writers=writers, active=np.ones(len(configs), bool),
                      last=[{} for _ in configs], history=[{} for _ in configs])
  return Run(
      members=members, config=config, workdir=workdir, source=source, networks=networks,
      trainer=parallel.build_trainer(config, networks),
      mngr=checkpointing.manager(os.path.join(os.path.abspath(workdir), 'checkpoints'),
                                 config.keep_checkpoints),
      writer=metric_logging.MetricWriter(workdir, enabled=is_main),
      sampler=sampling.make_grid_sampler(config, networks),
      grid_inputs=sampling.fixed_grid_inputs(config, networks), is_main=is_main)


def check_resumable(saved: dict, config: ml_collections.ConfigDict, workdir: str) -> None:
  """Raises ConfigError when `config` changes the experiment of the checkpoint's `saved`."""
  diffs, one_sided = checkpointing.config_differences(saved, config)
  if one_sided:
    metric_logging.log('Config fields present on one side only (code version change?): '
                       + ', '.join(one_sided))
  if diffs and not config.resume_allow_changes:
    raise ConfigError(
        f'Cannot resume {workdir}: the config differs from the checkpoint\'s in fields that '
        'change the experiment:\n  ' + '\n  '.join(diffs) +
        '\nUse a new --workdir, restore those values, or pass '
        '--config.resume_allow_changes=True to resume anyway.')


def restore_or_init(run: Run, init_key: jax.Array) -> state_lib.GANState:
  """The newest checkpoint that loads (its config checked first), or a fresh state (a
  population's: `init_key` holds the members' keys).

  Damaged checkpoints newer than the one restored are moved to checkpoints_unreadable/, so
  the run can write those steps again.
  """
  if run.members is not None:
    state = population.create_population(run.config, run.networks, init_key)
  else:
    state = state_lib.create_state(run.config, run.networks, init_key)
  if not run.mngr.all_steps():
    source = run.config.init_from
    if source.workdir:
      state = checkpointing.init_from(state, source.workdir, source.players, metric_logging.log)
    return state

  def load(step):
    check_resumable(checkpointing.restore_config(run.mngr, step), run.config, run.workdir)
    return checkpointing.restore_state(run.mngr, state, step)

  state, step, damaged = checkpointing.restore_newest(run.mngr, load, metric_logging.log)
  checkpointing.set_aside(run.mngr, damaged, metric_logging.log)
  metric_logging.log(f'Resuming from step {step} in {run.workdir}.')
  return state


def write_run_files(run: Run) -> None:
  """config.json (the resolved config) and dataset.json (the data's description)."""
  if not run.is_main:
    return
  with open(os.path.join(run.workdir, 'config.json'), 'w') as f:
    json.dump(run.config.to_dict(), f, indent=2, sort_keys=True)
  with open(os.path.join(run.workdir, 'dataset.json'), 'w') as f:
    json.dump(data.describe(run.source), f, indent=2)
  for i, member_config in enumerate(run.members.configs if run.members else ()):
    os.makedirs(run.members.directory(run.workdir, i), exist_ok=True)
    with open(os.path.join(run.members.directory(run.workdir, i), 'config.json'), 'w') as f:
      json.dump(member_config.to_dict(), f, indent=2, sort_keys=True)


def fetch_metrics(run: Run, step: int, device_metrics: dict) -> dict:
  """The step's metrics as host floats (a population's: (K,) arrays); a non-finite step is
  an error unless skipped (a population member's freezes that member)."""
  if run.members is not None:
    return fetch_member_metrics(run, step, device_metrics)
  host = {k: float(v) for k, v in
          jax.device_get(run.trainer.host_metrics(device_metrics)).items()}
  if host['finite'] == 0 and not run.config.skip_nonfinite_updates:
    latest = run.mngr.latest_step()
    kept = ('No checkpoint was written yet.' if latest is None else
            f'The last checkpoint (step {latest}) is kept.')
    raise NonFiniteLossError(
        f'Non-finite loss or gradient at step {step}: '
        + ', '.join(f'{k}={v}' for k, v in host.items() if not np.isfinite(v) or k == 'finite')
        + f'. {kept} Lower the learning rates, add a penalty, or set '
        '--config.skip_nonfinite_updates=True to skip such updates.')
  return host


def fetch_member_metrics(run: Run, step: int, device_metrics: dict) -> dict:
  """A population step's metrics, (K,) float arrays; members that became inactive are
  reported (frozen, or re-initialized by the loop with on_nonfinite='reset'); an error when
  none is left."""
  host = {k: np.asarray(v, np.float64) for k, v in
          jax.device_get(run.trainer.host_metrics(device_metrics)).items()}
  members = run.members
  for i in np.flatnonzero(members.active & (host['active'] == 0)):
    bad = ', '.join(f'{k}={v[i]:.4g}' for k, v in host.items() if not np.isfinite(v[i]))
    what = ('is re-initialized' if run.config.population.on_nonfinite == 'reset' else
            'is frozen at its last finite state; the others go on')
    metric_logging.log(f'Member {i}: non-finite loss or gradient at step {step} ({bad}): it '
                       f'{what}.')
  members.active = members.active & (host['active'] > 0)
  if not members.active.any() and run.config.population.on_nonfinite == 'freeze':
    raise NonFiniteLossError(f'Every member of the population has a non-finite loss or '
                             f'gradient (the last at step {step}). Lower the learning rates or '
                             'add a penalty.')
  return host


def log_metrics(run: Run, step: int, window: Window) -> dict:
  """Writes the window's means and steps/s (metrics.jsonl, TensorBoard, console); for a
  population, each active member's to members/member_i and their mean to the run's."""
  steps_per_sec = (step - window.first_step) / max(time.time() - window.start_time, 1e-9)
  if run.members is not None:
    return log_member_metrics(run, step, window, steps_per_sec)
  means = {k: float(np.mean([r[k] for r in window.rows])) for k in window.rows[0]
           if k != 'finite'}
  row = run.writer.write(step, dict(means, steps_per_sec=steps_per_sec))
  metric_logging.log(metric_logging.progress_line(step, run.config.num_train_steps,
                                                  steps_per_sec, means))
  return row


def log_member_metrics(run: Run, step: int, window: Window, steps_per_sec: float) -> dict:
  members = run.members
  means = {k: np.mean([r[k] for r in window.rows], axis=0) for k in window.rows[0]
           if k not in ('finite', 'active')}
  members.last = [{k: float(v[i]) for k, v in means.items()} for i in range(len(members.active))]
  for i in np.flatnonzero(members.active):
    members.writers[i].write(step, dict(members.last[i], member=i,
                                        steps_per_sec=steps_per_sec))
  alive = members.active
  summary = {k: float(np.mean(v[alive])) if alive.any() else float('nan')
             for k, v in means.items()}
  row = run.writer.write(step, dict(summary, steps_per_sec=steps_per_sec,
                                    active_members=float(alive.sum())))
  metric_logging.log(metric_logging.progress_line(step, run.config.num_train_steps,
                                                  steps_per_sec, summary)
                     + f' (mean of {int(alive.sum())}/{len(alive)} active members)')
  return row


def write_training_curves(workdir: str, metrics_path: str) -> None:
  """training_curves.png: the main training scalars (and eval/...) against step."""
  if not os.path.exists(metrics_path):
    return
  present = {k for r in plots.read_jsonl(metrics_path) for k in r}
  keys = [k for k in CURVE_KEYS if k in present] + sorted(
      k for k in present if k.startswith('eval/') and k.split('/')[1] in EVAL_CURVE_KEYS)
  if keys:
    plots.plot_training_curves(metrics_path, os.path.join(workdir, 'training_curves.png'), keys)


def write_samples(run: Run, host_state: state_lib.GANState, step: int) -> None:
  """samples/step_N.png (and latest.png) at the fixed grid inputs (latents; or for
  image-to-image runs, rows input | output | target of held-out examples, see
  sampling.translation_grid); training_curves.png. A population writes these per member
  and samples/step_N.png with every member's first population.grid_images side by side."""
  if not run.is_main:
    return
  if run.members is None:
    write_samples_to(run, run.workdir, host_state, step)
    write_training_curves(run.workdir, run.writer.path)
    return
  per_member = []
  for i, writer in enumerate(run.members.writers):
    directory = run.members.directory(run.workdir, i)
    per_member.append(write_samples_to(run, directory, population.take(host_state, i), step))
    write_training_curves(directory, writer.path)
  write_training_curves(run.workdir, run.writer.path)
  n = int(run.config.population.grid_images)
  path = os.path.join(run.workdir, 'samples', f'step_{step:07d}.png')
  if modalities.for_config(run.config) is not None:
    return  # Clips, voxels, audio: per member only.
  if len(run.networks.data_shape) == 3:
    visualize.save_image_grid(np.concatenate([s[:n] for s in per_member]), path, ncols=n,
                              upscale=2 if run.networks.data_shape[0] <= 32 else 1)
  else:
    real = np.stack([run.source[i]['image'] for i in range(min(len(run.source), 2000))])
    plots.scatter_panels(real, per_member, path, [
        f'member {i}' + ('' if run.members.active[i] else ' (frozen)')
        for i in range(len(per_member))])


def write_samples_to(run: Run, workdir: str, host_state: state_lib.GANState,
                     step: int) -> np.ndarray:
  """One run's (or member's) sample files under `workdir`; returns the samples."""
  samples, per_row = run.sampler(
      host_state.generator_variables(ema=run.config.ema_decay > 0), *run.grid_inputs)
  path = os.path.join(workdir, 'samples', f'step_{step:07d}.png')
  data_shape = run.networks.data_shape
  modality = modalities.for_config(run.config)
  if modality is not None:  # Clips (GIFs), voxel grids (renderings), audio (WAVs).
    modality.write_samples(run.config, np.asarray(samples),
                           os.path.join(workdir, 'samples'), step)
  elif len(data_shape) == 3:
    visualize.save_image_grid(samples, path, ncols=per_row,
                              upscale=2 if data_shape[0] <= 32 else 1)
    latest = os.path.join(workdir, 'samples', 'latest.png')
    if os.path.lexists(latest):
      os.remove(latest)
    os.symlink(os.path.basename(path), latest)
  else:
    real = np.stack([run.source[i]['image'] for i in range(min(len(run.source), len(samples)))])
    plots.scatter_real_vs_fake(real, samples, path, title=f'step {step}')
  return np.asarray(samples)


def run_evaluation(run: Run, host_state: state_lib.GANState, step: int) -> float:
  """Evaluates (process 0): eval/... scalars and eval/step_N.json (a population: each
  member's, under members/member_i). Returns its seconds."""
  if not run.is_main:
    return 0.0
  start = time.time()
  if run.members is None:
    evaluate_to(run, run.config, run.workdir, run.writer, host_state, step, '')
    return time.time() - start
  for i, (config, writer) in enumerate(zip(run.members.configs, run.members.writers)):
    scalars = evaluate_to(run, config, run.members.directory(run.workdir, i), writer,
                          population.take(host_state, i), step, f'member {i} ')
    run.members.last[i].update({f'eval/{k}': v for k, v in scalars.items()})
  return time.time() - start


def evaluate_to(run: Run, config: ml_collections.ConfigDict, workdir: str, writer,
                host_state: state_lib.GANState, step: int, who: str) -> dict:
  start = time.time()
  results = evaluation.evaluate(config, run.networks, host_state, run.source, step=step)
  evaluation.write_results(results, os.path.join(workdir, 'eval', f'step_{step}.json'))
  scalars = evaluation.scalars(results)
  writer.write(step, {f'eval/{k}': v for k, v in scalars.items()})
  metric_logging.log(f'{who}eval at step {step} ({time.time() - start:.1f}s): '
                     + ' '.join(f'{k}={v:.4g}' for k, v in scalars.items()))
  return scalars


def write_population_table(run: Run, host_state: state_lib.GANState, step: int) -> None:
  """population.csv: per member its seed, state, current hyperparameters and last logged
  values, sorted by population.sort_by (or pbt.metric when PBT is on)."""
  if not run.is_main:
    return
  hparams = population.flatten(jax.device_get(host_state.member['hparams']))
  rows = [dict(member=i, seed=config.seed, active=bool(run.members.active[i]), step=step,
               **{f: float(f'{v[i]:.6g}') for f, v in sorted(hparams.items())},
               **run.members.last[i])
          for i, config in enumerate(run.members.configs)]
  spec = run.config.population.sort_by or (run.config.pbt.metric if run.config.pbt.interval
                                           else '')
  if spec:
    key, order = sweep.sort_key(spec)
    rows.sort(key=order)
  fields = list(dict.fromkeys(k for r in rows for k in r))
  with open(os.path.join(run.workdir, 'population.csv'), 'w', newline='') as f:
    writer = csv.DictWriter(f, fields, restval='')
    writer.writeheader()
    writer.writerows(rows)


def record_pbt_values(run: Run, step: int) -> None:
  """Adds each member's current value of pbt.metric (from its last logged values) to its
  PBT history at `step`; NaN for a frozen member."""
  name, _ = sweep.sort_key(run.config.pbt.metric)
  for i, (last, history) in enumerate(zip(run.members.last, run.members.history)):
    if name in last:
      history[step] = last[name] if run.members.active[i] else float('nan')


def start_pbt_histories(run: Run, start_step: int) -> None:
  """The PBT histories of a resumed run, rebuilt from the members' metrics.jsonl and
  lineage.jsonl (process 0: the one that has evaluated and written them)."""
  if not run.is_main or start_step == 0:
    return
  path = os.path.join(run.workdir, 'lineage.jsonl')
  lineage = plots.read_jsonl(path) if os.path.exists(path) else []
  rows = [plots.read_jsonl(w.path) if os.path.exists(w.path) else [] for w in run.members.writers]
  run.members.history = population.rebuild_histories(
      rows, lineage, sweep.sort_key(run.config.pbt.metric)[0], start_step)


def pbt_round(run: Run, host_state: state_lib.GANState, step: int) -> state_lib.GANState:
  """Population-based training at `step`: scores from pbt.metric (each member's mean of its
  last pbt.smoothing values since it was last copied), computed by process 0 and broadcast
  to the others (only it evaluates), exploit_explore, the lineage written (lineage.jsonl,
  lineage.png). Returns the new host state."""
  pbt = run.config.pbt
  name, order = sweep.sort_key(pbt.metric)
  values = population.smoothed_scores(run.members.history, int(pbt.get('smoothing', 1)))
  values[~run.members.active] = np.nan
  if jax.process_count() > 1:
    values = np.asarray(multihost_utils.broadcast_one_to_all(values), np.float64)
  if np.isnan(values).all():
    raise ValueError(f'pbt.metric={pbt.metric!r}: no member has logged {name!r}; use a '
                     'training scalar (d_loss, ...) or an eval/ metric of the evaluation.')
  scores = -values if not pbt.metric.startswith('-') else values
  key = jax.random.fold_in(jax.random.key(run.config.seed), 0x9B7 + step)
  if run.members.exploit is None:
    run.members.exploit = population.jit_exploit_explore(run.config)
  new, parents = run.members.exploit(host_state, jnp.asarray(scores), key)
  new = jax.device_get(new)
  parents = np.asarray(parents)
  run.members.active = np.asarray(new.member['active'], bool)
  for i in np.flatnonzero(parents != np.arange(len(parents))):
    run.members.history[i] = {}  # Its state is another member's now: its values start over.
  moves = [f'{i}<-{p}' for i, p in enumerate(parents) if p != i]
  metric_logging.log(f'PBT at step {step} ({name}: '
                     + ' '.join(f'{v:.4g}' for v in values) + f'): {" ".join(moves)}')
  write_lineage(run, new, step, parents, values)
  return new


def write_lineage(run: Run, host_state: state_lib.GANState, step: int, parents, values) -> None:
  if not run.is_main:
    return
  hparams = population.flatten(jax.device_get(host_state.member['hparams']))
  path = os.path.join(run.workdir, 'lineage.jsonl')
  with open(path, 'a') as f:
    for i, parent in enumerate(parents):
      f.write(json.dumps({'step': step, 'member': i, 'parent': int(parent),
                          'score': float(values[i]),
                          'hparams': {k: float(f'{v[i]:.6g}') for k, v in hparams.items()}})
              + '\n')
  if hparams:
    plots.plot_lineage(plots.read_jsonl(path), os.path.join(run.workdir, 'lineage.png'))


def start_lineage(run: Run, host_state: state_lib.GANState, start_step: int) -> None:
  """lineage.jsonl from step 0 (a fresh run), or cut back to the resumed step."""
  if not run.is_main or not int(run.config.pbt.interval):
    return
  path = os.path.join(run.workdir, 'lineage.jsonl')
  rows = [r for r in plots.read_jsonl(path) if r['step'] <= start_step] \
      if os.path.exists(path) else []
  with open(path, 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in rows)
  if not rows:
    k = len(run.members.active)
    write_lineage(run, host_state, start_step, np.arange(k), np.full(k, np.nan))


def training_batches(run: Run, start_step: int, total: int, loader: dict):
  """The run's batches for steps start_step .. total - 1; with ADA's 'rv' heuristic each also
  holds a batch of the held-out `augment.options.validation_split` (its own shuffle, the same
  size and critic axis) under the keys objectives.base.ADA_VALIDATION_IMAGE / _LABEL."""
  config = run.config
  kwargs = dict(global_batch=config.batch_size, n_critic=config.d_steps_per_g_step,
                start_step=start_step, num_steps=total, **loader)
  batches = data.batches(run.source, seed=config.seed, **kwargs)
  split = train_step_lib.ada_validation_split(config)
  if split is None:
    return batches
  if split == config.dataset.split:
    raise ConfigError(f'augment.options.validation_split={split!r} is the training split; '
                      "ADA's 'rv' heuristic needs real images D never trains on (e.g. "
                      "'train[300:1300]' when training on 'train[:300]').")
  held_out = evaluation.load_split(config, split)
  if held_out.data_shape != run.source.data_shape:
    raise ConfigError(f'augment.options.validation_split={split!r} gives data of shape '
                      f'{held_out.data_shape}, the training split {run.source.data_shape}.')
  # Its own iterator (the training batches are those of a run without it) and its own
  # shuffle seed, derived from the run's.
  held_out_batches = data.batches(held_out, seed=(int(config.seed) * 7919 + 17) % 2**31,
                                  **kwargs)
  keys = {'image': objectives_base.ADA_VALIDATION_IMAGE,
          'label': objectives_base.ADA_VALIDATION_LABEL}
  return ({**b, **{new: v[old] for old, new in keys.items() if old in v}}
          for b, v in zip(batches, held_out_batches))


def save_checkpoint(run: Run, host_state: state_lib.GANState, step: int) -> None:
  checkpointing.save(run.mngr, step, host_state, run.config, force=True)


@contextlib.contextmanager
def sigterm_received():
  """Yields a list that SIGTERM appends its number to; restores the previous handler after."""
  received = []
  previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
  try:
    yield received
  finally:
    signal.signal(signal.SIGTERM, previous)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       hooks: Sequence[Hook] = ()) -> dict:
  """Trains (or resumes) the run described by `config` in `workdir`.

  Args:
    config: the experiment config (see configs/default.py).
    workdir: output directory; an existing run there is resumed.
    hooks: callables `hook(step, host_state, networks)` run by process 0 at every log step
      (for research instrumentation).
  Returns:
    The last metrics row written.
  """
  validate_config(config)
  population.check_config(config)
  pbt_every = int(config.pbt.interval) if population.enabled(config) else 0
  pbt_on_eval = config.pbt.metric.lstrip('-').startswith('eval/')
  if pbt_every and pbt_on_eval and not config.eval_every:
    evaluation.check_config(config)
  if pbt_every and not pbt_on_eval and pbt_every % config.log_every:
    raise ConfigError(f'pbt.metric={config.pbt.metric!r} is a logged training value: '
                      f'pbt.interval={pbt_every} must be a multiple of log_every='
                      f'{config.log_every}.')
  if config.eval_every and jax.process_index() == 0:
    evaluation.check_config(config)  # A bad eval block fails now, not at step eval_every.
  run = start_run(config, workdir)
  if run.members is not None:
    init_key, train_key = population.member_keys(config)
  else:
    init_key, train_key = jax.random.split(jax.random.key(config.seed))
  try:
    state = restore_or_init(run, init_key)
    write_run_files(run)
    one = state if run.members is None else population.take(state, 0)
    start_step, total = int(one.step), config.num_train_steps
    metric_logging.log(
        f'{run.source.description}: data shape {run.source.data_shape}; '
        f'G {models.count_params(one.generator_variables(ema=False)):,} params, '
        f'D {models.count_params({"params": one.d_params}):,} params; '
        + (f'{len(run.members.active)} members; ' if run.members else '')
        + f'{run.trainer.mode} on {run.trainer.num_devices} device(s); '
        f'steps {start_step}..{total}')
    loader = dict(process_index=jax.process_index(), process_count=jax.process_count(),
                  num_threads=config.dataset.num_threads, prefetch=config.dataset.prefetch)
    if run.members is not None:
      if train_step_lib.ada_validation_split(config) is not None:
        raise ConfigError("ADA's 'rv' heuristic (held-out images in every batch) is not "
                          "wired into population batches; use augment.options.heuristic='rt' "
                          'with population.size > 1, or a sweep.')
      run.members.active = np.asarray(state.member['active'], bool)
      start_lineage(run, state, start_step)
      if pbt_every:
        start_pbt_histories(run, start_step)
      batches = population.batches(run.source, config, start_step=start_step, **loader)
    else:
      batches = training_batches(run, start_step, total, loader)
    dev_state = run.trainer.put_state(state)
    del state
    window, pending, last_row = Window(start_step), None, {}
    with sigterm_received() as preempted:
      for step in range(start_step + 1, total + 1):
        batch = run.trainer.put_batch(next(batches))
        dev_state, metrics = run.trainer.step(dev_state, batch, train_key)
        if pending is not None:  # The step before's metrics: ready while this step runs.
          window.rows.append(fetch_metrics(run, *pending))
          dev_state = reset_members(run, dev_state, step)
        pending = (step, metrics)
        due = due_at(config, step)
        pbt_due = bool(pbt_every) and step % pbt_every == 0 and step < total
        if not (any(due) or preempted or pbt_due):
          continue
        window.rows.append(fetch_metrics(run, *pending))
        dev_state = reset_members(run, dev_state, step)
        pending = None
        host_state = run.trainer.host_state(dev_state)
        if due.log:
          last_row = log_metrics(run, step, window)
          if pbt_every and not pbt_on_eval:
            record_pbt_values(run, step)
          for hook in hooks if run.is_main else ():
            hook(step, host_state, run.networks)
          window = Window(step)
        if due.sample:
          write_samples(run, host_state, step)
        if due.evaluate or (pbt_due and pbt_on_eval):
          window.start_time += run_evaluation(run, host_state, step)  # Not in steps/s.
          if pbt_every and pbt_on_eval:
            record_pbt_values(run, step)
        if pbt_due:
          host_state = pbt_round(run, host_state, step)
          dev_state = run.trainer.put_state(host_state)
        if run.members is not None:
          write_population_table(run, host_state, step)
        stopping = bool(preempted)  # Read once: SIGTERM may arrive during the actions above.
        if due.checkpoint or stopping:
          save_checkpoint(run, host_state, step)
        if stopping:
          metric_logging.log(f'Received signal {preempted[0]}: saved checkpoint at step '
                             f'{step}, exiting. Re-run the same command to resume.')
          break
  finally:
    run.writer.close()
    for writer in run.members.writers if run.members else ():
      writer.close()
    run.mngr.close()
  return last_row


def reset_members(run: Run, dev_state, step: int):
  """With population.on_nonfinite='reset', members that became inactive start over
  (population.reinitialize_member); the device state otherwise as it is."""
  if (run.members is None or run.config.population.on_nonfinite != 'reset'
      or run.members.active.all()):
    return dev_state
  host_state = jax.device_get(run.trainer.host_state(dev_state))
  for i in np.flatnonzero(~run.members.active):
    host_state = population.reinitialize_member(run.config, run.networks, host_state, i, step)
  run.members.active[:] = True
  return run.trainer.put_state(host_state)
