r"""The quality-diversity curve of text generators over softmax temperatures (Caccia et al.
2020, "Language GANs Falling Short"): each run's samples at each temperature, scored for
quality and for diversity / coverage.

  python -m benchmarks.text_temperature --runs MLE=runs/mle SeqGAN=runs/seqgan \
      --temperatures 0.6 0.8 1.0 1.2 1.5 --plot docs/images/text_temperature.png

For each run (its newest checkpoint, or step S's with `NAME=WORKDIR@S`) and temperature tau,
model.sequence.temperature is set to tau and `--num` sequences are sampled
(`sampling.generate`, key(--seed), raw G); the metrics are the text modality's
(gan_jax/modalities/text.py):
- sentences (Texygen's protocol): BLEU-n of every sample against all sentences of the run's
  eval.text.reference_split, self-BLEU-n of the first --self_bleu samples; the real training
  sentences (their first --num) give the reference point;
- the synthetic oracle: NLL-oracle of the samples (quality) and NLL-test, G's own NLL per
  token of the first --num held-out oracle sequences at that temperature (coverage; both
  lower is better); the oracle's own samples and held-out sequences give the reference point
  (the oracle's entropy rate, reached by both numbers at once only by the oracle).
Printed: a markdown table; with --plot, quality against diversity, one line per run.
"""

import argparse

import jax

from gan_jax import models, sampling
from gan_jax.data import text as text_data
from gan_jax.metrics import text as text_metrics
from gan_jax.modalities import text as text_modality


def _oracle_scores(config, state, args):
  """score(tokens, networks) -> (NLL-oracle of tokens, G's NLL-test); score(None, None) ->
  the oracle's point: NLL-oracle of its --num training sequences and of the held-out ones."""
  params = text_data.oracle_params(config.dataset)
  refs = text_data.split_tokens(config.dataset, 'test')[:args.num]

  def score(tokens, networks):
    if tokens is None:
      train = text_data.split_tokens(config.dataset, 'train')[:args.num]
      return text_metrics.nll_oracle(params, train), text_metrics.nll_oracle(params, refs)
    return (text_metrics.nll_oracle(params, tokens),
            text_modality.generator_nll(networks, state, refs, ema=False))
  return score


def _sentence_scores(config, args):
  """score(tokens, networks) -> (BLEU-n against the held-out sentences, self-BLEU-n);
  score(None, None) -> the same for the first --num training sentences."""
  refs = text_data.split_tokens(config.dataset, config.eval.text.reference_split)

  def score(tokens, networks):
    del networks
    if tokens is None:
      tokens = text_data.split_tokens(config.dataset, 'train')[:args.num]
    return (text_metrics.bleu(tokens, refs, args.order),
            text_metrics.self_bleu(tokens[:args.self_bleu], args.order))
  return score


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--runs', nargs='+', required=True,
                      help='NAME=WORKDIR[@STEP] ... (default: the newest checkpoint)')
  parser.add_argument('--temperatures', nargs='+', type=float,
                      default=[0.6, 0.8, 1.0, 1.2, 1.5])
  parser.add_argument('--num', type=int, default=1_000)
  parser.add_argument('--self_bleu', type=int, default=500)
  parser.add_argument('--order', type=int, default=3)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--plot', default='')
  args = parser.parse_args()

  rows, curves, real, oracle = [], {}, None, None
  for spec in args.runs:
    name, workdir = spec.split('=', 1)
    workdir, _, at = workdir.partition('@')
    config, _, networks, state, step = sampling.load_run(workdir, int(at) if at else None)
    is_oracle = config.dataset.name == text_data.ORACLE
    if oracle is None:
      oracle = is_oracle
    elif oracle != is_oracle:
      raise ValueError('--runs mixes oracle and sentence runs; compare runs of one task.')
    score = _oracle_scores(config, state, args) if is_oracle else _sentence_scores(config, args)
    if real is None:  # The data's own point, from the first run's dataset.
      real = score(None, None)
      rows.append(('oracle (its samples / held-out sequences)' if is_oracle else 'real (train)',
                   '-', '-', *real))
    curves[name] = []
    for tau in args.temperatures:
      config.model.sequence.temperature = float(tau)
      nets = models.build_networks(config.model, networks.data_shape, networks.num_classes)
      tokens = sampling.generate(nets, state, args.num, jax.random.key(args.seed), ema=False)
      quality, diversity = score(tokens, nets)
      curves[name].append((tau, quality, diversity))
      rows.append((name, step, tau, quality, diversity))
      print(f'{name} step {step} tau {tau}: quality {quality:.4f} diversity {diversity:.4f}',
            flush=True)

  n = args.order
  q_name, d_name = (('NLL-oracle (down)', 'NLL-test (down)') if oracle else
                    (f'BLEU-{n} (up)', f'self-BLEU-{n} (down)'))
  print(f'\n| run | step | temperature | {q_name} | {d_name} |')
  print('|---|---|---|---|---|')
  for name, step, tau, q, d in rows:
    print(f'| {name} | {step} | {tau} | {q:.3f} | {d:.3f} |')
  if args.plot:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for name, points in curves.items():
      taus, q, d = zip(*points)
      ax.plot(d, q, marker='o', label=name)
      for tau, x, y in zip(taus, d, q):
        ax.annotate(f'{tau:g}', (x, y), textcoords='offset points', xytext=(3, 3), fontsize=7)
    if oracle:  # The oracle's point (its entropy rate, ~5.9 on both axes) is far off the
      # curves: named in the title rather than drawn, so the curves keep the plot's scale.
      ax.set_xlabel('NLL-test: G on held-out oracle sequences (lower = covers more)')
      ax.set_ylabel('NLL-oracle of samples (lower = better)')
      ax.set_title(f'NLL-oracle vs NLL-test over temperature\n(the oracle itself: '
                   f'{real[0]:.2f} / {real[1]:.2f})', fontsize=10)
    else:
      ax.scatter([real[1]], [real[0]], marker='*', s=120, c='k', label='real (train)', zorder=3)
      ax.set_xlabel(f'self-BLEU-{n} (lower = more diverse)')
      ax.set_ylabel(f'BLEU-{n} vs held-out (higher = better)')
      ax.set_title('Quality-diversity over softmax temperature')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f'wrote {args.plot}')


if __name__ == '__main__':
  main()
