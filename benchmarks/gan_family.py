r"""Results for the GAN family recipes: the 2-D mode benchmarks and short MNIST runs.

  python -m benchmarks.gan_family toy --root /tmp/family            # toy_ring, toy_grid x 3 seeds
  python -m benchmarks.gan_family toy --root DIR --recipes toy_ring --seeds 5 \
      --set num_train_steps=20000 --set optim.g.lr=2e-4             # overrides for every run
  python -m benchmarks.gan_family mnist --root DIR --steps 1000     # gan_mlp wgan wgan_gp ...

  python -m benchmarks.gan_family toy --root DIR --variants '' pack4 mbstd unrolled5  # remedies
  python -m benchmarks.gan_family unrolled_speed --recipes toy_ring --ks 0 1 3 5 10

toy: for each variant (`--variants`, docs/mode_collapse.md) and recipe, trains `--seeds` runs
(config.seed = 0, 1, ...) with `train.train_and_evaluate` into ROOT/<recipe>/seed<k> (a
variant: ROOT/<variant>/<recipe>/seed<k>), then draws 2,500 samples per run
(`sampling.generate`, EMA weights unless --no_ema; a fixed sampling key per seed) and computes
`metrics.modes.mode_metrics` against the dataset's modes: modes captured, high-quality
fraction (within 3 std of a mode) and reverse KL, reported as mean +- std over seeds beside
PacGAN's (Lin et al. 2018, Table 1) published GAN and PacGAN2-4 rows. Existing finished runs are reused
(train_and_evaluate resumes; at the last step that is a no-op), so re-running only
re-evaluates.

--eval_only scores the finished runs under ROOT without training (e.g. after the defaults
changed, when a resume would be refused).

unrolled_speed: steps/s of the compiled step against unrolled_d_steps k, lax.scan unrolled
and rolled, on random data of the recipe's shape (compile time apart).

mnist: trains each MNIST recipe for `--steps` steps, one after the other, and prints the
wall time, steps/s, final losses and the path of the last sample grid (evaluate FID with
launch/evaluate.py on the workdir).

Wall time is the whole train_and_evaluate call (compile, checkpoints and plots included) on
whatever machine runs it; on a shared CPU it is noisy.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from configs import default  # pylint: disable=g-import-not-at-top,wrong-import-position

TOY_RECIPES = ('toy_ring', 'toy_grid')
MNIST_RECIPES = ('gan_mlp', 'wgan', 'wgan_gp', 'lsgan', 'sngan')
NUM_EVAL_SAMPLES = 2_500
# PacGAN (Lin et al. 2018), Table 1: the unpacked GAN and PacGAN m = 2, 3, 4 (modes,
# high-quality %, reverse KL; their MLPs, 2,500 samples, mean over trials).
PACGAN_ROWS = {
    'ring8': {'GAN': (6.3, 98.2, 0.45), 'PacGAN2': (7.9, 95.6, 0.07),
              'PacGAN3': (7.8, 97.7, 0.10), 'PacGAN4': (7.8, 95.9, 0.07)},
    'grid25': {'GAN': (17.3, 94.8, 0.70), 'PacGAN2': (23.8, 91.3, 0.13),
               'PacGAN3': (24.6, 94.2, 0.06), 'PacGAN4': (24.8, 93.6, 0.04)},
}
PACGAN_GAN_ROW = {data: dict(zip(('modes', 'high_quality_pct', 'reverse_kl'), rows['GAN']))
                  for data, rows in PACGAN_ROWS.items()}
PACGAN4_ROW = {data: dict(zip(('modes', 'high_quality_pct', 'reverse_kl'), rows['PacGAN4']))
               for data, rows in PACGAN_ROWS.items()}


def load_recipe(name: str, variant: str = ''):
  import importlib  # pylint: disable=g-import-not-at-top
  return importlib.import_module(f'configs.{name}').get_config(variant or None)


def apply_overrides(config, overrides):
  if overrides:
    default.apply_variant(config, ','.join(overrides))
  return config


def _last_metrics(workdir: str) -> dict:
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    lines = [l for l in f if l.strip()]
  return json.loads(lines[-1]) if lines else {}


def train_run(config, workdir: str) -> dict:
  """Trains (or finds finished) one run; returns wall time and its last metrics row."""
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  done_marker = os.path.join(workdir, 'family_wall_time.json')
  if os.path.exists(done_marker):
    with open(done_marker) as f:
      info = json.load(f)
    with open(os.path.join(workdir, 'config.json')) as f:
      saved = json.load(f)
    if saved == json.loads(json.dumps(config.to_dict())):
      return dict(info, metrics=_last_metrics(workdir), reused=True)
  start = time.time()
  train.train_and_evaluate(config, workdir)
  wall = time.time() - start
  reached = _last_metrics(workdir).get('step')
  if reached != config.num_train_steps:  # SIGTERM: train_and_evaluate saved and returned.
    raise SystemExit(f'{workdir} stopped at step {reached} of {config.num_train_steps}; '
                     'rerun the same command to resume it.')
  info = {'wall_time_s': wall, 'num_train_steps': int(config.num_train_steps)}
  with open(done_marker, 'w') as f:
    json.dump(info, f)
  return dict(info, metrics=_last_metrics(workdir), reused=False)


def evaluate_toy_run(workdir: str, seed: int, ema: bool) -> dict:
  from gan_jax import sampling  # pylint: disable=g-import-not-at-top
  from gan_jax.data import toy  # pylint: disable=g-import-not-at-top
  from gan_jax.metrics.modes import mode_metrics  # pylint: disable=g-import-not-at-top
  config, _, networks, state, step = sampling.load_run(workdir)
  key = jax.random.fold_in(jax.random.key(12345), seed)
  samples = sampling.generate(networks, state, NUM_EVAL_SAMPLES, key, ema=ema)
  modes, std = toy.toy_modes(config.dataset.name)
  metrics = mode_metrics(samples, modes, std)
  try:
    from gan_jax import plots  # pylint: disable=g-import-not-at-top
    real, _ = toy.sample_toy(seed, config.dataset.name, NUM_EVAL_SAMPLES)
    plots.scatter_real_vs_fake(np.asarray(real), samples,
                               os.path.join(workdir, f'eval_{"ema" if ema else "raw"}.png'),
                               title=f'{config.dataset.name} seed {seed} step {step}',
                               modes=modes)
  except Exception as e:  # pylint: disable=broad-except  (a plot must not lose the numbers)
    print(f'  (plot failed: {e})')
  return dict(metrics, step=int(step))


def _mean_std(values, fmt):
  """'mean ± std' over seeds; seeds where the value is undefined (NaN: reverse KL of a run
  with no high-quality sample) are left out and counted."""
  values = np.asarray(values, np.float64)
  defined = values[np.isfinite(values)]
  if not len(defined):
    return 'n/a'
  text = f'{fmt.format(defined.mean())} ± {fmt.format(defined.std())}'
  missing = len(values) - len(defined)
  return text + (f' ({missing} seed{"s" if missing > 1 else ""} undefined)' if missing else '')


def _toy_workdir(root: str, variant: str, recipe: str, seed: int) -> str:
  """ROOT/<recipe>/seed<k> for the recipe as shipped, ROOT/<variant>/<recipe>/seed<k> else."""
  return os.path.join(root, *([variant] if variant else []), recipe, f'seed{seed}')


def _beats(seeds, ref) -> list[str]:
  rkl = np.asarray([r['reverse_kl'] for r in seeds], np.float64)
  return [name for name, ok in (
      ('modes', np.mean([r['modes_captured'] for r in seeds]) > ref['modes']),
      ('HQ', 100 * np.mean([r['high_quality_fraction'] for r in seeds]) > ref['high_quality_pct']),
      ('rKL', np.all(np.isfinite(rkl)) and rkl.mean() < ref['reverse_kl'])) if ok]


def run_toy(args) -> list[dict]:
  rows = []
  for variant in args.variants or [args.variant]:
    for recipe in args.recipes or TOY_RECIPES:
      per_seed = []
      for seed in range(args.first_seed, args.first_seed + args.seeds):
        config = apply_overrides(load_recipe(recipe, variant), args.set)
        config.seed = seed
        if args.steps:
          config.num_train_steps = args.steps
        workdir = _toy_workdir(args.root, variant, recipe, seed)
        if args.eval_only:  # Score finished runs as they are (their own saved config).
          with open(os.path.join(workdir, 'family_wall_time.json')) as f:
            run = dict(json.load(f), reused=True)
        else:
          run = train_run(config, workdir)
        result = evaluate_toy_run(workdir, seed, ema=not args.no_ema)
        result.update(wall_time_s=run['wall_time_s'], dataset=config.dataset.name)
        per_seed.append(result)
        print(f'{recipe}{":" + variant if variant else ""} seed {seed}: step {result["step"]}, '
              f'{result["modes_captured"]}/{result["num_modes"]} modes, '
              f'HQ {100 * result["high_quality_fraction"]:.1f}%, '
              f'rKL {result["reverse_kl"]:.3f}, {run["wall_time_s"]:.0f} s'
              + (' (reused run)' if run['reused'] else ''), flush=True)
      rows.append({'recipe': recipe, 'variant': variant, 'dataset': per_seed[0]['dataset'],
                   'seeds': per_seed})
  print()
  print('| recipe | data | steps | wall time / run (s) | modes | high-quality % | reverse KL '
        '| beats PacGAN4 on | beats GAN row on |')
  print('|---|---|---|---|---|---|---|---|---|')
  for row in rows:
    s = row['seeds']
    name = row['recipe'] + (f':{row["variant"]}' if row['variant'] else '')
    print(f'| {name}{" (raw G)" if args.no_ema else " (EMA G)"} | {row["dataset"]} | '
          f'{s[0]["step"]} | {_mean_std([r["wall_time_s"] for r in s], "{:.0f}")} | '
          f'{_mean_std([r["modes_captured"] for r in s], "{:.1f}")} / {s[0]["num_modes"]} | '
          f'{_mean_std([100 * r["high_quality_fraction"] for r in s], "{:.1f}")} | '
          f'{_mean_std([r["reverse_kl"] for r in s], "{:.3f}")} | '
          f'{", ".join(_beats(s, PACGAN4_ROW[row["dataset"]])) or "none"} | '
          f'{", ".join(_beats(s, PACGAN_GAN_ROW[row["dataset"]])) or "none"} |')
  for dataset in dict.fromkeys(row['dataset'] for row in rows):
    for name, (modes, hq, rkl) in PACGAN_ROWS[dataset].items():
      print(f'| PacGAN paper, {name} | {dataset} | | | {modes} | {hq} | {rkl} | | |')
  print(f'\n{args.seeds} seeds each, mean ± std over seeds; {NUM_EVAL_SAMPLES} samples per seed.')
  return rows


def run_unrolled_speed(args) -> list[dict]:
  """Steps/s of one recipe's compiled train step against unrolled_d_steps k (after compile,
  median of --repeats timings of --timed_steps steps), scan unrolled and rolled."""
  from gan_jax import models, state as state_lib, train_step  # pylint: disable=g-import-not-at-top
  from gan_jax import data  # pylint: disable=g-import-not-at-top
  rows = []
  for recipe in args.recipes or ['toy_ring']:
    base = apply_overrides(load_recipe(recipe, args.variant), args.set)
    source = data.load_source(base.dataset, seed=0)
    shape = tuple(source.data_shape)
    batch = {'image': jax.random.normal(jax.random.key(1), (base.batch_size, *shape))}
    for k in args.ks:
      for unroll in ((True, False) if k else (True,)):
        config = apply_overrides(load_recipe(recipe, args.variant), args.set)
        config.unrolled_d_steps, config.unrolled_scan_unroll = k, unroll
        networks = models.build_networks(config.model, shape)
        state = state_lib.create_state(config, networks, jax.random.key(0))
        step = jax.jit(train_step.make_train_step(config, networks))
        t0 = time.time()
        state, metrics = step(state, batch, jax.random.key(2))
        jax.block_until_ready(metrics)
        compile_s = time.time() - t0
        times = []
        for _ in range(args.repeats):
          t0 = time.time()
          for _ in range(args.timed_steps):
            state, metrics = step(state, batch, jax.random.key(2))
          jax.block_until_ready(metrics)
          times.append(time.time() - t0)
        row = {'recipe': recipe, 'k': k, 'scan_unroll': unroll, 'compile_s': compile_s,
               'steps_per_s': args.timed_steps / float(np.median(times)),
               'batch_size': int(config.batch_size)}
        rows.append(row)
        print(f'{recipe} k={k} unroll={unroll}: {row["steps_per_s"]:.1f} steps/s '
              f'(compile {compile_s:.1f} s)', flush=True)
  print('\n| recipe | unrolled_d_steps k | scan | steps/s | x of k=0 | compile (s) |')
  print('|---|---|---|---|---|---|')
  for row in rows:
    plain = next(r['steps_per_s'] for r in rows if r['recipe'] == row['recipe'] and r['k'] == 0)
    print(f'| {row["recipe"]} | {row["k"]} | {"unrolled" if row["scan_unroll"] else "rolled"} | '
          f'{row["steps_per_s"]:.1f} | {row["steps_per_s"] / plain:.2f} | '
          f'{row["compile_s"]:.1f} |')
  return rows


def save_raw_grid(workdir: str) -> str:
  """The sample grid of the raw (non-EMA) generator at the run's fixed latents.

  With ema_decay=0.999 a run of ~1,000 steps still carries e^-1 of the initial weights in
  its EMA, so the EMA grid of a short run looks washed out; this one shows what G learned.
  """
  from gan_jax import sampling, visualize  # pylint: disable=g-import-not-at-top
  config, _, networks, state, step = sampling.load_run(workdir)
  z, y = sampling.fixed_latents(config, networks)
  samples = sampling.make_sampler(networks)(state.generator_variables(ema=False), z, y)
  path = os.path.join(workdir, 'samples', f'raw_step_{step:07d}.png')
  visualize.save_image_grid(np.asarray(samples), path, upscale=2)
  return path


def run_mnist(args) -> list[dict]:
  rows = []
  for recipe in args.recipes or MNIST_RECIPES:
    config = apply_overrides(load_recipe(recipe, args.variant), args.set)
    if args.steps:
      config.num_train_steps = args.steps
    config.sample_every = min(config.sample_every, config.num_train_steps)
    config.log_every = min(config.log_every, config.num_train_steps)
    if args.data_dir:
      config.dataset.data_dir = args.data_dir
    workdir = os.path.join(args.root, recipe)
    run = train_run(config, workdir)
    m = run['metrics']
    grid = os.path.join(workdir, 'samples', f'step_{config.num_train_steps:07d}.png')
    row = {'recipe': recipe, 'steps': config.num_train_steps, 'wall_time_s': run['wall_time_s'],
           'steps_per_sec': m.get('steps_per_sec'), 'd_loss': m.get('d_loss'),
           'g_loss': m.get('g_loss'), 'grid': grid,
           'raw_grid': save_raw_grid(workdir) if config.ema_decay > 0 else grid}
    rows.append(row)
    print(f'{recipe}: {row["steps"]} steps in {row["wall_time_s"]:.0f} s, '
          f'd_loss {row["d_loss"]}, g_loss {row["g_loss"]}, grid {grid} '
          f'(raw G: {row["raw_grid"]})', flush=True)
  print()
  print('| recipe | steps | wall time (s) | steps/s (last window) | final d_loss | final g_loss '
        '| sample grid (EMA G) | sample grid (raw G) |')
  print('|---|---|---|---|---|---|---|---|')
  for r in rows:
    f = lambda v: 'n/a' if v is None else f'{v:.3f}'
    print(f'| {r["recipe"]} | {r["steps"]} | {r["wall_time_s"]:.0f} | {f(r["steps_per_sec"])} | '
          f'{f(r["d_loss"])} | {f(r["g_loss"])} | {r["grid"]} | {r["raw_grid"]} |')
  return rows


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('suite', choices=('toy', 'mnist', 'unrolled_speed'))
  parser.add_argument('--root', required=True, help='Folder for the workdirs.')
  parser.add_argument('--recipes', nargs='*', help='Recipe names (configs/<name>.py).')
  parser.add_argument('--seeds', type=int, default=3, help='toy: seeds per recipe.')
  parser.add_argument('--first_seed', type=int, default=0, help='toy: seeds start here.')
  parser.add_argument('--steps', type=int, default=0, help='Override num_train_steps.')
  parser.add_argument('--variant', default='', help="Variant string, e.g. 'smoke'.")
  parser.add_argument('--variants', nargs='*',
                      help="toy: several variant strings, each into ROOT/<variant>/ ('' = "
                           "the recipe as shipped, into ROOT), e.g. '' pack4 mbstd unrolled5.")
  parser.add_argument('--ks', type=int, nargs='*', default=[0, 1, 3, 5, 10],
                      help='unrolled_speed: the unrolled_d_steps values.')
  parser.add_argument('--timed_steps', type=int, default=50, help='unrolled_speed.')
  parser.add_argument('--repeats', type=int, default=3, help='unrolled_speed.')
  parser.add_argument('--set', action='append', default=[],
                      help="'field=value' config override, repeatable.")
  parser.add_argument('--eval_only', action='store_true',
                      help='toy: only evaluate the finished runs under --root.')
  parser.add_argument('--no_ema', action='store_true', help='toy: evaluate the raw G.')
  parser.add_argument('--data_dir', default='', help='mnist: TFDS data_dir.')
  parser.add_argument('--json', default='', help='Also write the rows to this JSON file.')
  args = parser.parse_args(argv)
  rows = {'toy': run_toy, 'mnist': run_mnist, 'unrolled_speed': run_unrolled_speed}[
      args.suite](args)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(rows, f, indent=2, default=float)
  return rows


if __name__ == '__main__':
  main()
