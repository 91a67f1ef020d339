"""Training loop: `train_and_evaluate(config, workdir)`, callable without flags.

The workdir holds config.json (the resolved config), checkpoints/ (orbax, latest N kept),
metrics.jsonl and tensorboard/ (metrics), and samples/ (PNG grids at fixed latents).
Running it again on the same workdir resumes from the latest checkpoint.
"""

import json
import os
import signal
import time
from typing import Optional

import jax
import ml_collections
import numpy as np

from gan_jax import checkpointing, data, metric_logging, models, parallel, plots, visualize
from gan_jax import state as state_lib


class NonFiniteLossError(FloatingPointError):
  """Raised when a training step produces a non-finite loss or gradient."""


def build(config: ml_collections.ConfigDict):
  """(source, networks) for a config: the data decides the data shape and classes."""
  source = data.load_source(config.dataset, seed=config.seed)
  num_classes = source.num_classes if config.dataset.get('conditional', False) else None
  if config.dataset.get('conditional', False) and not source.num_classes:
    raise ValueError(f'dataset.conditional=True but {source.description} has no labels.')
  networks = models.build_networks(config.model, source.data_shape, num_classes)
  return source, networks


def fixed_latents(config, networks: models.Networks):
  """The latents (and labels) used for every sample grid of a run."""
  key = jax.random.fold_in(jax.random.key(config.seed), 0x5A3)
  k_z, k_y = jax.random.split(key)
  n = int(config.num_sample_images)
  labels = None
  if networks.num_classes:
    labels = jax.numpy.arange(n) % networks.num_classes
  return networks.sample_latents(k_z, n), labels


def make_sampler(networks: models.Networks):
  """jit-compiled (variables, z, labels) -> samples, generator in inference mode."""
  return jax.jit(lambda variables, z, y: networks.generator_apply(variables, z, y,
                                                                   train=False)[0])


def _write_image_grid(workdir, step, samples, data_shape):
  """samples/step_NNNNNNN.png, and samples/latest.png pointing at it."""
  path = os.path.join(workdir, 'samples', f'step_{step:07d}.png')
  visualize.save_image_grid(np.asarray(samples), path, upscale=2 if data_shape[0] <= 32 else 1)
  latest = os.path.join(workdir, 'samples', 'latest.png')
  if os.path.lexists(latest):
    os.remove(latest)
  os.symlink(os.path.basename(path), latest)
  return path


CURVE_KEYS = ('d_loss', 'g_loss', 'd_real_prob', 'd_fake_prob', 'wasserstein_estimate',
              'penalty', 'd_grad_norm', 'g_grad_norm', 'steps_per_sec')


def _write_training_curves(workdir: str, metrics_path: str):
  """training_curves.png: the main training scalars (and eval/...) against step."""
  if not os.path.exists(metrics_path):
    return
  rows = plots.read_jsonl(metrics_path)
  present = {k for r in rows for k in r}
  keys = [k for k in CURVE_KEYS if k in present] + sorted(
      k for k in present if k.startswith('eval/') and k.split('/')[1] in
      ('fid', 'kid_mean', 'is_mean', 'precision', 'recall', 'modes_captured',
       'high_quality_fraction', 'reverse_kl'))
  if keys:
    plots.plot_training_curves(metrics_path, os.path.join(workdir, 'training_curves.png'), keys)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       hooks: Optional[list] = None) -> dict:
  """Trains (or resumes) the run described by `config` in `workdir`.

  Args:
    config: the experiment config (see configs/default.py).
    workdir: output directory; an existing run there is resumed.
    hooks: optional callables `hook(step, host_state, networks)` run by process 0 at every
      log step (for research instrumentation).
  Returns:
    The last metrics row written.
  """
  is_main = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)
  source, networks = build(config)
  trainer = parallel.build_trainer(config, networks)
  init_key, train_key = jax.random.split(jax.random.key(config.seed))
  state = state_lib.create_state(config, networks, init_key)
  mngr = checkpointing.manager(os.path.join(os.path.abspath(workdir), 'checkpoints'),
                               config.keep_checkpoints)
  if mngr.latest_step() is not None:
    state, saved_config, ckpt_step = checkpointing.restore(mngr, state)
    diffs, one_sided = checkpointing.config_differences(saved_config, config)
    if one_sided:
      metric_logging.log('Config fields present on one side only (code version change?): '
                         + ', '.join(one_sided))
    if diffs and not config.resume_allow_changes:
      raise ValueError(
          f'Cannot resume {workdir}: the config differs from the checkpoint\'s in fields that '
          'change the experiment:\n  ' + '\n  '.join(diffs) +
          '\nUse a new --workdir, restore those values, or pass '
          '--config.resume_allow_changes=True to resume anyway.')
    metric_logging.log(f'Resuming from step {ckpt_step} in {workdir}.')
  if is_main:
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      json.dump(config.to_dict(), f, indent=2, sort_keys=True)
    with open(os.path.join(workdir, 'dataset.json'), 'w') as f:
      json.dump(data.describe(source), f, indent=2)

  start_step = int(state.step)
  total = int(config.num_train_steps)
  writer = metric_logging.MetricWriter(workdir, enabled=is_main)
  sampler = make_sampler(networks)
  z_fixed, y_fixed = fixed_latents(config, networks)
  metric_logging.log(
      f'{source.description}: data shape {source.data_shape}; '
      f'G {models.count_params({"params": state.g_params}):,} params, '
      f'D {models.count_params({"params": state.d_params}):,} params; '
      f'{trainer.mode} on {trainer.num_devices} device(s); steps {start_step}..{total}')

  stop = {'signal': None}
  previous_handler = signal.signal(signal.SIGTERM, lambda s, f: stop.update(signal=s))

  def save_checkpoint(host_state, step):
    checkpointing.save(mngr, step, host_state, config, force=True)

  def sample_and_save(host_state, step):
    variables = host_state.generator_variables(ema=config.ema_decay > 0)
    samples = sampler(variables, z_fixed, y_fixed)
    if is_main:
      if len(networks.data_shape) == 3:
        _write_image_grid(workdir, step, samples, networks.data_shape)
      else:
        real = np.stack([source[i]['image'] for i in range(min(len(source), len(samples)))])
        plots.scatter_real_vs_fake(real, np.asarray(samples),
                                   os.path.join(workdir, 'samples', f'step_{step:07d}.png'),
                                   title=f'step {step}')
      _write_training_curves(workdir, writer.path)

  eval_every = int(config.get('eval_every', 0) or 0)
  if eval_every > 0 and is_main:
    from gan_jax import evaluation  # pylint: disable=g-import-not-at-top
    evaluation.check_config(config)  # A bad eval block fails now, not at step eval_every.

  def evaluate_and_log(host_state, step):
    """Periodic evaluation (process 0): eval/... scalars, and eval/step_N.json."""
    if not is_main:
      return
    from gan_jax import evaluation  # pylint: disable=g-import-not-at-top
    t0 = time.time()
    results = evaluation.evaluate(
        config, networks, host_state, source, step=step,
        key=jax.random.fold_in(jax.random.key(config.seed), 0xE7A1 + step))
    evaluation.write_results(results, os.path.join(workdir, 'eval', f'step_{step}.json'))
    writer.write(step, {f'eval/{k}': v for k, v in evaluation.scalars(results).items()})
    metric_logging.log(f'eval at step {step} ({time.time() - t0:.1f}s): ' + ' '.join(
        f'{k}={v:.4g}' for k, v in evaluation.scalars(results).items()))

  batches = data.batches(
      source, global_batch=config.batch_size, n_critic=config.d_steps_per_g_step,
      seed=config.seed, start_step=start_step, num_steps=total,
      process_index=jax.process_index(), process_count=jax.process_count(),
      num_threads=config.dataset.num_threads, prefetch=config.dataset.prefetch)
  dev_state = trainer.put_state(state)
  del state
  window: list[dict] = []
  last_row: dict = {}
  pending = None  # (step, device metrics) of the step before, fetched one step late.
  window_start = time.time()
  window_first = start_step

  def consume(step, device_metrics):
    host = {k: float(v) for k, v in jax.device_get(trainer.host_metrics(device_metrics)).items()}
    if host['finite'] == 0 and not config.skip_nonfinite_updates:
      latest = mngr.latest_step()
      raise NonFiniteLossError(
          f'Non-finite loss or gradient at step {step}: '
          + ', '.join(f'{k}={v}' for k, v in host.items() if not np.isfinite(v) or k == 'finite')
          + f'. The last checkpoint (step {latest}) is kept. Lower the learning rates, add a '
          'penalty, or set --config.skip_nonfinite_updates=True to skip such updates.')
    window.append(host)

  try:
    for step in range(start_step + 1, total + 1):
      batch = trainer.put_batch(next(batches))
      dev_state, metrics = trainer.step(dev_state, batch, train_key)
      if pending is not None:
        consume(*pending)
      pending = (step, metrics)
      eval_now = eval_every > 0 and (step % eval_every == 0 or step == total)
      boundary = (step % config.log_every == 0 or step == total or
                  step % config.sample_every == 0 or step % config.checkpoint_every == 0 or
                  eval_now or stop['signal'] is not None)
      if not boundary:
        continue
      consume(*pending)
      pending = None
      host_state = trainer.host_state(dev_state)
      if step % config.log_every == 0 or step == total:
        now = time.time()
        steps_per_sec = (step - window_first) / max(now - window_start, 1e-9)
        means = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
        means.pop('finite', None)
        last_row = writer.write(step, dict(means, steps_per_sec=steps_per_sec))
        metric_logging.log(metric_logging.progress_line(step, total, steps_per_sec, means))
        for hook in (hooks or []):
          if is_main:
            hook(step, host_state, networks)
        window.clear()
        window_start, window_first = time.time(), step
      if step % config.sample_every == 0 or step == total:
        sample_and_save(host_state, step)
      if eval_now:
        eval_start = time.time()
        evaluate_and_log(host_state, step)
        window_start += time.time() - eval_start  # Keep eval time out of steps/s.
      if step % config.checkpoint_every == 0 or step == total or stop['signal'] is not None:
        save_checkpoint(host_state, step)
      if stop['signal'] is not None:
        metric_logging.log(f'Received signal {stop["signal"]}: saved checkpoint at step {step}, '
                           'exiting. Re-run the same command to resume.')
        break
  finally:
    signal.signal(signal.SIGTERM, previous_handler)
    writer.close()
    mngr.close()
  return last_row


def load_run(workdir: str, step: Optional[int] = None):
  """Loads a finished or running run: (config, source, networks, host GANState, step).

  The config comes from the checkpoint itself, so the networks match the saved weights.
  """
  ckpt_dir = os.path.join(os.path.abspath(workdir), 'checkpoints')
  if not os.path.isdir(ckpt_dir):
    raise FileNotFoundError(f'No checkpoints in {workdir}; train first with launch/main.py '
                            f'--workdir={workdir}.')
  mngr = checkpointing.manager(ckpt_dir)
  try:
    step = mngr.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'No checkpoint in {ckpt_dir}.')
    if step not in mngr.all_steps():
      raise FileNotFoundError(f'No checkpoint for step {step} in {ckpt_dir}; available: '
                              f'{sorted(mngr.all_steps())}.')
    import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
    saved = mngr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))['config']
    config = ml_collections.ConfigDict(saved)
    source, networks = build(config)
    template = state_lib.create_state(config, networks, jax.random.key(0))
    state, _, step = checkpointing.restore(mngr, template, step)
  finally:
    mngr.close()
  return config, source, networks, state, step


def generate(networks: models.Networks, state: state_lib.GANState, num: int, key: jax.Array,
             *, ema: bool = True, labels=None, batch_size: int = 500) -> np.ndarray:
  """`num` samples from the generator (EMA weights if `ema`), in the data's own range."""
  sampler = make_sampler(networks)
  variables = state.generator_variables(ema=ema)
  out = []
  for i, start in enumerate(range(0, num, batch_size)):
    n = min(batch_size, num - start)
    k_z, k_y = jax.random.split(jax.random.fold_in(key, i))
    z = networks.sample_latents(k_z, n)
    y = None
    if networks.num_classes:
      y = labels[start:start + n] if labels is not None else networks.sample_labels(k_y, n)
    out.append(np.asarray(sampler(variables, z, y), np.float32))
  return np.concatenate(out)
