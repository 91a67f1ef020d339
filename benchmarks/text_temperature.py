r"""The quality-diversity curve of text generators over softmax temperatures (Caccia et al.
2020, "Language GANs Falling Short"): BLEU-n against held-out sentences (quality) and
self-BLEU-n (diversity; lower is more diverse) of each run's samples at each temperature.

  python -m benchmarks.text_temperature --runs MLE=runs/mle SeqGAN=runs/seqgan \
      --temperatures 0.6 0.8 1.0 1.2 1.5 --plot docs/images/text_temperature.png

For each run (its newest checkpoint) and temperature tau, model.sequence.temperature is set to
tau and `--num` sentences are sampled (`sampling.generate`, key(--seed), raw G); the metrics are
the text modality's (gan_jax/metrics/text.py, Texygen's protocol): BLEU-n of every sample
against all sentences of the run's eval.text.reference_split, self-BLEU-n of the first
--self_bleu samples. The real training sentences (their first --num) give the reference point.
Printed: a markdown table; with --plot, BLEU-n against self-BLEU-n, one line per run.
"""

import argparse

import jax

from gan_jax import models, sampling
from gan_jax.data import text as text_data
from gan_jax.metrics import text as text_metrics


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--runs', nargs='+', required=True, help='NAME=WORKDIR ...')
  parser.add_argument('--temperatures', nargs='+', type=float,
                      default=[0.6, 0.8, 1.0, 1.2, 1.5])
  parser.add_argument('--num', type=int, default=1_000)
  parser.add_argument('--self_bleu', type=int, default=500)
  parser.add_argument('--order', type=int, default=3)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--plot', default='')
  args = parser.parse_args()

  rows, curves, real = [], {}, None
  for spec in args.runs:
    name, workdir = spec.split('=', 1)
    config, _, networks, state, step = sampling.load_run(workdir)
    refs = text_data.split_tokens(config.dataset, config.eval.text.reference_split)
    if real is None:
      train = text_data.split_tokens(config.dataset, 'train')[:args.num]
      real = (text_metrics.bleu(train, refs, args.order),
              text_metrics.self_bleu(train[:args.self_bleu], args.order))
      rows.append(('real (train)', '-', '-', *real))
    curves[name] = []
    for tau in args.temperatures:
      config.model.sequence.temperature = float(tau)
      nets = models.build_networks(config.model, networks.data_shape, networks.num_classes)
      tokens = sampling.generate(nets, state, args.num, jax.random.key(args.seed), ema=False)
      quality = text_metrics.bleu(tokens, refs, args.order)
      diversity = text_metrics.self_bleu(tokens[:args.self_bleu], args.order)
      curves[name].append((tau, quality, diversity))
      rows.append((name, step, tau, quality, diversity))
      print(f'{name} step {step} tau {tau}: BLEU-{args.order} {quality:.4f} '
            f'self-BLEU-{args.order} {diversity:.4f}', flush=True)

  n = args.order
  print(f'\n| run | step | temperature | BLEU-{n} (up) | self-BLEU-{n} (down) |')
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
