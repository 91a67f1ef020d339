"""Metrics of voxel grids (N, S, S, S, 1) in [-1, 1] (occupied where the value is > 0).

- `VoxelCNN`: a small 3-D CNN mapping grids to (features, logits) over the shape kinds, the
  `module=` of gan_jax.metrics.classifier (train_classifier, classifier_features, ...): its
  penultimate features are the space of the classifier FID, its argmax the class histogram.
- `largest_component_fraction`: per grid, the fraction of its occupied voxels that lie in
  its largest 6-connected component (faces shared; scipy.ndimage.label's default 3-D
  structure) -- 1 for a single solid piece, small for scattered voxels; 0 for an empty grid
  (no solid at all), whose count is reported apart (`component_statistics`).
"""

from typing import Any

import flax.linen as nn
import jax
import numpy as np
from scipy import ndimage

from gan_jax.models import conv3d

OCCUPIED_ABOVE = 0.0  # A voxel is occupied where its value is > 0 (data: +1 in, -1 out).


class VoxelCNN(nn.Module):
  """avg-pool by `pool` -> 3 x [Conv3D(4, stride 2, padding 1) -> LeakyReLU(0.2)] with
  widths width x (1, 2, 4) -> flatten -> Dense(feature_dim) -> ReLU (features) ->
  Dense(num_classes) (logits). Inputs (N, S, S, S, 1) with S / pool a multiple of 8."""

  num_classes: int
  width: int = 16
  feature_dim: int = 128
  pool: int = 2
  conv_impl: str = conv3d.AUTO

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    side = x.shape[1]
    if x.ndim != 5 or side % (8 * self.pool):
      raise ValueError(f'VoxelCNN(pool={self.pool}) needs grids (N, S, S, S, C) with S a '
                       f'multiple of {8 * self.pool}; got {x.shape}.')
    if self.pool > 1:
      x = nn.avg_pool(x, (self.pool,) * 3, (self.pool,) * 3)
    for i in range(3):
      x = conv3d.Conv3D(self.width * 2 ** i, 4, 2, 1, implementation=self.conv_impl,
                        name=f'conv{i}')(x)
      x = nn.leaky_relu(x, 0.2)
    features = nn.relu(nn.Dense(self.feature_dim, name='features')(x.reshape(x.shape[0], -1)))
    return features, nn.Dense(self.num_classes, name='logits')(features)


def classifier_module(num_classes: int, side: int) -> VoxelCNN:
  """The evaluation classifier for grids of `side` (pooled to at most 16^3)."""
  pool = max(1, side // 16)
  if side % (8 * pool):
    raise ValueError(f'The voxel classifier needs a grid side that is a multiple of 8 (16, 32, '
                     f'64, ...); got {side} (dataset.voxels.size).')
  return VoxelCNN(num_classes=num_classes, pool=pool)


def occupancy(grids) -> np.ndarray:
  """(N, S, S, S[, 1]) -> bool occupancy (N, S, S, S): value > OCCUPIED_ABOVE."""
  grids = np.asarray(grids)
  if grids.ndim == 5:
    grids = grids[..., 0]
  if grids.ndim != 4:
    raise ValueError(f'Expected voxel grids (N, D, H, W[, 1]); got shape {grids.shape}.')
  return grids > OCCUPIED_ABOVE


def largest_component_fraction(grids) -> np.ndarray:
  """(N,) float64: per grid, |largest 6-connected component of occupied voxels| / |occupied
  voxels|, 0 where nothing is occupied."""
  occupied_grids = occupancy(grids)
  fractions = np.zeros(len(occupied_grids))
  for i, occupied in enumerate(occupied_grids):
    labelled, count = ndimage.label(occupied)  # Default structure: 6-connectivity in 3-D.
    if count:
      sizes = np.bincount(labelled.ravel())[1:]
      fractions[i] = sizes.max() / sizes.sum()
  return fractions


def component_statistics(grids) -> dict[str, Any]:
  """component_fraction (mean of largest_component_fraction), empty_fraction (grids with no
  occupied voxel), occupancy (mean fraction of occupied voxels)."""
  occupied = occupancy(grids)
  fractions = largest_component_fraction(grids)
  return dict(component_fraction=float(np.mean(fractions)),
              empty_fraction=float(np.mean(~occupied.any(axis=(1, 2, 3)))),
              occupancy=float(np.mean(occupied)))
