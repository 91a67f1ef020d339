"""Architectures, exposed as pure init/apply functions.

Callers never hold module objects: `build_networks(config.model, data_shape, num_classes)`
returns a `Networks` whose `generator_init/apply` and `discriminator_init/apply` are pure
functions of (variables, inputs). Modules are rebuilt per call (cheap dataclasses) so that
the BatchNorm `axis_name` can be chosen by the caller (None single-device, a mesh/pmap axis
name otherwise) without being baked into the parameters.

Adding an architecture: write `build(model_config, data_shape, num_classes)` returning
`(make_generator, make_discriminator)`, each `axis_name -> nn.Module`, and register it in
ARCHITECTURES. Generator modules are called `g(inputs, labels, train=...)` and return samples
in the data range [-1, 1]; discriminator modules `d(inputs, labels, train=...)` return logits
((N,), or (N, h, w) patch logits: the losses average over every element) or a pytree of them.
`inputs` is what the objective feeds: latents (N, latent_dim) by default, a condition image,
or a dict of images. An architecture whose inputs are not latents / data-shaped images takes
`condition_shape` (the data source's, e.g. the input image of image-to-image translation) and
returns `(make_generator, make_discriminator, io)` with
`io = {'generator_input': shapes, 'discriminator_input': shapes}` (per-example shape pytrees).
Mutable state (BatchNorm statistics, spectral-norm vectors) lives in 'batch_stats'.
"""

import dataclasses
from typing import Any, Callable, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.models import cyclegan
from gan_jax.models import dcgan
from gan_jax.models import minibatch
from gan_jax.models import mlp
from gan_jax.models import resnet
from gan_jax.models import unet

Variables = Mapping[str, Any]
ModuleFactory = Callable[[Optional[str]], nn.Module]
MUTABLE_COLLECTIONS = ('batch_stats',)
# Architectures whose generator translates an input image (built with `condition_shape`).
CONDITION_ARCHITECTURES: tuple[str, ...] = ('pix2pix', 'cyclegan')

def _lazy(module: str, function: str) -> Callable[..., tuple]:
  """A builder imported on first use (the 3-D, video and audio families)."""
  def build(*args, **kwargs):
    import importlib  # pylint: disable=g-import-not-at-top
    return getattr(importlib.import_module(module), function)(*args, **kwargs)
  return build


ARCHITECTURES: dict[str, Callable[..., tuple]] = {
    'dcgan': dcgan.build,
    'mlp': mlp.build,
    'resnet': resnet.build,
    'pix2pix': unet.build,         # U-Net G, PatchGAN D on (condition, image) pairs.
    'cyclegan': cyclegan.build,    # Two ResNet-block G's, two PatchGAN D's.
    # Clips (T, H, W, C): 3-D (de)convolutional G and D (VGAN / TGAN family).
    'video_gan': _lazy('gan_jax.models.conv3d', 'build_video'),
    # Clips: MoCoGAN's content + recurrent motion G, image D on frames + video D on clips.
    'mocogan': _lazy('gan_jax.models.mocogan', 'build'),
    # Voxel grids (D, H, W, 1): 3D-GAN's 3-D (de)convolutions.
    'gan3d': _lazy('gan_jax.models.conv3d', 'build_voxels'),
    # Waveforms (L, 1): WaveGAN's 1-D transposed convolutions, D with phase shuffle.
    'wavegan': _lazy('gan_jax.models.wavegan', 'build'),
    # StyleGAN2 (Karras et al. 2020): mapping + modulated-conv synthesis, residual D.
    'stylegan2': _lazy('gan_jax.models.stylegan2', 'build'),
    # Token sequences (L,): SeqGAN's LSTM G and CNN D over token embeddings (text GANs).
    'sequence': _lazy('gan_jax.models.sequence', 'build'),
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
  # Per-example input shapes (pytrees of tuples); None = (latent_dim,) and data_shape.
  generator_input_shape: Any = None
  discriminator_input_shape: Any = None
  condition_shape: Optional[tuple[int, ...]] = None
  # InfoGAN's structured latent (categorical K, continuous M): G's input is
  # concat(noise, one_hot(c_cat), c_cont) with latent_dim = noise + K + M; None = plain z.
  latent_codes: Optional[tuple[int, int]] = None
  # PacGAN: D scores packs of `pack` samples (gan_jax.models.minibatch.pack); 1 = no packing.
  pack: int = 1
  # A model's own latent distribution, (key, num) -> (num, latent_dim), when its latent is not
  # one i.i.d. distribution (MoCoGAN's categorical content codes); None = latent_distribution.
  latent_sampler: Optional[Callable[[jax.Array, int], jax.Array]] = None

  # ---- latents -------------------------------------------------------------------------
  def sample_codes(self, key: jax.Array, num: int):
    """InfoGAN: (noise (num, latent_dim - K - M) ~ N(0, I), c_cat (num,) ~ Cat(K) uniform,
    c_cont (num, M) ~ U[-1, 1])."""
    if self.latent_codes is None:
      raise ValueError('These networks have no structured latent codes (InfoGAN: '
                       'model.d_q_head=True with model.infogan.categorical / continuous).')
    categorical, continuous = self.latent_codes
    k_z, k_cat, k_cont = jax.random.split(key, 3)
    return (jax.random.normal(k_z, (num, self.latent_dim - categorical - continuous)),
            jax.random.randint(k_cat, (num,), 0, categorical),
            jax.random.uniform(k_cont, (num, continuous), minval=-1.0, maxval=1.0))

  def code_latents(self, noise: jax.Array, categorical: jax.Array,
                   continuous: jax.Array) -> jax.Array:
    """InfoGAN: G's input concat(noise, one_hot(c_cat), c_cont) (num, latent_dim)."""
    return jnp.concatenate([noise, jax.nn.one_hot(categorical, self.latent_codes[0],
                                                  dtype=noise.dtype),
                            jnp.asarray(continuous, noise.dtype)], axis=-1)

  def sample_latents(self, key: jax.Array, num: int) -> jax.Array:
    """G's latent input (num, latent_dim): z ~ latent_distribution, InfoGAN's
    code_latents(*sample_codes(key, num)), or the model's own latent_sampler(key, num)."""
    if self.latent_sampler is not None:
      return self.latent_sampler(key, num)
    if self.latent_codes is not None:
      return self.code_latents(*self.sample_codes(key, num))
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

  @staticmethod
  def _zeros(shapes, num: int):
    return jax.tree_util.tree_map(lambda s: jnp.zeros((num, *s), jnp.float32), shapes,
                                  is_leaf=lambda s: isinstance(s, tuple))

  # ---- generator -----------------------------------------------------------------------
  def generator_init(self, key: jax.Array) -> dict:
    shapes = self.generator_input_shape or (self.latent_dim,)
    return dict(self.make_generator(None).init(
        {'params': key, 'dropout': key}, self._zeros(shapes, 2), self._dummy_labels(2),
        train=False))

  def generator_apply(self, variables: Variables, z: jax.Array,
                      labels: Optional[jax.Array] = None, *, train: bool,
                      axis_name: Optional[str] = None,
                      rngs: Optional[dict] = None) -> tuple[jax.Array, dict]:
    """Returns (samples, updated mutable collections; {} when train=False)."""
    return _apply(self.make_generator(axis_name), variables, z, labels, train, rngs)

  # ---- discriminator -------------------------------------------------------------------
  def discriminator_init(self, key: jax.Array) -> dict:
    shapes = self.discriminator_input_shape or self.data_shape
    return dict(self.make_discriminator(None).init(
        {'params': key, 'dropout': key}, minibatch.pack(self._zeros(shapes, 2 * self.pack),
                                                        self.pack),
        self._dummy_labels(2), train=False))

  def discriminator_apply(self, variables: Variables, x: jax.Array,
                          labels: Optional[jax.Array] = None, *, train: bool,
                          axis_name: Optional[str] = None,
                          rngs: Optional[dict] = None) -> tuple[jax.Array, dict]:
    """Returns (logits of shape (N,) (N / pack when packing), updated mutable collections)."""
    return _apply(self.make_discriminator(axis_name), variables, minibatch.pack(x, self.pack),
                  labels, train, rngs)

  def discriminator_features(self, variables: Variables, x: jax.Array,
                             labels: Optional[jax.Array] = None, *, train: bool,
                             axis_name: Optional[str] = None,
                             rngs: Optional[dict] = None) -> tuple[Any, jax.Array, dict]:
    """(D's output, phi(x), updated mutable collections): phi is the feature vector D sows as
    'intermediates'/'features' before its logit layer (feature matching, projection's phi)."""
    module = self.make_discriminator(axis_name)
    mutable = list(MUTABLE_COLLECTIONS) + ['intermediates'] if train else ['intermediates']
    out, mutated = module.apply(variables, minibatch.pack(x, self.pack), labels, train=train,
                                rngs=rngs, mutable=mutable)
    mutated = dict(mutated)
    sown = mutated.pop('intermediates', {}).get('features')
    if sown is None:
      raise ValueError(f'{type(module).__name__} does not expose features (it sows no '
                       "'intermediates'/'features'); feature matching needs a D that does "
                       '(dcgan, resnet, mlp).')
    return out, sown[0], (mutated if train else {})


def _apply(module, variables, inputs, labels, train, rngs):
  if train:
    out, mutated = module.apply(variables, inputs, labels, train=True, rngs=rngs,
                                mutable=list(MUTABLE_COLLECTIONS))
    return out, dict(mutated)
  return module.apply(variables, inputs, labels, train=False, rngs=rngs), {}


def build_networks(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
                   num_classes: Optional[int] = None,
                   condition_shape: Optional[tuple[int, ...]] = None) -> Networks:
  """Builds the architecture named by `model_config.name` for data of `data_shape` (and G
  inputs of `condition_shape`, for architectures that translate images)."""
  name = model_config.name
  if name not in ARCHITECTURES:
    raise ValueError(f'Unknown model.name {name!r}; choose one of {sorted(ARCHITECTURES)}.')
  builder = ARCHITECTURES[name]
  if name in CONDITION_ARCHITECTURES:
    if condition_shape is None:
      raise ValueError(f'model.name={name!r} translates an input image, but the dataset gives '
                       'none; use a paired or unpaired dataset (dataset.name='
                       "'paired_digits' or 'unpaired_digits').")
    built = builder(model_config, tuple(data_shape), num_classes,
                    condition_shape=tuple(condition_shape))
  else:
    built = builder(model_config, tuple(data_shape), num_classes)
  make_g, make_d, io = built if len(built) == 3 else (*built, {})
  pack = _check_d_options(model_config, name, num_classes)
  codes = None
  if model_config.get('d_q_head', False):
    codes = (int(model_config.infogan.categorical), int(model_config.infogan.continuous))
  return Networks(make_generator=make_g, make_discriminator=make_d,
                  latent_dim=int(model_config.latent_dim), data_shape=tuple(data_shape),
                  num_classes=num_classes,
                  latent_distribution=model_config.latent_distribution,
                  generator_input_shape=io.get('generator_input'),
                  discriminator_input_shape=io.get('discriminator_input'),
                  condition_shape=None if condition_shape is None else tuple(condition_shape),
                  latent_codes=codes, pack=pack, latent_sampler=io.get('latent_sampler'))


def _check_d_options(model_config, name: str, num_classes: Optional[int]) -> int:
  """Checks the mode-collapse D options (packing, minibatch layers); returns d_pack."""
  pack = int(model_config.get('d_pack', 1))
  if pack < 1:
    raise ValueError(f'model.d_pack must be >= 1 (1 = no packing); got {pack}.')
  uses_minibatch = minibatch.from_config(model_config).enabled if 'd_minibatch_stddev' in \
      model_config else False
  if uses_minibatch and name not in ('dcgan', 'resnet', 'mlp', 'mocogan'):
    raise ValueError(f'The minibatch layers (model.d_minibatch_stddev / '
                     f'd_minibatch_discrimination) exist for the dcgan, resnet and mlp '
                     f'discriminators and MoCoGAN\'s image D, not model.name={name!r}.')
  heads = model_config.get('d_class_head', False) or model_config.get('d_q_head', False)
  if pack > 1 and (num_classes or heads):
    raise ValueError(f'model.d_pack={pack} packs samples without their labels: it needs an '
                     'unconditional D with no class or Q head (dataset.conditional=False, '
                     'model.d_class_head=False, model.d_q_head=False).')
  return pack


def count_params(variables: Variables) -> int:
  return sum(x.size for x in jax.tree_util.tree_leaves(variables.get('params', {})))
