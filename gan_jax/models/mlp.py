"""Fully connected generator and discriminator, as in the original GAN.

Goodfellow et al. 2014 ("Generative Adversarial Nets") trained MNIST with an MLP generator
(ReLU hidden layers, bounded output) and an MLP discriminator (maxout hidden layers with
dropout). Here the hidden widths, activations, dropout and spectral normalization
(Miyato et al. 2018) are set by the model config, so the same module serves MNIST-sized
images (flattened in D, reshaped at G's output, tanh output in [-1, 1]) and the 2-D toy
benchmarks (linear output: those points are not confined to [-1, 1]).

  G: z -> [Dense(h_i) -> (BN) -> act]_i -> Dense(prod(data_shape)) -> out_act -> reshape
  D: x -> flatten -> [Dense(h_i) (SN) -> act -> Dropout(p)]_i -> Dense(1) (SN) -> logit

Config keys (model_config.get, default):
  g_hidden ((256, 256)), d_hidden ((256, 256)): tuple of widths, or an int repeated
    g_depth / d_depth (2) times;
  g_activation ('relu'), d_activation ('leaky_relu'): keys of ACTIVATIONS; D may also use
    'maxout', with d_maxout_pieces (5) linear pieces per unit (Goodfellow et al. 2013);
  output_activation ('tanh'): 'tanh' for image data in [-1, 1], 'linear' for toy data;
  g_batch_norm (False): BatchNorm after each hidden Dense of G;
  d_dropout (0.0): dropout rate after each hidden layer of D (rng name 'dropout');
  d_spectral_norm (False), g_spectral_norm (False), spectral_norm_steps (1).
Unconditional: labels are accepted and ignored.
"""

import math
from typing import Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.models import layers

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
           name: str) -> jax.Array:
  return layers.apply_layer(nn.Dense(features, name=name), x, spectral_norm=spectral_norm,
                            n_steps=n_steps, train=train)


def _hidden_layer(x, features, activation, *, maxout_pieces, spectral_norm, n_steps, train,
                  name):
  """Dense -> activation; maxout takes the max over `maxout_pieces` linear units."""
  if activation == 'maxout':
    y = _dense(features * maxout_pieces, x, spectral_norm=spectral_norm, n_steps=n_steps,
               train=train, name=name)
    return jnp.max(y.reshape(*y.shape[:-1], features, maxout_pieces), axis=-1)
  y = _dense(features, x, spectral_norm=spectral_norm, n_steps=n_steps, train=train,
             name=name)
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

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    del labels  # Unconditional.
    x = z
    for i, width in enumerate(self.hidden):
      x = _dense(width, x, spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps,
                 train=train, name=f'dense{i}')
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         axis_name=self.axis_name if train else None, name=f'bn{i}')(x)
      x = ACTIVATIONS[self.activation](x)
    x = _dense(math.prod(self.data_shape), x, spectral_norm=self.spectral_norm,
               n_steps=self.spectral_norm_steps, train=train, name='output')
    x = OUTPUT_ACTIVATIONS[self.output_activation](x)
    return x.reshape(x.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
  data_shape: tuple[int, ...]
  hidden: Sequence[int] = (256, 256)
  activation: str = 'leaky_relu'
  dropout: float = 0.0
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  maxout_pieces: int = 5

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    del labels  # Unconditional.
    x = x.reshape(x.shape[0], -1)
    for i, width in enumerate(self.hidden):
      x = _hidden_layer(x, width, self.activation, maxout_pieces=self.maxout_pieces,
                        spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps,
                        train=train, name=f'dense{i}')
      if self.dropout > 0:
        x = nn.Dropout(self.dropout, name=f'dropout{i}')(x, deterministic=not train)
    x = _dense(1, x, spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps,
               train=train, name='logit')
    return x.reshape(x.shape[0])


def _widths(model_config, prefix: str) -> tuple[int, ...]:
  hidden = model_config.get(f'{prefix}_hidden', (256, 256))
  if isinstance(hidden, int):
    hidden = (hidden,) * int(model_config.get(f'{prefix}_depth', 2))
  hidden = tuple(int(h) for h in hidden)
  if not hidden or any(h <= 0 for h in hidden):
    raise ValueError(f'model.{prefix}_hidden must be positive widths (a tuple, or an int '
                     f'with model.{prefix}_depth >= 1); got {hidden}.')
  return hidden


def _check_choice(value: str, choices, key: str) -> str:
  if value not in choices:
    raise ValueError(f'Unknown model.{key} {value!r}; choose one of {sorted(choices)}.')
  return value


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int]):
  """Returns (make_generator, make_discriminator) for the MLP pair (see module doc)."""
  del num_classes  # Unconditional.
  g_hidden, d_hidden = _widths(model_config, 'g'), _widths(model_config, 'd')
  g_act = _check_choice(model_config.get('g_activation', 'relu'),
                        [a for a in ACTIVATIONS if a != 'maxout'], 'g_activation')
  d_act = _check_choice(model_config.get('d_activation', 'leaky_relu'), ACTIVATIONS,
                        'd_activation')
  out_act = _check_choice(model_config.get('output_activation', 'tanh'), OUTPUT_ACTIVATIONS,
                          'output_activation')
  dropout = float(model_config.get('d_dropout', 0.0))
  if not 0.0 <= dropout < 1.0:
    raise ValueError(f'model.d_dropout is a rate in [0, 1); got {dropout}.')
  sn_steps = int(model_config.get('spectral_norm_steps', 1))
  pieces = int(model_config.get('d_maxout_pieces', 5))

  def make_generator(axis_name):
    return MLPGenerator(data_shape, g_hidden, g_act, out_act,
                        bool(model_config.get('g_batch_norm', False)),
                        bool(model_config.get('g_spectral_norm', False)), sn_steps, axis_name)

  def make_discriminator(axis_name):
    del axis_name  # No cross-example statistics in D.
    return MLPDiscriminator(data_shape, d_hidden, d_act, dropout,
                            bool(model_config.get('d_spectral_norm', False)), sn_steps, pieces)

  return make_generator, make_discriminator
