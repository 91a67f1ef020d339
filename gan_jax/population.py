"""Populations: K GANs trained by one compiled step, and population-based training.

A population is one `GANState` whose leaves have a leading member axis of size K
(`config.population.size`), trained by `jax.vmap` of the per-device train step
(gan_jax.train_step) inside the device axis of the parallel wrappers (gan_jax.parallel).
Member i is the run of `config` with seed `seeds[i]` and its own values of the population's
hyperparameters; the data source is the run's (`config.seed`), and each member draws its own
batches from it with its seed.

Per-member hyperparameters live in the state (`state.member['hparams']`, a nested dict of
scalars mirroring the config paths) and are read inside the step: `member_config` puts the
member's traced values into a copy of the config, and the step, its optimizers (rebuilt from
that config at trace time, so schedules and StyleGAN2's lazy-regularization correction apply
to the member's own values) and the objective are built from it. Only the fields of
POPULATION_FIELDS may vary: they enter the step as numbers. Fields that change shapes or code
paths (architecture, loss or penalty names, batch size, n_critic) are sweep axes.

`state.member['active']` is False once a member's update was non-finite (with
`population.on_nonfinite='freeze'`): it then keeps its last finite state; the other members
go on. With 'reset' the training loop re-initializes it instead (`reinitialize_member`).

Population-based training (Jaderberg et al. 2017) is `exploit_explore`: a pure function of
(population state, scores, key) -> (state, parents), jitted once.
"""

import functools
import math
import re
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import models, overrides
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from gan_jax.state import GANState

# Fields a population may vary -> how their values move: 'positive' (> 0; perturbed and drawn
# multiplicatively: learning rates, loss weights) or 'unit' (in [0, 1): 1 - value is
# perturbed and drawn multiplicatively: Adam's betas, the EMA decay, i.e. their horizons).
POPULATION_FIELDS: dict[str, str] = {
    **{f'optim.{p}.lr': 'positive' for p in 'gd'},
    **{f'optim.{p}.{rule}.{b}': 'unit' for p in 'gd' for rule in ('adam', 'adamw')
       for b in ('b1', 'b2')},
    'penalty.weight': 'positive',            # e.g. WGAN-GP's lambda.
    'd_regularizer.weight': 'positive',
    'ema_decay': 'unit',
    'objective.pix2pix.l1_weight': 'positive',
    'objective.cyclegan.cycle_weight': 'positive',
    'objective.infogan.info_weight': 'positive',
    'objective.infogan.continuous_weight': 'positive',
}
ON_NONFINITE = ('freeze', 'reset')


def enabled(config: ml_collections.ConfigDict) -> bool:
  return int(config.population.size) > 1


def size(config: ml_collections.ConfigDict) -> int:
  return int(config.population.size)


def seeds(config: ml_collections.ConfigDict) -> list[int]:
  """Member seeds: population.seeds ('3,5,...'), or seed, seed + 1, ... ."""
  k, spec = size(config), str(config.population.seeds).strip()
  if not spec:
    return [int(config.seed) + i for i in range(k)]
  try:
    values = [int(v) for v in re.split(r'[,\s]+', spec) if v]
  except ValueError as e:
    raise ValueError(f"population.seeds={spec!r}: write K integers, e.g. '0,1,2,3'.") from e
  if len(values) != k:
    raise ValueError(f'population.seeds lists {len(values)} seeds for population.size={k}.')
  return values


def _axes(spec: str, what: str) -> list[tuple[str, str]]:
  """'FIELD=VALUES FIELD2=VALUES' -> [(field, values text)], fields checked."""
  out = []
  for item in spec.split():
    field, sep, values = item.partition('=')
    if not sep or not values:
      raise ValueError(f'population.{what}: {item!r} is not FIELD=VALUES.')
    if field not in POPULATION_FIELDS:
      raise ValueError(
          f'population.{what}: {field!r} cannot vary inside one compiled step (it changes '
          'shapes or code paths, or is not a number the step reads); run it as a sweep axis '
          f'(launch/sweep.py --sweep={field}=...). Population fields: '
          f'{", ".join(sorted(POPULATION_FIELDS))}.')
    if any(f == field for f, _ in out):
      raise ValueError(f'population.{what} gives {field!r} twice.')
    out.append((field, values))
  return out


def _check_value(field: str, value: float) -> float:
  kind = POPULATION_FIELDS[field]
  ok = value > 0 if kind == 'positive' else 0 <= value < 1
  if not (ok and math.isfinite(value)):
    want = '> 0' if kind == 'positive' else 'in [0, 1)'
    raise ValueError(f'population value {field}={value}: must be {want}.')
  return value


def hyperparameters(config: ml_collections.ConfigDict) -> list[dict[str, float]]:
  """Each member's {field: value} from population.hparams (listed) and population.ranges
  (log-uniform between LOW and HIGH, drawn from the run's seed; for 'unit' fields 1 - value
  is log-uniform between 1 - HIGH and 1 - LOW)."""
  k = size(config)
  listed = _axes(str(config.population.hparams), 'hparams')
  ranged = _axes(str(config.population.ranges), 'ranges')
  both = {f for f, _ in listed} & {f for f, _ in ranged}
  if both:
    raise ValueError(f'population.hparams and .ranges both give {sorted(both)}; give one.')
  members = [{} for _ in range(k)]
  for field, text in listed:
    overrides.get_field(config, field)  # A clear error for a field the config lacks.
    try:
      values = [float(v) for v in text.split(',')]
    except ValueError as e:
      raise ValueError(f'population.hparams: {field}={text!r} is not a list of numbers.') from e
    if len(values) != k:
      raise ValueError(f'population.hparams gives {len(values)} values of {field} for '
                       f'population.size={k}: list one per member.')
    for m, v in zip(members, values):
      m[field] = _check_value(field, v)
  rng = np.random.default_rng(int(config.seed))
  for field, (low, high) in parse_ranges(config).items():
    for m in members:
      m[field] = draw(field, low, high, rng)
  _check_fields(config, set(members[0]))
  return members


def parse_ranges(config: ml_collections.ConfigDict) -> dict[str, tuple[float, float]]:
  out = {}
  for field, text in _axes(str(config.population.ranges), 'ranges'):
    overrides.get_field(config, field)
    low, sep, high = text.partition('..')
    try:
      low, high = float(low), float(high)
    except ValueError as e:
      raise ValueError(f'population.ranges: {field}={text!r} is not LOW..HIGH.') from e
    if not sep or not low < high:
      raise ValueError(f'population.ranges: {field}={text!r} needs LOW..HIGH with LOW < HIGH.')
    _check_value(field, high if POPULATION_FIELDS[field] == 'positive' else low)
    _check_value(field, low if POPULATION_FIELDS[field] == 'positive' else high)
    out[field] = (low, high)
  return out


def draw(field: str, low: float, high: float, rng: np.random.Generator) -> float:
  """One log-uniform draw of `field` in [low, high] (of 1 - value for 'unit' fields)."""
  if POPULATION_FIELDS[field] == 'positive':
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))
  return float(1.0 - np.exp(rng.uniform(np.log(1.0 - high), np.log(1.0 - low))))


def _check_fields(config: ml_collections.ConfigDict, fields: set[str]) -> None:
  """Fields whose value is read only on some code paths must be on that path."""
  for player in 'gd':
    rule = config.optim[player].name
    for field in fields:
      if field.startswith(f'optim.{player}.') and field.count('.') == 3 \
          and field.split('.')[2] != rule:
        raise ValueError(f'population field {field} is not read: optim.{player}.name={rule!r}.')
  if 'penalty.weight' in fields and config.penalty.name == 'none':
    raise ValueError("population field penalty.weight with penalty.name='none' does nothing.")
  if 'd_regularizer.weight' in fields and config.d_regularizer.name == 'none':
    raise ValueError("population field d_regularizer.weight with d_regularizer.name='none' "
                     'does nothing.')
  if 'ema_decay' in fields and (float(config.ema_decay) <= 0
                                or float(config.get('ema_half_life_images', 0)) > 0):
    raise ValueError('population field ema_decay needs the EMA on with its decay read from '
                     'ema_decay: set ema_decay > 0 (it turns the EMA on) and '
                     'ema_half_life_images=0.')
  for field in fields:
    if field.startswith('objective.') and field.split('.')[1] != config.objective.name:
      raise ValueError(f'population field {field} is not read by objective.name='
                       f'{config.objective.name!r}.')


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError for a population block that cannot run."""
  if not enabled(config):
    if int(config.pbt.interval) > 0:
      raise ValueError('pbt.interval > 0 needs a population: set population.size=K > 1.')
    if str(config.population.hparams).strip() or str(config.population.ranges).strip():
      raise ValueError('population.hparams / .ranges are set but population.size <= 1; set '
                       'population.size to the number of members.')
    return
  if config.population.on_nonfinite not in ON_NONFINITE:
    raise ValueError(f'population.on_nonfinite must be one of {ON_NONFINITE}; got '
                     f'{config.population.on_nonfinite!r}.')
  if config.init_from.workdir:
    raise ValueError('init_from is for single runs; start the population from scratch.')
  seeds(config)
  hyperparameters(config)
  pbt = config.pbt
  if int(pbt.interval) > 0:
    if not 0 < float(pbt.fraction) <= 0.5:
      raise ValueError(f'pbt.fraction must be in (0, 0.5]; got {pbt.fraction}.')
    if round(float(pbt.fraction) * size(config)) < 1:
      raise ValueError(f'pbt.fraction={pbt.fraction} of population.size={size(config)} '
                       'moves no member; raise either.')
    if not all(float(f) > 0 for f in pbt.factors):
      raise ValueError(f'pbt.factors must be positive; got {pbt.factors}.')
    check_smoothing(pbt.get('smoothing', 1))
    if float(pbt.resample_prob) > 0 and not parse_ranges(config):
      raise ValueError('pbt.resample_prob > 0 redraws from population.ranges, which is empty.')


# ---- one member's config, concrete or traced --------------------------------------------

def nest(flat: dict[str, Any]) -> dict:
  """{'optim.g.lr': v} -> {'optim': {'g': {'lr': v}}} (the state's layout: orbax-safe)."""
  out: dict = {}
  for path, value in flat.items():
    node = out
    *parents, leaf = path.split('.')
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = value
  return out


def flatten(nested: dict, prefix: str = '') -> dict[str, Any]:
  out = {}
  for k, v in nested.items():
    if isinstance(v, dict):
      out.update(flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


def member_config(config: ml_collections.ConfigDict, hparams: dict,
                  seed: Optional[int] = None) -> ml_collections.ConfigDict:
  """`config` with a member's hyperparameters (nested or flat; floats, or traced arrays
  inside the step) and seed; population.size 0, so it describes one run."""
  out = config.copy_and_resolve_references()
  flat = flatten(hparams) if any(isinstance(v, dict) for v in hparams.values()) else hparams
  with out.ignore_type():
    for path, value in flat.items():
      *parents, leaf = path.split('.')
      node = overrides.get_field(out, '.'.join(parents)) if parents else out
      node[leaf] = value if isinstance(value, jax.Array) else float(value)
  out.population.size = 0
  out.population.hparams = ''
  out.population.ranges = ''
  out.pbt.interval = 0
  if seed is not None:
    out.seed = int(seed)
  return out


def member_configs(config: ml_collections.ConfigDict) -> list[ml_collections.ConfigDict]:
  """The single-run config of each member (its seed and hyperparameters)."""
  return [member_config(config, hp, s) for hp, s in zip(hyperparameters(config), seeds(config))]


# ---- the population state and step ------------------------------------------------------

def member_keys(config: ml_collections.ConfigDict) -> tuple[jax.Array, jax.Array]:
  """(init keys (K,), train keys (K,)): member i's are a single run's with seed seeds[i]."""
  pairs = [jax.random.split(jax.random.key(s)) for s in seeds(config)]
  return jnp.stack([p[0] for p in pairs]), jnp.stack([p[1] for p in pairs])


def stacked_hparams(members: Sequence[dict[str, float]]) -> dict:
  """Nested dict of (K,) float32 arrays."""
  if not members or not members[0]:
    return {}
  return nest({f: jnp.asarray([m[f] for m in members], jnp.float32) for f in members[0]})


def create_population(config: ml_collections.ConfigDict, networks: models.Networks,
                      init_keys: jax.Array, hparams: Optional[dict] = None) -> GANState:
  """The population's GANState: member i initialized as a single run from init_keys[i] with
  its hyperparameters (`hparams`: nested (K,) arrays; default: `hyperparameters(config)`)."""
  hparams = stacked_hparams(hyperparameters(config)) if hparams is None else hparams

  def init(hp, key):
    state = state_lib.create_state(member_config(config, hp), networks, key)
    return state.replace(member={'hparams': hp, 'active': jnp.ones((), bool)})
  return jax.jit(jax.vmap(init))(hparams, init_keys)


def make_population_step(config: ml_collections.ConfigDict, networks: models.Networks, *,
                         axis_name: Optional[str] = None) -> train_step_lib.TrainStep:
  """`step(states, batches, keys)` over a leading member axis of all three: each member runs
  the train step built from its own `member_config` (numbers traced from its state); a member
  whose update is not finite is frozen (active=False, its state kept) unless
  skip_nonfinite_updates (the update is then skipped and the member stays active)."""
  skip = bool(config.skip_nonfinite_updates)

  def member_step(state: GANState, batch: dict, key: jax.Array):
    step = train_step_lib.make_train_step(member_config(config, state.member['hparams']),
                                          networks, axis_name=axis_name)
    new, metrics = step(state, batch, key)
    was_active = state.member['active']
    active = was_active if skip else was_active & (metrics['finite'] > 0)
    keep = state.replace(step=state.step + 1)
    new = train_step_lib.tree_where(active, new, keep)
    new = new.replace(member={**state.member, 'active': active})
    return new, dict(metrics, active=active.astype(jnp.float32))

  return jax.vmap(member_step)


def take(tree, i: int):
  """Member i of a population pytree (host arrays)."""
  return jax.tree_util.tree_map(lambda x: x[i], tree)


def put(tree, i: int, member):
  """A copy of a host population pytree with member i replaced."""
  def set_row(x, m):
    x = np.array(x)
    x[i] = np.asarray(m)
    return x
  return jax.tree_util.tree_map(set_row, tree, member)


def member_of_run(config: ml_collections.ConfigDict, state: GANState, member: Optional[int]
                  ) -> tuple[ml_collections.ConfigDict, GANState]:
  """(member's single-run config with its current hyperparameters, its state) of a
  population run's config and host state."""
  if not enabled(config):
    raise ValueError('member= is for population runs; this run has population.size '
                     f'{size(config)}.')
  k = size(config)
  if member is None or not 0 <= member < k:
    raise ValueError(f'This run is a population of {k} members: choose one with member=i '
                     f'(--member=i), 0 <= i < {k}; population.csv lists them.')
  one = take(state, member)
  current = {f: float(v) for f, v in flatten(jax.device_get(one.member['hparams'])).items()}
  return member_config(config, current, seeds(config)[member]), one


def reinitialize_member(config: ml_collections.ConfigDict, networks: models.Networks,
                        population: GANState, i: int, step: int) -> GANState:
  """'reset': member i re-initialized from its seed folded with `step` (its hyperparameters
  and the population's step kept), active again."""
  member = take(population, i)
  key = jax.random.fold_in(jax.random.split(jax.random.key(seeds(config)[i]))[0], step)
  fresh = state_lib.create_state(member_config(config, member.member['hparams']), networks,
                                 key)
  fresh = fresh.replace(step=jnp.asarray(member.step), member={
      'hparams': member.member['hparams'], 'active': jnp.ones((), bool)})
  return put(population, i, jax.device_get(fresh))


# ---- population-based training ------------------------------------------------------------

def exploit_explore(population: GANState, scores: jax.Array, key: jax.Array, *,
                    fraction: float, factors: Sequence[float], resample_prob: float = 0.0,
                    ranges: Optional[dict[str, tuple[float, float]]] = None
                    ) -> tuple[GANState, jax.Array]:
  """One PBT round (truncation selection). Members are ranked by `scores` (higher is better;
  NaN ranks last, ties by index); each of the bottom n = round(fraction * K) copies the whole
  state (parameters, optimizer states, collections, EMA, extras) of a member drawn uniformly
  from the top n, and perturbs each of its hyperparameters: with probability
  `resample_prob` it is redrawn from `ranges` (log-uniform, as `draw`), else multiplied by a
  factor drawn uniformly from `factors` ('unit' fields: 1 - value is multiplied, then
  clipped below 1). Copied members are active. Returns (state, parents): parents[i] is the
  member i now descends from (i itself when not replaced)."""
  k = scores.shape[0]
  n = max(1, int(round(fraction * k)))
  clean = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
  order = jnp.lexsort((jnp.arange(k), -clean))  # Best first, ties by index.
  top, bottom = order[:n], order[k - n:]
  k_parent, k_factor, k_resample, k_draw = jax.random.split(key, 4)
  chosen = top[jax.random.randint(k_parent, (n,), 0, n)]
  parents = jnp.arange(k).at[bottom].set(chosen)
  new = jax.tree_util.tree_map(lambda x: x[parents], population)
  replaced = parents != jnp.arange(k)

  factors = jnp.asarray(factors, jnp.float32)
  flat = flatten(new.member['hparams'])
  out = {}
  for j, (field, values) in enumerate(sorted(flat.items())):
    f = factors[jax.random.randint(jax.random.fold_in(k_factor, j), (k,), 0, len(factors))]
    if POPULATION_FIELDS[field] == 'positive':
      perturbed = values * f
    else:
      perturbed = jnp.minimum(1.0 - (1.0 - values) * f, 1.0 - 1e-6)
    if resample_prob > 0 and ranges and field in ranges:
      low, high = ranges[field]
      u = jax.random.uniform(jax.random.fold_in(k_draw, j), (k,))
      if POPULATION_FIELDS[field] == 'positive':
        redrawn = jnp.exp(jnp.log(low) + u * (jnp.log(high) - jnp.log(low)))
      else:
        redrawn = 1.0 - jnp.exp(jnp.log(1 - high) + u * (jnp.log(1 - low) - jnp.log(1 - high)))
      coin = jax.random.uniform(jax.random.fold_in(k_resample, j), (k,)) < resample_prob
      perturbed = jnp.where(coin, redrawn, perturbed)
    out[field] = jnp.where(replaced, perturbed, values).astype(values.dtype)
  member = {'hparams': nest(out), 'active': new.member['active'] | replaced}
  return new.replace(member=member), parents


def check_smoothing(window) -> int:
  """pbt.smoothing as an int; a ValueError unless it is >= 1."""
  if int(window) < 1:
    raise ValueError(f'pbt.smoothing must be >= 1 (the number of a member\'s latest values '
                     f'of pbt.metric averaged for its rank; 1 = the last alone); got {window}.')
  return int(window)


def smoothed_scores(histories: Sequence[dict], window: int) -> np.ndarray:
  """Each member's PBT value (`pbt.smoothing` = `window`): the mean of the last `window`
  values (by step) of its history, a {step: value of pbt.metric} of the evaluations (or log
  rows) since the member was last copied. Fewer values (a recent copy) are averaged as they
  are; none, or a NaN among them (a diverged member), gives NaN, which ranks last. Window 1
  is the last value alone (Jaderberg et al.'s rule); a longer one ranks members on a mean
  that one lucky or unlucky evaluation moves less."""
  window = check_smoothing(window)
  out = np.full(len(histories), np.nan, np.float64)
  for i, history in enumerate(histories):
    recent = [history[s] for s in sorted(history)[-window:]]
    if recent:
      out[i] = np.mean(np.asarray(recent, np.float64))  # NaN if any is.
  return out


def rebuild_histories(member_rows: Sequence[Sequence[dict]], lineage_rows: Sequence[dict],
                      name: str, up_to: int) -> list[dict]:
  """The PBT histories of a resumed run, from the files: each member's {step: value} of
  `name` in its metrics rows after its last copy in the lineage rows (a row whose parent is
  another member) and at or before step `up_to` (rows a lost continuation wrote after the
  checkpoint are left out); of rows for the same step, the last written."""
  copied = {}
  for r in lineage_rows:
    if r['step'] <= up_to and r['parent'] != r['member']:
      copied[r['member']] = max(copied.get(r['member'], -1), r['step'])
  histories = []
  for i, rows in enumerate(member_rows):
    after = copied.get(i, -1)
    histories.append({int(r['step']): float(r[name]) for r in rows
                      if name in r and after < r['step'] <= up_to})
  return histories


def jit_exploit_explore(config: ml_collections.ConfigDict):
  """`exploit_explore` with config.pbt's settings, jitted: (state, scores, key) -> ..."""
  pbt = config.pbt
  return jax.jit(functools.partial(
      exploit_explore, fraction=float(pbt.fraction),
      factors=tuple(float(f) for f in pbt.factors), resample_prob=float(pbt.resample_prob),
      ranges=parse_ranges(config)))


def batches(source, config: ml_collections.ConfigDict, *, start_step: int, **kwargs):
  """Each member's batches from the run's source with its own seed, stacked on a leading
  member axis (kwargs: data.batches' process and threading arguments)."""
  from gan_jax import data  # pylint: disable=g-import-not-at-top
  streams = [data.batches(source, global_batch=config.batch_size,
                          n_critic=config.d_steps_per_g_step, seed=s, start_step=start_step,
                          num_steps=config.num_train_steps, **kwargs) for s in seeds(config)]
  for per_member in zip(*streams):
    yield {k: np.stack([b[k] for b in per_member]) for k in per_member[0]}
