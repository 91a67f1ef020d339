"""Audio runs (waveforms (L, 1) in [-1, 1]): WAV files, spectrogram PNGs and the evaluation.

- `write_samples`: at each sample step of training, `samples/step_N_k.wav` for the first
  eval.audio.wav_files fixed-latent samples and `samples/step_N_spectrograms.png`, a grid of
  the spectrograms of the first eval.audio.spectrogram_grid.
- `write_outputs` (launch/sample.py): BASE_k.wav per sample, BASE_spectrograms.png, BASE.npy
  (N, L, 1) float32 [+ BASE_labels.npy].
- `evaluate`: a spectrogram classifier (gan_jax/metrics/audio.py) trained on the real training
  clips (labels: the pitch of synthetic_notes, the digit of spoken_digits), cached under
  eval.cache_dir; in its feature space, the Frechet distance of generated clips to the
  held-out real clips (eval.audio.reference_split), the classifier score (the Inception Score
  formula with its softmax), the argmax-class histogram of the generated clips and its KL to
  uniform, and the classifier's held-out accuracy; beside them the real-vs-real floor: the
  same numbers for as many real training clips in place of the generated ones (with
  `real_split`, real clips of that split replace the generated ones throughout).

WAV files are 16-bit PCM (scipy.io.wavfile) at dataset.audio.sample_rate, samples clipped to
[-1, 1] and scaled by 32767. Spectrograms in the PNGs: scipy.signal.spectrogram (Hann
window of eval.audio.frame_length samples, hop frame_step), 10 log10 of the power, shown
over the 80 dB below the grid's maximum.
"""

import os
import time
from typing import Optional

import jax
import ml_collections
import numpy as np

from gan_jax import evaluation, metric_logging, sampling
from gan_jax.metrics import audio as audio_metrics
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import frechet
from gan_jax.metrics import inception_score as inception_score_lib
from gan_jax.metrics import modes as modes_lib

DYNAMIC_RANGE_DB = 80.0
_MEMORY_CACHE: dict = {}


# ---- files ---------------------------------------------------------------------------------

def _waveforms(samples) -> np.ndarray:
  """(N, L) float64 of samples (N, L) or (N, L, 1)."""
  x = np.asarray(samples, np.float64)
  if x.ndim == 3 and x.shape[-1] == 1:
    x = x[..., 0]
  if x.ndim != 2:
    raise ValueError(f'Expected mono waveforms (N, L, 1) or (N, L); got shape {x.shape}.')
  return x


def write_wav(path: str, waveform, sample_rate: int) -> str:
  """One waveform (L,) or (L, 1) in [-1, 1] as a 16-bit PCM mono WAV file."""
  from scipy.io import wavfile  # pylint: disable=g-import-not-at-top
  x = _waveforms(np.asarray(waveform)[None])[0]
  pcm = np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  wavfile.write(path, int(sample_rate), pcm)
  return path


def save_spectrogram_grid(path: str, samples, sample_rate: int, *, frame_length: int = 512,
                          frame_step: int = 256, ncols: int = 4,
                          titles: Optional[list] = None) -> str:
  """A PNG grid of the spectrograms (time x frequency, dB) of waveforms (N, L[, 1])."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  from scipy import signal  # pylint: disable=g-import-not-at-top
  x = _waveforms(samples)
  n, length = x.shape
  nperseg = min(int(frame_length), length)
  freqs, times, power = signal.spectrogram(x, fs=sample_rate, window='hann', nperseg=nperseg,
                                           noverlap=nperseg - min(int(frame_step), nperseg),
                                           axis=-1)
  db = 10 * np.log10(power + 1e-12)
  top = float(db.max())
  ncols = max(1, min(ncols, n))
  nrows = -(-n // ncols)
  fig = Figure(figsize=(2.6 * ncols, 2.0 * nrows))
  for i in range(n):
    ax = fig.add_subplot(nrows, ncols, i + 1)
    ax.pcolormesh(times, freqs / 1000.0, db[i], vmin=top - DYNAMIC_RANGE_DB, vmax=top,
                  cmap='magma', shading='auto')
    ax.set_title(titles[i] if titles else f'#{i}', fontsize=8)
    ax.tick_params(labelsize=6)
    if i % ncols == 0:
      ax.set_ylabel('kHz', fontsize=7)
    if i >= n - ncols:
      ax.set_xlabel('s', fontsize=7)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  FigureCanvasAgg(fig)
  fig.savefig(path, format='png', dpi=100)
  return path


def write_samples(config: ml_collections.ConfigDict, samples, directory: str,
                  step: int) -> list[str]:
  """samples/step_N_k.wav (first eval.audio.wav_files) and step_N_spectrograms.png."""
  acfg, rate = config.eval.audio, int(config.dataset.audio.sample_rate)
  base = os.path.join(directory, f'step_{step:07d}')
  paths = [write_wav(f'{base}_{k}.wav', x, rate)
           for k, x in enumerate(np.asarray(samples)[:int(acfg.wav_files)])]
  grid = np.asarray(samples)[:int(acfg.spectrogram_grid)]
  paths.append(save_spectrogram_grid(f'{base}_spectrograms.png', grid, rate,
                                     frame_length=int(acfg.frame_length),
                                     frame_step=int(acfg.frame_step),
                                     titles=[f'step {step} #{k}' for k in range(len(grid))]))
  return paths


def write_outputs(config: ml_collections.ConfigDict, samples, labels,
                  base: str) -> list[str]:
  """BASE_k.wav for every sample, BASE_spectrograms.png (up to eval.audio.spectrogram_grid),
  BASE.npy (N, L, 1) float32 and BASE_labels.npy when labels are given."""
  acfg, rate = config.eval.audio, int(config.dataset.audio.sample_rate)
  samples = np.asarray(samples, np.float32)
  paths = [write_wav(f'{base}_{k}.wav', x, rate) for k, x in enumerate(samples)]
  grid = samples[:int(acfg.spectrogram_grid)]
  titles = [f'#{k}' + (f' (label {int(labels[k])})' if labels is not None else '')
            for k in range(len(grid))]
  paths.append(save_spectrogram_grid(f'{base}_spectrograms.png', grid, rate,
                                     frame_length=int(acfg.frame_length),
                                     frame_step=int(acfg.frame_step), titles=titles))
  np.save(f'{base}.npy', samples)
  paths.append(f'{base}.npy')
  if labels is not None:
    np.save(f'{base}_labels.npy', np.asarray(labels, np.int32))
    paths.append(f'{base}_labels.npy')
  return paths


# ---- evaluation ----------------------------------------------------------------------------

def dataset_key(config: ml_collections.ConfigDict, split: str) -> str:
  """Cache name of a split of the run's audio data: name, split and a hash of the fields
  that shape the clips (dataset.audio)."""
  d = config.dataset
  fields = dict(name=d.name, split=split, audio=d.audio.to_dict(),
                data_dir=os.path.abspath(d.data_dir) if d.data_dir else '')
  return f'{d.name}_{evaluation._safe(split)}_{evaluation.fields_digest(fields)}'  # pylint: disable=protected-access


def classifier(config: ml_collections.ConfigDict, train_source=None, *,
               log=metric_logging.log) -> dict:
  """The evaluation classifier of an audio run: {'module', 'variables', 'path', 'sha256',
  'split', 'steps', 'seed'}; trained on the labelled clips of eval.classifier_split (default
  dataset.split) for eval.classifier_steps Adam steps (batch 128) and cached."""
  ecfg = config.eval
  split = evaluation.classifier_split(config)
  source = evaluation.load_split(config, split, train_source, whole=True)
  if not source.num_classes:
    raise ValueError(f'The audio metrics need a labelled dataset; {source.description} has no '
                     'labels (TFDS: set dataset.audio.tfds_label_key).')
  module = audio_metrics.classifier_module(config, int(source.num_classes),
                                           int(source.data_shape[0]))
  architecture = 'spectrogram_cnn_' + evaluation.fields_digest(dict(
      frame_length=module.frame_length, frame_step=module.frame_step, bins=module.bins,
      width=module.width, feature_dim=module.feature_dim))
  name = dataset_key(config, split)
  steps, seed = int(ecfg.classifier_steps), int(ecfg.classifier_seed)
  path = classifier_lib.classifier_cache_path(evaluation.cache_dir(ecfg), name, steps=steps,
                                              seed=seed, architecture=architecture)
  clips = labels = None
  if not os.path.exists(path):
    clips, labels = evaluation.source_arrays(source)
    log(f'Audio evaluation classifier not found at {path}: training it now ({steps} Adam '
        f'steps on {len(clips)} clips of {source.description}); it is cached for later runs.')
  t0 = time.time()
  variables, path, sha = classifier_lib.cached_classifier(
      evaluation.cache_dir(ecfg), name, clips, labels, num_classes=int(source.num_classes),
      steps=steps, seed=seed, module=module, architecture=architecture)
  if clips is not None:
    log(f'Trained the audio classifier in {time.time() - t0:.1f}s -> {path}')
  return dict(module=module, variables=variables, path=path, sha256=sha, split=split,
              steps=steps, seed=seed)


def _features(clf: dict, clips) -> tuple[np.ndarray, np.ndarray]:
  feats, logits = classifier_lib.classifier_features(clf['variables'], clips,
                                                     module=clf['module'], batch_size=500)
  return np.asarray(feats, np.float64), np.asarray(logits, np.float64)


def _real_features(config, clf: dict, split: str, num: int, train_source=None):
  """(features, logits, labels, count) of the first `num` (0 = all) clips of `split`,
  cached per process."""
  key = (clf['sha256'], dataset_key(config, split), int(num))
  if key not in _MEMORY_CACHE:
    src = evaluation.load_split(config, split, train_source)
    clips, labels = evaluation.source_arrays(src, int(num))
    feats, logits = _features(clf, clips)
    _MEMORY_CACHE[key] = (feats, logits, labels, len(clips))
  return _MEMORY_CACHE[key]


def clip_metrics(ref_feats, feats, logits, *, is_splits: int) -> dict:
  """fid (in float64), is_mean, is_std, class_histogram, class_histogram_kl_uniform,
  classes_covered of clips with classifier features / logits, against the reference
  features."""
  hist = np.bincount(np.argmax(logits, -1), minlength=logits.shape[-1])
  is_mean, is_std = inception_score_lib.inception_score(
      logits, splits=int(max(1, min(is_splits, len(logits)))))
  # float64: the classifier's ReLU features are large (traces ~1e4 and more), and float32
  # round-off in tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2) is then larger than the real floor.
  with jax.enable_x64(True):
    fid = float(frechet.frechet_distance_from_features(np.asarray(ref_feats, np.float64),
                                                       np.asarray(feats, np.float64)))
  return dict(fid=fid,
              is_mean=float(is_mean), is_std=float(is_std),
              class_histogram=[float(h) for h in hist / hist.sum()],
              class_histogram_kl_uniform=modes_lib.kl_to_uniform(hist),
              classes_covered=int(np.sum(hist > 0)))


def evaluate(config: ml_collections.ConfigDict, networks, state, source, *, key: jax.Array,
             step: Optional[int] = None, num_samples: Optional[int] = None,
             ema: bool = False, real_split: Optional[str] = None,
             log=metric_logging.log) -> dict:
  """The audio protocol (module docstring): generated clips (or the first num_samples clips
  of `real_split`) against the held-out reference split, and the real floor."""
  t_start = time.time()
  ecfg, acfg, d = config.eval, config.eval.audio, config.dataset
  n = int(num_samples or ecfg.num_samples)
  clf = classifier(config, source, log=log)
  ref_split = acfg.reference_split
  train_split = d.split
  if ref_split == train_split:
    raise ValueError(f'eval.audio.reference_split={ref_split!r} is the training split; use the '
                     "held-out clips (e.g. 'test').")
  ref_feats, ref_logits, ref_labels, n_ref = _real_features(
      config, clf, ref_split, int(ecfg.num_reference))
  accuracy = float(classifier_lib.top1_agreement(ref_logits, ref_labels))
  t0 = time.time()
  if real_split is not None:
    src = evaluation.load_split(config, real_split, source)
    clips, _ = evaluation.source_arrays(src, n)
    what = f'real clips: first {len(clips)} of {d.name}/{real_split}'
  else:
    clips = sampling.generate(networks, state, n, key, ema=ema)
    what = f'generated ({"EMA" if ema else "raw"} generator)'
  t_gen = time.time() - t0
  feats, logits = _features(clf, clips)
  results = clip_metrics(ref_feats, feats, logits, is_splits=int(ecfg.is_splits))
  results['classifier_accuracy'] = accuracy
  floor_feats, floor_logits, _, n_floor = _real_features(config, clf, train_split, len(clips),
                                                         source)
  floor = clip_metrics(ref_feats, floor_feats, floor_logits, is_splits=int(ecfg.is_splits))
  for name in ('fid', 'is_mean', 'class_histogram_kl_uniform', 'classes_covered'):
    results[f'floor_{name}'] = floor[name]
  log(f'Audio metrics on {len(clips)} clips: fid={results["fid"]:.4g} (floor '
      f'{results["floor_fid"]:.4g}) score={results["is_mean"]:.4g} '
      f'kl_uniform={results["class_histogram_kl_uniform"]:.4g} '
      f'classifier_accuracy={accuracy:.4f}')
  module = clf['module']
  results['protocol'] = dict(
      kind='audio',
      dataset=d.name,
      sample_rate=int(d.audio.sample_rate),
      length=int(d.audio.length),
      samples=what,
      num_samples=len(clips),
      reference_split=ref_split,
      num_reference=int(n_ref),
      reference_selection=('first num_reference clips of the split' if ecfg.num_reference
                           else 'the whole split'),
      classifier=(f'SpectrogramClassifier (gan_jax/metrics/audio.py): log(|STFT| + '
                  f'{audio_metrics.LOG_FLOOR}) of {module.frame_length}-sample Hann frames '
                  f'every {module.frame_step}, first {module.bins} bins -> 3 conv stages of '
                  f'widths {module.width}x(1, 2, 4) -> {module.feature_dim}-d features -> '
                  'logits'),
      classifier_train_split=clf['split'],
      classifier_steps=clf['steps'],
      classifier_seed=clf['seed'],
      classifier_accuracy=f'top-1 accuracy on the {n_ref} reference (held-out) clips',
      weights_path=clf['path'],
      weights_sha256=clf['sha256'],
      fid='Frechet distance of Gaussians fitted to the classifier features of the clips and '
          'of the reference clips',
      score='classifier score: exp(E KL(p(y|x) || p(y))) with the classifier softmax (the '
            'Inception Score formula), mean/std over min(eval.is_splits, N) splits',
      class_histogram='fraction of clips per argmax class of the classifier',
      class_histogram_kl_uniform='KL(class histogram || uniform over the classes)',
      floor=(f'floor_*: the same numbers for the first {n_floor} real clips of '
             f'{d.name}/{train_split} (the training split) in place of the clips evaluated'),
      generator=None if real_split is not None else ('ema' if ema else 'raw'),
      checkpoint_step=None if step is None else int(step),
      wall_time_s=dict(total=round(time.time() - t_start, 2), generate=round(t_gen, 2)),
  )
  return results
