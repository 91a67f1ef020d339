"""Maximum likelihood for sequence generators (objective.name='mle'): the MLE-only baseline
of the text GANs and SeqGAN's pre-training.

G (gan_jax/models/sequence.py, model.name='sequence') is trained by teacher forcing on the
real batch: loss = -sum_{i,t} m_it log p(y_it | y_i,<t) / sum m, m the scored positions
(`sequence.token_mask`: all of them for the oracle; up to and including <eos> for
sentences), the count taken over the global batch, so the loss is the global batch's mean
negative log-likelihood per token on any number of devices. The real tokens reach G as its
inputs (`generator_inputs`); the log-probabilities are G's outputs, differentiated by the
step's machinery.

D is not trained: its loss is a constant 0, so its gradient is exactly zero and Adam leaves
its parameters unchanged (an MLE run still holds a D, which a later adversarial run can
start from or ignore: config.init_from.players).

Also the checks and helpers the three text objectives share (`check_text_config`,
`token_log_probs`, `generator_variables`).
"""

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.models import sequence
from gan_jax.objectives import base


def check_text_config(config: ml_collections.ConfigDict, name: str) -> None:
  """Raises ValueError for settings the text objectives cannot honour."""
  if config.model.name != 'sequence':
    raise ValueError(f"objective.name={name!r} trains token sequences: it needs "
                     f"model.name='sequence'; got {config.model.name!r}.")
  text = config.dataset.get('text')
  if text is not None and int(text.vocab_size) != int(config.model.sequence.vocab_size):
    raise ValueError(f'model.sequence.vocab_size={config.model.sequence.vocab_size} differs '
                     f'from dataset.text.vocab_size={text.vocab_size}; set both to the same '
                     'value (the recipes tie them).')
  if config.augment.name != 'none' or float(config.instance_noise_std) > 0:
    raise ValueError(f'objective.name={name!r} feeds D token ids: D-input augmentation and '
                     "instance noise do not apply; use --config.augment.name=none and "
                     'instance_noise_std=0.')
  if config.penalty.name != 'none':
    raise ValueError(f'objective.name={name!r} has no gradient penalty on token inputs; use '
                     "--config.penalty.name=none.")
  if config.dataset.conditional:
    raise ValueError(f'objective.name={name!r} is unconditional; set '
                     '--config.dataset.conditional=False.')


def token_log_probs(logits: jax.Array, tokens: jax.Array) -> jax.Array:
  """log softmax(logits)[token] per position: logits (N, L, V), tokens (N, L) -> (N, L)."""
  log_p = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  ids = jnp.asarray(tokens).astype(jnp.int32)
  return jnp.take_along_axis(log_p, ids[..., None], axis=-1)[..., 0]


def generator_variables(g_params, g_coll) -> dict:
  return {'params': g_params, **g_coll}


def discriminator_terms(ctx: base.StepContext, d_params, d_coll, real, fake, key):
  """D's adversarial loss on real vs generated sequences (token ids, or relaxed one-hot
  vectors) -> (loss, collections, aux, D's real logits)."""
  k_real, k_fake = jax.random.split(ctx.device_key(key))
  out_real, coll = ctx.discriminator(d_params, d_coll, real, None, k_real)
  out_fake, coll = ctx.discriminator(d_params, coll, fake, None, k_fake)
  d_real, d_fake = base.logit(out_real), base.logit(out_fake)
  d_loss, _, aux = ctx.loss_fn(d_real, d_fake)
  aux = dict(aux, d_loss=d_loss, d_real_logit=jnp.mean(d_real), d_fake_logit=jnp.mean(d_fake))
  return d_loss, coll, aux, d_real


def teacher_forcing_log_probs(networks, variables, tokens: jax.Array) -> jax.Array:
  """log p(y_t | y_<t) of the given sequences (N, L) under G's `variables`: (N, L)."""
  logits = sequence.generator_method(networks, variables, 'teacher_forcing', tokens)
  return token_log_probs(logits, tokens)


def mean_nll(log_probs: jax.Array, tokens: jax.Array, pad_after_eos: bool,
             ctx: base.StepContext) -> jax.Array:
  """-sum m log p / (global count of m) per device: pmean'd by the step, the global batch's
  mean negative log-likelihood per scored token. log_probs, tokens (N, L)."""
  mask = sequence.token_mask(tokens, pad_after_eos)
  count = ctx.pmean(jnp.sum(mask))  # Mean scored positions per device (global / devices).
  return -jnp.sum(log_probs * mask) / count


class MLE(base.Objective):
  """Teacher forcing on real sequences; D untouched (see the module docstring)."""

  name = 'mle'

  def __init__(self, config):
    super().__init__(config)
    check_text_config(config, self.name)
    self.pad_after_eos = bool(config.model.sequence.pad_after_eos)

  def generator_inputs(self, ctx, key, batch):
    del ctx, key
    return {'tokens': jnp.asarray(batch['image']).astype(jnp.int32)}

  def generate(self, ctx, g_params, g_coll, g_inputs, key):
    del key
    return teacher_forcing_log_probs(ctx.networks, generator_variables(g_params, g_coll),
                                     g_inputs['tokens']), g_coll

  def discriminator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, extras,
                         step):
    del ctx, d_params, batch, g_inputs, fake, key, step
    zero = jnp.zeros((), jnp.float32)
    return zero, (d_coll, {'d_loss': zero}, None, extras)

  def generator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, cache, step):
    del d_params, batch, key, cache, step
    nll = mean_nll(fake, g_inputs['tokens'], self.pad_after_eos, ctx)
    return nll, (d_coll, {'nll_per_token': nll})
