"""Architectures, exposed as pure init/apply functions.

Callers never hold module objects: `build_networks(config.model, data_shape, num_classes)`
returns a `Networks` whose `generator_init/apply` and `discriminator_init/apply` are pure
functions of (variables, inputs). Modules are rebuilt per call (cheap dataclasses) so that
the BatchNorm `axis_name` can be chosen by the caller (None single-device, a mesh/pmap axis
name otherwise) without being baked into the parameters.

Adding an architecture: write `build(model_config, data_shape, num_classes)` returning
`(make_generator, make_discriminator)`, each `axis_name -> nn.Module`, and register it in
ARCHITECTURES. Generator modules are called `g(z, labels, train=...)` and return samples in
the data range [-1, 1]; discriminator modules `d(x, labels, train=...)` return logits (N,).
Mutable state (BatchNorm statistics, spectral-norm vectors) lives in 'batch_stats'.
"""

import dataclasses
from typing import Any, Callable, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.models import dcgan
from gan_jax.models import mlp
from gan_jax.models import resnet

Variables = Mapping[str, Any]
ModuleFactory = Callable[[Optional[str]], nn.Module]
MUTABLE_COLLECTIONS = ('batch_stats',)

ARCHITECTURES: dict[str, Callable[..., tuple[ModuleFactory, ModuleFactory]]] = {
    'dcgan': dcgan.build,
    'mlp': mlp.build,
    'resnet': resnet.build,
}


def _split_variables(variables: Variables) -> tuple[Any, dict]:
  rest = {k: v for k, v in variables.items() if k != 'params'}
  return variables['params'], rest


@dataclasses.dataclass(frozen=True)
class Networks:
  """Pure functions for one generator/discriminator pair (static: safe to close over)."""

  make_generator: ModuleFactory
  make_discriminator: ModuleFactory
  latent_dim: int
  data_shape: tuple[int, ...]
  num_classes: Optional[int]
  latent_distribution: str = 'normal'

  # ---- latents -------------------------------------------------------------------------
  def sample_latents(self, key: jax.Array, num: int) -> jax.Array:
    shape = (num, self.latent_dim)
    if self.latent_distribution == 'normal':
      return jax.random.normal(key, shape)
    if self.latent_distribution == 'uniform':
      return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
    raise ValueError(f'Unknown latent_distribution {self.latent_distribution!r}; '
                     "use 'normal' or 'uniform'.")

  def sample_labels(self, key: jax.Array, num: int) -> Optional[jax.Array]:
    if not self.num_classes:
      return None
    return jax.random.randint(key, (num,), 0, self.num_classes)

  def _dummy_labels(self, num: int) -> Optional[jax.Array]:
    return jnp.zeros((num,), jnp.int32) if self.num_classes else None

  # ---- generator -----------------------------------------------------------------------
  def generator_init(self, key: jax.Array) -> dict:
    z = jnp.zeros((2, self.latent_dim), jnp.float32)
    return dict(self.make_generator(None).init(
        {'params': key, 'dropout': key}, z, self._dummy_labels(2), train=False))

  def generator_apply(self, variables: Variables, z: jax.Array,
                      labels: Optional[jax.Array] = None, *, train: bool,
                      axis_name: Optional[str] = None,
                      rngs: Optional[dict] = None) -> tuple[jax.Array, dict]:
    """Returns (samples, updated mutable collections; {} when train=False)."""
    return _apply(self.make_generator(axis_name), variables, z, labels, train, rngs)

  # ---- discriminator -------------------------------------------------------------------
  def discriminator_init(self, key: jax.Array) -> dict:
    x = jnp.zeros((2, *self.data_shape), jnp.float32)
    return dict(self.make_discriminator(None).init(
        {'params': key, 'dropout': key}, x, self._dummy_labels(2), train=False))

  def discriminator_apply(self, variables: Variables, x: jax.Array,
                          labels: Optional[jax.Array] = None, *, train: bool,
                          axis_name: Optional[str] = None,
                          rngs: Optional[dict] = None) -> tuple[jax.Array, dict]:
    """Returns (logits of shape (N,), updated mutable collections)."""
    return _apply(self.make_discriminator(axis_name), variables, x, labels, train, rngs)


def _apply(module, variables, inputs, labels, train, rngs):
  if train:
    out, mutated = module.apply(variables, inputs, labels, train=True, rngs=rngs,
                                mutable=list(MUTABLE_COLLECTIONS))
    return out, dict(mutated)
  return module.apply(variables, inputs, labels, train=False, rngs=rngs), {}


def build_networks(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
                   num_classes: Optional[int] = None) -> Networks:
  """Builds the architecture named by `model_config.name` for data of `data_shape`."""
  name = model_config.name
  if name not in ARCHITECTURES:
    raise ValueError(f'Unknown model.name {name!r}; choose one of {sorted(ARCHITECTURES)}.')
  make_g, make_d = ARCHITECTURES[name](model_config, tuple(data_shape), num_classes)
  return Networks(make_generator=make_g, make_discriminator=make_d,
                  latent_dim=int(model_config.latent_dim), data_shape=tuple(data_shape),
                  num_classes=num_classes,
                  latent_distribution=model_config.get('latent_distribution', 'normal'))


def count_params(variables: Variables) -> int:
  return sum(x.size for x in jax.tree_util.tree_leaves(variables.get('params', {})))
