"""Multi-host training for real: 2 processes on localhost (CPU collectives over gloo),
2 CPU devices each, against one process with 4 devices, same global batch."""

import dataclasses
import json
import os
import socket
import subprocess
import sys

import chex
import pytest

from gan_jax import sampling

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _main_args(workdir, data_dir, mode):
  return [sys.executable, 'launch/main.py', '--config=configs/dcgan.py:smoke',
          f'--workdir={workdir}', f'--config.dataset.data_dir={data_dir}',
          f'--config.parallel={mode}', '--config.model.g_width=8', '--config.model.d_width=8',
          '--config.num_train_steps=4', '--config.checkpoint_every=2']


def _two_processes(tmp_path, args):
  """Runs `args` (a launch/main.py command) as processes 0 and 1 of a job on localhost, 2 CPU
  devices each; checks that both exit 0 and returns their output."""
  env = dict(os.environ, PYTHONUNBUFFERED='1')
  env.pop('XLA_FLAGS', None)
  port = _free_port()
  # Output goes to files: an unread pipe that fills up would block one process, and the
  # other then waits for it forever inside a collective.
  logs = [tmp_path / f'process{i}.log' for i in range(2)]
  procs = []
  for i, log in enumerate(logs):
    with open(log, 'w') as f:
      procs.append(subprocess.Popen(
          args + ['--num_cpu_devices=2', '--distributed',
                  f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2',
                  f'--process_id={i}'],
          cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, text=True))
  for p in procs:
    p.wait(timeout=400)
  outs = [log.read_text() for log in logs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]
  return outs


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['pmap', 'shard_map'])
def test_two_processes_match_one_process(tfds_data_dir, tmp_path, mode):
  env = dict(os.environ, PYTHONUNBUFFERED='1')
  env.pop('XLA_FLAGS', None)
  single = subprocess.run(_main_args(tmp_path / 'one', tfds_data_dir, mode) +
                          ['--num_cpu_devices=4'], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=400)
  assert single.returncode == 0, single.stderr[-3000:]

  outs = _two_processes(tmp_path, _main_args(tmp_path / 'two', tfds_data_dir, mode))
  assert f'{mode} on 4 device(s)' in outs[0]
  assert 'step 4/4' in outs[0] and 'step 4/4' not in outs[1]  # Only process 0 reports.

  config, *_, one, step_one = sampling.load_run(str(tmp_path / 'one'))
  *_, two, step_two = sampling.load_run(str(tmp_path / 'two'))
  assert step_one == step_two == 4
  # Same global batch and latents on 4 devices in one or two processes. The cross-process
  # all-reduce adds the 4 device gradients in another order than the in-process one, so
  # gradients, Adam moments and BatchNorm statistics agree to float32 rounding (measured:
  # <= 2.4e-7 absolute), where a wrong shard or a missing cross-process mean is off by O(1)
  # relative.
  parameters = ('g_params', 'd_params', 'ema_g_params')
  rest = [f.name for f in dataclasses.fields(one) if f.name not in parameters]
  chex.assert_trees_all_close({k: getattr(one, k) for k in rest},
                              {k: getattr(two, k) for k in rest}, atol=1e-6, rtol=1e-5)
  # Adam divides by sqrt(nu) + eps, so where a gradient is near zero a rounding-sized
  # difference moves that element's step by up to lr * |dg| / eps (measured 1.2e-6 after 4
  # steps, 0.6% of one step at lr 2e-4). A real error moves every element by O(lr).
  lr = max(config.optim.g.lr, config.optim.d.lr)
  chex.assert_trees_all_close({k: getattr(one, k) for k in parameters},
                              {k: getattr(two, k) for k in parameters}, atol=0.1 * lr, rtol=0)


@pytest.mark.slow
def test_pbt_on_an_evaluation_metric_across_two_processes(tmp_path):
  """Only process 0 evaluates, so it ranks the members and broadcasts their scores: both
  processes take the same PBT round (without the broadcast, process 1 has no eval/ values
  and cannot rank)."""
  outs = _two_processes(tmp_path, [
      sys.executable, 'launch/main.py', '--config=configs/toy_ring.py:smoke',
      f'--workdir={tmp_path / "run"}', '--config.num_train_steps=4',
      '--config.population.size=4', '--config.population.hparams=optim.g.lr=1e-4,3e-4,1e-3,3e-3',
      '--config.pbt.interval=2', '--config.pbt.metric=-eval/high_quality_fraction',
      '--config.pbt.smoothing=2', '--config.eval_every=1', '--config.eval.toy_num_samples=200'])
  assert 'PBT at step 2 (eval/high_quality_fraction' in outs[0]
  rounds = [json.loads(line) for line in open(tmp_path / 'run' / 'lineage.jsonl')]
  assert [r['step'] for r in rounds] == [0] * 4 + [2] * 4
  assert sum(r['parent'] != r['member'] for r in rounds) == 1  # round(0.25 * 4) replaced.
