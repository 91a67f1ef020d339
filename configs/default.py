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
      # Per-module learning rates: 'PATH=FACTOR ...', parameter-path prefixes (module names
      # joined by '/', e.g. MoCoGAN's D: 'video=0.25'; the longest prefix wins) whose updates
      # are scaled by FACTOR after the rule ('' = none).
      lr_multipliers='',
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
      # With dataset.eval_split set: D's mean logit on this many training vs held-out images
      # (its overfitting; evaluation.discriminator_overfitting).
      overfit_num_images=1_000,
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
      # experiment; the share of each real + generated minibatch drawn from the real digits;
      # filter_generated: the augmentation arm keeps only the samples that a SmallCNN trained
      # on the same small labelled set assigns to their requested class.
      classes=dict(num_per_class=1_000, classifier_seeds=3, real_fraction=0.5,
                   filter_generated=False),
  ))
  # Video metrics (gan_jax/metrics/video.py via gan_jax/modalities/video.py; Moving MNIST runs,
  # a frames run's clips being T consecutive independent samples): generated clips vs the
  # first num_reference clips of reference_split (held-out digits), in the features of a frame
  # classifier and a 3-D clip classifier trained on classifier_split, cached in eval.cache_dir.
  c.eval.video = ml_collections.ConfigDict(dict(
      num_clips=500,              # Clips evaluated (a frames run: num_clips x T samples).
      reference_split='test',     # Held-out real clips; digits disjoint from classifier_split.
      num_reference=500,          # The first N clips of reference_split.
      classifier_split='',        # Split the classifiers train on; '' = dataset.split.
      # Training frames (frame i mod T of clip i, i < N) and Adam steps (batch 128) of the
      # frame classifier: 100,000 / 10,000 reach 85.0% held-out pair accuracy (10,000 /
      # 2,000: 68.3%; 50,000 / 4,000: 79.0%); docs/video.md#metrics.
      frame_classifier_frames=100_000,
      frame_classifier_steps=10_000,
      clip_classifier_clips=2_000,     # Training clips of the clip classifier.
      clip_classifier_steps=2_000,     # Adam steps (batch 64) of the clip classifier.
      classifier_seed=0,          # Initialization and minibatches of both classifiers.
      classifier_side=32,         # Both classifiers see frames area-averaged to this side.
      direction_bins=4,           # Sectors of each digit's initial direction (clip classes).
  ))
  # Voxel-shape protocol (gan_jax/modalities/voxels.py; dataset.name='voxel_shapes'): the
  # generated shapes (or real_split's) against held-out real shapes in the features of a 3-D
  # CNN trained on real shapes, beside the floor (real training shapes vs the same reference).
  c.eval.voxels = ml_collections.ConfigDict(dict(
      num_samples=2_000,          # Generated shapes per evaluation (and floor shapes).
      reference_split='test',     # Held-out real shapes: the reference (first num_reference).
      num_reference=2_000,
      floor_split='train',        # The floor's real shapes: its first num_samples.
      classifier_split='train[-4000:]',  # Real shapes the 3-D classifier trains on.
      classifier_steps=2_000,     # Adam steps (lr 1e-3, batch 32) of the 3-D classifier.
      classifier_seed=0,
  ))
  # Audio runs (gan_jax/modalities/audio.py; eval.classifier_steps / classifier_seed,
  # num_samples, num_reference, is_splits and cache_dir apply): generated clips are compared
  # with the held-out real clips of reference_split in the features of a spectrogram CNN
  # (gan_jax/metrics/audio.py) trained on the training clips: log |STFT| of Hann frames of
  # frame_length samples every frame_step, bins up to max_frequency Hz (0 = Nyquist).
  c.eval.audio = ml_collections.ConfigDict(dict(
      reference_split='test',     # Held-out real clips (never the training split).
      frame_length=512,           # Samples per STFT frame (also the spectrogram PNGs).
      frame_step=256,             # Hop between frames, in samples.
      max_frequency=4_000.0,      # Highest frequency the classifier sees (Hz); 0 = Nyquist.
      classifier_width=16,        # Channels of its first conv stage (then x2, x4).
      feature_dim=128,            # Its feature layer (the Frechet distance's space).
      wav_files=4,                # WAVs of the fixed latents written per training sample step.
      spectrogram_grid=16,        # Spectrograms per PNG grid (training and launch/sample.py).
  ))
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
  # Moving MNIST (gan_jax/data/moving_mnist.py; Srivastava et al. 2015): 'moving_mnist' clips
  # (T, S, S, 1) and 'moving_mnist_frames' (their frames, (S, S, 1)) generated on the fly from
  # the embedded digits, split 'train' | 'test'; 'tfds_moving_mnist' TFDS's 10,000 clips of 20
  # frames (split 'test[...]'; needs TensorFlow and a prepared copy in data_dir). image_size
  # (0 = canvas_size) area-averages the frames. Label: 10 min + max of the two digit classes.
  c.dataset.moving_mnist = ml_collections.ConfigDict(dict(
      num_frames=16,             # Frames per clip (the original: 20).
      num_digits=2,              # Digits per clip.
      canvas_size=64,            # Side of the canvas in pixels (digits are 28x28).
      step_length=0.1,           # Pixels per frame / (canvas_size - 28) (the original: 0.1).
      seed=0,                    # Clip i is a function of (seed, split digits, i), not config.seed.
      train_clips=100_000,       # Clips of split 'train'.
      test_clips=10_000,         # Clips of split 'test' (the original test set: 10,000).
      train_digits=(0, 4000),    # Embedded digits [a, b) of the 'train' clips.
      test_digits=(4000, 5000),  # Embedded digits [a, b) of the 'test' clips (disjoint).
      swap_clips=False,          # Add each clip's identity-swapped twin (for swap_weight).
      slow_clips=False,          # Add each clip's motion-slowed twin (for slow_weight):
      slow_factors=(0.0, 0.5),   # from a frame on, each digit keeps f ~ U[a, b] of its speed.
      shuffle_clips=False,       # Add its frame-shuffled twin (for shuffle_weight).
  ))
  # voxel_shapes (gan_jax/data/voxels.py): size^3 occupancy grids (+1 in, -1 out) of a sphere,
  # box, cylinder, cone or torus (label = index % 5), random size, rotation and position;
  # example i is a function of (seed, i). Split 'train' = indices [0, num_train), 'test' =
  # the next num_test (held out).
  c.dataset.voxels = ml_collections.ConfigDict(dict(
      size=32,                 # Grid side (3D-GAN: 32 or 64).
      num_train=50_000,        # Shapes of split 'train'.
      num_test=5_000,          # Shapes of split 'test'.
      seed=0,                  # The shapes' seed (not config.seed, which shuffles their order).
      scale_min=0.5,           # Bounding radius ~ U[scale_min, scale_max] x the grid half-side.
      scale_max=0.9,
      min_aspect=0.5,          # Proportions u_k ~ U[min_aspect, 1] of boxes, cylinders, cones.
  ))
  # Audio (gan_jax/data/audio.py; examples' 'image' is a waveform (length, 1) in [-1, 1]).
  # synthetic_notes and spoken_digits are synthesized: clip i is a function of (seed, i);
  # split 'train' is clips 0 .. train_size - 1 and 'test' the next test_size (disjoint).
  c.dataset.audio = ml_collections.ConfigDict(dict(
      sample_rate=16_000,         # Hz (WaveGAN: 16 kHz).
      length=16_384,              # Samples per clip (WaveGAN: 16,384, ~1 s at 16 kHz).
      seed=0,                     # Seed of the synthesized clips (not the run's seed).
      train_size=10_000,          # Clips in 'train'.
      test_size=2_000,            # Clips in 'test' (held out).
      # synthetic_notes: MIDI pitches (label = index; here the C major scale C4 .. C5),
      # timbres ('sine' | 'square' | 'saw' | 'bell'), max |detune| in cents, max noise std.
      pitches=(60, 62, 64, 65, 67, 69, 71, 72),
      timbres=('sine', 'square', 'saw', 'bell'),
      detune_cents=15.0,
      noise_std=0.01,
      # spoken_digits (espeak-ng): voice+variant names, pitch (0-99) and speed (words per
      # minute) ranges, espeak-ng processes at once while the cache is generated.
      voices=tuple(f'{lang}+{var}' for lang in ('en-us', 'en', 'en-gb-scotland', 'en-gb-x-rp',
                                                'en-029')
                   for var in ('m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'f1', 'f2', 'f3',
                               'f4', 'f5')),
      speech_pitch=(20, 80),
      speech_speed=(130, 210),
      num_workers=4,
      # TFDS speech_commands / nsynth: the waveform and label features.
      tfds_audio_key='audio',
      tfds_label_key='label',
  ))

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
  # InfoGAN's Q head (Chen 2016) on phi(x): Dense(hidden) -> [BatchNorm if batchnorm, the
  # paper's] -> LeakyReLU -> 'q_categorical_logits'
  # (N, categorical), 'q_continuous_mean', 'q_continuous_log_std' (N, continuous). Its sizes
  # are in model.infogan, read only when d_q_head (the codes equal objective.infogan's).
  c.model.d_q_head = False
  c.model.infogan = ml_collections.ConfigDict(dict(categorical=10, continuous=2, hidden=128,
                                                  batchnorm=False))
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
      # Biases in every D layer (convolutions, hidden Dense, logit); DCGAN's have none, as
      # BatchNorm follows. Without biases or normalization D is positively homogeneous,
      # D(a x) = a D(x) for a > 0, so an all-zero (grey) image scores exactly 0 whatever D
      # learns: set it with d_normalization='none' (SNGAN's D has biases).
      d_bias=False,
      # Hidden fully connected layers (0: none): G's Dense -> BN -> ReLU before the
      # projection, D's Dense -> norm -> LeakyReLU after the last conv (the logit and the
      # heads read it). InfoGAN's MNIST nets use 1,024 in both (configs/infogan.py).
      g_fc_width=0,
      d_fc_width=0,
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
  # (needed when objective.cyclegan.identity_weight > 0). Against detail hidden in the
  # translations (docs/image_to_image.md): cycle_noise_std adds N(0, std^2) to a translation
  # before it is translated back (training only); domain_a_space='uci_digits' projects every
  # g_ba output onto the UCI digits' image space (gan_jax.data.unpaired.uci_projection).
  c.model.cycle_resnet = ml_collections.ConfigDict(dict(
      ngf=32, num_blocks=3, normalization='instance', identity_outputs=True,
      cycle_noise_std=0.0, domain_a_space=''))
  # MoCoGAN (gan_jax/models/mocogan.py; Tulyakov et al. 2018), clips (T, H, W, C). G's latent
  # is [z_content | h_0 | eps_1 .. eps_T]: model.latent_dim must be content_dim + (motion_dim
  # if random_initial_state) + T * motion_noise_dim (configs/mocogan.py ties it); a GRU from
  # h_0 (0 unless random_initial_state) maps eps_t to z_m(t) and the DCGAN
  # image G (g_width, model.dcgan) maps [z_content, z_m(t)] to frame t. D: video_gan's 3-D D
  # (d_width, model.conv3d) on the clip ('logit') and the DCGAN image D (d_width, model.dcgan)
  # on image_frames frames per clip ('image_logit').
  c.model.mocogan = ml_collections.ConfigDict(dict(
      content_dim=50,            # z_content, one per clip (the paper: 50).
      motion_noise_dim=10,       # eps_t, the GRU's input per frame (the paper: 10).
      motion_dim=10,             # z_m(t), the GRU's state (the paper: 10).
      random_initial_state=False,  # h_0 ~ N(0, I) from the latent (the original), else 0.
      image_frames=1,            # Frames per clip D_I scores (train: random; eval: spaced; T: all).
      content_head=0,            # Q_c: z_content from D_I's features, hidden units (0: off).
      content_codes=0,           # Categorical content codes in the latent (one-hots; 0: none).
      content_code_classes=10,   # Values of each code (10: one per digit class).
      sorted_codes=False,        # Codes ascending (order statistics: (min, max) digits).
  ))
  # 3-D convolutional G and D (gan_jax/models/conv3d.py), read by both model.name='video_gan'
  # (clips) and 'gan3d' (3D-GAN's voxel grids); widths from g_width / d_width as dcgan's.
  c.model.conv3d = ml_collections.ConfigDict(dict(
      kernel_size=4,           # Taps of a stride-2 axis (even); a stride-1 (time) axis: one fewer.
      # How the (transposed) 3-D convolutions are computed, the same function either way:
      # 'auto' ('matmul' on CPU, 'xla' on GPU/TPU) | 'xla' | 'matmul' (patches + one matmul).
      conv_impl='auto',
      # After each D conv but the first: 'batch' | 'layer' (WGAN-GP) | 'none'.
      d_normalization='batch',
      # Hidden fully connected layers (0: none): G's Dense -> BN -> ReLU before the
      # projection, D's Dense -> norm -> LeakyReLU after the last conv (the logit and the
      # heads read it). InfoGAN's MNIST nets use 1,024 in both (configs/infogan.py).
      g_fc_width=0,
      d_fc_width=0,
  ))
  # WaveGAN (gan_jax/models/wavegan.py; widths g_width / d_width = the paper's d): kernel
  # length and stride of every (transposed) convolution, D's phase shuffle radius (0 = off),
  # stride layers (0 = from the clip length: 16,384 -> 5, 4,096 -> 4), and how the
  # convolutions are computed ('auto': 'matmul' on CPU, 'xla' elsewhere; same function).
  c.model.wavegan = ml_collections.ConfigDict(dict(
      kernel_size=25, stride=4, phase_shuffle=2, num_layers=0, conv_impl='auto'))
  # StyleGAN2 (gan_jax/models/stylegan2.py; Karras et al. 2020): channels at side r are
  # min(channel_base / r, channel_max) x g_width / 64 in G (x d_width / 64 in D); the paper's
  # channel_base is 16,384 (32,768 at 1024 px) with channel_max 512.
  c.model.stylegan2 = ml_collections.ConfigDict(dict(
      w_dim=128,               # Width of w (the paper: 512).
      mapping_layers=8,        # Fully connected layers of the mapping network (the paper: 8).
      mapping_lr_mul=0.01,     # Learning-rate multiplier of the mapping network.
      channel_base=512,        # Channels = channel_base / side, capped at channel_max.
      channel_max=64,
      w_avg_decay=0.995,       # Moving average of w (the truncation trick's centre).
      truncation_psi=1.0,      # psi of sampling and evaluation (1 = no truncation).
      mbstd_group=4,           # D's minibatch-stddev group (0 = off) and channels.
      mbstd_channels=1,
      # How the 3x3 convolutions are computed, the same function either way (as model.dcgan's
      # conv_impl): 'auto' ('space_to_depth' on CPU, 'xla' on GPU/TPU) | 'xla' | ...
      conv_impl='auto',
  ))
  # Token sequences (gan_jax/models/sequence.py; text GANs, data (seq_len,) int32 ids): SeqGAN's
  # LSTM G (g_width units and embedding) and CNN D over a d_width embedding, filter_sizes with
  # num_filters x d_width / 64 filters each (d_width 64: the paper's), highway, dropout.
  c.model.sequence = ml_collections.ConfigDict(dict(
      vocab_size=5_000,          # Token ids in [0, vocab_size): must equal dataset.text's.
      temperature=1.0,           # Softmax temperature of sampling (eval mode: samples, metrics).
      pad_after_eos=False,       # Sentences: every token after the first 0 (<eos>) is 0.
      filter_sizes=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),  # Sizes > seq_len are dropped.
      num_filters=(100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160),
      d_dropout=0.25,            # Dropout before D's logit (the paper keeps 0.75).
      # D's convolutions: 'auto' ('matmul' on CPU, 'xla' on GPU/TPU) | 'xla' | 'matmul'.
      conv_impl='auto',
  ))
  # Text (gan_jax/data/text.py; examples' 'image' is int32 token ids (seq_len,), label 0):
  # 'text_oracle' (SeqGAN's synthetic oracle: sequences sampled from an LSTM with N(0, 1)
  # parameters; every id a word, no padding), 'pydoc_sentences' (sentences of CPython's
  # pydoc_data.topics) and 'tfds_text' (a TFDS text dataset prepared under data_dir). Sentence
  # ids: 0 = <eos> / padding, 1 = <unk>, 2.. = training tokens by frequency. Split 'train' or
  # 'test' (held out; sentences: disjoint), or a slice ('train[:1000]').
  c.dataset.text = ml_collections.ConfigDict(dict(
      seq_len=20,                # Tokens per sequence (SeqGAN: 20); longer sentences dropped.
      vocab_size=5_000,          # Oracle: its vocabulary; sentences: at most this many ids.
      oracle_hidden=32,          # Oracle LSTM units (SeqGAN: 32).
      oracle_emb_dim=32,         # Oracle token embedding width (SeqGAN: 32).
      oracle_seed=0,             # Oracle parameters and its train / test samples (not config.seed).
      num_train=10_000,          # Oracle sequences of split 'train' (SeqGAN: 10,000).
      num_test=10_000,           # Oracle sequences of split 'test' (held-out draws).
      level='word',              # Sentences: 'word' (words and punctuation) | 'char'.
      lowercase=True,            # Sentences: lower-case before tokenizing.
      min_len=3,                 # Sentences: drop those of fewer tokens.
      truncate=False,            # Sentences: cut those over seq_len instead of dropping them.
      test_fraction=0.2,         # pydoc_sentences: share of the unique sentences held out.
      split_seed=0,              # pydoc_sentences: the permutation that picks them.
      tfds_name='lm1b',          # tfds_text: TFDS name (+ '/config'), prepared in data_dir.
      tfds_text_key='text',      # tfds_text: the text feature.
      tfds_max_examples=100_000,  # tfds_text: first N examples of train and test (0 = all).
  ))
  # Text metrics (gan_jax/modalities/text.py; eval.num_samples generated sequences). Oracle:
  # NLL-oracle (nats per token) beside the oracle's own samples and the held-out sequences.
  # Sentences: Texygen's BLEU-n against every sentence of reference_split and self-BLEU-n,
  # beside the same numbers for the real sentences of floor_split (disjoint from the
  # references).
  c.eval.text = ml_collections.ConfigDict(dict(
      reference_split='test',    # Held-out sentences: the BLEU references (all of them).
      floor_split='train',       # Real sentences scored like the generated ones (first N).
      bleu_orders=(2, 3, 4, 5),  # n of BLEU-n and self-BLEU-n.
      self_bleu_samples=500,     # Self-BLEU on the first min(this, N, #floor) of each set.
      num_examples=10,           # Decoded sample sentences kept in the results.
  ))

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
  # MoCoGAN (gan_jax/objectives/mocogan.py; model.name='mocogan'): the image discriminator's
  # adversarial terms (same loss, on D's 'image_logit') are added to D's and G's losses with
  # this weight (the paper: 1). content_weight > 0 (with model.mocogan.content_head > 0) adds
  # InfoGAN's term for z_content, read back from single generated frames by Q_c, to both
  # players' losses (0: off; docs/video.md); code_weight > 0 (with model.mocogan.content_codes)
  # the same for the categorical content codes (cross-entropy, InfoGAN's categorical term);
  # code_real_weight > 0 also fits Q_c to real Moving MNIST clips' digits (sorted codes);
  # codes_on_fakes=False: Q_c fits real digits only (D's side has no code term on fakes).
  # swap_weight w in [0, 1) (with dataset.moving_mnist.swap_clips): D_V's fake term becomes
  # (1 - w) x G's clips + w x real clips whose digit changes identity mid-clip (0: off);
  # slow_weight v (with dataset.moving_mnist.slow_clips; w + v < 1) gives v of it to real
  # clips whose digits slow down or stop mid-clip, shuffle_weight u (shuffle_clips; w + v + u
  # < 1) to real clips whose frames are reordered from a frame on.
  c.objective.mocogan = ml_collections.ConfigDict(dict(image_weight=1.0, content_weight=0.0,
                                                        code_weight=0.0, code_real_weight=0.0,
                                                        codes_on_fakes=True, swap_weight=0.0,
                                                        slow_weight=0.0, shuffle_weight=0.0))
  # StyleGAN2 (gan_jax/objectives/stylegan2.py; model.name='stylegan2'): style mixing with
  # probability mixing_prob (a random crossover layer); lazy R1 on real data, gamma / 2 *
  # E||grad D||^2 every r1_interval steps (0 = off); path-length regularization of G,
  # pl_weight * E(||J^T y|| - a)^2 on batch / pl_batch_shrink every pl_interval steps (a: a
  # moving average, decay pl_decay); each lazy term is its own optimizer update weighted by
  # its interval, and lazy_correction scales that player's lr by k / (k + 1) and Adam's betas
  # to the power k / (k + 1) (the paper's correction).
  c.objective.stylegan2 = ml_collections.ConfigDict(dict(
      mixing_prob=0.9, r1_gamma=0.01, r1_interval=16, pl_weight=2.0, pl_interval=4,
      pl_batch_shrink=2, pl_decay=0.01, lazy_correction=True))
  # Text GANs (gan_jax/objectives/mle.py, seqgan.py, gumbel.py; model.name='sequence').
  # mle: teacher forcing on the real batch (D is not trained: a zero D loss).
  # seqgan (Yu et al. 2017): REINFORCE with D's sigmoid(logit) of num_rollouts Monte Carlo
  # completions of every prefix as Q; baseline 'batch_mean' (Q_t's mean over the rest of the
  # global batch) | 'none'; pretrain_discriminator holds G fixed and trains D only;
  # mle_weight w > 0 adds w x MLE's teacher-forcing loss on the real batch to G's loss.
  c.objective.seqgan = ml_collections.ConfigDict(dict(
      num_rollouts=16, baseline='batch_mean', pretrain_discriminator=False, mle_weight=0.0))
  # gumbel (Kusner & Hernandez-Lobato 2016): D reads G's Gumbel-softmax relaxed one-hot
  # vectors; tau = max(tau_min, tau_start * exp(-anneal_rate * n)), n = G's relaxed training
  # passes so far; straight_through: one-hot forward values, relaxed gradients.
  c.objective.gumbel = ml_collections.ConfigDict(dict(
      tau_start=1.0, tau_min=0.1, anneal_rate=1e-3, straight_through=False))
  c.loss = ml_collections.ConfigDict(dict(name='non_saturating', real_label=1.0))
  # `options` are keyword arguments of the chosen function (e.g. penalty.options.target=1.0,
  # augment.options.policy='color,translation'); recipes add the fields they use.
  c.penalty = ml_collections.ConfigDict(dict(name='none', weight=0.0, options={}))
  c.d_regularizer = ml_collections.ConfigDict(dict(name='none', weight=0.0))
  # D-input augmentation (gan_jax/augment.py): 'none' | 'diffaugment' (Zhao et al. 2020) |
  # 'ada' (Karras et al. 2020: each transform with probability p, p in the state, moved toward
  # E[sign D(real)] = options.target; options: policy 'bgc', target, speed_images, the stds).
  c.augment = ml_collections.ConfigDict(dict(name='none', options={}))
  c.instance_noise_std = 0.0
  c.instance_noise_anneal_steps = 0

  c.optim = ml_collections.ConfigDict()
  c.optim.g = _optimizer()     # Each player has its own block (e.g. TTUR: different lr).
  c.optim.d = _optimizer()
  c.d_steps_per_g_step = 1
  # 3D-GAN's gate (Wu et al. 2016: 0.8): a D update is applied only when D's accuracy on that
  # update's real and generated batch (the loss's 'd_accuracy', before the update, the global
  # batch's) is <= the gate; otherwise D's parameters and optimizer state stay (0 = off).
  c.d_accuracy_gate = 0.0
  # Unrolled GAN (Metz et al. 2017): G's loss is taken through unrolled_d_steps D updates
  # (D's optimizer, on the step's batch) differentiated through, from D before this step's
  # update; the real D is updated as usual (0 = off). unrolled_scan_unroll: lax.scan's
  # `unroll` (True = fully unrolled: faster on CPU, longer compiles).
  c.unrolled_d_steps = 0
  c.unrolled_scan_unroll = True
  c.d_weight_clip = 0.0
  # Lazy regularizers (StyleGAN2's R1, path length) switch on inside the step by 'cond'
  # (lax.cond), 'select' (computed every step, kept when scheduled: same numbers) or 'auto'
  # ('select' on CPU, where conditional branches run slowly; 'cond' on GPU/TPU).
  c.lazy_regularization_branch = 'auto'
  c.g_step_fresh_latents = False
  c.ema_decay = 0.999
  c.ema_start_step = 0
  c.ema_warmup = True          # Effective decay min(ema_decay, (1 + t) / (10 + t)).
  # > 0: the EMA's half-life in training images replaces ema_decay's value (which must be > 0,
  # it switches the EMA on): decay 0.5 ** (batch_size / h), h = min(half-life, ema_rampup x
  # images seen) when ema_rampup > 0 (StyleGAN2: 10,000 images; ADA's ramp-up 0.05).
  c.ema_half_life_images = 0
  c.ema_rampup = 0.0
  c.skip_nonfinite_updates = False

  c.parallel = 'pmap'          # 'pmap' | 'shard_map' | 'none' (single device, plain jit).
  c.resume_allow_changes = False  # Resume even if model/optimizer/data fields changed.
  # A fresh run starts from the parameters of another run's newest checkpoint (fine-tuning;
  # SeqGAN's adversarial run from its MLE run): players 'g' (G's params, EMA and collections),
  # 'd' or 'gd'; optimizer states start fresh. Ignored when the run resumes its own checkpoint.
  c.init_from = ml_collections.ConfigDict(dict(workdir='', players='gd'))
  # Populations (gan_jax/population.py, docs/populations.md): size K > 1 trains K members, one
  # GANState with a leading member axis, by one vmapped step. Member i's seed is seeds[i] ('' =
  # seed + i); `hparams` lists K values per field, 'FIELD=V1,...,VK FIELD2=...'; `ranges` draws
  # them log-uniform from the run's seed, 'FIELD=LOW..HIGH ...' (fields: POPULATION_FIELDS).
  # A member whose update is non-finite is frozen ('freeze') or re-initialized ('reset').
  # population.csv lists members, hyperparameters and last metrics, sorted by sort_by ('-x':
  # descending); grid_images: images per member in the population's side-by-side grid.
  c.population = ml_collections.ConfigDict(dict(
      size=0, seeds='', hparams='', ranges='', on_nonfinite='freeze', sort_by='',
      grid_images=8))
  # Population-based training (Jaderberg et al. 2017), every `interval` steps (0 = off):
  # members ranked by `metric` ('eval/fid' ascending, '-eval/x' descending: an evaluation
  # runs at each interval; or a logged training scalar); the bottom `fraction` copy the state
  # of a random member of the top `fraction` and perturb its hyperparameters by a factor drawn
  # from `factors`, or with probability `resample_prob` redraw them from population.ranges.
  # `smoothing` N ranks each member by the mean of its last N values of `metric` since it was
  # last copied (1 = the last value alone).
  c.pbt = ml_collections.ConfigDict(dict(
      interval=0, metric='eval/fid', fraction=0.25, factors=(0.8, 1.25), resample_prob=0.0,
      smoothing=1))
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
