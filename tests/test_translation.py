"""Image-to-image runs host-side: sample grids of held-out translations, launch/sample.py on
held-out examples and on the user's images, and the translation evaluation (PSNR/SSIM/FID
beside the task baseline; CycleGAN's class preservation, FID and cycle PSNR).

Fast: one pix2pix and one CycleGAN smoke config per module (one device), whose untrained
state goes through training's own start_run / write_samples / save_checkpoint, so the
grids, launch/sample.py and the evaluation (a 20-step evaluation classifier in a per-module
cache) run without compiling a train step. Slow (-m slow): both smoke recipes trained end
to end by train_and_evaluate with periodic evaluation.
"""

import json
import os
import sys
import types

import chex
import jax
import numpy as np
import pytest
from PIL import Image

from configs import cyclegan as cyclegan_config
from configs import pix2pix as pix2pix_config
from gan_jax import evaluation, sampling, train
from gan_jax import state as state_lib
from gan_jax.data import paired, unpaired

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_GRID = 4          # num_sample_images of the runs.
SIDE = 32             # The recipes pad the 28x28 digits to 32x32.
RECIPES = {'pix2pix': (pix2pix_config, 3), 'cyclegan': (cyclegan_config, 6)}  # Grid columns.
PAIRED_KEYS = ('psnr', 'ssim', 'fid', 'baseline_psnr', 'baseline_ssim', 'baseline_fid',
               'psnr_minus_baseline', 'ssim_minus_baseline', 'fid_minus_baseline')
CYCLE_KEYS = ('class_preservation', 'baseline_class_preservation', 'fid', 'baseline_fid',
              'cycle_psnr', 'cycle_ssim', 'class_preservation_minus_baseline',
              'fid_minus_baseline')
EVAL_KEYS = {'pix2pix': PAIRED_KEYS, 'cyclegan': CYCLE_KEYS}


def _config(name, data_dir, cache_dir):
  config = RECIPES[name][0].get_config('smoke')
  config.parallel = 'none'
  config.num_train_steps = 2
  config.batch_size = 8
  config.num_sample_images = NUM_GRID
  config.log_every = config.sample_every = config.checkpoint_every = config.eval_every = 2
  config.dataset.data_dir = data_dir
  config.eval.update(dict(cache_dir=cache_dir, classifier_steps=20, num_samples=100))
  return config


def _untrained_run(tmp_path_factory, data_dir, name):
  """A workdir with the initial state saved at step 1 and its grid samples/step_0000001.png,
  written by training's own functions."""
  root = tmp_path_factory.mktemp(name)
  config = _config(name, data_dir, str(root / 'cache'))
  workdir = str(root / 'run')
  run = train.start_run(config, workdir)
  state = state_lib.create_state(config, run.networks, jax.random.key(config.seed))
  try:
    train.write_samples(run, state, 1)
    train.save_checkpoint(run, state, 1)
  finally:
    run.writer.close()
    run.mngr.close()
  return types.SimpleNamespace(name=name, workdir=workdir, config=config,
                               networks=run.networks, state=state, source=run.source)


@pytest.fixture(scope='module')
def pix2pix_run(tmp_path_factory, tfds_data_dir):
  return _untrained_run(tmp_path_factory, tfds_data_dir, 'pix2pix')


@pytest.fixture(scope='module')
def cyclegan_run(tmp_path_factory, tfds_data_dir):
  return _untrained_run(tmp_path_factory, tfds_data_dir, 'cyclegan')


def _pixels(images):
  return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.int32)


def _cells(png, rows, cols, side=SIDE, upscale=2, padding=2):
  """The (rows, cols, side, side) grey cells of a visualize.save_image_grid PNG."""
  with Image.open(png) as im:
    assert im.size == (upscale * (cols * (side + padding) + padding),
                       upscale * (rows * (side + padding) + padding)), im.size
    grid = np.asarray(im, np.int32)[::upscale, ::upscale]
  step = side + padding
  return np.stack([[grid[padding + r * step:padding + r * step + side,
                         padding + c * step:padding + c * step + side] for c in range(cols)]
                   for r in range(rows)])


def _check_grid(workdir, step, name, config, networks, state):
  """samples/step_N.png: one row per held-out example, RECIPES' columns, the right images."""
  samples = os.path.join(workdir, 'samples')
  png = f'step_{step:07d}.png'
  assert png in os.listdir(samples)
  assert os.readlink(os.path.join(samples, 'latest.png')) == png
  cells = _cells(os.path.join(samples, png), NUM_GRID, RECIPES[name][1])
  held = sampling.held_out_inputs(config, NUM_GRID)
  key = jax.random.fold_in(jax.random.key(config.seed), 0x5A3)   # The grid's dropout key.
  out = sampling.translate(config, networks, state, held.a, jax.random.fold_in(key, 0))
  np.testing.assert_array_equal(cells[:, 0], _pixels(held.a[..., 0]))
  np.testing.assert_allclose(cells[:, 1], _pixels(out['output'][..., 0]), atol=1)
  if name == 'pix2pix':   # input | output | target
    np.testing.assert_array_equal(cells[:, 2], _pixels(held.b[..., 0]))
    # The held-out targets, not training digits: train[4500:] of the embedded set.
    digits, _ = paired.embedded_digits(config.dataset)
    np.testing.assert_array_equal(held.b[..., 2:30, 2:30, :], digits[4500:4500 + NUM_GRID])
  else:                   # A | A->B | A->B->A | B | B->A | B->A->B
    np.testing.assert_allclose(cells[:, 2], _pixels(out['reconstruction'][..., 0]), atol=1)
    np.testing.assert_array_equal(cells[:, 3], _pixels(held.b[..., 0]))
    uci, _ = unpaired.uci_digits('train[1500:]')
    np.testing.assert_array_equal(held.a[..., 2:30, 2:30, :], uci[:NUM_GRID])


# ---- sample grids -------------------------------------------------------------------------

@pytest.mark.parametrize('run_name', [
    'pix2pix_run', pytest.param('cyclegan_run', marks=pytest.mark.slow)])
def test_sample_grid_rows_are_held_out_translations(run_name, request):
  r = request.getfixturevalue(run_name)
  _check_grid(r.workdir, 1, r.name, r.config, r.networks, r.state)


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(RECIPES))
def test_smoke_recipe_trains_end_to_end_with_grids_and_evaluation(name, tmp_path,
                                                                   tfds_data_dir):
  """configs/<name>.py:smoke through train_and_evaluate (2 steps, evaluation at step 2)."""
  config = _config(name, tfds_data_dir, str(tmp_path / 'cache'))
  workdir = str(tmp_path / 'run')
  row = train.train_and_evaluate(config, workdir)
  assert row['step'] == 2 and np.isfinite(row['g_loss'])
  loaded, _, networks, state, step = sampling.load_run(workdir)
  _check_grid(workdir, 2, name, loaded, networks, state)
  saved = json.load(open(os.path.join(workdir, 'eval', 'step_2.json')))
  for k in EVAL_KEYS[name]:
    assert np.isfinite(saved[k]), k
  assert saved['protocol']['checkpoint_step'] == 2
  rows = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
  assert rows[-1]['eval/fid'] == pytest.approx(saved['fid'])
  # launch/evaluate.py's path (evaluate() on the loaded run) gives the periodic numbers.
  again = evaluation.evaluate(loaded, networks, state, None, step=step, log=lambda m: None)
  for k in EVAL_KEYS[name]:
    assert again[k] == pytest.approx(saved[k], rel=1e-5, abs=1e-6), k


# ---- evaluation ---------------------------------------------------------------------------

@pytest.mark.parametrize('run_name', [
    'pix2pix_run', pytest.param('cyclegan_run', marks=pytest.mark.slow)])
def test_evaluate_a_translation_run(run_name, request, tmp_path):
  r = request.getfixturevalue(run_name)
  results = evaluation.evaluate(r.config, r.networks, r.state, r.source, step=1,
                                log=lambda m: None)
  for k in EVAL_KEYS[r.name]:
    assert np.isfinite(results[k]), k
  p = results['protocol']
  assert p['kind'] == {'pix2pix': 'paired_translation', 'cyclegan': 'unpaired_translation'}[
      r.name]
  assert p['held_out_split'] == 'train[4500:]' and p['num_examples'] == 100
  assert p['classifier_train_split'] == 'train[:4500]' and p['checkpoint_step'] == 1
  assert 'share no examples' in p['classifier_held_out_check'] and p['generator'] == 'raw'
  saved = json.load(open(evaluation.write_results(results, str(tmp_path / 'e.json'))))
  assert saved['fid'] == results['fid']
  assert 'held-out examples' in evaluation.summary(results)
  with pytest.raises(ValueError, match='held-out split'):
    evaluation.evaluate(r.config, r.networks, r.state, r.source, real_split='train[:10]')


def _psnr_numpy(x, y):
  """Mean over images of 10 log10(2^2 / MSE) on the 28x28 digit (independent of JAX)."""
  x, y = np.asarray(x, np.float64)[:, 2:30, 2:30], np.asarray(y, np.float64)[:, 2:30, 2:30]
  return float(np.mean(10 * np.log10(4.0 / np.mean((x - y) ** 2, axis=(1, 2, 3)))))


def test_a_stand_in_equal_to_the_baseline_scores_the_baseline(pix2pix_run):
  config = pix2pix_run.config
  held = sampling.held_out_inputs(config, 100)
  baseline = paired.baseline({'condition': held.a}, config.dataset)
  r = evaluation.evaluate_translation(config, lambda x, d: {'output': baseline},
                                      held_out=held, log=lambda m: None)
  for k in ('psnr', 'ssim', 'fid', 'class_accuracy'):
    assert r[k] == r[f'baseline_{k}'] and r[f'{k}_minus_baseline'] == 0.0, k
  # PSNR against numpy on the digit region (float32 vs float64: 1e-4 dB).
  assert r['psnr'] == pytest.approx(_psnr_numpy(baseline, held.b), abs=1e-4)
  assert r['baseline_psnr'] < 20 and r['baseline_ssim'] < 0.9    # SR from 7x7 is lossy.
  # A stand-in returning the targets: SSIM 1, FID ~0 (round-off), far better than baseline.
  perfect = evaluation.evaluate_translation(config, lambda x, d: {'output': held.b},
                                            held_out=held, log=lambda m: None)
  assert perfect['ssim'] == pytest.approx(1.0, abs=1e-5)
  assert perfect['fid'] < 1e-2 < perfect['baseline_fid'] == r['baseline_fid']
  assert perfect['psnr_minus_baseline'] > 0 > perfect['fid_minus_baseline']


@pytest.mark.slow  # builds the CycleGAN run fixture (~20 s).
def test_cycle_identity_stand_in_scores_the_untranslated_baseline(cyclegan_run):
  config = cyclegan_run.config
  held = sampling.held_out_inputs(config, 100)
  noisy = np.clip(held.a + 0.1 * np.random.default_rng(0).standard_normal(held.a.shape), -1, 1)
  r = evaluation.evaluate_translation(
      config, lambda x, d: {'output': x, 'reconstruction': noisy}, held_out=held,
      log=lambda m: None)
  assert r['class_preservation'] == r['baseline_class_preservation']
  assert r['fid'] == r['baseline_fid'] and r['fid_minus_baseline'] == 0.0
  assert r['cycle_psnr'] == pytest.approx(_psnr_numpy(noisy, held.a), abs=1e-4)
  assert 0 < r['baseline_class_preservation'] < 1 and 0 < r['classifier_accuracy_b'] <= 1
  # The other direction, read by the UCI digits' SVM: the same stand-in, the same baseline.
  assert r['class_preservation_b_to_a'] == r['baseline_class_preservation_b_to_a']
  assert 0.9 < r['classifier_accuracy_a'] <= 1
  confusion = np.asarray(r['protocol']['class_preservation_b_to_a_confusion'])
  np.testing.assert_array_equal(confusion.sum(1), np.bincount(held.b_labels, minlength=10))
  # The identity stand-in's B->A->B through the UCI space is the projected B digit itself.
  projected = np.asarray(unpaired.uci_projection(held.b))
  assert r['cycle_psnr_b_projected'] == pytest.approx(_psnr_numpy(projected, held.b), abs=1e-4)


@pytest.mark.slow  # builds the CycleGAN run fixture (~20 s).
def test_class_preservation_of_a_known_labelling(cyclegan_run):
  """A stand-in translation maps A digit i to a held-out B digit whose classifier class is
  A's label for exactly the first 60 of 100 digits, another class for the rest: 0.6."""
  config = cyclegan_run.config
  held = sampling.held_out_inputs(config, 100)
  extractor = evaluation.build_extractor(config, log=lambda m: None)
  predicted = np.argmax(extractor(held.b)[1], -1)
  agree = np.arange(100) < 60
  chosen = []
  for label, same in zip(held.a_labels, agree):
    candidates = np.flatnonzero((predicted == label) == same)
    assert candidates.size, (label, same)
    chosen.append(candidates[0])
  stand_in = held.b[np.asarray(chosen)]
  r = evaluation.evaluate_translation(
      config, lambda x, d: {'output': stand_in, 'reconstruction': held.a}, held_out=held,
      log=lambda m: None)
  assert r['class_preservation'] == pytest.approx(0.6, abs=1e-6)
  confusion = np.asarray(r['protocol']['class_preservation_confusion'])  # [A label, B class]
  assert confusion.shape == (10, 10) and np.trace(confusion) == 60
  np.testing.assert_array_equal(confusion.sum(1), np.bincount(held.a_labels, minlength=10))
  np.testing.assert_array_equal(confusion.sum(0),
                                np.bincount(predicted[np.asarray(chosen)], minlength=10))
  per_class = r['protocol']['class_preservation_per_class']
  for k in range(10):
    expected = np.mean(agree[held.a_labels == k]) if np.any(held.a_labels == k) else None
    assert per_class[k] == (None if expected is None else pytest.approx(expected, abs=1e-4))


def test_top1_agreement_counts_argmax_matches():
  labels = np.arange(10) % 4
  logits = np.eye(4)[labels] * 5.0
  logits[:3] = np.eye(4)[(labels[:3] + 1) % 4]      # 3 of 10 rows predict another class.
  assert float(evaluation.classifier_lib.top1_agreement(logits, labels)) == pytest.approx(0.7)
  with pytest.raises(ValueError, match='one label per row'):
    evaluation.classifier_lib.top1_agreement(logits, labels[:5])


def test_classifier_split_overlapping_the_held_out_split_is_refused(tfds_data_dir):
  config = pix2pix_config.get_config('smoke')
  config.dataset.data_dir = tfds_data_dir
  assert 'share no examples' in evaluation.check_classifier_held_out(config)
  config.eval.classifier_split = 'train[4000:4600]'
  with pytest.raises(ValueError, match=r'trained on 100 held-out examples.*classifier_split'):
    evaluation.check_classifier_held_out(config)
  with pytest.raises(ValueError, match=r'trained on 100 held-out'):
    evaluation.check_config(config)     # Periodic evaluation fails before training.


# ---- preparing the user's images ----------------------------------------------------------

def _networks(shape=(SIDE, SIDE, 1)):
  return types.SimpleNamespace(condition_shape=shape, data_shape=shape)


def test_prepare_inputs_makes_the_dataset_images(tfds_data_dir):
  config = pix2pix_config.get_config('smoke')
  config.dataset.data_dir = tfds_data_dir
  held = sampling.held_out_inputs(config, 5)
  digits = paired.embedded_digits(config.dataset)[0][4500:4505]       # [-1, 1] floats.
  low = digits[..., 0].reshape(5, 7, 4, 7, 4).mean(axis=(2, 4))        # The 7x7 input.
  chex.assert_trees_all_equal(sampling.prepare_inputs(config, _networks(), low), held.a)
  uint8 = np.round((digits + 1) * 127.5).astype(np.uint8)              # 28x28 pixels: padded.
  np.testing.assert_allclose(sampling.prepare_inputs(config, _networks(), uint8), held.b,
                             atol=1e-6)
  rgb = np.repeat(uint8[0], 3, axis=-1)                                 # Grey as RGB: same.
  np.testing.assert_allclose(sampling.prepare_inputs(config, _networks(), [rgb])[0], held.b[0],
                             atol=1e-5)
  big = sampling.prepare_inputs(config, _networks(), np.zeros((2, 56, 40), np.uint8))
  assert big.shape == (2, SIDE, SIDE, 1)                                 # Resized, padded.
  np.testing.assert_allclose(big, -1.0, atol=1e-6)
  with pytest.raises(ValueError, match=r'must be in \[-1, 1\].*2 x - 1'):
    sampling.prepare_inputs(config, _networks(), np.full((1, 28, 28), 3.0, np.float32))
  with pytest.raises(ValueError, match="use direction='a_to_b'"):
    sampling.prepare_inputs(config, _networks(), low, 'b_to_a')


def test_prepare_inputs_makes_uci_digits_as_the_unpaired_dataset():
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  config = cyclegan_config.get_config('smoke')
  small = load_digits().images[1500:1504, ..., None] / 8.0 - 1.0        # 8x8 in [-1, 1].
  expected = paired.frame(unpaired.uci_digits('train[1500:1504]')[0], config.dataset)
  np.testing.assert_allclose(sampling.prepare_inputs(config, _networks(), small), expected,
                             atol=1e-5)


# ---- launch/sample.py ---------------------------------------------------------------------

def _sample_main(*args):
  sys.path.insert(0, REPO)
  from launch import sample  # pylint: disable=g-import-not-at-top
  sample.FLAGS.unparse_flags()
  sample.FLAGS(['sample.py', *args])
  sample.main(['sample.py'])


def test_sample_cli_pix2pix_rows_and_user_inputs(pix2pix_run, tmp_path):
  workdir, config = pix2pix_run.workdir, pix2pix_run.config
  _sample_main(f'--workdir={workdir}', '--num=3', f'--out={tmp_path / "rows.png"}')
  cells = _cells(tmp_path / 'rows.png', 3, 3)                           # input | output | target
  held = sampling.held_out_inputs(config, 3)
  np.testing.assert_array_equal(cells[:, 2], _pixels(held.b[..., 0]))
  # A .npy of 7x7 low-res digits (uint8) is translated as the held-out conditions are.
  digits = paired.embedded_digits(config.dataset)[0][4500:4503]
  low = digits[..., 0].reshape(3, 7, 4, 7, 4).mean(axis=(2, 4))
  np.save(tmp_path / 'low.npy', low.astype(np.float32))
  _sample_main(f'--workdir={workdir}', f'--inputs={tmp_path / "low.npy"}',
               f'--out={tmp_path / "out.npy"}')
  out = np.load(tmp_path / 'out.npy')
  loaded, _, networks, state, _ = sampling.load_run(workdir)
  expected = sampling.translate(loaded, networks, state, held.a, jax.random.key(0))['output']
  assert out.shape == (3, SIDE, SIDE, 1) and out.dtype == np.float32
  np.testing.assert_allclose(out, expected, atol=1e-5)
  # A folder of 28x28 PNGs -> a grid of rows input | output.
  folder = tmp_path / 'digits'
  folder.mkdir()
  for i, d in enumerate(digits):
    Image.fromarray(_pixels(d[..., 0]).astype(np.uint8)).save(folder / f'{i}.png')
  _sample_main(f'--workdir={workdir}', f'--inputs={folder}', f'--out={tmp_path / "f.png"}')
  cells = _cells(tmp_path / 'f.png', 3, 2)
  np.testing.assert_array_equal(cells[:, 0], _pixels(held.b[..., 0]))


@pytest.mark.slow  # builds the CycleGAN run fixture (~20 s).
def test_sample_cli_cyclegan_both_directions(cyclegan_run, tmp_path):
  workdir, config = cyclegan_run.workdir, cyclegan_run.config
  _sample_main(f'--workdir={workdir}', '--num=2', f'--out={tmp_path / "rows.png"}')
  _cells(tmp_path / 'rows.png', 2, 6)
  held = sampling.held_out_inputs(config, 2)
  np.save(tmp_path / 'b.npy', held.b)
  _sample_main(f'--workdir={workdir}', f'--inputs={tmp_path / "b.npy"}', '--direction=b_to_a',
               f'--out={tmp_path / "ba.png"}')
  cells = _cells(tmp_path / 'ba.png', 2, 3)                             # B | B->A | B->A->B
  np.testing.assert_array_equal(cells[:, 0], _pixels(held.b[..., 0]))


@pytest.mark.slow  # ~40 s: 40 steps of each recipe's smoke nets on the real digit tasks.
@pytest.mark.parametrize('name,term', [('pix2pix', 'g_l1'), ('cyclegan', 'g_cycle')])
def test_short_run_lowers_the_reconstruction_loss(name, term, tfds_data_dir):
  """40 steps on the real paired / unpaired digits (smoke nets, lr 1e-3): the L1 term that
  ties G's output to its target (pix2pix) or its input (CycleGAN's cycle) falls by a third."""
  from gan_jax import data  # pylint: disable=g-import-not-at-top
  from gan_jax import train_step as train_step_lib  # pylint: disable=g-import-not-at-top
  module = pix2pix_config if name == 'pix2pix' else cyclegan_config
  config = module.get_config('smoke')
  config.dataset.data_dir, config.parallel, config.batch_size = tfds_data_dir, 'none', 16
  config.optim.g.lr = config.optim.d.lr = 1e-3
  source, networks = sampling.build(config)
  state = state_lib.create_state(config, networks, jax.random.key(0))
  step = jax.jit(train_step_lib.make_train_step(config, networks))
  values = []
  for s in range(40):
    state, metrics = step(state, data.batch_for_step(source, s, 16, 1), jax.random.key(1))
    values.append(float(metrics[term]))
  first, last = np.mean(values[:5]), np.mean(values[-5:])
  assert last < 0.67 * first, (first, last)
