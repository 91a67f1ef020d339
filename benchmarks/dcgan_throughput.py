r"""DCGAN throughput: the gan_jax train step against the PyTorch peer, in one process.

  python -m benchmarks.dcgan_throughput --image_size 28 64
  python -m benchmarks.dcgan_throughput --image_size 28 --impl xla phase_matmul xla_matmul_grad
  python -m benchmarks.dcgan_throughput --mode generator   # whole-G fwd+bwd per implementation
  python -m benchmarks.dcgan_throughput --mode layers      # each G layer per implementation
  python -m benchmarks.dcgan_throughput --mode ops         # D and G conv ops vs PyTorch's
  python -m benchmarks.dcgan_throughput --real_data        # + the step fed by the data pipeline
  python -m benchmarks.dcgan_throughput --autotune 0 1     # cost model vs timed kernel grads

Modes:
  train_step (default): 1 D + 1 G update, batch 64 (configs/dcgan.py), jitted with the state
    donated, no host sync inside a timed block. JAX and torch blocks alternate, `--repeats`
    times, so both see the same machine load; medians are reported, with their ratio.
  generator: forward + parameter gradient of the whole generator, per implementation.
  layers: forward, kernel gradient, input gradient and all three together, per G layer.
  ops: forward, input gradient and kernel gradient of every stride-2 layer (D's convs, G's
    transposed convs) for the gan_jax implementations and for PyTorch, with each op's
    GFLOP/s and fraction of the measured peak: where the step's time goes, op by op.

Also printed: compile time (for 'auto' / 'space_to_depth' it includes timing the kernel-
gradient forms of each new layer shape, unless the autotune cache already holds them), the
kernel-gradient form chosen per layer shape, peak RSS / device memory, FLOPs per step (XLA
cost analysis and an analytic count of the convolutions) and the fraction of the machine's
peak, measured in the same command as the rate of a large f32 matmul.
"""

import argparse
import os
import resource
import statistics
import sys
import time

import jax
import jax.numpy as jnp

from configs import dcgan as dcgan_config
from configs import default as default_config
from gan_jax import data, models, state as state_lib, train_step as train_step_lib
from gan_jax.models import conv_kernels
from gan_jax.models import dcgan as dcgan_lib
from gan_jax.models import layers

CHANNELS = {28: 1, 32: 3, 64: 3}


def _median_time(fn, reps):
  times = []
  for _ in range(reps):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def measure_peak_flops(device_kind: str, reps: int = 5) -> float:
  """FLOP/s of a large f32 matmul (2048^3 on CPU, 8192^3 on GPU): the practical peak."""
  n = 2048 if device_kind == 'cpu' else 8192
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  matmul = jax.jit(lambda a: a @ a)
  jax.block_until_ready(matmul(a))
  return 2 * n ** 3 / _median_time(lambda: matmul(a), reps)


def analytic_flops_per_image(image_size: int, channels: int, width: int = 64,
                             latent_dim: int = 100) -> dict:
  """Multiply-add FLOPs (x2) of DCGAN's convolutions, forward, per image.

  A train step (1 D + 1 G update, canonical iteration) costs about
  3 * G_fwd (forward + input and kernel gradients) + 9 * D_fwd (three D passes, real, fake
  for D, fake for G, each forward + backward); BatchNorm and activations are not counted.
  """
  base, stages = dcgan_lib._geometry(image_size)  # pylint: disable=protected-access
  g = 2 * latent_dim * base * base * width * 2 ** (stages - 1)
  size, feats = base, width * 2 ** (stages - 1)
  for i in range(stages):
    out = channels if i == stages - 1 else feats // 2
    g += 2 * size * size * feats * 16 * out  # Each input pixel scatters a 4x4 x out patch.
    size, feats = size * 2, out
  d, size, feats = 0, image_size, channels
  for i in range(stages):
    out = width * 2 ** i
    size //= 2
    d += 2 * size * size * 16 * feats * out
    feats = out
  d += 2 * base * base * feats
  return dict(g_fwd=g, d_fwd=d, train_step=3 * g + 9 * d)


def _config(image_size, impl, compute_dtype, batch_size):
  config = dcgan_config.get_config()
  config.batch_size = batch_size
  dcgan = config.model.dcgan
  dcgan.conv_transpose_impl = impl
  # D's strided convolutions too, where defined ('auto', 'xla', 'xla_matmul_grad',
  # 'space_to_depth').
  dcgan.conv_impl = impl if impl in layers.CONV_IMPLEMENTATIONS else 'xla'
  config.model.compute_dtype = compute_dtype
  return config


def _peak_memory():
  rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  stats = jax.devices()[0].memory_stats() or {}
  dev = stats.get('peak_bytes_in_use')
  return rss_mb, (dev / 2 ** 20 if dev else None)


def _real_batches(shape, batch_size):
  """Batches from the training pipeline on the embedded data, at `shape`."""
  dataset = default_config.get_config().dataset
  dataset.image_size, dataset.channels = shape[0], shape[2]
  source = data.load_source(dataset)
  return data.batches(source, global_batch=batch_size, n_critic=1, seed=0, start_step=0,
                      num_steps=10**9)


def bench_train_step(args, image_size, peak_flops):
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks import torch_dcgan  # pylint: disable=g-import-not-at-top
  channels = CHANNELS.get(image_size, 3)
  shape = (image_size, image_size, channels)
  flops = analytic_flops_per_image(image_size, channels)
  print(f'\n=== DCGAN-{image_size} ({image_size}x{image_size}x{channels}), batch '
        f'{args.batch_size}, {args.steps} steps per block, {args.repeats} blocks ===')
  print(f'analytic conv FLOPs per step: {flops["train_step"] * args.batch_size / 1e9:.2f} G '
        f'(G fwd {flops["g_fwd"] / 1e6:.1f} M, D fwd {flops["d_fwd"] / 1e6:.1f} M per image)')
  runners = {}
  env_autotune = os.environ.get(conv_kernels.AUTOTUNE_ENV)
  variants = [(impl, tune) for impl in args.impl for tune in (args.autotune or [None])]
  for impl, tune in variants:
    name = impl if tune is None else f'{impl} tune={tune}'
    if tune is not None:  # Read when the step is traced (compiled) below.
      os.environ[conv_kernels.AUTOTUNE_ENV] = tune
    config = _config(image_size, impl, args.compute_dtype, args.batch_size)
    networks = models.build_networks(config.model, shape)
    key = jax.random.PRNGKey(0)
    state = state_lib.create_state(config, networks, key)
    batch = dict(image=jax.random.uniform(key, (args.batch_size, *shape), minval=-1, maxval=1),
                 label=jnp.zeros((args.batch_size,), jnp.int32))
    step = jax.jit(train_step_lib.make_train_step(config, networks), donate_argnums=(0,))
    start = time.perf_counter()
    compiled = step.lower(state, batch, key).compile()
    compile_s = time.perf_counter() - start
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    xla_flops = float(cost.get('flops', float('nan'))) if cost else float('nan')
    for _ in range(args.warmup):
      state, metrics = compiled(state, batch, key)
    jax.block_until_ready(state)
    runners[name] = dict(compiled=compiled, state=state, batch=batch, key=key, rates=[],
                         compile_s=compile_s, xla_flops=xla_flops, batches=None)
    if args.real_data:
      # The same step fed by the real input pipeline (embedded MNIST digits, resized and
      # channel-converted to the benchmark's shape), one host->device batch per step.
      runners[name + '+data'] = dict(runners[name], state=jax.tree_util.tree_map(
          jnp.copy, state), rates=[], batches=_real_batches(shape, args.batch_size))
  if env_autotune is None:
    os.environ.pop(conv_kernels.AUTOTUNE_ENV, None)
  else:
    os.environ[conv_kernels.AUTOTUNE_ENV] = env_autotune
  torch_runner = None
  if not args.skip_torch:
    torch.set_num_threads(args.threads or torch_dcgan.available_cores())
    torch_device = 'cuda' if args.device == 'gpu' else 'cpu'
    torch_runner = torch_dcgan.DCGANTrainer(image_size, channels, args.batch_size,
                                            torch_device)
    for _ in range(args.warmup):
      torch_runner.step()
    torch_runner.synchronize()
  torch_rates = []
  for _ in range(args.repeats):
    for impl, r in runners.items():  # Alternate: same load for everybody.
      start = time.perf_counter()
      state = r['state']
      for _ in range(args.steps):
        batch = r['batch'] if r['batches'] is None else jax.device_put(next(r['batches']))
        state, metrics = r['compiled'](state, batch, r['key'])
      jax.block_until_ready((state, metrics))
      r['rates'].append(args.batch_size * args.steps / (time.perf_counter() - start))
      r['state'] = state
    if torch_runner is not None:
      start = time.perf_counter()
      for _ in range(args.steps):
        torch_runner.step()
      torch_runner.synchronize()
      torch_rates.append(args.batch_size * args.steps / (time.perf_counter() - start))
  torch_rate = statistics.median(torch_rates) if torch_rates else float('nan')
  if torch_runner is not None:
    print(f'torch {torch.__version__} ({torch.get_num_threads()} threads): '
          f'{torch_rate:7.1f} img/s  blocks {[round(x) for x in torch_rates]}  '
          f'{torch_rate * flops["train_step"] / peak_flops * 100:.1f}% of peak')
  for impl, r in runners.items():
    rate = statistics.median(r['rates'])
    achieved = rate * flops['train_step']
    print(f'gan_jax {impl:16s}: {rate:7.1f} img/s  blocks {[round(x) for x in r["rates"]]}  '
          f'ratio vs torch {rate / torch_rate:5.2f}x  compile {r["compile_s"]:.1f} s  '
          f'XLA flops/step {r["xla_flops"] / 1e9:.2f} G  '
          f'{achieved / 1e9:.1f} GFLOP/s = {achieved / peak_flops * 100:.1f}% of peak')
  rss, dev = _peak_memory()
  print(f'peak RSS {rss:.0f} MiB (whole process, both frameworks)'
        + (f', device peak {dev:.0f} MiB' if dev else ''))
  _print_kernel_grad_choices()


_PRINTED_CHOICES = set()


def _print_kernel_grad_choices():
  """The kernel-gradient form of every conv shape traced so far (space-to-depth layers)."""
  if conv_kernels.autotune_seconds():
    print(f'kernel-gradient autotuning so far: {conv_kernels.autotune_seconds():.1f} s '
          '(part of the compile times above; choices in '
          f'{conv_kernels.autotune_cache_path()})')
  for key, form in conv_kernels.choices_made().items():
    if key not in _PRINTED_CHOICES:
      _PRINTED_CHOICES.add(key)
      x_shape, g_shape, k, s, p, dtype, how = key
      print(f'kernel gradient of conv {x_shape} -> {g_shape} k{k} s{s} p{p} {dtype}: {form} '
            f'({how})')


def _generator_fn(impl, image_size, batch_size, compute_dtype):
  channels = CHANNELS.get(image_size, 3)
  config = _config(image_size, impl, compute_dtype, batch_size)
  networks = models.build_networks(config.model, (image_size, image_size, channels))
  variables = networks.generator_init(jax.random.PRNGKey(0))
  z = jax.random.normal(jax.random.PRNGKey(1), (batch_size, 100))
  cot = jax.random.normal(jax.random.PRNGKey(2), (batch_size, image_size, image_size, channels))

  @jax.jit
  def fwd_bwd(params):
    fn = lambda p: networks.generator_apply({**variables, 'params': p}, z, train=True)[0]
    images, vjp = jax.vjp(fn, params)
    return images, vjp(cot)[0]
  return fwd_bwd, variables['params']


def bench_generator(args, image_size):
  print(f'\n=== DCGAN-{image_size} generator forward + parameter gradient, batch '
        f'{args.batch_size} (ms, median of {args.repeats}; implementations interleaved) ===')
  fns, compile_s, times = {}, {}, {}
  for impl in args.impl:
    fn, params = _generator_fn(impl, image_size, args.batch_size, args.compute_dtype)
    start = time.perf_counter()
    jax.block_until_ready(fn(params))
    compile_s[impl] = time.perf_counter() - start
    fns[impl], times[impl] = (fn, params), []
  for _ in range(args.repeats):
    for impl, (fn, params) in fns.items():
      start = time.perf_counter()
      jax.block_until_ready(fn(params))
      times[impl].append(time.perf_counter() - start)
  base = statistics.median(times[args.impl[0]])
  for impl in args.impl:
    t = statistics.median(times[impl])
    print(f'{impl:16s}: {t * 1e3:8.1f} ms  ({base / t:5.2f}x vs {args.impl[0]})  '
          f'first call (compile+run) {compile_s[impl]:.1f} s')


def bench_layers(args, image_size):
  channels = CHANNELS.get(image_size, 3)
  base, stages = dcgan_lib._geometry(image_size)  # pylint: disable=protected-access
  feats = 64 * 2 ** (stages - 1)
  specs = [(1, base, 1, 0, 100, feats)]
  size = base
  for i in range(stages):
    out = channels if i == stages - 1 else feats // 2
    specs.append((size, 4, 2, 1, feats, out))
    size, feats = size * 2, out
  dtype = jnp.bfloat16 if args.compute_dtype == 'bfloat16' else jnp.float32
  n = args.batch_size
  print(f'\n=== DCGAN-{image_size} generator layers, batch {n}, {args.compute_dtype} '
        f'(ms, median of {args.repeats}, implementations interleaved) ===')
  for h, k, s, p, cin, cout in specs:
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (n, h, h, cin), dtype)
    w = (0.02 * jax.random.normal(key, (k, k, cin, cout))).astype(dtype)
    ho = (h - 1) * s - 2 * p + k
    g = jax.random.normal(key, (n, ho, ho, cout), dtype)
    fns = {}
    for impl in args.impl:
      f = lambda x, w, impl=impl: layers.CONV_TRANSPOSE_IMPLEMENTATIONS[impl](x, w, s, p)
      fns[impl] = dict(
          fwd=jax.jit(f),
          d_kernel=jax.jit(lambda x, w, g, f=f: jax.vjp(lambda w: f(x, w), w)[1](g)),
          d_input=jax.jit(lambda x, w, g, f=f: jax.vjp(lambda x: f(x, w), x)[1](g)),
          all=jax.jit(lambda x, w, g, f=f: (lambda y, vjp: (y, vjp(g)))(*jax.vjp(f, x, w))))
    times = {(i, m): [] for i in fns for m in fns[i]}
    compile_s = {}
    for impl, ms in fns.items():
      start = time.perf_counter()
      for m, fn in ms.items():
        jax.block_until_ready(fn(x, w) if m == 'fwd' else fn(x, w, g))
      compile_s[impl] = time.perf_counter() - start
    for _ in range(args.repeats):
      for impl, ms in fns.items():
        for m, fn in ms.items():
          start = time.perf_counter()
          jax.block_until_ready(fn(x, w) if m == 'fwd' else fn(x, w, g))
          times[(impl, m)].append(time.perf_counter() - start)
    print(f'{h}x{h}x{cin} -> {ho}x{ho}x{cout} (k{k} s{s} p{p})')
    for impl in fns:
      med = {m: statistics.median(times[(impl, m)]) * 1e3 for m in fns[impl]}
      print(f'    {impl:16s} fwd {med["fwd"]:7.1f}  dW {med["d_kernel"]:7.1f}  '
            f'dX {med["d_input"]:7.1f}  fwd+dX+dW {med["all"]:7.1f}   '
            f'(compile, 4 fns {compile_s[impl]:.1f} s)')
    sys.stdout.flush()


def _dcgan_conv_specs(image_size):
  """(kind, H_in, C_in, C_out) of every stride-2 k4 p1 layer: D's convs, G's transposed."""
  channels = CHANNELS.get(image_size, 3)
  base, stages = dcgan_lib._geometry(image_size)  # pylint: disable=protected-access
  widths = [64 * 2 ** i for i in range(stages)]
  d = [('D conv', base * 2 ** (stages - i), ([channels] + widths)[i], widths[i])
       for i in range(stages)]
  g = [('G conv_t', base * 2 ** i, widths[stages - 1 - i],
        ([channels] + widths)[stages - 1 - i]) for i in range(stages)]
  return d + g


def _torch_conv_ops(transposed, n, h, ho, cin, cout):
  """The three ops of one layer in PyTorch (oneDNN on CPU): fwd, input grad, kernel grad."""
  import torch  # pylint: disable=g-import-not-at-top
  x, g = torch.randn(n, cin, h, h), torch.randn(n, cout, ho, ho)
  w = torch.randn(*((cin, cout) if transposed else (cout, cin)), 4, 4) * 0.02
  fwd = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d
  bwd = lambda mask: torch.ops.aten.convolution_backward(
      g, x, w, None, [2, 2], [1, 1], [1, 1], transposed, [0, 0], 1, mask)
  return dict(fwd=lambda: fwd(x, w, stride=2, padding=1),
              d_input=lambda: bwd([True, False, False]),
              d_kernel=lambda: bwd([False, True, False]))


def bench_ops(args, image_size, peak_flops):
  """fwd / dX / dW of every stride-2 layer, gan_jax implementations against PyTorch."""
  import torch  # pylint: disable=g-import-not-at-top
  n = args.batch_size
  print(f'\n=== DCGAN-{image_size} conv ops, batch {n}, float32: ms (GFLOP/s, % of the '
        f'{peak_flops / 1e9:.0f} GFLOP/s matmul peak), median of {args.repeats} ===')
  totals = {}
  for kind, h, cin, cout in _dcgan_conv_specs(image_size):
    transposed = kind != 'D conv'
    ho = 2 * h if transposed else h // 2
    flops = 2 * n * min(h, ho) ** 2 * 16 * cin * cout  # Same for each of the three ops.
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (n, h, h, cin))
    w = 0.02 * jax.random.normal(key, (4, 4, cin, cout))
    g = jax.random.normal(key, (n, ho, ho, cout))
    rows = {}
    for impl in args.impl:
      table = (layers.CONV_TRANSPOSE_IMPLEMENTATIONS if transposed
               else layers.CONV_IMPLEMENTATIONS)
      if impl not in table:
        continue
      f = lambda x, w, fn=table[impl]: fn(x, w, 2, 1)
      fns = dict(fwd=jax.jit(f),
                 d_input=jax.jit(lambda x, w, g, f=f: jax.vjp(lambda x: f(x, w), x)[1](g)),
                 d_kernel=jax.jit(lambda x, w, g, f=f: jax.vjp(lambda w: f(x, w), w)[1](g)))
      rows[impl] = {m: (lambda fn=fn, m=m: fn(x, w) if m == 'fwd' else fn(x, w, g))
                    for m, fn in fns.items()}
    if not args.skip_torch:
      rows[f'torch {torch.__version__}'] = _torch_conv_ops(transposed, n, h, ho, cin, cout)
    print(f'{kind} {h}x{h}x{cin} -> {ho}x{ho}x{cout}  ({flops / 1e9:.2f} GFLOP per op)')
    for name, ops in rows.items():
      for fn in ops.values():
        jax.block_until_ready(fn())  # Compile (gan_jax) / warm up (torch) outside the timing.
      med = {m: _median_time(fn, args.repeats) * 1e3 for m, fn in ops.items()}
      totals[name] = totals.get(name, 0.0) + sum(med.values())
      cells = '  '.join(f'{m} {t:6.1f} ({flops / t / 1e6:4.0f}, '
                        f'{flops / t / 1e6 / (peak_flops / 1e9) * 100:3.0f}%)'
                        for m, t in med.items())
      print(f'    {name:18s} {cells}')
    sys.stdout.flush()
  print('sum of the three ops over all layers: '
        + ', '.join(f'{name} {t:.0f} ms' for name, t in totals.items()))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--image_size', type=int, nargs='+', default=[28, 64])
  parser.add_argument('--mode', choices=['train_step', 'generator', 'layers', 'ops'],
                      default='train_step')
  parser.add_argument('--impl', nargs='+', default=None,
                      help='layer implementations (default: all but auto for '
                           'generator/layers; xla_matmul_grad and space_to_depth for ops; '
                           'the default, auto, for train_step)')
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--steps', type=int, default=5, help='steps per timed block')
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--threads', type=int, default=0, help='torch threads (0: all cores)')
  parser.add_argument('--compute_dtype', choices=['float32', 'bfloat16'], default='float32')
  parser.add_argument('--device', choices=['cpu', 'gpu'], default=None)
  parser.add_argument('--skip_torch', action='store_true')
  parser.add_argument('--autotune', nargs='+', choices=['0', '1'], default=None,
                      help='train_step: build the step once per value of '
                           f'{conv_kernels.AUTOTUNE_ENV} (1: timed kernel-gradient forms, '
                           '0: cost model) and alternate their blocks; default: the '
                           'environment as it is')
  parser.add_argument('--real_data', action='store_true',
                      help='also time the step fed by the real data pipeline (img/s with '
                           'real data vs the fixed in-memory batch)')
  args = parser.parse_args(argv)
  if args.impl is None:
    args.impl = ([layers.DEFAULT_CONV_TRANSPOSE_IMPLEMENTATION] if args.mode == 'train_step'
                 else ['xla_matmul_grad', 'space_to_depth'] if args.mode == 'ops'
                 else ['xla'] + sorted(set(layers.CONV_TRANSPOSE_IMPLEMENTATIONS)
                                       - {'xla', layers.AUTO}))
  platform = jax.devices()[0].platform
  args.device = args.device or ('gpu' if platform == 'gpu' else 'cpu')
  if args.device == 'gpu' and platform != 'gpu':
    raise SystemExit(f'--device gpu but JAX sees only {jax.devices()}; install jax[cuda12].')
  print(f'jax {jax.__version__} on {jax.devices()[0].device_kind} ({platform}), '
        f'{len(os.sched_getaffinity(0))} cores available; kernel-gradient autotuning '
        f'{"on" if conv_kernels.autotune_enabled() else "off"} ({conv_kernels.AUTOTUNE_ENV})')
  if layers.AUTO in args.impl:
    print(f"'{layers.AUTO}' is {layers.resolve_implementation(layers.AUTO)!r} here (per layer "
          "shape: layers.auto_form picks 'matmul' for small maps)")
  peak = None
  if args.mode in ('train_step', 'ops'):
    peak = measure_peak_flops(args.device)
    print(f'measured peak (f32 matmul): {peak / 1e9:.0f} GFLOP/s')
  for size in args.image_size:
    if args.mode == 'train_step':
      bench_train_step(args, size, peak)
    elif args.mode == 'generator':
      bench_generator(args, size)
    elif args.mode == 'ops':
      bench_ops(args, size, peak)
    else:
      bench_layers(args, size)


if __name__ == '__main__':
  main()
