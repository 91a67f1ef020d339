"""Sequence models for text GANs (model.name='sequence'): SeqGAN's LSTM generator and CNN
discriminator over token embeddings (Yu et al. 2017, "SeqGAN: Sequence Generative
Adversarial Nets with Policy Gradient").

Data: int32 token ids (N, L) (data_shape (L,)), ids in [0, model.sequence.vocab_size).

Generator: an LSTM language model. Input x_1 = a learned start embedding, x_t = E[y_{t-1}]
(E: (V, g_width)); LSTM of g_width units from a zero state; logits_t = W h_t + b over the V
tokens. All weights are N(0, 0.1^2) as SeqGAN's `init_matrix`. With
model.sequence.pad_after_eos (sentences: id 0 = <eos>/padding), every token after the first 0
is 0 and is not scored (`token_mask`).
- `__call__(z, labels, train)` (what `Networks.generator_apply` runs): sampled int32 tokens
  (N, L) at temperature model.sequence.temperature. G's randomness is a pure function of
  its latents: the bits of z[:, 0] and z[:, -1] seed each row's PRNG key (`latent_keys`),
  so fixed latents give fixed sentences and a row's sample does not depend on its batch.
- methods for the objectives (gan_jax/objectives/mle.py, seqgan.py, gumbel.py), called
  through `generator_method`: `teacher_forcing(tokens)` -> logits (N, L, V); `sample(keys,
  temperature)` -> (tokens, logits); `rollouts(tokens, keys, num_rollouts)` -> the Monte
  Carlo completions of every prefix; `relaxed_sample(keys, tau, straight_through)` ->
  Gumbel-softmax relaxed one-hot vectors (N, L, V), fed back through E (the soft embedding).

Discriminator (SeqGAN's): embedding (V, d_width) -> for each filter size f in
model.sequence.filter_sizes (those <= L), a 'valid' convolution over time with
num_filters[f] x d_width / 64 filters (d_width = 64 is the paper's: 100-200 filters of sizes
1..10, 15, 20 over a 64-wide embedding), ReLU, max over time -> concatenated -> one highway
layer (Srivastava et al. 2015) -> dropout (model.sequence.d_dropout; the paper keeps 0.75)
-> Dense(1): the logit. It reads int32 tokens (N, L) (float ids are rounded) or one-hot /
relaxed one-hot vectors (N, L, V) (as x @ E: the same embedding for one-hot vectors).

Convolutions (model.sequence.conv_impl; the same function of the same parameters): 'xla'
(lax.conv_general_dilated), 'matmul' (f shifted copies of the embedding concatenated, one
matmul: XLA:CPU runs its kernel gradient as a matmul), 'auto' ('matmul' on CPU, else 'xla').
"""

import math
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from jax import lax

from gan_jax.models import layers

CONV_IMPLEMENTATIONS = ('auto', 'xla', 'matmul')
_DIMENSION_NUMBERS = ('NWC', 'WIO', 'NWC')


def _init_normal(stddev: float):
  return nn.initializers.normal(stddev)


def latent_keys(z: jax.Array) -> jax.Array:
  """One PRNG key per row of the latents z (N, latent_dim): key(bits of z[:, 0]) with the
  bits of z[:, -1] folded in (a pure function of the row, independent of the batch)."""
  bits = lax.bitcast_convert_type(jnp.asarray(z, jnp.float32), jnp.uint32)
  return jax.vmap(lambda a, b: jax.random.fold_in(jax.random.key(a), b))(bits[:, 0],
                                                                        bits[:, -1])


def sample_categorical(key: jax.Array, logits: jax.Array) -> jax.Array:
  """One draw from softmax(logits) over the last axis by the inverse CDF, with one uniform
  per draw, in two levels: blocks of ceil(sqrt(V)) tokens, the block by its cumulative mass,
  then the token inside it. Hand-written because jax.random.categorical draws V Gumbel
  variables per token (V = 5,000 here) and a flat jnp.cumsum over V runs ~5x slower than the
  softmax on XLA:CPU: both dominated SeqGAN's rollouts (measured on 19,456 rows x 5,000:
  categorical 4.2 s, flat cumsum 1.1 s, this 0.15 s). Returns int32 of logits.shape[:-1]."""
  v = logits.shape[-1]
  lead = logits.shape[:-1]
  block = int(math.ceil(math.sqrt(v)))
  num_blocks = -(-v // block)
  logits = logits.astype(jnp.float32).reshape(-1, v)
  rows = logits.shape[0]
  weights = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
  weights = jnp.pad(weights, ((0, 0), (0, num_blocks * block - v))).reshape(
      rows, num_blocks, block)
  block_cdf = jnp.cumsum(jnp.sum(weights, axis=-1), axis=-1)
  u = jax.random.uniform(key, (rows,)) * block_cdf[:, -1]
  b = jnp.minimum(jnp.sum((block_cdf <= u[:, None]).astype(jnp.int32), axis=-1), num_blocks - 1)
  below = jnp.take_along_axis(jnp.pad(block_cdf, ((0, 0), (1, 0))), b[:, None], axis=1)
  inner_cdf = below + jnp.cumsum(jnp.take_along_axis(weights, b[:, None, None], axis=1)[:, 0],
                                 axis=-1)
  j = jnp.sum((inner_cdf <= u[:, None]).astype(jnp.int32), axis=-1)
  index = jnp.minimum(b * block + jnp.minimum(j, block - 1), v - 1)
  # Float rounding between the two levels can put u past a block's last entry (j = block):
  # clipped to that entry (probability ~1e-7 per draw).
  return index.reshape(lead).astype(jnp.int32)


def _row_uniform_keys(keys: jax.Array, t) -> jax.Array:
  """keys (N,) -> per-row keys for position t."""
  return jax.vmap(lambda k: jax.random.fold_in(k, t))(keys)


def _sample_rows(keys: jax.Array, logits: jax.Array) -> jax.Array:
  """Rows of logits (N, V), row i drawn with keys[i] -> (N,) int32."""
  return jax.vmap(sample_categorical)(keys, logits)


def token_mask(tokens: jax.Array, pad_after_eos: bool) -> jax.Array:
  """(N, L) float32: 1 where a token is scored. With pad_after_eos, positions up to and
  including the first 0 (<eos>); the padding after it is not scored. Else all ones."""
  if not pad_after_eos:
    return jnp.ones(tokens.shape, jnp.float32)
  alive = jnp.cumprod((tokens[:, :-1] != 0).astype(jnp.float32), axis=1)
  return jnp.concatenate([jnp.ones_like(alive[:, :1]), alive], axis=1)


class SequenceGenerator(nn.Module):
  """LSTM language model (see the module docstring)."""

  vocab_size: int
  seq_len: int
  width: int
  temperature: float = 1.0
  pad_after_eos: bool = False
  init_std: float = 0.1

  def setup(self):
    v, h = self.vocab_size, self.width
    init = _init_normal(self.init_std)
    self.embedding = self.param('embedding', init, (v, h))
    self.start = self.param('start', init, (h,))
    self.w_input = self.param('w_input', init, (h, 4 * h))    # Gates i, f, g, o.
    self.w_hidden = self.param('w_hidden', init, (h, 4 * h))
    self.b_gates = self.param('b_gates', nn.initializers.zeros, (4 * h,))
    self.w_out = self.param('w_out', init, (h, v))
    self.b_out = self.param('b_out', nn.initializers.zeros, (v,))
    # Gumbel-softmax annealing: relaxed training forward passes so far (advanced by
    # relaxed_sample in training; a mutable collection, threaded by the train step).
    self.relaxed_steps = self.variable('batch_stats', 'relaxed_steps',
                                       lambda: jnp.zeros((), jnp.int32))

  # ---- the LSTM --------------------------------------------------------------------------
  def _zero_state(self, n: int):
    zeros = jnp.zeros((n, self.width), jnp.float32)
    return zeros, zeros

  def _step(self, state, x):
    """One LSTM step: (c, h), input (N, width) -> new (c, h), logits (N, V)."""
    c, h = state
    gates = x @ self.w_input + h @ self.w_hidden + self.b_gates
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (c, h), h @ self.w_out + self.b_out

  def _start_inputs(self, n: int) -> jax.Array:
    return jnp.broadcast_to(self.start, (n, self.width))

  # ---- methods ---------------------------------------------------------------------------
  def __call__(self, z, labels=None, train: bool = False):
    """Sampled tokens (N, L) int32 at model.sequence.temperature; randomness from z."""
    del labels, train
    tokens, _ = self.sample(latent_keys(z), self.temperature)
    return tokens

  def teacher_forcing(self, tokens: jax.Array) -> jax.Array:
    """Logits (N, L, V) of p(y_t | y_<t) for the given tokens (N, L) int."""
    return self._states(jnp.asarray(tokens).astype(jnp.int32))[0]

  def _decode(self, keys, temperature):
    """Ancestral sampling of L tokens, row i with keys[i] -> (tokens (N, L) int32, logits
    (N, L, V), LSTM states (c, h) after each position's input, each (N, L, width))."""
    n = keys.shape[0]
    inverse_t = 1.0 / temperature

    def body(carry, t):
      state, x, done = carry
      state, logits = self._step(state, x)
      drawn = _sample_rows(_row_uniform_keys(keys, t), logits * inverse_t)
      if self.pad_after_eos:
        drawn = jnp.where(done, 0, drawn)
        done = done | (drawn == 0)
      return (state, jnp.take(self.embedding, drawn, axis=0), done), (drawn, logits, state)

    init = (self._zero_state(n), self._start_inputs(n), jnp.zeros((n,), bool))
    _, (tokens, logits, states) = lax.scan(body, init, jnp.arange(self.seq_len))
    swap = lambda a: jnp.swapaxes(a, 0, 1)
    return swap(tokens), swap(logits), jax.tree_util.tree_map(swap, states)

  def sample(self, keys: jax.Array, temperature: float = 1.0):
    """(tokens (N, L) int32 drawn from softmax(logits / temperature), the logits (N, L, V)
    at those tokens' prefixes; differentiable in the parameters), row i with keys[i]."""
    tokens, logits, _ = self._decode(keys, temperature)
    return tokens, logits

  def _states(self, tokens):
    """Teacher forcing: (logits (N, L, V), states (c, h) (N, L, width) after input t)."""
    n = tokens.shape[0]
    inputs = jnp.concatenate([self._start_inputs(n)[:, None],
                              jnp.take(self.embedding, tokens[:, :-1], axis=0)], axis=1)

    def body(state, x):
      state, logits = self._step(state, x)
      return state, (logits, state)

    _, (logits, states) = lax.scan(body, self._zero_state(n), jnp.swapaxes(inputs, 0, 1))
    swap = lambda a: jnp.swapaxes(a, 0, 1)
    return swap(logits), jax.tree_util.tree_map(swap, states)

  def rollouts(self, tokens: jax.Array, keys: jax.Array, num_rollouts: int,
               temperature: float = 1.0) -> jax.Array:
    """SeqGAN's Monte Carlo search: for every prefix y_1..y_t (t = 1 .. L-1) of tokens (N, L),
    num_rollouts completions sampled from G -> (R, L-1, N, L) int32 (entry [r, t-1] keeps
    y_1..y_t and draws the rest). Row i's draws use keys[i] folded with (r, t, position).

    Vectorized over rollouts, prefixes and rows; every completion starts from G's state after
    its prefix (one teacher-forcing pass), so position s of prefix t is one LSTM step: the
    (L-1) L / 2 steps of all prefixes, not L per prefix. The positions are unrolled in Python
    (the set of prefixes still sampling shrinks by one per position: static shapes)."""
    tokens = jnp.asarray(tokens).astype(jnp.int32)
    n, length = tokens.shape
    prefixes = length - 1
    logits, (c_all, h_all) = self._states(tokens)
    inverse_t = 1.0 / temperature
    t_index = jnp.arange(1, length)  # Prefix lengths.

    def one_rollout(r):
      # Prefix t = j + 1 samples position s = t + k at iteration k, from state after input s.
      row_keys = jax.vmap(lambda k: jax.random.fold_in(k, r))(keys)
      prefix_keys = jax.vmap(lambda t: jax.vmap(lambda k: jax.random.fold_in(k, t))(row_keys)
                             )(t_index)  # (L-1, N)
      if self.pad_after_eos:
        ended = jnp.cumsum((tokens == 0).astype(jnp.int32), axis=1) > 0  # (N, L)
        done = jnp.swapaxes(ended[:, :-1], 0, 1)  # Prefix t ended within y_1..y_t: (L-1, N).
      else:
        done = jnp.zeros((prefixes, n), bool)
      # Iteration 0: position t of every prefix t, from the teacher-forcing logits.
      cur_logits = jnp.swapaxes(logits[:, 1:], 0, 1)  # (L-1, N, V)
      c = jnp.swapaxes(c_all[:, 1:], 0, 1)
      h = jnp.swapaxes(h_all[:, 1:], 0, 1)
      drawn_by_iteration, drawn = [], None
      for k in range(prefixes):
        active = prefixes - k  # Prefixes t = 1 .. L-1-k still have position t + k to draw.
        if k > 0:
          x = jnp.take(self.embedding, drawn[:active], axis=0)
          (c, h), cur_logits = self._step((c[:active], h[:active]), x)
          done = done[:active]
        pos_keys = jax.vmap(jax.vmap(lambda key, t: jax.random.fold_in(key, t + k)),
                            in_axes=(0, 0))(prefix_keys[:active],
                                            jnp.broadcast_to(t_index[:active, None],
                                                             (active, n)))
        drawn = jax.vmap(_sample_rows)(pos_keys, cur_logits * inverse_t)
        if self.pad_after_eos:
          drawn = jnp.where(done, 0, drawn)
          done = done | (drawn == 0)
        drawn_by_iteration.append(jnp.pad(drawn, ((0, prefixes - active), (0, 0))))
      drawn_all = jnp.stack(drawn_by_iteration)  # (iteration k, prefix j, N)
      s = jnp.arange(length)[None, :]
      t = t_index[:, None]
      k_of = jnp.clip(s - t, 0, prefixes - 1)  # (L-1, L)
      j_of = jnp.broadcast_to(jnp.arange(prefixes)[:, None], k_of.shape)
      sampled = drawn_all[k_of, j_of]  # (L-1, L, N)
      given = jnp.broadcast_to(jnp.swapaxes(tokens, 0, 1)[None], sampled.shape)
      return jnp.swapaxes(jnp.where((s < t)[..., None], given, sampled), 1, 2)  # (L-1, N, L)

    return jax.vmap(one_rollout)(jnp.arange(num_rollouts))

  def relaxed_sample(self, keys: jax.Array, tau, straight_through: bool = False,
                     advance: bool = True):
    """Gumbel-softmax samples (Jang et al. 2017; Kusner & Hernandez-Lobato 2016):
    y_t = softmax((logits_t + g_t) / tau), g ~ Gumbel(0, 1), fed back as y_t @ E -> (N, L, V).
    With straight_through, the forward value is one_hot(argmax) and the gradient the relaxed
    one's. `advance` counts the call in 'relaxed_steps' (the annealing clock)."""
    n = keys.shape[0]
    v = self.vocab_size

    def body(carry, t):
      state, x, done = carry
      state, logits = self._step(state, x)
      gumbel = jax.vmap(lambda k: jax.random.gumbel(k, (v,)))(_row_uniform_keys(keys, t))
      soft = jax.nn.softmax((logits + gumbel) / tau, axis=-1)
      y = soft
      if straight_through:
        hard = jax.nn.one_hot(jnp.argmax(soft, axis=-1), v, dtype=soft.dtype)
        y = soft + lax.stop_gradient(hard - soft)
      if self.pad_after_eos:  # After <eos>: the padding token, exactly.
        y = jnp.where(done[:, None], jax.nn.one_hot(0, v, dtype=y.dtype), y)
        done = done | (jnp.argmax(y, axis=-1) == 0)
      return (state, y @ self.embedding, done), y

    init = (self._zero_state(n), self._start_inputs(n), jnp.zeros((n,), bool))
    _, ys = lax.scan(body, init, jnp.arange(self.seq_len))
    if advance and self.is_mutable_collection('batch_stats') and not self.is_initializing():
      self.relaxed_steps.value = self.relaxed_steps.value + 1
    return jnp.swapaxes(ys, 0, 1)


def temporal_conv(x: jax.Array, kernel: jax.Array, impl: str) -> jax.Array:
  """'valid' 1-D convolution (cross-correlation) of x (N, L, C) with kernel (f, C, F) ->
  (N, L - f + 1, F), as impl 'xla' or 'matmul' (the same function)."""
  impl = layers.resolve_implementation(impl, cpu='matmul')
  if impl == 'xla':
    return lax.conv_general_dilated(x, kernel, (1,), 'VALID',
                                    dimension_numbers=_DIMENSION_NUMBERS)
  if impl != 'matmul':
    raise ValueError(f'Unknown model.sequence.conv_impl {impl!r}; use one of '
                     f'{CONV_IMPLEMENTATIONS}.')
  f, c, out = kernel.shape
  steps = x.shape[1] - f + 1
  patches = jnp.concatenate([x[:, i:i + steps] for i in range(f)], axis=-1)
  return patches @ kernel.reshape(f * c, out)


class SequenceDiscriminator(nn.Module):
  """SeqGAN's CNN discriminator (see the module docstring)."""

  vocab_size: int
  width: int
  filter_sizes: Sequence[int]
  num_filters: Sequence[int]
  dropout: float = 0.25
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    del labels
    embedding = self.param(  # U[-1, 1], as SeqGAN's discriminator embedding.
        'embedding', lambda key, shape: jax.random.uniform(key, shape, minval=-1.0, maxval=1.0),
        (self.vocab_size, self.width))
    x = jnp.asarray(x)
    if x.ndim == 2:  # Token ids (floats are rounded: generator outputs carried as float32).
      ids = jnp.round(x).astype(jnp.int32) if jnp.issubdtype(x.dtype, jnp.floating) else x
      emb = jnp.take(embedding, ids.astype(jnp.int32), axis=0)
    elif x.ndim == 3:
      if x.shape[-1] != self.vocab_size:
        raise ValueError(f'One-hot inputs must have {self.vocab_size} (vocab_size) entries on '
                         f'the last axis; got shape {x.shape}.')
      emb = x.astype(jnp.float32) @ embedding
    else:
      raise ValueError(f'The sequence discriminator reads tokens (N, L) or one-hot vectors '
                       f'(N, L, V); got shape {x.shape}.')
    pooled = []
    for f, count in zip(self.filter_sizes, self.num_filters):
      kernel = self.param(f'conv{f}_kernel', nn.initializers.truncated_normal(0.1),
                          (f, self.width, count))
      bias = self.param(f'conv{f}_bias', nn.initializers.constant(0.1), (count,))
      h = jax.nn.relu(temporal_conv(emb, kernel, self.conv_impl) + bias)
      pooled.append(jnp.max(h, axis=1))
    h = jnp.concatenate(pooled, axis=-1)
    features = h.shape[-1]
    transform = jax.nn.sigmoid(nn.Dense(features, name='highway_gate')(h))
    h = transform * jax.nn.relu(nn.Dense(features, name='highway_transform')(h)) + \
        (1.0 - transform) * h
    self.sow('intermediates', 'features', h)
    h = nn.Dropout(self.dropout)(h, deterministic=not train)
    return nn.Dense(1, name='logit')(h)[:, 0]


def filter_bank(own: ml_collections.ConfigDict, seq_len: int,
                d_width: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """(filter sizes <= seq_len, their counts x d_width / 64, at least 1)."""
  sizes, counts = tuple(int(s) for s in own.filter_sizes), tuple(int(c) for c in own.num_filters)
  if len(sizes) != len(counts) or not sizes:
    raise ValueError(f'model.sequence.filter_sizes {sizes} and num_filters {counts} must be '
                     'non-empty and of the same length.')
  kept = [(s, max(1, round(c * d_width / 64))) for s, c in zip(sizes, counts)
          if 1 <= s <= seq_len]
  if not kept:
    raise ValueError(f'No filter size of {sizes} fits sequences of length {seq_len}.')
  return tuple(s for s, _ in kept), tuple(c for _, c in kept)


def build(model_config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: Optional[int]):
  """(make_generator, make_discriminator) for token sequences of data_shape (L,)."""
  if len(data_shape) != 1:
    raise ValueError(f'model.name=sequence generates token sequences (L,); got data shape '
                     f"{data_shape}. Use a text dataset (dataset.name='text_oracle', "
                     "'pydoc_sentences', 'tfds_text').")
  if num_classes:
    raise ValueError('The sequence models are unconditional; set '
                     '--config.dataset.conditional=False.')
  own = model_config.sequence
  vocab, seq_len = int(own.vocab_size), int(data_shape[0])
  if vocab < 2 or seq_len < 2:
    raise ValueError(f'model.sequence.vocab_size ({vocab}) and the sequence length '
                     f'({seq_len}) must be >= 2.')
  if float(own.temperature) <= 0:
    raise ValueError(f'model.sequence.temperature must be > 0; got {own.temperature}.')
  if own.conv_impl not in CONV_IMPLEMENTATIONS:
    raise ValueError(f'Unknown model.sequence.conv_impl {own.conv_impl!r}; use one of '
                     f'{CONV_IMPLEMENTATIONS}.')
  if not 0.0 <= float(own.d_dropout) < 1.0:
    raise ValueError(f'model.sequence.d_dropout must be in [0, 1); got {own.d_dropout}.')
  sizes, counts = filter_bank(own, seq_len, int(model_config.d_width))

  def make_generator(axis_name):
    del axis_name  # No BatchNorm.
    return SequenceGenerator(vocab, seq_len, int(model_config.g_width),
                             temperature=float(own.temperature),
                             pad_after_eos=bool(own.pad_after_eos))

  def make_discriminator(axis_name):
    del axis_name
    return SequenceDiscriminator(vocab, int(model_config.d_width), sizes, counts,
                                 dropout=float(own.d_dropout), conv_impl=own.conv_impl)

  return make_generator, make_discriminator


def generator_method(networks, variables, method: str, *args, mutable=False, **kwargs):
  """Calls a SequenceGenerator method (teacher_forcing, sample, rollouts, relaxed_sample) on
  `variables`; with `mutable` a list of collections, returns (out, mutated)."""
  module = networks.make_generator(None)
  if not isinstance(module, SequenceGenerator):
    raise ValueError(f'The text objectives need model.name=sequence; got '
                     f'{type(module).__name__}.')
  return module.apply(variables, *args, method=method, mutable=mutable, **kwargs)
