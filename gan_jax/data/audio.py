"""Audio datasets: waveforms (L, 1) float32 in [-1, 1] under the examples' 'image' key.

`load(cfg, seed) -> Source` for dataset.name (the fields are `dataset.audio`, configs/default.py):

- 'synthetic_notes': one-clip notes synthesized from a seed, the offline dataset of the WaveGAN
  recipe. Clip i is a pure function of (audio.seed, i) (`note_parameters`, `synthesize`):
  pitch index i mod P of audio.pitches (MIDI numbers; the label, so the classes are balanced),
  detuned by up to audio.detune_cents; a timbre drawn from audio.timbres (harmonic amplitude
  profiles: 'sine', 'square' odd harmonics 1/k, 'saw' all harmonics 1/k, 'bell' the
  inharmonic partials 1, 2.756, 5.404, 8.933 of a struck bar, each decaying faster), partials
  at or above 0.45 * sample_rate left out (no aliasing), random phases; an ADSR envelope
  (attack, decay, sustain level, note-off time and release drawn per clip), a small random
  onset delay, a peak amplitude in [0.4, 0.9] and white noise of std up to
  audio.noise_std. The split 'train' is clips 0 .. train_size - 1 and 'test' the next
  test_size: disjoint. The run's seed does not change the data (audio.seed does), so the
  evaluation classifier cached per dataset stays valid.
- 'spoken_digits': the words "zero" .. "nine" (the label) spoken by espeak-ng, an offline
  analogue of SC09 (the digits of Speech Commands, WaveGAN's benchmark). Clip i draws a voice
  from audio.voices (espeak-ng voice + variant, e.g. 'en-us+f3'), a pitch in
  audio.speech_pitch (espeak-ng's 0-99), a speed in audio.speech_speed (words per minute) and
  an onset; the utterance is resampled to sample_rate (scipy.signal.resample_poly), trimmed of
  silence and scaled to a peak in [0.5, 0.9]. Generated once (a few ms per clip with
  audio.num_workers processes of espeak-ng) into a cache file under dataset.data_dir (or
  ~/.cache/gan_jax) keyed by every field that shapes it and the espeak-ng version. Needs
  `espeak-ng` on PATH (apt-get install espeak-ng); never part of the default install.
- 'speech_commands', 'nsynth': TFDS audio datasets, read with random access from an
  array_record copy prepared under dataset.data_dir (tfds.builder_from_directory; reading
  needs no TensorFlow, preparing does). Clips are converted to float in [-1, 1], resampled
  to sample_rate when the dataset's rate differs, and cropped or zero-padded at the end to
  length; audio.tfds_label_key names the label ('label'; nsynth: e.g. 'instrument/family').
"""

import functools
import glob
import hashlib
import json
import os
import shutil
import subprocess
from concurrent import futures
from typing import Optional, Sequence

import ml_collections
import numpy as np

from gan_jax import metric_logging
from gan_jax.data import sources

NOTES = 'synthetic_notes'
SPOKEN_DIGITS = 'spoken_digits'
TFDS_AUDIO = ('speech_commands', 'nsynth')
TIMBRES = ('sine', 'square', 'saw', 'bell')
DIGIT_WORDS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')
# A struck bar's (and simple bell's) partials: ratios to the fundamental, relative amplitudes
# and decay rates (1/s, on top of the envelope).
BELL_PARTIALS = ((1.0, 1.0, 2.0), (2.756, 0.5, 4.0), (5.404, 0.25, 7.0), (8.933, 0.12, 11.0))
MAX_HARMONICS = 24
ALIAS_LIMIT = 0.45  # Partials at or above this fraction of the sample rate are left out.
ESPEAK = 'espeak-ng'
ESPEAK_RATE = 22050  # espeak-ng writes 16-bit mono WAV at this rate.
CACHE_VERSION = 1


# ---- splits --------------------------------------------------------------------------------

def split_indices(split: str, sizes: dict[str, int], what: str = 'dataset.split') -> list:
  """[(split name, index), ...] of a TFDS split string ('train', 'test', 'train[:50%]',
  'train+test', ...) over splits of the given sizes, parsed by TFDS."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  infos = {name: tfds.core.SplitInfo(name=name, shard_lengths=[n], num_bytes=0,
                                     filename_template=None) for name, n in sizes.items()}
  try:
    instructions = tfds.core.ReadInstruction.from_spec(split).to_absolute(infos)
  except (ValueError, AssertionError, KeyError) as e:
    raise ValueError(f'{what}={split!r} is not a split of this dataset ({e}); use one of '
                     f"{sorted(sizes)} or a slice, e.g. 'train[:1000]'.") from e
  return [(ins.splitname, i) for ins in instructions
          for i in range(sizes[ins.splitname])[ins.from_:ins.to]]


def _global_indices(cfg: ml_collections.ConfigDict) -> np.ndarray:
  """Example ids of cfg.split: 'train' j -> j, 'test' j -> train_size + j."""
  a = cfg.audio
  sizes = {'train': int(a.train_size), 'test': int(a.test_size)}
  if min(sizes.values()) < 0 or sizes['train'] < 1:
    raise ValueError(f'dataset.audio.train_size must be >= 1 and test_size >= 0; got '
                     f'{sizes["train"]} and {sizes["test"]}.')
  offset = {'train': 0, 'test': sizes['train']}
  return np.asarray([offset[s] + i for s, i in split_indices(cfg.split, sizes)], np.int64)


def _check_clip_fields(a: ml_collections.ConfigDict) -> tuple[int, int]:
  rate, length = int(a.sample_rate), int(a.length)
  if rate < 1000 or length < 16:
    raise ValueError(f'dataset.audio.sample_rate={rate} Hz and length={length} samples: need '
                     'at least 1000 Hz and 16 samples (WaveGAN: 16000 and 16384).')
  return rate, length


# ---- synthetic notes -----------------------------------------------------------------------

def midi_to_hz(midi) -> np.ndarray:
  """Equal temperament, A4 = MIDI 69 = 440 Hz."""
  return 440.0 * 2.0 ** ((np.asarray(midi, np.float64) - 69.0) / 12.0)


def _check_notes(a: ml_collections.ConfigDict) -> None:
  pitches, timbres = tuple(a.pitches), tuple(a.timbres)
  if len(pitches) < 2 or len(set(pitches)) != len(pitches):
    raise ValueError(f'dataset.audio.pitches needs >= 2 distinct MIDI notes (the classes); got '
                     f'{pitches}.')
  unknown = sorted(set(timbres) - set(TIMBRES))
  if not timbres or unknown:
    raise ValueError(f'dataset.audio.timbres {timbres}: unknown {unknown}; choose from '
                     f'{TIMBRES}.')
  rate = int(a.sample_rate)
  top = float(midi_to_hz(max(pitches)) * 2 ** (float(a.detune_cents) / 1200))
  if top >= ALIAS_LIMIT * rate:
    raise ValueError(f'The highest pitch ({top:.0f} Hz) is above {ALIAS_LIMIT} x sample_rate '
                     f'({rate} Hz); lower dataset.audio.pitches or raise sample_rate.')
  if not 0 <= float(a.detune_cents) < 50:
    raise ValueError(f'dataset.audio.detune_cents={a.detune_cents}: use [0, 50) so a detuned '
                     'note stays nearer its own pitch than the next semitone.')


def note_parameters(a: ml_collections.ConfigDict, index: int) -> dict:
  """The random draws of note `index` (a function of (a.seed, index) only)."""
  rng = np.random.default_rng([int(a.seed), int(index)])
  pitches = tuple(a.pitches)
  label = int(index) % len(pitches)
  duration = int(a.length) / int(a.sample_rate)
  detune = float(rng.uniform(-1, 1) * float(a.detune_cents))
  return dict(
      label=label,
      midi=int(pitches[label]),
      detune_cents=detune,
      frequency=float(midi_to_hz(pitches[label]) * 2 ** (detune / 1200)),
      timbre=str(a.timbres[int(rng.integers(len(a.timbres)))]),
      phase_seed=int(rng.integers(2 ** 31)),
      onset=float(rng.uniform(0.0, 0.03) * duration),
      attack=float(rng.uniform(0.005, 0.05)),
      decay=float(rng.uniform(0.05, 0.25)),
      sustain=float(rng.uniform(0.3, 0.8)),
      note_off=float(rng.uniform(0.4, 0.75) * duration),
      release=float(rng.uniform(0.05, 0.25) * duration),
      amplitude=float(rng.uniform(0.4, 0.9)),
      noise_std=float(rng.uniform(0.0, 1.0) * float(a.noise_std)),
      noise_seed=int(rng.integers(2 ** 31)),
  )


def partials(timbre: str, frequency: float, sample_rate: int) -> list[tuple[float, float, float]]:
  """[(frequency Hz, amplitude, extra decay 1/s)] of a timbre, below ALIAS_LIMIT * rate."""
  if timbre == 'sine':
    table = [(1.0, 1.0, 0.0)]
  elif timbre == 'square':
    table = [(k, 1.0 / k, 0.0) for k in range(1, MAX_HARMONICS + 1, 2)]
  elif timbre == 'saw':
    table = [(k, 1.0 / k, 0.0) for k in range(1, MAX_HARMONICS + 1)]
  elif timbre == 'bell':
    table = list(BELL_PARTIALS)
  else:
    raise ValueError(f'Unknown timbre {timbre!r}; choose from {TIMBRES}.')
  return [(r * frequency, amp, dec) for r, amp, dec in table
          if r * frequency < ALIAS_LIMIT * sample_rate]


def envelope(p: dict, t: np.ndarray) -> np.ndarray:
  """ADSR: 0 before the onset, linear attack to 1, linear decay to the sustain level, held
  until note_off, linear release to 0."""
  u = t - p['onset']
  attack = np.clip(u / p['attack'], 0.0, 1.0)
  decay = 1.0 - (1.0 - p['sustain']) * np.clip((u - p['attack']) / p['decay'], 0.0, 1.0)
  release = 1.0 - np.clip((t - p['note_off']) / p['release'], 0.0, 1.0)
  return np.where(u < 0, 0.0, np.where(u < p['attack'], attack, decay) * release)


def synthesize(p: dict, sample_rate: int, length: int) -> np.ndarray:
  """The note of parameters `p` (note_parameters): (length, 1) float32 in [-1, 1]."""
  t = np.arange(length, dtype=np.float64) / sample_rate
  table = partials(p['timbre'], p['frequency'], sample_rate)
  phases = np.random.default_rng(p['phase_seed']).uniform(0, 2 * np.pi, len(table))
  freq = np.asarray([f for f, _, _ in table])[:, None]
  amp = np.asarray([a for _, a, _ in table])[:, None]
  dec = np.asarray([d for _, _, d in table])[:, None]
  tone = np.sum(amp * np.exp(-dec * np.maximum(t - p['onset'], 0.0)) *
                np.sin(2 * np.pi * freq * t + phases[:, None]), axis=0) / amp.sum()
  x = p['amplitude'] * envelope(p, t) * tone
  x = x + p['noise_std'] * np.random.default_rng(p['noise_seed']).standard_normal(length)
  return np.clip(x, -1.0, 1.0).astype(np.float32)[:, None]


def note(a: ml_collections.ConfigDict, index: int) -> np.ndarray:
  """Clip `index` of synthetic_notes: synthesize(note_parameters(a, index), ...)."""
  return synthesize(note_parameters(a, index), int(a.sample_rate), int(a.length))


class NoteExamples(Sequence):
  """Synthesized on access: example j = {'image': note(a, ids[j]), 'label': ids[j] mod P}."""

  def __init__(self, a: ml_collections.ConfigDict, ids: np.ndarray):
    self.audio = ml_collections.ConfigDict(a.to_dict())
    self.ids = np.asarray(ids, np.int64)
    self.labels = (self.ids % len(a.pitches)).astype(np.int32)

  def __len__(self):
    return len(self.ids)

  def __getitem__(self, j):
    return {'image': note(self.audio, int(self.ids[j])), 'label': self.labels[j]}


def _load_notes(cfg: ml_collections.ConfigDict) -> sources.Source:
  a = cfg.audio
  rate, length = _check_clip_fields(a)
  _check_notes(a)
  ids = _global_indices(cfg)
  examples = NoteExamples(a, ids)
  if len(ids) * length * 4 <= sources.IN_MEMORY_LIMIT_BYTES:
    data = np.stack([examples[j]['image'] for j in range(len(ids))]) if len(ids) else \
        np.zeros((0, length, 1), np.float32)
    examples = sources.ArraySource(data, examples.labels)
  return sources.Source(
      examples, (length, 1), len(a.pitches),
      f'{NOTES}/{cfg.split}: {len(ids)} notes of {length / rate:.3f} s at {rate} Hz, '
      f'label = which of the MIDI pitches {tuple(a.pitches)}, timbres {tuple(a.timbres)} '
      f'(seed {a.seed})')


# ---- spoken digits (espeak-ng) -------------------------------------------------------------

def espeak_available() -> bool:
  return shutil.which(ESPEAK) is not None


def _require_espeak() -> str:
  path = shutil.which(ESPEAK)
  if path is None:
    raise FileNotFoundError(
        f"dataset.name='{SPOKEN_DIGITS}' speaks the digits with espeak-ng, which is not on "
        'PATH. Install it (Debian/Ubuntu: apt-get install espeak-ng; macOS: brew install '
        "espeak-ng), or train on dataset.name='synthetic_notes'.")
  return path


@functools.lru_cache(maxsize=None)
def espeak_version() -> str:
  out = subprocess.run([_require_espeak(), '--version'], capture_output=True, text=True,
                       check=True).stdout
  return out.split('Data at')[0].strip()


def utterance_parameters(a: ml_collections.ConfigDict, index: int) -> dict:
  """The random draws of spoken digit `index` (a function of (a.seed, index) only)."""
  rng = np.random.default_rng([int(a.seed), int(index), 1])
  lo_p, hi_p = a.speech_pitch
  lo_s, hi_s = a.speech_speed
  return dict(label=int(index) % len(DIGIT_WORDS),
              voice=str(a.voices[int(rng.integers(len(a.voices)))]),
              pitch=int(rng.integers(int(lo_p), int(hi_p) + 1)),
              speed=int(rng.integers(int(lo_s), int(hi_s) + 1)),
              onset=float(rng.uniform(0.0, 1.0)),
              peak=float(rng.uniform(0.5, 0.9)))


def speak(p: dict, sample_rate: int, length: int) -> np.ndarray:
  """espeak-ng's utterance of DIGIT_WORDS[p['label']]: (length, 1) float32 in [-1, 1]."""
  from scipy import signal  # pylint: disable=g-import-not-at-top
  cmd = [_require_espeak(), '-v', p['voice'], '-p', str(p['pitch']), '-s', str(p['speed']),
         '--stdout', DIGIT_WORDS[p['label']]]
  wav = subprocess.run(cmd, capture_output=True, check=True).stdout
  x = _wav_samples(wav)
  g = np.gcd(sample_rate, ESPEAK_RATE)
  x = signal.resample_poly(x, sample_rate // g, ESPEAK_RATE // g)
  loud = np.flatnonzero(np.abs(x) > 0.02 * np.max(np.abs(x)))
  x = x[loud[0]:loud[-1] + 1] if loud.size else x[:0]
  x = x[:length]
  out = np.zeros(length, np.float64)
  start = int(p['onset'] * (length - len(x)))
  out[start:start + len(x)] = x * (p['peak'] / max(np.max(np.abs(x)), 1e-9)) if len(x) else 0
  return np.clip(out, -1.0, 1.0).astype(np.float32)[:, None]


def _wav_samples(wav: bytes) -> np.ndarray:
  """float64 samples in [-1, 1) of 16-bit mono WAV bytes (espeak-ng --stdout)."""
  import io  # pylint: disable=g-import-not-at-top
  import wave  # pylint: disable=g-import-not-at-top
  with wave.open(io.BytesIO(wav)) as f:
    if f.getsampwidth() != 2 or f.getnchannels() != 1 or f.getframerate() != ESPEAK_RATE:
      raise ValueError(f'espeak-ng wrote {f.getnchannels()} channel(s) of {8 * f.getsampwidth()} '
                       f'bits at {f.getframerate()} Hz; expected 16-bit mono at {ESPEAK_RATE}.')
    # espeak-ng --stdout leaves the RIFF sizes unset: read what is there.
    raw = f.readframes(f.getnframes() or 1 << 30)
  return np.frombuffer(raw, '<i2').astype(np.float64) / 32768.0


def spoken_digits_cache_path(cfg: ml_collections.ConfigDict) -> str:
  a = cfg.audio
  key = dict(version=CACHE_VERSION, seed=int(a.seed), train_size=int(a.train_size),
             test_size=int(a.test_size), sample_rate=int(a.sample_rate), length=int(a.length),
             voices=list(a.voices), speech_pitch=list(a.speech_pitch),
             speech_speed=list(a.speech_speed), espeak=espeak_version())
  digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
  root = cfg.data_dir or os.path.join('~', '.cache', 'gan_jax')
  return os.path.join(os.path.abspath(os.path.expanduser(root)), SPOKEN_DIGITS,
                      f'{SPOKEN_DIGITS}_{digest}.npz')


def generate_spoken_digits(a: ml_collections.ConfigDict, ids, num_workers: int = 4) -> np.ndarray:
  """Clips (len(ids), length, 1) float32 of the spoken digits `ids`."""
  rate, length = int(a.sample_rate), int(a.length)
  with futures.ThreadPoolExecutor(max(1, num_workers)) as pool:  # espeak-ng runs as processes.
    clips = list(pool.map(lambda i: speak(utterance_parameters(a, i), rate, length), ids))
  return np.stack(clips) if clips else np.zeros((0, length, 1), np.float32)


def _load_spoken_digits(cfg: ml_collections.ConfigDict) -> sources.Source:
  a = cfg.audio
  rate, length = _check_clip_fields(a)
  if not a.voices:
    raise ValueError('dataset.audio.voices is empty; name espeak-ng voices, e.g. '
                     "('en-us+m3', 'en+f2').")
  _require_espeak()
  path = spoken_digits_cache_path(cfg)
  if not os.path.exists(path):
    total = int(a.train_size) + int(a.test_size)
    metric_logging.log(f'Speaking {total} digits with {ESPEAK} into {path} (once).')
    clips = generate_spoken_digits(a, range(total), int(a.num_workers))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}.npz'
    np.savez(tmp, clips=clips, labels=np.arange(total) % len(DIGIT_WORDS))
    os.replace(tmp, path)
  with np.load(path) as f:
    clips, labels = f['clips'], f['labels']
  ids = _global_indices(cfg)
  return sources.Source(
      sources.ArraySource(clips[ids], labels[ids]), (length, 1), len(DIGIT_WORDS),
      f'{SPOKEN_DIGITS}/{cfg.split}: {len(ids)} clips of "zero".."nine" by {ESPEAK} '
      f'({len(a.voices)} voices, pitch {tuple(a.speech_pitch)}, speed {tuple(a.speech_speed)}), '
      f'{length / rate:.3f} s at {rate} Hz (seed {a.seed}; cache {path})')


# ---- TFDS audio ----------------------------------------------------------------------------

def to_float(audio: np.ndarray) -> np.ndarray:
  """Integer PCM -> float in [-1, 1) (divided by 2**(bits-1)); floats unchanged."""
  audio = np.asarray(audio)
  if np.issubdtype(audio.dtype, np.integer):
    return audio.astype(np.float64) / float(np.iinfo(audio.dtype).max + 1)
  return audio.astype(np.float64)


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
  """The first `length` samples of a 1-D clip, zero-padded at the end when shorter."""
  x = np.asarray(x).reshape(-1)[:length]
  return np.pad(x, (0, length - len(x)))


class TfdsAudioExamples(Sequence):
  """A TFDS data source's clips as (length, 1) float32 in [-1, 1] at sample_rate."""

  def __init__(self, source, audio_key: str, label_key: str, source_rate: int,
               sample_rate: int, length: int):
    self.source, self.audio_key, self.label_key = source, audio_key, label_key
    self.source_rate, self.sample_rate, self.length = source_rate, sample_rate, length

  def __len__(self):
    return len(self.source)

  def __getitem__(self, i):
    ex = self.source[i]
    x = to_float(ex[self.audio_key])
    if x.ndim > 1:  # (T, channels): the mean of the channels.
      x = x.reshape(x.shape[0], -1).mean(axis=1)
    if self.source_rate != self.sample_rate:
      from scipy import signal  # pylint: disable=g-import-not-at-top
      g = np.gcd(self.source_rate, self.sample_rate)
      x = signal.resample_poly(x, self.sample_rate // g, self.source_rate // g)
    x = np.clip(fit_length(x, self.length), -1.0, 1.0).astype(np.float32)[:, None]
    label = ex[self.label_key] if self.label_key else 0
    return {'image': x, 'label': np.int32(label)}


def prepared_dir(name: str, data_dir: str) -> Optional[str]:
  """The newest prepared copy <data_dir>/<name>/[<config>/]<version> (holds
  dataset_info.json), or None."""
  root = os.path.abspath(os.path.expanduser(
      data_dir or os.path.join('~', 'tensorflow_datasets')))
  found = sorted(glob.glob(os.path.join(root, name, '*', 'dataset_info.json')) +
                 glob.glob(os.path.join(root, name, '*', '*', 'dataset_info.json')))
  return os.path.dirname(found[-1]) if found else None


def _load_tfds_audio(cfg: ml_collections.ConfigDict) -> sources.Source:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  a = cfg.audio
  rate, length = _check_clip_fields(a)
  directory = prepared_dir(cfg.name, cfg.data_dir)
  prepare = (f"python -c \"import tensorflow_datasets as tfds; tfds.builder('{cfg.name}', "
             f"data_dir='DIR', file_format='array_record').download_and_prepare()\"")
  if directory is None:
    raise FileNotFoundError(
        f'TFDS dataset {cfg.name!r} is not prepared under dataset.data_dir='
        f'{cfg.data_dir or "~/tensorflow_datasets"!r}. Where there is network, prepare it '
        f'once with: {prepare} (needs TensorFlow: pip install -e ".[tfds]"), then pass '
        '--config.dataset.data_dir=DIR; or copy a prepared copy there.')
  builder = tfds.builder_from_directory(directory)
  try:
    source = builder.as_data_source(cfg.split)
  except Exception as e:  # TFDS raises several types for unreadable formats / bad splits.
    raise ValueError(f'TFDS dataset {cfg.name!r} in {directory} cannot be read with random '
                     f'access for split {cfg.split!r} ({e}). It must be prepared as '
                     f'array_record: {prepare}') from e
  features = builder.info.features
  if a.tfds_audio_key not in features:
    raise ValueError(f'{cfg.name!r} has no feature {a.tfds_audio_key!r}; features: '
                     f'{list(features)}. Set --config.dataset.audio.tfds_audio_key.')
  label_key = a.tfds_label_key if a.tfds_label_key in features else ''
  num_classes = getattr(features[label_key], 'num_classes', None) if label_key else None
  source_rate = int(getattr(features[a.tfds_audio_key], 'sample_rate', None) or rate)
  examples = TfdsAudioExamples(source, a.tfds_audio_key, label_key, source_rate, rate, length)
  return sources.Source(
      examples, (length, 1), num_classes,
      f'tfds:{cfg.name}/{cfg.split} ({len(source)} clips from {source_rate} Hz, as '
      f'{length / rate:.3f} s at {rate} Hz; label {label_key or "none"})')


def load(cfg: ml_collections.ConfigDict, seed: int = 0) -> sources.Source:
  """The audio dataset cfg.name, split cfg.split (see the module docstring). `seed` (the
  run's) is unused: the synthesized data are a function of dataset.audio.seed."""
  del seed
  if cfg.name == NOTES:
    return _load_notes(cfg)
  if cfg.name == SPOKEN_DIGITS:
    return _load_spoken_digits(cfg)
  if cfg.name in TFDS_AUDIO:
    return _load_tfds_audio(cfg)
  raise ValueError(f'Unknown audio dataset {cfg.name!r}; choose one of '
                   f'{(NOTES, SPOKEN_DIGITS) + TFDS_AUDIO}.')

