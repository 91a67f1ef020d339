"""Checks of the model config fields the architectures share (clear one-line errors)."""

from typing import Any, Iterable, Optional

import jax.numpy as jnp

COMPUTE_DTYPES = {'float32': None, 'bfloat16': jnp.bfloat16}


def compute_dtype(name: str) -> Optional[Any]:
  """model.compute_dtype -> the `dtype` of flax layers (None: float32, the params' dtype)."""
  return COMPUTE_DTYPES[check_choice(name, COMPUTE_DTYPES, 'model.compute_dtype')]


def check_choice(value: str, choices: Iterable[str], field: str) -> str:
  choices = list(choices)
  if value not in choices:
    raise ValueError(f'Unknown {field} {value!r}; choose one of {sorted(choices)}.')
  return value


def check_rate(value: float, field: str) -> float:
  value = float(value)
  if not 0.0 <= value < 1.0:
    raise ValueError(f'{field} is a rate in [0, 1); got {value}.')
  return value
