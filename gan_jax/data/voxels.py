"""Voxel shapes (dataset.name='voxel_shapes'): occupancy grids of five solid kinds, generated.

Example i is {'image': (S, S, S, 1) float32, +1 inside the solid and -1 outside, 'label':
its kind}, S = dataset.voxels.size (32). The grid spans the cube [-1, 1]^3 (voxel (a, b, c)
has centre ((a, b, c) + 0.5) * 2 / S - 1, axes in array order); a voxel is inside when its
centre is. Nothing is stored: example i is a pure function of (dataset.voxels.seed, i)
(`shape_parameters`, numpy's generator seeded with [seed, i]), so every run and every
evaluation sees the same shapes whatever config.seed is (the run's seed only shuffles their
order, as for every dataset).

Kinds (label = i % 5, so every split is balanced), each with a bounding radius r (about its
centre) drawn from U[scale_min, scale_max] (a fraction of the grid's half-side; the solid
stays inside the grid):
  0 sphere    radius r;                                   volume 4/3 pi r^3
  1 box       half-extents e = r u / |u|;                  volume 8 e_x e_y e_z
  2 cylinder  radius a, half-height h, (a, h) = r u / |u|; volume 2 pi a^2 h
  3 cone      base radius a, height 2h (base at -h, apex at +h on its axis),
              (a, h) = r u / |u|;                          volume 2/3 pi a^2 h
  4 torus     tube radius rho = t r, ring radius R = r - rho, t ~ U[0.2, 0.35];
              volume 2 pi^2 R rho^2
with u_k ~ U[min_aspect, 1] (the shape's proportions). Every solid is then rotated by a
uniformly random rotation (scipy's `Rotation.random`) and its centre drawn uniformly from
[-(1 - r), 1 - r]^3, so the rotated solid's bounding sphere lies inside the grid.

Splits (TFDS split strings over the two splits, e.g. 'train', 'test', 'train[:1000]',
'train[80%:]', 'train+test'): 'train' holds indices [0, num_train), 'test' the next num_test
([num_train, num_train + num_test)): disjoint index ranges, so held-out shapes are never
training shapes.
"""

import dataclasses
import functools
from typing import Sequence

import ml_collections
import numpy as np

from gan_jax.data import sources

NAME = 'voxel_shapes'
KINDS = ('sphere', 'box', 'cylinder', 'cone', 'torus')
NUM_CLASSES = len(KINDS)
SPLITS = ('train', 'test')
TORUS_TUBE = (0.2, 0.35)  # Tube radius / bounding radius of a torus.
INSIDE, OUTSIDE = 1.0, -1.0


@dataclasses.dataclass(frozen=True)
class ShapeParameters:
  """One solid: kind (index into KINDS), bounding radius, centre (3,), rotation (3, 3)
  mapping the solid's own axes to the grid's, and its dimensions (see the module doc):
  sphere (r,), box (e_x, e_y, e_z), cylinder / cone (a, h), torus (R, rho)."""

  kind: int
  radius: float
  centre: np.ndarray
  rotation: np.ndarray
  dims: tuple[float, ...]


def check_config(cfg: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the dataset.voxels field that is out of range."""
  v = cfg.voxels
  if int(v.size) < 4:
    raise ValueError(f'dataset.voxels.size={v.size}: a voxel grid needs a side >= 4 (32 = '
                     '3D-GAN at 32^3).')
  if int(v.num_train) < 1 or int(v.num_test) < 1:
    raise ValueError(f'dataset.voxels.num_train / num_test must be >= 1; got {v.num_train}, '
                     f'{v.num_test}.')
  if not 0 < float(v.scale_min) <= float(v.scale_max) <= 1:
    raise ValueError(f'dataset.voxels.scale_min / scale_max must satisfy 0 < min <= max <= 1 '
                     f'(a fraction of the grid half-side); got {v.scale_min}, {v.scale_max}.')
  if not 0 < float(v.min_aspect) <= 1:
    raise ValueError(f'dataset.voxels.min_aspect must be in (0, 1]; got {v.min_aspect}.')


def shape_parameters(seed: int, index: int, cfg: ml_collections.ConfigDict) -> ShapeParameters:
  """The solid of example `index` (module docstring), from numpy's generator [seed, index]."""
  from scipy.spatial.transform import Rotation  # pylint: disable=g-import-not-at-top
  v = cfg.voxels
  rng = np.random.default_rng([int(seed), int(index)])
  kind = int(index) % NUM_CLASSES
  r = float(rng.uniform(float(v.scale_min), float(v.scale_max)))
  u = rng.uniform(float(v.min_aspect), 1.0, size=3)
  if kind == 0:
    dims = (r,)
  elif kind == 1:
    dims = tuple(r * u / np.linalg.norm(u))
  elif kind in (2, 3):
    dims = tuple(r * u[:2] / np.linalg.norm(u[:2]))
  else:
    rho = r * rng.uniform(*TORUS_TUBE)
    dims = (r - rho, rho)
  rotation = Rotation.random(random_state=rng).as_matrix()
  centre = rng.uniform(-(1 - r), 1 - r, size=3)
  return ShapeParameters(kind, r, centre, rotation, tuple(float(d) for d in dims))


def analytic_volume(params: ShapeParameters) -> float:
  """The solid's volume in grid units (the grid's volume is 8)."""
  d = params.dims
  if params.kind == 0:
    return 4 / 3 * np.pi * d[0] ** 3
  if params.kind == 1:
    return 8 * d[0] * d[1] * d[2]
  if params.kind == 2:
    return 2 * np.pi * d[0] ** 2 * d[1]
  if params.kind == 3:
    return 2 / 3 * np.pi * d[0] ** 2 * d[1]
  return 2 * np.pi ** 2 * d[0] * d[1] ** 2


@functools.lru_cache(maxsize=4)
def voxel_centres(size: int) -> np.ndarray:
  """(size^3, 3) centres of the voxels of a size^3 grid over [-1, 1]^3, in array order."""
  axis = (np.arange(size) + 0.5) * 2.0 / size - 1.0
  grid = np.stack(np.meshgrid(axis, axis, axis, indexing='ij'), -1).reshape(-1, 3)
  grid.flags.writeable = False
  return grid


def inside(params: ShapeParameters, points: np.ndarray) -> np.ndarray:
  """Whether each of `points` (M, 3) (grid coordinates) lies in the solid."""
  p = (points - params.centre) @ params.rotation  # The solid's own frame: R^T (x - c).
  x, y, z = p[:, 0], p[:, 1], p[:, 2]
  d = params.dims
  if params.kind == 0:
    return x * x + y * y + z * z <= d[0] ** 2
  if params.kind == 1:
    return (np.abs(x) <= d[0]) & (np.abs(y) <= d[1]) & (np.abs(z) <= d[2])
  radial = np.sqrt(x * x + y * y)
  if params.kind == 2:
    return (radial <= d[0]) & (np.abs(z) <= d[1])
  if params.kind == 3:  # Radius a at z = -h, shrinking linearly to 0 at z = +h.
    return (np.abs(z) <= d[1]) & (radial <= d[0] * (d[1] - z) / (2 * d[1]))
  return (radial - d[0]) ** 2 + z * z <= d[1] ** 2


def voxelize(params: ShapeParameters, size: int) -> np.ndarray:
  """(size, size, size, 1) float32: +1 where a voxel centre is inside the solid, else -1."""
  occupied = inside(params, voxel_centres(size)).reshape(size, size, size, 1)
  return np.where(occupied, INSIDE, OUTSIDE).astype(np.float32)


def split_indices(split: str, num_train: int, num_test: int,
                  what: str = 'dataset.split') -> np.ndarray:
  """Global example indices of a TFDS split string over 'train' (indices [0, num_train)) and
  'test' ([num_train, num_train + num_test)), e.g. 'test', 'train[:1000]', 'train[80%:]'."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  sizes = {'train': int(num_train), 'test': int(num_test)}
  infos = {name: tfds.core.SplitInfo(name=name, shard_lengths=[n], num_bytes=0,
                                     filename_template=None) for name, n in sizes.items()}
  try:
    instructions = tfds.core.ReadInstruction.from_spec(split).to_absolute(infos)
  except (ValueError, AssertionError) as e:
    raise ValueError(f"{what}={split!r} is not a split of voxel_shapes ({e}); use 'train', "
                     "'test' or a slice such as 'train[:1000]'.") from e
  offsets = {'train': 0, 'test': int(num_train)}
  return np.concatenate([offsets[ins.splitname] + np.arange(sizes[ins.splitname])[ins.from_:ins.to]
                         for ins in instructions]).astype(np.int64)


class VoxelShapes(Sequence):
  """The examples at global `indices` (split_indices), generated on access."""

  def __init__(self, cfg: ml_collections.ConfigDict, indices: np.ndarray):
    self.cfg, self.indices = cfg, np.asarray(indices, np.int64)
    self.seed, self.size = int(cfg.voxels.seed), int(cfg.voxels.size)

  def __len__(self):
    return len(self.indices)

  def parameters(self, i: int) -> ShapeParameters:
    return shape_parameters(self.seed, int(self.indices[i]), self.cfg)

  def __getitem__(self, i):
    params = self.parameters(i)
    return {'image': voxelize(params, self.size), 'label': np.int32(params.kind)}

  def arrays(self, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(grids (M, S, S, S, 1) float32, labels (M,) int32) of examples start..stop-1."""
    rows = [self[i] for i in range(*slice(start, stop).indices(len(self)))]
    if not rows:
      return np.zeros((0, *(self.size,) * 3, 1), np.float32), np.zeros((0,), np.int32)
    return (np.stack([r['image'] for r in rows]),
            np.asarray([r['label'] for r in rows], np.int32))


def load(cfg: ml_collections.ConfigDict, seed: int = 0) -> sources.Source:
  """The voxel shapes of cfg.split (`seed`, the run's, is not used: shapes depend on
  dataset.voxels.seed only)."""
  del seed
  check_config(cfg)
  v = cfg.voxels
  indices = split_indices(cfg.split, v.num_train, v.num_test)
  if not indices.size:
    raise ValueError(f'dataset.split={cfg.split!r} holds no voxel shape; use a non-empty '
                     "split, e.g. 'train' or 'test[:500]'.")
  size = int(v.size)
  return sources.Source(
      VoxelShapes(cfg, indices), (size, size, size, 1), NUM_CLASSES,
      f'voxel_shapes/{cfg.split}: {indices.size} {size}^3 occupancy grids (+1 in, -1 out) of '
      f'{", ".join(KINDS)} (label = index % 5), bounding radius U[{v.scale_min}, '
      f'{v.scale_max}], random rotation and position, seed {v.seed}')
