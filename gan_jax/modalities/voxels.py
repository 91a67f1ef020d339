"""Voxel grids (D, H, W, 1) in [-1, 1] (occupied where > 0): renderings, .npy files and the
3D-GAN evaluation protocol.

Files:
- `write_samples` (training, at the fixed latents): samples/step_N.png, each shape as its
  three axis max-projections side by side (along D, along H, along W; white = occupied
  somewhere on the ray), shapes in a grid; samples/step_N_iso.png, shaded isosurfaces (the
  0-level surface by scikit-image's marching cubes, drawn with matplotlib) of the first
  ISO_SHAPES shapes, written only when scikit-image is installed; samples/step_N.npy, the
  grids (N, D, H, W, 1) float32; samples/latest.png, a link to the newest projection grid.
- `write_outputs` (launch/sample.py): BASE.png, BASE_iso.png (with scikit-image), BASE.npy
  and BASE_labels.npy when there are labels.

`evaluate` (dataset.name='voxel_shapes'; settings eval.voxels): a 3-D CNN
(gan_jax/metrics/voxels.py VoxelCNN) trained on the real shapes of eval.voxels.classifier_split
to tell the five kinds, cached under eval.cache_dir; in its feature space the Frechet distance
of the generated shapes to the held-out shapes (first num_reference of reference_split); the
argmax-kind histogram of the generated shapes and its KL to uniform (the kinds are balanced);
the fraction of occupied voxels in each shape's largest 6-connected component; the
classifier's accuracy on the reference shapes. Beside each, the floor: the same numbers for
the first num_samples real shapes of floor_split in place of the generated ones (two disjoint
real sets, both disjoint from the classifier's). With `real_split`, real shapes of that split
replace the generated ones.
"""

import os
import time
from typing import Optional

import jax
import ml_collections
import numpy as np

from gan_jax import evaluation, metric_logging, sampling, visualize
from gan_jax.data import voxels as voxel_data
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import frechet
from gan_jax.metrics import modes as modes_lib
from gan_jax.metrics import voxels as voxel_metrics

ISO_SHAPES = 16       # Shapes drawn as isosurfaces (matplotlib is slow in 3-D).
GENERATE_BATCH = 50   # Shapes per generator call at evaluation (call i: fold_in(key, i)).
FEATURE_BATCH = 200   # Shapes per classifier call.
CLASSIFIER_BATCH = 32
LIGHT = np.array([0.3, 0.3, 0.9]) / np.linalg.norm([0.3, 0.3, 0.9])  # Isosurface light.
SURFACE_RGB = np.array([0.55, 0.7, 0.95])
_MEMORY_CACHE: dict = {}


# ---- files ---------------------------------------------------------------------------------

def _grids(samples) -> np.ndarray:
  grids = np.asarray(samples, np.float32)
  if grids.ndim != 5:
    raise ValueError(f'Voxel samples are grids (N, D, H, W, C); got shape {grids.shape}.')
  return grids


def projections(grids) -> np.ndarray:
  """(N, D, H, W, C) -> (N, S, 3 S + 2, 1) in [-1, 1]: per shape the max of its first
  channel along D, along H and along W, side by side with a 1-pixel grey gap (needs
  D = H = W = S)."""
  grids = _grids(grids)[..., 0]
  if not grids.shape[1] == grids.shape[2] == grids.shape[3]:
    raise ValueError(f'Projections need cubic grids; got {grids.shape[1:]}.')
  gap = np.zeros((grids.shape[0], grids.shape[1], 1), np.float32)
  views = [grids.max(axis=a) for a in (1, 2, 3)]
  return np.concatenate([views[0], gap, views[1], gap, views[2]], axis=-1)[..., None]


def save_projection_grid(grids, path: str, ncols: Optional[int] = None) -> str:
  """PNG of every shape's three axis max-projections, in a grid (ncols shapes per row)."""
  images = projections(grids)
  ncols = ncols or max(1, int(np.ceil(np.sqrt(len(images) / 3))))
  return visualize.save_image_grid(images, path, ncols=ncols, upscale=2)


def save_isosurface_grid(grids, path: str, titles=None) -> Optional[str]:
  """PNG of the 0-level isosurfaces (scikit-image marching cubes, matplotlib, light from
  above) of `grids`, 4 per row; None (nothing written) when scikit-image is missing."""
  try:
    from skimage import measure  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # pylint: disable=g-import-not-at-top
  grids = _grids(grids)[..., 0]
  cols = min(4, len(grids))
  rows = -(-len(grids) // cols)
  fig = Figure(figsize=(2.5 * cols, 2.5 * rows))
  FigureCanvasAgg(fig)
  for k, grid in enumerate(grids):
    ax = fig.add_subplot(rows, cols, k + 1, projection='3d')
    ax.set_axis_off()
    for set_lim in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
      set_lim(0, max(grid.shape))
    if titles is not None:
      ax.set_title(titles[k], fontsize=8)
    if grid.min() > 0 or grid.max() <= 0:  # All or nothing occupied: no 0-level surface.
      continue
    verts, faces, normals, _ = measure.marching_cubes(np.pad(grid, 1, constant_values=-1.0),
                                                      level=0.0)
    # Lambert shading of each face by its mean vertex normal (either orientation).
    shade = 0.3 + 0.7 * np.abs(normals[faces].mean(axis=1) @ LIGHT)
    ax.add_collection3d(Poly3DCollection(verts[faces], linewidths=0,
                                         facecolors=np.outer(shade, SURFACE_RGB)))
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=80)
  return path


def _write_files(grids, base: str, titles=None) -> list[str]:
  paths = [save_projection_grid(grids, base + '.png')]
  iso = save_isosurface_grid(grids[:ISO_SHAPES], base + '_iso.png',
                             None if titles is None else titles[:ISO_SHAPES])
  if iso:
    paths.append(iso)
  np.save(base + '.npy', grids)
  return paths + [base + '.npy']


def write_samples(config: ml_collections.ConfigDict, samples, directory: str,
                  step: int) -> list[str]:
  """directory/step_N.png, step_N_iso.png (with scikit-image), step_N.npy, latest.png."""
  del config
  grids = _grids(samples)
  paths = _write_files(grids, os.path.join(directory, f'step_{step:07d}'),
                       [f'#{k}' for k in range(len(grids))])
  latest = os.path.join(directory, 'latest.png')
  if os.path.lexists(latest):
    os.remove(latest)
  os.symlink(os.path.basename(paths[0]), latest)
  return paths


def write_outputs(config: ml_collections.ConfigDict, samples, labels,
                  base: str) -> list[str]:
  """BASE.png, BASE_iso.png (with scikit-image), BASE.npy (N, D, H, W, 1) float32 and
  BASE_labels.npy when labels are given."""
  del config
  grids = _grids(samples)
  titles = [f'#{k}' + ('' if labels is None else f' {_kind_name(labels[k])}')
            for k in range(len(grids))]
  paths = _write_files(grids, base, titles)
  if labels is not None:
    np.save(base + '_labels.npy', np.asarray(labels, np.int32))
    paths.append(base + '_labels.npy')
  return paths


def _kind_name(label) -> str:
  label = int(label)
  return voxel_data.KINDS[label] if 0 <= label < len(voxel_data.KINDS) else str(label)


# ---- evaluation ----------------------------------------------------------------------------

def _split_indices(config, split: str, field: str) -> np.ndarray:
  v = config.dataset.voxels
  return voxel_data.split_indices(split, v.num_train, v.num_test, field)


def check_disjoint(config, count: int, real_split: Optional[str] = None) -> str:
  """Raises ValueError when the classifier's shapes, the reference shapes, the floor's shapes
  (first `count` of floor_split) and, when given, the evaluated real shapes (first `count`
  of real_split) overlap; returns what was checked."""
  vcfg = config.eval.voxels
  sets = {'eval.voxels.classifier_split': _split_indices(config, vcfg.classifier_split,
                                                         'eval.voxels.classifier_split'),
          'eval.voxels.reference_split': _split_indices(
              config, vcfg.reference_split, 'eval.voxels.reference_split')[
                  :int(vcfg.num_reference) or None],
          'eval.voxels.floor_split': _split_indices(config, vcfg.floor_split,
                                                    'eval.voxels.floor_split')[:count]}
  if real_split is not None:
    sets['real_split'] = _split_indices(config, real_split, 'real_split')[:count]
  names = list(sets)
  for i, a in enumerate(names):
    for b in names[i + 1:]:
      shared = np.intersect1d(sets[a], sets[b]).size
      if shared:
        raise ValueError(f'{a} and {b} share {shared} voxel shapes; the classifier, reference, '
                         'floor and evaluated real sets must be disjoint (e.g. classifier_split '
                         "'train[-4000:]', reference_split 'test', floor_split 'train' with "
                         "num_samples below num_train - 4000, real_split 'train[20000:]').")
  return ('classifier, reference and floor shapes are disjoint ('
          + ', '.join(f'{n.split(".")[-1]}: {len(s)}' for n, s in sets.items()) + ')')


def classifier(config: ml_collections.ConfigDict, *, log=metric_logging.log) -> dict:
  """The 3-D evaluation classifier: {'module', 'variables', 'path', 'sha256', 'split', 'steps',
  'seed'}; trained (eval.voxels.classifier_steps Adam steps, batch CLASSIFIER_BATCH) on the
  shapes of eval.voxels.classifier_split and cached per dataset definition."""
  vcfg, d = config.eval.voxels, config.dataset
  split, steps, seed = vcfg.classifier_split, int(vcfg.classifier_steps), int(vcfg.classifier_seed)
  module = voxel_metrics.classifier_module(voxel_data.NUM_CLASSES, int(d.voxels.size))
  architecture = 'voxel_cnn_' + evaluation.fields_digest(dict(width=module.width, feature_dim=module.feature_dim,
                                             pool=module.pool, batch=CLASSIFIER_BATCH))
  name = f'{voxel_data.NAME}_{evaluation.fields_digest(dict(split=split, voxels=d.voxels.to_dict()))}'
  cache = evaluation.cache_dir(config.eval)
  path = classifier_lib.classifier_cache_path(cache, name, steps=steps, seed=seed,
                                              architecture=architecture)
  grids = labels = None
  if not os.path.exists(path):
    source = evaluation.load_split(config, split)
    grids, labels = source.examples.arrays()
    log(f'Voxel classifier not found at {path}: training it now ({steps} Adam steps on '
        f'{len(grids)} shapes of {source.description}); it is cached for later runs.')
  t0 = time.time()
  variables, path, sha = classifier_lib.cached_classifier(
      cache, name, grids, labels, num_classes=voxel_data.NUM_CLASSES, steps=steps, seed=seed,
      batch_size=CLASSIFIER_BATCH, module=module, architecture=architecture)
  if grids is not None:
    log(f'Trained the voxel classifier in {time.time() - t0:.1f}s -> {path}')
  return dict(module=module, variables=variables, path=path, sha256=sha, split=split,
              steps=steps, seed=seed)


def _features(clf: dict, grids) -> tuple[np.ndarray, np.ndarray]:
  feats, logits = classifier_lib.classifier_features(clf['variables'], grids,
                                                     module=clf['module'],
                                                     batch_size=FEATURE_BATCH)
  return np.asarray(feats, np.float64), np.asarray(logits, np.float64)


def _real_shapes(config, clf: dict, split: str, num: int, source=None) -> dict:
  """Features, logits, labels and component statistics of the first `num` (0 = all) real
  shapes of `split`, cached per process."""
  key = (clf['sha256'], evaluation.fields_digest(dict(split=split, voxels=config.dataset.voxels.to_dict())),
         int(num))
  if key not in _MEMORY_CACHE:
    src = evaluation.load_split(config, split, source)
    grids, labels = src.examples.arrays(0, int(num) or None)
    feats, logits = _features(clf, grids)
    _MEMORY_CACHE[key] = dict(features=feats, logits=logits, labels=labels,
                              components=voxel_metrics.component_statistics(grids),
                              count=len(grids))
  return _MEMORY_CACHE[key]


def shape_metrics(ref_features, features, logits, components: dict) -> dict:
  """fid, class_histogram, class_histogram_kl_uniform, classes_covered and the component
  statistics of one set of shapes against the reference features."""
  hist = np.bincount(np.argmax(logits, -1), minlength=logits.shape[-1])
  return dict(fid=float(frechet.frechet_distance_from_features(ref_features, features)),
              class_histogram=[float(h) for h in hist / hist.sum()],
              class_histogram_kl_uniform=modes_lib.kl_to_uniform(hist),
              classes_covered=int(np.sum(hist > 0)), **components)


def evaluate(config: ml_collections.ConfigDict, networks, state, source, *, key: jax.Array,
             step: Optional[int] = None, num_samples: Optional[int] = None,
             ema: bool = False, real_split: Optional[str] = None,
             log=metric_logging.log) -> dict:
  """The voxel protocol (module docstring): generated shapes (or the first num_samples of
  `real_split`) against the held-out reference shapes, beside the real floor."""
  t_start = time.time()
  vcfg, d = config.eval.voxels, config.dataset
  if d.name != voxel_data.NAME:
    raise ValueError(f'The voxel protocol needs dataset.name={voxel_data.NAME!r}; got '
                     f'{d.name!r}.')
  n = int(num_samples or vcfg.num_samples)
  disjoint = check_disjoint(config, n, real_split)
  clf = classifier(config, log=log)
  ref = _real_shapes(config, clf, vcfg.reference_split, int(vcfg.num_reference))
  accuracy = float(classifier_lib.top1_agreement(ref['logits'], ref['labels']))
  t0 = time.time()
  if real_split is not None:
    grids, _ = evaluation.load_split(config, real_split, source).examples.arrays(0, n)
    what = f'real shapes: first {len(grids)} of {d.name}/{real_split}'
  else:
    grids = sampling.generate(networks, state, n, key, ema=ema, batch_size=GENERATE_BATCH)
    what = f'generated ({"EMA" if ema else "raw"} generator)'
  t_gen = time.time() - t0
  feats, logits = _features(clf, grids)
  results = shape_metrics(ref['features'], feats, logits,
                          voxel_metrics.component_statistics(grids))
  results['classifier_accuracy'] = accuracy
  floor = _real_shapes(config, clf, vcfg.floor_split, len(grids), source)
  floor_results = shape_metrics(ref['features'], floor['features'], floor['logits'],
                                floor['components'])
  for name in ('fid', 'class_histogram_kl_uniform', 'classes_covered', 'component_fraction',
               'empty_fraction', 'occupancy'):
    results[f'floor_{name}'] = floor_results[name]
  log(f'Voxel metrics on {len(grids)} shapes: fid={results["fid"]:.4g} (floor '
      f'{results["floor_fid"]:.4g}) kl_uniform={results["class_histogram_kl_uniform"]:.4g} '
      f'component_fraction={results["component_fraction"]:.4f} (floor '
      f'{results["floor_component_fraction"]:.4f}) classifier_accuracy={accuracy:.4f}')
  module = clf['module']
  results['protocol'] = dict(
      kind='voxels',
      dataset=d.name,
      grid=f'{d.voxels.size}^3, occupied where the value is > {voxel_metrics.OCCUPIED_ABOVE}',
      samples=what,
      num_samples=int(len(grids)),
      reference_split=vcfg.reference_split,
      num_reference=int(ref['count']),
      reference_selection='first num_reference shapes of the split (held out from training)',
      disjoint_check=disjoint,
      classifier=(f'VoxelCNN (gan_jax/metrics/voxels.py): avg-pool {module.pool} -> 3 x '
                  f'[Conv3D 4/2/1, LeakyReLU 0.2] widths {module.width}x(1, 2, 4) -> '
                  f'{module.feature_dim}-d ReLU features -> {voxel_data.NUM_CLASSES} kinds '
                  f'{list(voxel_data.KINDS)}'),
      classifier_train_split=clf['split'],
      classifier_steps=clf['steps'],
      classifier_seed=clf['seed'],
      classifier_batch_size=CLASSIFIER_BATCH,
      classifier_accuracy=f'top-1 accuracy on the {ref["count"]} reference (held-out) shapes',
      weights_path=clf['path'],
      weights_sha256=clf['sha256'],
      fid='Frechet distance of Gaussians fitted to the classifier features of the shapes and '
          'of the reference shapes',
      class_histogram='fraction of shapes per argmax kind of the classifier',
      class_histogram_kl_uniform='KL(class histogram || uniform over the 5 kinds), natural log',
      component_fraction=('mean over shapes of |largest 6-connected component of occupied '
                          'voxels| / |occupied voxels| (scipy.ndimage.label); 0 for an empty '
                          'shape'),
      empty_fraction='fraction of shapes with no occupied voxel',
      occupancy='mean fraction of occupied voxels',
      floor=(f'floor_*: the same numbers for the first {floor["count"]} real shapes of '
             f'{d.name}/{vcfg.floor_split} in place of the shapes evaluated'),
      generator=None if real_split is not None else ('ema' if ema else 'raw'),
      generate_batch=(f'{GENERATE_BATCH} shapes per call, latents of call i from '
                      'fold_in(key, i)' if real_split is None else None),
      checkpoint_step=None if step is None else int(step),
      wall_time_s=dict(total=round(time.time() - t_start, 2), generate=round(t_gen, 2)),
  )
  return results
