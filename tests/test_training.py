"""End to end: train_and_evaluate, resume, faults, hooks, launch/main.py and launch/sample.py."""

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

from gan_jax import checkpointing, sampling, train
from tests import helpers
from tests.test_checkpointing import damage

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
  *_, straight, step_a = sampling.load_run(str(tmp_path / 'straight'))
  *_, resumed, step_b = sampling.load_run(str(tmp_path / 'resumed'))
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
  exploding = {'optim.d.lr': 1e30, 'optim.g.lr': 1e30}
  with pytest.raises(train.NonFiniteLossError,
                     match=r'Non-finite loss .* at step \d+: .*No checkpoint was written yet'):
    train.train_and_evaluate(_config(tfds_data_dir, 50, **exploding), str(tmp_path / 'fresh'))
  config = _config(tfds_data_dir, 2)
  config.checkpoint_every = 1
  train.train_and_evaluate(config, str(tmp_path))
  config = _config(tfds_data_dir, 50, **exploding)
  config.resume_allow_changes = True
  with pytest.raises(train.NonFiniteLossError,
                     match=r'Non-finite loss or gradient at step 3.*checkpoint \(step 2\) is kept'):
    train.train_and_evaluate(config, str(tmp_path))
  *_, state, step = sampling.load_run(str(tmp_path))
  assert step == 2
  chex.assert_tree_all_finite(state)


def test_hooks_run_at_every_log_step_and_sigterm_in_one_still_checkpoints(tfds_data_dir,
                                                                         tmp_path):
  config = _config(tfds_data_dir, 5)
  config.log_every = 2
  calls = []

  def hook(step, state, networks):  # The state is only valid during the call: copy it.
    calls.append((step, jax.device_get(state), networks))
    if step == 4 and len(calls) == 2:  # A preemption arriving while the step's actions run.
      os.kill(os.getpid(), signal.SIGTERM)

  train.train_and_evaluate(config, str(tmp_path), hooks=[hook])
  assert [step for step, *_ in calls] == [2, 4]
  assert os.listdir(tmp_path / 'checkpoints') == ['4']       # Saved although not due.
  train.train_and_evaluate(config, str(tmp_path), hooks=[hook])  # Resumes: the last step.
  assert [step for step, *_ in calls] == [2, 4, 5]
  assert [int(state.step) for _, state, _ in calls] == [2, 4, 5]
  *_, saved, _ = sampling.load_run(str(tmp_path))
  chex.assert_trees_all_equal(calls[-1][1], saved)
  assert calls[-1][2].data_shape == (28, 28, 1)


@pytest.mark.parametrize('field,value', [
    ('num_train_steps', -5), ('num_train_steps', 0), ('batch_size', 0), ('log_every', 0),
    ('sample_every', -1), ('checkpoint_every', 0), ('keep_checkpoints', 0),
    ('eval_every', -1), ('d_steps_per_g_step', 0), ('num_sample_images', 0)])
def test_bad_counts_and_intervals_fail_before_training(tmp_path, field, value):
  config = helpers.tiny_dcgan_config(**{field: value})
  with pytest.raises(train.ConfigError, match=rf'config.{field}={value} is invalid.*'
                     rf'--config.{field}=N'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()
  config[field] = 0 if field == 'eval_every' else 1   # The smallest valid value passes.
  train.validate_config(config)


def test_main_rejects_a_negative_step_count(tmp_path):
  proc = _run(['launch/main.py', '--config=configs/dcgan.py:smoke', f'--workdir={tmp_path / "r"}',
               '--config.num_train_steps=-5'], timeout=120)
  assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
  assert 'config.num_train_steps=-5 is invalid' in proc.stderr
  assert 'steps 0..' not in proc.stdout and not (tmp_path / 'r').exists()


@pytest.mark.slow  # ~9 s: trains, damages a checkpoint, resumes.
def test_resume_skips_a_damaged_latest_checkpoint(tfds_data_dir, tmp_path, capsys):
  config = _config(tfds_data_dir, 4)
  config.checkpoint_every = 2
  train.train_and_evaluate(config, str(tmp_path))
  damage(str(tmp_path / 'checkpoints' / '4'), 'state')
  capsys.readouterr()
  assert sampling.load_run(str(tmp_path))[-1] == 2             # sample.py / evaluate.py
  out = capsys.readouterr().out
  assert 'step 4 is damaged' in out and (tmp_path / 'checkpoints' / '4').is_dir()

  config = _config(tfds_data_dir, 6)
  config.checkpoint_every = 2
  train.train_and_evaluate(config, str(tmp_path))
  out = capsys.readouterr().out
  assert 'step 4 is damaged' in out and 'Resuming from step 2' in out
  assert (tmp_path / 'checkpoints_unreadable' / '4' / 'state').is_dir()  # Kept, set aside.
  assert sorted(int(d) for d in os.listdir(tmp_path / 'checkpoints')) == [2, 4, 6]
  assert sampling.load_run(str(tmp_path))[-1] == 6

  for step in (2, 4, 6):
    damage(str(tmp_path / 'checkpoints' / str(step)), 'config')
  with pytest.raises(checkpointing.UnreadableCheckpointError, match='No checkpoint in .* loads'):
    train.train_and_evaluate(config, str(tmp_path))


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


@pytest.mark.slow  # A subprocess run (~15 s idle); the in-process SIGTERM path runs by default
def test_sigterm_saves_a_checkpoint(tfds_data_dir, tmp_path):  # (test_hooks_run_...).
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


def test_ada_rv_batches_add_held_out_images_to_the_same_training_batches(tfds_data_dir):
  """With ADA's 'rv' heuristic every batch also holds a batch of the held-out split (its own
  shuffle) under objectives.base.ADA_VALIDATION_*; the training part is the batch the run
  has without it; naming the training split itself is a clear error."""
  import types  # pylint: disable=g-import-not-at-top
  from gan_jax import data, evaluation  # pylint: disable=g-import-not-at-top
  from gan_jax.objectives import base  # pylint: disable=g-import-not-at-top
  config = helpers.tiny_dcgan_config(**{'dataset.data_dir': tfds_data_dir,
                                        'dataset.split': 'train[:64]', 'augment.name': 'ada'})
  config.augment.options = dict(heuristic='rv', validation_split='train[4000:4100]')
  source = evaluation.load_split(config, 'train[:64]')
  run = types.SimpleNamespace(config=config, source=source)
  loader = dict(num_threads=1, prefetch=1)
  got = list(train.training_batches(run, 3, 5, loader))
  plain = list(data.batches(source, global_batch=16, n_critic=1, seed=config.seed,
                            start_step=3, num_steps=5, **loader))
  held_out = evaluation.source_arrays(evaluation.load_split(config, 'train[4000:4100]'))[0]
  train_images = evaluation.source_arrays(source)[0]
  assert len(got) == len(plain) == 2
  for batch, want in zip(got, plain):
    assert set(batch) == set(want) | {base.ADA_VALIDATION_IMAGE, base.ADA_VALIDATION_LABEL}
    for k in want:
      np.testing.assert_array_equal(batch[k], want[k])
    images = batch[base.ADA_VALIDATION_IMAGE]
    assert images.shape == want['image'].shape
    for image in images:  # Each a held-out image, none a training one.
      assert np.abs(held_out - image).max(axis=(1, 2, 3)).min() == 0
      assert np.abs(train_images - image).max(axis=(1, 2, 3)).min() > 0
  config.augment.options.validation_split = 'train[:64]'
  with pytest.raises(train.ConfigError, match='is the training split'):
    train.training_batches(run, 0, 2, loader)
