"""Text datasets: token sequences (seq_len,) int32 under the examples' 'image' key, label 0.

`load(cfg, seed) -> Source` for dataset.name (the fields are `dataset.text`, configs/default.py):

- 'text_oracle': the synthetic-oracle benchmark of SeqGAN (Yu et al. 2017, section 5.1). The
  oracle is an LSTM language model with random parameters, every one drawn from N(0, 1) as in
  the paper (`oracle_params`, a pure function of text.oracle_seed): an embedding table
  (vocab_size, oracle_emb_dim), the embedding of a start symbol, one LSTM cell of
  oracle_hidden units (gates i, f, o and the cell candidate g: i = sigmoid(x W_i + h U_i +
  b_i), ..., c' = f c + i g, h' = o tanh(c')) and a softmax layer (oracle_hidden, vocab_size).
  From the zero state fed the start symbol it gives p(x_1); fed x_t's embedding, p(x_{t+1} |
  x_<=t). The paper's setting: vocabulary 5,000, hidden 32 (embedding 32), length 20, 10,000
  training sequences. Every id in [0, vocab_size) is a word: fixed length, no padding, no
  <eos>. Split 'train' is num_train sequences sampled from the oracle, 'test' another
  num_test (independent draws, held out); both are sampled once per process from keys derived
  from oracle_seed only (not the run's seed), on the CPU (a jitted `lax.scan`), so a GPU run
  trains on the same sequences (another jax/XLA version may round differently and, rarely,
  change a draw). `oracle_log_likelihood` scores any token sequences; the metric
  NLL-oracle is `gan_jax.metrics.text.nll_oracle`.
- 'pydoc_sentences': English sentences of the Python documentation that CPython ships
  (`pydoc_data.topics`, ~465,000 characters; the text differs a little between Python
  versions, so the description names the version and a digest of the sentences). Prose
  paragraphs are kept (grammar productions, interactive sessions, code blocks indented under
  a paragraph ending in ':', headings and signature lines are dropped), split into sentences
  (`split_sentences`), deduplicated (after lower-casing when text.lowercase) and split into
  'train' and 'test' by a permutation from text.split_seed (a fraction text.test_fraction held
  out), each in the permutation's order (so its first N sentences are a uniform sample of it):
  the splits share no sentence. Then each sentence is tokenized (`tokenize`: words and
  punctuation marks at text.level='word', characters at 'char'), and sentences of more than
  seq_len tokens (or fewer than min_len) are dropped (text.truncate: cut to seq_len instead).
- 'tfds_text': the text feature text.tfds_text_key of the TFDS dataset text.tfds_name (e.g.
  'lm1b', 'imdb_reviews/plain_text') prepared as array_record under dataset.data_dir, read
  with random access (no TensorFlow needed to read; preparing it needs network and
  TensorFlow, and a clear error says how). The first text.tfds_max_examples examples of the
  TFDS splits 'train' and 'test' are split into sentences and tokenized as pydoc_sentences;
  held-out sentences that also occur in the training sentences are removed.

Sentence token ids: 0 = <eos> / padding (every position after the sentence's end is 0), 1 =
<unk>, 2.. = the training split's tokens by descending frequency (ties alphabetically), at most
vocab_size ids in all (`vocabulary`). dataset.split is 'train', 'test' or a TFDS-style slice
of either ('train[:1000]', 'test[50%:]'). `decode` turns ids back into text.
"""

import collections
import functools
import hashlib
import json
import re
import sys
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.data import sources

ORACLE = 'text_oracle'
PYDOC = 'pydoc_sentences'
TFDS_TEXT = 'tfds_text'
NAMES = (ORACLE, PYDOC, TFDS_TEXT)
LEVELS = ('word', 'char')
EOS, UNK = 0, 1
SPECIAL_TOKENS = ('<eos>', '<unk>')
SPLITS = ('train', 'test')
# Oracle parameters, drawn from N(0, 1) in this order by numpy's generator of oracle_seed.
ORACLE_PARAM_NAMES = ('embedding', 'start', 'w_x', 'w_h', 'b', 'w_out', 'b_out')


class Vocabulary(list):
  """The token strings of ids 0, 1, 2, ... (a list), with the separator `decode` joins them
  by: ' ' for words, '' for characters."""

  def __init__(self, tokens: Sequence[str], separator: str):
    super().__init__(tokens)
    self.separator = separator


def text_config(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """cfg.text after checking its fields (clear errors for bad values)."""
  if 'text' not in cfg:
    raise ValueError('dataset.text is missing: the text datasets read their fields from the '
                     'dataset.text block of configs/default.py; start from that config.')
  t = cfg.text
  if int(t.seq_len) < 1:
    raise ValueError(f'dataset.text.seq_len={t.seq_len}: sequences need at least one token.')
  if cfg.name == ORACLE:
    if int(t.vocab_size) < 2 or int(t.oracle_hidden) < 1 or int(t.oracle_emb_dim) < 1:
      raise ValueError(f'The oracle needs vocab_size >= 2, oracle_hidden >= 1 and '
                       f'oracle_emb_dim >= 1; got {t.vocab_size}, {t.oracle_hidden}, '
                       f'{t.oracle_emb_dim} (dataset.text).')
  else:
    if t.level not in LEVELS:
      raise ValueError(f'dataset.text.level={t.level!r}; choose one of {LEVELS}.')
    if int(t.vocab_size) < len(SPECIAL_TOKENS) + 1:
      raise ValueError(f'dataset.text.vocab_size={t.vocab_size}: need room for <eos>, <unk> '
                       'and at least one token (>= 3).')
    if not 0.0 < float(t.test_fraction) < 1.0:
      raise ValueError(f'dataset.text.test_fraction={t.test_fraction}: the held-out share of '
                       'the sentences must be in (0, 1).')
  return t


# ---- the synthetic oracle (SeqGAN) -------------------------------------------------------------

def _cpu():
  return jax.devices('cpu')[0]


def oracle_params(cfg: ml_collections.ConfigDict) -> dict:
  """The oracle LSTM's parameters, every entry N(0, 1) (float32), a pure function of cfg.text's
  oracle_seed, vocab_size, oracle_emb_dim and oracle_hidden: numpy's PCG64 generator seeded
  with oracle_seed draws the arrays in the order of ORACLE_PARAM_NAMES (numpy, so they are the
  same on every machine and need no compilation). cfg is config.dataset. Shapes (V vocab, E
  embedding, H hidden): embedding (V, E), start (E,), w_x (E, 4H), w_h (H, 4H), b (4H,)
  (gates i, f, o, g in that order), w_out (H, V), b_out (V,)."""
  t = cfg.text
  v, e, h = int(t.vocab_size), int(t.oracle_emb_dim), int(t.oracle_hidden)
  shapes = dict(embedding=(v, e), start=(e,), w_x=(e, 4 * h), w_h=(h, 4 * h), b=(4 * h,),
                w_out=(h, v), b_out=(v,))
  rng = np.random.default_rng(int(t.oracle_seed))
  return {name: rng.standard_normal(shapes[name]).astype(np.float32)
          for name in ORACLE_PARAM_NAMES}


def _lstm_cell(params: dict, state, x):
  """One LSTM step: state (h, c) (N, H) each, input embeddings x (N, E) -> (h', c')."""
  h, c = state
  gates = x @ params['w_x'] + h @ params['w_h'] + params['b']
  i, f, o, g = jnp.split(gates, 4, axis=-1)
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  h = jax.nn.sigmoid(o) * jnp.tanh(c)
  return h, c


def _initial(params: dict, num: int):
  """The zero state and the start symbol's embedding for `num` sequences."""
  hidden = params['w_h'].shape[0]
  zeros = jnp.zeros((num, hidden), params['w_h'].dtype)
  return (zeros, zeros), jnp.broadcast_to(params['start'], (num, params['start'].shape[0]))


@jax.jit
def oracle_log_likelihood(params: dict, tokens) -> jax.Array:
  """(N,) sum over t of log p_oracle(tokens[:, t] | tokens[:, :t]) of int tokens (N, L) (the
  first token's probability from the oracle's initial state fed the start symbol)."""
  tokens = jnp.asarray(tokens, jnp.int32)
  state, x = _initial(params, tokens.shape[0])

  def step(carry, token):
    state, x = carry
    state = _lstm_cell(params, state, x)
    log_p = jax.nn.log_softmax(state[0] @ params['w_out'] + params['b_out'])
    picked = jnp.take_along_axis(log_p, token[:, None], axis=-1)[:, 0]
    return (state, params['embedding'][token]), picked

  _, picked = jax.lax.scan(step, (state, x), tokens.T)
  return picked.sum(axis=0)


def sample_categorical(key: jax.Array, logits, block: int = 64) -> jax.Array:
  """(N,) int32 draws from softmax(logits) of logits (N, V) by inverse CDF in two levels: one
  uniform u per row picks the block of `block` ids whose cumulative mass first exceeds u, then
  the id inside it. Hand-written because jax.random.categorical's Gumbel-max draws V uniforms
  per row and jnp.cumsum over V is slow on CPU (at N = 10,000, V = 5,000: ~2 s and ~0.6 s a
  step, against ~0.15 s for this)."""
  n, v = logits.shape
  num_blocks = -(-v // block)
  weights = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
  weights = jnp.pad(weights, ((0, 0), (0, num_blocks * block - v)))
  weights = weights.reshape(n, num_blocks, block)
  block_mass = weights.sum(-1)  # (N, B)
  block_cdf = jnp.cumsum(block_mass, axis=-1)
  u = jax.random.uniform(key, (n, 1), block_cdf.dtype) * block_cdf[:, -1:]
  b = jnp.minimum(jnp.sum(block_cdf <= u, axis=-1), num_blocks - 1)  # (N,)
  pick = lambda a: jnp.take_along_axis(a, b[:, None], axis=-1)[:, 0]
  rest = u[:, 0] - (pick(block_cdf) - pick(block_mass))  # u's offset into block b.
  inner_cdf = jnp.cumsum(jnp.take_along_axis(weights, b[:, None, None], axis=1)[:, 0], axis=-1)
  k = jnp.minimum(jnp.sum(inner_cdf <= rest[:, None], axis=-1), block - 1)
  return jnp.minimum(b * block + k, v - 1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnums=(2, 3))
def oracle_sample(params: dict, key: jax.Array, num: int, seq_len: int) -> jax.Array:
  """(num, seq_len) int32 sequences sampled from the oracle (softmax temperature 1); position
  t draws from fold_in(key, t)."""
  state, x = _initial(params, num)

  def step(carry, t):
    state, x = carry
    state = _lstm_cell(params, state, x)
    logits = state[0] @ params['w_out'] + params['b_out']
    token = sample_categorical(jax.random.fold_in(key, t), logits)
    return (state, params['embedding'][token]), token

  _, tokens = jax.lax.scan(step, (state, x), jnp.arange(seq_len))
  return tokens.T


def oracle_fields(t) -> tuple:
  """The dataset.text fields that shape the oracle's sequences: (vocab_size, oracle_emb_dim,
  oracle_hidden, oracle_seed, seq_len)."""
  return (int(t.vocab_size), int(t.oracle_emb_dim), int(t.oracle_hidden), int(t.oracle_seed),
          int(t.seq_len))


@functools.lru_cache(maxsize=4)
def _oracle_split(fields: tuple, split: str, num: int) -> np.ndarray:
  vocab, emb, hidden, seed, seq_len = fields
  cfg = ml_collections.ConfigDict(dict(text=dict(
      vocab_size=vocab, oracle_emb_dim=emb, oracle_hidden=hidden, oracle_seed=seed)))
  params = oracle_params(cfg)
  with jax.default_device(_cpu()):
    key = jax.random.fold_in(jax.random.key(seed), 1 + SPLITS.index(split))
    tokens = np.asarray(oracle_sample(params, key, num, seq_len), np.int32)
  tokens.setflags(write=False)
  return tokens


def oracle_sequences(cfg: ml_collections.ConfigDict, split: str) -> np.ndarray:
  """(num_train or num_test, seq_len) int32: the oracle's 'train' or 'test' sequences
  (sampled once per process and cached; read-only)."""
  t = text_config(cfg)
  num = int(t.num_train if split == 'train' else t.num_test)
  if num < 0:
    raise ValueError(f'dataset.text.num_{split}={num}: need a non-negative count.')
  return _oracle_split(oracle_fields(t), split, num)


# ---- sentences ---------------------------------------------------------------------------

_SENTENCE_END = re.compile(r'(?<=[.!?])["\')\]]*\s+(?=["\'(*]?[A-Z])')
_WORD = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")
_FOOTNOTE = re.compile(r'^\[\d+\]\s+')
_BULLET = re.compile(r'^(?:[*\-\u2022]|\d+\.|\(\d+\))\s+')
PROSE_LETTERS = 0.75  # A sentence's least share of letters and spaces.


def _indent(line: str) -> int:
  return len(line) - len(line.lstrip(' '))


def _list_item(lines: list[str]) -> bool:
  """Whether lines are one bullet, numbered or footnote item: the marker on the first line,
  every further line indented to the item's text."""
  first = lines[0].lstrip(' ')
  marker = _FOOTNOTE.match(first) or _BULLET.match(first)
  if not marker:
    return False
  body = _indent(lines[0]) + marker.end()
  return all(_indent(line) == body for line in lines[1:])


def prose_paragraphs(text: str) -> list[str]:
  """Paragraphs of running text (each joined into one line, list markers removed) of
  pydoc-style plain text: blocks separated by blank lines, without headings (a line of '*',
  '=', '-' under a title), interactive sessions ('>>>'), grammar ('::='), tables (lines
  starting with '|' or '+-') and blocks whose lines are indented unevenly (code, signature
  lists), except list items (a bullet, number or footnote mark, the rest indented to its
  text)."""
  paragraphs = []
  for block in re.split(r'\n[ \t]*\n', text):
    lines = [line.rstrip() for line in block.split('\n') if line.strip()]
    if not lines:
      continue
    indent = _indent(lines[0])
    joined = ' '.join(line.strip() for line in lines)
    heading = len(lines) >= 2 and re.fullmatch(r'[*=\-~^]{3,}', lines[-1].strip())
    table = any(line.lstrip().startswith(('|', '+-', '+=')) for line in lines)
    uneven = any(_indent(line) != indent for line in lines[1:]) and not _list_item(lines)
    if heading or table or uneven or '>>>' in joined or '::=' in joined:
      continue
    paragraphs.append(_BULLET.sub('', _FOOTNOTE.sub('', joined)))
  return paragraphs


def split_sentences(paragraph: str) -> list[str]:
  """Sentences of one paragraph: split after '.', '!' or '?' (and closing quotes/brackets)
  followed by whitespace and a capital letter (optionally after an opening quote, bracket or
  '*'); kept when they end in '.', '!' or '?', start with a capital letter, quote, bracket
  or '*', and are at least PROSE_LETTERS letters and spaces (not code), with whitespace
  collapsed. Abbreviations such as 'e.g. Foo' may split early."""
  out = []
  for sentence in _SENTENCE_END.split(re.sub(r'\s+', ' ', paragraph).strip()):
    sentence = sentence.strip()
    letters = sum(ch.isalpha() or ch == ' ' for ch in sentence)
    if (len(sentence) >= 2 and sentence[-1] in '.!?' and
        re.match(r'["\'(*]?[A-Z]', sentence) and letters >= PROSE_LETTERS * len(sentence)):
      out.append(sentence)
  return out


def tokenize(sentence: str, level: str, lowercase: bool) -> list[str]:
  """Tokens of a sentence: at level 'word' maximal runs of word characters (with inner
  apostrophes, "don't") and single punctuation marks; at 'char' its characters."""
  if lowercase:
    sentence = sentence.lower()
  if level == 'word':
    return _WORD.findall(sentence)
  if level == 'char':
    return list(sentence)
  raise ValueError(f'dataset.text.level={level!r}; choose one of {LEVELS}.')


def build_vocabulary(token_lists: Sequence[Sequence[str]], vocab_size: int,
                     separator: str) -> Vocabulary:
  """<eos>, <unk>, then the tokens of `token_lists` by descending count (ties: alphabetical),
  at most vocab_size entries in all."""
  counts = collections.Counter(tok for toks in token_lists for tok in toks)
  ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
  keep = max(0, int(vocab_size) - len(SPECIAL_TOKENS))
  return Vocabulary(list(SPECIAL_TOKENS) + [tok for tok, _ in ranked[:keep]], separator)


def encode(token_lists: Sequence[Sequence[str]], vocab: Sequence[str],
           seq_len: int) -> np.ndarray:
  """(N, seq_len) int32 ids of token lists (each at most seq_len tokens), <unk> for tokens out
  of `vocab`, 0 after each sentence's end."""
  index = {tok: i for i, tok in enumerate(vocab)}
  out = np.zeros((len(token_lists), int(seq_len)), np.int32)
  for row, toks in enumerate(token_lists):
    if len(toks) > seq_len:
      raise ValueError(f'Sentence {row} has {len(toks)} tokens, more than seq_len={seq_len}.')
    out[row, :len(toks)] = [index.get(tok, UNK) for tok in toks]
  return out


def strip_padding(tokens) -> list[list[int]]:
  """Token-id lists of int sequences (N, L), each cut at its first 0 (<eos>)."""
  out = []
  for row in np.asarray(tokens):
    ends = np.flatnonzero(row == EOS)
    out.append([int(x) for x in (row[:ends[0]] if ends.size else row)])
  return out


def decode(tokens, vocab: Optional[Sequence[str]]) -> list[str]:
  """Strings of int token ids (N, L) (or one sequence (L,)). With a vocabulary (sentences):
  each row is cut at its first 0 (<eos>) and its tokens joined by vocab.separator (' ' for
  words, '' for characters; ' ' for a plain list). With vocab None (the oracle, whose ids
  are all words): the ids as numbers joined by spaces."""
  arr = np.asarray(tokens)
  if arr.ndim == 1:
    arr = arr[None]
  if arr.ndim != 2:
    raise ValueError(f'decode needs token ids (N, L) or (L,); got shape {arr.shape}.')
  if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
    raise ValueError('decode needs integer token ids; got non-integer values (sample with '
                     'train=False to get ids, not a relaxed one-hot or logits).')
  arr = arr.astype(np.int64)
  if vocab is None:
    return [' '.join(str(int(x)) for x in row) for row in arr]
  if arr.size and (arr.min() < 0 or arr.max() >= len(vocab)):
    raise ValueError(f'Token ids must be in [0, {len(vocab)}) for this vocabulary; got '
                     f'[{arr.min()}, {arr.max()}].')
  separator = getattr(vocab, 'separator', ' ')
  return [separator.join(vocab[i] for i in row) for row in strip_padding(arr)]


@functools.lru_cache(maxsize=1)
def pydoc_sentences() -> tuple[str, ...]:
  """Every sentence of the prose of `pydoc_data.topics` (topics in sorted order), in order,
  with repeats."""
  from pydoc_data import topics  # pylint: disable=g-import-not-at-top
  return tuple(s for name in sorted(topics.topics)
               for p in prose_paragraphs(topics.topics[name]) for s in split_sentences(p))


def _tfds_sentences(cfg: ml_collections.ConfigDict, split: str) -> list[str]:
  """Sentences of the first text.tfds_max_examples examples of TFDS split `split`."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from gan_jax.data import audio  # pylint: disable=g-import-not-at-top
  t = cfg.text
  name = t.tfds_name
  prepare = (f"python -c \"import tensorflow_datasets as tfds; tfds.builder('{name}', "
             f"data_dir='DIR', file_format='array_record').download_and_prepare()\"")
  directory = audio.prepared_dir(name, cfg.data_dir) if name else None
  if directory is None:
    raise FileNotFoundError(
        f'dataset.text.tfds_name={name!r} is not a TFDS dataset prepared under '
        f'dataset.data_dir={cfg.data_dir or "~/tensorflow_datasets"!r}. Where there is network, '
        f'prepare it once with: {prepare} (needs TensorFlow: pip install -e ".[tfds]"), then pass '
        "--config.dataset.data_dir=DIR; or use dataset.name='pydoc_sentences' (offline).")
  builder = tfds.builder_from_directory(directory)
  try:
    source = builder.as_data_source(split)
  except Exception as e:  # TFDS raises several types for unreadable formats / bad splits.
    raise ValueError(f'TFDS dataset {name!r} in {directory} cannot be read with random access '
                     f'for split {split!r} ({e}); it needs the splits {SPLITS} prepared as '
                     f'array_record: {prepare}') from e
  key = t.tfds_text_key
  if key not in builder.info.features:
    raise ValueError(f'{name!r} has no feature {key!r}; features: '
                     f'{list(builder.info.features)}. Set --config.dataset.text.tfds_text_key.')
  limit = int(t.tfds_max_examples) or len(source)
  sentences = []
  for i in range(min(limit, len(source))):
    value = source[i][key]
    value = value.decode('utf-8') if isinstance(value, bytes) else str(value)
    sentences.extend(s for p in prose_paragraphs(value) for s in split_sentences(p))
  return sentences


def _normalized(sentence: str, lowercase: bool) -> str:
  return sentence.lower() if lowercase else sentence


def _split_sentences(cfg: ml_collections.ConfigDict) -> tuple[list[str], list[str], str]:
  """(train sentences, test sentences, what they are) before tokenization: disjoint, each
  without repeats."""
  t = cfg.text
  lowercase = bool(t.lowercase)
  if cfg.name == PYDOC:
    unique = list(dict.fromkeys(_normalized(s, lowercase) for s in pydoc_sentences()))
    order = np.random.default_rng(int(t.split_seed)).permutation(len(unique))
    num_test = round(float(t.test_fraction) * len(unique))
    test = [unique[i] for i in order[:num_test]]  # In the permutation's order: the first N
    train = [unique[i] for i in order[num_test:]]  # of a split are a uniform sample of it.
    digest = hashlib.sha256('\n'.join(unique).encode()).hexdigest()[:12]
    what = (f'pydoc_data.topics of Python {sys.version.split()[0]}: {len(unique)} unique '
            f'sentences (sha256 {digest}), {len(test)} held out (test_fraction '
            f'{float(t.test_fraction)}, split_seed {int(t.split_seed)})')
    return train, test, what
  train = list(dict.fromkeys(_normalized(s, lowercase) for s in _tfds_sentences(cfg, 'train')))
  seen = set(train)
  test = [s for s in dict.fromkeys(_normalized(s, lowercase)
                                   for s in _tfds_sentences(cfg, 'test')) if s not in seen]
  what = (f'tfds:{t.tfds_name} feature {t.tfds_text_key!r}, first {int(t.tfds_max_examples)} '
          f'examples of train / test (0 = all): {len(train)} / {len(test)} unique sentences')
  return train, test, what


def _fit(token_lists, t) -> list[list[str]]:
  """Token lists of at least min_len tokens, those over seq_len cut (truncate) or dropped."""
  seq_len, min_len = int(t.seq_len), int(t.min_len)
  if t.truncate:
    token_lists = [toks[:seq_len] for toks in token_lists]
  return [toks for toks in token_lists if min_len <= len(toks) <= seq_len]


SENTENCE_FIELDS = ('seq_len', 'vocab_size', 'level', 'lowercase', 'min_len', 'truncate',
                   'test_fraction', 'split_seed')
TFDS_FIELDS = ('tfds_name', 'tfds_text_key', 'tfds_max_examples')


def _sentence_key(cfg: ml_collections.ConfigDict) -> str:
  """JSON of the fields that shape a sentence dataset (the cache key of _sentence_data)."""
  names = SENTENCE_FIELDS + (TFDS_FIELDS if cfg.name == TFDS_TEXT else ())
  return json.dumps(dict(name=cfg.name, data_dir=cfg.data_dir if cfg.name == TFDS_TEXT else '',
                         text={k: cfg.text[k] for k in names}), sort_keys=True)


@functools.lru_cache(maxsize=4)
def _sentence_data(key: str) -> dict:
  cfg = ml_collections.ConfigDict(json.loads(key))
  t = cfg.text
  train, test, what = _split_sentences(cfg)
  tok = lambda sentences: _fit([tokenize(s, t.level, bool(t.lowercase)) for s in sentences], t)
  train_tokens, test_tokens = tok(train), tok(test)
  if not train_tokens:
    raise ValueError(f'No training sentence of {cfg.name} has between min_len={t.min_len} and '
                     f'seq_len={t.seq_len} {t.level} tokens; raise dataset.text.seq_len (or set '
                     'dataset.text.truncate=True).')
  vocab = build_vocabulary(train_tokens, int(t.vocab_size), ' ' if t.level == 'word' else '')
  arrays = {}
  for split, toks in (('train', train_tokens), ('test', test_tokens)):
    arrays[split] = encode(toks, vocab, int(t.seq_len))
    arrays[split].setflags(write=False)
  unk = float(np.mean(arrays['test'][arrays['test'] > 0] == UNK)) if arrays['test'].size else 0.0
  what += (f'; {t.level} tokens{" (lower-cased)" if t.lowercase else ""}, sentences of '
           f'{t.min_len}..{t.seq_len} tokens {"(longer ones cut)" if t.truncate else "kept"}: '
           f'{len(train_tokens)} train / {len(test_tokens)} test; vocabulary {len(vocab)} '
           f'(<eos>, <unk> + the most frequent training tokens), {100 * unk:.2f}% of held-out '
           'tokens <unk>')
  return dict(vocab=vocab, what=what, **arrays)


def sentence_data(cfg: ml_collections.ConfigDict) -> dict:
  """{'train': (N, seq_len) int32, 'test': (M, seq_len) int32, 'vocab': Vocabulary, 'what':
  description} of a sentence dataset (pydoc_sentences, tfds_text); cached per process,
  arrays read-only."""
  if cfg.name not in (PYDOC, TFDS_TEXT):
    raise ValueError(f'{cfg.name!r} is not a sentence dataset; use {PYDOC!r} or {TFDS_TEXT!r}.')
  text_config(cfg)
  return _sentence_data(_sentence_key(cfg))


def vocabulary(cfg: ml_collections.ConfigDict) -> Optional[Vocabulary]:
  """The token strings of ids 0.. of a sentence dataset (cfg = config.dataset), or None for
  the oracle (its ids are words without spelling)."""
  if cfg.name == ORACLE:
    return None
  return sentence_data(cfg)['vocab']


# ---- splits and the Source ---------------------------------------------------------------

def split_indices(split: str, sizes: dict, what: str = 'dataset.split') -> np.ndarray:
  """Positions, in the train rows followed by the test rows (sizes {'train': n, 'test': m}),
  of a TFDS-style split string such as 'test', 'train[:1000]' or 'train[80%:]'."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  infos = {name: tfds.core.SplitInfo(name=name, shard_lengths=[int(n)], num_bytes=0,
                                     filename_template=None) for name, n in sizes.items()}
  try:
    instructions = tfds.core.ReadInstruction.from_spec(split).to_absolute(infos)
  except (ValueError, AssertionError, KeyError) as e:
    raise ValueError(f"{what}={split!r} is not a split of a text dataset ({e}); use 'train', "
                     "'test' or a slice such as 'train[:1000]'.") from e
  offsets = {'train': 0, 'test': int(sizes['train'])}
  return np.concatenate([
      offsets[ins.splitname] + np.arange(int(sizes[ins.splitname]))[ins.from_:ins.to]
      for ins in instructions]).astype(np.int64)


def split_tokens(cfg: ml_collections.ConfigDict, split: Optional[str] = None) -> np.ndarray:
  """(N, seq_len) int32 token ids of `split` (default cfg.split) of a text dataset."""
  split = cfg.split if split is None else split
  if cfg.name == ORACLE:
    text_config(cfg)
    parts = {s: oracle_sequences(cfg, s) for s in SPLITS}
  else:
    data = sentence_data(cfg)
    parts = {s: data[s] for s in SPLITS}
  indices = split_indices(split, {s: len(parts[s]) for s in SPLITS})
  return np.concatenate([parts['train'], parts['test']])[indices]


def load(cfg: ml_collections.ConfigDict, seed: int = 0) -> sources.Source:
  """The text dataset cfg.name, split cfg.split (module docstring). `seed` (the run's) is
  unused: the data are a function of dataset.text only."""
  del seed
  if cfg.name not in NAMES:
    raise ValueError(f'Unknown text dataset {cfg.name!r}; choose one of {NAMES}.')
  t = text_config(cfg)
  tokens = split_tokens(cfg)
  if not len(tokens):
    raise ValueError(f'dataset.split={cfg.split!r} of {cfg.name} holds no sequence; use a '
                     "non-empty split, e.g. 'train' or 'test'.")
  if cfg.name == ORACLE:
    what = (f'text_oracle/{cfg.split}: {len(tokens)} sequences of {int(t.seq_len)} tokens '
            f'sampled from the SeqGAN oracle LSTM (vocabulary {int(t.vocab_size)}, embedding '
            f'{int(t.oracle_emb_dim)}, hidden {int(t.oracle_hidden)}, N(0, 1) parameters, '
            f'oracle_seed {int(t.oracle_seed)}; num_train {int(t.num_train)}, num_test '
            f'{int(t.num_test)})')
  else:
    what = f'{cfg.name}/{cfg.split}: {len(tokens)} sentences; {sentence_data(cfg)["what"]}'
  return sources.Source(sources.ArraySource(tokens, np.zeros(len(tokens), np.int32)),
                        (int(t.seq_len),), None, what)
