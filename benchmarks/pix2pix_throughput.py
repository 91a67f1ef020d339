r"""pix2pix throughput: the gan_jax train step against the PyTorch peer, in one process.

  python -m benchmarks.pix2pix_throughput                       # configs/pix2pix.py, batch 32
  python -m benchmarks.pix2pix_throughput --real_data           # both fed the paired digits
  python -m benchmarks.pix2pix_throughput --threads 1           # torch on one thread
  python -m benchmarks.pix2pix_throughput --impl auto xla       # U-Net/PatchGAN conv forms
  python -m benchmarks.pix2pix_throughput --mode parts          # G, D: fwd and fwd+bwd
  python -m benchmarks.pix2pix_throughput --mode layers         # every conv: fwd, dX, dW
  taskset -c 0 python -m benchmarks.pix2pix_throughput --threads 1 --clock cpu  # one thread
                                                                # each (one core), CPU s

Modes:
  train_step (default): one jitted gan_jax step (`make_train_step` of `configs/pix2pix.py`,
    1 D + 1 G update reusing G's forward pass, the state donated) against one iteration of
    `benchmarks/torch_pix2pix.py`, the same nets and losses. Blocks of `--steps` steps
    alternate between the two, `--repeats` times, so both see the same machine load; medians
    of the blocks are printed in img/s, with the ratio jax / torch. With `--real_data` every
    step of both is fed the next batch of the recipe's paired digits from the data pipeline
    (host -> device included); otherwise both reuse one random batch.
  parts: G forward (train mode), G forward + parameter gradient, D forward on pairs, D forward
    + parameter and input gradients, gan_jax beside torch: where the step's time goes.
  layers: forward, input gradient and kernel gradient of every convolution of G and D for each
    gan_jax implementation (`--impl`; all by default) and for torch.

`--clock cpu` times CPU seconds of the process rather than wall time: with one thread per
framework that is each side's compute, which other jobs on a shared machine barely change.

`--impl` names the form of the U-Net's transposed convolutions (a key of
`layers.CONV_TRANSPOSE_IMPLEMENTATIONS`); its strided convolutions (U-Net encoder, PatchGAN)
use the same name where `layers.CONV_IMPLEMENTATIONS` has it, else 'auto'. The recipe builds
both nets with 'auto' (no config field selects the form); other forms are the recipe's modules
cloned with another `conv_impl` / `conv_transpose_impl` (the same function and parameters).
"""

import argparse
import dataclasses
import os
import resource
import statistics
import time

# libgomp's default busy-waiting made torch's 2-thread CPU step of the recipe 6-12x slower on
# oversubscribed cores (load 7 on 2 cores: 1.8-3.7 s a step, 0.3 s with passive waiting).
# Read when torch loads; export OMP_WAIT_POLICY=ACTIVE to time libgomp's default.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np

from configs import pix2pix as pix2pix_config
from gan_jax import data, sampling
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from gan_jax.models import conv_kernels, layers


# 'wall': elapsed time. 'cpu': CPU seconds of the whole process (every thread), which other
# processes' load does not inflate: with one thread per framework (torch --threads 1, XLA
# on one core via `taskset -c 0`, see benchmarks/README.md) it is each one's compute time.
CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}


def _load():
  return os.getloadavg()


def _interleaved(fns: dict, repeats: int, clock) -> dict:
  """Median seconds of each zero-argument fn, run in turn `repeats` times (after one call)."""
  for fn in fns.values():
    jax.block_until_ready(fn())
  times = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      start = clock()
      jax.block_until_ready(fn())
      times[name].append(clock() - start)
  return {name: statistics.median(t) for name, t in times.items()}


def networks_with_impl(networks, impl: str):
  """The recipe's networks with the U-Net's transposed convolutions computed by `impl` and
  the strided ones by `impl` where it names a convolution form, else 'auto'."""
  if impl == layers.AUTO:
    return networks
  conv = impl if impl in layers.CONV_IMPLEMENTATIONS else layers.AUTO
  make_g, make_d = networks.make_generator, networks.make_discriminator
  return dataclasses.replace(
      networks,
      make_generator=lambda axis: make_g(axis).clone(conv_impl=conv, conv_transpose_impl=impl),
      make_discriminator=lambda axis: make_d(axis).clone(conv_impl=conv))


def _check_impls(impls):
  for impl in impls:
    if impl not in layers.CONV_TRANSPOSE_IMPLEMENTATIONS:
      raise SystemExit(f'--impl {impl!r} is not a transposed-convolution form; choose from '
                       f'{sorted(layers.CONV_TRANSPOSE_IMPLEMENTATIONS)}.')


def _setup(args):
  config = pix2pix_config.get_config(args.variant or None)
  if args.batch_size:
    config.batch_size = args.batch_size
  source, networks = sampling.build(config)
  return config, source, networks


def _torch_trainer(args, config, networks):
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks import torch_dcgan, torch_pix2pix  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads or torch_dcgan.available_cores())
  # The peer runs where JAX runs: on the GPU when JAX's default backend is one.
  device = 'cuda' if jax.default_backend() == 'gpu' and torch.cuda.is_available() else 'cpu'
  return torch_pix2pix.trainer_for_config(config, config.batch_size, networks.data_shape,
                                          networks.condition_shape[-1], device=device)


def _pipeline(source, config):
  return data.batches(source, global_batch=config.batch_size, n_critic=1, seed=config.seed,
                      start_step=0, num_steps=10**9)


def _nchw(x):
  import torch  # pylint: disable=g-import-not-at-top
  return torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).contiguous()


def bench_train_step(args):
  config, source, networks = _setup(args)
  n = config.batch_size
  key = jax.random.PRNGKey(config.seed)
  k_img, k_cond = jax.random.split(jax.random.PRNGKey(1))
  fixed = dict(image=jax.random.uniform(k_img, (n, *networks.data_shape), minval=-1, maxval=1),
               condition=jax.random.uniform(k_cond, (n, *networks.condition_shape), minval=-1,
                                            maxval=1),
               label=jnp.zeros((n,), jnp.int32), condition_label=jnp.zeros((n,), jnp.int32))
  print(f'\n=== pix2pix ({config.dataset.task}), G U-Net ngf {config.model.unet.ngf}, '
        f'D PatchGAN ndf {config.model.patchgan.ndf} ({config.model.patchgan.num_layers} '
        f'layers), batch {n} of {networks.condition_shape} -> {networks.data_shape}, '
        f'{"paired digits from the pipeline" if args.real_data else "one random batch"}, '
        f'{args.steps} steps per block, {args.repeats} blocks ===')
  runners = {}
  for impl in args.impl:
    nets = networks_with_impl(networks, impl)
    state = state_lib.create_state(config, nets, key)
    step = jax.jit(train_step_lib.make_train_step(config, nets), donate_argnums=(0,))
    start = time.perf_counter()
    compiled = step.lower(state, fixed, key).compile()
    compile_s = time.perf_counter() - start
    for _ in range(args.warmup):
      state, metrics = compiled(state, fixed, key)
    jax.block_until_ready(state)
    runners[impl] = dict(compiled=compiled, state=state, rates=[], compile_s=compile_s,
                         batches=_pipeline(source, config) if args.real_data else None)
  trainer, torch_batches = None, None
  if not args.skip_torch:
    import torch  # pylint: disable=g-import-not-at-top
    trainer = _torch_trainer(args, config, networks)
    for _ in range(args.warmup):
      trainer.step()
    torch_batches = _pipeline(source, config) if args.real_data else None
  torch_rates, clock = [], CLOCKS[args.clock]
  load_before = _load()
  for _ in range(args.repeats):
    for r in runners.values():  # Alternate: the same load for everybody.
      state = r['state']
      start = clock()
      for _ in range(args.steps):
        batch = fixed if r['batches'] is None else jax.device_put(next(r['batches']))
        state, metrics = r['compiled'](state, batch, key)
      jax.block_until_ready((state, metrics))
      r['rates'].append(n * args.steps / (clock() - start))
      r['state'] = state
    if trainer is not None:
      start = clock()
      for _ in range(args.steps):
        if torch_batches is None:
          trainer.step()
        else:
          b = next(torch_batches)
          trainer.step(_nchw(b['condition']), _nchw(b['image']))
      torch_rates.append(n * args.steps / (clock() - start))
  load_after = _load()
  torch_rate = statistics.median(torch_rates) if torch_rates else float('nan')
  if trainer is not None:
    print(f'torch {torch.__version__} ({torch.get_num_threads()} threads): {torch_rate:7.1f} '
          f'img/s  blocks {[round(x, 1) for x in torch_rates]}')
  for impl, r in runners.items():
    rate = statistics.median(r['rates'])
    print(f'gan_jax {impl:16s}: {rate:7.1f} img/s  blocks {[round(x, 1) for x in r["rates"]]}  '
          f'ratio jax/torch {rate / torch_rate:5.2f}x  compile {r["compile_s"]:.1f} s')
  rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f'load average (1, 5, 15 min) before {_fmt(load_before)}, after {_fmt(load_after)}; '
        f'peak RSS {rss_mb:.0f} MiB (both frameworks)')
  for (x_shape, g_shape, k, s, p, dtype, *how), form in conv_kernels.choices_made().items():
    print(f'  kernel gradient of conv {x_shape} -> {g_shape} k{k} s{s} p{p} {dtype}: {form} '
          + (f'({how[0]})' if how else ''))
  return dict(torch=torch_rate, **{impl: statistics.median(r['rates'])
                                   for impl, r in runners.items()})


def _fmt(load):
  return ', '.join(f'{x:.1f}' for x in load)


def bench_parts(args):
  """G fwd, G fwd + param grad, D fwd, D fwd + param and input grads: gan_jax and torch."""
  import torch  # pylint: disable=g-import-not-at-top
  config, _, networks = _setup(args)
  n = config.batch_size
  key = jax.random.PRNGKey(0)
  cond = jax.random.uniform(key, (n, *networks.condition_shape), minval=-1, maxval=1)
  pair = jax.random.uniform(key, (n, *networks.discriminator_input_shape), minval=-1, maxval=1)
  fns = {}
  for impl in args.impl:
    nets = networks_with_impl(networks, impl)
    g_vars = nets.generator_init(jax.random.PRNGKey(1))
    d_vars = nets.discriminator_init(jax.random.PRNGKey(2))
    rngs = {'dropout': jax.random.PRNGKey(3)}

    def g_out(p, g_vars=g_vars, nets=nets, rngs=rngs):
      return nets.generator_apply({**g_vars, 'params': p}, cond, train=True, rngs=rngs)[0]

    def d_out(p, x, d_vars=d_vars, nets=nets):
      return nets.discriminator_apply({**d_vars, 'params': p}, x, train=True)[0]

    g_fwd = jax.jit(g_out)
    g_bwd = jax.jit(lambda p, g_out=g_out: jax.grad(lambda q: jnp.sum(g_out(q)))(p))
    d_fwd = jax.jit(d_out)
    d_bwd = jax.jit(lambda p, x, d_out=d_out: jax.grad(lambda q, y: jnp.sum(d_out(q, y)),
                                                       argnums=(0, 1))(p, x))
    gp, dp = g_vars['params'], d_vars['params']
    fns[impl] = dict(g_fwd=lambda f=g_fwd, p=gp: f(p), g_fwd_bwd=lambda f=g_bwd, p=gp: f(p),
                     d_fwd=lambda f=d_fwd, p=dp: f(p, pair),
                     d_fwd_bwd=lambda f=d_bwd, p=dp: f(p, pair))
  if not args.skip_torch:
    trainer = _torch_trainer(args, config, networks)
    tc, tp = _nchw(cond), _nchw(pair).requires_grad_(True)

    def torch_bwd(module, x):
      module.zero_grad(set_to_none=True)
      module(x).sum().backward()

    def no_grad(module, x):
      with torch.no_grad():
        return module(x)

    fns[f'torch ({torch.get_num_threads()} threads)'] = dict(
        g_fwd=lambda: no_grad(trainer.g, tc), g_fwd_bwd=lambda: torch_bwd(trainer.g, tc),
        d_fwd=lambda: no_grad(trainer.d, tp), d_fwd_bwd=lambda: torch_bwd(trainer.d, tp))
  flat = {(name, part): fn for name, parts in fns.items() for part, fn in parts.items()}
  load_before = _load()
  med = _interleaved(flat, args.repeats, CLOCKS[args.clock])
  print(f'\n=== pix2pix parts, batch {n}, ms (median of {args.repeats}, interleaved), '
        f'train mode; load {_fmt(load_before)} -> {_fmt(_load())} ===')
  for name, parts in fns.items():
    print(f'{name:24s} ' + '  '.join(f'{part} {med[(name, part)] * 1e3:7.1f}'
                                     for part in parts))


def _conv_specs(trainer):
  """(net, name, transposed, input NCHW shape, C_out, k, stride, padding) of every conv."""
  import torch  # pylint: disable=g-import-not-at-top
  specs = []
  for net_name, net in (('G', trainer.g), ('D', trainer.d)):
    for name, layer in net.layers.items():
      if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        layer.register_forward_hook(
            lambda m, inp, out, net_name=net_name, name=name: specs.append(
                (net_name, name, isinstance(m, torch.nn.ConvTranspose2d), tuple(inp[0].shape),
                 m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])))
  with torch.no_grad():
    trainer.d(torch.cat([trainer.condition, trainer.g(trainer.condition)], 1))
  return specs


def bench_layers(args):
  """fwd / dX / dW of every convolution of G and D, per gan_jax form and torch."""
  import torch  # pylint: disable=g-import-not-at-top
  config, _, networks = _setup(args)
  trainer = _torch_trainer(args, config, networks)
  print(f'\n=== pix2pix convolutions, batch {config.batch_size}, float32: ms (median of '
        f'{args.repeats}, interleaved); load {_fmt(_load())} ===')
  totals = {}
  for net, name, transposed, (n, cin, h, w), cout, k, s, p in _conv_specs(trainer):
    ho = (conv_kernels.conv_transpose_output_size if transposed else
          conv_kernels.conv_output_size)(h, k, s, p)
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (n, h, w, cin))
    kernel = 0.02 * jax.random.normal(key, (k, k, cin, cout))
    g = jax.random.normal(key, (n, ho, ho, cout))
    table = layers.CONV_TRANSPOSE_IMPLEMENTATIONS if transposed else layers.CONV_IMPLEMENTATIONS
    rows = {}
    for impl in args.impl:
      if impl not in table:
        continue
      f = lambda x, w, fn=table[impl]: fn(x, w, s, p)
      fwd = jax.jit(f)
      d_x = jax.jit(lambda x, w, g, f=f: jax.vjp(lambda x: f(x, w), x)[1](g))
      d_w = jax.jit(lambda x, w, g, f=f: jax.vjp(lambda w: f(x, w), w)[1](g))
      rows[impl] = dict(fwd=lambda fwd=fwd: fwd(x, kernel), dX=lambda d=d_x: d(x, kernel, g),
                        dW=lambda d=d_w: d(x, kernel, g))
    tx, tg = torch.randn(n, cin, h, w), torch.randn(n, cout, ho, ho)
    tw = torch.randn(*((cin, cout) if transposed else (cout, cin)), k, k) * 0.02
    op = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d
    bwd = lambda mask: torch.ops.aten.convolution_backward(
        tg, tx, tw, None, [s, s], [p, p], [1, 1], transposed, [0, 0], 1, mask)
    rows['torch'] = dict(fwd=lambda: op(tx, tw, stride=s, padding=p),
                         dX=lambda: bwd([True, False, False]),
                         dW=lambda: bwd([False, True, False]))
    flat = {(impl, op_name): fn for impl, ops in rows.items() for op_name, fn in ops.items()}
    med = _interleaved(flat, args.repeats, CLOCKS[args.clock])
    kind = 'conv_t' if transposed else 'conv'
    auto = layers.auto_form((n, h, w, cin), k, s, p, cout, transposed=transposed)
    print(f'{net} {name:6s} {kind:6s} {h}x{w}x{cin} -> {ho}x{ho}x{cout} (k{k} s{s} p{p}); '
          f"'auto' computes it as {auto}")
    for impl, ops in rows.items():
      t = {o: med[(impl, o)] * 1e3 for o in ops}
      totals[impl] = totals.get(impl, 0.0) + sum(t.values())
      print(f'    {impl:16s} ' + '  '.join(f'{o} {v:7.2f}' for o, v in t.items()))
  print('sum of fwd + dX + dW over the layers each form has: '
        + ', '.join(f'{impl} {t:.0f} ms' for impl, t in totals.items()))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--mode', choices=['train_step', 'parts', 'layers'], default='train_step')
  parser.add_argument('--variant', default='',
                      help="configs/pix2pix.py variant, e.g. 'smoke' or 'model.unet.ngf=64'")
  parser.add_argument('--impl', nargs='+', default=None,
                      help="U-Net transposed-conv forms (default: 'auto' for train_step and "
                           'parts, every form for layers)')
  parser.add_argument('--batch_size', type=int, default=0, help='0: the recipe (32)')
  parser.add_argument('--steps', type=int, default=5, help='steps per timed block')
  parser.add_argument('--repeats', type=int, default=5, help='timed blocks (medians reported)')
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--threads', type=int, default=0, help='torch threads (0: all cores)')
  parser.add_argument('--real_data', action='store_true',
                      help='feed both the paired digits from the data pipeline, a batch a step')
  parser.add_argument('--clock', choices=sorted(CLOCKS), default='wall',
                      help="timed blocks: 'wall' time, or 'cpu' seconds of the process (for "
                           'single-threaded runs on a loaded machine)')
  parser.add_argument('--skip_torch', action='store_true',
                      help='train_step, parts: gan_jax only')
  args = parser.parse_args(argv)
  if args.impl is None:
    args.impl = ([layers.AUTO] if args.mode != 'layers' else
                 sorted(set(layers.CONV_TRANSPOSE_IMPLEMENTATIONS) - {layers.AUTO}))
  _check_impls(args.impl)
  print(f'jax {jax.__version__} on {jax.devices()[0].device_kind}, '
        f'{len(os.sched_getaffinity(0))} cores; load average {_fmt(_load())}; '
        f'OMP_WAIT_POLICY={os.environ.get("OMP_WAIT_POLICY")}; {args.clock} clock; '
        f"'auto' is {layers.resolve_implementation(layers.AUTO)!r} here (per layer shape: "
        f"layers.auto_form); kernel-gradient "
        f'autotuning {"on" if conv_kernels.autotune_enabled() else "off"}')
  if args.mode == 'train_step':
    return bench_train_step(args)
  if args.mode == 'parts':
    return bench_parts(args)
  return bench_layers(args)


if __name__ == '__main__':
  main()
