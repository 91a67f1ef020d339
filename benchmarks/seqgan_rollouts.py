r"""SeqGAN's rollouts compiled vs one after another from Python.

  python -m benchmarks.seqgan_rollouts                       # the paper's setting, D width 64
  python -m benchmarks.seqgan_rollouts --d_width 16 --repeats 3

The paper's setting (configs/seqgan.py): vocabulary 5,000, length 20, G hidden 32, batch 64,
16 rollouts, SeqGAN's CNN D at model.d_width (64 = the paper's filter counts). Random tokens
(the speed does not depend on the data). Timed, after one compiling call each:

- compiled Q: the rewards of all 16 x 19 prefix completions in one jitted call
  (`SequenceGenerator.rollouts`: vmap over rollouts and prefixes, G's state after each
  prefix, then D on the 19,456 completed sequences): what the train step computes;
- Python Q: the same rewards as the original SeqGAN code computes them (its `get_reward`
  runs one `sess.run` per rollout and prefix length): a Python loop over the 16 rollouts and
  19 prefix lengths, each a jitted call that completes the batch's prefixes of that length
  (a lax.scan over the 20 positions) and scores them with D (one compile: the prefix length
  is traced);
- the compiled adversarial step: the whole train step (5 D updates on fresh generated
  batches, the rollouts, the REINFORCE G update) with d_steps_per_g_step = 5 and 1.

Printed: seconds per call (median of --repeats, the timed calls interleaved so both see the
same load), the Q ratio, and the step with the Python Q (compiled step - compiled Q, timed
alongside it, + Python Q) against the compiled step.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from jax import lax

from configs import seqgan as seqgan_config
from gan_jax import models
from gan_jax import state as state_lib
from gan_jax import train_step as train_step_lib
from gan_jax.models import sequence


def _median_times(fns, repeats: int) -> list[float]:
  """Median seconds per call of each of `fns`, after one compiling call each, the calls
  interleaved (fn 0, fn 1, ..., fn 0, ...) so that every function sees the same machine load
  (this CPU is shared)."""
  for fn in fns:
    jax.block_until_ready(fn())  # Compile.
  times = [[] for _ in fns]
  for _ in range(repeats):
    for fn, acc in zip(fns, times):
      start = time.perf_counter()
      jax.block_until_ready(fn())
      acc.append(time.perf_counter() - start)
  return [statistics.median(t) for t in times]


def complete_prefix(module, tokens, keys, prefix_len):
  """One rollout of the batch: y_1..y_prefix_len kept, the rest drawn from G (a scan over
  all positions, the prefix fed as given) -> (N, L) int32. `module` is the bound G."""
  n, length = tokens.shape

  def body(carry, t):
    state, x = carry
    state, logits = module._step(state, x)  # pylint: disable=protected-access
    drawn = jax.vmap(sequence.sample_categorical)(
        jax.vmap(lambda k: jax.random.fold_in(k, t))(keys), logits)
    drawn = jnp.where(t < prefix_len, tokens[:, t], drawn)
    return (state, jnp.take(module.embedding, drawn, axis=0)), drawn

  init = (module._zero_state(n), module._start_inputs(n))  # pylint: disable=protected-access
  _, drawn = lax.scan(body, init, jnp.arange(length))
  return drawn.T


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--d_width', type=int, default=64)
  parser.add_argument('--rollouts', type=int, default=16)
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()

  config = seqgan_config.get_config(f'model.d_width={args.d_width}')
  config.objective.seqgan.num_rollouts = args.rollouts
  config.parallel = 'none'
  length, vocab, batch = (int(config.dataset.text.seq_len), int(config.model.sequence.vocab_size),
                          int(config.batch_size))
  networks = models.build_networks(config.model, (length,))
  state = state_lib.create_state(config, networks, jax.random.key(0))
  g_vars = state.generator_variables(ema=False)
  d_vars = state.discriminator_variables()
  tokens = jax.random.randint(jax.random.key(1), (batch, length), 0, vocab)
  keys = sequence.latent_keys(networks.sample_latents(jax.random.key(2), batch))
  module = networks.make_generator(None)
  r = args.rollouts

  def reward(d_vars, x):
    return jax.nn.sigmoid(networks.discriminator_apply(d_vars, x, train=False)[0])

  @jax.jit
  def compiled_q(g_vars, d_vars, tokens, keys):
    completions = module.apply(g_vars, tokens, keys, r, method='rollouts')
    return reward(d_vars, completions.reshape(-1, length)).reshape(r, length - 1, batch).mean(0)

  @jax.jit
  def one_completion(g_vars, d_vars, tokens, keys, rollout, prefix_len):
    sub = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, rollout), prefix_len))(
        keys)
    completed = module.apply(g_vars, tokens, sub, prefix_len,
                             method=lambda m, *a: complete_prefix(m, *a))
    return reward(d_vars, completed)

  def python_q():
    rows = []
    for t in range(1, length):
      rows.append(sum(one_completion(g_vars, d_vars, tokens, keys, i, t) for i in range(r)) / r)
    return jnp.stack(rows)

  t_compiled, t_python = _median_times(
      [lambda: compiled_q(g_vars, d_vars, tokens, keys), python_q], args.repeats)
  print(f'setting: vocab {vocab}, length {length}, batch {batch}, G hidden '
        f'{config.model.g_width}, D width {args.d_width}, {r} rollouts; '
        f'{r * (length - 1) * batch} completions per step; backend {jax.default_backend()}',
        flush=True)
  print(f'Q compiled (one call):             {t_compiled:.3f} s')
  print(f'Q from Python ({r} x {length - 1} calls):      {t_python:.3f} s')
  print(f'ratio Python / compiled:           {t_python / t_compiled:.2f}x', flush=True)

  data = {'image': tokens, 'label': jnp.zeros((batch,), jnp.int32)}
  for n_critic in (5, 1):
    config.d_steps_per_g_step = n_critic
    step = jax.jit(train_step_lib.make_train_step(config, networks))
    step_batch = data if n_critic == 1 else jax.tree_util.tree_map(
        lambda x: jnp.broadcast_to(x, (n_critic, *x.shape)), data)
    t_step, t_compiled = _median_times(
        [lambda: step(state, step_batch, jax.random.key(3))[1],
         lambda: compiled_q(g_vars, d_vars, tokens, keys)], args.repeats)
    with_python = t_step - t_compiled + t_python
    print(f'adversarial step, d_steps_per_g_step={n_critic}: compiled {t_step:.3f} s/step; '
          f'with the Python Q {with_python:.3f} s/step; ratio {with_python / t_step:.2f}x',
          flush=True)


if __name__ == '__main__':
  main()
