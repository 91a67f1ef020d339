"""ConvTranspose2D implementations against PyTorch and against each other.

Tolerances (float32, inputs/kernels ~ N(0, 1), sums of at most k*k*C_in products): every
output and gradient agrees to rtol = 1e-5 and atol = 1e-5 * max(1, max|reference|); the
implementations only reorder the same sums, so the errors seen are ~1e-6 relative.
"""

import ml_collections
import numpy as np
import pytest

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import models
from gan_jax.models import layers

IMPLEMENTATIONS = sorted(layers.CONV_TRANSPOSE_IMPLEMENTATIONS)

# (name, input (H, W), kernel, stride, padding, C_in, C_out)
CONFIGS = [
    ('k4s2p1', (7, 7), 4, 2, 1, 6, 5),        # DCGAN upsampling stage, odd size 7 -> 14.
    ('k4s2p1_rect', (4, 5), 4, 2, 1, 3, 4),   # Non-square input.
    ('k7s1p0_1x1', (1, 1), 7, 1, 0, 10, 4),   # DCGAN-28 projection from z.
    ('k4s1p0_1x1', (1, 1), 4, 1, 0, 10, 4),   # DCGAN-64 projection from z.
    ('k3s2p0', (5, 5), 3, 2, 0, 3, 4),        # Odd kernel, output 11 (not a multiple of s).
    ('k5s3p2', (4, 6), 5, 3, 2, 2, 3),        # Stride 3.
    ('k3s1p1', (5, 5), 3, 1, 1, 2, 3),        # Stride 1 on a real map.
    ('k4s2p2', (5, 5), 4, 2, 2, 2, 2),        # Padding that crops a whole tap row.
    ('k4s2p1_1x1', (1, 1), 4, 2, 1, 3, 2),    # 1x1 input with padding.
]


def _assert_close(actual, expected, what):
  expected = np.asarray(expected, np.float32)
  atol = 1e-5 * max(1.0, float(np.abs(expected).max()))
  np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-5, atol=atol, err_msg=what)


def _random_case(config, seed=0):
  _, (h, w), k, s, p, cin, cout = config
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((2, h, w, cin)).astype(np.float32)
  kernel = rng.standard_normal((k, k, cin, cout)).astype(np.float32)
  out_h, out_w = (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k
  cotangent = rng.standard_normal((2, out_h, out_w, cout)).astype(np.float32)
  return x, kernel, cotangent, s, p


def _value_and_grads(impl, x, kernel, cotangent, stride, padding):
  fn = layers.CONV_TRANSPOSE_IMPLEMENTATIONS[impl]
  y, vjp = jax.vjp(lambda x_, k_: fn(x_, k_, stride, padding), jnp.asarray(x),
                   jnp.asarray(kernel))
  dx, dk = vjp(jnp.asarray(cotangent))
  return y, dx, dk


def _torch_value_and_grads(x, kernel, cotangent, stride, padding):
  torch = pytest.importorskip('torch')
  xt = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float64, requires_grad=True)
  wt = torch.tensor(kernel.transpose(2, 3, 0, 1), dtype=torch.float64, requires_grad=True)
  yt = torch.nn.functional.conv_transpose2d(xt, wt, stride=stride, padding=padding)
  yt.backward(torch.tensor(cotangent.transpose(0, 3, 1, 2), dtype=torch.float64))
  return (yt.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1),
          wt.grad.numpy().transpose(2, 3, 0, 1))


@pytest.mark.parametrize('impl', IMPLEMENTATIONS)
@pytest.mark.parametrize('config', CONFIGS, ids=[c[0] for c in CONFIGS])
def test_matches_pytorch(config, impl):
  x, kernel, cotangent, s, p = _random_case(config)
  expected = _torch_value_and_grads(x, kernel, cotangent, s, p)  # float64 reference.
  actual = _value_and_grads(impl, x, kernel, cotangent, s, p)
  for what, a, e in zip(('output', 'd_input', 'd_kernel'), actual, expected):
    assert a.shape == e.shape, (what, a.shape, e.shape)
    _assert_close(a, e, f'{impl} {config[0]} {what} vs torch')


@pytest.mark.parametrize('impl', [i for i in IMPLEMENTATIONS if i != 'xla'])
@pytest.mark.parametrize('config', CONFIGS, ids=[c[0] for c in CONFIGS])
def test_matches_xla_under_jit(config, impl):
  x, kernel, cotangent, s, p = _random_case(config, seed=1)
  expected = jax.jit(_value_and_grads, static_argnums=(0, 4, 5))('xla', x, kernel, cotangent,
                                                                  s, p)
  actual = jax.jit(_value_and_grads, static_argnums=(0, 4, 5))(impl, x, kernel, cotangent,
                                                                s, p)
  for what, a, e in zip(('output', 'd_input', 'd_kernel'), actual, expected):
    _assert_close(a, e, f'{impl} {config[0]} {what} vs xla')


@pytest.mark.parametrize('impl', IMPLEMENTATIONS)
def test_module_bfloat16_compute(impl):
  module = layers.ConvTranspose2D(4, 4, 2, 1, implementation=impl, dtype=jnp.bfloat16)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 5, 3))
  variables = module.init(jax.random.PRNGKey(1), x)
  assert variables['params']['kernel'].dtype == jnp.float32  # Params stay float32.
  y = module.apply(variables, x)
  assert y.dtype == jnp.bfloat16 and y.shape == (2, 10, 10, 4)
  reference = layers.ConvTranspose2D(4, 4, 2, 1, implementation='xla').apply(variables, x)
  np.testing.assert_allclose(np.asarray(y, np.float32), reference, rtol=0.05, atol=0.05)


def test_unknown_implementation_lists_valid_ones():
  module = layers.ConvTranspose2D(4, 4, 2, 1, implementation='nope')
  with pytest.raises(ValueError, match='phase'):
    module.init(jax.random.PRNGKey(0), jnp.zeros((1, 3, 3, 2)))


def _generator_outputs_and_grads(impl):
  config = ml_collections.ConfigDict(dict(name='dcgan', latent_dim=100, g_width=64,
                                          d_width=64, conv_transpose_impl=impl))
  networks = models.build_networks(config, (28, 28, 1))
  variables = networks.generator_init(jax.random.PRNGKey(0))
  z = jax.random.normal(jax.random.PRNGKey(1), (8, 100))
  cotangent = jax.random.normal(jax.random.PRNGKey(2), (8, 28, 28, 1))

  @jax.jit
  def run(params):
    def images(p):
      return networks.generator_apply({**variables, 'params': p}, z, train=True)
    (out, mutated), vjp = jax.vjp(images, params)
    (grads,) = vjp((cotangent, jax.tree_util.tree_map(jnp.zeros_like, mutated)))
    return out, mutated, grads

  return run(variables['params'])


def test_dcgan_generator_same_for_every_implementation():
  out_ref, mutated_ref, grads_ref = _generator_outputs_and_grads('xla')
  for impl in IMPLEMENTATIONS:
    if impl == 'xla':
      continue
    out, mutated, grads = _generator_outputs_and_grads(impl)
    _assert_close(out, out_ref, f'{impl} generator images')
    jax.tree_util.tree_map(lambda a, e: _assert_close(a, e, f'{impl} batch stats'),
                           mutated, mutated_ref)
    # Param gradients pass through BatchNorm; relative to the largest entry of each leaf.
    jax.tree_util.tree_map(
        lambda a, e: np.testing.assert_allclose(
            a, e, rtol=1e-4, atol=1e-4 * float(np.abs(e).max()), err_msg=f'{impl} grads'),
        grads, grads_ref)


CONV_CONFIGS = [('k4s2p1', 8, 4, 2, 1, 3, 4), ('k7s1p0', 7, 7, 1, 0, 5, 1),
                ('k3s2p1_odd', 9, 3, 2, 1, 2, 3), ('k4s2p1_odd', 7, 4, 2, 1, 3, 2),
                ('k5s2p2', 8, 5, 2, 2, 2, 3), ('k4s3p1', 12, 4, 3, 1, 2, 3),
                ('k2s2p0', 6, 2, 2, 0, 3, 2)]
FAST_CONV_IMPLEMENTATIONS = sorted(i for i in layers.CONV_IMPLEMENTATIONS if i != 'xla')


@pytest.mark.parametrize('impl', FAST_CONV_IMPLEMENTATIONS)
@pytest.mark.parametrize('config', CONV_CONFIGS, ids=[c[0] for c in CONV_CONFIGS])
def test_conv_matches_pytorch_and_nn_conv(config, impl):
  torch = pytest.importorskip('torch')
  _, h, k, s, p, cin, cout = config
  rng = np.random.default_rng(2)
  x = rng.standard_normal((2, h, h, cin)).astype(np.float32)
  kernel = rng.standard_normal((k, k, cin, cout)).astype(np.float32)
  module = layers.Conv2D(cout, k, s, p, use_bias=False, implementation=impl)
  reference = nn.Conv(cout, (k, k), (s, s), padding=((p, p), (p, p)), use_bias=False)
  params = {'params': {'kernel': jnp.asarray(kernel)}}
  y, vjp = jax.vjp(lambda x_, v: module.apply(v, x_), jnp.asarray(x), params)
  y_ref, vjp_ref = jax.vjp(lambda x_, v: reference.apply(v, x_), jnp.asarray(x), params)
  cotangent = jnp.asarray(rng.standard_normal(y.shape).astype(np.float32))
  _assert_close(y, y_ref, 'conv output vs nn.Conv')
  jax.tree_util.tree_map(lambda a, e: _assert_close(a, e, 'conv grads vs nn.Conv'),
                         vjp(cotangent), vjp_ref(cotangent))
  xt = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float64, requires_grad=True)
  wt = torch.tensor(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), dtype=torch.float64, requires_grad=True)
  yt = torch.nn.functional.conv2d(xt, wt, stride=s, padding=p)
  yt.backward(torch.tensor(np.asarray(cotangent).transpose(0, 3, 1, 2), dtype=torch.float64))
  dx, dparams = vjp(cotangent)
  _assert_close(y, yt.detach().numpy().transpose(0, 2, 3, 1), 'conv output vs torch')
  _assert_close(dx, xt.grad.numpy().transpose(0, 2, 3, 1), 'conv d_input vs torch')
  _assert_close(dparams['params']['kernel'], wt.grad.numpy().transpose(2, 3, 1, 0),
                'conv d_kernel vs torch')


@pytest.mark.parametrize('kernel_grad', ['conv_kernel_grad', 'conv_kernel_grad_s2d',
                                         'conv_kernel_grad_fast'])
@pytest.mark.parametrize('config', CONV_CONFIGS, ids=[c[0] for c in CONV_CONFIGS])
def test_conv_kernel_gradients_match_xla(config, kernel_grad):
  """Both kernel-gradient forms (whichever the cost model picks) against XLA's autodiff."""
  _, h, k, s, p, cin, cout = config
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.standard_normal((2, h, h + 1, cin)).astype(np.float32))  # Rectangular.
  kernel = jnp.asarray(rng.standard_normal((k, k, cin, cout)).astype(np.float32))
  y, vjp = jax.vjp(lambda w: layers.conv_xla(x, w, s, p), kernel)
  g = jnp.asarray(rng.standard_normal(y.shape).astype(np.float32))
  (expected,) = vjp(g)
  _assert_close(getattr(layers, kernel_grad)(x, g, k, s, p), expected, kernel_grad)


def _assert_second_order_close(fn, ref, x, kernel, what):
  """Gradient of |d sum(sin(f(x, w))) / dx|^2 w.r.t. x and w (what R1 / WGAN-GP compute),
  for f = fn and f = ref."""
  def second_order(f):
    def penalty(x_, w_):
      grad_x = jax.grad(lambda a: jnp.sum(jnp.sin(f(a, w_))))(x_)
      return jnp.sum(grad_x ** 2)
    return jax.grad(penalty, argnums=(0, 1))(x, kernel)
  for a, e, name in zip(second_order(fn), second_order(ref), ('x', 'kernel')):
    _assert_close(a, e, f'{what} second-order grad wrt {name}')


@pytest.mark.parametrize('config', CONV_CONFIGS, ids=[c[0] for c in CONV_CONFIGS])
def test_space_to_depth_second_order(config):
  _, h, k, s, p, cin, cout = config
  rng = np.random.default_rng(4)
  x = jnp.asarray(rng.standard_normal((2, h, h, cin)).astype(np.float32))
  kernel = jnp.asarray(0.3 * rng.standard_normal((k, k, cin, cout)).astype(np.float32))
  _assert_second_order_close(lambda a, w: layers.conv_space_to_depth(a, w, s, p),
                             lambda a, w: layers.conv_xla(a, w, s, p), x, kernel, 'conv')
  # The transposed convolution maps the conv's output shape back to its input shape.
  y = layers.conv_xla(x, kernel, s, p)
  kt = kernel.transpose(0, 1, 3, 2)  # (k, k, C_y, C_x): transposed conv C_y -> C_x.
  if (y.shape[1] - 1) * s - 2 * p + k != h:
    return  # This geometry's transpose does not return to h (conv floor division).
  _assert_second_order_close(lambda a, w: layers.conv_transpose_space_to_depth(a, w, s, p),
                             lambda a, w: layers.conv_transpose_xla(a, w, s, p), y, kt,
                             'conv_transpose')


def test_dcgan_discriminator_same_for_every_conv_implementation():
  """D built on each Conv2D implementation: same logits, batch stats and parameter grads."""
  config = ml_collections.ConfigDict(dict(name='dcgan', g_width=4, d_width=4, latent_dim=3))
  shape = (28, 28, 1)
  x = jax.random.uniform(jax.random.PRNGKey(5), (3, *shape), minval=-1, maxval=1)

  def run(impl):
    config.conv_impl = impl
    nets = models.build_networks(config, shape)
    variables = nets.discriminator_init(jax.random.PRNGKey(0))

    def loss(params):
      logits, mutated = nets.discriminator_apply({**variables, 'params': params}, x,
                                                 train=True)
      return jnp.sum(jnp.tanh(logits)), (logits, mutated)
    grads, (logits, mutated) = jax.grad(loss, has_aux=True)(variables['params'])
    return logits, mutated, grads

  ref = run('xla')
  for impl in FAST_CONV_IMPLEMENTATIONS:
    got = run(impl)
    _assert_close(got[0], ref[0], f'{impl} logits')
    jax.tree_util.tree_map(lambda a, e: _assert_close(a, e, f'{impl} batch stats'),
                           got[1], ref[1])
    jax.tree_util.tree_map(
        lambda a, e: np.testing.assert_allclose(
            a, e, rtol=1e-4, atol=1e-4 * float(np.abs(e).max()), err_msg=f'{impl} grads'),
        got[2], ref[2])


def test_unknown_dcgan_conv_impl_is_a_clear_error():
  config = ml_collections.ConfigDict(dict(name='dcgan', g_width=4, d_width=4, latent_dim=3,
                                          conv_impl='fft'))
  with pytest.raises(ValueError, match="model.conv_impl 'fft'.*space_to_depth"):
    models.build_networks(config, (28, 28, 1))
