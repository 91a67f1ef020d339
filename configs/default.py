"""Defaults shared by every recipe. Recipes import `get_config()` and override fields.

Every field can be overridden on the command line, e.g. `--config.optim.g.lr=1e-4`.
"""

import ml_collections

from gan_jax import overrides


def _adam(lr=2e-4, b1=0.5, b2=0.999):
  return ml_collections.ConfigDict(dict(
      name='adam', lr=lr, b1=b1, b2=b2, eps=1e-8, weight_decay=0.0, momentum=0.0,
      nesterov=False, decay=0.99, centered=False, rho=0.9, schedule='constant',
      warmup_steps=0, decay_steps=0, decay_every=10_000, decay_rate=0.1, end_lr_fraction=0.0,
      grad_clip_norm=0.0))


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.num_train_steps = 5_000
  c.batch_size = 64            # Global: over all devices and hosts.
  c.log_every = 50
  c.sample_every = 500
  c.checkpoint_every = 1_000
  c.keep_checkpoints = 3
  c.eval_every = 0             # 0 = no periodic evaluation.
  # Evaluation protocol (gan_jax/evaluation.py; launch/evaluate.py and periodic eval).
  c.eval = ml_collections.ConfigDict(dict(
      num_samples=5_000,          # Generated samples per evaluation.
      num_reference=0,            # Reference images (first N of the split); 0 = whole split.
      reference_split='',         # '' = dataset.split (the training split).
      feature_extractor='classifier',  # 'classifier' (MNIST-like data) | 'inception'.
      inception_path='',          # Local pt_inception-2015-12-05-6726825d.pth; never downloaded.
      inception_batch_size=100,
      cache_dir='~/.cache/gan_jax',  # Evaluation classifier + cached reference features.
      classifier_steps=500,       # Adam steps (batch 128) of the evaluation classifier.
      classifier_seed=0,
      classifier_split='',        # Labelled split the classifier trains on; '' = dataset.split.
      kid_subsets=100,
      kid_subset_size=1_000,      # Capped at min(#reference, #samples).
      is_splits=10,
      pr_k=3,                     # k of improved precision/recall (Kynkaanniemi 2019).
      dc_k=5,                     # k of density/coverage (Naeem 2020).
      toy_num_samples=2_500,      # Samples for the 2-D mode metrics.
      ema=True,                   # EMA generator when the run kept one (ema_decay > 0).
      seed=0,
  ))
  c.num_sample_images = 64     # Fixed latents for the sample grid.

  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = 'embedded_mnist'  # Any TFDS image dataset, 'image_folder', or a toy set.
  c.dataset.split = 'train'
  c.dataset.data_dir = ''      # TFDS data_dir ('' = TFDS default, ~/tensorflow_datasets).
  c.dataset.path = ''          # For 'image_folder': the folder of images.
  c.dataset.image_size = 0     # Resize to this square side (0 = keep the dataset's size).
  c.dataset.channels = 0       # Force 1 (grey) or 3 (RGB) channels (0 = keep).
  c.dataset.image_key = 'image'
  c.dataset.label_key = 'label'
  c.dataset.conditional = False  # Feed labels to G and D (conditional models).
  c.dataset.num_threads = 4
  c.dataset.prefetch = 8

  c.model = ml_collections.ConfigDict()
  c.model.name = 'dcgan'
  c.model.latent_dim = 100
  c.model.latent_distribution = 'normal'
  c.model.g_width = 64
  c.model.d_width = 64
  # Implementations of G's transposed and D's strided convolutions (gan_jax.models.layers):
  # the same function as 'xla', with the fastest gradients on CPU.
  c.model.conv_transpose_impl = 'space_to_depth'
  c.model.conv_impl = 'space_to_depth'
  c.model.compute_dtype = 'float32'

  c.loss = ml_collections.ConfigDict(dict(name='non_saturating', real_label=1.0))
  # `options` are keyword arguments of the chosen function (e.g. penalty.options.target=1.0,
  # augment.options.policy='color,translation'); recipes add the fields they use.
  c.penalty = ml_collections.ConfigDict(dict(name='none', weight=0.0, options={}))
  c.d_regularizer = ml_collections.ConfigDict(dict(name='none', weight=0.0))
  c.augment = ml_collections.ConfigDict(dict(name='none', options={}))
  c.instance_noise_std = 0.0
  c.instance_noise_anneal_steps = 0

  c.optim = ml_collections.ConfigDict()
  c.optim.g = _adam()
  c.optim.d = _adam()
  c.d_steps_per_g_step = 1
  c.d_weight_clip = 0.0
  c.g_step_fresh_latents = False
  c.ema_decay = 0.999
  c.ema_start_step = 0
  c.ema_warmup = True          # Effective decay min(ema_decay, (1 + t) / (10 + t)).
  c.skip_nonfinite_updates = False

  c.parallel = 'pmap'          # 'pmap' | 'shard_map' | 'none' (single device, plain jit).
  c.resume_allow_changes = False  # Resume even if model/optimizer/data fields changed.
  return c


def set_optimizers(config: ml_collections.ConfigDict, **fields) -> None:
  """Sets the same optimizer fields for both players (config.optim.g and config.optim.d)."""
  for player in (config.optim.g, config.optim.d):
    for name, value in fields.items():
      player[name] = value


def split_variant(arg: str | None) -> list[str]:
  """Splits a variant string 'smoke,a=1,b=(2,3)' at commas outside brackets."""
  if not arg:
    return []
  parts, depth, current = [], 0, ''
  for ch in arg:
    depth += ch in '([{'
    depth -= ch in ')]}'
    if ch == ',' and depth == 0:
      parts.append(current)
      current = ''
    else:
      current += ch
  return parts + [current]


def has_variant(arg: str | None, name: str) -> bool:
  """Whether the variant string `arg` names `name` (e.g. 'smoke')."""
  return bool(arg) and name in split_variant(arg)


def apply_variant(config: ml_collections.ConfigDict, arg: str | None):
  """Applies a variant string: 'smoke' for a few-step run, or 'k=v,k2=v2' overrides."""
  if not arg:
    return config
  for part in split_variant(arg):
    if part == 'smoke':
      config.num_train_steps = 6
      config.batch_size = 16
      config.log_every = 2
      config.sample_every = 3
      config.checkpoint_every = 3
      config.num_sample_images = 16
      config.model.g_width = 16
      config.model.d_width = 16
    elif '=' in part:
      key, value = part.split('=', 1)
      overrides.set_field(config, key, value)
    else:
      raise ValueError(f"Unknown config variant {part!r}; use 'smoke' or 'field=value'.")
  return config
