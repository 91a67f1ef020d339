"""Text GANs: the sequence models (gan_jax/models/sequence.py) and the objectives 'mle',
'seqgan' and 'gumbel' (gan_jax/objectives/).

Fast: the samplers against their probabilities; G's log-likelihood against a numpy LSTM;
SeqGAN's REINFORCE gradient (rollouts, D's rewards, baseline) against the exact gradient of
the expected reward on a vocabulary of 3 and length 3 (all 27 sequences enumerated);
Gumbel-softmax samples against the categorical probabilities as tau -> 0; shapes, the two
convolution forms, the clear errors. Slow: pmap == shard_map == one device for the three
objectives; SeqGAN's mle_weight term against objective 'mle'.
"""

import itertools
import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from gan_jax import models, objectives, sampling
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from gan_jax.models import sequence
from gan_jax.objectives import gumbel as gumbel_lib
from gan_jax.objectives import mle as mle_lib
from tests import helpers


def _config(objective='seqgan', vocab=3, seq_len=3, **fields):
  c = default.get_config()
  c.model.name = 'sequence'
  c.model.g_width = 4
  c.model.d_width = 4
  c.model.latent_dim = 2
  c.model.sequence.vocab_size = vocab
  c.model.sequence.d_dropout = 0.0
  c.model.sequence.filter_sizes = (1, 2)  # Few convolutions: short compiles.
  c.model.sequence.num_filters = (32, 32)
  c.dataset.text.vocab_size = vocab
  c.dataset.text.seq_len = seq_len
  c.objective.name = objective
  c.ema_decay = 0.0
  c.batch_size = 16
  c.parallel = 'none'
  for path, value in fields.items():
    helpers.overrides_lib.set_field(c, path, value)
  return c


def _networks(config):
  return models.build_networks(config.model, (int(config.dataset.text.seq_len),))


def _scaled(tree, factor):
  return jax.tree_util.tree_map(lambda x: x * factor if x.dtype == jnp.float32 else x, tree)


def _all_sequences(vocab, length):
  return jnp.asarray(list(itertools.product(range(vocab), repeat=length)), jnp.int32)


# ---- samplers --------------------------------------------------------------------------

def test_sample_categorical_matches_softmax(vocab=50):
  """Frequencies of 200,000 draws vs softmax(logits): every |f - p| < 5 binomial sigmas
  (50 tokens: 7 blocks of 8, the last one padded)."""
  logits = jax.random.normal(jax.random.key(0), (vocab,)) * 2.0
  n = 200_000
  draws = sequence.sample_categorical(jax.random.key(1), jnp.broadcast_to(logits, (n, vocab)))
  freq = np.bincount(np.asarray(draws), minlength=vocab) / n
  p = np.exp(logits - logits.max())
  p = p / p.sum()
  assert freq.shape == (vocab,)
  sigma = np.sqrt(p * (1 - p) / n)
  assert np.all(np.abs(freq - p) < 5 * sigma + 1e-6), np.max(np.abs(freq - p) / sigma)


# ---- the generator's likelihood against numpy -------------------------------------------

def _numpy_log_likelihood(params, tokens):
  """Sum over positions of log p(y_t | y_<t) of the LSTM, in float64 numpy."""
  return _numpy_token_log_probs(params, tokens).sum(axis=1)


def _numpy_token_log_probs(params, tokens, temperature=1.0):
  """(N, L) log softmax(logits / temperature)[y_t] of the LSTM, in float64 numpy."""
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  n, length = tokens.shape
  h = np.zeros((n, p['w_hidden'].shape[0]))
  c = np.zeros_like(h)
  x = np.broadcast_to(p['start'], h.shape)
  out = np.zeros((n, length))
  sig = lambda a: 1.0 / (1.0 + np.exp(-a))
  for t in range(length):
    gates = x @ p['w_input'] + h @ p['w_hidden'] + p['b_gates']
    i, f, g, o = np.split(gates, 4, axis=-1)
    c = sig(f) * c + sig(i) * np.tanh(g)
    h = sig(o) * np.tanh(c)
    logits = (h @ p['w_out'] + p['b_out']) / temperature
    logits = logits - logits.max(-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    out[:, t] = log_p[np.arange(n), tokens[:, t]]
    x = p['embedding'][tokens[:, t]]
  return out


def test_teacher_forcing_log_likelihood_matches_numpy_and_the_mle_loss():
  """float32 JAX vs float64 numpy: |diff| < 1e-4 nats per sequence of 7 tokens; objective
  'mle': G's loss = -mean log p over the scored positions (none after <eos>), D's loss 0."""
  config = _config('mle', vocab=11, seq_len=7, **{'model.sequence.pad_after_eos': True})
  networks = _networks(config)
  variables = jax.jit(networks.generator_init)(jax.random.key(0))
  variables = {**variables, 'params': _scaled(variables['params'], 10.0)}  # Peaked p.
  tokens = np.asarray(jax.random.randint(jax.random.key(1), (5, 7), 0, 11))
  keys = sequence.latent_keys(networks.sample_latents(jax.random.key(2), 5))

  @jax.jit
  def run(variables, tokens, keys):
    logits = sequence.generator_method(networks, variables, 'teacher_forcing', tokens)
    drawn, drawn_logits = sequence.generator_method(networks, variables, 'sample', keys)
    forced = sequence.generator_method(networks, variables, 'teacher_forcing', drawn)
    return mle_lib.token_log_probs(logits, tokens).sum(-1), drawn_logits, forced

  ours, drawn_logits, forced = run(variables, tokens, keys)
  np.testing.assert_allclose(np.asarray(ours), _numpy_log_likelihood(variables['params'],
                                                                     tokens), atol=1e-4)
  # And the sampler's logits are the teacher-forcing logits of its own samples.
  np.testing.assert_allclose(np.asarray(drawn_logits), np.asarray(forced), atol=1e-5)

  objective = objectives.get_objective(config)
  ctx = train_step_lib.make_context(config, networks)
  tokens = jnp.asarray([[3, 4, 0, 0, 0, 0, 0], [5, 6, 7, 8, 2, 9, 10]], jnp.int32)
  g_inputs = objective.generator_inputs(ctx, jax.random.key(1), {'image': tokens})

  @jax.jit
  def mle_loss(variables, g_inputs):
    fake, _ = objective.generate(ctx, variables['params'],
                                 {'batch_stats': variables['batch_stats']}, g_inputs, None)
    loss, (_, aux) = objective.generator_loss(ctx, None, {}, None, g_inputs, fake, None, None,
                                              0)
    return fake, loss, aux

  fake, loss, aux = mle_loss(variables, g_inputs)
  mask = np.asarray([[1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1]], np.float64)
  np.testing.assert_allclose(np.asarray(fake).sum(-1), _numpy_log_likelihood(
      variables['params'], np.asarray(tokens)), atol=1e-4)
  np.testing.assert_allclose(float(loss), -np.sum(np.asarray(fake) * mask) / mask.sum(),
                             rtol=1e-6)
  np.testing.assert_allclose(np.asarray(sequence.token_mask(tokens, True)), mask)
  d_loss = objective.discriminator_loss(ctx, {}, {}, None, None, None, None, {}, 0)[0]
  assert float(d_loss) == 0.0 and float(aux['nll_per_token']) == float(loss)


# ---- SeqGAN: rollouts and the REINFORCE gradient -----------------------------------------

def _seqgan_setup(num_rollouts=4, baseline='batch_mean'):
  config = _config('seqgan', vocab=3, seq_len=3, **{
      'objective.seqgan.num_rollouts': num_rollouts, 'objective.seqgan.baseline': baseline})
  networks = _networks(config)
  g_vars = jax.jit(networks.generator_init)(jax.random.key(0))
  g_params = _scaled(g_vars['params'], 15.0)  # A distribution far from uniform.
  g_coll = {'batch_stats': g_vars['batch_stats']}
  d_vars = jax.jit(networks.discriminator_init)(jax.random.key(1))
  d_params = _scaled(d_vars['params'], 3.0)   # Rewards that differ between sequences.
  return config, networks, g_params, g_coll, d_params


def _exact_reward_and_q(networks, g_params, g_coll, d_params, vocab=3, length=3):
  """(sequences, p(y), r(y) = sigmoid D(y), a function Q(prefix) by enumeration)."""
  seqs = _all_sequences(vocab, length)
  logits = sequence.generator_method(networks, {'params': g_params, **g_coll},
                                     'teacher_forcing', seqs)
  p = np.exp(np.asarray(mle_lib.token_log_probs(logits, seqs).sum(-1), np.float64))
  r = np.asarray(jax.nn.sigmoid(networks.discriminator_apply({'params': d_params}, seqs,
                                                             train=False)[0]), np.float64)
  seqs = np.asarray(seqs)

  def q(prefix):
    match = np.all(seqs[:, :len(prefix)] == np.asarray(prefix), axis=1)
    return float(np.sum(p[match] * r[match]) / np.sum(p[match]))

  return seqs, p, r, q


@pytest.mark.slow
def test_rollout_rewards_estimate_the_exact_q():
  """The mean of D's reward over 4,000 rollouts of each prefix of a sequence = E[r | prefix]
  by enumeration, within 5 standard errors; every completion keeps its prefix."""
  config, networks, g_params, g_coll, d_params = _seqgan_setup(num_rollouts=4_000)
  objective = objectives.get_objective(config)
  ctx = train_step_lib.make_context(config, networks)
  z = networks.sample_latents(jax.random.key(5), 2)

  @jax.jit
  def run(g_params, d_params, z):
    fake, _ = objective.generate(ctx, g_params, g_coll, {'z': z}, jax.random.key(0))
    return fake, objective.rewards(ctx, d_params, {}, fake)

  fake, q_hat = run(g_params, d_params, z)
  tokens = np.asarray(fake['tokens']).astype(int)
  rollouts = np.asarray(fake['rollouts']).astype(int)
  assert rollouts.shape == (4_000, 2, 2, 3)
  for t in (1, 2):
    np.testing.assert_array_equal(rollouts[:, t - 1, :, :t],
                                  np.broadcast_to(tokens[:, :t], (4_000, 2, t)))
  q_hat = np.asarray(q_hat)
  _, _, r, q = _exact_reward_and_q(networks, g_params, g_coll, d_params)
  se = 0.5 / np.sqrt(4_000)  # Rewards lie in (0, 1): std <= 0.5.
  for i in range(2):
    for t in (1, 2):
      assert abs(q_hat[i, t - 1] - q(tokens[i, :t])) < 5 * se, (i, t)
    assert abs(q_hat[i, 2] - q(tokens[i])) < 1e-5  # t = L: D's reward of y itself.


@pytest.mark.parametrize('baseline', ['batch_mean',
                                      pytest.param('none', marks=pytest.mark.slow)])
def test_reinforce_gradient_matches_the_exact_gradient(baseline):
  """E[grad of SeqGAN's G loss] = -grad E_y[sigmoid D(y)] / L: the estimator (rollouts, D's
  rewards, the baseline) averaged over 60 batches of 256 vs the exact gradient of the
  expected reward over all 27 sequences; every component within 6 standard errors of the
  batch means (+ 2% of the largest component), and the exact gradient stands out of the
  noise (so the test can fail). The baseline 'none' (the paper's) runs in the slow suite."""
  config, networks, g_params, g_coll, d_params = _seqgan_setup(num_rollouts=4,
                                                               baseline=baseline)
  objective = objectives.get_objective(config)
  ctx = train_step_lib.make_context(config, networks)

  def expected_reward(params):
    seqs = _all_sequences(3, 3)
    logits = sequence.generator_method(networks, {'params': params, **g_coll},
                                       'teacher_forcing', seqs)
    p = jnp.exp(mle_lib.token_log_probs(logits, seqs).sum(-1))
    r = jax.nn.sigmoid(networks.discriminator_apply({'params': d_params}, seqs,
                                                    train=False)[0])
    return jnp.sum(p * r)


  def estimate(key):
    z = networks.sample_latents(key, 256)

    def loss(params):
      fake, _ = objective.generate(ctx, params, g_coll, {'z': z}, key)
      return objective.generator_loss(ctx, d_params, {}, None, {'z': z}, fake, key, None, 0)[0]

    return jax.flatten_util.ravel_pytree(jax.grad(loss)(g_params))[0] * -3.0  # x -L.

  exact, samples = jax.jit(lambda keys: (
      jax.flatten_util.ravel_pytree(jax.grad(expected_reward)(g_params))[0],
      jax.vmap(estimate)(keys)))(jax.vmap(jax.random.key)(jnp.arange(100, 160)))
  samples = np.asarray(samples)
  mean, se = samples.mean(0), samples.std(0, ddof=1) / np.sqrt(len(samples))
  exact = np.asarray(exact)
  assert np.linalg.norm(exact) > 3 * np.linalg.norm(se)
  assert np.all(np.abs(mean - exact) <= 6 * se + 0.02 * np.abs(exact).max()), \
      np.max(np.abs(mean - exact) / (se + 1e-12))


@pytest.mark.slow
def test_seqgan_mle_weight_adds_the_mle_loss_on_the_real_batch():
  """objective.seqgan.mle_weight = w: G's loss and its gradient = SeqGAN's (w = 0, same draws)
  + w x objective 'mle''s on the step's real batch (padding after <eos> unscored); w = 0
  feeds G no real tokens (the paper's step, unchanged)."""
  fields = {'objective.seqgan.num_rollouts': 2, 'model.sequence.pad_after_eos': True}
  config, networks, g_params, g_coll, d_params = _seqgan_setup(num_rollouts=2)
  ctx = train_step_lib.make_context(config, networks)
  tokens = jnp.asarray([[1, 2, 0], [2, 2, 1], [0, 0, 0], [1, 0, 2]], jnp.int32)
  batch = {'image': tokens}
  key = jax.random.key(4)
  objs = {w: objectives.get_objective(_config('seqgan', **fields, **{
      'objective.seqgan.mle_weight': w})) for w in (0.0, 0.5)}
  mle_objective = objectives.get_objective(_config('mle', **fields))
  assert set(objs[0.0].generator_inputs(ctx, key, batch)) == {'z'}

  def g_loss(objective, params):
    g_inputs = objective.generator_inputs(ctx, key, batch)
    fake, _ = objective.generate(ctx, params, g_coll, g_inputs, key)
    return objective.generator_loss(ctx, d_params, {}, batch, g_inputs, fake, key, None, 0)[0]

  def mle_loss(params):
    g_inputs = mle_objective.generator_inputs(ctx, key, batch)
    fake, _ = mle_objective.generate(ctx, params, g_coll, g_inputs, key)
    return mle_objective.generator_loss(ctx, None, {}, batch, g_inputs, fake, key, None, 0)[0]

  flat = lambda tree: jax.flatten_util.ravel_pytree(tree)[0]
  (l0, g0), (l1, g1), (lm, gm) = jax.jit(lambda p: [
      (f(p), flat(jax.grad(f)(p))) for f in (
          lambda q: g_loss(objs[0.0], q), lambda q: g_loss(objs[0.5], q), mle_loss)])(g_params)
  assert float(lm) > 0.1 and float(jnp.linalg.norm(gm)) > 0.1
  np.testing.assert_allclose(float(l1), float(l0) + 0.5 * float(lm), rtol=1e-5)
  np.testing.assert_allclose(np.asarray(g1), np.asarray(g0 + 0.5 * gm), rtol=1e-4, atol=1e-6)


# ---- Gumbel-softmax ----------------------------------------------------------------------

def test_gumbel_softmax_tends_to_the_categorical_as_tau_goes_to_zero():
  """Relaxed samples of 20,000 sequences of length 2 over 5 tokens: as tau -> 0 the vectors
  become one-hot and their mean at each position tends to G's categorical probabilities;
  at tau = 0.01 the joint frequencies of (argmax y_1, argmax y_2) equal p(y_1) p(y_2 | y_1)
  (the relaxed y_1 fed back through the embedding) within 5 binomial sigmas."""
  config = _config('gumbel', vocab=5, seq_len=2)
  networks = _networks(config)
  variables = jax.jit(networks.generator_init)(jax.random.key(0))
  variables = {**variables, 'params': _scaled(variables['params'], 10.0)}
  n = 20_000
  keys = sequence.latent_keys(networks.sample_latents(jax.random.key(1), n))
  seqs = _all_sequences(5, 2)

  @jax.jit
  def run(v, taus):
    logits = sequence.generator_method(networks, v, 'teacher_forcing', seqs)
    ys = [sequence.generator_method(networks, v, 'relaxed_sample', keys, tau) for tau in taus]
    return mle_lib.token_log_probs(logits, seqs).sum(-1), ys

  log_joint, ys = run(variables, jnp.asarray([1.0, 0.1, 0.01]))
  joint = np.exp(np.asarray(log_joint, np.float64))
  p_first = joint.reshape(5, 5).sum(1)
  errors, one_hot_gap = [], []
  for y in ys:
    y = np.asarray(y)
    errors.append(np.abs(y[:, 0].mean(0) - p_first).max())
    one_hot_gap.append(1.0 - y.max(-1).mean())
  assert errors[0] > errors[1] > errors[2] and one_hot_gap[0] > one_hot_gap[1] > one_hot_gap[2]
  assert one_hot_gap[2] < 0.01
  sigma = np.sqrt(p_first * (1 - p_first) / n)
  assert np.all(np.abs(y[:, 0].mean(0) - p_first) < 5 * sigma + 0.005)
  pairs = y.argmax(-1)
  freq = np.bincount(pairs[:, 0] * 5 + pairs[:, 1], minlength=25) / n
  sigma = np.sqrt(joint * (1 - joint) / n)
  assert np.all(np.abs(freq - joint) < 5 * sigma + 0.005), np.abs(freq - joint).max()
  # The annealing schedule.
  np.testing.assert_allclose(gumbel_lib.temperature(jnp.asarray([0, 1000, 10**6]), 1.0, 0.1,
                                                    1e-3), [1.0, np.exp(-1.0), 0.1],
                             rtol=1e-6)


# ---- the discriminator and shapes --------------------------------------------------------

def test_discriminator_reads_ids_and_one_hot_vectors_alike():
  config = _config(vocab=13, seq_len=9, **{'model.sequence.filter_sizes': (1, 3, 20),
                                           'model.sequence.num_filters': (100, 200, 160)})
  config.model.d_width = 8
  networks = _networks(config)
  variables = jax.jit(networks.discriminator_init)(jax.random.key(0))
  tokens = jax.random.randint(jax.random.key(1), (4, 9), 0, 13)
  apply = lambda v, x: networks.discriminator_apply(v, x, train=False)[0]
  by_id, by_float, by_one_hot = jax.jit(lambda v, t: (
      apply(v, t), apply(v, t.astype(jnp.float32)), apply(v, jax.nn.one_hot(t, 13))))(
          variables, tokens)
  assert by_id.shape == (4,)
  np.testing.assert_allclose(np.asarray(by_id), np.asarray(by_float), rtol=1e-6)
  np.testing.assert_allclose(np.asarray(by_id), np.asarray(by_one_hot), rtol=1e-5, atol=1e-6)
  # Filter sizes longer than the sequence are dropped; counts scale with d_width / 64.
  sizes, counts = sequence.filter_bank(config.model.sequence, 9, 8)
  assert sizes == (1, 3) and counts == (12, 25)
  assert sequence.filter_bank(default.get_config().model.sequence, 20, 64)[1] == (
      100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)  # The paper's at width 64.
  with pytest.raises(ValueError, match='vocab_size'):
    networks.discriminator_apply(variables, jax.nn.one_hot(tokens, 12), train=False)


def test_temporal_conv_matmul_equals_xla():
  """The two convolution forms: same values and gradients (float32, rtol 1e-5)."""
  x = jax.random.normal(jax.random.key(0), (3, 11, 6))
  kernel = jax.random.normal(jax.random.key(1), (4, 6, 5))

  @jax.jit
  def both(x, kernel):
    outs = {impl: sequence.temporal_conv(x, kernel, impl) for impl in ('xla', 'matmul')}
    grads = {impl: jax.grad(lambda k, i=impl: jnp.sum(jnp.sin(sequence.temporal_conv(x, k, i))))(
        kernel) for impl in ('xla', 'matmul')}
    return outs, grads

  outs, grads = both(x, kernel)
  assert outs['xla'].shape == (3, 8, 5)
  np.testing.assert_allclose(outs['xla'], outs['matmul'], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(grads['xla'], grads['matmul'], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('temperature', [0.5, pytest.param(1.0, marks=pytest.mark.slow)])
def test_generator_nll_matches_numpy_at_its_temperature(temperature):
  """The evaluation's nll_test (text modality `generator_nll`) against the float64 numpy LSTM
  at the sampling temperature: |diff| < 1e-5 nats per token, positions after <eos> not
  scored, the same in batches of 3 rows (float32 sums; 12 sequences of 7 tokens)."""
  from gan_jax.modalities import text as text_modality  # pylint: disable=g-import-not-at-top
  config = _config('mle', vocab=11, seq_len=7, **{'model.sequence.pad_after_eos': True,
                                                   'model.sequence.temperature': temperature})
  networks = _networks(config)
  variables = jax.jit(networks.generator_init)(jax.random.key(0))
  variables = {**variables, 'params': _scaled(variables['params'], 10.0)}  # Peaked p.
  state = types.SimpleNamespace(generator_variables=lambda ema: variables)
  tokens = np.array(jax.random.randint(jax.random.key(1), (12, 7), 0, 11))
  tokens[0, 2] = tokens[5, 0] = 0  # Two sequences end early.
  log_p = _numpy_token_log_probs(variables['params'], tokens, temperature)
  mask = np.asarray(sequence.token_mask(jnp.asarray(tokens), True))
  assert mask.sum() < mask.size
  expected = -np.sum(log_p * mask) / np.sum(mask)
  for batch_size in (500, 3):
    got = text_modality.generator_nll(networks, state, tokens, ema=False, batch_size=batch_size)
    assert got == pytest.approx(expected, abs=1e-5)
  if temperature != 1.0:  # The temperature is applied: T=1's NLL differs.
    assert abs(expected + np.mean(_numpy_token_log_probs(variables['params'], tokens)[mask > 0])
               ) > 0.1


def test_sampling_generate_gives_int_tokens_padded_after_eos():
  config = _config('mle', vocab=4, seq_len=8, **{'model.sequence.pad_after_eos': True})
  networks = _networks(config)
  variables = jax.jit(networks.generator_init)(jax.random.key(0))
  # sampling.generate reads only the state's generator variables.
  state = types.SimpleNamespace(generator_variables=lambda ema: variables)
  tokens = sampling.generate(networks, state, 300, jax.random.key(1), ema=False, batch_size=100)
  assert tokens.dtype == np.int32 and tokens.shape == (300, 8)
  assert tokens.min() >= 0 and tokens.max() < 4
  # A row's sample is a function of its latent row only (sequence.latent_keys): reversing
  # the latents reverses the samples.
  z = networks.sample_latents(jax.random.key(2), 100)
  sampler = sampling.make_sampler(networks)
  np.testing.assert_array_equal(np.asarray(sampler(variables, z, None))[::-1],
                                np.asarray(sampler(variables, z[::-1], None)))
  ended = np.cumsum(tokens == 0, axis=1) > 0
  after = np.concatenate([np.zeros((300, 1), bool), ended[:, :-1]], axis=1)
  assert np.all(tokens[after] == 0) and after.any()  # Everything after <eos> is padding.


def test_bad_settings_are_clear_errors():
  with pytest.raises(ValueError, match='vocab_size'):
    objectives.get_objective(_config('seqgan', **{'dataset.text.vocab_size': 7}))
  with pytest.raises(ValueError, match="model.name='sequence'"):
    objectives.get_objective(_config('mle', **{'model.name': 'dcgan'}))
  with pytest.raises(ValueError, match='num_rollouts'):
    objectives.get_objective(_config('seqgan', **{'objective.seqgan.num_rollouts': 0}))
  with pytest.raises(ValueError, match='mle_weight'):
    objectives.get_objective(_config('seqgan', **{'objective.seqgan.mle_weight': -1.0}))
  with pytest.raises(ValueError, match='tau_min'):
    objectives.get_objective(_config('gumbel', **{'objective.gumbel.tau_min': 2.0}))
  with pytest.raises(ValueError, match='token sequences'):
    models.build_networks(_config().model, (8, 8, 1))


# ---- parallel equivalence (slow) ---------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize('objective', ['seqgan', 'seqgan+mle', 'gumbel', 'mle'])
def test_parallel_equals_single_device(objective):
  """2 Adam steps of each objective on one device, pmap and shard_map over 8 devices, global
  batch 16: the same parameters (D dropout 0: its keys differ per device count).
  'seqgan+mle': SeqGAN with objective.seqgan.mle_weight 1."""
  mle_weight = 1.0 if objective == 'seqgan+mle' else 0.0
  config = _config(objective.split('+')[0], vocab=17, seq_len=6, **{
      'objective.seqgan.num_rollouts': 3, 'model.sequence.pad_after_eos': True,
      'objective.seqgan.mle_weight': mle_weight,
      'optim.g.name': 'adam', 'optim.d.name': 'adam'})
  networks = _networks(config)
  state0 = state_lib.create_state(config, networks, jax.random.key(0))
  tokens = jax.random.randint(jax.random.key(1), (16, 6), 0, 17)
  tokens = tokens * (jnp.arange(6)[None] < 2 + jnp.arange(16)[:, None] % 4)  # <eos> + padding.
  batch = {'image': tokens, 'label': jnp.zeros((16,), jnp.int32)}
  (s1, m1), runs = helpers.single_and_parallel(config, networks, state0, batch,
                                               jax.random.key(3))
  assert float(m1['g_grad_norm']) > 0
  for mode, (s, m) in runs.items():
    for field in ('g_params', 'd_params', 'g_collections'):
      assert helpers.max_abs_diff(getattr(s1, field), getattr(s, field)) < 1e-5, (mode, field)
    np.testing.assert_allclose(float(m['g_loss']), float(m1['g_loss']), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_temperature_benchmark_on_an_oracle_run(tmp_path, monkeypatch, capsys):
  """benchmarks/text_temperature on a 4-step oracle MLE run (smoke sizes): each temperature's
  row is NLL-oracle of the samples it draws and G's NLL-test at that temperature (each
  recomputed here from the run's checkpoint), the oracle's own row, and the plot."""
  from benchmarks import text_temperature  # pylint: disable=g-import-not-at-top
  from configs import text_mle  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  from gan_jax.data import text as text_data  # pylint: disable=g-import-not-at-top
  from gan_jax.metrics import text as text_metrics  # pylint: disable=g-import-not-at-top
  from gan_jax.modalities import text as text_modality  # pylint: disable=g-import-not-at-top
  config = text_mle.get_config('smoke')
  config.num_train_steps, config.parallel, config.eval_every = 4, 'none', 0
  workdir = str(tmp_path / 'mle')
  train.train_and_evaluate(config, workdir)
  plot = str(tmp_path / 'curve.png')
  monkeypatch.setattr('sys.argv', ['text_temperature', '--runs', f'MLE={workdir}@4',
                                   '--num', '50', '--temperatures', '0.5', '1.0', '--plot', plot])
  text_temperature.main()
  out = capsys.readouterr().out
  assert '| NLL-oracle (down) | NLL-test (down) |' in out and os.path.exists(plot)
  config, _, networks, state, step = sampling.load_run(workdir)
  assert step == 4
  params = text_data.oracle_params(config.dataset)
  refs = text_data.split_tokens(config.dataset, 'test')[:50]
  rows = [line.split('|')[1:-1] for line in out.splitlines() if line.startswith('| MLE |')]
  assert len(rows) == 2
  for row, tau in zip(rows, (0.5, 1.0)):
    config.model.sequence.temperature = tau
    nets = models.build_networks(config.model, networks.data_shape, networks.num_classes)
    tokens = sampling.generate(nets, state, 50, jax.random.key(0), ema=False)
    assert float(row[3]) == pytest.approx(text_metrics.nll_oracle(params, tokens), abs=1e-3)
    assert float(row[4]) == pytest.approx(
        text_modality.generator_nll(nets, state, refs, ema=False), abs=1e-3)
  oracle_row = [line for line in out.splitlines() if line.startswith('| oracle')][0].split('|')
  assert float(oracle_row[5]) == pytest.approx(text_metrics.nll_oracle(params, refs), abs=1e-3)
