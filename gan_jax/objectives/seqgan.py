"""SeqGAN (Yu et al. 2017, "SeqGAN: Sequence Generative Adversarial Nets with Policy
Gradient"), objective.name='seqgan', model.name='sequence'.

G is a stochastic policy over tokens; D scores finished sequences. G's update is REINFORCE:

  grad J = E_y [ sum_t grad log p(y_t | y_<t) Q(y_<=t) ],
  Q(y_<=t) = E[ D(y_1..y_t, Y_t+1..Y_L) ]  (the completion Y drawn from G; t = L: D(y)),

with D's reward sigmoid(logit) (its probability that the sequence is real) and Q of every
proper prefix estimated by the mean over objective.seqgan.num_rollouts Monte Carlo
completions (the paper: 16).

How it sits on the one train step (gan_jax/train_step.py): `generate` runs under jax.vjp and
returns {'tokens': the sampled sequences (float32 ids), 'log_probs': log p(y_t | y_<t)
(differentiable), 'rollouts': (R, L-1, N, L) completions of every prefix
(`SequenceGenerator.rollouts`: a vmap over rollouts and prefixes of G's LSTM steps, compiled
once, gradient-stopped)}. `discriminator_loss` is the adversarial loss (loss.name) of D on real
vs sampled tokens. `generator_loss` scores the completions with the freshly updated D (in
inference mode: no dropout, as the paper's rewards) and returns the surrogate

  -(1 / (N L)) sum_{i,t} m_it log p(y_it | y_i,<t) (Q_it - b_it),

whose gradient is the REINFORCE estimate (Q held fixed). The baseline
(objective.seqgan.baseline): 'batch_mean' b_it = the mean of Q_jt over the other sequences j
of the global batch (leave-one-out: independent of sequence i, so the estimate stays
unbiased and its variance drops); 'none' b = 0 (the paper's). m: positions up to and including
<eos> for sentences (model.sequence.pad_after_eos), else all.

objective.seqgan.mle_weight = w > 0 adds w times MLE's teacher-forcing loss on the step's real
batch to G's loss (the mean negative log-likelihood per scored token over the global batch,
as objective 'mle'): a mixed objective in the manner of sequence-level training (Ranzato et
al. 2016; Paulus et al. 2018), which keeps G's probability on the real sentences while
REINFORCE moves it. Not the paper's (w = 0, the default: the step is then unchanged).

SeqGAN's discriminator pre-training on the MLE generator's samples is this objective with
objective.seqgan.pretrain_discriminator=True: G's loss is 0 (its parameters stay put) and no
rollouts are drawn. The paper's recipe is then three runs chained by config.init_from: MLE
(objective 'mle') -> D pre-training (players 'g') -> adversarial training (players 'gd').

Randomness: every sequence's draws (its tokens and its rollouts) come from a key made of its
own latent row (`sequence.latent_keys`), drawn for the global batch, so a global batch gives
the same tokens and rewards on any number of devices. The rollouts use G's current
parameters, as the paper's roll-out policy does (G itself). Its reference code keeps a
separate rollout network with an `update_rate` of 0.8, which reads like a delayed copy but
computes G's current values: the rollout graph is built once from `tf.identity` reads of G's
variables, and the update combines two reads of the same variables (docs/text.md).
"""

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.models import sequence
from gan_jax.objectives import base
from gan_jax.objectives import mle

BASELINES = ('batch_mean', 'none')


def leave_one_out_mean(q: jax.Array, ctx: base.StepContext) -> jax.Array:
  """b_i = mean of q_j over the other rows j of the global batch: q (N, ...) per device."""
  n = q.shape[0]
  devices = lax.axis_size(ctx.axis_name) if ctx.axis_name else 1
  total = ctx.pmean(jnp.sum(q, axis=0)) * devices
  global_n = n * devices
  if global_n < 2:
    raise ValueError("objective.seqgan.baseline='batch_mean' needs a global batch of >= 2.")
  return (total[None] - q) / (global_n - 1)


def reinforce_surrogate(log_probs: jax.Array, q: jax.Array, baseline: jax.Array,
                        mask: jax.Array) -> jax.Array:
  """-(1 / (N L)) sum m log p (Q - b): its gradient in G's parameters is REINFORCE's estimate
  of -grad E[reward] (Q, b and m held fixed). All arrays (N, L)."""
  advantage = lax.stop_gradient(q - baseline)
  return -jnp.mean(log_probs * advantage * lax.stop_gradient(mask))


class SeqGAN(base.Objective):
  """REINFORCE with Monte Carlo rollouts and D's reward (see the module docstring)."""

  name = 'seqgan'

  def __init__(self, config):
    super().__init__(config)
    mle.check_text_config(config, self.name)
    own = config.objective.seqgan
    self.num_rollouts = int(own.num_rollouts)
    self.baseline = own.baseline
    self.pretrain_discriminator = bool(own.pretrain_discriminator)
    self.pad_after_eos = bool(config.model.sequence.pad_after_eos)
    self.mle_weight = float(own.get('mle_weight', 0.0))
    if not self.mle_weight >= 0:
      raise ValueError(f'objective.seqgan.mle_weight must be >= 0 (0: the paper\'s pure '
                       f'REINFORCE); got {own.mle_weight}.')
    if self.num_rollouts < 1:
      raise ValueError(f'objective.seqgan.num_rollouts must be >= 1 (the paper: 16); got '
                       f'{self.num_rollouts}.')
    if self.baseline not in BASELINES:
      raise ValueError(f'Unknown objective.seqgan.baseline {self.baseline!r}; choose one of '
                       f'{BASELINES}.')

  def generator_inputs(self, ctx, key, batch):
    n = batch['image'].shape[0]
    inputs = {'z': ctx.draw_global(ctx.networks.sample_latents, key, n)}
    if self.mle_weight > 0 and not self.pretrain_discriminator:
      inputs['real_tokens'] = jnp.asarray(batch['image']).astype(jnp.int32)
    return inputs

  def generate(self, ctx, g_params, g_coll, g_inputs, key):
    del key  # Every sequence's randomness comes from its latent row.
    variables = mle.generator_variables(g_params, g_coll)
    keys = sequence.latent_keys(g_inputs['z'])
    tokens, logits = sequence.generator_method(ctx.networks, variables, 'sample', keys, 1.0)
    out = {'tokens': tokens.astype(jnp.float32),
           'log_probs': mle.token_log_probs(logits, tokens)}
    if not self.pretrain_discriminator:
      rollout_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
      rollouts = sequence.generator_method(ctx.networks, lax.stop_gradient(variables),
                                           'rollouts', tokens, rollout_keys,
                                           self.num_rollouts)
      out['rollouts'] = lax.stop_gradient(rollouts).astype(jnp.float32)
    if 'real_tokens' in g_inputs:
      out['real_log_probs'] = mle.teacher_forcing_log_probs(ctx.networks, variables,
                                                            g_inputs['real_tokens'])
    return out, g_coll

  def discriminator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, extras,
                         step):
    del g_inputs, step
    d_loss, coll, aux, _ = mle.discriminator_terms(ctx, d_params, d_coll, batch['image'],
                                                   fake['tokens'], key)
    return d_loss, (coll, aux, None, extras)

  def rewards(self, ctx, d_params, d_coll, fake) -> jax.Array:
    """Q (N, L): the mean over rollouts of D's sigmoid(logit) of each prefix's completions,
    and D's reward of the whole sequence at t = L (gradient-stopped)."""
    variables = {'params': lax.stop_gradient(d_params), **d_coll}

    def reward(x):
      logit = base.logit(ctx.networks.discriminator_apply(variables, x, train=False)[0])
      return jax.nn.sigmoid(logit.astype(jnp.float32))

    rollouts = fake['rollouts']
    r, prefixes, n, length = rollouts.shape
    partial = reward(rollouts.reshape(-1, length)).reshape(r, prefixes, n).mean(axis=0)
    full = reward(fake['tokens'])
    return lax.stop_gradient(jnp.concatenate([partial.T, full[:, None]], axis=1))

  def generator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, cache, step):
    del batch, key, cache, step
    log_probs = fake['log_probs']
    if self.pretrain_discriminator:  # G held fixed: a zero loss (zero gradient).
      zero = 0.0 * jnp.sum(log_probs)
      return zero, (d_coll, {})
    q = self.rewards(ctx, d_params, d_coll, fake)
    baseline = leave_one_out_mean(q, ctx) if self.baseline == 'batch_mean' else jnp.zeros_like(q)
    mask = sequence.token_mask(fake['tokens'].astype(jnp.int32), self.pad_after_eos)
    loss = reinforce_surrogate(log_probs, q, baseline, mask)
    aux = {'reward': jnp.mean(q[:, -1]), 'q_mean': jnp.mean(q),
           'log_prob_per_token': jnp.sum(log_probs * mask) / jnp.sum(mask)}
    if 'real_log_probs' in fake:
      nll = mle.mean_nll(fake['real_log_probs'], g_inputs['real_tokens'], self.pad_after_eos, ctx)
      loss = loss + self.mle_weight * nll
      aux['mle_nll_per_token'] = nll
    return loss, (d_coll, aux)
