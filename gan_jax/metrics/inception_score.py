"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs").

  IS = exp(E_x KL(p(y|x) || p(y))),   p(y) = E_x p(y|x),

computed on `splits` consecutive equal chunks of the samples (as the paper's code: chunk
k holds samples [k*N//splits, (k+1)*N//splits), the remainder is dropped); returns the
mean and standard deviation (ddof=0) over the chunks.
"""

import functools

import jax
import jax.numpy as jnp


@functools.partial(jax.jit, static_argnames=('splits', 'from_logits'))
def inception_score(logits_or_probs, *, splits=10, from_logits=True):
  """(mean, std) of the Inception Score over `splits` chunks.

  Args:
    logits_or_probs: (N, num_classes) classifier logits, or probabilities if
      from_logits=False (rows summing to 1).
    splits: number of chunks (10 as the paper).
    from_logits: whether the input holds logits (softmax is applied) or probabilities.
  """
  x = logits_or_probs
  if x.ndim != 2:
    raise ValueError(f'Expected (N, num_classes) logits or probabilities; got shape {x.shape}.')
  n = x.shape[0]
  if splits < 1 or n < splits:
    raise ValueError(f'Need 1 <= splits <= N; got splits={splits}, N={n}. Pass more samples '
                     f'or fewer splits.')
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  log_p = jax.nn.log_softmax(x, axis=-1) if from_logits else jnp.log(x)
  part = n // splits
  log_p = log_p[:part * splits].reshape(splits, part, -1)
  p = jnp.exp(log_p)
  log_marginal = jnp.log(jnp.mean(p, axis=1, keepdims=True))
  # p log p with 0 log 0 = 0.
  kl = jnp.sum(jnp.where(p > 0, p * (log_p - log_marginal), 0.0), axis=-1)
  scores = jnp.exp(jnp.mean(kl, axis=1))
  return jnp.mean(scores), jnp.std(scores)
