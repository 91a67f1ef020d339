"""Flag helpers shared by the launch scripts."""

import os

from absl import flags

FLAGS = flags.FLAGS


def define_distributed_flags():
  flags.DEFINE_bool('distributed', os.environ.get('GAN_JAX_DISTRIBUTED', '') == '1',
                    'Call jax.distributed.initialize() before using devices.')
  flags.DEFINE_string('coordinator_address', None, 'host:port of process 0 (multi-host).')
  flags.DEFINE_integer('num_processes', None, 'Number of processes (multi-host).')
  flags.DEFINE_integer('process_id', None, 'This process index (multi-host).')
  flags.DEFINE_integer('num_cpu_devices', None,
                       'Expose this many CPU devices per process (testing multi-device code).')


def maybe_initialize_distributed():
  """CPU device count and jax.distributed.initialize(), before any device is used."""
  import jax  # pylint: disable=g-import-not-at-top
  if FLAGS.num_cpu_devices:
    jax.config.update('jax_num_cpu_devices', FLAGS.num_cpu_devices)
  if not FLAGS.distributed:
    return
  kwargs = {}
  if FLAGS.coordinator_address:
    kwargs = dict(coordinator_address=FLAGS.coordinator_address,
                  num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
  if jax.config.jax_platforms in (None, '', 'cpu') and FLAGS.coordinator_address:
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(**kwargs)


def default_workdir(config_value, argv) -> str:
  """runs/<recipe>[_<variant>] from the --config argument."""
  spec = next((a.split('=', 1)[1] for a in argv if a.startswith('--config=')), None)
  if spec is None:
    idx = argv.index('--config') if '--config' in argv else -1
    spec = argv[idx + 1] if idx >= 0 else 'run'
  path, _, variant = spec.partition(':')
  name = os.path.splitext(os.path.basename(path))[0]
  if variant:
    name += '_' + ''.join(ch if ch.isalnum() else '_' for ch in variant)
  del config_value
  return os.path.join('runs', name)


def quiet_library_logs():
  """Keeps orbax/absl INFO chatter out of the console; progress lines are printed."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)


def load_run(workdir: str, step=None, member=None):
  """sampling.load_run, with configs/default.py filling what an older run's config lacks
  (`member`: which member of a population run).

  A missing or unreadable run exits with the error's message (it says what to do).
  """
  from configs import default  # pylint: disable=g-import-not-at-top
  from gan_jax import checkpointing, sampling  # pylint: disable=g-import-not-at-top
  try:
    return sampling.load_run(workdir, step, defaults=default.get_config(), member=member)
  except (FileNotFoundError, ValueError, checkpointing.UnreadableCheckpointError) as e:
    raise SystemExit(f'Error: {e}') from e
