"""Class conditioning of G and D, and D's extra heads, shared by the convolutional nets.

Generator (model.g_conditioning; y in {0..K-1}):
- 'concat' (Mirza & Osindero 2014): G([z, E[y]]), E a learned (K, label_embedding_dim)
  table, N(0, 1) init like z (the paper feeds a one-hot y; a learned table is a linear map
  of it).
- 'cbn', conditional BatchNorm (de Vries et al. 2017; Miyato & Koyama 2018):
  gamma[y] * (x - mu) / sqrt(var + eps) + beta[y], with the batch statistics of plain BN
  (synchronized over `axis_name`, running averages in 'batch_stats') and (K, C) tables
  gamma (initialized like the network's BN scale: dcgan N(1, 0.02), resnet 1) and beta (0).
Discriminator (model.d_conditioning):
- 'concat': D([x, E[y] broadcast to H x W x label_embedding_dim]) (channels appended).
- 'projection' (Miyato & Koyama 2018): D(x, y) = psi(phi(x)) + <V[y], phi(x)>, V a (K, F)
  Glorot-uniform table, spectrally normalized when model.d_spectral_norm.
Heads on phi(x) (then D returns a dict with 'logit' (N,) and the heads' entries):
- d_class_head, ACGAN's auxiliary classifier (Odena et al. 2017): 'class_logits' (N, K) =
  Dense(K)(phi).
- d_q_head, InfoGAN's Q (Chen et al. 2016): Dense(hidden) -> LeakyReLU(0.2) -> Dense, split
  into 'q_categorical_logits' (N, categorical), 'q_continuous_mean' and
  'q_continuous_log_std' (N, continuous) of a factored Gaussian (sizes in model.infogan).
  The paper's BatchNorm after the hidden layer is left out (it would mix the examples of a
  batch).
phi(x) is what D's final linear layer reads: resnet, the sum over H, W of the last block's
ReLU (the paper sums); dcgan, the flattened last feature map (its base x base VALID logit
convolution is a Dense on it). The projection reads the spatial sum of that map on dcgan
too (`projection_features`), the paper's global pooling, rather than the flattened map (a
class-specific spatial template). Head layers are spectrally normalized with D's.
"""

import dataclasses
from typing import Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import layers
from gan_jax.models import normalization as norm_lib
from gan_jax.models import options

G_CONDITIONINGS = ('none', 'concat', 'cbn')
D_CONDITIONINGS = ('none', 'concat', 'projection')


@dataclasses.dataclass(frozen=True)
class Conditioning:
  """The conditioning and heads one architecture builds (from `from_config`; the field
  defaults are the unconditional network's, the config's defaults are in configs/default.py)."""

  num_classes: Optional[int] = None
  g: str = 'none'
  d: str = 'none'
  embedding_dim: int = 0
  class_head: bool = False
  q_head: bool = False
  q_categorical: int = 0
  q_continuous: int = 0
  q_hidden: int = 0
  q_batchnorm: bool = False

  @property
  def has_heads(self) -> bool:
    return self.class_head or self.q_head


UNCONDITIONAL = Conditioning()


def from_config(model_config, num_classes: Optional[int], architecture: str,
                g_choices=G_CONDITIONINGS, d_choices=D_CONDITIONINGS,
                heads: bool = True) -> Conditioning:
  """Checks model.{g,d}_conditioning, label_embedding_dim, d_class_head, d_q_head and
  model.infogan against what `architecture` supports and the labels the dataset gives."""
  g = options.check_choice(model_config.g_conditioning, G_CONDITIONINGS, 'model.g_conditioning')
  d = options.check_choice(model_config.d_conditioning, D_CONDITIONINGS, 'model.d_conditioning')
  for field, value, supported in (('g_conditioning', g, g_choices),
                                  ('d_conditioning', d, d_choices)):
    if value not in supported:
      raise ValueError(f'model.name={architecture!r} supports model.{field} in '
                       f'{tuple(supported)}; got {value!r} (dcgan and resnet support '
                       f'{G_CONDITIONINGS if field[0] == "g" else D_CONDITIONINGS}).')
  class_head, q_head = bool(model_config.d_class_head), bool(model_config.d_q_head)
  if (class_head or q_head) and not heads:
    raise ValueError(f'model.name={architecture!r} has no discriminator heads; set '
                     'model.d_class_head=False and model.d_q_head=False, or use dcgan / resnet.')
  needs_labels = [f'model.{f}={v!r}' for f, v in (('g_conditioning', g), ('d_conditioning', d))
                  if v != 'none'] + (['model.d_class_head=True'] if class_head else [])
  if needs_labels and not num_classes:
    raise ValueError(f'{needs_labels[0]} needs class labels, but the data gives none; set '
                     '--config.dataset.conditional=True.')
  embedding_dim = int(model_config.label_embedding_dim)
  if 'concat' in (g, d) and embedding_dim <= 0:
    raise ValueError(f"model.label_embedding_dim must be > 0 for 'concat'; got {embedding_dim}.")
  q = model_config.infogan
  q_categorical, q_continuous, q_hidden = int(q.categorical), int(q.continuous), int(q.hidden)
  q_batchnorm = bool(q.get('batchnorm', False))
  if q_head and (min(q_categorical, q_continuous) < 0 or q_categorical + q_continuous == 0
                 or q_hidden <= 0):
    raise ValueError('model.d_q_head needs model.infogan.categorical, continuous >= 0 (not both '
                     f'0) and hidden > 0; got {q_categorical}, {q_continuous}, {q_hidden}.')
  return Conditioning(num_classes=int(num_classes) if num_classes else None, g=g, d=d,
                      embedding_dim=embedding_dim, class_head=class_head, q_head=q_head,
                      q_categorical=q_categorical, q_continuous=q_continuous,
                      q_hidden=q_hidden, q_batchnorm=q_batchnorm and q_head)


def _require_labels(labels: Optional[jax.Array], field: str, value) -> jax.Array:
  if labels is None:
    raise ValueError(f'model.{field}={value!r} needs labels (int32 (N,)), got None; set '
                     '--config.dataset.conditional=True so the objective passes them.')
  return labels


def concat_label_embedding(z: jax.Array, labels: Optional[jax.Array], cond: Conditioning,
                           player: str = 'g', name: str = 'label_embedding') -> jax.Array:
  """[z, E[y]] on the last axis, for `player` 'g' (or 'd': an MLP D's flat input). Call it
  inside a compact method: E belongs to the caller."""
  labels = _require_labels(labels, f'{player}_conditioning', getattr(cond, player))
  e = nn.Embed(cond.num_classes, cond.embedding_dim, name=name)(labels)
  return jnp.concatenate([z, e.astype(z.dtype)], axis=-1)


def concat_label_map(x: jax.Array, labels: Optional[jax.Array], cond: Conditioning,
                     name: str = 'label_embedding') -> jax.Array:
  """[x, E[y] broadcast over H, W] on the channel axis (x: (N, H, W, C))."""
  labels = _require_labels(labels, 'd_conditioning', cond.d)
  e = nn.Embed(cond.num_classes, cond.embedding_dim, name=name)(labels).astype(x.dtype)
  e = jnp.broadcast_to(e[:, None, None, :], (*x.shape[:-1], e.shape[-1]))
  return jnp.concatenate([x, e], axis=-1)


class ConditionalBatchNorm(nn.Module):
  """gamma[y] * BN(x) + beta[y]: BN without its own affine, (K, C) tables 'scale', 'bias'."""

  num_classes: int
  axis_name: Optional[str] = None
  scale_init: Callable = nn.initializers.ones

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array, *, train: bool) -> jax.Array:
    x = norm_lib.normalization('batch', train=train, axis_name=self.axis_name, affine=False,
                               name='bn')(x)
    channels = x.shape[-1]
    scale = self.param('scale', self.scale_init, (self.num_classes, channels))
    bias = self.param('bias', nn.initializers.zeros, (self.num_classes, channels))
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (channels,)
    return x * scale[labels].reshape(shape) + bias[labels].reshape(shape)


def generator_batch_norm(x: jax.Array, labels: Optional[jax.Array], cond: Conditioning, *,
                         train: bool, axis_name: Optional[str], name: str,
                         scale_init: Callable = nn.initializers.ones) -> jax.Array:
  """One BatchNorm of G: conditional when cond.g == 'cbn', else gan_jax's plain BN."""
  if cond.g == 'cbn':
    labels = _require_labels(labels, 'g_conditioning', cond.g)
    return ConditionalBatchNorm(cond.num_classes, axis_name, scale_init, name=name)(
        x, labels, train=train)
  return norm_lib.normalization('batch', train=train, axis_name=axis_name,
                                scale_init=scale_init, name=name)(x)


class QHead(nn.Module):
  """InfoGAN's Q(c | x) on D's features: Dense(hidden) -> [BatchNorm] -> LeakyReLU(0.2) ->
  Dense. `batchnorm` (model.infogan.batchnorm) adds the paper's BatchNorm after the hidden
  layer (Chen et al. 2016, appendix C: FC.128-BN-lRELU), synced over `axis_name` like D's."""

  categorical: int
  continuous: int
  hidden: int = 128
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  dtype: Optional[jnp.dtype] = None
  batchnorm: bool = False
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, features: jax.Array, *, train: bool) -> dict:
    sn = dict(spectral_norm=self.spectral_norm, n_steps=self.spectral_norm_steps, train=train)
    h = layers.apply_layer(nn.Dense(self.hidden, dtype=self.dtype, name='hidden'), features,
                           **sn)
    if self.batchnorm:  # On (N, 1, 1, hidden), as D's fc_norm.
      h = norm_lib.normalization('batch', train=train, axis_name=self.axis_name,
                                 name='bn')(h[:, None, None, :])[:, 0, 0, :]
    h = nn.leaky_relu(h, 0.2)
    k, c = self.categorical, self.continuous
    out = layers.apply_layer(nn.Dense(k + 2 * c, dtype=self.dtype, name='output'), h, **sn)
    out = out.astype(jnp.float32)
    return {'q_categorical_logits': out[:, :k], 'q_continuous_mean': out[:, k:k + c],
            'q_continuous_log_std': out[:, k + c:]}


def discriminator_output(logit: jax.Array, features: jax.Array,
                         labels: Optional[jax.Array], cond: Conditioning, *,
                         spectral_norm: bool, n_steps: int, train: bool, dtype=None,
                         projection_features: Optional[jax.Array] = None,
                         axis_name: Optional[str] = None):
  """D's output from psi's logit (N,) and phi(x) = `features` (N, F) (call inside D's
  compact method): the logit itself, plus the projection term when cond.d == 'projection'
  (on `projection_features` (N, F') when given, else on phi); a dict {'logit', heads...}
  when a head is on. `axis_name`: the device axis the Q head's BatchNorm syncs over."""
  sn = dict(spectral_norm=spectral_norm, n_steps=n_steps, train=train)
  if cond.d == 'projection':
    labels = _require_labels(labels, 'd_conditioning', cond.d)
    phi = features if projection_features is None else projection_features
    table = nn.Embed(cond.num_classes, phi.shape[-1],
                     embedding_init=nn.initializers.xavier_uniform(), name='projection')
    v = layers.apply_layer(table, labels, **sn)
    logit = logit + jnp.sum(v.astype(jnp.float32) * phi.astype(jnp.float32), axis=-1)
  if not cond.has_heads:
    return logit
  out = {'logit': logit}
  if cond.class_head:
    head = nn.Dense(cond.num_classes, dtype=dtype, name='class_head')
    out['class_logits'] = layers.apply_layer(head, features, **sn).astype(jnp.float32)
  if cond.q_head:
    out.update(QHead(cond.q_categorical, cond.q_continuous, cond.q_hidden, spectral_norm,
                     n_steps, dtype, batchnorm=cond.q_batchnorm, axis_name=axis_name,
                     name='q_head')(features, train=train))
  return out
