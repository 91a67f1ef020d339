"""gan_jax.optimizers: each rule reads its own config block; schedules match their formulas.

Rules: three updates of gan_jax's optimizer equal those of optax's rule called with the
hyperparameters written out here (non-default values, so an ignored field shows), and Adam /
SGD with momentum equal a numpy transcription of their update (Kingma & Ba 2015, alg. 1;
Sutskever et al. 2013), float32 against float64 to rtol 1e-5. Schedules: learning rates at
several steps against the closed forms in build_schedule's docstring, rtol 1e-6 and
atol 1e-6 * lr (optax computes them in float32). Per-module learning-rate multipliers: the
updates of each subtree equal those of optax's rule run at the multiplied learning rate, rtol
1e-6.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import default
from gan_jax import optimizers
from gan_jax import overrides

LR = 0.01


def _player(**fields):
  """optim.g of configs/default.py with dotted `fields` set (e.g. {'adam.b1': 0.3})."""
  config = default.get_config()
  for path, value in fields.items():
    overrides.set_field(config, f'optim.g.{path}', value)
  return config.optim.g


def _grads(i):
  return {'w': jnp.array([[0.3, -1.2, 0.05], [2.0, -0.4, 0.7]]) * (1.0 + 0.5 * i),
          'b': jnp.array([0.1, -0.2, 0.3]) * (-1.0) ** i}


def _updates(tx, steps=3):
  params = {'w': jnp.ones((2, 3)), 'b': jnp.full((3,), -0.5)}
  state, out = tx.init(params), []
  for i in range(steps):
    updates, state = tx.update(_grads(i), state, params)
    params = optax.apply_updates(params, updates)
    out.append(updates)
  return out


@pytest.mark.parametrize('fields, reference', [
    ({'name': 'adam', 'adam.b1': 0.3, 'adam.b2': 0.9, 'adam.eps': 1e-3},
     optax.adam(LR, b1=0.3, b2=0.9, eps=1e-3)),
    ({'name': 'adamw', 'adamw.b1': 0.3, 'adamw.b2': 0.9, 'adamw.eps': 1e-3,
      'adamw.weight_decay': 0.1},
     optax.adamw(LR, b1=0.3, b2=0.9, eps=1e-3, weight_decay=0.1)),
    ({'name': 'sgd', 'sgd.momentum': 0.5, 'sgd.nesterov': True},
     optax.sgd(LR, momentum=0.5, nesterov=True)),
    ({'name': 'sgd'}, optax.sgd(LR)),
    ({'name': 'rmsprop', 'rmsprop.decay': 0.5, 'rmsprop.eps': 1e-2, 'rmsprop.centered': True},
     optax.rmsprop(LR, decay=0.5, eps=1e-2, centered=True)),
    ({'name': 'adagrad', 'adagrad.eps': 1e-2}, optax.adagrad(LR, eps=1e-2)),
    ({'name': 'adadelta', 'adadelta.rho': 0.5, 'adadelta.eps': 1e-2},
     optax.adadelta(LR, rho=0.5, eps=1e-2)),
])
def test_each_rule_reads_its_own_block(fields, reference):
  got = _updates(optimizers.build_optimizer(_player(lr=LR, **fields), 100))
  for a, b in zip(got, _updates(reference)):
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6), a, b)


def test_adam_and_sgd_momentum_match_numpy():
  b1, b2, eps, mu = 0.3, 0.9, 1e-3, 0.5
  adam = _updates(optimizers.build_optimizer(
      _player(lr=LR, **{'adam.b1': b1, 'adam.b2': b2, 'adam.eps': eps}), 100))
  sgd = _updates(optimizers.build_optimizer(_player(lr=LR, name='sgd',
                                                    **{'sgd.momentum': mu}), 100))
  m = v = trace = 0.0
  for t in range(1, 4):
    g = np.asarray(_grads(t - 1)['w'], np.float64)
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    want = -LR * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(adam[t - 1]['w'], want, rtol=1e-5)
    trace = g + mu * trace
    np.testing.assert_allclose(sgd[t - 1]['w'], -LR * trace, rtol=1e-5)


def test_gradient_clipping():
  tx = optimizers.build_optimizer(_player(lr=LR, name='sgd', grad_clip_norm=1.0), 100)
  params = {'w': jnp.zeros(3)}
  updates, _ = tx.update({'w': jnp.array([30.0, 40.0, 0.0])}, tx.init(params), params)
  np.testing.assert_allclose(updates['w'], -LR * np.array([0.6, 0.8, 0.0]), rtol=1e-6)


@pytest.mark.parametrize('fields, formula', [
    (dict(schedule='constant'), lambda t: LR),
    (dict(schedule='cosine', end_lr_fraction=0.1),
     lambda t: LR * (0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 100) / 100)) + 0.1)),
    (dict(schedule='linear', end_lr_fraction=0.2),
     lambda t: LR * (1 - 0.8 * min(t, 100) / 100)),
    (dict(schedule='linear', decay_steps=40), lambda t: LR * max(0.0, 1 - t / 40)),
    (dict(schedule='step', decay_every=30, decay_rate=0.5), lambda t: LR * 0.5 ** (t // 30)),
    (dict(schedule='cosine', warmup_steps=20),
     lambda t: LR * t / 20 if t < 20 else
     LR * 0.5 * (1 + math.cos(math.pi * min(t - 20, 80) / 80))),
])
def test_schedules(fields, formula):
  schedule = optimizers.build_schedule(_player(lr=LR, **fields), 100)
  steps = [0, 1, 10, 19, 20, 21, 29, 30, 45, 60, 99, 100, 150]
  np.testing.assert_allclose([float(schedule(t)) for t in steps],
                             [formula(t) for t in steps], rtol=1e-6, atol=1e-6 * LR)


def test_discriminator_schedule_spans_its_own_updates():
  """D makes d_steps_per_g_step updates per step: its linear decay spans 100 * 5 updates."""
  config = default.get_config()
  config.num_train_steps, config.d_steps_per_g_step = 100, 5
  default.set_optimizers(config, name='sgd', schedule='linear')
  params = {'w': jnp.zeros(1)}
  for tx, updates_done, want in zip(optimizers.build_optimizers(config), (50, 250),
                                    (0.5, 0.5)):
    # The optimizer state after `updates_done` updates: the schedule's step counter.
    state = jax.tree_util.tree_map(
        lambda x: jnp.full_like(x, updates_done) if jnp.issubdtype(x.dtype, jnp.integer)
        else x, tx.init(params))
    update = tx.update({'w': jnp.ones(1)}, state, params)[0]['w']
    np.testing.assert_allclose(update, [-want * config.optim.g.lr], rtol=1e-6)


def _nested_updates(tx, steps=3):
  params = {'video': {'w': jnp.ones((2, 3)), 'b': jnp.full((3,), -0.5)},
            'image': {'w': jnp.ones((2, 3)), 'b': jnp.zeros((3,))}}
  state, out = tx.init(params), []
  for i in range(steps):
    grads = {'video': _grads(i), 'image': _grads(i + 1)}
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    out.append(updates)
  return out


@pytest.mark.parametrize('fields, rule', [
    ({'name': 'adam', 'adam.b1': 0.3}, lambda lr: optax.adam(lr, b1=0.3)),
    ({'name': 'sgd', 'sgd.momentum': 0.5}, lambda lr: optax.sgd(lr, momentum=0.5)),
    ({'name': 'adamw', 'adamw.weight_decay': 0.1},
     lambda lr: optax.adamw(lr, b1=0.5, weight_decay=0.1)),
])
def test_lr_multipliers_run_each_module_at_its_own_rate(fields, rule):
  """'video=0.25 video/b=3': video/w at lr/4, video/b at 3 lr (the longest prefix), image at lr;
  each against optax's rule at that rate on the same gradients."""
  tx = optimizers.build_optimizer(
      _player(lr=LR, lr_multipliers='video=0.25, video/b=3', **fields), 100)
  got = _nested_updates(tx)
  for factor, pick in ((0.25, lambda u: u['video']['w']), (3.0, lambda u: u['video']['b']),
                       (1.0, lambda u: u['image'])):
    want = _nested_updates(rule(LR * factor))
    for a, b in zip(got, want):
      jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6),
                             pick(a), pick(b))
  assert optimizers.parse_lr_multipliers(' a/b=0.5,c=0 ') == {'a/b': 0.5, 'c': 0.0}
  assert optimizers.parse_lr_multipliers('') == {}


def test_lr_multipliers_errors_say_what_is_wrong():
  for spec in ('video', 'video=fast', '=2', 'video=-1', 'video=1 video=2'):
    with pytest.raises(ValueError, match='expected PATH=FACTOR'):
      optimizers.parse_lr_multipliers(spec)
  tx = optimizers.build_optimizer(_player(lr=LR, lr_multipliers='audio=0.5'), 10)
  with pytest.raises(ValueError, match=r"'audio' matches no parameter.*\['image', 'video'\]"):
    _nested_updates(tx)


def test_bad_names_are_clear_errors():
  with pytest.raises(ValueError, match=r"Unknown optimizer 'lion'.*adamw"):
    optimizers.build_optimizer(_player(name='lion'), 10)
  with pytest.raises(ValueError, match=r"Unknown schedule 'exp'.*cosine"):
    optimizers.build_optimizer(_player(schedule='exp'), 10)


def test_set_optimizers_puts_rule_fields_in_the_rule_block():
  config = default.get_config()
  default.set_optimizers(config, name='rmsprop', lr=5e-5, decay=0.9, schedule='cosine')
  for player in (config.optim.g, config.optim.d):
    assert (player.name, player.lr, player.schedule) == ('rmsprop', 5e-5, 'cosine')
    assert player.rmsprop.decay == 0.9 and player.adam.b1 == 0.5  # Other blocks untouched.
  with pytest.raises(ValueError, match=r"rmsprop has no field 'b1'.*decay"):
    default.set_optimizers(config, b1=0.0)
  with pytest.raises(ValueError, match=r"Unknown optimizer 'lion'"):
    default.set_optimizers(config, name='lion')
