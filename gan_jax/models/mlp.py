"""Fully connected generator and discriminator, as in the original GAN.

Goodfellow et al. 2014 ("Generative Adversarial Nets") trained MNIST with an MLP generator
(ReLU hidden layers, bounded output) and an MLP discriminator (maxout hidden layers with
dropout). Here the hidden widths, activations, dropout and spectral normalization
(Miyato et al. 2018) are set by the model config, so the same module serves MNIST-sized
images (flattened in D, reshaped at G's output, tanh output in [-1, 1]) and the 2-D toy
benchmarks (linear output: those points are not confined to [-1, 1]).

  G: z -> [Dense(h_i) -> (BN) -> act]_i -> Dense(prod(data_shape)) -> out_act -> reshape
  D: x -> flatten -> [Dense(h_i) (SN) -> act -> Dropout(p)]_i -> phi -> (minibatch layers)
     -> Dense(1) (SN) -> logit    (phi: sown as 'intermediates'/'features')

Config fields (defaults in configs/default.py):
  model.mlp.g_hidden, d_hidden: widths of the hidden layers, one per layer;
  model.mlp.g_activation, d_activation: keys of ACTIVATIONS; D may also use 'maxout', with
    model.mlp.d_maxout_pieces linear pieces per unit (Goodfellow et al. 2013);
  model.mlp.output_activation: 'tanh' for image data in [-1, 1], 'linear' for toy data;
  model.mlp.g_batch_norm: BatchNorm (gan_jax.models.normalization, scale initialized to 1)
    after each hidden Dense of G;
  model.d_dropout: dropout rate after each hidden layer of D (rng name 'dropout');
  model.d_spectral_norm, g_spectral_norm, spectral_norm_steps;
  model.compute_dtype: 'bfloat16' computes the Dense layers in bfloat16 (float32 params).
  model.g_conditioning, d_conditioning: 'none' or 'concat' (gan_jax.models.conditioning:
    [z, E[y]] into G, [flatten(x), E[y]] into D, E learned label_embedding_dim tables);
    cbn, projection and D's heads are dcgan / resnet only.
model.g_width / d_width are not read (they size the convolutional nets).
"""

import math
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.models import conditioning as cond_lib
from gan_jax.models import layers
from gan_jax.models import minibatch as minibatch_lib
from gan_jax.models import normalization as norm_lib
from gan_jax.models import options

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'relu': nn.relu,
    'leaky_relu': lambda x: nn.leaky_relu(x, 0.2),
    'elu': nn.elu,
    'tanh': jnp.tanh,
    'maxout': None,  # handled by the layer: needs its own Dense width.
}
OUTPUT_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'tanh': jnp.tanh,
    'linear': lambda x: x,
}


def _dense(features: int, x: jax.Array, *, spectral_norm: bool, n_steps: int, train: bool,
           dtype: Any, name: str) -> jax.Array:
  return layers.apply_layer(nn.Dense(features, dtype=dtype, name=name), x,
                            spectral_norm=spectral_norm, n_steps=n_steps, train=train)


def _hidden_layer(x, features, activation, *, maxout_pieces, spectral_norm, n_steps, train,
                  dtype, name):
  """Dense -> activation; maxout takes the max over `maxout_pieces` linear units."""
  if activation == 'maxout':
    y = _dense(features * maxout_pieces, x, spectral_norm=spectral_norm, n_steps=n_steps,
               train=train, dtype=dtype, name=name)
    return jnp.max(y.reshape(*y.shape[:-1], features, maxout_pieces), axis=-1)
  y = _dense(features, x, spectral_norm=spectral_norm, n_steps=n_steps, train=train,
             dtype=dtype, name=name)
  return ACTIVATIONS[activation](y)


class MLPGenerator(nn.Module):
  data_shape: tuple[int, ...]
  hidden: Sequence[int] = (256, 256)
  activation: str = 'relu'
  output_activation: str = 'tanh'
  batch_norm: bool = False
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  axis_name: Optional[str] = None
  dtype: Any = None
  conditioning: cond_lib.Conditioning = cond_lib.UNCONDITIONAL

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    if self.conditioning.g == 'concat':
      z = cond_lib.concat_label_embedding(z, labels, self.conditioning)
    x = z.astype(self.dtype or z.dtype)
    for i, width in enumerate(self.hidden):
      x = _dense(width, x, spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps,
                 train=train, dtype=self.dtype, name=f'dense{i}')
      if self.batch_norm:
        x = norm_lib.normalization('batch', train=train, axis_name=self.axis_name,
                                   name=f'bn{i}')(x)
      x = ACTIVATIONS[self.activation](x)
    x = _dense(math.prod(self.data_shape), x, spectral_norm=self.spectral_norm,
               n_steps=self.spectral_norm_steps, train=train, dtype=self.dtype, name='output')
    x = OUTPUT_ACTIVATIONS[self.output_activation](x.astype(jnp.float32))
    return x.reshape(x.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
  data_shape: tuple[int, ...]
  hidden: Sequence[int] = (256, 256)
  activation: str = 'leaky_relu'
  dropout: float = 0.0
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  maxout_pieces: int = 5
  dtype: Any = None
  conditioning: cond_lib.Conditioning = cond_lib.UNCONDITIONAL
  minibatch: minibatch_lib.MinibatchOptions = minibatch_lib.NO_MINIBATCH
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    x = x.reshape(x.shape[0], -1).astype(self.dtype or x.dtype)
    if self.conditioning.d == 'concat':
      x = cond_lib.concat_label_embedding(x, labels, self.conditioning, 'd')
    for i, width in enumerate(self.hidden):
      x = _hidden_layer(x, width, self.activation, maxout_pieces=self.maxout_pieces,
                        spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps,
                        train=train, dtype=self.dtype, name=f'dense{i}')
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, name=f'dropout{i}')(x, deterministic=not train)
    self.sow('intermediates', 'features', x)
    x = minibatch_lib.apply(x, self.minibatch, self.axis_name)
    x = _dense(1, x, spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps,
               train=train, dtype=self.dtype, name='logit')
    return x.reshape(x.shape[0]).astype(jnp.float32)


def _widths(hidden, field: str) -> tuple[int, ...]:
  if not isinstance(hidden, (tuple, list)) or not hidden or any(int(h) <= 0 for h in hidden):
    raise ValueError(f'{field} must be a tuple of positive widths, one per hidden layer '
                     f'(e.g. (256, 256)); got {hidden}.')
  return tuple(int(h) for h in hidden)


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int]):
  """Returns (make_generator, make_discriminator) for the MLP pair (see module doc)."""
  own = model_config.mlp
  g_hidden = _widths(own.g_hidden, 'model.mlp.g_hidden')
  d_hidden = _widths(own.d_hidden, 'model.mlp.d_hidden')
  g_act = options.check_choice(own.g_activation, [a for a in ACTIVATIONS if a != 'maxout'],
                               'model.mlp.g_activation')
  d_act = options.check_choice(own.d_activation, ACTIVATIONS, 'model.mlp.d_activation')
  out_act = options.check_choice(own.output_activation, OUTPUT_ACTIVATIONS,
                                 'model.mlp.output_activation')
  dropout = options.check_rate(model_config.d_dropout, 'model.d_dropout')
  dtype = options.compute_dtype(model_config.compute_dtype)
  sn_steps = int(model_config.spectral_norm_steps)
  cond = cond_lib.from_config(model_config, num_classes, 'mlp', g_choices=('none', 'concat'),
                              d_choices=('none', 'concat'), heads=False)

  def make_generator(axis_name):
    return MLPGenerator(data_shape, g_hidden, g_act, out_act, bool(own.g_batch_norm),
                        bool(model_config.g_spectral_norm), sn_steps, axis_name, dtype,
                        conditioning=cond)

  def make_discriminator(axis_name):
    return MLPDiscriminator(data_shape, d_hidden, d_act, dropout,
                            bool(model_config.d_spectral_norm), sn_steps,
                            int(own.d_maxout_pieces), dtype, conditioning=cond,
                            minibatch=minibatch_lib.from_config(model_config),
                            axis_name=axis_name)

  return make_generator, make_discriminator
