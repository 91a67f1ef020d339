"""End to end: train_and_evaluate, resume, launch/main.py and launch/sample.py."""

import json
import os
import signal
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import pytest

from gan_jax import train
from tests import helpers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(data_dir, steps, **kw):
  config = helpers.tiny_dcgan_config(**kw)
  config.dataset.data_dir = data_dir
  config.num_train_steps = steps
  config.log_every = 1
  config.sample_every = 100
  config.checkpoint_every = 100
  return config


def test_resume_gives_identical_parameters(tfds_data_dir, tmp_path):
  """2k steps straight == k steps, restart, k more steps (bitwise, on CPU)."""
  k = 3
  train.train_and_evaluate(_config(tfds_data_dir, 2 * k), str(tmp_path / 'straight'))
  train.train_and_evaluate(_config(tfds_data_dir, k), str(tmp_path / 'resumed'))
  train.train_and_evaluate(_config(tfds_data_dir, 2 * k), str(tmp_path / 'resumed'))
  *_, straight, step_a = train.load_run(str(tmp_path / 'straight'))
  *_, resumed, step_b = train.load_run(str(tmp_path / 'resumed'))
  assert step_a == step_b == 2 * k
  chex.assert_trees_all_equal(straight, resumed)
  rows = [json.loads(l) for l in open(tmp_path / 'resumed' / 'metrics.jsonl')]
  assert [r['step'] for r in rows] == list(range(1, 2 * k + 1))


def test_resume_with_changed_experiment_is_an_error(tfds_data_dir, tmp_path):
  train.train_and_evaluate(_config(tfds_data_dir, 2), str(tmp_path))
  with pytest.raises(ValueError, match=r'model.latent_dim: checkpoint has 16, config has 8'):
    train.train_and_evaluate(_config(tfds_data_dir, 4, **{'model.latent_dim': 8}),
                             str(tmp_path))


def test_nonfinite_loss_stops_and_names_the_step(tfds_data_dir, tmp_path):
  config = _config(tfds_data_dir, 2)
  config.checkpoint_every = 1
  train.train_and_evaluate(config, str(tmp_path))
  config = _config(tfds_data_dir, 50, **{'optim.d.lr': 1e30, 'optim.g.lr': 1e30})
  config.resume_allow_changes = True
  with pytest.raises(train.NonFiniteLossError,
                     match=r'Non-finite loss or gradient at step 3.*checkpoint \(step 2\) is kept'):
    train.train_and_evaluate(config, str(tmp_path))
  *_, state, step = train.load_run(str(tmp_path))
  assert step == 2
  chex.assert_tree_all_finite(state)


def _run(args, **kw):
  env = dict(os.environ, PYTHONUNBUFFERED='1')
  env.pop('XLA_FLAGS', None)
  return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                        text=True, **kw)


def test_main_and_sample_commands(tfds_data_dir, tmp_path):
  workdir = tmp_path / 'run'
  proc = _run(['launch/main.py', '--config=configs/dcgan.py:smoke', f'--workdir={workdir}',
               f'--config.dataset.data_dir={tfds_data_dir}', '--config.optim.g.lr=1e-4'],
              timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'steps/s' in proc.stdout and 'ETA' in proc.stdout
  saved = json.load(open(workdir / 'config.json'))
  assert saved['optim']['g']['lr'] == 1e-4 and saved['num_train_steps'] == 6
  rows = [json.loads(l) for l in open(workdir / 'metrics.jsonl')]
  for row in rows:
    assert {'step', 'wall_time', 'steps_per_sec', 'd_loss', 'g_loss'} <= set(row)
  assert rows[-1]['step'] == 6 and abs(rows[-1]['wall_time'] - time.time()) < 600
  assert os.listdir(workdir / 'tensorboard')
  assert (workdir / 'samples' / 'step_0000006.png').exists()
  assert (workdir / 'training_curves.png').stat().st_size > 10_000
  assert sorted(os.listdir(workdir / 'checkpoints'))[:2] == ['3', '6']

  for out in ('s.png', 's.npy'):
    proc = _run(['launch/sample.py', f'--workdir={workdir}', '--num=5', f'--out={tmp_path / out}'],
                timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
  samples = np.load(tmp_path / 's.npy')
  assert samples.shape == (5, 28, 28, 1) and samples.dtype == np.float32
  assert samples.min() >= -1 and samples.max() <= 1
  from PIL import Image
  assert Image.open(tmp_path / 's.png').size[0] > 28


def test_sigterm_saves_a_checkpoint(tfds_data_dir, tmp_path):
  workdir = tmp_path / 'run'
  env = dict(os.environ, PYTHONUNBUFFERED='1')
  env.pop('XLA_FLAGS', None)
  proc = subprocess.Popen(
      [sys.executable, 'launch/main.py', '--config=configs/dcgan.py:smoke',
       f'--workdir={workdir}', f'--config.dataset.data_dir={tfds_data_dir}',
       '--config.num_train_steps=100000', '--config.checkpoint_every=100000',
       '--config.sample_every=100000', '--config.log_every=1'],
      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  for line in proc.stdout:
    if line.startswith('step 3/'):
      proc.send_signal(signal.SIGTERM)
      break
  out = proc.communicate(timeout=120)[0]
  assert proc.returncode == 0, out[-3000:]
  assert 'saved checkpoint at step' in out
  steps = [int(d) for d in os.listdir(workdir / 'checkpoints') if d.isdigit()]
  assert steps and min(steps) >= 3
