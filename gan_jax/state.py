"""The training state: one pytree holding everything a GAN run updates."""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import models, objectives, optimizers

PyTree = Any


@flax.struct.dataclass
class GANState:
  """Both players' parameters, optimizer states and mutable collections.

  Attributes:
    step: number of completed generator updates (int32 scalar).
    g_params, d_params: the 'params' collections.
    g_opt_state, d_opt_state: optax states (the transforms themselves are static, rebuilt
      from the config).
    g_collections, d_collections: the other variable collections (BatchNorm statistics,
      spectral-norm vectors), e.g. {'batch_stats': ...}; {} when a network has none.
    ema_g_params: exponential moving average of g_params (equal to g_params when
      ema_decay is 0); used for sampling and evaluation.
    extras: the objective's own state (gan_jax.objectives), e.g. CycleGAN's image pool;
      {} for objectives that keep none. With ADA on: {'objective': that, 'ada_p': p}.
    member: {} for a single run; in a population (gan_jax.population, every leaf with a
      leading member axis) the member's {'hparams': nested dict of its hyperparameters,
      'active': False once frozen after a non-finite update}.
  """

  step: jax.Array
  g_params: PyTree
  d_params: PyTree
  g_opt_state: PyTree
  d_opt_state: PyTree
  g_collections: PyTree
  d_collections: PyTree
  ema_g_params: PyTree
  extras: PyTree = flax.struct.field(default_factory=dict)
  member: PyTree = flax.struct.field(default_factory=dict)

  def generator_variables(self, ema: bool = True) -> dict:
    """Variables for `Networks.generator_apply`: EMA weights when `ema`."""
    return {'params': self.ema_g_params if ema else self.g_params, **self.g_collections}

  def discriminator_variables(self) -> dict:
    return {'params': self.d_params, **self.d_collections}


def create_state(config: ml_collections.ConfigDict, networks: models.Networks,
                 key: jax.Array) -> GANState:
  """Initializes both networks, both optimizers and the objective's extra state from `key`
  (deterministic)."""
  g_key, d_key = jax.random.split(key)
  g_vars = networks.generator_init(g_key)
  d_vars = networks.discriminator_init(d_key)
  g_tx, d_tx = optimizers.build_optimizers(config)
  g_params, d_params = g_vars.pop('params'), d_vars.pop('params')
  return GANState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params,
      d_params=d_params,
      g_opt_state=g_tx.init(g_params),
      d_opt_state=d_tx.init(d_params),
      g_collections=g_vars,
      d_collections=d_vars,
      ema_g_params=jax.tree_util.tree_map(jnp.copy, g_params),
      extras=initial_extras(config, networks),
  )


def initial_extras(config: ml_collections.ConfigDict, networks: models.Networks) -> PyTree:
  """The objective's extra state; with augment.name='ada', {'objective': it, 'ada_p': 0}
  (ADA's augmentation probability starts at 0, as in Karras et al. 2020)."""
  extras = objectives.get_objective(config).init_extras(networks)
  if config.augment.name == 'ada':
    return {'objective': extras, 'ada_p': jnp.zeros((), jnp.float32)}
  return extras
