"""Sweeps: grid expansion, trial configs, the in-process runner, the summary table, and
launch/sweep.py end to end (subprocess workers, device slots, failures, resume, SIGTERM)."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from configs import default
from gan_jax import overrides, sweep

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_parse_axis():
  assert sweep.parse_axis('optim.g.lr=1e-4, 2e-4') == ('optim.g.lr', ['1e-4', '2e-4'])
  assert sweep.parse_axis('a=(1,2);(3,4)') == ('a', ['(1,2)', '(3,4)'])
  for bad, match in [('optim.g.lr', 'FIELD=V1,V2'), ('=1,2', 'FIELD=V1,V2'),
                     ('a=', 'FIELD=V1,V2'), ('a=1,,2', 'Empty value'),
                     ('a=1,1', 'Repeated value')]:
    with pytest.raises(ValueError, match=match):
      sweep.parse_axis(bad)


def test_expand_order_names_and_errors():
  trials = sweep.expand([('optim.g.lr', ['1e-4', '2e-4']), ('loss.name', ['ns', 'hinge'])],
                        seeds=[0, 1])
  assert len(trials) == 8
  assert [t.name for t in trials[:3]] == ['optim.g.lr=1e-4_loss.name=ns_seed=0',
                                          'optim.g.lr=1e-4_loss.name=ns_seed=1',
                                          'optim.g.lr=1e-4_loss.name=hinge_seed=0']
  assert trials[-1].overrides == (('optim.g.lr', '2e-4'), ('loss.name', 'hinge'),
                                  ('seed', '1'))
  assert [t.name for t in sweep.expand([])] == ['base']
  assert sweep.expand([('dataset.path', ['/data/a b'])])[0].name == 'dataset.path=_data_a_b'
  with pytest.raises(ValueError, match='share the directory'):
    sweep.expand([('dataset.path', ['a/b', 'a_b'])])
  with pytest.raises(ValueError, match='swept twice'):
    sweep.expand([('seed', ['1']), ('seed', ['2'])])
  with pytest.raises(ValueError, match='not both'):
    sweep.expand([('seed', ['1'])], seeds=[0])


def test_trial_config_parses_like_the_command_line():
  base = default.get_config()
  base.lock()
  trial = sweep.Trial('t', (('optim.g.lr', '1e-4'), ('batch_size', '32'),
                            ('ema_warmup', 'false'), ('loss.name', 'hinge'), ('seed', '3')))
  config = sweep.trial_config(base, trial)
  assert config.optim.g.lr == 1e-4 and isinstance(config.optim.g.lr, float)
  assert config.batch_size == 32 and config.ema_warmup is False
  assert config.loss.name == 'hinge' and config.seed == 3
  assert base.optim.g.lr == 2e-4 and base.seed == 0  # The base is not modified.
  with pytest.raises(ValueError, match=r"optim.g.lrr=1.*optim.g has no 'lrr'.*\blr\b"):
    sweep.check(base, [sweep.Trial('t', (('optim.g.lrr', '1'),))])
  with pytest.raises(ValueError, match='batch_size=big'):
    sweep.trial_config(base, sweep.Trial('t', (('batch_size', 'big'),)))
  with pytest.raises(ValueError, match='not a boolean'):
    sweep.trial_config(base, sweep.Trial('t', (('ema_warmup', 'maybe'),)))


def test_set_field_is_what_recipe_variants_use():
  config = default.apply_variant(default.get_config(), 'optim.d.lr=0.001,model.g_width=8')
  assert config.optim.d.lr == 1e-3 and config.model.g_width == 8
  with pytest.raises(KeyError, match="the top level has no 'nope'"):
    overrides.set_field(config, 'nope.lr', '1')
  assert overrides.parse_like((1, 2), '3') == (3,)
  assert overrides.parse_like(None, 'free text') == 'free text'


def _fake_run(trial_dir, steps, rows):
  """What a run leaves behind: committed checkpoint step directories and metrics.jsonl."""
  for step in steps:
    os.makedirs(os.path.join(trial_dir, 'checkpoints', str(step)), exist_ok=True)
  with open(os.path.join(trial_dir, 'metrics.jsonl'), 'a') as f:
    for row in rows:
      f.write(json.dumps(row) + '\n')


def _fake_train(behaviour):
  """train_fn stand-in: per trial directory, finish, fail or stop early (as on SIGTERM)."""
  calls = []

  def train_fn(config, trial_dir):
    calls.append(os.path.basename(trial_dir))
    what = behaviour.get(os.path.basename(trial_dir), 'finish')
    if what == 'fail':
      raise FloatingPointError('Non-finite loss or gradient at step 3')
    total = config.num_train_steps
    last = total if what == 'finish' else total // 2
    _fake_run(trial_dir, [last], [{'step': last, 'd_loss': config.optim.g.lr * 1e3,
                                   'g_loss': 1.0, 'wall_time': 0.0}])
    return {}
  return train_fn, calls


def test_run_in_process_records_failures_skips_finished_and_stops_when_interrupted(tmp_path):
  base = default.get_config()
  base.num_train_steps = 10
  trials = sweep.expand([('optim.g.lr', ['1e-3', '2e-3', '3e-3', '4e-3'])])
  names = [t.name for t in trials]
  _fake_run(str(tmp_path / names[0]), [10], [{'step': 10, 'd_loss': 9.0}])  # Done before.
  train_fn, calls = _fake_train({names[1]: 'fail', names[2]: 'stop'})
  messages = []
  outcomes = sweep.run_in_process(base, trials, str(tmp_path), train_fn, log=messages.append)
  assert calls == names[1:3]  # The finished trial is skipped; the sweep stops after 'stop'.
  assert [outcomes[n]['status'] for n in names] == ['finished', 'failed', 'interrupted',
                                                    'not run']
  assert outcomes[names[1]]['error'] == ('FloatingPointError: Non-finite loss or gradient '
                                         'at step 3')
  assert any('Traceback' in m for m in messages)
  assert any('Re-run the same command' in m for m in messages)
  with pytest.raises(FloatingPointError):
    sweep.run_in_process(base, trials[1:2], str(tmp_path), train_fn, log=messages.append,
                         keep_going=False)


def test_summarize_table_csv_sorting_and_plot(tmp_path):
  trials = sweep.expand([('optim.g.lr', ['1e-3', '2e-3', '3e-3', '4e-3'])])
  fids = [30.0, 10.0, float('nan'), None]
  for trial, fid in zip(trials, fids):
    rows = [{'step': 5, 'd_loss': 1.0, 'g_loss': 2.0, 'wall_time': 1.0},
            {'step': 10, 'd_loss': 0.5, 'g_loss': 1.5, 'wall_time': 2.0}]
    if fid is not None:
      rows.append({'step': 10, 'eval/fid': fid, 'wall_time': 3.0})
    _fake_run(str(tmp_path / trial.name), [10], rows)
  _fake_run(str(tmp_path / trials[3].name), [12], [])  # Saved after its last log.
  outcomes = {t.name: {'status': 'finished', 'error': ''} for t in trials}
  text = sweep.summarize(trials, outcomes, str(tmp_path), sort_by='eval/fid')
  lines = text.splitlines()
  assert lines[0].split() == ['optim.g.lr', 'status', 'step', 'eval/fid', 'd_loss', 'g_loss']
  assert [line.split()[0] for line in lines[1:]] == ['2e-3', '1e-3', '3e-3', '4e-3']
  assert lines[1].split()[2:4] == ['10', '10']
  with open(tmp_path / 'sweep.csv') as f:
    table = list(csv.DictReader(f))
  assert [r['optim.g.lr'] for r in table] == ['2e-3', '1e-3', '3e-3', '4e-3']
  assert table[0]['d_loss'] == '0.5' and 'wall_time' not in table[0]
  assert math.isnan(float(table[2]['eval/fid'])) and table[3]['eval/fid'] == ''
  assert table[3]['step'] == '12'
  assert (tmp_path / 'sweep_curves.png').stat().st_size > 10_000
  text = sweep.summarize(trials, outcomes, str(tmp_path), sort_by='-eval/fid')
  assert [line.split()[0] for line in text.splitlines()[1:]] == ['1e-3', '2e-3', '3e-3',
                                                                 '4e-3']
  with pytest.raises(ValueError, match="No trial logged 'eval/kid'"):
    sweep.summarize(trials, outcomes, str(tmp_path), sort_by='eval/kid')


def _sweep_cmd(workdir, *extra):
  return [sys.executable, 'launch/sweep.py', '--config=configs/toy_ring.py:smoke',
          f'--workdir={workdir}', '--config.parallel=none', *extra]


@pytest.mark.slow  # ~16 s: worker processes, each compiling a run.
def test_launch_sweep_parallel_workers_then_in_process_resume(tmp_path):
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)  # One CPU device per trial, as on a GPU host with one each.
  axis = '--sweep=loss.name=non_saturating,bogus,hinge'
  dry = subprocess.run(_sweep_cmd(tmp_path, axis, '--dry_run'), cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
  assert dry.returncode == 0 and '3 trial(s)' in dry.stdout
  assert not os.path.exists(tmp_path / 'loss.name=hinge')

  first = subprocess.run(_sweep_cmd(tmp_path, axis, '--parallel_trials=2', '--devices=4,5'),
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
  assert first.returncode == 1, first.stdout + first.stderr[-3000:]  # 'bogus' failed.
  assert '2 finished, 1 failed' in first.stdout
  assert "Unknown loss 'bogus'" in first.stdout
  logs = {n: (tmp_path / f'loss.name={n}' / 'log.txt').read_text()
          for n in ('non_saturating', 'bogus', 'hinge')}
  assert logs['non_saturating'].startswith('CUDA_VISIBLE_DEVICES=4\n')
  assert logs['bogus'].startswith('CUDA_VISIBLE_DEVICES=5\n')
  with open(tmp_path / 'loss.name=hinge' / 'config.json') as f:
    saved = json.load(f)
  assert saved['loss']['name'] == 'hinge' and saved['parallel'] == 'none'
  assert (tmp_path / 'sweep_curves.png').exists()

  # The same sweep in one process: finished trials are not run again.
  again = subprocess.run(_sweep_cmd(tmp_path, axis), cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=400)
  assert again.returncode == 1
  assert again.stdout.count('already finished, not run again') == 2
  with open(tmp_path / 'sweep.csv') as f:
    assert [r['status'] for r in csv.DictReader(f)] == ['finished', 'failed', 'finished']

  bad = subprocess.run(_sweep_cmd(tmp_path, '--sweep=optim.g.lrr=1'), cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
  assert bad.returncode != 0 and "optim.g has no 'lrr'" in bad.stderr


@pytest.mark.slow
def test_launch_sweep_sigterm_saves_running_trials_and_resumes(tmp_path):
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)
  args = _sweep_cmd(tmp_path, '--sweep=optim.g.lr=1e-3,2e-3,3e-3', '--parallel_trials=2',
                    '--config.num_train_steps=1000000', '--config.log_every=100000',
                    '--config.checkpoint_every=1000000')
  with open(tmp_path / 'parent.log', 'w') as log:
    parent = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    # Wait until both workers are training (their progress header is printed).
    while time.time() < deadline and sum(
        'steps 0..' in p.read_text() for p in tmp_path.glob('*/log.txt')) < 2:
      time.sleep(1)
    time.sleep(3)
    parent.send_signal(signal.SIGTERM)
    parent.wait(timeout=300)
  out = (tmp_path / 'parent.log').read_text()
  assert parent.returncode == 0, out[-3000:]
  assert '2 interrupted, 1 not run' in out and 'Re-run the same command' in out
  with open(tmp_path / 'sweep.csv') as f:
    rows = list(csv.DictReader(f))
  assert [r['status'] for r in rows] == ['interrupted', 'interrupted', 'not run']
  assert all(int(r['step']) > 0 for r in rows[:2]) and rows[2]['step'] == ''

  # Resuming with a reachable step count finishes every trial from its checkpoint.
  resumed = subprocess.run(
      _sweep_cmd(tmp_path, '--sweep=optim.g.lr=1e-3,2e-3,3e-3', '--parallel_trials=2',
                 f'--config.num_train_steps={max(int(r["step"]) for r in rows[:2]) + 4}',
                 '--config.log_every=2', '--config.checkpoint_every=1000000'),
      cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
  assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-3000:]
  assert '3 finished' in resumed.stdout
  for name in ('optim.g.lr=1e-3', 'optim.g.lr=2e-3'):
    assert 'Resuming from step' in (tmp_path / name / 'log.txt').read_text()
