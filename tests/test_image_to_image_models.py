"""pix2pix (U-Net + PatchGAN) and CycleGAN (ResNet generators, two-player modules) networks."""

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from gan_jax import models
from gan_jax.data import unpaired
from gan_jax.models import cyclegan
from gan_jax.models import patchgan
from gan_jax.models import unet


@pytest.fixture(autouse=True)
def _fixed_conv_cost_model(monkeypatch):
  # No per-shape timing of conv kernel gradients: these tests check functions, not speed.
  monkeypatch.setenv('GAN_JAX_CONV_AUTOTUNE', '0')


def tiny_model_config(**fields):
  config = default.get_config().model
  config.unet.ngf = 8
  config.patchgan.ndf = 8
  config.cycle_resnet.ngf = 8
  config.cycle_resnet.num_blocks = 1
  for path, value in fields.items():
    block, name = path.split('__')
    config[block][name] = value
  return config


def init(module, inputs, seed=0):
  # An 'rbg' key: the init then compiles ~4x faster on CPU than with threefry (the default,
  # partitionable), and the networks' function does not depend on the key's generator.
  key = jax.random.key(seed, impl='rbg')
  return jax.jit(lambda x: module.init({'params': key, 'dropout': key}, x, None,
                                       train=False))(inputs)


@functools.lru_cache(maxsize=None)
def _jitted_apply(module, train):
  def f(variables, inputs, key):
    return module.apply(variables, inputs, None, train=train, rngs={'dropout': key},
                        mutable=['batch_stats'])[0]
  return jax.jit(f)


def run(module, variables, inputs, train=False, seed=0):
  """module(inputs) under jit (one compile per module and mode, not one per operation);
  BatchNorm statistics used and updated in training, the update dropped."""
  return _jitted_apply(module, train)(variables, inputs, jax.random.key(seed))


def differ(a, b) -> bool:
  """Whether a and b differ by more than 1% of a's scale."""
  return float(jnp.max(jnp.abs(a - b))) > 0.01 * float(jnp.max(jnp.abs(a)))


def count_params(variables) -> int:
  return sum(x.size for x in jax.tree_util.tree_leaves(variables['params']))


def images(key, shape):
  return jax.random.uniform(jax.random.key(key), shape, minval=-1.0, maxval=1.0)


# ---- pix2pix --------------------------------------------------------------------------------
def test_pix2pix_shapes_32():
  data_c, cond_c = 3, 1  # E.g. grey -> colour.
  make_g, make_d, io = unet.build(tiny_model_config(), (32, 32, data_c), 10, (32, 32, cond_c))
  assert io == {'generator_input': (32, 32, cond_c),
                'discriminator_input': (32, 32, cond_c + data_c)}
  x = images(0, (3, 32, 32, cond_c))
  g = make_g(None)
  fake = run(g, init(g, x), x)
  chex.assert_shape(fake, (3, 32, 32, data_c))
  assert float(jnp.max(jnp.abs(fake))) <= 1.0
  d = make_d(None)
  pair = jnp.concatenate([x, images(1, (3, 32, 32, data_c))], axis=-1)
  logits = run(d, init(d, pair), pair)
  chex.assert_shape(logits, (3, 6, 6))  # num_layers=2: 32 -> 16 -> 8 -> 7 -> 6.


def test_unet_depth_and_28px():
  config = tiny_model_config()
  # num_downs=0: as many levels as the side allows: 32 -> 1x1 (5 levels), 28 -> 7x7 (2).
  assert unet.resolve_downs(32, 0) == 5 and unet.resolve_downs(28, 0) == 2
  make_g, make_d, _ = unet.build(config, (28, 28, 1), 10, (28, 28, 1))
  x = images(0, (2, 28, 28, 1))
  g = make_g(None)
  variables = init(g, x)
  assert {'down0', 'down1', 'up0', 'up1'} == {k for k in variables['params'] if 'norm' not in k}
  chex.assert_shape(run(g, variables, x), (2, 28, 28, 1))
  d = make_d(None)
  pair = jnp.concatenate([x, x], -1)
  chex.assert_shape(run(d, init(d, pair), pair), (2, 5, 5))
  config.unet.num_downs = 5
  with pytest.raises(ValueError, match='image_size=32'):
    unet.build(config, (28, 28, 1), 10, (28, 28, 1))
  with pytest.raises(ValueError, match='condition image'):
    unet.build(tiny_model_config(), (32, 32, 1), 10, None)


@pytest.mark.parametrize('num_layers', [1, 2, 3])
def test_patchgan_receptive_field_by_gradient(num_layers):
  """The input pixels whose gradient reaches one central logit span the stated field."""
  side = 96 if num_layers == 3 else 64
  d = patchgan.PatchGAN(ndf=4, num_layers=num_layers, normalization='batch')
  x = jax.random.normal(jax.random.key(0), (1, side, side, 2))
  variables = init(d, x)
  logits = run(d, variables, x)
  grid = patchgan.output_side(side, num_layers)
  chex.assert_shape(logits, (1, grid, grid))
  i = grid // 2
  grad = jax.jit(jax.grad(lambda x: d.apply(variables, x, None, train=False)[0, i, i]))(x)
  support = np.abs(np.asarray(grad[0])).sum(-1) > 0
  rows, cols = np.nonzero(support.any(1))[0], np.nonzero(support.any(0))[0]
  assert rows[-1] - rows[0] + 1 == patchgan.receptive_field(num_layers)
  assert cols[-1] - cols[0] + 1 == patchgan.receptive_field(num_layers)
  assert 0 < rows[0] and rows[-1] < side - 1  # Not clipped by the border.
  assert support[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()  # The whole square.
  assert patchgan.receptive_field(num_layers) == {1: 16, 2: 34, 3: 70}[num_layers]


def test_patchgan_too_deep_is_an_error():
  with pytest.raises(ValueError, match='no output'):
    unet.build(tiny_model_config(patchgan__num_layers=4), (32, 32, 1), 10, (32, 32, 1))


def test_unet_skip_connections_carry_detail_past_a_zeroed_bottleneck():
  g = unet.UNet(out_channels=1, ngf=8, num_downs=5, normalization='instance', dropout=0.0)
  x = images(0, (1, 32, 32, 1))
  variables = init(g, x)

  def zero_bottleneck(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    return jnp.zeros_like(out) if context.module.name == 'down4' else out

  @jax.jit
  def forward(x):
    with nn.intercept_methods(zero_bottleneck):
      return g.apply(variables, x, None, train=False)

  bumped = x.at[0, 3, 5, 0].add(0.5)
  change = np.abs(np.asarray(forward(bumped) - forward(x)))[0, ..., 0]
  assert change.max() > 1e-4
  # Detail stays local: the largest changes are next to the bumped pixel.
  peak = np.unravel_index(change.argmax(), change.shape)
  assert abs(peak[0] - 3) <= 2 and abs(peak[1] - 5) <= 2
  # The bottleneck does feed the output when it is not zeroed (the interceptor acts).
  assert float(jnp.max(jnp.abs(forward(x) - run(g, variables, x)))) > 1e-4


@pytest.mark.slow  # ~30 s on 2 cores (U-Net / two ResNet G compile).
def test_unet_dropout_only_in_training_unless_kept_at_test():
  x = images(0, (2, 32, 32, 1))
  # Instance norm: eval-mode BatchNorm at init (running variance 1) leaves the deep,
  # dropped-out activations ~1e-4 of the skip paths' and dropout then hardly shows.
  g = unet.UNet(out_channels=1, ngf=8, num_downs=5, normalization='instance', dropout=0.5,
                dropout_layers=3)
  variables = init(g, x)
  assert differ(run(g, variables, x, True, 1), run(g, variables, x, True, 2))
  chex.assert_trees_all_equal(run(g, variables, x, False, 1),
                              run(g, variables, x, False, 2))
  kept = g.clone(dropout_at_test=True)
  assert differ(run(kept, variables, x, False, 1), run(kept, variables, x, False, 2))
  none = g.clone(dropout=0.0)
  chex.assert_trees_all_equal(run(none, variables, x, True, 1),
                              run(none, variables, x, True, 2))


@pytest.mark.parametrize('kind', ['batch', 'instance'])
def test_normalization_is_selectable(kind):
  """BatchNorm couples the examples of a batch in training; instance norm does not."""
  make_g, make_d, _ = unet.build(
      tiny_model_config(unet__normalization=kind, unet__dropout=0.0,
                        patchgan__normalization=kind), (32, 32, 1), 10, (32, 32, 1))
  x = images(0, (4, 32, 32, 1))
  for module, inputs in ((make_g(None), x), (make_d(None), jnp.concatenate([x, x], -1))):
    variables = init(module, inputs)
    assert ('batch_stats' in variables) == (kind == 'batch')
    others_changed = inputs.at[1:].set(-inputs[1:])
    first = run(module, variables, inputs, True, 0)[:1]
    first_with_other_batch = run(module, variables, others_changed, True, 0)[:1]
    assert differ(first, first_with_other_batch) == (kind == 'batch')
  with pytest.raises(ValueError, match='model.unet.normalization'):
    unet.build(tiny_model_config(unet__normalization='group'), (32, 32, 1), 10, (32, 32, 1))


@pytest.mark.slow  # ~30 s on 2 cores (U-Net / two ResNet G compile).
def test_gradients_finite_pix2pix():
  make_g, make_d, _ = unet.build(tiny_model_config(), (32, 32, 1), 10, (32, 32, 1))
  g, d = make_g(None), make_d(None)
  x, y = images(0, (4, 32, 32, 1)), images(1, (4, 32, 32, 1))
  gv, dv = init(g, x), init(d, jnp.concatenate([x, y], -1))

  def loss(g_params, d_params):
    fake, _ = g.apply({**gv, 'params': g_params}, x, None, train=True,
                      rngs={'dropout': jax.random.key(3)}, mutable=['batch_stats'])
    logits, _ = d.apply({**dv, 'params': d_params}, jnp.concatenate([x, fake], -1), None,
                        train=True, mutable=['batch_stats'])
    return jnp.mean(logits) + jnp.mean(jnp.abs(fake - y))

  grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(gv['params'], dv['params'])
  chex.assert_tree_all_finite(grads)
  assert all(float(jnp.max(jnp.abs(g))) > 0 for g in jax.tree_util.tree_leaves(grads))


def test_parameter_counts_match_the_authors_networks():
  """At the papers' sizes the networks have the parameter counts the authors' code prints
  (pytorch-CycleGAN-and-pix2pix: G unet_256 54.414 M, D basic 2.769 M (6 input channels);
  G resnet_9blocks 11.378 M, D basic 2.765 M (3 input channels))."""
  def millions(module, shape):
    key = jax.random.key(0)
    shapes = jax.eval_shape(lambda: module.init({'params': key, 'dropout': key},
                                                jnp.zeros((1, *shape)), None, train=False))
    return round(count_params(shapes) / 1e6, 3)

  assert millions(unet.UNet(3, 64, 8, 'batch'), (256, 256, 3)) == 54.414
  assert millions(patchgan.PatchGAN(64, 3, 'batch'), (256, 256, 6)) == 2.769
  assert millions(cyclegan.ResnetGenerator(3, 64, 9, 'instance'), (256, 256, 3)) == 11.378
  assert millions(patchgan.PatchGAN(64, 3, 'instance'), (256, 256, 3)) == 2.765


# ---- CycleGAN -------------------------------------------------------------------------------
@pytest.mark.slow  # ~7 s: two ResNet generators.
def test_cyclegan_player_outputs():
  make_g, make_d, io = cyclegan.build(tiny_model_config(), (32, 32, 1), 10, (32, 32, 1))
  assert io['generator_input'] == {'a': (32, 32, 1), 'b': (32, 32, 1)}
  assert io['discriminator_input'] == io['generator_input']
  a, b = images(0, (2, 32, 32, 1)), images(1, (2, 32, 32, 1))
  g, d = make_g(None), make_d(None)
  gv = init(g, {'a': a, 'b': b})
  assert set(gv['params']) == {'g_ab', 'g_ba'}
  out = run(g, gv, {'a': a, 'b': b})
  assert set(out) == {'fake_a', 'fake_b', 'rec_a', 'rec_b', 'idt_a', 'idt_b'}
  for v in out.values():
    chex.assert_shape(v, (2, 32, 32, 1))
  assert set(run(g, gv, {'a': a})) == {'fake_b', 'rec_a', 'idt_a'}
  assert set(run(g, gv, {'b': b})) == {'fake_a', 'rec_b', 'idt_b'}
  no_idt = cyclegan.build(tiny_model_config(cycle_resnet__identity_outputs=False),
                          (32, 32, 1), 10, (32, 32, 1))[0](None)
  assert set(run(no_idt, gv, {'a': a, 'b': b})) == {
      'fake_a', 'fake_b', 'rec_a', 'rec_b'}

  def by_hand(m, a, b):
    def g_ab(x):
      return m.g_ab(x, None, train=False)

    def g_ba(x):
      return m.g_ba(x, None, train=False)

    return {'fake_b': g_ab(a), 'rec_a': g_ba(g_ab(a)), 'idt_a': g_ba(a),
            'fake_a': g_ba(b), 'rec_b': g_ab(g_ba(b)), 'idt_b': g_ab(b)}

  by_hand_out = jax.jit(lambda v, a, b: g.apply(v, a, b, method=by_hand))(gv, a, b)
  chex.assert_trees_all_equal(out, by_hand_out)  # Exactly.

  dv = init(d, {'a': a, 'b': b})
  assert set(dv['params']) == {'d_a', 'd_b'}
  logits = run(d, dv, {'a': a, 'b': b})
  assert set(logits) == {'a', 'b'}
  chex.assert_shape([logits['a'], logits['b']], (2, 6, 6))
  only_b = run(d, dv, {'b': b})
  assert set(only_b) == {'b'}
  chex.assert_trees_all_equal(only_b['b'], logits['b'])
  with pytest.raises(ValueError, match="keys among"):
    g.apply(gv, {'c': a}, None, train=False)


def test_cyclegan_cycle_noise_only_on_the_way_back_in_training():
  std = 0.3
  config = tiny_model_config(cycle_resnet__identity_outputs=False,
                             cycle_resnet__cycle_noise_std=std)
  g = cyclegan.build(config, (32, 32, 1), 10, (32, 32, 1))[0](None)
  plain = cyclegan.build(tiny_model_config(cycle_resnet__identity_outputs=False),
                         (32, 32, 1), 10, (32, 32, 1))[0](None)
  batch = {'a': images(0, (2, 32, 32, 1)), 'b': images(1, (2, 32, 32, 1))}
  gv = init(g, batch)
  # Evaluation (sampling, the metrics): no noise.
  chex.assert_trees_all_equal(run(g, gv, batch), run(plain, gv, batch))
  noisy, clean = run(g, gv, batch, train=True), run(plain, gv, batch, train=True)
  chex.assert_trees_all_equal((noisy['fake_a'], noisy['fake_b']),
                              (clean['fake_a'], clean['fake_b']))
  assert differ(noisy['rec_a'], clean['rec_a']) and differ(noisy['rec_b'], clean['rec_b'])
  assert differ(run(g, gv, batch, train=True, seed=1)['rec_a'], noisy['rec_a'])

  def by_hand(m, a, b):  # The same 'dropout' draws in the same order: A's cycle, then B's.
    fake_b = m.g_ab(a, train=True)
    n_b = jax.random.normal(m.make_rng('dropout'), fake_b.shape)
    fake_a = m.g_ba(b, train=True)
    n_a = jax.random.normal(m.make_rng('dropout'), fake_a.shape)
    return {'fake_b': fake_b, 'rec_a': m.g_ba(fake_b + std * n_b, train=True),
            'fake_a': fake_a, 'rec_b': m.g_ab(fake_a + std * n_a, train=True),
            'noise_std': jnp.std(jnp.concatenate([n_a, n_b]))}

  want = jax.jit(lambda v, a, b: g.apply(v, a, b, method=by_hand, rngs={
      'dropout': jax.random.key(0)}))(gv, batch['a'], batch['b'])
  assert abs(float(want.pop('noise_std')) - 1.0) < 0.05
  chex.assert_trees_all_close(noisy, want, atol=1e-6)
  with pytest.raises(ValueError, match='cycle_noise_std must be >= 0'):
    cyclegan.build(tiny_model_config(cycle_resnet__cycle_noise_std=-0.1), (32, 32, 1), 10,
                   (32, 32, 1))


def test_cyclegan_domain_a_space_projects_every_g_ba_output():
  config = tiny_model_config(cycle_resnet__domain_a_space='uci_digits')
  g = cyclegan.build(config, (32, 32, 1), 10, (32, 32, 1))[0](None)
  plain = cyclegan.build(tiny_model_config(), (32, 32, 1), 10, (32, 32, 1))[0](None)
  batch = {'a': images(0, (2, 32, 32, 1)), 'b': images(1, (2, 32, 32, 1))}
  gv = init(g, batch)
  out, free = run(g, gv, batch), run(plain, gv, batch)

  def g_ab(x):
    return plain.apply(gv, x, method=lambda m, x: m.g_ab(x, train=False))

  def g_ba(x):
    return unpaired.uci_projection(
        plain.apply(gv, x, method=lambda m, x: m.g_ba(x, train=False)))

  want = {'fake_b': free['fake_b'], 'idt_b': free['idt_b'], 'rec_a': g_ba(free['fake_b']),
          'idt_a': g_ba(batch['a']), 'fake_a': g_ba(batch['b'])}
  want['rec_b'] = g_ab(want['fake_a'])
  chex.assert_trees_all_close(out, want, atol=1e-5)
  assert differ(out['fake_a'], free['fake_a'])
  outside = np.ones((32, 32), bool)
  outside[6:26, 6:26] = False
  assert (np.asarray(out['fake_a'])[:, outside] == -1).all()
  with pytest.raises(ValueError, match='domain_a_space'):
    cyclegan.build(tiny_model_config(cycle_resnet__domain_a_space='svhn'), (32, 32, 1), 10,
                   (32, 32, 1))
  with pytest.raises(ValueError, match='side >= 28'):
    cyclegan.build(config, (16, 16, 1), 10, (16, 16, 1))


@pytest.mark.slow  # ~30 s on 2 cores (U-Net / two ResNet G compile).
def test_cyclegan_gradients_finite():
  make_g, make_d, _ = cyclegan.build(tiny_model_config(cycle_resnet__identity_outputs=False),
                                     (32, 32, 1), 10, (32, 32, 1))
  g, d = make_g(None), make_d(None)
  batch = {'a': images(0, (2, 32, 32, 1)), 'b': images(1, (2, 32, 32, 1))}
  gv, dv = init(g, batch), init(d, batch)

  def loss(g_params, d_params):
    out = g.apply({**gv, 'params': g_params}, batch, None, train=True)
    logits, _ = d.apply({**dv, 'params': d_params}, {'a': out['fake_a'], 'b': out['fake_b']},
                        None, train=True, mutable=['batch_stats'])
    cycle = jnp.mean(jnp.abs(out['rec_a'] - batch['a'])) + jnp.mean(
        jnp.abs(out['rec_b'] - batch['b']))
    return jnp.mean(logits['a']) + jnp.mean(logits['b']) + cycle

  grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(gv['params'], dv['params'])
  chex.assert_tree_all_finite(grads)
  assert all(float(jnp.max(jnp.abs(g))) > 0 for g in jax.tree_util.tree_leaves(grads))


@pytest.mark.slow  # ~5 s: two PatchGANs compiled three times.
def test_cyclegan_packed_discriminators_score_packs_within_each_domain():
  # model.d_pack on CycleGAN: each D scores packs of 2 of its own domain's images stacked on
  # the channel axis (never an A image with a B image), one patch map per pack.
  config = tiny_model_config()
  config.name = 'cyclegan'
  config.d_pack = 2
  networks = models.build_networks(config, (32, 32, 1), None, (32, 32, 1))
  dv = jax.jit(networks.discriminator_init)(jax.random.key(0, impl='rbg'))
  assert dv['params']['d_a']['conv0']['kernel'].shape[2] == 2  # 2 grey images per pack.
  a, b = images(0, (4, 32, 32, 1)), images(1, (4, 32, 32, 1))
  logits = jax.jit(lambda v, x: networks.discriminator_apply(v, x, train=False)[0])(
      dv, {'a': a, 'b': b})
  chex.assert_shape([logits['a'], logits['b']], (2, 6, 6))
  # Pack k = images 2k, 2k + 1, by hand, through the unpacked modules.
  by_hand = {k: jnp.concatenate([x[0::2], x[1::2]], axis=-1) for k, x in (('a', a), ('b', b))}
  expected = run(networks.make_discriminator(None), dv, by_hand)
  np.testing.assert_allclose(logits['a'], expected['a'], rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(logits['b'], expected['b'], rtol=1e-6, atol=1e-6)


def test_cyclegan_build_errors():
  config = tiny_model_config()
  with pytest.raises(ValueError, match='same channels'):
    cyclegan.build(config, (32, 32, 3), 10, (32, 32, 1))
  config.cycle_resnet.identity_outputs = False
  make_g, _, io = cyclegan.build(config, (32, 32, 3), 10, (32, 32, 1))  # A grey -> B RGB.
  g = make_g(None)
  batch = {'a': images(0, (1, 32, 32, 1)), 'b': images(1, (1, 32, 32, 3))}
  out = run(g, init(g, batch), batch)
  chex.assert_shape([out['fake_b'], out['rec_b']], (1, 32, 32, 3))
  chex.assert_shape([out['fake_a'], out['rec_a']], (1, 32, 32, 1))
  with pytest.raises(ValueError, match='divisible by 4'):
    cyclegan.build(config, (30, 30, 1), 10, (30, 30, 1))


# ---- the CycleGAN layers against references -------------------------------------------------
def test_upconv_matches_torch_conv_transpose_output_padding():
  torch = pytest.importorskip('torch')
  x = np.random.default_rng(0).standard_normal((2, 5, 6, 4)).astype(np.float32)
  layer = cyclegan.UpConv(3)
  variables = layer.init(jax.random.key(0), x)
  kernel = np.array(variables['params']['kernel'])  # A writable copy for torch.
  variables = {'params': {'kernel': kernel, 'bias': np.arange(3, dtype=np.float32)}}
  ref = torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
  with torch.no_grad():
    ref.weight.copy_(torch.from_numpy(kernel.transpose(2, 3, 0, 1)))  # (I, O, kH, kW).
    ref.bias.copy_(torch.arange(3, dtype=torch.float32))
    want = ref(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
  for impl in ('auto', 'xla'):
    got = cyclegan.UpConv(3, implementation=impl).apply(variables, x)
    chex.assert_shape(got, (2, 10, 12, 3))
    np.testing.assert_allclose(got, want, atol=1e-5)  # float32 sums of 36 products.


def test_reflect_pad_and_valid_conv_match_references():
  torch = pytest.importorskip('torch')
  x = np.random.default_rng(1).standard_normal((2, 9, 10, 6)).astype(np.float32)
  want = torch.nn.ReflectionPad2d(3)(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
  chex.assert_trees_all_equal(np.asarray(cyclegan.reflect_pad(x, 3)), want.transpose(0, 2, 3, 1))
  kernel = np.random.default_rng(2).standard_normal((7, 7, 6, 2)).astype(np.float32)

  def conv(x, w):
    return jax.lax.conv_general_dilated(x, w, (1, 1), 'VALID',
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

  np.testing.assert_allclose(cyclegan.conv_valid_matmul(x, kernel), conv(x, kernel),
                             rtol=1e-5, atol=1e-4)  # float32 sums of 294 products.
  cot = np.random.default_rng(3).standard_normal((2, 3, 4, 2)).astype(np.float32)

  def loss(f):
    return lambda x, w: jnp.sum(f(x, w) * cot)

  got = jax.grad(loss(cyclegan.conv_valid_matmul), (0, 1))(x, kernel)
  ref = jax.grad(loss(conv), (0, 1))(x, kernel)
  for g, r in zip(got, ref):
    np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-4)
  # The module takes the matmul form on CPU for 32 -> 2 channels: the same function.
  x32 = np.random.default_rng(4).standard_normal((2, 12, 12, 32)).astype(np.float32)
  variables = cyclegan.ValidConv(2, 7).init(jax.random.key(0), x32)
  np.testing.assert_allclose(cyclegan.ValidConv(2, 7).apply(variables, x32),
                             cyclegan.ValidConv(2, 7, implementation='xla').apply(variables, x32),
                             rtol=1e-5, atol=1e-4)
