"""Test setup: 8 fake CPU devices (multi-device code is tested on CPU), repo on sys.path."""

import os
import sys

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8').strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('GAN_JAX_CONV_AUTOTUNE', '0')  # Conv kernel-gradient form: cost model.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope='session')
def tfds_data_dir(tmp_path_factory):
  """A session-wide TFDS data_dir holding the embedded dataset, built once (~2 s)."""
  from gan_jax.data import embedded_mnist  # pylint: disable=g-import-not-at-top
  path = str(tmp_path_factory.mktemp('tfds'))
  embedded_mnist.prepare(path)
  return path
