"""optax optimizers and learning-rate schedules built from the config.

Each player has its own block (`config.optim.g`, `config.optim.d`), so learning rates,
betas and schedules differ freely between G and D (TTUR, Heusel et al. 2017). Fields:
  name: adam | adamw | sgd | rmsprop | adagrad | adadelta
  lr; b1, b2, eps (adam/adamw); momentum, nesterov (sgd); decay, eps, centered (rmsprop);
  weight_decay (adamw);
  schedule: constant | cosine | step | linear, with warmup_steps (linear warmup from 0),
    decay_steps (cosine/linear horizon; 0 = the player's total number of updates),
    decay_rate and decay_every (step decay), end_lr_fraction (cosine/linear floor);
  grad_clip_norm: clip gradients by global norm before the update (0 = off).
"""

import ml_collections
import optax

OPTIMIZERS = ('adam', 'adamw', 'sgd', 'rmsprop', 'adagrad', 'adadelta')
SCHEDULES = ('constant', 'cosine', 'step', 'linear')


def build_schedule(cfg: ml_collections.ConfigDict, total_updates: int) -> optax.Schedule:
  """Learning-rate schedule for `total_updates` optimizer updates."""
  lr = float(cfg.lr)
  name = cfg.get('schedule', 'constant')
  warmup = int(cfg.get('warmup_steps', 0))
  horizon = int(cfg.get('decay_steps', 0)) or max(total_updates - warmup, 1)
  floor = float(cfg.get('end_lr_fraction', 0.0))
  if name == 'constant':
    main = optax.constant_schedule(lr)
  elif name == 'cosine':
    main = optax.cosine_decay_schedule(lr, horizon, alpha=floor)
  elif name == 'linear':
    main = optax.linear_schedule(lr, lr * floor, horizon)
  elif name == 'step':
    main = optax.exponential_decay(lr, int(cfg.get('decay_every', 10_000)),
                                   float(cfg.get('decay_rate', 0.1)), staircase=True)
  else:
    raise ValueError(f'Unknown schedule {name!r}; choose one of {SCHEDULES}.')
  if warmup > 0:
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])
  return main


def build_optimizer(cfg: ml_collections.ConfigDict,
                    total_updates: int) -> optax.GradientTransformation:
  """One player's optimizer: optional global-norm clipping, then the optax rule."""
  lr = build_schedule(cfg, total_updates)
  name = cfg.name
  if name == 'adam':
    tx = optax.adam(lr, b1=cfg.get('b1', 0.9), b2=cfg.get('b2', 0.999), eps=cfg.get('eps', 1e-8))
  elif name == 'adamw':
    tx = optax.adamw(lr, b1=cfg.get('b1', 0.9), b2=cfg.get('b2', 0.999), eps=cfg.get('eps', 1e-8),
                     weight_decay=cfg.get('weight_decay', 1e-4))
  elif name == 'sgd':
    tx = optax.sgd(lr, momentum=cfg.get('momentum', 0.0) or None,
                   nesterov=cfg.get('nesterov', False))
  elif name == 'rmsprop':
    tx = optax.rmsprop(lr, decay=cfg.get('decay', 0.99), eps=cfg.get('eps', 1e-8),
                       centered=cfg.get('centered', False))
  elif name == 'adagrad':
    tx = optax.adagrad(lr, eps=cfg.get('eps', 1e-7))
  elif name == 'adadelta':
    tx = optax.adadelta(lr, rho=cfg.get('rho', 0.9), eps=cfg.get('eps', 1e-6))
  else:
    raise ValueError(f'Unknown optimizer {name!r}; choose one of {OPTIMIZERS}.')
  clip = float(cfg.get('grad_clip_norm', 0.0))
  return optax.chain(optax.clip_by_global_norm(clip), tx) if clip > 0 else tx


def build_optimizers(config: ml_collections.ConfigDict):
  """(generator, discriminator) optimizers; D makes d_steps_per_g_step updates a step."""
  steps = int(config.num_train_steps)
  return (build_optimizer(config.optim.g, steps),
          build_optimizer(config.optim.d, steps * int(config.d_steps_per_g_step)))
