"""Sampling a generator and loading a saved run; training and evaluation build on it.

- `build(config)` -> (source, networks): the data decides the data shape and classes.
- `fixed_latents(config, networks)`: the latents (and labels) of every sample grid of a run.
- `make_sampler(networks)`, `generate(networks, state, num, key)`: samples in the data's range.
- Class and code control: `balanced_labels`, `class_grid_inputs` (one row per class, or per
  InfoGAN categorical value), `code_latents` (InfoGAN latents with chosen codes),
  `traversal_latents` (a continuous code swept along each row).
- `load_run(workdir)` -> (config, source, networks, state, step) of the newest checkpoint
  that loads.

Image-to-image runs feed G images, not latents. `translation_kind(config)` is the one place
that decides how a run is sampled ('paired': pix2pix's G(condition); 'cycle': CycleGAN's
g_ab / g_ba; None: latents); training's sample grids, launch/sample.py and the evaluation
all go through it.
- `held_out_inputs(config, num)`: the first `num` held-out examples of both domains (A = the
  dataset's 'condition', B = its 'image'), from dataset.eval_split (and domain_a_eval_split).
- `translate(config, networks, state, images, key)`: G's translations A -> B (or B -> A and
  the cycle reconstructions for CycleGAN).
- `prepare_inputs(config, images, direction)`: user images -> the run's input format.
- `fixed_grid_inputs(config, networks)` / `make_grid_sampler(config, networks)`: a run's
  sample grid (latent samples, or rows input | output | target).
"""

import dataclasses
import json
import os
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import checkpointing, data, metric_logging, models, population
from gan_jax import state as state_lib
from gan_jax.data import paired, unpaired


def build(config: ml_collections.ConfigDict) -> tuple[data.Source, models.Networks]:
  """(source, networks) for a config: the data decides the data shape and classes."""
  source = data.load_source(config.dataset, seed=config.seed)
  num_classes = None
  if config.dataset.conditional:
    if not source.num_classes:
      raise ValueError(f'dataset.conditional=True but {source.description} has no labels; '
                       'use a labelled dataset or --config.dataset.conditional=False.')
    num_classes = source.num_classes
  networks = models.build_networks(config.model, source.data_shape, num_classes,
                                   condition_shape=source.condition_shape)
  return source, networks


def fixed_latents(config: ml_collections.ConfigDict, networks: models.Networks):
  """(z, labels or None): the latents of every sample grid of a run (a function of the seed)."""
  k_z, _ = jax.random.split(jax.random.fold_in(jax.random.key(config.seed), 0x5A3))
  n = int(config.num_sample_images)
  labels = jnp.arange(n) % networks.num_classes if networks.num_classes else None
  return networks.sample_latents(k_z, n), labels


def make_sampler(networks: models.Networks) -> Callable:
  """jit-compiled (variables, z, labels) -> samples, generator in inference mode."""
  return jax.jit(lambda variables, z, y: networks.generator_apply(variables, z, y,
                                                                   train=False)[0])


def generate(networks: models.Networks, state: state_lib.GANState, num: int, key: jax.Array,
             *, ema: bool = True, labels=None, latents=None,
             batch_size: int = 500) -> np.ndarray:
  """`num` samples from the generator (EMA weights if `ema`), in the data's own range
  (float32; int32 token ids (num, seq_len) for sequence generators).

  Batch i draws its latents (and labels, for a conditional model without `labels`) from
  fold_in(key, i), so the samples depend on `batch_size`. `latents` (num, latent_dim), e.g.
  from `code_latents`, replaces the drawn latents.
  """
  sampler = make_sampler(networks)
  variables = state.generator_variables(ema=ema)
  out = []
  for i, start in enumerate(range(0, num, batch_size)):
    n = min(batch_size, num - start)
    k_z, k_y = jax.random.split(jax.random.fold_in(key, i))
    z = (networks.sample_latents(k_z, n) if latents is None
         else jnp.asarray(latents[start:start + n], jnp.float32))
    y = None
    if networks.num_classes:
      y = labels[start:start + n] if labels is not None else networks.sample_labels(k_y, n)
    samples = np.asarray(sampler(variables, z, y))
    # Integer outputs (token ids of sequence generators) keep their dtype.
    out.append(samples if np.issubdtype(samples.dtype, np.integer) else
               samples.astype(np.float32))
  return np.concatenate(out)


def balanced_labels(num_classes: int, per_class: int) -> np.ndarray:
  """(num_classes * per_class,) int32: per_class of class 0, then of class 1, ..."""
  return np.repeat(np.arange(num_classes, dtype=np.int32), per_class)


def code_latents(networks: models.Networks, key: jax.Array, num: int, *, categorical=None,
                 continuous=None) -> np.ndarray:
  """InfoGAN latents (num, latent_dim) with chosen codes: `categorical` (num,) ints and/or
  `continuous` (num, M) values replace the drawn ones (noise and the rest drawn from key as
  networks.sample_codes draws them)."""
  if networks.latent_codes is None:
    raise ValueError('This run has no InfoGAN codes (model.d_q_head is off).')
  noise, cat, cont = networks.sample_codes(key, num)
  if categorical is not None:
    categorical = np.asarray(categorical, np.int32)
    k = networks.latent_codes[0]
    if categorical.shape != (num,) or categorical.min() < 0 or categorical.max() >= k:
      raise ValueError(f'categorical codes must be {num} ints in [0, {k}); got '
                       f'{categorical.shape} in [{categorical.min()}, {categorical.max()}].')
    cat = jnp.asarray(categorical)
  if continuous is not None:
    cont = jnp.asarray(continuous, jnp.float32).reshape(cont.shape)
  return np.asarray(networks.code_latents(noise, cat, cont))


def class_grid_inputs(networks: models.Networks, key: jax.Array, per_row: int):
  """(latents, labels, rows) of a grid with one row per class (conditional model) or per
  categorical code value (InfoGAN): row r holds per_row samples of class / code r."""
  if networks.num_classes:
    rows = networks.num_classes
    return (np.asarray(networks.sample_latents(key, rows * per_row)),
            balanced_labels(rows, per_row), rows)
  if networks.latent_codes is None:
    raise ValueError('One row per class needs a conditional model (trained with '
                     '--config.dataset.conditional=True) or InfoGAN codes; this run has '
                     'neither.')
  rows = networks.latent_codes[0]
  return (code_latents(networks, key, rows * per_row,
                       categorical=balanced_labels(rows, per_row)), None, rows)


def traversal_latents(networks: models.Networks, key: jax.Array, code: int,
                      values: Sequence[float]) -> np.ndarray:
  """InfoGAN traversal of continuous code `code`: (K * len(values), latent_dim); row k has
  categorical value k and one fixed noise draw, the other continuous codes at 0, and code
  `code` taking `values` along the row (Chen et al. 2016, Fig. 2 uses -2 .. 2)."""
  if networks.latent_codes is None:
    raise ValueError('Traversals need InfoGAN codes (model.d_q_head is off).')
  k, m = networks.latent_codes
  if not 0 <= code < m:
    raise ValueError(f'Continuous code {code} out of range: the run has {m}.')
  steps = len(values)
  noise = networks.sample_codes(key, k)[0]
  cont = np.zeros((k, steps, m), np.float32)
  cont[:, :, code] = np.asarray(values, np.float32)[None]
  return np.asarray(networks.code_latents(jnp.repeat(noise, steps, axis=0),
                                          jnp.repeat(jnp.arange(k), steps),
                                          cont.reshape(k * steps, m)))


def _style_inputs(networks: models.Networks, what: str):
  """num_ws of a StyleGAN2 run's generator; a clear error for other runs."""
  if networks.generator_input_shape is not None or len(networks.data_shape) != 3:
    raise ValueError(f'{what} needs a StyleGAN2 run (model.name=stylegan2).')
  from gan_jax.models import stylegan2  # pylint: disable=g-import-not-at-top
  stylegan2.generator_module(networks)  # Raises for other architectures.
  return stylegan2.num_styles(networks)


def style_mixing_grid(networks: models.Networks, variables, key: jax.Array, *, rows: int,
                      cols: int, cutoff: Optional[int] = None) -> tuple[np.ndarray, int]:
  """StyleGAN2's style-mixing figure: (images ((rows + 1) * (cols + 1), H, W, C), cols + 1).

  Row 0 holds the `cols` column sources B_j (after a blank corner), column 0 the `rows` row
  sources A_i; cell (i, j) takes the coarse styles w_0 .. w_{cutoff-1} of A_i and the fine
  styles w_cutoff .. of B_j (default cutoff: half of num_ws, i.e. 4x4 and 8x8 from A at 32 px).
  """
  num_ws = _style_inputs(networks, 'The style-mixing grid')
  cutoff = num_ws // 2 if cutoff is None else int(cutoff)
  if not 0 < cutoff < num_ws:
    raise ValueError(f'The crossover layer must be in 1 .. {num_ws - 1} (the run has {num_ws} '
                     f'styles); got {cutoff}.')
  k_a, k_b = jax.random.split(key)
  z_a, z_b = networks.sample_latents(k_a, rows), networks.sample_latents(k_b, cols)
  sampler = make_sampler(networks)
  sources_a = np.asarray(sampler(variables, z_a, None))
  sources_b = np.asarray(sampler(variables, z_b, None))
  mixed = np.asarray(sampler(variables, {
      'z': jnp.repeat(z_a, cols, axis=0), 'z_mix': jnp.tile(z_b, (rows, 1)),
      'mix_cutoff': jnp.full((rows * cols,), cutoff, jnp.int32)}, None))
  blank = np.zeros_like(sources_a[:1])
  header = np.concatenate([blank, sources_b])
  body = [np.concatenate([sources_a[i:i + 1], mixed[i * cols:(i + 1) * cols]])
          for i in range(rows)]
  return np.concatenate([header] + body), cols + 1


def truncation_sweep(networks: models.Networks, variables, key: jax.Array, *, rows: int,
                     steps: int) -> tuple[np.ndarray, np.ndarray, int]:
  """The truncation trick: (images (rows * steps, H, W, C), psi values (steps,), steps); row i
  is one latent at psi = 1 .. 0 (w' = w_avg + psi (w - w_avg); psi = 0 is the average w)."""
  _style_inputs(networks, 'The truncation sweep')
  if steps < 2:
    raise ValueError(f'A truncation sweep needs >= 2 psi values; got {steps}.')
  psis = np.linspace(1.0, 0.0, steps).astype(np.float32)
  z = networks.sample_latents(key, rows)
  images = make_sampler(networks)(variables, {
      'z': jnp.repeat(z, steps, axis=0), 'psi': jnp.tile(jnp.asarray(psis), rows)}, None)
  return np.asarray(images), psis, steps


def load_run(workdir: str, step: Optional[int] = None, *,
             defaults: Optional[ml_collections.ConfigDict] = None,
             log: Callable[[str], None] = metric_logging.log, member: Optional[int] = None):
  """Loads a finished or running run: (config, source, networks, host GANState, step).

  The config comes from the checkpoint itself, so the networks match the saved weights.
  Without `step`, the newest checkpoint that loads: a damaged one is skipped with a warning
  (and left in place). `defaults` (e.g. configs/default.py's get_config()) fills the fields
  an older run's saved config lacks. A population's run (gan_jax.population) needs `member`:
  member i's config (its seed and current hyperparameters) and state are returned.
  """
  ckpt_dir = os.path.join(os.path.abspath(workdir), 'checkpoints')
  if not os.path.isdir(ckpt_dir):
    raise FileNotFoundError(f'No checkpoints in {workdir}; train first with launch/main.py '
                            f'--workdir={workdir}.')
  mngr = checkpointing.manager(ckpt_dir)
  built = {}  # Saved config (as JSON) -> (config, source, networks, state shapes).

  def load(s):
    saved = checkpointing.restore_config(mngr, s)
    key = json.dumps(saved, sort_keys=True)
    if key not in built:
      if defaults is None:
        config = ml_collections.ConfigDict(saved)
      else:
        config, filled = checkpointing.fill_missing(saved, defaults)
        if filled:
          log(f'The config saved at step {s} lacks {", ".join(filled)} (older code): using '
              'the defaults.')
      source, networks = build(config)
      if population.enabled(config):
        shapes = jax.eval_shape(lambda: population.create_population(
            config, networks, population.member_keys(config)[0]))
      else:
        shapes = jax.eval_shape(lambda: state_lib.create_state(config, networks,
                                                               jax.random.key(0)))
      built[key] = (config, source, networks, shapes)
    config, source, networks, shapes = built[key]
    state = checkpointing.restore_state(mngr, shapes, s)
    if population.enabled(config) or member is not None:
      config, state = population.member_of_run(config, state, member)
    return config, source, networks, state

  try:
    if step is None:
      (config, source, networks, state), step, _ = checkpointing.restore_newest(mngr, load,
                                                                                 log)
    elif step not in mngr.all_steps():
      raise FileNotFoundError(f'No checkpoint for step {step} in {ckpt_dir}; available: '
                              f'{sorted(mngr.all_steps())}.')
    else:
      config, source, networks, state = load(step)
  finally:
    mngr.close()
  return config, source, networks, state, step


# ---- image-to-image translation ----------------------------------------------------------

# How each image-to-image objective feeds its generator: 'paired' = G(A), A the condition
# image (pix2pix); 'cycle' = the G player called with {'a': A} (g_ab) and/or {'b': B} (g_ba)
# (CycleGAN). Every other objective feeds latents.
TRANSLATION_OBJECTIVES = {'pix2pix': 'paired', 'cyclegan': 'cycle'}
DIRECTIONS = ('a_to_b', 'b_to_a')
# (input domain, output key, reconstruction key) of G's outputs for each direction.
_DIRECTION_KEYS = {'a_to_b': ('a', 'fake_b', 'rec_a'), 'b_to_a': ('b', 'fake_a', 'rec_b')}
# Datasets that frame a 28x28 digit with the background -1 (gan_jax/data/paired.py).
DIGIT_DATASETS = ('paired_digits', 'unpaired_digits')
GRID_COLUMNS = {'paired': ('input', 'output', 'target'),
                'cycle': ('A', 'A->B', 'A->B->A', 'B', 'B->A', 'B->A->B')}


def translation_kind(config: ml_collections.ConfigDict) -> Optional[str]:
  """'paired' (pix2pix), 'cycle' (CycleGAN) or None (a latent generator): how the run's G
  is fed, from config.objective.name."""
  return TRANSLATION_OBJECTIVES.get(config.objective.name)


def _require_translation(config: ml_collections.ConfigDict) -> str:
  kind = translation_kind(config)
  if kind is None:
    raise ValueError(f'objective.name={config.objective.name!r} samples from latents; '
                     'translating images needs an image-to-image run (objective.name one of '
                     f'{sorted(TRANSLATION_OBJECTIVES)}).')
  return kind


def check_direction(kind: str, direction: str) -> None:
  """Raises ValueError unless `direction` is one of DIRECTIONS that `kind` translates."""
  if direction not in DIRECTIONS:
    raise ValueError(f'Unknown direction {direction!r}; use one of {DIRECTIONS}.')
  if kind == 'paired' and direction != 'a_to_b':
    raise ValueError("pix2pix translates its input (the condition) into the image only: use "
                     "direction='a_to_b'.")


@dataclasses.dataclass(frozen=True)
class TranslationInputs:
  """Images (N, H, W, C) in [-1, 1] of both domains, with labels: `a` is G's input (the
  dataset's 'condition'), `b` the dataset's 'image' (pix2pix: the target of a[i]; CycleGAN:
  domain B, unpaired with A, so the two may differ in length)."""

  a: np.ndarray
  a_labels: np.ndarray
  b: np.ndarray
  b_labels: np.ndarray


def held_out_source(config: ml_collections.ConfigDict) -> data.Source:
  """The held-out Source: config.dataset with split <- eval_split (and domain A's split <-
  domain_a_eval_split), disjoint from the training data."""
  if translation_kind(config) == 'cycle' and not config.dataset.domain_a_eval_split:
    raise ValueError('dataset.domain_a_eval_split is empty: set the held-out split of domain A, '
                     "e.g. --config.dataset.domain_a_eval_split='train[1500:]'.")
  return data.load_source(paired.held_out_config(config.dataset), seed=config.seed)


def _first(examples: Sequence[dict], num: int, image_key: str, label_key: str):
  n = len(examples) if not num else min(num, len(examples))
  rows = [examples[i] for i in range(n)]
  return (np.stack([r[image_key] for r in rows]).astype(np.float32),
          np.asarray([r[label_key] for r in rows], np.int32))


def held_out_inputs(config: ml_collections.ConfigDict, num: int = 0,
                    source: Optional[data.Source] = None) -> TranslationInputs:
  """The first `num` (0 = all) held-out examples of each domain (`source`: the held-out
  Source when already loaded). CycleGAN's A and B are the domains in their split order."""
  kind = _require_translation(config)
  source = held_out_source(config) if source is None else source
  examples = source.examples
  if kind == 'cycle':
    a, a_labels = _first(examples.domain_a, num, 'image', 'label')
    b, b_labels = _first(examples.domain_b, num, 'image', 'label')
  else:
    a, a_labels = _first(examples, num, 'condition', 'condition_label')
    b, b_labels = _first(examples, num, 'image', 'label')
  return TranslationInputs(a, a_labels, b, b_labels)


def make_translator(config: ml_collections.ConfigDict, networks: models.Networks) -> Callable:
  """jit-compiled (variables, inputs, key) -> outputs, the generator in inference mode.

  `inputs` is {'a': A images} and/or (CycleGAN) {'b': B images}; the outputs are
  {'fake_b': G(A)} for pix2pix and CycleGAN's {'fake_b', 'rec_a'} / {'fake_a', 'rec_b'}.
  `key` feeds dropout (pix2pix's noise when model.unet.dropout_at_test).
  """
  kind = _require_translation(config)

  def run(variables, inputs, key):
    rngs = {'dropout': key}
    if kind == 'paired':
      out = networks.generator_apply(variables, inputs['a'], train=False, rngs=rngs)[0]
      return {'fake_b': out}
    out = networks.generator_apply(variables, inputs, train=False, rngs=rngs)[0]
    return {k: v for k, v in out.items() if not k.startswith('idt_')}

  return jax.jit(run)


def translate_with(translator: Callable, variables, images: np.ndarray, key: jax.Array, *,
                   direction: str = 'a_to_b', batch_size: int = 500) -> dict:
  """`translator` (make_translator) on `images` batch by batch (batch i: dropout key
  fold_in(key, i)) -> {'output': (N, ...)} and, for CycleGAN, 'reconstruction' (the
  translation back), numpy float32."""
  domain, out_key, rec_key = _DIRECTION_KEYS[direction]
  outs = {'output': [], 'reconstruction': []}
  for i, start in enumerate(range(0, len(images), batch_size)):
    batch = jnp.asarray(images[start:start + batch_size], jnp.float32)
    res = translator(variables, {domain: batch}, jax.random.fold_in(key, i))
    outs['output'].append(np.asarray(res[out_key], np.float32))
    if rec_key in res:
      outs['reconstruction'].append(np.asarray(res[rec_key], np.float32))
  return {k: np.concatenate(v) for k, v in outs.items() if v}


def translate(config: ml_collections.ConfigDict, networks: models.Networks,
              state: state_lib.GANState, images: np.ndarray, key: jax.Array, *,
              direction: str = 'a_to_b', ema: bool = False, batch_size: int = 500) -> dict:
  """G's translations of `images` (N, H, W, C), in the input format of `direction`
  ('a_to_b': the condition / domain A; 'b_to_a': CycleGAN's domain B; see prepare_inputs)
  -> {'output'} (+ 'reconstruction' for CycleGAN), numpy float32 in [-1, 1]."""
  check_direction(_require_translation(config), direction)
  return translate_with(make_translator(config, networks), state.generator_variables(ema=ema),
                        images, key, direction=direction, batch_size=batch_size)


def grid_rows(columns: Sequence[np.ndarray]) -> np.ndarray:
  """Columns [(N, H, W, C_j)] -> (N * len(columns), H, W, C), row by row, for
  visualize.save_image_grid(..., ncols=len(columns)); grey columns are repeated to RGB when
  others are in colour."""
  channels = max(c.shape[-1] for c in columns)
  columns = [np.repeat(c, channels, axis=-1) if c.shape[-1] != channels else c
             for c in columns]
  stacked = np.stack(columns, axis=1)
  return stacked.reshape(-1, *stacked.shape[2:])


def translation_grid(config: ml_collections.ConfigDict, translator: Callable, variables,
                     inputs: TranslationInputs, key: jax.Array) -> tuple[np.ndarray, int]:
  """(rows (N * K, H, W, C), K): one row per input of the K images GRID_COLUMNS[kind]:
  pix2pix input | output | target; CycleGAN A | A->B | A->B->A | B | B->A | B->A->B (A and B
  unpaired: B is not A's target)."""
  kind = _require_translation(config)
  ab = translate_with(translator, variables, inputs.a, jax.random.fold_in(key, 0))
  if kind == 'paired':
    columns = [inputs.a, ab['output'], inputs.b]
  else:
    ba = translate_with(translator, variables, inputs.b, jax.random.fold_in(key, 1),
                        direction='b_to_a')
    n = min(len(inputs.a), len(inputs.b))
    columns = [x[:n] for x in (inputs.a, ab['output'], ab['reconstruction'], inputs.b,
                               ba['output'], ba['reconstruction'])]
  return grid_rows(columns), len(columns)


def fixed_grid_inputs(config: ml_collections.ConfigDict, networks: models.Networks) -> tuple:
  """The fixed inputs of every sample grid of a run: fixed_latents' (z, labels), or for an
  image-to-image run (the first num_sample_images held-out examples, dropout key)."""
  if translation_kind(config) is None:
    return fixed_latents(config, networks)
  key = jax.random.fold_in(jax.random.key(config.seed), 0x5A3)
  return held_out_inputs(config, int(config.num_sample_images)), key


def make_grid_sampler(config: ml_collections.ConfigDict, networks: models.Networks) -> Callable:
  """(variables, *fixed_grid_inputs) -> (images (M, ...), images per row or None): the
  images of a sample grid (latent samples; or translation rows, see translation_grid)."""
  if translation_kind(config) is None:
    sampler = make_sampler(networks)
    return lambda variables, z, labels: (np.asarray(sampler(variables, z, labels)), None)
  translator = make_translator(config, networks)
  return lambda variables, inputs, key: translation_grid(config, translator, variables, inputs,
                                                         key)


# Luma weights of PIL's 'L' conversion (ITU-R 601-2).
_LUMA = np.asarray([0.299, 0.587, 0.114], np.float32)


def _to_data_range(image: np.ndarray) -> np.ndarray:
  if np.issubdtype(image.dtype, np.integer) or image.dtype == bool:
    if image.min() < 0 or image.max() > 255:
      raise ValueError(f'Integer images must be 0..255 pixels; got values in '
                       f'[{image.min()}, {image.max()}].')
    return image.astype(np.float32) / 127.5 - 1.0
  image = image.astype(np.float32)
  if not np.all(np.isfinite(image)) or image.min() < -1.001 or image.max() > 1.001:
    raise ValueError(f'Float images must be in [-1, 1] (the data range); got values in '
                     f'[{np.nanmin(image):.3g}, {np.nanmax(image):.3g}]. Pass uint8 0..255 '
                     'pixels, or rescale (2 x - 1 for [0, 1] images).')
  return np.clip(image, -1.0, 1.0)


def _prepare_one(config, image, shape, direction):
  x = np.asarray(image)
  if x.ndim == 2:
    x = x[..., None]
  if x.ndim != 3 or x.shape[-1] not in (1, 3, 4):
    raise ValueError(f'Expected an image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got shape '
                     f'{x.shape}.')
  x = _to_data_range(x)[..., :3]
  if shape[-1] == 1 and x.shape[-1] == 3:
    x = (x @ _LUMA)[..., None]
  elif shape[-1] == 3 and x.shape[-1] == 1:
    x = np.repeat(x, 3, axis=-1)
  side = shape[0]
  if x.shape[:2] == tuple(shape[:2]):
    return x
  d = config.dataset
  if d.name not in DIGIT_DATASETS:
    return np.clip(paired.resize_bicubic(x, side), -1.0, 1.0)
  digit, h = paired.DIGIT_SIDE, x.shape[0]
  if side < digit:
    raise ValueError(f'The run\'s input side {side} is smaller than the 28x28 digits.')
  factor = paired.SR_FACTORS.get(d.task) if d.name == 'paired_digits' else None
  square = x.shape[0] == x.shape[1]
  if factor and square and h * factor == digit and direction == 'a_to_b':
    x = x.repeat(factor, axis=0).repeat(factor, axis=1)     # The dataset's low-res condition.
  elif (d.name == 'unpaired_digits' and direction == 'a_to_b' and square
        and h == unpaired.UCI_SIDE):                        # A UCI digit (unpaired.uci_digits).
    up = np.clip(paired.resize_bicubic((x + 1.0) / 2.0, unpaired.UCI_UPSAMPLED), 0.0, 1.0)
    lo = (digit - unpaired.UCI_UPSAMPLED) // 2
    canvas = np.zeros((digit, digit, x.shape[-1]), np.float32)
    canvas[lo:lo + unpaired.UCI_UPSAMPLED, lo:lo + unpaired.UCI_UPSAMPLED] = up
    x = canvas * 2.0 - 1.0
  elif x.shape[:2] != (digit, digit):
    x = np.clip(paired.resize_bicubic(x, digit), -1.0, 1.0)
  lo = (side - digit) // 2
  return np.pad(x, ((lo, side - digit - lo), (lo, side - digit - lo), (0, 0)),
                constant_values=-1.0)


def prepare_inputs(config: ml_collections.ConfigDict, networks: models.Networks, images,
                   direction: str = 'a_to_b') -> np.ndarray:
  """User images -> G's input for `direction`: float32 (N, H, W, C) in [-1, 1].

  `images`: an array (N, H, W[, C]) or a sequence of (H, W[, C]) images, of any size.
  Values: integer images are 0..255 pixels (x / 127.5 - 1); float images must be in [-1, 1].
  Channels: grey is repeated to RGB; RGB becomes grey with PIL's 'L' luma weights (ITU-R
  601-2); alpha is dropped. Size, the way the dataset makes its images:
  - an image of the input size is used as is;
  - digit datasets (paired_digits, unpaired_digits) pad a 28x28 digit with the background -1
    to the input side: a 28x28 image is padded; a 7x7 / 14x14 low-res digit of a
    super_resolution_7 / _14 run is first upsampled nearest-neighbour to 28x28 (the
    dataset's condition); an 8x8 UCI digit of an unpaired_digits run (A -> B) is
    bicubic-resized to 20x20 and centred on a black 28x28 canvas (unpaired.uci_digits); any
    other size is bicubic-resized (PIL, Keys a = -0.5, clipped) to 28x28, then padded;
  - other datasets: bicubic resize (clipped) to the input size, as gan_jax.data.sources.
  """
  kind = _require_translation(config)
  check_direction(kind, direction)
  shape = tuple(networks.condition_shape if direction == 'a_to_b' else networks.data_shape)
  if isinstance(images, np.ndarray) and images.ndim in (3, 4):
    images = list(images)
  if not len(images):
    raise ValueError('No images to translate.')
  return np.stack([_prepare_one(config, im, shape, direction) for im in images]).astype(
      np.float32)
