"""Text runs (int32 token ids (seq_len,)): sentence files, TensorBoard text and the evaluation.

- `write_samples`: at each sample step of training, `samples/step_N.txt`, the decoded sentences
  of the fixed-latent samples (one per line; oracle sequences as their ids), also logged to
  the run's TensorBoard (`<workdir>/tensorboard`, tag 'samples') as text.
- `write_outputs` (launch/sample.py): BASE.txt (one decoded sentence per line), BASE.npy
  (N, seq_len) int32 token ids [+ BASE_labels.npy].
- `evaluate`, by dataset:
  text_oracle   nll_oracle: the oracle's mean negative log-likelihood per token (nats) of
                eval.num_samples generated sequences (SeqGAN's NLL-oracle; lower is better),
                beside floor_nll_oracle, the same for as many fresh samples of the oracle
                itself (its entropy rate: the best any generator can reach) and
                test_nll_oracle for the held-out 'test' sequences (first N).
  both          nll_test: G's own NLL per token of held-out real sequences (the oracle's
                first N 'test' ones; every eval.text.reference_split sentence), the
                coverage side of NLL-oracle and BLEU (`generator_nll`).
  sentences     bleu_n (n in eval.text.bleu_orders): Texygen's BLEU-n of the generated
                sentences against every sentence of eval.text.reference_split (held out), and
                self_bleu_n: each of the first M generated sentences against the other M - 1
                (M = min(eval.text.self_bleu_samples, N, #floor sentences)); beside floor_bleu_n
                and floor_self_bleu_n, the same numbers for the first N real sentences of
                eval.text.floor_split (the training sentences: real text that is not among the
                references). Higher BLEU is closer to real n-gram statistics; lower self-BLEU is
                more diverse. Sentences end at their first <eos> (id 0).
  With `real_split`, the first N sequences of that split replace the generated ones.

Generated samples come from `gan_jax.sampling.generate`, which returns token ids for text
generators (train=False samples them; an integer-valued float array is accepted too).
"""

import os
import time
from typing import Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import metric_logging, sampling
from gan_jax.data import text as text_data
from gan_jax.metrics import text as text_metrics
from gan_jax.models import sequence
from gan_jax.objectives import mle

_FLOOR_CACHE: dict = {}

def tokens_of(samples) -> np.ndarray:
  """(N, L) int32 token ids of generator samples (N, L) (ints, or floats holding ints)."""
  x = np.asarray(samples)
  if x.ndim == 3 and x.shape[-1] == 1:
    x = x[..., 0]
  if x.ndim != 2:
    raise ValueError(f'Text samples must be token ids (N, seq_len); got shape {x.shape} (a '
                     'text generator returns sampled ids with train=False).')
  if (not np.issubdtype(x.dtype, np.integer) and x.size
      and not np.all(np.equal(np.mod(x, 1), 0))):
    raise ValueError('Text samples must be integer token ids; got non-integer values (a '
                     'relaxed one-hot or logits?). Sample the generator with train=False.')
  return x.astype(np.int32)


def decode_samples(config: ml_collections.ConfigDict, samples) -> list[str]:
  """One string per sample: the decoded sentence (the oracle: its ids)."""
  return text_data.decode(tokens_of(samples), text_data.vocabulary(config.dataset))


def _write_lines(path: str, lines: list[str]) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'w', encoding='utf-8') as f:
    f.write(''.join(line + '\n' for line in lines))
  os.replace(tmp, path)
  return path


def _log_text(logdir: str, lines: list[str], step: int) -> None:
  """The sentences as one TensorBoard text summary (tag 'samples'; markdown, so each line is
  indented as code to show the tokens verbatim). A writer of its own, closed at once (the
  only way tensorboardX guarantees the event is on disk): one small events file per sample
  step, beside the scalars' file, which TensorBoard reads together."""
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  writer = SummaryWriter(logdir, filename_suffix=f'.text_samples_{int(step)}')
  try:
    writer.add_text('samples', '\n'.join(f'    {k:3d}: {line}' for k, line in enumerate(lines)),
                    int(step))
  finally:
    writer.close()


def write_samples(config: ml_collections.ConfigDict, samples, directory: str,
                  step: int) -> list[str]:
  """samples/step_N.txt (one decoded sample per line) and the same lines as TensorBoard text
  in the run's tensorboard folder (beside `directory`)."""
  lines = decode_samples(config, samples)
  path = _write_lines(os.path.join(directory, f'step_{step:07d}.txt'), lines)
  _log_text(os.path.join(os.path.dirname(os.path.abspath(directory)), 'tensorboard'), lines,
            step)
  return [path]


def write_outputs(config: ml_collections.ConfigDict, samples, labels,
                  base: str) -> list[str]:
  """BASE.txt (decoded, one per line), BASE.npy (N, seq_len) int32 token ids, and
  BASE_labels.npy when labels are given."""
  tokens = tokens_of(samples)
  paths = [_write_lines(f'{base}.txt', decode_samples(config, tokens))]
  np.save(f'{base}.npy', tokens)
  paths.append(f'{base}.npy')
  if labels is not None:
    np.save(f'{base}_labels.npy', np.asarray(labels, np.int32))
    paths.append(f'{base}_labels.npy')
  return paths


def generator_nll(networks, state, tokens, *, ema: bool, batch_size: int = 500) -> float:
  """G's negative log-likelihood per scored token (nats) of the given real `tokens` (N, L):
  -sum_{i,t} m_it log q(x_it | x_i,<t) / sum m, by teacher forcing, with q the distribution G
  samples from (softmax of its logits / model.sequence.temperature) and m `token_mask` (all
  positions; up to and including <eos> when the generator pads after it). On held-out
  sequences this is the NLL-test of Texygen and Caccia et al. (2020): how much of the data G
  covers (a generator that drops modes, or a low temperature, raises it), the other side of
  NLL-oracle, which rewards dropping them."""
  module = networks.make_generator(None)
  variables = state.generator_variables(ema=ema)
  x = tokens_of(tokens)
  if not len(x):
    raise ValueError('generator_nll needs at least one sequence.')

  @jax.jit
  def totals(variables, batch):
    logits = sequence.generator_method(networks, variables, 'teacher_forcing', batch)
    log_p = mle.token_log_probs(logits / module.temperature, batch)
    mask = sequence.token_mask(batch, module.pad_after_eos)
    return -jnp.sum(log_p * mask), jnp.sum(mask)

  nll = count = 0.0
  for start in range(0, len(x), batch_size):  # The last, shorter batch compiles once more.
    a, b = totals(variables, jnp.asarray(x[start:start + batch_size]))
    nll, count = nll + float(a), count + float(b)
  return nll / count


def _split_tokens(config, split: str, num: int = 0) -> np.ndarray:
  """The first `num` (0 = all) sequences of `split` of the run's text dataset."""
  tokens = text_data.split_tokens(config.dataset, split)
  return tokens[:num] if num else tokens


def _oracle_floors(config, n: int, key: jax.Array) -> tuple[float, float, int]:
  """(NLL-oracle of n fresh oracle samples drawn from fold_in(key, 1), of the first n held-out
  test sequences, how many of those there were); cached per process (the same at every
  evaluation of a run)."""
  d = config.dataset
  cache_key = (text_data.oracle_fields(d.text), int(d.text.num_test), n,
               tuple(np.asarray(jax.random.key_data(key)).ravel().tolist()))
  if cache_key not in _FLOOR_CACHE:
    params = text_data.oracle_params(d)
    with jax.default_device(jax.devices('cpu')[0]):
      own = np.asarray(text_data.oracle_sample(params, jax.random.fold_in(key, 1), n,
                                               int(d.text.seq_len)))
    test = _split_tokens(config, 'test', n)
    _FLOOR_CACHE[cache_key] = (text_metrics.nll_oracle(params, own),
                               text_metrics.nll_oracle(params, test) if len(test) else None,
                               len(test))
  return _FLOOR_CACHE[cache_key]


def _oracle_metrics(config, tokens: np.ndarray, key: jax.Array) -> tuple[dict, dict]:
  t = config.dataset.text
  params = text_data.oracle_params(config.dataset)
  floor, test_nll, num_test = _oracle_floors(config, len(tokens), key)
  results = dict(nll_oracle=text_metrics.nll_oracle(params, tokens), floor_nll_oracle=floor)
  if test_nll is not None:
    results['test_nll_oracle'] = test_nll
  protocol = dict(
      nll_oracle=('NLL-oracle (Yu et al. 2017): -1/(N L) sum_i sum_t log p_oracle(x_it | '
                  'x_i,<t), nats per token, of the evaluated sequences'),
      oracle=(f'SeqGAN oracle LSTM: vocabulary {int(t.vocab_size)}, embedding '
              f'{int(t.oracle_emb_dim)}, hidden {int(t.oracle_hidden)}, N(0, 1) parameters '
              f'from oracle_seed {int(t.oracle_seed)}'),
      floor=(f'floor_nll_oracle: the same for {len(tokens)} fresh oracle samples (its '
             'entropy rate, the best reachable); test_nll_oracle: the first '
             f'{num_test} held-out test sequences'))
  return results, protocol


def _sentence_metrics(config, tokens: np.ndarray) -> tuple[dict, dict]:
  d, tcfg = config.dataset, config.eval.text
  orders = [int(n) for n in tcfg.bleu_orders]
  ref_split, floor_split = tcfg.reference_split, tcfg.floor_split
  if ref_split == d.split or ref_split == floor_split:
    raise ValueError(f'eval.text.reference_split={ref_split!r} must be held out: not the '
                     f'training split dataset.split={d.split!r} nor eval.text.floor_split='
                     f'{floor_split!r}. Use \'test\'.')
  references = _split_tokens(config, ref_split)
  floor = _split_tokens(config, floor_split, len(tokens))
  if not len(references) or not len(floor):
    raise ValueError(f'eval.text: reference_split={ref_split!r} and floor_split='
                     f'{floor_split!r} must hold sentences.')
  m = int(min(int(tcfg.self_bleu_samples), len(tokens), len(floor)))
  if m < 2:
    raise ValueError(f'Self-BLEU needs at least 2 sentences per set; got {m} '
                     '(eval.num_samples, eval.text.self_bleu_samples, the floor split).')
  results = {}
  for prefix, sentences in (('', tokens), ('floor_', floor)):
    for n, v in text_metrics.bleu_by_order(sentences, references, orders).items():
      results[f'{prefix}bleu_{n}'] = v
    for n, v in text_metrics.self_bleu_by_order(sentences[:m], orders).items():
      results[f'{prefix}self_bleu_{n}'] = v
  lengths = [len(s) for s in text_metrics.as_sentences(tokens)]
  results['mean_length'] = float(np.mean(lengths))
  results['floor_mean_length'] = float(np.mean([len(s) for s in
                                                text_metrics.as_sentences(floor)]))
  protocol = dict(
      bleu=(f'bleu_n: mean over the {len(tokens)} evaluated sentences of nltk sentence_bleu '
            f'against all {len(references)} sentences of {d.name}/{ref_split} (uniform weights '
            '1/n over 1..n-grams, SmoothingFunction().method1, closest reference length), '
            "Texygen's protocol, on token ids cut at the first <eos>"),
      self_bleu=(f'self_bleu_n: the same for each of the first {m} evaluated sentences against '
                 f'the other {m - 1} (diversity; lower is more diverse)'),
      floor=(f'floor_*: the same numbers for the first {len(floor)} real sentences of '
             f'{d.name}/{floor_split} (self-BLEU on their first {m})'),
      references=f'{d.name}/{ref_split}: {len(references)} sentences',
      num_self_bleu=m,
      tokenization=text_data.sentence_data(d)['what'])
  return results, protocol


def evaluate(config: ml_collections.ConfigDict, networks, state, source, *, key: jax.Array,
             step: Optional[int] = None, num_samples: Optional[int] = None,
             ema: bool = False, real_split: Optional[str] = None,
             log=metric_logging.log) -> dict:
  """The text protocol (module docstring) of the generated sequences (or the first
  num_samples of `real_split`)."""
  del source  # The splits are read by name (cached per process).
  t_start = time.time()
  d = config.dataset
  n = int(num_samples or config.eval.num_samples)
  t0 = time.time()
  if real_split is not None:
    tokens = _split_tokens(config, real_split, n)
    what = f'real sequences: first {len(tokens)} of {d.name}/{real_split}'
  else:
    tokens = tokens_of(sampling.generate(networks, state, n, key, ema=ema))
    what = f'generated ({"EMA" if ema else "raw"} generator)'
  t_gen = time.time() - t0
  if tokens.shape[1] != int(d.text.seq_len):
    raise ValueError(f'The sequences have {tokens.shape[1]} tokens; dataset.text.seq_len is '
                     f'{d.text.seq_len}.')
  oracle = d.name == text_data.ORACLE
  if oracle:
    results, protocol = _oracle_metrics(config, tokens, key)
    log(f'Text metrics on {len(tokens)} sequences: nll_oracle={results["nll_oracle"]:.4f} '
        f'(floor {results["floor_nll_oracle"]:.4f})')
  else:
    results, protocol = _sentence_metrics(config, tokens)
    log(f'Text metrics on {len(tokens)} sentences: '
        + ' '.join(f'{k}={v:.4f}' for k, v in results.items() if 'bleu' in k))
  if real_split is None:  # G's NLL of held-out real sequences: what the samples leave out.
    split = 'test' if oracle else config.eval.text.reference_split
    held_out = _split_tokens(config, split, n if oracle else 0)
    results['nll_test'] = generator_nll(networks, state, held_out, ema=ema)
    protocol['nll_test'] = (
        f'nll_test: the generator\'s own negative log-likelihood per scored token (nats) of '
        f'the {len(held_out)} held-out real sequences of {split} '
        '(teacher forcing, at its sampling temperature; Texygen\'s NLL-test): lower covers '
        'more of the data. NLL-oracle alone rewards dropping modes (a lower temperature '
        'lowers it); read the two together')
    log(f'nll_test={results["nll_test"]:.4f} on {len(held_out)} held-out sequences')
  results['examples'] = decode_samples(config, tokens[:int(config.eval.text.num_examples)])
  results['protocol'] = dict(
      kind='text',
      dataset=d.name,
      seq_len=int(d.text.seq_len),
      samples=what,
      num_samples=len(tokens),
      **protocol,
      generator=None if real_split is not None else ('ema' if ema else 'raw'),
      checkpoint_step=None if step is None else int(step),
      wall_time_s=dict(total=round(time.time() - t_start, 2), generate=round(t_gen, 2)),
  )
  return results
