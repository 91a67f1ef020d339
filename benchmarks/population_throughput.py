r"""Throughput of a population (K members in one vmapped step) against the same K runs one
after another, and against the PyTorch DCGAN peer run K times one after another.

  python -m benchmarks.population_throughput                       # toy_ring K=8, dcgan K=4
  python -m benchmarks.population_throughput --recipes toy_ring --members 8 --repeats 7

For each recipe (its full config: networks, batch size, optimizers, penalty, EMA) it times
the jitted single-run step and the jitted population step (members differing in their
learning rates), state donated, on fixed random batches of the recipe's shape, in
alternating blocks of --steps steps (--repeats blocks each, medians), so both see the same
machine load. Images per second: a single run's B per step (K runs one after another take K
times as long, so their rate is the same), the population's K * B per step; the ratio is the
population's speedup over running its members one after another. With the DCGAN recipe the
PyTorch peer (benchmarks/torch_dcgan.py, the same architecture at the recipe's batch) is
timed in the same alternation. Also printed: XLA's FLOP count of one single-run step and
the FLOP/s both steps reach, against a large matmul's rate measured in the same command (the
practical peak): a single run already near that peak leaves a population nothing to gain.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import population, sampling
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib

DEFAULT_MEMBERS = {'toy_ring': 8, 'dcgan': 4}


def recipe_config(name: str, members: int):
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f'configs.{name}').get_config()
  config.parallel = 'none'
  config.population.size = members
  base = float(config.optim.g.lr)
  config.population.hparams = 'optim.g.lr=' + ','.join(
      f'{base * 2.0 ** (i / max(members - 1, 1) - 0.5):.3g}' for i in range(members))
  return config


def _block(step, state, batch, keys, steps):
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = step(state, batch, keys)
  jax.block_until_ready(metrics)
  return state, time.perf_counter() - start


def bench(name: str, members: int, args) -> dict:
  config = recipe_config(name, members)
  _, networks = sampling.build(config)
  b = int(config.batch_size)
  shape = (b, *networks.data_shape)
  key = jax.random.key(0)
  batch = {'image': jax.random.uniform(key, shape, minval=-1.0, maxval=1.0),
           'label': jnp.zeros((b,), jnp.int32)}
  pop_batch = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (members, *x.shape)), batch)
  init_keys, train_keys = population.member_keys(config)
  member = population.member_configs(config)[0]

  single = jax.jit(train_step_lib.make_train_step(member, networks), donate_argnums=0)
  pop_step = jax.jit(population.make_population_step(config, networks), donate_argnums=0)
  s_state = state_lib.create_state(member, networks, init_keys[0])
  p_state = population.create_population(config, networks, init_keys)

  cost = single.lower(s_state, batch, train_keys[0]).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops_per_step = float((cost or {}).get('flops', float('nan')))
  t0 = time.perf_counter()
  s_state, _ = _block(single, s_state, batch, train_keys[0], 1)
  compile_single = time.perf_counter() - t0
  t0 = time.perf_counter()
  p_state, _ = _block(pop_step, p_state, pop_batch, train_keys, 1)
  compile_pop = time.perf_counter() - t0
  s_state, _ = _block(single, s_state, batch, train_keys[0], args.warmup)
  p_state, _ = _block(pop_step, p_state, pop_batch, train_keys, args.warmup)

  torch_trainer = None
  if name == 'dcgan' and not args.skip_torch:
    from benchmarks import torch_dcgan  # pylint: disable=g-import-not-at-top
    torch_dcgan.torch.set_num_threads(torch_dcgan.available_cores())
    device = 'cuda' if jax.default_backend() == 'gpu' else 'cpu'
    torch_trainer = torch_dcgan.DCGANTrainer(networks.data_shape[0], networks.data_shape[-1], b,
                                             device)
    for _ in range(args.warmup):
      torch_trainer.step()
    torch_trainer.synchronize()

  rates = {'single': [], 'population': [], 'torch': []}
  for _ in range(args.repeats):
    s_state, t = _block(single, s_state, batch, train_keys[0], args.steps)
    rates['single'].append(b * args.steps / t)
    p_state, t = _block(pop_step, p_state, pop_batch, train_keys, args.steps)
    rates['population'].append(members * b * args.steps / t)
    if torch_trainer is not None:
      start = time.perf_counter()
      for _ in range(args.steps):
        torch_trainer.step()
      torch_trainer.synchronize()
      rates['torch'].append(b * args.steps / (time.perf_counter() - start))
  out = {k: statistics.median(v) for k, v in rates.items() if v}
  out.update(recipe=name, members=members, batch=b, compile_single=compile_single,
             flops_per_image=flops_per_step / b,
             compile_population=compile_pop,
             active=int(np.asarray(p_state.member['active']).sum()))
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--recipes', nargs='+', default=['toy_ring', 'dcgan'])
  parser.add_argument('--members', nargs='+', type=int, default=None,
                      help='K per recipe (default: toy_ring 8, dcgan 4).')
  parser.add_argument('--steps', type=int, default=10, help='Steps per timed block.')
  parser.add_argument('--repeats', type=int, default=5, help='Timed blocks (medians).')
  parser.add_argument('--warmup', type=int, default=3)
  parser.add_argument('--skip_torch', action='store_true')
  args = parser.parse_args(argv)
  members = args.members or [DEFAULT_MEMBERS.get(r, 4) for r in args.recipes]
  if len(members) != len(args.recipes):
    parser.error('--members needs one K per recipe.')
  from benchmarks import dcgan_throughput  # pylint: disable=g-import-not-at-top
  peak = dcgan_throughput.measure_peak_flops(jax.default_backend())
  print(f'JAX {jax.__version__} on {jax.devices()[0].device_kind} ({jax.default_backend()}); '
        f'blocks of {args.steps} steps x {args.repeats}, medians; matmul peak '
        f'{peak / 1e9:,.0f} GFLOP/s')
  for name, k in zip(args.recipes, members):
    r = bench(name, k, args)
    line = (f'{name}: K={k} batch {r["batch"]}: single run {r["single"]:,.0f} img/s '
            f'(= {k} runs one after another), population {r["population"]:,.0f} img/s -> '
            f'{r["population"] / r["single"]:.2f}x; compile {r["compile_single"]:.1f} s / '
            f'{r["compile_population"]:.1f} s; XLA {r["flops_per_image"] / 1e6:.2f} MFLOP/img: '
            f'single {r["single"] * r["flops_per_image"] / peak:.0%} of the peak, population '
            f'{r["population"] * r["flops_per_image"] / peak:.0%}')
    if 'torch' in r:
      line += (f'; PyTorch peer {r["torch"]:,.0f} img/s one run at a time -> population '
               f'{r["population"] / r["torch"]:.2f}x, single {r["single"] / r["torch"]:.2f}x')
    print(line, flush=True)


if __name__ == '__main__':
  main()
