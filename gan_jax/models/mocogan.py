"""MoCoGAN (Tulyakov et al. 2018): clips from a content code and a recurrent motion code.

Latent layout. G's input is one flat vector per clip (so sampling, fixed latents and
checkpoints work as for every other GAN), model.latent_dim = d_c + d_h + T * d_e wide:

    z = [z_content (d_c) | h_0 (d_h) | eps_1 (d_e) | eps_2 (d_e) | ... | eps_T (d_e)]

with d_c = model.mocogan.content_dim, d_e = motion_noise_dim, T the clip's frames, and h_0
the GRU's initial state: d_h = motion_dim entries when model.mocogan.random_initial_state
(the original's h_0 ~ N(0, I)), none when it is False (h_0 = 0). Every entry ~ N(0, 1)
(model.latent_distribution). `LatentLayout` splits and joins it and builds latents with one
content and several motions (`LatentLayout.grid`; h_0 belongs to the motion).
With categorical content codes (model.mocogan.content_codes = m > 0, content_code_classes
= K), m one-hot codes, uniform over K values, follow z_content:

    z = [z_content (d_c) | one_hot(code_1) (K) .. one_hot(code_m) (K) | h_0 | eps_1 .. eps_T]

and are part of the content G gets with every frame (model.mocogan.sorted_codes: drawn
ascending, the order statistics of m uniform draws, e.g. (min, max) of a clip's two
digits). The latent is then not i.i.d. N(0, 1): `build` gives Networks
`LatentLayout.sample` as its latent_sampler, so every draw (training, sampling, evaluation)
keeps the codes one-hot. Without codes it is the N(0, I) draw it was.

Generator: a GRU (flax.linen.GRUCell, motion_dim units, initial state h_0, run over t by
nn.RNN) maps eps_1..eps_T to the motion codes z_m(1..T); frame t is the image generator's
output for [z_content, z_m(t)], all N * T frames in one batch (BatchNorm statistics over
all frames), reshaped to (N, T, H, W, C). The image generator is this project's DCGAN
generator (gan_jax.models.dcgan: transposed convolutions, BN + ReLU, tanh; width
model.g_width, model.dcgan.conv_transpose_impl), as MoCoGAN's is the DCGAN generator.
The original draws the GRU's initial state at random (random_initial_state=True); the
default keeps h_0 = 0 (eps_1 already makes z_m(1) random), the layout the recipe's earlier
runs were trained with. MoCoGAN's categorical action code is not included (the data has no
action classes).

Discriminator: {'logit': D_V(clip) (N,), 'image_logit': D_I(frames) (N, k)}.
- D_V, the video discriminator: gan_jax.models.conv3d.VideoDiscriminator (video_gan's D,
  width model.d_width, model.conv3d.kernel_size / conv_impl / d_normalization) on the clip.
  Its logit is the main 'logit' (losses, penalties and evaluation read it).
- D_I, the image discriminator: the DCGAN discriminator (strided convolutions, BN,
  LeakyReLU(0.2); width model.d_width, model.dcgan.conv_impl / d_normalization) on
  k = model.mocogan.image_frames frames of each clip, real and generated alike. In training
  mode the k frames are distinct, drawn uniformly per clip from the 'dropout' rng stream the
  train step passes (a per-device key, like dropout: reproducible for a device count); in
  evaluation mode they are the fixed frames round(linspace(0, T - 1, k)). k = T scores every
  frame in order (no draw). The original scores single frames of other generated clips; here
  the image D sees k frames of the clips of the batch. The minibatch layers
  (model.d_minibatch_stddev / d_minibatch_discrimination, off by default) act in D_I, on
  the scored frames of different clips (D_I then takes the frames frame-major, so each
  group holds frames of different clips): frames that look alike across clips are what
  they detect. D_V has none.
- Q_c, the content head (model.mocogan.content_head = hidden units, 0 = off): InfoGAN's Q
  head (gan_jax.models.conditioning.QHead: Dense -> LeakyReLU(0.2) -> Dense) on D_I's
  features of each scored frame, predicting the clip's z_content: 'content_mean'
  (N, k, content_dim), and with codes their logits 'code_logits' (N, k, m, K). Off, D's
  parameters and outputs are the model's without it.
The 'mocogan' objective (gan_jax/objectives/mocogan.py) adds D_I's adversarial terms and,
with objective.mocogan.content_weight / code_weight > 0, the content-recovery terms on Q_c.
"""

import dataclasses
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.models import conditioning as cond_lib
from gan_jax.models import conv3d
from gan_jax.models import dcgan
from gan_jax.models import minibatch as minibatch_lib
from gan_jax.models import options


@dataclasses.dataclass(frozen=True)
class LatentLayout:
  """z = [z_content (content_dim) | codes (num_codes one-hots of code_classes) | h_0
  (initial_state_dim) | eps_1 .. eps_T (motion_noise_dim each)]; initial_state_dim is 0
  (h_0 = 0) or the GRU's width; num_codes is 0 (no categorical content codes) or more."""

  content_dim: int
  motion_noise_dim: int
  num_frames: int
  initial_state_dim: int = 0
  num_codes: int = 0
  code_classes: int = 10
  sorted_codes: bool = False  # Codes ascending along the codes (order statistics).

  @property
  def code_dim(self) -> int:
    """Entries of the one-hot categorical content codes."""
    return self.num_codes * self.code_classes

  @property
  def clip_content_dim(self) -> int:
    """Entries fixed per clip that G gets with every frame: z_content and the codes."""
    return self.content_dim + self.code_dim

  @property
  def latent_dim(self) -> int:
    return self.clip_content_dim + self.initial_state_dim + \
        self.num_frames * self.motion_noise_dim

  def split(self, z: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(content (N, clip_content_dim): z_content then the codes' one-hots, h_0 (N,
    initial_state_dim), eps (N, T, motion_noise_dim)) of latents (N, latent_dim); h_0 has no
    entries when initial_state_dim is 0."""
    if z.shape[-1] != self.latent_dim:
      raise ValueError(f'MoCoGAN latents have {self.latent_dim} entries (content '
                       f'{self.content_dim} + codes {self.num_codes} x {self.code_classes} + '
                       f'initial state {self.initial_state_dim} + '
                       f'{self.num_frames} frames x motion noise {self.motion_noise_dim}); '
                       f'got shape {z.shape}.')
    c, h = self.clip_content_dim, self.clip_content_dim + self.initial_state_dim
    eps = z[..., h:].reshape(*z.shape[:-1], self.num_frames, self.motion_noise_dim)
    return z[..., :c], z[..., c:h], eps

  def codes(self, z: jax.Array) -> jax.Array:
    """The categorical content codes (N, num_codes) int32 of latents (N, latent_dim)."""
    one_hot = z[..., self.content_dim:self.clip_content_dim]
    return jnp.argmax(one_hot.reshape(*z.shape[:-1], self.num_codes, self.code_classes),
                      axis=-1).astype(jnp.int32)

  def join(self, content: jax.Array, initial: jax.Array, eps: jax.Array) -> jax.Array:
    """Latents (N, latent_dim) of content (N, clip_content_dim), h_0 (N, initial_state_dim)
    and eps (N, T, motion_noise_dim)."""
    return jnp.concatenate([content, initial, eps.reshape(*eps.shape[:-2], -1)], axis=-1)

  def _content(self, key: jax.Array, num: int) -> jax.Array:
    """(num, clip_content_dim): z_content ~ N(0, I) and codes ~ Cat(code_classes) uniform
    (sorted ascending when sorted_codes), one-hot; with no codes exactly
    jax.random.normal(key, (num, content_dim))."""
    if not self.num_codes:
      return jax.random.normal(key, (num, self.content_dim))
    k_content, k_codes = jax.random.split(key)
    codes = jax.random.randint(k_codes, (num, self.num_codes), 0, self.code_classes)
    if self.sorted_codes:  # The sorted values of m uniform draws: e.g. (min, max) digits.
      codes = jnp.sort(codes, axis=-1)
    one_hot = jax.nn.one_hot(codes, self.code_classes).reshape(num, self.code_dim)
    return jnp.concatenate([jax.random.normal(k_content, (num, self.content_dim)), one_hot],
                           axis=-1)

  def sample(self, key: jax.Array, num: int) -> jax.Array:
    """Latents (num, latent_dim): the codes one-hot and uniform, every other entry N(0, 1)."""
    k_content, k_motion = jax.random.split(key)
    motion = jax.random.normal(k_motion, (num, self.latent_dim - self.clip_content_dim))
    return jnp.concatenate([self._content(k_content, num), motion], axis=-1)

  def grid(self, key: jax.Array, num_contents: int, num_motions: int) -> jax.Array:
    """Latents (num_contents * num_motions, latent_dim), row i * num_motions + j = content i
    with motion j: along a row the content (z_content and the codes) is fixed and the motion
    varies, down a column the motion (h_0 and eps_1..T) is fixed and the content varies.
    Entries ~ N(0, 1) but the codes' (one-hot, uniform)."""
    k_content, k_motion = jax.random.split(key)
    content = self._content(k_content, num_contents)
    motion = jax.random.normal(
        k_motion, (num_motions, self.latent_dim - self.clip_content_dim))  # [h_0 | eps].
    return jnp.concatenate([jnp.repeat(content, num_motions, axis=0),
                            jnp.tile(motion, (num_contents, 1))], axis=-1)


def latent_layout(model_config: ml_collections.ConfigDict, num_frames: int) -> LatentLayout:
  """The layout of model.mocogan for clips of `num_frames` frames."""
  own = model_config.mocogan
  initial = int(own.motion_dim) if bool(own.get('random_initial_state', False)) else 0
  return LatentLayout(int(own.content_dim), int(own.motion_noise_dim), int(num_frames),
                      initial, int(own.get('content_codes', 0)),
                      int(own.get('content_code_classes', 10)),
                      bool(own.get('sorted_codes', False)))


class MotionGRU(nn.Module):
  """eps (N, T, d_e), h_0 (N, motion_dim or 0) -> motion codes z_m (N, T, motion_dim): a GRU
  from h_0 (from 0 when h_0 has no entries)."""

  motion_dim: int

  @nn.compact
  def __call__(self, eps: jax.Array, initial: jax.Array) -> jax.Array:
    # No h_0 entries: nn.RNN's own initial carry, the GRU cell's zeros.
    carry = initial if initial.shape[-1] else None
    return nn.RNN(nn.GRUCell(self.motion_dim, name='gru'))(eps, initial_carry=carry)


class MoCoGANGenerator(nn.Module):
  """Latents (N, latent_dim) -> clips (N, T, H, W, C) in [-1, 1] (module docstring)."""

  clip_shape: tuple[int, int, int, int]
  layout: LatentLayout
  motion_dim: int
  width: int = 64
  axis_name: Optional[str] = None
  conv_transpose_impl: str = 'auto'
  dtype: Any = None
  spectral_norm: bool = False
  spectral_norm_steps: int = 1

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    del labels  # Unconditional.
    n = z.shape[0]
    t = self.clip_shape[0]
    content, initial, eps = self.layout.split(z)
    motion = MotionGRU(self.motion_dim, name='motion')(eps, initial)  # (N, T, motion_dim)
    frame_latents = jnp.concatenate(
        [jnp.broadcast_to(content[:, None], (n, t, content.shape[-1])), motion], axis=-1)
    frames = dcgan.DCGANGenerator(
        tuple(self.clip_shape[1:]), self.width, self.axis_name, self.conv_transpose_impl,
        self.dtype, spectral_norm=self.spectral_norm,
        spectral_norm_steps=self.spectral_norm_steps, name='image_generator')(
            frame_latents.reshape(n * t, -1), train=train)
    return frames.reshape(n, *self.clip_shape)


def frame_indices(num_frames: int, k: int, key: Optional[jax.Array], num_clips: int):
  """(num_clips, k) frame indices: k distinct frames per clip drawn uniformly with `key`
  (ascending), or round(linspace(0, T - 1, k)) for every clip when key is None; all T
  frames in order when k == T."""
  if not 1 <= k <= num_frames:
    raise ValueError(f'model.mocogan.image_frames={k} must be in 1..{num_frames} (the '
                     'frames of a clip).')
  if k == num_frames or key is None:
    fixed = np.arange(num_frames) if k == num_frames else \
        np.rint(np.linspace(0, num_frames - 1, k)).astype(np.int32)
    return jnp.broadcast_to(jnp.asarray(fixed, jnp.int32), (num_clips, k))
  order = jnp.argsort(jax.random.uniform(key, (num_clips, num_frames)), axis=-1)
  return jnp.sort(order[:, :k], axis=-1).astype(jnp.int32)


class MoCoGANDiscriminator(nn.Module):
  """Clips (N, T, H, W, C) -> {'logit': video logits (N,), 'image_logit': image logits of
  k frames per clip (N, k)} (module docstring)."""

  clip_shape: tuple[int, int, int, int]
  image_frames: int
  width: int = 64
  kernel_size: int = 4
  video_normalization: str = 'batch'
  video_conv_impl: str = 'auto'
  image_normalization: str = 'batch'
  image_conv_impl: str = 'auto'
  axis_name: Optional[str] = None
  dtype: Any = None
  spectral_norm: bool = False
  spectral_norm_steps: int = 1
  dropout: float = 0.0
  content_dim: int = 0   # Q_c's outputs (z_content's size); used when content_head > 0.
  content_head: int = 0  # Hidden units of Q_c on D_I's features (0: no head).
  num_codes: int = 0     # Categorical content codes Q_c also predicts (logits per code) ...
  code_classes: int = 10  # ... of code_classes values each.
  # D_I's minibatch layers (model.d_minibatch_stddev / d_minibatch_discrimination).
  minibatch: minibatch_lib.MinibatchOptions = minibatch_lib.NO_MINIBATCH

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> dict:
    del labels  # Unconditional.
    if x.ndim != 5:
      raise ValueError(f'MoCoGAN D needs clips (N, T, H, W, C); got {x.shape}.')
    n, t = x.shape[:2]
    sn = dict(spectral_norm=self.spectral_norm, spectral_norm_steps=self.spectral_norm_steps)
    _, strides = conv3d.video_geometry(self.clip_shape)
    video_logit = conv3d.VideoDiscriminator(
        strides[::-1], self.width, self.kernel_size, self.video_normalization, self.axis_name,
        self.video_conv_impl, self.dtype, dropout=self.dropout, name='video', **sn)(
            x, train=train)
    key = self.make_rng('dropout') if train and self.image_frames < t else None
    idx = frame_indices(t, self.image_frames, key, n)
    frames = jnp.take_along_axis(x, idx[:, :, None, None, None], axis=1)
    # Q_c: the InfoGAN Q head with content_dim continuous outputs and the codes' logits.
    head = cond_lib.Conditioning(
        q_head=True, q_continuous=self.content_dim, q_categorical=self.num_codes *
        self.code_classes, q_hidden=self.content_head) if self.content_head else \
        cond_lib.UNCONDITIONAL
    k = self.image_frames
    # With the minibatch layers the frames go frame-major (frame j of every clip, then frame
    # j + 1), so the layers' groups of consecutive entries hold frames of different clips.
    frame_major = self.minibatch.enabled
    flat = (jnp.swapaxes(frames, 0, 1) if frame_major else frames).reshape(
        n * k, *x.shape[2:])
    image_out = dcgan.DCGANDiscriminator(
        tuple(self.clip_shape[1:]), self.width, self.axis_name, self.dtype,
        dropout=self.dropout, normalization=self.image_normalization,
        conv_impl=self.image_conv_impl, conditioning=head, minibatch=self.minibatch,
        name='image', **sn)(flat, train=train)

    def per_clip(a, *shape):  # (N k, *shape) -> (N, k, *shape) in clip order.
      return jnp.swapaxes(a.reshape(k, n, *shape), 0, 1) if frame_major else \
          a.reshape(n, k, *shape)

    if not self.content_head:
      return {'logit': video_logit, 'image_logit': per_clip(image_out)}
    out = {'logit': video_logit, 'image_logit': per_clip(image_out['logit']),
           'content_mean': per_clip(image_out['q_continuous_mean'], self.content_dim)}
    if self.num_codes:
      out['code_logits'] = per_clip(image_out['q_categorical_logits'], self.num_codes,
                                    self.code_classes)
    return out


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int]):
  """'mocogan': (make_generator, make_discriminator) for clips `data_shape` (T, H, W, C)."""
  if len(data_shape) != 4:
    raise ValueError(f'MoCoGAN generates clips (T, H, W, C); got data shape {data_shape}. '
                     "Use a video dataset, e.g. --config.dataset.name=moving_mnist.")
  t = int(data_shape[0])
  layout = latent_layout(model_config, t)
  own = model_config.mocogan
  for field in ('content_dim', 'motion_noise_dim', 'motion_dim'):
    if int(own[field]) < 1:
      raise ValueError(f'model.mocogan.{field}={own[field]} must be >= 1.')
  if layout.num_codes < 0 or layout.code_classes < 2:
    raise ValueError(f'model.mocogan.content_codes={layout.num_codes} must be >= 0 and '
                     f'content_code_classes={layout.code_classes} >= 2 (categorical content '
                     'codes of that many values each; 0 codes = none).')
  if int(model_config.latent_dim) != layout.latent_dim:
    raise ValueError(
        f'model.latent_dim={model_config.latent_dim}, but MoCoGAN\'s latent is content_dim + '
        'content_codes x content_code_classes + initial state (motion_dim if '
        f'random_initial_state else 0) + T x motion_noise_dim = {layout.content_dim} + '
        f'{layout.code_dim} + {layout.initial_state_dim} + {t} x '
        f'{layout.motion_noise_dim} = {layout.latent_dim} for {t}-frame clips; set '
        f'--config.model.latent_dim={layout.latent_dim} (configs/mocogan.py ties it to those '
        'fields).')
  if model_config.latent_distribution != 'normal':
    raise ValueError("MoCoGAN's content and motion noise are N(0, 1): set "
                     "model.latent_distribution='normal'.")
  if num_classes:
    raise ValueError('MoCoGAN here is unconditional: set --config.dataset.conditional=False.')
  cond_lib.from_config(model_config, None, 'mocogan', g_choices=('none',), d_choices=('none',),
                       heads=False)  # Clear errors for conditioning fields set.
  image_frames = int(own.image_frames)
  content_head = int(own.get('content_head', 0))
  if content_head < 0:
    raise ValueError(f'model.mocogan.content_head={content_head} must be >= 0 (hidden units '
                     'of the content head Q_c; 0 = off).')
  if layout.num_codes and not content_head:
    raise ValueError(f'model.mocogan.content_codes={layout.num_codes} needs the content head '
                     'that reads them back: set --config.model.mocogan.content_head=128 (with '
                     'objective.mocogan.code_weight > 0).')
  frame_indices(t, image_frames, None, 1)  # Checks image_frames.
  conv3d.video_geometry(data_shape)  # Checks the clip shape for the video D.
  dcgan._geometry(int(data_shape[1]))  # pylint: disable=protected-access
  dtype = options.compute_dtype(model_config.compute_dtype)
  dropout = options.check_rate(model_config.d_dropout, 'model.d_dropout')
  image, video = model_config.dcgan, model_config.conv3d
  options.check_choice(image.conv_transpose_impl, dcgan.layers.CONV_TRANSPOSE_IMPLEMENTATIONS,
                       'model.dcgan.conv_transpose_impl')
  options.check_choice(image.conv_impl, dcgan.layers.CONV_IMPLEMENTATIONS,
                       'model.dcgan.conv_impl')
  options.check_choice(image.d_normalization, dcgan.D_NORMALIZATIONS,
                       'model.dcgan.d_normalization')
  options.check_choice(video.conv_impl, conv3d.IMPLEMENTATIONS, 'model.conv3d.conv_impl')
  options.check_choice(video.d_normalization, conv3d.D_NORMALIZATIONS,
                       'model.conv3d.d_normalization')
  kernel_size = int(video.kernel_size)
  conv3d.stage_kernel((2, 2, 2), kernel_size)  # Checks kernel_size.
  sn_steps = int(model_config.spectral_norm_steps)

  def make_generator(axis_name):
    return MoCoGANGenerator(tuple(data_shape), layout, int(own.motion_dim),
                            int(model_config.g_width), axis_name, image.conv_transpose_impl,
                            dtype, spectral_norm=bool(model_config.g_spectral_norm),
                            spectral_norm_steps=sn_steps)

  def make_discriminator(axis_name):
    return MoCoGANDiscriminator(tuple(data_shape), image_frames, int(model_config.d_width),
                                kernel_size, video.d_normalization, video.conv_impl,
                                image.d_normalization, image.conv_impl, axis_name, dtype,
                                spectral_norm=bool(model_config.d_spectral_norm),
                                spectral_norm_steps=sn_steps, dropout=dropout,
                                content_dim=layout.content_dim, content_head=content_head,
                                num_codes=layout.num_codes, code_classes=layout.code_classes,
                                minibatch=minibatch_lib.from_config(model_config))

  # With codes the latent is not i.i.d. N(0, 1): every draw of it (training, sampling,
  # evaluation) goes through the layout; without, Networks' own N(0, I) draw (unchanged).
  io = {'latent_sampler': layout.sample} if layout.num_codes else {}
  return make_generator, make_discriminator, io
