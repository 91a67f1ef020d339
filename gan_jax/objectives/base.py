"""The objective interface and the step context (see gan_jax/objectives/__init__.py)."""

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
from jax import lax

from gan_jax import augment, losses, models, penalties

PyTree = Any

# Batch keys of held-out real images (and their labels) that the training loop adds for ADA's
# 'rv' heuristic (augment.options.validation_split); D only scores them, never trains on them.
ADA_VALIDATION_PREFIX = 'ada_validation_'
ADA_VALIDATION_IMAGE = ADA_VALIDATION_PREFIX + 'image'
ADA_VALIDATION_LABEL = ADA_VALIDATION_PREFIX + 'label'


def logit(d_output) -> jax.Array:
  """The adversarial logit of a discriminator output: the array itself, or its 'logit' entry
  when D returns a dict of heads (class logits, InfoGAN's Q, ...)."""
  return d_output['logit'] if isinstance(d_output, dict) else d_output


@dataclasses.dataclass(frozen=True)
class StepContext:
  """What an objective may use inside the step: networks in training mode, the adversarial
  loss, the configured penalty and D-input transforms, and the device-axis helpers."""

  config: ml_collections.ConfigDict
  networks: models.Networks
  axis_name: Optional[str]
  loss_fn: losses.LossFn
  penalty_fn: Optional[penalties.PenaltyFn]
  penalty_weight: float
  augment_fn: Optional[Callable[[jax.Array, jax.Array], jax.Array]]
  instance_noise_std: float
  instance_noise_anneal_steps: int
  # ADA (augment.name='ada'): ada_augment's keyword options, and the current augmentation
  # probability p (a traced scalar the step sets from the state; None when ADA is off).
  ada_options: Optional[dict] = None
  augment_p: Any = None

  # ---- the device axis -------------------------------------------------------------------
  def pmean(self, tree):
    return lax.pmean(tree, self.axis_name) if self.axis_name else tree

  def device_key(self, key: jax.Array) -> jax.Array:
    """A key that differs per device (for per-device randomness: dropout, augmentation)."""
    return jax.random.fold_in(key, lax.axis_index(self.axis_name)) if self.axis_name else key

  def draw_global(self, draw: Callable[[jax.Array, int], Any], key: jax.Array, local_n: int):
    """`draw(key, n)` for the global batch, this device's slice of it."""
    if self.axis_name is None:
      return draw(key, local_n)
    full = draw(key, local_n * lax.axis_size(self.axis_name))
    return self.local_slice(full, local_n)

  def local_slice(self, tree, local_n: int):
    """This device's rows [i * local_n, (i + 1) * local_n) of a global-batch pytree."""
    if self.axis_name is None:
      return tree
    start = lax.axis_index(self.axis_name) * local_n
    return jax.tree_util.tree_map(lambda a: lax.dynamic_slice_in_dim(a, start, local_n), tree)

  def all_gather(self, tree):
    """The global batch of a per-device batch pytree (devices in order, rows concatenated)."""
    if self.axis_name is None:
      return tree
    return jax.tree_util.tree_map(
        lambda a: lax.all_gather(a, self.axis_name, axis=0, tiled=True), tree)

  # ---- networks in training mode ---------------------------------------------------------
  def generator(self, g_params, g_coll, inputs, labels, key):
    """G(inputs, labels) in training mode -> (outputs, updated collections)."""
    out, mutated = self.networks.generator_apply(
        {'params': g_params, **g_coll}, inputs, labels, train=True, axis_name=self.axis_name,
        rngs={'dropout': self.device_key(key)})
    return out, {**g_coll, **mutated}

  def discriminator(self, d_params, d_coll, inputs, labels, dropout_key):
    """D(inputs, labels) in training mode -> (output, updated collections)."""
    return self.networks.discriminator_apply(
        {'params': d_params, **d_coll}, inputs, labels, train=True, axis_name=self.axis_name,
        rngs={'dropout': dropout_key})

  def discriminator_input(self, x, key, step):
    """DiffAugment or ADA / instance noise applied to every D input (real and fake alike)."""
    k_aug, k_noise = jax.random.split(key)
    if self.ada_options is not None:
      x = augment.ada_augment(k_aug, x, self.augment_p, **self.ada_options)
    elif self.augment_fn is not None:
      x = self.augment_fn(k_aug, x)
    if self.instance_noise_std > 0:
      std = augment.instance_noise_std(step, self.instance_noise_std,
                                      self.instance_noise_anneal_steps)
      x = augment.instance_noise(k_noise, x, std)
    return x

  def discriminator_features(self, d_params, d_coll, inputs, labels, dropout_key):
    """(D's output, phi(inputs), updated collections) in training mode (feature matching)."""
    return self.networks.discriminator_features(
        {'params': d_params, **d_coll}, inputs, labels, train=True, axis_name=self.axis_name,
        rngs={'dropout': dropout_key})

  def penalty(self, d_apply, d_params, real, fake, key):
    """The configured D penalty, weighted: (weight * value, aux); (0, {}) when none."""
    if self.penalty_fn is None:
      return jnp.zeros(()), {}
    value, aux = self.penalty_fn(d_apply, d_params, real, fake, key)
    return self.penalty_weight * value, dict(aux, penalty=value)


class Objective:
  """Base class; subclasses override what differs (see the module docstring)."""

  name = 'base'
  # Whether generator_loss adds objective.feature_matching (the latent-variable objectives).
  supports_feature_matching = False
  # Whether discriminator_loss reports aux['d_real_sign'] (E[sign D(real)]) when ADA is on.
  supports_ada = False

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    fm = config.objective.get('feature_matching')
    if fm is not None and float(fm.weight) > 0 and not self.supports_feature_matching:
      raise ValueError(f'objective.feature_matching.weight={fm.weight} is read by the '
                       f'latent-variable objectives (unconditional, conditional, infogan), not '
                       f'objective.name={self.name!r}; set it to 0.')

  def init_extras(self, networks: models.Networks) -> PyTree:
    del networks
    return {}

  def generator_inputs(self, ctx: StepContext, key: jax.Array, batch: dict) -> PyTree:
    raise NotImplementedError

  def generate(self, ctx: StepContext, g_params, g_coll, g_inputs, key):
    return ctx.generator(g_params, g_coll, g_inputs, None, key)

  def discriminator_loss(self, ctx: StepContext, d_params, d_coll, batch, g_inputs, fake, key,
                         extras, step):
    raise NotImplementedError

  def generator_loss(self, ctx: StepContext, d_params, d_coll, batch, g_inputs, fake, key,
                     cache, step):
    raise NotImplementedError

  # ---- lazy regularization (StyleGAN2): extra optimizer updates on scheduled steps -------
  # A positive interval k makes the step run the player's regularizer as its own optimizer
  # update after the player's main update at every step with step % k == 0 (inside the one
  # compiled step: lazy_regularization_branch). The regularizers return (loss, new extras).
  d_regularizer_interval = 0
  g_regularizer_interval = 0

  def optimizer_ratios(self) -> tuple[float, float]:
    """(G's, D's) lazy-regularization ratio k / (k + 1) by which the player's lr is scaled
    and to whose power Adam's betas are raised (Karras et al. 2020, appendix B); 1 = none."""
    return 1.0, 1.0

  def discriminator_regularizer(self, ctx: StepContext, d_params, d_coll, batch, key, extras,
                                step):
    raise NotImplementedError

  def generator_regularizer(self, ctx: StepContext, g_params, g_coll, batch, key, extras,
                            step):
    raise NotImplementedError
