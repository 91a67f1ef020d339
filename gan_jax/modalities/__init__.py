"""What a sample is, beyond still images: video clips, voxel grids, audio waveforms, text.

Every family trains on the same machinery (objectives, train step, parallel wrappers,
checkpoints); what differs per kind of sample is only how samples are written (GIFs, voxel
renderings, WAV files, sentences) and how they are evaluated. A *modality* is a module of this package
exposing three pure-ish functions of numpy arrays and the config:

- `write_samples(config, samples, directory, step) -> list[str]`: the training-time samples at
  the run's fixed latents (gan_jax/train.py), e.g. `samples/step_0000500.gif`;
- `write_outputs(config, samples, labels, base) -> list[str]`: `launch/sample.py`'s files for
  `samples` (and their labels, or None), every path starting with `base`;
- `evaluate(config, networks, state, source, *, key, step, num_samples, ema, real_split, log)
  -> {metric: float, ..., 'protocol': {...}}`: gan_jax/evaluation.py dispatches here.

The dataset says which modality it has: `dataset.modality` when set, else the table below by
`dataset.name`; everything else is an image (H, W, C) or a 2-D point dataset, handled by the
image code paths. Samples of every modality live under the examples' 'image' key (the name
the pipeline, the objectives and the train step read), with shapes:
video (T, H, W, C), voxels (D, H, W, 1), audio (L, 1), all in [-1, 1]; text: int32 token ids
(L,) (gan_jax/data/text.py).
"""

import importlib
from types import ModuleType
from typing import Optional

import ml_collections

MODALITIES = ('video', 'voxels', 'audio', 'text')
# dataset.name -> modality, for datasets whose samples are not images.
DATASET_MODALITY: dict[str, str] = {
    'moving_mnist': 'video',
    'tfds_moving_mnist': 'video',
    # Single frames of Moving MNIST clips: an image GAN trained on them is the video metrics'
    # independent-frames baseline (T consecutive samples make one clip).
    'moving_mnist_frames': 'video',
    'voxel_shapes': 'voxels',
    'synthetic_notes': 'audio',
    'spoken_digits': 'audio',
    'speech_commands': 'audio',
    'nsynth': 'audio',
    'text_oracle': 'text',
    'pydoc_sentences': 'text',
    'tfds_text': 'text',
}


def modality(config: ml_collections.ConfigDict) -> Optional[str]:
  """'video' | 'voxels' | 'audio' for those datasets, None for images and 2-D points."""
  name = config.dataset.get('modality', '') or DATASET_MODALITY.get(config.dataset.name, '')
  if name and name not in MODALITIES:
    raise ValueError(f'Unknown dataset.modality {name!r}; choose one of {MODALITIES}, or '
                     "'' (inferred from dataset.name; images otherwise).")
  return name or None


def get(name: str) -> ModuleType:
  """The module of modality `name` (imported on first use: video, 3-D and audio code is only
  loaded by runs that need it)."""
  if name not in MODALITIES:
    raise ValueError(f'Unknown modality {name!r}; choose one of {MODALITIES}.')
  return importlib.import_module(f'gan_jax.modalities.{name}')


def for_config(config: ml_collections.ConfigDict) -> Optional[ModuleType]:
  """The modality module of the run's dataset, or None for images / 2-D points."""
  name = modality(config)
  return get(name) if name else None
