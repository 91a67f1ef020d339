"""The 2-D mixture-of-Gaussians benchmarks of VEEGAN (Srivastava et al. 2017) and PacGAN
(Lin et al. 2018).

  ring8:  8 Gaussians with means (cos(2 pi k / 8), sin(2 pi k / 8)), k = 0..7 (radius 1),
          isotropic std 0.01;
  grid25: 25 Gaussians with means {-4, -2, 0, 2, 4}^2 (row-major: x outer, y inner),
          isotropic std 0.05.
A sample picks a mode uniformly at random and adds std * N(0, I). The data are NOT scaled to
[-1, 1]: use a generator with a linear output (model.mlp.output_activation='linear').
"""

from typing import Callable, Union

import jax
import jax.numpy as jnp
import numpy as np


def _ring8() -> tuple[np.ndarray, float]:
  angles = 2.0 * np.pi * np.arange(8) / 8
  return np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01


def _grid25() -> tuple[np.ndarray, float]:
  values = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
  xs, ys = np.meshgrid(values, values, indexing='ij')
  return np.stack([xs.ravel(), ys.ravel()], axis=1), 0.05


TOY_DATASETS: dict[str, Callable[[], tuple[np.ndarray, float]]] = {
    'ring8': _ring8,
    'grid25': _grid25,
}


def toy_modes(name: str) -> tuple[np.ndarray, float]:
  """Returns (mode means float32 (M, 2), per-coordinate std) of the benchmark `name`."""
  if name not in TOY_DATASETS:
    raise ValueError(f'Unknown toy dataset {name!r}; choose one of {sorted(TOY_DATASETS)}.')
  modes, std = TOY_DATASETS[name]()
  return modes.astype(np.float32), float(std)


def sample_toy(key_or_seed: Union[jax.Array, int], name: str,
               num: int) -> tuple[jax.Array, jax.Array]:
  """Draws `num` points: (points float32 (num, 2), mode index int32 (num,)).

  Pure and jittable in the key (name and num static); an int is taken as a seed.
  """
  if isinstance(key_or_seed, (int, np.integer)):
    key_or_seed = jax.random.PRNGKey(int(key_or_seed))
  modes, std = toy_modes(name)
  mode_key, noise_key = jax.random.split(key_or_seed)
  index = jax.random.randint(mode_key, (num,), 0, modes.shape[0], dtype=jnp.int32)
  noise = jax.random.normal(noise_key, (num, 2), jnp.float32)
  return jnp.asarray(modes)[index] + std * noise, index
