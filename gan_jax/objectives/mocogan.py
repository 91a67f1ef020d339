"""MoCoGAN's objective (Tulyakov et al. 2018): the latent-variable GAN with a video
discriminator D_V and an image discriminator D_I (gan_jax/models/mocogan.py).

D returns {'logit': D_V(clip) (N,), 'image_logit': D_I of k frames per clip (N, k)}. With
the configured adversarial loss l = (l_D, l_G) and w = objective.mocogan.image_weight:

  D:  l_D(D_V(x), D_V(G(z))) + penalty + w * l_D(D_I(frames of x), D_I(frames of G(z)))
  G:  l_G(D_V(G(z)))                   + w * l_G(D_I(frames of G(z)))

(the paper: w = 1, non-saturating loss). D_V's logit stays the main 'logit', so penalties
(on D_V) and every metric read it. D_I's term in G's loss uses the generated frames only:
every loss of gan_jax.losses has a G term of D(fake) alone, and the objective refuses a loss
whose G term reads D(real) (checked when it is built).

Content recovery (objective.mocogan.content_weight = c > 0, with the content head Q_c,
model.mocogan.content_head > 0): InfoGAN's variational bound on I(z_content; frame), with
z_content continuous and Q_c's Gaussian of unit variance, on every frame D_I scores:

  L_c = mean over clips n, scored frames j and content dims d of (z_content[n, d] -
        Q_c(frame j of G(z)_n)[d])^2  (= 2 x the unit-Gaussian NLL per dim, less a constant)
  D, Q_c:  + c * L_c          G:  + c * L_c

Each frame on its own must tell its clip's content code, so G cannot ignore z_content, and
whatever carries it has to stay in every frame of the clip; the aim was the digits, against
the content collapse of the 5,000-step recipe run. Measured (docs/video.md#results): with
c = 10, Q_c reads ~78% of z_content's variance and one run's clip FD was steadier, but G
carries the code in stroke details, not in which digits it draws. The paper's categorical
dynamics code is learnt with the same InfoGAN term; here it is the content. Logged: L_c and
its share of z_content's variance explained, 1 - L_c (z_content ~ N(0, I)).

Categorical content codes (objective.mocogan.code_weight = w > 0, with m =
model.mocogan.content_codes one-hot codes of K values after z_content in the latent, and
Q_c's 'code_logits' (N, k, m, K)): InfoGAN's categorical term,

  L_code = mean over clips n, scored frames j and codes i of
           -log softmax(Q_c(frame j of G(z)_n))_i[code_i of clip n]
  D, Q_c:  + w * L_code          G:  + w * L_code

The aim was the digit classes (two 10-way codes for Moving MNIST's two digits), on the
guess that a handful of values per code could not hide in stroke details as 50 Gaussians
did; measured (docs/video.md#results), G hides them too. Logged: L_code ('code_ce') and
the share of codes Q_c's argmax gets right ('code_accuracy').

Codes anchored on real digits (objective.mocogan.code_real_weight = w_r > 0; the
semi-supervised InfoGAN of Spurr et al. 2017): unanchored, Q_c and G agree on codes carried
by details no one sees (measured: docs/video.md#results). With two sorted 10-way codes
(model.mocogan.sorted_codes: (min, max) of two uniform digits, the distribution of real
Moving MNIST's digit pairs) D also fits Q_c to the real clips' digits:

  L_real = mean over clips, scored real frames and the two codes of
           -log softmax(Q_c(real frame))_i[digit_i], (digit_1, digit_2) = (label // 10,
           label % 10) = (min, max) of the clip's digits
  D, Q_c:  + w_r * L_real

so code i comes to mean "digit i of the pair", and G's code term then asks for that digit
in every frame. It uses the data's labels (as a conditional GAN does), so a run with it is
compared with the unconditional models with that said. Logged 'code_real_ce',
'code_real_accuracy'. objective.mocogan.codes_on_fakes=False drops L_code from D's side:
Q_c then learns the real digits only (an auxiliary classifier fit on real data, as in
AC-GAN's D but without its fake term) and cannot learn a code G hides in details; G's
w * L_code asks it for frames Q_c reads as the codes' digits.

Identity-swapped real clips as negatives for D_V (objective.mocogan.swap_weight = w in
[0, 1), with dataset.moving_mnist.swap_clips): each real clip x comes with its twin x_s in
which one digit becomes a digit of another class from a random frame on, along the same
path (gan_jax/data/moving_mnist.py, `identity_swap`). With the loss's D term l_D(r, f) =
A(r) + B(f) (every loss this objective accepts splits so), D_V's term becomes

  (1 - w) l_D(D_V(x), D_V(G(z))) + w l_D(D_V(x), D_V(x_s))
    = A(D_V(x)) + (1 - w) B(D_V(G(z))) + w B(D_V(x_s)),

the matching-aware discriminator of GAN-CLS (Reed et al. 2016, w = 1/2 there: real images
with the wrong text as a second kind of fake). Every frame of x_s is a real frame and its
motion is real: only a digit's identity changing within the clip tells it from x, so D_V
has to check that, and G, to pass D_V, has to keep its digits. The swapped clips enter D_V's
logit only (D_I and Q_c never see them), through the same input transform as the real
clips, with keys of their own; D's collections are updated by the real and generated passes
only, as without them. G's loss is unchanged. Logged: 'd_swap_loss' (l_D(D_V(x),
D_V(x_s))) and 'd_swap_logit' (mean D_V(x_s)).

Motion-slowed real clips as negatives for D_V (objective.mocogan.slow_weight = v, with
dataset.moving_mnist.slow_clips; w + v < 1): each real clip also comes with its twin x_m in
which, from a random frame on, each digit goes on along its own path at a fraction f_k of
its speed (f_k uniform in dataset.moving_mnist.slow_factors, (0, 1/2) by default; 0 stops
it; `slow_down`). D_V's fake term is then shared three ways,

  A(D_V(x)) + (1 - w - v) B(D_V(G(z))) + w B(D_V(x_s)) + v B(D_V(x_m)):

every frame of x_m is real and its digits keep their identity, only the motion stalls, so
D_V has to check that the digits keep moving; G can then no longer pass D_V with digits
that keep their identity by standing still (what the swaps alone lead to). The same input
transform, own keys, collections untouched, G's loss unchanged. Logged 'd_slow_loss',
'd_slow_logit'.

Frame-shuffled real clips (objective.mocogan.shuffle_weight = u, with
dataset.moving_mnist.shuffle_clips; w + v + u < 1): the twin x_o shows the clip's own
frames from a random frame on in another order (`frame_shuffle`), and takes u of the same
term. Real frames, identities and positions, but motion that jumps back and forth: D_V
has to check that the motion is smooth, so G cannot pass it by flickering (what the
slowed twins alone lead to). Logged 'd_shuffle_loss', 'd_shuffle_logit'.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import losses
from gan_jax.data import moving_mnist
from gan_jax.metrics import classifier
from gan_jax.objectives import conditional
from gan_jax.objectives import unconditional


def image_logit(d_output):
  """D_I's logits (N, k) of a MoCoGAN discriminator output."""
  if not isinstance(d_output, dict) or 'image_logit' not in d_output:
    raise ValueError("objective.name='mocogan' needs a discriminator with an image head "
                     "('image_logit'): set --config.model.name=mocogan.")
  return d_output['image_logit']


def _code_cross_entropy(logits, codes):
  """(mean cross-entropy, share of argmax hits) of Q_c's code logits (N, k, m, K) against
  each clip's codes (N, m) int, over clips, scored frames and codes: the conditional
  objective's cross-entropy and the classifiers' top-1 agreement on every (clip, frame,
  code) row."""
  labels = jnp.broadcast_to(codes[:, None, :], logits.shape[:-1]).reshape(-1)
  rows = logits.reshape(-1, logits.shape[-1])
  return conditional.cross_entropy(rows, labels), classifier.top1_agreement(rows, labels)


def _generator_term_reads_real(loss_fn) -> bool:
  """Whether a loss's G term changes with D(real) (then D_I's G term would need real frames)."""
  with jax.ensure_compile_time_eval():  # Concrete values even when built inside a trace.
    fake = jnp.asarray([0.3, -1.2, 2.0])
    g_a = loss_fn(jnp.asarray([0.5, 1.5, -0.7]), fake)[1]
    g_b = loss_fn(jnp.asarray([-2.0, 0.1, 3.0]), fake)[1]
    return not np.array_equal(np.asarray(g_a), np.asarray(g_b))


class MoCoGAN(unconditional.Unconditional):
  """z -> G -> (D_V, D_I); D_I's adversarial terms added with weight image_weight."""

  name = 'mocogan'
  supports_ada = False  # ADA transforms images (N, H, W, C), not clips.

  def __init__(self, config):
    super().__init__(config)
    own = config.objective.mocogan
    self.image_weight = float(own.image_weight)
    if self.image_weight < 0:
      raise ValueError(f'objective.mocogan.image_weight must be >= 0; got {self.image_weight}.')
    self.content_weight = float(own.get('content_weight', 0.0))
    self.content_dim = int(config.model.mocogan.content_dim)
    if self.content_weight < 0:
      raise ValueError('objective.mocogan.content_weight must be >= 0; got '
                       f'{self.content_weight}.')
    if self.content_weight > 0 and int(config.model.mocogan.get('content_head', 0)) <= 0:
      raise ValueError(f'objective.mocogan.content_weight={self.content_weight} needs the '
                       'content head: set --config.model.mocogan.content_head=128 (its hidden '
                       'units).')
    own_model = config.model.mocogan
    self.num_codes = int(own_model.get('content_codes', 0))
    self.code_classes = int(own_model.get('content_code_classes', 10))
    self.code_weight = float(own.get('code_weight', 0.0))
    if self.code_weight < 0:
      raise ValueError(f'objective.mocogan.code_weight must be >= 0; got {self.code_weight}.')
    if self.code_weight > 0 and not self.num_codes:
      raise ValueError(f'objective.mocogan.code_weight={self.code_weight} needs categorical '
                       'content codes: set --config.model.mocogan.content_codes=2 (and '
                       'content_head=128).')
    self.code_real_weight = float(own.get('code_real_weight', 0.0))
    self.codes_on_fakes = bool(own.get('codes_on_fakes', True))
    if not self.codes_on_fakes and not self.code_real_weight:
      raise ValueError('objective.mocogan.codes_on_fakes=False leaves Q_c nothing to learn: '
                       'it needs objective.mocogan.code_real_weight > 0 (Q_c fit to real '
                       'digits only).')
    if self.code_real_weight < 0:
      raise ValueError('objective.mocogan.code_real_weight must be >= 0; got '
                       f'{self.code_real_weight}.')
    if self.code_real_weight > 0:
      if not self.num_codes or not bool(own_model.get('sorted_codes', False)):
        raise ValueError(
            f'objective.mocogan.code_real_weight={self.code_real_weight} reads the real clips\' '
            'digits as sorted content codes: set --config.model.mocogan.content_codes=2 '
            '--config.model.mocogan.sorted_codes=True (and content_head=128).')
      if config.dataset.name != 'moving_mnist' or self.code_classes != 10 or \
          self.num_codes != 2:
        raise ValueError(
            'objective.mocogan.code_real_weight needs labels that are the content codes: '
            "dataset.name='moving_mnist' (label 10 min + max of the two digits) with "
            'model.mocogan.content_codes=2, content_code_classes=10; got '
            f'{config.dataset.name!r}, {self.num_codes} x {self.code_classes}.')
    # The real twins D_V is shown as fakes (moving_mnist.TWINS): name -> share (0: off).
    self.negative_weights = {}
    for name, kind in moving_mnist.TWINS.items():
      weight = float(own.get(f'{name}_weight', 0.0))
      if not 0 <= weight < 1:
        raise ValueError(f'objective.mocogan.{name}_weight is the share of D_V\'s fake term '
                         f'given to {kind.what} real clips: it must be in [0, 1); got '
                         f'{weight}.')
      if weight and (config.dataset.name != 'moving_mnist' or not bool(
          config.dataset.moving_mnist.get(kind.flag, False))):
        raise ValueError(f'objective.mocogan.{name}_weight={weight} scores {kind.what} real '
                         f'clips as fakes: set --config.dataset.moving_mnist.{kind.flag}=True '
                         f'(with dataset.name=\'moving_mnist\'; got {config.dataset.name!r}).')
      self.negative_weights[name] = weight
    if sum(self.negative_weights.values()) >= 1:
      raise ValueError('objective.mocogan.swap_weight + slow_weight + shuffle_weight is the '
                       'share of D_V\'s fake term given to real twins; G\'s clips keep the '
                       f'rest, so it must be < 1; got {self.negative_weights}.')
    if config.dataset.conditional:
      raise ValueError("objective.name='mocogan' is unconditional: set "
                       '--config.dataset.conditional=False.')
    loss_fn = losses.get_loss(config.loss.name, real_label=config.loss.real_label)
    if _generator_term_reads_real(loss_fn):
      raise ValueError(f'loss.name={config.loss.name!r} has a G term that reads D(real); the '
                       "mocogan objective's image term gives G's loss D_I(generated frames) "
                       'only. Use one of non_saturating, minimax, wasserstein, '
                       'least_squares, hinge.')

  def content_terms(self, g_inputs, out_fake, codes: bool = True):
    """(c * L_c + w * L_code, aux) of the module docstring; (0, {}) when both weights are 0.
    codes=False leaves L_code out (D's side with codes_on_fakes=False)."""
    value, aux = 0.0, {}
    if self.content_weight:
      if not isinstance(out_fake, dict) or 'content_mean' not in out_fake:
        raise ValueError('objective.mocogan.content_weight > 0 needs the content head '
                         "('content_mean'): set --config.model.mocogan.content_head=128.")
      # The layout starts with z_content (gan_jax.models.mocogan.LatentLayout).
      content = g_inputs['z'][:, :self.content_dim].astype(jnp.float32)
      error = jnp.mean(jnp.square(content[:, None, :] - out_fake['content_mean']))
      value = self.content_weight * error
      aux.update(content_error=error, content_explained=1.0 - error)
    if self.code_weight and codes:
      if not isinstance(out_fake, dict) or 'code_logits' not in out_fake:
        raise ValueError('objective.mocogan.code_weight > 0 needs the content head with the '
                         "codes ('code_logits'): set --config.model.mocogan.content_head=128.")
      # The codes' one-hots follow z_content (LatentLayout); logits (N, k, codes, classes).
      one_hot = g_inputs['z'][:, self.content_dim:self.content_dim + self.num_codes *
                              self.code_classes]
      codes_of = jnp.argmax(one_hot.reshape(-1, self.num_codes, self.code_classes), axis=-1)
      ce, accuracy = _code_cross_entropy(out_fake['code_logits'], codes_of)
      value = value + self.code_weight * ce
      aux.update(code_ce=ce, code_accuracy=accuracy)
    return value, aux

  def real_code_terms(self, batch, out_real):
    """(w_r * L_real, aux): Q_c's cross-entropy on real frames against their clip's digits,
    (label // 10, label % 10) = (min, max), the sorted codes' meaning; (0, {}) when off."""
    if not self.code_real_weight:
      return 0.0, {}
    label = batch['label'].astype(jnp.int32)
    targets = jnp.stack([label // self.code_classes, label % self.code_classes], axis=-1)
    ce, accuracy = _code_cross_entropy(out_real['code_logits'], targets)
    return self.code_real_weight * ce, {'code_real_ce': ce, 'code_real_accuracy': accuracy}

  def discriminator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, extras,
                         step):
    """The latent-variable D loss (with discriminator_terms), and with swap_weight w,
    slow_weight v, shuffle_weight u the real twins' shares of D_V's fake term (module
    docstring)."""
    total, (coll, aux, d_real, extras) = super().discriminator_loss(
        ctx, d_params, d_coll, batch, g_inputs, fake, key, extras, step)
    for name, kind in moving_mnist.TWINS.items():
      weight = self.negative_weights[name]
      if not weight:
        continue
      if kind.key not in batch:
        raise ValueError(f'objective.mocogan.{name}_weight={weight} needs the batch\'s '
                         f'{kind.what} clips ({kind.key!r}): set --config.dataset.moving_mnist.'
                         f'{kind.flag}=True.')
      d_twin = self.extra_logits(ctx, d_params, coll, batch[kind.key], None, key, step,
                                 stream=kind.stream)
      twin_loss, _, _ = ctx.loss_fn(d_real, d_twin)
      # ... + w l_D(r, twin) - w l_D(r, f): aux['d_loss'] is l_D(r, f), already in the total.
      total = total + weight * (twin_loss - aux['d_loss'])
      aux = dict(aux, **{f'd_{name}_loss': twin_loss, f'd_{name}_logit': jnp.mean(d_twin)})
    return total, (coll, aux, d_real, extras)

  def discriminator_terms(self, ctx, batch, g_inputs, out_real, out_fake):
    real, fake = image_logit(out_real), image_logit(out_fake)
    d_loss, _, _ = ctx.loss_fn(real, fake)
    content, content_aux = self.content_terms(g_inputs, out_fake, codes=self.codes_on_fakes)
    real_codes, real_aux = self.real_code_terms(batch, out_real)
    return self.image_weight * d_loss + content + real_codes, {
        'd_image_loss': d_loss, 'd_image_real_logit': jnp.mean(real),
        'd_image_fake_logit': jnp.mean(fake), **content_aux, **real_aux}

  def generator_terms(self, ctx, batch, g_inputs, out_fake):
    del batch
    fake = image_logit(out_fake)
    # The real-logit argument is unused by the G term (checked in __init__).
    _, g_loss, _ = ctx.loss_fn(jnp.zeros_like(fake), fake)
    content, content_aux = self.content_terms(g_inputs, out_fake)
    return self.image_weight * g_loss + content, {
        'g_image_loss': g_loss, **{f'g_{k}': v for k, v in content_aux.items()}}
