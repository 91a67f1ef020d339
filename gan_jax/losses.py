"""Adversarial losses: pure functions of discriminator logits, chosen by name.

Every loss has the signature `loss_fn(d_real, d_fake) -> (d_loss, g_loss, aux)`, where
`d_real`/`d_fake` are the discriminator's raw outputs (logits, shape (N,)) on real and
generated data, both losses are scalars to *minimize*, and `aux` holds scalar diagnostics.
Every loss whose D draws a real/generated boundary reports `d_accuracy` there: the fraction
of the real and generated samples (equally weighted) on the right side of its decision
threshold (logit 0 for the BCE losses and hinge; for least squares the midpoint of its two
targets, real_label / 2). The Wasserstein critic has none (its scale is free).
Options (one-sided label smoothing) are bound with `get_loss(name, **options)`.
"""

import functools
from typing import Callable

import jax
import jax.numpy as jnp

LossFn = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array, dict]]


def _bce_with_logits(logits: jax.Array, target: float) -> jax.Array:
  """Mean binary cross-entropy of sigmoid(logits) against a constant target."""
  return jnp.mean(target * jax.nn.softplus(-logits) + (1.0 - target) * jax.nn.softplus(logits))


def accuracy(d_real, d_fake, threshold: float = 0.0) -> jax.Array:
  """D's accuracy: (fraction of real outputs > threshold + fraction of fake < threshold) / 2."""
  right_real = jnp.mean((d_real > threshold).astype(jnp.float32))
  right_fake = jnp.mean((d_fake < threshold).astype(jnp.float32))
  return 0.5 * (right_real + right_fake)


def _probability_aux(d_real, d_fake):
  return {'d_real_prob': jnp.mean(jax.nn.sigmoid(d_real)),
          'd_fake_prob': jnp.mean(jax.nn.sigmoid(d_fake)),
          'd_accuracy': accuracy(d_real, d_fake)}


def minimax(d_real, d_fake, *, real_label: float = 1.0):
  """Goodfellow et al. 2014, eq. 1: D maximizes log D(x) + log(1 - D(G(z))),
  G minimizes log(1 - D(G(z))) = -softplus(d_fake) (saturates when D wins)."""
  d_loss = _bce_with_logits(d_real, real_label) + _bce_with_logits(d_fake, 0.0)
  g_loss = -jnp.mean(jax.nn.softplus(d_fake))
  return d_loss, g_loss, _probability_aux(d_real, d_fake)


def non_saturating(d_real, d_fake, *, real_label: float = 1.0):
  """Goodfellow et al. 2014, section 3: G maximizes log D(G(z)) instead."""
  d_loss = _bce_with_logits(d_real, real_label) + _bce_with_logits(d_fake, 0.0)
  g_loss = _bce_with_logits(d_fake, 1.0)
  return d_loss, g_loss, _probability_aux(d_real, d_fake)


def wasserstein(d_real, d_fake):
  """Arjovsky et al. 2017: critic minimizes E[f(G(z))] - E[f(x)]; G minimizes -E[f(G(z))].
  Needs a Lipschitz constraint (weight clipping, gradient penalty or spectral norm)."""
  d_loss = jnp.mean(d_fake) - jnp.mean(d_real)
  g_loss = -jnp.mean(d_fake)
  return d_loss, g_loss, {'wasserstein_estimate': -d_loss}


def least_squares(d_real, d_fake, *, real_label: float = 1.0):
  """Mao et al. 2017 (a=0, b=c=1): D minimizes 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2],
  G minimizes 1/2 E[(D(G(z))-1)^2]."""
  d_loss = 0.5 * jnp.mean((d_real - real_label) ** 2) + 0.5 * jnp.mean(d_fake ** 2)
  g_loss = 0.5 * jnp.mean((d_fake - 1.0) ** 2)
  return d_loss, g_loss, {'d_accuracy': accuracy(d_real, d_fake, 0.5 * real_label)}


def hinge(d_real, d_fake):
  """Lim & Ye 2017 / Miyato et al. 2018: D minimizes E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],
  G minimizes -E[D(G(z))]."""
  d_loss = jnp.mean(jax.nn.relu(1.0 - d_real)) + jnp.mean(jax.nn.relu(1.0 + d_fake))
  g_loss = -jnp.mean(d_fake)
  return d_loss, g_loss, {'d_accuracy': accuracy(d_real, d_fake)}


LOSSES: dict[str, Callable[..., tuple]] = {
    'minimax': minimax,
    'non_saturating': non_saturating,
    'wasserstein': wasserstein,
    'least_squares': least_squares,
    'hinge': hinge,
}
_SUPPORTS_LABEL_SMOOTHING = ('minimax', 'non_saturating', 'least_squares')
# The losses whose aux has 'd_accuracy' (all but the Wasserstein critic's).
REPORTS_ACCURACY = ('minimax', 'non_saturating', 'least_squares', 'hinge')


def get_loss(name: str, *, real_label: float = 1.0) -> LossFn:
  """Returns the loss `name` with options bound.

  Args:
    name: one of LOSSES.
    real_label: target for real data in the discriminator loss; < 1 is one-sided label
      smoothing (Salimans et al. 2016), defined for the BCE and least-squares losses.
  """
  if name not in LOSSES:
    raise ValueError(f'Unknown loss {name!r}; choose one of {sorted(LOSSES)}.')
  if real_label != 1.0:
    if name not in _SUPPORTS_LABEL_SMOOTHING:
      raise ValueError(f'Label smoothing (real_label={real_label}) is defined for '
                       f'{_SUPPORTS_LABEL_SMOOTHING}, not {name!r}; set loss.real_label=1.0.')
    return functools.partial(LOSSES[name], real_label=real_label)
  return LOSSES[name]
