"""Populations (gan_jax/population.py): K members in one vmapped step equal K single runs,
per-member non-finite handling, PBT's exploit/explore rule against a numpy reference,
resume of a population (bitwise), config errors, init_from.

Tolerances: a member's parameters and optimizer states after 3 steps equal the single run's
to atol 1e-6 + rtol 1e-5 (the MLP) and 1e-4 (the DCGAN with BatchNorm): the vmapped step
computes the same functions with batched matmuls / convolutions, whose sums XLA may order
differently (measured differences: ~3e-8 for the MLP, ~2e-5 for the DCGAN).
"""

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import toy_ring
from gan_jax import checkpointing, data, parallel, plots, population, sampling, train
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from tests import helpers

HPARAMS = ('optim.g.lr=1e-4,3e-4,1e-3 optim.d.adam.b1=0.0,0.5,0.9 penalty.weight=0.01,0.1,1.0 '
           'ema_decay=0.9,0.99,0.999')


def _toy(**fields):
  config = toy_ring.get_config('smoke')
  config.parallel = 'none'
  config.batch_size = 32
  config.population.size = 3
  config.population.hparams = HPARAMS
  for path, value in fields.items():
    helpers.overrides_lib.set_field(config, path, value)
  return config


def _close(a, b, atol, rtol):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                               atol=atol, rtol=rtol)


def _population(config):
  """(source, networks, keys (init, train), initial population, jitted step, batches)."""
  source, networks = sampling.build(config)
  init_keys, train_keys = population.member_keys(config)
  pop = population.create_population(config, networks, init_keys)
  step = jax.jit(population.make_population_step(config, networks))
  feed = population.batches(source, config, start_step=0, num_threads=1)
  return source, networks, (init_keys, train_keys), pop, step, feed


def _member_vs_single(config, steps=3, atol=1e-6, rtol=1e-5):
  source, networks, (init_keys, train_keys), pop, pop_step, feed = _population(config)
  per_member = []
  for _ in range(steps):
    batch = next(feed)
    pop, _ = pop_step(pop, batch, train_keys)
    per_member.append(batch)
  for i, member_config in enumerate(population.member_configs(config)):
    single = state_lib.create_state(member_config, networks, init_keys[i])
    step = jax.jit(train_step_lib.make_train_step(member_config, networks))
    own = data.batches(source, global_batch=config.batch_size,
                       n_critic=config.d_steps_per_g_step, seed=member_config.seed,
                       start_step=0, num_steps=steps, num_threads=1)
    for t in range(steps):
      batch = next(own)
      np.testing.assert_array_equal(batch['image'], per_member[t]['image'][i])
      single, _ = step(single, batch, train_keys[i])
    member = population.take(pop, i)
    assert member.member['active']
    _close(member.replace(member={}), single, atol, rtol)


def test_member_equals_the_single_run_with_its_seed_and_hyperparameters():
  config = _toy(**{'population.size': 2})
  config.population.hparams = ('optim.g.lr=1e-4,1e-3 optim.d.adam.b1=0.0,0.9 '
                               'penalty.weight=0.01,1.0 ema_decay=0.9,0.999')
  _member_vs_single(config, steps=2)


@pytest.mark.slow
def test_dcgan_members_with_batchnorm_n_critic_and_ema_equal_single_runs(tfds_data_dir):
  config = helpers.tiny_dcgan_config(**{'optim.g.name': 'adam', 'optim.d.name': 'adam'})
  config.dataset.data_dir = tfds_data_dir
  config.d_steps_per_g_step = 2
  config.ema_decay = 0.99
  config.population.size = 2
  config.population.hparams = 'optim.g.lr=1e-4,1e-3 optim.d.adam.b2=0.9,0.999'
  _member_vs_single(config, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_population_under_pmap_and_shard_map_equals_one_device():
  config = _toy(batch_size=16, d_steps_per_g_step=2)  # Batch (K, n_critic, B, ...).
  source, networks = sampling.build(config)
  init_keys, train_keys = population.member_keys(config)
  pop0 = jax.device_get(population.create_population(config, networks, init_keys))
  batch = next(population.batches(source, config, start_step=0, num_threads=1))
  results = {}
  for mode in ('none', 'pmap', 'shard_map'):
    config.parallel = mode
    trainer = parallel.build_trainer(config, networks)
    state, metrics = trainer.step(trainer.put_state(pop0), trainer.put_batch(batch), train_keys)
    results[mode] = jax.device_get((trainer.host_state(state), trainer.host_metrics(metrics)))
  assert trainer.num_devices == 8
  for mode in ('pmap', 'shard_map'):
    _close(results[mode], results['none'], atol=1e-6, rtol=1e-5)


def test_a_diverging_member_is_frozen_and_the_others_go_on():
  config = _toy()
  config.population.hparams = 'optim.d.lr=1e-3,1e30,1e-3'
  _, _, (_, train_keys), pop, step, feed = _population(config)
  history = []
  for _ in range(4):
    before = jax.device_get(pop)
    pop, metrics = step(pop, next(feed), train_keys)
    history.append((before, jax.device_get(metrics)))
  active = np.asarray(pop.member['active'])
  assert active.tolist() == [True, False, True]
  # Member 1 kept the state it had before its first non-finite update.
  first_bad = next(t for t, (_, m) in enumerate(history) if m['finite'][1] == 0)
  frozen = population.take(jax.device_get(pop), 1)
  kept = population.take(history[first_bad][0], 1)
  _close(frozen.replace(step=0, member={}), kept.replace(step=0, member={}), 0, 0)
  for i in (0, 2):
    member = population.take(jax.device_get(pop), i)
    assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(member.g_params))
    start = population.take(history[0][0], i).g_params
    assert not all(np.allclose(a, b) for a, b in zip(jax.tree_util.tree_leaves(member.g_params),
                                                     jax.tree_util.tree_leaves(start)))


def _reference_pbt(scores, hparams, fraction, factors, kinds, parent_draw, factor_draw):
  """The PBT rule in numpy, given the drawn indices (parent_draw: index into the top n;
  factor_draw[field]: index into factors per member)."""
  k = len(scores)
  n = max(1, int(round(fraction * k)))
  clean = np.where(np.isnan(scores), -np.inf, scores)
  order = sorted(range(k), key=lambda i: (-clean[i], i))
  top, bottom = order[:n], order[k - n:]
  parents = np.arange(k)
  for slot, member in enumerate(bottom):
    parents[member] = top[parent_draw[slot]]
  out = {}
  for field, values in hparams.items():
    new = values[parents].copy()
    for i in range(k):
      if parents[i] != i:
        f = factors[factor_draw[field][i]]
        new[i] = new[i] * f if kinds[field] == 'positive' else min(1 - (1 - new[i]) * f,
                                                                   1 - 1e-6)
    out[field] = new
  return parents, out


def test_exploit_explore_against_a_numpy_reference_of_its_rule():
  k = 8
  rng = np.random.default_rng(0)
  hparams = {'optim.g.lr': rng.uniform(1e-4, 1e-3, k).astype(np.float32),
             'optim.d.adam.b1': rng.uniform(0.0, 0.9, k).astype(np.float32)}
  params = {'w': jnp.arange(k * 3, dtype=jnp.float32).reshape(k, 3)}
  pop = state_lib.GANState(
      step=jnp.zeros((k,), jnp.int32), g_params=params, d_params=params, g_opt_state={},
      d_opt_state={}, g_collections={}, d_collections={}, ema_g_params=params,
      member={'hparams': population.nest({f: jnp.asarray(v) for f, v in hparams.items()}),
              'active': jnp.asarray([True] * 6 + [False, True])})
  scores = jnp.asarray([0.3, 0.9, np.nan, 0.9, -1.0, 0.5, 0.1, 0.2], jnp.float32)
  key = jax.random.key(42)
  factors = (0.8, 1.25)
  new, parents = population.exploit_explore(pop, scores, key, fraction=0.25, factors=factors)
  # The draws exploit_explore makes from `key`, in its order.
  k_parent, k_factor, _, _ = jax.random.split(key, 4)
  n = 2
  parent_draw = np.asarray(jax.random.randint(k_parent, (n,), 0, n))
  factor_draw = {f: np.asarray(jax.random.randint(jax.random.fold_in(k_factor, j), (k,), 0, 2))
                 for j, f in enumerate(sorted(hparams))}
  want_parents, want = _reference_pbt(np.asarray(scores), hparams, 0.25, factors,
                                      population.POPULATION_FIELDS, parent_draw, factor_draw)
  np.testing.assert_array_equal(np.asarray(parents), want_parents)
  # The two worst (NaN ranks last, then -1.0) copy from the two best (0.9 at 1, then 3).
  assert set(np.flatnonzero(want_parents != np.arange(k))) == {2, 4}
  assert set(want_parents[[2, 4]]) <= {1, 3}
  got = population.flatten(new.member['hparams'])
  for field in hparams:
    np.testing.assert_allclose(np.asarray(got[field]), want[field], rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(new.g_params['w']),
                                np.asarray(params['w'])[want_parents])
  assert np.asarray(new.member['active']).tolist() == [True] * 6 + [False, True]


def _straight_and_stopped(config, tmp_path, stop: int):
  """Trains `config` in tmp_path/straight, and in tmp_path/resumed until SIGTERM at step
  `stop` (its checkpoint saved there); the caller resumes it."""
  def send_sigterm(step, *_):
    if step == stop:
      os.kill(os.getpid(), signal.SIGTERM)
  train.train_and_evaluate(config, str(tmp_path / 'straight'))
  train.train_and_evaluate(config, str(tmp_path / 'resumed'), hooks=[send_sigterm])


def test_smoothed_scores_average_each_members_latest_values_since_its_copy():
  nan = float('nan')
  histories = [{250: 40.0, 500: 60.0, 750: 20.0},    # Steps out of order below: by step.
               {750: 30.0, 250: 10.0, 500: 20.0},
               {750: 50.0},                          # Copied at 500: one value since.
               {},                                   # Copied at 750 before any value.
               {500: nan, 750: 10.0}]                # Diverged at 500.
  np.testing.assert_array_equal(population.smoothed_scores(histories, 1),
                                [20.0, 30.0, 50.0, nan, 10.0])
  np.testing.assert_allclose(population.smoothed_scores(histories, 2),
                             [40.0, 25.0, 50.0, nan, nan])
  np.testing.assert_allclose(population.smoothed_scores(histories, 3),
                             [40.0, 20.0, 50.0, nan, nan])
  np.testing.assert_allclose(population.smoothed_scores(histories[:2], 10), [40.0, 20.0])
  with pytest.raises(ValueError, match='pbt.smoothing'):
    population.smoothed_scores(histories, 0)


def test_rebuild_histories_keeps_values_after_the_last_copy_up_to_the_resumed_step():
  rows = [[{'step': 2, 'eval/fid': 9.0}, {'step': 2, 'd_loss': 1.0},
           {'step': 4, 'eval/fid': 7.0}, {'step': 6, 'eval/fid': 5.0},
           {'step': 6, 'eval/fid': 4.0},              # Rewritten after a resume: the last.
           {'step': 8, 'eval/fid': 3.0}],             # After the checkpoint: left out.
          [{'step': 2, 'eval/fid': 8.0}, {'step': 4, 'eval/fid': 6.0},
           {'step': 6, 'eval/fid': 2.0}]]
  lineage = [{'step': 0, 'member': 0, 'parent': 0}, {'step': 0, 'member': 1, 'parent': 1},
             {'step': 4, 'member': 0, 'parent': 0}, {'step': 4, 'member': 1, 'parent': 0},
             {'step': 8, 'member': 0, 'parent': 1}]  # A round after the checkpoint.
  got = population.rebuild_histories(rows, lineage, 'eval/fid', up_to=6)
  assert got == [{2: 9.0, 4: 7.0, 6: 4.0}, {6: 2.0}]


@pytest.mark.slow
def test_pbt_ranks_on_smoothed_values_and_a_resume_rebuilds_them(tmp_path):
  """pbt.smoothing=3 on d_loss logged every step: the lineage's scores are the means of each
  member's last 3 values since its copy, read from its metrics.jsonl; a run stopped at step
  3 and resumed writes the same lineage as the straight one."""
  config = _toy(num_train_steps=6, log_every=1, sample_every=100, checkpoint_every=100)
  config.population.size = 4
  config.population.hparams = 'optim.g.lr=1e-4,3e-4,1e-3,3e-3'
  config.pbt.interval = 2
  config.pbt.metric = 'd_loss'
  config.pbt.fraction = 0.25
  config.pbt.smoothing = 3
  _straight_and_stopped(config, tmp_path, 3)
  train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  lineage = {name: [(r['step'], r['member'], r['parent'], r['score']) for r in
                    plots.read_jsonl(str(tmp_path / name / 'lineage.jsonl')) if r['step']]
             for name in ('straight', 'resumed')}
  assert lineage['straight'] == lineage['resumed']
  losses = [{r['step']: r['d_loss'] for r in plots.read_jsonl(str(
      tmp_path / 'straight' / 'members' / f'member_{i}' / 'metrics.jsonl'))} for i in range(4)]
  copied = {}
  for step, member, parent, score in lineage['straight']:
    since = copied.get(member, 0)
    want = np.mean([losses[member][t] for t in range(max(since + 1, step - 2), step + 1)])
    np.testing.assert_allclose(score, want, rtol=1e-6)
    if parent != member:
      copied[member] = step
  assert copied, 'no member was copied: the reset of the history is untested'


@pytest.mark.slow
def test_resume_of_a_population_is_bitwise(tmp_path):
  """4 steps straight == SIGTERM at step 2 (checkpoint after the PBT round there), resume."""
  config = _toy(num_train_steps=4, log_every=1, sample_every=100, checkpoint_every=100)
  config.population.hparams = 'optim.g.lr=1e-4,3e-4,1e-3'
  config.pbt.interval = 2
  config.pbt.metric = 'd_loss'
  config.pbt.fraction = 0.34
  _straight_and_stopped(config, tmp_path, 2)
  assert sampling.load_run(str(tmp_path / 'resumed'), member=0)[-1] == 2
  train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  for member in range(3):
    *_, a, step_a = sampling.load_run(str(tmp_path / 'straight'), member=member)
    *_, b, step_b = sampling.load_run(str(tmp_path / 'resumed'), member=member)
    assert step_a == step_b == 4
    _close(a, b, 0, 0)
  for name in ('population.csv', 'lineage.jsonl', 'lineage.png', 'samples/step_0000004.png',
               'members/member_2/metrics.jsonl', 'members/member_2/samples/step_0000004.png'):
    assert os.path.exists(tmp_path / 'resumed' / name), name
  lineage = [line for line in open(tmp_path / 'resumed' / 'lineage.jsonl')]
  assert len(lineage) == 3 * 2  # Step 0 and the round at step 2, each member once.


@pytest.mark.parametrize('fields, message', [
    ({'population.hparams': 'model.g_width=8,16,32'}, 'sweep axis'),
    ({'population.hparams': 'optim.g.lr=1e-4,2e-4'}, 'one per member'),
    ({'population.ranges': 'optim.g.lr=1e-3..1e-4', 'population.hparams': ''}, 'LOW < HIGH'),
    ({'population.hparams': 'optim.g.lr=1e-4,-1,1e-3'}, 'must be > 0'),
    ({'population.hparams': 'optim.g.sgd.momentum=0.1,0.2,0.3'}, 'sweep axis'),
    ({'population.hparams': 'objective.pix2pix.l1_weight=1,2,3'}, 'not read by'),
    ({'population.seeds': '1,2'}, 'seeds'),
    ({'pbt.interval': 10, 'pbt.fraction': 0.9}, 'pbt.fraction'),
    ({'pbt.interval': 10, 'pbt.smoothing': 0}, 'pbt.smoothing'),
])
def test_population_config_errors_say_what_to_do(fields, message):
  config = _toy(**fields)
  with pytest.raises(ValueError, match=message):
    population.check_config(config)


def test_member_config_and_ranges_are_drawn_from_the_seed():
  config = _toy()
  config.population.hparams = ''
  config.population.ranges = 'optim.g.lr=1e-5..1e-3 optim.d.adam.b2=0.9..0.999'
  first, again = population.hyperparameters(config), population.hyperparameters(config)
  assert first == again
  lrs = [m['optim.g.lr'] for m in first]
  assert all(1e-5 <= v <= 1e-3 for v in lrs) and len(set(lrs)) == 3
  assert all(0.9 <= m['optim.d.adam.b2'] <= 0.999 for m in first)
  member = population.member_configs(config)[1]
  assert member.seed == config.seed + 1 and member.population.size == 0
  assert member.optim.g.lr == pytest.approx(lrs[1])


def test_init_from_copies_the_named_players(tmp_path):
  config = toy_ring.get_config('smoke')
  _, networks = sampling.build(config)
  source_state = state_lib.create_state(config, networks, jax.random.key(1))
  mngr = checkpointing.manager(str(tmp_path / 'checkpoints'))
  checkpointing.save(mngr, 5, source_state, config)
  mngr.close()
  fresh = state_lib.create_state(config, networks, jax.random.key(2))
  got = checkpointing.init_from(fresh, str(tmp_path), 'g', print)
  _close(got.g_params, source_state.g_params, 0, 0)
  _close(got.ema_g_params, source_state.ema_g_params, 0, 0)
  _close(got.d_params, fresh.d_params, 0, 0)
  wider = toy_ring.get_config('smoke')
  wider.model.mlp.g_hidden = (24, 24)
  _, wide_networks = sampling.build(wider)
  with pytest.raises(ValueError, match='same networks'):
    checkpointing.init_from(state_lib.create_state(wider, wide_networks, jax.random.key(2)),
                            str(tmp_path), 'gd', print)
  with pytest.raises(FileNotFoundError, match='checkpoints'):
    checkpointing.init_from(fresh, str(tmp_path / 'nowhere'), 'g', print)


def test_sweep_axes_become_one_population_per_point_of_the_other_axes():
  from gan_jax import sweep
  axes = [('optim.g.lr', ['1e-4', '2e-4']), ('loss.name', ['hinge', 'least_squares'])]
  outside, pairs = sweep.as_population(axes, [0, 1], tuple(population.POPULATION_FIELDS))
  assert outside == [('loss.name', ['hinge', 'least_squares'])]
  assert dict(pairs) == {'population.size': '4',
                         'population.hparams': 'optim.g.lr=1e-4,1e-4,2e-4,2e-4',
                         'population.seeds': '0,1,0,1'}
  trials = sweep.with_overrides(sweep.expand(outside), pairs)
  assert [t.name for t in trials] == ['loss.name=hinge', 'loss.name=least_squares']
  config = sweep.trial_config(_toy(), trials[0])
  population.check_config(config)
  assert [m['optim.g.lr'] for m in population.hyperparameters(config)] == [1e-4, 1e-4, 2e-4, 2e-4]
  assert population.seeds(config) == [0, 1, 0, 1]
  with pytest.raises(ValueError, match='none of them'):
    sweep.as_population([('loss.name', ['hinge'])], [], tuple(population.POPULATION_FIELDS))


def test_reset_reinitializes_one_member_and_keeps_its_hyperparameters():
  config = _toy()
  _, networks = sampling.build(config)
  init_keys, _ = population.member_keys(config)
  pop = jax.device_get(population.create_population(config, networks, init_keys))
  pop = pop.replace(member={**pop.member, 'active': np.asarray([True, False, True])})
  new = population.reinitialize_member(config, networks, pop, 1, step=7)
  assert np.asarray(new.member['active']).tolist() == [True, True, True]
  for i in (0, 2):
    _close(population.take(new, i), population.take(pop, i), 0, 0)
  old1, new1 = population.take(pop, 1), population.take(new, 1)
  _close(new1.member['hparams'], old1.member['hparams'], 0, 0)
  assert not all(np.allclose(a, b) for a, b in zip(jax.tree_util.tree_leaves(new1.g_params),
                                                   jax.tree_util.tree_leaves(old1.g_params)))


def test_a_checkpoint_written_before_the_member_field_still_restores(tmp_path):
  """Checkpoints of runs from before GANState.member (a dict of the other fields on disk)."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  config = helpers.tiny_dcgan_config()
  _, state = helpers.tiny_setup(config)
  old = {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if f.name != 'member'}
  mngr = checkpointing.manager(str(tmp_path))
  checkpointing.save(mngr, 3, old, config)
  restored = checkpointing.restore_state(mngr, state, 3)
  mngr.close()
  assert isinstance(restored, state_lib.GANState) and restored.member == {}
  _close(restored, state, 0, 0)


@pytest.mark.slow
@pytest.mark.parametrize('recipe', ['cyclegan', 'wgan_gp', 'stylegan2'])
def test_populations_of_recipes_with_extras_n_critic_and_lazy_regularizers(recipe, tmp_path,
                                                                        tfds_data_dir):
  """An image pool (CycleGAN), n_critic = 5 with a gradient penalty (WGAN-GP), lazy R1 / path
  length and ADA's p (StyleGAN2): two members each train and write their files."""
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f'configs.{recipe}').get_config('smoke')
  config.dataset.data_dir = tfds_data_dir
  config.num_train_steps = 2
  config.eval_every = 0
  config.sample_every = 2
  config.population.size = 2
  config.population.hparams = 'optim.g.lr=1e-4,2e-4'
  train.train_and_evaluate(config, str(tmp_path))
  for member in (0, 1):
    config_i, *_, state, step = sampling.load_run(str(tmp_path), member=member)
    assert step == 2 and state.member['active']
    assert config_i.optim.g.lr == pytest.approx([1e-4, 2e-4][member])
    assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(state.g_params))
  assert os.path.exists(tmp_path / 'population.csv')
