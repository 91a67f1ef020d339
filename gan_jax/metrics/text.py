"""Metrics of token sequences: NLL-oracle (SeqGAN), BLEU and self-BLEU (Texygen).

- `nll_oracle(params, tokens)`: the synthetic-oracle benchmark's metric (Yu et al. 2017): the
  oracle LSTM's (gan_jax/data/text.py) mean negative log-likelihood per token of the sequences,
  -1/(N L) sum_i sum_t log p_oracle(x_it | x_i,<t), in nats. Lower is better; the oracle's own
  samples give its entropy rate (the floor).
- `bleu(hypotheses, references, max_n)`: Texygen's protocol (Zhu et al. 2018): every
  hypothesis' sentence BLEU against the whole reference set, with uniform weights 1/max_n over
  the 1..max_n-gram precisions, nltk's smoothing method1 (epsilon 0.1 added to the numerator of
  a zero precision; 0 when no unigram matches) and the brevity penalty of the closest reference
  length (ties: the shorter), averaged over the hypotheses. Numerically nltk's
  `sentence_bleu(references, hypothesis, weights, smoothing_function=method1)` (nltk >= 3.9).
- `self_bleu(sentences, max_n)`: the same with each sentence as the hypothesis and all the
  other sentences as its references (Texygen's self-BLEU, a diversity measure: higher means
  the sentences repeat each other's n-grams).
`bleu_by_order` / `self_bleu_by_order` give several orders (BLEU-2..5) from one count.

Sentences are token-id sequences: lists of ints or int arrays (N, L); each ends at its first 0
(<eos>, the padding of the sentence datasets), which is not a token.

BLEU is hand-written (vectorized n-gram counting with numpy) because nltk's sentence_bleu
loops in Python over every reference for every hypothesis: self-BLEU of 2,000 sentences is
4 million modified-precision calls there (hours), and a few seconds here.
"""

from typing import Sequence, Union

import jax
import numpy as np

from gan_jax.data import text as text_data

SMOOTHING_EPSILON = 0.1  # nltk SmoothingFunction().method1's epsilon.

Sentences = Union[np.ndarray, Sequence[Sequence[int]]]


def nll_oracle(params: dict, tokens, batch_size: int = 2_000) -> float:
  """Mean over sequences and positions of -log p_oracle (nats per token) of int tokens (N, L)
  under the oracle `params` (gan_jax.data.text.oracle_params)."""
  tokens = np.asarray(tokens)
  if tokens.ndim != 2 or not tokens.size:
    raise ValueError(f'nll_oracle needs token ids (N, L) with N, L >= 1; got shape '
                     f'{tokens.shape}.')
  if not np.all(np.equal(np.mod(tokens, 1), 0)):
    raise ValueError('nll_oracle needs integer token ids (sample the generator with '
                     'train=False); got non-integer values.')
  tokens = tokens.astype(np.int32)
  vocab = int(params['w_out'].shape[-1])
  if tokens.min() < 0 or tokens.max() >= vocab:
    raise ValueError(f'Token ids must be in [0, {vocab}) (the oracle vocabulary); got '
                     f'[{tokens.min()}, {tokens.max()}].')
  total = 0.0
  for start in range(0, len(tokens), batch_size):
    ll = text_data.oracle_log_likelihood(params, tokens[start:start + batch_size])
    total += float(np.sum(np.asarray(jax.device_get(ll), np.float64)))
  return -total / tokens.size


def as_sentences(sentences: Sentences) -> list[np.ndarray]:
  """Token-id arrays (int64), each cut at its first 0 (<eos>)."""
  if isinstance(sentences, np.ndarray) and sentences.ndim != 2:
    raise ValueError(f'Sentences must be token ids (N, L) or a list of id lists; got an array '
                     f'of shape {sentences.shape}.')
  out = []
  for s in sentences:
    s = np.asarray(s)
    if s.ndim != 1:
      raise ValueError(f'Each sentence must be a 1-D sequence of token ids; got shape {s.shape}.')
    if s.size and not np.all(np.equal(np.mod(s, 1), 0)):
      raise ValueError('Sentences must hold integer token ids; got non-integer values.')
    s = s.astype(np.int64)
    if s.size and s.min() < 0:
      raise ValueError(f'Token ids must be >= 0; got {s.min()}.')
    ends = np.flatnonzero(s == text_data.EOS)
    out.append(s[:ends[0]] if ends.size else s)
  return out


def _ngram_ids(sentences: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
  """(owner (M,), ngram (M, n)) of every n-gram occurrence: the sentence index and tokens."""
  owners, grams = [], []
  for i, s in enumerate(sentences):
    count = len(s) - n + 1
    if count > 0:
      owners.append(np.full(count, i, np.int64))
      grams.append(np.lib.stride_tricks.sliding_window_view(s, n))
  if not owners:
    return np.zeros(0, np.int64), np.zeros((0, n), np.int64)
  return np.concatenate(owners), np.concatenate(grams)


def _counts(owner: np.ndarray, gram: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Distinct (owner, gram) pairs and how often each occurs: (owner, gram, count)."""
  if not len(owner):
    return owner, gram, np.zeros(0, np.int64)
  pairs = np.stack([owner, gram], axis=1)
  unique, count = np.unique(pairs, axis=0, return_counts=True)
  return unique[:, 0], unique[:, 1], count


def _closest_lengths(hyp_lengths: np.ndarray, ref_lengths: np.ndarray,
                     exclude_self: bool) -> np.ndarray:
  """Per hypothesis, the reference length closest to its length (ties: the shorter); with
  exclude_self (hypotheses are the references), one instance of its own length removed."""
  values, counts = np.unique(ref_lengths, return_counts=True)
  out = np.empty(len(hyp_lengths), np.int64)
  for length in np.unique(hyp_lengths):
    available = counts - (exclude_self & (values == length))
    candidates = values[available > 0]
    if not candidates.size:
      raise ValueError('BLEU needs at least one reference sentence besides the hypothesis.')
    distance = np.abs(candidates - length)
    best = candidates[distance == distance.min()].min()
    out[hyp_lengths == length] = best
  return out


def _clipped_matches(hyp_owner, hyp_gram, hyp_count, ref_owner, ref_gram, ref_count,
                     num_grams: int, exclude_self: bool) -> np.ndarray:
  """Per (hypothesis, n-gram) pair, min(its count, the n-gram's largest count in one reference
  sentence) -- with exclude_self, the largest over the other sentences."""
  max1 = np.zeros(num_grams, np.int64)
  np.maximum.at(max1, ref_gram, ref_count)
  if not exclude_self:
    return np.minimum(hyp_count, max1[hyp_gram])
  at_max = ref_count == max1[ref_gram]
  holders = np.bincount(ref_gram[at_max], minlength=num_grams)  # Sentences at the max.
  max2 = np.zeros(num_grams, np.int64)  # Largest count below the max.
  np.maximum.at(max2, ref_gram[~at_max], ref_count[~at_max])
  sole_max = (hyp_count == max1[hyp_gram]) & (holders[hyp_gram] == 1)
  return np.minimum(hyp_count, np.where(sole_max, max2[hyp_gram], max1[hyp_gram]))


def modified_precisions(hypotheses: Sentences, references: Sentences, max_n: int, *,
                        exclude_self: bool = False):
  """nltk's modified n-gram precision of every hypothesis against the reference set, n = 1 ..
  max_n, and the lengths of the brevity penalty: (numerators (H, max_n), denominators
  (H, max_n), hypothesis lengths (H,), closest reference lengths (H,)). With exclude_self the
  hypotheses are the references and each is left out of its own reference set."""
  max_n = int(max_n)
  if max_n < 1:
    raise ValueError(f'max_n={max_n}: BLEU needs n-grams of order >= 1.')
  hyps = as_sentences(hypotheses)
  refs = hyps if exclude_self else as_sentences(references)
  if not hyps:
    raise ValueError('BLEU needs at least one hypothesis sentence.')
  if len(refs) < 1 + int(exclude_self):
    raise ValueError('BLEU needs at least one reference sentence'
                     + (' besides the hypothesis (self-BLEU of >= 2 sentences).'
                        if exclude_self else '.'))
  hyp_lengths = np.asarray([len(s) for s in hyps], np.int64)
  ref_lengths = np.asarray([len(s) for s in refs], np.int64)
  numerators = np.zeros((len(hyps), max_n), np.int64)
  denominators = np.maximum(1, hyp_lengths[:, None] - np.arange(max_n)[None, :])
  for n in range(1, max_n + 1):
    h_owner, h_gram = _ngram_ids(hyps, n)
    r_owner, r_gram = (h_owner, h_gram) if exclude_self else _ngram_ids(refs, n)
    if not len(h_owner):
      continue
    # One integer id per distinct n-gram, over hypotheses and references together.
    _, ids = np.unique(np.concatenate([h_gram, r_gram]), axis=0, return_inverse=True)
    ids = ids.reshape(-1)
    num_grams = int(ids.max()) + 1
    h_owner, h_id, h_count = _counts(h_owner, ids[:len(h_owner)])
    r_owner, r_id, r_count = _counts(r_owner, ids[len(h_gram):])
    clipped = _clipped_matches(h_owner, h_id, h_count, r_owner, r_id, r_count, num_grams,
                               exclude_self)
    numerators[:, n - 1] = np.bincount(h_owner, weights=clipped, minlength=len(hyps))
  return (numerators, denominators, hyp_lengths,
          _closest_lengths(hyp_lengths, ref_lengths, exclude_self))


def _sentence_bleu(numerators, denominators, hyp_lengths, ref_lengths, max_n: int) -> np.ndarray:
  """(H,) sentence BLEU with weights 1/max_n and smoothing method1, from the first max_n
  precisions (nltk's corpus_bleu of one hypothesis)."""
  num = numerators[:, :max_n].astype(np.float64)
  den = denominators[:, :max_n].astype(np.float64)
  precision = np.where(num == 0, SMOOTHING_EPSILON, num) / den
  c, r = hyp_lengths.astype(np.float64), ref_lengths.astype(np.float64)
  with np.errstate(divide='ignore', invalid='ignore'):
    bp = np.where(c > r, 1.0, np.where(c == 0, 0.0, np.exp(1.0 - r / np.maximum(c, 1.0))))
  score = bp * np.exp(np.mean(np.log(precision), axis=1))
  return np.where(numerators[:, 0] == 0, 0.0, score)


def _by_order(counts, orders: Sequence[int]) -> dict[int, float]:
  return {int(n): float(np.mean(_sentence_bleu(*counts, int(n)))) for n in orders}


def _check_orders(orders: Sequence[int]) -> list[int]:
  orders = [int(n) for n in orders]
  if not orders or min(orders) < 1:
    raise ValueError(f'BLEU orders must be >= 1; got {orders}.')
  return orders


def bleu_by_order(hypotheses: Sentences, references: Sentences,
                  orders: Sequence[int] = (2, 3, 4, 5)) -> dict[int, float]:
  """{n: BLEU-n} (Texygen's protocol, module docstring) for each order n, from one count."""
  orders = _check_orders(orders)
  return _by_order(modified_precisions(hypotheses, references, max(orders)), orders)


def self_bleu_by_order(sentences: Sentences,
                       orders: Sequence[int] = (2, 3, 4, 5)) -> dict[int, float]:
  """{n: self-BLEU-n}: each sentence against all the others, for each order n."""
  orders = _check_orders(orders)
  return _by_order(modified_precisions(sentences, None, max(orders), exclude_self=True),
                   orders)


def bleu(hypotheses: Sentences, references: Sentences, max_n: int) -> float:
  """Mean sentence BLEU-max_n of the hypotheses against all the references (Texygen)."""
  return bleu_by_order(hypotheses, references, (max_n,))[int(max_n)]


def self_bleu(sentences: Sentences, max_n: int) -> float:
  """Mean sentence BLEU-max_n of each sentence against all the others (Texygen's self-BLEU)."""
  return self_bleu_by_order(sentences, (max_n,))[int(max_n)]
