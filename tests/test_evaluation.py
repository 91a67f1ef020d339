"""Evaluation: evaluate() on a tiny trained run, the real-vs-real floor, caching, the toy path,
periodic evaluation during training and its seed, and the sample.py interpolation output.

One 2-step tiny DCGAN run (module fixture) with periodic evaluation on serves every test; the
evaluation classifier is trained for a few steps into a per-module cache directory.
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import helpers
from gan_jax import evaluation, models, sampling, train
from gan_jax import state as state_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_KEYS = ('fid', 'kid_mean', 'kid_std', 'is_mean', 'is_std', 'precision', 'recall',
              'density', 'coverage', 'class_histogram_kl')
PROTOCOL_KEYS = ('dataset', 'reference_split', 'num_reference', 'samples', 'num_samples',
                 'feature_extractor', 'weights_sha256', 'resize', 'is_splits', 'kid_subsets',
                 'kid_subset_size', 'pr_k', 'dc_k', 'generator', 'checkpoint_step')


def _eval_overrides(cache_dir):
  return {'eval.cache_dir': cache_dir, 'eval.classifier_steps': 20, 'eval.num_samples': 200,
          'eval.kid_subsets': 5, 'eval.kid_subset_size': 100}


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory, tfds_data_dir):
  """(workdir, cache_dir, classifier mtime) of a 2-step run evaluated at its last step."""
  root = tmp_path_factory.mktemp('eval')
  workdir, cache_dir = str(root / 'run'), str(root / 'cache')
  config = helpers.tiny_dcgan_config(**{
      'num_train_steps': 2, 'eval_every': 2, 'dataset.data_dir': tfds_data_dir,
      'ema_decay': 0.999,  # configs/dcgan.py keeps no EMA; exercise the EMA path here.
      **_eval_overrides(cache_dir)})
  train.train_and_evaluate(config, workdir)
  classifier_files = [f for f in os.listdir(cache_dir) if f.endswith('.msgpack')]
  assert len(classifier_files) == 1, classifier_files
  mtime = os.stat(os.path.join(cache_dir, classifier_files[0])).st_mtime_ns
  return workdir, cache_dir, mtime


@pytest.fixture(scope='module')
def loaded(tiny_run):
  return sampling.load_run(tiny_run[0])


def test_periodic_eval_writes_eval_metrics(tiny_run):
  workdir = tiny_run[0]
  rows = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
  eval_rows = [r for r in rows if any(k.startswith('eval/') for k in r)]
  assert [r['step'] for r in eval_rows] == [2]
  for k in IMAGE_KEYS:
    assert np.isfinite(eval_rows[0][f'eval/{k}']), k
  saved = json.load(open(os.path.join(workdir, 'eval', 'step_2.json')))
  assert saved['protocol']['checkpoint_step'] == 2
  assert os.listdir(os.path.join(workdir, 'tensorboard'))


def test_evaluate_fields_protocol_and_cache_reuse(tiny_run, loaded, tmp_path):
  workdir, cache_dir, classifier_mtime = tiny_run
  config, source, networks, state, step = loaded
  evaluation._MEMORY_CACHE.clear()  # Force the on-disk cache to be read.  pylint: disable=protected-access
  messages = []
  results = evaluation.evaluate(config, networks, state, source, key=jax.random.key(1),
                                step=step, num_samples=200, log=messages.append)
  # Nothing retrained or recomputed: the classifier file is untouched, reference loaded.
  assert not any('training it now' in m for m in messages), messages
  assert results['protocol']['reference_cache_status'] == 'loaded'
  clf = [f for f in os.listdir(cache_dir) if f.endswith('.msgpack')][0]
  assert os.stat(os.path.join(cache_dir, clf)).st_mtime_ns == classifier_mtime
  for k in IMAGE_KEYS:
    assert np.isfinite(results[k]), k
  p = results['protocol']
  for k in PROTOCOL_KEYS:
    assert k in p, k
  assert p['num_samples'] == 200 and p['num_reference'] == 5000
  assert p['reference_split'] == 'train' and p['generator'] == 'ema'
  assert p['feature_extractor'] == 'classifier' and len(p['weights_sha256']) == 64
  assert p['kid_subset_size'] == 100 and p['kid_subsets'] == 5 and p['pr_k'] == 3
  path = evaluation.write_results(results, str(tmp_path / 'out.json'))
  assert json.load(open(path))['protocol']['checkpoint_step'] == step
  assert sum(json.load(open(path))['class_histogram']) == pytest.approx(1.0)


def test_eval_seed_keys_periodic_and_later_evaluation_alike(tiny_run, loaded):
  """evaluate() without a key uses key(eval.seed), as periodic evaluation did at step 2."""
  config, source, networks, state, step = loaded
  periodic = json.load(open(os.path.join(tiny_run[0], 'eval', 'step_2.json')))
  again = evaluation.evaluate(config, networks, state, source, step=step, log=lambda m: None)
  assert periodic['protocol']['seed'] == again['protocol']['seed'] == 0
  for k in ('fid', 'kid_mean', 'precision', 'recall'):
    assert again[k] == pytest.approx(periodic[k], rel=1e-5, abs=1e-7), k
  config = config.copy_and_resolve_references()
  config.eval.seed = 1
  other = evaluation.evaluate(config, networks, state, source, step=step, log=lambda m: None)
  assert other['protocol']['seed'] == 1 and other['fid'] != again['fid']


def test_a_config_without_eval_block_is_a_clear_error(loaded):
  config = loaded[0].copy_and_resolve_references()
  del config['eval']
  with pytest.raises(ValueError, match=r'no eval block.*defaults=configs.default.get_config'):
    evaluation.eval_config(config)


def test_real_floor_below_generated(loaded):
  config, source, networks, state, step = loaded
  kwargs = dict(key=jax.random.key(0), step=step, num_samples=200,
                reference_split='train[:50%]', log=lambda m: None)
  real = evaluation.evaluate(config, networks, state, source, real_split='train[50%:]',
                             **kwargs)
  fake = evaluation.evaluate(config, networks, state, source, **kwargs)
  assert real['protocol']['num_reference'] == 2500
  assert real['protocol']['generator'] is None
  assert 'train[50%:]' in real['protocol']['samples']
  assert real['fid'] < fake['fid']
  assert real['kid_mean'] < fake['kid_mean']
  assert real['class_histogram_kl'] < fake['class_histogram_kl']
  assert real['precision'] > fake['precision'] and real['recall'] > fake['recall']


def test_inception_without_weights_is_a_clear_error(loaded):
  config = loaded[0].copy_and_resolve_references()
  config.eval.feature_extractor = 'inception'
  config.eval.inception_path = '/nonexistent/pt_inception-2015-12-05-6726825d.pth'
  with pytest.raises(FileNotFoundError, match='pt_inception-2015-12-05-6726825d.pth'):
    evaluation.build_extractor(config)
  config.eval.inception_path = ''
  with pytest.raises(FileNotFoundError, match='inception_path'):
    evaluation.build_extractor(config)


def test_toy_mode_metrics():
  sys.path.insert(0, REPO)
  from configs import toy_ring  # pylint: disable=g-import-not-at-top
  config = toy_ring.get_config('smoke')
  networks = models.build_networks(config.model, (2,))
  state = state_lib.create_state(config, networks, jax.random.key(0))
  fake = evaluation.evaluate(config, networks, state, None, key=jax.random.key(0), step=0,
                             log=lambda m: None)
  real = evaluation.evaluate(config, networks, state, None, key=jax.random.key(0), step=0,
                             real_split='', log=lambda m: None)
  for r in (fake, real):
    assert set(r) >= {'modes_captured', 'num_modes', 'high_quality_fraction', 'reverse_kl',
                      'protocol'}
    assert r['protocol']['num_samples'] == 2500 and r['num_modes'] == 8
  assert real['modes_captured'] == 8 and real['high_quality_fraction'] > 0.98  # 1 - e^{-4.5} = 0.989 in 2-D
  assert real['reverse_kl'] < 0.01
  assert fake['protocol']['generator'] == 'ema'


def test_slerp_endpoints_and_norm():
  sys.path.insert(0, REPO)
  from launch import sample  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  z0, z1 = rng.normal(size=(3, 8)), rng.normal(size=(3, 8))
  z1 = z1 / np.linalg.norm(z1, axis=-1, keepdims=True) * np.linalg.norm(z0, axis=-1,
                                                                       keepdims=True)
  path = sample.slerp(z0, z1, np.linspace(0, 1, 5))
  assert path.shape == (3, 5, 8)
  np.testing.assert_allclose(path[:, 0], z0, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(path[:, -1], z1, rtol=1e-5, atol=1e-6)
  # Between equal-norm endpoints, slerp stays on the sphere (lerp would shrink).
  np.testing.assert_allclose(np.linalg.norm(path, axis=-1),
                             np.repeat(np.linalg.norm(z0, axis=-1)[:, None], 5, 1), rtol=1e-5)


def test_sample_interpolation_and_per_class_needs_a_conditional_model(loaded, tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, REPO)
  from launch import sample  # pylint: disable=g-import-not-at-top
  _, _, networks, state, _ = loaded
  png, gif = sample.write_interpolation(networks, state.generator_variables(), jax.random.key(0),
                                        3, 10, str(tmp_path / 'x'))
  with Image.open(gif) as im:
    assert im.n_frames == 10
  with Image.open(png) as im:  # 3 rows x 10 columns of 28 px (+2 px padding), upscaled 4x.
    assert im.size == (4 * (10 * 30 + 2), 4 * (3 * 30 + 2))
  with pytest.raises(ValueError, match='conditional'):
    sample.write_per_class(networks, state.generator_variables(), 4, jax.random.key(0),
                           str(tmp_path / 'c'))
  with pytest.raises(ValueError, match='unconditional'):
    sample.requested(networks, 4, jax.random.key(0), label=1)
  assert not list(tmp_path.glob('c_*'))


@pytest.mark.slow
def test_evaluate_cli_writes_json(tiny_run):
  workdir, cache_dir, _ = tiny_run
  out = subprocess.run(
      [sys.executable, os.path.join(REPO, 'launch', 'evaluate.py'), f'--workdir={workdir}',
       '--num_samples=120', f'--cache_dir={cache_dir}'], capture_output=True, text=True,
      check=True, env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert 'fid' in out.stdout
  saved = json.load(open(os.path.join(workdir, 'eval', 'step_2.json')))
  assert saved['protocol']['num_samples'] == 120 and 'evaluate.py' in saved['protocol']['command']


@pytest.mark.slow
def test_inception_extractor_path(loaded, tmp_path):
  """The inception protocol end to end with random FID-Inception weights saved as msgpack."""
  import flax.serialization  # pylint: disable=g-import-not-at-top
  from gan_jax.metrics import inception  # pylint: disable=g-import-not-at-top
  weights = str(tmp_path / 'random_inception.msgpack')
  with open(weights, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(jax.tree.map(
        np.asarray, inception.init_inception(jax.random.key(0)))))
  config, source, networks, state, step = loaded
  config = config.copy_and_resolve_references()
  config.eval.update(dict(feature_extractor='inception', inception_path=weights,
                          num_reference=20, inception_batch_size=10, kid_subset_size=10,
                          cache_dir=str(tmp_path / 'cache')))
  results = evaluation.evaluate(config, networks, state, source, key=jax.random.key(0),
                                step=step, num_samples=20, log=lambda m: None)
  p = results['protocol']
  assert p['feature_extractor'] == 'inception' and p['num_reference'] == 20
  assert p['weights_sha256'] == evaluation.classifier_lib.file_sha256(weights)
  assert '299' in p['resize'] and 'class_histogram_kl' not in results
  for k in ('fid', 'kid_mean', 'is_mean', 'precision', 'recall', 'density', 'coverage'):
    assert np.isfinite(results[k]), k


def test_generator_memorization_against_brute_force_nearest_neighbours(monkeypatch):
  """g_nearer_train_fraction / g_nn_ratio against a broadcast numpy nearest-neighbour
  computation (tolerance 1e-9: both float64); copies of training images read as memorized
  (fraction 1, ratio 0); the real floor uses the held-out images after the first M."""
  from gan_jax.data import sources  # pylint: disable=g-import-not-at-top
  config = helpers.tiny_dcgan_config()
  config.dataset.split, config.dataset.eval_split = 'train[:40]', 'train[40:]'
  rng = np.random.default_rng(3)
  splits = {'train[:40]': rng.uniform(-1, 1, (40, 6, 6, 1)).astype(np.float32),
            'train[40:]': rng.uniform(-1, 1, (70, 6, 6, 1)).astype(np.float32)}
  monkeypatch.setattr(evaluation, 'load_split', lambda cfg, split, source=None: sources.Source(
      sources.ArraySource(splits[split], np.zeros(len(splits[split]), np.int64)),
      (6, 6, 1), None, split))

  def reference(x, m):
    x = x.reshape(len(x), 1, -1).astype(np.float64)
    d_t = np.sqrt(((x - splits['train[:40]'][:m].reshape(1, m, -1)) ** 2).sum(-1)).min(1)
    d_h = np.sqrt(((x - splits['train[40:]'][:m].reshape(1, m, -1)) ** 2).sum(-1)).min(1)
    return np.mean(d_t < d_h), np.mean(d_t / d_h)

  samples = rng.uniform(-1, 1, (25, 6, 6, 1)).astype(np.float32)
  results, protocol = evaluation.generator_memorization(config, samples, None, 30)
  fraction, ratio = reference(samples, 30)
  assert results['g_nearer_train_fraction'] == pytest.approx(fraction, abs=1e-9)
  assert results['g_nn_ratio'] == pytest.approx(ratio, rel=1e-9)
  floor = reference(splits['train[40:]'][30:60], 30)  # Held-out images after the first M.
  assert results['real_nearer_train_fraction'] == pytest.approx(floor[0], abs=1e-9)
  assert results['real_nn_ratio'] == pytest.approx(floor[1], rel=1e-9)
  assert 'first 30 images of train[:40]' in protocol and '30 real held-out images' in protocol

  copies = splits['train[:40]'][:12] + 1e-4  # M = min(num, 40, 70 // 2) = 35.
  results, protocol = evaluation.generator_memorization(config, copies, None, 100)
  assert results['g_nearer_train_fraction'] == 1.0 and results['g_nn_ratio'] < 1e-2
  assert results['real_nearer_train_fraction'] == pytest.approx(
      reference(splits['train[40:]'][35:], 35)[0], abs=1e-9)
  assert 'first 35 of train[40:]' in protocol and '35 real held-out images' in protocol

  splits['train[40:]'] = splits['train[40:]'][:1]  # Too few held-out images: no numbers.
  results, protocol = evaluation.generator_memorization(config, copies, None, 100)
  assert results == {} and 'not measured' in protocol
