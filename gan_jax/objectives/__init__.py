"""GAN objectives: what differs between GAN systems, as small pure functions chosen by name.

One update machinery (gan_jax.train_step: D/G alternation and n_critic, optax, `pmean` on the
device axis, BatchNorm sync, EMA, the non-finite guard, metrics) serves every objective. An
objective says only:

- `generator_inputs(ctx, key, batch)`: what G is fed for one critic update (latents and
  labels; a condition image; both domains), drawn for the *global* batch where random
  (`ctx.draw_global`), so a global batch gives the same numbers on any device count;
- `generate(ctx, g_params, g_coll, g_inputs, key)`: G's forward pass -> (outputs, collections).
  The outputs are a pytree of everything the generator loss needs that depends on G's
  parameters (CycleGAN: both translations, both reconstructions, the identity mappings), so the
  machinery takes G's forward pass once under `jax.vjp` and pulls the loss gradient back;
- `discriminator_loss(ctx, d_params, d_coll, batch, g_inputs, fake, key, extras)`: D's loss on
  real data and the (gradient-stopped) generator outputs, adding the configured penalty
  through `ctx.penalty`; returns `(loss, (d_coll, aux, cache, extras))`, where `cache` is
  passed to the generator loss (e.g. D's real logits) and `extras` is the objective's own state
  (an image pool, ...), updated without gradients;
- `generator_loss(ctx, d_params, d_coll, batch, g_inputs, fake, key, cache)`: G's loss as a
  function of the generator outputs `fake` (and D, held fixed) -> `(loss, (d_coll, aux))`;
- `init_extras(config, networks)`: the objective's extra state kept in `GANState.extras`.
- optionally, lazy regularizers (StyleGAN2's R1 and path length): positive
  `d_regularizer_interval` / `g_regularizer_interval` and
  `discriminator_regularizer(ctx, d_params, d_coll, batch, key, extras, step)` /
  `generator_regularizer(ctx, g_params, g_coll, batch, key, extras, step)` returning
  `(loss, extras)`: the machinery runs each as its own optimizer update on the steps it is
  scheduled (step % interval == 0), in the one compiled step (`lax.cond`, or a select of an
  update computed every step: `lazy_regularization_branch`);
  `optimizer_ratios()` scales the players' optimizers for it.

Adding an objective: subclass `Objective` in a file of this package, override what differs,
and add it to OBJECTIVES (the config's `objective.name` picks it). Its options live in the
config block `objective.<name>`.
"""

import ml_collections

from gan_jax.objectives import conditional, cyclegan, infogan, pix2pix, unconditional
from gan_jax.objectives import mocogan
from gan_jax.objectives import stylegan2
from gan_jax.objectives import gumbel, mle, seqgan
from gan_jax.objectives.base import Objective, StepContext

OBJECTIVES: dict[str, type[Objective]] = {
    'unconditional': unconditional.Unconditional,
    'conditional': conditional.Conditional,
    'infogan': infogan.InfoGAN,
    'pix2pix': pix2pix.Pix2Pix,
    'cyclegan': cyclegan.CycleGAN,
    'mocogan': mocogan.MoCoGAN,  # Video D + image D on frames (gan_jax/models/mocogan.py).
    'stylegan2': stylegan2.StyleGAN2,  # Style mixing, lazy R1, path length (models/stylegan2.py).
    # Text (model.name='sequence'): teacher forcing (the MLE baseline), REINFORCE with Monte
    # Carlo rollouts (SeqGAN), D on Gumbel-softmax relaxed one-hot sequences.
    'mle': mle.MLE,
    'seqgan': seqgan.SeqGAN,
    'gumbel': gumbel.GumbelGAN,
}


def get_objective(config: ml_collections.ConfigDict) -> Objective:
  """The objective named by `config.objective.name`, built from the config."""
  name = config.objective.name
  if name not in OBJECTIVES:
    raise ValueError(f'Unknown objective.name {name!r}; choose one of {sorted(OBJECTIVES)}.')
  return OBJECTIVES[name](config)
