"""Defaults shared by every recipe. Recipes import `get_config()` and override fields.

Every field can be overridden on the command line, e.g. `--config.optim.g.lr=1e-4`.
"""

import ml_collections

from gan_jax import overrides


def _optimizer() -> ml_collections.ConfigDict:
  """One player's optimizer (gan_jax/optimizers.py). Fields of one update rule live in the
  block named after it; only the block of `name` is read, the others are ignored."""
  return ml_collections.ConfigDict(dict(
      name='adam',               # adam | adamw | sgd | rmsprop | adagrad | adadelta.
      lr=2e-4,                   # Peak learning rate.
      schedule='constant',       # constant | cosine | linear | step.
      warmup_steps=0,            # Every schedule: linear warmup from 0 over this many updates.
      decay_steps=0,             # cosine, linear: horizon (0 = the player's updates - warmup).
      end_lr_fraction=0.0,       # cosine, linear: final lr / lr.
      decay_begin_fraction=0.0,  # linear: hold lr for this fraction of the updates, then decay.
      decay_every=10_000,        # step: multiply the lr by decay_rate every decay_every updates.
      decay_rate=0.1,
      grad_clip_norm=0.0,        # Clip gradients by global norm first (0 = off).
      # The update rules (optax; Adam's b1 = 0.5 is DCGAN's, Radford et al. 2015).
      adam=dict(b1=0.5, b2=0.999, eps=1e-8),
      adamw=dict(b1=0.5, b2=0.999, eps=1e-8, weight_decay=1e-4),  # Decoupled decay (optax's).
      sgd=dict(momentum=0.0, nesterov=False),                      # momentum 0 = plain SGD.
      rmsprop=dict(decay=0.99, eps=1e-8, centered=False),          # decay = PyTorch's alpha.
      adagrad=dict(eps=1e-7),
      adadelta=dict(rho=0.9, eps=1e-6),
  ))


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
      # Stacked MNIST mode counting (dataset.name='stacked_mnist'; gan_jax/metrics/
      # stacked_modes.py): generated samples whose modes are counted (26,000 in the Unrolled
      # GAN, VEEGAN and PacGAN papers).
      stacked_num_samples=26_000,
      ema=True,                   # EMA generator when the run kept one (ema_decay > 0).
      seed=0,                     # key(seed): latents and KID subsets, at every evaluation.
      # Class-conditional / InfoGAN protocol (gan_jax/conditional_evaluation.py; run by
      # launch/evaluate.py, not periodically): samples per class (or categorical code);
      # classifier seeds averaged by the Classification Accuracy Score and the augmentation
      # experiment; the share of each real + generated minibatch drawn from the real digits.
      classes=dict(num_per_class=1_000, classifier_seeds=3, real_fraction=0.5),
  ))
  # @video-eval-fields
  # @voxel-eval-fields
  # @audio-eval-fields
  c.num_sample_images = 64     # Fixed latents for the sample grid.

  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = 'embedded_mnist'  # Any TFDS image dataset, 'image_folder', or a toy set.
  c.dataset.split = 'train'
  c.dataset.data_dir = ''      # TFDS data_dir ('' = TFDS default, ~/tensorflow_datasets).
  c.dataset.path = ''          # 'image_folder': the folder of images; 'npz': the .npz file.
  c.dataset.examples_per_class = 0  # > 0: only the first N examples of each class of `split`.
  c.dataset.image_size = 0     # Resize to this square side (0 = keep the dataset's size).
  c.dataset.channels = 0       # Force 1 (grey) or 3 (RGB) channels (0 = keep).
  c.dataset.image_key = 'image'
  c.dataset.label_key = 'label'
  c.dataset.conditional = False  # Feed labels to G and D (conditional models).
  c.dataset.num_threads = 4
  c.dataset.prefetch = 8
  # Image-to-image datasets (examples also hold 'condition', G's input image, and
  # 'condition_label'): 'paired_digits' (gan_jax/data/paired.py), 'unpaired_digits' and TFDS
  # 'cycle_gan/*' (gan_jax/data/unpaired.py). For the digit sets image_size pads the 28x28
  # digits with background (32 = 2 px a side, digits unscaled); 0 keeps 28.
  c.dataset.eval_split = ''    # Held-out split (never overlapping `split`), e.g. 'train[4500:]'.
  # paired_digits: super_resolution_7 | super_resolution_14 | inpainting | gaussian_noise |
  # salt_and_pepper | edges (the corruption that makes the condition from the digit).
  c.dataset.task = 'super_resolution_7'
  c.dataset.corruption = ml_collections.ConfigDict(dict(
      seed=0,                  # Example j's corruption is a function of (seed, j) only.
      box_min=8,               # inpainting: box height and width uniform in [min, max] px.
      box_max=16,
      noise_std=0.5,           # gaussian_noise: std in the [-1, 1] pixel range.
      salt_pepper_rate=0.2,    # salt_and_pepper: fraction of pixels set to -1 or +1.
      edge_threshold=0.5,      # edges: Sobel magnitude / its image max above this is edge.
  ))
  # Unpaired: domain A (the condition) = these splits of UCI 8x8 digits (1,797) for
  # unpaired_digits, or e.g. 'trainA' / 'testA' of a TFDS cycle_gan dataset; domain B =
  # `split` / `eval_split` (embedded MNIST, or 'trainB' / 'testB').
  c.dataset.domain_a_split = 'train[:1500]'
  c.dataset.domain_a_eval_split = 'train[1500:]'
  # stacked_mnist (gan_jax/data/stacked.py): 3 embedded digits of `split` as R, G, B, 1,000
  # modes; this many stacked images (index triples drawn from the run's seed; PacGAN and
  # VEEGAN: 128,000).
  c.dataset.stacked_size = 128_000
  # Clips, voxel grids and audio (gan_jax/modalities; examples' 'image' is then (T, H, W, C),
  # (D, H, W, 1) or (L, 1)): 'video' | 'voxels' | 'audio', or '' = inferred from dataset.name.
  c.dataset.modality = ''
  # @video-dataset-fields
  # @voxel-dataset-fields
  # @audio-dataset-fields

  # The architecture (gan_jax/models). Flat fields are read by every architecture unless
  # their comment says otherwise; fields of one architecture live in its block (model.dcgan,
  # model.mlp), read by that architecture only and ignored by the others. resnet has no
  # fields of its own.
  c.model = ml_collections.ConfigDict()
  c.model.name = 'dcgan'       # 'dcgan' | 'mlp' | 'resnet' (SNGAN's ResNet, Miyato 2018).
  c.model.latent_dim = 100
  c.model.latent_distribution = 'normal'  # 'normal' | 'uniform' (on [-1, 1]).
  # Channel widths of the convolutional nets (mlp ignores them: model.mlp.*_hidden):
  # dcgan: G's last / D's first feature map (PyTorch's ngf / ndf), doubling per stage;
  # resnet: the channels of every block.
  c.model.g_width = 64
  c.model.d_width = 64
  c.model.compute_dtype = 'float32'  # 'bfloat16': bfloat16 compute, float32 params.
  # Spectral normalization (Miyato et al. 2018) of every dense/conv layer of G / D, with
  # spectral_norm_steps power iterations per training call (u, sigma in 'batch_stats').
  c.model.g_spectral_norm = False
  c.model.d_spectral_norm = False
  c.model.spectral_norm_steps = 1
  c.model.d_dropout = 0.0      # After each hidden layer of D (dcgan, mlp; resnet: must be 0).
  # Class conditioning and D's extra heads (gan_jax/models/conditioning.py), read by dcgan
  # and resnet; mlp reads only g/d_conditioning 'none' | 'concat'. All but d_q_head need
  # labels: dataset.conditional=True.
  # G: 'none' | 'concat' ([z, E[y]], E a learned (K, label_embedding_dim) table; Mirza &
  # Osindero 2014) | 'cbn' (conditional BatchNorm: class-dependent scale and shift of G's BNs;
  # de Vries 2017, Miyato & Koyama 2018).
  c.model.g_conditioning = 'none'
  # D: 'none' | 'concat' (E[y] broadcast to label_embedding_dim extra input channels) |
  # 'projection' (logit += <V[y], phi(x)>, V spectrally normalized with d_spectral_norm;
  # Miyato & Koyama 2018). phi(x): resnet's global sum pool, dcgan's flattened last map
  # (its projection: the map's spatial sum).
  c.model.d_conditioning = 'none'
  c.model.label_embedding_dim = 50  # Width of the 'concat' tables (projection: phi's width).
  # With either head on, D returns {'logit': (N,), ...} instead of the logits (N,).
  c.model.d_class_head = False  # ACGAN (Odena 2017): 'class_logits' (N, K) = Dense(K)(phi).
  # InfoGAN's Q head (Chen 2016) on phi(x): Dense(hidden) -> LeakyReLU -> 'q_categorical_logits'
  # (N, categorical), 'q_continuous_mean', 'q_continuous_log_std' (N, continuous). Its sizes
  # are in model.infogan, read only when d_q_head (the codes equal objective.infogan's).
  c.model.d_q_head = False
  c.model.infogan = ml_collections.ConfigDict(dict(categorical=10, continuous=2, hidden=128))
  # Mode-collapse remedies in D (gan_jax/models/minibatch.py, docs/mode_collapse.md).
  # PacGAN packing (Lin et al. 2018): D scores d_pack samples at once, concatenated along the
  # channel / feature axis, real with real and generated with generated (1 = off; any
  # architecture; needs an unconditional D without heads and a batch that is a multiple).
  c.model.d_pack = 1
  # Appended to D's last features before its logit layer (dcgan, resnet, mlp):
  # minibatch standard deviation (Karras et al. 2018): group_size 0 = off (the paper: 4);
  # minibatch discrimination (Salimans et al. 2016): num_kernels B (0 = off) of dimension C,
  # within groups of group_size consecutive samples (0 = the whole global batch).
  c.model.d_minibatch_stddev = ml_collections.ConfigDict(dict(group_size=0, num_channels=1))
  c.model.d_minibatch_discrimination = ml_collections.ConfigDict(dict(
      num_kernels=0, kernel_dim=5, group_size=0))
  c.model.dcgan = ml_collections.ConfigDict(dict(
      # How G's transposed and D's strided convolutions are computed (gan_jax.models.layers):
      # every choice is the same function of the same parameters; only the speed differs.
      # 'auto': 'space_to_depth' when jax.default_backend() is 'cpu' (fastest gradients on
      # CPU, kernel-gradient form timed per layer shape, GAN_JAX_CONV_AUTOTUNE=0 for a fixed
      # cost model; reverse mode only), else 'xla' (GPU/TPU; forward mode works too).
      conv_transpose_impl='auto',
      conv_impl='auto',
      # After each D conv but the first: 'batch' (DCGAN), 'layer' (WGAN-GP's critic) or
      # 'none'. Gradient penalties need 'layer' or 'none'.
      d_normalization='batch',
  ))
  c.model.mlp = ml_collections.ConfigDict(dict(
      g_hidden=(256, 256),       # Widths of G's hidden layers, one per layer.
      d_hidden=(256, 256),
      g_activation='relu',       # relu | leaky_relu (0.2) | elu | tanh.
      d_activation='leaky_relu',  # The same, or maxout with d_maxout_pieces linear pieces.
      d_maxout_pieces=5,
      output_activation='tanh',  # 'tanh' for images in [-1, 1], 'linear' for 2-D toy data.
      g_batch_norm=False,        # BatchNorm after each hidden Dense of G.
  ))
  # Image-to-image nets (normalization: 'batch' | 'instance' | 'layer' | 'none').
  # pix2pix G (gan_jax/models/unet.py): U-Net, widths ngf * min(2**i, 8) (the paper: 64);
  # num_downs 0 = as many stride-2 levels as the side allows (32 px: 5, down to 1x1);
  # dropout after the first dropout_layers decoder layers is G's noise (at test time too
  # when dropout_at_test, as the paper samples).
  c.model.unet = ml_collections.ConfigDict(dict(
      ngf=32, num_downs=0, normalization='batch', dropout=0.5, dropout_layers=3,
      dropout_at_test=False))
  # PatchGAN D of pix2pix and CycleGAN (gan_jax/models/patchgan.py): num_layers stride-2
  # convs; receptive field 9 * 2**num_layers - 2 px (1: 16, 2: 34, 3: 70, the paper's).
  c.model.patchgan = ml_collections.ConfigDict(dict(
      ndf=32, num_layers=2, normalization='batch'))
  # CycleGAN G (gan_jax/models/cyclegan.py): ResNet translation nets g_ab, g_ba with
  # num_blocks residual blocks at 1/4 side (the paper: ngf 64, 6 blocks at 128 px, 9 at 256;
  # 3 blocks already see 61 px, twice a 32-px image); identity_outputs adds g_ba(a), g_ab(b)
  # (needed when objective.cyclegan.identity_weight > 0).
  c.model.cycle_resnet = ml_collections.ConfigDict(dict(
      ngf=32, num_blocks=3, normalization='instance', identity_outputs=True))
  # @video-model-fields
  # @voxel-model-fields
  # @audio-model-fields

  # What G is fed, what D sees and the extra loss terms (gan_jax/objectives/). Options of an
  # objective live in its own block, read by that objective only.
  c.objective = ml_collections.ConfigDict()
  c.objective.name = 'unconditional'  # Latents (and labels when dataset.conditional) -> G -> D.
  # pix2pix (gan_jax/objectives/pix2pix.py): G loss + l1_weight * |G(x) - y|_1; D loss halved.
  c.objective.pix2pix = ml_collections.ConfigDict(dict(l1_weight=100.0, d_loss_scale=0.5))
  # CycleGAN (gan_jax/objectives/cyclegan.py): cycle lambda, identity lambda_idt (x lambda),
  # adversarial weight (2 = the paper's E[(D-1)^2] with least_squares), image pool size.
  c.objective.cyclegan = ml_collections.ConfigDict(dict(
      cycle_weight=10.0, identity_weight=0.5, adversarial_weight=2.0, pool_size=50))
  # Class-conditional (gan_jax/objectives/conditional.py; needs dataset.conditional): ACGAN's
  # classification terms with weight ac_weight (0 = cGAN / projection D; > 0 needs
  # model.d_class_head), on D's fake samples too when ac_fake_in_d.
  c.objective.conditional = ml_collections.ConfigDict(dict(ac_weight=0.0, ac_fake_in_d=True))
  # InfoGAN (gan_jax/objectives/infogan.py; needs model.d_q_head; the codes are
  # model.infogan's): L_I weight, weight of its continuous part, learned sigma of Q's Gaussian.
  c.objective.infogan = ml_collections.ConfigDict(dict(
      info_weight=1.0, continuous_weight=0.1, learn_std=False))
  # Feature matching (Salimans et al. 2016; latent-variable objectives): G's loss is
  # adversarial_weight x the adversarial term + weight x mean_k (E f_k(x) - E f_k(G(z)))^2,
  # f = D's features before its logit layer (phi). The paper: weight 1, adversarial 0.
  c.objective.feature_matching = ml_collections.ConfigDict(dict(
      weight=0.0, adversarial_weight=1.0))
  # @video-objective-fields
  c.loss = ml_collections.ConfigDict(dict(name='non_saturating', real_label=1.0))
  # `options` are keyword arguments of the chosen function (e.g. penalty.options.target=1.0,
  # augment.options.policy='color,translation'); recipes add the fields they use.
  c.penalty = ml_collections.ConfigDict(dict(name='none', weight=0.0, options={}))
  c.d_regularizer = ml_collections.ConfigDict(dict(name='none', weight=0.0))
  c.augment = ml_collections.ConfigDict(dict(name='none', options={}))
  c.instance_noise_std = 0.0
  c.instance_noise_anneal_steps = 0

  c.optim = ml_collections.ConfigDict()
  c.optim.g = _optimizer()     # Each player has its own block (e.g. TTUR: different lr).
  c.optim.d = _optimizer()
  c.d_steps_per_g_step = 1
  # Unrolled GAN (Metz et al. 2017): G's loss is taken through unrolled_d_steps D updates
  # (D's optimizer, on the step's batch) differentiated through, from D before this step's
  # update; the real D is updated as usual (0 = off). unrolled_scan_unroll: lax.scan's
  # `unroll` (True = fully unrolled: faster on CPU, longer compiles).
  c.unrolled_d_steps = 0
  c.unrolled_scan_unroll = True
  c.d_weight_clip = 0.0
  c.g_step_fresh_latents = False
  c.ema_decay = 0.999
  c.ema_start_step = 0
  c.ema_warmup = True          # Effective decay min(ema_decay, (1 + t) / (10 + t)).
  c.skip_nonfinite_updates = False

  c.parallel = 'pmap'          # 'pmap' | 'shard_map' | 'none' (single device, plain jit).
  c.resume_allow_changes = False  # Resume even if model/optimizer/data fields changed.
  return c


def held_out_digits(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The embedded digits split for the class-conditional protocol: the GAN (and the
  evaluation classifier) train on the first 4,000 (about 400 per class, TFDS's shuffled order),
  and the last 1,000 (about 100 per class) are held out as the test set of the
  Classification Accuracy Score and the augmentation experiment (docs/conditional.md)."""
  config.dataset.split = 'train[:4000]'
  config.dataset.eval_split = 'train[4000:]'
  return config


def set_optimizers(config: ml_collections.ConfigDict, **fields) -> None:
  """Sets the same optimizer fields for both players (config.optim.g and config.optim.d).

  `name` is set first; a field of the update rule (b1, momentum, decay, ...) goes into the
  block of the player's rule, e.g. `set_optimizers(c, name='sgd', lr=0.1, momentum=0.5)`
  sets optim.{g,d}.name, .lr and .sgd.momentum.
  """
  for player in (config.optim.g, config.optim.d):
    rules = sorted(k for k, v in player.items() if isinstance(v, ml_collections.ConfigDict))
    shared = sorted(k for k in player if k not in rules)
    player.name = fields.get('name', player.name)
    if player.name not in rules:
      raise ValueError(f'Unknown optimizer {player.name!r}; choose one of {rules}.')
    rule = player[player.name]
    for key, value in fields.items():
      if key in rule:
        rule[key] = value
      elif key in shared:
        player[key] = value
      else:
        raise ValueError(f'optim.{{g,d}}.{player.name} has no field {key!r}: use one of '
                         f'{sorted(rule)} or the shared {shared}.')


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


def _numbered(part: str, prefix: str) -> int:
  """k for a variant '<prefix><k>' (k >= 1), else 0."""
  rest = part[len(prefix):]
  return int(rest) if part.startswith(prefix) and rest.isdigit() and int(rest) >= 1 else 0


def apply_variant(config: ml_collections.ConfigDict, arg: str | None):
  """Applies a variant string, left to right: 'smoke' for a few-step run, 'diffaugment' for
  DiffAugment on D's inputs (policy 'color,translation,cutout', Zhao et al. 2020; a later
  'augment.options.policy=translation' narrows it), the mode-collapse remedies
  (docs/mode_collapse.md) 'pack<m>' (PacGAN), 'mbstd', 'minibatch_disc', 'unrolled<k>',
  'feature_matching', or 'k=v,k2=v2' overrides."""
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
    elif _numbered(part, 'pack'):  # PacGAN with m = pack<m>.
      config.model.d_pack = _numbered(part, 'pack')
    elif _numbered(part, 'unrolled'):  # Unrolled GAN with k = unrolled<k>.
      config.unrolled_d_steps = _numbered(part, 'unrolled')
    elif part == 'mbstd':  # Minibatch stddev, Karras et al.'s group of 4.
      config.model.d_minibatch_stddev.group_size = 4
    elif part == 'minibatch_disc':  # Salimans et al.: B = 50 kernels of C = 5 (whole batch).
      config.model.d_minibatch_discrimination.num_kernels = 50
    elif part == 'feature_matching':  # Salimans et al.: G matches D's phi, no adversarial term.
      config.objective.feature_matching.weight = 1.0
      config.objective.feature_matching.adversarial_weight = 0.0
    elif part == 'diffaugment':
      config.augment = ml_collections.ConfigDict(dict(
          name='diffaugment', options=dict(policy='color,translation,cutout')))
    elif '=' in part:
      key, value = part.split('=', 1)
      overrides.set_field(config, key, value)
    else:
      raise ValueError(f"Unknown config variant {part!r}; use 'smoke', 'diffaugment', "
                       "'pack<m>', 'mbstd', 'minibatch_disc', 'unrolled<k>', "
                       "'feature_matching' or 'field=value'.")
  return config
