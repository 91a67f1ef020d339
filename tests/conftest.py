"""Test setup: 8 fake CPU devices (multi-device code is tested on CPU), repo on sys.path."""

import os
import sys

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8').strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('GAN_JAX_CONV_AUTOTUNE', '0')  # Conv kernel-gradient form: cost model.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import shutil  # pylint: disable=g-import-not-at-top,wrong-import-position
import tempfile  # pylint: disable=g-import-not-at-top,wrong-import-position

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


def pytest_configure(config):
  """A persistent XLA compilation cache for this test process (each xdist worker its own, so
  no two processes write one file), removed when it ends. Many tests compile the same step
  or network again (a new closure is a new jit), and XLA's compile is most of their time: a
  cache hit skips it. Set before any test compiles; subprocesses the tests start do not see
  it. Measured on 2 cores (2026-11-28): the default suite, 12 min 52 s without it, 12 min 09 s
  with it (the resume test alone: 53 s, 20 s)."""
  import jax  # pylint: disable=g-import-not-at-top
  config.gan_jax_xla_cache = tempfile.mkdtemp(prefix='gan_jax_test_xla_cache_')
  jax.config.update('jax_compilation_cache_dir', config.gan_jax_xla_cache)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.1)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)


def pytest_unconfigure(config):
  shutil.rmtree(getattr(config, 'gan_jax_xla_cache', ''), ignore_errors=True)


@pytest.fixture(scope='session')
def tfds_data_dir(tmp_path_factory):
  """A session-wide TFDS data_dir holding the embedded dataset, built once (~2 s)."""
  from gan_jax.data import embedded_mnist  # pylint: disable=g-import-not-at-top
  path = str(tmp_path_factory.mktemp('tfds'))
  embedded_mnist.prepare(path)
  return path


# Run in the slow suite (-m slow) to keep the default suite under 10 minutes on 2 cores
# (measured 2026-11-26: 11 min with the first 14, 10 min 14 s without them; 11 min 24 s
# without the next 10 at a slower hour of the same machine, hence the last 3). Each has a cheaper sibling in the default suite:
# another shape / architecture of the same test, or the same code path tested elsewhere.
SLOW_BY_ID = frozenset({
    'tests/test_stacked_mnist.py::test_evaluate_counts_generated_and_real_modes',
    'tests/test_stacked_mnist.py::test_the_classifier_is_trained_on_single_digits',
    'tests/test_stacked_mnist.py::test_classify_channels_feeds_each_channel_alone',
    'tests/test_mode_collapse.py::test_remedies_match_on_8_devices[pack2]',
    'tests/test_torch_peer.py::test_same_outputs_as_gan_jax[True-image_shape1]',
    'tests/test_recipes.py::test_smoke_variant_trains_two_steps[cgan-smoke]',
    'tests/test_recipes.py::test_smoke_variant_trains_two_steps[infogan-smoke]',
    'tests/test_architectures.py::test_shapes_determinism_and_state[resnet-shape2-extra2]',
    'tests/test_architectures.py::test_shapes_determinism_and_state[dcgan-shape4-extra4]',
    'tests/test_architectures.py::test_shapes_determinism_and_state[resnet-shape3-extra3]',
    'tests/test_architectures.py::test_bfloat16_compute_keeps_float32_params[resnet-shape1-extra1]',
    'tests/test_spectral_norm.py::test_discriminator_sigmas_match_svd[resnet-shape2-extra2]',
    'tests/test_conditioning.py::test_generator_conditioning_shapes_gradients_and_labels[concat-resnet]',
    'tests/test_penalties.py::test_wgan_gp_trained_critic_has_unit_gradient_norm',
    'tests/test_layers.py::test_dcgan_discriminator_same_for_every_conv_implementation',
    'tests/test_layers.py::test_space_to_depth_second_order[k5s2p2]',
    'tests/test_image_to_image_models.py::test_reflect_pad_and_valid_conv_match_references',
    'tests/test_train_step.py::test_fresh_latents_change_only_the_generator_update',
    'tests/test_train_step.py::test_ema_start_step',
    'tests/test_recipes.py::test_smoke_variant_trains_two_steps[wgan_gp-smoke]',
    'tests/test_recipes.py::test_smoke_variant_trains_two_steps[sngan-smoke]',
    'tests/test_mode_collapse.py::test_minibatch_discrimination_matches_numpy[shape2-0]',
    'tests/test_pix2pix_peer.py::test_same_architecture_float64[True]',
    'tests/test_training.py::test_hooks_run_at_every_log_step_and_sigterm_in_one_still_checkpoints',
    'tests/test_training.py::test_nonfinite_loss_stops_and_names_the_step',
    'tests/test_train_step.py::test_pmap_with_adam_matches_moments_and_momentum_sgd_matches_params',
    'tests/test_torch_peer.py::test_same_outputs_as_gan_jax[True-image_shape0]',
    # 2026-11-26, after the video / 3-D / audio tests (84 more): 632 tests took 899.8 s of
    # user CPU (20 min wall beside three training runs; ~12 min idle at the measured 0.79
    # wall / CPU ratio). These 17 took 248 s of that run's wall time.
    'tests/test_inception.py::test_features_and_logits_match_pytorch_fid',
    'tests/test_conditioning.py::test_generator_conditioning_shapes_gradients_and_labels[cbn-resnet]',
    'tests/test_conditioning.py::test_discriminator_conditioning_shapes_gradients_and_labels[projection-True-resnet]',
    'tests/test_conditioning.py::test_discriminator_conditioning_shapes_gradients_and_labels[concat-False-resnet]',
    'tests/test_conditioning.py::test_discriminator_conditioning_shapes_gradients_and_labels[projection-False-resnet]',
    'tests/test_torch_reference.py::test_resnet_matches_torch[shape0-False]',
    'tests/test_torch_peer.py::test_same_outputs_as_gan_jax[False-image_shape1]',
    'tests/test_image_to_image_models.py::test_normalization_is_selectable[batch]',
    'tests/test_image_to_image_models.py::test_unet_depth_and_28px',
    'tests/test_image_to_image_models.py::test_cyclegan_build_errors',
    'tests/test_train_step.py::test_pmap_and_shard_map_match_single_device[2]',
    'tests/test_objectives.py::test_generic_step_reproduces_the_old_step[wgan_gp]',
    'tests/test_checkpointing.py::test_save_restore_round_trip',
    'tests/test_training.py::test_main_and_sample_commands',
    'tests/test_classifier.py::test_training_is_accurate_and_deterministic',
    'tests/test_recipes.py::test_penalized_critics_treat_examples_independently[wgan_gp]',
    'tests/test_architectures.py::test_shapes_determinism_and_state[mlp-shape0-extra0]',
    # 2026-11-26 (second session): 693 tests took 10 min 35 s on the idle machine. These
    # took ~70 s in the last timing that listed them; each keeps a sibling in the default.
    'tests/test_conditioning.py::test_generator_conditioning_shapes_gradients_and_labels[concat-dcgan]',
    'tests/test_conditioning.py::test_discriminator_conditioning_shapes_gradients_and_labels[concat-False-dcgan]',
    'tests/test_conditioning.py::test_dcgan_hidden_dense_layers_by_hand[layer]',
    'tests/test_conditioning.py::test_dcgan_hidden_dense_layers_by_hand[none]',
    'tests/test_layers.py::test_matches_pytorch[k3s2p0-phase]',
    'tests/test_layers.py::test_space_to_depth_second_order[k4s3p1]',
    'tests/test_architectures.py::test_bfloat16_compute_keeps_float32_params[mlp-shape0-extra0]',
    # The same day, 686 tests took 13 min 13 s at a slower hour (--durations=40); these ~90 s:
    'tests/test_torch_reference.py::test_resnet_matches_torch[shape0-True]',
    'tests/test_torch_reference.py::test_resnet_matches_torch[shape1-True]',
    'tests/test_torch_peer.py::test_parameter_counts_match',
    'tests/test_checkpointing.py::test_restore_newest_skips_damaged_checkpoints_and_keeps_them[config]',
    'tests/test_conditioning.py::test_cbn_with_equal_class_tables_is_plain_batch_norm[resnet]',
    'tests/test_train_step.py::test_weight_clipping_and_ema[False-0.5]',
    'tests/test_torch_reference.py::test_mlp_matches_torch[shape0-fields0-False]',
    'tests/test_torch_reference.py::test_mlp_matches_torch[shape1-fields1-True]',
    'tests/test_torch_reference.py::test_mlp_matches_torch[shape2-fields2-True]',
    'tests/test_layers.py::test_space_to_depth_second_order[k3s2p1_odd]',
    'tests/test_layers.py::test_space_to_depth_second_order[k2s2p0]',
    'tests/test_torch_reference.py::test_spectrally_normalized_discriminators_match_torch[resnet-shape0-fields0-False]',
    # 2026-11-28: 784 tests took 12 min 52 s (12 min 09 s with the compilation cache above);
    # these took ~260 s of test time in those runs (--durations=40). Siblings that stay: the
    # [none] baseline, the [stacked_mnist] critic, [dcgan_ema_fresh], the numpy references of
    # the consistency penalty, the other smoke recipes, CycleGAN's domain_a_space training
    # test, unrolling at k=3, the other space-to-depth kernels and power-iteration layer.
    # (DCGAN's forward mode, below too, is only in the slow suite: each case is ~25 s of
    # eager init and jvp compiles.)
    'tests/test_layers.py::test_dcgan_forward_mode_with_non_cpu_default[gpu]',
    'tests/test_text_gan.py::test_reinforce_gradient_matches_the_exact_gradient[batch_mean]',
    'tests/test_recipes.py::test_penalized_critics_treat_examples_independently[sngan]',
    'tests/test_objectives.py::test_generic_step_reproduces_the_old_step[dcgan]',
    'tests/test_penalties.py::test_consistency_penalty_in_the_train_step',
    'tests/test_recipes.py::test_smoke_variant_trains_two_steps[gan_mlp-smoke]',
    'tests/test_recipes.py::test_smoke_variant_trains_two_steps[toy_grid-smoke]',
    'tests/test_torch_peer.py::test_ops_benchmark_covers_every_stride2_layer',
    'tests/test_image_to_image_models.py::test_cyclegan_cycle_noise_only_on_the_way_back_in_training',
    'tests/test_mode_collapse.py::test_unrolled_generator_gradient_matches_a_manual_unrolling[1]',
    'tests/test_layers.py::test_space_to_depth_second_order[k4s2p1_odd]',
    'tests/test_spectral_norm.py::test_power_iteration_converges_to_top_singular_value[layer1-x_shape1]',
    # Then 770 tests took 10 min 43 s; these ~140 s (the ResNet and the PyTorch peers keep
    # their shape and training tests; a translation run's evaluation keeps its stand-in test).
    'tests/test_layers.py::test_dcgan_forward_mode_with_non_cpu_default[tpu]',
    'tests/test_layers.py::test_dcgan_forward_mode_fails_with_cpu_default',
    'tests/test_translation.py::test_evaluate_a_translation_run[pix2pix_run]',
    'tests/test_torch_reference.py::test_resnet_matches_torch[shape1-False]',
    'tests/test_torch_reference.py::test_spectrally_normalized_discriminators_match_torch[resnet-shape0-fields0-True]',
    'tests/test_spectral_norm.py::test_discriminator_sigmas_match_svd[dcgan-shape1-extra1]',
    'tests/test_class_evaluation.py::test_per_class_and_per_code_grids',
    'tests/test_torch_peer.py::test_same_outputs_as_gan_jax[False-image_shape0]',
    'tests/test_pix2pix_peer.py::test_same_architecture_float64[False]',
    # Then 684 tests took 9 min 50 s; these ~30 s (each loss is unit-tested in test_losses.py
    # and trains in its recipe's smoke run; the DCGAN cases of the conditioning checks stay).
    'tests/test_train_step.py::test_every_loss_trains_one_step[minimax]',
    'tests/test_train_step.py::test_every_loss_trains_one_step[least_squares]',
    'tests/test_conditioning.py::test_projection_logit_by_hand[False-resnet]',
    'tests/test_conditioning.py::test_projection_logit_by_hand[True-resnet]',
    'tests/test_conditioning.py::test_everything_off_is_the_unconditional_network[resnet]',
})


def _slow_by_rule(nodeid):
  """Cross products in tests/test_layers.py (~100 s of the default suite on 2026-11-28): each
  transposed-convolution form is checked against XLA's convolution under jit in the default
  suite (test_matches_xla_under_jit) and against float64 PyTorch in the slow one (all but the
  'xla' form); each strided form against PyTorch in the default suite (test_conv_matches_pytorch)
  and against flax's nn.Conv in the slow one."""
  layers = 'tests/test_layers.py::'
  return ((nodeid.startswith(layers + 'test_matches_pytorch[') and not nodeid.endswith('-xla]'))
          or nodeid.startswith(layers + 'test_conv_matches_nn_conv['))


def pytest_collection_modifyitems(config, items):
  del config
  for item in items:
    if item.nodeid in SLOW_BY_ID or _slow_by_rule(item.nodeid):
      item.add_marker(pytest.mark.slow)
