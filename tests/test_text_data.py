"""Text data, metrics and modality: the SeqGAN oracle, pydoc / TFDS sentences, BLEU, files.

References: the oracle's log-likelihood against a float64 numpy LSTM written here (rtol 1e-5 on
sums of 7 log-probabilities); its samples and `sample_categorical` against exact probabilities
(every cell within 5 binomial standard deviations); BLEU against hand-computed values
(1e-12) and against nltk's sentence_bleu with SmoothingFunction().method1 (1e-12), self-BLEU
against nltk with each sentence's own line left out of its references (Texygen). All fast: a
tiny oracle (vocabulary 6-50), the pydoc sentences (parsed in ~0.1 s), numpy metrics.
"""

import glob
import itertools

import jax
import ml_collections
import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from configs import default
from gan_jax import data, evaluation, modalities
from gan_jax.data import text
from gan_jax.metrics import text as text_metrics
from gan_jax.modalities import text as text_modality

METHOD1 = SmoothingFunction().method1


def _config(name='text_oracle', **text_fields) -> ml_collections.ConfigDict:
  config = default.get_config()
  config.dataset.name = name
  config.dataset.text.update(text_fields)
  return config


TINY_ORACLE = dict(vocab_size=50, oracle_hidden=8, oracle_emb_dim=6, seq_len=7, num_train=64,
                   num_test=64, oracle_seed=3)  # One sampler compilation for both splits.


# ---- the oracle -----------------------------------------------------------------------------

def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def numpy_oracle_log_likelihood(params: dict, tokens: np.ndarray) -> np.ndarray:
  """float64 reference: the LSTM of gan_jax/data/text.py written out gate by gate."""
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  hidden = p['w_h'].shape[0]
  out = np.zeros(len(tokens))
  for row, seq in enumerate(tokens):
    h, c, x = np.zeros(hidden), np.zeros(hidden), p['start']
    for token in seq:
      z = x @ p['w_x'] + h @ p['w_h'] + p['b']
      i, f, o, g = (z[k * hidden:(k + 1) * hidden] for k in range(4))
      c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
      h = _sigmoid(o) * np.tanh(c)
      logits = h @ p['w_out'] + p['b_out']
      out[row] += logits[token] - np.log(np.sum(np.exp(logits - logits.max()))) - logits.max()
      x = p['embedding'][token]
  return out


def test_oracle_is_deterministic_for_a_seed_and_its_splits_differ():
  cfg = _config(**TINY_ORACLE).dataset
  text._oracle_split.cache_clear()  # pylint: disable=protected-access
  first = {s: np.array(text.oracle_sequences(cfg, s)) for s in ('train', 'test')}
  text._oracle_split.cache_clear()  # pylint: disable=protected-access
  again = {s: np.array(text.oracle_sequences(cfg, s)) for s in ('train', 'test')}
  for s in first:
    np.testing.assert_array_equal(first[s], again[s])
  assert first['train'].shape == (64, 7) and first['test'].shape == (64, 7)
  assert first['train'].dtype == np.int32
  assert first['train'].min() >= 0 and first['train'].max() < 50
  assert np.mean(first['train'] == first['test']) < 0.2  # Independent draws.
  other = _config(**dict(TINY_ORACLE, oracle_seed=4)).dataset
  assert not np.array_equal(text.oracle_sequences(other, 'train'), first['train'])
  p1, p2 = text.oracle_params(cfg), text.oracle_params(cfg)
  jax.tree.map(np.testing.assert_array_equal, p1, p2)
  assert not np.array_equal(text.oracle_params(other)['w_out'], p1['w_out'])
  # N(0, 1) parameters, as SeqGAN's oracle (the paper's size: 5,000 x 32 output weights).
  w = np.asarray(text.oracle_params(_config().dataset)['w_out'])
  assert w.shape == (32, 5_000)
  assert abs(w.mean()) < 0.01 and abs(w.std() - 1.0) < 0.01


def test_load_source_gives_int32_sequences_and_the_pipeline_keeps_them():
  config = _config(**TINY_ORACLE)
  source = data.load_source(config.dataset, seed=0)
  assert len(source) == 64 and source.data_shape == (7,) and source.num_classes is None
  assert 'oracle' in source.description
  ex = source[5]
  assert ex['image'].dtype == np.int32 and ex['image'].shape == (7,) and ex['label'] == 0
  batch = data.batch_for_step(source, 0, 16, 1)
  assert batch['image'].dtype == np.int32 and batch['image'].shape == (16, 7)
  config.dataset.split = 'test[:10]'
  np.testing.assert_array_equal(data.load_source(config.dataset).examples.data,
                                text.oracle_sequences(config.dataset, 'test')[:10])
  assert modalities.modality(config) == 'text'


def test_oracle_log_likelihood_and_nll_oracle_match_numpy():
  cfg = _config(**TINY_ORACLE).dataset
  params = text.oracle_params(cfg)
  tokens = np.array(text.oracle_sequences(cfg, 'train')[:6])
  tokens[0] = [0, 49, 0, 1, 2, 3, 0]  # Any ids, not only likely ones.
  ours = np.asarray(text.oracle_log_likelihood(params, tokens))
  reference = numpy_oracle_log_likelihood(params, tokens)
  np.testing.assert_allclose(ours, reference, rtol=1e-5)
  np.testing.assert_allclose(text_metrics.nll_oracle(params, tokens, batch_size=3),
                             -reference.sum() / tokens.size, rtol=1e-5)


def _exact_sequence_probabilities(params, vocab, length):
  seqs = np.array(list(itertools.product(range(vocab), repeat=length)), np.int32)
  return seqs, np.exp(numpy_oracle_log_likelihood(params, seqs))


def test_oracle_samples_follow_its_probabilities_and_its_entropy_is_the_floor():
  cfg = _config(vocab_size=6, oracle_hidden=4, oracle_emb_dim=3, oracle_seed=1).dataset
  params = text.oracle_params(cfg)
  _, probs = _exact_sequence_probabilities(params, 6, 2)
  np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-12)
  n = 60_000
  samples = np.asarray(text.oracle_sample(params, jax.random.key(0), n, 2))
  freq = np.bincount(samples[:, 0] * 6 + samples[:, 1], minlength=36) / n
  sigma = np.sqrt(probs * (1 - probs) / n)
  assert np.all(np.abs(freq - probs) <= 5 * sigma + 1e-4), np.abs(freq - probs) / sigma
  entropy = -np.sum(probs * np.log(probs)) / 2  # Nats per token.
  assert abs(text_metrics.nll_oracle(params, samples) - entropy) < 0.02


@pytest.mark.parametrize('vocab,block', [(10, 4), (7, 64)])  # Several blocks; one.
def test_sample_categorical_matches_the_softmax(vocab, block):
  logits = np.random.default_rng(vocab).normal(size=vocab) * 2
  probs = np.exp(logits - logits.max())
  probs /= probs.sum()
  n = 100_000
  sample = jax.jit(text.sample_categorical, static_argnames='block')
  draws = np.asarray(sample(jax.random.key(1),
                            np.broadcast_to(logits, (n, vocab)).astype(np.float32), block=block))
  assert draws.dtype == np.int32 and draws.min() >= 0 and draws.max() < vocab
  freq = np.bincount(draws, minlength=vocab) / n
  sigma = np.sqrt(probs * (1 - probs) / n)
  assert np.all(np.abs(freq - probs) <= 5 * sigma + 1e-4)


# ---- sentences ------------------------------------------------------------------------------

PYDOC_LIKE = '''The "if" statement
******************

The "if" statement is used for conditional execution. It selects
exactly one suite.

   if_stmt ::= "if" assignment_expression ":" suite

Example:

   x = compute(1)
   print(x)

   >>> 1 + 1
   2

* A list item that wraps
  onto a second line.

[1] A footnote. Another one!

Is this a question? yes it is.
'''


def test_prose_is_split_into_sentences_without_code_or_headings():
  sentences = [s for p in text.prose_paragraphs(PYDOC_LIKE) for s in text.split_sentences(p)]
  assert sentences == ['The "if" statement is used for conditional execution.',
                       'It selects exactly one suite.',
                       'A list item that wraps onto a second line.',
                       'A footnote.', 'Another one!', 'Is this a question? yes it is.']
  assert text.tokenize('Don\'t call "f()".', 'word', True) == [
      "don't", 'call', '"', 'f', '(', ')', '"', '.']
  assert text.tokenize('Ab c', 'char', False) == ['A', 'b', ' ', 'c']


def test_pydoc_splits_are_disjoint_padded_and_the_vocabulary_is_from_train():
  cfg = _config('pydoc_sentences').dataset
  train_text, test_text, _ = text._split_sentences(cfg)  # pylint: disable=protected-access
  assert len(train_text) > 1_000 and len(test_text) > 300
  assert not set(train_text) & set(test_text)
  d = text.sentence_data(cfg)
  train, test, vocab = d['train'], d['test'], d['vocab']
  assert train.dtype == np.int32 and train.shape[1] == 20 and len(test) > 100
  assert not {tuple(r) for r in train} & {tuple(r) for r in test}
  for tokens in (train, test):
    length = np.argmax(np.concatenate([tokens, np.zeros((len(tokens), 1), np.int32)], 1) == 0,
                       axis=1)
    assert length.min() >= 3 and length.max() <= 20
    after = np.arange(20)[None, :] >= length[:, None]
    assert np.all(tokens[after] == 0) and np.all(tokens[~after] > 0)
  assert vocab[:2] == ['<eos>', '<unk>'] and len(vocab) <= 5_000
  counts = np.bincount(train.ravel(), minlength=len(vocab))[2:]
  assert np.all(counts > 0) and np.all(np.diff(counts) <= 0)  # By descending frequency.
  assert not np.any(train == text.UNK)  # Every training token is in the vocabulary.
  small = text.sentence_data(_config('pydoc_sentences', vocab_size=50).dataset)
  assert len(small['vocab']) == 50 and np.any(small['train'] == text.UNK)
  np.testing.assert_array_equal(text.split_tokens(cfg, 'test[:7]'), test[:7])
  assert text.vocabulary(_config().dataset) is None  # The oracle's ids are not spelled.


@pytest.mark.parametrize('level', ['word', 'char'])
def test_decode_round_trip(level):
  seq_len = 20 if level == 'word' else 80
  cfg = _config('pydoc_sentences', level=level, seq_len=seq_len).dataset
  d = text.sentence_data(cfg)
  vocab, tokens = d['vocab'], d['train'][:50]
  decoded = text.decode(tokens, vocab)
  again = text.encode([text.tokenize(s, level, False) if level == 'char' else s.split(' ')
                       for s in decoded], vocab, seq_len)
  np.testing.assert_array_equal(again, tokens)
  if level == 'char':
    assert all(len(v) == 1 for v in vocab[2:]) and vocab.separator == ''
  assert text.decode(tokens[0], vocab) == decoded[:1]
  assert text.decode(np.array([[5, 6, 0, 7]]), None) == ['5 6 0 7']  # Oracle: every id a word.


def _tiny_text_builder():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class TinyTextForTest(tfds.core.GeneratorBasedBuilder):
    """Two short splits of plain text (a stand-in for lm1b / imdb_reviews)."""
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self, features=tfds.features.FeaturesDict({'text': tfds.features.Text()}))

    def _split_generators(self, dl_manager):
      del dl_manager
      return {'train': self._generate_examples(['The cat sat down. The dog ran far away.',
                                                'A bird flew by us.']),
              'test': self._generate_examples(['The cat sat down.', 'Fish swim in water.'])}

    def _generate_examples(self, texts):
      for i, value in enumerate(texts):
        yield i, {'text': value}

  return TinyTextForTest


def test_tfds_text_reads_a_prepared_dataset_and_explains_a_missing_one(tmp_path):
  cfg = _config('tfds_text', tfds_name='tiny_text_for_test', seq_len=8).dataset
  cfg.data_dir = str(tmp_path / 'missing')
  with pytest.raises(FileNotFoundError, match='download_and_prepare'):
    data.load_source(cfg)
  cfg.data_dir = str(tmp_path)
  _tiny_text_builder()(data_dir=str(tmp_path), file_format='array_record').download_and_prepare()
  d = text.sentence_data(cfg)
  assert text.decode(d['train'], d['vocab']) == [
      'the cat sat down .', 'the dog ran far away .', 'a bird flew by us .']
  # The held-out sentence that is also a training sentence is removed.
  assert text.decode(d['test'], d['vocab']) == ['<unk> <unk> <unk> <unk> .']
  assert data.load_source(cfg).data_shape == (8,)


def test_bad_inputs_say_what_to_fix():
  with pytest.raises(ValueError, match="level='syllable'"):
    text.sentence_data(_config('pydoc_sentences', level='syllable').dataset)
  with pytest.raises(ValueError, match='seq_len=0'):
    data.load_source(_config(seq_len=0).dataset)
  with pytest.raises(ValueError, match='raise dataset.text.seq_len'):
    text.sentence_data(_config('pydoc_sentences', seq_len=2, min_len=3).dataset)
  with pytest.raises(ValueError, match='test_fraction'):
    text.sentence_data(_config('pydoc_sentences', test_fraction=1.0).dataset)
  cfg = _config(**TINY_ORACLE).dataset
  cfg.split = 'validation'
  with pytest.raises(ValueError, match="'train', 'test' or a slice"):
    data.load_source(cfg)
  with pytest.raises(ValueError, match='integer token ids'):
    text.decode(np.array([[0.5, 1.0]]), ['<eos>', '<unk>'])
  with pytest.raises(ValueError, match=r'in \[0, 2\)'):
    text.decode(np.array([[1, 5]]), ['<eos>', '<unk>'])
  with pytest.raises(ValueError, match=r'in \[0, 50\)'):
    text_metrics.nll_oracle(text.oracle_params(cfg), np.array([[1, 50]]))
  with pytest.raises(ValueError, match='at least one reference'):
    text_metrics.bleu([[1, 2]], [], 2)
  with pytest.raises(ValueError, match='besides the hypothesis'):
    text_metrics.self_bleu([[1, 2]], 2)
  with pytest.raises(ValueError, match='orders must be >= 1'):
    text_metrics.bleu([[1, 2]], [[1, 2]], 0)


# ---- BLEU -----------------------------------------------------------------------------------

THE, CAT, SAT, ON, MAT, IS = 2, 3, 4, 5, 6, 7


def test_bleu_against_a_hand_computed_case():
  hyp = [THE, CAT, SAT, ON, THE, MAT]   # "the cat sat on the mat"
  ref = [THE, CAT, IS, ON, THE, MAT]    # "the cat is on the mat"
  # Clipped precisions: 1-grams 5/6 (sat unmatched), 2-grams 3/5 (the cat, on the, the mat),
  # 3-grams 1/4 (on the mat), 4-grams 0/3 -> method1: 0.1/3. Equal lengths: BP = 1.
  assert text_metrics.bleu([hyp], [ref], 2) == pytest.approx(np.sqrt(5 / 6 * 3 / 5), abs=1e-12)
  assert text_metrics.bleu([hyp], [ref], 3) == pytest.approx(0.5, abs=1e-12)
  assert text_metrics.bleu([hyp], [ref], 4) == pytest.approx((1 / 8 * 0.1 / 3) ** 0.25,
                                                             abs=1e-12)
  # A short hypothesis: precisions 1, BP = exp(1 - 6/2).
  assert text_metrics.bleu([[THE, CAT]], [ref], 2) == pytest.approx(np.exp(-2.0), abs=1e-12)
  # No unigram in common: 0; the mean over hypotheses; <eos> (0) ends a padded row.
  assert text_metrics.bleu([[IS, IS]], [[THE, CAT]], 2) == 0.0
  padded = np.array([hyp + [0, 0], [THE, CAT, 0, MAT, MAT, MAT, MAT, MAT]])
  assert text_metrics.bleu(padded, [ref], 2) == pytest.approx(
      (np.sqrt(0.5) + np.exp(-2.0)) / 2, abs=1e-12)
  # Self-BLEU: each sentence against the others only (a lone copy scores 1 with its twin).
  assert text_metrics.self_bleu([hyp, hyp, ref], 2) == pytest.approx(
      (1.0 + 1.0 + text_metrics.bleu([ref], [hyp], 2)) / 3, abs=1e-12)


def _random_sentences(rng, count, vocab, max_len):
  return [list(rng.integers(1, vocab, rng.integers(0, max_len + 1))) for _ in range(count)]


@pytest.mark.parametrize('seed', [0, 1])
def test_bleu_and_self_bleu_match_nltk(seed):
  rng = np.random.default_rng(seed)
  # A small vocabulary: many shared n-grams, repeated counts, duplicate sentences.
  hyps = _random_sentences(rng, 40, 5, 9) + [[1, 2, 3], [1, 2, 3], []]
  refs = _random_sentences(rng, 30, 5, 9)
  ours = text_metrics.bleu_by_order(hyps, refs, (1, 2, 3, 4, 5))
  self_ours = text_metrics.self_bleu_by_order(hyps, (1, 2, 3, 4, 5))
  for n in range(1, 6):
    weights = (1.0 / n,) * n
    expected = np.mean([sentence_bleu(refs, h, weights, smoothing_function=METHOD1)
                        for h in hyps])
    expected_self = np.mean([
        sentence_bleu(hyps[:i] + hyps[i + 1:], h, weights, smoothing_function=METHOD1)
        for i, h in enumerate(hyps)])
    assert ours[n] == pytest.approx(expected, abs=1e-12)
    assert self_ours[n] == pytest.approx(expected_self, abs=1e-12)
  assert text_metrics.bleu(hyps, refs, 3) == ours[3]
  assert text_metrics.self_bleu(hyps, 3) == self_ours[3]


# ---- the modality ---------------------------------------------------------------------------

def test_write_samples_and_outputs(tmp_path):
  config = _config('pydoc_sentences')
  tokens = text.sentence_data(config.dataset)['train'][:6]
  lines = text.decode(tokens, text.vocabulary(config.dataset))
  paths = text_modality.write_samples(config, tokens.astype(np.float32),
                                      str(tmp_path / 'samples'), 300)
  assert paths == [str(tmp_path / 'samples' / 'step_0000300.txt')]
  with open(paths[0], encoding='utf-8') as f:
    assert f.read().splitlines() == lines
  events = glob.glob(str(tmp_path / 'tensorboard' / 'events.*'))
  assert events
  with open(events[0], 'rb') as f:
    assert lines[0].encode() in f.read()
  base = str(tmp_path / 'out' / 'sampled')
  paths = text_modality.write_outputs(config, tokens, None, base)
  assert paths == [base + '.txt', base + '.npy']
  saved = np.load(base + '.npy')
  assert saved.dtype == np.int32
  np.testing.assert_array_equal(saved, tokens)
  with pytest.raises(ValueError, match='integer token ids'):
    text_modality.write_outputs(config, tokens + 0.5, None, base)


def test_evaluate_oracle_and_sentences(monkeypatch):
  config = _config(**TINY_ORACLE)
  config.eval.num_samples = 64
  fake = np.array(text.oracle_sequences(config.dataset, 'train'))
  monkeypatch.setattr(text_modality.sampling, 'generate',
                      lambda networks, state, n, key, ema: fake[:n].astype(np.float32))
  scored = []  # G's NLL of held-out sequences (its own test: test_text_gan.py).
  monkeypatch.setattr(text_modality, 'generator_nll',
                      lambda networks, state, tokens, ema: scored.append(tokens) or 4.5)
  results = evaluation.evaluate(config, None, None, None)
  params = text.oracle_params(config.dataset)
  assert results['nll_test'] == 4.5 and 'nll_test' in results['protocol']
  np.testing.assert_array_equal(scored[0], text.oracle_sequences(config.dataset, 'test')[:64])
  assert results['nll_oracle'] == pytest.approx(text_metrics.nll_oracle(params, fake), rel=1e-9)
  assert results['test_nll_oracle'] == pytest.approx(
      text_metrics.nll_oracle(params, text.oracle_sequences(config.dataset, 'test')), rel=1e-9)
  assert 2.0 < results['floor_nll_oracle'] < np.log(50)
  assert results['protocol']['kind'] == 'text' and 'NLL-oracle' in results['protocol']['nll_oracle']

  config = _config('pydoc_sentences')
  config.eval.num_samples = 300
  d = text.sentence_data(config.dataset)
  fake = np.array(d['train'][-300:])  # Real training sentences stand in for G's.
  results = evaluation.evaluate(config, None, None, None)
  m = min(300, 500, len(d['train']))
  for n in (2, 3, 4, 5):
    assert results[f'bleu_{n}'] == pytest.approx(text_metrics.bleu(fake, d['test'], n), abs=1e-12)
    assert results[f'self_bleu_{n}'] == pytest.approx(text_metrics.self_bleu(fake[:m], n),
                                                      abs=1e-12)
    assert results[f'floor_bleu_{n}'] == pytest.approx(
        text_metrics.bleu(d['train'][:300], d['test'], n), abs=1e-12)
  assert len(results['examples']) == 10 and results['protocol']['num_self_bleu'] == m
  np.testing.assert_array_equal(scored[1], np.asarray(d['test']))  # Every held-out sentence.
  real = evaluation.evaluate(config, None, None, None, real_split='test')
  assert 'nll_test' not in real and len(scored) == 2  # No generator to score.
  assert real['bleu_2'] == pytest.approx(1.0)  # Every held-out sentence is its own reference.
  config.eval.text.reference_split = 'train'
  with pytest.raises(ValueError, match='must be held out'):
    evaluation.evaluate(config, None, None, None)
