"""Conv2D / ConvTranspose2D implementations against PyTorch, nn.Conv and each other; the
'auto' default and the kernel-gradient autotuner.

Tolerances (float32, inputs/kernels ~ N(0, 1), sums of at most k*k*C_in products): every
output and gradient agrees to rtol = 1e-5 and atol = 1e-5 * max(1, max|reference|); the
implementations only reorder the same sums, so the errors seen are ~1e-6 relative.
tests/conftest.py sets GAN_JAX_CONV_AUTOTUNE=0 (the deterministic cost model); the autotune
tests switch it on with the cache file in a temporary directory.
"""

import json

import numpy as np
import pytest

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from configs import default as default_config
from gan_jax import models
from gan_jax.models import conv_kernels
from gan_jax.models import layers

# Concrete implementations ('auto' is one of them, chosen by backend; tested on its own).
IMPLEMENTATIONS = sorted(set(layers.CONV_TRANSPOSE_IMPLEMENTATIONS) - {layers.AUTO})

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
    ('k4s2p1_2x2', (2, 2), 4, 2, 1, 6, 3),    # A U-Net's innermost decoder layer.
    ('k4s2p1_to_1', (4, 4), 4, 2, 1, 9, 1),   # C_in > s*s*C_out (an image output layer).
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


def _dcgan_model_config(**dcgan_fields):
  """configs/default.py's model block (DCGAN) with the given model.dcgan fields."""
  config = default_config.get_config().model
  config.dcgan.update(dcgan_fields)
  return config


def _generator_outputs_and_grads(impl):
  config = _dcgan_model_config(conv_transpose_impl=impl)
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


@pytest.mark.slow  # ~10 s: compiles G once per implementation.
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
                ('k2s2p0', 6, 2, 2, 0, 3, 2),
                ('k4s2p1_to_1x1', 2, 4, 2, 1, 3, 4),   # U-Net innermost: central taps only.
                ('k4s2p1_to_2x2', 4, 4, 2, 1, 3, 4)]
FAST_CONV_IMPLEMENTATIONS = sorted(set(layers.CONV_IMPLEMENTATIONS) - {'xla', layers.AUTO})


def _conv_case(config, impl):
  """Conv2D(impl) on a random input: (x, kernel, y, vjp, cotangent, nn.Conv's y, vjp)."""
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
  return x, kernel, y, vjp, cotangent, y_ref, vjp_ref


@pytest.mark.parametrize('impl', FAST_CONV_IMPLEMENTATIONS)
@pytest.mark.parametrize('config', CONV_CONFIGS, ids=[c[0] for c in CONV_CONFIGS])
def test_conv_matches_nn_conv(config, impl):
  _, _, y, vjp, cotangent, y_ref, vjp_ref = _conv_case(config, impl)
  _assert_close(y, y_ref, 'conv output vs nn.Conv')
  jax.tree_util.tree_map(lambda a, e: _assert_close(a, e, 'conv grads vs nn.Conv'),
                         vjp(cotangent), vjp_ref(cotangent))


@pytest.mark.parametrize('impl', FAST_CONV_IMPLEMENTATIONS)
@pytest.mark.parametrize('config', CONV_CONFIGS, ids=[c[0] for c in CONV_CONFIGS])
def test_conv_matches_pytorch(config, impl):
  torch = pytest.importorskip('torch')
  _, _, k, s, p, _, _ = config
  x, kernel, y, vjp, cotangent, _, _ = _conv_case(config, impl)
  xt = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float64, requires_grad=True)
  wt = torch.tensor(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), dtype=torch.float64,
                    requires_grad=True)
  yt = torch.nn.functional.conv2d(xt, wt, stride=s, padding=p)
  yt.backward(torch.tensor(np.asarray(cotangent).transpose(0, 3, 1, 2), dtype=torch.float64))
  dx, dparams = vjp(cotangent)
  _assert_close(y, yt.detach().numpy().transpose(0, 2, 3, 1), 'conv output vs torch')
  _assert_close(dx, xt.grad.numpy().transpose(0, 2, 3, 1), 'conv d_input vs torch')
  _assert_close(dparams['params']['kernel'], wt.grad.numpy().transpose(2, 3, 1, 0),
                'conv d_kernel vs torch')


def _kernel_grad_case(config, seed=3):
  """x (rectangular), cotangent g and XLA's jax.grad kernel gradient of conv_xla."""
  _, h, k, s, p, cin, cout = config
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal((2, h, h + 1, cin)).astype(np.float32))
  kernel = jnp.asarray(rng.standard_normal((k, k, cin, cout)).astype(np.float32))
  y = conv_kernels.conv_xla(x, kernel, s, p)
  g = jnp.asarray(rng.standard_normal(y.shape).astype(np.float32))
  expected = jax.grad(lambda w: jnp.vdot(conv_kernels.conv_xla(x, w, s, p), g))(kernel)
  return x, g, expected


@pytest.mark.parametrize('form', [*conv_kernels.KERNEL_GRADS, 'fast (cost model)'])
@pytest.mark.parametrize('config', CONV_CONFIGS, ids=[c[0] for c in CONV_CONFIGS])
def test_conv_kernel_gradients_match_xla(config, form):
  """Every kernel-gradient form the autotuner may pick, and the cost model's pick, against
  jax.grad of XLA's convolution."""
  _, _, k, s, p, _, _ = config
  x, g, expected = _kernel_grad_case(config)
  fn = conv_kernels.KERNEL_GRADS.get(form, conv_kernels.conv_kernel_grad_fast)
  _assert_close(fn(x, g, k, s, p), expected, form)


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
  _assert_second_order_close(lambda a, w: conv_kernels.conv_space_to_depth(a, w, s, p),
                             lambda a, w: conv_kernels.conv_xla(a, w, s, p), x, kernel, 'conv')
  # The transposed convolution of the conv's output shape (for 4-3-1, 5-2-2 and 4-2-1 on an
  # odd map its output is one pixel short of h: the conv's floor division).
  y = conv_kernels.conv_xla(x, kernel, s, p)
  kt = kernel.transpose(0, 1, 3, 2)  # (k, k, C_y, C_x): transposed conv C_y -> C_x.
  _assert_second_order_close(
      lambda a, w: conv_kernels.conv_transpose_space_to_depth(a, w, s, p),
      lambda a, w: conv_kernels.conv_transpose_xla(a, w, s, p), y, kt, 'conv_transpose')


def test_dcgan_discriminator_same_for_every_conv_implementation():
  """D built on each Conv2D implementation: same logits, batch stats and parameter grads."""
  config = _dcgan_model_config()
  config.g_width = config.d_width = 4
  shape = (28, 28, 1)
  x = jax.random.uniform(jax.random.PRNGKey(5), (3, *shape), minval=-1, maxval=1)

  def run(impl):
    config.dcgan.conv_impl = impl
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
  config = _dcgan_model_config(conv_impl='fft')
  with pytest.raises(ValueError, match="conv_impl.*'fft'.*space_to_depth"):
    models.build_networks(config, (28, 28, 1))


# ---- 'auto': space_to_depth on CPU, XLA's convolution elsewhere ---------------------------


@pytest.mark.parametrize('backend, expected', [('cpu', 'space_to_depth'), ('gpu', 'xla'),
                                               ('tpu', 'xla')])
def test_auto_resolves_by_backend(monkeypatch, backend, expected):
  monkeypatch.setattr(jax, 'default_backend', lambda: backend)
  assert layers.resolve_implementation('auto') == expected
  assert layers.resolve_implementation('phase') == 'phase'  # Explicit names are kept.
  assert layers.DEFAULT_CONV_IMPLEMENTATION == layers.DEFAULT_CONV_TRANSPOSE_IMPLEMENTATION
  assert layers.DEFAULT_CONV_IMPLEMENTATION == 'auto'
  # The modules trace the resolved function: a custom_vjp exactly when it is space_to_depth.
  for module in (layers.Conv2D(3, 4, 2, 1, implementation='auto'),
                 layers.ConvTranspose2D(3, 4, 2, 1, implementation='auto')):
    x = jnp.ones((1, 6, 6, 2))
    variables = module.init(jax.random.PRNGKey(0), x)
    jaxpr = str(jax.make_jaxpr(lambda v: module.apply(v, x))(variables))
    assert ('custom_vjp' in jaxpr) == (expected == 'space_to_depth'), (backend, jaxpr)


# (strided?, input side, stride, C_in, C_out, the form 'auto' picks on the CPU)
AUTO_CASES = [
    (True, 8, 2, 8, 8, 'space_to_depth'),   # 4x4 output.
    (True, 4, 2, 8, 8, 'matmul'),           # 2x2 output: a U-Net's inner encoder layer.
    (True, 2, 2, 8, 8, 'matmul'),           # 1x1 output (a dense matmul).
    (False, 4, 2, 8, 8, 'space_to_depth'),  # 4x4 input, C_in <= s*s*C_out.
    (False, 2, 2, 8, 8, 'matmul'),          # 2x2 input: a U-Net's inner decoder layer.
    (False, 8, 2, 8, 1, 'matmul'),          # C_in > s*s*C_out: G's output layer.
]


@pytest.mark.parametrize('strided, side, stride, cin, cout, expected', AUTO_CASES)
def test_auto_picks_the_form_per_shape(monkeypatch, strided, side, stride, cin, cout, expected):
  x_shape = (2, side, side, cin)
  assert layers.auto_form(x_shape, 4, stride, 1, cout, transposed=not strided,
                          backend='cpu') == expected
  assert layers.auto_form(x_shape, 4, stride, 1, cout, transposed=not strided,
                          backend='gpu') == 'xla'
  # The module computes that form: the same function and gradients as the named form.
  monkeypatch.setattr(jax, 'default_backend', lambda: 'cpu')
  cls = layers.Conv2D if strided else layers.ConvTranspose2D
  x = jnp.asarray(np.random.default_rng(3).standard_normal(x_shape), jnp.float32)
  auto, named = (cls(cout, 4, stride, 1, implementation=i) for i in ('auto', expected))
  variables = auto.init(jax.random.PRNGKey(0), x)
  jaxprs = [str(jax.make_jaxpr(jax.grad(lambda v, m=m: jnp.sum(m.apply(v, x) ** 2)))(variables))
            for m in (auto, named)]
  assert jaxprs[0] == jaxprs[1]
  assert ('custom_vjp' in jaxprs[0]) == (expected == 'space_to_depth')


def _dcgan_jvp_dot_test(image_size=16):
  """Forward mode through DCGAN G and D (default config, narrow), checked by the dot-product
  identity <J v, u> = <v, J^T u> against reverse mode; relative tolerance 1e-4."""
  config = _dcgan_model_config()
  config.g_width = config.d_width = 4
  config.latent_dim = 5
  shape = (image_size, image_size, 1)
  nets = models.build_networks(config, shape)
  g_vars = nets.generator_init(jax.random.PRNGKey(0))
  d_vars = nets.discriminator_init(jax.random.PRNGKey(1))
  keys = jax.random.split(jax.random.PRNGKey(2), 4)
  z, z_dot = (jax.random.normal(k, (3, 5)) for k in keys[:2])
  x, x_dot = (jax.random.uniform(k, (3, *shape), minval=-1, maxval=1) for k in keys[2:])
  # Outputs flattened to one vector (D's output may be a pytree of logits).
  generator = lambda z_: ravel_pytree(nets.generator_apply(g_vars, z_, train=False)[0])[0]
  discriminator = lambda x_: ravel_pytree(
      nets.discriminator_apply(d_vars, x_, train=False)[0])[0]
  for fn, primal, tangent in ((generator, z, z_dot), (discriminator, x, x_dot)):

    @jax.jit
    def dot_products(primal, tangent, fn=fn):
      out, out_dot = jax.jvp(fn, (primal,), (tangent,))
      u = jax.random.normal(jax.random.PRNGKey(3), out.shape)
      (vjp_u,) = jax.vjp(fn, primal)[1](u)
      return jnp.vdot(out_dot, u), jnp.vdot(tangent, vjp_u)
    np.testing.assert_allclose(*dot_products(primal, tangent), rtol=1e-4)


@pytest.mark.parametrize('backend', ['gpu', 'tpu'])
def test_dcgan_forward_mode_with_non_cpu_default(monkeypatch, backend):
  monkeypatch.setattr(jax, 'default_backend', lambda: backend)
  _dcgan_jvp_dot_test()


def test_dcgan_forward_mode_fails_with_cpu_default(monkeypatch):
  """The same check on CPU, where 'auto' is the custom-VJP form: jvp is refused."""
  monkeypatch.setattr(jax, 'default_backend', lambda: 'cpu')
  with pytest.raises(TypeError, match='custom_vjp'):
    _dcgan_jvp_dot_test()


# ---- Kernel-gradient autotuning --------------------------------------------------------


@pytest.fixture
def autotune(monkeypatch, tmp_path):
  """Autotuning on, a fresh in-process cache and budget, the cache file under tmp_path."""
  monkeypatch.setenv(conv_kernels.AUTOTUNE_ENV, '1')
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
  monkeypatch.setattr(conv_kernels, '_tuned', {})
  monkeypatch.setattr(conv_kernels, '_tuning_seconds', [0.0])
  return tmp_path / 'gan_jax' / 'conv_autotune.json'


def _fake_timer(monkeypatch, seconds):
  """Replaces the timing with fixed results; returns the list of the shapes it was asked."""
  calls = []

  def fake(x_shape, g_shape, *args, **kwargs):
    del args, kwargs
    calls.append((x_shape, g_shape))
    return dict(seconds)
  monkeypatch.setattr(conv_kernels, 'time_kernel_grads', fake)
  return calls


GEOMETRY = ((4, 8, 8, 3), (4, 4, 4, 5), 4, 2, 1, jnp.float32)  # x, g, k, s, p, dtype


def test_autotune_picks_the_fastest_once_and_caches_it(autotune, monkeypatch):
  calls = _fake_timer(monkeypatch, {'im2col': 3e-3, 'shifted': 1e-3, 'xla': 2e-3})
  assert conv_kernels.choose_kernel_grad(*GEOMETRY) == 'shifted'
  assert conv_kernels.choose_kernel_grad(*GEOMETRY) == 'shifted'
  assert len(calls) == 1  # Timed once per shape.
  entries = json.loads(autotune.read_text())
  (key,) = entries
  assert '4x8x8x3' in key and '4x4x4x5' in key and jax.__version__ in key, key
  assert entries[key] == {'choice': 'shifted', 'ms': {'im2col': 3.0, 'shifted': 1.0,
                                                        'xla': 2.0}}
  # A new process (empty in-process cache) reads the file instead of timing again.
  monkeypatch.setattr(conv_kernels, '_tuned', {})
  entries[key]['choice'] = 'xla'
  autotune.write_text(json.dumps(entries))
  assert conv_kernels.choose_kernel_grad(*GEOMETRY) == 'xla'
  assert len(calls) == 1
  made = conv_kernels.choices_made()
  assert made[(*GEOMETRY[:5], 'float32', 'timed')] == 'shifted'
  assert made[(*GEOMETRY[:5], 'float32', 'cache file')] == 'xla'
  # Another shape is timed on its own.
  other = ((8, 8, 8, 3), (8, 4, 4, 5), *GEOMETRY[2:])
  assert conv_kernels.choose_kernel_grad(*other) == 'shifted'
  assert len(calls) == 2 and len(json.loads(autotune.read_text())) == 2


def test_autotune_off_or_over_budget_uses_the_cost_model(autotune, monkeypatch):
  calls = _fake_timer(monkeypatch, {'im2col': 1.0, 'shifted': 1.0, 'xla': 1e-9})
  model = conv_kernels.kernel_grad_cost_model(*GEOMETRY[:4])
  monkeypatch.setattr(conv_kernels, '_tuning_seconds', [conv_kernels.AUTOTUNE_BUDGET_S])
  assert conv_kernels.choose_kernel_grad(*GEOMETRY) == model
  assert not calls and not autotune.exists()  # Not timed, nothing persisted.
  monkeypatch.setattr(conv_kernels, '_tuned', {})
  monkeypatch.setenv(conv_kernels.AUTOTUNE_ENV, '0')
  assert conv_kernels.choose_kernel_grad(*GEOMETRY) == model
  assert not calls
  monkeypatch.setenv(conv_kernels.AUTOTUNE_ENV, 'yes')
  with pytest.raises(ValueError, match='GAN_JAX_CONV_AUTOTUNE.*1.*0'):
    conv_kernels.choose_kernel_grad(*GEOMETRY)


def test_autotune_times_for_real_inside_jit(autotune):
  """First trace of a space-to-depth gradient times the three forms outside the trace; the
  gradient (of the form picked) matches XLA's."""
  config = ('k4s2p1_odd', 7, 4, 2, 1, 3, 2)
  _, h, k, s, p, cin, cout = config
  rng = np.random.default_rng(6)
  x = jnp.asarray(rng.standard_normal((2, h, h, cin)).astype(np.float32))
  kernel = jnp.asarray(rng.standard_normal((k, k, cin, cout)).astype(np.float32))

  def grads(conv):
    return jax.jit(jax.grad(lambda x_, w: jnp.sum(jnp.sin(conv(x_, w, s, p))),
                            argnums=(0, 1)))(x, kernel)
  for a, e in zip(grads(conv_kernels.conv_space_to_depth), grads(conv_kernels.conv_xla)):
    _assert_close(a, e, 'autotuned space_to_depth grads vs xla')
  (entry,) = json.loads(autotune.read_text()).values()
  assert set(entry['ms']) == set(conv_kernels.KERNEL_GRADS)
  assert all(t > 0 for t in entry['ms'].values()), entry
  assert entry['ms'][entry['choice']] == min(entry['ms'].values()), entry  # ms are rounded.
