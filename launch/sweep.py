r"""Runs a grid of trials of one recipe: every combination of the --sweep axes and --seeds.

  python launch/sweep.py --config=configs/dcgan.py --workdir=runs/lr_sweep \
      --sweep=optim.g.lr=1e-4,2e-4 --sweep=loss.name=non_saturating,hinge --seeds=0,1 \
      --config.num_train_steps=2000 --config.eval_every=1000 --sort_by=eval/fid

Each trial is a normal run in <workdir>/<trial name> (resumable; a finished trial is not
run again), and --config.X=... overrides apply to every trial. At the end
<workdir>/sweep.csv holds one row per trial (overrides, status, the last value of every
logged metric) and sweep_curves.png their curves; the table is printed, sorted by
--sort_by ('-' in front for descending).

Where trials run:
- default: one after another in this process, each on all devices. On a TPU pod or a
  multi-host GPU cluster, start the same command on every host with --distributed.
- --parallel_trials=N: N trials at a time on this host, each in its own process
  (its output in <trial>/log.txt). --devices=0,1,2,3 splits those device ids evenly among
  the N slots through --device_env (CUDA_VISIBLE_DEVICES by default), e.g. 4 GPUs and N=2
  gives each trial two GPUs.
- --population: the numerical axes (learning rates, Adam betas, loss and penalty weights:
  gan_jax.population.POPULATION_FIELDS) and --seeds become the members of one population
  per point of the other axes, trained by one vmapped step (docs/populations.md); sweep.csv
  still has one row per member.
SIGTERM (preemption) makes the running trials save a checkpoint; re-running the same
command resumes the sweep. The exit status is 1 when a trial failed.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import
from ml_collections import config_flags

from gan_jax import sweep  # pylint: disable=g-import-not-at-top
from launch import common  # pylint: disable=g-import-not-at-top

config_flags.DEFINE_config_file('config', None, 'Recipe file, e.g. configs/dcgan.py[:variant].',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Sweep directory; trial i runs in <workdir>/<trial name>.')
flags.DEFINE_multi_string('sweep', [], 'An axis FIELD=V1,V2,... (repeat the flag for more axes; '
                          "separate values with ';' when they contain commas).")
flags.DEFINE_list('seeds', [], 'Seeds to repeat every grid point with, e.g. 0,1,2.')
flags.DEFINE_string('sort_by', '', "Metric that orders the table, e.g. eval/fid; '-eval/is_mean' "
                    'for descending.')
flags.DEFINE_integer('parallel_trials', 1, 'Trials run at once, each in its own process.')
flags.DEFINE_list('devices', [], 'Device ids split among the --parallel_trials slots.')
flags.DEFINE_string('device_env', 'CUDA_VISIBLE_DEVICES',
                    'Environment variable that gives each slot its devices.')
flags.DEFINE_bool('population', False, 'Train the numerical axes and the seeds as one '
                  'population per point of the other axes (one vmapped step).')
flags.DEFINE_bool('dry_run', False, 'Print the trials and exit.')
flags.DEFINE_string('trial', None, 'Run only this trial in this process (used by '
                    '--parallel_trials for its workers).')
common.define_distributed_flags()
FLAGS = flags.FLAGS


def _device_slots(n: int, devices: list[str]) -> list[list[str]]:
  if not devices:
    return [[] for _ in range(n)]
  if len(devices) % n:
    raise app.UsageError(f'--devices has {len(devices)} ids, which do not split evenly into '
                         f'--parallel_trials={n} slots; give a multiple of {n}.')
  k = len(devices) // n
  return [devices[i * k:(i + 1) * k] for i in range(n)]


def _worker_args(argv: list[str]) -> list[str]:
  """This command's flags without --parallel_trials/--trial (either spelling)."""
  out, skip = [], False
  for arg in argv:
    name = arg.split('=', 1)[0]
    if skip:
      skip = False
    elif name in ('--parallel_trials', '--trial'):
      skip = '=' not in arg  # '--trial NAME': drop the value too.
    else:
      out.append(arg)
  return out


def _run_subprocesses(trials, base, slots) -> dict:
  """Runs each trial as `launch/sweep.py <same flags> --trial=NAME`, len(slots) at a time."""
  outcomes = {t.name: {'status': 'not run', 'error': ''} for t in trials}
  pending = [t for t in trials if not sweep.is_finished(base, t, FLAGS.workdir)]
  for t in trials:
    if t not in pending:
      outcomes[t.name]['status'] = 'finished'
      print(f'{t.name}: already finished, not run again.', flush=True)
  args = _worker_args(sys.argv[1:])
  running = {}  # slot -> (trial, process, log file, start time)
  stopping = {'signal': None}
  previous = signal.signal(signal.SIGTERM, lambda s, f: stopping.update(signal=s))
  try:
    while pending or running:  # pending is None once SIGTERM arrived.
      if stopping['signal'] is not None and pending is not None:
        for _, proc, _, _ in running.values():
          proc.send_signal(signal.SIGTERM)  # Each trial saves a checkpoint and exits.
        pending = None  # Start nothing more.
      free = [i for i in range(len(slots)) if i not in running]
      while pending and free:
        slot, trial = free.pop(0), pending.pop(0)
        trial_dir = os.path.join(FLAGS.workdir, trial.name)
        os.makedirs(trial_dir, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED='1')  # log.txt follows the trial live.
        if slots[slot]:
          env[FLAGS.device_env] = ','.join(slots[slot])
        log = open(os.path.join(trial_dir, 'log.txt'), 'a')  # pylint: disable=consider-using-with
        log.write(f'{FLAGS.device_env}={env.get(FLAGS.device_env, "")}\n')
        log.flush()
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), *args,
                                 f'--trial={trial.name}'], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        running[slot] = (trial, proc, log, time.time())
        print(f'started {trial.name}' + (f' on devices {",".join(slots[slot])}'
                                         if slots[slot] else ''), flush=True)
      for slot, (trial, proc, log, start) in list(running.items()):
        if proc.poll() is None:
          continue
        log.close()
        del running[slot]
        if sweep.is_finished(base, trial, FLAGS.workdir):
          outcomes[trial.name]['status'] = 'finished'
        elif proc.returncode == 0 or (stopping['signal'] is not None and
                                      proc.returncode == -signal.SIGTERM):
          # Stopped by our SIGTERM: after saving, or while starting up (nothing to save).
          outcomes[trial.name]['status'] = 'interrupted'
        else:
          with open(log.name) as f:
            tail = [line.strip() for line in f if line.strip()][-1:]
          outcomes[trial.name] = {'status': 'failed',
                                  'error': f'exit {proc.returncode}: {" ".join(tail)}'}
        print(f'{trial.name}: {outcomes[trial.name]["status"]} after '
              f'{time.time() - start:.0f} s' + (f' ({outcomes[trial.name]["error"]})'
                                                if outcomes[trial.name]['error'] else ''),
              flush=True)
      time.sleep(0.2)
  finally:
    signal.signal(signal.SIGTERM, previous)
  return outcomes


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not FLAGS.workdir:
    raise app.UsageError('--workdir is required: the sweep directory that holds one run per '
                         'trial.')
  common.quiet_library_logs()
  try:
    axes = [sweep.parse_axis(spec) for spec in FLAGS.sweep]
    seeds = [int(s) for s in FLAGS.seeds]
    if FLAGS.population:
      from gan_jax import population  # pylint: disable=g-import-not-at-top
      axes, members = sweep.as_population(axes, seeds, tuple(population.POPULATION_FIELDS))
      trials = sweep.with_overrides(sweep.expand(axes), members)
    else:
      trials = sweep.expand(axes, seeds)
    sweep.check(FLAGS.config, trials)
    if FLAGS.population:
      for trial in trials:
        population.check_config(sweep.trial_config(FLAGS.config, trial))
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  if FLAGS.trial is not None:
    trials = [t for t in trials if t.name == FLAGS.trial]
    if not trials:
      raise app.UsageError(f'No trial named {FLAGS.trial!r} in this sweep.')
  if FLAGS.dry_run:
    for t in trials:
      print(t.name)
    print(f'{len(trials)} trial(s) in {FLAGS.workdir}')
    return

  if FLAGS.parallel_trials > 1 and FLAGS.trial is None:
    if FLAGS.distributed:
      raise app.UsageError('--parallel_trials runs several trials on this host; for a '
                           'multi-host sweep use --distributed with --parallel_trials=1, '
                           'where every trial uses all hosts.')
    slots = _device_slots(FLAGS.parallel_trials, FLAGS.devices)
    outcomes = _run_subprocesses(trials, FLAGS.config, slots)
    is_main = True
  else:
    common.maybe_initialize_distributed()
    import jax  # pylint: disable=g-import-not-at-top  (after distributed init)
    from gan_jax import train  # pylint: disable=g-import-not-at-top
    is_main = jax.process_index() == 0
    outcomes = sweep.run_in_process(
        FLAGS.config, trials, FLAGS.workdir, train.train_and_evaluate,
        log=lambda msg: print(msg, flush=True) if is_main else None,
        # With several hosts every trial spans all of them; a failure on one host would
        # leave the others waiting in a collective, so it ends the sweep everywhere.
        keep_going=jax.process_count() == 1)
    if FLAGS.trial is not None:
      # A worker of --parallel_trials: its parent writes the summary.
      sys.exit(1 if outcomes[FLAGS.trial]['status'] == 'failed' else 0)

  if is_main:
    print(sweep.summarize(trials, outcomes, FLAGS.workdir, FLAGS.sort_by), flush=True)
    counts = {s: sum(o['status'] == s for o in outcomes.values()) for s in sweep.STATUSES}
    print(', '.join(f'{n} {s}' for s, n in counts.items() if n) +
          f'; table in {os.path.join(FLAGS.workdir, "sweep.csv")}', flush=True)
    if counts['interrupted'] or counts['not run']:
      print('Re-run the same command to resume the sweep.', flush=True)
  if any(o['status'] == 'failed' for o in outcomes.values()):
    sys.exit(1)


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
