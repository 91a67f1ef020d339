"""Training loop: `train_and_evaluate(config, workdir)`, callable without flags.

The workdir holds config.json and dataset.json (the resolved config, the data),
checkpoints/ (orbax, latest N kept), metrics.jsonl and tensorboard/ (metrics), samples/
(grids at fixed latents), training_curves.png and eval/ (periodic evaluation). Running it
again on the same workdir resumes from the newest checkpoint that loads.

The loop runs the compiled step and, at the steps where something is due, the actions
below (`log_metrics`, `write_samples`, `run_evaluation`, `save_checkpoint`), which share
one `Run`.
"""

import contextlib
import dataclasses
import json
import os
import signal
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import ml_collections
import numpy as np

from gan_jax import checkpointing, data, evaluation, metric_logging, modalities, models, parallel
from gan_jax import plots
from gan_jax import sampling, visualize
from gan_jax import state as state_lib

# hook(step, host_state, networks), run by process 0 at every log step. The state's buffers
# may be donated to the next step: copy what you keep (jax.device_get).
Hook = Callable[[int, state_lib.GANState, models.Networks], None]

# Scalars drawn in training_curves.png when logged (eval/<name> for the evaluation ones).
CURVE_KEYS = ('d_loss', 'g_loss', 'd_real_prob', 'd_fake_prob', 'wasserstein_estimate',
              'penalty', 'd_grad_norm', 'g_grad_norm', 'steps_per_sec')
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
  return Run(
      config=config, workdir=workdir, source=source, networks=networks,
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
  """The newest checkpoint that loads (its config checked first), or a fresh state.

  Damaged checkpoints newer than the one restored are moved to checkpoints_unreadable/, so
  the run can write those steps again.
  """
  state = state_lib.create_state(run.config, run.networks, init_key)
  if not run.mngr.all_steps():
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


def fetch_metrics(run: Run, step: int, device_metrics: dict) -> dict:
  """The step's metrics as host floats; a non-finite step is an error unless skipped."""
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


def log_metrics(run: Run, step: int, window: Window) -> dict:
  """Writes the window's means and steps/s (metrics.jsonl, TensorBoard, console)."""
  steps_per_sec = (step - window.first_step) / max(time.time() - window.start_time, 1e-9)
  means = {k: float(np.mean([r[k] for r in window.rows])) for k in window.rows[0]
           if k != 'finite'}
  row = run.writer.write(step, dict(means, steps_per_sec=steps_per_sec))
  metric_logging.log(metric_logging.progress_line(step, run.config.num_train_steps,
                                                  steps_per_sec, means))
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
  sampling.translation_grid); training_curves.png."""
  if not run.is_main:
    return
  samples, per_row = run.sampler(
      host_state.generator_variables(ema=run.config.ema_decay > 0), *run.grid_inputs)
  path = os.path.join(run.workdir, 'samples', f'step_{step:07d}.png')
  data_shape = run.networks.data_shape
  modality = modalities.for_config(run.config)
  if modality is not None:  # Clips (GIFs), voxel grids (renderings), audio (WAVs).
    modality.write_samples(run.config, np.asarray(samples),
                           os.path.join(run.workdir, 'samples'), step)
  elif len(data_shape) == 3:
    visualize.save_image_grid(samples, path, ncols=per_row,
                              upscale=2 if data_shape[0] <= 32 else 1)
    latest = os.path.join(run.workdir, 'samples', 'latest.png')
    if os.path.lexists(latest):
      os.remove(latest)
    os.symlink(os.path.basename(path), latest)
  else:
    real = np.stack([run.source[i]['image'] for i in range(min(len(run.source), len(samples)))])
    plots.scatter_real_vs_fake(real, samples, path, title=f'step {step}')
  write_training_curves(run.workdir, run.writer.path)


def run_evaluation(run: Run, host_state: state_lib.GANState, step: int) -> float:
  """Evaluates (process 0): eval/... scalars and eval/step_N.json. Returns its seconds."""
  if not run.is_main:
    return 0.0
  start = time.time()
  results = evaluation.evaluate(run.config, run.networks, host_state, run.source, step=step)
  evaluation.write_results(results, os.path.join(run.workdir, 'eval', f'step_{step}.json'))
  scalars = evaluation.scalars(results)
  run.writer.write(step, {f'eval/{k}': v for k, v in scalars.items()})
  metric_logging.log(f'eval at step {step} ({time.time() - start:.1f}s): '
                     + ' '.join(f'{k}={v:.4g}' for k, v in scalars.items()))
  return time.time() - start


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
  if config.eval_every and jax.process_index() == 0:
    evaluation.check_config(config)  # A bad eval block fails now, not at step eval_every.
  run = start_run(config, workdir)
  init_key, train_key = jax.random.split(jax.random.key(config.seed))
  try:
    state = restore_or_init(run, init_key)
    write_run_files(run)
    start_step, total = int(state.step), config.num_train_steps
    metric_logging.log(
        f'{run.source.description}: data shape {run.source.data_shape}; '
        f'G {models.count_params(state.generator_variables(ema=False)):,} params, '
        f'D {models.count_params({"params": state.d_params}):,} params; '
        f'{run.trainer.mode} on {run.trainer.num_devices} device(s); '
        f'steps {start_step}..{total}')
    batches = data.batches(
        run.source, global_batch=config.batch_size, n_critic=config.d_steps_per_g_step,
        seed=config.seed, start_step=start_step, num_steps=total,
        process_index=jax.process_index(), process_count=jax.process_count(),
        num_threads=config.dataset.num_threads, prefetch=config.dataset.prefetch)
    dev_state = run.trainer.put_state(state)
    del state
    window, pending, last_row = Window(start_step), None, {}
    with sigterm_received() as preempted:
      for step in range(start_step + 1, total + 1):
        batch = run.trainer.put_batch(next(batches))
        dev_state, metrics = run.trainer.step(dev_state, batch, train_key)
        if pending is not None:  # The step before's metrics: ready while this step runs.
          window.rows.append(fetch_metrics(run, *pending))
        pending = (step, metrics)
        due = due_at(config, step)
        if not (any(due) or preempted):
          continue
        window.rows.append(fetch_metrics(run, *pending))
        pending = None
        host_state = run.trainer.host_state(dev_state)
        if due.log:
          last_row = log_metrics(run, step, window)
          for hook in hooks if run.is_main else ():
            hook(step, host_state, run.networks)
          window = Window(step)
        if due.sample:
          write_samples(run, host_state, step)
        if due.evaluate:
          window.start_time += run_evaluation(run, host_state, step)  # Not in steps/s.
        stopping = bool(preempted)  # Read once: SIGTERM may arrive during the actions above.
        if due.checkpoint or stopping:
          save_checkpoint(run, host_state, step)
        if stopping:
          metric_logging.log(f'Received signal {preempted[0]}: saved checkpoint at step '
                             f'{step}, exiting. Re-run the same command to resume.')
          break
  finally:
    run.writer.close()
    run.mngr.close()
  return last_row
