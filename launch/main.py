r"""Trains a GAN: `python launch/main.py --config=configs/dcgan.py [--workdir=DIR]`.

Any config field can be overridden: `--config.optim.g.lr=1e-4 --config.batch_size=128`.
A variant after the config path selects a preset, e.g. `--config=configs/dcgan.py:smoke`.
Without --workdir the run goes to runs/<recipe>[_<variant>]. Re-running resumes.
Multi-host: pass --distributed (or set GAN_JAX_DISTRIBUTED=1) to call
jax.distributed.initialize() first (auto-detects TPU pods, SLURM, Open MPI; or give
--coordinator_address/--num_processes/--process_id).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import
from ml_collections import config_flags

from launch import common

config_flags.DEFINE_config_file('config', None, 'Recipe file, e.g. configs/dcgan.py[:variant].',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Run directory (default runs/<recipe>[_<variant>]).')
common.define_distributed_flags()
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  common.quiet_library_logs()
  common.maybe_initialize_distributed()
  # Imported after jax.distributed.initialize(), which must precede any device use.
  from gan_jax import checkpointing, train  # pylint: disable=g-import-not-at-top
  workdir = FLAGS.workdir or common.default_workdir(FLAGS['config'].value, sys.argv)
  try:
    train.train_and_evaluate(FLAGS.config, workdir)
  except (train.ConfigError, checkpointing.UnreadableCheckpointError) as e:
    sys.exit(f'Error: {e}')  # The message says what is wrong and how to fix it.


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
