"""WaveGAN: 1-D convolutions, phase shuffle, the audio datasets, WAV/spectrogram files, metrics.

References and tolerances:
- phase shuffle against numpy: np.pad(mode='reflect') and a slice per example (exact);
- both convolution implementations against numpy loops (float64 reference, float32 compute:
  atol 1e-4 on O(1) values of sums of <= 100 products), and 'matmul' against 'xla'
  (gradients of the input and kernel, and D's second-order input-gradient penalty
  gradient: rtol 1e-4);
- the spectrogram against scipy.signal.stft (same window, hop, scaling; atol 1e-5 on log
  magnitudes above the floor);
- note pitch: the spectral peak of a sine-timbre note within one DFT bin of its frequency;
- WAV files read back with the stdlib `wave` module (16-bit, rate, length, values +-1 LSB).
Slow (-m slow): G/D at the recipe size, 1 vs 8 devices, a smoke training run writing its
WAV and spectrogram files, evaluate() on a tiny budget, the spoken digits with espeak-ng.
"""

import os
import wave

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import signal

from configs import default
from configs import wavegan as wavegan_recipe
from gan_jax import data
from gan_jax.data import audio as audio_data
from gan_jax.metrics import audio as audio_metrics
from gan_jax.modalities import audio as audio_modality
from gan_jax.models import wavegan

from tests import helpers


def _notes_config(**audio):
  config = wavegan_recipe.get_config()
  config.dataset.audio.update(dict(train_size=24, test_size=8), **audio)
  return config


# ---- phase shuffle -------------------------------------------------------------------------

def _phase_shuffle_reference(x, phases, radius):
  """out[b, t] = x[b, reflect(t - phase_b)], via numpy's reflection padding."""
  length = x.shape[1]
  padded = np.pad(x, ((0, 0), (radius, radius), (0, 0)), mode='reflect')
  return np.stack([padded[b, radius - p:radius - p + length] for b, p in enumerate(phases)])


@pytest.mark.parametrize('radius', [1, 2, 3])
def test_phase_shuffle_matches_numpy_for_every_shift(radius):
  x = np.random.default_rng(0).normal(size=(2 * radius + 1, 9, 3)).astype(np.float32)
  phases = np.arange(-radius, radius + 1)  # Every shift once, one per example.
  shuffle = jax.jit(wavegan.phase_shuffle, static_argnums=2)
  out = np.asarray(shuffle(jnp.asarray(x), jnp.asarray(phases), radius))
  np.testing.assert_array_equal(out, _phase_shuffle_reference(x, phases, radius))
  # By hand for shift +1 of [a0..a8]: [a1, a0, a1, ..., a7] (reflection about a0).
  if radius >= 1:
    row = out[radius + 1, :, 0]
    np.testing.assert_array_equal(row, np.concatenate([x[radius + 1, [1, 0], 0],
                                                       x[radius + 1, 1:8, 0]]))


def test_phase_shuffle_module_draws_per_example_phases_in_train_mode_only():
  radius, n = 2, 64
  x = jnp.asarray(np.random.default_rng(1).normal(size=(n, 12, 2)), jnp.float32)
  module = wavegan.PhaseShuffle(radius)
  np.testing.assert_array_equal(module.apply({}, x, train=False), x)
  shuffle = jax.jit(lambda x, key: module.apply({}, x, train=True, rngs={'dropout': key}))
  out = np.asarray(shuffle(x, jax.random.key(0)))
  candidates = [_phase_shuffle_reference(np.asarray(x), [s] * n, radius)
                for s in range(-radius, radius + 1)]
  drawn = [[s for s, c in zip(range(-radius, radius + 1), candidates)
            if np.array_equal(out[b], c[b])] for b in range(n)]
  assert all(len(d) == 1 for d in drawn)  # Each example is exactly one of the shifts ...
  assert {d[0] for d in drawn} == set(range(-radius, radius + 1))  # ... and all occur.
  np.testing.assert_array_equal(out, shuffle(x, jax.random.key(0)))
  other = shuffle(x, jax.random.key(1))
  assert not np.array_equal(out, other)
  with pytest.raises(ValueError, match='longer than it'):
    wavegan.phase_shuffle(x[:, :2], jnp.zeros(n, jnp.int32), 2)


# ---- convolutions --------------------------------------------------------------------------

def _conv_reference(x, k, s, p):
  length = x.shape[1]
  kk = k.shape[0]
  xp = np.pad(x, ((0, 0), (p, p), (0, 0)))
  out = (length + 2 * p - kk) // s + 1
  return np.stack([np.einsum('nkc,kco->no', xp[:, s * m:s * m + kk], k) for m in range(out)],
                  axis=1)


def _conv_transpose_reference(x, k, s, p, op):
  n, length, _ = x.shape
  kk = k.shape[0]
  full = np.zeros((n, (length - 1) * s + kk + op, k.shape[2]))
  for i in range(length):
    for j in range(kk):
      full[:, s * i + j] += x[:, i] @ k[j]
  return full[:, p:p + (length - 1) * s - 2 * p + kk + op]


GEOMETRIES = [(25, 4, 16), (24, 4, 5), (5, 3, 7)]  # WaveGAN's, even k (no output padding), odd.


@pytest.mark.parametrize('kernel_size,stride,length', GEOMETRIES)
def test_convolutions_match_numpy(kernel_size, stride, length):
  rng = np.random.default_rng(kernel_size + length)
  p, op = wavegan.same_padding(kernel_size, stride)
  x = rng.normal(size=(2, length, 3))
  k = rng.normal(size=(kernel_size, 3, 4)) / np.sqrt(kernel_size * 3)
  conv_ref = _conv_reference(x, k, stride, p)
  up_ref = _conv_transpose_reference(x, k, stride, p, op)
  assert up_ref.shape[1] == stride * length  # 'same': L -> s L.
  if length % stride == 0:
    assert conv_ref.shape[1] == length // stride  # 'same': L -> L / s.
  xj, kj = jnp.asarray(x, jnp.float32), jnp.asarray(k, jnp.float32)
  for name in ('xla', 'matmul'):
    both = jax.jit(lambda x, k, name=name: (wavegan.CONV[name](x, k, stride, p),
                                            wavegan.CONV_TRANSPOSE[name](x, k, stride, p, op)))
    conv, up = both(xj, kj)
    np.testing.assert_allclose(conv, conv_ref, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(up, up_ref, atol=1e-4, err_msg=name)


def test_matmul_gradients_equal_xla_gradients():
  """First-order gradients of both layers and the second-order gradient of the gradient
  penalty through a strided conv: 'matmul' == 'xla' (rtol 1e-4)."""
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(2, 32, 3)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(25, 3, 4)) / 9, jnp.float32)
  g_up = jnp.asarray(rng.normal(size=(2, 128, 4)), jnp.float32)
  g_down = jnp.asarray(rng.normal(size=(2, 8, 4)), jnp.float32)

  def grads(name):
    up = lambda x, k: jnp.sum(wavegan.CONV_TRANSPOSE[name](x, k, 4, 11, 1) * g_up)
    down = lambda x, k: jnp.sum(jnp.tanh(wavegan.CONV[name](x, k, 4, 11)) * g_down)
    penalty = lambda k: jnp.sum(jax.grad(down)(x, k) ** 2)  # WGAN-GP's grad of a grad.
    return jax.grad(up, (0, 1))(x, k) + jax.grad(down, (0, 1))(x, k) + (jax.grad(penalty)(k),)

  for a, b in zip(jax.jit(lambda: grads('xla'))(), jax.jit(lambda: grads('matmul'))()):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_geometry_from_the_length():
  assert wavegan.geometry(16_384) == (5, 16)  # The paper: 5 layers from (16, 16 d).
  assert wavegan.geometry(4_096) == (4, 16)
  assert wavegan.geometry(8_192) == (4, 32)
  assert wavegan.geometry(16_384, num_layers=3) == (3, 256)
  assert wavegan.same_padding(25, 4) == (11, 1)  # The PyTorch ports' padding.
  assert wavegan.geometry(1_000) == (1, 250)  # Any L0 * 4**n with L0 >= 16.
  with pytest.raises(ValueError, match='L0'):
    wavegan.geometry(1_001)
  with pytest.raises(ValueError, match='same-length padding'):
    wavegan.same_padding(2, 4)


def test_full_size_shapes_match_the_paper():
  """The paper's WaveGAN (16384 samples, d = 64): G projects to (16, 1024), D's last map is
  (16, 1024); shapes by jax.eval_shape (nothing computed)."""
  model = helpers.model_config('wavegan', g_width=64, d_width=64)
  make_g, make_d = wavegan.build(model, (16_384, 1), None)
  z = jax.ShapeDtypeStruct((2, 100), jnp.float32)
  x = jax.ShapeDtypeStruct((2, 16_384, 1), jnp.float32)
  g_vars = jax.eval_shape(lambda z: make_g(None).init(jax.random.key(0), z, train=False), z)
  d_vars = jax.eval_shape(lambda x: make_d(None).init(jax.random.key(0), x, train=False), x)
  g, d = g_vars['params'], d_vars['params']
  assert g['project']['kernel'].shape == (100, 16 * 1024)
  assert [g[f'up{i}']['kernel'].shape for i in range(5)] == [
      (25, 1024, 512), (25, 512, 256), (25, 256, 128), (25, 128, 64), (25, 64, 1)]
  assert [d[f'down{i}']['kernel'].shape for i in range(5)] == [
      (25, 1, 64), (25, 64, 128), (25, 128, 256), (25, 256, 512), (25, 512, 1024)]
  assert d['logit']['kernel'].shape == (16 * 1024, 1)
  out = jax.eval_shape(lambda v, z: make_g(None).apply(v, z, train=False), g_vars, z)
  assert out.shape == (2, 16_384, 1)
  with pytest.raises(ValueError, match='waveforms'):
    wavegan.build(model, (28, 28, 1), None)


# ---- synthetic notes -----------------------------------------------------------------------

def test_notes_are_deterministic_bounded_and_balanced():
  a = _notes_config().dataset.audio
  x = audio_data.note(a, 5)
  chex.assert_shape(x, (4_096, 1))
  assert x.dtype == np.float32 and -1 <= x.min() and x.max() <= 1 and np.abs(x).max() > 0.1
  np.testing.assert_array_equal(x, audio_data.note(a, 5))
  assert not np.array_equal(x, audio_data.note(a, 6))
  b = ml_collections.ConfigDict(a.to_dict())
  b.seed = 1
  assert not np.array_equal(x, audio_data.note(b, 5))
  assert audio_data.note_parameters(a, 13)['label'] == 13 % 8
  assert {audio_data.note_parameters(a, i)['timbre'] for i in range(40)} == set(a.timbres)


def test_sine_note_peaks_at_its_fundamental():
  for rate, length in ((8_000, 4_096), (16_000, 16_384)):
    a = _notes_config(sample_rate=rate, length=length).dataset.audio
    sines = [i for i in range(200) if audio_data.note_parameters(a, i)['timbre'] == 'sine']
    for i in sines[:8]:
      p = audio_data.note_parameters(a, i)
      assert p['frequency'] == pytest.approx(audio_data.midi_to_hz(p['midi']), rel=0.01)
      spectrum = np.abs(np.fft.rfft(audio_data.note(a, i)[:, 0] * np.hanning(length)))
      peak = np.argmax(spectrum) * rate / length
      assert abs(peak - p['frequency']) <= rate / length, (i, peak, p['frequency'])
  assert audio_data.midi_to_hz(69) == 440.0
  assert audio_data.midi_to_hz(60) == pytest.approx(261.6256, abs=1e-4)


def test_splits_are_disjoint_index_ranges():
  config = _notes_config()
  d = config.dataset
  train = data.load_source(d)
  test_cfg = ml_collections.ConfigDict(d.to_dict())
  test_cfg.split = 'test'
  test = data.load_source(test_cfg)
  assert len(train) == 24 and len(test) == 8
  assert train.data_shape == (4_096, 1) and train.num_classes == 8
  np.testing.assert_array_equal(test[0]['image'], audio_data.note(d.audio, 24))
  np.testing.assert_array_equal(train[23]['image'], audio_data.note(d.audio, 23))
  np.testing.assert_array_equal(train.examples.labels, np.arange(24) % 8)
  assert audio_data.split_indices('train[:10]+test[-2:]', {'train': 24, 'test': 8}) == (
      [('train', i) for i in range(10)] + [('test', 6), ('test', 7)])
  with pytest.raises(ValueError, match='not a split'):
    audio_data.split_indices('validation', {'train': 24, 'test': 8})


def test_note_fields_are_checked():
  with pytest.raises(ValueError, match='above 0.45'):
    audio_data.load(_notes_config(sample_rate=1_000).dataset)
  with pytest.raises(ValueError, match='timbres'):
    audio_data.load(_notes_config(timbres=('sine', 'organ')).dataset)
  with pytest.raises(ValueError, match='distinct'):
    audio_data.load(_notes_config(pitches=(60, 60)).dataset)


# ---- spoken digits, TFDS -------------------------------------------------------------------

def test_spoken_digits_without_espeak_names_the_install_command(monkeypatch):
  monkeypatch.setattr(audio_data.shutil, 'which', lambda name: None)
  config = _notes_config()
  config.dataset.name = 'spoken_digits'
  with pytest.raises(FileNotFoundError, match='apt-get install espeak-ng'):
    data.load_source(config.dataset)


def test_tfds_audio_not_prepared_names_the_prepare_command(tmp_path):
  config = _notes_config()
  config.dataset.name, config.dataset.data_dir = 'speech_commands', str(tmp_path)
  with pytest.raises(FileNotFoundError, match='download_and_prepare.*data_dir'):
    data.load_source(config.dataset)


def test_tfds_audio_is_read_from_a_prepared_copy(tmp_path):
  """A stand-in 'speech_commands' (int16 clips of varying length, 3 classes) prepared as
  array_record is read back: int16 / 32768, zero-padded or cropped to the length."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class FakeSpeechCommands(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    name = 'speech_commands'
    VERSION = tfds.core.Version('0.0.1')

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
          'audio': tfds.features.Tensor(shape=(None,), dtype=np.int16),
          'label': tfds.features.ClassLabel(num_classes=3)}))

    def _split_generators(self, dl_manager):
      del dl_manager
      return {'train': self._generate_examples(4)}

    def _generate_examples(self, n):
      for i in range(n):
        # Clip i: 50 + 100 i samples of value 1000 (i + 1) (TFDS stores them shuffled).
        yield i, {'audio': np.full(50 + 100 * i, 1000 * (i + 1), np.int16), 'label': i % 3}

  FakeSpeechCommands(data_dir=str(tmp_path), file_format='array_record').download_and_prepare()
  config = _notes_config(length=256)
  config.dataset.name, config.dataset.data_dir = 'speech_commands', str(tmp_path)
  source = data.load_source(config.dataset)
  assert len(source) == 4 and source.num_classes == 3 and source.data_shape == (256, 1)
  seen = set()
  for j in range(4):
    x, label = source[j]['image'][:, 0], source[j]['label']
    i = round(float(x[0]) * 32768 / 1000) - 1
    want = audio_data.fit_length(np.full(50 + 100 * i, 1000 * (i + 1) / 32768.0), 256)
    np.testing.assert_allclose(x, want, atol=1e-7)  # int16 / 32768; padded or cropped.
    assert label == i % 3
    seen.add(i)
  assert seen == {0, 1, 2, 3}
  # A dataset at another rate is resampled (scipy.signal.resample_poly), then fitted.
  clip = (0.9 * np.sin(np.arange(640) / 5.0)).astype(np.float32)
  examples = audio_data.TfdsAudioExamples([{'audio': clip, 'label': 1}], 'audio', 'label',
                                          16_000, 8_000, 300)
  np.testing.assert_allclose(examples[0]['image'][:, 0], audio_data.fit_length(
      signal.resample_poly(clip.astype(np.float64), 1, 2), 300), atol=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(not audio_data.espeak_available(), reason='espeak-ng is not installed')
def test_spoken_digits_with_espeak(tmp_path):
  config = wavegan_recipe.get_config('spoken_digits')
  d = config.dataset
  d.data_dir = str(tmp_path)
  d.audio.update(train_size=20, test_size=0)
  source = data.load_source(d)
  assert len(source) == 20 and source.num_classes == 10
  clips, labels = source.examples.data, source.examples.labels
  chex.assert_shape(clips, (20, 8_192, 1))
  np.testing.assert_array_equal(labels, np.arange(20) % 10)
  peaks = np.abs(clips).max(axis=(1, 2))
  assert np.all((peaks > 0.45) & (peaks <= 0.91))  # Scaled to a peak in [0.5, 0.9].
  assert os.path.exists(audio_data.spoken_digits_cache_path(d))
  again = audio_data.speak(audio_data.utterance_parameters(d.audio, 3), 8_000, 8_192)
  np.testing.assert_array_equal(again, clips[3])  # espeak-ng is deterministic.


# ---- files and metrics ---------------------------------------------------------------------

def test_wav_files_are_16_bit_pcm(tmp_path):
  x = np.sin(np.linspace(0, 40, 1_000))[:, None] * np.linspace(0, 1.2, 1_000)[:, None]
  path = audio_modality.write_wav(str(tmp_path / 'a.wav'), x, 8_000)
  with wave.open(path) as f:
    assert (f.getsampwidth(), f.getnchannels(), f.getframerate(), f.getnframes()) == (
        2, 1, 8_000, 1_000)
    pcm = np.frombuffer(f.readframes(1_000), '<i2')
  np.testing.assert_allclose(pcm, np.clip(x[:, 0], -1, 1) * 32767, atol=1.0)
  config = _notes_config()
  config.eval.audio.spectrogram_grid = 2
  samples = np.stack([audio_data.note(config.dataset.audio, i) for i in range(3)])
  paths = audio_modality.write_outputs(config, samples, np.arange(3), str(tmp_path / 'out'))
  assert sorted(os.path.basename(p) for p in paths) == [
      'out.npy', 'out_0.wav', 'out_1.wav', 'out_2.wav', 'out_labels.npy',
      'out_spectrograms.png']
  np.testing.assert_array_equal(np.load(tmp_path / 'out.npy'), samples)
  with wave.open(str(tmp_path / 'out_2.wav')) as f:
    assert f.getnframes() == 4_096 and f.getframerate() == 8_000


def test_log_spectrogram_matches_scipy_stft():
  rng = np.random.default_rng(4)
  x = rng.normal(size=(3, 1_000)) * 0.3
  _, _, z = signal.stft(x, window='hann', nperseg=128, noverlap=128 - 48, boundary=None,
                        padded=False, axis=-1)  # (N, bins, frames), 'spectrum' scaling.
  want = np.log(np.abs(z).transpose(0, 2, 1)[..., :40] + audio_metrics.LOG_FLOOR)
  got = np.asarray(jax.jit(lambda x: audio_metrics.log_spectrogram(x, 128, 48, 40))(
      x[..., None]))
  assert got.shape == want.shape == (3, (1_000 - 128) // 48 + 1, 40)
  np.testing.assert_allclose(got, want, atol=1e-5)
  assert audio_metrics.num_bins(512, 8_000, 4_000.0) == 257
  assert audio_metrics.num_bins(1_024, 16_000, 4_000.0) == 257


def test_clip_metrics_histogram_and_kl():
  feats = np.random.default_rng(5).normal(size=(40, 3))
  uniform = np.tile(np.eye(4) * 30, (10, 1))  # Every class 10 times.
  m = audio_modality.clip_metrics(feats, feats, uniform, is_splits=1)
  assert m['class_histogram'] == [0.25] * 4 and m['classes_covered'] == 4
  assert m['class_histogram_kl_uniform'] == pytest.approx(0.0, abs=1e-12)
  assert m['fid'] == pytest.approx(0.0, abs=1e-3)
  assert m['is_mean'] == pytest.approx(4.0, rel=1e-3)  # Confident and uniform: K.
  collapsed = np.tile(np.eye(4)[:1] * 30, (40, 1))
  m = audio_modality.clip_metrics(feats, feats, collapsed, is_splits=1)
  assert m['class_histogram_kl_uniform'] == pytest.approx(np.log(4), abs=1e-12)
  assert m['classes_covered'] == 1


def test_clip_fid_is_float64_at_the_scale_of_classifier_features():
  """ReLU features of a confident classifier are large: the Frechet distance of two samples
  of one distribution must still match the float64 formula (scipy.linalg.sqrtm; rtol 1e-6),
  where float32 round-off alone exceeds it."""
  import scipy.linalg  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(6)
  mix = rng.normal(size=(16, 16))
  a = np.maximum(rng.normal(size=(600, 16)) @ mix * 300 + 500, 0)
  b = np.maximum(rng.normal(size=(600, 16)) @ mix * 300 + 500, 0)
  mu_a, mu_b = a.mean(0), b.mean(0)
  s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  want = (np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b)
          - 2 * np.trace(scipy.linalg.sqrtm(s_a @ s_b).real))
  got = audio_modality.clip_metrics(a, b, np.zeros((600, 2)), is_splits=1)['fid']
  assert want > 0 and got == pytest.approx(want, rel=1e-6)


def test_recipe_is_the_papers_training():
  config = wavegan_recipe.get_config()
  assert (config.model.name, config.loss.name, config.penalty.name) == (
      'wavegan', 'wasserstein', 'gradient_penalty')
  assert config.penalty.weight == 10.0 and config.d_steps_per_g_step == 5
  for player in (config.optim.g, config.optim.d):
    assert (player.name, player.lr, player.adam.b1, player.adam.b2) == ('adam', 1e-4, 0.5, 0.9)
  assert config.model.latent_distribution == 'uniform' and config.ema_decay == 0.0
  assert config.model.wavegan.phase_shuffle == 2 and config.model.wavegan.kernel_size == 25
  full = wavegan_recipe.get_config('full,seed=3')
  assert (full.dataset.audio.sample_rate, full.dataset.audio.length) == (16_000, 16_384)
  assert (full.model.g_width, full.model.d_width, full.batch_size, full.seed) == (64, 64, 64, 3)
  spoken = wavegan_recipe.get_config('spoken_digits').dataset
  assert (spoken.name, spoken.audio.length) == ('spoken_digits', 8_192)
  assert wavegan_recipe.get_config('full,spoken_digits').dataset.audio.length == 16_384
  smoke = wavegan_recipe.get_config('full,smoke')
  assert smoke.model.g_width <= 16 and smoke.batch_size <= 16
  assert default.get_config().model.wavegan.conv_impl == 'auto'


# ---- slow: networks, devices, a run, evaluate() --------------------------------------------

def _recipe_networks(config):
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  d = config.dataset.audio
  return models.build_networks(config.model, (int(d.length), 1))


@pytest.mark.slow
def test_networks_at_the_recipe_size_shapes_and_gradients():
  config = wavegan_recipe.get_config()
  networks = _recipe_networks(config)
  g_vars = networks.generator_init(jax.random.key(0))
  d_vars = networks.discriminator_init(jax.random.key(1))
  z = networks.sample_latents(jax.random.key(2), 4)
  assert float(jnp.abs(z).max()) <= 1.0  # z ~ U[-1, 1] as the paper.
  x = networks.generator_apply(g_vars, z, train=False)[0]
  chex.assert_shape(x, (4, 4_096, 1))
  assert float(jnp.abs(x).max()) <= 1.0
  rngs = {'dropout': jax.random.key(3)}
  logits = networks.discriminator_apply(d_vars, x, train=True, rngs=rngs)[0]
  chex.assert_shape(logits, (4,))
  eval_logits = networks.discriminator_apply(d_vars, x, train=False)[0]
  assert not np.allclose(logits, eval_logits)  # Phase shuffle only in training.

  def g_loss(gp):
    fake = networks.generator_apply({'params': gp}, z, train=True)[0]
    return -jnp.mean(networks.discriminator_apply(d_vars, fake, train=True, rngs=rngs)[0])

  def d_loss(dp):
    return jnp.mean(networks.discriminator_apply({'params': dp}, x, train=True, rngs=rngs)[0])

  for params, loss in ((g_vars['params'], g_loss), (d_vars['params'], d_loss)):
    grads = jax.jit(jax.grad(loss))(params)
    chex.assert_tree_all_finite(grads)
    for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
      assert float(jnp.abs(g).max()) > 0, jax.tree_util.keystr(path)
  # The critic scores each clip alone (phase shuffle per example, no batch statistics), as
  # the gradient penalty needs: d D(x_0) / d x_j = 0 for j != 0.
  grad0 = jax.jit(jax.grad(lambda x: networks.discriminator_apply(
      d_vars, x, train=True, rngs=rngs)[0][0]))(x)
  assert float(jnp.abs(grad0[1:]).max()) == 0.0 and float(jnp.abs(grad0[0]).max()) > 0


def _parallel_config(**fields):
  config = wavegan_recipe.get_config('smoke')
  config.dataset.audio.length = 256  # 2 stride-4 layers of the recipe's nets: faster compiles.
  default.set_optimizers(config, name='sgd', lr=0.01)  # Adam's first steps ~ lr * sign(g).
  for key, value in fields.items():
    config.update_from_flattened_dict({key: value})
  return config


@pytest.mark.slow
def test_one_and_eight_devices():
  """Without per-device randomness (phase shuffle off, no penalty) 1 device == pmap ==
  shard_map; with the recipe's phase shuffle and gradient penalty (their draws come from
  per-device keys, like dropout) pmap == shard_map. atol 1e-4: reductions in another order,
  2 SGD steps."""
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  from gan_jax import state as state_lib  # pylint: disable=g-import-not-at-top
  batch = {'image': jax.random.uniform(jax.random.key(1), (2, 16, 256, 1), minval=-1.0,
                                       maxval=1.0),
           'label': jnp.zeros((2, 16), jnp.int32)}
  for fields, compare_single in (({'model.wavegan.phase_shuffle': 0, 'penalty.name': 'none',
                                   'penalty.weight': 0.0}, True), ({}, False)):
    config = _parallel_config(**fields)
    networks = models.build_networks(config.model, (256, 1))
    state0 = state_lib.create_state(config, networks, jax.random.key(0))
    (s1, m1), runs = helpers.single_and_parallel(config, networks, state0, batch,
                                                 jax.random.key(3))
    (sp, mp), (ss, ms) = runs['pmap'], runs['shard_map']
    assert helpers.max_abs_diff(sp.g_params, ss.g_params) < 1e-4
    assert helpers.max_abs_diff(sp.d_params, ss.d_params) < 1e-4
    np.testing.assert_allclose(float(mp['d_loss']), float(ms['d_loss']), rtol=1e-4)
    if compare_single:
      for mode, (s, m) in runs.items():
        assert helpers.max_abs_diff(s1.g_params, s.g_params) < 1e-4, mode
        assert helpers.max_abs_diff(s1.d_params, s.d_params) < 1e-4, mode
        np.testing.assert_allclose(float(m['d_loss']), float(m1['d_loss']), rtol=1e-4)


@pytest.mark.slow
def test_smoke_run_writes_wavs_and_spectrograms_and_evaluates(tmp_path):
  from gan_jax import evaluation, sampling, train  # pylint: disable=g-import-not-at-top
  config = wavegan_recipe.get_config('smoke')
  config.parallel = 'none'
  config.eval.cache_dir = str(tmp_path / 'cache')
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  files = sorted(os.listdir(os.path.join(workdir, 'samples')))
  for step in (3, 6):
    assert f'step_{step:07d}_spectrograms.png' in files
    for k in range(4):
      assert f'step_{step:07d}_{k}.wav' in files
  with wave.open(os.path.join(workdir, 'samples', 'step_0000006_0.wav')) as f:
    assert (f.getsampwidth(), f.getframerate(), f.getnframes()) == (2, 8_000, 4_096)

  config, source, networks, state, step = sampling.load_run(workdir)
  config.eval.cache_dir = str(tmp_path / 'cache')
  results = evaluation.evaluate(config, networks, state, source, step=step, num_samples=40)
  p = results['protocol']
  assert p['kind'] == 'audio' and p['num_samples'] == 40 and p['num_reference'] == 32
  assert p['reference_split'] == 'test' and p['classifier_train_split'] == 'train'
  assert len(results['class_histogram']) == 8
  assert sum(results['class_histogram']) == pytest.approx(1.0)
  assert 0 <= results['class_histogram_kl_uniform'] <= np.log(8) + 1e-9
  assert 0 <= results['classifier_accuracy'] <= 1 and results['fid'] > 0
  # Real training clips in place of generated ones: the floor itself.
  real = evaluation.evaluate(config, networks, state, source, num_samples=40,
                             real_split='train')
  assert real['fid'] == pytest.approx(real['floor_fid'], rel=1e-9)
  assert real['protocol']['samples'] == 'real clips: first 40 of synthetic_notes/train'
  assert os.path.exists(p['weights_path'])  # Trained once, cached.
