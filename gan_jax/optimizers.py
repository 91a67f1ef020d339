"""optax optimizers and learning-rate schedules built from the config.

Each player has its own block (`config.optim.g`, `config.optim.d`), so learning rates,
rules and schedules differ freely between G and D (TTUR, Heusel et al. 2017). A block holds
  name: the update rule, one of RULES;
  lr, schedule (one of SCHEDULES), warmup_steps, decay_steps, end_lr_fraction, decay_every,
    decay_rate, grad_clip_norm, lr_multipliers: shared by every rule;
  one sub-block per rule with that rule's own fields (`adam.b1`, `sgd.momentum`, ...), of
    which only `config.optim.<player>[name]` is read.
configs/default.py holds every default and says which schedule reads which field.
"""

from typing import Callable

import jax
import ml_collections
import optax

# name -> (lr or schedule, the rule's block) -> optax transformation.
RULES: dict[str, Callable[..., optax.GradientTransformation]] = {
    'adam': lambda lr, c: optax.adam(lr, b1=c.b1, b2=c.b2, eps=c.eps),
    'adamw': lambda lr, c: optax.adamw(lr, b1=c.b1, b2=c.b2, eps=c.eps,
                                       weight_decay=c.weight_decay),
    'sgd': lambda lr, c: optax.sgd(lr, momentum=c.momentum or None, nesterov=c.nesterov),
    'rmsprop': lambda lr, c: optax.rmsprop(lr, decay=c.decay, eps=c.eps, centered=c.centered),
    'adagrad': lambda lr, c: optax.adagrad(lr, eps=c.eps),
    'adadelta': lambda lr, c: optax.adadelta(lr, rho=c.rho, eps=c.eps),
}
OPTIMIZERS = tuple(RULES)
SCHEDULES = ('constant', 'cosine', 'step', 'linear')


def hyperparameter(value):
  """A config number as the step uses it: a float, or the traced array that a population
  member's config holds in its place (gan_jax.population.member_config)."""
  return value if isinstance(value, jax.Array) else float(value)


def build_schedule(cfg: ml_collections.ConfigDict, total_updates: int) -> optax.Schedule:
  """Learning-rate schedule of one player's block for `total_updates` optimizer updates.

  constant: lr; cosine: lr * ((1 - f) (1 + cos(pi t / T)) / 2 + f); linear: lr held for
  the first decay_begin_fraction of the updates, then from lr to f * lr by the end of T;
  step: lr * decay_rate ** floor(t / decay_every); with f = end_lr_fraction and
  T = decay_steps (0: total_updates - warmup_steps), after a linear warmup from 0.
  """
  lr = hyperparameter(cfg.lr)
  warmup = int(cfg.warmup_steps)
  horizon = int(cfg.decay_steps) or max(total_updates - warmup, 1)
  floor = float(cfg.end_lr_fraction)
  if cfg.schedule == 'constant':
    main = optax.constant_schedule(lr)
  elif cfg.schedule == 'cosine':
    main = optax.cosine_decay_schedule(lr, horizon, alpha=floor)
  elif cfg.schedule == 'linear':
    # Held at lr for the first decay_begin_fraction of the updates (CycleGAN's schedule).
    hold = int(round(float(cfg.decay_begin_fraction) * total_updates))
    main = optax.linear_schedule(lr, lr * floor, max(horizon - hold, 1), transition_begin=hold)
  elif cfg.schedule == 'step':
    main = optax.exponential_decay(lr, int(cfg.decay_every), float(cfg.decay_rate),
                                   staircase=True)
  else:
    raise ValueError(f'Unknown schedule {cfg.schedule!r}; choose one of {SCHEDULES}.')
  if warmup > 0:
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])
  return main


def parse_lr_multipliers(spec: str) -> dict[str, float]:
  """'video=0.25 image/Dense_0=2' -> {'video': 0.25, 'image/Dense_0': 2.0}: parameter-path
  prefixes (module names joined by '/') and the factors their learning rate is scaled by."""
  out = {}
  for item in str(spec or '').replace(',', ' ').split():
    path, sep, value = item.partition('=')
    try:
      factor = float(value) if sep and path else None
    except ValueError:
      factor = None
    if factor is None or not factor >= 0 or path.strip('/') in out:
      raise ValueError(
          f'lr_multipliers entry {item!r} in {spec!r}: expected PATH=FACTOR with a parameter '
          "path prefix and a factor >= 0, each path once, e.g. 'video=0.25 image=2'.")
    out[path.strip('/')] = factor
  return out


def _param_path(path) -> str:
  """'video/Conv_0/kernel' for a pytree key path."""
  return jax.tree_util.keystr(path, simple=True, separator='/')


def _under(path: str, prefix: str) -> bool:
  return path == prefix or path.startswith(prefix + '/')


def scale_by_path(multipliers: dict[str, float]) -> optax.GradientTransformation:
  """Multiplies the updates of the parameters under each path prefix by its factor (the
  longest matching prefix wins; other parameters keep factor 1). After the update rule this is
  a per-module learning-rate multiplier: Adam's, SGD's and the others' updates (and adamw's
  decoupled decay) are proportional to the learning rate. Stateless; init checks that every
  prefix names some parameters."""

  def factor(path: str) -> float:
    hits = [p for p in multipliers if _under(path, p)]
    return multipliers[max(hits, key=len)] if hits else 1.0

  def init(params):
    paths = [_param_path(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    for prefix in multipliers:
      if not any(_under(q, prefix) for q in paths):
        tops = sorted({q.split('/')[0] for q in paths})
        raise ValueError(
            f'lr_multipliers path {prefix!r} matches no parameter of this player; its '
            f'parameters lie under {tops} (e.g. {paths[0] if paths else None!r}).')
    return optax.EmptyState()

  def scale(path, u):
    f = factor(_param_path(path))
    return u if f == 1.0 else u * f

  def update(updates, state, params=None):
    del params
    return jax.tree_util.tree_map_with_path(scale, updates), state

  return optax.GradientTransformation(init, update)


def build_optimizer(cfg: ml_collections.ConfigDict,
                    total_updates: int) -> optax.GradientTransformation:
  """One player's optimizer: optional global-norm clipping, the rule `cfg.name`, then the
  per-module learning-rate multipliers (`cfg.lr_multipliers`, none by default)."""
  if cfg.name not in RULES:
    raise ValueError(f'Unknown optimizer {cfg.name!r}; choose one of {OPTIMIZERS}.')
  tx = RULES[cfg.name](build_schedule(cfg, total_updates), cfg[cfg.name])
  clip = float(cfg.grad_clip_norm)
  if clip > 0:
    tx = optax.chain(optax.clip_by_global_norm(clip), tx)
  multipliers = parse_lr_multipliers(cfg.get('lr_multipliers', ''))
  return optax.chain(tx, scale_by_path(multipliers)) if multipliers else tx


def lazy_corrected(cfg: ml_collections.ConfigDict, ratio: float) -> ml_collections.ConfigDict:
  """The block with lr x ratio and Adam's betas ** ratio (ratio = k / (k + 1) for a player
  regularized every k steps by its own extra update: Karras et al. 2020, appendix B)."""
  if ratio == 1.0:
    return cfg
  cfg = ml_collections.ConfigDict(cfg.to_dict())
  with cfg.ignore_type():  # A population member's values are traced arrays.
    cfg.lr = hyperparameter(cfg.lr) * ratio
    if cfg.name in ('adam', 'adamw'):
      cfg[cfg.name].b1 = hyperparameter(cfg[cfg.name].b1) ** ratio
      cfg[cfg.name].b2 = hyperparameter(cfg[cfg.name].b2) ** ratio
  return cfg


def build_optimizers(config: ml_collections.ConfigDict):
  """(generator, discriminator) optimizers; D makes d_steps_per_g_step updates a step. An
  objective with lazy regularization scales them (`Objective.optimizer_ratios`)."""
  from gan_jax import objectives  # pylint: disable=g-import-not-at-top (objectives -> models)
  g_ratio, d_ratio = objectives.get_objective(config).optimizer_ratios()
  steps = int(config.num_train_steps)
  return (build_optimizer(lazy_corrected(config.optim.g, g_ratio), steps),
          build_optimizer(lazy_corrected(config.optim.d, d_ratio),
                          steps * int(config.d_steps_per_g_step)))
